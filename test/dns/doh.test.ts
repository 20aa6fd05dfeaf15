// DNS over HTTPS (RFC 8484) in HTTP/1.1 exchanges, from hand-built captures:
// the RFC's own GET example, POST bodies, and what must not be taken for DoH.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Conversation } from '../helpers/synth.js';
import { parseCaptureSync, assertValidEvents } from '../helpers/parse.js';
import { dohQueryParameter, isDnsMessageType } from '../../packages/protocols/src/dns/doh.js';

const client = { addr: '192.0.2.10', port: 50123 };
const server = { addr: '192.0.2.53', port: 80 };

/** RFC 8484 §4.1.1: the query for www.example.com A, id 0, RD set, as hex and as the GET parameter. */
const RFC_QUERY_HEX = '00000100000100000000000003777777076578616d706c6503636f6d0000010001';
const RFC_QUERY_PARAM = 'AAABAAABAAAAAAAAA3d3dwdleGFtcGxlA2NvbQAAAQAB';

/** Its answer, built by hand: QR RD RA, one A record 93.184.216.34 with TTL 3600, owner a pointer to the question. */
const ANSWER = Buffer.from(
  '0000' + '8180' + '0001' + '0001' + '0000' + '0000' +
    '03777777076578616d706c6503636f6d00' + '0001' + '0001' +
    'c00c' + '0001' + '0001' + '00000e10' + '0004' + '5db8d822',
  'hex',
);

function exchange(request: Buffer, response: Buffer) {
  const c = new Conversation(client, server).handshake().send(0, request).send(1, response).close();
  const { events } = parseCaptureSync(c.pcapng());
  assertValidEvents(events);
  assert.equal(events.length, 1);
  return events[0] as any;
}

function httpResponse(type: string, body: Buffer): Buffer {
  return Buffer.concat([Buffer.from(`HTTP/1.1 200 OK\r\ncontent-type: ${type}\r\ncontent-length: ${body.length}\r\n\r\n`), body]);
}

const expectedDns = {
  id: 0,
  opcode: 'QUERY',
  flags: ['RD', 'RA'],
  question: { name: 'www.example.com', type: 'A', class: 'IN' },
  response_code: 'NOERROR',
  answer_count: 1,
  answers: [{ name: 'www.example.com', type: 'A', class: 'IN', ttl: 3600, data: '93.184.216.34' }],
};

test('the GET parameter of RFC 8484 §4.1.1 is the query the RFC prints in hex', () => {
  assert.equal(dohQueryParameter(`dns=${RFC_QUERY_PARAM}`)?.toString('hex'), RFC_QUERY_HEX);
  assert.equal(dohQueryParameter(`ct=x&dns=${RFC_QUERY_PARAM}&y=1`)?.toString('hex'), RFC_QUERY_HEX);
  assert.equal(dohQueryParameter('dns=not*base64url'), undefined);
  assert.equal(dohQueryParameter('name=www.example.com'), undefined);
  assert.ok(isDnsMessageType('Application/DNS-Message; charset=binary'));
  assert.ok(!isDnsMessageType('application/dns-json'));
  assert.ok(!isDnsMessageType(undefined));
});

test('DoH GET (the RFC example) and its answer: the HTTP exchange gains the dns group', () => {
  const req = Buffer.from(`GET /dns-query?dns=${RFC_QUERY_PARAM} HTTP/1.1\r\nHost: dnsserver.example.net\r\nAccept: application/dns-message\r\n\r\n`);
  const ev = exchange(req, httpResponse('application/dns-message', ANSWER));
  assert.equal(ev.pano.protocol, 'http');
  assert.equal(ev.http.request.method, 'GET');
  assert.deepEqual(ev.dns, expectedDns);
  assert.equal(ev.pano.flags, undefined);
});

test('DoH POST: the query is the body', () => {
  const query = Buffer.from(RFC_QUERY_HEX, 'hex');
  const req = Buffer.concat([Buffer.from(`POST /dns-query HTTP/1.1\r\nHost: dnsserver.example.net\r\nContent-Type: application/dns-message\r\nContent-Length: ${query.length}\r\n\r\n`), query]);
  const ev = exchange(req, httpResponse('application/dns-message', ANSWER));
  assert.equal(ev.http.request.method, 'POST');
  assert.deepEqual(ev.dns, expectedDns);
});

test('a dns= parameter alone is not DoH: no dns group without the media type on either side', () => {
  const req = Buffer.from(`GET /lookup?dns=${RFC_QUERY_PARAM} HTTP/1.1\r\nHost: example.net\r\n\r\n`);
  const ev = exchange(req, httpResponse('text/html', Buffer.from('<p>hi</p>')));
  assert.equal(ev.dns, undefined);
  assert.equal(ev.pano.flags, undefined);
});

test('a DoH body that is not a DNS message is flagged undecodable; the other side still decodes', () => {
  const junk = Buffer.from('hello');
  const req = Buffer.concat([Buffer.from(`POST /dns-query HTTP/1.1\r\nHost: d\r\nContent-Type: application/dns-message\r\nContent-Length: ${junk.length}\r\n\r\n`), junk]);
  const ev = exchange(req, httpResponse('application/dns-message', ANSWER));
  assert.deepEqual(ev.pano.flags, ['undecodable']);
  assert.deepEqual(ev.dns, expectedDns);
});
