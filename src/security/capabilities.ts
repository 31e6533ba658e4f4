import { resolve } from 'node:path';
import { validatePolicySection } from './policy-validator.ts';

export type FilesystemMode = 'read' | 'read-write';
export interface Preopen {
  /** Directory on the host; stored absolute. */
  readonly hostPath: string;
  /** Name the guest sees, e.g. `/data` or `.`. */
  readonly guestPath: string;
  readonly mode: FilesystemMode;
}

/**
 * What the guest may reach; decided by src/host/network.ts. `allow` holds `host:port` entries
 * (`*.example.com:443` matches subdomains, `host:*` any port); a name grants only its public
 * addresses, an address literal grants that address. `nameservers` (`IP` or `IP:port`) answer the
 * guest's name lookups instead of the system resolver.
 */
export type NetworkPolicy = 'none' | 'loopback' | 'unrestricted' | { readonly allow: readonly string[]; readonly nameservers?: readonly string[] };
export interface EnvPolicy {
  /** Host variable names the guest may see with their host values. */
  readonly inherit: readonly string[];
  readonly set: Readonly<Record<string, string>>;
}
export type StdioMode = 'inherit' | 'capture' | 'null';
export interface StdioPolicy {
  readonly stdin: StdioMode;
  readonly stdout: StdioMode;
  readonly stderr: StdioMode;
}
export type ClockPolicy = 'real' | 'virtual' | 'none';
export type RandomPolicy = 'crypto' | 'none' | { readonly seed: number };

export interface CapabilitiesInit {
  filesystem?: readonly Preopen[];
  network?: NetworkPolicy;
  env?: Partial<EnvPolicy>;
  args?: readonly string[];
  stdio?: Partial<StdioPolicy>;
  clock?: ClockPolicy;
  random?: RandomPolicy;
  /** Host imports the guest may link, as `module.name`, or `module.*` for a whole module. */
  hostFunctions?: readonly string[];
  /**
   * Whether the guest may end itself with an exit code (`proc_exit`, `wasi:cli/exit`); without it
   * an exit stops the guest with SecurityViolation('exit').
   */
  exit?: boolean;
  /**
   * Accept filesystem grants where paths cannot be resolved race-free (anything but Linux with
   * /proc): without it such a grant is refused with SecurityViolation('filesystem').
   */
  allowRacyResolution?: boolean;
}

/**
 * What a guest may touch. Immutable: every `with…` returns a new object. Anything not listed is denied;
 * `minimal()` grants nothing at all.
 */
export class Capabilities {
  readonly filesystem: readonly Preopen[];
  readonly network: NetworkPolicy;
  readonly env: EnvPolicy;
  readonly args: readonly string[];
  readonly stdio: StdioPolicy;
  readonly clock: ClockPolicy;
  readonly random: RandomPolicy;
  readonly hostFunctions: readonly string[];
  readonly exit: boolean;
  readonly allowRacyResolution: boolean;

  private constructor(init: CapabilitiesInit, baseDir: string) {
    this.filesystem = Object.freeze((init.filesystem ?? []).map((p) => Object.freeze({ hostPath: resolve(baseDir, p.hostPath), guestPath: p.guestPath, mode: p.mode })));
    this.network = freezeDeep(init.network ?? 'none');
    this.env = freezeDeep({ inherit: [...(init.env?.inherit ?? [])], set: { ...(init.env?.set ?? {}) } });
    this.args = Object.freeze([...(init.args ?? [])]);
    this.stdio = Object.freeze({ stdin: init.stdio?.stdin ?? 'null', stdout: init.stdio?.stdout ?? 'null', stderr: init.stdio?.stderr ?? 'null' });
    this.clock = init.clock ?? 'none';
    this.random = freezeDeep(init.random ?? 'none');
    this.hostFunctions = Object.freeze([...(init.hostFunctions ?? [])]);
    this.exit = init.exit ?? false;
    this.allowRacyResolution = init.allowRacyResolution ?? false;
    Object.freeze(this);
  }

  /** Grants nothing: no files, network, environment, arguments, output, clocks, randomness or host functions. */
  static minimal(): Capabilities {
    return new Capabilities({}, process.cwd());
  }

  /** What a command-line program usually needs: inherited stdio, clocks, randomness and exit; still no files, env or network. */
  static cli(): Capabilities {
    return new Capabilities({ stdio: { stdin: 'inherit', stdout: 'inherit', stderr: 'inherit' }, clock: 'real', random: 'crypto', exit: true }, process.cwd());
  }

  /** Like `cli()` but with stdout and stderr captured for the caller instead of inherited, and no stdin. */
  static captured(): Capabilities {
    return new Capabilities({ stdio: { stdin: 'null', stdout: 'capture', stderr: 'capture' }, clock: 'real', random: 'crypto', exit: true }, process.cwd());
  }

  /**
   * Validates and normalises plain data (e.g. from a policy file); relative host paths resolve against `baseDir`.
   * Throws InvalidPolicy naming the bad key.
   */
  static from(init: Capabilities | CapabilitiesInit | undefined, options: { baseDir?: string; pathPrefix?: string } = {}): Capabilities {
    if (init instanceof Capabilities) return init;
    if (init === undefined) return Capabilities.minimal();
    validatePolicySection('capabilities', init, options.pathPrefix ?? '');
    return new Capabilities(init, options.baseDir ?? process.cwd());
  }

  /** A copy with the given fields replaced (validated like `from`). */
  with(changes: CapabilitiesInit): Capabilities {
    return Capabilities.from({ ...this.toJSON(), ...changes });
  }

  withPreopen(hostPath: string, guestPath: string, mode: FilesystemMode = 'read'): Capabilities {
    return this.with({ filesystem: [...this.filesystem, { hostPath, guestPath, mode }] });
  }

  withEnv(set: Record<string, string>, inherit: readonly string[] = []): Capabilities {
    return this.with({ env: { inherit: [...this.env.inherit, ...inherit], set: { ...this.env.set, ...set } } });
  }

  withArgs(args: readonly string[]): Capabilities {
    return this.with({ args });
  }

  withHostFunctions(...names: string[]): Capabilities {
    return this.with({ hostFunctions: [...this.hostFunctions, ...names] });
  }

  /** Whether `module.name` may be linked as a host import. */
  allowsHostFunction(module: string, name: string): boolean {
    return this.hostFunctions.some((entry) => entry === `${module}.${name}` || entry === `${module}.*`);
  }

  toJSON(): CapabilitiesInit {
    return {
      filesystem: this.filesystem.map((p) => ({ ...p })),
      network: typeof this.network === 'string' ? this.network : { allow: [...this.network.allow], ...(this.network.nameservers && { nameservers: [...this.network.nameservers] }) },
      env: { inherit: [...this.env.inherit], set: { ...this.env.set } },
      args: [...this.args],
      stdio: { ...this.stdio },
      clock: this.clock,
      random: typeof this.random === 'string' ? this.random : { seed: this.random.seed },
      hostFunctions: [...this.hostFunctions],
      exit: this.exit,
      allowRacyResolution: this.allowRacyResolution,
    };
  }
}

function freezeDeep<T>(value: T): T {
  if (value && typeof value === 'object') {
    for (const v of Object.values(value)) freezeDeep(v);
    Object.freeze(value);
  }
  return value;
}
