/**
 * Instance reuse with a guest that serves one request per instance: a JavaScript component written
 * as a `fetch` event listener (StarlingMonkey refuses a second `respondWith` on an instance). Left
 * on, reuse turns itself off after the first reused instance traps, saying so once, and every later
 * request succeeds; the failed request is answered, not replayed. Turned off, every request succeeds.
 * A guest whose instances have served several requests keeps reuse when one request traps.
 */
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { HttpServerWrapper } from '../../../src/wrappers/http/http-server-wrapper.ts';
import { accessLog, ECHO, until } from './helpers.ts';

const FETCH_EVENT = fileURLToPath(new URL('../../../fixtures/components/http-fetch-event.wasm', import.meta.url));
/** A JavaScript (StarlingMonkey) component reads the clock as it starts: it needs the grant. */
const JS_COMPONENT = { clock: 'real' } as const;
const CLI = fileURLToPath(new URL('../../../src/cli/main.ts', import.meta.url));

async function statuses(url: string, n: number): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const r = await fetch(`${url}/r${i}`);
    const body = await r.text();
    if (r.status === 200) assert.equal(body, `fetch event GET /r${i}\n`);
    out.push(r.status);
  }
  return out;
}

for (const runtime of ['worker', 'inprocess'] as const) {
  describe(`a fetch-event component, ${runtime} runtime`, () => {
    test('reuse on: one request fails when a reused instance traps, then reuse stops, with one notice', async () => {
      const notices: string[] = [];
      const log = accessLog();
      const wrapper = new HttpServerWrapper({ accessLog: log.stream, notice: (m) => notices.push(m) });
      try {
        const id = await wrapper.startServer({ path: FETCH_EVENT, runtime, capabilities: JS_COMPONENT, pool: { maxInstances: 1 } });
        const got = await statuses(wrapper.address(id).url, 8);
        const failed = got.indexOf(500);
        assert.ok(failed > 0, `the first request succeeds and a reused instance fails: ${got}`);
        assert.deepEqual(got.slice(failed + 1), Array(got.length - failed - 1).fill(200), `all later requests succeed: ${got}`);
        assert.equal(got.filter((s) => s === 500).length, 1);
        assert.equal(notices.length, 1);
        assert.match(notices[0], /^http-fetch-event\.wasm: a reused component instance trapped/);
        // The failed request was answered once, never replayed: one log line per request (the last
        // line may land just after its client has the answer).
        await until(() => log.lines.length >= got.length);
        assert.deepEqual(log.lines.map((l) => l.path), got.map((_, i) => `/r${i}`));
      } finally {
        await wrapper.close();
      }
    });

    test('reuse off: every request succeeds and nothing is said', async () => {
      const notices: string[] = [];
      const wrapper = new HttpServerWrapper({ notice: (m) => notices.push(m) });
      try {
        const id = await wrapper.startServer({ path: FETCH_EVENT, runtime, capabilities: JS_COMPONENT, pool: { reuse: false } });
        assert.deepEqual(await statuses(wrapper.address(id).url, 5), [200, 200, 200, 200, 200]);
        assert.deepEqual(notices, []);
      } finally {
        await wrapper.close();
      }
    });
  });
}

test('a guest that serves many requests per instance keeps reuse after a request of its own traps', async () => {
  for (const runtime of ['worker', 'inprocess'] as const) {
    const notices: string[] = [];
    const wrapper = new HttpServerWrapper({ notice: (m) => notices.push(m) });
    try {
      const id = await wrapper.startServer({ path: ECHO, runtime, pool: { maxInstances: 1 } });
      const url = wrapper.address(id).url;
      for (let i = 0; i < 4; i++) assert.equal((await fetch(`${url}/hello`)).status, 200);
      assert.equal((await fetch(`${url}/trap`)).status, 500);
      assert.equal((await fetch(`${url}/hello`)).status, 200);
      assert.deepEqual(notices, [], runtime);
    } finally {
      await wrapper.close();
    }
  }
});

test('serve: the policy key serve.reuseInstances: false and --no-reuse turn reuse off', async () => {
  const policy = join(mkdtempSync(join(tmpdir(), 'serve-reuse-')), 'policy.json');
  writeFileSync(policy, JSON.stringify({ serve: { reuseInstances: false } }));
  for (const flags of [['--policy', policy], ['--no-reuse']]) {
    const child = spawn(process.execPath, [CLI, 'serve', '--listen', '127.0.0.1:0', ...flags, FETCH_EVENT], { stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    try {
      const url = await new Promise<string>((resolve, reject) => {
        child.stderr.on('data', (d: Buffer) => {
          err += d;
          const m = /on (http:\/\/\S+)\/\n/.exec(err);
          if (m) resolve(m[1]);
        });
        child.once('exit', () => reject(new Error(`serve exited: ${err}`)));
      });
      assert.deepEqual(await statuses(url, 4), [200, 200, 200, 200], flags.join(' '));
    } finally {
      child.kill('SIGTERM');
    }
    assert.equal((await once(child, 'exit'))[0], 0);
    assert.doesNotMatch(err, /trapped/);
  }
});
