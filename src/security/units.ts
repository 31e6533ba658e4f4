import { InvalidPolicy } from '../errors.ts';

const SIZE_UNITS: Record<string, number> = {
  '': 1, b: 1,
  k: 1000, kb: 1000, kib: 1024,
  m: 1000 ** 2, mb: 1000 ** 2, mib: 1024 ** 2,
  g: 1000 ** 3, gb: 1000 ** 3, gib: 1024 ** 3,
  t: 1000 ** 4, tb: 1000 ** 4, tib: 1024 ** 4,
};

const DURATION_UNITS: Record<string, number> = { '': 1, ms: 1, s: 1000, m: 60_000, min: 60_000, h: 3_600_000 };

const QUANTITY = /^\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*$/;

function parseQuantity(value: unknown, units: Record<string, number>, what: string, path: string): number {
  if (typeof value === 'number') {
    if (!Number.isFinite(value) || value < 0 || !Number.isInteger(value)) {
      throw new InvalidPolicy(path, `${what} must be a non-negative integer, got ${value}`);
    }
    return value;
  }
  if (typeof value !== 'string') throw new InvalidPolicy(path, `${what} must be a number or a string like ${what === 'size' ? "'64MiB'" : "'500ms'"}, got ${typeof value}`);
  const m = QUANTITY.exec(value);
  const factor = m ? units[m[2].toLowerCase()] : undefined;
  if (!m || factor === undefined) {
    const examples = what === 'size' ? "'4096', '64KiB', '64MiB', '1GiB'" : "'500ms', '2s', '1m', or plain milliseconds";
    throw new InvalidPolicy(path, `cannot parse ${what} '${value}'; expected ${examples}`);
  }
  const result = Math.round(Number(m[1]) * factor);
  if (!Number.isSafeInteger(result)) throw new InvalidPolicy(path, `${what} '${value}' is too large`);
  return result;
}

/** Bytes from `4096`, `'64KiB'`, `'64MiB'`, `'1GB'`; binary and decimal suffixes both accepted. */
export function parseSize(value: unknown, path = ''): number {
  return parseQuantity(value, SIZE_UNITS, 'size', path);
}

/** Milliseconds from `500`, `'500ms'`, `'2s'`, `'1m'`, `'1h'`. */
export function parseDuration(value: unknown, path = ''): number {
  return parseQuantity(value, DURATION_UNITS, 'duration', path);
}

export function formatBytes(bytes: number): string {
  if (bytes >= 1024 ** 3 && bytes % 1024 ** 3 === 0) return `${bytes / 1024 ** 3}GiB`;
  if (bytes >= 1024 ** 2 && bytes % 1024 ** 2 === 0) return `${bytes / 1024 ** 2}MiB`;
  if (bytes >= 1024 && bytes % 1024 === 0) return `${bytes / 1024}KiB`;
  return `${bytes}B`;
}
