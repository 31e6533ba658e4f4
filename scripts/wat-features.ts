/**
 * Every post-MVP feature a WAT fixture may use, for wabt's parser and validator; the fixture builder and
 * the tests that compile WAT in memory share it so that both accept the same text.
 */
export const WAT_FEATURES = {
  exceptions: true,
  mutable_globals: true,
  sat_float_to_int: true,
  sign_extension: true,
  simd: true,
  threads: true,
  function_references: false,
  multi_value: true,
  tail_call: true,
  bulk_memory: true,
  reference_types: true,
  memory64: true,
  multi_memory: true,
  extended_const: true,
  relaxed_simd: true,
};
