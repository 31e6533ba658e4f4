/**
 * Minimal benchmark harness: each case is timed in several rounds after a warm-up and the median round
 * is reported, so one noisy round on a shared machine does not decide the result. Results are printed
 * as ratios against a baseline measured in the same run, never compared with fixed thresholds.
 */

export interface Measurement {
  name: string;
  /** Median nanoseconds per operation. */
  nsPerOp: number;
}

export interface CaseOptions {
  /** Operations per round. */
  ops: number;
  rounds?: number;
  warmupRounds?: number;
}

/** Times `fn`, which must perform `ops` operations per invocation (so loops stay inside the measured code). */
export async function measure(name: string, fn: (ops: number) => unknown, options: CaseOptions): Promise<Measurement> {
  const rounds = options.rounds ?? 7;
  for (let i = 0; i < (options.warmupRounds ?? 2); i++) await fn(options.ops);
  const samples: number[] = [];
  for (let i = 0; i < rounds; i++) {
    const start = process.hrtime.bigint();
    await fn(options.ops);
    samples.push(Number(process.hrtime.bigint() - start) / options.ops);
  }
  samples.sort((a, b) => a - b);
  return { name, nsPerOp: samples[Math.floor(samples.length / 2)] };
}

/**
 * Times several cases round by round, alternating their order, so that a machine getting busier or
 * quieter during the run affects them alike; for slow operations such as whole processes.
 */
export async function measureInterleaved(cases: { name: string; fn: (ops: number) => unknown }[], options: CaseOptions): Promise<Measurement[]> {
  const rounds = options.rounds ?? 7;
  for (let i = 0; i < (options.warmupRounds ?? 2); i++) for (const c of cases) await c.fn(options.ops);
  const samples = cases.map((): number[] => []);
  for (let i = 0; i < rounds; i++) {
    const order = i % 2 === 0 ? cases.keys() : [...cases.keys()].reverse();
    for (const k of order) {
      const start = process.hrtime.bigint();
      await cases[k].fn(options.ops);
      samples[k].push(Number(process.hrtime.bigint() - start) / options.ops);
    }
  }
  return cases.map((c, k) => {
    const sorted = samples[k].sort((a, b) => a - b);
    return { name: c.name, nsPerOp: sorted[Math.floor(sorted.length / 2)] };
  });
}

export function formatTime(ns: number): string {
  if (ns < 1_000) return `${ns.toFixed(1)} ns`;
  if (ns < 1_000_000) return `${(ns / 1_000).toFixed(2)} µs`;
  if (ns < 1_000_000_000) return `${(ns / 1_000_000).toFixed(2)} ms`;
  return `${(ns / 1_000_000_000).toFixed(2)} s`;
}

export interface Comparison {
  what: string;
  ours: Measurement;
  baseline: Measurement;
  /** Human-readable goal, e.g. '≤ 2×'. */
  goal: string;
  /** Whether ours/baseline meets the goal. */
  meets: (ratio: number) => boolean;
}

export function report(section: string, comparisons: Comparison[], extra: Measurement[] = []): void {
  console.log(`\n## ${section}`);
  console.log('| what | ours | baseline | ratio (ours / baseline) | goal |');
  console.log('|---|---|---|---|---|');
  for (const c of comparisons) {
    const ratio = c.ours.nsPerOp / c.baseline.nsPerOp;
    console.log(`| ${c.what} | ${formatTime(c.ours.nsPerOp)} | ${c.baseline.name}: ${formatTime(c.baseline.nsPerOp)} | ${ratio.toFixed(2)}× | ${c.goal} ${c.meets(ratio) ? '✓' : '✗'} |`);
  }
  for (const m of extra) console.log(`| ${m.name} | ${formatTime(m.nsPerOp)} | | | |`);
}
