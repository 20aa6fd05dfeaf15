/**
 * HTTP/3 read from QUIC decrypted with a key log: pano-parse beside tshark
 * with the same key log, on the same capture, in the same run.
 *
 * The capture: the HTTP/1.1 bench's 50,000 request/answer pairs
 * (support/http1-messages: their methods, paths, bodies and answer bodies)
 * as HTTP/3 over 400 QUIC connections (TLS_AES_128_GCM_SHA256): each a
 * client Initial padded to 1200 bytes, the server's Initial and Handshake,
 * the client's Handshake, control streams with SETTINGS, then per exchange
 * one client bidirectional stream: HEADERS (QPACK, static table and
 * literals) and DATA, the answer's HEADERS and DATA in 1-RTT packets of at
 * most 1200 bytes, sealed with secrets made per connection and written to
 * a key log beside the capture.
 *
 * Peers: `pano-parse --tls-keylog LOG -p quic FILE > /dev/null` and `tshark
 * -o tls.keylog_file:LOG -r FILE -Y http3 -T fields` with the stream id and
 * HTTP/3 frame types (tshark 4.0 decodes no HTTP/3 header). Best of ROUNDS.
 *
 *   npm run bench -- http3          (or: node --import tsx --conditions=source scripts/bench/http3.ts [pairs])
 */
import { createHmac } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { rand, report, timed } from './support/tcp-workload.js';
import { requestFor, responseFor } from './support/http1-messages.js';
import { pcapng, udpFrame, type Frame } from '../../test/helpers/synth.js';
import { cryptoFrame, handshakeMessage, sealLong, sealShort, streamFrame, varint } from '../../test/helpers/quic.js';
import { initialKeys, secretKeys, type PacketKeys } from '../../packages/protocols/src/quic/initial.js';
import { versionParams } from '../../packages/protocols/src/quic/constants.js';
import { suiteParams } from '../../packages/protocols/src/tls/decrypt.js';
import { ext, u16, vec } from '../../test/helpers/tls-bytes.js';

const PAIRS = Number(process.argv[2] ?? 50_000);
const GENERATE_ONLY = process.argv.includes('--generate-only');
const CONNS = 400;
const ROUNDS = 3;
const root = resolve(import.meta.dirname, '../..');
const outDir = join(root, 'bench-out');
mkdirSync(outDir, { recursive: true });
const file = join(outDir, `http3-${PAIRS}.pcapng`);
const keylog = join(outDir, `http3-${PAIRS}.keys`);
const params = versionParams(1)!;

const h3frame = (type: number, payload: Buffer) => Buffer.concat([varint(type), varint(payload.length), payload]);
const keysOf = (secret: Buffer): PacketKeys => secretKeys(params, suiteParams(0x1301)!, secret);
/** A QPACK string literal without Huffman: `prefix` bits of length under the H bit, the first byte's high bits `first`. */
const literal = (first: number, prefix: number, s: string) => {
  const b = Buffer.from(s, 'latin1');
  if (b.length < (1 << prefix) - 1) return Buffer.concat([Buffer.from([first | b.length]), b]);
  const head = [first | ((1 << prefix) - 1)];
  let n = b.length - ((1 << prefix) - 1);
  while (n >= 128) {
    head.push((n & 0x7f) | 0x80);
    n >>= 7;
  }
  head.push(n);
  return Buffer.concat([Buffer.from(head), b]);
};
/** Static QPACK table indices used here (RFC 9204 Appendix A). */
const S = { authority: 0, path: 1, get: 17, post: 20, https: 23, status200: 25, json: 46 };
/** An HTTP/1.1 head from the shared workload as a QPACK field section (no dynamic table: SETTINGS say capacity 0). */
function requestSection(head: string): Buffer {
  const [line, ...fields] = head.split('\r\n');
  const [method, target] = line!.split(' ');
  const parts = [Buffer.from([0, 0, 0xc0 | (method === 'POST' ? S.post : S.get), 0xc0 | S.https]), Buffer.concat([Buffer.from([0x50 | S.path]), literal(0x00, 7, target!)])];
  for (const f of fields) {
    const i = f.indexOf(': ');
    if (i < 0) continue;
    const name = f.slice(0, i).toLowerCase();
    const value = f.slice(i + 2);
    if (name === 'host') parts.push(Buffer.concat([Buffer.from([0x50 | S.authority]), literal(0x00, 7, value)]));
    else if (name !== 'connection' && name !== 'content-length') parts.push(literal(0x20, 3, name), literal(0x00, 7, value));
  }
  return Buffer.concat(parts);
}
const responseSection = Buffer.from([0, 0, 0xc0 | S.status200, 0xc0 | S.json]);

function split(raw: Buffer): { head: string; body: Buffer } {
  const end = raw.indexOf('\r\n\r\n');
  return { head: raw.toString('latin1', 0, end), body: raw.subarray(end + 4) };
}

interface QConn {
  k: number;
  client: { addr: string; port: number };
  app: { c: PacketKeys; s: PacketKeys };
  ccid: Buffer;
  scid: Buffer;
  pn: [number, number];
  nextStream: number;
}

function generate(): { packets: number; bytes: number } {
  const frames: Frame[] = [];
  const server = { addr: '10.9.0.3', port: 443 };
  let t = 1_763_000_000_000_000_000n;
  const emit = (c: QConn, toServer: boolean, d: Buffer) => {
    t += 5_000n + BigInt(rand(20_000));
    frames.push({ tsNs: t, data: toServer ? udpFrame(c.client, server, d) : udpFrame(server, c.client, d) });
  };
  const lines: string[] = [];
  const conns: QConn[] = [];
  for (let k = 0; k < CONNS; k++) {
    const random = createHmac('sha256', 'h3 bench').update(String(k)).digest();
    const secret = (l: string) => createHmac('sha256', random).update(l).digest();
    const names = ['CLIENT_HANDSHAKE_TRAFFIC_SECRET', 'SERVER_HANDSHAKE_TRAFFIC_SECRET', 'CLIENT_TRAFFIC_SECRET_0', 'SERVER_TRAFFIC_SECRET_0'];
    for (const n of names) lines.push(`${n} ${random.toString('hex')} ${secret(n).toString('hex')}`);
    const odcid = random.subarray(0, 8), ccid = random.subarray(8, 13), scid = random.subarray(13, 21);
    const c: QConn = { k, client: { addr: `10.2.${(k >> 8) & 255}.${(k & 255) + 1}`, port: 40000 + k }, app: { c: keysOf(secret(names[2]!)), s: keysOf(secret(names[3]!)) }, ccid, scid, pn: [0, 0], nextStream: 0 };
    conns.push(c);
    const init = initialKeys(params, odcid);
    const ch = handshakeMessage(1, Buffer.concat([u16(0x0303), random, vec(1, Buffer.alloc(0)), vec(2, u16(0x1301)), vec(1, Buffer.from([0])),
      vec(2, Buffer.concat([ext(0, vec(2, Buffer.concat([Buffer.from([0]), vec(2, Buffer.from('shop.example.com'))]))), ext(16, vec(2, vec(1, Buffer.from('h3')))), ext(43, vec(1, u16(0x0304))), ext(51, Buffer.concat([u16(29), vec(2, Buffer.alloc(32, 5))]))]))]));
    const sh = handshakeMessage(2, Buffer.concat([u16(0x0303), random.subarray(0, 32), vec(1, Buffer.alloc(0)), u16(0x1301), Buffer.from([0]), vec(2, ext(43, u16(0x0304)))]));
    const long = (keys: PacketKeys, type: 'initial' | 'handshake', toServer: boolean, frames: Buffer) =>
      sealLong(keys, { typeCode: params.types[type], version: 1, dcid: toServer ? odcid : ccid, scid: toServer ? ccid : scid, token: type === 'initial' ? Buffer.alloc(0) : undefined, packetNumber: 0, pnLength: 2, frames, padTo: toServer && type === 'initial' ? 1200 : undefined });
    emit(c, true, long(init.client, 'initial', true, cryptoFrame(0, ch)));
    const ee = handshakeMessage(8, vec(2, ext(16, vec(2, vec(1, Buffer.from('h3'))))));
    emit(c, false, Buffer.concat([long(init.server, 'initial', false, cryptoFrame(0, sh)), long(keysOf(secret(names[1]!)), 'handshake', false, cryptoFrame(0, Buffer.concat([ee, handshakeMessage(20, Buffer.alloc(32, 7))])))]));
    emit(c, true, long(keysOf(secret(names[0]!)), 'handshake', true, cryptoFrame(0, handshakeMessage(20, Buffer.alloc(32, 8)))));
    const settings = Buffer.concat([Buffer.from([0x00]), h3frame(0x04, Buffer.concat([varint(0x01), varint(0)]))]);
    send(c, true, [streamFrame(2, 0, settings)]);
    send(c, false, [streamFrame(3, 0, settings)]);
  }
  function send(c: QConn, toServer: boolean, streamFrames: Buffer[]): void {
    const i = toServer ? 0 : 1;
    emit(c, toServer, sealShort(toServer ? c.app.c : c.app.s, { dcid: toServer ? c.scid : c.ccid, packetNumber: c.pn[i]++, pnLength: 2, keyPhase: 0, frames: Buffer.concat(streamFrames) }));
  }
  /** A stream side's bytes in 1-RTT packets of at most ~1150 bytes of STREAM data, FIN on the last. */
  function stream(c: QConn, toServer: boolean, id: number, bytes: Buffer): void {
    for (let off = 0; off < bytes.length; off += 1150) send(c, toServer, [streamFrame(id, off, bytes.subarray(off, off + 1150), off + 1150 >= bytes.length)]);
  }
  writeFileSync(keylog, lines.join('\n') + '\n', { mode: 0o600 });
  for (let made = 0; made < PAIRS; made++) {
    const c = conns[rand(CONNS)]!;
    const id = c.nextStream;
    c.nextStream += 4;
    const req = split(requestFor(made));
    const res = split(responseFor(made));
    stream(c, true, id, Buffer.concat([h3frame(0x01, requestSection(req.head)), ...(req.body.length ? [h3frame(0x00, req.body)] : [])]));
    stream(c, false, id, Buffer.concat([h3frame(0x01, responseSection), h3frame(0x00, res.body)]));
  }
  const bytes = pcapng(frames);
  writeFileSync(file, bytes);
  return { packets: frames.length, bytes: bytes.length };
}

const gen = generate();
const mb = gen.bytes / 1e6;
console.log(`capture: ${file}: ${PAIRS} HTTP/3 exchanges, ${CONNS} QUIC connections, ${gen.packets} packets, ${mb.toFixed(1)} MB; key log ${keylog}`);
if (GENERATE_ONLY) process.exit(0);

// Untimed: every exchange decrypted and read (the handshakes too). Timed: output to /dev/null, as tshark's would be.
const args = [join(root, 'bin/pano-parse'), '--tls-keylog', keylog, '-p', 'quic', file];
const check = timed(process.execPath, args, 1);
if (check.lines !== PAIRS + CONNS) throw new Error(`pano-parse emitted ${check.lines} events, expected ${PAIRS} exchanges and ${CONNS} handshakes`);
const pano = timed(process.execPath, args, ROUNDS, true);
const tsharkArgs = ['-o', `tls.keylog_file:${keylog}`, '-r', file, '-Y', 'http3', '-T', 'fields', '-e', 'frame.time_epoch', '-e', 'udp.srcport', '-e', 'quic.stream.stream_id', '-e', 'http3.frame_type'];
const tsharkCheck = timed('tshark', tsharkArgs, 1);
if (tsharkCheck.lines < PAIRS) throw new Error(`tshark printed ${tsharkCheck.lines} HTTP/3 lines for ${PAIRS} exchanges: it did not decrypt the capture`);
const tshark = timed('tshark', tsharkArgs, ROUNDS, true);
report(mb, gen.packets, pano, tshark, ROUNDS);
