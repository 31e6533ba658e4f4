import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Capabilities, InvalidPolicy, ResourceLimits, loadPolicy, parsePolicy, parseDuration, parseSize } from '../../src/index.ts';

test('sizes and durations parse from numbers and unit strings', () => {
  assert.equal(parseSize(4096), 4096);
  assert.equal(parseSize('64MiB'), 64 * 1024 * 1024);
  assert.equal(parseSize('64 KiB'), 65536);
  assert.equal(parseSize('1GB'), 1e9);
  assert.equal(parseSize('1.5KiB'), 1536);
  assert.equal(parseDuration('500ms'), 500);
  assert.equal(parseDuration('2s'), 2000);
  assert.equal(parseDuration('1m'), 60000);
  assert.equal(parseDuration(250), 250);
  for (const bad of ['-1', 'lots', '64XB', '', -5, 1.5, Number.NaN, Infinity, {}]) {
    assert.throws(() => parseSize(bad), InvalidPolicy, `size ${String(bad)}`);
  }
  assert.throws(() => parseDuration('2 fortnights'), InvalidPolicy);
});

test('Capabilities.minimal grants nothing', () => {
  const c = Capabilities.minimal();
  assert.deepEqual(c.filesystem, []);
  assert.equal(c.network, 'none');
  assert.deepEqual(c.env, { inherit: [], set: {} });
  assert.deepEqual(c.args, []);
  assert.deepEqual(c.stdio, { stdin: 'null', stdout: 'null', stderr: 'null' });
  assert.equal(c.clock, 'none');
  assert.equal(c.random, 'none');
  assert.deepEqual(c.hostFunctions, []);
  assert.equal(c.exit, false);
  assert.ok(Object.isFrozen(c) && Object.isFrozen(c.stdio));
});

test('Capabilities presets and builders return new immutable objects', () => {
  const cli = Capabilities.cli();
  assert.equal(cli.stdio.stdout, 'inherit');
  assert.equal(cli.clock, 'real');
  assert.deepEqual(cli.filesystem, [], 'cli() still grants no files');
  const more = cli.withPreopen('./data', '/data', 'read').withEnv({ A: '1' }).withHostFunctions('env.log');
  assert.notEqual(more, cli);
  assert.equal(cli.filesystem.length, 0);
  assert.equal(more.filesystem[0].guestPath, '/data');
  assert.ok(more.filesystem[0].hostPath.startsWith('/'), 'host path made absolute');
  assert.equal(more.env.set.A, '1');
  assert.ok(more.allowsHostFunction('env', 'log'));
  assert.ok(!more.allowsHostFunction('env', 'other'));
  assert.ok(Capabilities.minimal().withHostFunctions('env.*').allowsHostFunction('env', 'anything'));
});

test('ResourceLimits default, unlimited and from()', () => {
  const d = ResourceLimits.default();
  assert.equal(d.memory.maxMemoryBytes, 256 * 1024 * 1024);
  assert.equal(d.maxPages, 4096);
  assert.equal(d.time.callTimeoutMs, 30000);
  const u = ResourceLimits.unlimited();
  assert.equal(u.maxPages, null);
  assert.equal(u.time.callTimeoutMs, null);
  const l = ResourceLimits.from({ memory: { maxMemoryBytes: '1MiB', maxMemoryPages: 10 }, time: { callTimeoutMs: '2s' }, io: { maxOutputBytes: '1KiB' } });
  assert.equal(l.maxPages, 10);
  assert.equal(l.time.callTimeoutMs, 2000);
  assert.equal(l.io.maxOutputBytes, 1024);
  assert.equal(l.io.maxFileDescriptors, 128, 'unspecified fields keep defaults');
  assert.equal(l.with({ cpu: { fuel: 5 } }).cpu.fuel, 5);
  assert.equal(l.with({ cpu: { fuel: 5 } }).maxPages, 10, 'with() keeps the other values');
});

test('bad policies name the path of the bad key', () => {
  const cases: [unknown, string][] = [
    [{ capabilities: { filesytem: [] } }, '/capabilities/filesytem'],
    [{ resourceLimits: { memory: { maxMemoryBytes: -1 } } }, '/resourceLimits/memory/maxMemoryBytes'],
    [{ resourceLimits: { memory: { maxMemoryBytes: '64 elephants' } } }, '/resourceLimits/memory/maxMemoryBytes'],
    [{ resourceLimits: { memory: { maxMemoryBytes: '1000TiB' } } }, '/resourceLimits/memory/maxMemoryBytes'],
    [{ resourceLimits: { time: { callTimeoutMs: '400d' } } }, '/resourceLimits/time/callTimeoutMs'],
    [{ resourceLimits: { time: { callTimeoutMs: 2 ** 40 } } }, '/resourceLimits/time/callTimeoutMs'],
    [{ resourceLimits: { io: { maxFileDescriptors: 'many' } } }, '/resourceLimits/io/maxFileDescriptors'],
    [{ capabilities: { network: 'everything' } }, '/capabilities/network'],
    [{ capabilities: { network: { allow: ['no-port'] } } }, '/capabilities/network/allow/0'],
    [{ capabilities: { filesystem: [{ hostPath: '/tmp', guestPath: '/t', mode: 'rw' }] } }, '/capabilities/filesystem/0/mode'],
    [{ capabilities: { filesystem: [{ hostPath: '/tmp', mode: 'read' }] } }, '/capabilities/filesystem/0'],
    [{ capabilities: { stdio: { stdout: 'file' } } }, '/capabilities/stdio/stdout'],
    [{ capabilities: { env: { set: { A: 1 } } } }, '/capabilities/env/set/A'],
    [{ unknownTop: 1 }, '/unknownTop'],
    [{ serve: { reuseInstances: 'no' } }, '/serve/reuseInstances'],
    [{ serve: { reuse: false } }, '/serve/reuse'],
    [[], ''],
  ];
  for (const [doc, path] of cases) {
    assert.throws(() => parsePolicy(doc), (err: unknown) => {
      assert.ok(err instanceof InvalidPolicy, `expected InvalidPolicy for ${JSON.stringify(doc)}, got ${String(err)}`);
      assert.equal(err.code, 'INVALID_POLICY');
      assert.equal(err.path, path, `path for ${JSON.stringify(doc)}: ${err.message}`);
      return true;
    });
  }
});

test('the serve section of a policy', () => {
  assert.deepEqual(parsePolicy({ serve: { reuseInstances: false } }).serve, { reuseInstances: false });
  assert.deepEqual(parsePolicy({}).serve, {});
});

test('policy files (JSON and YAML) load into the same objects as code', () => {
  const dir = mkdtempSync(join(tmpdir(), 'policy-'));
  const yamlFile = join(dir, 'p.yaml');
  writeFileSync(yamlFile, [
    'capabilities:',
    '  filesystem:',
    '    - { hostPath: ./data, guestPath: /data, mode: read }',
    '  env: { set: { GREETING: hi } }',
    '  clock: virtual',
    '  random: { seed: 7 }',
    'resourceLimits:',
    '  memory: { maxMemoryBytes: 64MiB }',
    '  time: { callTimeoutMs: 500ms }',
    '  cpu: { fuel: 1000000 }',
  ].join('\n'));
  const jsonFile = join(dir, 'p.json');
  writeFileSync(jsonFile, JSON.stringify({
    capabilities: { filesystem: [{ hostPath: './data', guestPath: '/data', mode: 'read' }], env: { set: { GREETING: 'hi' } }, clock: 'virtual', random: { seed: 7 } },
    resourceLimits: { memory: { maxMemoryBytes: 64 * 1024 * 1024 }, time: { callTimeoutMs: 500 }, cpu: { fuel: 1000000 } },
  }));
  const fromYaml = loadPolicy(yamlFile);
  const fromJson = loadPolicy(jsonFile);
  const fromCode = {
    capabilities: Capabilities.from({ filesystem: [{ hostPath: join(dir, 'data'), guestPath: '/data', mode: 'read' }], env: { set: { GREETING: 'hi' } }, clock: 'virtual', random: { seed: 7 } }),
    resourceLimits: ResourceLimits.from({ memory: { maxMemoryBytes: '64MiB' }, time: { callTimeoutMs: '500ms' }, cpu: { fuel: 1000000 } }),
  };
  assert.deepEqual(fromYaml.capabilities.toJSON(), fromCode.capabilities.toJSON());
  assert.deepEqual(fromJson.capabilities.toJSON(), fromCode.capabilities.toJSON());
  assert.deepEqual(fromYaml.resourceLimits.toJSON(), fromCode.resourceLimits.toJSON());
  assert.deepEqual(fromJson.resourceLimits.toJSON(), fromCode.resourceLimits.toJSON());
  assert.equal(fromYaml.capabilities.filesystem[0].hostPath, join(dir, 'data'), 'relative paths resolve against the policy file');
});

test('unreadable or unparsable policy files give InvalidPolicy', () => {
  const dir = mkdtempSync(join(tmpdir(), 'policy-'));
  assert.throws(() => loadPolicy(join(dir, 'missing.yaml')), InvalidPolicy);
  const broken = join(dir, 'broken.json');
  writeFileSync(broken, '{ "capabilities": ');
  assert.throws(() => loadPolicy(broken), InvalidPolicy);
  const brokenYaml = join(dir, 'broken.yaml');
  writeFileSync(brokenYaml, 'capabilities: [unclosed');
  assert.throws(() => loadPolicy(brokenYaml), InvalidPolicy);
});

test('a network grant may name the DNS servers for the guest, kept through copies and refused when malformed', () => {
  const caps = Capabilities.from({ network: { allow: ['api.example.com:443'], nameservers: ['127.0.0.1:5353', '[::1]:53', '10.0.0.53'] } });
  assert.deepEqual(caps.network, { allow: ['api.example.com:443'], nameservers: ['127.0.0.1:5353', '[::1]:53', '10.0.0.53'] });
  assert.deepEqual(Capabilities.from(caps.toJSON()).network, caps.network);
  assert.deepEqual(caps.with({ clock: 'virtual' }).network, caps.network);
  for (const bad of [['dns.example.com'], ['127.0.0.1:53 ; rm'], [53]]) {
    assert.throws(() => Capabilities.from({ network: { allow: [], nameservers: bad as string[] } }), (err: unknown) => err instanceof InvalidPolicy && /nameservers/.test(err.message), JSON.stringify(bad));
  }
});
