/**
 * Finds PII in whole events: walks every string field (with its path),
 * opens JSON and form bodies and URL queries structurally, gives each value
 * the context of its field name, runs the rules, optionally asks the model
 * about name/address candidates, then annotates and redacts the event.
 *
 * Path syntax (docs/PII.md): dotted keys from the event root, `[i]` for array
 * elements, `["odd key"]` for keys that are not plain identifiers; a `$`
 * after a body/query field starts the path inside its parsed content, e.g.
 * `http.request.body.content$.user.email`, `url.query$.q`,
 * `db.response.rows[0].email`; a string in such content that is itself a
 * whole JSON document adds its own `$`: `http.request.body.content$.payload$.name`.
 */
import { setOwn } from '@panopticon/events';
import { hintsFor, Hint } from './context.js';
import { lastScanSawHan, scanByContext, scanString, SHORT, type Hit } from './scan.js';
import { formDataBoundary, keepNumberTexts, keySegment, parseBody, parseForm, parseMultipart, serialiseBody, type Body, type MultipartBody, type StreamBody } from './body.js';
import { JsonNumber } from './json-prefix.js';
import { ALL_TYPES, type PiiType } from './rules.js';
import { addressBytes } from './validators.js';
import { hmacHex } from './keyed-hash.js';
import { canonicalValue } from './canonical.js';
import { nameCandidates, type Candidate, type SpanModel } from './model.js';
import { cnAddresses } from './cn-address.js';
import { findRepeats } from './repeat.js';
import { AllowList } from './allow.js';
import { DECODE_ROUNDS, decodedValue, decodePercent, rawOffset, rawOffsetThrough } from './percent.js';
import { decodePresentation, maskPresentation, rpMailbox, soaRname } from './dns-text.js';

export type RedactMode = 'mask' | 'hash' | 'drop';

/** One annotation as written into `event.pii` (never the raw value). */
export interface PiiFinding {
  type: PiiType;
  path: string;
  start: number;
  end: number;
  confidence: number;
  detector: Hit['detector'];
  validator: string | null;
  /** The value is (in) an object key or a form/query field name, not a value: `path` ends in `[key#N]`, the key's position. */
  key?: true;
}

/** A finding with its keyed hash (when `hashValues` was asked for), for the audit log. */
export interface FindingWithHash extends PiiFinding {
  valueHash?: string;
}

export interface ScanOptions {
  /** Only report these types (default: all). */
  types?: ReadonlySet<string>;
  /** Hits below this confidence are not reported (default 0.5). */
  minConfidence?: number;
  /** Known test values never reported: the whole value, as written or as it decodes (allow.ts). */
  allow?: Iterable<string>;
  redact?: RedactMode;
  /** HMAC key for hash redaction and audit hashes. */
  key: Buffer;
  /** Compute each finding's keyed hash (`valueHash`), e.g. for an audit log; off by default (HMAC per finding costs). */
  hashValues?: boolean;
  /** Name/address model; without it those types come only from field-name context. */
  model?: SpanModel;
  /** Model probability needed to report a candidate (default 0.5). */
  modelThreshold?: number;
}

// one capitalised word ("Goofy") or several words ("alice smith"); not "legacy-host"
const NAME_VALUE = /^(?:\p{Lu}[\p{L}'’-]{0,40}\.?|\p{L}[\p{L}'’-]{0,40}\.?(?: \p{L}[\p{L}'’-]{0,40}\.?){1,4})$/u;
/**
 * One word of 2–16 letters of a script without letter case (`陈瀚`, `山田太郎`, `김민준`, `محمد`), with
 * the marks and name dots such scripts use: in a name field that is a name. Neither NAME_VALUE's capital
 * nor the model's Latin features see these (the model scored `陈瀚` none and `김민준` 0.53).
 */
const CASELESS_NAME = /^\s*(\p{Lo}[\p{Lo}\p{M}·・‧]{1,15})\s*$/u;

const NO_HITS: Hit[] = Object.freeze([]) as unknown as Hit[];

/** Most findings listed in one event's `pii` array. */
export const MAX_ANNOTATIONS = 1000;
/** How much more probable a model hit must be than a longer hit of its type around it to win over it. */
const WHOLE_OVER_PART_MARGIN = 0.2;
/** The labels of a model's classes that are findings; any other (`none`, `organization`, …) is not. */
const PII_TYPE_NAMES: ReadonlySet<string> = new Set(ALL_TYPES);

/**
 * HTTP headers whose grammar is tokens, media types or software names (`gzip, deflate, br`, `Apache`,
 * `no-cache`): a capitalised or title-cased word there is never a person's name or address. Headers
 * that can carry free text or values (cookies, `from`, `referer`, `content-disposition`, custom `x-`
 * headers) are not listed.
 */
const TOKEN_HEADERS = new Set([
  'accept', 'accept-encoding', 'accept-language', 'accept-charset', 'accept-ranges', 'content-type',
  'content-encoding', 'content-language', 'cache-control', 'connection', 'keep-alive', 'te', 'trailer',
  'transfer-encoding', 'upgrade', 'vary', 'server', 'via', 'proxy-agent', 'x-powered-by', 'allow', 'pragma',
  'alt-svc', 'priority', 'grpc-encoding', 'grpc-accept-encoding', 'x-content-type-options', 'x-frame-options',
  'strict-transport-security', 'content-security-policy', 'referrer-policy', 'x-xss-protection',
  'upgrade-insecure-requests', 'access-control-allow-origin', 'access-control-allow-methods',
  'access-control-allow-headers', 'access-control-expose-headers', 'sec-fetch-mode', 'sec-fetch-site',
  'sec-fetch-dest', 'sec-fetch-user', 'sec-ch-ua', 'sec-ch-ua-platform', 'sec-ch-ua-mobile',
]);
const HEADER_PATH = /^http\.(?:request|response)\.(?:header|trailer)\./;
/** Status texts a protocol writes itself (`Moved Temporarily`, AMQP's `Normal shutdown`). */
const PROTOCOL_TEXT_PATHS = new Set(['http.response.reason', 'amqp.arguments.reply_text', 'amqp.response.arguments.reply_text']);

/** A field whose words are the protocol's own, not a payload's: no name or address candidates there. */
function protocolText(path: string, ctxKey: string, body: BodySlot | undefined): boolean {
  if (body) return false;
  // every such path starts with "http." or "amqp."
  const c = path.charCodeAt(0);
  if (c !== 104 && c !== 97) return false;
  return PROTOCOL_TEXT_PATHS.has(path) || (HEADER_PATH.test(path) && TOKEN_HEADERS.has(ctxKey.toLowerCase()));
}

/** Top-level groups that describe the connection, not payload: not scanned. */
const SKIP_GROUPS = new Set(['pano', 'client', 'server', 'network', 'process', 'error', 'pii', 'source', 'destination']);

interface BodySlot {
  holder: Record<string, unknown> | unknown[] | Array<string | null>;
  key: string | number;
  body: Body;
  touched: Set<number>;
  dropped: Set<number>;
  dirty: boolean;
  /** How many `$` its path holds: 1 for a body or a payload value, one more per document kept in a string of another. */
  level: number;
  /** The body whose string value this document is (double-encoded JSON): written back into it, before it. */
  parent?: BodySlot;
  /** The form pair or multipart part of `parent` whose value the string is. */
  parentIndex?: number;
  /** Its entry was removed from its holder (`--redact drop` of a key naming it): not written back. */
  detached?: true;
}

interface Slot {
  holder: Record<string, unknown> | unknown[] | [string, string];
  key: string | number;
  path: string;
  value: string;
  hints: number;
  hits: Hit[];
  body?: BodySlot;
  formIndex?: number;
  /** The field name the value's context came from. */
  ctxKey: string;
  /** A protocol object's `name` outside payloads (`dns.question.name`): no names or addresses. */
  protocolName: boolean;
  /** Where scanning stopped at the event's findings bound: the value from here on was not scanned. */
  scannedTo?: number;
  /** Offset of `value` in the text at `path` (the tail of a cut JSON body); findings are reported there. */
  base?: number;
  /** DNS presentation text holding an escape (DNS_TEXT): its hits were found decoded, and a mask keeps its escapes whole. */
  presentation?: true;
  /** A JSON document nested past MAX_JSON_LEVELS, scanned as text: under --redact replaced whole. */
  nested?: true;
  /**
   * A claim of a JWT (walkJwtClaims): the index in `Pending.slots` of the value holding the token, and
   * the token's hit. Its findings stand only while that hit is reported: it is the token's redaction
   * that removes them (claims are never written back).
   */
  jwt?: { slot: number; hit: Hit };
}

/**
 * An object key (or a form field's name) holding personal data: a map keyed
 * by e-mail address, a query parameter named by a phone number. Its path
 * segment is `[key#N]` (its position among the keys), never the key, so
 * the annotation and the audit log do not carry the value.
 */
interface KeySlot {
  /** The object holding the key, or the form body whose pair `index` it names. */
  holder: Record<string, unknown>;
  key: string;
  /** The key's position among its object's keys (or the pair's index). */
  index: number;
  /** Path of the entry: the parent's path and `[key#N]`. */
  path: string;
  hits: Hit[];
  body?: BodySlot;
  formPair?: boolean;
}

/** Keys with no digit and no `@` that are this short hold nothing the rules find: not scanned. */
const KEY_SCAN_MIN = 20;

/** Names and addresses are never looked for in this field. */
function namesBarred(slot: Slot): boolean {
  return (slot.hints & Hint.notPii) !== 0 || slot.protocolName || protocolText(slot.path, slot.ctxKey, slot.body) || dnsStructured(slot);
}

/**
 * A DNS event's field that is no free text: everything but TXT (and SPF) record data and an EDE
 * option's EXTRA-TEXT. The rest are enumerations (types, classes, flags, codes), names, and record data
 * in presentation format (addresses, numbers, names: `10 mail.example.com`), where a person's name or a
 * street address is never written; the model's candidates there were all `none`, and finding and scoring
 * them took about 30 % of `pano-pii --model`'s time on DNS traffic. The rules still scan every field
 * but the codes' names (dnsCodeName).
 */
function dnsStructured(slot: Slot): boolean {
  const path = slot.path;
  if (slot.body || !path.startsWith('dns.')) return false;
  if (RECORD_DATA.test(path)) {
    const type = Array.isArray(slot.holder) ? undefined : (slot.holder as Record<string, unknown>).type;
    return type !== 'TXT' && type !== 'SPF';
  }
  return !EDE_TEXT.test(path);
}

/** Keys of a DNS event's codes: record types and classes, header flags, opcode, response code. */
const DNS_CODE_KEYS = new Set(['type', 'class', 'flags', 'opcode', 'response_code']);
/**
 * The parser's name of a DNS code: a registry name (`AAAA`, `NXDOMAIN`, `NSEC3PARAM`) or that of an
 * unregistered code (`TYPE65534`). No rule fires on one (no anchor, no digit run a validator takes, no
 * keyword), and the model is not asked about one (dnsStructured), so scanning it finds nothing; a DNS
 * event has eight or more of them. Any other value in such a field (a hand-made event's) is scanned.
 */
const DNS_CODE_NAME = /^(?:[A-Z]{1,10}|NSEC3(?:PARAM)?|(?:TYPE|CLASS|RCODE|OPCODE)\d{1,5})$/;

/** A DNS code's name under its key in the DNS group (the cheap tests first: this runs for every string). */
function dnsCodeName(ctxKey: string, v: string): boolean {
  return v.length <= 11 && DNS_CODE_KEYS.has(ctxKey) && DNS_CODE_NAME.test(v);
}

/** What `collect` found in one event before the model and redaction ran. */
export interface Pending {
  event: Record<string, unknown>;
  slots: Slot[];
  bodies: BodySlot[];
  candidates: Array<{ slot: Slot; cand: Candidate }>;
  /** The event's own protocol and system names, lower-cased (`kafka`, `redis`): never a person's name in it. */
  systems: string[];
  /** Rule hits the event may still take (MAX_EVENT_HITS in all). */
  hitBudget: number;
  /** The event is flagged `pii_scan_cut` (its hits ran out, or it nests deeper than MAX_DEPTH). */
  cut?: boolean;
  /** Keys holding personal data (their findings are reported, rules only). */
  keys: KeySlot[];
  /** The event's top-level key being walked (`dns`, `http`): a field's group without reading its path. */
  group: string;
}

/**
 * Objects and arrays nested deeper than this are not walked (the walk
 * recurses). What lies below is not scanned: the event is flagged
 * `pii_scan_cut`, and under --redact it is replaced by `<unscanned:nested>`,
 * so nesting cannot carry a value past redaction.
 */
const MAX_DEPTH = 64;
const UNSCANNED_NESTED = '<unscanned:nested>';

/**
 * `$` levels of JSON documents kept in strings of one another (a body, a string of it that is a JSON
 * document, …): SQS in SNS in a webhook is three. Past this the string is scanned as text, its field
 * names giving no context: the event is flagged `pii_scan_cut` and under --redact the string is
 * replaced by `<unscanned:nested>`. Each level's text is a part of the one above, so a body is parsed
 * at most this many times over.
 */
export const MAX_JSON_LEVELS = 4;

/**
 * Rule hits one event may hold. Every hit is kept, hashed, audited and
 * redacted, so a value of millions (a 63 MB body of e-mail addresses) took
 * gigabytes and ended in V8's heap limit. Past the bound scanning stops,
 * the event is flagged `pii_scan_cut`, and under --redact the unscanned rest
 * of the value is replaced whole: nothing unscanned leaves.
 */
export const MAX_EVENT_HITS = 100_000;
/** Values longer than this are scanned window by window, so one scan's hits stay few. */
const SCAN_WINDOW = 1 << 20;
/** Windows overlap by this much: a hit that starts in one window and ends in the next is whole in the first. */
const SCAN_OVERLAP = 64 * 1024;

/** Where the last scanBounded stopped at its budget, or -1 (a module variable: no result object per value in the hot path). */
let boundedCut = -1;

/** scanString over `value` in windows, stopping at `budget` hits (then `boundedCut` is where). */
function scanBounded(value: string, hints: number, budget: number): Hit[] {
  boundedCut = -1;
  if (value.length <= SCAN_WINDOW) {
    const hits = scanString(value, hints);
    if (hits.length <= budget) return hits;
    const kept = hits.slice(0, budget);
    boundedCut = budget > 0 ? kept[kept.length - 1]!.end : 0;
    return kept;
  }
  const out: Hit[] = [];
  let lastEnd = 0;
  for (let from = 0; from < value.length; from += SCAN_WINDOW) {
    const to = Math.min(value.length, from + SCAN_WINDOW + SCAN_OVERLAP);
    for (const h of scanString(value.slice(from, to), hints)) {
      const start = h.start + from;
      // hits starting in the overlap belong to the next window; a suffix of a hit the last window found is not another
      if ((to < value.length && h.start >= SCAN_WINDOW) || start < lastEnd) continue;
      if (out.length >= budget) {
        boundedCut = lastEnd;
        return out;
      }
      out.push({ ...h, start, end: h.end + from });
      lastEnd = h.end + from;
    }
  }
  return out;
}

/** A percent escape (`%2B`, `%c3`): what says a value may hold text that was URL-encoded. */
const ESCAPE = /%[0-9A-Fa-f]{2}/;
/**
 * An international number a query or form wrote with its `+` unescaped and `+` for its spaces
 * (`phone=+1+650-253-0000`): read as written, the rules took `+650-253-0000` for the number, its
 * country code left out. withDecodedHits reads such a value too, where it holds no escape.
 */
const FORM_DIAL_PLUS = /(?:^|[^0-9A-Za-z_+])\+\d{1,3}\+\d/;
/**
 * A `+` inside the value of a `key=value` pair (after its `=`, before any space, `&`, `;` or `#`):
 * a query as a browser's form GET, URLSearchParams or urlencode writes it, with `+` for every space
 * and nothing else escaped (`card=4111+1111+1111+1111`), in `url.full`, a Referer or a Location.
 * `url.query$.card` reads it decoded and is redacted; read as written the rules saw no card, and it
 * stayed raw beside it under every --redact.
 */
const FORM_VALUE_PLUS = /=[^\s&;#=]*\+/;

/**
 * Whether an offset of `value` lies in the value of a `key=value` pair (FORM_VALUE_PLUS): after an `=`
 * with no space, `&`, `;`, `#` or `?` since. One pass over `value` marks every offset, made when first
 * asked: a scan's hits come in no set order, and a walk back from each was quadratic in a long value.
 */
function formValueReader(value: string): (at: number) => boolean {
  let marks: Uint8Array | undefined;
  return (at) => {
    if (!marks) {
      marks = new Uint8Array(value.length + 1);
      let inValue = 0;
      for (let i = 0; i < value.length; i++) {
        marks[i] = inValue;
        const c = value.charCodeAt(i);
        if (c === 61) inValue = 1;
        else if (isSpace(c) || c === 38 || c === 59 || c === 35 || c === 63) inValue = 0;
      }
      marks[value.length] = inValue;
    }
    return marks[at] === 1;
  };
}

/**
 * `value` with each `+` a space, as form encoding writes a space (WHATWG URL, application/x-www-form-urlencoded),
 * except a `+` that starts a number (after no letter or digit, before a digit: `phone=+1+650…`): a
 * value that begins with a space and then digits is what no one typed, an international number written
 * by a client that did not escape its `+` is. Same length as `value`.
 */
function formSpaces(value: string): string {
  if (value.indexOf('+') < 0) return value;
  let out = '';
  let from = 0;
  for (let i = value.indexOf('+'); i >= 0; i = value.indexOf('+', i + 1)) {
    const next = value.charCodeAt(i + 1);
    const prev = i > 0 ? value.charCodeAt(i - 1) : 32;
    if (next >= 48 && next <= 57 && !isIdent(prev) && prev !== 43) continue;
    out += value.slice(from, i) + ' ';
    from = i + 1;
  }
  return out + value.slice(from);
}

/**
 * Hits of `value` (which holds a percent escape) that only its decoded text
 * shows: a URL or cookie written into a header, a body or a log line keeps
 * its query encoded (`Referer: …?card=4111%201111%201111%201111`,
 * `phone=%2B1%20650-253-0000`), which the rules, reading it as written, saw
 * as a run of other digits or not at all. The text is decoded (`+` as a
 * space, as in a query; it keeps the offsets), scanned, and each hit that
 * takes in an escape is mapped back to where it is written; it replaces the
 * hits of the text as written that lie inside it (the `20650-253-0000` of
 * `%2B1%20650-253-0000`), and is passed over where one reaches out of it. A
 * hit written as it decodes was there to be found as written. Its value,
 * for hashes and the audit log, is its decoded text (decodedValue). A value
 * with no escape (`unescaped`) is read so only for a number whose `+` it
 * left unescaped (FORM_DIAL_PLUS) and for a hit inside the value of a
 * `key=value` pair (FORM_VALUE_PLUS), the one place form encoding puts `+`
 * for a space: elsewhere its `+` may be anything (base64, a time zone), and
 * is not read as a space; such a hit is hashed as its text with spaces.
 * A text still holding an escape once decoded is decoded again (up to
 * DECODE_ROUNDS), and a hit found only then is hashed as the text it was
 * found in (`%252B1%2520650-253-0000` as `+1 650-253-0000`).
 */
function withDecodedHits(value: string, hints: number, hits: Hit[], budget: number, unescaped: boolean): Hit[] {
  let out = hits;
  // a text still holding an escape once decoded was encoded more than once (a URL in a query parameter,
  // DECODE_ROUNDS): decoded again, its hits mapped back through every round
  const layers: number[][] = [];
  const inFormValue = unescaped ? formValueReader(value) : undefined;
  let text = value;
  for (let round = 0; round < DECODE_ROUNDS; round++) {
    const marks: number[] = [];
    const spaced = formSpaces(text);
    const decoded = decodePercent(spaced, marks);
    if (marks.length === 0 && spaced === text) break;
    layers.push(marks);
    const found: Hit[] = [];
    for (const d of scanString(decoded, hints)) {
      const a = rawOffsetThrough(layers, d.start);
      const b = rawOffsetThrough(layers, d.end);
      // without an escape, `+` is a space only in a form value; else only a number's dialling `+` starts it
      if (inFormValue && value.charCodeAt(a) !== 43 && !inFormValue(a)) continue;
      // the same text as written (no escape or `+` inside): the scan of the text as written decided it
      if (b - a === d.end - d.start && value.startsWith(decoded.slice(d.start, d.end), a)) continue;
      // decodedValue decodes once and knows no `+` for a space where there is no escape (a phone's it
      // does): a hit decoded more than once, or read for its `+` alone, stands for the text it was found as
      found.push((unescaped && d.type !== 'phone') || round > 0 ? { ...d, start: a, end: b, sameAs: decoded.slice(d.start, d.end) } : { ...d, start: a, end: b });
    }
    if (found.length) {
      const merged = mergeDecoded(out, found, budget - (out.length - hits.length));
      out = merged.out;
      if (merged.full) break;
    }
    // once decoded, the inner query's escapes, or its `+` for spaces that came as `%2B`, show: read again
    if (marks.length === 0 || !(ESCAPE.test(decoded) || (decoded.indexOf('+') >= 0 && FORM_VALUE_PLUS.test(decoded)))) break;
    text = decoded;
  }
  return out;
}

/**
 * `out` (sorted, not overlapping) with the hits of a decoded reading (`found`) that no hit of `out`
 * reaches out of, each replacing the hits of `out` inside it; at most `budget` more hits in all. One
 * merge of the two sorted lists: testing and filtering all of `out` for each hit was quadratic in a
 * long value of many (30,000 cards written `4111+1111+…` in one Referer took 150 s).
 */
function mergeDecoded(out: Hit[], found: Hit[], budget: number): { out: Hit[]; full: boolean } {
  found.sort((x, y) => x.start - y.start);
  const res: Hit[] = [];
  let i = 0;
  let grown = 0;
  for (const c of found) {
    while (i < out.length && out[i]!.end <= c.start) res.push(out[i++]!);
    // a hit kept before (of out, or of this reading) that reaches into it: it is passed over
    const last = res[res.length - 1];
    if (last && last.end > c.start) continue;
    let j = i;
    let reaches = false;
    for (; j < out.length && out[j]!.start < c.end; j++) if (out[j]!.start < c.start || out[j]!.end > c.end) reaches = true;
    if (reaches) continue;
    if (grown + 1 - (j - i) > budget) {
      while (i < out.length) res.push(out[i++]!);
      return { out: res, full: true };
    }
    grown += 1 - (j - i);
    i = j;
    res.push(c);
  }
  while (i < out.length) res.push(out[i++]!);
  return { out: res, full: false };
}

/**
 * The fields of a DNS event pano-parse writes in presentation format (pano-events(5)): the question's
 * name, every record's owner name and its data (a CNAME/PTR/MX/SRV target, TXT strings, SOA names):
 * `\@`, `\.` and `\DDD` there stand for bytes, which are what is scanned (presentationHits).
 */
const DNS_TEXT = /^dns\.(?:question\.name|(?:query_)?(?:answers|authority|additional)\[\d+\]\.(?:name|data))$/;

/**
 * The hits of DNS presentation text `value` (which holds a backslash), found in the bytes it stands for
 * (decodePresentation: `alice\@corp.example.com` is `alice@corp.example.com`) and mapped back to where
 * they are written, so `start`/`end` and redaction cover the escapes. A hit whose text as written is
 * not what it stands for keeps that (`sameAs`), which it is hashed and allowed as, so it joins the
 * same address found anywhere else. `boundedCut`, when set, is mapped back too.
 */
function presentationHits(value: string, hints: number, budget: number): Hit[] {
  const marks: number[] = [];
  const decoded = decodePresentation(value, marks);
  const hits = scanBounded(decoded, hints, budget);
  if (marks.length === 0) return hits;
  if (boundedCut >= 0) boundedCut = rawOffset(marks, boundedCut);
  return hits.map((h) => {
    let start = rawOffset(marks, h.start);
    const end = rawOffset(marks, h.end);
    let text = decoded.slice(h.start, h.end);
    const at = h.type === 'email' ? value.indexOf('\\@', start) : -1;
    if (at >= 0 && at < end) {
      // an address in a name is the label holding its `@` and what follows (RFC 1035's mailbox, its local
      // part's dots escaped): a label before it (`x.alice\@corp.example.com`) is no part of its local part
      const label = labelStart(value, start, at);
      if (label > start) {
        start = label;
        text = decodePresentation(value.slice(start, end), []);
      }
    }
    return end - start === text.length && value.startsWith(text, start) ? { ...h, start, end } : { ...h, start, end, sameAs: h.sameAs ?? text };
  });
}

/** Where the label of presentation text `value` holding offset `at` starts, at `from` or after: after its last unescaped `.` before `at`. */
function labelStart(value: string, from: number, at: number): number {
  let start = from;
  for (let i = from; i < at; i++) {
    const c = value.charCodeAt(i);
    if (c === 92) {
      // `\DDD` or `\X`: neither is a label's end
      const d = value.charCodeAt(i + 1);
      i += d >= 48 && d <= 57 ? 3 : 1;
    } else if (c === 46) start = i + 1;
  }
  return start;
}

/** A field of an EDNS option of a DNS event (pano-events(5): `dns.edns`, `dns.query_edns`). */
const ECS_FIELD = /^dns\.(?:query_)?edns\.options\[\d+\]\.(?:subnet|data)$/;
/** An ECS option's `subnet` as pano-parse writes it (dig's form): address/source prefix/scope prefix. */
const ECS_SUBNET = /^([0-9A-Fa-f:.]{2,45})\/(\d{1,3})\/\d{1,3}$/;

/**
 * The client subnet of an ECS option (RFC 7871) as a finding: `203.0.113.0/24` of `203.0.113.0/24/0`,
 * the address and its source prefix (the network the client is in; the scope is the server's
 * answer), of type ipv4 or ipv6 with the confidence and validator of an address. A source prefix of 0
 * is a client asking that its subnet not be used (RFC 7871 §7.1.2): nothing personal. Undefined when
 * the text is no subnet.
 */
function ecsSubnet(subnet: string): Hit | undefined {
  const m = ECS_SUBNET.exec(subnet);
  if (!m) return undefined;
  const bytes = addressBytes(m[1]!);
  const prefix = Number(m[2]);
  if (!bytes || prefix === 0 || prefix > bytes.length * 8) return undefined;
  const v4 = bytes.length === 4;
  return { type: v4 ? 'ipv4' : 'ipv6', start: 0, end: m[1]!.length + 1 + m[2]!.length, confidence: 0.85, detector: 'regex', validator: v4 ? 'ipv4-octets' : 'rfc4291' };
}

/**
 * `hits` of an EDNS option's field with its client subnet added, when the option is ECS (code 8): the
 * `subnet` as ecsSubnet says, and in the option's hex `data` (family, source and scope prefix, then
 * the address's first source-prefix bits, RFC 7871 §6) the address bytes, hashed as the subnet
 * (`sameAs`) so the two join; left as it was, redaction of the subnet left it in hex beside it.
 */
function ecsHits(holder: Slot['holder'], ctxKey: string, value: string, hits: Hit[]): Hit[] {
  const opt = holder as Record<string, unknown>;
  if (Array.isArray(holder) || opt.code !== 8 || typeof opt.subnet !== 'string') return hits;
  const h = ecsSubnet(opt.subnet);
  if (!h) return hits;
  if (ctxKey === 'subnet') {
    if (value !== opt.subnet) return hits;
  } else {
    const n = Math.ceil(Number(opt.subnet.slice(opt.subnet.indexOf('/') + 1, opt.subnet.lastIndexOf('/'))) / 8);
    if (value.length !== 8 + 2 * n || !/^[0-9a-f]+$/i.test(value)) return hits;
    Object.assign(h, { start: 8, end: 8 + 2 * n, validator: 'rfc7871', sameAs: opt.subnet.slice(0, h.end) });
  }
  return [...hits.filter((k) => k.end <= h.start || h.end <= k.start), h].sort((a, b) => a.start - b.start);
}

/**
 * Fields the event schema requires (pano-events(5)) that can hold a finding: a DNS name (the question's,
 * a record's), a record's data, an EDNS option's hex, a MySQL error message (a duplicate-key error
 * quotes the value) or column name (an expression's column is named by its text), an MQTT will's topic or
 * SUBSCRIBE filter (`users/ann@example.com/#`), binary correlation data's base64, a memcached item's key, an SMTP reply's text (`550 <ann@example.com>: unknown`) a POP3 or IMAP response's, an IMAP mailbox name (`Clients/ann@example.org`), quota root (`user.ann`) or namespace prefix, an LDAP DN or search filter (`uid=ann,...`, `(mail=ann@example.org)`), an FTP reply's text (`550 ann@example.org.csv: no such file`), a NATS delivery's subscription subject (`users.ann@example.org.>`). `--redact drop` sets
 * them to null, as it does an element of a list, which the schema allows there for that reason:
 * removed, the event was no longer one the schema accepts. test/pii/drop-schema.test.ts checks this
 * list against the schema's required strings.
 */
export const REQUIRED_STRING = /^(?:dns\.question\.name|dns\.(?:query_)?(?:answers|authority|additional)\[\d+\]\.(?:name|data)|dns\.(?:query_)?edns\.options\[\d+\]\.data|mysql\.error\.message|mysql\.columns\[\d+\]\.name|mqtt\.connect\.will\.topic|mqtt\.subscriptions\[\d+\]\.filter|mqtt\.(?:response\.|connect\.will\.)?properties\.correlation_data\.base64|memcached\.response\.values\[\d+\]\.key|smtp\.(?:intermediate_)?reply\.text|pop3\.response\.text|imap\.response\.text|imap\.mailboxes\[\d+\]\.name|imap\.status\.mailbox|imap\.quota_roots\.mailbox|imap\.quota\[\d+\]\.root|imap\.namespace\.(?:personal|other|shared)\[\d+\]\.prefix|ldap\.bind\.name|ldap\.entries\[\d+\]\.dn|ldap\.modify_dn\.new_rdn|ldap\.search\.(?:base|filter)|ftp\.(?:preliminary_)?reply\.text|nats\.subscription\.subject)$/;

/** A record's data of a DNS event (pano-events(5): `dns.answers[]`, `dns.authority[]`, `dns.additional[]`, and the query's own, `dns.query_answers[]` ...). */
const RECORD_DATA = /^dns\.(?:query_)?(?:answers|authority|additional)\[\d+\]\.data$/;

/**
 * `hits` of an SOA record's data with its RNAME (RFC 1035 §3.3.13: the zone's responsible mailbox,
 * written as a name, `john\.doe.example.org`), or of an RP record's with its mailbox (RFC 1183 §2.2:
 * the responsible person's, its first field), found as the e-mail address it is, in place of hits
 * inside it: its span as written, hashed and allowed as `local@domain` (`sameAs`) so it joins the
 * same address found anywhere else. Only when that address is one the rules take whole (their e-mail
 * shape), with their confidence; a role mailbox (`hostmaster.example.org`) is an address as
 * `hostmaster@example.org` in text is. Detector `regex`, so the name is no seed for repeats (a
 * question for `hostmaster.example.org` is a name, not this address).
 */
function mailboxNameHits(holder: Slot['holder'], value: string, hits: Hit[]): Hit[] {
  if (Array.isArray(holder)) return hits;
  const type = (holder as Record<string, unknown>).type;
  const r = type === 'SOA' ? soaRname(value) : type === 'RP' ? rpMailbox(value) : undefined;
  if (!r) return hits;
  const email = scanString(r.address).find((h) => h.type === 'email' && h.start === 0 && h.end === r.address.length);
  if (!email) return hits;
  const h: Hit = { type: 'email', start: r.start, end: r.end, confidence: email.confidence, detector: 'regex', validator: type === 'SOA' ? 'rfc1035-rname' : 'rfc1183-rp', sameAs: r.address };
  return [...hits.filter((k) => k.end <= h.start || h.end <= k.start), h].sort((a, b) => a.start - b.start);
}

/** The EXTRA-TEXT of an Extended DNS Error option (RFC 8914 §2) as pano-parse writes it beside the option's hex. */
const EDE_TEXT = /^dns\.(?:query_)?edns\.options\[\d+\]\.extra_text$/;
/** Hex characters of an EDE option's `data` before its EXTRA-TEXT: the 2-byte INFO-CODE. */
const EDE_TEXT_HEX = 4;

/**
 * The hits to add to an EDE option's hex `data` for the findings reported in its `extra_text`
 * (`textHits`, after confidence, types, --allow and repeats): the option's hex holds the same text as
 * UTF-8 after its INFO-CODE, so a redacted `extra_text` left it readable there (`0012…616c69636540…`).
 * Each finding covers the hex of its own bytes, found by the UTF-8 length of the text before it (the
 * text is UTF-16: `ü` is one unit, two bytes, four hex characters), with the finding's type,
 * confidence and detector, validator `rfc8914`, and hashed as the finding (`sameAs`) so the two join.
 * When the hex is not the text's UTF-8 (bytes that were no UTF-8, shown as U+FFFD), where a finding's
 * bytes lie is not known: the whole EXTRA-TEXT span is one hit, hashed as the first finding.
 */
function edeDataHits(opt: Record<string, unknown>, data: string, textHits: readonly Hit[]): Hit[] {
  const text = opt.extra_text as string;
  const bytes = Buffer.from(text, 'utf8');
  if (data.length === EDE_TEXT_HEX + 2 * bytes.length && data.slice(EDE_TEXT_HEX).toLowerCase() === bytes.toString('hex')) {
    return textHits.map((h) => {
      const start = EDE_TEXT_HEX + 2 * Buffer.byteLength(text.slice(0, h.start), 'utf8');
      const end = start + 2 * Buffer.byteLength(text.slice(h.start, h.end), 'utf8');
      return { type: h.type, start, end, confidence: h.confidence, detector: h.detector, validator: 'rfc8914', sameAs: hashedSource(h, text) };
    });
  }
  if (data.length <= EDE_TEXT_HEX) return [];
  const h = textHits[0]!;
  return [{ type: h.type, start: EDE_TEXT_HEX, end: data.length, confidence: h.confidence, detector: h.detector, validator: 'rfc8914', sameAs: hashedSource(h, text) }];
}

/** Whether `slot` is the hex `data` of EDE option `opt` (same holder, pano-events(5): `dns.edns.options[]`). */
function edeDataSlot(slot: Slot, opt: Slot['holder']): boolean {
  return slot.holder === opt && slot.key === 'data' && typeof slot.value === 'string';
}

/**
 * Each EDE option's `extra_text` with findings reported (kept[i]) gives its hex `data` the hits
 * edeDataHits says, in place of those of its own they overlap.
 */
function edeHexHits(slots: readonly Slot[], kept: Hit[][]): void {
  for (let i = 0; i < slots.length; i++) {
    const slot = slots[i]!;
    if (kept[i]!.length === 0 || slot.key !== 'extra_text' || !EDE_TEXT.test(slot.path)) continue;
    const opt = slot.holder as Record<string, unknown>;
    if (Array.isArray(opt) || opt.code !== 15 || opt.extra_text !== slot.value) continue;
    const j = slots.findIndex((d) => edeDataSlot(d, opt));
    if (j < 0) continue;
    const add = edeDataHits(opt, slots[j]!.value, kept[i]!);
    if (add.length === 0) continue;
    const own = kept[j]!.filter((k) => add.every((a) => k.end <= a.start || a.end <= k.start));
    kept[j] = [...own, ...add].sort((a, b) => a.start - b.start);
  }
}

/**
 * `hits` of a form or query value (decoded, `+` a space) with the e-mail addresses whose `+` the sender
 * left unescaped (`email=alice+news@example.org`, as hand-built URLs and `curl -d` send it) found whole.
 * Form encoding reads `alice news@example.org`, which holds no address but `news@example.org`: the rules
 * took that, leaving `alice` raw under --redact mask and hash and hashing apart from `alice+news@…` in
 * url.full or a Referer. An address holds no space, and a `+` in its local part is common (tags), so
 * the value is read again with the pair's unescaped `+` kept (same length: every `+` is one character
 * either way); an address found there that takes in such a `+` replaces what the rules found inside it,
 * hashed as written with its `+`.
 */
function withFormPlusEmails(value: string, pair: string, hints: number, hits: Hit[]): Hit[] {
  const raw = pair.slice(pair.indexOf('=') + 1);
  if (raw.indexOf('+') < 0) return hits;
  let kept: string;
  try {
    kept = decodeURIComponent(raw);
  } catch {
    return hits;
  }
  if (kept.length !== value.length) return hits;
  let out = hits;
  for (const h of scanString(kept, hints)) {
    if (h.type !== 'email') continue;
    const text = kept.slice(h.start, h.end);
    if (value.startsWith(text, h.start)) continue;
    // a hit reaching out of it is another reading of the text around: left to stand
    if (out.some((x) => x.start < h.end && h.start < x.end && (x.start < h.start || x.end > h.end))) continue;
    out = out.filter((x) => x.end <= h.start || x.start >= h.end);
    out.push({ ...h, sameAs: text });
  }
  return out === hits ? hits : out.sort((x, y) => x.start - y.start);
}

/** Does the raw form pair `name=value` have a value starting with an unescaped `+` and a digit? */
function dialPlusValue(pair: string): boolean {
  const eq = pair.indexOf('=');
  const c = pair.charCodeAt(eq + 2);
  return eq >= 0 && pair.charCodeAt(eq + 1) === 43 && c >= 48 && c <= 57;
}

/** Where an event names its protocol and the system it talks to. */
function systemNames(event: Record<string, unknown>): string[] {
  const out: string[] = [];
  const add = (v: unknown) => {
    if (typeof v === 'string' && v.length > 1 && !out.includes(v.toLowerCase())) out.push(v.toLowerCase());
  };
  const group = (k: string) => event[k] as Record<string, unknown> | undefined;
  add(group('pano')?.protocol);
  add(group('messaging')?.system);
  add(group('rpc')?.system);
  const db = group('db')?.system;
  add(db && typeof db === 'object' ? (db as Record<string, unknown>).name : db);
  return out;
}

/** Is one of the words of `span` the name of the event's protocol or system (`Kafka` of `Hello Kafka`)? */
function namesSystem(span: string, systems: string[]): boolean {
  const words = span.toLowerCase().split(' ');
  for (const w of words) if (systems.includes(w)) return true;
  return false;
}

/** SQL placeholders → column names: `INSERT INTO t (a, b) VALUES ($1, $2)` and `a = $1` / `a = ?`. */
export function sqlParamColumns(sql: string): Map<string, string> {
  const map = new Map<string, string>();
  const ins = /\(\s*([A-Za-z_"`][\w"`]*(?:\s*,\s*[A-Za-z_"`][\w"`]*){0,200})\s*\)\s*VALUES\s*\(([^)]{1,4000})\)/i.exec(sql);
  let q = 0;
  const unq = (c: string) => c.replace(/["`]/g, '').trim();
  if (ins) {
    const cols = ins[1]!.split(',').map(unq);
    const vals = ins[2]!.split(',').map((v) => v.trim());
    vals.forEach((v, i) => {
      const col = cols[i];
      if (!col) return;
      const m = /^\$(\d+)$|^:(\w+)$|^@(\w+)$/.exec(v);
      if (m) map.set(m[1] ? String(+m[1] - 1) : (m[2] ?? m[3])!, col);
      else if (v === '?') map.set(String(q++), col);
    });
  }
  const eq = /([A-Za-z_][\w.]*)\s*(?:=|<>|!=|LIKE|ILIKE)\s*(\$\d+|\?|:\w+)/gi;
  let m: RegExpExecArray | null;
  while ((m = eq.exec(sql)) !== null) {
    const col = m[1]!.split('.').pop()!;
    const p = m[2]!;
    if (p === '?') map.set(String(q++), col);
    else if (p[0] === '$') map.set(String(+p.slice(1) - 1), col);
    else map.set(p.slice(1), col);
  }
  return map;
}

/** A string literal of SQL text: where its content is written ([start, end), inside the quotes), the column it is for, its value. */
interface SqlLiteral {
  start: number;
  end: number;
  column: string;
  value: string;
}

const INSERT_COLUMNS = /\(\s*([A-Za-z_"`][\w"`]*(?:\s*,\s*[A-Za-z_"`][\w"`]*){0,200})\s*\)\s*VALUES\s*/gi;

/**
 * The literal after `at` (on its opening quote): its content's end and value. Doubled quotes and
 * backslash escapes (MySQL) are undone in the value. -1 when it is not closed.
 */
function sqlString(sql: string, at: number): [number, string] | [-1, ''] {
  let value = '';
  let from = at + 1;
  for (let i = at + 1; i < sql.length; i++) {
    const c = sql.charCodeAt(i);
    if (c === 92 && i + 1 < sql.length) {
      value += sql.slice(from, i);
      from = i + 1;
      i++;
    } else if (c === 39) {
      if (sql.charCodeAt(i + 1) === 39) {
        value += sql.slice(from, i);
        from = i + 1;
        i++;
      } else return [i, value + sql.slice(from, i)];
    }
  }
  return [-1, ''];
}

/**
 * String literals of SQL text with the column each is written for: the values of
 * `INSERT … (a, b) VALUES ('x', 'y'), (…)` by position, and `a = 'x'` (also `<>`, `LIKE`). Statements
 * written by hand (psql, the mysql client, an ORM that inlines) carry their values there rather than as
 * bound parameters, and a name or a password in a literal is known only by its column, as a
 * parameter's is (sqlParamColumns). Bounded: 1000 rows, 4096 literals.
 */
function sqlLiterals(sql: string): SqlLiteral[] {
  const out: SqlLiteral[] = [];
  INSERT_COLUMNS.lastIndex = 0;
  const ins = INSERT_COLUMNS.exec(sql);
  if (ins) {
    const cols = ins[1]!.split(',').map((c) => c.replace(/["`]/g, '').trim());
    let i = ins.index + ins[0].length;
    for (let row = 0; row < 1000 && sql.charCodeAt(i) === 40 && out.length < 4096; row++) {
      i++;
      for (let col = 0; ; col++) {
        while (sql.charCodeAt(i) === 32 || sql.charCodeAt(i) === 10 || sql.charCodeAt(i) === 9 || sql.charCodeAt(i) === 13) i++;
        if (sql.charCodeAt(i) === 39) {
          const [end, value] = sqlString(sql, i);
          if (end < 0) return out;
          if (cols[col]) out.push({ start: i + 1, end, column: cols[col]!, value });
          i = end + 1;
        } else {
          // a number, NULL, DEFAULT, a placeholder; a call or a subquery ends the walk
          while (i < sql.length && !/[,()']/.test(sql[i]!)) i++;
          if (sql.charCodeAt(i) === 40 || sql.charCodeAt(i) === 39) return out;
        }
        while (sql.charCodeAt(i) === 32 || sql.charCodeAt(i) === 10 || sql.charCodeAt(i) === 9 || sql.charCodeAt(i) === 13) i++;
        if (sql.charCodeAt(i) === 44) {
          i++;
          continue;
        }
        if (sql.charCodeAt(i) !== 41) return out;
        i++;
        break;
      }
      while (sql.charCodeAt(i) === 32 || sql.charCodeAt(i) === 10 || sql.charCodeAt(i) === 9 || sql.charCodeAt(i) === 13) i++;
      if (sql.charCodeAt(i) !== 44) break;
      i++;
      while (sql.charCodeAt(i) === 32 || sql.charCodeAt(i) === 10 || sql.charCodeAt(i) === 9 || sql.charCodeAt(i) === 13) i++;
    }
  }
  // each literal is read once, from its opening quote, and its column looked for just before it: a
  // regex for `column = '` tried at every position rescanned every word (16 s for a 100 KB one)
  for (let q = sql.indexOf("'"); q >= 0 && out.length < 4096; ) {
    const [end, value] = sqlString(sql, q);
    if (end < 0) break;
    const column = comparedColumn(sql, q);
    if (column) out.push({ start: q + 1, end, column, value });
    q = sql.indexOf("'", end + 1);
  }
  return out;
}

const isSpace = (c: number) => c === 32 || c === 9 || c === 10 || c === 13;
const isIdent = (c: number) => (c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c === 95;

/**
 * The column a literal opening at `q` is compared with (`a = '`, `t.a <> '`, `a != '`, `a LIKE '`,
 * `a ILIKE '`), or undefined. Reads back at most an operator and a 128-character name.
 */
function comparedColumn(sql: string, q: number): string | undefined {
  let j = q - 1;
  while (j >= 0 && isSpace(sql.charCodeAt(j))) j--;
  const c = sql.charCodeAt(j);
  if (c === 61) {
    j--;
    const p = sql.charCodeAt(j);
    if (p === 33) j--;
    else if (p === 60 || p === 62) return undefined;
  } else if (c === 62 && sql.charCodeAt(j - 1) === 60) j -= 2;
  else {
    let w = j;
    while (w >= 0 && j - w < 5 && ((sql.charCodeAt(w) | 32) >= 97 && (sql.charCodeAt(w) | 32) <= 122)) w--;
    const word = sql.slice(w + 1, j + 1).toUpperCase();
    if ((word !== 'LIKE' && word !== 'ILIKE') || !isSpace(sql.charCodeAt(w))) return undefined;
    j = w;
  }
  while (j >= 0 && isSpace(sql.charCodeAt(j))) j--;
  const nameEnd = j + 1;
  while (j >= 0 && nameEnd - j <= 128 && (isIdent(sql.charCodeAt(j)) || sql.charCodeAt(j) === 46)) j--;
  if (j >= 0 && isIdent(sql.charCodeAt(j))) return undefined;
  const name = sql.slice(j + 1, nameEnd).split('.').pop()!;
  return name && !(name.charCodeAt(0) >= 48 && name.charCodeAt(0) <= 57) ? name : undefined;
}

/**
 * Findings that only a literal's column tells (sqlLiterals): a name or an address in a name or address
 * column, a password, a secret; a literal written with escapes (`O''Neil`) is hashed as its value.
 */
function sqlLiteralHits(sql: string, hits: Hit[]): Hit[] {
  let out = hits;
  for (const lit of sqlLiterals(sql)) {
    const h = hintsFor(lit.column);
    if (!h || h & Hint.notPii || lit.end === lit.start) continue;
    if (out.some((x) => x.start < lit.end && lit.start < x.end)) continue;
    const v = lit.value.trim();
    let type: PiiType | undefined;
    let validator: string | null = null;
    let confidence = 0.75;
    if (h & Hint.name && v.length <= 200 && NAME_VALUE.test(v)) type = 'person_name';
    else if (h & Hint.address && v.length <= 200 && /\d/.test(v) && /\p{L}{2}/u.test(v)) type = 'street_address';
    else {
      const c = scanByContext(lit.value, h)[0];
      if (c) ({ type, validator, confidence } = c);
    }
    if (!type) continue;
    const hit: Hit = { type, start: lit.start, end: lit.end, confidence, detector: 'context', validator };
    if (sql.slice(lit.start, lit.end) !== lit.value) hit.sameAs = lit.value;
    out = out === hits ? [...hits, hit] : (out.push(hit), out);
  }
  return out === hits ? hits : out.sort((x, y) => x.start - y.start);
}

/** Numbers the rules look at (as decimal text): integers of 7 digits or more (cards, phones, SSNs). */
function scannedNumber(v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v > 999999;
}

/** Past 2^53 JSON.parse may have rounded a number: its digits are in the body's text (keepNumberTexts). */
function beyondSafe(v: number): boolean {
  return v > Number.MAX_SAFE_INTEGER || v < -Number.MAX_SAFE_INTEGER;
}

const INTEGER_TEXT = /^[1-9]\d{6,}$/;

/** The decimal text a JSON body's number is scanned as (an integer of 7 digits or more, as written), or undefined. */
function scannedNumberText(v: number | JsonNumber): string | undefined {
  const text = v instanceof JsonNumber ? v.text : String(v);
  if (INTEGER_TEXT.test(text)) return text;
  // an integer written otherwise (`1.0e7`): its value, as JSON.parse gives it
  const n = v instanceof JsonNumber ? Number(text) : v;
  return scannedNumber(n) ? String(n) : undefined;
}

/**
 * The multipart/form-data boundary of an HTTP body at `path`, from its message's Content-Type, or
 * undefined (another type, or no HTTP body): the body is then looked at as JSON or a form as before.
 */
function formDataBoundaryOf(event: Record<string, unknown>, path: string): string | undefined {
  const side = path === 'http.request.body.content' ? 'request' : path === 'http.response.body.content' ? 'response' : undefined;
  if (!side) return undefined;
  const http = event.http as Record<string, any> | undefined;
  const ct: unknown = http?.[side]?.header?.['content-type'];
  const v = Array.isArray(ct) ? ct[0] : undefined;
  return typeof v === 'string' ? formDataBoundary(v) : undefined;
}

/** Whether a number at `path` is a payload's value (a row's column, a bound parameter, a decoded gRPC field). */
function payloadNumbers(path: string): boolean {
  return path.startsWith('db.response.rows') || path.startsWith('db.query.parameter') || (path.startsWith('grpc.') && path.includes('.fields'));
}

/** The last part of a cache key (`user:42:phone` → `phone`, `sess/abc` → `abc`). */
function lastKeyPart(key: string): string | undefined {
  const m = /[^:/|#]+$/.exec(key);
  return m ? m[0] : undefined;
}

/**
 * The last level of an MQTT event's topic (`42/phone` → `phone`) or a NATS
 * event's subject (`crm.customers.42.phone` → `phone`), or undefined.
 */
function mqttTopic(event: Record<string, unknown>): string | undefined {
  const m = event.messaging as { system?: unknown; destination?: { name?: unknown } } | undefined;
  if ((m?.system !== 'mqtt' && m?.system !== 'nats') || typeof m.destination?.name !== 'string') return undefined;
  const name = m.destination.name;
  const level = name.slice(name.lastIndexOf(m.system === 'mqtt' ? '/' : '.') + 1);
  return level && level !== '#' && level !== '+' && level !== '*' && level !== '>' ? level : undefined;
}

/** Paths of payload values, whose field names the application chose (see addSlot: `name` there is a person's). */
const PAYLOAD_NAMED = /^(?:db\.response\.rows|grpc\.|db\.query\.parameter|redis\.args|redis\.response|amqp\.(?:response\.)?properties\.headers|kafka\.records\[\d+\]\.headers|mqtt\.(?:response\.|connect\.will\.)?properties\.user_properties|nats\.(?:response\.)?headers)/;

/**
 * Payload values that may hold a JSON document: result rows, bound parameters, Redis arguments and
 * replies, decoded gRPC fields and Kafka/AMQP application headers and MQTT 5 user properties (bodies are
 * opened by isBodyContent).
 */
const JSON_PAYLOAD = /^(?:db\.response\.rows|db\.query\.parameter|redis\.args|redis\.response|grpc\.|amqp\.(?:response\.)?properties\.headers|kafka\.records\[\d+\]\.headers|mqtt\.(?:response\.|connect\.will\.)?properties\.user_properties|nats\.(?:response\.)?headers)/;

/**
 * The object or array a string holds when it is a whole JSON document, else undefined. Only whole
 * documents: a value that merely starts with a brace (a Redis Cluster hash tag `{user:1}:cart`, a
 * log line `[INFO] …`, a cut value) stays text. Numbers beyond 2^53 are kept as written as in a body
 * (keepNumberTexts reads them again from the value's text). A value that does not start with `{` or
 * `[` costs a character test, one that does not end with the matching `}` or `]` two: JSON.parse
 * (and its exception) only for those that do.
 */
function wholeJson(v: string): object | undefined {
  let i = 0;
  let c = v.charCodeAt(0);
  while (isSpace(c)) c = v.charCodeAt(++i);
  if ((c !== 123 && c !== 91) || v.length > SCAN_WINDOW) return undefined;
  let j = v.length - 1;
  let e = v.charCodeAt(j);
  while (isSpace(e)) e = v.charCodeAt(--j);
  // `{` … `}` (123, 125), `[` … `]` (91, 93)
  if (e !== c + 2) return undefined;
  let doc: unknown;
  try {
    doc = JSON.parse(v);
  } catch {
    return undefined;
  }
  if (doc === null || typeof doc !== 'object') return undefined;
  return doc;
}

/** A payload that may be JSON or a form: a body, a Kafka record's key or value (a record is a message body too), a memcached item's value. */
/**
 * Lists whose elements name one another: in Redis arguments and replies the
 * previous element often names the next (`HSET user:1 phone …`, HGETALL's
 * field, value, …). Elsewhere a list holds the values of one name (a
 * repeated header), and that name is every element's context.
 */
function positionalList(path: string): boolean {
  return path.startsWith('redis.');
}

function isBodyContent(path: string): boolean {
  return path.endsWith('.body.content') || (path.startsWith('kafka.records[') && (path.endsWith('.value.content') || path.endsWith('.key.content'))) || (path.startsWith('memcached.') && path.endsWith('value.content'));
}

/**
 * Can `path` (made of `key` at `depth`) be a body or `url.query`? Below the
 * top level a path ends with keySegment(key), so `.body.content` needs the key
 * `content` and `url.query` the key `query`; asking that first spares an
 * endsWith per value, which flattens the concatenated path string.
 */
function mayBeBody(key: string, depth: number): boolean {
  return depth === 0 || key === 'content' || key === 'query';
}

const sqlParamCache = new Map<string, Map<string, string>>();
/**
 * sqlParamColumns per statement text, cached: prepared statements repeat, and
 * its regexes were ~3% of the event path on the corpus captures. Only
 * statements up to 4 KiB are kept (at most ~4 MB); the maps are only read.
 */
function paramColumns(sql: string): Map<string, string> {
  let m = sqlParamCache.get(sql);
  if (m === undefined) {
    m = sqlParamColumns(sql);
    if (sql.length <= 4096 && sqlParamCache.size < 1000) sqlParamCache.set(sql, m);
  }
  return m;
}

export class EventScanner {
  /** A JWT's claims are being walked (walkJwtClaims): no model candidates there. */
  private inClaims = false;
  readonly opts: ScanOptions;
  /** Findings not listed in `pii` because an event had more than MAX_ANNOTATIONS. */
  annotationsDropped = 0;
  /** Events whose scan stopped at MAX_EVENT_HITS or MAX_DEPTH (flagged `pii_scan_cut`). */
  scanCutEvents = 0;
  private readonly minConf: number;
  private readonly threshold: number;
  private readonly allow: AllowList | undefined;

  constructor(opts: ScanOptions) {
    this.opts = opts;
    this.allow = opts.allow ? new AllowList(opts.allow) : undefined;
    this.minConf = opts.minConfidence ?? 0.5;
    this.threshold = opts.modelThreshold ?? 0.5;
  }

  /** Run the rules over every string field of the event. */
  collect(event: Record<string, unknown>): Pending {
    const p: Pending = { event, slots: [], bodies: [], candidates: [], systems: this.opts.model ? systemNames(event) : [], hitBudget: MAX_EVENT_HITS, keys: [], group: '' };
    for (const k of Object.keys(event)) {
      if (SKIP_GROUPS.has(k)) continue;
      p.group = k;
      this.walk(p, event, k, k, k, event[k], 0);
    }
    return p;
  }

  private walk(p: Pending, holder: Record<string, unknown> | unknown[], key: string | number, path: string, ctxKey: string, v: unknown, depth: number): void {
    if (depth > MAX_DEPTH) {
      this.tooDeep(p, holder, key, v);
      return;
    }
    if (typeof v === 'string') {
      if (typeof key === 'string' && mayBeBody(key, depth) && (isBodyContent(path) || path === 'url.query')) {
        const boundary = path === 'url.query' ? undefined : formDataBoundaryOf(p.event, path);
        const body = path === 'url.query' ? (v.includes('=') ? parseForm(v) : undefined) : (boundary !== undefined ? parseMultipart(v, boundary) : undefined) ?? parseBody(v);
        if (body) {
          const bs: BodySlot = { holder, key, body, touched: new Set(), dropped: new Set(), dirty: false, level: 1 };
          p.bodies.push(bs);
          if (body.kind === 'json') {
            this.walkInner(p, bs, { root: body.doc }, 'root', path + '$', ctxKey, body.doc, 0);
            // what follows the whole part of a cut or damaged document is scanned as the text it is, its
            // findings at the field's path and offsets into the field's text
            const pre = body.prefix;
            if (pre?.tail) this.addSlot(p, pre as unknown as Record<string, unknown>, 'tail', path, ctxKey, pre.tail, bs, undefined, pre.tailStart);
          } else if (body.kind === 'multipart') {
            this.walkMultipart(p, bs, body, path, ctxKey);
          } else if (body.kind === 'stream') {
            this.walkStream(p, bs, body, path, ctxKey);
          } else {
            body.pairs.forEach((pair, i) => {
              const at = path + '$' + this.keyPath(p, bs.holder as Record<string, unknown>, pair[0], i, path + '$', bs, true);
              if (!this.walkJsonString(p, pair, 1, at, pair[0], pair[1], bs, i)) this.addSlot(p, pair, 1, at, pair[0], pair[1], bs, i);
            });
          }
          return;
        }
      }
      // a JSON document kept in a payload value (a jsonb column, a cached object in Redis, a JSON string
      // field): walked as a body, so its fields name its values (`$.home.street`, `$.password`)
      // (the path's regex only for a value that may be one: it ran for every value of the event)
      const c = v.charCodeAt(0);
      if ((c === 123 || c === 91 || isSpace(c)) && JSON_PAYLOAD.test(path) && this.walkJsonString(p, holder, key, path, ctxKey, v)) return;
      if (p.group === 'dns' && dnsCodeName(ctxKey, v)) return;
      this.addSlot(p, holder, key, path, ctxKey, v);
      return;
    }
    if (v === null || typeof v !== 'object') {
      // integers in payload values (result rows, bound parameters, decoded gRPC fields) can be card
      // numbers, phones or SSNs, as in JSON bodies; elsewhere they are the protocol's sizes, offsets and times
      if (scannedNumber(v) && payloadNumbers(path)) this.addSlot(p, holder, key, path, ctxKey, String(v));
      return;
    }
    if (Array.isArray(v)) {
      const positional = positionalList(path);
      for (let i = 0; i < v.length; i++) {
        const prev = positional && i > 0 && typeof v[i - 1] === 'string' && (v[i - 1] as string).length < 64 ? (v[i - 1] as string) : ctxKey;
        this.walk(p, v, i, `${path}[${i}]`, prev, v[i], depth + 1);
      }
      return;
    }
    const obj = v as Record<string, unknown>;
    let params: Map<string, string> | undefined;
    if (path === 'db.query.parameter') {
      const q = (holder as Record<string, unknown>).text;
      if (typeof q === 'string') params = paramColumns(q);
    } else if (p.group === 'memcached' && (path === 'memcached.value' || (path.startsWith('memcached.response.values[') && path.endsWith('].value')))) {
      // a cached item's value is named by its key's last part (`user:42:phone`), as a Redis value is by its key
      const key = path === 'memcached.value' ? (holder as { keys?: unknown[] }).keys?.[0] : (holder as { key?: unknown }).key;
      const name = typeof key === 'string' ? lastKeyPart(key) : undefined;
      if (name) params = new Map([['content', name]]);
    } else if (path === 'messaging.message.body' && p.group === 'messaging') {
      // An MQTT or NATS payload is often a bare value whose topic names it (`crm/customers/42/phone`,
      // `crm.customers.42.phone`): the topic's last level is its context, as a column's name is a
      // parameter's (a JSON payload's own keys still name its members)
      const topic = mqttTopic(p.event);
      if (topic) params = new Map([['content', topic]]);
    }
    const keys = Object.keys(obj);
    for (let i = 0; i < keys.length; i++) {
      const k = keys[i]!;
      this.walk(p, obj, k, path + this.keyPath(p, obj, k, i, path), params?.get(k) ?? k, obj[k], depth + 1);
    }
  }

  /**
   * A multipart/form-data body: each field's value (a part with a name, no filename, a text type) is
   * scanned with its name's context at `$.name`, as a form field's is; every other piece (the preamble,
   * a file's or a non-text part's head and content, what follows the close delimiter or the parts
   * bound) is scanned as the text it is, at the body's path with offsets into its text, as the whole
   * body was before. A field's head (its delimiter line and headers) holds its name, which is scanned
   * as a form field's name is (keyPath), and nothing else of the sender's.
   */
  private walkMultipart(p: Pending, bs: BodySlot, body: MultipartBody, path: string, ctxKey: string): void {
    for (let i = 0; i < body.pieces.length; i++) {
      const k = body.partOf[i]!;
      const part = k >= 0 ? body.parts[k]! : undefined;
      const text = body.pieces[i]!;
      if (part?.name !== undefined) {
        if (i !== part.value) continue;
        const at = path + '$' + this.keyPath(p, bs.holder as Record<string, unknown>, part.name, k, path + '$', bs, true);
        if (!this.walkJsonString(p, body.pieces, i, at, part.name, text, bs, k)) this.addSlot(p, body.pieces, i, at, part.name, text, bs, k);
      } else if (i !== body.close) {
        // the close delimiter is the Content-Type's boundary (scanned there), kept so the body stays whole
        this.addSlot(p, body.pieces, i, path, ctxKey, text, bs, k >= 0 ? k : undefined, body.offsets[i]);
      }
    }
  }

  /**
   * The claims of the JWT that `hit` found in slot `at` (RFC 7519: its payload, base64url JSON), at `claimsPath`: an
   * OpenID Connect ID token or an access token carries the user's e-mail address, name, phone number
   * in plain view to anyone who decodes it. Walked as a JSON body at `at` (`…authorization[0]$jwt`, then `.email`),
   * each value with its claim's name as context, so they are reported and hashed as the same values
   * found elsewhere. Never written back: the token's own finding replaces it whole under --redact, and
   * a claim's findings stand only while the token's does (Slot.jwt).
   */
  private walkJwtClaims(p: Pending, at: number, hit: Hit, claimsPath: string): void {
    const token = p.slots[at]!.value.slice(hit.start, hit.end);
    const d1 = token.indexOf('.');
    const d2 = token.indexOf('.', d1 + 1);
    if (d1 < 0 || d2 < 0 || d2 - d1 > SCAN_WINDOW) return;
    let claims: unknown;
    try {
      claims = JSON.parse(Buffer.from(token.slice(d1 + 1, d2), 'base64url').toString('utf8'));
    } catch {
      return;
    }
    if (claims === null || typeof claims !== 'object' || Array.isArray(claims)) return;
    const bs: BodySlot = { holder: { claims: null }, key: 'claims', body: { kind: 'json', doc: claims, text: '' }, touched: new Set(), dropped: new Set(), dirty: false, level: 1 };
    const first = p.slots.length;
    this.inClaims = true;
    try {
      this.walkInner(p, bs, { root: claims }, 'root', claimsPath, 'jwt', claims, 0);
    } finally {
      this.inClaims = false;
    }
    for (let i = first; i < p.slots.length; i++) p.slots[i]!.jwt = { slot: at, hit };
  }

  /**
   * A stream of JSON documents (NDJSON, an event stream's data lines, a Socket.IO packet): the n-th
   * document walked as a JSON string at `$[n]` (so its values are at `$[n]$.user.email`), every other
   * piece (an event stream's field names and other lines, a packet's type digits, line endings) scanned
   * as the text it is at the body's path, with offsets into its text.
   */
  private walkStream(p: Pending, bs: BodySlot, body: StreamBody, path: string, ctxKey: string): void {
    let n = 0;
    for (let i = 0; i < body.pieces.length; i++) {
      const text = body.pieces[i]!;
      if (body.docs[i] && this.walkJsonString(p, body.pieces, i, `${path}$[${n++}]`, ctxKey, text, bs)) continue;
      this.addSlot(p, body.pieces, i, path, ctxKey, text, bs, undefined, body.offsets[i]);
    }
  }

  private walkInner(p: Pending, bs: BodySlot, holder: Record<string, unknown> | unknown[], key: string | number, path: string, ctxKey: string, v: unknown, depth: number): void {
    if (depth > MAX_DEPTH) {
      if (this.tooDeep(p, holder, key, v)) bs.dirty = true;
      return;
    }
    if (typeof v === 'string') {
      if (!this.walkJsonString(p, holder, key, path, ctxKey, v, bs)) this.addSlot(p, holder, key, path, ctxKey, v, bs);
      return;
    }
    if (v === null || typeof v !== 'object') {
      if (typeof v !== 'number') return;
      // numbers in JSON can be card numbers or phones too
      if (scannedNumber(v)) this.addSlot(p, holder, key, path, ctxKey, String(v), bs);
      else if (bs.body.kind !== 'json') return;
      else if (beyondSafe(v)) {
        // JSON.parse may have rounded it (or made it Infinity): scanned, and written back, as the body wrote it
        keepNumberTexts(bs.body, true);
        const exact = (holder as Record<string | number, unknown>)[key] as number | JsonNumber;
        const text = scannedNumberText(exact);
        if (text !== undefined) this.addSlot(p, holder, key, path, ctxKey, text, bs);
      } else if (!Number.isInteger(v)) bs.body.fractions = true;
      return;
    }
    if (v instanceof JsonNumber) {
      const text = scannedNumberText(v);
      if (text !== undefined) this.addSlot(p, holder, key, path, ctxKey, text, bs);
      return;
    }
    if (Array.isArray(v)) {
      for (let i = 0; i < v.length; i++) this.walkInner(p, bs, v, i, `${path}[${i}]`, ctxKey, v[i], depth + 1);
      return;
    }
    const obj = v as Record<string, unknown>;
    const keys = Object.keys(obj);
    for (let i = 0; i < keys.length; i++) {
      const k = keys[i]!;
      this.walkInner(p, bs, obj, k, path + this.keyPath(p, obj, k, i, path, bs), k, obj[k], depth + 1);
    }
  }

  /**
   * Walks string `v` (at `holder[key]`) as a JSON body when it is a whole JSON object or array
   * (wholeJson), its values at `path$…`; returns whether it did. In a body (`parent`: a JSON
   * document's string, a form or multipart field's value, `parentIndex` its pair or part) this is
   * double-encoded JSON (an SNS/SQS envelope's `Message`, a webhook's `payload`, GraphQL `variables`
   * sent as a string), whose field names give its values their context as a body's do: scanned as
   * text, a name or an address there was not found. Written back into its string before the body
   * holding it is (findings). Past MAX_JSON_LEVELS it is scanned as text, flagged, and under --redact
   * replaced whole.
   */
  private walkJsonString(p: Pending, holder: BodySlot['holder'], key: string | number, path: string, ctxKey: string, v: string, parent?: BodySlot, parentIndex?: number): boolean {
    const doc = wholeJson(v);
    if (doc === undefined) return false;
    const level = parent ? parent.level + 1 : 1;
    if (level > MAX_JSON_LEVELS) {
      this.markCut(p);
      const slot = this.addSlot(p, holder, key, path, ctxKey, v, parent, parentIndex);
      if (slot) slot.nested = true;
      return true;
    }
    const bs: BodySlot = { holder, key, body: { kind: 'json', doc, text: v }, touched: new Set(), dropped: new Set(), dirty: false, level, parent, parentIndex };
    p.bodies.push(bs);
    this.walkInner(p, bs, { root: doc }, 'root', path + '$', ctxKey, doc, 0);
    return true;
  }

  /**
   * The path segment of key `k`, the `index`th of `holder`: `.k` or `["k"]`,
   * or `[key#index]` when the rules find personal data in the key (which is
   * then a KeySlot of `p`, reported and redacted as a value is).
   */
  private keyPath(p: Pending, holder: Record<string, unknown>, k: string, index: number, parent: string, body?: BodySlot, formPair = false): string {
    if (k.length < 5 || (k.length < KEY_SCAN_MIN && !/[0-9@]/.test(k))) return keySegment(k);
    const hits = this.keep(scanBounded(k, 0, p.hitBudget), k);
    if (hits.length === 0) return keySegment(k);
    p.hitBudget -= hits.length;
    const seg = `[key#${index}]`;
    p.keys.push({ holder, key: k, index, path: parent + seg, hits, body, formPair });
    return seg;
  }

  /**
   * A value below MAX_DEPTH: not scanned, so the event is flagged and, under
   * --redact, the value replaced. Returns whether it was replaced.
   */
  private tooDeep(p: Pending, holder: Record<string, unknown> | unknown[], key: string | number, v: unknown): boolean {
    // what the scan passes over at any depth (null, booleans, small numbers) is no loss; a number beyond
    // 2^53 may be a rounded card number, whose digits are not looked up down there
    if (v === null || typeof v === 'boolean' || v === '') return false;
    if (typeof v === 'number' ? !scannedNumber(v) && !beyondSafe(v) : v instanceof JsonNumber && scannedNumberText(v) === undefined) return false;
    this.markCut(p);
    if (!this.opts.redact) return false;
    (holder as Record<string | number, unknown>)[key] = UNSCANNED_NESTED;
    return true;
  }

  /** Flags the event `pii_scan_cut` (once) and counts it. */
  private markCut(p: Pending): void {
    if (p.cut) return;
    p.cut = true;
    flagEvent(p.event, 'pii_scan_cut');
    this.scanCutEvents++;
  }

  private addSlot(p: Pending, holder: Slot['holder'], key: string | number, path: string, ctxKey: string, value: string, body?: BodySlot, formIndex?: number, base?: number): Slot | undefined {
    if (value.length === 0) return undefined;
    // (the path is read only where the cheap tests leave it in question: it is text concatenated along the
    // walk, and the first read copies it flat, about as long as the rest of a slot without hits takes)
    let hints = hintsFor(ctxKey === 'original' && path === 'user_agent.original' ? 'user-agent' : ctxKey);
    // outside payloads, `name` is a semantic-convention attribute naming a protocol object
    // (messaging.destination.name, dns.question.name, mysql.columns[i].name): no name hint, and
    // no model candidate either, or the model reads the field name as "a person's name field".
    // Payloads are rows, parameters, gRPC fields, Redis arguments and replies (`HSET user:1 name …`,
    // named by the argument before) and Kafka/AMQP application headers, whose names the sender chose.
    const protocolName = !body && ctxKey === 'name' && !PAYLOAD_NAMED.test(path);
    if (protocolName) hints &= ~Hint.name;
    // a form value written `+1+650-253-0000` decodes to ` 1 650-253-0000` (form encoding's `+` is a
    // space): its first `+` is read as the dialling prefix it was typed as (formSpaces), so the finding
    // covers the number with its country code and hashes as `+1 650-253-0000`, as the same number
    // written `%2B1+650-253-0000` does; the value itself stays as decoded
    const dial = value.charCodeAt(0) === 32 && formIndex !== undefined && body?.body.kind === 'form' && dialPlusValue(body.body.raw[formIndex]!);
    const scanned = dial ? '+' + value.slice(1) : value;
    const presentation = value.indexOf('\\') >= 0 && value.length <= SCAN_WINDOW && path.charCodeAt(0) === 100 && DNS_TEXT.test(path);
    let hits = presentation ? presentationHits(value, hints, p.hitBudget) : scanBounded(scanned, hints, p.hitBudget);
    if (dial) for (const h of hits) if (h.start === 0) h.sameAs = scanned.slice(0, h.end);
    if (formIndex !== undefined && body?.body.kind === 'form' && value.indexOf('@') > 0 && value.indexOf(' ') > 0) hits = withFormPlusEmails(value, body.body.raw[formIndex]!, hints, hits);
    const cut = boundedCut;
    p.hitBudget -= hits.length;
    const han = lastScanSawHan();
    // addresses in DNS answers are the servers' own, not personal data carried in a payload; a client
    // subnet (ECS) is the client's own network, which the rules, reading free text, do not take whole
    if ((hits.length > 0 || ctxKey === 'data' || ctxKey === 'subnet') && path.startsWith('dns.') && !path.startsWith('dns.question')) {
      if (hits.length) hits = hits.filter((h) => h.type !== 'ipv4' && h.type !== 'ipv6');
      if (ECS_FIELD.test(path)) hits = ecsHits(holder, ctxKey, value, hits);
      else if (RECORD_DATA.test(path)) hits = mailboxNameHits(holder, value, hits);
    }
    if (cut < 0 && ctxKey === 'text' && path === 'db.query.text' && value.indexOf("'") >= 0 && value.length <= SCAN_WINDOW) {
      const before = hits.length;
      hits = sqlLiteralHits(value, hits);
      p.hitBudget -= hits.length - before;
    }
    const escaped = value.indexOf('%') >= 0 && ESCAPE.test(value);
    if (cut < 0 && value.length <= SCAN_WINDOW && (escaped || (value.indexOf('+') >= 0 && (FORM_DIAL_PLUS.test(value) || FORM_VALUE_PLUS.test(value))))) {
      const before = hits.length;
      hits = withDecodedHits(value, hints, hits, p.hitBudget, !escaped);
      p.hitBudget -= hits.length - before;
    }
    if (hits.length === 0) hits = scanByContext(value, hints);
    // short values: the scanner saw whether a Han character is there; long ones: cnAddresses tests it itself
    // (one regex test: ~40 ns on a one-byte string, ~1.6 ns a character on a two-byte one)
    if ((han || value.length > SHORT) && value.length >= 5 && !(hints & Hint.notPii)) {
      const cn = cnAddresses(value);
      if (cn.length) hits = hits.concat(cn.filter((a) => !hits.some((h) => h.start < a.end && a.start < h.end))).sort((a, b) => a.start - b.start);
    }
    const slot: Slot = { holder, key, path, value, hints, hits, body, formIndex, ctxKey, protocolName, base };
    if (presentation) slot.presentation = true;
    if (cut >= 0) {
      slot.scannedTo = cut;
      this.markCut(p);
    }
    p.slots.push(slot);
    if (hits.length && (!this.opts.types || this.opts.types.has('jwt'))) {
      const tokens = hits.filter((h) => h.type === 'jwt');
      const at = p.slots.length - 1;
      // one token (an Authorization header): its claims at `$jwt`; several in one value, at `$jwt[n]`
      tokens.forEach((h, n) => this.walkJwtClaims(p, at, h, tokens.length === 1 ? `${path}$jwt` : `${path}$jwt[${n}]`));
    }
    const wantsNames = !this.opts.types || this.opts.types.has('person_name') || this.opts.types.has('street_address');
    // names and addresses come from the model's candidates, or without it from a name/address field's whole value;
    // the protocol-text test runs only where one of those would (not for every value)
    // (a JWT's claims are not the model's: a claim's name says what it holds, and no token's claims were in its training)
    const byModel = this.opts.model !== undefined && !this.inClaims;
    const namesHere = byModel || ((hints & (Hint.name | Hint.address)) !== 0 && hits.length === 0);
    if (wantsNames && namesHere && !namesBarred(slot)) {
      const caseless = hints & Hint.name && hits.length === 0 ? CASELESS_NAME.exec(value) : null;
      if (caseless) {
        const off = caseless.index + caseless[0].indexOf(caseless[1]!);
        slot.hits = [{ type: 'person_name', start: off, end: off + caseless[1]!.length, confidence: 0.75, detector: 'context', validator: null }];
      } else if (byModel) {
        for (const cand of nameCandidates(value, ctxKey, hints)) {
          if (hits.some((h) => h.start < cand.end && cand.start < h.end)) continue;
          // `Hello Kafka` in a Kafka record is the product saying hello, not a person
          if (p.systems.length && cand.end - cand.start <= 64 && namesSystem(value.slice(cand.start, cand.end), p.systems)) continue;
          p.candidates.push({ slot, cand });
        }
      } else {
        const v = value.trim();
        const off = value.indexOf(v);
        const type: PiiType = hints & Hint.name ? 'person_name' : 'street_address';
        // a name: 1–5 words of letters (initials may end in "."); "tasks.add" or "io.grpc.Foo" are not
        if (v.length >= 2 && v.length <= 200 && /[A-Za-z]/.test(v) && (type === 'street_address' ? /\d/.test(v) && /\p{L}{2}/u.test(v) : NAME_VALUE.test(v))) {
          slot.hits = [{ type, start: off, end: off + v.length, confidence: 0.75, detector: 'context', validator: null }];
        }
      }
    }
    return slot;
  }

  /** Score all pending candidates of a batch of events with the model (one inference call). */
  async scoreCandidates(batch: Pending[]): Promise<void> {
    const model = this.opts.model;
    if (!model) return;
    const all = batch.flatMap((p) => p.candidates);
    if (all.length === 0) return;
    const probs = await model.score(all.map((c) => c.cand));
    // Candidates overlap (a name run inside an address run): per slot keep the
    // most probable, then the longest, of each overlapping group.
    const bySlot = new Map<Slot, Hit[]>();
    for (let i = 0; i < all.length; i++) {
      const { slot, cand } = all[i]!;
      const [label, p] = probs[i]!;
      // a model may have classes that are not PII (organisations, places: what false names are); those are not findings
      if (label === 'none' || p < this.threshold || !PII_TYPE_NAMES.has(label)) continue;
      let list = bySlot.get(slot);
      if (!list) bySlot.set(slot, (list = []));
      list.push({ type: label as PiiType, start: cand.start, end: cand.end, confidence: Math.round(p * 100) / 100, detector: 'model', validator: null });
    }
    for (const [slot, all] of bySlot) {
      // a hit inside a longer hit of the same type is usually a part of it ("Ben" of "Ben Player", which the
      // model scores a little lower): the whole wins, unless the part is clearly more probable ("Marie" 0.99
      // against "Hello Marie" 0.64); the margin was chosen on the dev sets (train-model.ts --dev)
      const list = all.filter((h) => !all.some((o) => o.type === h.type && o.start <= h.start && h.end <= o.end && o.end - o.start > h.end - h.start && o.confidence >= h.confidence - WHOLE_OVER_PART_MARGIN));
      list.sort((a, b) => b.confidence - a.confidence || b.end - b.start - (a.end - a.start));
      for (const h of list) {
        if (slot.hits.some((k) => k.start < h.end && h.start < k.end)) continue;
        slot.hits.push(h);
      }
      slot.hits.sort((a, b) => a.start - b.start);
    }
  }

  /** Filter, annotate `event.pii`, redact in place. Returns the findings with their keyed hashes. */
  finish(p: Pending): FindingWithHash[] {
    const found = this.findings(p);
    if (this.opts.redact && p.event.grpc !== undefined) redactBinaryFields(p.event, found, this.opts.redact);
    return found;
  }

  private findings(p: Pending): FindingWithHash[] {
    const { redact, key } = this.opts;
    const found: FindingWithHash[] = [];
    // a value cut at the findings bound, or nested past MAX_DEPTH, is redacted whatever was found in it
    const cutToRedact = redact !== undefined && p.cut === true;
    // most events carry nothing: no per-slot work for them
    if (!cutToRedact && p.keys.length === 0 && !p.slots.some((slot) => slot.hits.length)) return found;
    const kept: Hit[][] = new Array(p.slots.length);
    let any = cutToRedact || p.keys.length > 0;
    for (let i = 0; i < p.slots.length; i++) {
      const slot = p.slots[i]!;
      // a JWT's claims are reported while the token is (it is the token's redaction that covers them)
      kept[i] = slot.jwt && !kept[slot.jwt.slot]!.includes(slot.jwt.hit) ? NO_HITS : this.reported(slot);
      if (kept[i]!.length) any = true;
    }
    if (!any) return found;
    findRepeats(p.slots, kept, namesBarred, this.allow);
    edeHexHits(p.slots, kept);
    for (let i = 0; i < p.slots.length; i++) {
      const slot = p.slots[i]!;
      const hits = kept[i]!;
      if (hits.length === 0 && !(redact && (slot.scannedTo !== undefined || slot.nested))) continue;
      for (const h of hits) {
        const base = slot.base ?? 0;
        const f: FindingWithHash = { type: h.type, path: slot.path, start: base + h.start, end: base + h.end, confidence: h.confidence, detector: h.detector, validator: h.validator };
        if (this.opts.hashValues) f.valueHash = hmacHex(key, h.type, hashedText(h, slot.value));
        found.push(f);
      }
      if (redact) this.redactSlot(slot, hits, redact);
    }
    // after the values: a value's slot names its holder's entry by the key as it was
    for (const ks of p.keys) {
      for (const h of ks.hits) {
        const f: FindingWithHash = { type: h.type, path: ks.path, start: h.start, end: h.end, confidence: h.confidence, detector: h.detector, validator: h.validator, key: true };
        if (this.opts.hashValues) f.valueHash = hmacHex(key, h.type, hashedText(h, ks.key));
        found.push(f);
      }
      if (redact) this.redactKey(ks, redact, p.bodies);
    }
    // last first: a JSON document kept in a body's string (pushed after that body) is written back into
    // its string before the body holding it is, which it makes dirty
    for (let i = p.bodies.length - 1; i >= 0; i--) {
      const bs = p.bodies[i]!;
      if (!bs.dirty || bs.detached) continue;
      // a body made dirty by the walk's depth bound alone was not touched: no key of it is renamed, and its
      // numbers' texts can still be taken
      if (bs.body.kind === 'json') keepNumberTexts(bs.body, false);
      (bs.holder as Record<string | number, unknown>)[bs.key] = serialiseBody(bs.body, bs.touched, bs.dropped);
      const parent = bs.parent;
      if (parent) {
        parent.dirty = true;
        if (bs.parentIndex !== undefined) parent.touched.add(bs.parentIndex);
      }
    }
    if (found.length) {
      // The annotation list is bounded (redaction and the audit log still cover every finding).
      const shown = found.length > MAX_ANNOTATIONS ? found.slice(0, MAX_ANNOTATIONS) : found;
      p.event.pii = shown.map(({ valueHash: _h, ...f }) => f);
      if (shown.length < found.length) {
        flagEvent(p.event, 'pii_truncated');
        this.annotationsDropped += found.length - shown.length;
      }
    }
    return found;
  }

  /** The slot's hits that are reported: confident enough, of the asked types, not allowed, not overlapping. */
  private reported(slot: Slot): Hit[] {
    if (slot.hits.length === 0) return NO_HITS;
    return this.keep(slot.hits, slot.value);
  }

  /** Of `hits` in `value`: those confident enough, of the asked types, not allowed, not overlapping. */
  private keep(hits: Hit[], value: string): Hit[] {
    if (hits.length === 0) return NO_HITS;
    const { types } = this.opts;
    const allow = this.allow;
    const kept: Hit[] = [];
    let lastEnd = -1;
    for (const h of hits) {
      if (h.confidence < this.minConf) continue;
      if (types && !types.has(h.type)) continue;
      if (h.start < lastEnd) continue;
      if (allow?.has(h.type, value.slice(h.start, h.end), h.sameAs)) continue;
      kept.push(h);
      lastEnd = h.end;
    }
    return kept.length ? kept : NO_HITS;
  }

  /**
   * A key holding personal data: renamed to its redacted text (mask, hash), or its entry removed (drop).
   * A JSON document kept in the entry's string (`bodies`) is then written back under the new name, or not
   * at all.
   */
  private redactKey(ks: KeySlot, mode: RedactMode, bodies: BodySlot[]): void {
    if (ks.body) touchBody(ks.body);
    if (ks.formPair) {
      if (mode === 'drop') ks.body!.dropped.add(ks.index);
      else {
        const b = ks.body!.body;
        if (b.kind === 'form') b.pairs[ks.index]![0] = this.redactedText(ks.key, ks.hits, mode);
        else if (b.kind === 'multipart') {
          // the name's text in its part's head is replaced (quoted, as a token holds no `<` or `:`)
          const part = b.parts[ks.index]!;
          const head = b.pieces[part.head]!;
          const name = this.redactedText(ks.key, ks.hits, mode);
          b.pieces[part.head] = head.slice(0, part.nameStart) + (part.nameQuoted ? name : `"${name}"`) + head.slice(part.nameEnd);
        }
        ks.body!.touched.add(ks.index);
      }
      return;
    }
    const obj = ks.holder;
    if (!Object.hasOwn(obj, ks.key)) return; // already renamed by an earlier finding's pass
    const inner = bodies.find((bs) => bs.holder === obj && bs.key === ks.key);
    if (mode === 'drop') {
      delete obj[ks.key];
      if (inner) inner.detached = true;
      return;
    }
    const redacted = this.redactedText(ks.key, ks.hits, mode);
    let name = redacted;
    // two keys of one shape mask alike: the second must not overwrite the first
    for (let n = 2; Object.hasOwn(obj, name) && name !== ks.key; n++) name = `${redacted}~${n}`;
    if (inner) inner.key = name;
    // renamed in place, keeping the order of the keys
    const entries = Object.entries(obj);
    for (const [k] of entries) delete obj[k];
    // a sibling named __proto__ (a header, a JSON key) assigned would set the prototype
    for (const [k, v] of entries) setOwn(obj, k === ks.key ? name : k, v);
  }

  /**
   * `text` with its hits replaced by their tokens. A mask keeps the shape of
   * the text it hides; a hash is of the value, however it was written
   * (hashedText). Past `scannedTo` (the findings bound) the text was not
   * scanned: it does not leave as it was.
   */
  private redactedText(text: string, hits: Hit[], mode: 'mask' | 'hash', scannedTo?: number, presentation?: true): string {
    let out = '';
    let pos = 0;
    for (const h of hits) {
      const raw = text.slice(h.start, h.end);
      const t = mode === 'hash' ? this.token(h.type, hashedText(h, text), mode) : presentation ? `<${h.type}:${maskPresentation(raw, (d) => maskShape(h.type, d))}>` : this.token(h.type, raw, mode);
      out += text.slice(pos, h.start) + t;
      pos = h.end;
    }
    if (scannedTo === undefined) return out + text.slice(pos);
    const from = Math.max(pos, scannedTo);
    return out + text.slice(pos, from) + `<unscanned:${text.length - from}>`;
  }

  private redactSlot(slot: Slot, hits: Hit[], mode: RedactMode): void {
    if (slot.body) {
      touchBody(slot.body);
      if (slot.formIndex !== undefined) {
        if (mode === 'drop') slot.body.dropped.add(slot.formIndex);
        else slot.body.touched.add(slot.formIndex);
      }
    }
    if (mode === 'drop') {
      if (slot.formIndex !== undefined) return;
      if (Array.isArray(slot.holder) || (slot.body === undefined && REQUIRED_STRING.test(slot.path))) (slot.holder as Record<string | number, unknown>)[slot.key] = null;
      else delete (slot.holder as Record<string, unknown>)[slot.key as string];
      return;
    }
    if (slot.nested) {
      // its field names were not read, so what only they tell (a name, a password) was not looked for
      (slot.holder as Record<string | number, unknown>)[slot.key] = UNSCANNED_NESTED;
      return;
    }
    (slot.holder as Record<string | number, unknown>)[slot.key] = this.redactedText(slot.value, hits, mode, slot.scannedTo, slot.presentation);
  }

  /** `<type:***>` keeping the value's shape (cards keep their last four), or `<type:hmac8>`. */
  token(type: PiiType, raw: string, mode: 'mask' | 'hash'): string {
    if (mode === 'hash') return `<${type}:${hmacHex(this.opts.key, type, raw).slice(0, 8)}>`;
    return `<${type}:${maskShape(type, raw)}>`;
  }
}

/**
 * Where pano-parse decoded gRPC binary metadata: `grpc.status_details`, and `grpc.request.metadata.<name>`,
 * `grpc.response.metadata.<name>`, `grpc.response.trailer_metadata.<name>` (the name as keySegment writes it).
 */
const BINARY_VIEW = /^grpc\.(?:(status_details)|(request|response)\.(metadata|trailer_metadata)(?:\.([A-Za-z0-9_][A-Za-z0-9_-]*)|\[("(?:[^"\\]|\\.)*")\]))/;

/** The header fields (side, block, name) a decoded view at BINARY_VIEW's match was read from. */
function binarySources(m: RegExpExecArray): Array<[string, string, string]> {
  if (m[1]) return [['response', 'trailer', 'grpc-status-details-bin'], ['response', 'header', 'grpc-status-details-bin']];
  const name = m[4] ?? (JSON.parse(m[5]!) as string);
  return [[m[2]!, m[3] === 'metadata' ? 'header' : 'trailer', name]];
}

/** The decoded views of one side's binary metadata that are cut (`truncated`): their bytes are in no view. */
function cutViews(group: unknown): string[] {
  if (group === null || typeof group !== 'object') return [];
  const names: string[] = [];
  for (const [name, views] of Object.entries(group)) {
    if (Array.isArray(views) && views.some((v) => (v as { truncated?: unknown } | null)?.truncated === true)) names.push(name);
  }
  return names;
}

export const REDACTED_BINARY = '<redacted:binary>';

/**
 * gRPC binary metadata (`-bin` header fields) is base64 in the header and
 * decoded beside it by pano-parse (`grpc.status_details`,
 * `grpc.*.metadata`): a value redacted in the decoded view would still be
 * in the header's base64, which the rules cannot read. So under --redact
 * every value of a header field whose view holds a finding, or whose view
 * is cut (bytes no view shows, so unscanned), is replaced whole (mask,
 * hash: REDACTED_BINARY; drop: null, as a dropped header value is). Its
 * view keeps its own redaction.
 */
function redactBinaryFields(event: Record<string, unknown>, found: readonly PiiFinding[], mode: RedactMode): void {
  const sources: Array<[string, string, string]> = [];
  for (const f of found) {
    const m = BINARY_VIEW.exec(f.path);
    if (m) sources.push(...binarySources(m));
  }
  const g = event.grpc as Record<string, any> | null;
  if (g !== null && typeof g === 'object') {
    if (g.status_details?.truncated === true) sources.push(['response', 'trailer', 'grpc-status-details-bin'], ['response', 'header', 'grpc-status-details-bin']);
    for (const side of ['request', 'response']) {
      for (const name of cutViews(g[side]?.metadata)) sources.push([side, 'header', name]);
      for (const name of cutViews(g[side]?.trailer_metadata)) sources.push([side, 'trailer', name]);
    }
  }
  if (sources.length === 0) return;
  const http = event.http as Record<string, any> | undefined;
  for (const [side, block, name] of sources) {
    const values: unknown = http?.[side]?.[block]?.[name];
    if (!Array.isArray(values)) continue;
    for (let i = 0; i < values.length; i++) values[i] = mode === 'drop' ? null : REDACTED_BINARY;
  }
}

/**
 * A body is about to be redacted, so it will be written back. A JSON one first takes the texts of the
 * numbers JSON.parse could not hold as written (keepNumberTexts), while its keys are still those of its
 * text: the body goes out with every number it does not redact as it came.
 */
function touchBody(bs: BodySlot): void {
  if (bs.body.kind === 'json') keepNumberTexts(bs.body, false);
  bs.dirty = true;
}

/**
 * What a hit's keyed hash (its `hash` token, its audit record's `value_hash`) is taken of: the value,
 * however it was written where it was found. A repeat written differently (`Ada+Lovelace`, `ada
 * lovelace`) hashes as the finding it repeats (`sameAs`), and a finding written percent-encoded
 * (`alice.smith%40example.org` in `url.full`) as its decoded value, so that both join the same value
 * found as it is (`url.query$.email`, whose form value is decoded before it is scanned). That value
 * is then put in its type's canonical form (canonical.ts: a phone number as E.164, a card's digits,
 * an address's domain in lower case), so that one value written two ways joins too.
 */
function hashedText(h: Hit, text: string): string {
  return canonicalValue(h.type, decodedValue(h.type, hashedSource(h, text)));
}

/** The text a hit's hash is taken of, before decoding and canonical form: its `sameAs`, else its text. */
function hashedSource(h: Hit, text: string): string {
  return h.sameAs ?? text.slice(h.start, h.end);
}

/**
 * Adds `flag` to the event's `pano.flags`. An event whose `pano` is not an
 * object, or whose `pano.flags` is not a list, gets none: it is scanned and
 * redacted all the same, its odd fields left as they came (a string there
 * ended the run with an internal error).
 */
export function flagEvent(event: Record<string, unknown>, flag: string): void {
  const pano = event.pano;
  if (pano === null || typeof pano !== 'object' || Array.isArray(pano)) return;
  const p = pano as { flags?: unknown };
  if (p.flags === undefined) p.flags = [flag];
  else if (Array.isArray(p.flags)) p.flags.push(flag);
}

export function maskShape(type: string, raw: string): string {
  let keepFrom = raw.length;
  if (type === 'credit_card') {
    let seen = 0;
    for (let i = raw.length - 1; i >= 0; i--) {
      const c = raw.charCodeAt(i);
      if (c >= 48 && c <= 57 && ++seen === 4) { keepFrom = i; break; }
    }
  }
  let out = '';
  for (let i = 0; i < raw.length; i++) {
    const ch = raw[i]!;
    out += i >= keepFrom || !/[\p{L}\p{N}]/u.test(ch) ? ch : '*';
  }
  return out;
}
