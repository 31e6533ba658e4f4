/**
 * Preview2 host calls whose cost follows their arguments: random bytes are made in chunks checked
 * against the deadline, and write-zeroes allocates no more than check-write allows.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Preview2Host } from '../../src/component/wasi/preview2-host.ts';
import { HOST_WORK_CHUNK } from '../../src/runtime/limits/host-work.ts';
import { Capabilities } from '../../src/security/capabilities.ts';
import { ResourceLimits } from '../../src/security/resource-limits.ts';
import { InputSource, OutputBudget, OutputSink } from '../../src/wasi/stdio.ts';

function host(checkInterrupt: () => void): Preview2Host {
  const budget = new OutputBudget(null);
  return new Preview2Host({
    capabilities: Capabilities.from({ random: 'crypto' }),
    resourceLimits: ResourceLimits.default(),
    stdin: new InputSource('null', undefined),
    stdout: new OutputSink('null', 1, undefined, budget, () => {}),
    stderr: new OutputSink('null', 2, undefined, budget, () => {}),
    programName: 'p',
    checkInterrupt,
    remainingMs: () => Infinity,
    onViolation: undefined,
  }, new Set(['wasi:random/random', 'wasi:cli/stdout', 'wasi:io/streams']));
}

test('get-random-bytes checks the deadline before every chunk and stops at it', () => {
  let checks = 0;
  const random = host(() => void checks++).imports['wasi:random/random'] as { getRandomBytes(n: bigint): Uint8Array };
  const bytes = random.getRandomBytes(BigInt(16 * HOST_WORK_CHUNK));
  assert.equal(bytes.length, 16 * HOST_WORK_CHUNK);
  assert.ok(checks >= 16, `${checks} checks`);

  const stop = new Error('deadline');
  let calls = 0;
  const stopped = host(() => { if (++calls > 2) throw stop; }).imports['wasi:random/random'] as { getRandomBytes(n: bigint): Uint8Array };
  assert.throws(() => stopped.getRandomBytes(BigInt(64 * HOST_WORK_CHUNK)), (e) => e === stop);
  assert.equal(calls, 3, 'stopped at the first chunk past the deadline');
});

test('write-zeroes of more than check-write allows fails without allocating it', () => {
  const h = host(() => {});
  const stdout = (h.imports['wasi:cli/stdout'] as { getStdout(): { checkWrite(): bigint; writeZeroes(n: bigint): void } }).getStdout();
  const allowed = stdout.checkWrite();
  stdout.writeZeroes(allowed);
  assert.throws(() => stdout.writeZeroes(2n ** 62n), (e) => (e as { tag?: string }).tag === 'last-operation-failed');
  assert.throws(() => stdout.writeZeroes(allowed + 1n), (e) => (e as { tag?: string }).tag === 'last-operation-failed');
});
