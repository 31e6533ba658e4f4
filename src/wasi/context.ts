import type { HostWork } from '../runtime/limits/host-work.ts';
import type { IoCounters } from '../host/counters.ts';
import type { FilesystemCore } from '../host/filesystem.ts';
import type { Violations } from '../host/violations.ts';
import type { IoLimits } from '../security/resource-limits.ts';
import type { Clock } from './clocks.ts';
import type { FdTable } from './fd-table.ts';
import type { TimestampOverrides } from './filestat.ts';
import type { GuestMemory } from './guest-memory.ts';
import type { Sockets } from './sockets.ts';
import type { Stdio } from './stdio.ts';


/** The state every group of WASI functions shares; one per host. */
export interface WasiContext {
  readonly mem: GuestMemory;
  readonly fds: FdTable;
  readonly io: IoLimits;
  readonly counters: IoCounters;
  readonly times: TimestampOverrides;
  readonly stdio: Stdio;
  readonly clock: Clock;
  /** Present only when the embedder pre-opened listeners; set once they are bound. */
  sockets: Sockets | undefined;
  /** The capability core's filesystem decisions, shared with the preview2 host. */
  readonly fs: FilesystemCore;
  /** Reports a denied operation to the embedder; the guest still only sees an errno. */
  readonly violations: Violations;
  violation(capability: string, detail: string): void;
  checkInterrupt(): void;
  /** Host work done for the guest (bytes copied or generated), charged to its fuel before it is done. */
  readonly work: HostWork;
  remainingMs(): number;
}
