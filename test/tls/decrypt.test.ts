// TLS records opened with a key log, on connections built by hand: TLS 1.3 records sealed here with
// node:crypto from secrets chosen here (RFC 8446 §5.2, §7.1-7.3: HKDF-Expand-Label, the nonce, the
// inner plaintext's type and padding), with a KeyUpdate, a NewSessionTicket and 0-RTT records the
// key log cannot open; the key log's text forms (comments, CRLF, lines cut mid-write, a file that
// grows and one rewritten); keys that do not open the records.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createCipheriv, createHmac } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { appendFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Conversation, pcapng } from '../helpers/synth.js';
import { ParsePipeline } from '@panopticon/parse';
import { ext, hs, u16, vec, record as anyRecord } from '../helpers/tls-bytes.js';
const record = (type: number, payload: Buffer) => anyRecord(type, payload, 3);
import { parseCaptureSync, assertValidEvents } from '../helpers/parse.js';
import { TlsKeyLog } from '@panopticon/protocols';
import { suiteParams, tls12Openers } from '../../packages/protocols/src/tls/decrypt.js';
import { mutate, seeded } from '../helpers/mutate.js';

const dir = mkdtempSync(join(tmpdir(), 'pano-tls-keys-'));
let certDer = Buffer.alloc(0);
before(() => {
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '30',
    '-subj', '/CN=hand.example.test', '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.der'), '-outform', 'DER'], { stdio: 'pipe' });
  certDer = readFileSync(join(dir, 'cert.der'));
});
after(() => rmSync(dir, { recursive: true, force: true }));

const client = { addr: '192.0.2.10', port: 50300 };
const server = { addr: '192.0.2.44', port: 443 };

const RANDOM = Buffer.alloc(32, 0xab);
const clientHello = (earlyData = false) => hs(1, Buffer.concat([
  u16(0x0303), RANDOM, vec(1, Buffer.alloc(0)),
  vec(2, u16(0x1301)), vec(1, Buffer.from([0])),
  vec(2, Buffer.concat([
    ext(0, vec(2, Buffer.concat([Buffer.from([0]), vec(2, Buffer.from('hand.example.test'))]))),
    ext(16, vec(2, vec(1, Buffer.from('http/1.1')))),
    ext(43, vec(1, u16(0x0304))),
    ...(earlyData ? [ext(42, Buffer.alloc(0))] : []),
  ])),
]));
/** `psk`: the server takes the client's first pre-shared key (pre_shared_key, selected_identity 0), as 0-RTT needs. */
const serverHello = (psk = false) => hs(2, Buffer.concat([u16(0x0303), Buffer.alloc(32, 0xcd), vec(1, Buffer.alloc(0)), u16(0x1301), Buffer.from([0]), vec(2, Buffer.concat([ext(43, u16(0x0304)), ...(psk ? [ext(41, u16(0))] : [])]))]));

/** HKDF-Expand-Label (RFC 8446 §7.1), written here from the RFC for SHA-256 and lengths of one block. */
function expandLabel(secret: Buffer, label: string, length: number): Buffer {
  const full = Buffer.from(`tls13 ${label}`, 'latin1');
  const info = Buffer.concat([u16(length), vec(1, full), vec(1, Buffer.alloc(0)), Buffer.from([1])]);
  return createHmac('sha256', secret).update(info).digest().subarray(0, length);
}

/** The sender of one direction under one traffic secret: records sealed with AES-128-GCM, nonce = iv XOR sequence number. */
class Sealer {
  private seq = 0n;
  /** Applied to every plaintext before it is sealed (the fuzz test's mutations). */
  static tamper: ((b: Buffer) => Buffer) | undefined;
  constructor(private secret: Buffer) {}
  seal(type: number, plain: Buffer, padding = 0): Buffer {
    const content = Sealer.tamper ? Sealer.tamper(plain) : plain;
    const key = expandLabel(this.secret, 'key', 16);
    const iv = expandLabel(this.secret, 'iv', 12);
    const nonce = Buffer.from(iv);
    for (let i = 0; i < 8; i++) nonce[11 - i]! ^= Number((this.seq >> BigInt(8 * i)) & 0xffn);
    this.seq++;
    const inner = Buffer.concat([content, Buffer.from([type]), Buffer.alloc(padding)]);
    const header = Buffer.from([23, 3, 3, (inner.length + 16) >> 8, (inner.length + 16) & 0xff]);
    const c = createCipheriv('aes-128-gcm', key, nonce);
    c.setAAD(header);
    return Buffer.concat([header, c.update(inner), c.final(), c.getAuthTag()]);
  }
  /** KeyUpdate (RFC 8446 §7.2): the next secret, sequence numbers from 0. */
  update(): void {
    this.secret = expandLabel(this.secret, 'traffic upd', 32);
    this.seq = 0n;
  }
}

const secret = (n: number) => Buffer.alloc(32, n);
const SECRETS = { CLIENT_HANDSHAKE_TRAFFIC_SECRET: secret(1), SERVER_HANDSHAKE_TRAFFIC_SECRET: secret(2), CLIENT_TRAFFIC_SECRET_0: secret(3), SERVER_TRAFFIC_SECRET_0: secret(4) };
const keylogText = (secrets: Record<string, Buffer> = SECRETS) => Object.entries(secrets).map(([l, s]) => `${l} ${RANDOM.toString('hex')} ${s.toString('hex')}`).join('\n') + '\n';

/**
 * `earlyData`: the client sends 0-RTT records under the early secret (secret 9) with its hello, and
 * after the server's flight; `accepted`: the server's EncryptedExtensions take them, they hold a
 * request (split over two records) and the client's EndOfEarlyData, and the server answers it first.
 * `psk`: the ServerHello takes the client's first key (as `accepted` does), so only the encrypted
 * extensions say whether the 0-RTT was taken.
 */
function connection(opts: { earlyData?: boolean | 'accepted'; psk?: boolean } = {}): Conversation {
  const sh = new Sealer(SECRETS.SERVER_HANDSHAKE_TRAFFIC_SECRET);
  const ch = new Sealer(SECRETS.CLIENT_HANDSHAKE_TRAFFIC_SECRET);
  const sa = new Sealer(SECRETS.SERVER_TRAFFIC_SECRET_0);
  const ca = new Sealer(SECRETS.CLIENT_TRAFFIC_SECRET_0);
  const early = new Sealer(secret(9));
  const accepted = opts.earlyData === 'accepted';
  const c = new Conversation(client, server).handshake().send(0, record(22, clientHello(Boolean(opts.earlyData))));
  if (opts.earlyData) c.send(0, early.seal(23, Buffer.from('GET /early HTTP/1.1\r\nHost: hand.example.test\r\n')));
  // the encrypted handshake: EncryptedExtensions (ALPN; early_data when it takes 0-RTT), Certificate, CertificateVerify, Finished, in two records
  const ee = hs(8, vec(2, Buffer.concat([ext(16, vec(2, vec(1, Buffer.from('http/1.1')))), ...(accepted ? [ext(42, Buffer.alloc(0))] : [])])));
  const cert = hs(11, Buffer.concat([vec(1, Buffer.alloc(0)), vec(3, Buffer.concat([vec(3, certDer), vec(2, Buffer.alloc(0))]))]));
  const flight = Buffer.concat([ee, cert, hs(15, Buffer.concat([u16(0x0403), vec(2, Buffer.alloc(70, 5))])), hs(20, Buffer.alloc(32, 6))]);
  c.send(1, Buffer.concat([record(22, serverHello(accepted || opts.psk)), record(20, Buffer.from([1])), sh.seal(22, flight.subarray(0, 100)), sh.seal(22, flight.subarray(100), 7)]));
  if (opts.earlyData) c.send(0, early.seal(23, Buffer.from('\r\n')));
  if (accepted) c.send(0, early.seal(22, hs(5, Buffer.alloc(0)))); // EndOfEarlyData
  c.send(0, Buffer.concat([record(20, Buffer.from([1])), ch.seal(22, hs(20, Buffer.alloc(32, 8))), ca.seal(23, Buffer.from('GET /before-update HTTP/1.1\r\nHost: hand.example.test\r\n\r\n'))]));
  if (accepted) c.send(1, sa.seal(23, Buffer.from('HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nearly')));
  c.send(1, Buffer.concat([sa.seal(22, hs(4, Buffer.alloc(40, 1))), sa.seal(23, Buffer.from('HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nfirst'), 30)]));
  // the client updates its keys, and asks the server to update too (update_requested)
  c.send(0, ca.seal(22, hs(24, Buffer.from([1]))));
  ca.update();
  c.send(0, ca.seal(23, Buffer.from('GET /after-update HTTP/1.1\r\nHost: hand.example.test\r\n\r\n')));
  c.send(1, sa.seal(22, hs(24, Buffer.from([0]))));
  sa.update();
  c.send(1, sa.seal(23, Buffer.from('HTTP/1.1 404 Not Found\r\nContent-Length: 6\r\n\r\nsecond')));
  c.send(0, ca.seal(21, Buffer.from([1, 0]))); // close_notify
  return c.close();
}

function parse(c: Conversation, log: string) {
  const file = join(dir, `k${Math.random().toString(36).slice(2)}.log`);
  writeFileSync(file, log);
  const r = parseCaptureSync(c.pcapng(), { parse: { tlsKeyLogs: [file] } });
  assertValidEvents(r.events);
  return r as { events: any[]; stats: any };
}

test('TLS 1.3 by hand: the encrypted handshake read (ALPN, certificate), HTTP/1.1 inside it on both sides of a KeyUpdate, the ticket and padding skipped', () => {
  const { events, stats } = parse(connection(), keylogText());
  const [hsEv, ...http] = events;
  assert.equal(hsEv.pano.protocol, 'tls');
  assert.equal(hsEv.tls.decrypted, true);
  assert.equal(hsEv.tls.next_protocol, 'http/1.1');
  assert.equal(hsEv.tls.server.subject, 'CN=hand.example.test');
  assert.equal(hsEv.pano.flags, undefined);
  assert.deepEqual(http.map((e) => [e.pano.protocol, e.url.path, e.http.response.status_code, e.http.response.body.content]), [
    ['http', '/before-update', 200, 'first'],
    ['http', '/after-update', 404, 'second'],
  ]);
  for (const e of http) assert.deepEqual(e.tls, { protocol: { name: 'tls', version: '1.3' }, cipher: 'TLS_AES_128_GCM_SHA256', established: true, decrypted: true });
  // 2 handshake records and a Finished, 2 requests, a KeyUpdate each side, a ticket, 2 answers, close_notify
  assert.equal(stats.protocols['tls.decrypted_records'], 11);
  assert.equal(stats.protocols['tls.undecryptable_records'], undefined);
});

test('0-RTT the server refused (its ServerHello takes no pre-shared key; or it does, and its EncryptedExtensions have no early_data): skipped and counted, even with the early secret logged; the rest opens as without them', () => {
  for (const [psk, log] of [[false, keylogText()], [true, keylogText()], [true, keylogText({ ...SECRETS, CLIENT_EARLY_TRAFFIC_SECRET: secret(9) })]] as const) {
    const { events, stats } = parse(connection({ earlyData: true, psk }), log);
    assert.deepEqual(events.filter((e) => e.pano.protocol === 'http').map((e) => e.url.path), ['/before-update', '/after-update']);
    assert.equal(stats.protocols['tls.early_data_records'], 2);
    assert.equal(stats.protocols['tls.early_data_decrypted'], undefined);
    assert.equal(events[0].tls.early_data, 'rejected');
    assert.equal(events[0].pano.flags, undefined);
  }
});

test('0-RTT the server took: opened with the early secret (RFC 8446 §7.1) across records, up to EndOfEarlyData, and answered first; the handshake secrets take over after it', () => {
  const { events, stats } = parse(connection({ earlyData: 'accepted' }), keylogText({ ...SECRETS, CLIENT_EARLY_TRAFFIC_SECRET: secret(9) }));
  assert.equal(events[0].tls.early_data, 'accepted');
  assert.equal(events[0].pano.flags, undefined);
  assert.deepEqual(events.slice(1).map((e) => [e.url.path, e.http.response.body.content]), [['/early', 'early'], ['/before-update', 'first'], ['/after-update', 'second']]);
  // the request's two records and EndOfEarlyData
  assert.equal(stats.protocols['tls.early_data_decrypted'], 3);
  assert.equal(stats.protocols['tls.early_data_records'], undefined);
  assert.equal(stats.protocols['tls.undecryptable_records'], undefined);
  // without the early secret: the rest is read, the early request is not. HTTP/1.1 is told of the
  // loss as a gap (a request lost in a gap leaves its answer to pair with the next request, which
  // says so: flag gap) and is back in step by the next exchange.
  const without = parse(connection({ earlyData: 'accepted' }), keylogText());
  assert.deepEqual(without.events[0].pano.flags, ['keys_missing']);
  const http = without.events.slice(1);
  assert.ok(!http.some((e) => e.url?.path === '/early'));
  assert.deepEqual(http[0].pano.flags, ['gap']);
  assert.deepEqual(http.map((e) => e.http.response?.body.content), ['early', 'first', 'second']);
  assert.deepEqual([http[2].url.path, http[2].pano.flags], ['/after-update', undefined]);
  assert.equal(without.stats.protocols['tls.early_data_records'], 3);
});

test('a key log whose secrets do not open one side\'s records: that side is given up (decrypt_failed), the other side is still read, nothing guessed', () => {
  const { events, stats } = parse(connection(), keylogText({ ...SECRETS, SERVER_HANDSHAKE_TRAFFIC_SECRET: secret(7) }));
  const [hsEv, ...http] = events;
  assert.deepEqual(hsEv.pano.flags, ['decrypt_failed']);
  assert.equal(hsEv.tls.server.subject, undefined);
  assert.equal(stats.protocols['tls.undecryptable_records'], 1);
  // the client's records open: its requests, without answers, as a gap leaves them
  assert.deepEqual(http.map((e) => [e.url.path, e.pano.kind, e.http.response]), [['/before-update', 'unanswered', undefined], ['/after-update', 'unanswered', undefined]]);
  // wrong keys on both sides: nothing but the handshake
  const none = parse(connection(), keylogText({ ...SECRETS, SERVER_HANDSHAKE_TRAFFIC_SECRET: secret(7), CLIENT_HANDSHAKE_TRAFFIC_SECRET: secret(8) }));
  assert.equal(none.events.length, 1);
  assert.equal(none.stats.protocols['tls.undecryptable_records'], 2);
});

test('without the traffic secrets (only the handshake\'s logged): the handshake is read, the records after it held for them to the end, flagged keys_missing', () => {
  const { CLIENT_HANDSHAKE_TRAFFIC_SECRET, SERVER_HANDSHAKE_TRAFFIC_SECRET } = SECRETS;
  const { events, stats } = parse(connection(), keylogText({ CLIENT_HANDSHAKE_TRAFFIC_SECRET, SERVER_HANDSHAKE_TRAFFIC_SECRET }));
  assert.equal(events.length, 1);
  assert.deepEqual(events[0].pano.flags, ['keys_missing']);
  assert.equal(events[0].tls.server.subject, 'CN=hand.example.test');
  assert.equal(stats.protocols['tls.keys_missing'], 2);
});

test('traffic secrets logged after the handshake\'s (a live capture: pano-capture writes the lines it has at each batch): the records held meanwhile are opened', () => {
  const c = connection();
  const bytes = c.pcapng();
  // the capture as far as the server's encrypted flight (SYN, SYN-ACK, ACK, ClientHello, ServerHello and the rest)
  const cut = pcapng(c.frames.slice(0, 5)).length;
  const { CLIENT_HANDSHAKE_TRAFFIC_SECRET, SERVER_HANDSHAKE_TRAFFIC_SECRET, CLIENT_TRAFFIC_SECRET_0, SERVER_TRAFFIC_SECRET_0 } = SECRETS;
  const file = join(dir, 'late.log');
  writeFileSync(file, keylogText({ CLIENT_HANDSHAKE_TRAFFIC_SECRET, SERVER_HANDSHAKE_TRAFFIC_SECRET }));
  const events: any[] = [];
  const p = new ParsePipeline({ source: { type: 'pcap', name: 'live' }, parse: { tlsKeyLogs: [file] }, onEvent: (e) => events.push(JSON.parse(JSON.stringify(e))) });
  p.push(bytes.subarray(0, cut));
  appendFileSync(file, keylogText({ CLIENT_TRAFFIC_SECRET_0, SERVER_TRAFFIC_SECRET_0 }));
  p.push(bytes.subarray(cut));
  p.end();
  assert.deepEqual(events.map((e) => [e.pano.protocol, e.pano.flags, e.url?.path]), [['tls', undefined, undefined], ['http', undefined, '/before-update'], ['http', undefined, '/after-update']]);
});

test('records wait for the secrets 10 s of capture time at most: a connection whose secrets never come is given up while it goes on, not at its end', () => {
  const sh = new Sealer(SECRETS.SERVER_HANDSHAKE_TRAFFIC_SECRET);
  const c = new Conversation(client, server).handshake().send(0, record(22, clientHello())).send(1, record(22, serverHello()));
  for (let i = 0; i < 4; i++) c.wait(4_000_000_000n).send(1, sh.seal(23, Buffer.alloc(100, i)));
  c.wait(60_000_000_000n).close();
  const { events, stats } = parse(c, keylogText({}));
  assert.equal(events.length, 1);
  assert.deepEqual(events[0].pano.flags, ['keys_missing']);
  // given up at the record 12 s after the first held one, not when the connection closed a minute later
  assert.ok(BigInt(events[0].pano.end_ns) < BigInt(events[0].pano.start_ns) + 30_000_000_000n, `${events[0].pano.start_ns} .. ${events[0].pano.end_ns}`);
  assert.equal(stats.protocols['tls.keys_missing'], 1);
});

test('key log text: comments, blank and CRLF lines, labels of any case of hex; bad lines counted, not fatal', () => {
  const file = join(dir, 'text.log');
  writeFileSync(file, `# a comment\r\n\r\nCLIENT_RANDOM ${'AB'.repeat(32)} ${'0F'.repeat(48)}\r\nnot a key log line\nCLIENT_RANDOM ${'ab'.repeat(32)} xyz\n`);
  const log = new TlsKeyLog([file]);
  assert.deepEqual(log.get(RANDOM, 'CLIENT_RANDOM'), Buffer.alloc(48, 0x0f));
  assert.equal(log.malformedLines, 2);
  assert.equal(log.size, 1);
  log.close();
});

test('a key log file is followed: lines written after it was opened, a line cut mid-write, and a file rewritten from its start', () => {
  const file = join(dir, 'grow.log');
  writeFileSync(file, '');
  const log = new TlsKeyLog([file]);
  const other = Buffer.alloc(32, 0x11);
  assert.equal(log.get(RANDOM, 'CLIENT_TRAFFIC_SECRET_0'), undefined);
  const line = `CLIENT_TRAFFIC_SECRET_0 ${RANDOM.toString('hex')} ${'22'.repeat(32)}\n`;
  appendFileSync(file, line.slice(0, 40));
  assert.equal(log.get(RANDOM, 'CLIENT_TRAFFIC_SECRET_0'), undefined, 'half a line is not taken');
  appendFileSync(file, line.slice(40));
  assert.deepEqual(log.get(RANDOM, 'CLIENT_TRAFFIC_SECRET_0'), Buffer.alloc(32, 0x22));
  // the writer started over (truncated, and shorter than what was read): read again from its first byte
  writeFileSync(file, `CLIENT_RANDOM ${other.toString('hex')} ${'33'.repeat(16)}\n`);
  assert.deepEqual(log.get(other, 'CLIENT_RANDOM'), Buffer.alloc(16, 0x33));
  // the file deleted and made anew (another inode) by the next client: that one is followed
  const third = Buffer.alloc(32, 0x44);
  rmSync(file);
  writeFileSync(file, `CLIENT_RANDOM ${third.toString('hex')} ${'55'.repeat(48)}\n`);
  assert.deepEqual(log.get(third, 'CLIENT_RANDOM'), Buffer.alloc(48, 0x55));
  log.close();
});

test('a key log that cannot be opened is a one-line error naming it', () => {
  assert.throws(() => new TlsKeyLog([join(dir, 'absent.log')]), /absent\.log: no such file/);
});

test('fuzz: 600 connections (0-RTT taken and refused among them) whose plaintexts are mutated, then sealed as a real endpoint would, never throw, fault or give an event the schema rejects', () => {
  const rnd = seeded(30);
  const file = join(dir, 'fuzz.log');
  writeFileSync(file, keylogText({ ...SECRETS, CLIENT_EARLY_TRAFFIC_SECRET: secret(9) }));
  let events = 0;
  try {
    for (let i = 0; i < 600; i++) {
      // about one record in three mutated: handshake messages, alerts, key updates and HTTP alike
      Sealer.tamper = (b) => (rnd(3) === 0 ? mutate(b, rnd) : b);
      // one in five sends 0-RTT the server refuses, one in five 0-RTT it takes (opened, mutated too)
      const r = parseCaptureSync(connection({ earlyData: i % 5 === 0 || (i % 5 === 1 && 'accepted') }).pcapng(), { parse: { tlsKeyLogs: [file] } });
      assertValidEvents(r.events);
      const stats = r.stats.protocols as Record<string, number>;
      for (const k of Object.keys(stats)) assert.ok(!k.endsWith('parser_faults'), `mutant ${i}: ${k}`);
      events += r.events.length;
    }
  } finally {
    Sealer.tamper = undefined;
  }
  assert.ok(events > 600, `${events} events: mutants still read`);
});

test('TLS 1.2 records shorter than their nonce and tag are refused, not thrown on, for every family of suite (a ChaCha20 record of 10 bytes once threw: fuzzing found it)', () => {
  // ChaCha20, AES-GCM, ARIA-GCM, AES-CCM, AES-CCM_8, AES-CBC-SHA, Camellia-CBC-SHA256, NULL-SHA (its MAC checked with keys)
  for (const code of [0xcca9, 0xc02b, 0xc05c, 0xc0ac, 0xc0ae, 0xc009, 0xc072, 0xc006]) {
    const suite = suiteParams(code);
    assert.ok(suite, `0x${code.toString(16)} is opened`);
    for (const version of [0x0301, 0x0303]) {
      for (let n = 0; n <= 40; n++) {
        const { client } = tls12Openers(suite, Buffer.alloc(48, 1), Buffer.alloc(32, 2), Buffer.alloc(32, 3), false);
        assert.equal(client.open(23, version, Buffer.alloc(n, 7)), undefined, `0x${code.toString(16)}, ${n} bytes`);
      }
    }
  }
});
