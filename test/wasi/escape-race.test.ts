/**
 * Check-then-use races: while another thread keeps swapping a directory inside the preopen for a
 * symlink to outside, the guest keeps opening a path through it. The /proc/self/fd walk must never
 * hand out the outside file (the portable fallback has this documented residual race, so it is
 * only tested where /proc is used).
 */
import assert from 'node:assert/strict';
import { mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { Worker } from 'node:worker_threads';
import { ERRNO } from '../../src/wasi/errno.ts';
import { resolverMode } from '../../src/host/path-resolver.ts';
import { makeTree, SECRET } from './helpers.ts';
import { RawGuest } from './raw-guest.ts';

const FLIPPER = `
const { renameSync } = require('node:fs');
const { workerData, parentPort } = require('node:worker_threads');
const { box, stop } = workerData;
const flag = new Int32Array(stop);
let swaps = 0;
parentPort.postMessage('ready');
while (Atomics.load(flag, 0) === 0) {
  try {
    renameSync(box + '/flip', box + '/parked_dir');
    renameSync(box + '/parked_link', box + '/flip');
    renameSync(box + '/flip', box + '/parked_link');
    renameSync(box + '/parked_dir', box + '/flip');
    swaps++;
    Atomics.store(flag, 1, swaps);
  } catch {}
}
parentPort.postMessage(swaps);
`;

describe('concurrent symlink swapping', { skip: !resolverMode.useProcFd && 'needs /proc/self/fd' }, () => {
  it('never lets an open through a swapped component reach outside', async () => {
    const tree = makeTree();
    try {
      mkdirSync(join(tree.box, 'flip'));
      writeFileSync(join(tree.box, 'flip', 'secret.txt'), 'inside\n');
      symlinkSync('../outside', join(tree.box, 'parked_link'));
      const g = new RawGuest({ capabilities: { filesystem: [{ hostPath: tree.box, guestPath: '/box', mode: 'read-write' }] } });
      const stop = new SharedArrayBuffer(8);
      const worker = new Worker(FLIPPER, { eval: true, workerData: { box: tree.box, stop } });
      const messages: unknown[] = [];
      let heard: () => void = () => {};
      worker.on('message', (m) => { messages.push(m); heard(); });
      const nextMessage = async (): Promise<unknown> => {
        while (messages.length === 0) await new Promise<void>((resolve) => { heard = resolve; });
        return messages.shift();
      };
      assert.equal(await nextMessage(), 'ready');
      const counts = new Map<string, number>();
      // Counted, not timed: go on until both states were seen at least a few times over many opens,
      // however slowly a loaded machine runs the flipper; the time bound only keeps a broken run finite.
      const seen = (k: string): number => counts.get(k) ?? 0;
      const swapsSoFar = (): number => Atomics.load(new Int32Array(stop), 1);
      const enough = (opens: number): boolean => opens >= 2000 && swapsSoFar() > 10 && seen('inside') > 0 && seen(`errno ${ERRNO.PERM}`) > 0;
      const giveUp = performance.now() + 60_000;
      let opens = 0;
      try {
      while (!enough(opens) && performance.now() < giveUp) {
        opens += 2;
        for (const follow of [0, 1]) {
          g.reset();
          const [e, fd] = g.open(3, 'flip/secret.txt', { lookup: follow, base: 2n });
          let key = `errno ${e}`;
          if (e === 0) {
            const [, text] = g.read(fd, 64);
            g.call('fd_close', fd);
            assert.ok(!text.includes(SECRET), 'read the outside file through a swapped component');
            key = text.trim();
          }
          counts.set(key, (counts.get(key) ?? 0) + 1);
        }
      }
      } finally {
        Atomics.store(new Int32Array(stop), 0, 1);
      }
      const swaps = (await nextMessage()) as number;
      await worker.terminate();
      assert.ok(swaps > 10, `the flipper only managed ${swaps} swaps`);
      assert.ok((counts.get('inside') ?? 0) > 0, 'never saw the directory state');
      assert.ok((counts.get(`errno ${ERRNO.PERM}`) ?? 0) > 0, `never saw the symlink state: ${JSON.stringify([...counts])}`);
      for (const key of counts.keys()) assert.match(key, new RegExp(`^(inside|errno (${ERRNO.PERM}|${ERRNO.NOENT}|${ERRNO.NOTDIR}|${ERRNO.LOOP}))$`));
      g.host.close();
    } finally {
      tree.cleanup();
    }
  });
});
