// DNS events against tshark 4.0 on every DNS capture of the corpus (and the
// DNS found in other corpus directories): per message, the transaction id,
// question name and type, and for responses the rcode and answer count; and
// per connection, the data of every A, AAAA, CNAME, NS, PTR and MX record of
// every response section, which the service graph takes names from.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { corpusAvailable, corpusDir, corpusFiles } from '../helpers/corpus.js';
import { tsharkAvailable, tsharkFields } from '../helpers/tshark.js';
import { parseCaptureSync, assertValidEvents } from '../helpers/parse.js';

/** IANA DNS parameters, typed here independently of the parser's tables. */
const QTYPE: Record<string, string> = { 1: 'A', 2: 'NS', 5: 'CNAME', 6: 'SOA', 12: 'PTR', 15: 'MX', 16: 'TXT', 28: 'AAAA', 33: 'SRV', 35: 'NAPTR', 44: 'SSHFP', 48: 'DNSKEY', 64: 'SVCB', 65: 'HTTPS', 252: 'AXFR', 255: 'ANY' };
const RCODE: Record<string, string> = { 0: 'NOERROR', 1: 'FORMERR', 2: 'SERVFAIL', 3: 'NXDOMAIN', 4: 'NOTIMP', 5: 'REFUSED' };

/** DNS seen by tshark in other corpus directories (from SOURCES.md), compared as a bonus. */
const OTHER_FILES = [
  'http1/wiregasm-http.cap',
  'ip-fragmentation/ndpi-dns_fragmented.pcap',
  'ip-fragmentation/zeek-ipv6-fragmented-dns.pcap',
  'ipv6/suricata-datasets-08-state-ipv6-input.pcap',
  'ipv6/tcpdump-LINKTYPE_IPV6.pcap',
  'ipv6/zeek-naptr.pcap',
  'linux-sll/ndpi-KakaoTalk_chat.pcap',
  'linux-sll/ndpi-tls_heur__shadowsocks-tcp.pcapng',
  'pcapng-multi-interface/ndpi-dns-google-nsid.pcapng',
  'pcapng-multi-interface/zeek-pcapng-multi-interface.pcapng',
];

function connKey(a: string | number, b: string | number): string {
  const [x, y] = [Number(a), Number(b)].sort((m, n) => m - n);
  return `${y}-${x}`;
}

function tsharkTuples(file: string): string[] {
  const rows = tsharkFields(file, ['tcp.srcport', 'tcp.dstport', 'udp.srcport', 'udp.dstport', 'dns.id', 'dns.flags.response', 'dns.qry.name', 'dns.qry.type', 'dns.flags.rcode', 'dns.count.answers'], 
    // mDNS and LLMNR are other protocols to tshark; DNS quoted inside ICMP errors is not traffic.
    'dns && !mdns && !llmnr && !icmp');
  const out: string[] = [];
  for (const [ts, td, us, ud, ids, resp, names, types, rcodes, ans] of rows) {
    if (!ids) continue;
    const key = ts ? connKey(ts, td) : connKey(us.split(',')[0], ud.split(',')[0]);
    const idl = ids.split(',');
    const rl = resp.split(',');
    const nl = names.split(',');
    const tl = types.split(',');
    const al = ans.split(',');
    const rc = rcodes ? rcodes.split(',') : [];
    let r = 0;
    idl.forEach((id, i) => {
      // tshark writes the root name as <Root>; presentation format (and pano) writes ".".
      const qname = nl[i] === '<Root>' ? '.' : nl[i];
      const q = `${key} ${Number(id)} ${qname} ${QTYPE[tl[i]] ?? `TYPE${tl[i]}`}`;
      if (rl[i] === '1') out.push(`response ${q} ${RCODE[rc[r++]] ?? rc[r - 1]} ${al[i]}`);
      else out.push(`query ${q}`);
    });
  }
  return out.sort();
}

function ourTuples(events: any[]): string[] {
  const out: string[] = [];
  // DNS events, and HTTP exchanges that carried DNS messages (DoH): both have the `dns` group,
  // whose response fields are there exactly when a response message was decoded.
  for (const e of events) {
    const d = e.dns;
    if (!d) continue;
    const key = connKey(e.client.port, e.server.port);
    const q = `${key} ${d.id} ${d.question?.name} ${d.question?.type}`;
    if (e.pano.kind !== 'orphan_response') out.push(`query ${q}`);
    if (d.response_code !== undefined) out.push(`response ${q} ${d.response_code} ${d.answer_count}`);
  }
  return out.sort();
}

/** Record types compared by their data, with tshark's field for it (every section's records of that type). */
const DATA_FIELDS: Array<[string, string]> = [['A', 'dns.a'], ['AAAA', 'dns.aaaa'], ['CNAME', 'dns.cname'], ['NS', 'dns.ns'], ['PTR', 'dns.ptr.domain_name'], ['MX', 'dns.mx.mail_exchange']];

/** `connection type data` for every record of those types in a response, as tshark shows them. */
function tsharkRecordData(file: string): string[] {
  const rows = tsharkFields(file, ['tcp.srcport', 'tcp.dstport', 'udp.srcport', 'udp.dstport', 'dns.flags.response', ...DATA_FIELDS.map(([, f]) => f)], 'dns && !mdns && !llmnr && !icmp');
  const out: string[] = [];
  for (const [ts, td, us, ud, resp, ...values] of rows) {
    if (!resp.split(',').includes('1')) continue;
    const key = ts ? connKey(ts, td) : connKey(us.split(',')[0], ud.split(',')[0]);
    values.forEach((v, i) => {
      if (v) for (const d of v.split(',')) out.push(`${key} ${DATA_FIELDS[i][0]} ${d === '<Root>' ? '.' : d}`);
    });
  }
  return out.sort();
}

function ourRecordData(events: any[]): string[] {
  const out: string[] = [];
  const types = new Set(DATA_FIELDS.map(([t]) => t));
  for (const e of events) {
    const d = e.dns;
    if (d?.response_code === undefined) continue;
    const key = connKey(e.client.port, e.server.port);
    for (const r of [...(d.answers ?? []), ...(d.authority ?? []), ...(d.additional ?? [])]) {
      // MX data is "preference exchange"; tshark's field is the exchange
      if (types.has(r.type)) out.push(`${key} ${r.type} ${r.type === 'MX' ? r.data.split(' ')[1] : r.data}`);
    }
  }
  return out.sort();
}

const ready = corpusAvailable() && tsharkAvailable();
const files = ready ? [...corpusFiles('dns'), ...OTHER_FILES.map((f) => join(corpusDir, f)), join(corpusDir, 'http2/suricata-dns-over-http2-post-dns_over_https_POST.pcap')] : [];

for (const file of files) {
  test(`tshark agrees on DNS: ${file.slice(corpusDir.length + 1)}`, { skip: !ready && 'corpus or tshark missing' }, () => {
    const { events } = parseCaptureSync(file);
    assertValidEvents(events);
    const theirs = tsharkTuples(file);
    assert.ok(theirs.length > 0, 'tshark finds DNS in the file');
    assert.deepEqual(ourTuples(events), theirs);
    assert.deepEqual(ourRecordData(events), tsharkRecordData(file));
  });
}

/** Multicast DNS in the corpus with cache-flush records (from SOURCES.md). */
const MDNS_FILES = ['grpc/packt-Unary.pcapng', 'ipv6/arkime-v6-http.pcap'];

/**
 * Per mDNS response message, its records' class and cache-flush bit (RFC 6762 §10.2) in wire order, as tshark reads
 * them. (Not by dns.resp.type: tshark gives NSEC type bitmaps that field too. These captures have no OPT record.)
 */
function tsharkMdnsRecords(file: string): string[] {
  const rows = tsharkFields(file, ['dns.resp.class', 'dns.resp.cache_flush'], 'mdns && dns.flags.response == 1');
  return rows.map(([classes, flush]) => {
    const f = flush.split(',');
    return classes.split(',').map((c, i) => `${Number(c) === 1 ? 'IN' : `CLASS${Number(c)}`}/${f[i] === '1'}`).join(' ');
  }).sort();
}

function ourMdnsRecords(events: any[]): string[] {
  return events
    .filter((e) => e.pano.protocol === 'dns' && e.dns.response_code !== undefined && (e.server.port === 5353 || e.client.port === 5353))
    .map((e) => [...e.dns.answers, ...(e.dns.authority ?? []), ...(e.dns.additional ?? [])].map((r: any) => `${r.class}/${r.cache_flush === true}`).join(' '))
    .sort();
}

for (const name of MDNS_FILES) {
  test(`tshark agrees on mDNS record classes and cache-flush bits: ${name}`, { skip: !ready && 'corpus or tshark missing' }, () => {
    const file = join(corpusDir, name);
    const { events } = parseCaptureSync(file);
    assertValidEvents(events);
    const theirs = tsharkMdnsRecords(file);
    assert.ok(theirs.some((m) => m.includes('/true')), 'the capture has cache-flush records');
    assert.deepEqual(ourMdnsRecords(events), theirs);
  });
}

/** Captures of the corpus with NSEC (mDNS negative answers) and NSEC3 records (DNSSEC denial), found with tshark. */
const DENIAL_FILES = ['grpc/packt-Unary.pcapng', 'ip-fragmentation/ndpi-dns_fragmented.pcap'];

/** Presentation text (`Clement\226\128\153s\032MacBook`) as the UTF-8 text tshark shows (`Clement’s MacBook`). */
function presentationText(s: string): string {
  const bytes: number[] = [];
  for (let i = 0; i < s.length; i++) {
    if (s[i] !== '\\') bytes.push(s.charCodeAt(i));
    else if (/^\d{3}$/.test(s.slice(i + 1, i + 4))) {
      bytes.push(Number(s.slice(i + 1, i + 4)));
      i += 3;
    } else bytes.push(s.charCodeAt(++i));
  }
  return Buffer.from(bytes).toString('utf8');
}

for (const name of DENIAL_FILES) {
  test(`tshark agrees on NSEC next names and NSEC3 parameters and next hashes: ${name}`, { skip: !ready && 'corpus or tshark missing' }, () => {
    const file = join(corpusDir, name);
    const { events } = parseCaptureSync(file);
    assertValidEvents(events);
    const rows = tsharkFields(file, ['dns.nsec.next_domain_name', 'dns.nsec3.algo', 'dns.nsec3.flags', 'dns.nsec3.iterations', 'dns.nsec3.salt_value', 'dns.nsec3.hash_value'], 'dns.flags.response == 1');
    const theirs: string[] = [];
    for (const [next, alg, flags, iterations, salt, hash] of rows) {
      if (next) for (const n of next.split(',')) theirs.push(`NSEC ${n}`);
      if (alg) alg.split(',').forEach((a, i) => theirs.push(`NSEC3 ${a} ${flags.split(',')[i]} ${iterations.split(',')[i]} ${salt.split(',')[i] || '-'} ${hash.split(',')[i]}`));
    }
    const ours: string[] = [];
    for (const e of events as any[]) {
      if (e.dns?.response_code === undefined) continue;
      for (const r of [...e.dns.answers, ...(e.dns.authority ?? []), ...(e.dns.additional ?? [])]) {
        // NSEC: "next-name TYPE..."; NSEC3: "alg flags iterations salt next-hash TYPE..." (salt in hex, hash in base32hex, both as dig writes them: upper case)
        if (r.type === 'NSEC') ours.push(`NSEC ${presentationText(r.data.split(' ')[0])}`);
        if (r.type === 'NSEC3') ours.push(`NSEC3 ${r.data.split(' ').slice(0, 5).join(' ').toLowerCase()}`);
      }
    }
    assert.ok(theirs.length > 0, 'tshark finds NSEC or NSEC3 records');
    assert.deepEqual(ours.sort(), theirs.sort());
  });
}
