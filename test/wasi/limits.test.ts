/**
 * io limits: descriptors, bytes read and written, output bytes. Exceeding a byte limit stops the
 * guest with ResourceLimitExceeded, and the host keeps refusing afterwards.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { ResourceLimitExceeded } from '../../src/errors.ts';
import { OFLAGS } from '../../src/wasi/constants.ts';
import { ERRNO } from '../../src/wasi/errno.ts';
import { runGuest } from './helpers.ts';
import { RawGuest } from './raw-guest.ts';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'wasi-limits-'));
  writeFileSync(join(dir, 'ten.txt'), '0123456789');
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const grant = () => ({ filesystem: [{ hostPath: dir, guestPath: '/d', mode: 'read-write' as const }] });

describe('maxReadBytes', () => {
  it('allows reading exactly up to the limit, then stops the guest', () => {
    const g = new RawGuest({ capabilities: grant(), limits: { io: { maxReadBytes: 15 } } });
    const [, a] = g.open(3, 'ten.txt');
    assert.deepEqual(g.read(a, 100), [0, '0123456789']);
    assert.deepEqual(g.read(a, 100), [0, ''], 'EOF at the limit is not an overrun');
    const [, b] = g.open(3, 'ten.txt');
    assert.deepEqual(g.read(b, 100), [0, '01234'], 'clamped to what is left');
    assert.throws(() => g.read(b, 100), (e: unknown) => e instanceof ResourceLimitExceeded && e.limit === 'read-bytes' && e.max === 15);
    assert.throws(() => g.call('sched_yield'), ResourceLimitExceeded, 'the guest cannot carry on after catching it');
    assert.equal(g.host.metrics().bytesRead, 15);
  });
});

describe('maxWriteBytes', () => {
  it('refuses the write that would cross the limit', () => {
    const g = new RawGuest({ capabilities: grant(), limits: { io: { maxWriteBytes: 8 } } });
    const [, fd] = g.open(3, 'out.txt', { oflags: OFLAGS.CREAT });
    assert.deepEqual(g.write(fd, 'abcde'), [0, 5]);
    assert.throws(() => g.write(fd, 'fghij'), (e: unknown) => e instanceof ResourceLimitExceeded && e.limit === 'write-bytes' && e.observed === 10);
    assert.equal(readFileSync(join(dir, 'out.txt'), 'utf8'), 'abcde');
  });
});

describe('maxOutputBytes', () => {
  it('counts stdout and stderr together, delivers the allowed prefix, then stops the guest', () => {
    const g = new RawGuest({ limits: { io: { maxOutputBytes: 12 } } });
    const d = g.put('0123456789');
    const iov = g.alloc(8);
    new DataView(g.memory.buffer).setUint32(iov, d.ptr, true);
    new DataView(g.memory.buffer).setUint32(iov + 4, d.len, true);
    const n = g.alloc(4);
    assert.equal(g.call('fd_write', 1, iov, 1, n), 0);
    assert.throws(() => g.call('fd_write', 2, iov, 1, n), (e: unknown) => e instanceof ResourceLimitExceeded && e.limit === 'output-bytes' && e.max === 12 && e.observed === 20);
    assert.equal(new TextDecoder().decode(g.host.stdoutBytes()), '0123456789');
    assert.equal(new TextDecoder().decode(g.host.stderrBytes()), '01');
    assert.equal(g.host.metrics().outputBytes, 12);
  });

  it('stops a real program that prints too much', () => {
    assert.throws(() => runGuest('cat', { stdin: 'x'.repeat(100_000), limits: { io: { maxOutputBytes: 1000 } } }), ResourceLimitExceeded);
  });
});

describe('maxFileDescriptors', () => {
  it('counts stdio and preopens and frees slots on close', () => {
    const g = new RawGuest({ capabilities: grant(), limits: { io: { maxFileDescriptors: 5 } } });
    assert.equal(g.host.metrics().openFileDescriptors, 4);
    const [e1, fd] = g.open(3, 'ten.txt');
    assert.equal(e1, 0);
    assert.equal(g.open(3, 'ten.txt')[0], ERRNO.MFILE);
    assert.equal(g.call('fd_close', fd), 0);
    assert.equal(g.open(3, 'ten.txt')[0], 0);
  });
});
