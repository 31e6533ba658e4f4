/**
 * What `inspect` says of a component is what loading and instantiating it do: the verdicts come from
 * the functions that enforce them, and each is checked here against a real run.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Capabilities, InvalidModule, SecurityViolation } from '../../src/index.ts';
import { componentRequirements } from '../../src/component/component-requirements.ts';
import { decodeComponent } from '../../src/component/wit/decode-component.ts';
import { fixturePath, load, runtime } from './helpers.ts';

const CLI = fileURLToPath(new URL('../../src/cli/main.ts', import.meta.url));
const verdicts = (name: string, caps: Capabilities) => componentRequirements(decodeComponent(readFileSync(fixturePath(name))), caps);

test('unserved WASI 0.3 functions: inspect says loading will fail, and loading does fail', async () => {
  const unmet = verdicts('p3-unserved', Capabilities.minimal());
  assert.deepEqual(unmet.map((u) => u.capability), ['wasi-0.3']);
  const rt = await runtime();
  await assert.rejects(rt.createComponentModuleFromFile(fixturePath('p3-unserved')), InvalidModule);
  assert.deepEqual(verdicts('p3-cli', Capabilities.minimal()), [], 'a 0.3 command whose imports are served loads');
  await rt.createComponentModuleFromFile(fixturePath('p3-cli'));
  const out = spawnSync(process.execPath, [CLI, 'inspect', fixturePath('p3-unserved')], { encoding: 'utf8' });
  assert.equal(out.status, 0, out.stderr);
  assert.match(out.stdout, /wasi-0\.3: loading will fail/);
});

test('an import the embedder gives: inspect asks for the grant exactly when instantiation refuses it', async () => {
  const rt = await runtime();
  const js = { get: () => undefined, set: () => {} };
  for (const caps of [
    Capabilities.minimal(),
    Capabilities.minimal().withHostFunctions('example:kv/store.get'),
    Capabilities.minimal().withHostFunctions('example:kv/store.get', 'example:kv/store.set'),
    Capabilities.minimal().withHostFunctions('example:kv/store.*'),
  ]) {
    const listed = verdicts('kv-consumer', caps).some((u) => u.capability === 'hostFunctions');
    const run = rt.instantiate(await load('kv-consumer'), { capabilities: caps, imports: { 'example:kv/store': js } });
    if (listed) await assert.rejects(run, SecurityViolation, JSON.stringify(caps.toJSON()));
    else assert.equal((await run).usable, true);
  }
});
