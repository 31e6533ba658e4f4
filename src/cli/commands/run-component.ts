/**
 * `wasm-sandbox run` for a `wasi:cli/run` component: the same grants, limits and exit statuses as
 * for a core module, through ComponentRuntime. Loaded only when the file is a component, so running
 * a core module never loads the component machinery; in the bundled CLI it is its own file, with its
 * own copies of the error classes, so it maps every failure to a status itself.
 */
import { InvalidModule, WasmSandboxError } from '../../errors.ts';
import { ComponentRuntime } from '../../component/component-runtime.ts';
import { inspectComponent } from '../../module/component.ts';
import { isPreview3 } from '../../component/wasi/preview3.ts';
import type { Capabilities } from '../../security/capabilities.ts';
import type { ResourceLimits } from '../../security/resource-limits.ts';
import type { ModuleSource } from '../module-source.ts';
import { printFailure, printReport } from '../run-report.ts';

export interface ComponentRun {
  capabilities: Capabilities;
  resourceLimits: ResourceLimits;
  programName: string;
  stdin: Uint8Array | undefined;
  /** Keep transpiled components in the cache directory. */
  cache: boolean;
  /** Print the `--json` summary. */
  json: boolean;
  /** The file's name in backtraces. */
  moduleName: string;
}

/** The `wasi:cli/run` export to call; anything else is not a command this can run. */
function runExport(source: ModuleSource): string {
  const exports = inspectComponent(source.bytes()).componentExports ?? [];
  const runs = exports.filter((e) => /^wasi:cli\/run(@|$)/.test(e.name));
  if (runs.length === 0) {
    const names = exports.map((e) => e.name).join(', ') || 'nothing';
    throw new InvalidModule(`'${source.name}' is a component without a wasi:cli/run export (it exports ${names}); run takes wasi:cli commands, serve takes wasi:http components`);
  }
  // A WASI 0.3 command also exports the 0.2 run for older hosts; its own entry point is the 0.3 one.
  return (runs.find((e) => isPreview3(e.name)) ?? runs[0]).name;
}

/** Runs the component's `wasi:cli/run`; resolves with the exit status, every failure reported on stderr. */
export async function runComponentCommand(source: ModuleSource, options: ComponentRun): Promise<number> {
  let exitCode: number | null = null;
  let error: WasmSandboxError | undefined;
  try {
    const name = runExport(source);
    const runtime = await ComponentRuntime.create(options.capabilities, options.resourceLimits, options.cache ? {} : { cacheDir: false });
    try {
      const component = await runtime.createComponentModule(source.bytes());
      const instance = await runtime.instantiate(component, { programName: options.programName, stdin: options.stdin });
      const result = (await instance.call(`${name}#run`)) as { tag?: string } | undefined;
      exitCode = instance.exitCode ?? (result?.tag === 'err' ? 1 : 0);
    } finally {
      await runtime.close();
    }
  } catch (err) {
    if (!(err instanceof WasmSandboxError)) throw err;
    error = err;
  }
  const status = error ? printFailure(error, options.moduleName) : exitCode ?? 1;
  if (options.json) printReport(status, exitCode, error);
  return status;
}
