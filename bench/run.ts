// Runs every bench/*.bench.ts in turn (or the ones named on the command line) and prints their tables.
import { readdirSync } from 'node:fs';

const dir = new URL('./', import.meta.url);
const wanted = process.argv.slice(2);
const files = readdirSync(dir).filter((f) => f.endsWith('.bench.ts') && (wanted.length === 0 || wanted.some((w) => f.includes(w)))).sort();
console.log(`# wasm-sandbox benchmarks (Node ${process.version}, ${new Date().toISOString()})`);
for (const file of files) {
  const mod = (await import(new URL(file, dir).href)) as { default: () => Promise<void> };
  await mod.default();
}
