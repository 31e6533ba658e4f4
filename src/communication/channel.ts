/** The two interfaces every communication channel of the sandbox implements. */

/** An ordered, bidirectional stream of whole messages. */
export interface CommunicationChannel {
  /** Queues one message; resolves once the peer's buffer has taken it (waits while it is full: backpressure). */
  send(message: Uint8Array): Promise<void>;
  /** Resolves with the next message from the peer, in order. */
  receive(): Promise<Uint8Array>;
  /** Ends the channel: pending and later sends and receives reject with ChannelClosed. */
  close(): void;
  /** True once the channel was closed, by either side or by an error. */
  readonly closed: boolean;
}

/** Options of one `RpcChannel.call`. */
export interface RpcCallOptions {
  /** How long to wait for the response (default: the channel's), null for no limit. */
  timeoutMs?: number | null;
}

/** Serves a method the peer calls; its return value (or the value its promise settles to) is the result. */
export type RpcHandler = (params: unknown) => unknown;

/** Remote procedure calls in both directions over a CommunicationChannel. */
export interface RpcChannel {
  /** Calls a method of the peer and resolves with its result; a remote error rejects with a GuestError. */
  call<T = unknown>(method: string, params?: unknown, options?: RpcCallOptions): Promise<T>;
  /** Sends a notification: no response, no error report. */
  notify(method: string, params?: unknown): Promise<void>;
  /** Serves `method` for the peer (calls and notifications alike). */
  register(method: string, handler: RpcHandler): void;
  /**
   * Ends the channel: pending calls reject with `ChannelClosed`, and the underlying channel is closed too.
   */
  close(): void;
}
