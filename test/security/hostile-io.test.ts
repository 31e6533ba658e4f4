/**
 * Hostile guests against the host's I/O paths, through the library and the CLI, in both runtimes:
 * the host stays alive and answers with a typed error within the call's deadline.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer, connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { ComponentRuntime, ResourceLimitExceeded, ResourceLimits, Timeout, WasmSandbox } from '../../src/index.ts';
import { wat } from '../helpers/wat.ts';

const CLI = fileURLToPath(new URL('../../src/cli/main.ts', import.meta.url));
const CAT = fileURLToPath(new URL('../../fixtures/wasi/cat.wasm', import.meta.url));
const RUNTIMES = ['inprocess', 'worker'] as const;

/** A connected pair of loopback TCP sockets: [ours, theirs]. */
async function socketPair(): Promise<[Socket, Socket]> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  const accepted = new Promise<Socket>((resolve) => server.once('connection', resolve));
  const ours = connect(port, '127.0.0.1');
  await new Promise<void>((resolve) => ours.once('connect', resolve));
  const theirs = await accepted;
  server.close();
  return [ours, theirs];
}

/** Runs the CLI to its end, with `stdin` as its stdin; a child that never stops is killed and fails the test. */
function cli(args: string[], stdin: Socket | 'ignore' = 'ignore'): Promise<{ status: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, [CLI, ...args], {
    stdio: [stdin, 'pipe', 'pipe'],
    env: { PATH: process.env.PATH ?? '', WASM_SANDBOX_CACHE_DIR: mkdtempSync(join(tmpdir(), 'hostile-io-cache-')) },
  });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (c: Buffer) => (stdout += c));
  child.stderr!.on('data', (c: Buffer) => (stderr += c));
  const guard = setTimeout(() => child.kill('SIGKILL'), 60_000);
  return new Promise((resolve) => child.on('close', (status) => {
    clearTimeout(guard);
    resolve({ status, stdout, stderr });
  }));
}

describe('a guest blocked reading a stdin that is a socket', () => {
  it('run --timeout 1s stops it with status 124', async () => {
    const [ours, theirs] = await socketPair();
    try {
      const r = await cli(['run', '--timeout', '1s', CAT], theirs);
      assert.equal(r.status, 124, r.stderr);
      assert.match(r.stderr, /timeout/);
    } finally {
      ours.destroy();
      theirs.destroy();
    }
  });

  for (const runtime of RUNTIMES) {
    it(`${runtime}: the library's call deadline stops it, and the process can exit`, async () => {
      const [ours, theirs] = await socketPair();
      const index = fileURLToPath(new URL('../../src/index.ts', import.meta.url));
      const script = `const { WasmSandbox } = await import(${JSON.stringify(index)});
        const s = await WasmSandbox.create({ runtime: '${runtime}' });
        const id = await s.createInstance(await s.loadModuleFromFile(${JSON.stringify(CAT)}), {
          capabilities: { stdio: { stdin: 'inherit', stdout: 'inherit', stderr: 'inherit' } },
          resourceLimits: { time: { callTimeoutMs: 1000 } },
        });
        await s.runCommand(id).then(() => console.log('returned'), (e) => console.log(e.code));
        await s.close();`;
      const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: [theirs, 'pipe', 'pipe'] });
      let stdout = '';
      let stderr = '';
      child.stdout!.on('data', (c: Buffer) => (stdout += c));
      child.stderr!.on('data', (c: Buffer) => (stderr += c));
      const guard = setTimeout(() => child.kill('SIGKILL'), 60_000);
      try {
        const status = await new Promise<number | null>((resolve) => child.on('close', resolve));
        assert.equal(stdout.trim(), 'TIMEOUT', stderr);
        assert.equal(status, 0, 'nothing kept the process alive');
      } finally {
        clearTimeout(guard);
        ours.destroy();
        theirs.destroy();
      }
    });
  }

  it('still reads what the socket carries, to its end', async () => {
    const [ours, theirs] = await socketPair();
    try {
      const done = cli(['run', '--timeout', '30s', CAT], theirs);
      ours.write('over a socket\n');
      ours.end('and its end\n');
      const r = await done;
      assert.equal(r.status, 0, r.stderr);
      assert.equal(r.stdout, 'over a socket\nand its end\n');
    } finally {
      ours.destroy();
      theirs.destroy();
    }
  });
});

/** A WASI command that asks for 64 MiB of randomness forever: one instruction per 64 MiB of host work. */
const RANDOM_SPIN = `(module
  (import "wasi_snapshot_preview1" "random_get" (func $random (param i32 i32) (result i32)))
  (memory (export "memory") 1024)
  (func (export "_start") (loop $l (drop (call $random (i32.const 0) (i32.const 0x4000000))) (br $l))))`;

async function randomSpinFile(): Promise<string> {
  const path = join(mkdtempSync(join(tmpdir(), 'hostile-io-')), 'random-spin.wasm');
  writeFileSync(path, await wat(RANDOM_SPIN));
  return path;
}

describe('random_get of 64 MiB in a loop, through the CLI', () => {
  it('run --timeout 1s stops it with status 124', async () => {
    const r = await cli(['run', '--timeout', '1s', '--max-memory', '128MiB', await randomSpinFile()]);
    assert.equal(r.status, 124, r.stderr);
  });

  it('serve answers 504 at the deadline and keeps serving', async () => {
    const child = spawn(process.execPath, [CLI, 'serve', '--listen', '127.0.0.1:0', '--timeout', '500ms', '--max-memory', '128MiB', await randomSpinFile()], { stdio: ['ignore', 'pipe', 'pipe'] });
    const guard = setTimeout(() => child.kill('SIGKILL'), 60_000);
    try {
      let out = '';
      const url = await new Promise<string>((resolve, reject) => {
        // serve announces its address as the first line on stderr.
        child.stderr.on('data', (d: Buffer) => {
          out += d;
          const m = /(http:\/\/\S+)/.exec(out);
          if (m) resolve(m[1]);
        });
        child.once('exit', () => reject(new Error(`serve exited: ${out}`)));
      });
      assert.equal((await fetch(`${url}/a`)).status, 504);
      assert.equal((await fetch(`${url}/b`)).status, 504, 'the server is still there');
    } finally {
      clearTimeout(guard);
      child.kill('SIGTERM');
    }
  });
});

describe('host work proportional to a guest\'s arguments', () => {
  it('an MCP tool (a component) asking wasi:random for 64 MiB in a loop is answered with an error at its deadline', async () => {
    const { McpServerWrapper } = await import('../../src/wrappers/mcp/mcp-server-wrapper.ts');
    const { PassThrough } = await import('node:stream');
    const wrapper = new McpServerWrapper({ auditLog: false });
    const toServer = new PassThrough();
    const toClient = new PassThrough();
    let buf = '';
    const answers = new Map<number, Record<string, any>>();
    toClient.on('data', (d: Buffer) => {
      buf += d;
      for (let nl = buf.indexOf('\n'); nl >= 0; nl = buf.indexOf('\n')) {
        const m = JSON.parse(buf.slice(0, nl));
        buf = buf.slice(nl + 1);
        answers.set(m.id, m);
      }
    });
    const answer = async (id: number) => {
      while (!answers.has(id)) await new Promise((r) => setTimeout(r, 10));
      return answers.get(id)!;
    };
    try {
      await wrapper.startServer({
        path: fileURLToPath(new URL('../../fixtures/components/random-spin.wasm', import.meta.url)),
        capabilities: { random: 'crypto' },
        resourceLimits: { time: { callTimeoutMs: 300 } },
        transport: { stdio: { input: toServer, output: toClient } },
        cacheDir: false,
      });
      toServer.write(JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'spin', arguments: {} } }) + '\n');
      const result = (await answer(1)).result;
      assert.equal(result.isError, true, JSON.stringify(result));
      assert.match(JSON.stringify(result.content), /time limit/);
      toServer.write(JSON.stringify({ jsonrpc: '2.0', id: 2, method: 'tools/list', params: {} }) + '\n');
      assert.ok((await answer(2)).result.tools.some((t: { name: string }) => t.name === 'spin'), 'the server keeps serving');
    } finally {
      await wrapper.close();
    }
  });

  it('a component asking wasi:random for 64 MiB in a loop stops at the call\'s deadline', async () => {
    const rt = await ComponentRuntime.create({ random: 'crypto' }, { time: { callTimeoutMs: 300 } }, { cacheDir: false });
    try {
      const component = await rt.createComponentModuleFromFile(fileURLToPath(new URL('../../fixtures/components/random-spin.wasm', import.meta.url)));
      const instance = await rt.instantiate(component);
      await assert.rejects(instance.call('spin', []), Timeout);
    } finally {
      await rt.close();
    }
  });

  for (const runtime of RUNTIMES) {
    it(`${runtime}: random_get of 64 MiB in a loop stops at the call's deadline`, async () => {
      const bytes = await wat(`(module
        (import "wasi_snapshot_preview1" "random_get" (func $random (param i32 i32) (result i32)))
        (memory (export "memory") 1024)
        (func (export "spin") (loop $l (drop (call $random (i32.const 0) (i32.const 0x4000000))) (br $l))))`);
      const sandbox = await WasmSandbox.create({ runtime });
      try {
        const id = await sandbox.createInstance(await sandbox.loadModule(bytes), {
          capabilities: { random: 'crypto' },
          resourceLimits: { time: { callTimeoutMs: 300 }, memory: { maxMemoryBytes: '128MiB' } },
        });
        await assert.rejects(sandbox.callFunction(id, 'spin', []), Timeout);
      } finally {
        await sandbox.close();
      }
    });

    it(`${runtime}: fd_write with an iovec count that wraps 32 bits is EINVAL, and the host lives`, async () => {
      const bytes = await wat(`(module
        (import "wasi_snapshot_preview1" "fd_write" (func $write (param i32 i32 i32 i32) (result i32)))
        (memory (export "memory") 1)
        (func (export "huge") (result i32) (call $write (i32.const 1) (i32.const 0) (i32.const 0x20000001) (i32.const 16))))`);
      const sandbox = await WasmSandbox.create({ runtime });
      try {
        const moduleId = await sandbox.loadModule(bytes);
        // The host's own safety is not a limit: lifting every limit changes nothing here.
        for (const resourceLimits of [ResourceLimits.default(), ResourceLimits.unlimited()]) {
          const id = await sandbox.createInstance(moduleId, { capabilities: { stdio: { stdout: 'capture' } }, resourceLimits });
          assert.equal(await sandbox.callFunction(id, 'huge', []), 28, 'EINVAL');
        }
      } finally {
        await sandbox.close();
      }
    });
  }
});


describe('host work is charged as fuel', () => {
  // 16 requests of 4 MiB: a handful of instructions, but 4 Mi units of fuel at one per 16 bytes.
  const ASK_16_TIMES = `(module
    (import "wasi_snapshot_preview1" "random_get" (func $random (param i32 i32) (result i32)))
    (memory (export "memory") 64)
    (func (export "_start") (local $i i32)
      (loop $l
        (drop (call $random (i32.const 0) (i32.const 0x400000)))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br_if $l (i32.lt_u (local.get $i) (i32.const 16))))))`;

  for (const runtime of ['inprocess', 'worker'] as const) {
    it(`random_get's bytes exhaust a fuel budget its instructions never would (${runtime})`, async () => {
      const sandbox = await WasmSandbox.create({ runtime });
      try {
        const mod = await sandbox.loadModule(await wat(ASK_16_TIMES));
        const run = async (fuel: number) => {
          const id = await sandbox.createInstance(mod, { resourceLimits: ResourceLimits.default().with({ cpu: { fuel } }) });
          return sandbox.runCommand(id).then(() => 'finished', (e: unknown) => e);
        };
        assert.equal(await run(10_000_000), 'finished', 'enough fuel for the bytes');
        const err = await run(1_000_000);
        assert.ok(err instanceof ResourceLimitExceeded && err.limit === 'fuel', String(err));
      } finally {
        await sandbox.close();
      }
    });
  }
});
