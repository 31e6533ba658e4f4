/**
 * Hosts that forbid code generation from strings (`node --disallow-code-generation-from-strings`, a
 * common hardening flag) still get working call handles: the generated fast path falls back to a
 * closure with the same checks.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';

const SCRIPT = `
import { readFileSync } from 'node:fs';
import { WasmSandbox } from ${JSON.stringify(new URL('../../src/index.ts', import.meta.url).href)};
const out = {};
try { new Function('return 1'); out.codegen = true; } catch (e) { out.codegen = e.constructor.name; }
const sandbox = await WasmSandbox.create();
const id = await sandbox.createInstance(await sandbox.loadModule(readFileSync(new URL(${JSON.stringify(new URL('../../fixtures/wat/add.wasm', import.meta.url).href)}))));
out.sum = await sandbox.callFunction(id, 'add', [2, 3]);
const add = sandbox.getFunction(id, 'add');
out.sync = add.sync(40, 2);
for (const [name, args] of [['type', [2, 'x']], ['arity', [1]], ['float', [1.5, 1]]]) {
  try { add.sync(...args); out[name] = 'accepted'; } catch (e) { out[name] = e.code + ' ' + e.message; }
}
out.calls = sandbox.getMetrics(id).calls;
await sandbox.close();
console.log(JSON.stringify(out));
`;

test('numeric calls work without code generation, with the same argument errors', () => {
  const stdout = execFileSync(process.execPath, ['--disallow-code-generation-from-strings', '--input-type=module', '-e', SCRIPT], { encoding: 'utf8' });
  const out = JSON.parse(stdout.trim().split('\n').at(-1)!);
  assert.equal(out.codegen, 'EvalError', 'the flag is in force in the child');
  assert.equal(out.sum, 5);
  assert.equal(out.sync, 42);
  assert.match(out.type, /^INVALID_ARGUMENTS argument 1 of 'add': expected i32/);
  assert.match(out.arity, /^INVALID_ARGUMENTS 'add' takes 2 arguments \(i32, i32\), got 1/);
  assert.match(out.float, /^INVALID_ARGUMENTS argument 0 of 'add'/);
  assert.equal(out.calls, 2);
});
