// An SOA record's RNAME (RFC 1035 §3.3.13) is the zone's responsible mailbox written as a name (and an RP
// record's first field, RFC 1183, a responsible person's): the
// first label the local part (its dots escaped), the rest the domain. pano-pii reports it as the e-mail
// address it is, hashed as `local@domain` so it joins the same address written so elsewhere. A real
// dnsmasq serves an SOA whose mailbox it was given as `hostmaster@example.test` (dig reads its answer
// independently); an RNAME with an escaped dot is built by hand, as no server at hand writes one.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHmac } from 'node:crypto';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { LoopbackCapture } from '../helpers/loopback-capture.js';
import { dnsmasqForTests } from '../helpers/dnsmasq.js';
import { runBin } from '../helpers/bin.js';
import { pcapng, udpFrame } from '../helpers/synth.js';

const missing = ['/usr/sbin/dnsmasq', '/usr/bin/dig', '/usr/bin/tcpdump'].filter((p) => !existsSync(p));
const key = Buffer.from('0123456789abcdef0123456789abcdef');
const token = (type: string, v: string) => `<${type}:${createHmac('sha256', key).update(type).update('\0').update(v).digest('hex').slice(0, 8)}>`;
const { dir, port: dnsPort } = dnsmasqForTests('pano-pii-soa-', ['--auth-server=ns1.example.test,lo', '--auth-zone=example.test', '--auth-soa=7,hostmaster@example.test', '--host-record=www.example.test,192.0.2.9',
  // RP (RFC 1183 §2.2): mailbox john.doe@example.test (the label `john.doe`, a dot inside it), TXT name info.example.test
  '--dns-rr=rp.example.test,17,086a6f686e2e646f65076578616d706c65047465737400' + '04696e666f076578616d706c65047465737400'], missing.length > 0);

/** pano-parse of capture `file`, then pano-pii with the key and `args` over its events and the `extra` NDJSON lines. */
function parseThenPii(file: string, args: string[], extra: object[] = []): any[] {
  const parsed = runBin('pano-parse', [file]);
  assert.equal(parsed.status, 0, parsed.stderr);
  const keyFile = join(dir, 'key');
  writeFileSync(keyFile, key, { mode: 0o600 });
  const input = parsed.stdout + extra.map((e) => JSON.stringify(e) + '\n').join('');
  const r = runBin('pano-pii', ['--key-file', keyFile, ...args], { input });
  assert.equal(r.status, 0, r.stderr);
  return r.stdout.trim().split('\n').map((l) => JSON.parse(l));
}

/** An event of free text holding `text`, for comparing tokens. */
const textEvent = (text: string) => ({ pano: { v: 1, id: '9-1', kind: 'exchange', protocol: 'http' }, http: { request: { body: { text } } } });

test('the RNAME of a real SOA answer (dnsmasq, mailbox hostmaster@example.test) is an e-mail finding, hashed as the address in text', { skip: missing.length ? `missing ${missing.join(', ')}` : false }, async () => {
  const port = dnsPort();
  const file = join(dir, 'soa.pcap');
  const cap = new LoopbackCapture(file, `udp port ${port}`);
  await cap.start();
  let digData: string;
  try {
    digData = execFileSync('dig', ['+short', '+norec', '-p', String(port), '@127.0.0.1', 'example.test', 'SOA'], { encoding: 'utf8' }).trim();
  } finally {
    await cap.stop();
  }
  // dig: dnsmasq writes the mailbox as a name, its `@` the first dot
  assert.match(digData, /^ns1\.example\.test\. hostmaster\.example\.test\. 7 /);
  const rnameAt = 'ns1.example.test '.length;
  const found = parseThenPii(file, []).filter((e) => e.pano.protocol === 'dns');
  assert.equal(found.length, 1);
  assert.equal(found[0].dns.answers[0].data, digData.replace(/\. /g, ' '));
  assert.deepEqual(found[0].pii, [{ type: 'email', path: 'dns.answers[0].data', start: rnameAt, end: rnameAt + 'hostmaster.example.test'.length, confidence: 0.9, detector: 'regex', validator: 'rfc1035-rname' }]);
  const [dns, text] = parseThenPii(file, ['--redact', 'hash'], [textEvent('hostmaster@example.test')]).slice(-2);
  assert.equal(dns.dns.answers[0].data.split(' ')[1], token('email', 'hostmaster@example.test'));
  assert.equal(text.http.request.body.text, token('email', 'hostmaster@example.test'));
});

test('an RNAME with an escaped dot (john\\.doe.example.org) is john.doe@example.org: hashed as it, masked keeping its escape, its record data null under drop', () => {
  const u16 = (n: number) => Buffer.from([n >> 8, n & 0xff]);
  const u32 = (n: number) => Buffer.from([n >>> 24, (n >> 16) & 0xff, (n >> 8) & 0xff, n & 0xff]);
  const labels = (...l: string[]) => Buffer.concat([...l.map((x) => Buffer.concat([Buffer.from([x.length]), Buffer.from(x)])), Buffer.from([0])]);
  const zone = labels('example', 'org');
  // RDATA: MNAME ns1.example.org, RNAME with the label `john.doe` (a dot inside it), then five numbers
  const rdata = Buffer.concat([labels('ns1', 'example', 'org'), labels('john.doe', 'example', 'org'), u32(2026112901), u32(7200), u32(900), u32(1209600), u32(300)]);
  const q = Buffer.concat([u16(9), u16(0x0100), u16(1), u16(0), u16(0), u16(0), zone, u16(6), u16(1)]);
  const r = Buffer.concat([u16(9), u16(0x8580), u16(1), u16(1), u16(0), u16(0), zone, u16(6), u16(1), zone, u16(6), u16(1), u32(300), u16(rdata.length), rdata]);
  const client = { addr: '192.0.2.1', port: 40000 };
  const server = { addr: '192.0.2.53', port: 53 };
  const t = 1_700_000_000_000_000_000n;
  const file = join(dir, 'rname.pcapng');
  writeFileSync(file, pcapng([{ tsNs: t, data: udpFrame(client, server, q) }, { tsNs: t + 1000n, data: udpFrame(server, client, r) }]));
  const data = 'ns1.example.org john\\.doe.example.org 2026112901 7200 900 1209600 300';
  const [found] = parseThenPii(file, []);
  assert.equal(found.dns.answers[0].data, data);
  assert.deepEqual(found.pii.map((f: any) => [f.type, f.path, data.slice(f.start, f.end), f.validator]), [['email', 'dns.answers[0].data', 'john\\.doe.example.org', 'rfc1035-rname']]);
  const [hashed, text] = parseThenPii(file, ['--redact', 'hash'], [textEvent('john.doe@example.org')]);
  assert.equal(hashed.dns.answers[0].data, `ns1.example.org ${token('email', 'john.doe@example.org')} 2026112901 7200 900 1209600 300`);
  assert.equal(text.http.request.body.text, token('email', 'john.doe@example.org'));
  const [masked] = parseThenPii(file, ['--redact', 'mask']);
  assert.equal(masked.dns.answers[0].data, 'ns1.example.org <email:****\\.***.*******.***> 2026112901 7200 900 1209600 300');
  const [dropped] = parseThenPii(file, ['--redact', 'drop']);
  assert.equal(dropped.dns.answers[0].data, null);
  assert.equal(dropped.dns.answers[0].type, 'SOA');
});

test('the mailbox of a real RP answer (dnsmasq, john\\.doe.example.test) is john.doe@example.test: an e-mail finding, hashed as the address in text; the TXT name after it is not', { skip: missing.length ? `missing ${missing.join(', ')}` : false }, async () => {
  const port = dnsPort();
  const file = join(dir, 'rp.pcap');
  const cap = new LoopbackCapture(file, `udp port ${port}`);
  await cap.start();
  let digData: string;
  try {
    digData = execFileSync('dig', ['+short', '+norec', '-p', String(port), '@127.0.0.1', 'rp.example.test', 'RP'], { encoding: 'utf8' }).trim();
  } finally {
    await cap.stop();
  }
  assert.equal(digData, 'john\\.doe.example.test. info.example.test.');
  const found = parseThenPii(file, []).filter((e) => e.pano.protocol === 'dns');
  assert.equal(found.length, 1);
  assert.equal(found[0].dns.answers[0].data, 'john\\.doe.example.test info.example.test');
  assert.deepEqual(found[0].pii, [{ type: 'email', path: 'dns.answers[0].data', start: 0, end: 'john\\.doe.example.test'.length, confidence: 0.9, detector: 'regex', validator: 'rfc1183-rp' }]);
  const [dns, text] = parseThenPii(file, ['--redact', 'hash'], [textEvent('john.doe@example.test')]).slice(-2);
  assert.equal(dns.dns.answers[0].data, `${token('email', 'john.doe@example.test')} info.example.test`);
  assert.equal(text.http.request.body.text, token('email', 'john.doe@example.test'));
});
