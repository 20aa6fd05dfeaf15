// The built-in google.rpc error detail types (grpc/error-details.ts), without
// --proto: checked against an independent copy of the published schema
// (google-gax's error_details.proto and status.proto, loaded and encoded by
// protobufjs), and against bytes written out by hand from the protobuf
// encoding spec: schema conflicts, fields newer than the built-in schema,
// names that are no built-in type, the details bound.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import protobuf from 'protobufjs';
import { GrpcFramer } from '../../packages/protocols/src/grpc/framing.js';
import { grpcAttributes } from '../../packages/protocols/src/grpc/index.js';
import { errorDetailType } from '../../packages/protocols/src/grpc/error-details.js';
import { MAX_STATUS_DETAILS } from '../../packages/protocols/src/grpc/metadata.js';
import { defaultParseOptions } from '../../packages/protocols/src/types.js';

const GAX = fileURLToPath(new URL('../../node_modules/google-gax/build/protos/google/rpc/', import.meta.url));
const noGax = existsSync(`${GAX}error_details.proto`) ? false : `no ${GAX}error_details.proto (google-gax, a transitive dependency, is not installed): no independent schema to check against`;

/** The status details pano-parse reads from a grpc-status-details-bin of these bytes, without --proto. */
function statusDetails(status: Buffer): any {
  const side = () => ({ framer: new GrpcFramer(20, 1000) });
  const trailers = { 'grpc-status': ['3'], 'grpc-status-details-bin': [status.toString('base64')] };
  return (grpcAttributes({ path: '/x.v1.S/M', request: side(), response: side(), trailers }, defaultParseOptions, new Set()) as any).grpc.status_details;
}

/** Field `id`, wire type 2 (LEN), then the bytes: short values only, their length one byte. */
function ld(id: number, bytes: Buffer | string): Buffer {
  const b = Buffer.from(bytes);
  assert.ok(b.length < 128);
  return Buffer.concat([Buffer.from([(id << 3) | 2, b.length]), b]);
}

/** A Status whose details (field 3) are Any { type_url = 1, value = 2 } of these. */
function statusOf(details: Array<[string, Buffer]>): Buffer {
  return Buffer.concat(details.map(([name, value]) => ld(3, Buffer.concat([ld(1, `type.googleapis.com/${name}`), ld(2, value)]))));
}

/** One message of each type in error_details.proto, every field set (repeated ones twice), as protobufjs's toObject writes them (int64 as a string). */
const SAMPLES: Record<string, Record<string, unknown>> = {
  'google.rpc.ErrorInfo': { reason: 'EMAIL_TAKEN', domain: 'accounts.example.test', metadata: { contact: '+44 20 7946 0958', region: 'eu-west' } },
  'google.rpc.RetryInfo': { retry_delay: { seconds: '315576000000', nanos: 999999999 } },
  'google.rpc.DebugInfo': { stack_entries: ['at signup (accounts.js:12)', 'at main (server.js:3)'], detail: 'unique index users_email' },
  'google.rpc.QuotaFailure': { violations: [{ subject: 'project:123', description: 'daily limit' }, { subject: 'clientip:192.0.2.7', description: 'per-minute limit' }] },
  'google.rpc.PreconditionFailure': { violations: [{ type: 'TOS', subject: 'google.com/cloud', description: 'terms not accepted' }, { type: 'STATE', subject: 'order/9', description: 'already shipped' }] },
  'google.rpc.BadRequest': { field_violations: [{ field: 'email', description: 'ada@example.org is taken' }, { field: 'name', description: 'empty' }] },
  'google.rpc.RequestInfo': { request_id: 'req-5f0c', serving_data: 'c2VydmVk' },
  'google.rpc.ResourceInfo': { resource_type: 'sql table', resource_name: 'users', owner: 'user:ada@example.org', description: 'needs writer' },
  'google.rpc.Help': { links: [{ description: 'signup help', url: 'https://example.test/help' }, { description: 'console', url: 'https://example.test/console' }] },
  'google.rpc.LocalizedMessage': { locale: 'fr-CH', message: 'adresse déjà utilisée' },
};

/** A type's fields as the schema has them: number, name, label, map key, type (message types by full name). */
function shape(t: protobuf.Type): string[] {
  return Object.values(t.fieldsById)
    .map((f) => `${f.id} ${f.name} ${f.repeated ? 'repeated' : ''} ${(f as any).keyType ?? ''} ${f.resolvedType ? f.resolvedType.fullName : f.type}`)
    .sort();
}

function messageTypes(ns: protobuf.NamespaceBase, out: protobuf.Type[] = []): protobuf.Type[] {
  for (const o of ns.nestedArray) {
    if (o instanceof protobuf.Type) out.push(o);
    if (o instanceof protobuf.Namespace) messageTypes(o, out);
  }
  return out;
}

test('the built-in types are google-gax\'s error_details.proto, field for field; one message of each, encoded from it, decodes to what was encoded', { skip: noGax }, () => {
  const root = new protobuf.Root().loadSync([`${GAX}error_details.proto`, `${GAX}status.proto`], { keepCase: true });
  root.resolveAll();
  const Status = root.lookupType('google.rpc.Status');
  const rpc = messageTypes(root.lookup('google.rpc') as protobuf.Namespace).filter((t) => t !== Status);
  // every message (nested ones too) and the Duration RetryInfo uses, with the same fields
  const names = [...rpc.map((t) => t.fullName.slice(1)), 'google.protobuf.Duration'];
  assert.equal(names.length, 15);
  for (const name of names) {
    const builtIn = errorDetailType(name);
    assert.ok(builtIn, `${name} is not built in`);
    assert.deepEqual(shape(builtIn), shape(root.lookupType(name)), name);
  }
  // the samples cover every top-level detail type
  assert.deepEqual(Object.keys(SAMPLES).sort(), rpc.filter((t) => t.parent?.fullName === '.google.rpc').map((t) => t.fullName.slice(1)).sort());

  const details = Object.entries(SAMPLES).map(([name, obj]) => {
    const T = root.lookupType(name);
    const value = T.encode(T.fromObject(obj)).finish();
    // the sample is what protobufjs itself reads back: the expected content is no guess
    assert.deepEqual(T.toObject(T.decode(value), { longs: String, enums: String, bytes: String, defaults: false }), obj, name);
    return { type_url: `type.googleapis.com/${name}`, value };
  });
  const bytes = Buffer.from(Status.encode(Status.fromObject({ code: 3, message: 'rich', details })).finish());
  const got = statusDetails(bytes);
  assert.equal(got.decode_error, undefined);
  assert.deepEqual(got.details, Object.entries(SAMPLES).map(([name, content]) => ({ type_url: `type.googleapis.com/${name}`, content })));
});

test('bytes by hand: a RetryInfo\'s Duration (int64 as a string), and a newer BadRequest.FieldViolation\'s reason (3) shown as an unknown field', () => {
  // Duration { seconds = 1: VARINT 90061 (cd bf 05: 77 + 63·128 + 5·128²), nanos = 2: VARINT 5 }, in RetryInfo.retry_delay = 1
  const retry = ld(1, Buffer.from([0x08, 0xcd, 0xbf, 0x05, 0x10, 0x05]));
  // FieldViolation { field = 1 "email", reason = 3 "TAKEN" } in BadRequest.field_violations = 1
  const bad = ld(1, Buffer.concat([ld(1, 'email'), ld(3, 'TAKEN')]));
  const got = statusDetails(statusOf([['google.rpc.RetryInfo', retry], ['google.rpc.BadRequest', bad]]));
  assert.deepEqual(got.details, [
    { type_url: 'type.googleapis.com/google.rpc.RetryInfo', content: { retry_delay: { seconds: '90061', nanos: 5 } } },
    {
      type_url: 'type.googleapis.com/google.rpc.BadRequest',
      content: { field_violations: [{ field: 'email' }] },
      unknown_fields: [{ at: 'field_violations[0]', fields: { f3: 'TAKEN' } }],
    },
  ]);
});

test('a detail that names a built-in type but whose wire types conflict with it is read schema-less, the conflicting field named', () => {
  // ErrorInfo.reason (1) as VARINT 7; a RetryInfo whose Duration.seconds (1) comes as LEN "A"
  const errorInfo = Buffer.from([0x08, 0x07, ...ld(2, 'x.test')]);
  const retry = ld(1, ld(1, 'A'));
  const got = statusDetails(statusOf([['google.rpc.ErrorInfo', errorInfo], ['google.rpc.RetryInfo', retry]]));
  assert.deepEqual(got.details, [
    { type_url: 'type.googleapis.com/google.rpc.ErrorInfo', decode_error: 'google.rpc.ErrorInfo: field reason (1) has wire type 0, its type in the schema has 2', fields: { f1: 7, f2: 'x.test' } },
    { type_url: 'type.googleapis.com/google.rpc.RetryInfo', decode_error: 'google.protobuf.Duration: field seconds (1) has wire type 2, its type in the schema has 0', fields: { f1: { f1: 'A' } } },
  ]);
});

test('names that are no built-in type (another type, a bare name, another package) stay schema-less', () => {
  const value = ld(1, 'EMAIL');
  const names = ['google.rpc.ErrorInfoV2', 'ErrorInfo', 'rpc.ErrorInfo', 'acme.rpc.ErrorInfo', 'google.rpc.Status'];
  const got = statusDetails(statusOf(names.map((n) => [n, value])));
  assert.deepEqual(got.details, names.map((n) => ({ type_url: `type.googleapis.com/${n}`, fields: { f1: 'EMAIL' } })));
});

test('built-in types keep the details bound: past 32 counted, not decoded, the status truncated', () => {
  const value = Buffer.concat([ld(1, 'EMAIL'), ld(2, 'x.test')]);
  const got = statusDetails(statusOf(Array.from({ length: MAX_STATUS_DETAILS + 2 }, () => ['google.rpc.ErrorInfo', value] as [string, Buffer])));
  assert.equal(got.details.length, MAX_STATUS_DETAILS);
  for (const d of got.details) assert.deepEqual(d.content, { reason: 'EMAIL', domain: 'x.test' });
  assert.equal(got.details_count, MAX_STATUS_DETAILS + 2);
  assert.equal(got.truncated, true);
});
