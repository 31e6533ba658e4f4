/**
 * Structural comparison of WIT types across two components, for composition: what one component
 * imports must be exactly what the other exports. Two components never share type objects, so
 * resources are compared by the names their components give them.
 */
import type { TypeName } from './interfaces.ts';
import type { FuncType, ValType } from './wit-types.ts';

export interface Side {
  readonly names: ReadonlyMap<object, TypeName>;
}

/** A description of the first difference, or undefined when the types match. */
export function typeMismatch(a: ValType, b: ValType, sa: Side, sb: Side, path = ''): string | undefined {
  const at = path ? ` at ${path}` : '';
  if (a.kind !== b.kind) return `${a.kind} vs ${b.kind}${at}`;
  switch (a.kind) {
    case 'record': {
      const bf = (b as typeof a).fields;
      if (a.fields.length !== bf.length || a.fields.some((f, i) => f.name !== bf[i].name)) {
        return `record fields {${a.fields.map((f) => f.name).join(', ')}} vs {${bf.map((f) => f.name).join(', ')}}${at}`;
      }
      for (let i = 0; i < a.fields.length; i++) {
        const m = typeMismatch(a.fields[i].type, bf[i].type, sa, sb, `${path}.${a.fields[i].name}`);
        if (m) return m;
      }
      return undefined;
    }
    case 'variant': {
      const bc = (b as typeof a).cases;
      if (a.cases.length !== bc.length || a.cases.some((c, i) => c.name !== bc[i].name)) {
        return `variant cases (${a.cases.map((c) => c.name).join(' | ')}) vs (${bc.map((c) => c.name).join(' | ')})${at}`;
      }
      for (let i = 0; i < a.cases.length; i++) {
        const x = a.cases[i].type;
        const y = bc[i].type;
        if (!x !== !y) return `payload of case ${a.cases[i].name}${at}`;
        if (x && y) {
          const m = typeMismatch(x, y, sa, sb, `${path}(${a.cases[i].name})`);
          if (m) return m;
        }
      }
      return undefined;
    }
    case 'enum':
    case 'flags': {
      const bn = (b as typeof a).names;
      return a.names.join() === bn.join() ? undefined : `${a.kind} (${a.names.join(', ')}) vs (${bn.join(', ')})${at}`;
    }
    case 'list': {
      const bl = b as typeof a;
      if (a.length !== bl.length) return `list length ${a.length ?? 'any'} vs ${bl.length ?? 'any'}${at}`;
      return typeMismatch(a.element, bl.element, sa, sb, `${path}[]`);
    }
    case 'tuple': {
      const bt = (b as typeof a).types;
      if (a.types.length !== bt.length) return `tuple of ${a.types.length} vs ${bt.length}${at}`;
      for (let i = 0; i < a.types.length; i++) {
        const m = typeMismatch(a.types[i], bt[i], sa, sb, `${path}[${i}]`);
        if (m) return m;
      }
      return undefined;
    }
    case 'option':
      return typeMismatch(a.type, (b as typeof a).type, sa, sb, `${path}?`);
    case 'result': {
      const br = b as typeof a;
      if (!a.ok !== !br.ok || !a.err !== !br.err) return `result shape${at}`;
      return (a.ok && typeMismatch(a.ok, br.ok!, sa, sb, `${path}.ok`)) || (a.err && typeMismatch(a.err, br.err!, sa, sb, `${path}.err`)) || undefined;
    }
    case 'own':
    case 'borrow': {
      const na = sa.names.get(a.resource)?.name;
      const nb = sb.names.get((b as typeof a).resource)?.name;
      return na === nb ? undefined : `resource ${na ?? '?'} vs ${nb ?? '?'}${at}`;
    }
    case 'future':
    case 'stream': {
      const bt = (b as typeof a).type;
      if (!a.type !== !bt) return `${a.kind} payload${at}`;
      return a.type && bt ? typeMismatch(a.type, bt, sa, sb, `${path}<>`) : undefined;
    }
    default:
      return undefined;
  }
}

export function funcMismatch(a: FuncType, b: FuncType, sa: Side, sb: Side): string | undefined {
  if (a.params.length !== b.params.length) return `${a.params.length} parameters vs ${b.params.length}`;
  for (let i = 0; i < a.params.length; i++) {
    const m = typeMismatch(a.params[i].type, b.params[i].type, sa, sb, a.params[i].name);
    if (m) return `parameter ${a.params[i].name}: ${m}`;
  }
  if (!a.result !== !b.result) return a.result ? 'a result vs none' : 'no result vs one';
  if (a.result && b.result) {
    const m = typeMismatch(a.result, b.result, sa, sb, 'result');
    if (m) return `result: ${m}`;
  }
  return undefined;
}
