import { WorkerPool } from './src/runtime/worker/worker-pool.ts';
import { WorkerThread } from './src/runtime/worker/worker-thread.ts';
export const stats = { spawn: 0, kill: 0, acquireWaitMs: 0, acquireCold: 0 };
const p = WorkerPool.prototype as any;
const spawn = p.spawn;
p.spawn = function (l: any) { stats.spawn++; return spawn.call(this, l); };
const acq = p.acquire;
p.acquire = async function (l: any) { const t = performance.now(); const r = await acq.call(this, l); stats.acquireWaitMs += performance.now() - t; return r; };
const k = (WorkerThread.prototype as any).kill;
(WorkerThread.prototype as any).kill = function (r: any) { if (!this.dead) stats.kill++; return k.call(this, r); };
import { Conversation } from './src/runtime/worker/conversation.ts';
import { Channel } from './src/runtime/worker/channel.ts';
export const cmdTimes = new Map<number, number[]>();
const send = (Conversation.prototype as any).send;
(Conversation.prototype as any).send = async function (cmd: number, ...rest: any[]) {
  const t = performance.now();
  try { return await send.call(this, cmd, ...rest); } finally { let a = cmdTimes.get(cmd); if (!a) cmdTimes.set(cmd, a = []); a.push(performance.now() - t); }
};
export const turns = { pass: 0 };
const pass = Channel.prototype.pass;
Channel.prototype.pass = function (c: number) { turns.pass++; return pass.call(this, c); };
export function report(count: number) {
  const out: string[] = [`turns/cycle ${(turns.pass / count).toFixed(1)}`];
  for (const [cmd, a] of [...cmdTimes].sort()) { a.sort((x, y) => x - y); const q = (p: number) => a[Math.floor(p * (a.length - 1))].toFixed(2); out.push(`cmd${cmd} n=${a.length} p50=${q(0.5)} p90=${q(0.9)} p99=${q(0.99)} mean=${(a.reduce((x, y) => x + y, 0) / a.length).toFixed(2)}`); }
  cmdTimes.clear(); turns.pass = 0;
  console.log(out.join('\n'));
}
if (process.env.STAMP_AT_READY) {
  const acq2 = p.acquire;
  const settled = p.settled;
  p.acquire = async function (l: any) { const t = await acq2.call(this, l); settled.call(this, t); return t; };
  p.settled = function () {};
}
