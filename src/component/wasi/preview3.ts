/**
 * The WASI 0.3 interfaces of a component instance, as a translation over the preview2 host's
 * functions (which translate the capability core): a 0.3 function either is a preview2 one under
 * the same or a new name, or drives one (stdin's stream pulled from preview2's stdin, a `wait-for`
 * as the preview2 timer awaited without blocking the thread); a `stream<u8>` to stdout or stderr
 * goes to the same granted sink as preview2's writes. Nothing is decided here,
 * so a grant means the same through preview1, preview2 and 0.3. jco looks every version of an
 * interface up under one unversioned key, so these members are merged into the preview2 objects.
 * preview3-shim is never reached: its defaults give a guest the host's environment, files and exit.
 */
import { WasmSandboxError } from '../../errors.ts';
import type { OutputSink } from '../../wasi/stdio.ts';
import { DEFAULT_CHUNK, type Io } from './io.ts';
import { guardFunctions, type HostState } from './host-state.ts';
import type { Item } from '../wit/decode-component.ts';

/** Every WASI 0.3 function served, by interface (unversioned); anything else is refused at load. */
export const PREVIEW3_SERVED: Readonly<Record<string, readonly string[]>> = {
  'wasi:cli/environment': ['get-environment', 'get-arguments', 'get-initial-cwd'],
  'wasi:cli/exit': ['exit', 'exit-with-code'],
  'wasi:cli/stdin': ['read-via-stream'],
  'wasi:cli/stdout': ['write-via-stream'],
  'wasi:cli/stderr': ['write-via-stream'],
  'wasi:cli/types': [],
  'wasi:cli/terminal-input': [],
  'wasi:cli/terminal-output': [],
  'wasi:cli/terminal-stdin': ['get-terminal-stdin'],
  'wasi:cli/terminal-stdout': ['get-terminal-stdout'],
  'wasi:cli/terminal-stderr': ['get-terminal-stderr'],
  'wasi:clocks/types': [],
  'wasi:clocks/monotonic-clock': ['now', 'get-resolution', 'wait-for', 'wait-until'],
  'wasi:clocks/system-clock': ['now', 'get-resolution'],
  'wasi:random/random': ['get-random-bytes', 'get-random-u64'],
  'wasi:random/insecure': ['get-insecure-random-bytes', 'get-insecure-random-u64'],
  'wasi:random/insecure-seed': ['get-insecure-seed'],
};

/** Whether an import name is of WASI 0.3 or later (versions 0.3.x, release candidates included). */
export function isPreview3(name: string): boolean {
  const version = /@(\d+)\.(\d+)/.exec(name);
  return version !== null && (Number(version[1]) > 0 || Number(version[2]) >= 3);
}

/**
 * The WASI 0.3 functions a component imports that this host does not serve, as `iface#name`. An
 * async component is accepted only when this is empty: jco would otherwise reach for preview3-shim's
 * behaviour or fail inside its glue, so the refusal comes first, at load, naming what is missing.
 */
export function unservedPreview3(imports: ReadonlyMap<string, Item>): string[] {
  const out: string[] = [];
  for (const [name, item] of imports) {
    if (!name.startsWith('wasi:') || !isPreview3(name)) continue;
    const served = PREVIEW3_SERVED[name.replace(/@.*$/, '')];
    if (served === undefined) {
      out.push(name);
      continue;
    }
    if (item.sort !== 'instance') continue;
    for (const [fn, m] of item.instance.exports) if (m.sort === 'func' && !served.includes(fn)) out.push(`${name}#${fn}`);
  }
  return out;
}

/**
 * Why a component cannot be loaded here, or undefined: `ComponentRuntime` refuses with it and
 * `inspect` reports it, so the two never disagree.
 */
export function preview3Refusal(imports: ReadonlyMap<string, Item>): string | undefined {
  const unserved = unservedPreview3(imports);
  if (unserved.length === 0) return undefined;
  return `this component imports WASI 0.3 functions this version does not serve: ${unserved.slice(0, 8).join(', ')}${unserved.length > 8 ? `, and ${unserved.length - 8} more` : ''}`;
}

/** What jco hands a host function for a `stream<T>` parameter: reads resolve with up to `count` values. */
interface GuestStream {
  read(count: number): Promise<{ value: ArrayLike<number> | undefined; done: boolean }>;
  [Symbol.dispose]?(): void;
}

type Members = Record<string, unknown>;
type Interfaces = Readonly<Record<string, Members>>;

function member<T>(p2: Interfaces, iface: string, name: string): T {
  const fn = p2[iface]?.[name];
  if (fn === undefined) throw new Error(`the preview2 host has no ${iface}#${name}`);
  return fn as T;
}

/**
 * The 0.3 members for the interfaces in `wanted`, built over `p2` (the preview2 host's interfaces,
 * already guarded by the instance's state).
 */
export function createPreview3(state: HostState, io: Io, p2: Interfaces, wanted: ReadonlySet<string>): Record<string, Members> {
  const out: Record<string, Members> = {};
  const uses = (iface: string): boolean => wanted.has(iface);

  /**
   * Copies the guest's stream to its granted stdio sink (mode and output budget decided there) in
   * bounded chunks: the copy is the backpressure. A chunk the guest handed over before it exited
   * is still written, as preview1 writes whatever came before proc_exit; nothing after.
   */
  const writeVia = (sink: OutputSink) => (stream: GuestStream) => state.hold((async () => {
    try {
      for (;;) {
        if (state.stoppedBy === undefined) state.check();
        const { value, done } = await stream.read(DEFAULT_CHUNK);
        if (value !== undefined && value.length > 0) {
          if (state.stoppedBy === undefined) state.work.add(value.length);
          try {
            sink.write(value instanceof Uint8Array ? value : Uint8Array.from(value));
          } catch (err) {
            // As for preview2's writes: a limit the sink enforces (output bytes) ends the guest.
            if (err instanceof WasmSandboxError) state.halt(err);
            throw err;
          }
        }
        if (done || state.stoppedBy !== undefined) return { tag: 'ok', val: undefined };
      }
    } finally {
      stream[Symbol.dispose]?.();
    }
  })());

  /**
   * The guest's stdin as a stream jco pulls from one chunk at a time (so nothing is read ahead of
   * the guest), over preview2's stdin stream; the future says how it ended.
   */
  const readViaStdin = () => {
    const input = member<() => { blockingRead(len: bigint): Uint8Array }>(p2, 'wasi:cli/stdin', 'getStdin')();
    let finish: (result: { tag: 'ok' | 'err'; val: unknown }) => void = () => {};
    const ended = new Promise<{ tag: 'ok' | 'err'; val: unknown }>((resolve) => {
      finish = resolve;
    });
    const done = { value: undefined, done: true } as const;
    const chunks = {
      [Symbol.asyncIterator]() {
        return chunks;
      },
      async next(): Promise<{ value: Uint8Array | undefined; done: boolean }> {
        state.check();
        try {
          return { value: input.blockingRead(BigInt(DEFAULT_CHUNK)), done: false };
        } catch (err) {
          state.check();
          if (err instanceof Error) throw err;
          finish((err as { tag?: string }).tag === 'closed' ? { tag: 'ok', val: undefined } : { tag: 'err', val: 'io' });
          return done;
        }
      },
      async return() {
        finish({ tag: 'ok', val: undefined });
        return done;
      },
    };
    return [chunks, ended];
  };

  if (uses('wasi:cli/stdin')) out['wasi:cli/stdin'] = guardFunctions({ readViaStream: readViaStdin }, state);
  if (uses('wasi:cli/environment')) {
    out['wasi:cli/environment'] = { getInitialCwd: member(p2, 'wasi:cli/environment', 'initialCwd') };
  }
  if (uses('wasi:cli/stdout')) out['wasi:cli/stdout'] = guardFunctions({ writeViaStream: writeVia(state.options.stdout) }, state);
  if (uses('wasi:cli/stderr')) out['wasi:cli/stderr'] = guardFunctions({ writeViaStream: writeVia(state.options.stderr) }, state);

  if (uses('wasi:random/insecure-seed')) {
    out['wasi:random/insecure-seed'] = { getInsecureSeed: member(p2, 'wasi:random/insecure-seed', 'insecureSeed') };
  }
  if (uses('wasi:clocks/monotonic-clock')) {
    const timer = (fn: string) => (t: bigint) => io.waitAsync([io.pollableReadiness(member<(t: bigint) => object>(p2, 'wasi:clocks/monotonic-clock', fn)(t))]);
    out['wasi:clocks/monotonic-clock'] = guardFunctions({
      getResolution: member(p2, 'wasi:clocks/monotonic-clock', 'resolution'),
      waitFor: timer('subscribeDuration'),
      waitUntil: timer('subscribeInstant'),
    }, state);
  }
  if (uses('wasi:clocks/system-clock')) {
    const wall = (fn: string) => member<() => { seconds: bigint; nanoseconds: number }>(p2, 'wasi:clocks/wall-clock', fn);
    out['wasi:clocks/system-clock'] = {
      now: wall('now'),
      getResolution: () => {
        const r = wall('resolution')();
        return r.seconds * 1_000_000_000n + BigInt(r.nanoseconds);
      },
    };
  }
  return out;
}
