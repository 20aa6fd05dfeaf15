/**
 * gRPC binary metadata (gRPC over HTTP/2, "Binary-Header"): a field whose
 * name ends in `-bin` carries bytes as base64 (RFC 4648 §4, padded or not;
 * repeated values may be joined with ","). The header fields stay in the
 * event as sent; these are their decoded views, so that a reader and
 * pano-pii (which scans strings) see what they hold. The one gRPC itself
 * defines, `grpc-status-details-bin`, is a google.rpc.Status and is read as
 * one (rich errors: ErrorInfo, BadRequest, ...).
 */
import type protobuf from 'protobufjs';
import { errorDetailType } from './error-details.js';
import { decodeMessage } from './proto.js';
import { decodeWire, isText, readFields, type RawField } from './wire.js';

/**
 * Decoded bytes one event's views may hold in all. A header block is at most
 * 64 KiB (http2's bound), so one value decodes to at most 48 KiB, and a
 * status details value always fits; HPACK can repeat a table entry many
 * times in a block, so the views of all blocks together are bounded too.
 */
export const MAX_BINARY_METADATA_BYTES = 64 * 1024;
/** Details (google.protobuf.Any) of one status decoded; the rest are counted. */
export const MAX_STATUS_DETAILS = 32;

export const STATUS_DETAILS_KEY = 'grpc-status-details-bin';

/** What is left of the event's MAX_BINARY_METADATA_BYTES. */
export interface BinaryBudget {
  left: number;
}

const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

/**
 * The bytes of one base64 value (padded or not, as the spec asks receivers
 * to accept), or a one-line reason it is not base64.
 */
export function base64Bytes(text: string): Buffer | string {
  const t = text.trim();
  if (!BASE64.test(t)) {
    // Buffer.from(…, 'base64') skips what is not base64 (and reads base64url): it would decode something else
    const end = t.replace(/={1,2}$/, '').length;
    let i = 0;
    while (i < end && /[A-Za-z0-9+/]/.test(t[i])) i++;
    return `not base64: byte 0x${t.charCodeAt(i).toString(16).padStart(2, '0')} at offset ${i}`;
  }
  const unpadded = t.replace(/=+$/, '').length;
  if (unpadded % 4 === 1) return `not base64: ${unpadded} characters leave one over`;
  if (unpadded !== t.length && t.length % 4 !== 0) return 'not base64: padding does not end a 4-character group';
  return Buffer.from(t, 'base64');
}

/** The bytes' view: printable UTF-8 as `text`, a message as `fields`, other bytes as `hex` (wire.ts's order for a nested field). */
function bytesView(view: Record<string, unknown>, bytes: Buffer): void {
  if (isText(bytes)) {
    view.text = bytes.toString('utf8');
    return;
  }
  const fields = decodeWire(bytes);
  if (fields) view.fields = fields;
  else view.hex = bytes.toString('hex');
}

/** Whether `bytes` may be decoded within the budget: else the view says it was cut. */
function spend(view: Record<string, unknown>, bytes: Buffer, budget: BinaryBudget, flags: Set<string>): boolean {
  if (bytes.length > budget.left) {
    view.truncated = true;
    flags.add('truncated');
    return false;
  }
  budget.left -= bytes.length;
  return true;
}

/** Whether a metadata name ends in `-bin`, in any case (a lower-case copy of every name cost more than the rest). */
function binaryName(name: string): boolean {
  const n = name.length;
  return (
    n >= 4 &&
    name.charCodeAt(n - 4) === 0x2d &&
    (name.charCodeAt(n - 3) | 0x20) === 0x62 &&
    (name.charCodeAt(n - 2) | 0x20) === 0x69 &&
    (name.charCodeAt(n - 1) | 0x20) === 0x6e
  );
}

/**
 * The `-bin` fields of one header block, decoded: each name to one view per
 * value (a value joined with "," is split first, as the spec asks), in
 * order. `skip` names a field read elsewhere (the status details). Undefined
 * when the block has none.
 */
export function binaryMetadata(
  headers: Record<string, string[]> | undefined,
  budget: BinaryBudget,
  flags: Set<string>,
  skip?: string,
): Record<string, Array<Record<string, unknown>>> | undefined {
  if (!headers) return undefined;
  let out: Record<string, Array<Record<string, unknown>>> | undefined;
  for (const name in headers) {
    if (name === skip || !binaryName(name)) continue;
    const views: Array<Record<string, unknown>> = [];
    for (const value of headers[name]) {
      for (const piece of value.split(',')) {
        const bytes = base64Bytes(piece);
        if (typeof bytes === 'string') {
          views.push({ decode_error: bytes });
          continue;
        }
        const view: Record<string, unknown> = { size: bytes.length };
        if (spend(view, bytes, budget, flags)) bytesView(view, bytes);
        views.push(view);
      }
    }
    // a name ending in -bin is never __proto__: a plain object keeps the order
    (out ??= {})[name] = views;
  }
  return out;
}

/** The fields of a message of the named type; undefined when the bytes are none (the view then says why, and shows them). */
function fieldsOf(view: Record<string, unknown>, bytes: Buffer, typeName: string): RawField[] | undefined {
  try {
    return readFields(bytes);
  } catch (err) {
    view.decode_error = `${typeName}: ${(err as Error).message}`;
    bytesView(view, bytes);
    return undefined;
  }
}

/** A type by name from --proto, for an Any's type_url (`type.googleapis.com/google.rpc.ErrorInfo`). */
export type TypeLookup = (name: string) => protobuf.Type | undefined;

const STATUS_FIELDS: Record<number, string> = { 1: 'code (1)', 2: 'message (2)', 3: 'details (3)' };
const STATUS_WIRE: Record<number, number> = { 1: 0, 2: 2, 3: 2 };

/**
 * A google.rpc.Status { int32 code = 1; string message = 2; repeated
 * google.protobuf.Any details = 3 } from the `grpc-status-details-bin`
 * values: the first is decoded (a status has one); any other makes it
 * `truncated`, as its content is in no view.
 */
export function statusDetails(values: string[], budget: BinaryBudget, flags: Set<string>, lookup: TypeLookup | undefined): Record<string, unknown> {
  const pieces = values.flatMap((v) => v.split(','));
  const bytes = base64Bytes(pieces[0]);
  if (typeof bytes === 'string') return { decode_error: bytes };
  const out: Record<string, unknown> = { size: bytes.length };
  if (pieces.length > 1) {
    out.truncated = true;
    flags.add('truncated');
  }
  if (!spend(out, bytes, budget, flags)) return out;
  const fields = fieldsOf(out, bytes, 'google.rpc.Status');
  if (!fields) return out;
  const details: Array<Record<string, unknown>> = [];
  let count = 0;
  for (const f of fields) {
    const name = STATUS_FIELDS[f.field];
    // unknown fields are skipped, as a protobuf parser skips them
    if (!name) continue;
    if (f.wireType !== STATUS_WIRE[f.field]) {
      out.decode_error = `google.rpc.Status: field ${name} has wire type ${f.wireType}, its type has ${STATUS_WIRE[f.field]}`;
      break;
    }
    // int32: a negative code comes as a 10-byte varint (read as a decimal string past 2^53)
    if (f.field === 1) out.code = Number(BigInt.asIntN(32, BigInt(f.value as number | string)));
    else if (f.field === 2) out.message = (f.value as Buffer).toString('utf8');
    else if (++count <= MAX_STATUS_DETAILS) details.push(anyView(f.value as Buffer, lookup));
  }
  if (details.length) out.details = details;
  if (count > details.length) {
    out.details_count = count;
    out.truncated = true;
    flags.add('truncated');
  }
  return out;
}

/**
 * A google.protobuf.Any { string type_url = 1; bytes value = 2 }: its value
 * by the type its type_url names, --proto's before the built-in
 * error_details.proto types (the user's schema may be newer), else schema-less.
 */
function anyView(bytes: Buffer, lookup: TypeLookup | undefined): Record<string, unknown> {
  const view: Record<string, unknown> = {};
  const fields = fieldsOf(view, bytes, 'google.protobuf.Any');
  if (!fields) return view;
  let value: Buffer | undefined;
  for (const f of fields) {
    if ((f.field !== 1 && f.field !== 2) || f.wireType !== 2) continue;
    if (f.field === 1) view.type_url = (f.value as Buffer).toString('utf8');
    else value = f.value as Buffer;
  }
  if (value === undefined) return view;
  const url = view.type_url as string | undefined;
  const name = url?.slice(url.lastIndexOf('/') + 1);
  const type = name === undefined ? undefined : (lookup?.(name) ?? errorDetailType(name));
  decodeMessage(view, type, value);
  // not a message: still shown, as text or hex, so that what it holds is seen
  if (view.content === undefined && view.fields === undefined) {
    if (isText(value)) view.text = value.toString('utf8');
    else view.hex = value.toString('hex');
  }
  return view;
}
