import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Capabilities, SecurityViolation } from '../../src/index.ts';
import { load, runtime, text } from './helpers.ts';

async function run(capabilities: Capabilities, options: { reinstantiateOnTrap?: boolean; programName?: string } = {}) {
  const rt = await runtime();
  const instance = await rt.instantiate(await load('fs-cli'), { capabilities, ...options });
  const result = await instance.call('wasi:cli/run#run');
  return { instance, result, out: text(instance.stdout()).trimEnd() };
}

test('the environment holds exactly the granted variables, never the host environment', async () => {
  process.env.WASM_SANDBOX_TEST_INHERITED = 'from-host';
  process.env.WASM_SANDBOX_TEST_HIDDEN = 'must-not-leak';
  try {
    const none = await run(Capabilities.captured().withArgs(['env']));
    assert.equal(none.out, '');
    const granted = await run(Capabilities.captured().withArgs(['env']).withEnv({ GREETING: 'hi', EMPTY: '' }, ['WASM_SANDBOX_TEST_INHERITED', 'WASM_SANDBOX_TEST_UNSET']));
    assert.deepEqual(granted.out.split('\n').sort(), ['EMPTY=', 'GREETING=hi', 'WASM_SANDBOX_TEST_INHERITED=from-host']);
    assert.doesNotMatch(granted.out, /must-not-leak|PATH=|HOME=/);
  } finally {
    delete process.env.WASM_SANDBOX_TEST_INHERITED;
    delete process.env.WASM_SANDBOX_TEST_HIDDEN;
  }
});

test('arguments are the program name and the granted arguments only', async () => {
  const { out } = await run(Capabilities.captured().withArgs(['args', 'one', 'two words']), { programName: 'fs-cli.wasm' });
  assert.deepEqual(JSON.parse(out), ['fs-cli.wasm', 'args', 'one', 'two words']);
});

test('exit ends the call with the exit code reported, not the host process', async () => {
  const failed = await run(Capabilities.captured().withArgs(['exit', 'err']));
  assert.deepEqual(failed.result, { tag: 'err', val: undefined });
  assert.equal(failed.instance.exitCode, 1);
  assert.equal(failed.out, 'exiting', 'nothing after exit ran');
  const ok = await run(Capabilities.captured().withArgs(['exit', 'ok']));
  assert.deepEqual(ok.result, { tag: 'ok', val: undefined });
  assert.equal(ok.instance.exitCode, 0);
  assert.equal(process.exitCode ?? 0, 0);
  assert.equal(ok.instance.usable, false, 'an exited instance has finished');
});

test('after an exit, reinstantiateOnTrap runs the next call on a fresh instance', async () => {
  const { instance } = await run(Capabilities.captured().withArgs(['exit', 'err']), { reinstantiateOnTrap: true });
  assert.deepEqual(await instance.call('wasi:cli/run#run'), { tag: 'err', val: undefined });
  assert.equal(text(instance.stdout()).trimEnd(), 'exiting\nexiting', 'captured output accumulates across instances');
  assert.equal(instance.metrics().instantiations, 2);
});

test('stdout is captured, or dropped when stdio is not granted', async () => {
  const captured = await run(Capabilities.captured().withArgs(['args']));
  assert.match(captured.out, /args/);
  const dropped = await run(Capabilities.captured().with({ stdio: { stdout: 'null', stderr: 'null', stdin: 'null' } }).withArgs(['args']));
  assert.equal(dropped.out, '');
  assert.deepEqual(dropped.result, { tag: 'ok', val: undefined });
});

test('output beyond io.maxOutputBytes stops the component', async () => {
  const rt = await runtime();
  const instance = await rt.instantiate(await load('fs-cli'), {
    capabilities: Capabilities.captured().withArgs(['args', 'x'.repeat(500)]),
    resourceLimits: { io: { maxOutputBytes: 100 } },
  });
  await assert.rejects(instance.call('wasi:cli/run#run'), (err: unknown) => (err as { limit?: string }).limit === 'output-bytes');
  assert.equal(instance.stdout().length, 100, 'the allowed prefix is delivered');
});

test('randomness that was not granted stops the component with SecurityViolation', async () => {
  const rt = await runtime();
  const instance = await rt.instantiate(await load('http-proxy'), { capabilities: Capabilities.minimal() });
  const host = (instance as unknown as { live: { host: { imports: Record<string, Record<string, (...a: unknown[]) => unknown>> } } }).live.host;
  assert.throws(() => host.imports['wasi:random/random'].getRandomBytes(8n), SecurityViolation);
  const granted = await rt.instantiate(await load('http-proxy'), { capabilities: Capabilities.minimal().with({ random: { seed: 7 } }) });
  const grantedHost = (granted as unknown as { live: { host: { imports: Record<string, Record<string, (...a: unknown[]) => unknown>> } } }).live.host;
  const a = grantedHost.imports['wasi:random/random'].getRandomBytes(8n) as Uint8Array;
  assert.equal(a.length, 8);
});

test('clocks follow the policy: none refuses every reading and stops the guest, virtual is deterministic', async () => {
  const rt = await runtime();
  const hostOf = async (clock: 'none' | 'virtual' | 'real') => {
    const instance = await rt.instantiate(await load('http-proxy'), { capabilities: Capabilities.minimal().with({ clock }) });
    return (instance as unknown as { live: { host: { imports: Record<string, Record<string, (...a: unknown[]) => any>> } } }).live.host.imports;
  };
  const none = await hostOf('none');
  assert.throws(() => none['wasi:clocks/wall-clock'].now(), (e: unknown) => e instanceof SecurityViolation && e.capability === 'clock');
  assert.throws(() => none['wasi:clocks/monotonic-clock'].now(), SecurityViolation, 'a stopped guest stays stopped');
  const relative = await hostOf('none');
  relative['wasi:clocks/monotonic-clock'].subscribeDuration(1_000_000n).block();
  const virtual = await hostOf('virtual');
  const t0 = virtual['wasi:clocks/monotonic-clock'].now();
  const timer = virtual['wasi:clocks/monotonic-clock'].subscribeDuration(5_000_000_000n);
  const started = performance.now();
  timer.block();
  assert.ok(performance.now() - started < 1000, 'a virtual 5 s sleep takes no real time');
  assert.ok(virtual['wasi:clocks/monotonic-clock'].now() - t0 >= 5_000_000_000n);
  const real = await hostOf('real');
  const wall = real['wasi:clocks/wall-clock'].now();
  assert.ok(Math.abs(Number(wall.seconds) - Date.now() / 1000) < 5);
});
