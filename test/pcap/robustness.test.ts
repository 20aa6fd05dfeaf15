/**
 * Damaged input: truncation at every cut point, wrong magic, damaged lengths
 * that need resynchronisation, and seeded random mutations of real captures.
 * The reader must never throw (except the documented fatal first magic),
 * must terminate, must keep its buffering bounded, and must say where.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { CaptureFormatError, CaptureReader, readCapture } from '@panopticon/pcap';
import { cat, epb, idb, pcapHeader, pcapRecord, shb, u32 } from './build.js';
import { DATA18, DATA5, DATA7, expectedPackets, twoSections } from './fixtures.js';
import { collect, corpusDir, corpusFiles, digest } from './support.js';

/** Offsets where a pcapng file's blocks end, walked by hand. */
function pcapngBlockEnds(file: Buffer): number[] {
  const ends: number[] = [];
  let le = true;
  for (let o = 0; o + 12 <= file.length; ) {
    if (file.readUInt32LE(o) === 0x0a0d0d0a) le = file.readUInt32LE(o + 8) === 0x1a2b3c4d;
    const n = le ? file.readUInt32LE(o + 4) : file.readUInt32BE(o + 4);
    o += n;
    ends.push(o);
  }
  return ends;
}

test('truncation at every cut point of a pcapng file: no throw, one precise warning, a prefix of the packets', () => {
  const file = twoSections('le');
  const ends = pcapngBlockEnds(file);
  const whole = collect([file]);
  assert.equal(whole.packets.length, expectedPackets.length);
  for (let cut = 0; cut < file.length; cut++) {
    const got = collect([file.subarray(0, cut)]);
    const blockEnd = (offset: number) => ends.find((e) => e > offset)!;
    assert.deepEqual(
      got.packets.map((p) => p.offset),
      whole.packets.filter((p) => blockEnd(p.offset) <= cut).map((p) => p.offset),
      `cut at ${cut}`,
    );
    let expected: string[];
    if (cut === 0) expected = ['empty input: no pcap or pcapng header'];
    else if (cut < 4) expected = [`input ends after ${cut} bytes, inside the file header (needs 4 bytes)`];
    else if (ends.includes(cut)) expected = [];
    else {
      const start = [0, ...ends].filter((e) => e < cut).pop()!;
      const has = cut - start;
      const needs = has < 12 ? 12 : blockEnd(start) - start;
      expected = [`truncated record at offset ${start} (needs ${needs} bytes, has ${has})`];
    }
    assert.deepEqual(got.warnings.map((w) => w.message), expected, `cut at ${cut}`);
  }
});

test('truncation at every cut point of a pcap file', () => {
  const file = cat(pcapHeader('le', 0xa1b2c3d4, 65535, 1), pcapRecord('le', 5, 6, DATA18, 18), pcapRecord('le', 7, 8, DATA5, 5), pcapRecord('le', 9, 10, DATA7, 7));
  const ends = [24, 24 + 34, 24 + 34 + 21, 24 + 34 + 21 + 23];
  for (let cut = 1; cut < file.length; cut++) {
    const got = collect([file.subarray(0, cut)]);
    assert.equal(got.packets.length, ends.slice(1).filter((e) => e <= cut).length, `cut ${cut}`);
    if (ends.includes(cut)) assert.deepEqual(got.warnings, []);
    else if (cut < 24) assert.deepEqual(got.warnings.map((w) => w.message), [`input ends after ${cut} bytes, inside the file header (needs ${cut < 4 ? 4 : 24} bytes)`]);
    else {
      const start = ends.filter((e) => e < cut).pop()!;
      const needs = cut - start < 16 ? 16 : 16 + file.readUInt32LE(start + 8);
      assert.deepEqual(got.warnings, [{ offset: start, message: `truncated record at offset ${start} (needs ${needs} bytes, has ${cut - start})` }]);
    }
  }
});

test('wrong magic: one fatal CaptureFormatError naming the magic and offset 0', async () => {
  const reader = new CaptureReader({ onPacket: () => assert.fail('no packets') });
  assert.throws(
    () => reader.push(Buffer.from('GET / HTTP/1.1\r\n')),
    (e: unknown) => e instanceof CaptureFormatError && e.offset === 0 && e.message === 'not a pcap or pcapng file (magic 0x47455420 at offset 0)',
  );
  // later pushes are ignored, not thrown
  reader.push(Buffer.from('more'));
  reader.end();
  // split across pushes, the magic is still found (and rejected) once 4 bytes are there
  const r2 = new CaptureReader({ onPacket: () => {} });
  r2.push(Buffer.from([0x7f]));
  assert.throws(() => r2.push(Buffer.from('ELF')), /magic 0x7f454c46 at offset 0/);

  const dir = mkdtempSync(join(tmpdir(), 'pano-pcap-'));
  try {
    const path = join(dir, 'notes.txt');
    writeFileSync(path, 'hello world\n');
    await assert.rejects(readCapture(path, { onPacket: () => {} }), {
      name: 'CaptureFormatError',
      message: `${path}: not a pcap or pcapng file (magic 0x68656c6c at offset 0)`,
      offset: 0,
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('pcapng: a damaged block length is reported at its offset and reading resumes at the next block', () => {
  const file = Buffer.from(readFileSync(join(corpusDir, 'http1/chrissanders-http_post.pcapng')));
  const ends = pcapngBlockEnds(file);
  const whole = collect([file]);
  // the 6th block (an EPB): break its leading length in three different ways
  const at = ends[4];
  const next = ends[5];
  const real = next - at;
  for (const [bad, why] of [
    [0x12345677, 'has an impossible length 305419895'],
    [8, 'has an impossible length 8'],
    [0x7ffffff0, 'has an impossible length 2147483632'],
    // one word longer: the trailer is then read from the next block's type field
    [real + 4, `: trailing length ${file.readUInt32LE(at + real)} does not match leading length ${real + 4}`],
  ] as const) {
    const damaged = Buffer.from(file);
    damaged.writeUInt32LE(bad, at + 4);
    const got = collect([damaged]);
    assert.deepEqual(
      got.packets.map((p) => p.offset),
      whole.packets.map((p) => p.offset).filter((o) => o !== at),
      `length ${bad}`,
    );
    assert.deepEqual(got.warnings[0], {
      offset: at,
      message: `pcapng block at offset ${at}${why.startsWith(':') ? '' : ' '}${why}; scanning for the next block`,
    });
    assert.deepEqual(got.warnings.slice(-1), [
      { offset: next, message: `resynchronised at offset ${next} after skipping ${next - at} bytes from offset ${at}` },
    ]);
    assert.equal(got.stats.skippedBytes, next - at);
  }
});

test('pcap: a damaged record header is skipped and the following records are read', () => {
  const file = Buffer.from(readFileSync(join(corpusDir, 'http1/wiregasm-http.cap')));
  const whole = collect([file]);
  const victim = whole.packets[10];
  const damaged = Buffer.from(file);
  damaged.writeUInt32LE(0xfffffff0, victim.offset + 8);
  const got = collect([damaged]);
  assert.deepEqual(
    got.packets.map((p) => p.offset),
    whole.packets.map((p) => p.offset).filter((o) => o !== victim.offset),
  );
  assert.equal(got.warnings.length, 2);
});

/** mulberry32: small, seeded, good enough to pick mutations reproducibly. */
function prng(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = seed;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

test('300 seeded random mutants of corpus files: no throw but the fatal magic, bounded buffering, sane packets', () => {
  const rand = prng(20261125);
  const files = corpusFiles().filter((f) => statSync(f).size < 256 * 1024);
  const maxBlockLength = 1024 * 1024;
  let fatal = 0;
  let warned = 0;
  for (let i = 0; i < 300; i++) {
    const path = files[Math.floor(rand() * files.length)];
    const file = Buffer.from(readFileSync(path));
    const kind = rand();
    let mutant = file;
    if (kind < 0.7) {
      const n = 1 + Math.floor(rand() * 8);
      for (let k = 0; k < n; k++) mutant[Math.floor(rand() * mutant.length)] = Math.floor(rand() * 256);
    } else if (kind < 0.85) {
      // a run of bytes overwritten: lengths, headers and all
      const at = Math.floor(rand() * mutant.length);
      mutant.fill(Math.floor(rand() * 256), at, Math.min(mutant.length, at + 1 + Math.floor(rand() * 64)));
    } else {
      mutant = mutant.subarray(0, Math.floor(rand() * mutant.length));
      if (mutant.length > 0) mutant[Math.floor(rand() * mutant.length)] ^= 0xff;
    }
    const chunk = 1 + Math.floor(rand() * 4096);
    const where = `mutant ${i} of ${relative(corpusDir, path)} (chunks of ${chunk})`;
    let packets = 0;
    const reader = new CaptureReader(
      {
        onPacket: (p) => {
          packets++;
          assert.equal(p.data.length, p.capturedLength, where);
          assert.ok(p.capturedLength <= maxBlockLength, where);
        },
        onWarning: (w) => assert.ok(Number.isInteger(w.offset) && w.offset >= 0 && w.offset <= mutant.length, `${where}: ${w.offset}`),
      },
      { maxBlockLength },
    );
    try {
      for (let o = 0; o < mutant.length; o += chunk) {
        reader.push(mutant.subarray(o, o + chunk));
        assert.ok(reader.bufferedBytes <= maxBlockLength + 64, `${where}: ${reader.bufferedBytes} bytes buffered`);
      }
      reader.end();
    } catch (e) {
      assert.ok(e instanceof CaptureFormatError && e.offset === 0, `${where}: ${(e as Error).stack}`);
      fatal++;
      continue;
    }
    if (reader.stats.warnings > 0) warned++;
    assert.ok(packets <= mutant.length / 16, where);
  }
  // the budget exercised both damage paths, not only harmless payload bytes
  assert.ok(warned >= 30, `only ${warned} mutants produced warnings`);
  assert.ok(fatal < 300);
});

test('resynchronisation gives the same result whatever the chunk sizes', () => {
  const pcapng = Buffer.from(readFileSync(join(corpusDir, 'http1/chrissanders-http_post.pcapng')));
  const ends = pcapngBlockEnds(pcapng);
  pcapng.writeUInt32LE(0x0badf00c, ends[4] + 4); // impossible length
  pcapng.writeUInt32LE(0xffffffff, ends[9] - 4); // trailer mismatch
  const pcap = Buffer.from(readFileSync(join(corpusDir, 'http1/wiregasm-http.cap')));
  const offsets = collect([pcap]).packets.map((p) => p.offset);
  pcap.writeUInt32LE(0xfffffff0, offsets[3] + 8);
  pcap.fill(0xee, offsets[20], offsets[20] + 40);
  for (const file of [pcapng, pcap]) {
    const whole = digest(collect([file]));
    assert.ok((whole as { warnings: unknown[] }).warnings.length >= 4);
    for (const size of [1, 5, 64, 1000, 4096]) {
      const chunks: Buffer[] = [];
      for (let o = 0; o < file.length; o += size) chunks.push(file.subarray(o, o + size));
      assert.deepEqual(digest(collect(chunks)), whole, `chunks of ${size}`);
    }
  }
});

test('pcap: a zero-filled region, or a record with a damaged time just before damage, does not stop resynchronisation', () => {
  const T = 1_600_000_000;
  // 40 records of 60 bytes, one a second, each with its number in the data.
  const records = Array.from({ length: 40 }, (_, i) => pcapRecord('le', T + i, 0, Buffer.alloc(60, i + 1), 60));
  const header = pcapHeader('le', 0xa1b2c3d4, 65535, 1);
  const numbers = (c: ReturnType<typeof collect>) => c.packets.filter((p) => p.data.length > 0).map((p) => p.data[0]);

  // A disk block of zeros over records 10-19 (what a crash leaves in a file): it reads as records of
  // time 0 and length 0, then the framing is lost in record 20; records 21-39 must still be found.
  const file = cat(header, ...records);
  const zeroed = Buffer.from(file);
  const from = 24 + 10 * 76;
  zeroed.fill(0, from, from + 10 * 76 + 8); // into record 20's header: its length field reads 60 << 0 garbage
  zeroed.writeUInt32LE(0x7fffffff, from + 10 * 76 + 8);
  const z = collect([zeroed]);
  assert.deepEqual(numbers(z), [...Array.from({ length: 10 }, (_, i) => i + 1), ...Array.from({ length: 19 }, (_, i) => i + 22)]);
  assert.match(z.warnings.at(-1)!.message, /^resynchronised at offset \d+ after skipping \d+ bytes/);

  // A flipped bit in the time of record 10, and record 11's length damaged: the anchor for the
  // search is the capture's time, not the time of the one bad record read before the damage.
  const flipped = Buffer.from(file);
  flipped.writeUInt32LE((T + 9) ^ (1 << 30), 24 + 9 * 76);
  flipped.writeUInt32LE(0x7fffffff, 24 + 10 * 76 + 8);
  const f = collect([flipped]);
  assert.deepEqual(numbers(f), [...Array.from({ length: 10 }, (_, i) => i + 1), ...Array.from({ length: 29 }, (_, i) => i + 12)]);

  // A clock that really jumps (two records agree on the new time) moves the anchor with it.
  const jumped = cat(header, ...records.slice(0, 5), ...Array.from({ length: 5 }, (_, i) => pcapRecord('le', 2 * T + i, 0, Buffer.alloc(60, 100 + i), 60)));
  jumped.writeUInt32LE(0x7fffffff, 24 + 7 * 76 + 8);
  assert.deepEqual(numbers(collect([jumped])), [1, 2, 3, 4, 5, 100, 101, 103, 104]);
});

test('pcap: files joined end to end (cat a.pcap b.pcap) are read on, each in its own byte order, resolution and link type', () => {
  const T = 1_600_000_000;
  const a = cat(
    pcapHeader('le', 0xa1b2c3d4, 65535, 1),
    pcapRecord('le', T, 5, Buffer.alloc(60, 1), 60),
    // a record stamped 0xa1b2c3d4 seconds (2056) is a record, not a header: its fraction is no version 2
    pcapRecord('le', 0xa1b2c3d4, 7, Buffer.alloc(60, 2), 60),
  );
  // b: big-endian, nanoseconds, raw IP, five years earlier: resynchronisation would never believe its times.
  const b = cat(pcapHeader('be', 0xa1b23c4d, 65535, 101), pcapRecord('be', T - 5 * 365 * 86400, 9, Buffer.alloc(40, 3), 40), pcapRecord('be', T - 5 * 365 * 86400 + 1, 0, Buffer.alloc(40, 4), 40));
  const want = [
    [1, 1, BigInt(T) * 1_000_000_000n + 5000n],
    [2, 1, 0xa1b2c3d4n * 1_000_000_000n + 7000n],
    [3, 101, BigInt(T - 5 * 365 * 86400) * 1_000_000_000n + 9n],
    [4, 101, BigInt(T - 5 * 365 * 86400 + 1) * 1_000_000_000n],
  ];
  const joined = cat(a, b);
  for (const chunks of [[joined], [...joined].map((x) => Buffer.from([x]))]) {
    const got = collect(chunks);
    assert.deepEqual(got.packets.map((p) => [p.data[0], p.linkType, p.tsNs]), want);
    assert.deepEqual(got.warnings, [{ offset: a.length, message: `another pcap file header at offset ${a.length} (files joined end to end); reading on as a new file` }]);
    assert.equal(got.stats.skippedBytes, 0);
  }
  // After damage, the joined file's header is where reading resumes.
  const damaged = collect([cat(a, Buffer.from('garbage'), b)]);
  assert.deepEqual(damaged.packets.map((p) => p.data[0]), [1, 2, 3, 4]);
  assert.equal(damaged.stats.skippedBytes, 7);
});

test('resynchronising over hostile bytes (a plausible big block header at every position) copies in proportion to the input', () => {
  // After damage, 64 KiB of candidates each claiming a whole 64 KiB block (the largest this reader
  // takes) whose trailer never matches, then good blocks again; pushed in 16 KiB chunks, as a pipe
  // delivers. Each candidate needs bytes past the chunk it starts in.
  const opts = { maxBlockLength: 64 * 1024 };
  // (12 bytes apart, so that the word where a candidate's trailer would be is always a type, 6.)
  const candidates = Buffer.concat(Array.from({ length: 5461 }, () => cat(u32('le', 6), u32('le', 64 * 1024), u32('le', 0))));
  const good = (n: number) => epb('le', 0, BigInt(n), Buffer.alloc(40, n), 40);
  const input = cat(shb('le'), idb('le', 1, 0), good(1), u32('le', 6), u32('le', 13), candidates, Buffer.alloc(64 * 1024), good(2), good(3));
  const chunks: Buffer[] = [];
  for (let o = 0; o < input.length; o += 16 * 1024) chunks.push(input.subarray(o, o + 16 * 1024));
  const concat = Buffer.concat;
  let copied = 0;
  Buffer.concat = ((list: readonly Uint8Array[], length?: number) => {
    const b = concat.call(Buffer, list, length);
    copied += b.length;
    return b;
  }) as typeof Buffer.concat;
  let got: ReturnType<typeof collect>;
  try {
    got = collect(chunks, opts);
  } finally {
    Buffer.concat = concat;
  }
  assert.deepEqual(got.packets.map((p) => p.data[0]), [1, 2, 3]);
  assert.deepEqual(digest(got), digest(collect([input], opts)));
  // Each candidate joined again would copy 64 KiB per candidate: 340 MiB here.
  assert.ok(copied <= 8 * input.length, `copied ${copied} bytes for ${input.length} bytes of input`);
});
