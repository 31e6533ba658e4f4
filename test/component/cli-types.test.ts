import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { fixturePath } from './helpers.ts';

const CLI = fileURLToPath(new URL('../../src/cli/main.ts', import.meta.url));

function cli(args: string[]) {
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', timeout: 60_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const TSC = join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc');

/** Type-checks `files` (name → source) in a directory of their own against the project's settings. */
function typeCheck(dir: string, files: Record<string, string>): { status: number | null; output: string } {
  for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
  writeFileSync(join(dir, 'package.json'), '{ "type": "module" }');
  writeFileSync(join(dir, 'tsconfig.json'), JSON.stringify({
    extends: join(ROOT, 'tsconfig.json'),
    compilerOptions: { noEmit: true, rootDir: '/', rewriteRelativeImportExtensions: false, typeRoots: [join(ROOT, 'node_modules', '@types')] },
    include: [...Object.keys(files), 'types.ts'].map((f) => join(dir, f)),
  }));
  const r = spawnSync(process.execPath, [TSC, '-p', join(dir, 'tsconfig.json')], { encoding: 'utf8', timeout: 120_000 });
  return { status: r.status, output: r.stdout + r.stderr };
}

test('types: the declarations describe instance.exports exactly: a consumer compiles under strict tsc and runs', () => {
  const dir = mkdtempSync(join(tmpdir(), 'types-consumer-'));
  try {
    const r = cli(['types', '--out', dir, fixturePath('types')]);
    assert.equal(r.status, 0, r.stderr);
    const decl = readFileSync(join(dir, 'types.d.ts'), 'utf8');
    assert.match(decl, /readonly "example:types\/types": ExampleTypesTypesExports;/);
    assert.match(decl, /readonly echoPoint: \(v: Point\) => Promise<Point>;/);
    const index = JSON.stringify(join(ROOT, 'src', 'index.ts'));
    const consumer = `
import assert from 'node:assert/strict';
import { ComponentRuntime } from ${index};
import type { TypesExports, Point, Shape } from './types.js';

const runtime = await ComponentRuntime.create();
const component = await runtime.createComponentModuleFromFile(${JSON.stringify(fixturePath('types'))});
const instance = await runtime.instantiate<TypesExports>(component);
const api = instance.exports['example:types/types'];
const p: Point = await api.echoPoint({ x: 1, y: -2 });
assert.deepEqual(p, { x: 1, y: -2 });
const big: bigint = await api['echo-u64'](2n ** 63n);
assert.equal(big, 2n ** 63n);
const shape: Shape = await api.echoShape({ tag: 'rect', val: p });
assert.equal(shape.tag, 'rect');
const res = await api.echoResult({ tag: 'err', val: 'no' });
assert.deepEqual(res, { tag: 'err', val: 'no' });
const list: Uint32Array = await api.echoList([1, 2, 3]);
assert.deepEqual([...list], [1, 2, 3]);
const opt: string | undefined = await api.echoOption(undefined);
assert.equal(opt, undefined);
const counter = await api['[constructor]counter'](5);
assert.equal(await api['[method]counter.inc'](counter, 2), 7);
assert.equal(await api.counterValue(counter), 7);
runtime.close();
console.log('consumer ok');
`;
    // What the old declarations claimed (a short key, a synchronous result) must not type-check.
    const wrong = `
import type { TypesExports } from './types.js';
declare const exports: TypesExports;
export const s: string = exports.types.echoString('x');
export const t: string = exports['example:types/types'].echoString('x');
`;
    // Checked as a source file (declaration files would be skipped, as the project's settings skip
    // libraries): './types.js' resolves to it just as to the .d.ts.
    writeFileSync(join(dir, 'types.ts'), decl);
    // One compiler run for both (the consumer pulls in the whole library): errors only in wrong.ts.
    const checked = typeCheck(dir, { 'consumer.ts': consumer, 'wrong.ts': wrong });
    const errors = checked.output.split('\n').filter((l) => / error TS/.test(l));
    assert.ok(errors.every((l) => l.includes('wrong.ts')), checked.output);
    assert.equal(errors.length, 2, checked.output);
    assert.match(errors[0], /Property 'types' does not exist/);
    assert.match(errors[1], /Type 'Promise<string>' is not assignable to type 'string'/);
    const run = spawnSync(process.execPath, [join(dir, 'consumer.ts')], { encoding: 'utf8', timeout: 60_000 });
    assert.equal(run.status, 0, run.stderr);
    assert.match(run.stdout, /consumer ok/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('types prints the declarations; a versioned interface is declared under both spellings', () => {
  const r = cli(['types', fixturePath('records-js')]);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /readonly "example:records-js\/api@0\.1\.0": ExampleRecordsJsApiExports;/);
  assert.match(r.stdout, /readonly "example:records-js\/api": ExampleRecordsJsApiExports;/);
  assert.match(r.stdout, /readonly parseU64: \(text: string\) => Promise<\{ tag: 'ok'; val: bigint \} \| \{ tag: 'err'; val: string \}>;/);
});

test('types | true: every command exits quietly when its output pipe closes', () => {
  // `true` reads nothing and exits at once: the command's writes meet a closed pipe (EPIPE).
  for (const command of [`types ${fixturePath('types')}`, `inspect ${fixturePath('types')}`, 'help run', '--help']) {
    const r = spawnSync('sh', ['-c', `"${process.execPath}" "${CLI}" ${command} | true`], { encoding: 'utf8', timeout: 60_000 });
    assert.equal(r.stderr, '', `${command}: ${r.stderr}`);
  }
});

test('types: a core module, a missing file and a missing argument fail with the usual statuses', () => {
  assert.equal(cli(['types', fileURLToPath(new URL('../../fixtures/wat/add.wasm', import.meta.url))]).status, 126);
  assert.equal(cli(['types', '/definitely/not/here.wasm']).status, 127);
  assert.equal(cli(['types']).status, 2);
  assert.match(cli(['help', 'types']).stdout, /Usage: wasm-sandbox types/);
});
