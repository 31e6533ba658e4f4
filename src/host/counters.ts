/**
 * Counts of resources a guest holds against a limit. A count goes up when the resource is taken
 * and down exactly once when it ends, whoever ends it, so a guest that reuses one instance for many
 * requests never runs out of places it already gave back.
 */

/** Live resources of one kind (network connections, …) against an optional maximum. */
export class Counter {
  readonly max: number | null;
  #held = 0;
  constructor(max: number | null) {
    this.max = max;
  }
  get held(): number {
    return this.#held;
  }
  /** Takes one place and returns its release (which does nothing when called again), or undefined at the limit. */
  take(): (() => void) | undefined {
    if (this.max !== null && this.#held >= this.max) return undefined;
    this.#held++;
    let held = true;
    return () => {
      if (!held) return;
      held = false;
      this.#held--;
    };
  }
}
