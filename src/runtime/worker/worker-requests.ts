/**
 * The worker's side of everything it needs the main thread for while a command runs: host functions,
 * output taps, streamed stdin and observer events. Each is a synchronous request: the worker passes the turn and
 * sleeps until the answer, serving in the meantime whatever the main thread asks of the guest
 * (memory reads and writes, calls back into it) on behalf of a running host function.
 */
import type { ListenerAddress } from '../../wasi/socket-protocol.ts';
import { Trap } from '../../errors.ts';
import type { HostContext } from '../host-context.ts';
import type { HostFunction, RuntimeObserver, WasmValue } from '../types.ts';
import {
  BYTES_CAPACITY, CMD_ANSWER, CMD_ANSWER_THROW, CMD_MEM_READ, CMD_MEM_WRITE, CMD_REENTER, EVENT_LIMIT, EVENT_LISTENING, EVENT_TRAP, EVENT_VIOLATION,
  REPLY_DONE, REPLY_FAILED,
  LOG_OUTPUT_BASE, REQUEST_EVENT, REQUEST_HOST_CALL, REQUEST_OUTPUT, REQUEST_STDIN, type Channel, type ChannelValue,
} from './channel.ts';
import { readError, writeError } from './error-codec.ts';
import { EXTISM_LOG_LEVELS, type ExtismLogLevel } from '../../communication/extism-kernel.ts';

/** Runs export number `index` re-entrantly and leaves its results in the channel. */
export type Reenter = (index: number, args: WasmValue[], ctx: HostContext) => void;

export class MainThreadLink {
  private readonly channel: Channel;
  private readonly reenter: Reenter;
  /** Guest memory staged for a read or write split over several turns. */
  private staged: Uint8Array | undefined;

  constructor(channel: Channel, reenter: Reenter) {
    this.channel = channel;
    this.reenter = reenter;
  }

  /** What the guest links in place of host function number `index`. */
  hostFunction(index: number, module: string, name: string): HostFunction {
    const channel = this.channel;
    return (ctx: HostContext, ...args: unknown[]) => {
      const bad = channel.writeValues(args);
      if (bad !== -1) throw new Trap('host-error', `argument ${bad} of host function '${module}.${name}' is a reference, which cannot reach a host function on another thread`);
      channel.op = index;
      const values = this.ask(REQUEST_HOST_CALL, ctx);
      return values.length === 0 ? undefined : values.length === 1 ? values[0] : values;
    };
  }

  /** A WASI output tap forwarding what the guest writes to `fd`. */
  output(fd: 1 | 2): (chunk: Uint8Array) => void {
    return (chunk) => {
      let offset = 0;
      do {
        this.channel.writeBytes(chunk.subarray(offset, offset + BYTES_CAPACITY));
        this.channel.op = fd;
        this.ask(REQUEST_OUTPUT);
        offset += BYTES_CAPACITY;
      } while (offset < chunk.length);
    };
  }

  /** Reads a streamed stdin: the main thread answers once its source has bytes, or is at its end. */
  stdinRead(max: number): Uint8Array | null {
    this.channel.setOperands(Math.min(max, BYTES_CAPACITY));
    const [eof] = this.ask(REQUEST_STDIN);
    return eof ? null : this.channel.readBytes();
  }

  /** Forwards an Extism plugin's log line (cut to one transfer: a log line is not a data channel). */
  log(level: ExtismLogLevel, message: string): void {
    this.channel.writeText(message);
    this.channel.op = LOG_OUTPUT_BASE + EXTISM_LOG_LEVELS.indexOf(level);
    this.ask(REQUEST_OUTPUT);
  }

  /** Hands the WASI host's bound listener addresses to the main thread's `onListening`. */
  listening(listeners: ListenerAddress[]): void {
    this.channel.writeText(JSON.stringify(listeners));
    this.channel.op = EVENT_LISTENING;
    this.ask(REQUEST_EVENT);
  }

  /** The observer the hosted instance reports to; the main thread hands the events to the real one. */
  observer(): RuntimeObserver {
    const event = (kind: number, error: Error) => {
      writeError(this.channel, error);
      this.channel.op = kind;
      this.ask(REQUEST_EVENT);
    };
    return {
      onTrap: (_id, error) => event(EVENT_TRAP, error),
      onLimit: (_id, error) => event(EVENT_LIMIT, error),
      onViolation: (_id, violation) => {
        this.channel.writeText(JSON.stringify(violation));
        this.channel.op = EVENT_VIOLATION;
        this.ask(REQUEST_EVENT);
      },
    };
  }

  /** Passes the turn with a request and serves the main thread until it answers. */
  private ask(request: number, ctx?: HostContext): ChannelValue[] {
    const channel = this.channel;
    let sent = request;
    channel.pass(sent);
    for (;;) {
      const cmd = channel.waitSync(sent) as number;
      if (cmd === CMD_ANSWER) return channel.readValues();
      if (cmd === CMD_ANSWER_THROW) throw readError(channel);
      sent = this.serve(cmd, ctx);
      channel.pass(sent);
    }
  }

  private serve(cmd: number, ctx: HostContext | undefined): number {
    const channel = this.channel;
    try {
      if (!ctx) throw new Trap('unknown', `unexpected command ${cmd} outside a host function`);
      switch (cmd) {
        case CMD_MEM_READ: {
          const ptr = channel.a, len = channel.b, offset = channel.c;
          // The whole range is read (and bounds-checked) once, on the first chunk, as ctx.read does in-process.
          if (offset === 0) this.staged = ctx.read(ptr, len);
          const data = this.staged;
          if (!data) throw new Trap('unknown', 'a memory read continued without being started');
          const end = Math.min(offset + BYTES_CAPACITY, data.length);
          channel.writeBytes(data.subarray(offset, end));
          if (end >= data.length) this.staged = undefined;
          return REPLY_DONE;
        }
        case CMD_MEM_WRITE: {
          const ptr = channel.a, len = channel.b, offset = channel.c;
          if (offset === 0) this.staged = new Uint8Array(len);
          const data = this.staged;
          if (!data) throw new Trap('unknown', 'a memory write continued without being started');
          channel.readBytesInto(data, offset);
          // Written only when complete, so a bad range leaves guest memory untouched.
          if (offset + BYTES_CAPACITY >= len) {
            this.staged = undefined;
            ctx.write(ptr, data);
          }
          return REPLY_DONE;
        }
        case CMD_REENTER:
          this.reenter(channel.op, channel.readValues() as WasmValue[], ctx);
          return REPLY_DONE;
        default:
          throw new Trap('unknown', `unexpected command ${cmd} during a host call`);
      }
    } catch (err) {
      this.staged = undefined;
      writeError(channel, err);
      return REPLY_FAILED;
    }
  }
}
