/**
 * The worker thread: hosts one in-process instance at a time and serves the main thread's commands
 * from the shared channel. It never returns to its event loop: between commands it sleeps in
 * Atomics.wait, which is what makes a call cost microseconds instead of a message round trip.
 */
import { receiveMessageOnPort, workerData } from 'node:worker_threads';
import { Trap } from '../../errors.ts';
import type { HostContext } from '../host-context.ts';
import { InProcessInstance } from '../inprocess/inprocess-instance.ts';
import type { WasmResult, WasmValue } from '../types.ts';
import {
  BYTES_CAPACITY, Channel, CMD_ADD_FUEL, CMD_CALL, CMD_CALL_DATA, CMD_INSTANTIATE, CMD_PEEK, CMD_POKE, CMD_RELEASE, CMD_RUN_COMMAND, CMD_STAGE_IN,
  CMD_STAGE_OUT, REPLY_DONE, REPLY_FAILED, REPLY_READY,
} from './channel.ts';
import { importConfig, type InstantiateMessage } from './config-transfer.ts';
import { writeError } from './error-codec.ts';
import { writeMetrics } from './metrics-mirror.ts';
import { MainThreadLink } from './worker-requests.ts';
import type { WorkerThreadData } from './worker-thread.ts';
import { adoptEpochClock } from '../limits/epoch-clock.ts';

adoptEpochClock();

type Handle = (...args: WasmValue[]) => WasmResult;

interface Hosted {
  instance: InProcessInstance;
  names: string[];
  dataNames: string[];
  handles: Handle[];
  arities: number[];
}

const data = workerData as WorkerThreadData;
const channel = new Channel(data.channel);
const port = data.port;
const link = new MainThreadLink(channel, (index, args, ctx) => callExport(current(), index, args, ctx));
let hosted: Hosted | undefined;
/** Bytes larger than one transfer, gathered from several turns (a call's input, a memory write). */
let stagedIn: Uint8Array | undefined;
/** Bytes larger than one transfer, handed out over several turns (a call's result, a memory read). */
let stagedOut: Uint8Array | undefined;

function current(): Hosted {
  if (!hosted) throw new Trap('unknown', 'the worker thread holds no instance');
  return hosted;
}

function takeMessage(): InstantiateMessage {
  // postMessage enqueues before the main thread passes the turn, so the message is normally here
  // already; the short retry only covers a delivery not yet visible to this thread.
  const pause = new Int32Array(new SharedArrayBuffer(4));
  for (let i = 0; i < 1000; i++) {
    const received = receiveMessageOnPort(port);
    if (received) return received.message as InstantiateMessage;
    Atomics.wait(pause, 0, 0, 1);
  }
  throw new Trap('unknown', 'the worker thread did not receive the module to instantiate');
}

function instantiate(): void {
  const msg = takeMessage();
  const config = importConfig(msg.config, {
    hostFunction: (i, m, n) => link.hostFunction(i, m, n),
    output: (fd) => link.output(fd),
    listening: (listeners) => link.listening(listeners),
    log: (level, message) => link.log(level, message),
    stdinRead: (max) => link.stdinRead(max),
  });
  const instance = InProcessInstance.create(msg.id, msg.module, msg.info, config, link.observer(), { interruptible: true });
  hosted = {
    instance,
    names: msg.functions,
    dataNames: msg.dataFunctions,
    handles: msg.functions.map((name) => instance.syncHandle(name) as Handle),
    arities: msg.functions.map((name) => instance.functions.get(name)?.results.length ?? 0),
  };
}

/** Runs an export, directly or re-entrantly through a host context, and leaves its results in the channel. */
function callExport(h: Hosted, index: number, args: WasmValue[], reentrant?: HostContext): void {
  const name = h.names[index];
  if (name === undefined) throw new Trap('unknown', `the worker thread has no function number ${index}`);
  const result = reentrant ? reentrant.call(name, ...args) : h.handles[index](...args);
  if (channel.writeResult(result, h.arities[index]) !== -1) {
    throw new Trap('unknown', `a result of '${name}' is a reference, which cannot leave the worker thread`);
  }
}

async function runCommand(h: Hosted): Promise<number> {
  const code = await h.instance.runCommand();
  channel.writeValues([code]);
  return REPLY_DONE;
}

/** Receives one chunk of bytes bound for the guest: operands (total length, offset). */
function stageIn(): void {
  const total = channel.a, offset = channel.c;
  if (offset === 0) stagedIn = new Uint8Array(total);
  if (!stagedIn || stagedIn.length !== total) throw new Trap('unknown', 'staged bytes continued without being started');
  channel.readBytesInto(stagedIn, offset);
}

/** The whole of `total` bytes the main thread sent: inline when they fit one transfer, staged otherwise. */
function takeIn(total: number): Uint8Array {
  if (total <= BYTES_CAPACITY) return channel.readBytes();
  const data = stagedIn;
  stagedIn = undefined;
  if (!data || data.length !== total) throw new Trap('unknown', 'staged bytes are missing or incomplete');
  return data;
}

/** Replies with the length of `data` and its first chunk; the rest waits in `stagedOut`. */
function giveOut(data: Uint8Array): void {
  channel.writeValues([data.length]);
  channel.writeBytes(data.subarray(0, BYTES_CAPACITY));
  stagedOut = data.length > BYTES_CAPACITY ? data : undefined;
}

function stageOut(): void {
  const offset = channel.c;
  if (!stagedOut) throw new Trap('unknown', 'no staged bytes to continue');
  channel.writeBytes(stagedOut.subarray(offset, offset + BYTES_CAPACITY));
  if (offset + BYTES_CAPACITY >= stagedOut.length) stagedOut = undefined;
}

function callData(h: Hosted): void {
  const name = h.dataNames[channel.op];
  if (name === undefined) throw new Trap('unknown', `the worker thread has no data function number ${channel.op}`);
  stagedOut = undefined;
  giveOut(h.instance.callDataSync(name, takeIn(channel.a)));
}

function poke(h: Hosted): void {
  const ptr = channel.a, total = channel.b;
  h.instance.writeMemorySync(ptr, takeIn(total));
}

function release(): void {
  const previous = hosted;
  hosted = undefined;
  stagedIn = undefined;
  stagedOut = undefined;
  channel.metrics.fill(0);
  void previous?.instance.destroy();
}

function serve(cmd: number): number | Promise<number> {
  switch (cmd) {
    case CMD_CALL:
      callExport(current(), channel.op, channel.readValues() as WasmValue[]);
      return REPLY_DONE;
    case CMD_RUN_COMMAND:
      return runCommand(current());
    case CMD_CALL_DATA:
      callData(current());
      return REPLY_DONE;
    case CMD_STAGE_IN:
      stageIn();
      return REPLY_DONE;
    case CMD_STAGE_OUT:
      stageOut();
      return REPLY_DONE;
    case CMD_PEEK:
      giveOut(current().instance.readMemorySync(channel.a, channel.b));
      return REPLY_DONE;
    case CMD_POKE:
      poke(current());
      return REPLY_DONE;
    case CMD_ADD_FUEL:
      current().instance.addFuel(Number(channel.readValues()[0]));
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
}

function failed(err: unknown): number {
  writeError(channel, err);
  return REPLY_FAILED;
}

function publishMetrics(): void {
  if (hosted) writeMetrics(channel.metrics, hosted.instance.metrics(), hosted.instance.getFuel());
}

let sent = REPLY_READY;
channel.pass(sent);
for (;;) {
  const cmd = channel.waitSync(sent) as number;
  let reply: number;
  try {
    const served = serve(cmd);
    // Only running a WASI command goes through a promise; calls stay synchronous end to end.
    reply = typeof served === 'number' ? served : await served.catch(failed);
  } catch (err) {
    reply = failed(err);
  }
  publishMetrics();
  channel.pass(reply);
  sent = reply;
}
