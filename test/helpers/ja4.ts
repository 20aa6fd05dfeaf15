/**
 * JA4 computed a second way for the oracle tests: from tshark's dissection of
 * a ClientHello, by the definition's text, not by pano's parser.
 */
import { createHash } from 'node:crypto';

/** The tshark fields ja4FromTshark reads, in its order (`dtls` for DTLS's dissector). */
export function ja4TsharkFields(dissector: 'tls' | 'dtls' = 'tls'): string[] {
  return ['handshake.ciphersuite', 'handshake.extension.type', 'handshake.sig_hash_alg_len', 'handshake.sig_hash_alg', 'handshake.extensions_alpn_str', 'handshake.extensions.supported_version', 'handshake.version'].map((f) => `${dissector}.${f}`);
}
export const JA4_TSHARK_FIELDS = ja4TsharkFields('tls');

const grease = (v: number) => (v & 0x0f0f) === 0x0a0a && v >> 8 === (v & 0xff);
const sha12 = (t: string) => createHash('sha256').update(t).digest('hex').slice(0, 12);
const JA4_VERSION: Record<number, string> = { 0x0304: '13', 0x0303: '12', 0x0302: '11', 0x0301: '10', 0x0300: 's3', 0xfeff: 'd1', 0xfefd: 'd2', 0xfefc: 'd3' };

/**
 * JA4 as FoxIO's technical_details/JA4.md defines it, from tshark's dissection of a ClientHello
 * (JA4_TSHARK_FIELDS, each comma-joined): suites, extension types in order, the lengths of the signature
 * algorithm lists (extension 13's and signature_algorithms_cert's, in extension order) and their
 * values, ALPN strings, supported versions, the legacy version.
 */
export function ja4FromTshark(transport: 't' | 'q' | 'd', fields: string[]): string {
  const [suites = '', types = '', sigLens = '', sigs = '', alpn = '', versions = '', legacy = ''] = fields;
  const nums = (s: string) => (s ? s.split(',').map((x) => parseInt(x, x.startsWith('0x') ? 16 : 10)) : []).filter((v) => !grease(v));
  const ciphers = nums(suites);
  const exts = nums(types);
  const v = Math.max(...nums(versions), ...(versions ? [] : [parseInt(legacy, 16)]));
  // extension 13's list is the first or the second of tshark's signature algorithm lists, by extension order
  const lists = exts.filter((t) => t === 13 || t === 50);
  const lens = sigLens ? sigLens.split(',').map((n) => Number(n) / 2) : [];
  const all = sigs ? sigs.split(',').map((x) => parseInt(x, 16)) : [];
  const at = lists.indexOf(13);
  const sig = at < 0 ? [] : all.slice(lens.slice(0, at).reduce((a, b) => a + b, 0), lens.slice(0, at + 1).reduce((a, b) => a + b, 0)).filter((x) => !grease(x));
  const first = alpn ? alpn.split(',')[0]! : '';
  const ok = (c: string) => /[0-9A-Za-z]/.test(c);
  const alpnChars = first === '' ? '00' : ok(first[0]!) && ok(first[first.length - 1]!) ? first[0]! + first[first.length - 1]! : (() => { const h = Buffer.from(first, 'latin1').toString('hex'); return h[0]! + h[h.length - 1]!; })();
  const h4 = (n: number) => n.toString(16).padStart(4, '0');
  const a = `${transport}${JA4_VERSION[v] ?? '00'}${exts.includes(0) ? 'd' : 'i'}${String(Math.min(ciphers.length, 99)).padStart(2, '0')}${String(Math.min(exts.length, 99)).padStart(2, '0')}${alpnChars}`;
  const b = ciphers.length ? sha12(ciphers.map(h4).sort().join(',')) : '000000000000';
  const e = exts.filter((t) => t !== 0 && t !== 16).map(h4).sort().join(',');
  const c = e ? sha12(sig.length ? `${e}_${sig.map(h4).join(',')}` : e) : '000000000000';
  return `${a}_${b}_${c}`;
}
