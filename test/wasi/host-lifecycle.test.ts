/**
 * The WasiHost contract used by the runtime: start/initialize, proc_exit, close, metrics, the
 * wasi_unstable module, and the cost of creating a host.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { FunctionNotFound, InvalidModule, InvalidPolicy, SecurityViolation } from '../../src/errors.ts';
import { Capabilities } from '../../src/security/capabilities.ts';
import { ResourceLimits } from '../../src/security/resource-limits.ts';
import { WasiHost } from '../../src/wasi/wasi-host.ts';
import { fixture } from './helpers.ts';
import { RawGuest } from './raw-guest.ts';

const wabt = await (await import('wabt')).default();

/** A module that imports proc_exit and exports memory plus `exportName` calling proc_exit(code). */
function exitModule(code: number, exportName = '_start'): WebAssembly.Module {
  const wat = `(module
    (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
    (memory (export "memory") 1)
    (func (export "${exportName}") (call $exit (i32.const ${code}))))`;
  return new WebAssembly.Module(wabt.parseWat('exit.wat', wat).toBinary({}).buffer as Uint8Array<ArrayBuffer>);
}

function host(caps = Capabilities.minimal().with({ exit: true })): WasiHost {
  return new WasiHost({ capabilities: caps, resourceLimits: ResourceLimits.default() });
}

describe('start', () => {
  it('returns the proc_exit code and never exits the host process', () => {
    for (const code of [0, 1, 42]) {
      const h = host();
      assert.equal(h.start(new WebAssembly.Instance(exitModule(code), h.imports)), code);
      assert.equal(h.exitCode, code);
    }
  });

  it('without the exit capability, proc_exit stops the guest with SecurityViolation and yields no code', () => {
    const h = host(Capabilities.minimal());
    assert.throws(() => h.start(new WebAssembly.Instance(exitModule(7), h.imports)), (e: unknown) => e instanceof SecurityViolation && e.capability === 'exit');
    assert.equal(h.exitCode, undefined);
  });

  it('names the missing _start', () => {
    const h = host();
    assert.throws(() => h.start(new WebAssembly.Instance(exitModule(0, 'other'), h.imports)), FunctionNotFound);
  });

  it('needs the exported memory', () => {
    const h = host();
    assert.throws(() => h.initialize({ exports: {} } as unknown as WebAssembly.Instance), InvalidModule);
  });

  it('a reactor export that calls proc_exit carries the code out', () => {
    const h = host();
    const inst = new WebAssembly.Instance(exitModule(9, 'run'), h.imports);
    h.initialize(inst);
    let caught: unknown;
    try {
      (inst.exports.run as () => void)();
    } catch (e) {
      caught = e;
    }
    assert.equal(WasiHost.exitCodeOf(caught), 9);
    assert.equal(WasiHost.exitCodeOf(new Error('x')), undefined);
  });
});

describe('construction', () => {
  it('refuses a preopen that does not exist, naming the policy key', () => {
    assert.throws(
      () => host(Capabilities.minimal().with({ filesystem: [{ hostPath: '/definitely/not/here', guestPath: '/x', mode: 'read' }] })),
      (e: unknown) => e instanceof InvalidPolicy && e.path === '/capabilities/filesystem/0/hostPath',
    );
  });

  it('binds plain JavaScript functions, never a native binding per instance', () => {
    // The cost itself is measured by `npm run bench wasi`; a test asserts only the mechanism.
    const h = new WasiHost({ capabilities: Capabilities.captured(), resourceLimits: ResourceLimits.default() });
    const fns = Object.values(h.imports.wasi_snapshot_preview1);
    assert.ok(fns.length >= 45);
    for (const fn of fns) assert.doesNotMatch(Function.prototype.toString.call(fn), /\[native code\]/);
    new WebAssembly.Instance(fixture('hello'), h.imports);
  });
});

describe('close and metrics', () => {
  it('closes every host descriptor it opened', () => {
    const dir = mkdtempSync(join(tmpdir(), 'wasi-close-'));
    writeFileSync(join(dir, 'f'), 'x');
    try {
      const open = (): number => readdirSync('/proc/self/fd').length;
      const before = open();
      const g = new RawGuest({ capabilities: { filesystem: [{ hostPath: dir, guestPath: '/d', mode: 'read' }, { hostPath: dir, guestPath: '/e', mode: 'read-write' }] } });
      for (let i = 0; i < 5; i++) g.open(3, 'f', { base: 2n });
      assert.equal(g.host.metrics().openFileDescriptors, 3 + 2 + 5);
      assert.ok(open() >= before + 7);
      g.host.close();
      assert.equal(open(), before);
      assert.equal(g.call('fd_close', 3), 8, 'everything is gone for the guest too');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('wasi_unstable', () => {
  it('offers the same functions, with its own whence numbering and filestat layout', () => {
    const dir = mkdtempSync(join(tmpdir(), 'wasi-unstable-'));
    writeFileSync(join(dir, 'f'), 'hello');
    try {
      const g = new RawGuest({ capabilities: { filesystem: [{ hostPath: dir, guestPath: '/d', mode: 'read' }] } });
      assert.deepEqual(Object.keys(g.unstable).sort(), Object.keys(g.fns).sort());
      const [, fd] = g.open(3, 'f', { base: 0x26n });
      const out = g.alloc(8);
      assert.equal(g.unstable.fd_seek(fd, -2n, 1 /* unstable END */, out), 0);
      assert.equal(g.u64(out), 3n);
      assert.equal(g.unstable.fd_seek(fd, 1n, 2 /* unstable SET */, out), 0);
      assert.equal(g.u64(out), 1n);
      const st = g.alloc(64);
      const p = g.put('f');
      assert.equal(g.unstable.path_filestat_get(3, 0, p.ptr, p.len, st), 0);
      assert.equal(g.u32(st + 20), 1, 'nlink is a u32 at offset 20');
      assert.equal(g.u64(st + 24), 5n, 'size follows at 24');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
