/**
 * Shared scaffolding for the WASI tests: a host tree with a writable and a read-only preopen next to
 * an "outside" directory holding a secret, a snapshot of a tree for before/after comparison, and a
 * runner for the compiled C guests in fixtures/wasi.
 */
import { createHash } from 'node:crypto';
import { lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { Capabilities, type CapabilitiesInit } from '../../src/security/capabilities.ts';
import { ResourceLimits, type ResourceLimitsInit } from '../../src/security/resource-limits.ts';
import { resolverMode } from '../../src/host/path-resolver.ts';
import { WasiHost, type WasiHostOptions } from '../../src/wasi/wasi-host.ts';

export const FIXTURES = resolve(dirname(new URL(import.meta.url).pathname), '../../fixtures/wasi');
export const SECRET = 'TOP-SECRET-CONTENT';

const modules = new Map<string, WebAssembly.Module>();

export function fixture(name: string): WebAssembly.Module {
  let m = modules.get(name);
  if (m === undefined) {
    m = new WebAssembly.Module(readFileSync(join(FIXTURES, `${name}.wasm`)));
    modules.set(name, m);
  }
  return m;
}

export interface Tree {
  root: string;
  box: string;
  ro: string;
  outside: string;
  cleanup(): void;
}

/** Populates one preopen directory with ordinary content and the hostile links every probe uses. */
function populate(dir: string, root: string): void {
  mkdirSync(join(dir, 'sub'), { recursive: true });
  mkdirSync(join(dir, 'emptydir'));
  writeFileSync(join(dir, 'data.txt'), `${dir.endsWith('ro') ? 'ro' : 'box'} data\n`);
  writeFileSync(join(dir, 'sub', 'inner.txt'), 'inner\n');
  symlinkSync('..', join(dir, 'dir_link'));
  symlinkSync('../outside/secret.txt', join(dir, 'file_link'));
  symlinkSync(join(root, 'outside', 'secret.txt'), join(dir, 'abs_file_link'));
  symlinkSync(join(root, 'outside'), join(dir, 'abs_dir_link'));
  symlinkSync('../outside/created.txt', join(dir, 'escape_create'));
  symlinkSync(join(root, 'outside', 'created_abs.txt'), join(dir, 'abs_escape_create'));
  symlinkSync('data.txt', join(dir, 'inside_link'));
  symlinkSync('sub', join(dir, 'sub_link'));
  symlinkSync('sub/created_inside.txt', join(dir, 'inside_dangling'));
}

export function makeTree(): Tree {
  const root = mkdtempSync(join(tmpdir(), 'wasi-sec-'));
  const outside = join(root, 'outside');
  mkdirSync(join(outside, 'subdir'), { recursive: true });
  writeFileSync(join(outside, 'secret.txt'), `${SECRET}\n`);
  writeFileSync(join(outside, 'subdir', 'deep.txt'), `${SECRET} deep\n`);
  const box = join(root, 'box');
  const ro = join(root, 'ro');
  populate(box, root);
  populate(ro, root);
  return { root, box, ro, outside, cleanup: () => rmSync(root, { recursive: true, force: true }) };
}

export interface NodeState {
  type: string;
  size: number;
  mtimeNs: bigint;
  mode: number;
  nlink: bigint;
  hash?: string;
  link?: string;
}

/** Every entry below `dir` (not following links): type, size, mtime, mode, link count, content hash. */
export function snapshot(dir: string): Map<string, NodeState> {
  const out = new Map<string, NodeState>();
  const walk = (abs: string, rel: string): void => {
    const st = lstatSync(abs, { bigint: true });
    const state: NodeState = {
      type: st.isDirectory() ? 'dir' : st.isSymbolicLink() ? 'link' : st.isFile() ? 'file' : 'other',
      size: Number(st.size),
      mtimeNs: st.mtimeNs,
      mode: Number(st.mode),
      nlink: st.nlink,
    };
    if (st.isFile()) state.hash = createHash('sha256').update(readFileSync(abs)).digest('hex');
    if (st.isSymbolicLink()) state.link = readlinkSync(abs);
    out.set(rel || '.', state);
    if (st.isDirectory()) for (const name of readdirSync(abs).sort()) walk(join(abs, name), rel ? `${rel}/${name}` : name);
  };
  walk(dir, '');
  return out;
}

/** Human-readable differences between two snapshots (empty when identical). */
export function diffSnapshots(before: Map<string, NodeState>, after: Map<string, NodeState>): string[] {
  const diffs: string[] = [];
  for (const [k, v] of before) {
    const w = after.get(k);
    if (w === undefined) diffs.push(`removed ${k}`);
    else if (JSON.stringify(v, big) !== JSON.stringify(w, big)) diffs.push(`changed ${k}: ${JSON.stringify(v, big)} -> ${JSON.stringify(w, big)}`);
  }
  for (const k of after.keys()) if (!before.has(k)) diffs.push(`added ${k}`);
  return diffs;
}

function big(_k: string, v: unknown): unknown {
  return typeof v === 'bigint' ? v.toString() : v;
}

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
  host: WasiHost;
  violations: Array<{ capability: string; detail: string }>;
}

export interface RunOptions {
  capabilities?: CapabilitiesInit;
  limits?: ResourceLimitsInit;
  stdin?: string | Uint8Array;
  programName?: string;
  extra?: Partial<WasiHostOptions>;
}

export function runGuest(name: string, options: RunOptions = {}): RunResult {
  const violations: Array<{ capability: string; detail: string }> = [];
  const host = new WasiHost({
    // Programs here report through their exit code, so exit is granted unless a test says otherwise;
    // the fallback resolver suite (escape-fallback) runs where it is not race-free, so it opts in.
    capabilities: Capabilities.from({
      stdio: { stdin: 'capture', stdout: 'capture', stderr: 'capture' },
      exit: true,
      allowRacyResolution: !resolverMode.useProcFd,
      ...options.capabilities,
    }),
    resourceLimits: ResourceLimits.from(options.limits ?? {}),
    programName: options.programName ?? `${name}.wasm`,
    stdin: options.stdin,
    onViolation: (v) => violations.push(v),
    ...options.extra,
  });
  try {
    const instance = new WebAssembly.Instance(fixture(name), host.imports);
    const code = host.start(instance);
    return { code, stdout: new TextDecoder().decode(host.stdoutBytes()), stderr: new TextDecoder().decode(host.stderrBytes()), host, violations };
  } finally {
    host.close();
  }
}

/** Parses probe output ("<label> <result>" per line) into label -> results. */
export function parseReport(stdout: string): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const line of stdout.split('\n')) {
    const sp = line.indexOf(' ');
    if (sp <= 0) continue;
    const label = line.slice(0, sp);
    const list = out.get(label) ?? [];
    list.push(line.slice(sp + 1));
    out.set(label, list);
  }
  return out;
}

/** The preopen grant the escape probes expect: /box read-write and /ro read-only. */
export function boxAndRo(tree: Tree): CapabilitiesInit['filesystem'] {
  return [
    { hostPath: tree.box, guestPath: '/box', mode: 'read-write' },
    { hostPath: tree.ro, guestPath: '/ro', mode: 'read' },
  ];
}
