/**
 * Violation reporting for the capability core. Every refusal the core decides goes through here,
 * so each ABI reports the same record (`capability`, `detail`) for the same decision:
 *
 *  - `refuse` is a denial the guest is told about (an errno, a WIT error): reported here to the
 *    embedder, then raised as a HostError the ABI maps;
 *  - `stop` is a denial the guest cannot be told about (no error case, or a grant like `exit` whose
 *    absence must end the guest): raised as a SecurityViolation, which the runtime reports where it
 *    surfaces (the sandbox's `violation` event), exactly once.
 */
import { SecurityViolation } from '../errors.ts';
import { HostError } from './host-error.ts';

/**
 * A refused operation, as `onViolation` callbacks receive it: the guest attempted something its capabilities
 * deny.
 */
export interface Violation {
  /** The capability it would have needed, e.g. `filesystem`, `network`, `clock`. */
  capability: string;
  /** What was attempted, e.g. the path or address. */
  detail: string;
}

export type ViolationSink = (v: Violation) => void;

export class Violations {
  private readonly sink: ViolationSink | undefined;

  constructor(sink: ViolationSink | undefined) {
    this.sink = sink;
  }

  /** Reports a denial without raising anything (the caller answers the guest itself). */
  report(capability: string, detail: string): void {
    this.sink?.({ capability, detail });
  }

  /** Reports the denial and fails the operation with `code` (EPERM unless told otherwise). */
  refuse(capability: string, detail: string, code = 'EPERM'): never {
    this.report(capability, detail);
    throw new HostError(code, capability, detail);
  }

  /** Ends the guest: the SecurityViolation is reported once, by the runtime it reaches. */
  stop(capability: string, detail: string): never {
    throw new SecurityViolation(capability, detail);
  }
}
