/**
 * Importing the package for core modules loads only the core: nothing from node_modules (jco,
 * preview2-shim, the MCP SDK, ajv, yaml, msgpack load when their feature is first used), not the
 * worker_threads module, and no extra thread. Asserted on what a fresh process loaded, for the bundle
 * the package ships and for the sources.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { buildBundle, packageRoot } from '../helpers/bundle.ts';

interface Report {
  result: number;
  urls: string[];
  builtins: string[];
  threads: number;
}

let outdir: string;
let remove: () => void;
before(() => {
  ({ outdir, remove } = buildBundle());
});
after(() => remove());

function coreImport(entry: string): Report {
  const r = spawnSync(process.execPath, [join(packageRoot, 'scripts', 'core-import.mjs'), pathToFileURL(entry).href, '--report'], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout) as Report;
}

function baselineThreads(): number {
  const r = spawnSync(process.execPath, ['-e', "process.stdout.write(String(require('node:fs').readdirSync('/proc/self/task').length))"], { encoding: 'utf8' });
  return Number(r.stdout);
}

function assertCoreOnly(report: Report): void {
  assert.equal(report.result, 5);
  assert.ok(report.urls.length > 0, 'the load hook saw the package');
  assert.deepEqual(report.urls.filter((u) => u.includes('/node_modules/')), []);
  // Our own modules that bind the optional packages or start threads load on demand as well.
  assert.deepEqual(report.urls.filter((u) => /mcp-protocol|http-transport|component-tools|wasi-guest|worker-runtime|worker-entry/.test(u)), []);
  assert.deepEqual(report.builtins.filter((m) => /\bworker_threads\b|internal\/worker\b/.test(m)), []);
  if (process.platform === 'linux') assert.equal(report.threads, baselineThreads(), 'no thread beyond what node itself starts');
}

test('the shipped bundle: a core-module import and call load no optional package, no worker machinery, no thread', () => {
  const report = coreImport(join(outdir, 'index.js'));
  // Its first import, so it runs (and refuses an old Node.js) before any chunk of the library does.
  assert.ok(report.urls[1]?.endsWith('/engine-check.js'), `the engine check is index.js's first import: ${report.urls.slice(0, 3).join(', ')}`);
  assertCoreOnly(report);
});

test('the sources load the same', () => {
  assertCoreOnly(coreImport(join(packageRoot, 'src', 'index.ts')));
});
