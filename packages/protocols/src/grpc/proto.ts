/**
 * Schemas from `--proto DIR_OR_FILE`: every .proto file found is loaded with
 * protobufjs into one root, and a gRPC `:path` (`/pkg.Service/Method`) finds
 * the request and response message types there.
 */
import { readdirSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import type protobuf from 'protobufjs';
import { decodeWire } from './wire.js';

// Loaded on the first --proto only: most runs never need it, and every
// pano-parse (and each of its workers) would pay for it at start-up.
const require = createRequire(import.meta.url);
let protobufjs: typeof protobuf | undefined;
export function pb(): typeof protobuf {
  return (protobufjs ??= require('protobufjs') as typeof protobuf);
}

export interface MethodTypes {
  request: protobuf.Type;
  response: protobuf.Type;
}

export class ProtoSchemas {
  private readonly methods = new Map<string, MethodTypes | null>();

  constructor(private readonly root: protobuf.Root) {}

  /** Types for a `:path`, or undefined when the schemas do not define that method. */
  method(path: string): MethodTypes | undefined {
    let m = this.methods.get(path);
    if (m === undefined) {
      m = this.resolve(path);
      this.methods.set(path, m);
    }
    return m ?? undefined;
  }

  private readonly types = new Map<string, protobuf.Type | null>();

  /** A message type by its full name (`google.rpc.ErrorInfo`), or undefined when the schemas do not define it. */
  type(name: string): protobuf.Type | undefined {
    let t = this.types.get(name);
    if (t === undefined) {
      let found: protobuf.ReflectionObject | null = null;
      try {
        found = this.root.lookup(name);
      } catch {
        // a name protobufjs cannot look up is no type of these schemas
      }
      t = found instanceof pb().Type ? found : null;
      // bounded: a peer names what type it likes in an Any
      if (this.types.size < 1024) this.types.set(name, t);
    }
    return t ?? undefined;
  }

  private resolve(path: string): MethodTypes | null {
    const slash = path.lastIndexOf('/');
    if (slash <= 1) return null;
    const service = this.root.lookup(path.slice(1, slash));
    if (!(service instanceof pb().Service)) return null;
    const method = service.methods[path.slice(slash + 1)];
    if (!method) return null;
    method.resolve();
    if (!method.resolvedRequestType || !method.resolvedResponseType) return null;
    return { request: method.resolvedRequestType, response: method.resolvedResponseType };
  }
}

function collectProtoFiles(path: string, out: string[], depth = 0): void {
  const st = statSync(path);
  if (st.isFile()) {
    out.push(path);
    return;
  }
  if (depth > 16) return;
  for (const name of readdirSync(path).sort()) {
    const p = join(path, name);
    const s = statSync(p);
    if (s.isDirectory()) collectProtoFiles(p, out, depth + 1);
    else if (name.endsWith('.proto')) out.push(p);
  }
}

const cache = new Map<string, ProtoSchemas>();

/**
 * Loads the schemas under the given files or directories. Imports resolve
 * against the directories given (and the importing file's own directory).
 * Throws an Error with a one-line message naming the file when a schema does not parse.
 */
export function loadProtoSchemas(paths: readonly string[]): ProtoSchemas {
  const key = paths.join('\0');
  const hit = cache.get(key);
  if (hit) return hit;
  const files: string[] = [];
  const includeDirs: string[] = [];
  for (const p of paths) {
    const abs = resolve(p);
    let st;
    try {
      st = statSync(abs);
    } catch {
      throw new Error(`--proto ${p}: no such file or directory`);
    }
    includeDirs.push(st.isDirectory() ? abs : dirname(abs));
    collectProtoFiles(abs, files);
  }
  if (files.length === 0) throw new Error(`--proto ${paths.join(', ')}: no .proto files found`);
  const root = new (pb().Root)();
  root.resolvePath = (origin, target) => {
    if (target.startsWith('/')) return target;
    for (const dir of [origin ? dirname(origin) : '', ...includeDirs]) {
      if (!dir) continue;
      const candidate = join(dir, target);
      try {
        if (statSync(candidate).isFile()) return candidate;
      } catch {
        // try the next include directory
      }
    }
    // protobufjs knows google/protobuf/*.proto itself; any other miss is reported by load
    return target;
  };
  for (const f of files) {
    try {
      root.loadSync(f, { keepCase: true });
    } catch (err) {
      throw new Error(`--proto ${f}: ${(err as Error).message.split('\n')[0]}`);
    }
  }
  root.resolveAll();
  const schemas = new ProtoSchemas(root);
  cache.set(key, schemas);
  return schemas;
}

/** Nesting checked by schemaMismatch; deeper messages are left to the decoder. */
const MAX_CHECK_DEPTH = 16;

/** A field's value as the schema has it: the wire type it comes in, and what to check inside it. */
interface Expected {
  wireType: number;
  /** A repeated field of this type may come packed (wire type 2). */
  packable: boolean;
  /** A message field: its type's fields. */
  fields?: Lookup;
  /** A map field: each entry's key (field 1) and value (field 2). */
  entry?: Lookup;
}

type Lookup = { name: string; field(id: number): { name: string; key: string; repeated: boolean; exp: Expected } | undefined };

function expectedOf(typeName: string, resolved: protobuf.ReflectionObject | null | undefined): Expected {
  const p = pb();
  if (resolved instanceof p.Type) return { wireType: 2, packable: false, fields: fieldsOf(resolved) };
  if (resolved instanceof p.Enum) return { wireType: 0, packable: true };
  const basic = (p.types.basic as Record<string, number>)[typeName];
  return { wireType: basic ?? 2, packable: basic !== undefined && basic !== 2 };
}

function fieldsOf(type: protobuf.Type): Lookup {
  const typeName = type.fullName.replace(/^\./, '');
  return {
    name: typeName,
    field(id) {
      const f = type.fieldsById[id];
      if (!f) return undefined;
      const name = `${f.name} (${id})`;
      if (!f.map) return { name, key: f.name, repeated: f.repeated, exp: expectedOf(f.type, f.resolvedType) };
      const key = expectedOf((f as unknown as protobuf.MapField).keyType, null);
      const value = expectedOf(f.type, f.resolvedType);
      const entry: Lookup = {
        name: `${typeName}.${f.name} entry`,
        field: (n) => (n === 1 ? { name: 'key (1)', key: 'key', repeated: false, exp: key } : n === 2 ? { name: 'value (2)', key: 'value', repeated: false, exp: value } : undefined),
      };
      // a map's entries come one per field on the wire, like a repeated field's
      return { name, key: f.name, repeated: true, exp: { wireType: 2, packable: false, entry } };
    },
  };
}

/** The walk met what it does not check (a group, a malformed key): the decoder decides. */
class Stop {}

/**
 * Where a message's wire types disagree with the schema's field types, as a
 * one-line reason; undefined when they agree (or the walk cannot tell: a
 * group, bytes that are not a message). protobufjs reads a known field by
 * its declared type whatever its wire type, so bytes of another message type
 * (a wrong --proto, or a method whose types changed) decoded to plausible
 * numbers and text: a string read as a fixed64, a varint as a length. Such a
 * message is read schema-less instead, and the event says why.
 */
export function schemaMismatch(type: protobuf.Type, buf: Buffer, unknown?: UnknownFields): string | undefined {
  try {
    return checkFields(fieldsOf(type), buf, 0, buf.length, 0, '', unknown);
  } catch (e) {
    if (e instanceof Stop) return undefined;
    throw e;
  }
}

/**
 * Places in a message (`at`: where in its `content`) holding fields its schema does not know, with
 * their bytes (key and value), in wire order; `dropped`: fields in places past MAX_UNKNOWN_PLACES.
 */
export interface UnknownFields {
  places: Map<string, Buffer[]>;
  dropped: number;
}

/** Places with unknown fields reported per message; the rest are counted. */
export const MAX_UNKNOWN_PLACES = 32;

function checkFields(lookup: Lookup, buf: Buffer, start: number, end: number, depth: number, at: string, unknown: UnknownFields | undefined): string | undefined {
  // per repeated field: the index of its next element, for the place of unknown fields inside it
  let seen: Map<number, number> | undefined;
  let pos = start;
  const varint = (): number => {
    let v = 0;
    let scale = 1;
    for (let i = 0; i < 10; i++) {
      if (pos >= end) throw new Stop();
      const b = buf[pos++];
      v += (b & 0x7f) * scale;
      if (!(b & 0x80)) return v;
      scale *= 128;
    }
    throw new Stop();
  };
  while (pos < end) {
    const fieldStart = pos;
    const key = varint();
    const id = Math.floor(key / 8);
    const wt = key % 8;
    if (wt === 3 || wt === 4 || wt > 5 || id === 0) throw new Stop();
    let len = 0;
    if (wt === 0) varint();
    else if (wt === 1) pos += 8;
    else if (wt === 5) pos += 4;
    else {
      len = varint();
      pos += len;
    }
    if (pos > end) throw new Stop();
    const field = lookup.field(id);
    if (!field) {
      // protobufjs skips it: its value would be in no view, unseen by a reader and by pano-pii
      if (unknown) {
        const parts = unknown.places.get(at);
        if (parts) parts.push(buf.subarray(fieldStart, pos));
        else if (unknown.places.size < MAX_UNKNOWN_PLACES) unknown.places.set(at, [buf.subarray(fieldStart, pos)]);
        else unknown.dropped++;
      }
      continue;
    }
    const { exp } = field;
    const packed = field.repeated && exp.packable && wt === 2;
    if (wt !== exp.wireType && !packed) return `${lookup.name}: field ${field.name} has wire type ${wt}, its type in the schema has ${exp.wireType}`;
    const inner = exp.fields ?? exp.entry;
    if (inner && depth < MAX_CHECK_DEPTH) {
      let place = at === '' ? field.key : `${at}.${field.key}`;
      if (field.repeated) {
        seen ??= new Map();
        const i = seen.get(id) ?? 0;
        seen.set(id, i + 1);
        place += `[${i}]`;
      }
      const bad = checkFields(inner, buf, pos - len, pos, depth + 1, place, unknown);
      if (bad) return bad;
    }
  }
  return undefined;
}

/**
 * Decodes one message's bytes into `view`: by `type` to `content` when it
 * is given and the wire types agree with it, else schema-less to `fields`
 * (with `decode_error` saying why the schema was not used, or that the
 * bytes are no message).
 */
export function decodeMessage(view: Record<string, unknown>, type: protobuf.Type | undefined, plain: Buffer): void {
  // Wire types that disagree with the schema's: read schema-less, with the reason (see schemaMismatch).
  const unknown: UnknownFields = { places: new Map(), dropped: 0 };
  const mismatch = type && schemaMismatch(type, plain, unknown);
  if (mismatch) view.decode_error = mismatch;
  else if (type) {
    try {
      view.content = type.toObject(type.decode(plain), { longs: String, enums: String, bytes: String, defaults: false });
      if (unknown.places.size) {
        view.unknown_fields = unknownViews(unknown);
        if (unknown.dropped) view.unknown_fields_dropped = unknown.dropped;
      }
      return;
    } catch (err) {
      view.decode_error = `${type.fullName.replace(/^\./, '')}: ${(err as Error).message.split('\n')[0]}`;
    }
  }
  const wire = decodeWire(plain);
  if (wire) view.fields = wire;
  else if (!view.decode_error) view.decode_error = 'not a protobuf message';
}

/**
 * Fields a message's schema does not know (a newer sender, an older --proto), which protobufjs
 * drops: each place's fields decoded as without a schema, `at` saying where in `content` they
 * were (`''` the message itself, `address`, `items[2]`; a map's entries by their order on the
 * wire, `attrs[0].value`).
 */
function unknownViews(unknown: UnknownFields): Array<{ at: string; fields: unknown }> {
  const out: Array<{ at: string; fields: unknown }> = [];
  for (const [at, parts] of unknown.places) out.push({ at, fields: decodeWire(parts.length === 1 ? parts[0]! : Buffer.concat(parts)) ?? {} });
  return out;
}
