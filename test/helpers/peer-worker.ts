/**
 * A network peer on its own thread for tests whose guest blocks the test's thread. `source`
 * (CommonJS, with `parentPort` and `workerData` in scope) posts one message when it is ready,
 * answers every other message with one message, and exits on 'stop'.
 */
import { Worker } from 'node:worker_threads';

export interface PeerWorker<T> {
  /** What the peer posted when it was ready (its ports, usually). */
  readonly ready: T;
  /** Posts `question` and resolves with the peer's answer. */
  ask<R>(question: string): Promise<R>;
  close(): Promise<void>;
}

export async function peerWorker<T>(source: string, workerData?: unknown): Promise<PeerWorker<T>> {
  const worker = new Worker(`const { parentPort, workerData } = require('node:worker_threads');\n${source}`, { eval: true, workerData });
  const ready = await new Promise<T>((resolve) => worker.once('message', resolve));
  return {
    ready,
    ask: <R>(question: string) => {
      worker.postMessage(question);
      return new Promise<R>((resolve) => worker.once('message', resolve));
    },
    close: async () => {
      worker.postMessage('stop');
      await new Promise((resolve) => worker.once('exit', resolve));
    },
  };
}
