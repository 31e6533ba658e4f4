import { createWriteStream, type WriteStream } from 'node:fs';
import type { Writable } from 'node:stream';

/** Where a wrapper's log goes: a stream, a file path (appended to), or false for none. */
export type LogTarget = Writable | string | false | undefined;

/** One JSON document per line, to a stream or a file; the wrappers' access and audit logs. */
export class JsonLinesLog<Entry extends object> {
  private readonly out: Writable | undefined;
  private readonly owned: WriteStream | undefined;

  constructor(target: LogTarget) {
    if (typeof target === 'string') {
      this.owned = createWriteStream(target, { flags: 'a' });
      this.out = this.owned;
    } else {
      this.out = target || undefined;
    }
  }

  /** Whether entries go anywhere: callers skip building them when not. */
  get enabled(): boolean {
    return this.out !== undefined;
  }

  protected append(entry: Entry): void {
    this.out?.write(`${JSON.stringify(entry)}\n`);
  }

  async close(): Promise<void> {
    const owned = this.owned;
    if (owned) await new Promise<void>((resolve) => owned.end(resolve));
  }
}
