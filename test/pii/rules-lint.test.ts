// Build-time rule lint with regexp-tree: bounded, sticky, anchors are literals.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RULES } from '@panopticon/pii';
import { lintRules, lintRegex } from '@panopticon/pii/lint';

test('every shipped rule passes the lint', () => {
  assert.deepEqual(lintRules(RULES), []);
});

test('the lint rejects what it promises to reject', () => {
  assert.match(lintRegex(/ab+/y).join(), /unbounded/);
  assert.match(lintRegex(/a*/y).join(), /unbounded/);
  assert.match(lintRegex(/a{2,}/y).join(), /unbounded/);
  assert.match(lintRegex(/(?:a{1,5}){1,9}/y).join(), /nested/);
  assert.match(lintRegex(/abc/g).join(), /not sticky/);
  assert.match(lintRegex(/[a-z]{1,5}@x/y, ['#']).join(), /anchor "#"/);
  assert.deepEqual(lintRegex(/gh[pousr]_[A-Za-z0-9]{36}/y, ['ghp_', 'ghr_']), []);
  assert.deepEqual(lintRegex(/(?:Bearer|bearer) {1,4}x/y, ['Bearer ', 'bearer ']), []);
  assert.match(lintRegex(/(?:Bearer|bearer) {1,4}x/y, ['BEARER ']).join(), /anchor/);
});
