/**
 * A search filter (RFC 4511 §4.5.1.7) written as its string representation
 * (RFC 4515): `(&(objectClass=person)(mail=*@example.org))`, as ldapsearch
 * takes it and tshark shows it. Assertion values escape `*`, `(`, `)`, `\`,
 * NUL and bytes that are not printable UTF-8 as `\XX`. Nesting and length are
 * bounded: a crafted filter cannot recurse without end or grow without bound.
 */
import { BerCursor, BerError, OCTET_STRING } from './ber.js';

const MAX_DEPTH = 32;
const MAX_LENGTH = 8192;

/** The filter whose element `c` just read (`c.next()` was called); `c` stays after it. */
export function filterText(c: BerCursor): string {
  const out = { s: '' };
  write(c, out, 0);
  return out.s.length > MAX_LENGTH ? out.s.slice(0, MAX_LENGTH) : out.s;
}

function write(c: BerCursor, out: { s: string }, depth: number): void {
  if (depth > MAX_DEPTH) throw new BerError(c.valueStart, 'filter nested too deep');
  if (out.s.length > MAX_LENGTH) return;
  const tag = c.tag;
  switch (tag) {
    case 0xa0:
    case 0xa1: {
      // and, or: a set of filters
      out.s += tag === 0xa0 ? '(&' : '(|';
      const inner = c.enter();
      while (inner.more) {
        inner.next();
        write(inner, out, depth + 1);
      }
      out.s += ')';
      return;
    }
    case 0xa2: {
      out.s += '(!';
      const inner = c.enter();
      inner.next();
      write(inner, out, depth + 1);
      out.s += ')';
      return;
    }
    case 0xa3:
    case 0xa5:
    case 0xa6:
    case 0xa8: {
      // equalityMatch, greaterOrEqual, lessOrEqual, approxMatch
      const ava = c.enter();
      const attr = ava.readText(OCTET_STRING, 'filter attribute');
      ava.expect(OCTET_STRING, 'filter value');
      const op = tag === 0xa3 ? '=' : tag === 0xa5 ? '>=' : tag === 0xa6 ? '<=' : '~=';
      out.s += `(${attr}${op}${escape(ava.bytes())})`;
      return;
    }
    case 0xa4: {
      // substrings: initial, any..., final
      const sub = c.enter();
      const attr = sub.readText(OCTET_STRING, 'filter attribute');
      sub.expect(0x30, 'substrings');
      const parts = sub.enter();
      let s = `(${attr}=`;
      let last = -1;
      while (parts.more) {
        last = parts.next();
        const v = escape(parts.bytes());
        s += last === 0x80 ? v : `*${v}`;
      }
      // a final part ends the pattern; after an initial or any part a '*' does
      out.s += last === 0x82 ? `${s})` : `${s}*)`;
      return;
    }
    case 0x87:
      out.s += `(${c.text()}=*)`;
      return;
    case 0xa9: {
      // extensibleMatch: [matchingRule] [type] matchValue [dnAttributes]
      const m = c.enter();
      let rule = '';
      let type = '';
      let value = '';
      let dn = false;
      while (m.more) {
        const t = m.next();
        if (t === 0x81) rule = m.text();
        else if (t === 0x82) type = m.text();
        else if (t === 0x83) value = escape(m.bytes());
        else if (t === 0x84) dn = m.boolean();
      }
      out.s += `(${type}${dn ? ':dn' : ''}${rule ? `:${rule}` : ''}:=${value})`;
      return;
    }
    default:
      throw new BerError(c.valueStart, `filter choice 0x${tag.toString(16)}`);
  }
}

/** An assertion value as RFC 4515 writes it. */
function escape(b: Buffer): string {
  let s = '';
  let from = 0;
  const text = b.toString('utf8');
  // printable UTF-8 text is written as is but for the five specials; anything else byte by byte
  if (Buffer.byteLength(text) === b.length && !text.includes('\ufffd')) {
    for (let i = 0; i < text.length; i++) {
      const c = text.charCodeAt(i);
      if (c === 0x2a || c === 0x28 || c === 0x29 || c === 0x5c || c < 0x20 || c === 0x7f) {
        s += text.slice(from, i) + '\\' + c.toString(16).padStart(2, '0');
        from = i + 1;
      }
    }
    return s + text.slice(from);
  }
  for (const byte of b) s += byte >= 0x20 && byte < 0x7f && byte !== 0x2a && byte !== 0x28 && byte !== 0x29 && byte !== 0x5c ? String.fromCharCode(byte) : '\\' + byte.toString(16).padStart(2, '0');
  return s;
}
