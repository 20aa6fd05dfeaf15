/** Password literals in SQL text are replaced before events carry the text; everything else stays verbatim. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { redactSqlSecrets } from '../../packages/protocols/src/sql/secrets.js';

describe('sql: password literals', () => {
  const cases: Array<[string, string]> = [
    ["CREATE ROLE app LOGIN PASSWORD 's3cr3t'", "CREATE ROLE app LOGIN PASSWORD '?'"],
    ["ALTER USER app WITH ENCRYPTED PASSWORD 'it''s secret'", "ALTER USER app WITH ENCRYPTED PASSWORD '?'"],
    ["alter role app password 'SCRAM-SHA-256$4096:abc$def:ghi' valid until '2030-01-01'", "alter role app password '?' valid until '2030-01-01'"],
    ["CREATE USER 'app'@'%' IDENTIFIED BY 'pw\\'x'", "CREATE USER 'app'@'%' IDENTIFIED BY '?'"],
    ["ALTER USER 'app'@'%' IDENTIFIED WITH caching_sha2_password BY \"pw\"", "ALTER USER 'app'@'%' IDENTIFIED WITH caching_sha2_password BY '?'"],
    ["CREATE USER u IDENTIFIED BY PASSWORD '*94BDCEBE19083CE2A1F959FD02F964C7AF4CFC29'", "CREATE USER u IDENTIFIED BY PASSWORD '?'"],
    ["SET PASSWORD = PASSWORD('pw')", "SET PASSWORD = PASSWORD('?')"],
    ["SET PASSWORD FOR 'bob'@'localhost' = 'pw'", "SET PASSWORD FOR 'bob'@'localhost' = '?'"],
    ["GRANT ALL ON db.* TO u IDENTIFIED BY 'pw'", "GRANT ALL ON db.* TO u IDENTIFIED BY '?'"],
  ];
  for (const [input, want] of cases) {
    it(input, () => assert.deepEqual(redactSqlSecrets(input), { text: want, redacted: true }));
  }
  it('leaves other statements alone, even when they mention passwords', () => {
    for (const q of ["SELECT password FROM users WHERE name = 'x'", "UPDATE users SET password = 'hash' WHERE id = 1", 'CREATE TABLE t (password text)', "SET search_path = 'public'"]) {
      assert.deepEqual(redactSqlSecrets(q), { text: q, redacted: false });
    }
  });
});
