/**
 * The worker thread: hosts one in-process instance at a time and serves the main thread's commands
 * from the shared channel. It never returns to its event loop: between commands it sleeps in
 * Atomics.wait, which is what makes a call cost microseconds instead of a message round trip.
 */
import { parentPort, receiveMessageOnPort, workerData } from 'node:worker_threads';
import { Trap } from '../../errors.ts';
import type { HostContext } from '../host-context.ts';
import { InProcessInstance } from '../inprocess/inprocess-instance.ts';
import type { HostFunction, WasmResult, WasmValue } from '../types.ts';
import {
  BYTES_CAPACITY, Channel, CMD_CALL, CMD_HOST_RETURN, CMD_HOST_THROW, CMD_INSTANTIATE, CMD_MEM_READ, CMD_MEM_WRITE,
  CMD_REENTER, CMD_RELEASE, REPLY_DONE, REPLY_FAILED, REPLY_HOST_CALL, REPLY_READY,
} from './channel.ts';
import { importConfig, type InstantiateMessage } from './config-transfer.ts';
import { readError, writeError } from './error-codec.ts';
import { writeMetrics } from './metrics-mirror.ts';

type Handle = (...args: WasmValue[]) => WasmResult | Promise<WasmResult>;

interface Hosted {
  instance: InProcessInstance;
  names: string[];
  handles: Handle[];
  arities: number[];
}

const channel = new Channel(workerData as SharedArrayBuffer);
const port = parentPort!;
let hosted: Hosted | undefined;
/** Guest memory staged for a read or write split over several turns. */
let staged: Uint8Array | undefined;

function takeMessage(): InstantiateMessage {
  // postMessage enqueues before the main thread passes the turn, so the message is already here;
  // the short retry only guards against a delivery that is not yet visible to this thread.
  for (let i = 0; i < 1000; i++) {
    const received = receiveMessageOnPort(port);
    if (received) return received.message as InstantiateMessage;
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 1);
  }
  throw new Trap('unknown', 'the worker did not receive the module to instantiate');
}

function instantiate(): void {
  const msg = takeMessage();
  const config = importConfig(msg.config, hostStub);
  const instance = InProcessInstance.create(msg.id, msg.module, msg.info, config, {});
  const handles: Handle[] = [];
  const arities: number[] = [];
  for (const name of msg.functions) {
    const handle = instance.syncHandle(name);
    handles.push(handle ?? ((...args: WasmValue[]) => instance.call(name, args)));
    arities.push(instance.functions.get(name)?.results.length ?? 0);
  }
  hosted = { instance, names: msg.functions, handles, arities };
}

function release(): void {
  const previous = hosted;
  hosted = undefined;
  staged = undefined;
  channel.metrics.fill(0);
  void previous?.instance.destroy();
}

function current(): Hosted {
  if (!hosted) throw new Trap('unknown', 'the worker holds no instance');
  return hosted;
}

/** Runs an export, directly or re-entrantly through the host context, and leaves its results in the channel. */
function callExport(h: Hosted, index: number, args: WasmValue[], reentrant?: HostContext): void {
  const name = h.names[index];
  if (name === undefined) throw new Trap('unknown', `the worker has no function number ${index}`);
  const result = reentrant ? reentrant.call(name, ...args) : h.handles[index](...args);
  if (result instanceof Promise) throw new Trap('unknown', `'${name}' completed asynchronously, which the worker runtime does not support`);
  if (channel.writeResult(result, h.arities[index]) !== -1) {
    throw new Trap('unknown', `a result of '${name}' is a reference, which cannot leave the worker thread`);
  }
}

/**
 * What the guest links in place of each host function: it hands the call to the main thread and
 * serves the main thread's requests (memory access, calls back into the guest) until the host
 * function returns or throws.
 */
function hostStub(index: number, module: string, name: string): HostFunction {
  return (ctx: HostContext, ...args: unknown[]) => {
    const bad = channel.writeValues(args);
    if (bad !== -1) throw new Trap('host-error', `argument ${bad} of host function '${module}.${name}' is a reference, which cannot reach a host function on another thread`);
    channel.op = index;
    let sent = REPLY_HOST_CALL;
    channel.pass(sent);
    for (;;) {
      const cmd = channel.waitSync(sent) as number;
      if (cmd === CMD_HOST_RETURN) {
        const values = channel.readValues();
        return values.length === 0 ? undefined : values.length === 1 ? values[0] : values;
      }
      if (cmd === CMD_HOST_THROW) throw readError(channel);
      sent = serveNested(cmd, ctx);
      channel.pass(sent);
    }
  };
}

function serveNested(cmd: number, ctx: HostContext): number {
  try {
    switch (cmd) {
      case CMD_MEM_READ: {
        const ptr = channel.a, len = channel.b, offset = channel.c;
        // The whole range is read (and bounds-checked) once, on the first chunk, as ctx.read would do in-process.
        if (offset === 0) staged = ctx.read(ptr, len);
        const data = staged!;
        const end = Math.min(offset + BYTES_CAPACITY, data.length);
        channel.writeBytes(data.subarray(offset, end));
        if (end >= data.length) staged = undefined;
        return REPLY_DONE;
      }
      case CMD_MEM_WRITE: {
        const ptr = channel.a, len = channel.b, offset = channel.c;
        if (offset === 0) staged = new Uint8Array(len);
        const data = staged!;
        channel.readBytesInto(data, offset);
        // Written only when complete, so a bad range leaves guest memory untouched.
        if (offset + BYTES_CAPACITY >= len) {
          staged = undefined;
          ctx.write(ptr, data);
        }
        return REPLY_DONE;
      }
      case CMD_REENTER:
        callExport(current(), channel.op, channel.readValues() as WasmValue[], ctx);
        return REPLY_DONE;
      default:
        throw new Trap('unknown', `unexpected command ${cmd} during a host call`);
    }
  } catch (err) {
    writeError(channel, err);
    return REPLY_FAILED;
  }
}

function serve(cmd: number): number {
  try {
    switch (cmd) {
      case CMD_CALL:
        callExport(current(), channel.op, channel.readValues() as WasmValue[]);
        return REPLY_DONE;
      case CMD_INSTANTIATE:
        instantiate();
        return REPLY_DONE;
      case CMD_RELEASE:
        release();
        return REPLY_DONE;
      default:
        throw new Trap('unknown', `unexpected command ${cmd}`);
    }
  } catch (err) {
    writeError(channel, err);
    return REPLY_FAILED;
  } finally {
    if (hosted) writeMetrics(channel.metrics, hosted.instance.metrics());
  }
}

let sent = REPLY_READY;
channel.pass(sent);
for (;;) {
  sent = serve(channel.waitSync(sent) as number);
  channel.pass(sent);
}
