/**
 * The longest valid beginning of a JSON text that `JSON.parse` rejects: a
 * body cut at the parser's `--max-body`, or JSON followed by something else
 * (NDJSON bodies, a stray byte). Such a body used to be scanned as plain text,
 * which loses what the structure says: the field names that make a value a
 * name, a password or a date of birth, the JSON path of each hit, and the
 * decoded escapes (`alice\u0040example.org`). Large JSON responses, the ones
 * most likely to be cut, are where personal data comes in bulk.
 *
 * What is parsed becomes a document as `JSON.parse` would make it; the
 * containers still open at the cut are listed, a string cut before its closing
 * quote is kept as far as it goes, and the text from the first item that is
 * not whole (a cut key, number or literal, or whatever follows the error) is
 * the `tail`, left as text. `serialiseJsonPrefix` writes a (redacted) document
 * back the same way: open containers stay open, a cut string stays
 * unterminated, the tail follows.
 *
 * Unlike `JSON.parse`, the parser keeps a number as it was written where a
 * double would not give it back (a JsonNumber): an integer beyond 2^53 (a
 * card number or an id of 17+ digits, which JSON.parse rounds, so its digits
 * were scanned wrong and written back changed), a fraction of more digits
 * than a double holds, a spelling such as `1.50`. Node 20's JSON.parse has no
 * source text for a reviver, so whole bodies holding such numbers are parsed
 * here too (keepNumberTexts in body.ts).
 */

import { setOwn } from '@panopticon/events';

export type JsonContainer = Record<string, unknown> | unknown[];

export interface JsonPrefix {
  doc: JsonContainer;
  /** Containers open at the cut, outermost first (empty when the document was whole). */
  open: JsonContainer[];
  /** The innermost open container's last value is a string cut before its closing quote. */
  partialString: boolean;
  /** That string's key (object) or index (array): written open only while it is still there. */
  partialKey: string | number | undefined;
  /** Text from `tailStart` on that is not part of the document ('' when none); redaction may replace or delete it. */
  tail?: string;
  tailStart: number;
}

/** Deeper than this the rest is left as text: a bound on the parser's recursion, not on what is scanned. */
const MAX_PREFIX_DEPTH = 256;
const NUMBER = /-?(?:0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?/y;
const CONTINUES_NUMBER = /[0-9.eE+-]/;
const LITERALS: Array<[string, unknown]> = [['true', true], ['false', false], ['null', null]];
/** No value: the item being read is not whole (cut or invalid). */
const NONE = Symbol('none');

/**
 * A JSON number as it was written, where `Number` and `JSON.stringify` would
 * not give its text back (`6212345678901234569`, `0.10000000000000000001`,
 * `1.50`, `1e3`). The walk scans an integer's text; serialisation writes the
 * text as it came.
 */
export class JsonNumber {
  constructor(readonly text: string) {}
}

/**
 * The value of the number token `t` (`frac` and `exp` its fraction and
 * exponent parts, if any): a number where writing it back gives `t`, else a
 * JsonNumber. Integers of up to 15 characters are exact doubles and written
 * as they came (JSON has no leading zeros), and are most numbers: no text is
 * made for them.
 */
function jsonNumber(t: string, frac: string | undefined, exp: string | undefined): number | JsonNumber {
  const n = Number(t);
  if (frac === undefined && exp === undefined && t.length <= 15 && t !== '-0') return n;
  return String(n) === t ? n : new JsonNumber(t);
}

class PrefixParser {
  i = 0;
  /** Set at the first item that is not whole: the end of the last whole item before it, where the tail starts. */
  stopAt = -1;
  partialString = false;
  partialKey: string | number | undefined;
  readonly open: JsonContainer[] = [];
  /** Offset of the next backslash at or after the last one used, -1 when there is none, -2 before the first search. */
  private backslash = -2;
  /** The same for the next quote: a string of many escapes searched afresh after each would be read to the end each time. */
  private quote = -2;
  /** Key or index of the value being read, for `partialKey`. */
  private key: string | number | undefined;

  constructor(private readonly s: string) {}

  private ws(): void {
    const s = this.s;
    for (;;) {
      const c = s.charCodeAt(this.i);
      if (c === 32 || c === 10 || c === 13 || c === 9) this.i++;
      else return;
    }
  }

  /** The value at `i`, or NONE when it is not whole (the caller sets the tail); a cut string is whole enough. */
  value(depth: number): unknown {
    this.ws();
    const start = this.i;
    if (start >= this.s.length) return NONE;
    const c = this.s.charCodeAt(start);
    if (c === 123 || c === 91) return depth >= MAX_PREFIX_DEPTH ? NONE : c === 123 ? this.object(depth) : this.array(depth);
    if (c === 34) return this.string(true) ?? NONE;
    if (c === 45 || (c >= 48 && c <= 57)) {
      NUMBER.lastIndex = start;
      const m = NUMBER.exec(this.s);
      // a number that runs to the end may have been cut inside (`123` of `12345`), and one followed by
      // what would continue it was (`12` of `12.`, `1` of `1e`): neither is the number that was sent
      if (!m || NUMBER.lastIndex >= this.s.length || CONTINUES_NUMBER.test(this.s[NUMBER.lastIndex]!)) return NONE;
      this.i = NUMBER.lastIndex;
      return jsonNumber(m[0], m[1], m[2]);
    }
    for (const [word, v] of LITERALS) {
      if (this.s.startsWith(word, start)) {
        this.i = start + word.length;
        return v;
      }
    }
    return NONE;
  }

  private object(depth: number): JsonContainer {
    const obj: Record<string, unknown> = {};
    this.open.push(obj);
    this.i++;
    let itemEnd = this.i;
    this.ws();
    if (this.s.charCodeAt(this.i) === 125) return this.close(obj);
    for (;;) {
      this.ws();
      if (this.s.charCodeAt(this.i) !== 34) return this.stop(itemEnd, obj);
      const key = this.string(false);
      if (key === undefined) return this.stop(itemEnd, obj);
      this.ws();
      if (this.s.charCodeAt(this.i) !== 58) return this.stop(itemEnd, obj);
      this.i++;
      this.key = key;
      const v = this.value(depth + 1);
      if (v === NONE) return this.stop(itemEnd, obj);
      // an own property even for "__proto__", as JSON.parse makes it
      setOwn(obj, key, v);
      if (this.stopAt >= 0) return obj;
      itemEnd = this.i;
      this.ws();
      const c = this.s.charCodeAt(this.i);
      if (c === 125) return this.close(obj);
      if (c !== 44) return this.stop(itemEnd, obj);
      this.i++;
    }
  }

  private array(depth: number): JsonContainer {
    const arr: unknown[] = [];
    this.open.push(arr);
    this.i++;
    let itemEnd = this.i;
    this.ws();
    if (this.s.charCodeAt(this.i) === 93) return this.close(arr);
    for (;;) {
      this.key = arr.length;
      const v = this.value(depth + 1);
      if (v === NONE) return this.stop(itemEnd, arr);
      arr.push(v);
      if (this.stopAt >= 0) return arr;
      itemEnd = this.i;
      this.ws();
      const c = this.s.charCodeAt(this.i);
      if (c === 93) return this.close(arr);
      if (c !== 44) return this.stop(itemEnd, arr);
      this.i++;
    }
  }

  private stop(at: number, c: JsonContainer): JsonContainer {
    if (this.stopAt < 0) this.stopAt = at;
    return c;
  }

  private close(c: JsonContainer): JsonContainer {
    this.i++;
    this.open.pop();
    return c;
  }

  /**
   * The string at `i` (on its opening quote), decoded. A value cut before its
   * closing quote is the text so far (without an escape cut in the middle),
   * with `partialString` set and nothing after it; a cut key, or an invalid
   * escape, is undefined.
   */
  private string(isValue: boolean): string | undefined {
    const s = this.s;
    let pos = this.i + 1;
    let out = '';
    for (;;) {
      if (this.quote !== -1 && this.quote < pos) this.quote = s.indexOf('"', pos);
      const q = this.quote;
      // the next backslash is looked for once and remembered: searched for in every string, a text
      // without one would be read to its end each time
      if (this.backslash !== -1 && this.backslash < pos) this.backslash = s.indexOf('\\', pos);
      const b = this.backslash >= 0 && (q < 0 || this.backslash < q) ? this.backslash : -1;
      if (b >= 0) {
        out += s.slice(pos, b);
        if (b + 1 >= s.length) return this.cutString(out, isValue);
        const e = s.charCodeAt(b + 1);
        if (e === 117) {
          if (b + 6 > s.length) return /^[0-9a-fA-F]*$/.test(s.slice(b + 2)) ? this.cutString(out, isValue) : undefined;
          const hex = s.slice(b + 2, b + 6);
          if (!/^[0-9a-fA-F]{4}$/.test(hex)) return undefined;
          out += String.fromCharCode(parseInt(hex, 16));
          pos = b + 6;
          continue;
        }
        const ch = ESCAPES[e];
        if (ch === undefined) return undefined;
        out += ch;
        pos = b + 2;
        continue;
      }
      if (q < 0) return this.cutString(out + s.slice(pos), isValue);
      this.i = q + 1;
      return out + s.slice(pos, q);
    }
  }

  private cutString(sofar: string, isValue: boolean): string | undefined {
    if (!isValue) return undefined;
    this.i = this.s.length;
    this.partialString = true;
    this.partialKey = this.key;
    // the cut string is the document's last value: no tail after it
    this.stopAt = this.s.length;
    return sofar;
  }
}

const ESCAPES: Array<string | undefined> = [];
ESCAPES[34] = '"';
ESCAPES[92] = '\\';
ESCAPES[47] = '/';
ESCAPES[98] = '\b';
ESCAPES[102] = '\f';
ESCAPES[110] = '\n';
ESCAPES[114] = '\r';
ESCAPES[116] = '\t';

/**
 * The document at the start of `text` (which starts, after white space, with
 * `{` or `[`), or undefined when not even one value of it is whole, where
 * the text scan is all there is to do.
 */
export function parseJsonPrefix(text: string): JsonPrefix | undefined {
  const p = new PrefixParser(text);
  const doc = p.value(0);
  if (doc === NONE || doc === null || typeof doc !== 'object') return undefined;
  // a whole document may have something after it
  const tailStart = p.stopAt >= 0 ? p.stopAt : p.i;
  const c = doc as JsonContainer;
  const empty = Array.isArray(c) ? c.length === 0 : Object.keys(c).length === 0;
  if (empty && !p.partialString && tailStart < text.length) return undefined;
  const tail = text.slice(tailStart);
  return { doc: c, open: p.open, partialString: p.partialString, partialKey: p.partialKey, tail: /\S/.test(tail) ? tail : '', tailStart };
}

/**
 * `JSON.stringify(v)`, but a JsonNumber written as its text (Node 20 has no
 * JSON.rawJSON). Slower than JSON.stringify: only documents that may hold
 * one come here (cut bodies, and whole ones that do).
 */
export function stringifyExact(v: unknown): string | undefined {
  if (v instanceof JsonNumber) return v.text;
  if (v === null || typeof v !== 'object') return JSON.stringify(v);
  if (Array.isArray(v)) {
    let out = '[';
    for (let i = 0; i < v.length; i++) {
      if (i > 0) out += ',';
      out += stringifyExact(v[i]) ?? 'null';
    }
    return out + ']';
  }
  let out = '{';
  for (const k of Object.keys(v)) {
    const text = stringifyExact((v as Record<string, unknown>)[k]);
    if (text === undefined) continue;
    if (out.length > 1) out += ',';
    out += JSON.stringify(k) + ':' + text;
  }
  return out + '}';
}

function isDigitAt(s: string, i: number): boolean {
  const c = s.charCodeAt(i);
  return c >= 48 && c <= 57;
}

/**
 * Whether a fraction of `text` would not be written back as it came from the
 * double JSON.parse made of it: more digits than a double holds
 * (`0.10000000000000000001`), or another spelling (`1.50`). A number token
 * is where a value starts (after `:`, `,` or `[`); one inside a string is a
 * harmless false alarm. The text is searched for its `.`s, not lexed.
 */
export function mayHaveInexactFractions(text: string): boolean {
  for (let dot = text.indexOf('.'); dot > 0; dot = text.indexOf('.', dot + 1)) {
    if (!isDigitAt(text, dot - 1) || !isDigitAt(text, dot + 1)) continue;
    let start = dot - 1;
    while (start > 0 && isDigitAt(text, start - 1)) start--;
    if (start > 0 && text.charCodeAt(start - 1) === 45) start--;
    let before = start - 1;
    for (let c = text.charCodeAt(before); c === 32 || c === 10 || c === 13 || c === 9; c = text.charCodeAt(--before));
    const c = text.charCodeAt(before);
    if (c !== 58 && c !== 44 && c !== 91) continue;
    NUMBER.lastIndex = start;
    const m = NUMBER.exec(text);
    if (m === null) continue;
    if (String(Number(m[0])) !== m[0]) return true;
    dot = NUMBER.lastIndex - 1;
  }
  return false;
}

/**
 * Puts the JsonNumbers of `from` (the same text parsed by parseJsonPrefix)
 * in the places of `into` (parsed by JSON.parse) where `into` still holds a
 * number: both documents have the same keys in the same order, JSON.parse's.
 * What redaction or the depth bound replaced or removed in `into` is left so.
 * Returns whether one was put.
 */
export function adoptNumberTexts(into: unknown, from: unknown): boolean {
  if (into === null || typeof into !== 'object' || from === null || typeof from !== 'object' || from instanceof JsonNumber) return false;
  if (Array.isArray(from) !== Array.isArray(into)) return false;
  const target = into as Record<string, unknown>;
  let any = false;
  // an array's indices are its keys too; past into's length, or a key into lacks, there is nothing to adopt
  for (const k of Object.keys(from)) {
    if (!Object.hasOwn(target, k)) continue;
    const f = (from as Record<string, unknown>)[k];
    if (!(f instanceof JsonNumber)) any = adoptNumberTexts(target[k], f) || any;
    else if (typeof target[k] === 'number') {
      setOwn(target, k, f);
      any = true;
    }
  }
  return any;
}

/**
 * The text of a (redacted) prefix document: as `JSON.stringify` writes it
 * (numbers as they came), but the containers open at the cut left open and a
 * cut last string left unterminated, then the tail. An open container whose
 * entry was dropped (`--redact drop` of a key) ends the text there, tail
 * included.
 */
export function serialiseJsonPrefix(b: JsonPrefix): string {
  let out = '';
  /** The innermost open container was written without an item (`--redact drop` took them all). */
  let emptied = false;
  const write = (c: JsonContainer, depth: number): boolean => {
    const isArray = Array.isArray(c);
    out += isArray ? '[' : '{';
    const keys = isArray ? undefined : Object.keys(c);
    const n = isArray ? c.length : keys!.length;
    const innermost = depth === b.open.length - 1;
    for (let k = 0; k < n; k++) {
      const v = isArray ? c[k] : (c as Record<string, unknown>)[keys![k]!];
      if (k > 0) out += ',';
      if (!isArray) out += JSON.stringify(keys![k]) + ':';
      const last = k === n - 1;
      if (last && !innermost && v === b.open[depth + 1]) return write(v as JsonContainer, depth + 1);
      // the cut string, if redaction left it where it was (not the string before it, after a drop)
      if (last && innermost && b.partialString && typeof v === 'string' && (isArray ? k : keys![k]) === b.partialKey) {
        out += JSON.stringify(v).slice(0, -1);
        return true;
      }
      out += v === undefined ? 'null' : stringifyExact(v);
    }
    if (innermost) {
      emptied = n === 0;
      return true;
    }
    // the next open container is gone: its tail went with it
    return false;
  };
  if (b.open.length === 0) out = stringifyExact(b.doc)!;
  else if (!write(b.open[0]!, 0)) return out;
  const tail = b.tail ?? '';
  // the tail starts after the last whole item, with the comma before the next (`,"z":12`): after no item
  // that comma would make `{,"z":12`, which is no beginning of any JSON document
  return out + (emptied ? tail.replace(/^(\s*),/, '$1') : tail);
}
