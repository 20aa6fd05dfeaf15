/**
 * A real PostgreSQL server with TLS on: psql with sslmode=require sends an
 * SSLRequest, the server answers 'S' and the session continues in TLS. The
 * event says so (flag tls), the TLS handshake is a tls event, and nothing of
 * the encrypted stream is parsed.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LoopbackCapture, freePort } from '../helpers/loopback-capture.js';
import { parseCaptureSync, assertValidEvents } from '../helpers/parse.js';
import { tsharkFields } from '../helpers/tshark.js';
import { assertTlsAfterSwitch } from '../helpers/tls-switch.js';
import { startPg, type PgServer } from './pg-server.js';
import { sayGoodbye } from '../helpers/goodbye.js';

describe('postgresql: live server with TLS', () => {
  let server: PgServer | undefined;
  let work: string;
  let pcap = '';
  let result: ReturnType<typeof parseCaptureSync>;

  before(async () => {
    work = mkdtempSync(join(tmpdir(), 'pano-pg-tls-'));
    const port = await freePort();
    server = startPg(port, { tls: true });
    const capture = new LoopbackCapture(join(work, 'tls.pcap'), `tcp port ${port}`);
    await capture.start();
    try {
      const r = spawnSync('psql', ['-X', '-h', '127.0.0.1', '-p', String(port), '-U', 'postgres', '-d', 'postgres', '-tA', '-c', "SELECT 'hidden-' || 42"], {
        encoding: 'utf8',
        env: { ...process.env, PGPASSWORD: server.password, PGSSLMODE: 'require' },
      });
      assert.equal(r.status, 0, r.stderr);
      assert.equal(r.stdout.trim(), 'hidden-42');
    } finally {
      await capture.stop();
    }
    pcap = capture.file;
    result = parseCaptureSync(pcap);
  });

  after(() => {
    server?.stop();
    if (work && !process.env.PANO_KEEP) rmSync(work, { recursive: true, force: true });
  });

  it("reports the SSLRequest answered 'S' with flag tls, and parses nothing after it", () => {
    const ev = result.events.filter((e) => e.pano.protocol === 'postgresql') as any[];
    assertValidEvents(result.events);
    assert.equal(ev.length, 1);
    assert.equal(ev[0].postgresql.message, 'SSLRequest');
    assert.deepEqual(ev[0].postgresql.negotiation, { answer: 'S' });
    assert.deepEqual(ev[0].pano.flags, ['tls']);
    assert.ok(!JSON.stringify(result.events).includes('hidden-'));
  });

  it('tshark sees the same: one SSL request, then TLS', () => {
    const port = server!.port;
    const rows = tsharkFields(pcap, ['pgsql.type', 'tls.record.content_type'], `tcp.port==${port}`, ['-d', `tcp.port==${port},pgsql`]);
    assert.equal(rows.filter(([t]) => t === 'SSL request').length, 1);
    assert.ok(rows.some(([, tls]) => tls !== ''), 'TLS records after the answer');
  });
  it('the TLS handshake after the switch is a tls event on the same connection: version and cipher as tshark reads them', () => {
    assertTlsAfterSwitch(result.events as any[], 'postgresql', pcap, server!.port, 'pgsql');
  });
});

/**
 * A PostgreSQL session over TLS by a client that logs its secrets: Node's TLS
 * socket ('keylog' events) after the SSLRequest, SCRAM-SHA-256 (RFC 5802,
 * RFC 7677) done here, one query. With the key log, pano-parse reads the
 * session inside TLS as it reads a cleartext one.
 */
async function pgOverTls(port: number, password: string, keylog: string, sql: string): Promise<string> {
  const { connect } = await import('node:net');
  const tls = await import('node:tls');
  const { createHash, createHmac, pbkdf2Sync, randomBytes } = await import('node:crypto');
  const { appendFileSync } = await import('node:fs');
  const { fe } = await import('./pg-wire.js');
  const raw = connect(port, '127.0.0.1');
  await new Promise((r) => raw.once('connect', r));
  raw.write(fe.sslRequest());
  const answer = await new Promise<Buffer>((r) => raw.once('data', r));
  assert.equal(answer.toString('latin1'), 'S');
  const s = tls.connect({ socket: raw, rejectUnauthorized: false });
  s.on('keylog', (line) => appendFileSync(keylog, line));
  await new Promise((r) => s.once('secureConnect', r));
  let buf = Buffer.alloc(0);
  s.on('data', (d: Buffer) => (buf = Buffer.concat([buf, d])));
  /** The next backend message, waiting for it. */
  const next = async (): Promise<{ type: string; body: Buffer }> => {
    for (;;) {
      if (buf.length >= 5 && buf.length >= 1 + buf.readInt32BE(1)) {
        const len = buf.readInt32BE(1);
        const m = { type: String.fromCharCode(buf[0]!), body: buf.subarray(5, 1 + len) };
        buf = buf.subarray(1 + len);
        return m;
      }
      await new Promise((r) => s.once('data', r));
    }
  };
  s.write(fe.startup({ user: 'postgres', database: 'postgres' }));
  let m = await next();
  assert.equal(m.body.readInt32BE(0), 10, 'AuthenticationSASL');
  const nonce = randomBytes(18).toString('base64');
  const clientFirstBare = `n=,r=${nonce}`;
  s.write(fe.saslInitial('SCRAM-SHA-256', `n,,${clientFirstBare}`));
  m = await next();
  const serverFirst = m.body.subarray(4).toString();
  const attrs = Object.fromEntries(serverFirst.split(',').map((kv) => [kv[0], kv.slice(2)]));
  const salted = pbkdf2Sync(password, Buffer.from(attrs.s!, 'base64'), Number(attrs.i), 32, 'sha256');
  const clientKey = createHmac('sha256', salted).update('Client Key').digest();
  const withoutProof = `c=biws,r=${attrs.r}`;
  const signature = createHmac('sha256', createHash('sha256').update(clientKey).digest()).update(`${clientFirstBare},${serverFirst},${withoutProof}`).digest();
  const proof = Buffer.from(clientKey.map((b, i) => b ^ signature[i]!));
  s.write(fe.saslResponse(`${withoutProof},p=${proof.toString('base64')}`));
  while ((m = await next()).type !== 'Z') assert.notEqual(m.type, 'E', m.body.toString());
  s.write(fe.query(sql));
  let value = '';
  while ((m = await next()).type !== 'Z') if (m.type === 'D') value = m.body.subarray(6, 6 + m.body.readInt32BE(2)).toString();
  await sayGoodbye(s, fe.terminate());
  return value;
}

describe('postgresql: live server with TLS, and the client\'s key log', () => {
  let server: PgServer | undefined;
  let work: string;

  before(() => {
    work = mkdtempSync(join(tmpdir(), 'pano-pg-keys-'));
  });
  after(() => {
    server?.stop();
    if (work && !process.env.PANO_KEEP) rmSync(work, { recursive: true, force: true });
  });

  it('reads the session inside TLS: the startup, the query and its row, as over cleartext, marked tls.decrypted', async () => {
    const port = await freePort();
    server = startPg(port, { tls: true });
    const keylog = join(work, 'keys.log');
    const capture = new LoopbackCapture(join(work, 'keys.pcap'), `tcp port ${port}`);
    await capture.start();
    let value: string;
    try {
      value = await pgOverTls(port, server.password, keylog, "SELECT 'inside-' || 7 AS secret");
    } finally {
      await capture.stop();
    }
    assert.equal(value, 'inside-7');
    const without = parseCaptureSync(capture.file);
    assert.ok(!JSON.stringify(without.events).includes('inside-'), 'nothing of it without the key log');
    const { events } = parseCaptureSync(capture.file, { parse: { tlsKeyLogs: [keylog] } });
    assertValidEvents(events);
    const pg = (events as any[]).filter((e) => e.pano.protocol === 'postgresql');
    const query = pg.find((e) => e.db?.query?.text === "SELECT 'inside-' || 7 AS secret");
    assert.ok(query, JSON.stringify(pg.map((e) => e.postgresql?.message ?? e.db?.query?.text)));
    assert.deepEqual(query.db.response?.returned_rows ?? query.postgresql.rows?.length, 1);
    assert.ok(JSON.stringify(query).includes('inside-7'), 'the row read from the decrypted records');
    assert.equal(query.tls.decrypted, true);
    assert.equal(query.pano.connection.id, pg[0].pano.connection.id, 'the same connection as the SSLRequest');
  });
});
