/**
 * Bundles the command line and the library into dist/bundle: the package's `bin` and its `main`. A start of
 * `wasm-sandbox run` is ~30 ms of Node plus whatever loading the CLI costs, so:
 *
 * - Each command is one self-contained file (main.js only dispatches): Node's ESM loader pays per
 *   module, and code splitting made a run link ~15 shared chunks. Commands never share state, so the
 *   copies cost only disk space (each carries its own error classes; see `exitFor` in main.ts).
 * - Node built-ins are taken with `process.getBuiltinModule` instead of `import`: an ESM import of a
 *   built-in builds a facade that reads every export, and reading `fs.ReadStream` alone loads all of
 *   node:stream (~3 ms). Each imported name becomes its own side-effect-free statement, so esbuild
 *   drops the ones a bundle does not use and nothing else is read.
 * - `run` is CommonJS (run.cjs), loaded by main.js through src/cli/code-cache.ts with a V8 code cache
 *   made after the command ran, which spares compiling its functions on every start (~5 ms).
 * - Whitespace and syntax are minified (a third less to read and decode), names are not, so stack
 *   traces stay readable.
 *
 * The worker and socket-helper entries are found next to the code that starts them.
 *
 * The library (`import 'wasm-sandbox'`) is one module for everything a core-module user reaches, with
 * what loads on demand (the worker runtime, components' and MCP's optional packages) split into chunks
 * beside it: per-file ESM from tsc linked ~120 modules and built a facade for every built-in, and the
 * node:http facade alone loads undici (~25 ms), for an import that should cost a few milliseconds.
 */
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { builtinModules } from 'node:module';
import { build, type Plugin } from 'esbuild';

const root = new URL('../', import.meta.url);
const at = (path: string) => new URL(path, root).pathname;
/** `--outdir DIR` builds elsewhere (tests); it must lie inside the package, whose files the CLI reads. */
const outArg = process.argv.indexOf('--outdir');
const outdir = outArg > 0 ? process.argv[outArg + 1] : at('dist/bundle/');

const IDENTIFIER = /^[A-Za-z_$][\w$]*$/;

/**
 * main.ts loads `./commands/NAME.ts`; in the bundle that is the sibling `NAME.js`, and for `run` a small
 * module that loads run.cjs with its code cache.
 */
const commandsAsSiblings: Plugin = {
  name: 'commands-as-siblings',
  setup(b) {
    b.onResolve({ filter: /^\.\/commands\/[a-z-]+\.ts$/ }, (args) =>
      args.path === './commands/run.ts'
        ? { path: 'run', namespace: 'cached-command' }
        : { path: args.path.replace(/^\.\/commands\/(.*)\.ts$/, './$1.js'), external: true });
    b.onLoad({ filter: /.*/, namespace: 'cached-command' }, () => ({
      resolveDir: at('src/cli/'),
      loader: 'js',
      contents: [
        "import { fileURLToPath } from 'node:url';",
        "import { defaultCacheDir } from '../cache-dir.ts';",
        "import { loadWithCodeCache } from './code-cache.ts';",
        "const cacheDir = process.argv.includes('--no-cache') ? undefined : defaultCacheDir();",
        "const m = loadWithCodeCache(fileURLToPath(new URL('./run.cjs', import.meta.url)), cacheDir);",
        'export const RUN_HELP = m.RUN_HELP;',
        'export const runCommand = m.runCommand;',
        'export const exitFor = m.exitFor;',
      ].join('\n'),
    }));
  },
};

const builtinsWithoutFacade: Plugin = {
  name: 'builtins-without-facade',
  setup(b) {
    const names = new Set(builtinModules.flatMap((m) => [m, `node:${m}`]));
    b.onResolve({ filter: /^[a-z_:/]+$/ }, (args) => {
      if (!names.has(args.path)) return undefined;
      const id = args.path.startsWith('node:') ? args.path : `node:${args.path}`;
      return { path: id, namespace: 'builtin', sideEffects: false };
    });
    b.onLoad({ filter: /.*/, namespace: 'builtin' }, async (args) => {
      const module = (await import(args.path)) as Record<string, unknown>;
      const lines = [`const m = process.getBuiltinModule(${JSON.stringify(args.path)});`, 'export default m;'];
      for (const key of Object.keys(module)) {
        if (key !== 'default' && IDENTIFIER.test(key)) lines.push(`export const ${key} = /* @__PURE__ */ (() => m.${key})();`);
      }
      return { contents: lines.join('\n'), loader: 'js' };
    });
  },
};

/**
 * The entry points' first imports (src/engine-check.ts, src/cli/engine-check-cli.ts) stay modules of
 * their own: ESM evaluates imports in order, so they run before the chunks, whose first lines already
 * need a recent Node.js.
 */
const engineCheckFirst: Plugin = {
  name: 'engine-check-first',
  setup(b) {
    b.onResolve({ filter: /\/engine-check(-cli)?\.ts$/ }, (args) => ({ path: args.path.replace(/^.*\/(.*)\.ts$/, './$1.js'), external: true }));
  },
};

const common = {
  bundle: true,
  format: 'esm',
  platform: 'node',
  target: 'node22',
  packages: 'external',
  entryNames: '[name]',
  outdir,
  logLevel: 'warning',
  minifyWhitespace: true,
  minifySyntax: true,
} as const;

const COMMANDS = ['inspect', 'serve', 'mcp', 'types', 'run-component'].map((c) => `src/cli/commands/${c}.ts`);

/** `run` loads the component runner only for a component: a sibling file, so module runs never read it. */
const componentRunnerAsSibling: Plugin = {
  name: 'component-runner-as-sibling',
  setup(b) {
    b.onResolve({ filter: /^\.\/run-component\.ts$/ }, () => ({ path: './run-component.js', external: true }));
  },
};
const THREADS = ['src/runtime/worker/worker-entry.ts', 'src/wasi/socket-helper.ts', 'src/wasi/socket-stdin-thread.ts', 'src/component/wasi/http-helper.ts', 'src/wrappers/http/worker/component-worker-entry.ts'];

rmSync(outdir, { recursive: true, force: true });
await build({ ...common, entryPoints: [at('src/engine-check.ts'), at('src/cli/engine-check-cli.ts')] });
await build({ ...common, entryPoints: [at('src/cli/main.ts')], plugins: [engineCheckFirst, commandsAsSiblings, builtinsWithoutFacade] });
await build({ ...common, entryPoints: [at('src/index.ts')], splitting: true, chunkNames: 'lib-[hash]', plugins: [engineCheckFirst, builtinsWithoutFacade] });
// esbuild lists an entry's chunks ahead of its external imports: put the check back in front.
const library = join(outdir, 'index.js');
const CHECK = 'import"./engine-check.js";';
const text = readFileSync(library, 'utf8');
if (!text.includes(CHECK)) throw new Error(`${library} does not import the engine check`);
writeFileSync(library, CHECK + text.replace(CHECK, ''));
await build({ ...common, entryPoints: [...COMMANDS, ...THREADS].map(at), plugins: [builtinsWithoutFacade] });
await build({
  ...common,
  entryPoints: [at('src/cli/commands/run.ts')],
  format: 'cjs',
  outExtension: { '.js': '.cjs' },
  // What the ESM sources read from import.meta, as CommonJS provides it.
  define: { 'import.meta.url': '__import_meta_url', 'import.meta.dirname': '__dirname' },
  banner: { js: 'var __import_meta_url = require("node:url").pathToFileURL(__filename).href;' },
  plugins: [componentRunnerAsSibling, builtinsWithoutFacade],
});
