/**
 * MySQL events of every corpus capture checked against tshark's mysql
 * dissector, per client connection: the command sequence, query and prepared
 * statement texts, error codes, affected-row counts, the login user and
 * schema, the server version, and query attributes.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { basename } from 'node:path';
import { corpusFiles } from '../helpers/corpus.js';
import { parseCaptureSync, assertValidEvents } from '../helpers/parse.js';
import { tsharkFields } from '../helpers/tshark.js';
import { assertDbGroups } from '../helpers/db-schema.js';
import { commandName } from '../../packages/protocols/src/mysql/constants.js';

const decodeAs: Record<string, string[]> = {
  'deepflow-mysql-statement.pcap': ['-d', 'tcp.port==30130,mysql'],
  'deepflow-binary-in-sql.pcap': ['-d', 'tcp.port==2883,mysql'],
};

/** Captures whose commands neither side can read; the test checks what is visible (greeting, TLS switch). */
const encrypted: Record<string, string> = {
  'zeek-encrypted.pcap': 'the client sends an SSL request after the greeting and the session continues in TLS; no keys are available',
  'arkime-mysql-tls.pcap': 'the client sends an SSL request after the greeting and the session continues in TLS; no keys are available',
};

const codeOf = new Map(Object.entries(commandName).map(([code, name]) => [name, Number(code)]));

interface PerClient {
  commands: number[];
  texts: string[];
  errors: string[];
  affected: string[];
  users: string[];
  schemas: string[];
}

function oracle(file: string) {
  // Retransmitted frames would be dissected twice; tshark marks them, and our TCP layer drops them.
  const rows = tsharkFields(
    file,
    ['tcp.srcport', 'tcp.dstport', 'mysql.packet_number', 'mysql.command', 'mysql.query', 'mysql.error_code', 'mysql.affected_rows', 'mysql.user', 'mysql.schema', 'mysql.version', 'mysql.query_attr_name', 'mysql.query_attr_value'],
    'mysql && !tcp.analysis.retransmission',
    decodeAs[basename(file)] ?? [],
  );
  const clients = new Map<number, PerClient>();
  const get = (port: number) => {
    let c = clients.get(port);
    if (!c) clients.set(port, (c = { commands: [], texts: [], errors: [], affected: [], users: [], schemas: [] }));
    return c;
  };
  const versions: string[] = [];
  const attrs: Array<Record<string, string>> = [];
  const split = (f: string) => (f ? f.split(',') : []);
  for (const [src, dst, seqF, commandF, queryF, errF, affF, userF, schemaF, versionF, attrNameF, attrValueF] of rows) {
    // A command is a client packet with sequence id 0. tshark also reads authentication
    // continuation packets (caching_sha2 full auth, sequence 5) as commands (0xCA);
    // those are not commands and are left out.
    const commands = split(seqF)[0] === '0' ? split(commandF).map(Number) : [];
    // the query text can contain commas; one command per frame holds in this corpus
    const texts = queryF ? [queryF] : [];
    if (commands.length) {
      const c = get(Number(src));
      c.commands.push(...commands);
      c.texts.push(...texts.map(unescape));
      const names = split(attrNameF);
      if (names.length) {
        const values = split(attrValueF);
        attrs.push(Object.fromEntries(names.map((n, i) => [n, values[i]])));
      }
    }
    if (userF) {
      get(Number(src)).users.push(userF);
      get(Number(src)).schemas.push(schemaF);
    }
    if (errF) get(Number(dst)).errors.push(...split(errF));
    if (affF) get(Number(dst)).affected.push(...split(affF));
    if (versionF) versions.push(versionF);
  }
  return { clients, versions, attrs };
}

/** tshark 4.0 -T fields writes newline, tab and CR as \n, \t, \r (backslashes themselves are not escaped). */
function unescape(s: string): string {
  return s.replace(/\\([ntr])/g, (_m, c: string) => ({ n: '\n', t: '\t', r: '\r' })[c]!);
}

/** tshark shows a string field up to its first NUL; the query text on the wire may go on (deepflow-binary-in-sql). */
function asTsharkShows(text: string): string {
  const nul = text.indexOf('\u0000');
  return nul < 0 ? text : text.slice(0, nul);
}

describe('mysql: corpus against tshark', () => {
  // MySQL captures kept elsewhere in the corpus for their link-layer traits
  const files = [...corpusFiles('mysql'), ...corpusFiles('vlan').filter((f) => /mysql|sql/.test(basename(f)))];
  it('has the captures this test is about', () => assert.ok(files.length >= 8, `${files.length} files`));
  for (const file of files) {
    const name = basename(file);
    it(name, () => {
      const { events } = parseCaptureSync(file);
      assertValidEvents(events);
      assertDbGroups(events);
      const my = events.filter((e) => e.pano.protocol === 'mysql').sort((x, y) => (BigInt(x.pano.start_ns) < BigInt(y.pano.start_ns) ? -1 : 1));
      const a = (e: (typeof my)[number]) => e as any;
      const o = oracle(file);
      const handshakes = my.filter((e) => a(e).mysql.command === 'handshake');
      assert.deepEqual(
        handshakes.filter((e) => a(e).mysql.server).map((e) => a(e).mysql.server.version),
        o.versions,
        'server versions',
      );
      if (encrypted[name]) {
        assert.equal(my.length, 1, encrypted[name]);
        assert.deepEqual(my[0].pano.flags, ['tls']);
        return;
      }
      for (const [port, c] of o.clients) {
        const mine = my.filter((e) => e.client?.port === port);
        const cmds = mine.filter((e) => a(e).mysql.command !== 'handshake');
        const at = `client port ${port}`;
        assert.deepEqual(cmds.map((e) => codeOf.get(a(e).mysql.command)), c.commands, `${at}: commands`);
        assert.deepEqual(
          cmds.filter((e) => ['COM_QUERY', 'COM_STMT_PREPARE'].includes(a(e).mysql.command)).map((e) => asTsharkShows(a(e).db.query.text)),
          c.texts,
          `${at}: query and prepared texts`,
        );
        assert.deepEqual(mine.filter((e) => a(e).db.response?.status_code).map((e) => a(e).db.response.status_code), c.errors, `${at}: error codes`);
        assert.deepEqual(mine.filter((e) => a(e).mysql.affected_rows !== undefined).map((e) => String(a(e).mysql.affected_rows)), c.affected, `${at}: affected rows`);
        assert.deepEqual(handshakes.filter((e) => e.client?.port === port && a(e).mysql.user !== undefined).map((e) => a(e).mysql.user), c.users, `${at}: users`);
        assert.deepEqual(
          handshakes.filter((e) => e.client?.port === port && a(e).mysql.user !== undefined).map((e) => a(e).db.namespace ?? ''),
          c.schemas,
          `${at}: schemas`,
        );
      }
      const ourAttrs = my.filter((e) => a(e).mysql.query_attributes).map((e) => a(e).mysql.query_attributes);
      assert.deepEqual(ourAttrs, o.attrs, 'query attributes');
      // the client's auth response (scrambled password) never appears, in hex or as text
      const text = JSON.stringify(my);
      for (const [hex] of tsharkFields(file, ['mysql.passwd'], 'mysql.passwd', decodeAs[name] ?? [])) {
        assert.ok(!text.includes(hex) && !text.includes(Buffer.from(hex, 'hex').toString('latin1')), 'auth response in events');
      }
    });
  }
});
