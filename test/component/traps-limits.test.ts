import { test } from 'node:test';
import assert from 'node:assert/strict';
import { InstanceUnusable, ResourceLimitExceeded, Timeout, Trap } from '../../src/index.ts';
import { load, runtime } from './helpers.ts';

test('a guest trap is a Trap; the instance is then unusable', async () => {
  const rt = await runtime();
  const instance = await rt.instantiate(await load('limits'));
  await assert.rejects(instance.call('trap'), (err: unknown) => {
    assert.ok(err instanceof Trap);
    assert.equal(err.kind, 'unreachable');
    assert.doesNotMatch(err.message, /wasm trap: wasm trap/);
    return true;
  });
  assert.equal(instance.usable, false);
  await assert.rejects(instance.call('add', [1, 2]), InstanceUnusable);
});

test('reinstantiateOnTrap: the next call runs on a fresh instance', async () => {
  const rt = await runtime();
  const instance = await rt.instantiate(await load('limits'), { reinstantiateOnTrap: true });
  await assert.rejects(instance.call('trap'), Trap);
  assert.equal(await instance.call('add', [1, 2]), 3);
  await assert.rejects(instance.call('trap'), Trap);
  await assert.rejects(instance.call('trap'), Trap);
  assert.equal(await instance.call('add', [2, 2]), 4);
  assert.equal(instance.metrics().instantiations, 4);
});

test('reinstantiation starts from fresh guest state', async () => {
  const rt = await runtime();
  const provider = await rt.instantiate(await load('kv-provider'), { reinstantiateOnTrap: true });
  await provider.call('example:kv/store#set', ['k', 'v']);
  assert.deepEqual(await provider.call('example:kv/store#get', ['k']), 'v');
  // 16 entries fill the store; the 17th traps (unreachable), which replaces the instance.
  for (let i = 0; i < 15; i++) await provider.call('example:kv/store#set', [`k${i}`, 'x']);
  await assert.rejects(provider.call('example:kv/store#set', ['overflow', 'x']), Trap);
  assert.equal(await provider.call('example:kv/store#get', ['k']), undefined);
});

test('an infinite loop inside a component call is stopped in-process with Timeout', async () => {
  const rt = await runtime({}, { time: { callTimeoutMs: 150 } });
  const instance = await rt.instantiate(await load('limits'), { reinstantiateOnTrap: true });
  const started = performance.now();
  await assert.rejects(instance.call('spin'), (err: unknown) => {
    assert.ok(err instanceof Timeout);
    assert.equal(err.kind, 'call');
    assert.equal(err.timeoutMs, 150);
    return true;
  });
  const elapsed = performance.now() - started;
  assert.ok(elapsed >= 140 && elapsed < 2000, `stopped after ${elapsed} ms`);
  assert.equal(await instance.call('add', [40, 2]), 42, 'the replacement instance works');
});

test('fuel: a budget stops a loop with ResourceLimitExceeded, and is consumed across calls', async () => {
  const rt = await runtime({}, { cpu: { fuel: 200_000 }, time: { callTimeoutMs: null } });
  const instance = await rt.instantiate(await load('limits'));
  assert.equal(await instance.call('count', [1000n]), 1000n);
  const used = instance.metrics().fuelConsumed;
  assert.ok(used > 1000 && used < 50_000, `fuel for 1000 iterations: ${used}`);
  await assert.rejects(instance.call('count', [1_000_000n]), (err: unknown) => {
    assert.ok(err instanceof ResourceLimitExceeded);
    assert.equal(err.limit, 'fuel');
    assert.equal(err.max, 200_000);
    return true;
  });
  await assert.rejects(instance.call('spin'), InstanceUnusable);
});

test('fuel also stops a spinning call', async () => {
  const rt = await runtime({}, { cpu: { fuel: 1_000_000 }, time: { callTimeoutMs: null } });
  const instance = await rt.instantiate(await load('limits'));
  await assert.rejects(instance.call('spin'), (err: unknown) => err instanceof ResourceLimitExceeded && err.limit === 'fuel');
});

test('memory limits apply to the core memories inside the component', async () => {
  const rt = await runtime({}, { memory: { maxMemoryBytes: '1MiB' } });
  const instance = await rt.instantiate(await load('limits'));
  assert.equal(await instance.call('grow', [4]), 1, 'memory.grow returns the old size in pages');
  assert.equal(await instance.call('grow', [100]), -1, 'growing past 1 MiB (16 pages) is refused like an engine limit');
  assert.equal(await instance.call('grow', [11]), 5, 'up to the limit is fine');
  assert.equal(await instance.call('grow', [1]), -1);
  const trapping = await rt.instantiate(await load('limits'), { resourceLimits: { memory: { maxMemoryBytes: '1MiB', trapOnGrowFailure: true } } });
  await assert.rejects(trapping.call('grow', [100]), (err: unknown) => err instanceof ResourceLimitExceeded && err.limit === 'memory');
});

test('the instance lifetime limit ends an instance', async () => {
  const rt = await runtime({}, { time: { instanceLifetimeMs: 100, callTimeoutMs: null } });
  const instance = await rt.instantiate(await load('limits'));
  assert.equal(await instance.call('add', [1, 1]), 2);
  await new Promise((r) => setTimeout(r, 120));
  await assert.rejects(instance.call('add', [1, 1]), (err: unknown) => err instanceof Timeout && err.kind === 'instance-lifetime');
});

test('limits of one instance do not leak into another', async () => {
  const rt = await runtime();
  const limited = await rt.instantiate(await load('limits'), { resourceLimits: { cpu: { fuel: 10_000 } } });
  const free = await rt.instantiate(await load('limits'), { resourceLimits: { cpu: { fuel: null }, time: { callTimeoutMs: null } } });
  await assert.rejects(limited.call('count', [100_000n]), ResourceLimitExceeded);
  assert.equal(await free.call('count', [100_000n]), 100_000n);
});
