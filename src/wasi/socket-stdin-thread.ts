/**
 * The thread behind SocketStdin (socket-stdin.ts): reads the host's descriptor 0, a socket, on an event
 * loop, one chunk per request, and hands each chunk to the guest's thread. The socket is read only
 * while a request is open, so at most one chunk waits here and TCP flow control holds the peer back.
 */
import { Socket } from 'node:net';
import { workerData } from 'node:worker_threads';
import type { StdinThreadData, StdinMessage } from './socket-stdin.ts';

const { ctl, port } = workerData as StdinThreadData;

function send(message: StdinMessage): void {
  port.postMessage(message);
  Atomics.add(ctl, 0, 1);
  Atomics.notify(ctl, 0);
}

const socket = new Socket({ fd: 0, readable: true, writable: false, allowHalfOpen: true });
socket.on('data', (chunk: Buffer) => {
  socket.pause();
  send({ data: new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.length) });
});
socket.pause();
socket.on('end', () => send({ eof: true }));
socket.on('error', (err: NodeJS.ErrnoException) => send({ error: err.code ?? 'EIO' }));
port.on('message', () => socket.resume());
