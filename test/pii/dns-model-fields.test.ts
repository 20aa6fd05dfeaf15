// Which fields of a DNS event the name/address model is asked about: only free text, TXT record data
// and an EDE option's EXTRA-TEXT. Types, classes, flags, codes, names and other record data (an MX
// `10 Mail.example.com`, a CNAME `Jane.example.com`) are presentation format, where no person's name
// or street address is written; the rules still scan them. The response is built by hand from the
// RFC 1035 / 6891 / 8914 layouts and goes through pano-parse; a model that records what it is asked
// stands in for the shipped one.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EventScanner, type Candidate, type SpanModel } from '@panopticon/pii';
import { pcapng, udpFrame } from '../helpers/synth.js';
import { parseCaptureSync, assertValidEvents } from '../helpers/parse.js';

const key = Buffer.from('0123456789abcdef0123456789abcdef');
const u16 = (n: number) => Buffer.from([n >> 8, n & 0xff]);
const u32 = (n: number) => Buffer.from([n >>> 24, (n >> 16) & 0xff, (n >> 8) & 0xff, n & 0xff]);
const name = (text: string) => Buffer.concat([...text.split('.').map((l) => Buffer.concat([Buffer.from([l.length]), Buffer.from(l, 'latin1')])), Buffer.from([0])]);
const record = (type: number, rdata: Buffer) => Buffer.concat([Buffer.from([0xc0, 12]), u16(type), u16(1), u32(300), u16(rdata.length), rdata]);

/** The pano-parse event of a query for Example.test answered with an MX, a CNAME and a TXT record and an EDE option. */
function dnsEvent(): Record<string, any> {
  const qname = name('Example.test');
  const q = Buffer.concat([u16(9), u16(0x0100), u16(1), u16(0), u16(0), u16(0), qname, u16(15), u16(1)]);
  const txt = Buffer.from('contact Jane Doe');
  const answers = [
    record(15, Buffer.concat([u16(10), name('Mail.example.com')])),
    record(5, name('Jane.example.com')),
    record(16, Buffer.concat([Buffer.from([txt.length]), txt])),
  ];
  const extra = Buffer.from('blocked for Jane Doe');
  const ede = Buffer.concat([u16(15), u16(2 + extra.length), u16(18), extra]);
  const opt = Buffer.concat([Buffer.from([0]), u16(41), u16(1232), Buffer.alloc(4), u16(ede.length), ede]);
  const r = Buffer.concat([u16(9), u16(0x8180), u16(1), u16(answers.length), u16(0), u16(1), qname, u16(15), u16(1), ...answers, opt]);
  const client = { addr: '192.0.2.1', port: 40000 };
  const server = { addr: '192.0.2.53', port: 53 };
  const t = 1_700_000_000_000_000_000n;
  const { events } = parseCaptureSync(pcapng([{ tsNs: t, data: udpFrame(client, server, q) }, { tsNs: t + 1000n, data: udpFrame(server, client, r) }]));
  assert.equal(events.length, 1);
  assertValidEvents(events);
  return events[0] as Record<string, any>;
}

test('the model is asked about TXT data and EDE text only, and its names there are findings', async () => {
  const ev = dnsEvent();
  // what pano-parse wrote, which the expectations below rest on
  assert.deepEqual(ev.dns.answers.map((a: any) => [a.type, a.data]), [['MX', '10 Mail.example.com'], ['CNAME', 'Jane.example.com'], ['TXT', '"contact Jane Doe"']]);
  assert.equal(ev.dns.edns.options[0].extra_text, 'blocked for Jane Doe');
  const asked: string[] = [];
  const model: SpanModel = {
    labels: ['none', 'person_name', 'street_address'],
    async score(cands: Candidate[]) {
      return cands.map((c): [string, number] => {
        const text = c.text.slice(c.start, c.end);
        asked.push(text);
        return text === 'Jane Doe' ? ['person_name', 0.9] : ['none', 0.99];
      });
    },
  };
  const s = new EventScanner({ key, model });
  const p = s.collect(ev);
  await s.scoreCandidates([p]);
  const found = s.finish(p);
  assert.deepEqual([...new Set(asked)].sort(), ['Doe', 'Jane Doe']);
  assert.deepEqual(
    found.map((f) => [f.path, f.start, f.end, f.type, f.detector]),
    [
      ['dns.answers[2].data', 9, 17, 'person_name', 'model'],
      // the EXTRA-TEXT's bytes in the option's hex (dns-ede.test.ts)
      ['dns.edns.options[0].data', 28, 44, 'person_name', 'model'],
      ['dns.edns.options[0].extra_text', 12, 20, 'person_name', 'model'],
    ],
  );
});

test("the parser's names of DNS codes are not scanned (no rule fires on one); any other value in their fields is", () => {
  const codes = ['dns.opcode', 'dns.flags[0]', 'dns.flags[1]', 'dns.question.type', 'dns.question.class', 'dns.response_code', 'dns.answers[0].type', 'dns.answers[0].class'];
  const ev = dnsEvent();
  assert.deepEqual([ev.dns.opcode, ev.dns.flags, ev.dns.question.type, ev.dns.question.class, ev.dns.response_code], ['QUERY', ['RD', 'RA'], 'MX', 'IN', 'NOERROR']);
  // names of codes no registry table of the parser has (typeName, className, rcodeName, OPCODE_NAMES)
  Object.assign(ev.dns.answers[1], { type: 'TYPE65534', class: 'CLASS254' });
  const s = new EventScanner({ key });
  const paths = s.collect(ev).slots.map((slot) => slot.path);
  for (const code of [...codes, 'dns.answers[1].type', 'dns.answers[1].class']) assert.ok(!paths.includes(code), `${code} scanned: ${paths.join(', ')}`);
  for (const text of ['dns.question.name', 'dns.answers[0].name', 'dns.answers[0].data', 'dns.edns.options[0].extra_text']) assert.ok(paths.includes(text), `${text} not scanned`);

  // outside the DNS group the same words under the same keys are values like any other
  const other = s.collect({ messaging: { operation: { type: 'SEND' } }, db: { system: 'redis', operation: { name: 'HSET' }, query: { parameters: ['user:1', 'type', 'AAAA'] } } });
  assert.deepEqual(other.slots.map((slot) => [slot.path, slot.value]), [['messaging.operation.type', 'SEND'], ['db.system', 'redis'], ['db.operation.name', 'HSET'], ['db.query.parameters[0]', 'user:1'], ['db.query.parameters[1]', 'type'], ['db.query.parameters[2]', 'AAAA']]);

  // a hand-made event (or a damaged one) with personal data where the codes' names go: scanned as any field is
  const odd = dnsEvent();
  Object.assign(odd.dns, { opcode: 'jane.doe@example.com', flags: ['RD', 'AB123456C'], response_code: '4111 1111 1111 1111' });
  Object.assign(odd.dns.question, { type: 'CE123456D', class: 'mailto:jane.doe@example.com' });
  const found = s.finish(s.collect(odd));
  assert.deepEqual(
    found.filter((f) => f.type !== 'person_name').map((f) => [f.path, f.type]),
    [
      ['dns.opcode', 'email'],
      ['dns.flags[1]', 'uk_nino'],
      ['dns.question.type', 'uk_nino'],
      ['dns.question.class', 'email'],
      ['dns.response_code', 'credit_card'],
    ],
  );
});
