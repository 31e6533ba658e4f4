import { InvalidPolicy } from '../errors.ts';
import { validatePolicySection } from './policy-validator.ts';
import { parseDuration, parseSize } from './units.ts';

/** Bytes in one WebAssembly memory page (64 KiB), the unit of `maxMemoryPages` and `memory.grow`. */
export const WASM_PAGE_BYTES = 65536;

/** A byte count: a number of bytes, or a string such as `'64MiB'`, `'512KiB'`, `'1GB'`; `null` means no limit. */
export type Size = number | string | null;
/** A duration: milliseconds, or a string such as `'500ms'`, `'2s'`, `'1m'`; `null` means no limit. */
export type Duration = number | string | null;

/** Every field: `null` means no limit. Sizes take bytes or strings such as `'64MiB'`; durations ms or `'500ms'`/`'2s'`. */
export interface ResourceLimitsInit {
  /** Linear memory and tables of one instance. */
  memory?: {
    /** Linear memory of one instance, all of its memories together (initial sizes and growth). */
    maxMemoryBytes?: Size;
    /** The same limit in 64 KiB pages; the smaller of the two applies. Default: no limit. */
    maxMemoryPages?: number | null;
    /** Pages reserved up front for each memory, so early growth does not reallocate. */
    reservedMemoryPages?: number | null;
    /**
     * Pages an instance may add by `memory.grow` within any one second; a grow beyond it is refused like one
     * beyond the size limit. Default: no limit.
     */
    maxGrowthRatePagesPerSec?: number | null;
    /** Table elements of one instance, all of its tables together; never above what the runtime can hold (docs/instrumentation.md). */
    maxTableElements?: number | null;
    /** Trap instead of returning -1 from `memory.grow` when a limit refuses it. */
    trapOnGrowFailure?: boolean;
  };
  /** Work the guest may do. */
  cpu?: {
    /**
     * Fuel units the instance may spend over its life (about one per instruction, bulk operations by size:
     * the `fuel-v2` cost model of docs/instrumentation.md); past it a call fails with
     * `ResourceLimitExceeded('fuel')` and `addFuel` lets it go on. Default: no limit.
     */
    fuel?: number | null;
    /** CPU time of the guest's thread in one call, in ms; past it `ResourceLimitExceeded('cpu-time')`. Default: no limit. */
    maxCpuTimeMs?: Duration;
  };
  /** Wall-clock deadlines. */
  time?: {
    /** Deadline of each call into the guest. */
    callTimeoutMs?: Duration;
    /**
     * Deadline of initialisation: instantiation with the start function and a reactor's `_initialize`
     * (which the call deadline does not cover: a large interpreter may need far longer to start than
     * any one call should take). Default 60 s. A module that runs nothing while it is made is not
     * metered for this deadline alone.
     */
    initTimeoutMs?: Duration;
    /**
     * How long an instance may exist, from its creation; a call running past it stops with
     * `Timeout('instance-lifetime')` and no new call starts. Default: no limit.
     */
    instanceLifetimeMs?: Duration;
  };
  /** Descriptors, connections and bytes moved through the host. */
  io?: {
    /**
     * Descriptors (files, directories, sockets) the guest may hold open at once; past it an open fails with
     * an error the guest sees. Default 128.
     */
    maxFileDescriptors?: number | null;
    /** Sockets and outgoing HTTP requests the guest may have open at once. Default 16. */
    maxNetworkConnections?: number | null;
    /**
     * Total bytes the guest may read from files and sockets over the instance's life; past it
     * `ResourceLimitExceeded('read-bytes')`. Default: no limit.
     */
    maxReadBytes?: Size;
    /**
     * Total bytes the guest may write to files and sockets over the instance's life; past it
     * `ResourceLimitExceeded('write-bytes')`. Default: no limit.
     */
    maxWriteBytes?: Size;
    /**
     * Total bytes the guest may write to stdout and stderr together; past it
     * `ResourceLimitExceeded('output-bytes')`. Default 64 MiB.
     */
    maxOutputBytes?: Size;
    /** Largest input or output of one structured call (JSON, MessagePack, a channel message), in bytes. */
    maxPayloadBytes?: Size;
  };
  /** Call stack of the guest. */
  stack?: {
    /**
     * Stack of the thread a guest runs on with the worker runtime (deeper recursion traps with
     * `stack-overflow`); in-process the host thread's stack applies. Default 1 MiB.
     */
    maxStackBytes?: Size;
  };
}

/** Resolved memory limits of a `ResourceLimits`; sizes in bytes, `null` for no limit. */
export interface MemoryLimits {
  /** Linear memory of one instance in bytes, all memories together. */
  readonly maxMemoryBytes: number | null;
  /** Linear memory of one instance in 64 KiB pages. */
  readonly maxMemoryPages: number | null;
  /** Pages reserved up front for each memory. */
  readonly reservedMemoryPages: number | null;
  /** Pages `memory.grow` may add within any one second. */
  readonly maxGrowthRatePagesPerSec: number | null;
  /** Table elements of one instance, all tables together. */
  readonly maxTableElements: number | null;
  /** Whether a refused `memory.grow` traps instead of returning -1. */
  readonly trapOnGrowFailure: boolean;
}
/** Resolved CPU limits of a `ResourceLimits`. */
export interface CpuLimits {
  /** Fuel units the instance may spend over its life. */
  readonly fuel: number | null;
  /** CPU time of one call, in ms. */
  readonly maxCpuTimeMs: number | null;
}
/** Resolved deadlines of a `ResourceLimits`, in milliseconds, `null` for none. */
export interface TimeLimits {
  /** Deadline of each call. */
  readonly callTimeoutMs: number | null;
  /** Deadline of instantiation and initialisation. */
  readonly initTimeoutMs: number | null;
  /** How long an instance may exist. */
  readonly instanceLifetimeMs: number | null;
}
/** Resolved I/O limits of a `ResourceLimits`; bytes and counts, `null` for no limit. */
export interface IoLimits {
  /** Descriptors open at once. */
  readonly maxFileDescriptors: number | null;
  /** Sockets and outgoing HTTP requests open at once. */
  readonly maxNetworkConnections: number | null;
  /** Bytes read over the instance's life. */
  readonly maxReadBytes: number | null;
  /** Bytes written to files and sockets over the instance's life. */
  readonly maxWriteBytes: number | null;
  /** Bytes written to stdout and stderr together. */
  readonly maxOutputBytes: number | null;
  /** Largest input or output of one structured call. */
  readonly maxPayloadBytes: number | null;
}
/** Resolved stack limit of a `ResourceLimits`. */
export interface StackLimits {
  /** Stack of a worker thread running the guest, in bytes. */
  readonly maxStackBytes: number | null;
}

const MiB = 1024 * 1024;

const DEFAULTS: Required<{ [K in keyof ResourceLimitsInit]-?: Required<NonNullable<ResourceLimitsInit[K]>> }> = {
  memory: { maxMemoryBytes: 256 * MiB, maxMemoryPages: null, reservedMemoryPages: null, maxGrowthRatePagesPerSec: null, maxTableElements: 100_000, trapOnGrowFailure: false },
  cpu: { fuel: null, maxCpuTimeMs: null },
  time: { callTimeoutMs: 30_000, initTimeoutMs: 60_000, instanceLifetimeMs: null },
  io: { maxFileDescriptors: 128, maxNetworkConnections: 16, maxReadBytes: null, maxWriteBytes: null, maxOutputBytes: 64 * MiB, maxPayloadBytes: 16 * MiB },
  stack: { maxStackBytes: MiB },
};

const UNLIMITED: typeof DEFAULTS = {
  memory: { maxMemoryBytes: null, maxMemoryPages: null, reservedMemoryPages: null, maxGrowthRatePagesPerSec: null, maxTableElements: null, trapOnGrowFailure: false },
  cpu: { fuel: null, maxCpuTimeMs: null },
  time: { callTimeoutMs: null, initTimeoutMs: null, instanceLifetimeMs: null },
  io: { maxFileDescriptors: null, maxNetworkConnections: null, maxReadBytes: null, maxWriteBytes: null, maxOutputBytes: null, maxPayloadBytes: null },
  stack: { maxStackBytes: null },
};

// Bounds past which a value is a mistake rather than a policy (a 64-bit address space, timers that overflow, ...).
const ABSURD = {
  bytes: 2 ** 44,
  pages: 2 ** 32,
  duration: 2 ** 31 - 1,
  count: 10_000_000,
  stack: 1024 * MiB,
};

/**
 * How much a guest may consume. Immutable. `default()` is safe for untrusted code (256 MiB memory,
 * 30 s per call, 60 s to initialise, 128 descriptors, 64 MiB of output, 16 MiB per structured-call payload); `unlimited()` lifts every limit.
 */
export class ResourceLimits {
  /** Memory and table limits. */
  readonly memory: MemoryLimits;
  /** Fuel and CPU-time limits. */
  readonly cpu: CpuLimits;
  /** Call, initialisation and lifetime deadlines. */
  readonly time: TimeLimits;
  /** Descriptor, connection and byte limits. */
  readonly io: IoLimits;
  /** Stack limit. */
  readonly stack: StackLimits;

  private constructor(init: ResourceLimitsInit, base: typeof DEFAULTS, prefix: string) {
    const p = (group: string, key: string) => `${prefix}/${group}/${key}`;
    const m = { ...base.memory, ...init.memory };
    const c = { ...base.cpu, ...init.cpu };
    const t = { ...base.time, ...init.time };
    const io = { ...base.io, ...init.io };
    const s = { ...base.stack, ...init.stack };
    this.memory = Object.freeze({
      maxMemoryBytes: bounded(size(m.maxMemoryBytes, p('memory', 'maxMemoryBytes')), ABSURD.bytes, p('memory', 'maxMemoryBytes')),
      maxMemoryPages: bounded(m.maxMemoryPages, ABSURD.pages, p('memory', 'maxMemoryPages')),
      reservedMemoryPages: bounded(m.reservedMemoryPages, ABSURD.pages, p('memory', 'reservedMemoryPages')),
      maxGrowthRatePagesPerSec: bounded(m.maxGrowthRatePagesPerSec, ABSURD.pages, p('memory', 'maxGrowthRatePagesPerSec')),
      maxTableElements: bounded(m.maxTableElements, ABSURD.pages, p('memory', 'maxTableElements')),
      trapOnGrowFailure: m.trapOnGrowFailure,
    });
    this.cpu = Object.freeze({
      fuel: bounded(c.fuel, Number.MAX_SAFE_INTEGER, p('cpu', 'fuel')),
      maxCpuTimeMs: bounded(duration(c.maxCpuTimeMs, p('cpu', 'maxCpuTimeMs')), ABSURD.duration, p('cpu', 'maxCpuTimeMs')),
    });
    this.time = Object.freeze({
      callTimeoutMs: bounded(duration(t.callTimeoutMs, p('time', 'callTimeoutMs')), ABSURD.duration, p('time', 'callTimeoutMs')),
      initTimeoutMs: bounded(duration(t.initTimeoutMs, p('time', 'initTimeoutMs')), ABSURD.duration, p('time', 'initTimeoutMs')),
      instanceLifetimeMs: bounded(duration(t.instanceLifetimeMs, p('time', 'instanceLifetimeMs')), ABSURD.duration, p('time', 'instanceLifetimeMs')),
    });
    this.io = Object.freeze({
      maxFileDescriptors: bounded(io.maxFileDescriptors, ABSURD.count, p('io', 'maxFileDescriptors')),
      maxNetworkConnections: bounded(io.maxNetworkConnections, ABSURD.count, p('io', 'maxNetworkConnections')),
      maxReadBytes: bounded(size(io.maxReadBytes, p('io', 'maxReadBytes')), Number.MAX_SAFE_INTEGER, p('io', 'maxReadBytes')),
      maxWriteBytes: bounded(size(io.maxWriteBytes, p('io', 'maxWriteBytes')), Number.MAX_SAFE_INTEGER, p('io', 'maxWriteBytes')),
      maxOutputBytes: bounded(size(io.maxOutputBytes, p('io', 'maxOutputBytes')), Number.MAX_SAFE_INTEGER, p('io', 'maxOutputBytes')),
      maxPayloadBytes: bounded(size(io.maxPayloadBytes, p('io', 'maxPayloadBytes')), Number.MAX_SAFE_INTEGER, p('io', 'maxPayloadBytes')),
    });
    this.stack = Object.freeze({ maxStackBytes: bounded(size(s.maxStackBytes, p('stack', 'maxStackBytes')), ABSURD.stack, p('stack', 'maxStackBytes')) });
    Object.freeze(this);
  }

  /**
   * Limits safe for untrusted code: 256 MiB of memory, 100,000 table elements, 30 s per call, 60 s to
   * initialise, 128 descriptors, 16 connections, 64 MiB of output, 16 MiB per structured-call payload, 1 MiB
   * of stack; no fuel or CPU-time limit.
   */
  static default(): ResourceLimits {
    return new ResourceLimits({}, DEFAULTS, '');
  }

  /**
   * No limit at all (every field `null`): only for trusted code, since a guest can then exhaust the host's
   * memory or spin forever.
   */
  static unlimited(): ResourceLimits {
    return new ResourceLimits({}, UNLIMITED, '');
  }

  /** Validates plain data (missing fields take `default()` values); throws InvalidPolicy naming the bad key. */
  static from(init: ResourceLimits | ResourceLimitsInit | undefined, options: { pathPrefix?: string } = {}): ResourceLimits {
    if (init instanceof ResourceLimits) return init;
    if (init === undefined) return ResourceLimits.default();
    const prefix = options.pathPrefix ?? '';
    validatePolicySection('resourceLimits', init, prefix);
    return new ResourceLimits(init, DEFAULTS, prefix);
  }

  /** A copy with the given groups merged over this one's values. */
  with(changes: ResourceLimitsInit): ResourceLimits {
    validatePolicySection('resourceLimits', changes);
    const current = this.toJSON() as typeof DEFAULTS;
    return new ResourceLimits(changes, current, '');
  }

  /** The page limit for one memory: the smaller of the byte and page limits, or null. */
  get maxPages(): number | null {
    const fromBytes = this.memory.maxMemoryBytes === null ? null : Math.floor(this.memory.maxMemoryBytes / WASM_PAGE_BYTES);
    const pages = this.memory.maxMemoryPages;
    if (fromBytes === null) return pages;
    if (pages === null) return fromBytes;
    return Math.min(fromBytes, pages);
  }

  /** Plain data with every field resolved (sizes in bytes, durations in ms), accepted back by `from`. */
  toJSON(): ResourceLimitsInit {
    return { memory: { ...this.memory }, cpu: { ...this.cpu }, time: { ...this.time }, io: { ...this.io }, stack: { ...this.stack } };
  }
}

function size(value: Size | undefined, path: string): number | null {
  return value === null || value === undefined ? null : parseSize(value, path);
}

function duration(value: Duration | undefined, path: string): number | null {
  return value === null || value === undefined ? null : parseDuration(value, path);
}

function bounded(value: number | null | undefined, max: number, path: string): number | null {
  if (value === null || value === undefined) return null;
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) throw new InvalidPolicy(path, `must be a non-negative number, got ${String(value)}`);
  if (value > max) throw new InvalidPolicy(path, `${value} is beyond any sensible limit (maximum ${max})`);
  return value;
}
