/**
 * IMAP's data syntax (RFC 9051 §4): atoms, numbers, quoted strings, literals,
 * NIL and parenthesised lists, read from one logical line whose pieces are the
 * text between literals and the literals themselves. Section specs keep their
 * brackets in one atom (`BODY[HEADER.FIELDS (FROM TO)]<0>`), flags their
 * backslash (`\Seen`). Response codes are read from the line's text, not here.
 */

/** An atom (or number): kept apart from strings, as NIL is from "NIL". */
export class Atom {
  constructor(readonly v: string) {}
}

/** A literal whose bytes went somewhere other than a string (a message, a section's body, a password). */
export class Captured<T = unknown> {
  constructor(
    readonly size: number,
    readonly value: T,
  ) {}
}

export type Value = Atom | string | null | Captured | Value[];

/** One piece of a logical line: the text between literals, or a literal (its text, or where its bytes went). */
export type Piece = string | Captured;

/**
 * Lists nested deeper than this are flattened into their parent (and the line counted as cut): a
 * crafted line cannot recurse without end. Deep enough for a BODYSTRUCTURE read to its own bound
 * (fetch-items.ts: 16 bodies inside the FETCH list, an envelope's addresses below the deepest).
 */
const MAX_DEPTH = 24;
/** Values read from one line; more are dropped (the caller counts the line as cut). */
export const MAX_VALUES = 20_000;

/** The values of a logical line, top level in order. `cut` is set when MAX_VALUES stopped the reading, or MAX_DEPTH flattened a list. */
export function readValues(pieces: Piece[]): { values: Value[]; cut: boolean } {
  const top: Value[] = [];
  const stack: Value[][] = [top];
  let count = 0;
  let flattened = false;
  /** Lists opened past MAX_DEPTH and not yet closed: their ")" closes nothing. */
  let over = 0;
  const add = (v: Value) => {
    count++;
    stack[stack.length - 1]!.push(v);
  };
  for (const p of pieces) {
    if (count >= MAX_VALUES) return { values: top, cut: true };
    if (typeof p !== 'string') {
      // a literal read as text is a string like a quoted one
      add(typeof p.value === 'string' ? p.value : p);
      continue;
    }
    let i = 0;
    const n = p.length;
    while (i < n && count < MAX_VALUES) {
      const c = p.charCodeAt(i);
      if (c === 0x20) {
        i++;
      } else if (c === 0x28 /* ( */) {
        const list: Value[] = [];
        if (stack.length < MAX_DEPTH) {
          add(list);
          stack.push(list);
        } else {
          flattened = true;
          over++;
        }
        i++;
      } else if (c === 0x29 /* ) */) {
        if (over > 0) over--;
        else if (stack.length > 1) stack.pop();
        i++;
      } else if (c === 0x22 /* " */) {
        let s = '';
        let j = i + 1;
        let from = j;
        while (j < n && p.charCodeAt(j) !== 0x22) {
          if (p.charCodeAt(j) === 0x5c /* \ */) {
            s += p.slice(from, j);
            j++;
            from = j;
          }
          j++;
        }
        s += p.slice(from, Math.min(j, n));
        add(s);
        i = j + 1;
      } else {
        const j = atomEnd(p, i);
        const a = p.slice(i, j);
        add(a.length === 3 && a.toUpperCase() === 'NIL' ? null : new Atom(a));
        i = j;
      }
    }
  }
  return { values: top, cut: flattened || count >= MAX_VALUES };
}

/** Where an atom starting at `i` ends: at a space or parenthesis outside brackets. */
function atomEnd(p: string, i: number): number {
  let depth = 0;
  const n = p.length;
  for (; i < n; i++) {
    const c = p.charCodeAt(i);
    if (c === 0x5b /* [ */) depth++;
    else if (c === 0x5d /* ] */) {
      if (depth > 0) depth--;
    } else if (depth === 0 && (c === 0x20 || c === 0x28 || c === 0x29)) break;
  }
  return i;
}

/** The text of an atom, a string, or a small literal; undefined for NIL, lists and captured literals. */
export function text(v: Value | undefined): string | undefined {
  if (typeof v === 'string') return v;
  if (v instanceof Atom) return v.v;
  return undefined;
}

/** A non-negative number from an atom (RFC 9051's number and number64), or undefined. */
export function num(v: Value | undefined): number | undefined {
  if (!(v instanceof Atom) || !/^\d{1,15}$/.test(v.v)) return undefined;
  return Number(v.v);
}

/**
 * A mailbox name in IMAP's modified UTF-7 (RFC 3501 §5.1.3): `&` starts base64 of UTF-16BE with
 * `,` for `/`, `-` ends it, `&-` is `&`. Left as it is when it does not decode (a server with
 * UTF8=ACCEPT sends UTF-8, RFC 6855).
 */
export function mailboxName(raw: string): string {
  if (!raw.includes('&')) return raw;
  let out = '';
  let i = 0;
  while (i < raw.length) {
    const amp = raw.indexOf('&', i);
    if (amp < 0) {
      out += raw.slice(i);
      break;
    }
    out += raw.slice(i, amp);
    const dash = raw.indexOf('-', amp + 1);
    if (dash < 0) return raw;
    if (dash === amp + 1) out += '&';
    else {
      const b64 = raw.slice(amp + 1, dash).replace(/,/g, '/');
      if (!/^[A-Za-z0-9+/]+$/.test(b64)) return raw;
      const bytes = Buffer.from(b64, 'base64');
      if (bytes.length % 2) return raw;
      out += bytes.swap16().toString('utf16le');
    }
    i = dash + 1;
  }
  return out;
}
