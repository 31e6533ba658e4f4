/**
 * A strict reader of the Prometheus text exposition format (version 0.0.4), written from the format's
 * description so the server's /metrics is checked by something that is not prom-client: every line
 * is a HELP, a TYPE or a sample; names and labels have the allowed characters, label values the
 * allowed escapes; TYPE comes before a family's samples and only once; a histogram's buckets are
 * cumulative, end at +Inf, and its _count equals the +Inf bucket. Anything else throws.
 */

export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

export interface Family {
  name: string;
  type: 'counter' | 'gauge' | 'histogram' | 'summary' | 'untyped';
  help: string | undefined;
  samples: Sample[];
}

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL = /^[a-zA-Z_][a-zA-Z0-9_]*$/;
const TYPES = new Set(['counter', 'gauge', 'histogram', 'summary', 'untyped']);

function parseValue(text: string, line: number): number {
  if (text === '+Inf') return Infinity;
  if (text === '-Inf') return -Infinity;
  if (text === 'NaN') return NaN;
  if (!/^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/.test(text)) throw new Error(`line ${line}: bad value '${text}'`);
  return Number(text);
}

/** Labels from just after `{` up to the matching `}`; returns them and the index after `}`. */
function parseLabels(text: string, start: number, line: number): [Record<string, string>, number] {
  const labels: Record<string, string> = {};
  let i = start;
  for (;;) {
    if (text[i] === '}') return [labels, i + 1];
    const eq = text.indexOf('=', i);
    if (eq < 0) throw new Error(`line ${line}: label without '='`);
    const name = text.slice(i, eq);
    if (!LABEL.test(name)) throw new Error(`line ${line}: bad label name '${name}'`);
    if (name in labels) throw new Error(`line ${line}: label '${name}' twice`);
    if (text[eq + 1] !== '"') throw new Error(`line ${line}: label value not quoted`);
    let value = '';
    let j = eq + 2;
    for (;; j++) {
      const c = text[j];
      if (c === undefined) throw new Error(`line ${line}: unterminated label value`);
      if (c === '"') break;
      if (c === '\\') {
        const next = text[++j];
        if (next === 'n') value += '\n';
        else if (next === '\\' || next === '"') value += next;
        else throw new Error(`line ${line}: bad escape '\\${next}'`);
      } else value += c;
    }
    labels[name] = value;
    i = j + 1;
    if (text[i] === ',') i++;
    else if (text[i] !== '}') throw new Error(`line ${line}: expected ',' or '}' after a label`);
  }
}

function familyOf(sample: string, families: Map<string, Family>): Family | undefined {
  for (const suffix of ['_bucket', '_count', '_sum', '']) {
    if (!sample.endsWith(suffix)) continue;
    const f = families.get(sample.slice(0, sample.length - suffix.length));
    if (f && (suffix === '' || f.type === 'histogram' || f.type === 'summary')) return f;
  }
  return undefined;
}

export function parsePrometheusText(text: string): Map<string, Family> {
  const families = new Map<string, Family>();
  if (text.length > 0 && !text.endsWith('\n')) throw new Error('the text does not end with a newline');
  const lines = text.split('\n');
  lines.pop();
  lines.forEach((raw, index) => {
    const line = index + 1;
    if (raw === '') return;
    if (raw.startsWith('#')) {
      const m = /^# (HELP|TYPE) (\S+) ?(.*)$/.exec(raw);
      if (!m) return; // other comments are allowed
      const [, kind, name, rest] = m;
      if (!NAME.test(name)) throw new Error(`line ${line}: bad metric name '${name}'`);
      const f = families.get(name) ?? { name, type: 'untyped' as const, help: undefined, samples: [] };
      if (kind === 'TYPE') {
        if (!TYPES.has(rest)) throw new Error(`line ${line}: bad type '${rest}'`);
        if (families.has(name) && (f.samples.length > 0 || f.type !== 'untyped')) throw new Error(`line ${line}: TYPE of '${name}' after its samples or twice`);
        f.type = rest as Family['type'];
      } else {
        if (f.help !== undefined) throw new Error(`line ${line}: HELP of '${name}' twice`);
        f.help = rest;
      }
      families.set(name, f);
      return;
    }
    const nameEnd = raw.search(/[{ ]/);
    if (nameEnd <= 0) throw new Error(`line ${line}: not a sample: '${raw}'`);
    const name = raw.slice(0, nameEnd);
    if (!NAME.test(name)) throw new Error(`line ${line}: bad metric name '${name}'`);
    let labels: Record<string, string> = {};
    let i = nameEnd;
    if (raw[i] === '{') [labels, i] = parseLabels(raw, i + 1, line);
    if (raw[i] !== ' ') throw new Error(`line ${line}: no space before the value`);
    const parts = raw.slice(i + 1).split(' ');
    if (parts.length > 2 || (parts.length === 2 && !/^-?\d+$/.test(parts[1]))) throw new Error(`line ${line}: bad value or timestamp`);
    const value = parseValue(parts[0], line);
    const family = familyOf(name, families);
    if (!family) throw new Error(`line ${line}: sample '${name}' has no TYPE before it`);
    family.samples.push({ name, labels, value });
  });
  for (const f of families.values()) if (f.type === 'histogram') checkHistogram(f);
  return families;
}

function checkHistogram(f: Family): void {
  const series = new Map<string, Sample[]>();
  const key = (labels: Record<string, string>) => JSON.stringify(Object.entries(labels).filter(([k]) => k !== 'le').sort());
  for (const s of f.samples) {
    if (s.name !== `${f.name}_bucket`) continue;
    if (s.labels.le === undefined) throw new Error(`${f.name}: bucket without le`);
    const list = series.get(key(s.labels)) ?? [];
    list.push(s);
    series.set(key(s.labels), list);
  }
  for (const [k, buckets] of series) {
    let previous = -Infinity;
    let count = 0;
    for (const b of buckets) {
      const le = parseValue(b.labels.le, 0);
      if (le <= previous) throw new Error(`${f.name}: buckets out of order`);
      if (b.value < count) throw new Error(`${f.name}: buckets not cumulative`);
      previous = le;
      count = b.value;
    }
    if (previous !== Infinity) throw new Error(`${f.name}: no +Inf bucket`);
    const total = f.samples.find((s) => s.name === `${f.name}_count` && key(s.labels) === k);
    if (total?.value !== count) throw new Error(`${f.name}: _count ${total?.value} is not the +Inf bucket ${count}`);
  }
}

/** The sum of a family's samples (of `name`, default the family's own) whose labels include `match`. */
export function total(families: Map<string, Family>, family: string, match: Record<string, string> = {}, name = family): number {
  const f = families.get(family);
  if (!f) throw new Error(`no metric family '${family}'`);
  return f.samples.filter((s) => s.name === name && Object.entries(match).every(([k, v]) => s.labels[k] === v)).reduce((a, s) => a + s.value, 0);
}
