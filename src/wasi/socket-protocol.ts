/**
 * What the guest's thread and the socket helper worker (socket-helper.ts) say to each other. Requests
 * travel over a MessagePort the guest's thread reads with receiveMessageOnPort; a shared Int32Array
 * carries the wake-ups, so the guest's thread can block on it with Atomics.wait (it has no event loop
 * to spare while the guest runs). Failures are Node's error code strings ('EAGAIN', 'ECONNRESET'…),
 * turned into errnos on the guest's side.
 */
import type { MessagePort } from 'node:worker_threads';

/** A listener to open for the guest: the address to bind (port 0 picks a free port). */
export interface ListenerSpec {
  /** Address to bind, e.g. `127.0.0.1` or `::1`; it must be allowed by `capabilities.network`. */
  host: string;
  /** Port to bind; 0 picks a free one. */
  port: number;
}

/** A listener as bound: the real address, and the guest descriptor that serves it. */
export interface ListenerAddress {
  /** The bound address. */
  host: string;
  /** The bound port (the real one when 0 was asked for). */
  port: number;
  /** The guest's descriptor for it, to pass to `sock_accept`. */
  fd: number;
}

/** Indices into the shared control words. */
export const CTL_REPLY = 0;
/** Bumped whenever something a blocked guest may wait for changes: a connection, data, EOF, an error, drain. */
export const CTL_EVENT = 1;
/** Set to 1 by the helper when it exits, so a waiting guest thread stops waiting for it. */
export const CTL_GONE = 2;
export const CTL_WORDS = 3;

export interface HelperData {
  ctl: Int32Array;
  port: MessagePort;
  listeners: ListenerSpec[];
  /** How long closing may spend flushing what the guest sent before connections are reset. */
  lingerMs: number;
}

export type PollKind = 'listener' | 'conn' | 'udp';

export interface PollItem {
  kind: PollKind;
  id: number;
  write: boolean;
}

export interface Readiness {
  ready: boolean;
  /** Bytes buffered (read), room left (write), or pending connections (listener). */
  nbytes: number;
  hangup: boolean;
  code: string | undefined;
}

export type Request =
  | { id: number; op: 'accept'; listener: number }
  | { id: number; op: 'recv'; sock: number; max: number; peek: boolean }
  | { id: number; op: 'send'; sock: number; data: Uint8Array }
  | { id: number; op: 'shutdown'; sock: number; how: number }
  | { id: number; op: 'poll'; items: PollItem[] }
  | { id: number; op: 'close-all' }
  // For wasi:sockets (components), which opens sockets while the guest runs rather than up front.
  // connect answers at once with the new connection; conn-info then tells whether it is established.
  | { id: number; op: 'connect'; host: string; port: number; localHost: string | undefined; localPort: number | undefined }
  | { id: number; op: 'conn-info'; sock: number }
  | { id: number; op: 'listen'; host: string; port: number; backlog: number }
  // lookup answers at once with a lookup id; lookup-result answers EAGAIN until the resolver is done.
  // servers: the DNS servers the grant names, instead of the system resolver.
  | { id: number; op: 'lookup'; name: string; servers: string[] | undefined }
  | { id: number; op: 'lookup-result'; lookup: number }
  // UDP (wasi:sockets): udp-bind answers once the socket is bound; udp-recv returns only what has
  // arrived; udp-send answers once Node has handed every datagram to the kernel (or one failed).
  | { id: number; op: 'udp-bind'; host: string; port: number; ipv6: boolean }
  | { id: number; op: 'udp-connect'; sock: number; remote: { host: string; port: number } | undefined }
  | { id: number; op: 'udp-recv'; sock: number; max: number }
  | { id: number; op: 'udp-send'; sock: number; datagrams: Datagram[] }
  | { id: number; op: 'udp-close'; sock: number }
  // One-way: nothing the guest does next depends on them having finished.
  | { id: number; op: 'close'; sock: number }
  | { id: number; op: 'close-listener'; listener: number }
  | { id: number; op: 'forget-lookup'; lookup: number };

export interface Datagram {
  data: Uint8Array;
  host: string;
  port: number;
}

export interface Reply {
  id: number;
  /** A Node error code when the operation failed. */
  code?: string;
  message?: string;
  sock?: number;
  data?: Uint8Array;
  n?: number;
  readiness?: Readiness[];
  addresses?: { host: string; port: number }[];
  /** conn-info: the connection is not established yet (and has not failed). */
  connecting?: boolean;
  local?: { host: string; port: number };
  /** conn-info, accept: the peer. */
  remote?: { host: string; port: number };
  /** listen: the new listener's index, for accept, poll and close-listener. */
  listener?: number;
  /** udp-recv: the datagrams taken from the socket's queue, oldest first. */
  datagrams?: Datagram[];
  /** lookup: the id to ask lookup-result about. */
  lookup?: number;
}

/** The reply to the helper's start: the listeners are bound (or not). */
export const STARTUP_ID = 0;

/** sock_shutdown's flags, as the helper receives them. */
export const SHUT_RD = 1;
export const SHUT_WR = 2;
