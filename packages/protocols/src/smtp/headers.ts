/**
 * Internet message header fields (RFC 5322 §2.2, RFC 2047): shared by a
 * message's header block and its MIME parts'; and MIME parameters as RFC
 * 2231 extends them, for those a server has already split (IMAP's
 * BODYSTRUCTURE).
 */
import { isUtf8 } from 'node:buffer';
import { setOwn } from '@panopticon/events';

/**
 * Header fields of a header block: unfolded (a line starting with white space continues the field
 * before it), names lower-cased, each with its values in order, encoded words decoded.
 */
export function parseHeaders(raw: Buffer): Record<string, string[]> {
  const head = raw.toString(isUtf8(raw) ? 'utf8' : 'latin1');
  const headers: Record<string, string[]> = {};
  let name = '';
  let value = '';
  const flush = () => {
    if (!name) return;
    const v = decodeWords(value.trim());
    const seen = headers[name];
    if (Array.isArray(seen)) seen.push(v);
    else setOwn(headers, name, [v]);
    name = '';
  };
  for (const line of head.split(/\r?\n/)) {
    if (line === '') continue;
    if ((line[0] === ' ' || line[0] === '\t') && name) {
      value += ' ' + line.trim();
      continue;
    }
    flush();
    const colon = line.indexOf(':');
    if (colon <= 0) continue;
    name = line.slice(0, colon).trim().toLowerCase();
    value = line.slice(colon + 1);
  }
  flush();
  return headers;
}

const ENCODED_WORD = /=\?([^?\s]+)\?([BbQq])\?([^?\s]*)\?=/g;

/** How the text of a MIME charset is read here: UTF-8, Latin-1 and ASCII; undefined for the others (left as sent). A language after `*` (RFC 2231 §5) is ignored. */
function charsetEncoding(charset: string): 'utf8' | 'latin1' | undefined {
  const cs = charset.toLowerCase().split('*')[0];
  return cs === 'utf-8' || cs === 'utf8' ? 'utf8' : cs === 'iso-8859-1' || cs === 'latin1' || cs === 'us-ascii' ? 'latin1' : undefined;
}

/** RFC 2047: encoded words decoded (UTF-8, Latin-1 and ASCII); the white space between two of them goes. */
export function decodeWords(v: string): string {
  if (!v.includes('=?')) return v;
  return v.replace(/(\?=)\s+(=\?)/g, '$1$2').replace(ENCODED_WORD, (whole, charset: string, enc: string, text: string) => {
    const encoding = charsetEncoding(charset);
    if (!encoding) return whole;
    let bytes: Buffer;
    if (enc === 'B' || enc === 'b') bytes = Buffer.from(text, 'base64');
    else bytes = Buffer.from(text.replace(/_/g, ' ').replace(/=([0-9A-Fa-f]{2})/g, (_m, h: string) => String.fromCharCode(parseInt(h, 16))), 'latin1');
    return bytes.toString(encoding);
  });
}

/** An RFC 2231 parameter name: `name`, `name*` (an extended value), `name*N` or `name*N*` (a continuation, extended). */
const PARAMETER_NAME = /^([^*]+)(?:\*(\d{1,3}))?(\*)?$/;

/** The bytes of an extended value's text (RFC 2231 §7): %XX an octet, anything else its UTF-8. */
function percentBytes(s: string): Buffer {
  const parts: Buffer[] = [];
  let from = 0;
  for (let i = s.indexOf('%'); i >= 0; i = s.indexOf('%', i + 1)) {
    if (!/^[0-9A-Fa-f]{2}$/.test(s.slice(i + 1, i + 3))) continue;
    parts.push(Buffer.from(s.slice(from, i), 'utf8'), Buffer.of(parseInt(s.slice(i + 1, i + 3), 16)));
    from = i + 3;
  }
  parts.push(Buffer.from(s.slice(from), 'utf8'));
  return Buffer.concat(parts);
}

/**
 * A MIME header's parameters (RFC 2045 §5.1) from their attribute and value pairs, read as RFC 2231
 * says: continuations (`filename*0`, `filename*1*` ...) joined in order, an extended value
 * (`filename*=utf-8''%C3%9Cbersicht.pdf`, or a first continuation's) decoded from its charset and
 * preferred to a plain value of the same name (unless its charset is one not read here: then the plain
 * value, or the extended one as sent), and encoded words (RFC 2047) in a plain value decoded,
 * as many mail programs send a file name. Names lower-cased, in the order they first came.
 */
export function mimeParameters(pairs: Array<[string, string]>): Record<string, string> {
  const byName = new Map<string, { plain?: string; sections: Array<{ n: number; value: string; encoded: boolean }> }>();
  for (const [rawName, value] of pairs) {
    const m = PARAMETER_NAME.exec(rawName.toLowerCase());
    if (!m) continue;
    const name = m[1]!;
    const p = byName.get(name) ?? { sections: [] };
    byName.set(name, p);
    if (m[2] === undefined && m[3] === undefined) p.plain ??= value;
    else p.sections.push({ n: m[2] === undefined ? 0 : Number(m[2]), value, encoded: m[3] !== undefined });
  }
  const out: Record<string, string> = {};
  for (const [name, p] of byName) {
    if (!p.sections.length) {
      setOwn(out, name, decodeWords(p.plain!));
      continue;
    }
    const sections = p.sections.sort((a, b) => a.n - b.n);
    // charset'language'text, in the first section alone
    const head = sections[0]!.encoded ? /^([^']*)'[^']*'([\s\S]*)$/.exec(sections[0]!.value) : null;
    const encoding = !head ? 'utf8' : head[1] === '' ? 'latin1' : charsetEncoding(head[1]!);
    const texts = sections.map((s, i) => (i === 0 && head ? head[2]! : s.value));
    if (!encoding) setOwn(out, name, p.plain !== undefined ? decodeWords(p.plain) : sections.map((s) => s.value).join(''));
    else setOwn(out, name, Buffer.concat(sections.map((s, i) => (s.encoded ? percentBytes(texts[i]!) : Buffer.from(texts[i]!, 'utf8')))).toString(encoding));
  }
  return out;
}

/** `; name=value` pairs after a header value's first part; a value quoted or a token, `\\x` escapes undone. */
const PARAMETER = /;\s*([^=\s;]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^;]*))/g;

/**
 * A Content-Type's or Content-Disposition's parameters as written in a header field (RFC 2045 §5.1),
 * read as mimeParameters reads them: `filename*=utf-8''%C3%9Cbersicht.pdf`, continuations and encoded
 * words decoded, a quoted value's escapes undone (`"O\\"Brien.pdf"`).
 */
export function headerParameters(value: string): Record<string, string> {
  const pairs: Array<[string, string]> = [];
  for (const m of value.matchAll(PARAMETER)) pairs.push([m[1]!, m[2] !== undefined ? m[2].replace(/\\(.)/g, '$1') : m[3]!.trim()]);
  return mimeParameters(pairs);
}
