/**
 * Filesystem grants need race-free path resolution (Linux, /proc/self/fd); elsewhere they are
 * refused unless the grant opts into the weaker resolver by name. Simulated here by switching the
 * resolver to its portable mode, as a platform without /proc would have it.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Capabilities, ResourceLimits, SecurityViolation } from '../../src/index.ts';
import { resolverMode } from '../../src/host/path-resolver.ts';
import { WasiHost } from '../../src/wasi/wasi-host.ts';
import { load, runtime } from '../component/helpers.ts';

function withoutProcFd<T>(fn: () => T): T {
  const saved = resolverMode.useProcFd;
  resolverMode.useProcFd = false;
  try {
    return fn();
  } finally {
    resolverMode.useProcFd = saved;
  }
}

test('without race-free resolution a filesystem grant is refused through both ABIs, unless opted into by name', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'platform-'));
  try {
    const grant = Capabilities.minimal().withPreopen(dir, '/data', 'read');
    const refused = (e: unknown) => e instanceof SecurityViolation && e.capability === 'filesystem' && /allowRacyResolution/.test(e.detail);
    withoutProcFd(() => {
      assert.throws(() => new WasiHost({ capabilities: grant, resourceLimits: ResourceLimits.default() }), refused);
      new WasiHost({ capabilities: grant.with({ allowRacyResolution: true }), resourceLimits: ResourceLimits.default() }).close();
      // No filesystem grant, nothing to refuse.
      new WasiHost({ capabilities: Capabilities.minimal(), resourceLimits: ResourceLimits.default() }).close();
    });
    const rt = await runtime();
    const component = await load('fs-cli');
    const saved = resolverMode.useProcFd;
    resolverMode.useProcFd = false;
    try {
      await assert.rejects(rt.instantiate(component, { capabilities: grant }), refused);
      const opted = await rt.instantiate(component, { capabilities: grant.with({ allowRacyResolution: true }) });
      opted.close();
    } finally {
      resolverMode.useProcFd = saved;
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('allowRacyResolution is part of the policy schema', () => {
  assert.equal(Capabilities.from({ allowRacyResolution: true }).allowRacyResolution, true);
  assert.equal(Capabilities.minimal().allowRacyResolution, false);
  assert.throws(() => Capabilities.from({ allowRacyResolution: 'yes' as never }), /allowRacyResolution/);
});
