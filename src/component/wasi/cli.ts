/**
 * wasi:cli: arguments and environment exactly as granted (decided in `src/host/grants.ts`), stdio
 * through the same sinks and output budget as the preview1 host, no terminals, and an `exit` that
 * ends only the component's call, and only with the exit grant.
 */
import { exitCode, grantedArguments, grantedEnvironment } from '../../host/grants.ts';
import { ExitSignal, guardClass, guardFunctions, type HostState } from './host-state.ts';
import type { ByteSink, ByteSource, Io } from './io.ts';
import type { InputSource, OutputSink } from '../../wasi/stdio.ts';

function stdinSource(state: HostState, input: InputSource): ByteSource {
  return {
    read(len: number): Uint8Array | undefined {
      const buf = new Uint8Array(len);
      const n = input.read(buf, 0, len, false, () => state.interrupt(), () => state.options.remainingMs());
      return n === 0 ? undefined : buf.subarray(0, n);
    },
    ready: () => true,
  };
}

function outputSink(sink: OutputSink): ByteSink {
  return {
    write: (bytes) => sink.write(bytes),
    capacity: () => 1 << 20,
  };
}

export function createCli(state: HostState, io: Io): Record<string, Record<string, unknown>> {
  const args = grantedArguments(state.caps, state.options.programName);
  // One stream object per stdio handle, as guests ask for them repeatedly.
  const stdin = stdinSource(state, state.options.stdin);
  const stdout = outputSink(state.options.stdout);
  const stderr = outputSink(state.options.stderr);

  class TerminalInput {}
  class TerminalOutput {}
  guardClass(TerminalInput, state);
  guardClass(TerminalOutput, state);

  const exitWith = (code: number): never => state.stop(new ExitSignal(state.decide(() => exitCode(state.caps, code))));
  const exit = (status: { tag: 'ok' | 'err' }): never => exitWith(status.tag === 'ok' ? 0 : 1);
  const exitWithCode = (code: number): never => exitWith(code & 0xff);

  return {
    'wasi:cli/environment': guardFunctions({
      getEnvironment: () => grantedEnvironment(state.caps),
      getArguments: () => [...args],
      initialCwd: () => undefined,
    }, state),
    'wasi:cli/exit': guardFunctions({ exit, exitWithCode }, state),
    'wasi:cli/stdin': guardFunctions({ getStdin: () => new io.InputStream(stdin) }, state),
    'wasi:cli/stdout': guardFunctions({ getStdout: () => new io.OutputStream(stdout) }, state),
    'wasi:cli/stderr': guardFunctions({ getStderr: () => new io.OutputStream(stderr) }, state),
    'wasi:cli/terminal-input': { TerminalInput },
    'wasi:cli/terminal-output': { TerminalOutput },
    // Never a terminal: a guest must not learn whether the host's stdio is one.
    'wasi:cli/terminal-stdin': guardFunctions({ getTerminalStdin: () => undefined }, state),
    'wasi:cli/terminal-stdout': guardFunctions({ getTerminalStdout: () => undefined }, state),
    'wasi:cli/terminal-stderr': guardFunctions({ getTerminalStderr: () => undefined }, state),
  };
}
