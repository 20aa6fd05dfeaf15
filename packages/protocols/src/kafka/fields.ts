/**
 * A decoded Kafka request/response pair → event fields: semconv `messaging.*`
 * (topic, partition, client id, consumer group, record key/offset/body when
 * there is one record) and the `kafka` group (header, decoded bodies, kept
 * records, error codes).
 */
import { apiName, errorName } from './apis.js';
import type { KafkaHalf, KafkaRequest } from './parser.js';
import type { RecordsSummary } from './records.js';

const OPERATION_TYPE: Record<number, string> = {
  0: 'send', // Produce
  1: 'receive', // Fetch
  8: 'settle', // OffsetCommit
  78: 'receive', // ShareFetch
  79: 'settle', // ShareAcknowledge
};

export interface KafkaAttributes {
  attributes: Record<string, unknown>;
  truncated: boolean;
  undecodable: boolean;
}

export function exchangeAttributes(req: KafkaRequest, res: KafkaHalf | undefined): KafkaAttributes {
  const name = apiName(req.apiKey);
  const kafka: Record<string, unknown> = {
    api_key: req.apiKey,
    api_name: name,
    api_version: req.apiVersion,
    correlation_id: req.correlationId,
  };
  let truncated = req.frame.bytes.length < req.frame.size || (res !== undefined && res.frame.bytes.length < res.frame.size);
  let undecodable = false;
  const describe = (half: KafkaHalf, key: 'request' | 'response') => {
    if (half.decoded) {
      kafka[key] = half.decoded.body;
      if (half.decoded.incomplete) {
        kafka[`${key}_incomplete`] = half.decoded.incomplete;
        if (half.frame.bytes.length === half.frame.size) undecodable = true;
      }
    } else if (half.undecoded) {
      kafka[`${key}_undecoded`] = half.undecoded;
    }
  };
  describe(req, 'request');
  if (res) describe(res, 'response');

  const messaging: Record<string, unknown> = { system: 'kafka', operation: { name } };
  const type = OPERATION_TYPE[req.apiKey];
  if (type) (messaging.operation as Record<string, unknown>).type = type;
  if (req.clientId) messaging.client = { id: req.clientId };

  const reqWalk = walkBody(req.decoded?.body, false);
  const resWalk = walkBody(res?.decoded?.body, true);
  const where = reqWalk.topics;
  for (const [t, parts] of resWalk.topics) {
    const set = where.get(t) ?? new Set<number>();
    for (const p of parts) set.add(p);
    where.set(t, set);
  }
  if (where.size > 0) kafka.topics = [...where.keys()];
  if (where.size === 1) {
    const [topic, partitions] = [...where][0]!;
    const destination: Record<string, unknown> = { name: topic };
    if (partitions.size === 1) destination.partition = { id: String([...partitions][0]) };
    messaging.destination = destination;
  }
  const group = groupOf(req.decoded?.body);
  if (group) messaging.consumer = { group: { name: group } };

  if (req.apiKey === 0) produceOffsets(req, res);
  const records = [...req.records, ...(res?.records ?? [])];
  const declared = reqWalk.records + resWalk.records;
  if (declared > 0) messaging.batch = { message_count: declared };
  if (records.length > 0) {
    kafka.records = records;
    if (records.length < declared) truncated = true;
    for (const r of records) if (r.value?.truncated || r.key?.truncated) truncated = true;
    if (req.headerCut || res?.headerCut) truncated = true;
  }
  if (declared === 1 && records.length === 1) {
    const only = records[0]!;
    const mk: Record<string, unknown> = {};
    if (only.offset !== undefined) mk.offset = only.offset;
    if (only.key?.content !== undefined) mk.message = { key: only.key.content };
    messaging.kafka = mk;
    if (only.value) messaging.message = { body: only.value };
  }
  if (reqWalk.undecoded || resWalk.undecoded) undecodable = true;

  const attributes: Record<string, unknown> = { messaging, kafka, network: { protocol: { name: 'kafka' } } };
  const codes = resWalk.errors;
  if (codes.size > 0) {
    const first = [...codes][0]!;
    kafka.error_code = first;
    kafka.error_name = errorName(first);
    kafka.error_codes = [...codes];
    attributes.error = { type: errorName(first) };
  }
  return { attributes, truncated, undecodable };
}


function groupOf(body: Record<string, unknown> | undefined): string | undefined {
  if (!body) return undefined;
  if (typeof body.group_id === 'string') return body.group_id;
  const groups = body.groups;
  if (Array.isArray(groups) && groups.length === 1 && typeof groups[0]?.group_id === 'string') return groups[0].group_id;
  return undefined;
}




/**
 * Records in a Produce request carry offsets relative to their batch; the
 * broker assigns the base offset and returns it per partition. Make them
 * absolute where the response says, and drop them where it does not.
 */
function produceOffsets(req: KafkaRequest, res: KafkaHalf | undefined): void {
  const base = new Map<string, number>();
  const topics = res?.decoded?.body.topics;
  if (Array.isArray(topics)) {
    for (const t of topics as Array<Record<string, unknown>>) {
      for (const p of (t.partitions as Array<Record<string, unknown>> | undefined) ?? []) {
        if (typeof p.base_offset === 'number' && p.base_offset >= 0 && p.error_code === 0) base.set(`${t.name}/${p.index}`, p.base_offset);
      }
    }
  }
  for (const r of req.records) {
    const b = base.get(`${r.topic}/${r.partition}`);
    if (b !== undefined && typeof r.offset === 'number') r.offset = b + r.offset;
    else delete (r as { offset?: unknown }).offset;
  }
}

interface BodyWalk {
  /** topic names and the partitions named under them, in order of appearance */
  topics: Map<string, Set<number>>;
  /** records declared by the record batches */
  records: number;
  /** some record data could not be decompressed */
  undecoded: boolean;
  /** distinct non-zero error codes (responses) */
  errors: Set<number>;
}

/** One pass over a decoded body for what the semconv fields summarise. */
function walkBody(body: unknown, errors: boolean): BodyWalk {
  const acc: BodyWalk = { topics: new Map(), records: 0, undecoded: false, errors: new Set() };
  const visit = (node: unknown): void => {
    if (Array.isArray(node)) {
      for (const n of node) if (n !== null && typeof n === 'object') visit(n);
      return;
    }
    const o = node as Record<string, unknown>;
    // a struct with a topic name and partitions is a topic entry
    const topic = typeof o.topic === 'string' ? o.topic : 'partitions' in o && typeof o.name === 'string' ? o.name : undefined;
    if (topic !== undefined) {
      const set = acc.topics.get(topic) ?? new Set<number>();
      acc.topics.set(topic, set);
      const parts = o.partitions ?? o.partition_indexes;
      if (Array.isArray(parts)) {
        for (const p of parts) {
          const id = typeof p === 'number' ? p : ((p as Record<string, unknown>).index ?? (p as Record<string, unknown>).partition ?? (p as Record<string, unknown>).partition_index);
          if (typeof id === 'number') set.add(id);
        }
      }
    }
    for (const k in o) {
      const v = o[k];
      if (k === 'error_code') {
        if (errors && typeof v === 'number' && v !== 0) acc.errors.add(v);
      } else if (k === 'records' && v !== null && typeof v === 'object' && 'batches' in v) {
        acc.records += (v as unknown as RecordsSummary).count;
        if ((v as unknown as RecordsSummary).undecoded) acc.undecoded = true;
      } else if (k !== 'brokers' && v !== null && typeof v === 'object') {
        visit(v);
      }
    }
  };
  if (body) visit(body);
  return acc;
}
