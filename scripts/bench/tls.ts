/**
 * TLS decryption throughput: pano-parse with a key log beside tshark with the
 * same key log, on the same capture, in the same run.
 *
 * The capture: the HTTP/1.1 bench's 50,000 exchanges (support/http1-messages)
 * over 400 connections, each inside TLS 1.3 (TLS_AES_128_GCM_SHA256): a
 * ClientHello and ServerHello in the clear, the server's encrypted
 * EncryptedExtensions and Finished, the client's Finished, then one record
 * per request and per answer, sealed with secrets chosen per connection and
 * written to a key log beside the capture.
 *
 * Peers: `pano-parse --tls-keylog LOG FILE > /dev/null` and `tshark -o
 * tls.keylog_file:LOG -r FILE -Y http -T fields` with the HTTP bench's 11
 * fields. Best of ROUNDS wall times.
 *
 *   npm run bench -- tls          (or: node --import tsx --conditions=source scripts/bench/tls.ts [pairs])
 */
import { createCipheriv, createHmac } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { rand, report, timed, writeWorkload, type Conn } from './support/tcp-workload.js';
import { requestFor, responseFor } from './support/http1-messages.js';
import { ext, hs, record, u16, vec } from '../../test/helpers/tls-bytes.js';
import { expandLabel } from '../../packages/protocols/src/tls/decrypt.js';

const PAIRS = Number(process.argv[2] ?? 50_000);
const GENERATE_ONLY = process.argv.includes('--generate-only');
const CONNS = 400;
const ROUNDS = 3;
const root = resolve(import.meta.dirname, '../..');
const outDir = join(root, 'bench-out');
mkdirSync(outDir, { recursive: true });
const file = join(outDir, `tls-${PAIRS}.pcapng`);
const keylog = join(outDir, `tls-${PAIRS}.keys`);

const plainRecord = (type: number, payload: Buffer) => record(type, payload, 3);

/** One direction under one traffic secret (RFC 8446 §5.2-5.3). */
class Sealer {
  private seq = 0n;
  private readonly key: Buffer;
  private readonly iv: Buffer;
  constructor(secret: Buffer) {
    this.key = expandLabel(secret, 'key', 16);
    this.iv = expandLabel(secret, 'iv', 12);
  }
  seal(type: number, content: Buffer): Buffer {
    const nonce = Buffer.from(this.iv);
    for (let i = 0; i < 8; i++) nonce[11 - i]! ^= Number((this.seq >> BigInt(8 * i)) & 0xffn);
    this.seq++;
    const header = Buffer.from([23, 3, 3, (content.length + 17) >> 8, (content.length + 17) & 0xff]);
    const c = createCipheriv('aes-128-gcm', this.key, nonce);
    c.setAAD(header);
    return Buffer.concat([header, c.update(content), c.update(Buffer.from([type])), c.final(), c.getAuthTag()]);
  }
}

interface TlsConn {
  client: Sealer;
  server: Sealer;
}

/** The handshake of connection `k`: hellos in the clear, the encrypted rest; its key log lines. */
function handshake(w: ReturnType<typeof writeWorkload>, k: Conn, lines: string[]): TlsConn {
  const random = createHmac('sha256', 'bench').update(String(k.index)).digest();
  const secret = (label: string) => createHmac('sha256', random).update(label).digest();
  const names = ['CLIENT_HANDSHAKE_TRAFFIC_SECRET', 'SERVER_HANDSHAKE_TRAFFIC_SECRET', 'CLIENT_TRAFFIC_SECRET_0', 'SERVER_TRAFFIC_SECRET_0'];
  for (const n of names) lines.push(`${n} ${random.toString('hex')} ${secret(n).toString('hex')}`);
  const hello = hs(1, Buffer.concat([u16(0x0303), random, vec(1, Buffer.alloc(0)), vec(2, u16(0x1301)), vec(1, Buffer.from([0])),
    vec(2, Buffer.concat([ext(0, vec(2, Buffer.concat([Buffer.from([0]), vec(2, Buffer.from('shop.example.com'))]))), ext(16, vec(2, vec(1, Buffer.from('http/1.1')))), ext(43, vec(1, u16(0x0304)))]))]));
  const serverHello = hs(2, Buffer.concat([u16(0x0303), random.subarray(0, 16), random.subarray(0, 16), vec(1, Buffer.alloc(0)), u16(0x1301), Buffer.from([0]), vec(2, ext(43, u16(0x0304)))]));
  w.send(k, 0, plainRecord(22, hello));
  const sh = new Sealer(secret(names[1]!));
  w.send(k, 1, Buffer.concat([plainRecord(22, serverHello), sh.seal(22, Buffer.concat([hs(8, vec(2, ext(16, vec(2, vec(1, Buffer.from('http/1.1')))))), hs(20, Buffer.alloc(32, 1))]))]));
  w.send(k, 0, new Sealer(secret(names[0]!)).seal(22, hs(20, Buffer.alloc(32, 2))));
  return { client: new Sealer(secret(names[2]!)), server: new Sealer(secret(names[3]!)) };
}

function generate(): { packets: number; bytes: number } {
  const w = writeWorkload(file, CONNS, 443);
  const lines: string[] = [];
  const tls = w.conns.map((k) => handshake(w, k, lines));
  writeFileSync(keylog, lines.join('\n') + '\n', { mode: 0o600 });
  for (let made = 0; made < PAIRS; made++) {
    const i = rand(CONNS);
    const k = w.conns[i]!;
    w.send(k, 0, tls[i]!.client.seal(23, requestFor(made)));
    w.send(k, 1, tls[i]!.server.seal(23, responseFor(made)));
  }
  return w.finish();
}

const gen = generate();
const mb = gen.bytes / 1e6;
console.log(`capture: ${file}: ${PAIRS} exchanges in TLS 1.3, ${CONNS} connections, ${gen.packets} packets, ${mb.toFixed(1)} MB; key log ${keylog}`);
if (GENERATE_ONLY) process.exit(0);

// Untimed: every exchange must have been decrypted and read. Timed: output to /dev/null, as tshark's would be.
const args = [join(root, 'bin/pano-parse'), '--tls-keylog', keylog, '-p', 'tls,http', file];
const check = timed(process.execPath, args, 1);
if (check.lines !== PAIRS + CONNS) throw new Error(`pano-parse emitted ${check.lines} events, expected ${PAIRS} exchanges and ${CONNS} handshakes`);
const pano = timed(process.execPath, args, ROUNDS, true);
const fields = ['frame.time_epoch', 'ip.src', 'tcp.srcport', 'ip.dst', 'tcp.dstport', 'http.request.method', 'http.request.uri', 'http.request.version', 'http.user_agent', 'http.response.code', 'http.content_type'];
const tsharkArgs = ['-o', `tls.keylog_file:${keylog}`, '-r', file, '-Y', 'http', '-T', 'fields', ...fields.flatMap((f) => ['-e', f])];
const tsharkCheck = timed('tshark', tsharkArgs, 1);
if (tsharkCheck.lines !== 2 * PAIRS) throw new Error(`tshark printed ${tsharkCheck.lines} HTTP lines, expected ${2 * PAIRS}: it did not decrypt the capture`);
const tshark = timed('tshark', tsharkArgs, ROUNDS, true);
report(mb, gen.packets, pano, tshark, ROUNDS);
