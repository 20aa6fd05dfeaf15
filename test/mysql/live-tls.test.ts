/**
 * A real MariaDB server with TLS: the mariadb CLI with --ssl sends an SSL
 * request after the greeting and the session continues in TLS. The
 * handshake event says so (flag tls) and nothing encrypted is parsed.
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
import { startMariaDb, type MariaDb } from './mariadb-server.js';
import { sayGoodbye } from '../helpers/goodbye.js';

describe('mysql: live MariaDB with TLS', () => {
  let server: MariaDb | undefined;
  let work: string;
  let pcap = '';
  let events: any[] = [];

  before(async () => {
    work = mkdtempSync(join(tmpdir(), 'pano-mysql-tls-'));
    const port = await freePort();
    server = await startMariaDb(port, { tls: true });
    const capture = new LoopbackCapture(join(work, 'tls.pcap'), `tcp port ${port}`);
    await capture.start();
    try {
      const r = spawnSync(
        'mariadb',
        ['--no-defaults', '--ssl', '-h', '127.0.0.1', '-P', String(port), '-u', server.user, `-p${server.password}`, '-N', '-e', "SELECT CONCAT('hidden-', 42); SHOW STATUS LIKE 'Ssl_cipher'"],
        { encoding: 'utf8' },
      );
      assert.equal(r.status, 0, r.stderr);
      assert.match(r.stdout, /hidden-42/);
      assert.match(r.stdout, /Ssl_cipher\t\S+/, 'the session really is TLS');
    } finally {
      await capture.stop();
    }
    pcap = capture.file;
    events = parseCaptureSync(pcap).events;
  });

  after(async () => {
    await server?.stop();
    if (work) rmSync(work, { recursive: true, force: true });
  });

  it('reports the handshake with flag tls, and parses nothing after it', () => {
    assertValidEvents(events);
    const my = events.filter((e) => e.pano.protocol === 'mysql');
    assert.equal(my.length, 1);
    assert.equal(my[0].mysql.command, 'handshake');
    assert.equal(my[0].mysql.tls_requested, true);
    assert.deepEqual(my[0].pano.flags, ['tls']);
    assert.match(my[0].mysql.server.version, /MariaDB/);
    assert.ok(!JSON.stringify(events).includes('hidden-'));
  });

  it('tshark sees the same: greeting, SSL request, then TLS', () => {
    const port = server!.port;
    const rows = tsharkFields(pcap, ['mysql.version', 'mysql.caps.sl', 'tls.record.content_type'], `tcp.port==${port}`, ['-d', `tcp.port==${port},mysql`]);
    assert.ok(rows.some(([v]) => v === events.find((e) => e.mysql)?.mysql.server.version));
    assert.ok(rows.some(([, , tls]) => tls !== ''), 'TLS records after the SSL request');
  });
  it('the TLS handshake after the switch is a tls event on the same connection: version and cipher as tshark reads them', () => {
    assertTlsAfterSwitch(events as any[], 'mysql', pcap, server!.port, 'mysql');
  });
});

/**
 * A MariaDB session over TLS by a client that logs its secrets: Node's TLS
 * socket ('keylog' events) after the SSL request, mysql_native_password
 * (SHA1(password) XOR SHA1(scramble + SHA1(SHA1(password)))) done here, one
 * query. With the key log, pano-parse reads the login and the query inside
 * TLS as the session that switched, resumed.
 */
async function mysqlOverTls(port: number, user: string, password: string, database: string, keylog: string, sql: string): Promise<string> {
  const { connect } = await import('node:net');
  const tls = await import('node:tls');
  const { createHash } = await import('node:crypto');
  const { appendFileSync } = await import('node:fs');
  const sha1 = (...b: Buffer[]) => createHash('sha1').update(Buffer.concat(b)).digest();
  const packet = (seq: number, payload: Buffer) => {
    const h = Buffer.alloc(4);
    h.writeUIntLE(payload.length, 0, 3);
    h[3] = seq;
    return Buffer.concat([h, payload]);
  };
  let buf = Buffer.alloc(0);
  let sock: import('node:net').Socket | import('node:tls').TLSSocket = connect(port, '127.0.0.1');
  const onData = (d: Buffer) => (buf = Buffer.concat([buf, d]));
  sock.on('data', onData);
  const next = async (): Promise<Buffer> => {
    for (;;) {
      if (buf.length >= 4 && buf.length >= 4 + buf.readUIntLE(0, 3)) {
        const p = buf.subarray(4, 4 + buf.readUIntLE(0, 3));
        buf = buf.subarray(4 + p.length);
        return p;
      }
      await new Promise((r) => sock.once('data', r));
    }
  };
  // the greeting: version, connection id, scramble (8 + 12 bytes), capabilities, auth plugin
  const g = await next();
  let at = g.indexOf(0, 1) + 1 + 4;
  const scramble1 = g.subarray(at, at + 8);
  at += 8 + 1 + 2 + 1 + 2 + 2 + 1 + 10;
  const scramble = Buffer.concat([scramble1, g.subarray(at, at + 12)]);
  const CAPS = 0x1 | 0x8 | 0x200 | 0x800 | 0x2000 | 0x8000 | 0x80000;
  const head = Buffer.alloc(32);
  head.writeUInt32LE(CAPS, 0);
  head.writeUInt32LE(1 << 24, 4);
  head[8] = 45; // utf8mb4
  sock.write(packet(1, head)); // the SSL request: the head alone
  sock.off('data', onData);
  const s = tls.connect({ socket: sock as import('node:net').Socket, rejectUnauthorized: false });
  s.on('keylog', (line) => appendFileSync(keylog, line));
  await new Promise((r) => s.once('secureConnect', r));
  sock = s;
  s.on('data', onData);
  const stage1 = sha1(Buffer.from(password));
  const token = Buffer.from(stage1.map((b, i) => b ^ sha1(scramble, sha1(stage1))[i]!));
  s.write(packet(2, Buffer.concat([head, Buffer.from(`${user}\0`), Buffer.from([token.length]), token, Buffer.from(`${database}\0mysql_native_password\0`)])));
  const ok = await next();
  assert.equal(ok[0], 0x00, `login: ${ok.toString('latin1')}`);
  s.write(packet(0, Buffer.concat([Buffer.from([0x03]), Buffer.from(sql)])));
  // column count, its definition, EOF, the row, EOF
  let value = '';
  let eofs = 0;
  for (let i = 0; eofs < 2; i++) {
    const p = await next();
    if (p[0] === 0xfe && p.length < 9) eofs++;
    else if (eofs === 1) value = p.subarray(1, 1 + p[0]!).toString();
  }
  await sayGoodbye(s, packet(0, Buffer.from([0x01]))); // COM_QUIT
  return value;
}

describe('mysql: live MariaDB with TLS, and the client\'s key log', () => {
  let server: MariaDb | undefined;
  let work: string;
  before(() => {
    work = mkdtempSync(join(tmpdir(), 'pano-mysql-keys-'));
  });
  after(async () => {
    await server?.stop();
    if (work && !process.env.PANO_KEEP) rmSync(work, { recursive: true, force: true });
  });

  it('reads the login and the query inside TLS as the session that switched, resumed, marked tls.decrypted', async () => {
    const port = await freePort();
    server = await startMariaDb(port, { tls: true });
    const keylog = join(work, 'keys.log');
    const capture = new LoopbackCapture(join(work, 'keys.pcap'), `tcp port ${port}`);
    await capture.start();
    let value: string;
    try {
      value = await mysqlOverTls(port, server.user, server.password, server.database, keylog, "SELECT CONCAT('inside-', 7)");
    } finally {
      await capture.stop();
    }
    assert.equal(value, 'inside-7');
    assert.ok(!JSON.stringify(parseCaptureSync(capture.file).events).includes('inside-'), 'nothing of it without the key log');
    const { events } = parseCaptureSync(capture.file, { parse: { tlsKeyLogs: [keylog] } });
    assertValidEvents(events);
    const my = (events as any[]).filter((e) => e.pano.protocol === 'mysql');
    assert.deepEqual(my.map((e) => e.mysql.command), ['handshake', 'handshake', 'COM_QUERY', 'COM_QUIT']);
    assert.deepEqual(my[0].pano.flags, ['tls']);
    const [, login, query] = my;
    assert.equal(login.db.user ?? login.mysql.user, server.user);
    assert.equal(login.tls.decrypted, true);
    assert.equal(query.db.query.text, "SELECT CONCAT('inside-', 7)");
    assert.ok(JSON.stringify(query).includes('inside-7'), 'the row, read from the decrypted records');
    assert.equal(query.tls.decrypted, true);
    for (const e of my) assert.equal(e.pano.connection.id, my[0].pano.connection.id);
  });
});
