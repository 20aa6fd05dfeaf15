// An Extended DNS Error (RFC 8914) carries its EXTRA-TEXT twice in a pano-parse event: as `extra_text`
// and inside the option's hex `data` after the 2-byte INFO-CODE. A finding in the text must not stay
// readable in the hex. Responses built by hand from RFC 1035 / 6891 / 8914 layouts go through
// pano-parse, then pano-pii; the hex is decoded back to bytes to see what a reader could still find.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { EventScanner, type RedactMode } from '@panopticon/pii';
import { pcapng, udpFrame } from '../helpers/synth.js';
import { parseCaptureSync, assertValidEvents } from '../helpers/parse.js';

const key = Buffer.from('0123456789abcdef0123456789abcdef');
const token = (type: string, v: string) => `<${type}:${createHmac('sha256', key).update(type).update('\0').update(v).digest('hex').slice(0, 8)}>`;
const u16 = (n: number) => Buffer.from([n >> 8, n & 0xff]);
const qname = Buffer.from('\x07example\x04test\x00', 'latin1');

/** The pano-parse event of a query for example.test and its REFUSED answer with one EDE option: INFO-CODE 18 (Prohibited), then `text`. */
function edeEvent(text: Buffer): Record<string, any> {
  const q = Buffer.concat([u16(7), u16(0x0100), u16(1), u16(0), u16(0), u16(0), qname, u16(1), u16(1)]);
  const ede = Buffer.concat([u16(15), u16(2 + text.length), u16(18), text]);
  const opt = Buffer.concat([Buffer.from([0]), u16(41), u16(1232), Buffer.alloc(4), u16(ede.length), ede]);
  const r = Buffer.concat([u16(7), u16(0x8185), u16(1), u16(0), u16(0), u16(1), qname, u16(1), u16(1), opt]);
  const client = { addr: '192.0.2.1', port: 40000 };
  const server = { addr: '192.0.2.53', port: 53 };
  const t = 1_700_000_000_000_000_000n;
  const { events } = parseCaptureSync(pcapng([{ tsNs: t, data: udpFrame(client, server, q) }, { tsNs: t + 1000n, data: udpFrame(server, client, r) }]));
  assert.equal(events.length, 1);
  return events[0] as Record<string, any>;
}

const option = (ev: Record<string, any>) => ev.dns.edns.options[0];
/** The bytes of an option's `data` after redaction: its hex runs decoded, each token kept as written. */
const readable = (data: string) => data.replace(/[0-9a-f]+/g, (hex) => (hex.length % 2 ? hex : Buffer.from(hex, 'hex').toString('latin1')));

test('EDE EXTRA-TEXT: an address in it is found in the text and in the hex data (its own bytes, hashed as it), redacted in both under every mode', () => {
  const address = 'alice@example.org';
  // "Zone für alice@example.org gesperrt": ü is one UTF-16 unit but two bytes, so the address starts at byte 10, not 9
  const text = Buffer.from(`Zone für ${address} gesperrt`, 'utf8');
  const ev = edeEvent(text);
  assert.equal(option(ev).extra_text, `Zone für ${address} gesperrt`);
  assert.equal(option(ev).data, '0012' + text.toString('hex'));
  const s = new EventScanner({ key, hashValues: true });
  const found = s.finish(s.collect(structuredClone(ev)));
  const hexAt = 4 + 2 * Buffer.byteLength('Zone für ');
  assert.deepEqual(found.map((f) => [f.type, f.path, f.start, f.end, f.validator]), [
    ['email', 'dns.edns.options[0].data', hexAt, hexAt + 2 * address.length, 'rfc8914'],
    ['email', 'dns.edns.options[0].extra_text', 9, 9 + address.length, 'rfc5321-shape'],
  ]);
  assert.equal(option(ev).data.slice(hexAt, hexAt + 2 * address.length), Buffer.from(address).toString('hex'));
  // the two join: one keyed hash
  assert.equal(found[0]!.valueHash, found[1]!.valueHash);

  const redact = (mode: RedactMode) => {
    const copy = structuredClone(ev);
    const r = new EventScanner({ key, redact: mode });
    r.finish(r.collect(copy));
    // drop sets `data`, which the v1 schema requires, to null: valid under every mode
    assertValidEvents([copy as any]);
    return copy;
  };
  const hex = (s: string) => Buffer.from(s, 'utf8').toString('hex');
  const hash = option(redact('hash'));
  assert.equal(hash.extra_text, `Zone für ${token('email', address)} gesperrt`);
  // the text around the address is still there, in the text and in the hex
  assert.equal(hash.data, `0012${hex('Zone für ')}${token('email', address)}${hex(' gesperrt')}`);
  const mask = option(redact('mask'));
  assert.equal(mask.extra_text, 'Zone für <email:*****@*******.***> gesperrt');
  assert.ok(!readable(mask.data).includes('alice') && !readable(mask.data).includes('example.org'), mask.data);
  assert.deepEqual(option(redact('drop')), { code: 15, name: 'EDE', data: null, info_code: 18, info_code_name: 'Prohibited' });
  for (const mode of ['mask', 'hash', 'drop'] as RedactMode[]) {
    const out = JSON.stringify(redact(mode));
    assert.ok(!out.includes(address) && !out.includes(hex(address)) && !out.includes(hex('alice')), `${mode}: ${out}`);
  }
});

test('EDE EXTRA-TEXT that is no UTF-8: where the finding lies in the hex is not known, so the whole text span is covered; text without findings leaves the hex alone', () => {
  // a byte 0xff before the address: pano-parse shows it as U+FFFD, whose UTF-8 is three bytes, not one
  const text = Buffer.concat([Buffer.from('x'), Buffer.from([0xff]), Buffer.from(' bob@example.org')]);
  const ev = edeEvent(text);
  assert.equal(option(ev).extra_text, 'x\ufffd bob@example.org');
  const r = new EventScanner({ key, redact: 'hash' });
  const found = r.finish(r.collect(ev));
  assert.deepEqual(found.map((f) => [f.path, f.start, f.end, f.validator]), [
    ['dns.edns.options[0].data', 4, 4 + 2 * text.length, 'rfc8914'],
    ['dns.edns.options[0].extra_text', 3, 18, 'rfc5321-shape'],
  ]);
  assert.equal(option(ev).data, `0012${token('email', 'bob@example.org')}`);
  // nothing personal in the text: its hex stays as it came
  const plain = edeEvent(Buffer.from('blocked by policy'));
  const p = new EventScanner({ key, redact: 'hash' });
  assert.deepEqual(p.finish(p.collect(plain)), []);
  assert.equal(option(plain).data, '0012' + Buffer.from('blocked by policy').toString('hex'));
  // an allowed address is allowed in the hex as well
  const allowed = edeEvent(Buffer.from('ask carol@example.org'));
  const a = new EventScanner({ key, redact: 'hash', allow: ['carol@example.org'] });
  assert.deepEqual(a.finish(a.collect(allowed)), []);
  assert.equal(option(allowed).data, '0012' + Buffer.from('ask carol@example.org').toString('hex'));
});
