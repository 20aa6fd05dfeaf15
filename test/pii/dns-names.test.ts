// DNS names and record data are written in presentation format (pano-events(5)): `@` and `.` inside a
// label as `\@` and `\.`, bytes past ASCII and spaces as `\DDD`. An address in a label
// (`alice\@corp.example.com`) holds no `@` as written: the rules read the bytes it stands for, the
// findings' offsets are into the text as written, and redaction replaces exactly the escaped text,
// leaving a name dig still reads. The live test sends such names with dig to a local dnsmasq,
// captures them with tcpdump, and runs the capture through pano-parse and pano-pii (the commands).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { createHmac } from 'node:crypto';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { EventScanner, type RedactMode } from '@panopticon/pii';
import { LoopbackCapture } from '../helpers/loopback-capture.js';
import { dnsmasqForTests } from '../helpers/dnsmasq.js';
import { runBin } from '../helpers/bin.js';
import { tsharkFields } from '../helpers/tshark.js';
import { assertValidEvents } from '../helpers/parse.js';

const key = Buffer.from('0123456789abcdef0123456789abcdef');
const hmac8 = (type: string, v: string) => createHmac('sha256', key).update(type).update('\0').update(v).digest('hex').slice(0, 8);

/**
 * The question dig would send for `name`, as dig prints it (`+qr`, before it sends): dig's own reading
 * of presentation text, the oracle for what a redacted name still is. Throws when dig calls it no
 * legal name.
 */
function digReads(name: string): string {
  // port 9 (discard) on loopback: nothing answers; the question is printed before the send
  const r = spawnSync('dig', ['+qr', '+noall', '+question', '+time=1', '+tries=1', '-p', '9', '@127.0.0.1', name], { encoding: 'utf8' });
  const line = r.stdout.split('\n').find((l) => l.startsWith(';') && !l.startsWith(';;'));
  if (!line) throw new Error(`dig does not read ${name}: ${r.stderr.trim()}`);
  return line.slice(1).split(/\s/)[0]!;
}

const dnsEvent = (dns: Record<string, unknown>) => ({ pano: { v: 1, id: '1-1', kind: 'exchange', protocol: 'dns' }, dns }) as Record<string, any>;

test('an address written in labels with escapes is found in the bytes it stands for, at its offsets as written', () => {
  const ev = dnsEvent({
    question: { name: 'john\\.doe\\@example.com', type: 'A', class: 'IN' },
    answers: [
      { name: 'alice\\@corp.example.com', type: 'CNAME', class: 'IN', ttl: 60, data: 'mail\\.for\\.j\\195\\188rgen\\@example.org' },
      { name: 'info.example.com', type: 'TXT', class: 'IN', ttl: 60, data: '"tel=+1\\032650\\032253\\0320000" "x"' },
    ],
  });
  const s = new EventScanner({ key, hashValues: true });
  const found = s.finish(s.collect(structuredClone(ev)));
  const at = (path: string) => path.split(/\.|\[|\]/).filter(Boolean).reduce((o: any, k) => o[k], ev) as string;
  assert.deepEqual(found.map((f) => [f.type, f.path, at(f.path).slice(f.start, f.end)]), [
    ['email', 'dns.question.name', 'john\\.doe\\@example.com'],
    ['email', 'dns.answers[0].name', 'alice\\@corp.example.com'],
    ['email', 'dns.answers[0].data', 'mail\\.for\\.j\\195\\188rgen\\@example.org'],
    ['phone', 'dns.answers[1].data', '+1\\032650\\032253\\0320000'],
  ]);
  // hashed as the bytes they stand for (by hand: \195\188 is ü in UTF-8; the phone in E.164), so they join the same value found elsewhere
  assert.deepEqual(found.map((f) => f.valueHash!.slice(0, 8)), [
    hmac8('email', 'john.doe@example.com'),
    hmac8('email', 'alice@corp.example.com'),
    hmac8('email', 'mail.for.jürgen@example.org'),
    hmac8('phone', '+16502530000'),
  ]);
});

test('redaction replaces the escaped text, and the name is still one dig reads', { skip: existsSync('/usr/bin/dig') ? false : 'missing /usr/bin/dig' }, () => {
  const names = ['john\\.doe\\@example.com', 'x.alice\\@corp.example.com', 'j\\195\\188rgen\\@example.org'];
  const red = (mode: RedactMode) => {
    const s = new EventScanner({ key, redact: mode });
    return names.map((name) => {
      const ev = dnsEvent({ question: { name, type: 'A', class: 'IN' } });
      s.finish(s.collect(ev));
      return ev.dns.question?.name as string | undefined;
    });
  };
  // mask: every letter and digit a `*` however it was written (ü, `\195\188`, is one), `\@` and `\.` kept as written
  assert.deepEqual(red('mask'), ['<email:****\\.***\\@*******.***>', 'x.<email:*****\\@****.*******.***>', '<email:******\\@*******.***>']);
  assert.deepEqual(red('hash'), [`<email:${hmac8('email', 'john.doe@example.com')}>`, `x.<email:${hmac8('email', 'alice@corp.example.com')}>`, `<email:${hmac8('email', 'jürgen@example.org')}>`]);
  // a name the schema requires: null, not removed
  assert.deepEqual(red('drop'), [null, null, null]);
  // dig reads each redacted name back as written: a legal name, nothing in it taken for another escape
  for (const name of [...red('mask'), ...red('hash')]) assert.equal(digReads(name!), name + '.');
});

test('text that is no escape stays as written: a backslash before a 4th digit or past \\255 decodes nothing', () => {
  const s = new EventScanner({ key });
  const ev = dnsEvent({ question: { name: 'a\\256b\\@example.com', type: 'A', class: 'IN' } });
  const found = s.finish(s.collect(ev));
  // `\256` is no byte: it stays as written, and an address holds no backslash, so the address is what follows it
  assert.deepEqual(found.map((f) => ev.dns.question.name.slice(f.start, f.end)), ['256b\\@example.com']);
});

const missing = ['/usr/sbin/dnsmasq', '/usr/bin/dig', '/usr/bin/tcpdump', '/usr/bin/tshark'].filter((p) => !existsSync(p));
const { dir, port: dnsPort } = dnsmasqForTests('pano-pii-dnsnames-', ['--address=/test/192.0.2.55'], missing.length > 0);

test('names dig sends with an address in a label, through pano-parse and pano-pii: found and redacted in query and answer', { skip: missing.length ? `missing ${missing.join(', ')}` : false }, async () => {
  const port = dnsPort();
  const file = join(dir, 'names.pcap');
  const cap = new LoopbackCapture(file, `udp port ${port}`);
  const asked = ['alice\\@corp.example.test', 'john\\.doe\\@example.test'];
  await cap.start();
  try {
    for (const name of asked) execFileSync('dig', ['-p', String(port), '@127.0.0.1', name, 'A'], { stdio: 'pipe' });
  } finally {
    await cap.stop();
  }
  // tshark: the question as sent, its labels' bytes after the 12-byte header (tshark's text of a name joins
  // labels with dots, so in it john.doe is ambiguous; the first label's length byte is not)
  const rows = tsharkFields(file, ['dns.qry.name', 'udp.payload'], 'dns.flags.response == 0', ['-d', `udp.port==${port},dns`]);
  const labels = (...l: string[]) => Buffer.concat([...l.map((x) => Buffer.concat([Buffer.from([x.length]), Buffer.from(x)])), Buffer.from([0])]).toString('hex');
  assert.deepEqual(rows.map(([name, payload]) => [name, payload!.replace(/:/g, '').slice(24, 24 + 2 * (name!.length + 2))]), [
    ['alice@corp.example.test', labels('alice@corp', 'example', 'test')],
    ['john.doe@example.test', labels('john.doe@example', 'test')],
  ]);

  const parsed = runBin('pano-parse', [file]);
  assert.equal(parsed.status, 0, parsed.stderr);
  const events = parsed.stdout.trim().split('\n').map((l) => JSON.parse(l)).filter((e) => e.pano.protocol === 'dns');
  assert.deepEqual(events.map((e) => [e.dns.question.name, e.dns.answers[0].name, e.dns.answers[0].data]), [
    [asked[0], asked[0], '192.0.2.55'],
    [asked[1], asked[1], '192.0.2.55'],
  ]);
  const keyFile = join(dir, 'key');
  writeFileSync(keyFile, key);
  const pii = (args: string[]) => {
    const r = runBin('pano-pii', ['--key-file', keyFile, ...args], { input: parsed.stdout });
    assert.equal(r.status, 0, r.stderr);
    return r.stdout.trim().split('\n').map((l) => JSON.parse(l)).filter((e) => e.pano.protocol === 'dns');
  };
  const meant = ['alice@corp.example.test', 'john.doe@example.test'];
  pii([]).forEach((ev, i) => {
    assert.deepEqual(ev.pii.map((f: any) => [f.type, f.path, f.start, f.end]), [
      ['email', 'dns.question.name', 0, asked[i]!.length],
      ['email', 'dns.answers[0].name', 0, asked[i]!.length],
    ]);
  });
  const hashed = pii(['--redact', 'hash']);
  assert.deepEqual(hashed.map((e) => [e.dns.question.name, e.dns.answers[0].name, e.dns.answers[0].data]), meant.map((m) => [`<email:${hmac8('email', m)}>`, `<email:${hmac8('email', m)}>`, '192.0.2.55']));
  const masked = pii(['--redact', 'mask']);
  assert.deepEqual(masked.map((e) => e.dns.question.name), ['<email:*****\\@****.*******.****>', '<email:****\\.***\\@*******.****>']);
  for (const e of masked) assert.equal(digReads(e.dns.question.name), e.dns.question.name + '.');
  const dropped = pii(['--redact', 'drop']);
  assert.deepEqual(dropped.map((e) => [e.dns.question.name, e.dns.answers[0].name, e.dns.answers[0].data]), [[null, null, '192.0.2.55'], [null, null, '192.0.2.55']]);
});

test('an UPDATE nsupdate sends (RFC 2136): an address in a new record\'s owner name and in its TXT data is found in the request\'s records and redacted there; the address record\'s IP is not', { skip: missing.length || !existsSync('/usr/bin/nsupdate') ? 'missing dnsmasq, dig, tcpdump, tshark or nsupdate' : false }, async () => {
  const port = dnsPort();
  const file = join(dir, 'update.pcap');
  const cap = new LoopbackCapture(file, `udp port ${port}`);
  await cap.start();
  try {
    const script = [
      `server 127.0.0.1 ${port}`,
      'check-names no',
      'zone test',
      'update add alice\\@corp.example.test 300 A 192.0.2.9',
      'update add www.example.test 300 TXT "contact=bob.smith@example.org"',
      'send',
      '',
    ].join('\n');
    // dnsmasq takes no updates: REFUSED, exit status 2
    const r = spawnSync('nsupdate', [], { input: script, encoding: 'utf8', timeout: 20_000 });
    assert.match(r.stderr, /REFUSED/, r.stderr);
  } finally {
    await cap.stop();
  }
  // tshark: the owner name's first label as sent (alice@corp, one label)
  const rows = tsharkFields(file, ['dns.resp.name', 'dns.txt'], 'dns.flags.response == 0', ['-d', `udp.port==${port},dns`]);
  assert.deepEqual(rows, [['alice@corp.example.test,www.example.test', 'contact=bob.smith@example.org']]);

  const parsed = runBin('pano-parse', [file]);
  assert.equal(parsed.status, 0, parsed.stderr);
  const [ev] = parsed.stdout.trim().split('\n').map((l) => JSON.parse(l)).filter((e) => e.pano.protocol === 'dns');
  assert.deepEqual(ev.dns.query_authority, [
    { name: 'alice\\@corp.example.test', type: 'A', class: 'IN', ttl: 300, data: '192.0.2.9' },
    { name: 'www.example.test', type: 'TXT', class: 'IN', ttl: 300, data: '"contact=bob.smith@example.org"' },
  ]);
  const keyFile = join(dir, 'key');
  writeFileSync(keyFile, key);
  const pii = (args: string[]) => {
    const r = runBin('pano-pii', ['--key-file', keyFile, ...args], { input: parsed.stdout });
    assert.equal(r.status, 0, r.stderr);
    const out = r.stdout.trim().split('\n').map((l) => JSON.parse(l)).filter((e) => e.pano.protocol === 'dns');
    assertValidEvents(out);
    return out[0];
  };
  const found = pii([]);
  const owner = 'alice\\@corp.example.test';
  assert.deepEqual(found.pii.map((f: any) => [f.type, f.path, f.start, f.end]), [
    ['email', 'dns.query_authority[0].name', 0, owner.length],
    ['email', 'dns.query_authority[1].data', 9, 9 + 'bob.smith@example.org'.length],
  ]);
  const hashed = pii(['--redact', 'hash']);
  assert.deepEqual(hashed.dns.query_authority.map((r: any) => [r.name, r.data]), [
    [`<email:${hmac8('email', 'alice@corp.example.test')}>`, '192.0.2.9'],
    ['www.example.test', `"contact=<email:${hmac8('email', 'bob.smith@example.org')}>"`],
  ]);
  const dropped = pii(['--redact', 'drop']);
  assert.deepEqual(dropped.dns.query_authority.map((r: any) => [r.name, r.data]), [[null, '192.0.2.9'], ['www.example.test', null]]);
});
