/**
 * The command line's first import: on an unsupported Node.js it says so in one line and exits, where
 * the library's check would end in a stack trace.
 */
import { runtimeProblem } from '../supported-engine.ts';

const problem = runtimeProblem();
if (problem !== undefined) {
  process.stderr.write(`${problem}\n`);
  process.exit(1);
}
