import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { addressScope, canonicalIp, isLoopback, parseIp } from '../../src/host/addresses.ts';
import { checkNetwork, type NetworkRequest } from '../../src/host/network.ts';
import type { NetworkPolicy } from '../../src/security/capabilities.ts';

const allowed = (policy: NetworkPolicy, request: NetworkRequest): boolean => checkNetwork(policy, request).allowed;

describe('addresses', () => {
  it('classifies every non-public range, IPv4-mapped and embedded forms included', () => {
    const cases: [string, string][] = [
      ['127.0.0.1', 'loopback'], ['127.255.0.9', 'loopback'], ['::1', 'loopback'], ['0:0:0:0:0:0:0:1', 'loopback'],
      ['::ffff:127.0.0.1', 'loopback'], ['::ffff:7f00:1', 'loopback'], ['[::ffff:127.0.0.1]', 'loopback'],
      ['10.0.0.1', 'private'], ['172.16.0.1', 'private'], ['172.31.255.255', 'private'], ['192.168.1.1', 'private'],
      ['100.64.0.1', 'private'], ['::ffff:10.1.2.3', 'private'], ['64:ff9b::10.0.0.1', 'private'], ['2002:a00:1::', 'private'],
      ['169.254.169.254', 'link-local'], ['fe80::1', 'link-local'], ['fe80::1%eth0', 'link-local'], ['::ffff:169.254.169.254', 'link-local'],
      ['fc00::1', 'unique-local'], ['fd12:3456::1', 'unique-local'],
      ['0.0.0.0', 'unspecified'], ['::', 'unspecified'], ['::ffff:0.0.0.0', 'unspecified'],
      ['224.0.0.1', 'multicast'], ['ff02::1', 'multicast'],
      ['0.1.2.3', 'reserved'], ['240.0.0.1', 'reserved'], ['192.0.2.1', 'reserved'], ['2001:db8::1', 'reserved'], ['::127.0.0.1', 'reserved'],
      ['93.184.216.34', 'public'], ['172.32.0.1', 'public'], ['2606:4700::1111', 'public'], ['::ffff:8.8.8.8', 'public'],
    ];
    for (const [text, scope] of cases) assert.equal(addressScope(text), scope, text);
  });

  it('parses only strict literals: no octal, hex or short IPv4 forms, no stray IPv6 groups', () => {
    for (const bad of ['0x7f.0.0.1', '0177.0.0.1', '127.1', '2130706433', '127.0.0.01', '256.0.0.1', '1::2::3', '1:2:3:4:5:6:7:8:9', 'localhost', '']) {
      assert.equal(parseIp(bad), undefined, bad);
    }
    assert.equal(canonicalIp('::ffff:127.0.0.1'), '127.0.0.1');
    assert.equal(canonicalIp('0:0:0:0:0:0:0:1'), '::1');
    assert.equal(canonicalIp('[2001:DB8:0:0:1:0:0:1]'), '2001:db8::1:0:0:1');
  });

  it('has one answer for loopback, for the network policy and the HTTP wrappers alike', () => {
    for (const host of ['localhost', 'LOCALHOST.', 'app.localhost', '127.0.0.1', '127.9.9.9', '::1', '[::1]', '::ffff:127.0.0.1', '::ffff:7f00:1']) {
      assert.equal(isLoopback(host), true, host);
    }
    for (const host of ['localhost.attacker.example', 'example.com', '10.0.0.1', '0.0.0.0', '::', '::ffff:10.0.0.1']) assert.equal(isLoopback(host), false, host);
  });
});

describe('checkNetwork', () => {
  it('denies by default and grants everything only when unrestricted', () => {
    for (const use of ['connect', 'bind', 'listen', 'accept', 'send-to', 'receive-from', 'http'] as const) {
      assert.equal(allowed('none', { use, address: '127.0.0.1', port: 80 }), false, use);
      assert.equal(allowed({ allow: [] }, { use, address: '127.0.0.1', port: 80 }), false, use);
      assert.equal(allowed('unrestricted', { use, address: '10.0.0.1', port: 80 }), true, use);
    }
    assert.equal(allowed('none', { use: 'lookup', name: 'localhost' }), false);
  });

  it("'loopback' grants loopback addresses in every spelling, and looking up localhost", () => {
    for (const address of ['127.0.0.1', '::1', '::ffff:127.0.0.1', '127.0.0.2']) assert.equal(allowed('loopback', { use: 'connect', address, port: 1 }), true, address);
    for (const address of ['10.0.0.1', '0.0.0.0', '::', '::ffff:10.0.0.1', '93.184.216.34']) assert.equal(allowed('loopback', { use: 'connect', address, port: 1 }), false, address);
    assert.equal(allowed('loopback', { use: 'lookup', name: 'localhost' }), true);
    assert.equal(allowed('loopback', { use: 'lookup', name: 'localhost.attacker.example' }), false);
    assert.equal(allowed('loopback', { use: 'lookup', name: 'example.com' }), false);
    // A use is of an address: a name here would be resolved again by someone else.
    assert.equal(allowed('loopback', { use: 'connect', address: 'localhost', port: 1 }), false);
  });

  it("grants a name's public answers only; loopback, private, link-local and unique-local answers need a literal grant", () => {
    const policy = { allow: ['db.example.com:5432', '*.cdn.example:443'] };
    const via = (address: string, port = 5432, names = ['db.example.com']) => allowed(policy, { use: 'connect', address, port, names });
    assert.equal(allowed(policy, { use: 'lookup', name: 'db.example.com' }), true);
    assert.equal(allowed(policy, { use: 'lookup', name: 'DB.Example.com.' }), true);
    assert.equal(allowed(policy, { use: 'lookup', name: 'other.example.com' }), false);
    assert.equal(via('93.184.216.34'), true, 'a public answer');
    assert.equal(via('2606:4700::1111'), true, 'a public IPv6 answer');
    for (const address of ['127.0.0.1', '10.0.0.1', '172.16.5.4', '192.168.0.1', '169.254.169.254', 'fe80::1', 'fc00::1', '::ffff:127.0.0.1', '::ffff:10.0.0.1', '0.0.0.0', '::', '64:ff9b::a00:1']) {
      assert.equal(via(address), false, address);
    }
    assert.equal(via('93.184.216.34', 5433), false, 'the entry names its port');
    assert.equal(via('93.184.216.34', 5432, []), false, 'an address alone is not the name');
    assert.equal(via('93.184.216.34', 5432, ['evil.example']), false);
    assert.equal(allowed(policy, { use: 'http', address: '93.184.216.34', port: 443, names: ['img.cdn.example'] }), true);
    assert.equal(allowed(policy, { use: 'http', address: '10.0.0.1', port: 443, names: ['img.cdn.example'] }), false);
    assert.equal(allowed(policy, { use: 'http', address: '93.184.216.34', port: 443, names: ['cdn.example'] }), false, '*. means subdomains only');
    // Granted literally, the same addresses are reachable.
    const literal = { allow: ['db.example.com:5432', '127.0.0.1:5432', '10.0.0.1:*'] };
    assert.equal(allowed(literal, { use: 'connect', address: '127.0.0.1', port: 5432, names: ['db.example.com'] }), true);
    assert.equal(allowed(literal, { use: 'connect', address: '::ffff:127.0.0.1', port: 5432 }), true, 'the mapped form is the same address');
    assert.equal(allowed(literal, { use: 'connect', address: '10.0.0.1', port: 9 }), true);
    assert.equal(allowed(literal, { use: 'connect', address: '127.0.0.1', port: 5433 }), false);
  });

  it('lets localhost in an allow list grant its loopback answers, not loopback addresses by themselves', () => {
    const policy = { allow: ['localhost:8080'] };
    assert.equal(allowed(policy, { use: 'http', address: '127.0.0.1', port: 8080, names: ['localhost'] }), true);
    assert.equal(allowed(policy, { use: 'http', address: '::1', port: 8080, names: ['localhost'] }), true);
    assert.equal(allowed(policy, { use: 'http', address: '10.0.0.1', port: 8080, names: ['localhost'] }), false, 'a hosts file pointing localhost elsewhere');
    assert.equal(allowed(policy, { use: 'connect', address: '127.0.0.1', port: 8080 }), false);
  });

  it('checks name lookups with an optional port, and address literals as addresses', () => {
    const policy = { allow: ['api.example.com:443', '10.1.2.3:80'] };
    assert.equal(allowed(policy, { use: 'lookup', name: 'api.example.com', port: 443 }), true);
    assert.equal(allowed(policy, { use: 'lookup', name: 'api.example.com', port: 80 }), false);
    assert.equal(allowed(policy, { use: 'lookup', name: '10.1.2.3' }), true);
    assert.equal(allowed(policy, { use: 'lookup', name: '10.1.2.4' }), false);
  });

  it('admits a peer whose address the grant covers on any port, or every peer under a literal unspecified address', () => {
    const local = { allow: ['127.0.0.1:8080'] };
    assert.equal(allowed(local, { use: 'accept', address: '127.0.0.1', port: 50123 }), true);
    assert.equal(allowed(local, { use: 'accept', address: '127.0.0.2', port: 50123 }), false);
    assert.equal(allowed(local, { use: 'connect', address: '127.0.0.1', port: 50123 }), false, 'a connection is to a port');
    assert.equal(allowed('loopback', { use: 'receive-from', address: '10.0.0.1', port: 53 }), false);
    const everyone = { allow: ['0.0.0.0:8080'] };
    assert.equal(allowed(everyone, { use: 'accept', address: '203.0.113.9', port: 40000 }), true);
    assert.equal(allowed(everyone, { use: 'connect', address: '203.0.113.9', port: 8080 }), false);
  });

  it('names the use, the address and where it came from in a refusal', () => {
    const verdict = checkNetwork({ allow: ['db.example.com:5432'] }, { use: 'connect', address: '10.0.0.1', port: 5432, names: ['db.example.com'] });
    assert.equal(verdict.allowed, false);
    assert.match(!verdict.allowed ? verdict.detail : '', /connecting to 10\.0\.0\.1:5432 \(resolved from 'db\.example\.com'; a private address is granted only literally\)/);
    const v6 = checkNetwork('none', { use: 'bind', address: '::1', port: 0 });
    assert.match(!v6.allowed ? v6.detail : '', /binding to \[::1\]:0/);
  });
});
