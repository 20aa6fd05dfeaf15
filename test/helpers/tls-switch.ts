/** For the database TLS tests: the TLS handshake after a session's switch, checked against tshark. */
import assert from 'node:assert/strict';
import { tsharkFields } from './tshark.js';
import { cipherName } from '../../packages/protocols/src/tls/constants.js';

/**
 * `events` of capture `pcap` hold one tls event on the connection of the `protocol` event, an
 * established exchange whose version and cipher are those of the ServerHello tshark reads when it
 * decodes `port` as `decodeAs` (the last one: a HelloRetryRequest is a ServerHello too).
 */
export function assertTlsAfterSwitch(events: any[], protocol: string, pcap: string, port: number, decodeAs: string): void {
  const db = events.find((e) => e.pano.protocol === protocol);
  const tls = events.filter((e) => e.pano.protocol === 'tls');
  assert.equal(tls.length, 1);
  assert.equal(tls[0].pano.connection.id, db.pano.connection.id);
  assert.equal(tls[0].pano.kind, 'exchange');
  assert.equal(tls[0].tls.established, true);
  const rows = tsharkFields(pcap, ['tls.handshake.ciphersuite', 'tls.handshake.extensions.supported_version', 'tls.handshake.version'], 'tls.handshake.type == 2', ['-d', `tcp.port==${port},${decodeAs}`, '-o', 'tcp.reassemble_out_of_order:TRUE']);
  assert.ok(rows.length >= 1);
  const [suite, sv, v] = rows.at(-1)!;
  assert.equal(tls[0].tls.protocol.version, ({ '0x0304': '1.3', '0x0303': '1.2' } as Record<string, string>)[(sv || v)!]);
  assert.equal(tls[0].tls.cipher, cipherName(parseInt(suite!, 16)));
}
