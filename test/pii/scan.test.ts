// Rule scanning on free text: planted values are found at the right offsets,
// decoys (UUIDs, versions, timestamps, hex digests, digit strings failing
// their checksum) never fire.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { scanString, Hint, hintsFor } from '@panopticon/pii';

function found(s: string, hints = 0): string[] {
  return scanString(s, hints).map((h) => `${h.type}=${s.slice(h.start, h.end)}`);
}

test('planted values are found with exact spans', () => {
  const cases: Array<[string, string[]]> = [
    ['mail alice.o-neil+tag@mail.example.co.uk now', ['email=alice.o-neil+tag@mail.example.co.uk']],
    ['pay with 4111 1111 1111 1111 today', ['credit_card=4111 1111 1111 1111']],
    ['ssn 536-22-8821.', ['us_ssn=536-22-8821']],
    ['to DE89 3704 0044 0532 0130 00 please', ['iban=DE89 3704 0044 0532 0130 00']],
    ['call +1 (415) 555-2671 or 020 7946 0958', ['phone=+1 (415) 555-2671', 'phone=020 7946 0958']],
    ['from 192.168.1.10 and 2001:db8::42', ['ipv4=192.168.1.10', 'ipv6=2001:db8::42']],
    ['key AKIAIOSFODNN7EXAMPLE in env', ['aws_access_key_id=AKIAIOSFODNN7EXAMPLE']],
    ['aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY', ['aws_secret_access_key=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY']],
    ['postgres://app:Tr0ub4dor@db.internal:5432/prod', ['url_password=Tr0ub4dor']],
    ['user=bob&password=hunter22&next=/', ['password=hunter22']],
    // JSON scanned as text (a body cut at --max-body does not parse): the whole string value, spaces and
    // escaped quotes included, up to its closing quote or the end of the text; a number too
    ['{"user":"bob","password":"correct horse, battery; staple","x":1', ['password=correct horse, battery; staple']],
    ['{"password":"a\\"b c', ['password=a\\"b c']],
    ['{"password": 12345}', ['password=12345']],
    ['NI AB 12 34 56 C, PAN ABCPE1234F', ['uk_nino=AB 12 34 56 C', 'in_pan=ABCPE1234F']],
    ['-----BEGIN RSA PRIVATE KEY-----\nMIIBOgIBAAJBAKj34GkxFhD90vcNLYLInFEX6Ppy1tPf9Cnzj4p4WGeKLs1Pt8Qu\n-----END RSA PRIVATE KEY-----', ['private_key=-----BEGIN RSA PRIVATE KEY-----\nMIIBOgIBAAJBAKj34GkxFhD90vcNLYLInFEX6Ppy1tPf9Cnzj4p4WGeKLs1Pt8Qu\n-----END RSA PRIVATE KEY-----']],
    // cut off before its END line (a body cut at --max-body, a truncated capture): still a key
    ['key: -----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC', ['private_key=-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC']],
    ['token ghp_' + 'A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8' + ' end', ['github_token=ghp_A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8']],
    ['Authorization: Basic YWxhZGRpbjpvcGVuc2VzYW1l', ['basic_auth=YWxhZGRpbjpvcGVuc2VzYW1l']],
  ];
  for (const [text, want] of cases) assert.deepEqual(found(text), want, text);
});

test('internationalised email addresses (RFC 6531) are found whole: letters of any script before the @ and in the domain', () => {
  const cases: Array<[string, string[]]> = [
    // ASCII-only matching began after the last non-ASCII letter: `e.dupre@…` left `renée` in the text
    ['from renée.dupre@example.com today', ['email=renée.dupre@example.com']],
    ['an: jürgen.groß@müller-bau.de.', ['email=jürgen.groß@müller-bau.de']],
    ['почта: иван@пример.рф, ok', ['email=иван@пример.рф']],
    ['到 用户@例子.公司 了', ['email=用户@例子.公司']],
    // combining marks (e + U+0301) are part of the letter they follow
    ['mail rene\u0301e@example.org', ['email=rene\u0301e@example.org']],
    // still no address: no dot in the domain, a TLD of one letter, a lone @
    ['café@bistro, naïve@x.y, «@» ', []],
  ];
  for (const [text, want] of cases) assert.deepEqual(found(text), want, text);
});

test('an e-mail address after a colon is found (mailto:, a Redis key, a header written without a space); URL userinfo is a password', () => {
  const cases: Array<[string, string[]]> = [
    ['<a href="mailto:alice.smith@example.org">', ['email=alice.smith@example.org']],
    ['SET email:alice.smith@example.org 1', ['email=alice.smith@example.org']],
    ['From:bob@example.com', ['email=bob@example.com']],
    ['user:session:ann@example.net', ['email=ann@example.net']],
    // userinfo: the text before the colon runs back to `://` (a password with colons too)
    ['https://bob:hunter22@example.com/x', ['url_password=hunter22']],
    ['ftp://bob:pa:ss@files.example.com', ['url_password=pa:ss']],
    // a URL ended before the colon: not userinfo
    ['see https://example.com/a mailto:carol@example.org', ['email=carol@example.org']],
  ];
  for (const [text, want] of cases) assert.deepEqual(found(text), want, text);
});

test('percent-encoded e-mail addresses end at an escaped separator: two in a row are two, a word before one is not part of it', () => {
  const cases: Array<[string, string[]]> = [
    ['to=u0%40example.org%20u1%40example.org', ['email=u0%40example.org', 'email=u1%40example.org']],
    ['to=u0%40example.org%2Cu1%40example.org', ['email=u0%40example.org', 'email=u1%40example.org']],
    ['q=x%20alice.smith%40example.org', ['email=alice.smith%40example.org']],
    ['q=x%20alice.smith@example.org', ['email=alice.smith@example.org']],
    ['phone=%2B44%2020%207946%200958%20bob%40example.com', ['email=bob%40example.com']],
    // what a local part holds, encoded, stays in it: an apostrophe, a + tag, a UTF-8 letter
    ['o%27neil%2Btag%40example.org', ['email=o%27neil%2Btag%40example.org']],
    ['ren%C3%A9e%40example.fr', ['email=ren%C3%A9e%40example.fr']],
  ];
  for (const [text, want] of cases) assert.deepEqual(found(text).filter((f) => f.startsWith('email=')), want, text);
});

test('context: a 9-digit SSN and a date of birth need their field name', () => {
  assert.deepEqual(found('536228821'), []);
  assert.deepEqual(found('536228821', Hint.ssn), ['us_ssn=536228821']);
  assert.deepEqual(found('1980-02-29'), []);
  assert.deepEqual(found('1980-02-29', Hint.dob), ['date_of_birth=1980-02-29']);
  assert.deepEqual(found('DOB: 14/03/1985'), ['date_of_birth=14/03/1985']);
  // identifier-like field names lower confidence below the default threshold
  const h = scanString('4111111111111111', Hint.notPii);
  assert.ok(h[0]!.confidence < 0.6);
});

test('decoys do not fire', () => {
  const decoys = [
    'id 123e4567-e89b-12d3-a456-426614174000',
    'version 1.2.3 and v10.4.2.1 and 4.19.0-26-amd64',
    'at 2024-01-02T10:30:00.123456Z or 1700000000123 or 1700000000123456789',
    'sha256 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08 md5 d41d8cd98f00b204e9800998ecf8427e',
    'digits 4111111111111112 5555555555554445 000-00-0000 666-12-3456',
    'mac 00:1a:2b:3c:4d:5e time 10:30:00',
    'price 1,234.56 qty 12 order 88231 port 8080',
    'commit 3f2a9c1 tree e83c5163316f89bfbde7d9ab23ca2e25604af290',
    'Bearer short',
    'password=***',
    'user@localhost',
  ];
  for (const d of decoys) assert.deepEqual(found(d), [], d);
});

test('a word before a bare number gives it context', () => {
  assert.deepEqual(found('please call 4155552671 today'), ['phone=4155552671']);
  assert.deepEqual(found('order 4155552671 shipped'), []);
});

test('software identification fields (AMQP server properties) are not PII: Erlang/OTP 27.3.4.6 is no address', () => {
  for (const h of ['platform', 'product']) {
    assert.ok(scanString('Erlang/OTP 27.3.4.6', hintsFor(h)).every((x) => x.confidence < 0.5), h);
  }
  // the same text in a free field still reads as an address: the field name decides
  assert.equal(scanString('Erlang/OTP 27.3.4.6')[0]?.type, 'ipv4');
});

test('long tokens are found whole: bearer tokens, JWTs with many claims, large private keys', () => {
  const b64url = (x: string) => Buffer.from(x).toString('base64url');
  // deterministic token alphabet text (entropy well above the bearer rule's 3 bits)
  const token = (n: number) => Array.from({ length: n }, (_, i) => 'AbCd0eF1gH2iJ3kL4mN5oP6qR7sT8uV9wXyZ-._~+/'[(i * 7 + (i >> 3)) % 42]).join('');
  const spans = (s: string) => scanString(s).map((h) => `${h.type} ${h.start} ${h.end}`);

  for (const n of [5000, 40_000, 65_536]) {
    const s = `Authorization: Bearer ${token(n)}`;
    assert.deepEqual(spans(s), [`bearer_token 22 ${22 + n}`], `opaque ${n}`);
  }
  // past 64 KiB the token is taken for its first 64 KiB + 1, never passed over
  const huge = `Bearer ${token(70_000)}`;
  assert.deepEqual(spans(huge), [`bearer_token 7 ${7 + 65_537}`]);

  // OIDC tokens listing 800 and 3000 groups: 14 KB and 54 KB
  for (const groups of [800, 3000]) {
    const claims = JSON.stringify({ sub: 'alice@example.org', groups: Array.from({ length: groups }, (_, i) => `group-${i}`) });
    const jwt = `${b64url('{"alg":"RS256","typ":"JWT"}')}.${b64url(claims)}.${'s'.repeat(342)}`;
    assert.ok(jwt.length > 8192);
    assert.deepEqual(spans(`x-token: ${jwt}`), [`jwt 9 ${9 + jwt.length}`], `jwt ${jwt.length}`);
  }

  // an RSA or PGP key block of 26 KB: whole; of 70 KB without its end: its first 64 KiB
  const body = (n: number) => Array.from({ length: n / 64 }, () => 'MIIJQgIBADANBgkqhkiG9w0BAQEFAASCCSwwggkoAgEAAoICAQDK3fQ2vXlY9aBc').join('\n');
  const pem = `-----BEGIN PRIVATE KEY-----\n${body(26_048)}\n-----END PRIVATE KEY-----`;
  assert.deepEqual(spans(`key=${pem}&x=1`), [`private_key 4 ${4 + pem.length}`]);
  const open = `-----BEGIN PGP PRIVATE KEY BLOCK-----\n${body(70_016)}`;
  assert.deepEqual(spans(`${open}\n-----END PGP PRIVATE KEY BLOCK-----`), [`private_key 0 ${'-----BEGIN PGP PRIVATE KEY BLOCK-----'.length + 65_536}`]);
});

test('CIDR text: a host address with its prefix (or in a URL before a path) is an address; a network range, a ratio, a date or a version is not', () => {
  // whether bits are set past the prefix, worked out by hand: .5 of /24, ::5 of /64 yes; .0 of /24, :1:: of /48 no
  const cases: Array<[string, string[]]> = [
    ['inet 192.168.1.5/24 brd 192.168.1.255', ['ipv4=192.168.1.5', 'ipv4=192.168.1.255']],
    ['inet6 2001:db8:1::5/64 scope global', ['ipv6=2001:db8:1::5']],
    ['host 203.0.113.7/32 and 2001:db8:1::/128', ['ipv4=203.0.113.7', 'ipv6=2001:db8:1::']],
    ['GET http://10.1.2.3/2024/01/report', ['ipv4=10.1.2.3']],
    ['route 10.0.0.0/8 via eth0; allow 203.0.113.0/24 and 2001:db8:1::/48; default ::/0', []],
    ['172.16.0.0/12 is private, 192.168.1.128/25 a half', []],
    ['won 10/24 games on 2024/01/02 and 10/24/2024', []],
    ['prefix too long 1.2.3.4/33 or 2001:db8::1/129, leading zero 1.2.3.4/024', []],
    ['Server: Foo/1.2.3.4/5', []],
  ];
  for (const [text, want] of cases) {
    assert.deepEqual(found(text), want, text);
    // a long value takes the Locator's runs and colons: the same hits
    const pad = ' '.repeat(100);
    assert.deepEqual(found(pad + text), want, `long: ${text}`);
  }
});
