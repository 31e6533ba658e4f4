/**
 * The library's admin listener: refusals made on whichever thread the guest runs reach
 * `wasm_sandbox_security_violations_total`, counted once each, and `/readyz` follows the drain.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { HttpServerWrapper } from '../../../src/wrappers/http/http-server-wrapper.ts';
import { parsePrometheusText, total } from '../../helpers/prometheus-text.ts';
import { until } from './helpers.ts';

const PROXY = fileURLToPath(new URL('../../../fixtures/components/http-proxy.wasm', import.meta.url));

for (const runtime of ['worker', 'inprocess'] as const) {
  test(`admin metrics count a component's refused outgoing requests (${runtime} runtime)`, async () => {
    const wrapper = new HttpServerWrapper();
    const id = await wrapper.startServer({ path: PROXY, runtime, admin: {}, capabilities: { clock: 'real' } }) // a JavaScript component reads the clock as it starts;
    const admin = wrapper.adminAddress(id).url;
    try {
      // No network is granted: the guest's fetch is refused, and it answers 502 itself.
      for (let i = 0; i < 2; i++) {
        const r = await fetch(`${wrapper.address(id).url}/fetch?url=http://127.0.0.1:9/`);
        assert.equal(r.status, 502);
        assert.match(await r.text(), /fetch failed/);
      }
      // A client can have its whole answer a moment before the server has counted the request done.
      await until(() => wrapper.metrics(id).inFlight === 0);
      const m = parsePrometheusText(await (await fetch(`${admin}/metrics`)).text());
      assert.equal(total(m, 'wasm_sandbox_security_violations_total', { guest: 'http-proxy.wasm', capability: 'network' }), 2);
      assert.equal(total(m, 'wasm_sandbox_http_requests_total', { status: '502', outcome: 'ok' }), 2);
      assert.equal((await fetch(`${admin}/readyz`)).status, 200);
    } finally {
      await wrapper.close();
    }
  });
}
