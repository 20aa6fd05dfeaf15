/**
 * `db.query.text` as OpenTelemetry's database conventions want it exported
 * by default: sanitized, every literal replaced by `?`, so that the values a
 * statement carries (names, e-mail addresses, passwords in a WHERE clause)
 * stay out of the collector while the statement's shape, which is what a
 * span is read for, stays in. One pass over the text, no regular expressions
 * over the whole statement (statements can be megabytes).
 */

const QUOTE = 0x27; // '
const DQUOTE = 0x22; // "
const BACKTICK = 0x60;
const BACKSLASH = 0x5c;
const DOLLAR = 0x24;
const DASH = 0x2d;
const SLASH = 0x2f;
const STAR = 0x2a;
const HASH = 0x23;
const DOT = 0x2e;

function isDigit(c: number): boolean {
  return c >= 0x30 && c <= 0x39;
}

function isIdentStart(c: number): boolean {
  return (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a) || c === 0x5f || c >= 0x80;
}

function isIdentPart(c: number): boolean {
  return isIdentStart(c) || isDigit(c) || c === DOLLAR;
}

/** Where the quoted run that starts at `i` (on its quote) ends, after the closing quote (or the text's end). */
function quotedEnd(text: string, i: number, quote: number, backslashEscapes: boolean): number {
  const n = text.length;
  for (let j = i + 1; j < n; j++) {
    const c = text.charCodeAt(j);
    if (backslashEscapes && c === BACKSLASH) j++;
    else if (c === quote) {
      if (text.charCodeAt(j + 1) === quote) j++; // a doubled quote is one quote character
      else return j + 1;
    }
  }
  return n;
}

/**
 * Where a literal's prefix starts, for a quote at `q` that follows
 * identifier characters directly: E'…' (PostgreSQL escapes), N'…', X'…',
 * B'…', U&'…', and MySQL's _charset'…'. Otherwise `q`.
 */
function prefixStart(text: string, q: number): number {
  let s = q;
  while (s > 0 && (isIdentPart(text.charCodeAt(s - 1)) || text.charCodeAt(s - 1) === 0x26)) s--;
  if (s === q) return q;
  const word = text.slice(s, q).toLowerCase();
  if (word === 'e' || word === 'n' || word === 'x' || word === 'b' || word === 'u&' || (word.startsWith('_') && word.length > 1)) return s;
  return q;
}

/**
 * SQL text with its string, numeric, hexadecimal, bit and dollar-quoted
 * literals replaced by `?`. Identifiers (also quoted ones), keywords,
 * NULL/TRUE/FALSE, placeholders (`?`, `$1`, `:name`) and comments stay.
 * `system` is `db.system.name`: in MySQL (and MariaDB) "…" is a string and
 * a backslash escapes in every string; in PostgreSQL "…" is an identifier
 * and a backslash escapes only in E'…'. A literal the text was cut inside
 * runs to the end.
 */
export function sanitizeSql(text: string, system: string): string {
  const mysql = system === 'mysql' || system === 'mariadb';
  const n = text.length;
  let out = '';
  let copied = 0;
  const literal = (start: number, end: number): void => {
    out += text.slice(copied, start) + '?';
    copied = end;
  };
  for (let i = 0; i < n; ) {
    const c = text.charCodeAt(i);
    const next = text.charCodeAt(i + 1);
    if ((c === DASH && next === DASH) || (mysql && c === HASH)) {
      const e = text.indexOf('\n', i);
      i = e < 0 ? n : e + 1;
    } else if (c === SLASH && next === STAR) {
      const e = text.indexOf('*/', i + 2);
      i = e < 0 ? n : e + 2;
    } else if (c === QUOTE) {
      const start = prefixStart(text, i);
      const escapes = mysql || (start < i && (text.charCodeAt(start) | 0x20) === 0x65);
      const end = quotedEnd(text, i, QUOTE, escapes);
      literal(start, end);
      i = end;
    } else if (c === DQUOTE) {
      const end = quotedEnd(text, i, DQUOTE, mysql);
      if (mysql) literal(i, end);
      i = end;
    } else if (c === BACKTICK) {
      i = quotedEnd(text, i, BACKTICK, false);
    } else if (c === DOLLAR && !isDigit(next)) {
      // PostgreSQL dollar quoting: $$…$$ or $tag$…$tag$
      let t = i + 1;
      while (t < n && isIdentPart(text.charCodeAt(t)) && text.charCodeAt(t) !== DOLLAR) t++;
      if (text.charCodeAt(t) === DOLLAR && (t === i + 1 || isIdentStart(text.charCodeAt(i + 1)))) {
        const tag = text.slice(i, t + 1);
        const close = text.indexOf(tag, t + 1);
        const end = close < 0 ? n : close + tag.length;
        literal(i, end);
        i = end;
      } else i = t;
    } else if (c === DOLLAR) {
      i++; // $1: a placeholder
      while (i < n && isDigit(text.charCodeAt(i))) i++;
    } else if (isIdentStart(c)) {
      i++;
      while (i < n && isIdentPart(text.charCodeAt(i))) i++;
    } else if (isDigit(c) || (c === DOT && isDigit(next))) {
      // a number (0x1F, 1.5e-3, .5) not inside a name
      const hex = c === 0x30 && (next | 0x20) === 0x78;
      let e = i + 1;
      while (e < n) {
        const d = text.charCodeAt(e);
        if (isDigit(d) || d === DOT || isIdentStart(d)) e++;
        // the sign of an exponent
        else if ((d === 0x2b || d === DASH) && !hex && (text.charCodeAt(e - 1) | 0x20) === 0x65) e++;
        else break;
      }
      literal(i, e);
      i = e;
    } else i++;
  }
  return copied === 0 ? text : out + text.slice(copied);
}

/**
 * Redis `db.query.text` (the command as sent, then its arguments) with every
 * argument replaced by `?`: the command stays, its keys and values do not.
 */
export function sanitizeRedis(text: string, argCount: number): string {
  const space = text.indexOf(' ');
  const command = space < 0 ? text : text.slice(0, space);
  return argCount > 0 ? `${command}${' ?'.repeat(argCount)}` : command;
}
