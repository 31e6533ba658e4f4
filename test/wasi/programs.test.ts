/**
 * Whole C programs through the host: arguments and environment, stdio modes, exit codes.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { randomFillSync } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { FIXTURES, runGuest } from './helpers.ts';
import { SecurityViolation } from '../../src/errors.ts';

/** Runs a fixture with inherited stdio in a child Node process, so the host's own descriptors are used. */
function runInherited(name: string, args: string[], input: string): { status: number | null; stdout: string; stderr: string } {
  const script = `
    import { readFileSync } from 'node:fs';
    import { WasiHost } from ${JSON.stringify(new URL('../../src/wasi/wasi-host.ts', import.meta.url).pathname)};
    import { Capabilities } from ${JSON.stringify(new URL('../../src/security/capabilities.ts', import.meta.url).pathname)};
    import { ResourceLimits } from ${JSON.stringify(new URL('../../src/security/resource-limits.ts', import.meta.url).pathname)};
    const host = new WasiHost({ capabilities: Capabilities.cli().with({ args: ${JSON.stringify(args)} }), resourceLimits: ResourceLimits.default() });
    const inst = new WebAssembly.Instance(new WebAssembly.Module(readFileSync(${JSON.stringify(`${FIXTURES}/${name}.wasm`)})), host.imports);
    process.exitCode = host.start(inst);
  `;
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { input, encoding: 'utf8' });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('hello (args and environment)', () => {
  it('sees exactly the granted arguments and environment', () => {
    process.env.WASI_TEST_VISIBLE = 'from-host';
    process.env.WASI_TEST_HIDDEN = 'must-not-leak';
    const r = runGuest('hello', {
      programName: 'hello.wasm',
      capabilities: { args: ['one', 'two words', 'ünïcödé'], env: { inherit: ['WASI_TEST_VISIBLE', 'WASI_TEST_UNSET'], set: { GREETING: 'hi', EMPTY: '' } } },
    });
    assert.equal(r.code, 0);
    assert.equal(
      r.stdout,
      'hello from wasi\nargv[0]=hello.wasm\nargv[1]=one\nargv[2]=two words\nargv[3]=ünïcödé\nenv WASI_TEST_VISIBLE=from-host\nenv GREETING=hi\nenv EMPTY=\n',
    );
    assert.equal(r.stderr, 'to stderr\n');
    assert.ok(!r.stdout.includes('must-not-leak'));
  });

  it('gets no arguments or environment by default', () => {
    const r = runGuest('hello', {});
    assert.equal(r.stdout, 'hello from wasi\nargv[0]=hello.wasm\n');
  });

  it("discards output for 'null' stdio but still feeds taps", () => {
    const chunks: string[] = [];
    const r = runGuest('hello', {
      capabilities: { stdio: { stdin: 'null', stdout: 'null', stderr: 'null' } },
      extra: { onStdout: (c) => chunks.push(new TextDecoder().decode(c)) },
    });
    assert.equal(r.stdout, '');
    assert.equal(r.stderr, '');
    assert.match(chunks.join(''), /^hello from wasi\n/);
  });

  it('streams to taps in addition to capturing', () => {
    const out: string[] = [];
    const err: string[] = [];
    const r = runGuest('hello', { extra: { onStdout: (c) => out.push(new TextDecoder().decode(c)), onStderr: (c) => err.push(new TextDecoder().decode(c)) } });
    assert.equal(out.join(''), r.stdout);
    assert.equal(err.join(''), 'to stderr\n');
    assert.equal(r.host.metrics().outputBytes, Buffer.byteLength(r.stdout) + 10);
  });
});

describe('cat (files and stdin)', () => {
  it('copies captured stdin to stdout', () => {
    const input = 'line one\nline two\n'.repeat(1000);
    const r = runGuest('cat', { stdin: input });
    assert.equal(r.code, 0);
    assert.equal(r.stdout, input);
  });

  it('reads files from a read-only preopen', () => {
    const dir = mkdtempSync(join(tmpdir(), 'wasi-cat-'));
    try {
      writeFileSync(join(dir, 'a.txt'), 'AAA\n');
      writeFileSync(join(dir, 'b.txt'), 'BBB\n');
      const r = runGuest('cat', { capabilities: { filesystem: [{ hostPath: dir, guestPath: '/data', mode: 'read' }], args: ['/data/a.txt', '/data/b.txt', '/data/missing'] } });
      assert.equal(r.stdout, 'AAA\nBBB\n');
      assert.equal(r.stderr, 'cat: /data/missing: No such file or directory\n');
      assert.equal(r.code, 1);
      assert.equal(r.host.metrics().bytesRead, 8);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("reads nothing from 'null' stdin", () => {
    const r = runGuest('cat', { capabilities: { stdio: { stdin: 'null', stdout: 'capture', stderr: 'capture' } }, stdin: 'ignored' });
    assert.equal(r.stdout, '');
    assert.equal(r.code, 0);
  });
});

describe('exit codes', () => {
  it('reports the code returned from main and passed to exit(), without exiting the host', () => {
    assert.equal(runGuest('exit_code', { capabilities: { args: ['0'] } }).code, 0);
    assert.equal(runGuest('exit_code', { capabilities: { args: ['3'] } }).code, 3);
    assert.equal(runGuest('exit_code', { capabilities: { args: ['42', 'nested'] } }).code, 42);
    assert.equal(runGuest('exit_code', { capabilities: { args: ['255'] } }).code, 255);
  });

  it('without the exit grant, exit() stops the guest with SecurityViolation instead of choosing its result', () => {
    assert.throws(
      () => runGuest('exit_code', { capabilities: { args: ['3'], exit: false } }),
      (e: unknown) => e instanceof SecurityViolation && e.capability === 'exit' && /code 3/.test(e.detail),
    );
    // Returning 0 from main calls no exit at all, so it needs no grant.
    assert.equal(runGuest('exit_code', { capabilities: { args: ['0'], exit: false } }).code, 0);
  });
});

describe('inherited stdio', () => {
  it('reads the host stdin and writes the host stdout and stderr', () => {
    const r = runInherited('cat', [], 'piped through the host\n'.repeat(5000));
    assert.equal(r.stderr, '');
    assert.equal(r.status, 0);
    assert.equal(r.stdout, 'piped through the host\n'.repeat(5000));
    const h = runInherited('hello', ['x'], '');
    assert.equal(h.stdout, 'hello from wasi\nargv[0]=main.wasm\nargv[1]=x\n');
    assert.equal(h.stderr, 'to stderr\n');
  });

  it('passes the exit code through', () => {
    assert.equal(runInherited('exit_code', ['5'], '').status, 5);
  });
});

describe('large transfers', () => {
  it('reads a multi-megabyte file intact in small and large chunks', () => {
    const dir = mkdtempSync(join(tmpdir(), 'wasi-big-'));
    try {
      const data = randomFillSync(new Uint8Array(5 * 1024 * 1024 + 123));
      writeFileSync(join(dir, 'big.bin'), data);
      for (const chunk of [4096, 1 << 20]) {
        // The guest's checksum: per chunk, one byte every 4 KiB plus the chunk's last byte.
        let sum = 0;
        for (let off = 0; off < data.length; off += chunk) {
          const n = Math.min(chunk, data.length - off);
          for (let i = 0; i < n; i += 4096) sum = (Math.imul(sum, 31) + data[off + i]) >>> 0;
          sum = (Math.imul(sum, 31) + data[off + n - 1]) >>> 0;
        }
        const r = runGuest('read_file', { capabilities: { filesystem: [{ hostPath: dir, guestPath: '/d', mode: 'read' }], args: ['/d/big.bin', String(chunk)] } });
        assert.equal(r.stdout, `${data.length} ${sum}\n`);
        assert.equal(r.host.metrics().bytesRead, data.length);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
