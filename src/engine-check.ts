/**
 * The library's first import: refuses an unsupported Node.js with a typed error before any other
 * module runs. The bundle keeps it a module of its own, imported ahead of every chunk (scripts/bundle.ts).
 */
import { UnsupportedPlatform } from './errors.ts';
import { runtimeProblem } from './supported-engine.ts';

const problem = runtimeProblem();
if (problem !== undefined) throw new UnsupportedPlatform(problem);
