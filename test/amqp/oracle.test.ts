// Every AMQP capture in the corpus against tshark's AMQP dissector: the
// methods (class and method names as tshark prints them, with their channel)
// of every connection must agree; every event must pass the v1 schema.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { basename } from 'node:path';
import { corpusFiles } from '../helpers/corpus.js';
import { assertValidEvents, parseCaptureSync } from '../helpers/parse.js';

const files = corpusFiles('amqp');

/**
 * Method names per client port, from tshark's PDML: the "showname" of
 * amqp.method.class ("Class: Connection (10)") and amqp.method.method
 * ("Method: Start-Ok (11)") gives the names without our own table.
 */
function tsharkMethods(file: string, serverPort: number): Map<number, string[]> {
  const pdml = execFileSync('tshark', ['-r', file, '-Y', 'amqp', '-T', 'pdml'], { encoding: 'utf8', maxBuffer: 256 << 20, stdio: ['ignore', 'pipe', 'ignore'] });
  const out = new Map<number, string[]>();
  for (const packet of pdml.split('<packet>').slice(1)) {
    const src = Number(/name="tcp.srcport"[^>]*show="(\d+)"/.exec(packet)?.[1]);
    const dst = Number(/name="tcp.dstport"[^>]*show="(\d+)"/.exec(packet)?.[1]);
    const client = src === serverPort ? dst : src;
    let channel = 0;
    let cls = '';
    const fields = packet.matchAll(/name="(amqp\.channel|amqp\.method\.class|amqp\.method\.method)" showname="[^:]*: ([^"(]*?) ?(?:\(\d+\))?" [^>]*show="(\d+)"/g);
    for (const [, field, label, value] of fields) {
      if (field === 'amqp.channel') channel = Number(value);
      else if (field === 'amqp.method.class') cls = label!.toLowerCase();
      else {
        const list = out.get(client) ?? [];
        list.push(`${channel}:${cls}.${label!.toLowerCase()}`);
        out.set(client, list);
      }
    }
  }
  return out;
}

test('the corpus has AMQP captures', () => {
  assert.ok(files.length >= 5, `found ${files.length}`);
});

for (const file of files) {
  test(`amqp oracle: ${basename(file)}`, () => {
    const { events } = parseCaptureSync(file);
    assertValidEvents(events);
    const amqp = events.filter((e) => e.pano.protocol === 'amqp');
    assert.ok(amqp.length > 0, 'no amqp events');
    const serverPort = (amqp[0]!.server as { port: number }).port;
    const ours = new Map<number, string[]>();
    for (const e of amqp) {
      const g = e.amqp as { channel: number; method: string; response?: { method: string } };
      const list = ours.get((e.client as { port: number }).port) ?? [];
      list.push(`${g.channel}:${g.method}`);
      // A close that answers waiting requests is also the request of its own
      // event (answered by close-ok): count it there only.
      if (g.response && !g.response.method.endsWith('.close')) list.push(`${g.channel}:${g.response.method}`);
      ours.set((e.client as { port: number }).port, list);
    }
    const theirs = tsharkMethods(file, serverPort);
    assert.ok(theirs.size > 0);
    // Compare as sorted multisets: events are emitted when complete, not in wire order.
    const norm = (m: Map<number, string[]>) =>
      new Map([...m].map(([k, v]) => [k, [...v].sort()]));
    assert.deepEqual(norm(ours), norm(theirs));
  });
}
