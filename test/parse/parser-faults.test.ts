// A parser that throws costs its connection, not the run: the dispatcher drops
// that parser, counts `<protocol>.parser_faults` and goes on with the other
// connections; an exception of the event consumer passes through untouched;
// PANO_DEBUG=1 lets the parser's exception through. The faulty parser is a
// test double: no shipped parser is known to throw (test/parse/fuzz.test.ts).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Dir, type Connection } from '@panopticon/flows';
import { testConnection } from '../helpers/fake-parser-context.js';
import { Dispatcher, type ProtocolModule, type StreamParser } from '@panopticon/protocols';
import type { PanoEvent } from '@panopticon/events';

/** "PING n\n" lines, one event each; a line "BOOM" makes the parser throw as a bug would. */
const pingModule: ProtocolModule = {
  name: 'ping',
  transport: 'tcp',
  ports: [7777],
  detect: (head) => (head.subarray(0, 5).toString('latin1') === 'PING ' || head.subarray(0, 4).toString('latin1') === 'BOOM' ? { sender: 'client' } : null),
  createStream(ctx): StreamParser {
    return {
      data(_dir, chunk, tsNs) {
        for (const line of chunk.toString('latin1').split('\n').filter(Boolean)) {
          if (line === 'BOOM') throw new TypeError("Cannot read properties of undefined (reading 'length')");
          ctx.emit({ kind: 'message', startNs: tsNs, endNs: tsNs, attributes: { ping: { n: Number(line.slice(5)) } } });
        }
      },
      gap() {},
      end() {},
      close() {},
    };
  },
};

function conn(id: number): Connection {
  return testConnection({ id, client: { address: '10.0.0.1', port: 40000 + id }, server: { address: '10.0.0.2', port: 7777 } });
}

function run(onEvent: (ev: PanoEvent) => void) {
  const d = new Dispatcher({ modules: [pingModule], source: { type: 'pcap', name: 't' }, onEvent });
  const a = conn(1);
  const b = conn(2);
  d.open(a);
  d.open(b);
  d.data(a, Dir.ToServer, Buffer.from('PING 1\n'), 1n);
  d.data(b, Dir.ToServer, Buffer.from('PING 10\n'), 2n);
  d.data(a, Dir.ToServer, Buffer.from('BOOM\n'), 3n);
  d.data(a, Dir.ToServer, Buffer.from('PING 2\n'), 4n); // the faulty connection's parser is gone
  d.data(b, Dir.ToServer, Buffer.from('PING 11\n'), 5n);
  d.close(a, 'fin', 6n);
  d.close(b, 'fin', 6n);
  return d;
}

test('a parser that throws loses its connection, counted; the other connections go on', () => {
  delete process.env.PANO_DEBUG;
  const seen: Array<[number, number]> = [];
  const d = run((ev) => seen.push([ev.pano.connection.id, (ev as unknown as { ping: { n: number } }).ping.n]));
  assert.deepEqual(seen, [[1, 1], [2, 10], [2, 11]]);
  assert.equal(d.stats()['ping.parser_faults'], 1);
  assert.equal(d.stats()['dispatch.ignored_bytes'], 'PING 2\n'.length);
});

test("the event consumer's own exception is not a parser fault: it comes out as it was thrown", () => {
  delete process.env.PANO_DEBUG;
  const mine = new RangeError('consumer says no');
  assert.throws(() => run(() => { throw mine; }), (e) => e === mine);
});

test('PANO_DEBUG=1: the parser exception itself ends the run', () => {
  process.env.PANO_DEBUG = '1';
  try {
    assert.throws(() => run(() => {}), /Cannot read properties of undefined/);
  } finally {
    delete process.env.PANO_DEBUG;
  }
});
