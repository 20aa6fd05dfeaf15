/**
 * Seeded mutation fuzzing of the whole replay pipeline: corrupt bytes of real
 * captures anywhere past the file magic and replay them. The pipeline must
 * never throw, never hang, and stay bounded; damage is counted; no parser
 * throws (the dispatcher would catch and count it as a parser fault).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { relative } from 'node:path';
import { corpusAvailable, corpusDir, corpusFiles } from '../helpers/corpus.js';
import { parseCaptureSync, assertValidEvents, validateEvent } from '../helpers/parse.js';
import { PcapngWriter } from '@panopticon/pcap';
import { mutatePayloads, payloadSpans, rng } from '../helpers/payload-mutants.js';
import { udpFrame } from '../helpers/synth.js';

const skip = corpusAvailable() ? false : 'corpus not found at ../shared/corpus';

const BUDGET = 240;

test(`${BUDGET} seeded mutants of corpus captures replay without throwing`, { skip }, () => {
  const files = corpusFiles().filter((f) => readFileSync(f).length < 200_000);
  const rand = rng(0x5eed);
  let damaged = 0;
  for (let i = 0; i < BUDGET; i++) {
    const file = files[Math.floor(rand() * files.length)];
    const orig = readFileSync(file);
    const buf = Buffer.from(orig);
    const kind = Math.floor(rand() * 4);
    const flips = 1 + Math.floor(rand() * 20);
    for (let k = 0; k < flips; k++) {
      const at = 64 + Math.floor(rand() * Math.max(1, buf.length - 64));
      if (at >= buf.length) continue;
      if (kind === 0) buf[at] ^= 1 << Math.floor(rand() * 8);
      else if (kind === 1) buf[at] = Math.floor(rand() * 256);
      else if (kind === 2) buf.fill(0xff, at, Math.min(buf.length, at + 1 + Math.floor(rand() * 16)));
      else buf.fill(0, at, Math.min(buf.length, at + 1 + Math.floor(rand() * 64)));
    }
    const cut = rand() < 0.3 ? buf.subarray(0, 24 + Math.floor(rand() * (buf.length - 24))) : buf;
    const where = `mutant ${i} of ${relative(corpusDir, file)}`;
    let r;
    try {
      r = parseCaptureSync(cut, { chunkSize: 1 + Math.floor(rand() * 65536) });
    } catch (e) {
      assert.fail(`${where}: threw ${(e as Error).stack}`);
    }
    // a parser that threw is caught and counted (not to end a replay): here it is a failure
    const faults = Object.entries(r.stats.protocols).filter(([k, v]) => k.endsWith('.parser_faults') && Number(v) > 0);
    assert.deepEqual(faults, [], `${where}: a parser threw`);
    if (r.warnings.length || r.stats.decode.malformed) damaged++;
  }
  assert.ok(damaged > 0, 'mutations should have produced counted damage');
  assert.ok(process.memoryUsage().heapUsed < 1.5 * 1024 ** 3, 'heap stayed bounded');
});

const PAYLOAD_BUDGET = 300;

test(`${PAYLOAD_BUDGET} seeded mutants of corpus payloads: the parsers meet the damage, and every event still fits the schema`, { skip }, () => {
  // Mutating only TCP/UDP payload bytes keeps the framing and headers whole, so the damage reaches the
  // protocol parsers instead of stopping at the reader. Longer runs of the same mutation
  // (scripts/fuzz-payloads.ts) found an HTTP status line "HTTP/1.1 020" that became status_code 20 and a
  // MySQL COM_STMT_CLOSE without its id that became statement_id -1 (each has its own test now).
  const files = corpusFiles().filter((f) => readFileSync(f).length < 200_000);
  const rand = rng(0x9a710ad);
  for (let i = 0; i < PAYLOAD_BUDGET; i++) {
    const file = files[Math.floor(rand() * files.length)];
    const orig = readFileSync(file);
    const spans = payloadSpans(orig);
    if (spans.length === 0) continue;
    const buf = mutatePayloads(orig, spans, rand);
    const where = `payload mutant ${i} of ${relative(corpusDir, file)}`;
    let r;
    try {
      r = parseCaptureSync(buf, { chunkSize: 1 + Math.floor(rand() * 65536) });
    } catch (e) {
      assert.fail(`${where}: threw ${(e as Error).stack}`);
    }
    const faults = Object.entries(r.stats.protocols).filter(([k, v]) => k.endsWith('.parser_faults') && Number(v) > 0);
    assert.deepEqual(faults, [], `${where}: a parser threw`);
    for (const ev of r.events) {
      const errs = validateEvent(ev);
      assert.deepEqual(errs, [], `${where}: an event fails the schema (${errs.join("; ")}): ${JSON.stringify(ev).slice(0, 600)}`);
    }
  }
});

/** An Interface Description Block whose timestamps count whole seconds (if_tsresol 0), little-endian. */
function secondsIdb(): Buffer {
  const b = Buffer.alloc(32);
  b.writeUInt32LE(1, 0);
  b.writeUInt32LE(32, 4);
  b.writeUInt16LE(1, 8); // Ethernet
  b.writeUInt32LE(262144, 12);
  b.writeUInt16LE(9, 16); // if_tsresol
  b.writeUInt16LE(1, 18);
  b[20] = 0; // 10^-0: seconds
  b.writeUInt32LE(0, 24); // opt_endofopt
  b.writeUInt32LE(32, 28);
  return b;
}

function epb(seconds: bigint, data: Buffer): Buffer {
  const padded = (data.length + 3) & ~3;
  const len = 32 + padded;
  const b = Buffer.alloc(len);
  b.writeUInt32LE(6, 0);
  b.writeUInt32LE(len, 4);
  b.writeUInt32LE(0, 8);
  b.writeUInt32LE(Number(seconds >> 32n), 12);
  b.writeUInt32LE(Number(seconds & 0xffffffffn), 16);
  b.writeUInt32LE(data.length, 20);
  b.writeUInt32LE(data.length, 24);
  data.copy(b, 28);
  b.writeUInt32LE(len, len - 4);
  return b;
}

test('a packet stamped past year 9999 is damage: skipped and named by offset, the packets around it parsed', () => {
  // found by mutating corpus captures: a flipped bit in a timestamp's high word made Date throw in the event time
  const client = { addr: '10.0.0.1', port: 40000 };
  const server = { addr: '10.0.0.53', port: 53 };
  const query = (id: number) => Buffer.from(`${id.toString(16).padStart(4, '0')}01000001000000000000076578616d706c6503636f6d0000010001`, 'hex');
  const answer = (id: number) => Buffer.from(`${id.toString(16).padStart(4, '0')}81800001000000000000076578616d706c6503636f6d0000010001`, 'hex');
  const shb = new PcapngWriter().sectionHeader({ application: 'panopticon tests' });
  const bad = epb(1n << 40n, udpFrame(client, server, query(2))); // ~36,800 years after 1970
  const before = Buffer.concat([shb, secondsIdb(), epb(1_700_000_000n, udpFrame(client, server, query(1))), epb(1_700_000_000n, udpFrame(server, client, answer(1)))]);
  const capture = Buffer.concat([before, bad, epb(1_700_000_001n, udpFrame(client, server, query(3))), epb(1_700_000_001n, udpFrame(server, client, answer(3)))]);
  const r = parseCaptureSync(capture);
  assert.deepEqual(r.warnings, [{ offset: before.length, message: `packet time ${(1n << 40n) * 1_000_000_000n} ns since 1970 is outside years 1970–9999 (a damaged timestamp)` }]);
  assert.deepEqual(r.events.map((e) => [e.pano.kind, (e as { dns?: { id: number } }).dns?.id, e.pano.time]), [
    ['exchange', 1, '2023-11-14T22:13:20.000000000Z'],
    ['exchange', 3, '2023-11-14T22:13:21.000000000Z'],
  ]);
  assertValidEvents(r.events);
});
