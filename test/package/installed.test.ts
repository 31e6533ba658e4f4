/**
 * The package as users get it: `npm pack`, installed into fresh projects (dependencies linked from
 * this checkout's node_modules, so nothing is fetched). Checks what the tarball ships, that a default
 * install runs core modules while components and MCP name the package they are missing, and that
 * every ts/js snippet of the shipped README.md and docs/*.md runs literally against the installed
 * package (a snippet marked `<!-- not-runnable ... -->` on the line before its fence is skipped).
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { packageRoot } from '../helpers/bundle.ts';

interface Manifest {
  files: string[];
  dependencies?: Record<string, string>;
  peerDependencies?: Record<string, string>;
  peerDependenciesMeta?: Record<string, { optional?: boolean }>;
}

let work: string;
/** A project with only the package's own dependencies, and one with the optional extras too. */
let core: string;
let full: string;

/** What a user's project holds: the unpacked tarball, and the named dependencies beside it. */
function project(name: string, tarball: string, deps: string[]): string {
  const dir = join(work, name);
  const pkg = join(dir, 'node_modules', 'wasm-sandbox');
  mkdirSync(pkg, { recursive: true });
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ name, private: true, type: 'module' }));
  const untar = spawnSync('tar', ['-xzf', tarball, '-C', pkg, '--strip-components=1'], { encoding: 'utf8' });
  assert.equal(untar.status, 0, untar.stderr);
  for (const dep of deps) {
    const link = join(dir, 'node_modules', dep);
    mkdirSync(dirname(link), { recursive: true });
    symlinkSync(join(packageRoot, 'node_modules', dep), link, 'dir');
  }
  return dir;
}

before(() => {
  work = mkdtempSync(join(tmpdir(), 'installed-package-'));
  // prepack builds dist/ first, as it does for a publish.
  const pack = spawnSync('npm', ['pack', '--silent', '--pack-destination', work], { cwd: packageRoot, encoding: 'utf8' });
  assert.equal(pack.status, 0, pack.stderr);
  const tarball = join(work, pack.stdout.trim().split('\n').pop()!);
  const manifest = JSON.parse(readFileSync(join(packageRoot, 'package.json'), 'utf8')) as Manifest;
  const deps = Object.keys(manifest.dependencies ?? {});
  core = project('core', tarball, deps);
  full = project('full', tarball, [...deps, ...Object.keys(manifest.peerDependencies ?? {})]);
  // The files the snippets name, as a user would have them next to their script.
  const files: [string, string][] = [
    ['fixtures/wat/add.wasm', 'add.wasm'],
    ['fixtures/wasi/hello.wasm', 'hello.wasm'],
    ['fixtures/wasi/echo_server.wasm', 'echo_server.wasm'],
    ['fixtures/components/greeter.wasm', 'component.wasm'],
    ['fixtures/components/misbehave-cli.wasm', 'command.wasm'],
    ['fixtures/mcp/mcp_server.wasm', 'server.wasm'],
  ];
  for (const dir of [core, full]) {
    for (const [from, to] of files) copyFileSync(join(packageRoot, from), join(dir, to));
    mkdirSync(join(dir, 'docs'));
  }
});

after(() => rmSync(work, { recursive: true, force: true }));

function node(cwd: string, script: string, ...args: string[]) {
  return spawnSync(process.execPath, [script, ...args], { cwd, encoding: 'utf8', timeout: 60_000, env: { PATH: process.env.PATH ?? '', HOME: work, WASM_SANDBOX_CACHE_DIR: join(work, 'cache') } });
}

test('the tarball ships the bundles, declarations, schema, guest SDKs and docs, and no source maps', () => {
  const pkg = join(core, 'node_modules', 'wasm-sandbox');
  for (const file of ['dist/bundle/index.js', 'dist/bundle/main.js', 'dist/bundle/worker-entry.js', 'dist/index.d.ts', 'schema/policy.schema.json', 'guest/c/wasm_sandbox.h', 'guest/assemblyscript/index.ts', 'docs/wasi.md', 'README.md']) {
    assert.ok(existsSync(join(pkg, file)), `${file} is shipped`);
  }
  const all = (dir: string): string[] => readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? all(join(dir, e.name)) : [join(dir, e.name)]));
  assert.deepEqual(all(pkg).filter((f) => f.endsWith('.map') || f.includes('sourceMappingURL')), []);
  for (const f of all(join(pkg, 'dist')).filter((f) => f.endsWith('.js'))) {
    assert.doesNotMatch(readFileSync(f, 'utf8'), /sourceMappingURL/, `${f} points at no source map`);
  }
});

test('a default install runs core modules; components and MCP servers name the package they miss', () => {
  writeFileSync(join(core, 'missing.mjs'), `
import { readFileSync } from 'node:fs';
import { ComponentRuntime, McpServerWrapper, MissingDependency, WasmSandbox } from 'wasm-sandbox';
const out = {};
const sandbox = await WasmSandbox.create();
out.add = await sandbox.callFunction(await sandbox.createInstance(await sandbox.loadModuleFromFile('add.wasm')), 'add', [2, 3]);
await sandbox.close();
const describe = (err) => (err instanceof MissingDependency ? { code: err.code, packageName: err.packageName, install: err.install } : String(err));
const runtime = await ComponentRuntime.create(undefined, undefined, { cacheDir: false });
out.component = await runtime.createComponentModule(readFileSync('component.wasm')).then(() => 'loaded', describe);
const mcp = new McpServerWrapper({ auditLog: false });
out.mcp = await mcp.startServer({ module: readFileSync('server.wasm') }).then(() => 'started', describe);
await mcp.close();
await runtime.close();
process.stdout.write(JSON.stringify(out));
`);
  const r = node(core, 'missing.mjs');
  assert.equal(r.status, 0, r.stderr);
  assert.deepEqual(JSON.parse(r.stdout), {
    add: 5,
    component: { code: 'MISSING_DEPENDENCY', packageName: '@bytecodealliance/jco-transpile', install: ['@bytecodealliance/jco-transpile'] },
    mcp: { code: 'MISSING_DEPENDENCY', packageName: '@modelcontextprotocol/sdk', install: ['@modelcontextprotocol/sdk', 'ajv'] },
  });
});

test('the installed CLI runs a WASI program and writes types without the extras, and names them for running components and MCP', () => {
  const cli = join('node_modules', 'wasm-sandbox', 'dist', 'bundle', 'main.js');
  const hello = node(core, cli, 'run', 'hello.wasm');
  assert.equal(hello.status, 0, hello.stderr);
  assert.match(hello.stdout, /hello/i);
  // Declarations come from our own WIT reader; running a component needs jco.
  const types = node(core, cli, 'types', 'component.wasm');
  assert.equal(types.status, 0, types.stderr);
  const command = node(core, cli, 'run', 'command.wasm');
  assert.equal(command.status, 126);
  assert.match(command.stderr, /missing dependency: .*npm install @bytecodealliance\/jco-transpile\n$/);
  const mcp = node(core, cli, 'mcp', 'server.wasm');
  assert.equal(mcp.status, 126);
  assert.match(mcp.stderr, /missing dependency: .*npm install @modelcontextprotocol\/sdk ajv\n$/);
  // With them installed, the same command gets as far as the guest.
  const ran = node(full, cli, 'run', 'command.wasm');
  assert.equal(ran.status, 0, ran.stderr);
});

interface Snippet {
  line: number;
  lang: string;
  code: string;
}

/** The ts/js fenced blocks of a markdown file, without those marked not runnable. */
function snippets(markdown: string): { runnable: Snippet[]; skipped: number } {
  const lines = markdown.split('\n');
  const runnable: Snippet[] = [];
  let skipped = 0;
  for (let i = 0; i < lines.length; i++) {
    const open = /^```(ts|typescript|js|javascript)\s*$/.exec(lines[i]);
    if (!open) continue;
    const end = lines.indexOf('```', i + 1);
    assert.ok(end > i, `unclosed fence at line ${i + 1}`);
    let before = i - 1;
    while (before >= 0 && lines[before].trim() === '') before--;
    if (before >= 0 && lines[before].startsWith('<!-- not-runnable')) skipped++;
    else runnable.push({ line: i + 1, lang: open[1].startsWith('t') ? 'ts' : 'mjs', code: lines.slice(i + 1, end).join('\n') });
    i = end;
  }
  return { runnable, skipped };
}

test('every runnable snippet of the shipped README.md and docs/*.md runs from the installed package', () => {
  const pkg = join(full, 'node_modules', 'wasm-sandbox');
  const docs = ['README.md', ...readdirSync(join(pkg, 'docs')).filter((f) => f.endsWith('.md')).map((f) => `docs/${f}`)];
  let ran = 0;
  for (const doc of docs) {
    const { runnable } = snippets(readFileSync(join(pkg, doc), 'utf8'));
    if (runnable.length === 0) continue;
    // One process per document; each snippet is a module of its own, run in order.
    const base = doc.replace(/[/.]/g, '_');
    const names = runnable.map((s) => {
      const name = `${base}_line${s.line}.${s.lang}`;
      writeFileSync(join(full, name), s.code);
      return name;
    });
    const runner = `${base}_run.mjs`;
    writeFileSync(join(full, runner), names.map((n) => `console.error('# ${doc}: ${n}');\nawait import('./${n}');`).join('\n'));
    const r = node(full, runner);
    assert.equal(r.status, 0, `${doc}: a snippet failed\n${r.stderr}`);
    ran += runnable.length;
  }
  assert.ok(ran >= 5, `ran ${ran} snippets`);
});
