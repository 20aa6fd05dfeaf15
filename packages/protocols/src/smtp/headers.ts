/**
 * Internet message header fields (RFC 5322 §2.2, RFC 2047): shared by a
 * message's header block and its MIME parts'.
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

/** RFC 2047: encoded words decoded (UTF-8, Latin-1 and ASCII); the white space between two of them goes. */
export function decodeWords(v: string): string {
  if (!v.includes('=?')) return v;
  return v.replace(/(\?=)\s+(=\?)/g, '$1$2').replace(ENCODED_WORD, (whole, charset: string, enc: string, text: string) => {
    const cs = charset.toLowerCase().split('*')[0];
    const encoding = cs === 'utf-8' || cs === 'utf8' ? 'utf8' : cs === 'iso-8859-1' || cs === 'latin1' || cs === 'us-ascii' ? 'latin1' : undefined;
    if (!encoding) return whole;
    let bytes: Buffer;
    if (enc === 'B' || enc === 'b') bytes = Buffer.from(text, 'base64');
    else bytes = Buffer.from(text.replace(/_/g, ' ').replace(/=([0-9A-Fa-f]{2})/g, (_m, h: string) => String.fromCharCode(parseInt(h, 16))), 'latin1');
    return bytes.toString(encoding);
  });
}
