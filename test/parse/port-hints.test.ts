// Detection order by port hints (PortHints): modules a flow's ports hint first, each group in registry
// order; the registry's own array when that is already the order; one array per set of hints.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PortHints } from '../../packages/protocols/src/port-hints.js';
import type { ProtocolModule } from '../../packages/protocols/src/types.js';

const mod = (name: string, ports: number[]): ProtocolModule => ({ name, transport: 'udp', ports, detect: () => null });

test('hinted modules first, registry order within each group; unchanged orders are the registry array itself; each reordering built once', () => {
  const mods = [mod('dns', [53, 5353]), mod('quic', [443, 853]), mod('dtls', [443, 5684])];
  const h = new PortHints(mods);
  const names = (o: readonly ProtocolModule[]) => o.map((m) => m.name);
  assert.equal(h.order(40000, 53), mods, 'DNS: the first module hinted, nothing to move');
  assert.equal(h.order(40000, 9999), mods, 'no hints: registry order');
  assert.deepEqual(names(h.order(50000, 443)), ['quic', 'dtls', 'dns']);
  assert.deepEqual(names(h.order(5684, 50000)), ['dtls', 'dns', 'quic'], 'the client port hints too');
  assert.deepEqual(names(h.order(853, 5684)), ['quic', 'dtls', 'dns']);
  assert.equal(h.order(50001, 443), h.order(50002, 443), 'one array per set of hints');
  assert.equal(h.order(53, 853), mods, 'dns and quic hinted: already first');
  assert.throws(() => new PortHints(Array.from({ length: 32 }, (_, i) => mod(`m${i}`, [i]))), /31/);
});
