/**
 * The host side of a MemoryChannel: two ring buffers in guest memory, an inbox the host writes and the
 * guest reads, and an outbox the other way round (layout in docs/guest-abi.md). The guest runs only
 * when called, so the host "pumps" it (calls `wschan:pump`) whenever the inbox has news or the outbox
 * has room again; a pump that changes nothing ends the round, so a guest that stops reading applies
 * backpressure instead of making the host spin. Every word of the control block is the guest's and is
 * checked on every read; sizes are fixed at open, so a guest cannot move its rings afterwards.
 */
import { AbiViolation, ChannelClosed, InvalidArguments, ResourceLimitExceeded, WasmSandboxError } from '../errors.ts';
import type { CommunicationChannel } from './channel.ts';

export const CHANNEL_MAGIC = 0x48435357;
export const CHANNEL_VERSION = 1;
export const CHANNEL_HEADER_BYTES = 64;
export const OPEN_EXPORT = 'wschan:open';
export const PUMP_EXPORT = 'wschan:pump';
/** Set by the guest when its outbox was full: pump it again once the host has made room. */
export const WANTS_PUMP = 1;

const MIN_CAPACITY = 16;
const MAX_CAPACITY = 2 ** 30;
// Word offsets of the control block.
const IN_HEAD = 16;
const IN_TAIL = 20;
const OUT_HEAD = 24;
const OUT_TAIL = 28;
const FLAGS = 32;
const STATE_BYTES = 36;

/** What a MemoryChannel needs of its sandbox; WasmSandbox provides it. */
export interface ChannelHost {
  /** Calls an export of the instance. */
  callFunction(instanceId: string, name: string, args?: never[]): Promise<unknown>;
  /** Copies bytes out of the instance's memory. */
  readMemory(instanceId: string, ptr: number, len: number): Promise<Uint8Array>;
  /** Copies bytes into the instance's memory. */
  writeMemory(instanceId: string, ptr: number, bytes: Uint8Array): Promise<void>;
}

interface RingState {
  inHead: number;
  inTail: number;
  outHead: number;
  outTail: number;
  flags: number;
}

interface PendingSend {
  message: Uint8Array;
  resolve: () => void;
  reject: (err: unknown) => void;
}

interface PendingReceive {
  resolve: (message: Uint8Array) => void;
  reject: (err: unknown) => void;
}

export class MemoryChannel implements CommunicationChannel {
  private readonly host: ChannelHost;
  private readonly instanceId: string;
  private readonly base: number;
  private readonly inCap: number;
  private readonly outCap: number;
  private readonly sends: PendingSend[] = [];
  private readonly receivers: PendingReceive[] = [];
  private running = false;
  private again = false;
  private needPump = false;
  private closedWith: WasmSandboxError | undefined;

  private constructor(host: ChannelHost, instanceId: string, base: number, inCap: number, outCap: number) {
    this.host = host;
    this.instanceId = instanceId;
    this.base = base;
    this.inCap = inCap;
    this.outCap = outCap;
  }

  /** Opens the channel a guest declares (its `wschan:open` export) and checks its control block. */
  static async open(host: ChannelHost, instanceId: string): Promise<MemoryChannel> {
    const base = Number(await host.callFunction(instanceId, OPEN_EXPORT, [])) >>> 0;
    const header = await readGuest(host, instanceId, base, 16, 'its control block');
    const view = new DataView(header.buffer, header.byteOffset, header.byteLength);
    const magic = view.getUint32(0, true), version = view.getUint32(4, true);
    const inCap = view.getUint32(8, true), outCap = view.getUint32(12, true);
    if (magic !== CHANNEL_MAGIC) throw new AbiViolation(OPEN_EXPORT, `the control block at ${base} does not start with the channel magic`);
    if (version !== CHANNEL_VERSION) throw new AbiViolation(OPEN_EXPORT, `the channel speaks version ${version}; this host speaks ${CHANNEL_VERSION}`);
    for (const cap of [inCap, outCap]) {
      if (cap < MIN_CAPACITY || cap > MAX_CAPACITY || (cap & (cap - 1)) !== 0) {
        throw new AbiViolation(OPEN_EXPORT, `ring capacity ${cap} is not a power of two from ${MIN_CAPACITY} to ${MAX_CAPACITY}`);
      }
    }
    // The whole region must lie in memory: its last byte is readable.
    await readGuest(host, instanceId, base + CHANNEL_HEADER_BYTES + inCap + outCap - 1, 1, 'its rings');
    const channel = new MemoryChannel(host, instanceId, base, inCap, outCap);
    await channel.state();
    return channel;
  }

  /** True once the channel was closed, by either side or by an error. */
  get closed(): boolean {
    return this.closedWith !== undefined;
  }

  /** The largest message the guest's inbox can ever take. */
  get maxMessageBytes(): number {
    return this.inCap - 4;
  }

  send(message: Uint8Array): Promise<void> {
    if (this.closedWith) return Promise.reject(this.closedWith);
    if (!(message instanceof Uint8Array)) return Promise.reject(new InvalidArguments('MemoryChannel.send expects a Uint8Array'));
    if (message.length > this.maxMessageBytes) {
      return Promise.reject(new ResourceLimitExceeded('payload-bytes', this.maxMessageBytes, message.length, "a message larger than the guest's inbox"));
    }
    return new Promise<void>((resolve, reject) => {
      this.sends.push({ message, resolve, reject });
      this.kick();
    });
  }

  receive(): Promise<Uint8Array> {
    if (this.closedWith) return Promise.reject(this.closedWith);
    return new Promise<Uint8Array>((resolve, reject) => {
      this.receivers.push({ resolve, reject });
      this.kick();
    });
  }

  /** Lets the guest run once even without news, for guests that speak first. */
  pump(): Promise<void> {
    if (this.closedWith) return Promise.reject(this.closedWith);
    this.needPump = true;
    return new Promise<void>((resolve, reject) => {
      this.whenIdle.push({ resolve, reject });
      this.kick();
    });
  }

  private readonly whenIdle: { resolve: () => void; reject: (err: unknown) => void }[] = [];

  close(): void {
    this.shut(new ChannelClosed('the memory channel was closed'));
  }

  private shut(error: WasmSandboxError): void {
    if (this.closedWith) return;
    this.closedWith = error;
    for (const s of this.sends.splice(0)) s.reject(error);
    for (const r of this.receivers.splice(0)) r.reject(error);
    for (const w of this.whenIdle.splice(0)) w.reject(error);
  }

  // --- the driver -----------------------------------------------------------------------------

  /** Runs rounds until nothing more can move; requests arriving meanwhile join the running driver. */
  private kick(): void {
    if (this.running) {
      this.again = true;
      return;
    }
    this.running = true;
    void this.drive().finally(() => {
      this.running = false;
    });
  }

  private async drive(): Promise<void> {
    try {
      do {
        this.again = false;
        while (!this.closedWith && (await this.round()));
      } while (this.again && !this.closedWith);
      for (const w of this.whenIdle.splice(0)) w.resolve();
    } catch (err) {
      // The guest broke the protocol or stopped: nothing more can be trusted on this channel.
      this.shut(err instanceof WasmSandboxError ? err : new ChannelClosed(`the memory channel failed: ${(err as Error).message}`));
    }
  }

  /** One round: deliver, send, pump. True when anything moved. */
  private async round(): Promise<boolean> {
    let moved = false;
    while (this.receivers.length > 0) {
      const message = await this.takeFromOutbox();
      if (!message) break;
      this.receivers.shift()!.resolve(message);
      moved = true;
    }
    while (this.sends.length > 0 && (await this.putInInbox(this.sends[0].message))) {
      this.sends.shift()!.resolve();
      moved = true;
    }
    if (this.needPump && !this.closedWith) {
      this.needPump = false;
      const before = await this.state();
      await this.host.callFunction(this.instanceId, PUMP_EXPORT, []);
      const after = await this.state();
      // Progress is the guest reading its inbox or writing its outbox; a pump that did neither ends the round.
      if (after.inHead !== before.inHead || after.outTail !== before.outTail) moved = true;
    }
    return moved;
  }

  // --- the rings ------------------------------------------------------------------------------

  private async state(): Promise<RingState> {
    const bytes = await readGuest(this.host, this.instanceId, this.base, STATE_BYTES, 'its control block');
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const s: RingState = {
      inHead: view.getUint32(IN_HEAD, true),
      inTail: view.getUint32(IN_TAIL, true),
      outHead: view.getUint32(OUT_HEAD, true),
      outTail: view.getUint32(OUT_TAIL, true),
      flags: view.getUint32(FLAGS, true),
    };
    if (((s.inTail - s.inHead) >>> 0) > this.inCap) throw new AbiViolation(PUMP_EXPORT, `the inbox indices (head ${s.inHead}, tail ${s.inTail}) claim more than its ${this.inCap} bytes`);
    if (((s.outTail - s.outHead) >>> 0) > this.outCap) throw new AbiViolation(PUMP_EXPORT, `the outbox indices (head ${s.outHead}, tail ${s.outTail}) claim more than its ${this.outCap} bytes`);
    return s;
  }

  private async putInInbox(message: Uint8Array): Promise<boolean> {
    const s = await this.state();
    const used = (s.inTail - s.inHead) >>> 0;
    if (this.inCap - used < message.length + 4) return false;
    const frame = new Uint8Array(message.length + 4);
    new DataView(frame.buffer).setUint32(0, message.length, true);
    frame.set(message, 4);
    await this.writeRing(this.base + CHANNEL_HEADER_BYTES, this.inCap, s.inTail, frame);
    // Published after the bytes: the guest never sees a tail past what is written.
    await this.writeWord(IN_TAIL, (s.inTail + frame.length) >>> 0);
    this.needPump = true;
    return true;
  }

  private async takeFromOutbox(): Promise<Uint8Array | undefined> {
    const s = await this.state();
    const used = (s.outTail - s.outHead) >>> 0;
    if (used === 0) return undefined;
    const outbox = this.base + CHANNEL_HEADER_BYTES + this.inCap;
    if (used < 4) throw new AbiViolation(PUMP_EXPORT, `the outbox holds ${used} bytes, less than a frame header`);
    const head = await this.readRing(outbox, this.outCap, s.outHead, 4);
    const length = new DataView(head.buffer, head.byteOffset, 4).getUint32(0, true);
    if (length > used - 4) throw new AbiViolation(PUMP_EXPORT, `an outbox frame claims ${length} bytes, but the outbox holds ${used - 4} after its header`);
    const message = await this.readRing(outbox, this.outCap, s.outHead + 4, length);
    await this.writeWord(OUT_HEAD, (s.outHead + 4 + length) >>> 0);
    if (s.flags & WANTS_PUMP) {
      await this.writeWord(FLAGS, s.flags & ~WANTS_PUMP);
      this.needPump = true;
    }
    return message;
  }

  private async readRing(ring: number, cap: number, index: number, length: number): Promise<Uint8Array> {
    const pos = index & (cap - 1);
    const first = Math.min(cap - pos, length);
    const a = await readGuest(this.host, this.instanceId, ring + pos, first, 'its rings');
    if (first === length) return a;
    const out = new Uint8Array(length);
    out.set(a);
    out.set(await readGuest(this.host, this.instanceId, ring, length - first, 'its rings'), first);
    return out;
  }

  private async writeRing(ring: number, cap: number, index: number, bytes: Uint8Array): Promise<void> {
    const pos = index & (cap - 1);
    const first = Math.min(cap - pos, bytes.length);
    await this.host.writeMemory(this.instanceId, ring + pos, bytes.subarray(0, first));
    if (first < bytes.length) await this.host.writeMemory(this.instanceId, ring, bytes.subarray(first));
  }

  private async writeWord(offset: number, value: number): Promise<void> {
    const word = new Uint8Array(4);
    new DataView(word.buffer).setUint32(0, value, true);
    await this.host.writeMemory(this.instanceId, this.base + offset, word);
  }
}

/** Reads guest memory on behalf of the channel: a range outside memory is the guest's lie, not the caller's mistake. */
async function readGuest(host: ChannelHost, instanceId: string, ptr: number, len: number, what: string): Promise<Uint8Array> {
  try {
    return await host.readMemory(instanceId, ptr, len);
  } catch (err) {
    if (err instanceof InvalidArguments) throw new AbiViolation(OPEN_EXPORT, `${what} at ${ptr} (${len} bytes) lies outside its memory`);
    throw err;
  }
}
