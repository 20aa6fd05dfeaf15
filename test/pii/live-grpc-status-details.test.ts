// Personal data in gRPC rich errors: a @grpc/grpc-js server names the
// caller's e-mail address and phone number in grpc-status-details-bin (the
// Status message, an ErrorInfo's metadata, a BadRequest's field violation),
// captured on loopback and parsed. pano-pii finds them in the decoded
// status, and under every --redact mode neither the decoded view nor the
// header's base64 gives them back; binary metadata without a finding stays
// as sent.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { EventScanner, REDACTED_BINARY } from '@panopticon/pii';
import { grpcAttributes } from '../../packages/protocols/src/grpc/index.js';
import { MAX_STATUS_DETAILS } from '../../packages/protocols/src/grpc/metadata.js';
import { defaultParseOptions } from '../../packages/protocols/src/types.js';
import { redactedTexts } from '../helpers/redacted.js';
import { statusDetailsRun, type StatusDetailsRun } from '../helpers/grpc-status-details.js';

const missing = ['/usr/bin/tcpdump'].filter((p) => !existsSync(p));
const EMAIL = 'dana.fox@example.org';
const PHONE = '+44 20 7946 0958';
let run: StatusDetailsRun | undefined;
after(() => run?.cleanup());

/** Every -bin header value of the event's HTTP side, decoded as gRPC would: what a reader could get back from the base64. */
function binaryHeaderBytes(ev: any): string[] {
  const out: string[] = [];
  for (const side of [ev.http?.request, ev.http?.response]) {
    for (const block of [side?.header, side?.trailer]) {
      for (const [name, values] of Object.entries(block ?? {})) {
        if (!name.endsWith('-bin')) continue;
        for (const v of values as Array<string | null>) if (typeof v === 'string') out.push(Buffer.from(v, 'base64').toString('latin1'));
      }
    }
  }
  return out;
}

function assertGone(events: any[], values: string[]): void {
  for (const [mode, text] of redactedTexts(events, Buffer.alloc(32))) {
    const redacted = JSON.parse(text) as any[];
    for (const v of values) {
      assert.ok(!text.includes(v), `${mode}: ${v} left in the event`);
      for (const bytes of redacted.flatMap(binaryHeaderBytes)) assert.ok(!bytes.includes(v), `${mode}: ${v} left in a -bin header's base64`);
    }
    const ev = redacted.find((e) => e.rpc?.system === 'grpc');
    assert.deepEqual(ev.http.response.trailer['grpc-status-details-bin'], [mode === 'drop' ? null : REDACTED_BINARY], mode);
  }
}

test('PII in grpc-status-details-bin is found in the decoded status and gone from view and header in every --redact mode', { skip: missing.length ? `missing ${missing.join(', ')}` : false }, async () => {
  run = await statusDetailsRun({ email: EMAIL, phone: PHONE });
  const ev = (run.events as any[]).find((e) => e.rpc?.system === 'grpc');
  assert.ok(ev);
  // before redaction the header's base64 holds them: the test would see a leak
  assert.ok(binaryHeaderBytes(ev).some((b) => b.includes(EMAIL) && b.includes(PHONE)));

  const es = new EventScanner({ key: Buffer.alloc(32) });
  const found = es.finish(es.collect(structuredClone(ev))).map((f) => `${f.type} ${f.path}`);
  for (const want of [
    'email grpc.status_details.message',
    'phone grpc.status_details.details[0].content.metadata.contact', // ErrorInfo, a built-in type
    'email grpc.status_details.details[1].content.field_violations[0].description', // BadRequest
  ]) assert.ok(found.includes(want), `${want} not in ${found.join(', ')}`);

  assertGone(run.events as any[], [EMAIL, PHONE]);
  // binary metadata with nothing found stays as sent, in every mode
  for (const [mode, text] of redactedTexts(run.events as any[], Buffer.alloc(32))) {
    const red = (JSON.parse(text) as any[]).find((e) => e.rpc?.system === 'grpc');
    assert.deepEqual(red.http.response.trailer['x-trace-bin'], ev.http.response.trailer['x-trace-bin'], mode);
    assert.deepEqual(red.http.request.header['x-req-bin'], ev.http.request.header['x-req-bin'], mode);
  }
});

test('a status whose details are cut (past 32) leaves its header nothing to give back under --redact, though its view shows no finding', { skip: missing.length ? `missing ${missing.join(', ')}` : false }, async () => {
  run ??= await statusDetailsRun({ email: EMAIL, phone: PHONE });
  const ev = structuredClone((run.events as any[]).find((e) => e.rpc?.system === 'grpc'));
  // 32 empty details, then one whose value names the address: in no view
  const detail = (value: string) => {
    const any = Buffer.concat([Buffer.from([0x12, value.length]), Buffer.from(value)]);
    return Buffer.concat([Buffer.from([0x1a, any.length]), any]);
  };
  const status = Buffer.concat([...Array.from({ length: MAX_STATUS_DETAILS }, () => detail('')), detail(`mail ${EMAIL}`)]);
  ev.http.response.trailer['grpc-status-details-bin'] = [status.toString('base64')];
  ev.grpc.status_details = (grpcAttributes({ trailers: ev.http.response.trailer }, defaultParseOptions, new Set()).grpc as any).status_details;
  assert.equal(ev.grpc.status_details.truncated, true);
  assert.ok(!JSON.stringify(ev.grpc.status_details).includes(EMAIL));
  assertGone([ev], [EMAIL]);
});
