/**
 * What the threads of one component server share with it and with each other, as Int32s over one
 * SharedArrayBuffer of TALLIES_BYTES: whether instance reuse has been turned off for this guest,
 * whether some instance has proved that the guest serves several requests, and how many operations
 * its guests were refused, per capability (read by the server for its metrics).
 */
export const REUSE_OFF = 0;
export const REUSE_PROVEN = 1;
/** Capabilities a component's guest can be refused, each with its own count; any other counts last. */
export const VIOLATION_CAPABILITIES = ['filesystem', 'network', 'env', 'args', 'clock', 'random', 'stdio', 'exit'] as const;
const VIOLATIONS_AT = 2;
export const TALLIES_BYTES = (VIOLATIONS_AT + VIOLATION_CAPABILITIES.length + 1) * 4;

export function countViolation(tallies: Int32Array, capability: string): void {
  const i = (VIOLATION_CAPABILITIES as readonly string[]).indexOf(capability);
  Atomics.add(tallies, VIOLATIONS_AT + (i < 0 ? VIOLATION_CAPABILITIES.length : i), 1);
}

/** The refusals counted since `seen` (updated in place), by capability (`other` for the rest). */
export function newViolations(tallies: Int32Array, seen: Int32Array): [string, number][] {
  const out: [string, number][] = [];
  for (let i = 0; i <= VIOLATION_CAPABILITIES.length; i++) {
    const now = Atomics.load(tallies, VIOLATIONS_AT + i);
    if (now !== seen[i]) {
      out.push([VIOLATION_CAPABILITIES[i] ?? 'other', now - seen[i]]);
      seen[i] = now;
    }
  }
  return out;
}

export function violationsSeen(): Int32Array {
  return new Int32Array(VIOLATION_CAPABILITIES.length + 1);
}
