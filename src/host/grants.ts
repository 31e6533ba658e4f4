/**
 * The grant decisions that are not about one resource (those live beside the resource: files in
 * `filesystem.ts`, clocks in `clock.ts`, randomness in `random.ts`, the network in `network.ts`):
 * whether a capability is granted at all, the environment and arguments a guest sees, whether it may
 * exit, and which host functions it may import. The runtime enforces with these functions and
 * `inspect` reports with them, so the two cannot disagree.
 */
import { SecurityViolation } from '../errors.ts';
import type { Capabilities } from '../security/capabilities.ts';

export type GrantKind = 'filesystem' | 'network' | 'clock' | 'random' | 'env' | 'args' | 'exit' | 'stdin' | 'stdout' | 'stderr';

/** Whether the grant gives the guest any use of `kind`. */
export function isGranted(kind: GrantKind, caps: Capabilities): boolean {
  switch (kind) {
    case 'filesystem': return caps.filesystem.length > 0;
    case 'network': return caps.network !== 'none';
    case 'clock': return caps.clock !== 'none';
    case 'random': return caps.random !== 'none';
    case 'env': return caps.env.inherit.length > 0 || Object.keys(caps.env.set).length > 0;
    // Arguments are always the grant's own list (possibly empty), never the host's.
    case 'args': return true;
    case 'exit': return caps.exit;
    case 'stdin': return caps.stdio.stdin !== 'null';
    case 'stdout': return caps.stdio.stdout !== 'null';
    case 'stderr': return caps.stdio.stderr !== 'null';
  }
}

/** The environment a grant gives: inherited names that exist on the host, overlaid by `set`. */
export function grantedEnvironment(caps: Capabilities): [string, string][] {
  const env = new Map<string, string>();
  for (const name of caps.env.inherit) {
    const value = process.env[name];
    if (value !== undefined) env.set(name, value);
  }
  for (const [name, value] of Object.entries(caps.env.set)) env.set(name, value);
  return [...env];
}

/** argv as the guest sees it: the program name, then the granted arguments. */
export function grantedArguments(caps: Capabilities, programName: string): string[] {
  return [programName, ...caps.args];
}

/**
 * A guest asked to end itself with `code`. With `exit` granted the code is the run's result;
 * without it the guest is stopped with SecurityViolation('exit'), so a guest cannot choose how its
 * embedder sees it finish unless it was allowed to.
 */
export function exitCode(caps: Capabilities, code: number): number {
  if (isGranted('exit', caps)) return code;
  throw new SecurityViolation('exit', `the guest asked to exit with code ${code}, and exit is not granted`);
}

/**
 * Refuses a host function the grant does not list (`module.name` or `module.*`). Used for core
 * module imports and for imports an embedder supplies to a component alike.
 */
export function requireHostFunction(caps: Capabilities, module: string, name: string): void {
  if (caps.allowsHostFunction(module, name)) return;
  throw new SecurityViolation('hostFunctions', `host function '${module}.${name}' is not allowed by the capabilities (grant it with hostFunctions: ['${module}.${name}'])`);
}
