/**
 * What a component would need that this host or a policy does not give it, for `inspect`: each verdict
 * comes from the function that enforces it (the load-time refusal of unserved WASI 0.3 functions, the
 * host-function grant of imports an embedder supplies), so `inspect` cannot contradict a real run.
 */
import { SecurityViolation } from '../errors.ts';
import type { Capabilities } from '../security/capabilities.ts';
import type { Requirement } from '../security/requirements.ts';
import { requireImportGranted } from './import-resolver.ts';
import { unservedPreview3 } from './wasi/preview3.ts';
import type { DecodedComponent } from './wit/decode-component.ts';

export function componentRequirements(decoded: DecodedComponent, caps: Capabilities): Requirement[] {
  const out: Requirement[] = [];
  const unserved = unservedPreview3(decoded.imports);
  if (unserved.length > 0) out.push({ capability: 'wasi-0.3', imports: unserved, detail: 'loading will fail: this version does not serve these WASI 0.3 functions' });
  const ungranted: string[] = [];
  for (const [name, item] of decoded.imports) {
    // wasi:* imports are the sandbox's own host, decided call by call like a core module's WASI imports.
    if (name.startsWith('wasi:')) continue;
    try {
      requireImportGranted(caps, name, item);
    } catch (err) {
      if (!(err instanceof SecurityViolation)) throw err;
      ungranted.push(name);
    }
  }
  if (ungranted.length > 0) out.push({ capability: 'hostFunctions', imports: ungranted, detail: 'instantiation will fail: an import the embedder gives needs a host-function grant' });
  return out;
}
