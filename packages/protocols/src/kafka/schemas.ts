/**
 * Request and response bodies of the APIs decoded in full, written as field
 * lists in the shape of Apache Kafka's message definitions: a field exists
 * from version `since` to version `until` (inclusive). Strings, bytes and
 * arrays switch to compact encodings and every struct ends with tagged
 * fields in flexible versions; `decodeBody` handles that once for all.
 * Field names are the definitions' names in snake_case.
 */
import { safeInt } from '../messaging/body.js';
import { decodeRecords, type KafkaRecord, type RecordBudget } from './records.js';
import { KafkaRangeError, KafkaReader } from './reader.js';

type Scalar = 'int8' | 'int16' | 'int32' | 'int64' | 'bool' | 'string' | 'bytes' | 'uuid' | 'records' | 'int32[]' | 'int64[]' | 'string[]';
export type Field = [name: string, type: Scalar | Field[], since?: number, until?: number];

interface Schema {
  request: Field[];
  response: Field[];
  /** highest version these field lists describe */
  maxVersion: number;
}

const topicPartitions = (partition: Field[]): Field[] => [['name', 'string'], ['partitions', partition]];

export const SCHEMAS: ReadonlyMap<number, Schema> = new Map<number, Schema>([
  [0, {
    maxVersion: 13,
    request: [
      ['transactional_id', 'string', 3], ['acks', 'int16'], ['timeout_ms', 'int32'],
      ['topics', [['name', 'string', 0, 12], ['topic_id', 'uuid', 13], ['partitions', [['index', 'int32'], ['records', 'records']]]]],
    ],
    response: [
      ['topics', [['name', 'string', 0, 12], ['topic_id', 'uuid', 13], ['partitions', [
        ['index', 'int32'], ['error_code', 'int16'], ['base_offset', 'int64'], ['log_append_time_ms', 'int64', 2],
        ['log_start_offset', 'int64', 5], ['record_errors', [['batch_index', 'int32'], ['batch_index_error_message', 'string']], 8],
        ['error_message', 'string', 8],
      ]]]],
      ['throttle_time_ms', 'int32', 1],
    ],
  }],
  [1, {
    maxVersion: 17,
    request: [
      ['replica_id', 'int32', 0, 14], ['max_wait_ms', 'int32'], ['min_bytes', 'int32'], ['max_bytes', 'int32', 3],
      ['isolation_level', 'int8', 4], ['session_id', 'int32', 7], ['session_epoch', 'int32', 7],
      ['topics', [['topic', 'string', 0, 12], ['topic_id', 'uuid', 13], ['partitions', [
        ['partition', 'int32'], ['current_leader_epoch', 'int32', 9], ['fetch_offset', 'int64'], ['last_fetched_epoch', 'int32', 12],
        ['log_start_offset', 'int64', 5], ['partition_max_bytes', 'int32'],
      ]]]],
      ['forgotten_topics_data', [['topic', 'string', 7, 12], ['topic_id', 'uuid', 13], ['partitions', 'int32[]']], 7],
      ['rack_id', 'string', 11],
    ],
    response: [
      ['throttle_time_ms', 'int32', 1], ['error_code', 'int16', 7], ['session_id', 'int32', 7],
      ['responses', [['topic', 'string', 0, 12], ['topic_id', 'uuid', 13], ['partitions', [
        ['partition_index', 'int32'], ['error_code', 'int16'], ['high_watermark', 'int64'], ['last_stable_offset', 'int64', 4],
        ['log_start_offset', 'int64', 5], ['aborted_transactions', [['producer_id', 'int64'], ['first_offset', 'int64']], 4],
        ['preferred_read_replica', 'int32', 11], ['records', 'records'],
      ]]]],
    ],
  }],
  [2, {
    maxVersion: 10,
    request: [
      ['replica_id', 'int32'], ['isolation_level', 'int8', 2],
      ['topics', topicPartitions([['partition_index', 'int32'], ['current_leader_epoch', 'int32', 4], ['timestamp', 'int64'], ['max_num_offsets', 'int32', 0, 0]])],
      ['timeout_ms', 'int32', 10],
    ],
    response: [
      ['throttle_time_ms', 'int32', 2],
      ['topics', topicPartitions([
        ['partition_index', 'int32'], ['error_code', 'int16'], ['old_style_offsets', 'int64[]', 0, 0], ['timestamp', 'int64', 1],
        ['offset', 'int64', 1], ['leader_epoch', 'int32', 4],
      ])],
    ],
  }],
  [3, {
    maxVersion: 13,
    request: [
      ['topics', [['topic_id', 'uuid', 10], ['name', 'string']]], ['allow_auto_topic_creation', 'bool', 4],
      ['include_cluster_authorized_operations', 'bool', 8, 10], ['include_topic_authorized_operations', 'bool', 8],
    ],
    response: [
      ['throttle_time_ms', 'int32', 3],
      ['brokers', [['node_id', 'int32'], ['host', 'string'], ['port', 'int32'], ['rack', 'string', 1]]],
      ['cluster_id', 'string', 2], ['controller_id', 'int32', 1],
      ['topics', [
        ['error_code', 'int16'], ['name', 'string'], ['topic_id', 'uuid', 10], ['is_internal', 'bool', 1],
        ['partitions', [
          ['error_code', 'int16'], ['partition_index', 'int32'], ['leader_id', 'int32'], ['leader_epoch', 'int32', 7],
          ['replica_nodes', 'int32[]'], ['isr_nodes', 'int32[]'], ['offline_replicas', 'int32[]', 5],
        ]],
        ['topic_authorized_operations', 'int32', 8],
      ]],
      ['cluster_authorized_operations', 'int32', 8, 10], ['error_code', 'int16', 13],
    ],
  }],
  [8, {
    maxVersion: 9,
    request: [
      ['group_id', 'string'], ['generation_id_or_member_epoch', 'int32', 1], ['member_id', 'string', 1],
      ['group_instance_id', 'string', 7], ['retention_time_ms', 'int64', 2, 4],
      ['topics', topicPartitions([
        ['partition_index', 'int32'], ['committed_offset', 'int64'], ['committed_leader_epoch', 'int32', 6],
        ['commit_timestamp', 'int64', 1, 1], ['committed_metadata', 'string'],
      ])],
    ],
    response: [['throttle_time_ms', 'int32', 3], ['topics', topicPartitions([['partition_index', 'int32'], ['error_code', 'int16']])]],
  }],
  [9, {
    maxVersion: 9,
    request: [
      ['group_id', 'string', 0, 7], ['topics', [['name', 'string'], ['partition_indexes', 'int32[]']], 0, 7],
      ['groups', [['group_id', 'string'], ['member_id', 'string', 9], ['member_epoch', 'int32', 9], ['topics', [['name', 'string'], ['partition_indexes', 'int32[]']]]], 8],
      ['require_stable', 'bool', 7],
    ],
    response: [
      ['throttle_time_ms', 'int32', 3],
      ['topics', topicPartitions([
        ['partition_index', 'int32'], ['committed_offset', 'int64'], ['committed_leader_epoch', 'int32', 5], ['metadata', 'string'], ['error_code', 'int16'],
      ]), 0, 7],
      ['error_code', 'int16', 2, 7],
      ['groups', [
        ['group_id', 'string'],
        ['topics', topicPartitions([
          ['partition_index', 'int32'], ['committed_offset', 'int64'], ['committed_leader_epoch', 'int32'], ['metadata', 'string'], ['error_code', 'int16'],
        ])],
        ['error_code', 'int16'],
      ], 8],
    ],
  }],
  [10, {
    maxVersion: 6,
    request: [['key', 'string', 0, 3], ['key_type', 'int8', 1], ['coordinator_keys', 'string[]', 4]],
    response: [
      ['throttle_time_ms', 'int32', 1], ['error_code', 'int16', 0, 3], ['error_message', 'string', 1, 3],
      ['node_id', 'int32', 0, 3], ['host', 'string', 0, 3], ['port', 'int32', 0, 3],
      ['coordinators', [['key', 'string'], ['node_id', 'int32'], ['host', 'string'], ['port', 'int32'], ['error_code', 'int16'], ['error_message', 'string']], 4],
    ],
  }],
  [11, {
    maxVersion: 9,
    request: [
      ['group_id', 'string'], ['session_timeout_ms', 'int32'], ['rebalance_timeout_ms', 'int32', 1], ['member_id', 'string'],
      ['group_instance_id', 'string', 5], ['protocol_type', 'string'], ['protocols', [['name', 'string'], ['metadata', 'bytes']]],
      ['reason', 'string', 8],
    ],
    response: [
      ['throttle_time_ms', 'int32', 2], ['error_code', 'int16'], ['generation_id', 'int32'], ['protocol_type', 'string', 7],
      ['protocol_name', 'string'], ['leader', 'string'], ['skip_assignment', 'bool', 9], ['member_id', 'string'],
      ['members', [['member_id', 'string'], ['group_instance_id', 'string', 5], ['metadata', 'bytes']]],
    ],
  }],
  [12, {
    maxVersion: 4,
    request: [['group_id', 'string'], ['generation_id', 'int32'], ['member_id', 'string'], ['group_instance_id', 'string', 3]],
    response: [['throttle_time_ms', 'int32', 1], ['error_code', 'int16']],
  }],
  [13, {
    maxVersion: 5,
    request: [
      ['group_id', 'string'], ['member_id', 'string', 0, 2],
      ['members', [['member_id', 'string'], ['group_instance_id', 'string'], ['reason', 'string', 5]], 3],
    ],
    response: [
      ['throttle_time_ms', 'int32', 1], ['error_code', 'int16'],
      ['members', [['member_id', 'string'], ['group_instance_id', 'string'], ['error_code', 'int16']], 3],
    ],
  }],
  [14, {
    maxVersion: 5,
    request: [
      ['group_id', 'string'], ['generation_id', 'int32'], ['member_id', 'string'], ['group_instance_id', 'string', 3],
      ['protocol_type', 'string', 5], ['protocol_name', 'string', 5], ['assignments', [['member_id', 'string'], ['assignment', 'bytes']]],
    ],
    response: [
      ['throttle_time_ms', 'int32', 1], ['error_code', 'int16'], ['protocol_type', 'string', 5], ['protocol_name', 'string', 5],
      ['assignment', 'bytes'],
    ],
  }],
  [15, {
    maxVersion: 5,
    request: [['groups', 'string[]'], ['include_authorized_operations', 'bool', 3]],
    response: [
      ['throttle_time_ms', 'int32', 1],
      ['groups', [
        ['error_code', 'int16'], ['group_id', 'string'], ['group_state', 'string'], ['protocol_type', 'string'], ['protocol_data', 'string'],
        ['members', [
          ['member_id', 'string'], ['group_instance_id', 'string', 4], ['client_id', 'string'], ['client_host', 'string'],
          ['member_metadata', 'bytes'], ['member_assignment', 'bytes'],
        ]],
        ['authorized_operations', 'int32', 3],
      ]],
    ],
  }],
  [16, {
    maxVersion: 5,
    request: [['states_filter', 'string[]', 4], ['types_filter', 'string[]', 5]],
    response: [
      ['throttle_time_ms', 'int32', 1], ['error_code', 'int16'],
      ['groups', [['group_id', 'string'], ['protocol_type', 'string'], ['group_state', 'string', 4], ['group_type', 'string', 5]]],
    ],
  }],
  [19, {
    maxVersion: 7,
    request: [
      ['topics', [
        ['name', 'string'], ['num_partitions', 'int32'], ['replication_factor', 'int16'],
        ['assignments', [['partition_index', 'int32'], ['broker_ids', 'int32[]']]],
        ['configs', [['name', 'string'], ['value', 'string']]],
      ]],
      ['timeout_ms', 'int32'], ['validate_only', 'bool', 1],
    ],
    response: [
      ['throttle_time_ms', 'int32', 2],
      ['topics', [
        ['name', 'string'], ['topic_id', 'uuid', 7], ['error_code', 'int16'], ['error_message', 'string', 1],
        ['num_partitions', 'int32', 5], ['replication_factor', 'int16', 5],
        ['configs', [['name', 'string'], ['value', 'string'], ['read_only', 'bool'], ['config_source', 'int8'], ['is_sensitive', 'bool']], 5],
      ]],
    ],
  }],
  [20, {
    maxVersion: 6,
    request: [['topics', [['name', 'string'], ['topic_id', 'uuid']], 6], ['topic_names', 'string[]', 0, 5], ['timeout_ms', 'int32']],
    response: [
      ['throttle_time_ms', 'int32', 1],
      ['responses', [['name', 'string'], ['topic_id', 'uuid', 6], ['error_code', 'int16'], ['error_message', 'string', 5]]],
    ],
  }],
  [22, {
    maxVersion: 5,
    request: [['transactional_id', 'string'], ['transaction_timeout_ms', 'int32'], ['producer_id', 'int64', 3], ['producer_epoch', 'int16', 3]],
    response: [['throttle_time_ms', 'int32'], ['error_code', 'int16'], ['producer_id', 'int64'], ['producer_epoch', 'int16']],
  }],
  [17, {
    maxVersion: 1,
    request: [['mechanism', 'string']],
    response: [['error_code', 'int16'], ['mechanisms', 'string[]']],
  }],
  [18, {
    maxVersion: 4,
    request: [['client_software_name', 'string', 3], ['client_software_version', 'string', 3]],
    response: [
      ['error_code', 'int16'], ['api_keys', [['api_key', 'int16'], ['min_version', 'int16'], ['max_version', 'int16']]],
      ['throttle_time_ms', 'int32', 1],
    ],
  }],
]);

export interface DecodeContext {
  version: number;
  budget: RecordBudget;
  /** kept records, each tagged with where it came from */
  records: Array<KafkaRecord & { topic?: string; partition?: number }>;
  /** the enclosing topic and partition while decoding (record data is below them) */
  topic?: string;
  partition?: number;
}

export interface DecodedBody {
  body: Record<string, unknown>;
  /** decoding stopped early: the message was cut or malformed here */
  incomplete?: string;
}

/**
 * Decode fields into a fresh object. On a short or malformed message the
 * fields decoded so far are kept and `incomplete` says where it stopped.
 */
export function decodeBody(r: KafkaReader, fields: Field[], ctx: DecodeContext): DecodedBody {
  const body: Record<string, unknown> = {};
  try {
    decodeStruct(r, fields, ctx, body);
    return { body };
  } catch (err) {
    if (!(err instanceof KafkaRangeError)) throw err;
    return { body, incomplete: err.message };
  }
}

function decodeStruct(r: KafkaReader, fields: Field[], ctx: DecodeContext, out: Record<string, unknown>): void {
  const v = ctx.version;
  for (const [name, type, since = 0, until = Infinity] of fields) {
    if (v < since || v > until) continue;
    if (Array.isArray(type)) {
      const n = r.arrayLength();
      if (n < 0) {
        out[name] = null;
        continue;
      }
      const items: Array<Record<string, unknown>> = [];
      out[name] = items;
      for (let i = 0; i < n; i++) {
        const item: Record<string, unknown> = {};
        items.push(item);
        const outerTopic = ctx.topic;
        decodeStruct(r, type, ctx, item);
        ctx.topic = outerTopic;
      }
      continue;
    }
    out[name] = scalar(r, name, type, ctx);
  }
  r.taggedFields();
}

function scalar(r: KafkaReader, name: string, type: Scalar, ctx: DecodeContext): unknown {
  switch (type) {
    case 'int8':
      return r.int8();
    case 'int16':
      return r.int16();
    case 'int32': {
      const n = r.int32();
      if (name === 'index' || name === 'partition' || name === 'partition_index') ctx.partition = n;
      return n;
    }
    case 'int64':
      return safeInt(r.int64());
    case 'bool':
      return r.bool();
    case 'uuid':
      return r.uuid();
    case 'string': {
      const s = r.string();
      if ((name === 'name' || name === 'topic') && s !== null) ctx.topic = s;
      return s;
    }
    case 'bytes': {
      // Group protocol metadata and assignments: opaque to the broker, kept as a size.
      const b = r.bytes();
      return b === null ? null : { size: b.length };
    }
    case 'records': {
      const b = r.bytesPrefix();
      if (b === null) return null;
      const kept: KafkaRecord[] = [];
      const summary = decodeRecords(b.bytes, ctx.budget, kept);
      if (b.bytes.length < b.declared) {
        summary.size = b.declared;
        summary.partial = true;
      }
      for (const rec of kept) ctx.records.push({ topic: ctx.topic, partition: ctx.partition, ...rec });
      return summary;
    }
    case 'int32[]':
    case 'int64[]':
    case 'string[]': {
      const n = r.arrayLength();
      if (n < 0) return null;
      const out: unknown[] = [];
      for (let i = 0; i < n; i++) out.push(type === 'int32[]' ? r.int32() : type === 'int64[]' ? safeInt(r.int64()) : r.string());
      return out;
    }
  }
}
