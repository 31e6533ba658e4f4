import { CallToolResultSchema, LATEST_PROTOCOL_VERSION, ListToolsResultSchema, type Tool } from '@modelcontextprotocol/sdk/types.js';
import { parseBoundedJson } from '../../communication/structure-check.ts';
import { GuestError } from '../../errors.ts';
import { WasmSandbox } from '../../sandbox/wasm-sandbox.ts';
import type { Denial } from './audit-log.ts';
import { errorResult, failureOutcome, type ToolBackend, type ToolGrant, type ToolOutcome } from './tool-backend.ts';

export interface WasiGuestOptions {
  bytes: Uint8Array;
  /** The grant the tool list is fetched under (the server-wide one). */
  grant: ToolGrant;
  programName: string;
  /** Warm worker threads kept ready. */
  poolSize: number;
}

/** What came back from one guest run: the response to our request, or why there is none. */
type Exchange =
  | { kind: 'response'; result: unknown }
  | { kind: 'rpc-error'; code: number; message: string }
  | { kind: 'stopped'; error: unknown }
  | { kind: 'no-response' | 'bad-response' | 'cancelled' };

const REQUEST_ID = 1;
const MAX_PAGES = 32;
const MAX_TOOLS = 1024;
const MAX_GUEST_MESSAGE = 1000;
const decoder = new TextDecoder();

/**
 * An MCP server compiled to WASI, speaking newline-delimited JSON-RPC on stdin/stdout. Every
 * interaction is one fresh instance on a worker thread: stdin holds the handshake and one request,
 * and the answer is read from stdout after the guest ends. So each call has its own deadline and
 * limits, a spinning tool is killed without blocking the host, and nothing a call does (memory,
 * open files, state) survives into the next one.
 */
export class WasiMcpGuest implements ToolBackend {
  readonly kind = 'wasi';
  /** Read once at load; clients are answered from here. */
  tools: readonly Tool[] = [];
  private readonly sandbox: WasmSandbox;
  private readonly moduleId: string;
  private readonly programName: string;
  /** Refusals by instance, for the calls under way. */
  private readonly watching = new Map<string, Denial[]>();

  private constructor(sandbox: WasmSandbox, moduleId: string, programName: string) {
    this.sandbox = sandbox;
    this.moduleId = moduleId;
    this.programName = programName;
    sandbox.on('violation', ({ instanceId, capability, detail }) => this.watching.get(instanceId)?.push({ capability, detail }));
  }

  static async load(options: WasiGuestOptions): Promise<WasiMcpGuest> {
    const sandbox = await WasmSandbox.create({ runtime: 'worker', workerPoolSize: options.poolSize });
    try {
      const guest = new WasiMcpGuest(sandbox, await sandbox.loadModule(options.bytes), options.programName);
      await guest.fetchTools(options.grant);
      return guest;
    } catch (err) {
      await sandbox.close();
      throw err;
    }
  }

  private async fetchTools(grant: ToolGrant): Promise<void> {
    const tools: Tool[] = [];
    const names = new Set<string>();
    let cursor: string | undefined;
    for (let page = 0; page < MAX_PAGES; page++) {
      const ex = await this.exchange('tools/list', cursor === undefined ? undefined : { cursor }, grant, []);
      if (ex.kind === 'stopped') throw ex.error;
      if (ex.kind === 'rpc-error') throw new GuestError('tools/list', ex.message.slice(0, MAX_GUEST_MESSAGE), { guestCode: ex.code });
      if (ex.kind !== 'response') throw new GuestError('tools/list', ex.kind === 'no-response' ? 'the guest ended without answering' : 'the guest answered with something that is not an MCP tool list');
      const parsed = ListToolsResultSchema.safeParse(ex.result);
      if (!parsed.success) throw new GuestError('tools/list', `the guest's tool list is not valid MCP: ${parsed.error.issues[0]?.message ?? 'invalid'}`);
      for (const tool of parsed.data.tools) {
        if (names.has(tool.name)) continue;
        names.add(tool.name);
        tools.push(tool);
      }
      if (tools.length > MAX_TOOLS) throw new GuestError('tools/list', `the guest lists more than ${MAX_TOOLS} tools`);
      cursor = parsed.data.nextCursor;
      if (cursor === undefined) break;
    }
    this.tools = Object.freeze(tools);
  }

  async call(name: string, args: Record<string, unknown>, grant: ToolGrant, denials: Denial[], signal?: AbortSignal): Promise<ToolOutcome> {
    const ex = await this.exchange('tools/call', { name, arguments: args }, grant, denials, signal);
    switch (ex.kind) {
      case 'response': {
        const parsed = CallToolResultSchema.safeParse(ex.result);
        if (!parsed.success) return { result: errorResult('The tool answered with a malformed result.'), outcome: 'bad-response', error: 'BAD_RESPONSE' };
        // The guest's own verdict stands, error results included: they are the tool talking.
        return { result: parsed.data, outcome: parsed.data.isError ? 'tool-error' : 'ok' };
      }
      case 'rpc-error':
        return { result: errorResult(`The tool refused the call: ${ex.message.slice(0, MAX_GUEST_MESSAGE)}`), outcome: 'tool-error', error: `GUEST_RPC_ERROR:${ex.code}` };
      case 'stopped':
        return failureOutcome(ex.error);
      case 'cancelled':
        return { result: errorResult('The call was cancelled.'), outcome: 'cancelled' };
      case 'no-response':
        return { result: errorResult('The tool ended without answering.'), outcome: 'no-response', error: 'NO_RESPONSE' };
      case 'bad-response':
        return { result: errorResult('The tool answered with a malformed result.'), outcome: 'bad-response', error: 'BAD_RESPONSE' };
    }
  }

  /** Runs one fresh instance on: initialize, initialized, then `method`; returns the answer to `method`. */
  private async exchange(method: string, params: object | undefined, grant: ToolGrant, denials: Denial[], signal?: AbortSignal): Promise<Exchange> {
    if (signal?.aborted) return { kind: 'cancelled' };
    const caps = grant.capabilities;
    // stdin and stdout belong to the protocol whatever the policy says: the guest must never reach the host's.
    const capabilities = caps.with({ stdio: { stdin: 'capture', stdout: 'capture', stderr: caps.stdio.stderr } });
    const stdin = [
      { jsonrpc: '2.0', id: 0, method: 'initialize', params: { protocolVersion: LATEST_PROTOCOL_VERSION, capabilities: {}, clientInfo: { name: 'wasm-sandbox', version: '0.1.0' } } },
      { jsonrpc: '2.0', method: 'notifications/initialized' },
      { jsonrpc: '2.0', id: REQUEST_ID, method, ...(params && { params }) },
    ].map((m) => `${JSON.stringify(m)}\n`).join('');
    let instanceId: string;
    try {
      instanceId = await this.sandbox.createInstance(this.moduleId, {
        capabilities,
        resourceLimits: grant.resourceLimits,
        wasi: { stdin, programName: this.programName },
      });
    } catch (err) {
      return { kind: 'stopped', error: err };
    }
    this.watching.set(instanceId, denials);
    const cancel = () => void this.sandbox.destroyInstance(instanceId).catch(() => {});
    signal?.addEventListener('abort', cancel, { once: true });
    try {
      try {
        await this.sandbox.runCommand(instanceId);
      } catch (err) {
        return signal?.aborted ? { kind: 'cancelled' } : { kind: 'stopped', error: err };
      }
      if (signal?.aborted) return { kind: 'cancelled' };
      // A guest that answered and then exited non-zero still answered: its exit code carries nothing here.
      return readResponse(decoder.decode(this.sandbox.getOutput(instanceId).stdout));
    } finally {
      signal?.removeEventListener('abort', cancel);
      this.watching.delete(instanceId);
      if (this.sandbox.listInstances().some((i) => i.id === instanceId)) await this.sandbox.destroyInstance(instanceId).catch(() => {});
    }
  }

  async close(): Promise<void> {
    await this.sandbox.close();
  }
}

/** Finds the response to our request among the JSON lines the guest wrote. */
function readResponse(stdout: string): Exchange {
  let sawOther = false;
  for (const line of stdout.split('\n')) {
    if (!line.trim()) continue;
    let msg: unknown;
    try {
      // The guest's output: bounded in nesting like every payload it sends the host.
      msg = parseBoundedJson(line);
    } catch {
      sawOther = true;
      continue;
    }
    if (!msg || typeof msg !== 'object') continue;
    const m = msg as { id?: unknown; result?: unknown; error?: { code?: unknown; message?: unknown } };
    if (m.id === 0 && m.error !== undefined) return { kind: 'bad-response' };
    if (m.id !== REQUEST_ID) continue;
    if (m.error && typeof m.error === 'object') {
      return { kind: 'rpc-error', code: typeof m.error.code === 'number' ? m.error.code : 0, message: typeof m.error.message === 'string' ? m.error.message : 'error' };
    }
    if (m.result !== undefined) return { kind: 'response', result: m.result };
    return { kind: 'bad-response' };
  }
  return { kind: sawOther ? 'bad-response' : 'no-response' };
}
