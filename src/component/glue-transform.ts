/**
 * Edits to the JavaScript jco generates, applied once before it is cached. jco's `_debugLog` reads
 * `process.env.JCO_DEBUG` on every call and, when that is set, prints guest data to the console; it
 * becomes a no-op, which is both faster and keeps guest data out of the host's logs. Its resource
 * tables record every representation they ever handed out in a `_createdReps` set that nothing reads
 * and nothing empties: a long-lived instance (an HTTP handler serving request after request) would
 * grow it by every resource of every call, so the record is dropped. The wrapper every import call
 * goes through copies `arguments` by spreading it, which V8 does not optimise; a rest parameter
 * says the same and is. jco lifts guest strings with a lenient decoder, turning invalid UTF-8 into
 * U+FFFD (and dropping a leading U+FEFF); the Canonical ABI requires a trap, so the decoders (UTF-8,
 * and UTF-16 where a component lifts it) are made fatal, and the error it throws is reported as Trap('invalid-conversion') (runtime/traps.ts).
 * An import called while no task is current (every import of a guest called on the direct path,
 * which bypasses jco's per-call task) gets a task made for it, which jco resolves but never exits:
 * it stays on the component's task list for good, and finding the current task scans that list,
 * so every call got slower and the heap grew. The task now exits once the import has returned.
 * The glue also hands our `instantiateCore` its task list and async states, so that the instance
 * can report their sizes (see ComponentInstance.glueTables), and `callInTask`, which runs a direct
 * call inside one task as jco's bindings run theirs: the guest's import calls during it are then
 * subtasks of that task instead of each making (and ending) a task of its own.
 * Bump GLUE_TRANSFORM_VERSION whenever an edit changes, so cached glue is regenerated.
 */
export const GLUE_TRANSFORM_VERSION = 6;

/** What the edited glue hands to `instantiateCore.glueState`. */
export interface GlueState {
  readonly tasks: Map<number, unknown[]>;
  readonly states: Map<number, { handles?: { data(): unknown[] } }>;
  /** Runs `fn` as a synchronous task of component `componentIdx`; absent from glue without tasks. */
  readonly callInTask: (<T>(componentIdx: number, fn: () => T) => T) | undefined;
}

/** Injected beside `_lowerImportBackwardsCompat`; what jco's sync export bindings do around their call. */
const CALL_IN_TASK = `
  function _wasmSandboxCallInTask(componentIdx, fn) {
    const [task] = createNewCurrentTask({ componentIdx, isAsync: false, isManualAsync: false, preserveFutureResult: false, entryFnName: 'direct', getCallbackFn: () => null, callbackFnName: null, errHandling: 'none', callingWasmExport: true });
    task.setCalleeIsAsync(false);
    task.enterSync();
    let value;
    try {
      value = _withGlobalCurrentTaskMeta({ taskID: task.id(), componentIdx, fn });
    } catch (err) {
      try {
        if (!task.isResolvedState()) { task.setErrored(err); task.reject(err); }
        if (!task.isExited()) { task.exit({ skipExclusiveLockCheck: true }); }
      } catch {}
      throw err;
    }
    task.resolve([undefined]);
    task.exit({ skipExclusiveLockCheck: true });
    return value;
  }
`;

const LOWER_IMPORT_ARGS = /function _lowerImportBackwardsCompat\(args\) \{\s*const params = \[\.\.\.arguments\]\.slice\(1\);/g;
const CREATED_REPS = /^\s*table\._createdReps\.add\(rep\);\n/gm;
const CREATED_TASK_RESOLVE = /if \(createdTask\) \{ createdTask\.resolve\(\[syncRes\]\); \}/g;
const ASYNC_STATE = /^(\s*)const ASYNC_STATE = new Map\(\);$/m;
const LOWER_IMPORT = /^  function _lowerImportBackwardsCompat\(/m;
const UTF8_DECODER = /const TEXT_DECODER_UTF8 = new TextDecoder\(\);/g;
const UTF16_DECODER = /const (\w+) = new TextDecoder\('utf-16'\);/g;
const DEBUG_LOG = /const _debugLog = \(\.\.\.args\) => \{\s*if \(!globalThis\?\.process\?\.env\?\.JCO_DEBUG\) \{ return; \}\s*console\.debug\(\.\.\.args\);\s*\};/g;

export interface GlueTransformResult {
  source: string;
  /** Edits that matched; a jco upgrade that changes its output shows here as a missing edit. */
  applied: string[];
}

export function transformGlue(source: string): GlueTransformResult {
  const applied: string[] = [];
  let out = source.replace(DEBUG_LOG, () => {
    applied.push('debug-log');
    return 'const _debugLog = () => {};';
  });
  out = out.replace(LOWER_IMPORT_ARGS, () => {
    applied.push('lower-import-args');
    return 'function _lowerImportBackwardsCompat(args, ...params) {';
  });
  out = out.replace(UTF8_DECODER, () => {
    applied.push('strict-utf8');
    return "const TEXT_DECODER_UTF8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });";
  });
  // Only in glue for components that declare string-encoding=utf16: unpaired surrogates trap too.
  out = out.replace(UTF16_DECODER, (_m, name: string) => {
    applied.push('strict-utf16');
    return `const ${name} = new TextDecoder('utf-16', { fatal: true, ignoreBOM: true });`;
  });
  out = out.replace(CREATED_TASK_RESOLVE, () => {
    applied.push('created-task-exit');
    return 'if (createdTask) { createdTask.resolve([syncRes]); createdTask.exit({ skipExclusiveLockCheck: true }); }';
  });
  let callInTask = 'undefined';
  out = out.replace(LOWER_IMPORT, (line) => {
    applied.push('call-in-task');
    callInTask = '_wasmSandboxCallInTask';
    return `${CALL_IN_TASK}\n${line}`;
  });
  if (out.includes('const ASYNC_TASKS_BY_COMPONENT_IDX = new Map();')) {
    out = out.replace(ASYNC_STATE, (line, indent: string) => {
      applied.push('glue-state');
      return `${line}\n${indent}instantiateCore.glueState?.({ tasks: ASYNC_TASKS_BY_COMPONENT_IDX, states: ASYNC_STATE, callInTask: ${callInTask} });`;
    });
  }
  // Only if nothing else reads the set: a jco that starts to would keep it.
  if (!/_createdReps\.(has|delete|size|values|keys|forEach)\b/.test(out)) {
    out = out.replace(CREATED_REPS, () => {
      applied.push('created-reps');
      return '';
    });
  }
  return { source: out, applied: [...new Set(applied)] };
}
