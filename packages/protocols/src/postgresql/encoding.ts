/**
 * The connection's client_encoding: the character set of every string the
 * client sends after startup (query text, parameters, names) and of every
 * string the server sends back (row values, column names, error and notice
 * fields, notification payloads, COPY text). The StartupMessage may name it,
 * the server's ParameterStatus states it, and `SET client_encoding` changes it
 * mid-connection (the server confirms with a new ParameterStatus).
 *
 * Names follow PostgreSQL's own lookup (src/common/encnames.c): case and
 * anything not a letter or digit are ignored, and the aliases it accepts
 * (`latin1`, `ISO-8859-1`, `WIN1252`, `windows-1252`, `unicode`, ...) map to
 * the canonical names the server reports.
 *
 * Decoding never loses bytes: text that the encoding cannot decode here (an
 * encoding Node's TextDecoder does not know, a build whose ICU lacks it, or
 * bytes invalid in the encoding) is shown with one code point per byte
 * (latin1), and `fallbacks` counts those values so the event can be flagged.
 * SQL_ASCII declares no encoding at all, so its bytes above 0x7F are shown
 * the same way. See docs/adr/0254-postgresql-client-encoding.md.
 */
import { isAscii } from 'node:buffer';
import { TextDecoder } from 'node:util';

/** Event flag: some text of the event is raw bytes shown as latin1 code points, not decoded. */
export const TEXT_AS_LATIN1 = 'text_as_latin1';

export interface PgTextCodec {
  /** Canonical PostgreSQL name (UTF8, LATIN1, WIN1252, SQL_ASCII, ...). */
  readonly name: string;
  /**
   * `b[start, end)` as text. `cut`: the bytes were cut at a limit, so a
   * multibyte character may be incomplete at the end (it is dropped, not
   * counted as a fallback).
   */
  decode(b: Buffer, start: number, end: number, cut?: boolean): string;
  /** Values shown as latin1 because they could not be decoded (non-ASCII only); only ever grows. */
  readonly fallbacks: number;
}

/** UTF-8: the default, and what the connection speaks until told otherwise. */
class Utf8Codec implements PgTextCodec {
  readonly name = 'UTF8';
  readonly fallbacks = 0;
  decode(b: Buffer, start: number, end: number): string {
    return b.toString('utf8', start, end);
  }
}

/** ISO 8859-1 is exactly one code point per byte, which is also the lossless fallback. */
function latin1(b: Buffer, start: number, end: number): string {
  return b.toString('latin1', start, end);
}

/**
 * Encodings decoded without ICU: LATIN1 (Buffer's latin1), LATIN5 (ISO 8859-9:
 * latin1 but for six Turkish letters), WIN1252. WHATWG maps the first two
 * labels to windows-1252 / windows-1254, which differ from them at 0x80-0x9F.
 */
const LATIN5_DIFF = /[\xd0\xdd\xde\xf0\xfd\xfe]/g;
const LATIN5_CHARS: Record<string, string> = { '\xd0': 'Ğ', '\xdd': 'İ', '\xde': 'Ş', '\xf0': 'ğ', '\xfd': 'ı', '\xfe': 'ş' };

/**
 * Windows-1252 at 0x80-0x9F (where it differs from latin1); the five bytes it
 * leaves undefined stay the C1 controls latin1 gives. Not TextDecoder: Node 20
 * decodes 'windows-1252' as latin1 (€ comes out as U+0080).
 */
const WIN1252_C1 = '€\x81‚ƒ„…†‡ˆ‰Š‹Œ\x8dŽ\x8f\x90‘’“”•–—˜™š›œ\x9džŸ';
const C1 = /[\x80-\x9f]/g;
function win1252(s: string): string {
  return s.replace(C1, (c) => WIN1252_C1[c.charCodeAt(0) - 0x80]);
}

class ByteCodec implements PgTextCodec {
  fallbacks = 0;
  constructor(
    readonly name: string,
    /** Undefined: the bytes are not decoded (SQL_ASCII, encodings unknown here). */
    private readonly map: ((s: string) => string) | undefined,
  ) {}
  decode(b: Buffer, start: number, end: number): string {
    const s = latin1(b, start, end);
    if (this.map) return this.map(s);
    if (!isAscii(b.subarray(start, end))) this.fallbacks++;
    return s;
  }
}

/** An encoding TextDecoder knows (label per the WHATWG Encoding Standard). */
class IcuCodec implements PgTextCodec {
  fallbacks = 0;
  constructor(
    readonly name: string,
    private readonly decoder: TextDecoder,
  ) {}
  decode(b: Buffer, start: number, end: number, cut = false): string {
    if (isAscii(b.subarray(start, end))) return latin1(b, start, end); // every encoding here is an ASCII superset
    const v = b.subarray(start, end);
    try {
      if (!cut) return this.decoder.decode(v);
      // a cut value may end inside a character: decode what is whole, then drop the rest
      const s = this.decoder.decode(v, { stream: true });
      try {
        this.decoder.decode();
      } catch {
        // the incomplete tail; the flush has reset the decoder either way
      }
      return s;
    } catch {
      // bytes invalid in the encoding (the server would not have sent them, but a capture can hold anything)
      this.fallbacks++;
      return latin1(b, start, end);
    }
  }
}

/** PostgreSQL encoding → WHATWG label. Encodings missing here are not decodable (see `codecFor`). */
const whatwgLabel: Record<string, string> = {
  LATIN2: 'iso-8859-2',
  LATIN3: 'iso-8859-3',
  LATIN4: 'iso-8859-4',
  LATIN6: 'iso-8859-10',
  LATIN7: 'iso-8859-13',
  LATIN8: 'iso-8859-14',
  LATIN9: 'iso-8859-15',
  LATIN10: 'iso-8859-16',
  ISO_8859_5: 'iso-8859-5',
  ISO_8859_6: 'iso-8859-6',
  ISO_8859_7: 'iso-8859-7',
  ISO_8859_8: 'iso-8859-8',
  WIN866: 'ibm866',
  WIN874: 'windows-874',
  WIN1250: 'windows-1250',
  WIN1251: 'windows-1251',
  WIN1253: 'windows-1253',
  WIN1254: 'windows-1254',
  WIN1255: 'windows-1255',
  WIN1256: 'windows-1256',
  WIN1257: 'windows-1257',
  WIN1258: 'windows-1258',
  KOI8R: 'koi8-r',
  KOI8U: 'koi8-u',
  EUC_JP: 'euc-jp',
  SJIS: 'shift_jis',
  EUC_KR: 'euc-kr',
  // WHATWG's euc-kr is Windows-949, which is UHC
  UHC: 'euc-kr',
  // GB 2312 in EUC form is a subset of GBK, byte for byte
  EUC_CN: 'gbk',
  GBK: 'gbk',
  GB18030: 'gb18030',
  BIG5: 'big5',
};

/**
 * Every name PostgreSQL accepts (encnames.c pg_encname_tbl, cleaned: lower
 * case, letters and digits only) → its canonical name. Canonical names not
 * in `whatwgLabel` and not UTF8/SQL_ASCII/LATIN1/LATIN5 (EUC_TW, EUC_JIS_2004,
 * SHIFT_JIS_2004, MULE_INTERNAL, JOHAB) are known but not decodable.
 */
const canonical: Record<string, string> = {
  abc: 'WIN1258',
  alt: 'WIN866',
  big5: 'BIG5',
  euccn: 'EUC_CN',
  eucjis2004: 'EUC_JIS_2004',
  eucjp: 'EUC_JP',
  euckr: 'EUC_KR',
  euctw: 'EUC_TW',
  gb18030: 'GB18030',
  gbk: 'GBK',
  iso88591: 'LATIN1',
  iso885910: 'LATIN6',
  iso885913: 'LATIN7',
  iso885914: 'LATIN8',
  iso885915: 'LATIN9',
  iso885916: 'LATIN10',
  iso88592: 'LATIN2',
  iso88593: 'LATIN3',
  iso88594: 'LATIN4',
  iso88595: 'ISO_8859_5',
  iso88596: 'ISO_8859_6',
  iso88597: 'ISO_8859_7',
  iso88598: 'ISO_8859_8',
  iso88599: 'LATIN5',
  johab: 'JOHAB',
  koi8: 'KOI8R',
  koi8r: 'KOI8R',
  koi8u: 'KOI8U',
  latin1: 'LATIN1',
  latin2: 'LATIN2',
  latin3: 'LATIN3',
  latin4: 'LATIN4',
  latin5: 'LATIN5',
  latin6: 'LATIN6',
  latin7: 'LATIN7',
  latin8: 'LATIN8',
  latin9: 'LATIN9',
  latin10: 'LATIN10',
  mskanji: 'SJIS',
  muleinternal: 'MULE_INTERNAL',
  shiftjis: 'SJIS',
  shiftjis2004: 'SHIFT_JIS_2004',
  sjis: 'SJIS',
  sqlascii: 'SQL_ASCII',
  tcvn: 'WIN1258',
  tcvn5712: 'WIN1258',
  uhc: 'UHC',
  unicode: 'UTF8',
  utf8: 'UTF8',
  vscii: 'WIN1258',
  win: 'WIN1251',
  win1250: 'WIN1250',
  win1251: 'WIN1251',
  win1252: 'WIN1252',
  win1253: 'WIN1253',
  win1254: 'WIN1254',
  win1255: 'WIN1255',
  win1256: 'WIN1256',
  win1257: 'WIN1257',
  win1258: 'WIN1258',
  win866: 'WIN866',
  win874: 'WIN874',
  win932: 'SJIS',
  win936: 'GBK',
  win949: 'UHC',
  win950: 'BIG5',
  windows1250: 'WIN1250',
  windows1251: 'WIN1251',
  windows1252: 'WIN1252',
  windows1253: 'WIN1253',
  windows1254: 'WIN1254',
  windows1255: 'WIN1255',
  windows1256: 'WIN1256',
  windows1257: 'WIN1257',
  windows1258: 'WIN1258',
  windows866: 'WIN866',
  windows874: 'WIN874',
  windows932: 'SJIS',
  windows936: 'GBK',
  windows949: 'UHC',
  windows950: 'BIG5',
};

/** The canonical name of an encoding PostgreSQL would accept under `name`, else undefined. */
export function canonicalEncoding(name: string): string | undefined {
  if (name.length > 32) return undefined;
  const key = name.toLowerCase().replace(/[^a-z0-9]/g, '');
  // own keys only: the table is a plain object, and a name like "constructor" comes from the wire
  return Object.hasOwn(canonical, key) ? canonical[key] : undefined;
}

export const UTF8_CODEC: PgTextCodec = new Utf8Codec();

/**
 * A codec for a canonical encoding name. Each connection gets its own
 * instance (the fallback count is per connection); a TextDecoder is not
 * shared either, since a streamed decode keeps state in it.
 */
export function codecFor(name: string): PgTextCodec {
  if (name === 'UTF8') return UTF8_CODEC;
  if (name === 'LATIN1') return new ByteCodec(name, (s) => s);
  if (name === 'LATIN5') return new ByteCodec(name, (s) => s.replace(LATIN5_DIFF, (c) => LATIN5_CHARS[c]));
  if (name === 'WIN1252') return new ByteCodec(name, win1252);
  const label = whatwgLabel[name];
  if (label) {
    try {
      return new IcuCodec(name, new TextDecoder(label, { fatal: true }));
    } catch {
      // this Node's ICU lacks the encoding (a small-icu build; iso-8859-16 under Node 20): bytes as they are
    }
  }
  return new ByteCodec(name, undefined);
}
