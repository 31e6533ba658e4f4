import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { fixturePath } from './helpers.ts';

const CLI = fileURLToPath(new URL('../../src/cli/main.ts', import.meta.url));

function cli(args: string[]) {
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', timeout: 60_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

test('types: prints TypeScript declarations for a component', () => {
  const r = cli(['types', fixturePath('types')]);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /\/\/ types\.d\.ts/);
  assert.match(r.stdout, /export function echoPoint\(v: Point\): Point;/);
  assert.match(r.stdout, /export interface Point \{\n\s+x: number,\n\s+y: number,\n\}/);
  assert.match(r.stdout, /export function echoU64\(v: bigint\): bigint;/);
});

test('types --out writes the files', () => {
  const dir = mkdtempSync(join(tmpdir(), 'types-out-'));
  try {
    const r = cli(['types', '--out', dir, '--name', 'consumer', fixturePath('kv-consumer')]);
    assert.equal(r.status, 0, r.stderr);
    assert.ok(existsSync(join(dir, 'consumer.d.ts')));
    assert.match(readFileSync(join(dir, 'interfaces', 'example-kv-store.d.ts'), 'utf8'), /export function get\(key: string\): string \| undefined;/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('types: a core module, a missing file and a missing argument fail with the usual statuses', () => {
  assert.equal(cli(['types', fileURLToPath(new URL('../../fixtures/wat/add.wasm', import.meta.url))]).status, 126);
  assert.equal(cli(['types', '/definitely/not/here.wasm']).status, 127);
  assert.equal(cli(['types']).status, 2);
  assert.match(cli(['help', 'types']).stdout, /Usage: wasm-sandbox types/);
});
