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
