/**
 * Hostile pointers and lengths: every function must answer EFAULT (or EILSEQ for bad strings),
 * never throw into the host, and never write outside memory. Also: views follow memory.grow.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { ERRNO } from '../../src/wasi/errno.ts';
import { RawGuest } from './raw-guest.ts';

describe('out-of-bounds pointers', () => {
  it('every preview1 function answers an errno for wild pointers, never an exception', () => {
    const dir = mkdtempSync(join(tmpdir(), 'wasi-fault-'));
    writeFileSync(join(dir, 'f'), 'data');
    try {
      const g = new RawGuest({ capabilities: { filesystem: [{ hostPath: dir, guestPath: '/d', mode: 'read-write' }], clock: 'real', random: 'crypto' }, extra: { stdin: 'in' } });
      const [, file] = g.open(3, 'f');
      const wild = [0xffff_fff0, -1, g.size - 2, g.size];
      const fns = Object.keys(g.fns).filter((n) => n !== 'proc_exit');
      let calls = 0;
      for (const name of fns) {
        for (const w of wild) {
          // Try the wild value in each position, with plausible values elsewhere.
          for (let pos = 0; pos < 9; pos++) {
            const args: Array<number | bigint> = [];
            for (let k = 0; k < 9; k++) args.push(k === pos ? w : k === 0 ? file : 16);
            const bigPositions: Record<string, number[]> = {
              clock_time_get: [1], fd_advise: [1, 2], fd_allocate: [1, 2], fd_fdstat_set_rights: [1, 2], fd_filestat_set_size: [1],
              fd_filestat_set_times: [1, 2], fd_pread: [3], fd_pwrite: [3], fd_readdir: [3], fd_seek: [1],
              path_filestat_set_times: [4, 5], path_open: [5, 6],
            };
            for (const b of bigPositions[name] ?? []) args[b] = typeof args[b] === 'number' ? BigInt(args[b] as number) : args[b];
            let result: number;
            try {
              result = g.call(name, ...args);
            } catch (err) {
              assert.fail(`${name}(${args.join(', ')}) threw ${String(err)}`);
            }
            assert.equal(typeof result, 'number');
            calls++;
          }
        }
      }
      assert.ok(calls > 1000);
      g.host.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('reports EFAULT for buffers that straddle the end of memory and writes nothing', () => {
    const g = new RawGuest({ capabilities: { random: 'crypto', args: ['a'] } });
    const end = g.size;
    assert.equal(g.call('random_get', end - 4, 8), ERRNO.FAULT);
    assert.equal(g.call('args_sizes_get', end - 2, 0), ERRNO.FAULT);
    assert.equal(g.call('args_get', 0, end - 1), ERRNO.FAULT);
    assert.equal(g.call('fd_write', 1, end - 4, 1, 0), ERRNO.FAULT, 'iovec array out of bounds');
    const iov = g.alloc(8);
    new DataView(g.memory.buffer).setUint32(iov, end - 2, true);
    new DataView(g.memory.buffer).setUint32(iov + 4, 10, true);
    assert.equal(g.call('fd_write', 1, iov, 1, 0), ERRNO.FAULT, 'iovec buffer out of bounds');
    assert.equal(g.host.stdoutBytes().length, 0);
    assert.equal(g.call('fd_fdstat_get', 1, end - 8), ERRNO.FAULT);
    assert.equal(g.call('clock_time_get', 0, 0n, end), ERRNO.FAULT);
  });

  it('rejects strings that are not UTF-8', () => {
    const g = new RawGuest({ capabilities: { filesystem: [{ hostPath: tmpdir(), guestPath: '/t', mode: 'read' }] } });
    for (const bytes of [[0xc0, 0x80], [0xed, 0xa0, 0x80], [0xff], [0x61, 0xe2, 0x82]]) {
      const p = g.put(new Uint8Array(bytes));
      assert.equal(g.call('path_create_directory', 3, p.ptr, p.len), ERRNO.PERM, 'read-only refusal comes first');
      const st = g.alloc(64);
      assert.equal(g.call('path_filestat_get', 3, 0, p.ptr, p.len, st), ERRNO.ILSEQ);
    }
  });
});

describe('memory growth', () => {
  it('sees memory added by memory.grow and writes into it', () => {
    const g = new RawGuest({ pages: 1, capabilities: { args: ['x'] } });
    const before = g.size;
    assert.equal(g.call('args_sizes_get', before + 16, before + 20), ERRNO.FAULT);
    g.memory.grow(1);
    assert.equal(g.call('args_sizes_get', before + 16, before + 20), 0);
    assert.equal(g.u32(before + 16), 2);
  });
});
