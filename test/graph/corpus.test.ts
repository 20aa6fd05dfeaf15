// The graph built from real event streams (pano-parse | pano-pii | pano-graph
// over corpus captures), checked node by node and edge by edge against what
// tshark says the traffic was.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { existsSync } from 'node:fs';
import type { GraphSnapshot } from '@panopticon/graph';
import { CORPUS, parseEvents, piiEvents, pipeline, tshark } from './pipeline.js';

const WIREGASM = join(CORPUS, 'http1/wiregasm-http.cap');
const HTTP_POST = join(CORPUS, 'http1/chrissanders-http_post.pcapng');
const PSQL_FAIL = join(CORPUS, 'postgresql/zeek-psql-insert-fail-drop-fail.pcap');
const noCorpus = !existsSync(WIREGASM) && 'corpus not found at ../shared/corpus';

/** tshark's epoch "1084443428.222534000" → ns, exactly. */
function epochNs(s: string): bigint {
  const [sec, frac = ''] = s.split('.');
  return BigInt(sec!) * 1_000_000_000n + BigInt(frac.padEnd(9, '0').slice(0, 9));
}

test('HTTP and PostgreSQL captures: nodes, ports, edges, counts, errors, latency, bytes and PII match the traffic', { skip: noCorpus }, () => {
  const g = JSON.parse(pipeline([WIREGASM, HTTP_POST, PSQL_FAIL], ['--format', 'json'], { pii: true })) as GraphSnapshot;

  // --- HTTP: one edge per (client, server), a request per tshark http.request
  const http = [WIREGASM, HTTP_POST].flatMap((f) => tshark(['-r', f, '-Y', 'http', '-T', 'fields', '-e', 'frame.time_epoch', '-e', 'ip.src', '-e', 'ip.dst', '-e', 'tcp.dstport', '-e', 'http.request.method', '-e', 'http.response.code']));
  const expectEdges = new Map<string, { requests: number; errors: number; ports: Set<number>; durations: bigint[]; first: bigint; last: bigint }>();
  const pendingReq = new Map<string, bigint[]>();
  for (const [t, src, dst, dport, method, code] of http) {
    if (method) {
      const k = `${src} -> ${dst} (http)`;
      const e = expectEdges.get(k) ?? { requests: 0, errors: 0, ports: new Set(), durations: [], first: epochNs(t!), last: 0n };
      e.requests++;
      e.ports.add(Number(dport));
      expectEdges.set(k, e);
      pendingReq.set(k, [...(pendingReq.get(k) ?? []), epochNs(t!)]);
    } else if (code) {
      const k = `${dst} -> ${src} (http)`;
      const e = expectEdges.get(k)!;
      if (Number(code) >= 500) e.errors++;
      const reqT = pendingReq.get(k)!.shift()!;
      e.durations.push(epochNs(t!) - reqT);
      e.last = epochNs(t!);
    }
  }
  // a node is named by DNS when the stream resolved it (the next test checks how); here, find it by address
  const idOf = (addr: string) => g.nodes.find((n) => n.addresses.includes(addr))?.id ?? addr;
  const byAddress = (k: string) => k.replace(/^(\S+) -> (\S+) /, (_, c: string, s: string) => `${idOf(c)} -> ${idOf(s)} `);
  for (const [key, want] of expectEdges) {
    const id = byAddress(key);
    const e = g.edges.find((x) => x.id === id);
    assert.ok(e, `edge ${id} present`);
    assert.equal(e.requests, want.requests, `${id} requests`);
    assert.equal(e.errors, want.errors, `${id} errors`);
    assert.equal(e.first_seen_ns, want.first.toString(), `${id} first seen = first request frame`);
    assert.equal(e.last_seen_ns, want.last.toString(), `${id} last seen = last response frame`);
    // nearest-rank percentiles of the tshark request→response times (exact at the extremes, else within 1 %)
    const sorted = [...want.durations].sort((a, b) => (a < b ? -1 : 1)).map(Number);
    const rank = (q: number) => sorted[Math.max(1, Math.ceil(q * sorted.length)) - 1]!;
    for (const q of [0.5, 0.95, 0.99] as const) {
      const got = e.latency_ns[`p${Math.round(q * 100)}` as 'p50']!;
      assert.ok(Math.abs(got - rank(q)) <= rank(q) * 0.01, `${id} p${q * 100}: ${got} vs ${rank(q)}`);
    }
  }

  // bytes on a connection captured whole (wiregasm stream 0, from its SYN): tshark's TCP payload sums
  const payload = tshark(['-r', WIREGASM, '-Y', 'tcp.stream == 0', '-T', 'fields', '-e', 'ip.src', '-e', 'tcp.len']);
  const c2s = payload.filter(([s]) => s === '145.254.160.237').reduce((a, [, n]) => a + Number(n), 0);
  const s2c = payload.filter(([s]) => s === '65.208.228.223').reduce((a, [, n]) => a + Number(n), 0);
  assert.deepEqual(g.edges.find((e) => e.id === '145.254.160.237 -> 65.208.228.223 (http)')!.bytes, { client_to_server: c2s, server_to_client: s2c });

  // --- PostgreSQL: requests are the client's startup, simple queries and termination; errors are ErrorResponses
  const pg = tshark(['-r', PSQL_FAIL, '-T', 'fields', '-e', 'tcp.dstport', '-e', 'pgsql.type']);
  const pgRequests = pg.filter(([port, type]) => port === '5432' && /^(Startup message|Simple query|Termination)/.test(type ?? '')).length;
  const pgErrors = pg.filter(([port, type]) => port !== '5432' && /(^|,)Error(,|$)/.test(type ?? '')).length;
  const pgEdge = g.edges.find((e) => e.protocol === 'postgresql')!;
  assert.equal(pgEdge.id, '127.0.0.1 -> 127.0.0.1 (postgresql)');
  assert.equal(pgEdge.requests, pgRequests);
  assert.equal(pgEdge.errors, pgErrors);

  // --- nodes: every address seen, each with the ports it served (tshark: destination ports of SYNs / requests)
  const syn = [WIREGASM, HTTP_POST, PSQL_FAIL].flatMap((f) => [
    ...tshark(['-r', f, '-Y', 'tcp.flags.syn == 1 && tcp.flags.ack == 0', '-T', 'fields', '-e', 'ip.src', '-e', 'ip.dst', '-e', 'tcp.dstport']),
    ...tshark(['-r', f, '-Y', 'dns.flags.response == 0', '-T', 'fields', '-e', 'ip.src', '-e', 'ip.dst', '-e', 'udp.dstport']),
  ]);
  const served = new Map<string, Set<number>>();
  for (const [src, dst, port] of syn) {
    if (!served.has(src!)) served.set(src!, new Set());
    served.set(dst!, (served.get(dst!) ?? new Set()).add(Number(port)));
  }
  for (const [k, e] of expectEdges) for (const p of e.ports) served.get(k.split(' -> ')[1]!.replace(' (http)', ''))?.add(p);
  // the midstream HTTP connection of wiregasm (no SYN captured) still has its server
  served.set('216.239.59.99', new Set([80]));
  served.set('145.254.160.237', served.get('145.254.160.237') ?? new Set());
  assert.deepEqual(g.nodes.flatMap((n) => n.addresses).sort(), [...served.keys()].sort());
  for (const n of g.nodes) {
    const ports = new Set(n.addresses.flatMap((a) => [...served.get(a)!]));
    assert.deepEqual(n.ports, [...ports].sort((a, b) => a - b), `${n.id} ports`);
  }

  // --- PII: pano-pii's findings on the POST capture, split by hand by where they sit in the event
  // (anything under http.request / url / user_agent went client → server, under http.response came back)
  const want = { client_to_server: {} as Record<string, number>, server_to_client: {} as Record<string, number> };
  for (const ev of piiEvents([HTTP_POST])) {
    for (const f of ev.pii ?? []) {
      const dir = f.path.startsWith('http.response.') ? 'server_to_client' : 'client_to_server';
      want[dir][f.type] = (want[dir][f.type] ?? 0) + 1;
    }
  }
  const postEdge = g.edges.find((e) => e.id === '172.16.16.128 -> 69.163.176.56 (http)')!;
  assert.ok((want.client_to_server.email ?? 0) >= 1, 'the e-mail address in the POST body went client → server');
  assert.ok((want.server_to_client.email ?? 0) >= 1, 'and one came back in the response body');
  assert.deepEqual(postEdge.pii, want);
  assert.ok(postEdge.pii_types.includes('email'));
  assert.deepEqual(g.edges.find((e) => e.id === '145.254.160.237 -> 65.208.228.223 (http)')!.pii_types, []);
  assert.equal(g.edges.length, expectEdges.size + 1 + g.edges.filter((e) => e.protocol === 'dns').length, 'http edges + the postgresql edge + DNS edges, nothing else');
  assert.equal(g.counts.bad_lines, 0);
});

test('DNS answers in the same stream name the server (wiregasm: DNS lookup then HTTP)', async (t) => {
  if (noCorpus) return t.skip(noCorpus);
  const dnsEvents = parseEvents([join(CORPUS, 'dns/tcpdump-dns_udp.pcap')]).filter((e) => e.pano.protocol === 'dns');
  if (dnsEvents.length === 0) return t.skip('pano-parse does not emit DNS events yet');
  const g = JSON.parse(pipeline([WIREGASM], [])) as GraphSnapshot;
  // tshark: the one DNS answer in the capture, its CNAME chain and A records
  const [[qname, cnames, addrs, client, server]] = tshark(['-r', WIREGASM, '-Y', 'dns.flags.response == 1', '-T', 'fields', '-e', 'dns.qry.name', '-e', 'dns.cname', '-e', 'dns.a', '-e', 'ip.dst', '-e', 'ip.src']) as [string[]];
  assert.equal(qname, 'pagead2.googlesyndication.com');
  const contacted = addrs!.split(',').filter((a) => g.nodes.some((n) => n.addresses.includes(a)));
  assert.deepEqual(contacted, ['216.239.59.99']);
  const node = g.nodes.find((n) => n.addresses.includes('216.239.59.99'))!;
  assert.equal(node.id, qname, 'named by the question the client asked');
  assert.deepEqual([...node.names].sort(), [qname!, ...cnames!.split(',')].sort(), 'with every name of the CNAME chain kept');
  assert.equal(node.names[node.names.length - 1], qname);
  const dnsEdge = g.edges.find((e) => e.protocol === 'dns')!;
  assert.equal(dnsEdge.id, `${client} -> ${server} (dns)`);
  assert.equal(dnsEdge.requests, 1);
  assert.equal(dnsEdge.errors, 0);
  // the server never resolved stays an address
  assert.ok(g.nodes.some((n) => n.id === '65.208.228.223'));
  assert.ok(g.edges.some((e) => e.id === `145.254.160.237 -> ${qname} (http)`));
});
