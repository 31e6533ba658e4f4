/**
 * The same escape attacks against the portable resolver (lstat walk over host paths) that is used
 * where /proc/self/fd is unavailable, so that path stays as confined as the Linux one.
 */
import { resolverMode } from '../../src/host/path-resolver.ts';

resolverMode.useProcFd = false;
await import('./escape.test.ts');
