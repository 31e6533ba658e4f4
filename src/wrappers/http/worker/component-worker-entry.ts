/**
 * A worker thread serving a wasi:http component's requests, one at a time, for the HTTP server on
 * the main thread. It loads the component once (no transpile, no compile: see PortableComponent)
 * and keeps an instance ready: one that answered cleanly serves the next request (with `reuse`),
 * anything else is closed and a fresh one made before the next request arrives. Requests, bodies and
 * responses pass through the exchange memory; between requests the thread sleeps on its bell.
 * Deadlines are the main thread's: it terminates this thread.
 */
import { workerData } from 'node:worker_threads';
import { ComponentInstance } from '../../../component/component-instance.ts';
import { Trap } from '../../../errors.ts';
import { countViolation, REUSE_OFF, REUSE_PROVEN } from './server-tallies.ts';
import { fromPortable, type PortableComponent } from '../../../component/portable-component.ts';
import { encodeError } from '../../../runtime/worker/error-codec.ts';
import { standInCapabilities, standInLimits } from '../../../runtime/worker/config-transfer.ts';
import { guestRequestHeaders } from '../http-headers.ts';
import { DONE, ExchangeMemory, REQUEST_HEAD } from './exchange-memory.ts';
import { parseRequestHead, type RequestHead } from './record-heads.ts';
import { WorkerRequestBody } from './worker-request-body.ts';
import { WorkerResponseStream } from './worker-response-stream.ts';
import { adoptEpochClock } from '../../../runtime/limits/epoch-clock.ts';

export interface ComponentWorkerData {
  memory: SharedArrayBuffer;
  component: PortableComponent;
  /** The plain data of the Capabilities object. */
  capabilities: object;
  /** The plain data of the ResourceLimits the worker enforces (no deadlines), and its page limit. */
  resourceLimits: object;
  maxPages: number | null;
  /** An instance older than this is replaced before it serves another request (null: never). */
  instanceLifetimeMs: number | null;
  reuse: boolean;
  /**
   * Shared by every thread of the server (see server-tallies.ts): [REUSE_OFF] is set once an
   * instance traps on its second request after a clean first one, unless [REUSE_PROVEN] says some
   * instance has already answered two cleanly (then the guest does serve several, and a trap is the
   * request's own doing); once set, no thread reuses an instance (see PoolOptions.reuse). Refused
   * operations are counted there too.
   */
  tallies: SharedArrayBuffer;
}

adoptEpochClock();
const data = workerData as ComponentWorkerData;
const memory = new ExchangeMemory(data.memory);
const component = await fromPortable(data.component);
const capabilities = standInCapabilities(data.capabilities, []);
const resourceLimits = standInLimits(data.resourceLimits, data.maxPages);
const maxOutputBytes = (resourceLimits.io as { maxOutputBytes: number | null }).maxOutputBytes;
const reuseFlags = new Int32Array(data.tallies);
const reusing = (): boolean => data.reuse && Atomics.load(reuseFlags, REUSE_OFF) === 0;

/** The instance the next request gets, and how many requests it has answered cleanly. */
let ready: { instance: ComponentInstance; born: number; served: number } | undefined;
/** A response record written without ringing the server goes out before the guest waits on anything. */
const flushServerRing = (): void => memory.flushServerRing();

async function instantiate(): Promise<ComponentInstance> {
  const instance = new ComponentInstance(component, capabilities, resourceLimits, {
    capabilities, resourceLimits, beforeWait: flushServerRing, interruptible: true, onViolation: (v) => countViolation(reuseFlags, v.capability),
  });
  await instance.start();
  return instance;
}

/** Makes the next request's instance now, so that the request does not wait for it. */
async function prepare(): Promise<void> {
  if (ready) return;
  memory.markBusy();
  try {
    ready = { instance: await instantiate(), born: performance.now(), served: 0 };
  } catch {
    // The request that needs it instantiates again, and reports the failure.
  }
}

/**
 * The next request to serve. Records left over from an earlier request's body are skipped, and so
 * are requests the server withdrew before this thread took them (they have no body records).
 */
function nextRequest(): RequestHead {
  for (;;) {
    const seen = memory.workerBell();
    const record = memory.requests.read();
    if (!record) {
      memory.markWaiting();
      memory.waitWorkerBell(seen);
      continue;
    }
    memory.requestRoomMade();
    if (record.type !== REQUEST_HEAD) continue;
    const head = parseRequestHead(record.text);
    if (memory.take(head.seq)) {
      memory.markBusy();
      return head;
    }
  }
}

function serve(instance: ComponentInstance, head: RequestHead): void {
  instance.serveHttp(
    { method: head.method, path: head.path, scheme: 'http', authority: head.authority, headers: guestRequestHeaders(head.rawHeaders) },
    { body: new WorkerRequestBody(memory, head.hasBody), sink: new WorkerResponseStream(memory, maxOutputBytes) },
  );
}

await prepare();
memory.markReady();
for (;;) {
  const head = nextRequest();
  let current = ready;
  ready = undefined;
  // An instance that has served, kept from before reuse was turned off, does not serve again.
  const stale = current !== undefined && current.served > 0 && !reusing();
  if (current && (stale || (data.instanceLifetimeMs !== null && performance.now() - current.born > data.instanceLifetimeMs))) {
    current.instance.close();
    current = undefined;
  }
  let failure: unknown;
  let instance: ComponentInstance | undefined;
  const started = performance.now();
  try {
    instance = current?.instance ?? (await instantiate());
    serve(instance, head);
  } catch (err) {
    failure = err;
  }
  memory.served(performance.now() - started);
  const served = current?.served ?? 0;
  // Its first request went well and its second trapped, and no instance has served two: this guest
  // serves one request per instance.
  if (failure instanceof Trap && served === 1 && Atomics.load(reuseFlags, REUSE_PROVEN) === 0) Atomics.store(reuseFlags, REUSE_OFF, 1);
  if (failure === undefined && served === 1) Atomics.store(reuseFlags, REUSE_PROVEN, 1);
  if (instance && failure === undefined && instance.usable && reusing()) ready = { instance, born: current?.born ?? performance.now(), served: served + 1 };
  else instance?.close();
  // An empty DONE is success; otherwise it carries the error.
  memory.sendToServer(DONE, failure === undefined ? '' : encodeError(failure));
  await prepare();
}
