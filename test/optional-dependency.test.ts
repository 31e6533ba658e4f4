import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MissingDependency } from '../src/errors.ts';
import { importOptional, requireOptional } from '../src/optional-dependency.ts';

function notFound(message: string, code = 'ERR_MODULE_NOT_FOUND'): Error {
  return Object.assign(new Error(message), { code });
}

test('a missing optional package becomes a MissingDependency naming every package of its feature', async () => {
  await assert.rejects(importOptional(() => Promise.reject(notFound("Cannot find package '@modelcontextprotocol/sdk' imported from /x/mcp.js"))), (err: unknown) => {
    assert.ok(err instanceof MissingDependency);
    assert.equal(err.code, 'MISSING_DEPENDENCY');
    assert.equal(err.packageName, '@modelcontextprotocol/sdk');
    assert.equal(err.feature, 'MCP servers');
    assert.deepEqual(err.install, ['@modelcontextprotocol/sdk', 'ajv']);
    assert.match(err.message, /npm install @modelcontextprotocol\/sdk ajv$/);
    return true;
  });
  assert.throws(() => requireOptional(() => { throw notFound("Cannot find module '@bytecodealliance/jco-transpile'", 'MODULE_NOT_FOUND'); }), (err: unknown) => {
    assert.ok(err instanceof MissingDependency);
    assert.deepEqual([err.packageName, err.feature], ['@bytecodealliance/jco-transpile', 'components']);
    return true;
  });
});

test('any other failure passes through unchanged', async () => {
  // A real missing module of our own, and a missing package that is not optional.
  const missing = new URL('./does-not-exist.js', import.meta.url).href;
  const own = await import(missing).catch((err: unknown) => err);
  await assert.rejects(importOptional(() => import(missing)), (err: unknown) => {
    assert.ok(!(err instanceof MissingDependency));
    assert.equal((err as Error).message, (own as Error).message);
    return true;
  });
  const other = notFound("Cannot find package 'left-pad' imported from /x.js");
  await assert.rejects(importOptional(() => Promise.reject(other)), (err: unknown) => err === other);
  const broken = new SyntaxError("Unexpected token in '@bytecodealliance/jco-transpile'");
  await assert.rejects(importOptional(() => Promise.reject(broken)), (err: unknown) => err === broken);
  // A present optional package loads as usual.
  const jco = await importOptional(() => import('@bytecodealliance/jco-transpile'));
  assert.equal(typeof jco.transpileBytes, 'function');
});
