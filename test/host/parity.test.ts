/**
 * One capability core, two ABIs: every scenario runs through a preview1 guest
 * (fixtures/wasi/parity.c, through WasmSandbox) and a preview2 component (fixtures/components/fs-cli.js,
 * through ComponentRuntime) with the same grant and the same command, and must reach the same
 * decision with the same violation records. Errors are compared as the WIT error-code the errno
 * corresponds to (EPERM and ENOTCAPABLE are both `not-permitted`).
 *
 * Where a component cannot express a scenario, its preview2 half drives the preview2 host's
 * interface objects directly (column `preview2`): the StarlingMonkey engine inside a JS component
 * reads the clocks itself while it starts, so it can neither start without a clock nor show a
 * virtual clock's first reading.
 *
 * One difference is left to the ABIs' own per-descriptor permissions: set-times through a file
 * descriptor opened only for reading in a writable preopen. Preview2 refuses it (the descriptor has
 * no `write`); preview1 allows it when the descriptor holds the `fd_filestat_set_times` right, which
 * wasi-libc asks for on every open. Neither reaches anything the preopen does not grant.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Capabilities, SecurityViolation, WasmSandbox, type CapabilitiesInit, type Violation } from '../../src/index.ts';
import { ERRNO } from '../../src/wasi/errno.ts';
import { load, runtime, text } from '../component/helpers.ts';
import { wat } from '../helpers/wat.ts';

const PARITY = new URL('../../fixtures/wasi/parity.wasm', import.meta.url).pathname;

/** The WIT error-code each errno the scenarios can produce stands for. */
const AS_WIT: Record<number, string> = {
  [ERRNO.PERM]: 'not-permitted', [ERRNO.NOTCAPABLE]: 'not-permitted', [ERRNO.NOTDIR]: 'not-directory',
  [ERRNO.BADF]: 'bad-descriptor', [ERRNO.EXIST]: 'exist', [ERRNO.NOENT]: 'no-entry', [ERRNO.INVAL]: 'invalid',
  [ERRNO.ISDIR]: 'is-directory',
};

interface Tree {
  root: string;
  box: string;
  ro: string;
}

function tree(): Tree {
  const root = mkdtempSync(join(tmpdir(), 'parity-'));
  mkdirSync(join(root, 'outside'));
  writeFileSync(join(root, 'outside', 'secret.txt'), 'SECRET');
  for (const name of ['box', 'ro']) {
    const dir = join(root, name);
    mkdirSync(join(dir, 'sub'), { recursive: true });
    writeFileSync(join(dir, 'a.txt'), `${name} a`);
    symlinkSync('a.txt', join(dir, 'inside_link'));
    symlinkSync(join(root, 'outside', 'secret.txt'), join(dir, 'abs_link'));
    symlinkSync('../outside/secret.txt', join(dir, 'up_link'));
    // An old time, so a successful set-times is visible.
    utimesSync(join(dir, 'a.txt'), 1_000_000, 1_000_000);
  }
  return { root, box: join(root, 'box'), ro: join(root, 'ro') };
}

interface Outcome {
  /** 'ok', 'ok <data>', an error-code, or 'stopped:<capability>' when the guest was ended. */
  decision: string;
  violations: Violation[];
  /** The exit code the run ended with, when it ended. */
  code?: number;
}

function grant(t: Tree, args: string[], extra: CapabilitiesInit): Capabilities {
  return Capabilities.from({
    stdio: { stdin: 'null', stdout: 'capture', stderr: 'capture' },
    clock: 'real',
    random: 'crypto',
    exit: true,
    filesystem: [{ hostPath: t.box, guestPath: '/box', mode: 'read-write' }, { hostPath: t.ro, guestPath: '/ro', mode: 'read' }],
    args,
    ...extra,
  });
}

async function preview1(t: Tree, args: string[], extra: CapabilitiesInit): Promise<Outcome> {
  const sandbox = await WasmSandbox.create();
  const violations: Violation[] = [];
  sandbox.on('violation', ({ capability, detail }) => violations.push({ capability, detail }));
  try {
    const id = await sandbox.createInstance(await sandbox.loadModuleFromFile(PARITY), { capabilities: grant(t, args, extra), wasi: { programName: 'parity' } });
    let code: number;
    try {
      code = await sandbox.runCommand(id);
    } catch (err) {
      if (err instanceof SecurityViolation) return { decision: `stopped:${err.capability}`, violations };
      throw err;
    }
    const out = new TextDecoder().decode(sandbox.getOutput(id).stdout).trim().split('\n').filter((l) => l !== 'exiting').pop() ?? '';
    const m = /^err:(\d+)$/.exec(out);
    return { decision: m ? (AS_WIT[Number(m[1])] ?? `errno ${m[1]}`) : out, violations, code };
  } finally {
    await sandbox.close();
  }
}

async function preview2(t: Tree, args: string[], extra: CapabilitiesInit): Promise<Outcome> {
  const rt = await runtime();
  const violations: Violation[] = [];
  const instance = await rt.instantiate(await load('fs-cli'), { capabilities: grant(t, args, extra), onViolation: (v) => violations.push(v) });
  try {
    await instance.call('wasi:cli/run#run');
  } catch (err) {
    if (err instanceof SecurityViolation) return { decision: `stopped:${err.capability}`, violations };
    throw err;
  }
  const out = text(instance.stdout()).trim().split('\n').filter((l) => l !== 'exiting').pop() ?? '';
  return { decision: out.startsWith('error: ') ? out.slice(7) : out, violations, code: instance.exitCode ?? 0 };
}

type HostImports = Record<string, Record<string, (...a: unknown[]) => unknown>>;

/** The preview2 host of an instance, driven directly: for what no component can express (see the header). */
async function preview2Host(t: Tree, extra: CapabilitiesInit, use: (imports: HostImports) => string): Promise<Outcome> {
  const rt = await runtime();
  const violations: Violation[] = [];
  const instance = await rt.instantiate(await load('http-proxy'), { capabilities: grant(t, [], extra), onViolation: (v) => violations.push(v) });
  const imports = (instance as unknown as { live: { host: { imports: HostImports } } }).live.host.imports;
  try {
    return { decision: use(imports), violations };
  } catch (err) {
    if (err instanceof SecurityViolation) return { decision: `stopped:${err.capability}`, violations };
    throw err;
  }
}

interface Scenario {
  name: string;
  args: string[];
  caps?: CapabilitiesInit;
  /** The decision both ABIs must reach. */
  expect: string | RegExp;
  /** How many violation records each ABI must report (the records themselves must be equal). */
  violations: number;
  /** The exit code both runs must end with. */
  code?: number;
  /** Host state after the run, checked after each ABI. */
  after?: (t: Tree) => void;
  /** Drives the preview2 host directly instead of the component (see the header). */
  host?: (imports: HostImports) => string;
}

const hex = (b: Uint8Array) => [...b].map((x) => x.toString(16).padStart(2, '0')).join('');
const mtime = (p: string) => statSync(p).mtimeMs;

const SCENARIOS: Scenario[] = [
  { name: 'open a file in a read-only preopen', args: ['open', '/ro/a.txt'], expect: 'ok', violations: 0 },
  { name: 'open through a symlink that stays inside', args: ['open', '/ro/inside_link'], expect: 'ok', violations: 0 },
  { name: 'open through an absolute symlink', args: ['open', '/box/abs_link'], expect: 'not-permitted', violations: 1 },
  { name: 'open through a symlink climbing out', args: ['open', '/box/up_link'], expect: 'not-permitted', violations: 1 },
  { name: 'open `..` past the preopen', args: ['open', '/box/../outside/secret.txt'], expect: 'not-permitted', violations: 1 },
  { name: 'open a name with a backslash', args: ['open', '/box/sub\\..\\..\\outside\\secret.txt'], expect: 'invalid', violations: 0 },
  { name: 'open a name with a colon', args: ['open', '/box/C:secret.txt'], expect: 'invalid', violations: 0 },
  { name: 'create in a writable preopen', args: ['create', '/box/new.txt'], expect: 'ok', violations: 0, after: (t) => assert.ok(existsSync(join(t.box, 'new.txt'))) },
  { name: 'create in a read-only preopen', args: ['create', '/ro/new.txt'], expect: 'not-permitted', violations: 1, after: (t) => assert.ok(!existsSync(join(t.ro, 'new.txt'))) },
  { name: 'truncate in a writable preopen', args: ['truncate', '/box/a.txt'], expect: 'ok', violations: 0, after: (t) => assert.equal(readFileSync(join(t.box, 'a.txt'), 'utf8'), '') },
  { name: 'truncate in a read-only preopen', args: ['truncate', '/ro/a.txt'], expect: 'not-permitted', violations: 1, after: (t) => assert.equal(readFileSync(join(t.ro, 'a.txt'), 'utf8'), 'ro a') },
  { name: 'open a file named with a trailing slash', args: ['open', '/box/a.txt/'], expect: 'not-directory', violations: 0 },
  { name: 'create through a trailing slash', args: ['create', '/box/new/'], expect: 'is-directory', violations: 0, after: (t) => assert.ok(!existsSync(join(t.box, 'new'))) },
  { name: 'mkdir in a writable preopen', args: ['mkdir', '/box/d'], expect: 'ok', violations: 0, after: (t) => assert.ok(statSync(join(t.box, 'd')).isDirectory()) },
  { name: 'mkdir in a read-only preopen', args: ['mkdir', '/ro/d'], expect: 'not-permitted', violations: 1 },
  { name: 'unlink a file named with a trailing slash', args: ['rm', '/box/a.txt/'], expect: 'not-directory', violations: 0, after: (t) => assert.ok(existsSync(join(t.box, 'a.txt'))) },
  { name: 'unlink in a read-only preopen', args: ['rm', '/ro/a.txt'], expect: 'not-permitted', violations: 1 },
  { name: 'rename inside a writable preopen', args: ['rename', '/box/a.txt', '/box/b.txt'], expect: 'ok', violations: 0, after: (t) => assert.ok(existsSync(join(t.box, 'b.txt'))) },
  { name: 'rename out of a read-only preopen', args: ['rename', '/ro/a.txt', '/box/b.txt'], expect: 'not-permitted', violations: 1, after: (t) => assert.ok(existsSync(join(t.ro, 'a.txt'))) },
  { name: 'rename onto a trailing slash', args: ['rename', '/box/a.txt', '/box/b/'], expect: 'not-directory', violations: 0, after: (t) => assert.ok(!existsSync(join(t.box, 'b'))) },
  { name: 'link inside a writable preopen', args: ['link', '/box/a.txt', '/box/b.txt'], expect: 'ok', violations: 0 },
  { name: 'link a read-only file into a writable preopen', args: ['link', '/ro/a.txt', '/box/b.txt'], expect: 'not-permitted', violations: 1, after: (t) => assert.ok(!existsSync(join(t.box, 'b.txt'))) },
  { name: 'link onto a trailing slash', args: ['link', '/box/a.txt', '/box/b/'], expect: 'no-entry', violations: 0, after: (t) => assert.ok(!existsSync(join(t.box, 'b'))) },
  { name: 'symlink inside a writable preopen', args: ['symlink', 'a.txt', '/box/l'], expect: 'ok', violations: 0 },
  { name: 'symlink in a read-only preopen', args: ['symlink', 'a.txt', '/ro/l'], expect: 'not-permitted', violations: 1 },
  { name: 'symlink pointing outside', args: ['symlink', '../outside/secret.txt', '/box/l'], expect: 'not-permitted', violations: 1 },
  { name: 'symlink with a backslash target', args: ['symlink', '..\\outside', '/box/l'], expect: 'invalid', violations: 0 },
  { name: 'symlink onto a trailing slash', args: ['symlink', 'a.txt', '/box/l/'], expect: 'no-entry', violations: 0, after: (t) => assert.ok(!existsSync(join(t.box, 'l'))) },
  { name: 'readlink of a link that stays inside', args: ['readlink', '/ro/inside_link'], expect: 'ok a.txt', violations: 0 },
  { name: 'readlink of an absolute link reveals no host path', args: ['readlink', '/ro/abs_link'], expect: 'not-permitted', violations: 1 },
  { name: 'readlink of a link climbing out', args: ['readlink', '/box/up_link'], expect: 'not-permitted', violations: 1 },
  { name: 'readdir of a read-only preopen', args: ['names', '/ro'], expect: 'ok a.txt abs_link inside_link sub up_link', violations: 0 },
  { name: 'set-times by path, writable preopen', args: ['settimes', '/box/a.txt'], expect: 'ok', violations: 0, after: (t) => assert.ok(mtime(join(t.box, 'a.txt')) > 1e9) },
  { name: 'set-times by path, read-only preopen', args: ['settimes', '/ro/a.txt'], expect: 'not-permitted', violations: 1, after: (t) => assert.equal(mtime(join(t.ro, 'a.txt')), 1e9) },
  { name: 'set-times through a descriptor opened for writing', args: ['fsettimes', '/box/a.txt', 'write'], expect: 'ok', violations: 0 },
  { name: 'set-times through a descriptor in a read-only preopen', args: ['fsettimes', '/ro/a.txt', 'read'], expect: 'not-permitted', violations: 1, after: (t) => assert.equal(mtime(join(t.ro, 'a.txt')), 1e9) },
  { name: 'env: a granted variable', args: ['getenv', 'COLOUR'], caps: { env: { inherit: [], set: { COLOUR: 'blue' } } }, expect: 'ok blue', violations: 0 },
  { name: 'env: a host variable not granted', args: ['getenv', 'PATH'], expect: 'ok', violations: 0 },
  { name: 'exit granted', args: ['exit', 'err'], expect: '', violations: 0, code: 1 },
  { name: 'exit not granted', args: ['exit', 'err'], caps: { exit: false }, expect: 'stopped:exit', violations: 1 },
  { name: 'random none', args: ['random'], caps: { random: 'none' }, expect: /^(not-permitted|stopped:random)$/, violations: 1 },
  {
    name: 'random seeded: the same bytes through both ABIs', args: ['random'], caps: { random: { seed: 42 } }, expect: /^ok [0-9a-f]{16}$/, violations: 0,
  },
  {
    name: 'clock none', args: ['clock'], caps: { clock: 'none' }, expect: /^(not-permitted|stopped:clock)$/, violations: 1,
    host: (i) => String(i['wasi:clocks/wall-clock'].now()),
  },
  {
    name: 'clock virtual starts at zero', args: ['clock'], caps: { clock: 'virtual' }, expect: 'ok 0', violations: 0,
    host: (i) => {
      const t = i['wasi:clocks/wall-clock'].now() as { seconds: bigint; nanoseconds: number };
      return `ok ${t.seconds * 1_000_000_000n + BigInt(t.nanoseconds)}`;
    },
  },
];

for (const s of SCENARIOS) {
  test(`parity: ${s.name}`, async () => {
    const outcomes: Outcome[] = [];
    for (const abi of ['preview1', 'preview2'] as const) {
      const t = tree();
      try {
        const caps = s.caps ?? {};
        const o = abi === 'preview1' ? await preview1(t, s.args, caps) : s.host ? await preview2Host(t, caps, s.host) : await preview2(t, s.args, caps);
        if (s.expect instanceof RegExp) assert.match(o.decision, s.expect, abi);
        else assert.equal(o.decision, s.expect, abi);
        assert.equal(o.violations.length, s.violations, `${abi}: ${JSON.stringify(o.violations)}`);
        if (s.code !== undefined) assert.equal(o.code, s.code, `${abi}: exit code`);
        s.after?.(t);
        // Each ABI runs on its own fresh tree: details naming host paths name them relative to it.
        outcomes.push({ ...o, violations: o.violations.map((v) => ({ ...v, detail: v.detail.replaceAll(t.root, '<tree>') })) });
      } finally {
        rmSync(t.root, { recursive: true, force: true });
      }
    }
    const [p1, p2] = outcomes;
    assert.deepEqual(p2.violations, p1.violations, 'the same violation records');
    // Where the two ABIs express a refusal differently (an errno the guest survives, or a stop where
    // WIT has no error case), the decision is still the one refusal.
    const norm = (d: string) => d.replace(/^stopped:(clock|random)$/, 'not-permitted');
    assert.equal(norm(p2.decision), norm(p1.decision));
  });
}

test('parity: a host function not granted is refused at instantiation through both ABIs', async () => {
  const sandbox = await WasmSandbox.create();
  try {
    const moduleId = await sandbox.loadModule(await wat('(module (import "env" "double" (func (param i32) (result i32))))'));
    await assert.rejects(
      sandbox.createInstance(moduleId, { hostFunctions: { env: { double: (_ctx: unknown, x: number) => x * 2 } } }),
      (e: unknown) => e instanceof SecurityViolation && e.capability === 'hostFunctions' && /'env\.double' is not allowed/.test(e.detail),
    );
  } finally {
    await sandbox.close();
  }
  const rt = await runtime();
  await assert.rejects(
    rt.instantiate(await load('kv-consumer'), { imports: { 'example:kv/store': { get: () => undefined, set: () => {} } } }),
    (e: unknown) => e instanceof SecurityViolation && e.capability === 'hostFunctions' && /'example:kv\/store\.get' is not allowed/.test(e.detail),
  );
});

test('parity: a seeded random stream is the same through both ABIs', async () => {
  const t = tree();
  try {
    const p1 = await preview1(t, ['random'], { random: { seed: 42 } });
    const p2 = await preview2Host(t, { random: { seed: 42 } }, (i) => `ok ${hex(i['wasi:random/random'].getRandomBytes(8n) as Uint8Array)}`);
    assert.equal(p2.decision, p1.decision);
  } finally {
    rmSync(t.root, { recursive: true, force: true });
  }
});
