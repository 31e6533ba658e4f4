/**
 * What this platform can do for the capability core, decided in one place. Filesystem grants are
 * supported where paths resolve race-free (Linux, through /proc/self/fd); elsewhere the resolver
 * can only walk host paths with lstat checks, which a concurrent host process can race, so a grant
 * there is refused unless the embedder accepts the weaker mode by name
 * (`capabilities.allowRacyResolution`). Everything else in the core works on every platform.
 */
import { SecurityViolation } from '../errors.ts';
import type { Capabilities } from '../security/capabilities.ts';
import { resolverMode } from './path-resolver.ts';

/** Whether filesystem grants resolve paths race-free here. */
export function raceFreeResolution(): boolean {
  return resolverMode.useProcFd;
}

/** Refuses a filesystem grant the platform cannot confine race-free, unless the grant opts in. */
export function requireRaceFreeResolution(caps: Capabilities): void {
  if (caps.filesystem.length === 0 || raceFreeResolution() || caps.allowRacyResolution) return;
  throw new SecurityViolation(
    'filesystem',
    `filesystem grants need race-free path resolution (Linux with /proc/self/fd), which ${process.platform} here does not offer; ` +
      'set capabilities.allowRacyResolution to accept a resolver a concurrent host process can race',
  );
}
