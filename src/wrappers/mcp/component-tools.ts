import type { CallToolResult, Tool } from '@modelcontextprotocol/sdk/types.js';
import { Ajv2020, type ValidateFunction } from 'ajv/dist/2020.js';
import { ComponentRuntime } from '../../component/component-runtime.ts';
import type { ComponentModule } from '../../component/component-module.ts';
import type { FunctionDescription } from '../../component/wit/describe.ts';
import { InvalidArguments } from '../../errors.ts';
import type { Denial } from './audit-log.ts';
import { errorResult, failureOutcome, type ToolBackend, type ToolGrant, type ToolOutcome } from './tool-backend.ts';
import { fromJson, toJson, ValueOutOfRange } from './wit-json.ts';
import { inputSchema, outputSchema, unsupported, witSignature } from './wit-schema.ts';

export interface ComponentToolsOptions {
  bytes: Uint8Array;
  /** The grant the component is test-instantiated under at load (the server-wide one). */
  grant: ToolGrant;
  programName: string;
  /** Transpilation cache directory, or false for memory only (see ComponentRuntime). */
  cacheDir?: string | false;
}

interface Entry {
  fn: FunctionDescription;
  validate: ValidateFunction;
}

const TOOL_NAME = /^[A-Za-z0-9._-]{1,128}$/;

/**
 * A component's exported functions as MCP tools. Each function's parameters become an input JSON
 * Schema derived from their WIT types; arguments are validated against it, converted to WIT values,
 * and the function runs in a fresh instance under the tool's grant. A WIT `result` error comes back
 * as an isError result carrying the error value.
 */
export class ComponentTools implements ToolBackend {
  readonly kind = 'component';
  readonly tools: readonly Tool[];
  /** Exported functions that are not tools, and why (resources cannot outlive one call's instance). */
  readonly skipped: readonly { function: string; reason: string }[];
  private readonly runtime: ComponentRuntime;
  private readonly component: ComponentModule;
  private readonly entries: ReadonlyMap<string, Entry>;
  private readonly programName: string;

  private constructor(runtime: ComponentRuntime, component: ComponentModule, programName: string) {
    this.runtime = runtime;
    this.component = component;
    this.programName = programName;
    // The schemas are ours, derived from WIT, so compiling them is safe (unlike a guest-supplied schema).
    const ajv = new Ajv2020({ strict: false, allErrors: false });
    const skipped: { function: string; reason: string }[] = [];
    const usable: FunctionDescription[] = [];
    for (const fn of component.describe().functions) {
      if (fn.kind !== 'function') {
        skipped.push({ function: fn.path, reason: `${fn.kind} of resource '${fn.resource}'` });
        continue;
      }
      const reason = unsupported({ kind: 'tuple', types: [...fn.params.map((p) => p.type), ...(fn.result ? [fn.result] : [])] });
      if (reason) skipped.push({ function: fn.path, reason: `uses ${reason}` });
      else usable.push(fn);
    }
    const names = toolNames(usable);
    const tools: Tool[] = [];
    const entries = new Map<string, Entry>();
    for (const fn of usable) {
      const name = names.get(fn)!;
      const schema = inputSchema(fn);
      const output = outputSchema(fn);
      const iface = fn.path.includes('#') ? fn.path.slice(0, fn.path.indexOf('#')) : undefined;
      tools.push({
        name,
        description: `WIT ${witSignature(fn)}${iface ? ` (${iface})` : ''}`,
        inputSchema: schema as Tool['inputSchema'],
        ...(output && { outputSchema: output as Tool['outputSchema'] }),
      });
      entries.set(name, { fn, validate: ajv.compile(schema) });
    }
    this.tools = Object.freeze(tools);
    this.entries = entries;
    this.skipped = Object.freeze(skipped);
  }

  static async load(options: ComponentToolsOptions): Promise<ComponentTools> {
    const runtime = await ComponentRuntime.create(options.grant.capabilities, options.grant.resourceLimits, { cacheDir: options.cacheDir });
    try {
      const component = await runtime.createComponentModule(options.bytes);
      // Fails now, not at the first call, when the component needs imports nobody provides.
      const trial = await runtime.instantiate(component, { capabilities: componentCaps(options.grant), programName: options.programName });
      trial.close();
      return new ComponentTools(runtime, component, options.programName);
    } catch (err) {
      runtime.close();
      throw err;
    }
  }

  async call(name: string, args: Record<string, unknown>, grant: ToolGrant, denials: Denial[], signal?: AbortSignal): Promise<ToolOutcome> {
    const entry = this.entries.get(name);
    if (!entry) return { result: errorResult(`Unknown tool: ${name}`), outcome: 'unknown-tool' };
    const { fn, validate } = entry;
    if (!validate(args)) {
      const detail = validate.errors?.map((e) => `arguments${e.instancePath} ${e.message ?? 'is invalid'}`).join('; ') ?? 'invalid';
      return { result: errorResult(`Invalid arguments: ${detail}`), outcome: 'invalid-arguments', error: 'INVALID_ARGUMENTS' };
    }
    let positional: unknown[];
    try {
      positional = fn.params.map((p) => fromJson(p.type, args[p.name], `arguments/${p.name}`));
    } catch (err) {
      if (!(err instanceof ValueOutOfRange)) throw err;
      return { result: errorResult(`Invalid arguments: ${err.message}`), outcome: 'invalid-arguments', error: 'INVALID_ARGUMENTS' };
    }
    if (signal?.aborted) return { result: errorResult('The call was cancelled.'), outcome: 'cancelled' };
    let instance;
    try {
      instance = await this.runtime.instantiate(this.component, {
        capabilities: componentCaps(grant),
        resourceLimits: grant.resourceLimits,
        programName: this.programName,
        onViolation: (v) => denials.push({ capability: v.capability, detail: v.detail }),
      });
    } catch (err) {
      return failureOutcome(err);
    }
    try {
      return present(fn, await instance.call(fn.path, positional));
    } catch (err) {
      if (err instanceof InvalidArguments) return { result: errorResult(`Invalid arguments: ${err.message}`), outcome: 'invalid-arguments', error: err.code };
      return failureOutcome(err);
    } finally {
      instance.close();
    }
  }

  async close(): Promise<void> {
    this.runtime.close();
  }
}

/** A component's stdout is not the protocol's, but under the stdio transport it would be the host's: never let it through. */
function componentCaps(grant: ToolGrant) {
  const caps = grant.capabilities;
  return caps.with({ stdio: { stdin: 'null', stdout: 'null', stderr: caps.stdio.stderr } });
}

function present(fn: FunctionDescription, value: unknown): ToolOutcome {
  const t = fn.result;
  if (!t) return { result: { content: [{ type: 'text', text: 'ok' }] }, outcome: 'ok' };
  if (t.kind === 'result') {
    const { tag, val } = value as { tag: 'ok' | 'err'; val: unknown };
    if (tag === 'err') {
      const err = t.err ? toJson(t.err, val) : null;
      return { result: { content: [{ type: 'text', text: err === null ? 'error' : asText(err) }], isError: true }, outcome: 'tool-error' };
    }
    if (!t.ok) return { result: { content: [{ type: 'text', text: 'ok' }] }, outcome: 'ok' };
    return { result: structured(toJson(t.ok, val)), outcome: 'ok' };
  }
  return { result: structured(toJson(t, value)), outcome: 'ok' };
}

function structured(json: unknown): CallToolResult {
  return { content: [{ type: 'text', text: asText(json) }], structuredContent: { result: json } };
}

function asText(json: unknown): string {
  return typeof json === 'string' ? json : JSON.stringify(json);
}

/**
 * Tool names: the WIT function name where it is unique, else qualified by its interface's short
 * name (`types.echo`), else the whole path with what MCP names may not contain replaced.
 */
function toolNames(fns: readonly FunctionDescription[]): Map<FunctionDescription, string> {
  const count = (names: string[]) => names.reduce((m, n) => m.set(n, (m.get(n) ?? 0) + 1), new Map<string, number>());
  const bare = count(fns.map((f) => f.name));
  const qualified = (f: FunctionDescription) => {
    const iface = f.path.includes('#') ? f.path.slice(0, f.path.indexOf('#')) : '';
    const short = iface.replace(/@.*$/, '').split('/').pop() ?? '';
    return short ? `${short}.${f.name}` : f.name;
  };
  const second = count(fns.map(qualified));
  const out = new Map<FunctionDescription, string>();
  for (const f of fns) {
    let name = bare.get(f.name) === 1 ? f.name : second.get(qualified(f)) === 1 ? qualified(f) : f.path;
    if (!TOOL_NAME.test(name)) name = name.replace(/[^A-Za-z0-9._-]/g, '_').slice(0, 128);
    out.set(f, name);
  }
  return out;
}
