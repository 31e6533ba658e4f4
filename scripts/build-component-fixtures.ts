/**
 * Builds fixtures/components/*.wasm from the sources beside them. Run it after editing a fixture; the
 * outputs are committed so tests never build anything.
 *
 *   node scripts/build-component-fixtures.ts            # everything (the JS components take a while)
 *   node scripts/build-component-fixtures.ts greeter    # only the named fixtures
 *   node scripts/build-component-fixtures.ts --no-js    # only the fast WAT + WIT ones
 *
 * WAT fixtures: the core module is assembled with wasm-tools, its WIT world embedded (`componentEmbed`)
 * and the component made (`componentNew`). JS fixtures: `componentize-js` (StarlingMonkey), against
 * WASI 0.2.10 WIT derived from the 0.2.12 snapshot bundled with jco, since the engine imports 0.2.10.
 * Command fixtures: a preview1 command fixture (itself built from its source) made a wasi:cli
 * component with jco's preview1 command adapter, as `jco new X.wasm --wasi-command` does.
 */
import { mkdtemp, readdir, readFile, rm, writeFile, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
// componentize-js reads WIT through preview2-shim, whose 0.26 filesystem starts with no preopens.
import { _setPreopens } from '@bytecodealliance/preview2-shim/filesystem';
import { componentEmbed, componentNew, parse } from '@bytecodealliance/jco-transpile/wasm-tools';

// The package's types describe the browser build; the Node build takes virtual → host path pairs.
_setPreopens({ '/': '/' } as never);

const dir = join(dirname(fileURLToPath(import.meta.url)), '..', 'fixtures', 'components');

interface WatFixture {
  kind: 'wat';
  wat: string;
  wit: string;
  world: string;
  /** The world uses WASI interfaces: its WIT is resolved against the WASI packages. */
  wasi?: boolean;
}
interface CommandFixture {
  kind: 'command';
  /** The preview1 command's WAT source beside the component, compiled and then wrapped. */
  wat: string;
}
interface JsFixture {
  kind: 'js';
  source: string;
  wit: string;
  world: string;
}

const FIXTURES: Record<string, WatFixture | JsFixture | CommandFixture> = {
  greeter: { kind: 'wat', wat: 'greeter.wat', wit: 'greeter.wit', world: 'greeter' },
  limits: { kind: 'wat', wat: 'limits.wat', wit: 'limits.wit', world: 'limits' },
  types: { kind: 'wat', wat: 'types.wat', wit: 'types.wit', world: 'echo' },
  'kv-provider': { kind: 'wat', wat: 'kv-provider.wat', wit: 'kv.wit', world: 'provider' },
  'kv-consumer': { kind: 'wat', wat: 'kv-consumer.wat', wit: 'kv.wit', world: 'consumer' },
  'fs-cli': { kind: 'js', source: 'fs-cli.js', wit: 'fs-cli.wit', world: 'fs-cli' },
  'http-proxy': { kind: 'js', source: 'http-proxy.js', wit: 'http-proxy.wit', world: 'http-proxy' },
  'http-fetch-event': { kind: 'js', source: 'http-fetch-event.js', wit: 'http-proxy.wit', world: 'http-proxy' },
  'records-js': { kind: 'js', source: 'records-js.js', wit: 'records-js.wit', world: 'records-js' },
  sockets: { kind: 'wat', wat: 'sockets.wat', wit: 'sockets.wit', world: 'sockets', wasi: true },
  'http-hello': { kind: 'wat', wat: 'http-hello.wat', wit: 'http-hello.wit', world: 'http-hello', wasi: true },
  'http-echo': { kind: 'wat', wat: 'http-echo.wat', wit: 'http-echo.wit', world: 'http-echo', wasi: true },
  // misbehave-cli.wat links to fixtures/wat/wasi_misbehave.wat: the same program, written once.
  'misbehave-cli': { kind: 'command', wat: 'misbehave-cli.wat' },
  'random-spin': { kind: 'wat', wat: 'random-spin.wat', wit: 'random-spin.wit', world: 'random-spin', wasi: true },
  // WASI 0.3 commands: their WIT carries the 0.3 interfaces they use, as nested packages.
  'p3-cli': { kind: 'wat', wat: 'p3-cli.wat', wit: 'p3-cli.wit', world: 'p3-cli' },
  'p3-unserved': { kind: 'wat', wat: 'p3-unserved.wat', wit: 'p3-unserved.wit', world: 'p3-unserved' },
  'p3-wait': { kind: 'wat', wat: 'p3-wait.wat', wit: 'p3-wait.wit', world: 'p3-wait' },
};

const WASI_VERSION = '0.2.10';

async function buildWat(f: WatFixture): Promise<Uint8Array> {
  const core = await parse(await readFile(join(dir, f.wat), 'utf8'));
  if (!f.wasi) {
    const embedded = await componentEmbed({ binary: core, witSource: await readFile(join(dir, f.wit), 'utf8'), world: f.world });
    return componentNew(embedded, []);
  }
  const witPath = await witDirectory(f);
  try {
    return componentNew(await componentEmbed({ binary: core, witPath, world: f.world }), []);
  } finally {
    await rm(witPath, { recursive: true, force: true });
  }
}

/** A WIT directory holding the fixture's world plus every WASI package, re-versioned to WASI_VERSION. */
async function witDirectory(f: { wit: string }): Promise<string> {
  // The package exports no package.json; its entry point sits in dist/.
  const jcoRoot = join(dirname(fileURLToPath(import.meta.resolve('@bytecodealliance/jco'))), '..');
  const snapshot = join(jcoRoot, 'lib', 'wit', 'builtin', '0.2.12');
  const out = await mkdtemp(join(tmpdir(), 'component-fixture-wit-'));
  await mkdir(join(out, 'deps'));
  for (const pkg of await readdir(snapshot)) {
    const text = await readFile(join(snapshot, pkg, 'package.wit'), 'utf8');
    await mkdir(join(out, 'deps', pkg));
    await writeFile(join(out, 'deps', pkg, 'package.wit'), text.replaceAll('@0.2.12', `@${WASI_VERSION}`));
  }
  await writeFile(join(out, 'world.wit'), await readFile(join(dir, f.wit), 'utf8'));
  return out;
}

async function buildCommand(f: CommandFixture): Promise<Uint8Array> {
  const jcoRoot = join(dirname(fileURLToPath(import.meta.resolve('@bytecodealliance/jco'))), '..');
  const adapter = await readFile(join(jcoRoot, 'lib', 'wasi_snapshot_preview1.command.wasm'));
  const core = await parse(await readFile(join(dir, f.wat), 'utf8'));
  return componentNew(core, [['wasi_snapshot_preview1', adapter]]);
}

async function buildJs(f: JsFixture): Promise<Uint8Array> {
  const { componentize } = await import('@bytecodealliance/componentize-js');
  const witPath = await witDirectory(f);
  try {
    const { component } = await componentize({ sourcePath: join(dir, f.source), witPath, worldName: f.world });
    return component;
  } finally {
    await rm(witPath, { recursive: true, force: true });
  }
}

const args = process.argv.slice(2);
const skipJs = args.includes('--no-js');
const named = args.filter((a) => !a.startsWith('--'));
for (const n of named) if (!(n in FIXTURES)) throw new Error(`unknown fixture '${n}'; known: ${Object.keys(FIXTURES).join(', ')}`);

for (const [name, f] of Object.entries(FIXTURES)) {
  if (named.length > 0 && !named.includes(name)) continue;
  if (f.kind === 'js' && skipJs) continue;
  const started = performance.now();
  const bytes = f.kind === 'wat' ? await buildWat(f) : f.kind === 'command' ? await buildCommand(f) : await buildJs(f);
  await writeFile(join(dir, `${name}.wasm`), bytes);
  console.log(`${name}.wasm: ${bytes.length} bytes in ${Math.round(performance.now() - started)} ms`);
}
