/**
 * The WASI host of one component instance: every `wasi:*` interface jco may ask for (preview2, and
 * the WASI 0.3 members of `preview3.ts` over them), each deciding from the instance's Capabilities
 * and ResourceLimits, keyed the way jco's generated `instantiate` looks imports up (unversioned
 * interface names). preview2-shim is never reached: its
 * defaults hand a guest the whole environment, process.exit and the network.
 */
import { createCli } from './cli.ts';
import { createClocks } from './clocks.ts';
import { createFilesystem, type FilesystemHost } from './filesystem.ts';
import { HostState, type HostOptions } from './host-state.ts';
import { createHttp, type HttpHost } from './http.ts';
import { createIo } from './io.ts';
import { createRandomInterfaces } from './random.ts';
import { createPreview3, isPreview3, PREVIEW3_SERVED } from './preview3.ts';
import { createSockets, type SocketsHost } from './sockets.ts';

export class Preview2Host {
  readonly state: HostState;
  /** Interface name (unversioned) → what jco destructures from it. */
  readonly imports: Readonly<Record<string, Record<string, unknown>>>;
  /** Present when the component imports wasi:http. */
  readonly http: HttpHost | undefined;
  private readonly filesystem: FilesystemHost | undefined;
  private readonly sockets: SocketsHost | undefined;

  /**
   * `wanted`: the unversioned interfaces the component imports. Only their packages are built, so a
   * component without WASI imports costs nothing here, and preopens are opened only for components
   * that can use them.
   */
  constructor(options: HostOptions, wanted: ReadonlySet<string>, wanted3: ReadonlySet<string> = new Set()) {
    const state = new HostState(options);
    this.state = state;
    const uses = (pkg: string): boolean => [...wanted].some((n) => n.startsWith(pkg));
    if (wanted.size === 0) {
      this.imports = {};
      return;
    }
    const io = createIo(state);
    this.filesystem = uses('wasi:filesystem/') ? createFilesystem(state, io) : undefined;
    this.http = uses('wasi:http/') ? createHttp(state, io) : undefined;
    this.sockets = uses('wasi:sockets/') ? createSockets(state, io) : undefined;
    const imports: Record<string, Record<string, unknown>> = {
      ...io.interfaces,
      ...(uses('wasi:cli/') ? createCli(state, io) : {}),
      ...(uses('wasi:clocks/') ? createClocks(state, io) : {}),
      ...(uses('wasi:random/') ? createRandomInterfaces(state) : {}),
      ...this.filesystem?.interfaces,
      ...this.sockets?.interfaces,
      ...this.http?.interfaces,
    };
    // jco reads every version of an interface from one key: the 0.3 members join the preview2 ones.
    if (wanted3.size > 0) {
      for (const [name, members] of Object.entries(createPreview3(state, io, imports, wanted3))) imports[name] = { ...imports[name], ...members };
    }
    this.imports = imports;
  }

  /** Whether an import (versioned or not) is a WASI interface this host serves, in that version. */
  static serves(name: string): boolean {
    return isPreview3(name) ? PREVIEW3_SERVED[unversioned(name)] !== undefined : SERVED.has(unversioned(name));
  }

  /** Releases every host descriptor and socket the guest held. */
  close(): void {
    this.filesystem?.close();
    this.sockets?.close();
  }
}

export function unversioned(name: string): string {
  const at = name.indexOf('@');
  return at < 0 ? name : name.slice(0, at);
}

const SERVED = new Set([
  'wasi:io/error', 'wasi:io/poll', 'wasi:io/streams',
  'wasi:cli/environment', 'wasi:cli/exit', 'wasi:cli/stdin', 'wasi:cli/stdout', 'wasi:cli/stderr',
  'wasi:cli/terminal-input', 'wasi:cli/terminal-output', 'wasi:cli/terminal-stdin', 'wasi:cli/terminal-stdout', 'wasi:cli/terminal-stderr',
  'wasi:clocks/monotonic-clock', 'wasi:clocks/wall-clock',
  'wasi:random/random', 'wasi:random/insecure', 'wasi:random/insecure-seed',
  'wasi:filesystem/types', 'wasi:filesystem/preopens',
  'wasi:sockets/network', 'wasi:sockets/instance-network', 'wasi:sockets/tcp', 'wasi:sockets/tcp-create-socket',
  'wasi:sockets/udp', 'wasi:sockets/udp-create-socket', 'wasi:sockets/ip-name-lookup',
  'wasi:http/types', 'wasi:http/outgoing-handler',
]);
