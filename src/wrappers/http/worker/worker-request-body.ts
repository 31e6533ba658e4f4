/**
 * The worker's side of a streamed request body: what the guest's incoming-body stream reads. Bytes
 * come from the request ring as the server forwards them from the client; a read that finds none
 * waits on the worker's bell, so the guest blocks exactly until the client's next bytes arrive.
 */
import type { ByteSource } from '../../../component/wasi/io.ts';
import { BODY_ABORT, BODY_CHUNK, BODY_END, type ExchangeMemory } from './exchange-memory.ts';

export class WorkerRequestBody implements ByteSource {
  private readonly memory: ExchangeMemory;
  private pending: Uint8Array | undefined;
  private ended: boolean;
  private aborted = false;

  /** `hasBody` false: the request has no body, and the stream is at its end from the start. */
  constructor(memory: ExchangeMemory, hasBody: boolean) {
    this.memory = memory;
    this.ended = !hasBody;
  }

  /** Takes the next record of this body, if one has arrived. */
  private pull(): void {
    if (this.pending || this.ended || this.aborted) return;
    const record = this.memory.requests.read();
    if (!record) return;
    this.memory.requestRoomMade();
    if (record.type === BODY_CHUNK) this.pending = record.bytes;
    else if (record.type === BODY_END) this.ended = true;
    else if (record.type === BODY_ABORT) this.aborted = true;
  }

  ready(): boolean {
    this.pull();
    return this.pending !== undefined || this.ended || this.aborted;
  }

  read(len: number): Uint8Array | undefined {
    this.pull();
    const chunk = this.pending;
    if (chunk) {
      if (chunk.length <= len) {
        this.pending = undefined;
        return chunk;
      }
      this.pending = chunk.subarray(len);
      return chunk.subarray(0, len);
    }
    // A plain Error: the guest sees a failed read (its stream's last-operation-failed), not a stop.
    if (this.aborted) throw new Error('the request body was cut off');
    return this.ended ? undefined : new Uint8Array(0);
  }

  block(ms: number): void {
    const seen = this.memory.workerBell();
    if (!this.ready()) this.memory.waitWorkerBell(seen, ms);
  }
}
