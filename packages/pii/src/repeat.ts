/**
 * A value found in one field of an event is the same personal data where it
 * appears again in that event: a Redis `db.query.text` repeats its
 * arguments, a name posted in a form comes back in a cookie, a gRPC reply
 * echoes the request. Names, addresses and values decided by context
 * (passwords, dates of birth) are found where the model or the field name
 * says so, and may be missed in another field; redacting one place and
 * leaving the others would leak the value. So the values of those findings
 * are looked for in all of the event's scanned fields, and each further
 * occurrence becomes a finding too (detector `repeat`, with the type,
 * confidence and validator of the first). A rule's values are not: its rule
 * finds them wherever they are (looking for them again was 12% of
 * pano-pii's time on generated events dense with PII, for next to nothing).
 */
import type { Hit } from './scan.js';
import type { PiiType } from './rules.js';
import { Hint } from './context.js';
import { DECODE_ROUNDS, decodePercent, rawOffsetThrough } from './percent.js';
import type { AllowList } from './allow.js';

/** What findRepeats needs of a scanned field. */
export interface RepeatSlot {
  value: string;
  /** Its field name's hints: with Hint.notPii (identifier, digest, time, ...) no finding belongs here. */
  hints: number;
  /** Where it is (`db.query.text` is SQL, whose string literals write a quote doubled or escaped). */
  path?: string;
}

/**
 * Shorter values are not looked for again: a two-letter name or password would match everywhere. In a
 * script without case two letters are a whole name (`陈瀚`), and whole words there are rare enough.
 */
export const REPEAT_MIN_LENGTH = 3;
const CASELESS_START = /^\p{Lo}/u;
/** At most this many distinct values of one event are looked for (the cost is fields × values). */
export const REPEAT_MAX_VALUES = 32;

/**
 * IP addresses are found by rule wherever they appear, except where they are dropped on purpose
 * (a DNS answer's addresses are the servers' own): never repeated into such places.
 */
const NOT_REPEATED = new Set<PiiType>(['ipv4', 'ipv6']);
const NO_HITS: Hit[] = [];

/**
 * A name written all in lower case (a model's guess at `elements` in a Redis help text) is not looked
 * for again: repeated, one doubtful hit becomes dozens. Names have a capital, or are in a script without
 * case (Han, Arabic, ...).
 */
const NAME_LETTER = /[\p{Lu}\p{Lt}\p{Lo}]/u;
const WORD_CHAR = /[\p{L}\p{N}]/u;

function wordCharAt(s: string, i: number): boolean {
  const c = s.charCodeAt(i);
  if (c < 128) return (c >= 48 && c <= 57) || ((c | 32) >= 97 && (c | 32) <= 122);
  return WORD_CHAR.test(s[i]!);
}

/** `pos` starts a word: after a non-word character or at the start. */
function startsWord(s: string, pos: number): boolean {
  return pos === 0 || !wordCharAt(s, pos - 1);
}

function endsWord(s: string, end: number): boolean {
  return end === s.length || !wordCharAt(s, end);
}

/** [at, end) of `s` is whole words. */
function wholeWords(s: string, at: number, end: number): boolean {
  return startsWord(s, at) && endsWord(s, end);
}

/**
 * A field's text as a value may be written into it URL-encoded: percent escapes decoded (any case of
 * hex digits, UTF-8), and `+` and space alike (folded to a space, here and in what is looked for), as a
 * form writes a space `+` and Go's PathEscape leaves a `+` as it is. `layers` take its offsets back to
 * the field's text (decodePercent's marks, one list per round: a text encoded twice, as a URL in a
 * query parameter holds its own query, is decoded twice, up to DECODE_ROUNDS).
 */
interface DecodedView {
  text: string;
  /** `text` lower-cased, for values matched in any case (when lower-casing keeps its length). */
  lower: string | undefined;
  layers: number[][];
}

/** The decoded views of a field's text, one per round of decoding, or null when it reads as the text does. */
function decodedViews(value: string): DecodedView[] | null {
  const views: DecodedView[] = [];
  let text = value;
  for (let round = 0; round < DECODE_ROUNDS; round++) {
    const marks: number[] = [];
    const decoded = decodePercent(text, marks);
    const plus = decoded.indexOf('+') >= 0;
    if (marks.length === 0 && !plus) break;
    const layers = round === 0 ? [marks] : [...views[round - 1]!.layers, marks];
    views.push({ text: plus ? decoded.replace(/\+/g, ' ') : decoded, lower: undefined, layers });
    // decoded again only while a round leaves an escape (`Chris%2520Sanders` gives `Chris%20Sanders`)
    if (marks.length === 0 || decoded.indexOf('%') < 0) break;
    text = views[round]!.text;
  }
  return views.length ? views : null;
}

interface Seed {
  hit: Hit;
  /** A name or address: not looked for where namesBarred says so. */
  nameLike: boolean;
  /**
   * Matched in any letter case: names and addresses of several words (`Chris Sanders`, `chris sanders`
   * in a search term); one word is not (a name `Will` is not every `will`, nor `Kafka` the `kafka` of
   * `messaging.system`).
   */
  anyCase: boolean;
  /** The value as looked for (lower-cased when `anyCase`). */
  text: string;
  /** `text` as looked for in a decoded view (`+` as a space), worked out for the first one. */
  folded: string | undefined;
  /** `text` as a SQL string literal writes it (sqlForms), worked out for the first SQL text. */
  sqlForms: string[] | undefined;
  /** `text` as a JSON string writes it, once and twice (jsonForms); empty when that is `text` itself. */
  jsonForms: string[];
}

/** A quote, a backslash or a control character: what a JSON string writes escaped. */
const JSON_ESCAPED = /["\\\u0000-\u001f]/;

/**
 * `text` as a JSON string's content writes it (`221B Baker Street\nLondon`, `pa\"ss`), and as a JSON
 * document kept in a JSON string writes that (`\\n`, `\\\"`): a Redis query text quotes every argument
 * holding a space or a quote so (pano-parse), and a JSON document kept in a JSON string value or a
 * Redis argument carries its values escaped twice. A multi-line address or a password with a quote,
 * found in its field, was not found there and stayed raw under every --redact.
 */
function jsonForms(text: string): string[] {
  if (!JSON_ESCAPED.test(text)) return [];
  const once = JSON.stringify(text).slice(1, -1);
  return [once, JSON.stringify(once).slice(1, -1)];
}

/**
 * A quote inside a SQL string literal is doubled (`'O''Neil'`, the SQL standard, PostgreSQL and MySQL)
 * or, in MySQL, escaped (`'O\'Neil'`): a name with an apostrophe found in a result row or a parameter
 * is written so in the statement's text (`WHERE full_name IN ('Renée O''Neil')`, a function's
 * argument), where no column names the literal (sqlLiterals in event.ts) and the value as written was
 * not found; it stayed raw there under every --redact.
 */
function sqlForms(text: string): string[] {
  return [text.replace(/'/g, "''"), text.replace(/'/g, "\\'")];
}

/**
 * Replaces `kept[i]` (the hits reported for `slots[i]`, sorted by start; never
 * written to) with a copy that also holds every further occurrence of a
 * reported value. An occurrence overlapping a hit is
 * skipped, unless it covers only shorter hits of its own type, which it
 * replaces ("Chris" inside "Chris+Sanders"); an occurrence `allow` allows
 * (as written or as the value it repeats) is skipped too, and so are names and addresses where `namesBarred` says
 * they are never looked for (protocol text). Returns the hits added.
 */
export function findRepeats<S extends RepeatSlot>(slots: readonly S[], kept: Hit[][], namesBarred: (slot: S) => boolean, allow?: AllowList): number {
  const seeds = new Map<string, Seed>();
  gather: for (let i = 0; i < slots.length; i++) {
    for (const h of kept[i]!) {
      if (h.detector === 'regex' || NOT_REPEATED.has(h.type) || h.end - h.start < 2) continue;
      const raw = slots[i]!.value.slice(h.start, h.end);
      if (seeds.has(raw) || (raw.length < REPEAT_MIN_LENGTH && !CASELESS_START.test(raw))) continue;
      if (h.type === 'person_name' && !NAME_LETTER.test(raw)) continue;
      if (seeds.size === REPEAT_MAX_VALUES) break gather;
      const nameLike = h.type === 'person_name' || h.type === 'street_address';
      const anyCase = nameLike && /\s/.test(raw);
      seeds.set(raw, { hit: h, nameLike, anyCase, text: anyCase ? raw.toLowerCase() : raw, folded: undefined, sqlForms: undefined, jsonForms: jsonForms(anyCase ? raw.toLowerCase() : raw) });
    }
  }
  if (seeds.size === 0) return 0;
  let shortest = Infinity;
  for (const raw of seeds.keys()) if (raw.length < shortest) shortest = raw.length;
  let added = 0;
  // the field being searched, and its hits so far
  let value = '';
  let hits: Hit[] = NO_HITS;
  let changed = false;
  /** Adds the occurrence of `seed` (the finding `raw`) at [at, end) of `value`, unless it is not one. */
  const occurrence = (raw: string, seed: Seed, at: number, end: number): void => {
    const hit = seed.hit;
    const text = value.slice(at, end);
    if (allow?.has(hit.type, text, text !== raw ? raw : undefined)) return;
    let blocked = false;
    let covers = false;
    for (const k of hits) {
      if (k.end <= at || end <= k.start) continue;
      if (k.type === hit.type && at <= k.start && k.end <= end && k.end - k.start < end - at) covers = true;
      else blocked = true;
    }
    if (blocked) return;
    if (covers) hits = hits.filter((k) => k.end <= at || end <= k.start);
    else if (!changed) hits = hits.slice();
    const h: Hit = { type: hit.type, start: at, end, confidence: hit.confidence, detector: 'repeat', validator: hit.validator };
    if (text !== raw) h.sameAs = raw;
    hits.push(h);
    changed = true;
    added++;
  };
  for (let i = 0; i < slots.length; i++) {
    const slot = slots[i]!;
    value = slot.value;
    if (slot.hints & Hint.notPii || value.length < shortest) continue;
    hits = kept[i]!;
    changed = false;
    let lower: string | undefined;
    let barred: boolean | undefined;
    // undefined until needed; null when the field holds nothing to decode
    let view: DecodedView[] | null | undefined;
    for (const [raw, seed] of seeds) {
      if (value.length < seed.text.length) continue;
      if (seed.nameLike && (barred ??= namesBarred(slot))) continue;
      let text = value;
      if (seed.anyCase) {
        lower ??= value.toLowerCase();
        // a lower-cased text of another length (`İ`) would shift every offset: there only occurrences
        // written in lower case are found
        if (lower.length === value.length) text = lower;
      }
      for (let at = text.indexOf(seed.text); at >= 0; at = text.indexOf(seed.text, at + 1)) {
        const end = at + seed.text.length;
        if (wholeWords(value, at, end)) occurrence(raw, seed, at, end);
      }
      const sql = slot.path === 'db.query.text' && seed.text.indexOf("'") >= 0 ? (seed.sqlForms ??= sqlForms(seed.text)) : undefined;
      if (sql || seed.jsonForms.length) {
        for (const form of sql ? [...sql, ...seed.jsonForms] : seed.jsonForms) {
          for (let at = text.indexOf(form); at >= 0; at = text.indexOf(form, at + 1)) {
            const end = at + form.length;
            if (wholeWords(value, at, end)) occurrence(raw, seed, at, end);
          }
        }
      }
      // the value URL-encoded, however the encoder escaped it, is looked for in the field decoded; most
      // fields hold neither `%` nor `+`, and get no decoded view
      if (view === undefined) view = value.indexOf('%') >= 0 || value.indexOf('+') >= 0 ? decodedViews(value) : null;
      if (view === null) continue;
      const folded = (seed.folded ??= seed.text.indexOf('+') >= 0 ? seed.text.replace(/\+/g, ' ') : seed.text);
      for (const v of view) {
        let vtext = v.text;
        if (seed.anyCase) {
          v.lower ??= vtext.toLowerCase();
          if (v.lower.length === vtext.length) vtext = v.lower;
        }
        for (let at = vtext.indexOf(folded); at >= 0; at = vtext.indexOf(folded, at + 1)) {
          const end = at + folded.length;
          // whole words of the decoded text (`q=about%20chris%20sanders`); an occurrence written as it is,
          // found above (or in an earlier round), overlaps itself here and is not added twice
          if (wholeWords(v.text, at, end)) occurrence(raw, seed, rawOffsetThrough(v.layers, at), rawOffsetThrough(v.layers, end));
        }
      }
    }
    if (changed) kept[i] = hits.sort((a, b) => a.start - b.start);
  }
  return added;
}
