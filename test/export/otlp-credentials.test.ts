// --otlp: credential-bearing headers (HTTP request and response headers and
// trailers, AMQP headers, Kafka record headers) reach the collector as
// REDACTED unless --otlp-credentials; Kafka record values are content
// (--otlp-content); credential parameters of url.query and url.full, and the
// user name and password of url.full, are REDACTED as OpenTelemetry's url
// conventions ask. Checked on the spans a real OTLP/HTTP receiver decodes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { DecodedSpan } from './otlp-receiver.js';
import { ev, exportedSpans, httpEv } from './fixtures.js';

const SECRETS = ['Bearer eyJhbGciOi.secret', 'Basic dXNlcjpwYXNz', 'sid=abc123secret', 'sid=set456secret; HttpOnly', 'k-789-secret', 'amqp-token-secret', 'kafka-token-secret', 'grpc-key-secret', 'kafka value body secret', 'tok-secret-1', 'sig-secret-2', 'pw-secret-3', 'sig-secret-4', 'key-secret-5'];

function events(): string {
  return [
    httpEv('1-1', 'GET', 200, 1000, {}, {
      request: { header: { authorization: [SECRETS[0]], 'proxy-authorization': [SECRETS[1]], cookie: [SECRETS[2]], 'x-api-key': [SECRETS[4]], 'user-agent': ['curl/8'], accept: ['*/*'] } },
    }),
    // response headers and trailers go through the same rule
    (() => {
      const e = httpEv('1-2', 'POST', 200, 1000) as Record<string, any>;
      e.http.response.header = { 'set-cookie': [SECRETS[3]], 'content-type': ['application/grpc'] };
      e.http.response.trailer = { 'x-goog-api-key': [SECRETS[7]], 'grpc-status': ['0'] };
      return e;
    })(),
    ev({ id: '2-1', protocol: 'amqp', kind: 'message', groups: {
      messaging: { system: 'rabbitmq', operation: { name: 'basic.publish', type: 'send' }, destination: { name: 'orders' } },
      amqp: { channel: 1, method: 'basic.publish', properties: { content_type: 'text/plain', headers: { 'X-Auth-Token': SECRETS[5], tenant: 'acme' } } },
    } }),
    ev({ id: '3-1', protocol: 'kafka', groups: {
      messaging: { system: 'kafka', operation: { name: 'Produce', type: 'send' }, destination: { name: 'orders' } },
      kafka: { api_name: 'Produce', records: [
        { offset: 0, key: { size: 2, content: 'k1' }, value: { size: 23, content: SECRETS[8] }, headers: { session_token: SECRETS[6], region: 'eu' } },
        { offset: 1, key: null, value: { size: 2, content: 'v2' } },
      ] },
    } }),
    httpEv('1-3', 'GET', 200, 1000, { groups: { url: {
      path: '/cb', scheme: 'https', query: `code=1&access_token=${SECRETS[9]}&sig=${SECRETS[10]}&page=2&key&token=`,
      full: `https://user:${SECRETS[11]}@example.com:8443/cb?X-Amz-Signature=${SECRETS[12]}&x=1&api%5Fkey=${SECRETS[13]}#sig=frag`,
    } } }),
  ].map((e) => JSON.stringify(e)).join('\n') + '\n';
}

function spansOf(args: string[]): Promise<Record<string, DecodedSpan>> {
  return exportedSpans(events(), args, 5);
}

test('credential headers are REDACTED by default: HTTP, AMQP, Kafka record headers; Kafka record values are content', async () => {
  const by = await spansOf([]);
  const all = JSON.stringify(Object.values(by).map((s) => s.attributes));
  for (const secret of SECRETS) assert.ok(!all.includes(secret.split(' ').pop()!), `${secret} must not reach the collector`);
  const get = by['1-1']!.attributes;
  assert.deepEqual(get['http.request.header.authorization'], ['REDACTED'], 'the header stays visible, its value does not');
  assert.deepEqual(get['http.request.header.proxy-authorization'], ['REDACTED']);
  assert.deepEqual(get['http.request.header.cookie'], ['REDACTED']);
  assert.deepEqual(get['http.request.header.x-api-key'], ['REDACTED']);
  assert.deepEqual(get['http.request.header.user-agent'], ['curl/8'], 'other headers as they are');
  assert.deepEqual(get['http.request.header.accept'], ['*/*']);
  const post = by['1-2']!.attributes;
  assert.deepEqual(post['http.response.header.set-cookie'], ['REDACTED']);
  assert.deepEqual(post['http.response.header.content-type'], ['application/grpc']);
  assert.deepEqual(post['http.response.trailer.x-goog-api-key'], ['REDACTED']);
  assert.deepEqual(post['http.response.trailer.grpc-status'], ['0']);
  const amqp = by['2-1']!.attributes;
  assert.equal(amqp['amqp.properties.headers.X-Auth-Token'], 'REDACTED', 'names compared case-insensitively');
  assert.equal(amqp['amqp.properties.headers.tenant'], 'acme');
  const records = JSON.parse(by['3-1']!.attributes['kafka.records'] as string);
  assert.deepEqual(records, [
    { offset: 0, key: { size: 2, content: 'k1' }, value: { size: 23 }, headers: { session_token: 'REDACTED', region: 'eu' } },
    { offset: 1, key: null, value: { size: 2 } },
  ]);
  const url = by['1-3']!.attributes;
  assert.equal(url['url.query'], 'code=1&access_token=REDACTED&sig=REDACTED&page=2&key&token=', 'other parameters, and names without a value, as written');
  assert.equal(url['url.full'], 'https://REDACTED:REDACTED@example.com:8443/cb?X-Amz-Signature=REDACTED&x=1&api%5Fkey=REDACTED#sig=frag');
});

test('--otlp-credentials sends credential header values; --otlp-content the Kafka record values', async () => {
  const by = await spansOf(['--otlp-credentials', '--otlp-content']);
  assert.deepEqual(by['1-1']!.attributes['http.request.header.authorization'], [SECRETS[0]]);
  assert.deepEqual(by['1-1']!.attributes['http.request.header.cookie'], [SECRETS[2]]);
  assert.deepEqual(by['1-2']!.attributes['http.response.header.set-cookie'], [SECRETS[3]]);
  assert.ok((by['1-3']!.attributes['url.query'] as string).includes(SECRETS[9]));
  assert.ok((by['1-3']!.attributes['url.full'] as string).includes(`user:${SECRETS[11]}@`));
  assert.equal(by['2-1']!.attributes['amqp.properties.headers.X-Auth-Token'], SECRETS[5]);
  const records = JSON.parse(by['3-1']!.attributes['kafka.records'] as string);
  assert.equal(records[0].headers.session_token, SECRETS[6]);
  assert.equal(records[0].value.content, SECRETS[8]);
  // the two are separate choices
  const contentOnly = await spansOf(['--otlp-content']);
  assert.deepEqual(contentOnly['1-1']!.attributes['http.request.header.authorization'], ['REDACTED']);
  assert.equal(JSON.parse(contentOnly['3-1']!.attributes['kafka.records'] as string)[0].value.content, SECRETS[8]);
});

test('url.full: user information and query credentials, whatever else the URL holds', async () => {
  const { redactUrl, redactQuery } = await import('@panopticon/export');
  assert.equal(redactUrl('https://ghp_token@github.com/o/r.git'), 'https://REDACTED@github.com/o/r.git');
  assert.equal(redactUrl('http://a:b@h/p@q?x=1'), 'http://REDACTED:REDACTED@h/p@q?x=1', 'an @ after the authority is path');
  assert.equal(redactUrl('http://h/p?Signature=s&AWSAccessKeyId=a'), 'http://h/p?Signature=REDACTED&AWSAccessKeyId=REDACTED');
  assert.equal(redactUrl('http://h/p'), 'http://h/p');
  assert.equal(redactUrl('/relative?password=x'), '/relative?password=REDACTED');
  assert.equal(redactQuery('q=%E0%A4&pass%word=x'), 'q=%E0%A4&pass%word=x', 'a malformed escape is compared as written');
  assert.equal(redactQuery('client_secret=x&monkey=y&x-api-key=z'), 'client_secret=REDACTED&monkey=y&x-api-key=REDACTED');
});

test('which header names are credentials', async () => {
  const { isCredentialHeader } = await import('@panopticon/export');
  for (const n of ['Authorization', 'proxy-authorization', 'cookie', 'Set-Cookie', 'x-api-key', 'api_key', 'apikey', 'X-Auth-Token', 'x-access-token', 'private-token', 'x-csrf-token', 'x-amz-security-token', 'x-vault-token', 'x-session-id', 'client_secret', 'x-hub-signature-256', 'ocp-apim-subscription-key', 'dpop', 'x-password'])
    assert.ok(isCredentialHeader(n), n);
  for (const n of ['user-agent', 'content-type', 'accept', 'traceparent', 'tracestate', 'x-request-id', 'host', 'keep-alive', 'www-authenticate', 'x-keyboard', 'content-length'])
    assert.ok(!isCredentialHeader(n), n);
});
