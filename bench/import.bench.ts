// Import cost: a fresh process that imports the package and makes one numeric call
// (scripts/core-import.mjs) against `node -e 0`, interleaved, on a bundle built from the current sources.
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { formatTime, measureInterleaved, report } from './harness.ts';

const root = fileURLToPath(new URL('../', import.meta.url));
const GOAL_NS = 30e6;

export default async function run(): Promise<void> {
  mkdirSync(join(root, '.cache'), { recursive: true });
  const outdir = mkdtempSync(join(root, '.cache', 'bench-bundle-'));
  try {
    const built = spawnSync(process.execPath, [join(root, 'scripts', 'bundle.ts'), '--outdir', outdir], { stdio: 'inherit' });
    if (built.status !== 0) throw new Error('bundling failed');
    const entry = pathToFileURL(join(outdir, 'index.js')).href;
    const spawnTimes = (args: string[]) => (n: number) => {
      for (let i = 0; i < n; i++) {
        const r = spawnSync(process.execPath, args, { stdio: ['ignore', 'ignore', 'inherit'] });
        if (r.status !== 0) throw new Error(`${args.join(' ')} exited ${r.status}`);
      }
    };
    const [bare, ours] = await measureInterleaved([
      { name: 'node -e 0', fn: spawnTimes(['-e', '0']) },
      { name: "import('wasm-sandbox') + one numeric call", fn: spawnTimes([join(root, 'scripts', 'core-import.mjs'), entry]) },
    ], { ops: 10, rounds: 7, warmupRounds: 1 });
    const added = ours.nsPerOp - bare.nsPerOp;
    report('Import cost (whole process)', [
      { what: `whole process: ${ours.name}; adds ${formatTime(added)}`, ours, baseline: bare, goal: 'adds ≤ 30 ms', meets: () => added <= GOAL_NS },
    ]);
  } finally {
    rmSync(outdir, { recursive: true, force: true });
  }
}
