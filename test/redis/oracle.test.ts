// Every Redis capture in the corpus against tshark's RESP dissector: the
// commands (name and arguments, per connection, in order) and the error replies
// must agree; every event must pass the v1 schema.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { basename } from 'node:path';
import { corpusFiles } from '../helpers/corpus.js';
import { assertValidEvents, parseCaptureSync } from '../helpers/parse.js';
import { tsharkFields } from '../helpers/tshark.js';
import { bytesText } from '../../packages/protocols/src/redis/fields.js';

const files = corpusFiles('redis');

/**
 * Connections whose commands tshark cannot show, with the reason:
 * - inline commands (`PING\r\n` typed at a terminal; the pipelining example sends
 *   three inline PINGs in one segment): tshark 4.0's RESP dissector
 *   decodes only RESP arrays, so it reports nothing for these lines;
 * - zeek-attr.pcap's client sends `FAKE COMMAND` (not a Redis command: the test
 *   server replies with canned RESP3), which tshark cannot decode either and we do
 *   not detect as Redis from the client side; its replies are compared.
 */
const INLINE_ONLY = new Set(['tcpdump-resp_2_inline.pcap', 'zeek-pipelining-example.pcap', 'zeek-attr.pcap']);

test('the corpus has Redis captures', () => {
  assert.ok(files.length >= 8, `found ${files.length}`);
});

for (const file of files) {
  const name = basename(file);
  test(`redis oracle: ${name}`, () => {
    const { events } = parseCaptureSync(file);
    assertValidEvents(events);
    const redis = events.filter((e) => e.pano.protocol === 'redis');
    assert.ok(redis.length > 0, 'no redis events');

    const rows = tsharkFields(file, ['tcp.srcport', 'tcp.dstport', 'resp.bulk_string.value', 'resp.error'], 'resp');
    const serverPort = (redis[0]!.server as { port: number }).port;

    // Commands as tshark sees them: the bulk strings of client frames, per client port.
    const theirs = new Map<number, string[]>();
    const theirErrors: string[] = [];
    for (const [src, dst, bulks, errors] of rows) {
      if (Number(dst) === serverPort && bulks) {
        const list = theirs.get(Number(src)) ?? [];
        for (const hex of bulks.split(',')) list.push(bytesText(Buffer.from(hex, 'hex')));
        theirs.set(Number(src), list);
      }
      if (Number(src) === serverPort && errors) theirErrors.push(...errors.split(','));
    }
    const ours = new Map<number, string[]>();
    const ourErrors: string[] = [];
    for (const e of redis) {
      const r = e.redis as { args?: string[]; inline?: boolean; response?: { type: string; value: unknown } } | undefined;
      const db = e.db as { operation?: { name: string }; query?: { text: string } };
      if (db.query && !r?.inline) {
        const list = ours.get((e.client as { port: number }).port) ?? [];
        // the command word as sent (tshark shows its bytes; we upper-case the operation name)
        const sent = db.query.text.split(' ')[0]!;
        list.push(sent, ...(r?.args ?? []));
        ours.set((e.client as { port: number }).port, list);
      }
      if (r?.response?.type === 'error') ourErrors.push(String(r.response.value));
    }
    if (!INLINE_ONLY.has(name)) {
      assert.ok(theirs.size > 0, 'tshark saw no commands');
      assert.deepEqual(ours, theirs);
    } else {
      assert.equal(ours.size, 0, 'inline-only capture produced array commands');
      if (name !== 'zeek-attr.pcap') {
        // What tshark cannot decode, the raw client bytes still say: one command per non-empty line.
        const payload = tsharkFields(file, ['tcp.dstport', 'tcp.payload'], 'tcp.len > 0')
          .filter(([dst]) => Number(dst) === serverPort)
          .map(([, hex]) => Buffer.from(hex!, 'hex').toString('latin1'))
          .join('');
        const lines = payload.split('\n').map((l) => l.replace(/\r$/, '')).filter((l) => l.length > 0);
        const inline = redis.filter((e) => (e.redis as { inline?: boolean } | undefined)?.inline);
        assert.deepEqual(
          inline.map((e) => (e.db as { operation: { name: string } }).operation.name),
          lines.map((l) => l.split(' ')[0]!.toUpperCase()),
        );
      }
    }
    assert.deepEqual(ourErrors, theirErrors);
  });
}
