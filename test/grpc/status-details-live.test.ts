// Real gRPC rich errors on loopback: a @grpc/grpc-js server fails a call with
// grpc-status-details-bin (a google.rpc.Status protobufjs encoded, with an
// ErrorInfo and a BadRequest) and binary metadata in its head and trailers;
// the event's decoded views are checked against what the server sent, with
// and without --proto (ErrorInfo and BadRequest are built-in types).
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { parseCaptureSync, assertValidEvents } from '../helpers/parse.js';
import { statusDetailsRun, type StatusDetailsRun } from '../helpers/grpc-status-details.js';

const missing = ['/usr/bin/tcpdump'].filter((p) => !existsSync(p));
let run: StatusDetailsRun | undefined;
after(() => run?.cleanup());

test('grpc-status-details-bin and -bin metadata from grpc-js: decoded views match what was sent; the headers stay as sent', { skip: missing.length ? `missing ${missing.join(', ')}` : false }, async () => {
  run = await statusDetailsRun({ email: 'dana.fox@example.org', phone: '+44 20 7946 0958' });
  const r = run;
  // the client got the status the server sent: the capture is of that call
  assert.deepEqual(r.clientStatusBytes, r.statusBytes);
  assertValidEvents(r.events);
  const calls = (r.events as any[]).filter((e) => e.rpc?.system === 'grpc');
  assert.equal(calls.length, 1);
  const ev = calls[0];
  assert.equal(ev.rpc.grpc.status_code, r.code);
  assert.equal(ev.grpc.status_message, r.message);
  // the raw header fields, as sent (grpc-js writes base64 padded), where gRPC puts them
  const b64 = (b: Buffer) => b.toString('base64');
  // the server sent its head (sendMetadata) before failing: head and trailers, not trailers-only
  const where = ev.http.response.trailer;
  assert.deepEqual(ev.http.response.header['x-session-bin'], [b64(r.sessionBin)]);
  assert.deepEqual(where['grpc-status-details-bin'], [b64(r.statusBytes)]);
  assert.deepEqual(where['x-trace-bin'], [b64(r.traceBin)]);
  assert.deepEqual(ev.http.request.header['x-req-bin'], [b64(r.reqBin)]);

  // Without --proto: ErrorInfo and BadRequest are built-in types, read with their field names
  assert.deepEqual(ev.grpc.status_details, {
    size: r.statusBytes.length,
    code: r.code,
    message: r.message,
    details: [
      { type_url: 'type.googleapis.com/google.rpc.ErrorInfo', content: r.errorInfo },
      { type_url: 'type.googleapis.com/google.rpc.BadRequest', content: { field_violations: [r.violation] } },
    ],
  });
  // not a protobuf message (field 0): hex, byte for byte
  assert.deepEqual(ev.grpc.response.trailer_metadata['x-trace-bin'], [{ size: r.traceBin.length, hex: r.traceBin.toString('hex') }]);
  assert.deepEqual(ev.grpc.request.metadata, { 'x-req-bin': [{ size: 4, hex: 'deadbeef' }] });
  assert.deepEqual(ev.grpc.response.metadata['x-session-bin'], [{ size: r.sessionBin.length, fields: { f1: 'sess' } }]);

  // With --proto's schemas of google.rpc (the same messages): the same, by the user's types.
  const named = (parseCaptureSync(r.file, { parse: { protoPaths: [r.dir] } }).events as any[]).find((e) => e.rpc?.system === 'grpc');
  assert.deepEqual(named.grpc.status_details, ev.grpc.status_details);
});
