/**
 * Rule lint (regexp-tree): every rule regex must be bounded and cheap, and
 * every anchor the scanner searches for must really be a literal the regex
 * requires, or the rule could never match where the scanner looks.
 *  - no unbounded quantifier (`*`, `+`, `{n,}`): windows stay bounded;
 *  - no quantified group whose body starts with a quantified term (the
 *    classic catastrophic-backtracking shape `(a{1,5}){1,9}`);
 *  - rules are sticky (`y`), since they run at anchor positions only;
 *  - each anchor occurs in the literal strings the pattern spells out
 *    (small classes and literal alternations expanded).
 * Run by the tests; `lintRules()` returns the problems as text.
 */
import regexpTree from 'regexp-tree';
import type { AnchoredRule } from './rules.js';

type Node = { type: string; [k: string]: unknown };

const MAX_EXPANSION = 64;

/** Literal strings a node can spell, or undefined when it is not a small literal set. */
function spell(n: Node): string[] | undefined {
  switch (n.type) {
    case 'Char':
      return n.kind === 'simple' || n.kind === 'decimal' || n.kind === 'hex' || (n.kind === 'meta' && /^\\[./\-]$/.test(String(n.value)) === false && String(n.value).length === 1)
        ? [String(n.value)]
        : undefined;
    case 'CharacterClass': {
      if (n.negative) return undefined;
      const out: string[] = [];
      for (const e of n.expressions as Node[]) {
        if (e.type !== 'Char' || e.kind !== 'simple') return undefined;
        out.push(String(e.value));
      }
      return out.length <= 8 ? out : undefined;
    }
    case 'Group':
      return n.expression ? spell(n.expression as Node) : [''];
    case 'Alternative': {
      let acc = [''];
      for (const e of n.expressions as Node[]) {
        const s = spell(e);
        if (!s) return undefined;
        acc = acc.flatMap((a) => s.map((b) => a + b));
        if (acc.length > MAX_EXPANSION) return undefined;
      }
      return acc;
    }
    case 'Disjunction': {
      const l = n.left ? spell(n.left as Node) : [''];
      const r = n.right ? spell(n.right as Node) : [''];
      return l && r ? [...l, ...r] : undefined;
    }
    default:
      return undefined;
  }
}

/** Maximal literal runs of an alternative (expanded), anywhere in the pattern. */
function literalRuns(n: Node, out: string[]): void {
  if (n.type === 'Alternative') {
    let acc: string[] = [''];
    const flush = () => {
      for (const a of acc) if (a) out.push(a);
      acc = [''];
    };
    for (const e of n.expressions as Node[]) {
      let s = spell(e);
      if (!s && e.type === 'Repetition') {
        // a required repetition contributes one copy, then the run ends
        const q = e.quantifier as Node;
        const min = q.kind === '+' ? 1 : q.kind === 'Range' ? Number(q.from) : 0;
        const inner = spell(e.expression as Node);
        if (min >= 1 && inner) {
          acc = acc.flatMap((a) => inner.map((b) => a + b)).slice(0, MAX_EXPANSION);
        }
        flush();
        literalRuns(e.expression as Node, out);
        continue;
      }
      if (s && acc.length * s.length <= MAX_EXPANSION) {
        acc = acc.flatMap((a) => s!.map((b) => a + b));
      } else {
        flush();
        walkChildren(e, out);
      }
      s = undefined;
    }
    flush();
    return;
  }
  const s = spell(n);
  if (s) {
    out.push(...s.filter(Boolean));
    return;
  }
  walkChildren(n, out);
}

function walkChildren(n: Node, out: string[]): void {
  for (const k of ['expression', 'left', 'right', 'body']) {
    const c = n[k] as Node | undefined;
    if (c && typeof c === 'object' && 'type' in c) literalRuns(c, out);
  }
  if (Array.isArray(n.expressions)) for (const c of n.expressions as Node[]) literalRuns(c, out);
}

function visit(n: Node, f: (n: Node) => void): void {
  f(n);
  for (const k of ['expression', 'left', 'right', 'body']) {
    const c = n[k] as Node | undefined;
    if (c && typeof c === 'object' && 'type' in c) visit(c, f);
  }
  if (Array.isArray(n.expressions)) for (const c of n.expressions as Node[]) if (c && typeof c === 'object') visit(c, f);
}

function startsWithRepetition(n: Node): boolean {
  if (n.type === 'Repetition') return true;
  if (n.type === 'Group') return n.expression ? startsWithRepetition(n.expression as Node) : false;
  if (n.type === 'Alternative') return (n.expressions as Node[]).length > 0 && startsWithRepetition((n.expressions as Node[])[0]!);
  if (n.type === 'Disjunction') return (!!n.left && startsWithRepetition(n.left as Node)) || (!!n.right && startsWithRepetition(n.right as Node));
  return false;
}

/** Problems of one regex (empty when it is fine). */
export function lintRegex(re: RegExp, anchors: string[] = []): string[] {
  const problems: string[] = [];
  // regexp-tree predates the `d` (indices) flag; it does not change the pattern
  const ast = regexpTree.parse(`/${re.source}/${re.flags.replace('d', '')}`) as unknown as Node;
  if (!re.sticky) problems.push('not sticky (y)');
  visit(ast, (n) => {
    if (n.type !== 'Repetition') return;
    const q = n.quantifier as Node;
    if (q.kind === '*' || q.kind === '+' || (q.kind === 'Range' && q.to === undefined)) problems.push(`unbounded quantifier ${String(q.kind === 'Range' ? `{${String(q.from)},}` : q.kind)}`);
    // `?` (at most once) around a repetition cannot backtrack combinatorially
    const once = q.kind === '?' || (q.kind === 'Range' && Number(q.to) <= 1);
    if (!once && startsWithRepetition(n.expression as Node)) problems.push('nested quantifier without a literal between');
  });
  const runs: string[] = [];
  literalRuns(ast.body as Node, runs);
  for (const a of anchors) {
    if (!runs.some((r) => r.includes(a))) problems.push(`anchor "${a}" is not a literal of the pattern`);
  }
  return problems;
}

/** Problems of a rule table, one line each (`type: problem`). */
export function lintRules(rules: AnchoredRule[]): string[] {
  return rules.flatMap((r) =>
    [r.re, ...(r.wide ? [r.wide] : [])].flatMap((re) => lintRegex(re, r.anchors).map((p) => `${r.type} ${re.source.slice(0, 30)}…: ${p}`)),
  );
}
