/**
 * Flags for the threads that run guests or serve them. Workers inherit the process's flags by
 * default, which would run the embedder's preloads (--import, --require) next to the guest and break
 * on flags meant for the main script alone (--input-type, --eval). Only what loading the entry itself
 * may need is passed on.
 */
export const THREAD_EXEC_ARGV = process.execArgv.filter((flag) => /^--(no-)?experimental-(strip|transform)-types$/.test(flag));
