// TLS handshakes in the corpus against tshark: per connection that begins with a ClientHello, the
// server name the client sent, and the cipher suite and version the server chose; also inside an
// HTTP CONNECT tunnel, and after a PostgreSQL or MySQL session's SSL request. tshark reassembles
// out-of-order segments, as pano-parse does (the PostgreSQL capture's ServerHello comes out of order).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { corpusAvailable, corpusDir } from '../helpers/corpus.js';
import { tsharkAvailable, tsharkFields } from '../helpers/tshark.js';
import { parseCaptureSync, assertValidEvents } from '../helpers/parse.js';
import { cipherName } from '../../packages/protocols/src/tls/constants.js';
import { JA4_TSHARK_FIELDS, ja4FromTshark } from '../helpers/ja4.js';

const ready = corpusAvailable() && tsharkAvailable();
const V: Record<string, string> = { '0x0301': '1.0', '0x0302': '1.1', '0x0303': '1.2', '0x0304': '1.3' };

/**
 * Connections (by client port) whose ServerHello tshark does not dissect, with why. In
 * ndpi-KakaoTalk_chat.pcap the server of port 35503 answered its SYN twice with different initial
 * sequence numbers; tshark takes the second SYN-ACK for a new connection and marks the server's
 * data after it as retransmissions, so its ServerHello (cipher 0xc007, a *.facebook.com
 * certificate) goes undissected. pano-parse reads it.
 */
const TSHARK_MISSES: Record<string, number[]> = { 'linux-sll/ndpi-KakaoTalk_chat.pcap': [35503] };


/**
 * Connections joined after their handshake are those whose records tshark reads as TLS with no hello
 * among them: the same port pairs, each an event of TLS, established, and nothing else.
 */
function assertJoined(file: string, tlsEvents: any[], tsharkOptions: string[]): void {
  const streams = new Map<string, { pair: string; hello: boolean }>();
  for (const [stream, a, b, types] of tsharkFields(file, ['tcp.stream', 'tcp.srcport', 'tcp.dstport', 'tls.handshake.type'], 'tls.record', tsharkOptions)) {
    const st = streams.get(stream!) ?? { pair: [Number(a), Number(b)].sort((x, y) => x - y).join('-'), hello: false };
    if (types!.split(',').some((t) => t === '1' || t === '2')) st.hello = true;
    streams.set(stream!, st);
  }
  const joined = tlsEvents.filter((e) => e.pano.flags?.includes('handshake_missed'));
  assert.deepEqual(joined.map((e) => [e.client.port, e.server.port].sort((x, y) => x - y).join('-')).sort(), [...streams.values()].filter((st) => !st.hello).map((st) => st.pair).sort(), 'connections joined after their handshake');
  for (const e of joined) {
    assert.deepEqual(e.tls, { protocol: { name: 'tls' }, established: true });
    assert.equal(e.pano.connection.midstream, true);
  }
}

// the same captures with every frame of a handshake message and every SYN cut out, as a capture started
// after the connections did: the connections tshark reads as TLS without a hello are pano-parse's joined ones
// tshark reassembles out-of-order segments where the cut leaves the server's hello readable that way (the
// PostgreSQL capture: pano-parse reads it, so that connection is no joined one), and not where it leaves holes
// (the others: with it, tshark holds back every record after a hole)
const CUT: Record<string, string[]> = {
  'http2/wiregasm-http2-16-ssl.pcapng': [],
  'linux-sll/ndpi-KakaoTalk_chat.pcap': [],
  'postgresql/zeek-psql-aws-ssl-preferred.pcap': ['-o', 'tcp.reassemble_out_of_order:TRUE'],
};
for (const [name, options] of Object.entries(CUT)) {
  test(`connections joined after their handshake: ${name} without its handshakes`, { skip: !ready && 'corpus or tshark missing' }, () => {
    const dir = mkdtempSync(join(tmpdir(), 'pano-tls-joined-'));
    try {
      const cut = join(dir, 'cut.pcapng');
      execFileSync('tshark', ['-r', join(corpusDir, name), '-Y', 'not tls.handshake and not tcp.flags.syn == 1', '-w', cut], { stdio: 'ignore' });
      const { events } = parseCaptureSync(cut);
      assertValidEvents(events);
      const tlsEvents = (events as any[]).filter((e) => e.pano.protocol === 'tls');
      assert.ok(tlsEvents.length > 0);
      assertJoined(cut, tlsEvents, options);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
}

// ipv6/zeek-connect-with-header.pcap: TLS inside an HTTP CONNECT tunnel, detected once the tunnel is open;
// the PostgreSQL and MySQL captures: TLS after the session's SSL request, handed over by that parser
for (const name of [
  'http2/wiregasm-http2-16-ssl.pcapng', 'linux-sll/ndpi-KakaoTalk_chat.pcap', 'linux-sll2/zeek-openjdk-25.0.2-zeek.org.pcap', 'ipv6/zeek-connect-with-header.pcap',
  'postgresql/zeek-psql-aws-ssl-preferred.pcap', 'mysql/zeek-encrypted.pcap', 'vlan/arkime-mysql-tls.pcap',
]) {
  test(`tshark agrees on TLS handshakes: ${name}`, { skip: !ready && 'corpus or tshark missing' }, () => {
    const file = join(corpusDir, name);
    const { events } = parseCaptureSync(file);
    assertValidEvents(events);
    const rows = tsharkFields(file, ['tcp.srcport', 'tcp.dstport', 'tls.handshake.type', 'tls.handshake.extensions_server_name', 'tls.handshake.ciphersuite', 'tls.handshake.extensions.supported_version', 'tls.handshake.version', 'tls.handshake.ja3', 'tls.handshake.ja3s'], 'tls.handshake.type == 1 || tls.handshake.type == 2', ['-o', 'tcp.reassemble_out_of_order:TRUE']);
    // by client port: the ClientHello's SNI and JA3, the ServerHello's suite, version and JA3S
    const theirs = new Map<number, { sni?: string; cipher?: string; version?: string; ja3?: string; ja3s?: string }>();
    for (const [src, dst, types, sni, suites, sv, v, ja3, ja3s] of rows) {
      const t = types!.split(',');
      if (t.includes('1')) theirs.set(Number(src), { ...theirs.get(Number(src)), sni: sni || undefined, ja3: ja3!.split(',').pop() });
      if (t.includes('2')) {
        const version = V[(sv || v!).split(',').pop()!];
        theirs.set(Number(dst), { ...theirs.get(Number(dst)), cipher: cipherName(parseInt(suites!.split(',').pop()!, 16)), version, ja3s: ja3s!.split(',').pop() });
      }
    }
    assert.ok(theirs.size > 0, 'tshark finds TLS handshakes');
    const hellos = tsharkFields(file, ['tcp.srcport', ...JA4_TSHARK_FIELDS], 'tls.handshake.type == 1', ['-o', 'tcp.reassemble_out_of_order:TRUE']);
    const ja4 = new Map(hellos.map(([port, ...f]) => [Number(port), ja4FromTshark('t', f)]));
    const misses = TSHARK_MISSES[name] ?? [];
    const tlsEvents = (events as any[]).filter((e) => e.pano.protocol === 'tls');
    const ours = tlsEvents.filter((e) => !e.pano.flags?.includes('handshake_missed'));
    assertJoined(file, tlsEvents, ['-o', 'tcp.reassemble_out_of_order:TRUE']);
    assert.deepEqual(ours.map((e) => e.client.port).sort(), [...theirs.keys()].sort());
    for (const e of ours) {
      const t = theirs.get(e.client.port)!;
      assert.equal(e.tls.client?.server_name, t.sni, `SNI, port ${e.client.port}`);
      assert.equal(e.tls.client?.ja3, t.ja3, `JA3, port ${e.client.port}`);
      assert.equal(e.tls.client?.ja4, ja4.get(e.client.port), `JA4, port ${e.client.port}`);
      if (misses.includes(e.client.port)) {
        assert.equal(t.cipher, undefined);
        assert.equal(e.pano.kind, 'exchange');
        continue;
      }
      assert.equal(e.pano.kind, t.cipher ? 'exchange' : 'unanswered', `port ${e.client.port}`);
      assert.equal(e.tls.cipher, t.cipher, `cipher, port ${e.client.port}`);
      if (t.version) assert.equal(e.tls.protocol.version, t.version, `version, port ${e.client.port}`);
      assert.equal(e.tls.server?.ja3s, t.ja3s, `JA3S, port ${e.client.port}`);
    }
  });
}
