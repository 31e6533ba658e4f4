import { resolve } from 'node:path';
import { validatePolicySection } from './policy-validator.ts';

/**
 * `read`: open, read and list only. `read-write`: also create, write, truncate, rename and delete inside the
 * preopen.
 */
export type FilesystemMode = 'read' | 'read-write';
/**
 * A host directory granted to the guest under a name of its own. Nothing outside it is reachable, through
 * symlinks or `..` either.
 */
export interface Preopen {
  /** Directory on the host; stored absolute. */
  readonly hostPath: string;
  /** Name the guest sees, e.g. `/data` or `.`. */
  readonly guestPath: string;
  /** What the guest may do inside it. */
  readonly mode: FilesystemMode;
}

/**
 * What the guest may reach; decided by src/host/network.ts. `allow` holds `host:port` entries
 * (`*.example.com:443` matches subdomains, `host:*` any port); a name grants only its public
 * addresses, an address literal grants that address. `nameservers` (`IP` or `IP:port`) answer the
 * guest's name lookups instead of the system resolver.
 */
export type NetworkPolicy = 'none' | 'loopback' | 'unrestricted' | {
  /** `host:port` entries the guest may reach. */
  readonly allow: readonly string[];
  /** Servers (`IP` or `IP:port`) that answer the guest's name lookups; the system resolver when absent. */
  readonly nameservers?: readonly string[];
};
/** Environment variables the guest sees; none unless listed. */
export interface EnvPolicy {
  /** Host variable names the guest may see with their host values. */
  readonly inherit: readonly string[];
  /** Variables given these values; they win over inherited ones of the same name. */
  readonly set: Readonly<Record<string, string>>;
}
/**
 * `inherit`: the host's stream. `capture`: output kept for the caller (bounded by `io.maxOutputBytes`), empty
 * input. `null`: empty input, discarded output.
 */
export type StdioMode = 'inherit' | 'capture' | 'null';
/** What each standard stream of the guest is connected to; `null` for all three unless granted. */
export interface StdioPolicy {
  /** Standard input. */
  readonly stdin: StdioMode;
  /** Standard output. */
  readonly stdout: StdioMode;
  /** Standard error. */
  readonly stderr: StdioMode;
}
/**
 * `real`: the host's clocks. `virtual`: deterministic clocks that start at 0; waiting on a timer advances
 * them instead of sleeping. `none`: reading a clock is refused (`ENOTCAPABLE` in preview1) and reported as
 * a `clock` violation.
 */
export type ClockPolicy = 'real' | 'virtual' | 'none';
/**
 * `crypto`: the host's secure generator. `{ seed }`: a reproducible sequence, for tests and deterministic
 * replays (never for keys). `none`: asking for random bytes fails.
 */
export type RandomPolicy = 'crypto' | 'none' | {
  /** Seed of a reproducible sequence: the same seed gives the same bytes on every run. */
  readonly seed: number;
};

/**
 * Plain-data form of `Capabilities`, as in a policy file's `capabilities` section; every key is optional and
 * an absent one grants nothing.
 */
export interface CapabilitiesInit {
  /** Directories the guest may open. Default none. */
  filesystem?: readonly Preopen[];
  /** Sockets and name lookups the guest may use. Default `'none'`. */
  network?: NetworkPolicy;
  /** Environment variables the guest sees. Default none. */
  env?: Partial<EnvPolicy>;
  /** Arguments the guest sees after argv[0]. Default none. */
  args?: readonly string[];
  /** Standard streams; each absent one is `'null'`. */
  stdio?: Partial<StdioPolicy>;
  /** Clocks the guest may read. Default `'none'`. */
  clock?: ClockPolicy;
  /** Random bytes for the guest. Default `'none'`. */
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
  /** Granted directories, host paths absolute. */
  readonly filesystem: readonly Preopen[];
  /** Network grant. */
  readonly network: NetworkPolicy;
  /** Environment the guest sees. */
  readonly env: EnvPolicy;
  /** Arguments after argv[0]. */
  readonly args: readonly string[];
  /** Standard streams. */
  readonly stdio: StdioPolicy;
  /** Clock grant. */
  readonly clock: ClockPolicy;
  /** Randomness grant. */
  readonly random: RandomPolicy;
  /** Host imports the guest may link (`module.name` or `module.*`). */
  readonly hostFunctions: readonly string[];
  /** Whether the guest may end itself with an exit code. */
  readonly exit: boolean;
  /** Whether filesystem grants are accepted where paths cannot be resolved race-free. */
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

  /**
   * A copy that also grants `hostPath` to the guest as `guestPath`, read-only unless `mode` says
   * `read-write`; a relative host path resolves against the current directory.
   */
  withPreopen(hostPath: string, guestPath: string, mode: FilesystemMode = 'read'): Capabilities {
    return this.with({ filesystem: [...this.filesystem, { hostPath, guestPath, mode }] });
  }

  /**
   * A copy whose guest environment also has the variables in `set` and the host variables named in `inherit`.
   */
  withEnv(set: Record<string, string>, inherit: readonly string[] = []): Capabilities {
    return this.with({ env: { inherit: [...this.env.inherit, ...inherit], set: { ...this.env.set, ...set } } });
  }

  /** A copy whose guest sees `args` after argv[0], replacing any earlier ones. */
  withArgs(args: readonly string[]): Capabilities {
    return this.with({ args });
  }

  /** A copy that also lets the guest link the named host imports (`module.name` or `module.*`). */
  withHostFunctions(...names: string[]): Capabilities {
    return this.with({ hostFunctions: [...this.hostFunctions, ...names] });
  }

  /** Whether `module.name` may be linked as a host import. */
  allowsHostFunction(module: string, name: string): boolean {
    return this.hostFunctions.some((entry) => entry === `${module}.${name}` || entry === `${module}.*`);
  }

  /** Plain data, accepted back by `from`; this is what a policy file holds. */
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
