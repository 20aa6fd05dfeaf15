// HTTP/2 and gRPC events against tshark 4.0 (the Wireshark dissectors) on every
// corpus capture of these protocols: per connection and stream, the request
// method and path, the response status, grpc-status, and the DATA bytes each
// side sent (padding excluded; the body sizes) must agree.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { basename, dirname, join } from 'node:path';
import { corpusAvailable, corpusFiles } from '../helpers/corpus.js';
import { tsharkAvailable } from '../helpers/tshark.js';
import { parseCaptureSync, assertValidEvents } from '../helpers/parse.js';

/** Decode-as options recorded in the corpus SOURCES.md for files on odd ports. */
const DECODE_AS: Record<string, string[]> = {
  'pcapfileex-http2_sample.pcapng': ['-d', 'tcp.port==8097,http2'],
  'suricata-http2-long-frame-input.pcap': ['-d', 'tcp.port==8443,http2'],
  'deepflow-grpc-segmented.pcap': ['-d', 'tcp.port==20035,http2'],
  'deepflow-grpc-server-stream.pcap': ['-d', 'tcp.port==9001,http2'],
  'deepflow-grpc-service-name.pcap': ['-d', 'tcp.port==38888,http2'],
  'deepflow-grpc-unary.pcap': ['-d', 'tcp.port==30035,http2'],
  'packt-Bidi_Streaming.pcapng': ['-d', 'tcp.port==50051,http2'],
  'packt-Client_Streaming.pcapng': ['-d', 'tcp.port==50051,http2'],
  'packt-Server_Streaming.pcapng': ['-d', 'tcp.port==50051,http2'],
  'packt-Unary.pcapng': ['-d', 'tcp.port==50051,http2'],
};

/** Files not compared, each with the reason (none since TLS decrypts with a key log). */
const EXCLUDED: Record<string, string> = {};

/** HTTP/2 inside TLS: both tools decrypt it with the key log beside it (SOURCES.md: copied from the capture's comment). */
const KEYLOG: Record<string, string> = {
  'wiregasm-http2-16-ssl.pcapng': 'wiregasm-http2-16-ssl.keylog',
};

/**
 * Facts pano-parse reports that tshark does not, each justified. Keys are
 * tuples as built below.
 */
const EXTRA_IN_OURS: Record<string, { tuples: string[]; reason: string }> = {
  'arkime-http2-nghttp2.pcap': {
    tuples: ['req 49570-80 13 GET /'],
    reason: 'stream 13 request header block is a 16384-byte HEADERS plus CONTINUATION spread over several TCP segments; tshark 4.0 leaves it _ws.unreassembled and shows no fields for it',
  },
  'scapy-http2_h2c.pcap': {
    tuples: ['req 58038-80 1 GET /robots.txt'],
    reason: 'stream 1 is the HTTP/1.1 request upgraded with Upgrade: h2c; tshark shows it as HTTP/1.1, we pair it with its HTTP/2 response on stream 1',
  },
};

function aslist<T>(x: T | T[] | undefined): T[] {
  return x === undefined ? [] : Array.isArray(x) ? x : [x];
}

function connKey(a: string | number, b: string | number): string {
  const [x, y] = [Number(a), Number(b)].sort((m, n) => m - n);
  return `${y}-${x}`;
}

function tsharkTuples(file: string): string[] {
  const keylog = KEYLOG[basename(file)];
  const args = ['-r', file, ...(DECODE_AS[basename(file)] ?? []), ...(keylog ? ['-o', `tls.keylog_file:${join(dirname(file), keylog)}`] : []), '-T', 'json', '--no-duplicate-keys', '-J', 'tcp http2'];
  const packets = JSON.parse(execFileSync('tshark', args, { encoding: 'utf8', maxBuffer: 512 << 20, stdio: ['ignore', 'pipe', 'ignore'] }));
  const out: string[] = [];
  /** DATA bytes per connection, stream and sending port. */
  const data = new Map<string, number>();
  for (const p of packets) {
    const l = p._source.layers;
    const tcp = aslist(l.tcp)[0] as Record<string, string> | undefined;
    if (!tcp) continue;
    const key = connKey(tcp['tcp.srcport'], tcp['tcp.dstport']);
    for (const h2 of aslist<any>(l.http2)) {
      for (const s of aslist<any>(h2['http2.stream'])) {
        const type = s['http2.type'];
        if (type === '0') {
          const padded = (Number(s['http2.flags']) & 0x8) !== 0;
          const size = Number(s['http2.length']) - (padded ? Number(s['http2.pad_length']) + 1 : 0);
          const at = `${key} ${s['http2.streamid']} ${tcp['tcp.srcport']}`;
          data.set(at, (data.get(at) ?? 0) + size);
        }
        if (type !== '1' && type !== '5') continue;
        const kv = new Map<string, string>();
        for (const h of aslist<any>(s['http2.header'])) if (!kv.has(h['http2.header.name'])) kv.set(h['http2.header.name'], h['http2.header.value']);
        const stream = s['http2.streamid'];
        if (kv.has(':method')) out.push(`req ${key} ${stream} ${kv.get(':method')} ${kv.get(':path')}`);
        const status = kv.get(':status');
        if (status && !status.startsWith('1')) out.push(`status ${key} ${stream} ${status}`);
        if (kv.has('grpc-status')) out.push(`grpc ${key} ${stream} ${kv.get('grpc-status')}`);
      }
    }
  }
  for (const [at, size] of data) if (size > 0) out.push(`body ${at} ${size}`);
  return out.sort();
}

function ourTuples(events: any[]): string[] {
  const out: string[] = [];
  for (const e of events) {
    if (e.pano.protocol !== 'http2') continue;
    const key = connKey(e.client.port, e.server.port);
    const stream = e.http2.stream_id;
    const req = e.http?.request;
    if (req?.method) {
      const path = e.url.path + (e.url.query !== undefined ? `?${e.url.query}` : '');
      const at = e.pano.kind === 'message' ? e.http2.push_promise_stream_id : stream;
      out.push(`req ${key} ${at} ${req.method} ${path}`);
      if (e.rpc) assert.equal(`/${e.rpc.service}/${e.rpc.method}`, path, 'rpc.service/rpc.method come from :path');
    }
    const status = e.http?.response?.status_code;
    if (status !== undefined) out.push(`status ${key} ${stream} ${status}`);
    if (e.rpc?.grpc?.status_code !== undefined) out.push(`grpc ${key} ${stream} ${e.rpc.grpc.status_code}`);
    if (req?.body?.size) out.push(`body ${key} ${stream} ${e.client.port} ${req.body.size}`);
    const resBody = e.http?.response?.body?.size;
    if (resBody) out.push(`body ${key} ${stream} ${e.server.port} ${resBody}`);
  }
  return out.sort();
}

const ready = corpusAvailable() && tsharkAvailable();
const files = ready ? [...corpusFiles('http2'), ...corpusFiles('grpc')] : [];

test('the corpus has HTTP/2 and gRPC captures', { skip: !ready && 'corpus or tshark missing' }, () => {
  assert.ok(files.length >= 16);
});

for (const file of files) {
  const name = basename(file);
  const excluded = EXCLUDED[name];
  test(`tshark agrees: ${name}`, { skip: excluded }, () => {
    const keylog = KEYLOG[name];
    const { events } = parseCaptureSync(file, keylog ? { parse: { tlsKeyLogs: [join(dirname(file), keylog)] } } : {});
    if (keylog) assert.ok(events.some((e: any) => e.pano.protocol === 'http2' && e.tls?.decrypted === true), 'HTTP/2 read from the decrypted TLS');
    assertValidEvents(events);
    const theirs = tsharkTuples(file);
    const ours = ourTuples(events);
    assert.ok(theirs.length > 0, 'tshark finds HTTP/2 headers in the file');
    const extra = EXTRA_IN_OURS[name]?.tuples ?? [];
    const oursCompared = ours.filter((t) => !extra.includes(t));
    assert.deepEqual(oursCompared, theirs);
    for (const t of extra) assert.ok(ours.includes(t), `justified extra ${t} is really reported`);
    const grpcFile = file.includes('/grpc/');
    if (grpcFile) assert.ok(events.some((e: any) => e.rpc?.system === 'grpc'), 'gRPC recognised');
  });
}
