import { ResourceLimitExceeded } from '../errors.ts';

/** Refuses a structured-call payload over `io.maxPayloadBytes` (null: no limit). */
export function checkPayload(limit: number | null, length: number, what: string): void {
  if (limit !== null && length > limit) {
    throw new ResourceLimitExceeded('payload-bytes', limit, length, what);
  }
}
