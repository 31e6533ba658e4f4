/** The edits to jco's generated glue that make its string decoding strict. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { transformGlue } from '../../src/component/glue-transform.ts';

test('jco\'s UTF-8 and UTF-16 decoders are made fatal and keep a leading U+FEFF', () => {
  const glue = "const TEXT_DECODER_UTF8 = new TextDecoder();\nconst utf16Decoder = new TextDecoder('utf-16');\n";
  const { source, applied } = transformGlue(glue);
  assert.ok(applied.includes('strict-utf8') && applied.includes('strict-utf16'), applied.join(', '));
  const decoders = new Function(`${source}; return [TEXT_DECODER_UTF8, utf16Decoder];`)() as TextDecoder[];
  for (const d of decoders) {
    assert.equal(d.fatal, true);
    assert.equal(d.ignoreBOM, true);
  }
  assert.throws(() => decoders[0].decode(Uint8Array.of(0x61, 0xff)), TypeError);
  assert.equal(decoders[0].decode(Uint8Array.of(0xef, 0xbb, 0xbf, 0x61)), '\uFEFFa');
  // An unpaired high surrogate, little-endian.
  assert.throws(() => decoders[1].decode(Uint8Array.of(0x00, 0xd8, 0x61, 0x00)), TypeError);
});
