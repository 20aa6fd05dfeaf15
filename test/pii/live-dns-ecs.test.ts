// A DNS client subnet (EDNS Client Subnet, RFC 7871) is the client's own network: dig sends one to a
// local dnsmasq, tcpdump captures it, pano-parse writes it, and pano-pii reports it (the subnet and
// the address bytes of the option's hex data) and redacts it under every mode, while the answer's
// address, the server's own, stays. tshark reads the subnets independently.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHmac } from 'node:crypto';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { EventScanner, type RedactMode } from '@panopticon/pii';
import { LoopbackCapture } from '../helpers/loopback-capture.js';
import { dnsmasqForTests } from '../helpers/dnsmasq.js';
import { parseCaptureSync } from '../helpers/parse.js';
import { tsharkFields } from '../helpers/tshark.js';

const missing = ['/usr/sbin/dnsmasq', '/usr/bin/dig', '/usr/bin/tcpdump', '/usr/bin/tshark'].filter((p) => !existsSync(p));
const key = Buffer.from('0123456789abcdef0123456789abcdef');
const token = (type: string, v: string) => `<${type}:${createHmac('sha256', key).update(type).update('\0').update(v).digest('hex').slice(0, 8)}>`;
const { dir, port: dnsPort } = dnsmasqForTests('pano-pii-ecs-', ['--address=/example.test/192.0.2.55', '--address=/example.test/2001:db8::55'], missing.length > 0);

test('a client subnet dig sends (IPv4 and IPv6) is found in the subnet and in the option data, redacted under every mode; the answer is not', { skip: missing.length ? `missing ${missing.join(', ')}` : false }, async () => {
  const port = dnsPort();
  const file = join(dir, 'ecs.pcap');
  const cap = new LoopbackCapture(file, `udp port ${port}`);
  await cap.start();
  try {
    execFileSync('dig', ['-p', String(port), '@127.0.0.1', '+subnet=203.0.113.7/24', 'www.example.test', 'A'], { stdio: 'pipe' });
    execFileSync('dig', ['-p', String(port), '@127.0.0.1', '+subnet=2001:db8:1::7/48', 'www.example.test', 'AAAA'], { stdio: 'pipe' });
  } finally {
    await cap.stop();
  }
  // tshark: family, source prefix and address of each query's subnet (dig sends the address cut to its prefix)
  const rows = tsharkFields(file, ['dns.opt.client.family', 'dns.opt.client.netmask', 'dns.opt.client.addr4', 'dns.opt.client.addr6'], 'dns.flags.response == 0', ['-d', `udp.port==${port},dns`]);
  const subnets = rows.map(([family, source, v4, v6]) => [family === '1' ? 'ipv4' : 'ipv6', `${family === '1' ? v4 : v6}/${source}`]);
  assert.deepEqual(subnets, [['ipv4', '203.0.113.0/24'], ['ipv6', '2001:db8:1::/48']]);
  const fresh = () => parseCaptureSync(file).events.filter((e: any) => e.pano.protocol === 'dns') as any[];
  // the address bytes of the option's data (family, source, scope, then ceil(source/8) bytes): cb0071, 20010db80001
  const dataBytes = ['cb0071', '20010db80001'];

  const s = new EventScanner({ key });
  const evs = fresh();
  assert.equal(evs.length, 2);
  evs.forEach((ev, i) => {
    const [type, subnet] = subnets[i]!;
    const opt = ev.dns.query_edns.options.findIndex((o: any) => o.name === 'ECS');
    assert.equal(ev.dns.query_edns.options[opt].subnet, `${subnet}/0`);
    const found = s.finish(s.collect(ev)).map((f) => [f.type, f.path, ev.dns.query_edns.options[opt][f.path.split('.').pop()!].slice(f.start, f.end), f.validator]);
    assert.deepEqual(found, [
      [type, `dns.query_edns.options[${opt}].data`, dataBytes[i], 'rfc7871'],
      [type, `dns.query_edns.options[${opt}].subnet`, subnet, type === 'ipv4' ? 'ipv4-octets' : 'rfc4291'],
    ]);
  });

  const redacted = (mode: RedactMode) => {
    const r = new EventScanner({ key, redact: mode });
    return fresh().map((ev) => {
      r.finish(r.collect(ev));
      return { ecs: ev.dns.query_edns.options.find((o: any) => o.name === 'ECS'), answer: ev.dns.answers[0].data };
    });
  };
  const mask = redacted('mask');
  assert.deepEqual(mask.map((m) => [m.ecs.subnet, m.ecs.data, m.answer]), [
    ['<ipv4:***.*.***.*/**>/0', '00011800<ipv4:******>', '192.0.2.55'],
    ['<ipv6:****:***:*::/**>/0', '00023000<ipv6:************>', '2001:db8::55'],
  ]);
  // the data's bytes hash as the subnet they are, so the two join
  const hash = redacted('hash');
  assert.deepEqual(hash.map((m) => [m.ecs.subnet, m.ecs.data]), [
    [`${token('ipv4', '203.0.113.0/24')}/0`, `00011800${token('ipv4', '203.0.113.0/24')}`],
    [`${token('ipv6', '2001:db8:1::/48')}/0`, `00023000${token('ipv6', '2001:db8:1::/48')}`],
  ]);
  const drop = redacted('drop');
  assert.deepEqual(drop.map((m) => [m.ecs, m.answer]), [
    [{ code: 8, name: 'ECS', data: null }, '192.0.2.55'],
    [{ code: 8, name: 'ECS', data: null }, '2001:db8::55'],
  ]);
});

test('a subnet echoed in the response (dns.edns) is found too; a source prefix of 0 (the client opting out, RFC 7871 7.1.2) and a subnet outside ECS are not', () => {
  const ev = (options: unknown[]) => ({
    pano: { v: 1, id: '1-1', kind: 'exchange', protocol: 'dns' },
    dns: { question: { name: 'example.test' }, answers: [{ type: 'A', data: '192.0.2.55' }], edns: { udp_payload_size: 1232, version: 0, dnssec_ok: false, options } },
  }) as Record<string, any>;
  const s = new EventScanner({ key });
  const paths = (e: Record<string, any>) => s.finish(s.collect(e)).map((f) => `${f.type} ${f.path} ${f.start}-${f.end}`);
  assert.deepEqual(paths(ev([{ code: 8, name: 'ECS', data: '00011818c63364', subnet: '198.51.100.0/24/24' }])), [
    'ipv4 dns.edns.options[0].data 8-14', 'ipv4 dns.edns.options[0].subnet 0-15',
  ]);
  assert.deepEqual(paths(ev([{ code: 8, name: 'ECS', data: '00010000', subnet: '0.0.0.0/0/0' }])), []);
  // a malformed option's data (shorter than its prefix needs) is left alone; the subnet is still found
  assert.deepEqual(paths(ev([{ code: 8, name: 'ECS', data: '00011800cb00', subnet: '203.0.113.0/24/0' }])), ['ipv4 dns.edns.options[0].subnet 0-14']);
  // another option that happens to hold such text is not a client subnet
  assert.deepEqual(paths(ev([{ code: 65001, name: '65001', data: '00', subnet: '203.0.113.0/24/0' }])), []);
});
