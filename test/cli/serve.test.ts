import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';

const CLI = fileURLToPath(new URL('../../src/cli/main.ts', import.meta.url));
const APP = fileURLToPath(new URL('../../fixtures/http/wagi_app.wasm', import.meta.url));

test('serve: answers over HTTP, logs JSON lines, stops on SIGTERM', async () => {
  const child = spawn(process.execPath, [CLI, 'serve', '--listen', '127.0.0.1:0', '--timeout', '300ms', APP], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout.on('data', (d: Buffer) => (out += d));
  // The address is announced on stderr: stdout is the access log's alone.
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`no address announced: ${err}`));
    }, 20_000);
    child.stderr.on('data', (d: Buffer) => {
      err += d;
      const m = /on (http:\/\/\S+)\/\n/.exec(err);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]);
      }
    });
  });
  try {
    const hello = await fetch(`${url}/hello`);
    assert.equal(hello.status, 200);
    assert.equal(await hello.text(), 'Hello, world!\n');
    assert.equal((await fetch(`${url}/loop`)).status, 504);
    assert.equal((await fetch(`${url}/trap`)).status, 500);
  } finally {
    child.kill('SIGTERM');
  }
  const [code] = await once(child, 'exit');
  assert.equal(code, 0);
  const log = out.split('\n').filter((l) => l !== '').map((l) => JSON.parse(l));
  assert.deepEqual(log.map((l) => [l.path, l.status, l.outcome]), [['/hello', 200, 'ok'], ['/loop', 504, 'timeout'], ['/trap', 500, 'trap']]);
});

test('serve: usage errors', async () => {
  for (const args of [['serve'], ['serve', '--listen', 'nowhere', APP], ['serve', '--workers', 'x', APP]]) {
    const child = spawn(process.execPath, [CLI, ...args], { stdio: 'ignore' });
    const [code] = await once(child, 'exit');
    assert.equal(code, 2, args.join(' '));
  }
});
