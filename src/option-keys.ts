/**
 * Every options object the public API takes is checked here for keys it does not know: a misspelt
 * option (`{ runtme: 'worker' }`) would otherwise be silently ignored and the default used instead.
 */
import { InvalidArguments } from './errors.ts';

/**
 * Every key of an options interface, each `true`. Typed against the interface, so adding an option
 * without listing it here (or listing one that does not exist) fails to compile.
 */
export type OptionKeys<T> = { readonly [K in keyof Required<T>]: true };

/** `what` names the options in the message, e.g. `WasmSandbox.create options`. */
export function checkOptionKeys<T>(what: string, value: unknown, keys: OptionKeys<T>): void {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) throw new InvalidArguments(`${what} must be an object`);
  for (const key of Object.keys(value)) {
    if (!Object.hasOwn(keys, key)) throw new InvalidArguments(`${what}: unknown key '${key}'; expected one of ${Object.keys(keys).join(', ')}`);
  }
}
