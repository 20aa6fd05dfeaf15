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

/** What findRepeats needs of a scanned field. */
export interface RepeatSlot {
  value: string;
  /** Its field name's hints: with Hint.notPii (identifier, digest, time, ...) no finding belongs here. */
  hints: number;
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

/**
 * A name written all in lower case (a model's guess at `elements` in a Redis help text) is not looked
 * for again: repeated, one doubtful hit becomes dozens. Names have a capital, or are in a script without
 * case (Han, Arabic, ...).
 */
const NAME_LETTER = /[\p{Lu}\p{Lt}\p{Lo}]/u;
const WORD_CHAR = /[\p{L}\p{N}]/u;
const HEX = /[0-9A-Fa-f]/;

function wordCharAt(s: string, i: number): boolean {
  const c = s.charCodeAt(i);
  if (c < 128) return (c >= 48 && c <= 57) || ((c | 32) >= 97 && (c | 32) <= 122);
  return WORD_CHAR.test(s[i]!);
}

/** `pos` starts a word: after a non-word character, a percent escape (`q=ann%20lee`) or the start. */
function startsWord(s: string, pos: number): boolean {
  if (pos === 0 || !wordCharAt(s, pos - 1)) return true;
  return pos >= 3 && s[pos - 3] === '%' && HEX.test(s[pos - 2]!) && HEX.test(s[pos - 1]!);
}

function endsWord(s: string, end: number): boolean {
  return end === s.length || !wordCharAt(s, end);
}

/**
 * The URL-encoded forms of a value (`Chris%20Sanders`, `Chris+Sanders`), as it appears in cookies,
 * queries and form bodies; none when encoding leaves it as it is.
 */
function encodedForms(text: string): string[] {
  const enc = encodeURIComponent(text);
  if (enc === text) return [];
  const plus = enc.replace(/%20/g, '+');
  return plus === enc ? [enc] : [enc, plus];
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
  /** encodedForms(text), worked out for the first field that holds a `%` or `+`. */
  encoded: string[] | undefined;
}

/**
 * Replaces `kept[i]` (the hits reported for `slots[i]`, sorted by start; never
 * written to) with a copy that also holds every further occurrence of a
 * reported value. An occurrence overlapping a hit is
 * skipped, unless it covers only shorter hits of its own type, which it
 * replaces ("Chris" inside "Chris+Sanders"); an occurrence in `allow` is
 * skipped too, and so are names and addresses where `namesBarred` says
 * they are never looked for (protocol text). Returns the hits added.
 */
export function findRepeats<S extends RepeatSlot>(slots: readonly S[], kept: Hit[][], namesBarred: (slot: S) => boolean, allow?: ReadonlySet<string>): number {
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
      seeds.set(raw, { hit: h, nameLike, anyCase, text: anyCase ? raw.toLowerCase() : raw, encoded: undefined });
    }
  }
  if (seeds.size === 0) return 0;
  let shortest = Infinity;
  for (const raw of seeds.keys()) if (raw.length < shortest) shortest = raw.length;
  let added = 0;
  for (let i = 0; i < slots.length; i++) {
    const slot = slots[i]!;
    const value = slot.value;
    if (slot.hints & Hint.notPii || value.length < shortest) continue;
    let lower: string | undefined;
    let hits = kept[i]!;
    let changed = false;
    let barred: boolean | undefined;
    let mayBeEncoded: boolean | undefined;
    for (const [raw, seed] of seeds) {
      const hit = seed.hit;
      if (value.length < seed.text.length) continue;
      if (seed.nameLike && (barred ??= namesBarred(slot))) continue;
      let text = value;
      if (seed.anyCase) {
        lower ??= value.toLowerCase();
        // a lower-cased text of another length (`İ`) would shift every offset: there only occurrences
        // written in lower case are found
        if (lower.length === value.length) text = lower;
      }
      mayBeEncoded ??= value.includes('%') || value.includes('+');
      const forms = mayBeEncoded ? [seed.text, ...(seed.encoded ??= encodedForms(seed.text))] : [seed.text];
      for (const form of forms) {
        for (let at = text.indexOf(form); at >= 0; at = text.indexOf(form, at + 1)) {
          const end = at + form.length;
          if (!startsWord(value, at) || !endsWord(value, end) || allow?.has(value.slice(at, end))) continue;
          let blocked = false;
          let covers = false;
          for (const k of hits) {
            if (k.end <= at || end <= k.start) continue;
            if (k.type === hit.type && at <= k.start && k.end <= end && k.end - k.start < end - at) covers = true;
            else blocked = true;
          }
          if (blocked) continue;
          if (covers) hits = hits.filter((k) => k.end <= at || end <= k.start);
          else if (!changed) hits = hits.slice();
          const h: Hit = { type: hit.type, start: at, end, confidence: hit.confidence, detector: 'repeat', validator: hit.validator };
          if (value.slice(at, end) !== raw) h.sameAs = raw;
          hits.push(h);
          changed = true;
          added++;
        }
      }
    }
    if (changed) kept[i] = hits.sort((a, b) => a.start - b.start);
  }
  return added;
}
