import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Capabilities, CliWrapper, InvalidArguments, ModuleNotFound, Timeout, Trap } from '../../src/index.ts';

const wasi = (name: string) => fileURLToPath(new URL(`../../fixtures/wasi/${name}`, import.meta.url));
const wat = (name: string) => fileURLToPath(new URL(`../../fixtures/wat/${name}`, import.meta.url));

for (const runtime of ['inprocess', 'worker'] as const) {
  test(`runCliApp (${runtime}): args, env, stdin, exit code, captured output`, async () => {
    const wrapper = new CliWrapper({ runtime });
    try {
      const hello = await wrapper.runCliApp({ path: wasi('hello.wasm'), args: ['one', 'two'], env: { GREETING: 'hi' }, programName: 'hello' });
      assert.equal(hello.exitCode, 0);
      assert.equal(hello.error, undefined);
      assert.equal(hello.stdoutText(), 'hello from wasi\nargv[0]=hello\nargv[1]=one\nargv[2]=two\nenv GREETING=hi\n');
      assert.equal(hello.stderrText(), 'to stderr\n');
      assert.ok(hello.stdout instanceof Uint8Array);
      assert.equal(hello.metrics.calls, 1);

      const cat = await wrapper.runCliApp({ bytes: readFileSync(wasi('cat.wasm')), stdin: 'from stdin' });
      assert.equal(cat.stdoutText(), 'from stdin');

      const exit = await wrapper.runCliApp({ path: wasi('exit_code.wasm'), args: ['7'] });
      assert.equal(exit.exitCode, 7);

      const trap = await wrapper.runCliApp({ path: wat('wasi_misbehave.wasm'), args: ['trap'] });
      assert.equal(trap.exitCode, null);
      assert.ok(trap.error instanceof Trap);

      const loop = await wrapper.runCliApp({ path: wat('wasi_misbehave.wasm'), args: ['loop'], resourceLimits: { time: { callTimeoutMs: 100 } } });
      assert.ok(loop.error instanceof Timeout);
    } finally {
      await wrapper.close();
    }
  });
}

test('runCliApp: nothing of the host leaks in unless granted', async () => {
  process.env.WASM_SANDBOX_TEST_SECRET = 'hunter2';
  const wrapper = new CliWrapper();
  const r = await wrapper.runCliApp({ path: wasi('hello.wasm') });
  assert.doesNotMatch(r.stdoutText(), /hunter2|env /, 'no host environment by default');
  const granted = await wrapper.runCliApp({ path: wasi('hello.wasm'), capabilities: Capabilities.captured().withEnv({}, ['WASM_SANDBOX_TEST_SECRET']) });
  assert.match(granted.stdoutText(), /env WASM_SANDBOX_TEST_SECRET=hunter2/);
  await wrapper.close();
});

test('runCliAppStreaming delivers output as streams', async () => {
  const wrapper = new CliWrapper();
  const run = wrapper.runCliAppStreaming({ path: wasi('hello.wasm') });
  const chunks: string[] = [];
  run.stdout.on('data', (c: Buffer) => chunks.push(c.toString()));
  const errs: string[] = [];
  run.stderr.on('data', (c: Buffer) => errs.push(c.toString()));
  const result = await run.result;
  await new Promise((r) => setImmediate(r));
  assert.equal(chunks.join(''), result.stdoutText());
  assert.equal(errs.join(''), 'to stderr\n');
  await wrapper.close();
});

test('bad input to runCliApp is typed', async () => {
  const wrapper = new CliWrapper();
  await assert.rejects(wrapper.runCliApp({} as never), InvalidArguments);
  await assert.rejects(wrapper.runCliApp({ path: '/nope.wasm' }), ModuleNotFound);
  await assert.rejects(wrapper.runCliApp({ module: 'module-42' }), ModuleNotFound);
  const id = await wrapper.load({ path: wasi('hello.wasm') });
  assert.equal(await wrapper.load({ path: wasi('hello.wasm') }), id, 'an unchanged file is compiled once');
  const fromBytes = await wrapper.load({ bytes: readFileSync(wasi('hello.wasm')) });
  assert.equal(await wrapper.load({ bytes: readFileSync(wasi('hello.wasm')) }), fromBytes, 'the same bytes are compiled once');
  assert.equal((await wrapper.runCliApp({ module: id })).exitCode, 0);
  await wrapper.close();
});

test('runCliApp with invoke calls an export instead of _start and returns its results', async () => {
  const wrapper = new CliWrapper();
  try {
    const add = await wrapper.runCliApp({ path: wat('add.wasm'), invoke: { name: 'add', args: [5, 3] } });
    assert.equal(add.exitCode, 0);
    assert.equal(add.results, 8);
    const trap = await wrapper.runCliApp({ path: wat('wasi_misbehave.wasm'), invoke: { name: '_start' }, args: ['trap'] });
    assert.ok(trap.error instanceof Trap);
    assert.equal('results' in trap, false, 'a failed call has no results');
    await assert.rejects(wrapper.runCliApp({ path: wat('add.wasm'), invoke: { name: 'add', args: ['x'] } }), InvalidArguments);
  } finally {
    await wrapper.close();
  }
});
