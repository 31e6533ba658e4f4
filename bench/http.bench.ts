import { spawn } from 'node:child_process';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import autocannon from 'autocannon';
import { HttpServerWrapper } from '../src/wrappers/http/http-server-wrapper.ts';

const APP = fileURLToPath(new URL('../fixtures/http/wagi_app.wasm', import.meta.url));
const HELLO = fileURLToPath(new URL('../fixtures/components/http-hello.wasm', import.meta.url));
const STARLING = fileURLToPath(new URL('../fixtures/components/http-proxy.wasm', import.meta.url));
const JCO = fileURLToPath(new URL('../node_modules/@bytecodealliance/jco/dist/jco.js', import.meta.url));
const DURATION_S = Number(process.env.HTTP_BENCH_SECONDS ?? 10);

interface Load { rps: number; p99: number; errors: number; non2xx: number }

async function load(url: string): Promise<Load> {
  const r = await autocannon({ url, connections: 10, duration: DURATION_S });
  return { rps: r.requests.average, p99: r.latency.p99, errors: r.errors + r.timeouts, non2xx: r.non2xx };
}

function row(what: string, ours: Load, base: Load, goal: string, meets: boolean): string {
  return `| ${what} | ${ours.rps.toFixed(0)} req/s, p99 ${ours.p99} ms (${ours.errors + ours.non2xx} failed) | ${base.rps.toFixed(0)} req/s, p99 ${base.p99} ms | ${(ours.rps / base.rps).toFixed(2)}× | ${goal}${goal.startsWith('(') ? '' : meets ? ' ✓' : ' ✗'} |`;
}

/** `jco serve` on a component, in its own process; undefined if it does not come up. */
async function jcoServe(component: string): Promise<Load | undefined> {
  const port = 18000 + Math.floor(Math.random() * 1000);
  // jco serve runs the server in a child of its own: start it as a process group so that both end together.
  const child = spawn(process.execPath, [JCO, 'serve', '--port', String(port), component], { stdio: 'ignore', detached: true });
  try {
    const url = `http://localhost:${port}/hello`;
    const deadline = Date.now() + 120_000;
    for (;;) {
      try {
        await (await fetch(url)).text();
        break;
      } catch {
        if (Date.now() > deadline) return undefined;
        await new Promise((r) => setTimeout(r, 500));
      }
    }
    return await load(url);
  } finally {
    try {
      process.kill(-child.pid!, 'SIGTERM');
    } catch {
      child.kill();
    }
  }
}

export default async function httpBench(): Promise<void> {
  // Baseline: plain node:http answering the same body on the same machine, in the same run.
  const plain = createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'text/plain' });
    res.end('Hello, world!\n');
  });
  await new Promise<void>((r) => plain.listen(0, '127.0.0.1', r));
  const plainLoad = await load(`http://127.0.0.1:${(plain.address() as AddressInfo).port}/hello`);
  plain.close();

  const rows: string[] = [];
  for (const runtime of ['inprocess', 'worker'] as const) {
    const wrapper = new HttpServerWrapper();
    const id = await wrapper.startServer({ path: APP, runtime, pool: { maxConcurrency: 64, maxInstances: 12 } });
    const ours = await load(`${wrapper.address(id).url}/hello`);
    await wrapper.close();
    // In-process every request gets a recycled instance reset to its state after instantiation; on
    // worker threads a new one.
    const what = runtime === 'inprocess' ? 'pristine (recycled) instance per request' : 'fresh instance per request';
    rows.push(row(`WAGI hello (C), ${runtime} runtime, ${what}`, ours, plainLoad, runtime === 'inprocess' ? '≥ 0.3×' : '(informational)', ours.rps / plainLoad.rps >= 0.3));
  }
  // Each wasi:http component behind our server (default: worker threads; and in-process) and behind
  // `jco serve`. The WAT hello has no guest runtime, so it measures the server itself; the
  // StarlingMonkey one is informational.
  const components = [
    { path: HELLO, what: 'wasi:http component hello (WAT)', goals: true },
    // The JavaScript engine reads the clock as it starts, so it needs the grant.
    { path: STARLING, what: 'wasi:http component (JS, StarlingMonkey)', goals: false, capabilities: { clock: 'real' as const } },
  ];
  for (const c of components) {
    const serve = async (runtime: 'worker' | 'inprocess'): Promise<Load> => {
      const wrapper = new HttpServerWrapper();
      const cid = await wrapper.startServer({ path: c.path, runtime, pool: { maxConcurrency: 64, maxInstances: 4 }, ...('capabilities' in c && { capabilities: c.capabilities }) });
      // The warm worker threads start (and instantiate) in the background: let them, then warm up.
      if (runtime === 'worker') await new Promise((resolve) => setTimeout(resolve, 1500));
      for (let i = 0; i < 8; i++) await fetch(`${wrapper.address(cid).url}/hello`).then((r) => r.text());
      const result = await load(`${wrapper.address(cid).url}/hello`);
      await wrapper.close();
      return result;
    };
    const ours = await serve('worker');
    const vsPlain = ours.rps / plainLoad.rps;
    rows.push(row(`${c.what}, worker threads (default), instance reused`, ours, plainLoad, c.goals ? '≥ 0.5×' : '(informational)', !c.goals || vsPlain >= 0.5));
    const inprocess = await serve('inprocess');
    rows.push(row(`same component, runtime inprocess`, inprocess, plainLoad, '(informational)', true));
    const jco = await jcoServe(c.path);
    if (jco) {
      const vsJco = ours.rps / jco.rps;
      rows.push(`| same component (worker threads): ours vs \`jco serve\` | ${ours.rps.toFixed(0)} req/s, p99 ${ours.p99} ms | jco serve: ${jco.rps.toFixed(0)} req/s, p99 ${jco.p99} ms (${jco.errors + jco.non2xx} failed) | ${vsJco.toFixed(2)}× | ${c.goals ? `≥ 5× ${vsJco >= 5 ? '✓' : '✗'}` : '(informational)'} |`);
    }
  }

  // Soak: a long run against one server per kind of guest; errors must stay at zero and memory must
  // level off (RSS covers the worker threads too). Each V8 heap (the server's, every worker
  // thread's) first grows to its working size, which takes a few seconds of this load; growth is
  // judged from SETTLE_S into the soak to its end, and the RSS at its start is shown beside.
  const soakSeconds = Number(process.env.HTTP_SOAK_SECONDS ?? 60);
  const SETTLE_S = 15;
  const soaks = [
    { what: 'WAGI hello, inprocess', path: APP, runtime: 'inprocess' as const },
    { what: 'wasi:http hello component, worker threads', path: HELLO, runtime: 'worker' as const },
  ];
  for (const c of soakSeconds > 0 ? soaks : []) {
    const wrapper = new HttpServerWrapper();
    const id = await wrapper.startServer({ path: c.path, runtime: c.runtime, pool: { maxConcurrency: 64 } });
    const url = `${wrapper.address(id).url}/hello`;
    await autocannon({ url, connections: 10, duration: 5 });
    const rssStart = process.memoryUsage().rss;
    const settle = Math.min(SETTLE_S, soakSeconds / 4);
    let rssSettled = rssStart;
    const settled = setTimeout(() => (rssSettled = process.memoryUsage().rss), settle * 1000);
    const soak = await autocannon({ url, connections: 10, duration: soakSeconds });
    clearTimeout(settled);
    const rssAfter = process.memoryUsage().rss;
    await wrapper.close();
    const growth = (rssAfter - rssSettled) / rssSettled;
    const failed = soak.errors + soak.timeouts + soak.non2xx;
    const mib = (n: number) => (n / 1048576).toFixed(0);
    rows.push(`| soak: ${soakSeconds} s of ${c.what} | ${soak.requests.total} requests, ${failed} failed; RSS ${mib(rssStart)} at the start, ${mib(rssSettled)} after ${settle} s → ${mib(rssAfter)} MiB at the end (${(growth * 100).toFixed(1)}%) | | | 0 errors, RSS growth < 10% ${failed === 0 && growth < 0.1 ? '✓' : '✗'} |`);
  }
  console.log(`\n## HTTP (autocannon, 10 connections, ${DURATION_S} s, loopback)`);
  console.log('| what | ours | plain node:http | ratio | goal |');
  console.log('|---|---|---|---|---|');
  for (const r of rows) console.log(r);
}
