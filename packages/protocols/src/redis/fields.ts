/**
 * RESP values → event fields: command text and arguments, reply summaries.
 * Everything here is already bounded by the reader (kept bytes / elements);
 * these functions only shape it for JSON.
 */
import { isUtf8 } from 'node:buffer';
import { safeInt } from '../messaging/body.js';
import { setOwn } from '@panopticon/events';
import type { RespValue } from './resp.js';
import { sequential } from '@panopticon/events';

/** Bytes as text: UTF-8 when valid, otherwise redis-cli style with \xHH escapes. */
export function bytesText(b: Buffer): string {
  if (isUtf8(b)) return b.toString('utf8');
  let out = '';
  for (const c of b) out += c >= 0x20 && c < 0x7f && c !== 0x5c ? String.fromCharCode(c) : c === 0x5c ? '\\\\' : '\\x' + c.toString(16).padStart(2, '0');
  return out;
}

/** Scalar text of a value (commands are arrays of bulk strings; inline args are too). */
export function valueText(v: RespValue): string {
  if (v.bytes) return bytesText(v.bytes);
  if (v.text !== undefined) return v.text;
  if (v.int !== undefined) return v.int.toString();
  if (v.bool !== undefined) return v.bool ? 'true' : 'false';
  return '';
}

/**
 * A reply value as plain JSON (maps with string keys become objects).
 * `attrs`: collects the RESP3 attribute maps met on the way, keyed by the
 * JSON Pointer (RFC 6901) of the value they precede in the returned JSON
 * (`""` for the whole reply, `/2` for its third element); `at` is the
 * pointer of `v`. Paths are built only inside aggregates marked as holding
 * attributes, so plain replies cost nothing more.
 */
export function toJson(v: RespValue, attrs?: Record<string, unknown>, at = ''): unknown {
  if (attrs && v.attributes) attrs[at] = toJson(v.attributes);
  const inner = attrs && v.innerAttributes ? attrs : undefined;
  switch (v.type) {
    case 'null':
      return null;
    case 'integer':
      return safeInt(v.int!);
    case 'boolean':
      return v.bool;
    case 'double': {
      const n = Number(v.text);
      return Number.isFinite(n) ? n : v.text;
    }
    case 'verbatim': {
      // `=15\r\ntxt:Some string`: the 3-letter format and ':' are framing, not content.
      const t = bytesText(v.bytes!);
      return t.length >= 4 && t[3] === ':' ? t.slice(4) : t;
    }
    case 'bulk':
    case 'blob_error':
      return bytesText(v.bytes!);
    case 'simple':
    case 'error':
    case 'big_number':
      return v.text;
    case 'map':
    case 'attribute': {
      const items = v.items ?? [];
      const keys = items.filter((_, i) => i % 2 === 0);
      // a key with attributes needs a pointer of its own: only the [key, value] pairs give it one
      const scalarKeys = keys.every((k) => (k.bytes !== undefined || k.text !== undefined) && !k.attributes);
      if (scalarKeys && new Set(keys.map(valueText)).size === keys.length) {
        const obj: Record<string, unknown> = {};
        for (let i = 0; i + 1 < items.length; i += 2) {
          const key = valueText(items[i]!);
          setOwn(obj, key, toJson(items[i + 1]!, inner, inner && `${at}/${pointerToken(key)}`));
        }
        return obj;
      }
      const pairs: unknown[] = [];
      for (let i = 0; i + 1 < items.length; i += 2) {
        const n = i / 2;
        pairs.push([toJson(items[i]!, inner, inner && `${at}/${n}/0`), toJson(items[i + 1]!, inner, inner && `${at}/${n}/1`)]);
      }
      return pairs;
    }
    default: {
      const items = v.items ?? [];
      const out: unknown[] = new Array(items.length);
      for (let i = 0; i < items.length; i++) out[i] = toJson(items[i]!, inner, inner && `${at}/${i}`);
      return out;
    }
  }
}

export interface ReplySummary {
  type: string;
  value?: unknown;
  /** bulk-like: full payload size */
  size?: number;
  /** aggregates: element count (maps: pairs) */
  length?: number;
  attributes?: unknown;
  truncated?: boolean;
}

/** JSON Pointer escaping of one reference token (RFC 6901: `~` is `~0`, `/` is `~1`). */
function pointerToken(key: string): string {
  return key.includes('~') || key.includes('/') ? key.replace(/~/g, '~0').replace(/\//g, '~1') : key;
}

export function replySummary(v: RespValue): ReplySummary {
  const attrs: Record<string, unknown> | undefined = v.attributes || v.innerAttributes ? {} : undefined;
  const s: ReplySummary = { type: v.type, value: toJson(v, attrs) };
  if (v.size !== undefined) s.size = v.size;
  if (v.length !== undefined) s.length = v.length;
  if (attrs) s.attributes = attrs;
  if (v.truncated) s.truncated = true;
  return s;
}

/** `ERR unknown command` → `ERR`: the error prefix is Redis's error code. */
export function errorCode(v: RespValue): string | undefined {
  if (v.type !== 'error' && v.type !== 'blob_error') return undefined;
  const text = valueText(v);
  const m = /^([A-Z][A-Z0-9_]*)\b/.exec(text);
  return m ? m[1] : 'ERR';
}

/** Command words and the query text, bounded to `maxText` characters. */
export function commandText(words: string[], maxText: number): { text: string; truncated: boolean } {
  let text = '';
  for (const w of words) {
    const quoted = /[\s"]/.test(w) || w === '' ? JSON.stringify(w) : w;
    text += text ? ' ' + quoted : quoted;
    if (text.length > maxText) return { text: sequential(text.slice(0, maxText)), truncated: true };
  }
  // built by concatenation: copied so the event stays on the JSON fast path (ADR 0007)
  return { text: sequential(text), truncated: false };
}

/**
 * Passwords never reach an event: AUTH [user] password, HELLO ... AUTH user
 * password, MIGRATE ... AUTH password / AUTH2 user password, and ACL SETUSER
 * rules that set passwords (>pass, <pass, #hash, !hash) are replaced by `?`.
 * Returns how many words were replaced.
 */
export function redactSecrets(words: string[]): number {
  const name = (words[0] ?? '').toUpperCase();
  let n = 0;
  const hide = (i: number) => {
    if (i < words.length) {
      words[i] = '?';
      n++;
    }
  };
  if (name === 'AUTH') hide(words.length - 1);
  else if (name === 'HELLO' || name === 'MIGRATE') {
    for (let i = 1; i < words.length; i++) {
      const w = words[i]!.toUpperCase();
      if (w === 'AUTH') hide(name === 'HELLO' ? i + 2 : i + 1);
      else if (w === 'AUTH2') hide(i + 2);
    }
  } else if (name === 'ACL' && (words[1] ?? '').toUpperCase() === 'SETUSER') {
    for (let i = 3; i < words.length; i++) if (/^[<>#!]/.test(words[i]!)) hide(i);
  }
  return n;
}
