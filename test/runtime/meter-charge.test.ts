/** `Meter.chargeBytes`: host work paid for in fuel before it runs, with the checkpoint's checks. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ResourceLimitExceeded, Timeout } from '../../src/errors.ts';
import { Meter } from '../../src/runtime/limits/meter.ts';
import { ResourceLimits } from '../../src/security/resource-limits.ts';

function boundMeter(limits: ResourceLimits): Meter {
  const meter = new Meter(limits);
  meter.bind(new WebAssembly.Global({ value: 'i64', mutable: true }, 0n));
  meter.enter();
  return meter;
}

test('chargeBytes costs one unit per 16 bytes, counted in fuelConsumed', () => {
  const meter = boundMeter(ResourceLimits.unlimited().with({ cpu: { fuel: 1_000_000 } }));
  meter.chargeBytes(16 * 1000);
  meter.chargeBytes(1);
  assert.equal(meter.fuelConsumed(), 1001);
  assert.equal(meter.getFuel(), 1_000_000 - 1001);
});

test('a charge past the fuel budget throws before the work is done', () => {
  const meter = boundMeter(ResourceLimits.unlimited().with({ cpu: { fuel: 1000 } }));
  assert.throws(() => meter.chargeBytes(256 * 1024 * 1024), (e: unknown) => e instanceof ResourceLimitExceeded && e.limit === 'fuel');
});

test('a charge that empties the slice checks the deadline', async () => {
  const meter = boundMeter(ResourceLimits.unlimited().with({ time: { callTimeoutMs: 1 } }));
  await new Promise((resolve) => setTimeout(resolve, 5));
  meter.chargeBytes(8); // within the slice: no checkpoint yet
  assert.throws(() => meter.chargeBytes(1 << 30), Timeout);
});
