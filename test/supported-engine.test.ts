import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { NODE_FLOOR, runtimeProblem } from '../src/supported-engine.ts';

test('the floor the entry points enforce is the one package.json declares', () => {
  const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { engines: { node: string } };
  assert.equal(pkg.engines.node, `>=${NODE_FLOOR}`);
});

test('versions below the floor are refused by name, the floor and later pass', () => {
  assert.equal(runtimeProblem('22.2.0'), `wasm-sandbox needs Node.js ${NODE_FLOOR} or newer; this is Node.js 22.2.0`);
  assert.match(runtimeProblem('22.11.9') ?? '', /needs Node\.js 22\.12\.0 or newer; this is Node\.js 22\.11\.9/);
  assert.match(runtimeProblem('20.19.0') ?? '', /this is Node\.js 20\.19\.0/);
  assert.equal(runtimeProblem('22.12.0'), undefined);
  assert.equal(runtimeProblem('22.13.1'), undefined);
  assert.equal(runtimeProblem('24.0.0'), undefined);
  assert.equal(runtimeProblem('100.0.0'), undefined);
  // This very process runs the tests, so it is supported.
  assert.equal(runtimeProblem(), undefined);
});
