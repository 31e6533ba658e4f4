import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { HttpServerWrapper } from '../../../src/wrappers/http/http-server-wrapper.ts';

const SECRET = fileURLToPath(new URL('../../../fixtures/wat/wagi_secret.wasm', import.meta.url));
const APP = fileURLToPath(new URL('../../../fixtures/http/wagi_app.wasm', import.meta.url));

for (const runtime of ['inprocess', 'worker'] as const) {
  test(`WAGI (${runtime}): no request sees what an earlier one left in memory, globals or tables`, async () => {
    const wrapper = new HttpServerWrapper();
    const id = await wrapper.startServer({ path: SECRET, runtime, pool: { maxConcurrency: 8 } });
    const url = wrapper.address(id).url;
    try {
      const answer = async (body?: string) => {
        const r = await fetch(url, body === undefined ? {} : { method: 'POST', body });
        return { status: r.status, text: await r.text() };
      };
      // Every request leaves its secrets behind; the next ones scan for them.
      for (let i = 0; i < 4; i++) assert.deepEqual(await answer(), { status: 200, text: 'clean 2\n' });
      // One that grew its memory, and one that trapped after writing them.
      assert.deepEqual(await answer('g'), { status: 200, text: 'clean 2\n' });
      // On a worker thread the head may already be out when it traps: the connection is cut instead.
      const trapped = await answer('t').catch(() => ({ status: 'cut', text: '' }));
      assert.ok(runtime === 'inprocess' ? trapped.status === 500 : trapped.status === 500 || trapped.status === 'cut', String(trapped.status));
      const together = await Promise.all(Array.from({ length: 4 }, () => answer()));
      assert.deepEqual(together, Array.from({ length: 4 }, () => ({ status: 200, text: 'clean 2\n' })));
    } finally {
      await wrapper.close();
    }
  });
}

test('WAGI: every request gets its own environment and stdin, nothing of the previous one', async () => {
  const wrapper = new HttpServerWrapper();
  const id = await wrapper.startServer({ path: APP, runtime: 'inprocess' });
  const url = wrapper.address(id).url;
  try {
    const first = await fetch(`${url}/echo`, { method: 'PUT', body: 'first body', headers: { 'x-test': 'one' } });
    assert.equal(first.headers.get('x-echo-method'), 'PUT');
    assert.equal(first.headers.get('x-echo-header'), 'one');
    assert.equal(await first.text(), 'first body');
    const second = await fetch(`${url}/echo`, { method: 'POST', body: 'x' });
    assert.equal(second.headers.get('x-echo-method'), 'POST');
    assert.equal(second.headers.get('x-echo-header'), '');
    assert.equal(await second.text(), 'x');
  } finally {
    await wrapper.close();
  }
});
