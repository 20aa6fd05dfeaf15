/**
 * PostgreSQL events of every corpus capture checked against tshark's pgsql
 * dissector: simple-query texts in order, prepared statement texts, command
 * tags in order, error and notice SQLSTATEs, data-row counts, the counts of
 * the frontend messages that make events, and the startup parameters.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { basename } from 'node:path';
import { corpusFiles } from '../helpers/corpus.js';
import { parseCaptureSync, assertValidEvents } from '../helpers/parse.js';
import { tsharkFields } from '../helpers/tshark.js';
import { assertDbGroups } from '../helpers/db-schema.js';

/** Decode-as options tshark needs for captures on odd ports (SOURCES.md). */
const decodeAs: Record<string, string[]> = {
  'deepflow-pgsql-all.pcap': ['-d', 'tcp.port==8000,pgsql'],
};

/**
 * Captures whose queries neither side can read. The test still runs on them
 * and checks what can be known (the SSL negotiation), but compares no query
 * fields because tshark shows none either.
 */
const encrypted: Record<string, string> = {
  'zeek-psql-aws-ssl-preferred.pcap': "the server answers the SSLRequest with 'S' and the session continues in TLS; no keys are available",
};

interface Oracle {
  simpleQueries: string[];
  parseTexts: Set<string>;
  tags: string[];
  errorCodes: string[];
  noticeCodes: string[];
  dataRows: number;
  types: Map<string, number>;
  startup: Array<Record<string, string>>;
}

function oracle(file: string): Oracle {
  const rows = tsharkFields(file, ['pgsql.type', 'pgsql.query', 'pgsql.tag', 'pgsql.code', 'pgsql.parameter_name', 'pgsql.parameter_value'], 'pgsql', decodeAs[basename(file)] ?? []);
  const o: Oracle = { simpleQueries: [], parseTexts: new Set(), tags: [], errorCodes: [], noticeCodes: [], dataRows: 0, types: new Map(), startup: [] };
  for (const [typesF, queriesF, tagsF, codesF, namesF, valuesF] of rows) {
    const types = typesF ? typesF.split(',') : [];
    // pgsql.query values can contain commas: with one query per frame (true in this corpus) keep it whole
    const queryTypes = types.filter((t) => t === 'Simple query' || t === 'Parse');
    const queries = queryTypes.length === 1 && queriesF ? [queriesF] : queriesF ? queriesF.split(',') : [];
    let qi = 0;
    const codes = codesF ? codesF.split(',') : [];
    let ci = 0;
    for (const t of types) {
      o.types.set(t, (o.types.get(t) ?? 0) + 1);
      if (t === 'Simple query') o.simpleQueries.push(unescape(queries[qi++] ?? ''));
      else if (t === 'Parse') o.parseTexts.add(unescape(queries[qi++] ?? ''));
      else if (t === 'Data row') o.dataRows++;
      else if (t === 'Error') o.errorCodes.push(codes[ci++]);
      else if (t === 'Notice') o.noticeCodes.push(codes[ci++]);
      else if (t === 'Startup message') {
        const names = namesF.split(',');
        const values = valuesF.split(',');
        o.startup.push(Object.fromEntries(names.map((n, i) => [n, values[i]])));
      }
    }
    if (tagsF) o.tags.push(...tagsF.split(','));
  }
  return o;
}

/**
 * tshark 4.0 reads pgsql.query as ASCII and prints every byte above 0x7F as
 * U+FFFD; our text is decoded as UTF-8. Comparing byte for byte in tshark's
 * terms keeps the check exact for all ASCII and for where the other bytes are.
 */
function asTsharkShows(s: string): string {
  let out = '';
  for (const b of Buffer.from(s, 'utf8')) out += b < 0x80 ? String.fromCharCode(b) : '\ufffd';
  return out;
}

/** tshark 4.0 -T fields writes newline, tab and CR as \n, \t, \r (backslashes themselves are not escaped). */
function unescape(s: string): string {
  return s.replace(/\\([ntr])/g, (_m, c: string) => ({ n: '\n', t: '\t', r: '\r' })[c]!);
}

describe('postgresql: corpus against tshark', () => {
  // PostgreSQL captures kept elsewhere in the corpus for their TCP traits
  const files = [...corpusFiles('postgresql'), ...corpusFiles('tcp-retransmission').filter((f) => basename(f).includes('psql'))];
  it('has the captures this test is about', () => assert.ok(files.length >= 8, `${files.length} files`));
  for (const file of files) {
    const name = basename(file);
    it(name, () => {
      const { events } = parseCaptureSync(file);
      assertValidEvents(events);
      assertDbGroups(events);
      const pg = events.filter((e) => e.pano.protocol === 'postgresql');
      const a = (e: (typeof pg)[number]) => e as any;
      const o = oracle(file);
      if (encrypted[name]) {
        assert.equal(pg.length, 1, encrypted[name]);
        assert.deepEqual(a(pg[0]).postgresql.negotiation, { answer: 'S' });
        assert.deepEqual(pg[0].pano.flags, ['tls']);
        assert.equal(o.types.get('SSL request'), 1);
        return;
      }
      assert.ok(pg.length > 0, 'no postgresql events');
      const byMessage = (m: string) => pg.filter((e) => a(e).postgresql.message === m);

      assert.deepEqual(byMessage('Query').map((e) => asTsharkShows(a(e).db.query.text)), o.simpleQueries, 'simple-query texts in order');

      const ourParseTexts = new Set(pg.filter((e) => ['Parse', 'Execute'].includes(a(e).postgresql.message) && a(e).db.query?.text !== undefined).map((e) => asTsharkShows(a(e).db.query.text)));
      assert.deepEqual([...ourParseTexts].sort(), [...o.parseTexts].sort(), 'prepared statement texts');

      const ourTags = pg.flatMap((e) => a(e).postgresql.command_tags ?? (a(e).postgresql.command_tag !== undefined ? [a(e).postgresql.command_tag] : []));
      assert.deepEqual(ourTags, o.tags, 'command tags in order');

      assert.deepEqual(pg.filter((e) => a(e).postgresql.error).map((e) => a(e).postgresql.error.code), o.errorCodes, 'error SQLSTATEs');
      assert.deepEqual(pg.flatMap((e) => (a(e).postgresql.notices ?? []).map((n: any) => n.code)), o.noticeCodes, 'notice SQLSTATEs');

      const rows = pg.reduce((n, e) => n + (a(e).db.response?.returned_rows ?? 0), 0);
      assert.equal(rows, o.dataRows, 'data rows');

      const count = (t: string) => o.types.get(t) ?? 0;
      assert.equal(byMessage('Execute').length, count('Execute'), 'Execute messages');
      assert.equal(byMessage('StartupMessage').length, count('Startup message'), 'startup messages');
      assert.equal(byMessage('SSLRequest').length, count('SSL request'), 'SSL requests');
      assert.equal(byMessage('CancelRequest').length, count('Cancel request'), 'cancel requests');
      assert.equal(byMessage('Terminate').length, count('Termination'), 'terminations');

      const startups = byMessage('StartupMessage');
      o.startup.forEach((params, i) => {
        const e = a(startups[i]);
        assert.equal(e.postgresql.user, params.user, 'user');
        assert.equal(e.db.namespace, params.database ?? params.user, 'database');
        assert.equal(e.postgresql.application_name, params.application_name, 'application_name');
        assert.equal(e.postgresql.auth.ok, true);
      });
      // no event may carry authentication material
      const text = JSON.stringify(pg);
      assert.ok(!/SCRAM-SHA-256[^"]*,r=|md5[0-9a-f]{32}/.test(text), 'authentication secrets in events');
    });
  }
});
