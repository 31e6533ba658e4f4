/**
 * Every post-MVP feature a WAT fixture may use, for wabt's parser and validator; the fixture builder,
 * the tests that compile WAT in memory and `wasm-sandbox run x.wat` share it so that all accept the same text.
 */
export { WAT_FEATURES } from '../src/module/wat.ts';
