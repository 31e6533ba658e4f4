import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { Capabilities, InvalidModule, SecurityViolation, Timeout } from '../../src/index.ts';
import { fixturePath, load, runtime, text } from './helpers.ts';

const RUN = 'wasi:cli/run@0.3.0-rc-2026-03-15#run';
const CLI = fileURLToPath(new URL('../../src/cli/main.ts', import.meta.url));

async function runP3(capabilities: Capabilities) {
  const rt = await runtime();
  const violations: string[] = [];
  const instance = await rt.instantiate(await load('p3-cli'), { capabilities, onViolation: (v) => violations.push(v.capability) });
  const outcome = await instance.call(RUN).then((result) => ({ result, error: undefined }), (error: unknown) => ({ result: undefined, error }));
  return { instance, violations, ...outcome, out: text(instance.stdout()) };
}

test('an async (WASI 0.3) command runs: its stream reaches stdout, its exit code is reported', async () => {
  const { instance, result, error, out } = await runP3(Capabilities.captured());
  assert.equal(error, undefined);
  assert.deepEqual(result, { tag: 'err', val: undefined });
  assert.equal(instance.exitCode, 1);
  assert.equal(out, 'hello from wasi 0.3\n');
  assert.equal(instance.usable, false, 'an exited instance has finished');
  assert.equal(process.exitCode ?? 0, 0, 'exit never reaches the host process');
});

test("an async component's WIT says which functions are async", async () => {
  const wit = await (await load('p3-cli')).wit();
  assert.match(wit, /\n {4}run: async func\(\) -> result;/);
  assert.match(wit, /\n {4}write-via-stream: func\(data: stream<u8>\) -> future<result<_, error-code>>;/);
});

test('exit without the grant is refused as for a preview2 component: SecurityViolation(exit), reported once', async () => {
  const p3 = await runP3(Capabilities.captured().with({ exit: false }));
  assert.ok(p3.error instanceof SecurityViolation, String(p3.error));
  assert.equal(p3.error.capability, 'exit');
  assert.equal(p3.instance.exitCode, undefined);

  const rt = await runtime();
  const p2 = await rt.instantiate(await load('fs-cli'), { capabilities: Capabilities.captured().with({ exit: false }).withArgs(['exit', 'err']) });
  const p2Error = await p2.call('wasi:cli/run#run').then(() => undefined, (err: unknown) => err);
  assert.ok(p2Error instanceof SecurityViolation);
  assert.equal(p2Error.capability, p3.error.capability, 'the same decision through both ABIs');
});

test('a clock read under clock: none ends the 0.3 guest with SecurityViolation(clock), before it exits', async () => {
  const { instance, error, violations } = await runP3(Capabilities.captured().with({ clock: 'none' }));
  assert.ok(error instanceof SecurityViolation, String(error));
  assert.equal(error.capability, 'clock');
  assert.deepEqual(violations, ['clock']);
  assert.equal(instance.exitCode, undefined, 'the exit after the refused read never ran');
});

test('a 0.3 stream to stdout counts against io.maxOutputBytes: only the allowed prefix lands', async () => {
  const rt = await runtime();
  const instance = await rt.instantiate(await load('p3-cli'), { capabilities: Capabilities.captured(), resourceLimits: { io: { maxOutputBytes: 5 } } });
  // The guest's exit runs before the host has copied its stream, so the limit is met after the exit
  // (a guest still running would be stopped by it, as a preview2 write is).
  const outcome = await instance.call(RUN).then((r) => r, (err: unknown) => (err as { limit?: string }).limit);
  assert.ok(outcome === 'output-bytes' || (outcome as { tag?: string }).tag === 'err', String(outcome));
  assert.equal(text(instance.stdout()), 'hello');
  assert.equal(instance.metrics().outputBytes, 5);
});

test('an async component importing a WASI 0.3 interface that is not served is refused when loaded, naming it', async () => {
  const rt = await runtime();
  await assert.rejects(rt.createComponentModuleFromFile(fixturePath('p3-unserved')), (err: unknown) =>
    err instanceof InvalidModule && /WASI 0\.3/.test(err.message) && err.message.includes('wasi:clocks/timezone@0.3.0-rc-2026-03-15'));
});

test('an async wait runs on the granted clock: a virtual clock passes it at once, a real one meets the call deadline', async () => {
  const rt = await runtime();
  const virtual = await rt.instantiate(await load('p3-wait'), { capabilities: Capabilities.captured().with({ clock: 'virtual' }) });
  assert.deepEqual(await virtual.call(RUN), { tag: 'ok', val: undefined });
  const real = await rt.instantiate(await load('p3-wait'), { capabilities: Capabilities.captured(), resourceLimits: { time: { callTimeoutMs: 200 } } });
  await assert.rejects(real.call(RUN), (err: unknown) => err instanceof Timeout && err.kind === 'call');
  assert.equal(real.usable, false, 'a call stopped at its deadline leaves the instance unusable');
});

test('wasm-sandbox run runs a 0.3 command with the exit code and stdout, and refuses an unserved one with status 126', () => {
  const ok = spawnSync(process.execPath, [CLI, 'run', fixturePath('p3-cli')], { encoding: 'utf8', env: {} });
  assert.equal(ok.status, 1, ok.stderr);
  assert.equal(ok.stdout, 'hello from wasi 0.3\n');
  const denied = spawnSync(process.execPath, [CLI, 'run', fixturePath('p3-unserved')], { encoding: 'utf8', env: {} });
  assert.equal(denied.status, 126);
  assert.match(denied.stderr, /wasi:clocks\/timezone@0\.3/);
});

test('the insecure seed is one value per instance, for preview2 and 0.3 alike', async () => {
  const rt = await runtime();
  const seedOf = async (seed: number) => {
    const instance = await rt.instantiate(await load('http-proxy'), { capabilities: Capabilities.minimal().with({ random: { seed } }) });
    const host = (instance as unknown as { live: { host: { imports: Record<string, Record<string, () => [bigint, bigint]>> } } }).live.host;
    return () => host.imports['wasi:random/insecure-seed'].insecureSeed();
  };
  const read = await seedOf(7);
  const first = read();
  assert.deepEqual(read(), first);
  assert.notDeepEqual((await seedOf(8))(), first, 'another seed, another value');
});
