import { it } from 'node:test';
import assert from 'node:assert/strict';
import { Counter } from '../../src/host/counters.ts';

it('a counter refuses at its maximum and each release gives back exactly one place', () => {
  const c = new Counter(2);
  const a = c.take();
  const b = c.take();
  assert.ok(a && b);
  assert.equal(c.take(), undefined);
  assert.equal(c.held, 2);
  a();
  a();
  assert.equal(c.held, 1, 'a second release of the same place does nothing');
  assert.ok(c.take());
  assert.equal(c.held, 2);
  const unlimited = new Counter(null);
  for (let i = 0; i < 100; i++) assert.ok(unlimited.take());
  assert.equal(unlimited.held, 100);
});
