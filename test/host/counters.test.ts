import { it } from 'node:test';
import assert from 'node:assert/strict';
import { IoCounters } from '../../src/host/counters.ts';
import { ResourceLimits } from '../../src/security/resource-limits.ts';

it('the connection count refuses at io.maxNetworkConnections and each release gives one place back', () => {
  const c = new IoCounters(ResourceLimits.from({ io: { maxNetworkConnections: 2 } }).io);
  assert.equal(c.reserveConnection(), true);
  assert.equal(c.reserveConnection(), true);
  assert.equal(c.reserveConnection(), false);
  assert.equal(c.networkConnections, 2);
  c.releaseConnection();
  assert.equal(c.networkConnections, 1);
  assert.equal(c.reserveConnection(), true);
  const unlimited = new IoCounters(ResourceLimits.from({ io: { maxNetworkConnections: null } }).io);
  for (let i = 0; i < 100; i++) assert.equal(unlimited.reserveConnection(), true);
  assert.equal(unlimited.networkConnections, 100);
});
