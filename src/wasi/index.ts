export { WasiHost, type WasiHostOptions, type WasiMetrics } from './wasi-host.ts';
export { ERRNO, type Errno } from './errno.ts';
export type { ListenerAddress, ListenerSpec } from './socket-protocol.ts';
