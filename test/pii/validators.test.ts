// Validators against known-good and known-bad values. Good values are the
// published examples of each scheme (card networks' test numbers, the IBAN
// registry's examples, jwt.io's sample, HMRC's NINO format rules); bad values
// break exactly one rule each.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { validators as v } from '@panopticon/pii';

test('Luhn and card IIN/length', () => {
  for (const good of ['4111111111111111', '4111 1111 1111 1111', '5555555555554444', '2223003122003222', '378282246310005', '6011111111111117', '3530111333300000', '4012-8888-8888-1881']) {
    assert.equal(v.validCard(good), true, good);
  }
  for (const bad of ['4111111111111112', '1234567812345670' /* Luhn ok, no brand */, '0000000000000000', '4111 1111 1111', '41111111111111111111', '4111_1111_1111_1111']) {
    assert.equal(v.validCard(bad), false, bad);
  }
  assert.equal(v.luhn('79927398713'), true); // the textbook example
  assert.equal(v.luhn('79927398710'), false);
});

test('US SSN area/group/serial', () => {
  for (const good of ['536-22-8821', '001-01-0001', '899-99-9999']) assert.equal(v.validSsn(good), true, good);
  for (const bad of ['000-12-3456', '666-12-3456', '900-12-3456', '123-00-4567', '123-45-0000', '078-05-1120', '12-345-6789x']) assert.equal(v.validSsn(bad), false, bad);
});

test('IBAN length and mod-97', () => {
  for (const good of ['GB82WEST12345698765432', 'GB82 WEST 1234 5698 7654 32', 'DE89370400440532013000', 'FR1420041010050500013M02606', 'NL91ABNA0417164300']) {
    assert.equal(v.validIban(good), true, good);
  }
  for (const bad of ['GB82WEST12345698765433', 'GB82WEST1234569876543', 'XX82WEST12345698765432', 'DE8937040044053201300']) assert.equal(v.validIban(bad), false, bad);
});

test('Verhoeff: the textbook 236 → 3, and exactly one check digit fits any number', () => {
  assert.equal(v.verhoeff('2363'), true);
  assert.equal(v.verhoeff('2364'), false);
  for (const base of ['23412341234', '98765432101', '50000000000']) {
    const fits = [...'0123456789'].filter((d) => v.verhoeff(base + d));
    assert.equal(fits.length, 1, base);
    assert.equal(v.validAadhaar(base + fits[0]), true);
    const wrong = String((+fits[0]! + 1) % 10);
    assert.equal(v.validAadhaar(base + wrong), false);
  }
  assert.equal(v.validAadhaar('1234 5678 9012'), false, 'first digit 0/1 is never issued');
});

test('Indian PAN and UK NINO structure', () => {
  assert.equal(v.validPan('ABCPE1234F'), true);
  assert.equal(v.validPan('ABCXE1234F'), false, 'X is no holder type');
  assert.equal(v.validPan('ABCPE12345'), false);
  assert.equal(v.validNino('AB123456C'), true);
  assert.equal(v.validNino('AB 12 34 56 C'), true);
  for (const bad of ['BG123456A', 'GB123456A', 'DA123456A', 'AB123456E', 'AO123456A', 'QQ123456C']) assert.equal(v.validNino(bad), false, bad);
});

test('IP addresses', () => {
  for (const good of ['192.168.1.10', '8.8.8.8', '255.255.255.255']) assert.equal(v.validIpv4(good), true, good);
  for (const bad of ['256.1.1.1', '1.2.3', '01.2.3.4', '1.2.3.4.5']) assert.equal(v.validIpv4(bad), false, bad);
  for (const good of ['2001:db8::1', '::1', 'fe80::1ff:fe23:4567:890a', '2001:0db8:85a3:0000:0000:8a2e:0370:7334', '::ffff:192.0.2.128']) assert.equal(v.validIpv6(good), true, good);
  for (const bad of ['10:30:00', '00:1a:2b:3c:4d:5e', '2001:db8::1::2', '12345::1', 'g::1']) assert.equal(v.validIpv6(bad), false, bad);
});

test('JWT header must decode to JSON with alg; Basic must be user:pass', () => {
  const jwt = 'eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lIiwiaWF0IjoxNTE2MjM5MDIyfQ.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c';
  assert.equal(v.validJwt(jwt), true);
  const noAlg = Buffer.from('{"typ":"JWT"}').toString('base64url');
  assert.equal(v.validJwt(`${noAlg}.e30.sig`), false);
  assert.equal(v.validJwt('eyJub3Rqc29u.e30.x'), false);
  assert.equal(v.validBasic(Buffer.from('aladdin:opensesame').toString('base64')), true);
  assert.equal(v.validBasic(Buffer.from('no-colon-here').toString('base64')), false);
});

test('dates of birth are real calendar dates of living people', () => {
  assert.deepEqual(v.parseDate('1980-02-29'), [1980, 2, 29]);
  assert.equal(v.parseDate('1981-02-29'), undefined);
  assert.deepEqual(v.parseDate('31/12/1990'), [1990, 12, 31]);
  assert.deepEqual(v.parseDate('12/31/1990'), [1990, 12, 31]);
  assert.equal(v.validDob('1850-01-01'), false);
  assert.equal(v.validDob('2999-01-01'), false);
});
