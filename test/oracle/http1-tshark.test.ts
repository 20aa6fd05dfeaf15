/**
 * Oracle: for every corpus capture, the multiset of HTTP/1.x (method, URI,
 * status) that pano-parse reports equals what tshark's HTTP dissector reports.
 * Files where neither finds HTTP/1.x are checked too (no false positives).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { relative } from 'node:path';
import { corpusAvailable, corpusDir, corpusFiles } from '../helpers/corpus.js';
import { mapLimit, tsharkAvailable, tsharkFieldsAsync } from '../helpers/tshark.js';
import { parseCaptureSync, assertValidEvents } from '../helpers/parse.js';

const skip = !corpusAvailable() ? 'corpus not found at ../shared/corpus' : !tsharkAvailable() ? 'tshark not installed' : false;

const AGG = '\x01';

async function tsharkTriples(file: string): Promise<string[]> {
  // Out-of-order reassembly is off by default in tshark 4.0, which then misses
  // messages pano reassembles correctly (e.g. tcp-out-of-order/zeek-206_example_b.pcap).
  const rows = await tsharkFieldsAsync(file, ['frame.number', 'http.request.method', 'http.request.uri', 'http.response.code', 'http.request_in'], 'http.request or http.response', [
    '-o', 'tcp.reassemble_out_of_order:TRUE',
    '-E', `aggregator=${AGG}`,
  ]);
  const requests = new Map<string, Array<{ method: string; uri: string }>>();
  const responses = new Map<string, string[]>();
  const orphans: string[] = [];
  for (const [frame, methods, uris, codes, reqIn] of rows) {
    if (methods) {
      const ms = methods.split(AGG);
      const us = uris.split(AGG);
      requests.set(frame, ms.map((m, i) => ({ method: m, uri: us[i] ?? '' })));
    }
    if (codes) {
      const cs = codes.split(AGG);
      const ins = (reqIn ?? '').split(AGG);
      cs.forEach((c, i) => {
        const r = ins[i];
        if (r) (responses.get(r) ?? responses.set(r, []).get(r)!).push(c);
        else orphans.push(c);
      });
    }
  }
  const out: string[] = [];
  for (const [frame, reqs] of requests) {
    const codes = responses.get(frame) ?? [];
    reqs.forEach((r, i) => out.push(`${r.method} ${r.uri} ${codes[i] ?? '-'}`));
  }
  for (const c of orphans) out.push(`- - ${c}`);
  return out.sort();
}

/**
 * Pano events as tshark would list them. The two differ in representation,
 * not in what was on the wire, in these documented ways:
 * - tshark lists 1xx interim responses as responses of their own without a
 *   request; pano keeps them on the exchange (`http.response.interim`).
 * - tshark shows a message only once its whole PDU was reassembled; pano
 *   emits what it saw and flags it. So a response cut by a capture gap or by
 *   the end of the capture (`response_incomplete`, body `gap`) is a request
 *   without response for tshark; a request that never completed
 *   (`unanswered` + `request_incomplete`) is absent from tshark; and an
 *   exchange whose response finished before its request did (an early reply)
 *   is, for tshark, a response without request plus the request on its own.
 */
function panoTriples(file: string): string[] {
  const { events } = parseCaptureSync(file, { protocols: ['http'] });
  assertValidEvents(events);
  const out: string[] = [];
  for (const e of events as any[]) {
    if (e.network?.protocol?.name !== 'http' || e.network?.protocol?.version === '2') continue;
    const flags: string[] = e.pano.flags ?? [];
    const req = e.http?.request;
    const res = e.http?.response;
    const url = e.url ?? {};
    const uri = url.full ?? (url.domain !== undefined ? `${url.domain}:${url.port}` : `${url.path}${url.query !== undefined ? `?${url.query}` : ''}`);
    for (const i of res?.interim ?? []) out.push(`- - ${i.status_code}`);
    if (e.pano.kind === 'unanswered' && flags.includes('request_incomplete')) continue;
    if (e.pano.kind === 'exchange' && flags.includes('request_incomplete')) {
      out.push(`${req.method} ${uri} -`, `- - ${res.status_code}`);
      continue;
    }
    const cut = flags.includes('response_incomplete') || res?.body?.gap === true;
    const status = res?.status_code !== undefined && !cut ? res.status_code : '-';
    out.push(req ? `${req.method} ${uri} ${status}` : `- - ${status}`);
  }
  return out.sort();
}

test('HTTP/1.x exchanges agree with tshark on every corpus file', { skip }, async () => {
  // No file is excluded: the representation differences are mapped in panoTriples.
  const files = corpusFiles();
  const theirsAll = await mapLimit(files, 3, tsharkTriples);
  const mismatches: string[] = [];
  let compared = 0;
  files.forEach((file, i) => {
    const name = relative(corpusDir, file);
    const theirs = theirsAll[i];
    const ours = panoTriples(file);
    if (theirs.length === 0 && ours.length === 0) return;
    compared++;
    try {
      assert.deepEqual(ours, theirs);
    } catch {
      mismatches.push(`${name}:\n  pano:   ${JSON.stringify(ours)}\n  tshark: ${JSON.stringify(theirs)}`);
    }
  });
  assert.ok(compared >= 20, `expected HTTP/1.x in at least 20 corpus files, found ${compared}`);
  assert.equal(mismatches.length, 0, mismatches.join('\n'));
});
