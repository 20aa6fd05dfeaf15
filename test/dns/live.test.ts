// Real DNS traffic: dig against a local dnsmasq over UDP and TCP, captured
// with tcpdump on loopback, parsed, and compared with what dig reported.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, execFileSync, spawnSync, type ChildProcess } from 'node:child_process';
import { promisify } from 'node:util';
import { createSocket } from 'node:dgram';
import { createServer, type Http2Server } from 'node:http2';
import { createServer as createTcpServer, type Server } from 'node:net';
import { mkdtempSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LoopbackCapture, freePort } from '../helpers/loopback-capture.js';
import { startDnsmasq } from '../helpers/dnsmasq.js';
import { parseCaptureSync, assertValidEvents } from '../helpers/parse.js';
import { tsharkFields } from '../helpers/tshark.js';

const execFileAsync = promisify(execFile);
const missing = ['/usr/sbin/dnsmasq', '/usr/bin/dig', '/usr/bin/tcpdump', '/usr/bin/tshark'].filter((p) => !existsSync(p));
const dir = mkdtempSync(join(tmpdir(), 'pano-dns-'));
let dnsmasq: ChildProcess | undefined;
let port = 0;

/**
 * HTTPS records as RDATA hex (RFC 9460 wire format): one well formed, the
 * others malformed in one way each, which dig (BIND's parser) rejects with
 * FORMERR.
 */
const SVCB_RDATA: Record<string, string> = {
  // 1 . mandatory=port port=8443 ipv4hint=192.0.2.1,192.0.2.2 ipv6hint=2001:db8::1
  good: '0001' + '00' + '000000020003' + '0003000220fb' + '00040008c0000201c0000202' + '0006001020010db8000000000000000000000001',
  port1: '0001' + '00' + '0003000120' + '00040004c0000201', // port of 1 byte: the next key's first byte would complete it
  v4: '0001' + '00' + '00040005c0000201ff' + '0006001020010db8000000000000000000000001', // ipv4hint of 5 bytes
  v6: '0001' + '00' + '0006000f20010db80000000000000000000000', // ipv6hint of 15 bytes
  mand: '0001' + '00' + '0000000300030f' + '0003000201bb', // mandatory of 3 bytes
  mandorder: '0001' + '00' + '0000000400030001' + '00010003026833' + '0003000201bb', // mandatory=port,alpn: not increasing
  nodef: '0001' + '00' + '0002000100', // no-default-alpn with a value
  alpn: '0001' + '00' + '0001000303683200030002' + '0050', // alpn id of 3 bytes in a 3-byte value; port whole after it
  zero: '0001' + '00' + '0001000400026832' + '0003000201bb', // an empty alpn id before "h2"
  order: '0001' + '00' + '0003000201bb' + '00010003026833', // port before alpn: keys not increasing
};

/** host.example.test as a name on the wire, and an NSEC3 owner's hash label and a next hash (bytes 1 to 20). */
const HOST = '04686f7374076578616d706c65047465737400';
const NSEC3_OWNER = '0p9mhaveqvm6t7vbl5lop2u3t2rp3tom';
const NEXT_HASH = Buffer.from(Array.from({ length: 20 }, (_, i) => i + 1)).toString('hex');

/** Records of other types as RDATA hex, `good` ones well formed (dig prints them), the others malformed (dig rejects them). */
const OTHER_RDATA: Record<string, [type: string, code: number, hex: string]> = {
  'soa-good': ['SOA', 6, '026e7304746573740002686d04746573740000000001000000020000000300000004' + '00000005'],
  'soa-extra': ['SOA', 6, '026e7304746573740002686d04746573740000000001000000020000000300000004' + '00000005ff'], // a byte after the numbers
  'hinfo-good': ['HINFO', 13, '0358383600'], // "X86" ""
  'hinfo-one': ['HINFO', 13, '03583836'], // CPU without OS
  'caa-good': ['CAA', 257, '80056973737565616263'], // 128 issue "abc"
  'caa-notag': ['CAA', 257, '0000616263'], // empty tag
  'caa-dash': ['CAA', 257, '0003612d62616263'], // tag "a-b"
  'txt-good': ['TXT', 16, '00'], // one empty string: ""
  'txt-none': ['TXT', 16, ''], // no string at all
  // NSEC (RFC 4034 §4): next name host.example.test, types A MX RRSIG NSEC (window 0) and CAA (window 1)
  'nsec-good': ['NSEC', 47, HOST + '0006400100000003' + '010140'],
  'nsec-order': ['NSEC', 47, HOST + '010140' + '000140'], // windows not in increasing order
  'nsec-zero': ['NSEC', 47, HOST + '00024000'], // a window ending in a zero byte
  'nsec-none': ['NSEC', 47, HOST], // no type at all
  // NSEC3 (RFC 5155 §3): SHA-1, opt-out, 10 iterations, salt aabbccdd, a 20-byte next hash, types A RRSIG;
  // its owner's first label must be a hash in base32hex, or dig rejects the owner
  [`${NSEC3_OWNER}.nsec3-good`]: ['NSEC3', 50, '0101000a04aabbccdd14' + NEXT_HASH + '0006400000000002'],
  [`${NSEC3_OWNER}.nsec3-bare-good`]: ['NSEC3', 50, '0100000a0014' + NEXT_HASH], // no salt, no types: dig takes it ("1 0 10 - ...")
  [`${NSEC3_OWNER}.nsec3-nohash`]: ['NSEC3', 50, '0100000a0000'], // an empty next hash
  'nsec3param-good': ['NSEC3PARAM', 51, '0100000a04aabbccdd'],
  'nsec3param-extra': ['NSEC3PARAM', 51, '0100000a04aabbccddff'], // a byte after the salt
  // SIG (RFC 2535 §4.1, as SIG(0) of RFC 2931 uses it): the RRSIG fields
  // RP (RFC 1183): mailbox john.doe@example.test, written as a name with an escaped dot, and a TXT name
  'rp-good': ['RP', 17, '086a6f686e2e646f65076578616d706c65047465737400' + '04696e666f076578616d706c65047465737400'],
  'afsdb-good': ['AFSDB', 18, '0001' + '03616673076578616d706c65047465737400'],
  'key-good': ['KEY', 25, '0100030f' + '0102030405060708090a0b0c0d0e0f10'],
  'dhcid-good': ['DHCID', 49, '000201' + 'aabbccddeeff00112233445566778899'],
  'smimea-good': ['SMIMEA', 53, '030101' + 'ab'.repeat(32)],
  'cds-good': ['CDS', 59, '30390d02' + 'cd'.repeat(32)],
  'cdnskey-good': ['CDNSKEY', 60, '0101030d' + '11'.repeat(32)],
  'openpgpkey-good': ['OPENPGPKEY', 61, '99010d04' + '5a'.repeat(20)],
  // CSYNC (RFC 7477): serial 66, flags 3, types A NS AAAA
  'csync-good': ['CSYNC', 62, '00000042' + '0003' + '000460000008'],
  'csync-zero': ['CSYNC', 62, '00000042' + '0003' + '0002600000'.slice(0, 8)], // a window ending in a zero byte
  'zonemd-good': ['ZONEMD', 63, '7848b78e' + '0101' + 'ef'.repeat(48)],
  // URI (RFC 7553): priority 10, weight 1, a target with a space and a quote in it
  'uri-good': ['URI', 256, '000a0001' + Buffer.from('https://example.test/a b"c').toString('hex')],
  'sig-good': ['SIG', 24, '000f' + '0000' + '00000000' + '6553f100' + '6553f000' + '1234' + HOST + Buffer.from('sig-bytes-here').toString('hex')],
};

before(async () => {
  if (missing.length) return;
  ({ proc: dnsmasq, port } = await startDnsmasq(dir, [
    '--address=/example.test/10.1.2.3', '--address=/v6.example.test/fd00::1234',
    '--txt-record=txt.example.test,"hello world"', '--mx-host=example.test,mail.example.test,10',
    '--srv-host=_sip._tcp.example.test,sip.example.test,5060,1,2', '--cname=alias.example.test,target.example.test',
    '--host-record=target.example.test,10.9.9.9',
    '--naptr-record=naptr.example.test,10,20,U,E2U+sip,!^.*$!sip:info@example.test!,',
    '--naptr-record=naptr.example.test,100,10,S,SIP+D2U,,_sip._udp.example.test',
    // HINFO "X86" "Linux"; SSHFP 2 1 <SHA-1>; TLSA 3 1 1 <SHA-256>, as raw RDATA
    '--dns-rr=hinfo.example.test,13,03583836054c696e7578',
    '--dns-rr=sshfp.example.test,44,0201123456789abcdef67890123456789abcdef67890',
    '--dns-rr=tlsa.example.test,52,030101d2abde240d7cd3ee6b4b28c54df034b97983a1d16e8a410e4561cb106618e971',
    ...Object.entries(SVCB_RDATA).map(([name, hex]) => `--dns-rr=${name}.svc.example.test,65,${hex}`),
    ...Object.entries(OTHER_RDATA).map(([name, [, code, hex]]) => `--dns-rr=${name}.rr.example.test,${code}${hex ? `,${hex}` : ''}`),
  ]));
});

after(() => {
  dnsmasq?.kill('SIGTERM');
  if (!process.env.PANO_KEEP) rmSync(dir, { recursive: true, force: true });
});

interface DigAnswer { name: string; ttl: number; class: string; type: string; data: string }

/** Runs dig and returns its id, status and answer section (parsed from dig's own output). */
function dig(args: string[]): DigResult {
  // +nosplit: digests (SSHFP, TLSA) on one line, as the events hold them
  return parseDig(execFileSync('dig', ['-p', String(port), '@127.0.0.1', '+noall', '+comments', '+answer', '+nosplit', ...args], { encoding: 'utf8' }));
}

/** dig without blocking the event loop (needed when the server runs in this process). */
async function digAsync(args: string[], serverPort: number): Promise<DigResult> {
  const { stdout } = await execFileAsync('dig', ['-p', String(serverPort), '@127.0.0.1', '+noall', '+comments', '+answer', ...args], { encoding: 'utf8' });
  return parseDig(stdout);
}

type DigResult = { id: number; status: string; answers: DigAnswer[] };

function parseDig(out: string): DigResult {
  const h = /opcode: QUERY, status: (\w+), id: (\d+)/.exec(out);
  assert.ok(h, out);
  const answers: DigAnswer[] = [];
  for (const line of out.split('\n')) {
    if (!line || line.startsWith(';')) continue;
    const m = /^(\S+)\s+(\d+)\s+(\S+)\s+(\S+)\s+(.*)$/.exec(line);
    if (m) answers.push({ name: m[1].replace(/\.$/, ''), ttl: Number(m[2]), class: m[3], type: m[4], data: m[5].replace(/([^ ])\.$/, '$1') /* a root target (NAPTR's ".") stays */ });
  }
  return { id: Number(h[2]), status: h[1], answers };
}

test('dig over UDP and TCP against dnsmasq: every query and answer as dig saw it', { skip: missing.length ? `missing ${missing.join(', ')}` : false }, async () => {
  const file = join(dir, 'dns.pcap');
  const cap = new LoopbackCapture(file, `port ${port}`);
  await cap.start();
  const asked: Array<{ args: string[]; tcp: boolean; name: string; type: string; r: ReturnType<typeof dig> }> = [];
  try {
    for (const tcp of [false, true]) {
      for (const [name, type] of [['example.test', 'A'], ['v6.example.test', 'AAAA'], ['txt.example.test', 'TXT'], ['example.test', 'MX'], ['_sip._tcp.example.test', 'SRV'], ['alias.example.test', 'A'], ['nowhere.invalid', 'A'],
        ['naptr.example.test', 'NAPTR'], ['hinfo.example.test', 'HINFO'], ['sshfp.example.test', 'SSHFP'], ['tlsa.example.test', 'TLSA']]) {
        const args = [name, type, ...(tcp ? ['+tcp'] : [])];
        asked.push({ args, tcp, name, type, r: dig(args) });
      }
    }
  } finally {
    await cap.stop();
  }
  const { events } = parseCaptureSync(file);
  assertValidEvents(events);
  const dns = events.filter((e: any) => e.pano.protocol === 'dns') as any[];
  assert.equal(dns.length, asked.length, 'one event per dig query');
  for (const a of asked) {
    const ev = dns.find((e) => e.dns.id === a.r.id && e.dns.question.name === a.name && e.network.transport === (a.tcp ? 'tcp' : 'udp'));
    assert.ok(ev, `event for ${a.args.join(' ')}`);
    assert.equal(ev.pano.kind, 'exchange');
    assert.equal(ev.dns.question.type, a.type);
    assert.equal(ev.dns.response_code, a.r.status);
    assert.equal(ev.server.port, port);
    assert.deepEqual(
      ev.dns.answers.map((x: any) => ({ name: x.name, ttl: x.ttl, class: x.class, type: x.type, data: x.data })),
      a.r.answers,
      a.args.join(' '),
    );
  }
  // The addresses the service graph will use.
  const a = dns.find((e) => e.dns.question.name === 'example.test' && e.dns.question.type === 'A');
  assert.equal(a.dns.answers[0].data, '10.1.2.3');
});

/** The OPT pseudosection of the query `dig +qr` printed ("Sending:"): its option lines, `NAME: value`. */
function sentOptions(out: string): Array<[string, string]> {
  const sent = out.slice(out.indexOf(';; Sending:'), out.indexOf(';; QUESTION SECTION:'));
  const opt = sent.slice(sent.indexOf(';; OPT PSEUDOSECTION:'));
  return [...opt.matchAll(/^; ([A-Z-]+):[ \t]*(.*)$/gm)].filter(([, name]) => name !== 'EDNS').map(([, name, value]) => [name, value.trim()]);
}

test('dig with EDNS options (client subnet IPv4 and IPv6, NSID, cookie): the query\'s options are in the event beside the response\'s OPT record; dig and tshark agree', { skip: missing.length ? `missing ${missing.join(', ')}` : false }, async () => {
  const file = join(dir, 'edns.pcap');
  const cap = new LoopbackCapture(file, `port ${port}`);
  await cap.start();
  const asked: Array<{ tcp: boolean; id: number; options: Array<[string, string]> }> = [];
  try {
    for (const tcp of [false, true]) {
      for (const args of [['+subnet=192.0.2.0/24', '+nsid'], ['+subnet=2001:db8:4::/46'], ['+subnet=198.51.100.77/32', '+cookie']]) {
        const out = execFileSync('dig', ['-p', String(port), '@127.0.0.1', '+qr', ...args, ...(tcp ? ['+tcp'] : []), 'example.test', 'A'], { encoding: 'utf8' });
        asked.push({ tcp, id: parseDig(out).id, options: sentOptions(out) });
      }
    }
  } finally {
    await cap.stop();
  }
  const { events } = parseCaptureSync(file);
  assertValidEvents(events);
  const dns = events.filter((e: any) => e.pano.protocol === 'dns') as any[];
  assert.equal(dns.length, asked.length);
  // dig's names for the options it sent, as IANA (and the event) name them
  const IANA: Record<string, string> = { 'CLIENT-SUBNET': 'ECS', NSID: 'NSID', COOKIE: 'COOKIE' };
  for (const a of asked) {
    const ev = dns.find((e) => e.dns.id === a.id && e.network.transport === (a.tcp ? 'tcp' : 'udp'));
    assert.ok(ev, `event for id ${a.id}`);
    assert.equal(ev.pano.kind, 'exchange');
    // dnsmasq answers with an OPT record of its own, without options
    assert.deepEqual(ev.dns.edns, { udp_payload_size: 1232, version: 0, dnssec_ok: false });
    assert.ok(a.options.some(([n]) => n === 'CLIENT-SUBNET'), JSON.stringify(a.options));
    assert.deepEqual(
      ev.dns.query_edns.options.map((o: any) => [o.name, o.name === 'ECS' ? o.subnet : o.data]),
      // dig prints a cookie in hex, an NSID request empty, a subnet as address/source/scope
      a.options.map(([n, v]) => [IANA[n], v]),
    );
  }
  // tshark's reading of the subnets the queries carried
  const rows = tsharkFields(file, ['dns.id', 'dns.opt.client.family', 'dns.opt.client.netmask', 'dns.opt.client.addr4', 'dns.opt.client.addr6'], 'dns.flags.response == 0', ['-d', `tcp.port==${port},dns`, '-d', `udp.port==${port},dns`]);
  assert.equal(rows.length, asked.length);
  for (const [id, family, source, v4, v6] of rows) {
    const ev = dns.find((e) => e.dns.id === Number(id));
    const ecs = ev.dns.query_edns.options.find((o: any) => o.name === 'ECS');
    assert.equal(ecs.subnet, `${family === '1' ? v4 : v6}/${source}/0`);
  }
});

/** Listens on a free port of 127.0.0.1 and returns it. */
async function listenOnFreePort(server: Http2Server | Server): Promise<number> {
  const p = await freePort();
  await new Promise<void>((resolve) => server.listen(p, '127.0.0.1', resolve));
  return p;
}

/**
 * A DNS over HTTPS front end in cleartext HTTP/2 (RFC 8484): POST bodies and
 * GET `?dns=` queries are sent to dnsmasq over UDP and its answers returned
 * as `application/dns-message`.
 */
async function dohFrontEnd(): Promise<{ server: Http2Server; port: number }> {
  const server = createServer();
  server.on('stream', (stream, headers) => {
    const url = new URL(String(headers[':path']), 'http://doh');
    const chunks: Buffer[] = [];
    stream.on('data', (c: Buffer) => chunks.push(c));
    stream.on('end', () => {
      const query = headers[':method'] === 'GET' ? Buffer.from(url.searchParams.get('dns') ?? '', 'base64url') : Buffer.concat(chunks);
      const udp = createSocket('udp4');
      udp.once('message', (answer) => {
        udp.close();
        // dig reads the body only with a content-length.
        stream.respond({ ':status': 200, 'content-type': 'application/dns-message', 'content-length': answer.length });
        stream.end(answer);
      });
      udp.send(query, port, '127.0.0.1');
    });
  });
  return { server, port: await listenOnFreePort(server) };
}

test('dig over DNS over HTTPS (cleartext HTTP/2, POST and GET): the HTTP exchanges carry the DNS answers dig saw', { skip: missing.length ? `missing ${missing.join(', ')}` : false }, async () => {
  const doh = await dohFrontEnd();
  const file = join(dir, 'doh.pcap');
  const cap = new LoopbackCapture(file, `tcp port ${doh.port}`);
  await cap.start();
  const asked: Array<{ method: string; name: string; type: string; r: DigResult }> = [];
  try {
    for (const [mode, method] of [['+http-plain', 'POST'], ['+http-plain-get', 'GET']]) {
      for (const [name, type] of [['example.test', 'A'], ['txt.example.test', 'TXT'], ['alias.example.test', 'A'], ['nowhere.invalid', 'A']]) {
        asked.push({ method, name, type, r: await digAsync([mode, name, type], doh.port) });
      }
    }
  } finally {
    await cap.stop();
    doh.server.close();
  }
  const { events } = parseCaptureSync(file);
  assertValidEvents(events);
  const exchanges = events.filter((e: any) => e.pano.protocol === 'http2') as any[];
  assert.equal(exchanges.length, asked.length, 'one HTTP/2 exchange per dig query');
  for (const a of asked) {
    const ev = exchanges.find((e) => e.http.request.method === a.method && e.dns?.question.name === a.name && e.dns.question.type === a.type);
    assert.ok(ev, `DoH event for ${a.method} ${a.name} ${a.type}`);
    assert.equal(ev.http.response.status_code, 200);
    assert.equal(ev.dns.id, a.r.id);
    assert.equal(ev.dns.response_code, a.r.status);
    assert.deepEqual(
      ev.dns.answers.map((x: any) => ({ name: x.name, ttl: x.ttl, class: x.class, type: x.type, data: x.data })),
      a.r.answers,
      `${a.method} ${a.name} ${a.type}`,
    );
    assert.equal(ev.pano.flags, undefined);
  }
});

/**
 * A DNS server over TCP that answers each query with one A record (192.0.2.x,
 * x the id's low byte), written as its length prefix, then the first 7 bytes
 * of the message, then the rest: three writes on a socket without Nagle's
 * delay, so the answer spans three segments as a large answer does on a
 * network whose MSS is smaller than it.
 */
async function splittingServer(): Promise<{ server: Server; port: number }> {
  const server = createTcpServer((s) => {
    s.setNoDelay(true);
    let held = Buffer.alloc(0);
    s.on('data', (d: Buffer) => {
      held = Buffer.concat([held, d]);
      while (held.length >= 2 && held.length >= 2 + held.readUInt16BE(0)) {
        const q = held.subarray(2, 2 + held.readUInt16BE(0));
        held = held.subarray(2 + q.length);
        let end = 12;
        while (q[end]) end += q[end] + 1;
        end += 5; // the root label, QTYPE, QCLASS
        const r = Buffer.concat([q.subarray(0, end), Buffer.from([0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 192, 0, 2, q[1]])]);
        r[2] = 0x84 | (q[2] & 1); // QR AA, RD echoed
        r[3] = 0;
        r.writeUInt16BE(1, 6);
        r.writeUInt16BE(0, 8);
        r.writeUInt16BE(0, 10); // no OPT record back
        const len = Buffer.alloc(2);
        len.writeUInt16BE(r.length);
        s.write(len);
        setImmediate(() => {
          s.write(r.subarray(0, 7));
          setImmediate(() => s.write(r.subarray(7)));
        });
      }
    });
  });
  return { server, port: await listenOnFreePort(server) };
}

test('dig over TCP, each answer over three segments: the exchange runs from the query\'s first byte to the answer\'s last, as tshark reassembles them', { skip: missing.length ? `missing ${missing.join(', ')}` : false }, async () => {
  const srv = await splittingServer();
  const file = join(dir, 'split.pcap');
  const cap = new LoopbackCapture(file, `tcp port ${srv.port}`);
  await cap.start();
  const asked: DigResult[] = [];
  try {
    for (const name of ['one.example.test', 'two.example.test', 'three.example.test']) asked.push(await digAsync(['+tcp', name, 'A'], srv.port));
  } finally {
    await cap.stop();
    srv.server.close();
  }
  const { events } = parseCaptureSync(file);
  assertValidEvents(events);
  const dns = events.filter((e: any) => e.pano.protocol === 'dns') as any[];
  assert.equal(dns.length, asked.length);
  // tshark: the frame each message ends in (a reassembled answer is shown in its last segment), and how many segments it took
  const ns = (t: string) => t.replace('.', '');
  const rows = tsharkFields(file, ['dns.id', 'dns.flags.response', 'frame.time_epoch', 'tcp.reassembled_in', 'tcp.segment.count'], 'dns', ['-d', `tcp.port==${srv.port},dns`, '-o', 'tcp.desegment_tcp_streams:TRUE']);
  for (const a of asked) {
    const ev = dns.find((e) => e.dns.id === a.id);
    assert.ok(ev, `event for id ${a.id}`);
    assert.equal(ev.pano.kind, 'exchange');
    assert.deepEqual(ev.dns.answers.map((x: any) => x.data), a.answers.map((x) => x.data));
    const [query] = rows.filter(([id, r]) => Number(id) === a.id && r === '0');
    const [answer] = rows.filter(([id, r]) => Number(id) === a.id && r === '1');
    assert.equal(answer[4], '3', 'the answer took three segments'); // the premise of the test
    assert.equal(ev.pano.start_ns, ns(query[2]));
    assert.equal(ev.pano.end_ns, ns(answer[2]));
  }
});

test('dig and records dig calls malformed (HTTPS with SvcParams of the wrong length or out of order, RFC 9460; SOA with bytes after its numbers, HINFO of one string, CAA with an empty or non-alphanumeric tag, TXT without a string; NSEC and NSEC3 type bitmaps out of order, ending in zero or missing, an NSEC3 without a next hash, NSEC3PARAM with bytes after it): kept as hex and flagged; well-formed ones (also NSEC, NSEC3, NSEC3PARAM, SIG) as dig prints them', { skip: missing.length ? `missing ${missing.join(', ')}` : false }, async () => {
  const file = join(dir, 'svcb.pcap');
  const cap = new LoopbackCapture(file, `port ${port}`);
  await cap.start();
  const records: Array<[name: string, type: string, hex: string]> = [
    ...Object.entries(SVCB_RDATA).map(([name, hex]): [string, string, string] => [`${name}.svc.example.test`, 'HTTPS', hex]),
    ...Object.entries(OTHER_RDATA).map(([name, [type, , hex]]): [string, string, string] => [`${name}.rr.example.test`, type, hex]),
  ];
  const said: Record<string, string> = {};
  try {
    for (const [name, type] of records) {
      // for a record its parser rejects, dig prints "Got bad packet: FORMERR" (or "extra input data"), or warns that the message is malformed
      const r = spawnSync('dig', ['-p', String(port), '@127.0.0.1', '+short', '+nosplit', '+tries=1', name, type], { encoding: 'utf8' });
      said[name] = (r.stdout + r.stderr).trim();
    }
  } finally {
    await cap.stop();
  }
  const { events } = parseCaptureSync(file);
  assertValidEvents(events);
  for (const [name, , hex] of records) {
    const evs = (events as any[]).filter((e) => e.dns?.question?.name === name);
    assert.ok(evs.length > 0, name);
    for (const ev of evs) {
      assert.equal(ev.dns.answers.length, 1, name);
      if (/(^|-)good$/.test(name.replace(/\.(rr|svc)\.example\.test$/, ''))) {
        assert.equal(ev.dns.answers[0].data, said[name].replace(/([^ ])\.( |$)/g, '$1$2') /* names without dig's trailing dot; the root "." stays */, name);
        assert.equal(ev.pano.flags, undefined);
      } else {
        assert.match(said[name], /FORMERR|extra input data|malformed/, `dig takes ${name} for malformed`);
        assert.equal(ev.dns.answers[0].data, hex, name);
        assert.deepEqual(ev.pano.flags, ['undecodable'], name);
      }
    }
  }
});

test('dig over TCP to a server that takes the query and never answers: the query is unanswered with timeout once packet time passes it, one event, as tshark saw the query', { skip: missing.length ? `missing ${missing.join(', ')}` : false }, async () => {
  // half-open allowed: dig's FIN gets no FIN back, the connection is not over within the capture
  const held: Array<import('node:net').Socket> = [];
  const server = createTcpServer({ allowHalfOpen: true }, (s) => {
    held.push(s);
    s.resume();
  });
  const silentPort = await listenOnFreePort(server);
  const file = join(dir, 'silent.pcap');
  const cap = new LoopbackCapture(file, `tcp port ${silentPort}`);
  await cap.start();
  let said = '';
  try {
    // dig gives up after 2 s and closes its side; the parser's timeout is 1 s of packet time
    said = await new Promise<string>((resolve) => execFile('dig', ['-p', String(silentPort), '@127.0.0.1', '+tcp', '+tries=1', '+time=2', 'silent.example.test', 'A'], { encoding: 'utf8' }, (_e, out, err) => resolve(out + err)));
  } finally {
    await cap.stop();
    for (const s of held) s.destroy();
    server.close();
  }
  assert.match(said, /timed out/, 'dig got no answer'); // the premise of the test
  const { events } = parseCaptureSync(file, { parse: { responseTimeoutNs: 1_000_000_000n } });
  assertValidEvents(events);
  const dns = events.filter((e: any) => e.pano.protocol === 'dns') as any[];
  const rows = tsharkFields(file, ['dns.id', 'dns.flags.response', 'frame.time_epoch'], 'dns', ['-d', `tcp.port==${silentPort},dns`]);
  assert.equal(rows.length, 1, 'tshark sees the one query and no response');
  assert.equal(rows[0][1], '0');
  assert.deepEqual(dns.map((e) => [e.pano.kind, e.dns.id, e.dns.question.name, e.pano.flags, e.pano.start_ns]), [
    ['unanswered', Number(rows[0][0]), 'silent.example.test', ['timeout'], rows[0][2].replace('.', '')],
  ]);
});

test('dig against a server answering with Extended DNS Errors (every code RFC 8914 registers, those registered since, one unregistered, one with UTF-8 text): codes, names and text as dig and tshark read them', { skip: missing.length ? `missing ${missing.join(', ')}` : false }, async () => {
  // dnsmasq sends no EDE option in any answer we could make it give, so the answer is built here (RFC 8914 §2)
  const text = Buffer.from('blocked by policy für x', 'utf8');
  const ede = (code: number, extra = Buffer.alloc(0)) => {
    const b = Buffer.alloc(6);
    b.writeUInt16BE(15, 0);
    b.writeUInt16BE(2 + extra.length, 2);
    b.writeUInt16BE(code, 4);
    return Buffer.concat([b, extra]);
  };
  const options = Buffer.concat([...Array.from({ length: 32 }, (_, code) => ede(code)), ede(18, text)]);
  const server = createSocket('udp4');
  server.on('message', (q, from) => {
    let end = 12;
    while (q[end]) end += q[end] + 1;
    end += 5; // the root label, QTYPE, QCLASS
    const head = Buffer.from(q.subarray(0, 12));
    head.writeUInt16BE(0x8185, 2); // QR RD RA, REFUSED
    head.writeUInt16BE(0, 6);
    head.writeUInt16BE(0, 8);
    head.writeUInt16BE(1, 10);
    const opt = Buffer.alloc(11);
    opt.writeUInt16BE(41, 1);
    opt.writeUInt16BE(1232, 3);
    opt.writeUInt16BE(options.length, 9);
    server.send(Buffer.concat([head, q.subarray(12, end), opt, options]), from.port, from.address);
  });
  const edePort = await freePort();
  await new Promise<void>((resolve) => server.bind(edePort, '127.0.0.1', resolve));
  const file = join(dir, 'ede.pcap');
  const cap = new LoopbackCapture(file, `udp port ${edePort}`);
  await cap.start();
  let said = '';
  try {
    said = (await execFileAsync('dig', ['-p', String(edePort), '@127.0.0.1', '+tries=1', 'ede.example.test', 'A'], { encoding: 'utf8' })).stdout;
  } finally {
    await cap.stop();
    server.close();
  }
  const { events } = parseCaptureSync(file);
  assertValidEvents(events);
  const dns = events.filter((e: any) => e.pano.protocol === 'dns') as any[];
  assert.equal(dns.length, 1);
  assert.equal(dns[0].dns.response_code, 'REFUSED');
  const got = dns[0].dns.edns.options as any[];
  // dig: "; EDE: 18 (Prohibited): (text)", the name only for a code it knows
  const digSaw = [...said.matchAll(/^; EDE: (\d+)(?: \(([^)]*)\))?(?:: \((.*)\))?$/gm)].map((m) => [Number(m[1]), m[2], m[3]]);
  assert.equal(digSaw.length, 33, said);
  // BIND's names differ from RFC 8914's in two: §4.1 "Other Error", §4.20 "Stale NXDomain Answer"
  const BIND: Record<number, string> = { 0: 'Other', 19: 'Stale NXDOMAIN Answer' };
  // dig 9.18 names RFC 8914's codes only: past 24 it prints the number alone (25-30 are checked by name in message.test.ts)
  const digNames = (o: any) => (o.info_code === undefined || o.info_code > 24 ? undefined : (BIND[o.info_code] ?? o.info_code_name));
  assert.deepEqual(got.map((o) => [o.info_code, digNames(o), o.extra_text]), digSaw);
  assert.deepEqual(got.filter((o) => o.info_code_name === undefined).map((o) => o.info_code), [31]);
  // tshark's reading of the same bytes
  const [row] = tsharkFields(file, ['dns.opt.ext_error.info_code', 'dns.opt.ext_error.extra_text'], 'dns.flags.response == 1', ['-d', `udp.port==${edePort},dns`]);
  assert.deepEqual(row[0].split(',').map(Number), got.map((o) => o.info_code));
  assert.deepEqual([row[1]], got.filter((o) => o.extra_text !== undefined).map((o) => o.extra_text));
  assert.equal(got[32].extra_text, 'blocked by policy für x');
});

const KEY = `hmac-sha256:tkey.example:${Buffer.from('a shared secret of 32 bytes.....').toString('base64')}`;
const NSUPDATE = ['/usr/bin/nsupdate'].filter((p) => !existsSync(p));

test('nsupdate (RFC 2136 UPDATE, TSIG-signed, over UDP and TCP) and dig -y: the prerequisites, updates and TSIG the client sent are in the event, as nsupdate was told, dig printed and tshark reads them', { skip: missing.length || NSUPDATE.length ? `missing ${[...missing, ...NSUPDATE].join(', ')}` : false }, async () => {
  const file = join(dir, 'update.pcap');
  const cap = new LoopbackCapture(file, `port ${port}`);
  await cap.start();
  let digOut = '';
  try {
    // dig shows the query it sent (+qr), TSIG pseudosection included; dnsmasq answers unsigned
    digOut = spawnSync('dig', ['-p', String(port), '@127.0.0.1', '-y', KEY, '+qr', '+nosplit', 'example.test', 'A'], { encoding: 'utf8' }).stdout;
    for (const tcp of [false, true]) {
      const script = [
        `server 127.0.0.1 ${port}`,
        'zone example.test',
        'prereq nxrrset new.example.test A',
        'update delete old.example.test A',
        'update add new.example.test 300 A 192.0.2.7',
        'update add new.example.test 300 TXT "owner=alice@example.org"',
        'send',
        '',
      ].join('\n');
      // dnsmasq takes no updates: it answers REFUSED, and nsupdate exits 2
      const r = spawnSync('nsupdate', ['-y', KEY, ...(tcp ? ['-v'] : [])], { input: script, encoding: 'utf8', timeout: 20_000 });
      assert.match(r.stderr, /REFUSED/, r.stderr);
    }
  } finally {
    await cap.stop();
  }
  const { events } = parseCaptureSync(file);
  assertValidEvents(events);
  const dns = events.filter((e: any) => e.pano.protocol === 'dns') as any[];
  assert.equal(dns.length, 3);

  // dig's query: its TSIG as dig printed it ("tkey.example. 0 ANY TSIG hmac-sha256. 1795957742 300 32 <MAC> 41897 NOERROR 0")
  const sent = digOut.slice(digOut.indexOf(';; Sending:'), digOut.indexOf(';; Got answer:'));
  const tsigLine = /^(\S+)\s+0\s+ANY\s+TSIG\s+(.*?)\s*$/m.exec(sent.slice(sent.indexOf(';; TSIG PSEUDOSECTION:')));
  assert.ok(tsigLine, digOut);
  const query = dns.find((e) => e.dns.opcode === 'QUERY');
  assert.equal(query.dns.question.name, 'example.test');
  assert.deepEqual(query.dns.query_additional, [{ name: tsigLine[1].replace(/\.$/, ''), type: 'TSIG', class: 'ANY', ttl: 0, data: tsigLine[2].replace(/^(\S+)\./, '$1') }]);
  assert.equal(query.dns.answers[0].data, '10.1.2.3');

  // the updates: what nsupdate was told, in RFC 2136's sections
  const updates = dns.filter((e) => e.dns.opcode === 'UPDATE');
  assert.deepEqual(updates.map((e) => e.network.transport).sort(), ['tcp', 'udp']);
  for (const e of updates) {
    assert.equal(e.pano.kind, 'exchange');
    assert.equal(e.dns.response_code, 'REFUSED');
    assert.deepEqual(e.dns.question, { name: 'example.test', type: 'SOA', class: 'IN' });
    assert.deepEqual(e.dns.query_answers, [{ name: 'new.example.test', type: 'A', class: 'NONE', ttl: 0, data: '' }]);
    assert.deepEqual(e.dns.query_authority, [
      { name: 'old.example.test', type: 'A', class: 'ANY', ttl: 0, data: '' },
      { name: 'new.example.test', type: 'A', class: 'IN', ttl: 300, data: '192.0.2.7' },
      { name: 'new.example.test', type: 'TXT', class: 'IN', ttl: 300, data: '"owner=alice@example.org"' },
    ]);
    const [tsig] = e.dns.query_additional;
    assert.deepEqual([tsig.name, tsig.type, tsig.class, tsig.ttl], ['tkey.example', 'TSIG', 'ANY', 0]);
    const f = tsig.data.split(' ');
    assert.equal(f.length, 8, tsig.data);
    assert.deepEqual([f[0], f[2], f[3], f[5], f[6], f[7]], ['hmac-sha256', '300', '32', String(e.dns.id), 'NOERROR', '0']);
    assert.equal(Buffer.from(f[4], 'base64').length, 32);
    // signed within the minute of the test
    assert.ok(Math.abs(Number(f[1]) - Date.now() / 1000) < 60, f[1]);
  }

  // tshark: every record of the update requests (all sections in order; they carry no OPT record, which
  // tshark lists among them without a class or TTL) and the TSIG fields
  const CLASS: Record<string, string> = { '0x0001': 'IN', '0x00fe': 'NONE', '0x00ff': 'ANY' };
  const TYPE: Record<string, string> = { '1': 'A', '16': 'TXT', '250': 'TSIG' };
  const rows = tsharkFields(file, ['dns.id', 'dns.resp.name', 'dns.resp.type', 'dns.resp.class', 'dns.resp.ttl', 'dns.tsig.fudge', 'dns.tsig.mac_size', 'dns.tsig.original_id', 'dns.tsig.error', 'dns.tsig.other_len'], 'dns.flags.response == 0 && dns.flags.opcode == 5', ['-d', `tcp.port==${port},dns`, '-d', `udp.port==${port},dns`]);
  assert.equal(rows.length, 2);
  for (const [id, names, types, classes, ttls, fudge, macSize, originalId, error, otherLen] of rows) {
    const e = dns.find((x) => x.dns.id === Number(id));
    const records = [...(e.dns.query_answers ?? []), ...(e.dns.query_authority ?? []), ...e.dns.query_additional];
    assert.deepEqual(records.map((r: any) => [r.name, r.type, r.class, r.ttl]), names.split(',').map((n, i) => [n, TYPE[types.split(',')[i]], CLASS[classes.split(',')[i]], Number(ttls.split(',')[i])]));
    const f = records.at(-1).data.split(' ');
    assert.deepEqual([f[2], f[3], f[5], f[6] === 'NOERROR' ? '0' : f[6], f[7]], [fudge, macSize, originalId, error, otherLen]);
  }
});
