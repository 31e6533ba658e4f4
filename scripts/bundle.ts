/**
 * Bundles the command line into dist/bundle, which is what the package's `bin` runs. A start of
 * `wasm-sandbox run` is ~30 ms of Node plus whatever loading the CLI costs, so:
 *
 * - Each command is one self-contained file (main.js only dispatches): Node's ESM loader pays per
 *   module, and code splitting made a run link ~15 shared chunks. Commands never share state, so the
 *   copies cost only disk space (each carries its own error classes; see `exitFor` in main.ts).
 * - Node built-ins are taken with `process.getBuiltinModule` instead of `import`: an ESM import of a
 *   built-in builds a facade that reads every export, and reading `fs.ReadStream` alone loads all of
 *   node:stream (~3 ms). Each imported name becomes its own side-effect-free statement, so esbuild
 *   drops the ones a bundle does not use and nothing else is read.
 * - Whitespace and syntax are minified (a third less to read and decode), names are not, so stack
 *   traces stay readable.
 *
 * The worker and socket-helper entries are found next to the code that starts them.
 */
import { rmSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { build, type Plugin } from 'esbuild';

const root = new URL('../', import.meta.url);
const outdir = new URL('dist/bundle/', root).pathname;

const IDENTIFIER = /^[A-Za-z_$][\w$]*$/;

/** main.ts loads `./commands/NAME.ts`; in the bundle that is the sibling `NAME.js`. */
const commandsAsSiblings: Plugin = {
  name: 'commands-as-siblings',
  setup(b) {
    b.onResolve({ filter: /^\.\/commands\/[a-z-]+\.ts$/ }, (args) => ({ path: args.path.replace(/^\.\/commands\/(.*)\.ts$/, './$1.js'), external: true }));
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

const COMMANDS = ['run', 'inspect', 'serve', 'mcp', 'types'].map((c) => `src/cli/commands/${c}.ts`);
const THREADS = ['src/runtime/worker/worker-entry.ts', 'src/wasi/socket-helper.ts'];

rmSync(outdir, { recursive: true, force: true });
await build({ ...common, entryPoints: [new URL('src/cli/main.ts', root).pathname], plugins: [commandsAsSiblings, builtinsWithoutFacade] });
await build({ ...common, entryPoints: [...COMMANDS, ...THREADS].map((p) => new URL(p, root).pathname), plugins: [builtinsWithoutFacade] });
