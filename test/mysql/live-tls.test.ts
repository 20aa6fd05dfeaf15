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
