/** The core's io counters: limits checked in one place, every count given back by its release. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ResourceLimitExceeded, ResourceLimits } from '../../src/index.ts';
import { IoCounters } from '../../src/host/counters.ts';

const counters = (io: Record<string, number | null>) => new IoCounters(ResourceLimits.from({ io }).io);

test('reads are clamped to what the limit leaves, and reading past it is an overrun', () => {
  const c = counters({ maxReadBytes: 10 });
  assert.equal(c.readAllowance(8), 8);
  c.countRead(8);
  assert.equal(c.readAllowance(8), 2);
  c.countRead(2);
  assert.equal(c.readAllowance(1), 0);
  assert.throws(() => c.overRead(1), (e: unknown) => e instanceof ResourceLimitExceeded && e.limit === 'read-bytes' && e.observed === 11);
  assert.throws(() => c.countRead(1), ResourceLimitExceeded);
});

test('a write that would pass the limit is refused before it happens', () => {
  const c = counters({ maxWriteBytes: 4 });
  c.checkWrite(4);
  c.countWrite(4);
  assert.throws(() => c.checkWrite(1), (e: unknown) => e instanceof ResourceLimitExceeded && e.limit === 'write-bytes' && e.max === 4);
  assert.equal(c.bytesWritten, 4);
});

test('descriptors and connections are taken up to the limit and come back when released', () => {
  const c = counters({ maxFileDescriptors: 3, maxNetworkConnections: 1 });
  c.placeDescriptor();
  assert.equal(c.reserveDescriptor(), true);
  assert.equal(c.reserveDescriptor(), true);
  assert.equal(c.reserveDescriptor(), false, 'the fourth is refused');
  c.releaseDescriptor();
  assert.equal(c.reserveDescriptor(), true, 'a released descriptor can be taken again');
  assert.equal(c.descriptors, 3);
  assert.equal(c.reserveConnection(), true);
  assert.equal(c.reserveConnection(), false);
  c.releaseConnection();
  assert.equal(c.reserveConnection(), true);
  assert.equal(c.networkConnections, 1);
});

test('null lifts each limit', () => {
  const c = counters({ maxReadBytes: null, maxWriteBytes: null, maxFileDescriptors: null, maxNetworkConnections: null });
  assert.equal(c.readAllowance(1e9), 1e9);
  c.checkWrite(1e12);
  for (let i = 0; i < 1000; i++) assert.equal(c.reserveDescriptor(), true);
  for (let i = 0; i < 1000; i++) assert.equal(c.reserveConnection(), true);
});
