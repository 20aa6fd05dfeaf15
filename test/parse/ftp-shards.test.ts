/**
 * FtpShardEndpoints: the shard an FTP data connection is sent to with
 * `pano-parse --workers`, from the announcements every worker reads. Packets
 * are built by hand; the shard numbers are arbitrary labels.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FtpShardEndpoints } from '@panopticon/protocols';
import { TcpFlag, type L4Packet } from '@panopticon/decode';

const S = 1_000_000_000n;

function tcp(src: string, sport: number, dst: string, dport: number, opts: { flags?: number; payload?: string | Buffer; t?: bigint } = {}): L4Packet {
  const payload = typeof opts.payload === 'string' ? Buffer.from(opts.payload, 'latin1') : (opts.payload ?? Buffer.alloc(0));
  return {
    tsNs: opts.t ?? 10n * S,
    interfaceKey: 0,
    ipVersion: src.includes(':') ? 6 : 4,
    srcAddr: src,
    dstAddr: dst,
    protocol: 6,
    srcPort: sport,
    dstPort: dport,
    tcp: { seq: 1, ack: 1, flags: opts.flags ?? TcpFlag.ACK | TcpFlag.PSH, window: 65535 },
    payload,
    missing: 0,
  };
}

const SYN = TcpFlag.SYN;
const SYNACK = TcpFlag.SYN | TcpFlag.ACK;

test('a 227 reply: the connection to the announced endpoint, and to the control connection\'s server at that port, follows the control connection\'s shard both ways', () => {
  const f = new FtpShardEndpoints();
  assert.equal(f.shardOf(tcp('10.0.0.2', 21, '10.0.0.1', 40000, { payload: '227 Entering Passive Mode (192,168,1,2,195,80).\r\n' }), 1), 1);
  // the client connects where the reply said (port 195*256+80 = 50000)
  assert.equal(f.shardOf(tcp('10.0.0.1', 41000, '192.168.1.2', 50000, { flags: SYN }), 0), 1);
  assert.equal(f.shardOf(tcp('192.168.1.2', 50000, '10.0.0.1', 41000, { flags: SYNACK }), 0), 1);
  assert.equal(f.shardOf(tcp('192.168.1.2', 50000, '10.0.0.1', 41000, { payload: 'file contents' }), 0), 1);
  assert.equal(f.shardOf(tcp('10.0.0.1', 41000, '192.168.1.2', 50000, { flags: SYN }), 0), 1, 'a retransmitted SYN keeps the shard');
  // ... or to the control connection's server address, as ftplib and curl do (a second PASV)
  f.shardOf(tcp('10.0.0.2', 21, '10.0.0.1', 40000, { payload: '227 Entering Passive Mode (192,168,1,2,195,81).\r\n' }), 1);
  assert.equal(f.shardOf(tcp('10.0.0.1', 41001, '10.0.0.2', 50001, { flags: SYN }), 0), 1);
  // an announcement is used once: a later connection to the same endpoint goes by its tuple
  assert.equal(f.shardOf(tcp('10.0.0.1', 41002, '10.0.0.2', 50001, { flags: SYN }), 0), 0);
});

test('229, PORT and EPRT (lower case too), each line of a segment, and a SYN-ACK when the SYN was not captured', () => {
  const f = new FtpShardEndpoints();
  f.shardOf(tcp('10.0.0.2', 21, '10.0.0.1', 40000, { payload: '200 Switching to Binary mode.\r\n229 Entering Extended Passive Mode (|||50010|)\r\n' }), 3);
  assert.equal(f.shardOf(tcp('10.0.0.1', 41000, '10.0.0.2', 50010, { flags: SYN }), 0), 3);
  f.shardOf(tcp('10.0.0.1', 40000, '10.0.0.2', 21, { payload: 'port 10,0,0,1,195,100\r\n' }), 2);
  assert.equal(f.shardOf(tcp('10.0.0.2', 20, '10.0.0.1', 50020, { flags: SYN }), 0), 2);
  f.shardOf(tcp('fd00::1', 40000, 'fd00::2', 21, { payload: 'EPRT |2|FD00::1|50030|\r\n' }), 1);
  // the SYN was lost: the SYN-ACK comes from the listening side (the client in active mode)
  assert.equal(f.shardOf(tcp('fd00::1', 50030, 'fd00::2', 20, { flags: SYNACK }), 0), 1);
  assert.equal(f.shardOf(tcp('fd00::2', 20, 'fd00::1', 50030, { payload: 'data' }), 0), 1);
});

test('what is not read: an expired announcement, a long segment, a mid-connection packet, a malformed address', () => {
  const f = new FtpShardEndpoints();
  f.shardOf(tcp('10.0.0.2', 21, '10.0.0.1', 40000, { payload: '227 Entering Passive Mode (10,0,0,2,195,80).\r\n', t: 10n * S }), 1);
  assert.equal(f.shardOf(tcp('10.0.0.1', 41000, '10.0.0.2', 50000, { flags: SYN, t: 71n * S }), 0), 0, 'past a minute');
  const long = `${'x'.repeat(1100)}\r\n227 Entering Passive Mode (10,0,0,2,195,81).\r\n`;
  f.shardOf(tcp('10.0.0.2', 21, '10.0.0.1', 40000, { payload: long }), 1);
  assert.equal(f.shardOf(tcp('10.0.0.1', 41001, '10.0.0.2', 50001, { flags: SYN }), 0), 0, 'a segment over 1 KiB is not read');
  f.shardOf(tcp('10.0.0.2', 21, '10.0.0.1', 40000, { payload: '227 Entering Passive Mode (10,0,0,2,195,82).\r\n' }), 1);
  assert.equal(f.shardOf(tcp('10.0.0.1', 41002, '10.0.0.2', 50002, { payload: 'mid-connection' }), 0), 0, 'only a handshake moves a connection');
  assert.equal(f.shardOf(tcp('10.0.0.1', 41002, '10.0.0.2', 50002, { flags: SYN }), 0), 1, 'its handshake does');
  f.shardOf(tcp('10.0.0.2', 21, '10.0.0.1', 40000, { payload: '227 Entering Passive Mode (10,0,0,300,195,83).\r\n' }), 1);
  assert.equal(f.shardOf(tcp('10.0.0.1', 41003, '10.0.0.2', 50003, { flags: SYN }), 0), 0, 'an address byte over 255 announces nothing');
});
