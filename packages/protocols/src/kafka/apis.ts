/**
 * Every Kafka API key with its name and the first version that is
 * "flexible" (KIP-482: tagged fields, compact strings/arrays, request header
 * v2, response header v1). Taken from the `flexibleVersions` of Apache
 * Kafka's message definitions; `null` means no flexible version.
 */

export interface ApiInfo {
  name: string;
  firstFlexible: number | null;
}

const API_TABLE: Array<[number, string, number | null]> = [
  [0, 'Produce', 9],
  [1, 'Fetch', 12],
  [2, 'ListOffsets', 6],
  [3, 'Metadata', 9],
  [4, 'LeaderAndIsr', 4],
  [5, 'StopReplica', 2],
  [6, 'UpdateMetadata', 6],
  [7, 'ControlledShutdown', 3],
  [8, 'OffsetCommit', 8],
  [9, 'OffsetFetch', 6],
  [10, 'FindCoordinator', 3],
  [11, 'JoinGroup', 6],
  [12, 'Heartbeat', 4],
  [13, 'LeaveGroup', 4],
  [14, 'SyncGroup', 4],
  [15, 'DescribeGroups', 5],
  [16, 'ListGroups', 3],
  [17, 'SaslHandshake', null],
  [18, 'ApiVersions', 3],
  [19, 'CreateTopics', 5],
  [20, 'DeleteTopics', 4],
  [21, 'DeleteRecords', 2],
  [22, 'InitProducerId', 2],
  [23, 'OffsetForLeaderEpoch', 4],
  [24, 'AddPartitionsToTxn', 3],
  [25, 'AddOffsetsToTxn', 3],
  [26, 'EndTxn', 3],
  [27, 'WriteTxnMarkers', 1],
  [28, 'TxnOffsetCommit', 3],
  [29, 'DescribeAcls', 2],
  [30, 'CreateAcls', 2],
  [31, 'DeleteAcls', 2],
  [32, 'DescribeConfigs', 4],
  [33, 'AlterConfigs', 2],
  [34, 'AlterReplicaLogDirs', 2],
  [35, 'DescribeLogDirs', 2],
  [36, 'SaslAuthenticate', 2],
  [37, 'CreatePartitions', 2],
  [38, 'CreateDelegationToken', 2],
  [39, 'RenewDelegationToken', 2],
  [40, 'ExpireDelegationToken', 2],
  [41, 'DescribeDelegationToken', 2],
  [42, 'DeleteGroups', 2],
  [43, 'ElectLeaders', 2],
  [44, 'IncrementalAlterConfigs', 1],
  [45, 'AlterPartitionReassignments', 0],
  [46, 'ListPartitionReassignments', 0],
  [47, 'OffsetDelete', null],
  [48, 'DescribeClientQuotas', 1],
  [49, 'AlterClientQuotas', 1],
  [50, 'DescribeUserScramCredentials', 0],
  [51, 'AlterUserScramCredentials', 0],
  [52, 'Vote', 0],
  [53, 'BeginQuorumEpoch', 1],
  [54, 'EndQuorumEpoch', 1],
  [55, 'DescribeQuorum', 0],
  [56, 'AlterPartition', 0],
  [57, 'UpdateFeatures', 0],
  [58, 'Envelope', 0],
  [59, 'FetchSnapshot', 0],
  [60, 'DescribeCluster', 0],
  [61, 'DescribeProducers', 0],
  [62, 'BrokerRegistration', 0],
  [63, 'BrokerHeartbeat', 0],
  [64, 'UnregisterBroker', 0],
  [65, 'DescribeTransactions', 0],
  [66, 'ListTransactions', 0],
  [67, 'AllocateProducerIds', 0],
  [68, 'ConsumerGroupHeartbeat', 0],
  [69, 'ConsumerGroupDescribe', 0],
  [70, 'ControllerRegistration', 0],
  [71, 'GetTelemetrySubscriptions', 0],
  [72, 'PushTelemetry', 0],
  [73, 'AssignReplicasToDirs', 0],
  [74, 'ListClientMetricsResources', 0],
  [75, 'DescribeTopicPartitions', 0],
  [76, 'ShareGroupHeartbeat', 0],
  [77, 'ShareGroupDescribe', 0],
  [78, 'ShareFetch', 0],
  [79, 'ShareAcknowledge', 0],
  [80, 'AddRaftVoter', 0],
  [81, 'RemoveRaftVoter', 0],
  [82, 'UpdateRaftVoter', 0],
  [83, 'InitializeShareGroupState', 0],
  [84, 'ReadShareGroupState', 0],
  [85, 'WriteShareGroupState', 0],
  [86, 'DeleteShareGroupState', 0],
  [87, 'ReadShareGroupStateSummary', 0],
  [88, 'StreamsGroupHeartbeat', 0],
  [89, 'StreamsGroupDescribe', 0],
  [90, 'DescribeShareGroupOffsets', 0],
  [91, 'AlterShareGroupOffsets', 0],
  [92, 'DeleteShareGroupOffsets', 0],
];

export const API_KEYS: ReadonlyMap<number, ApiInfo> = new Map(API_TABLE.map(([k, name, firstFlexible]) => [k, { name, firstFlexible }]));

/** Highest version any current broker speaks for any API; larger values in a header mean "not Kafka". */
export const MAX_PLAUSIBLE_VERSION = 20;

export const API_VERSIONS_KEY = 18;
export const CONTROLLED_SHUTDOWN_KEY = 7;

export function apiName(key: number): string {
  return API_KEYS.get(key)?.name ?? `Unknown(${key})`;
}

export function isFlexible(key: number, version: number): boolean {
  const first = API_KEYS.get(key)?.firstFlexible;
  return first !== null && first !== undefined && version >= first;
}

/** Request header v0 (no client id) is used only by ControlledShutdown v0. */
export function requestHasClientId(key: number, version: number): boolean {
  return !(key === CONTROLLED_SHUTDOWN_KEY && version === 0);
}

/** Response header v1 (tagged fields) for flexible versions, except ApiVersions, whose response header is always v0. */
export function responseHeaderHasTags(key: number, version: number): boolean {
  return key !== API_VERSIONS_KEY && isFlexible(key, version);
}

const ERROR_NAMES = [
  'NONE', 'OFFSET_OUT_OF_RANGE', 'CORRUPT_MESSAGE', 'UNKNOWN_TOPIC_OR_PARTITION', 'INVALID_FETCH_SIZE',
  'LEADER_NOT_AVAILABLE', 'NOT_LEADER_OR_FOLLOWER', 'REQUEST_TIMED_OUT', 'BROKER_NOT_AVAILABLE', 'REPLICA_NOT_AVAILABLE',
  'MESSAGE_TOO_LARGE', 'STALE_CONTROLLER_EPOCH', 'OFFSET_METADATA_TOO_LARGE', 'NETWORK_EXCEPTION',
  'COORDINATOR_LOAD_IN_PROGRESS', 'COORDINATOR_NOT_AVAILABLE', 'NOT_COORDINATOR', 'INVALID_TOPIC_EXCEPTION',
  'RECORD_LIST_TOO_LARGE', 'NOT_ENOUGH_REPLICAS', 'NOT_ENOUGH_REPLICAS_AFTER_APPEND', 'INVALID_REQUIRED_ACKS',
  'ILLEGAL_GENERATION', 'INCONSISTENT_GROUP_PROTOCOL', 'INVALID_GROUP_ID', 'UNKNOWN_MEMBER_ID',
  'INVALID_SESSION_TIMEOUT', 'REBALANCE_IN_PROGRESS', 'INVALID_COMMIT_OFFSET_SIZE', 'TOPIC_AUTHORIZATION_FAILED',
  'GROUP_AUTHORIZATION_FAILED', 'CLUSTER_AUTHORIZATION_FAILED', 'INVALID_TIMESTAMP', 'UNSUPPORTED_SASL_MECHANISM',
  'ILLEGAL_SASL_STATE', 'UNSUPPORTED_VERSION', 'TOPIC_ALREADY_EXISTS', 'INVALID_PARTITIONS',
  'INVALID_REPLICATION_FACTOR', 'INVALID_REPLICA_ASSIGNMENT', 'INVALID_CONFIG', 'NOT_CONTROLLER', 'INVALID_REQUEST',
  'UNSUPPORTED_FOR_MESSAGE_FORMAT', 'POLICY_VIOLATION', 'OUT_OF_ORDER_SEQUENCE_NUMBER', 'DUPLICATE_SEQUENCE_NUMBER',
  'INVALID_PRODUCER_EPOCH', 'INVALID_TXN_STATE', 'INVALID_PRODUCER_ID_MAPPING', 'INVALID_TRANSACTION_TIMEOUT',
  'CONCURRENT_TRANSACTIONS', 'TRANSACTION_COORDINATOR_FENCED', 'TRANSACTIONAL_ID_AUTHORIZATION_FAILED',
  'SECURITY_DISABLED', 'OPERATION_NOT_ATTEMPTED', 'KAFKA_STORAGE_ERROR', 'LOG_DIR_NOT_FOUND',
  'SASL_AUTHENTICATION_FAILED', 'UNKNOWN_PRODUCER_ID', 'REASSIGNMENT_IN_PROGRESS', 'DELEGATION_TOKEN_AUTH_DISABLED',
  'DELEGATION_TOKEN_NOT_FOUND', 'DELEGATION_TOKEN_OWNER_MISMATCH', 'DELEGATION_TOKEN_REQUEST_NOT_ALLOWED',
  'DELEGATION_TOKEN_AUTHORIZATION_FAILED', 'DELEGATION_TOKEN_EXPIRED', 'INVALID_PRINCIPAL_TYPE', 'NON_EMPTY_GROUP',
  'GROUP_ID_NOT_FOUND', 'FETCH_SESSION_ID_NOT_FOUND', 'INVALID_FETCH_SESSION_EPOCH', 'LISTENER_NOT_FOUND',
  'TOPIC_DELETION_DISABLED', 'FENCED_LEADER_EPOCH', 'UNKNOWN_LEADER_EPOCH', 'UNSUPPORTED_COMPRESSION_TYPE',
  'STALE_BROKER_EPOCH', 'OFFSET_NOT_AVAILABLE', 'MEMBER_ID_REQUIRED', 'PREFERRED_LEADER_NOT_AVAILABLE',
  'GROUP_MAX_SIZE_REACHED', 'FENCED_INSTANCE_ID', 'ELIGIBLE_LEADERS_NOT_AVAILABLE', 'ELECTION_NOT_NEEDED',
  'NO_REASSIGNMENT_IN_PROGRESS', 'GROUP_SUBSCRIBED_TO_TOPIC', 'INVALID_RECORD', 'UNSTABLE_OFFSET_COMMIT',
  'THROTTLING_QUOTA_EXCEEDED', 'PRODUCER_FENCED', 'RESOURCE_NOT_FOUND', 'DUPLICATE_RESOURCE',
  'UNACCEPTABLE_CREDENTIAL', 'INCONSISTENT_VOTER_SET', 'INVALID_UPDATE_VERSION', 'FEATURE_UPDATE_FAILED',
  'PRINCIPAL_DESERIALIZATION_FAILURE', 'SNAPSHOT_NOT_FOUND', 'POSITION_OUT_OF_RANGE', 'UNKNOWN_TOPIC_ID',
  'DUPLICATE_BROKER_REGISTRATION', 'BROKER_ID_NOT_REGISTERED', 'INCONSISTENT_TOPIC_ID', 'INCONSISTENT_CLUSTER_ID',
  'TRANSACTIONAL_ID_NOT_FOUND', 'FETCH_SESSION_TOPIC_ID_ERROR', 'INELIGIBLE_REPLICA', 'NEW_LEADER_ELECTED',
  'OFFSET_MOVED_TO_TIERED_STORAGE', 'FENCED_MEMBER_EPOCH', 'UNRELEASED_INSTANCE_ID', 'UNSUPPORTED_ASSIGNOR',
  'STALE_MEMBER_EPOCH', 'MISMATCHED_ENDPOINT_TYPE', 'UNSUPPORTED_ENDPOINT_TYPE', 'UNKNOWN_CONTROLLER_ID',
  'UNKNOWN_SUBSCRIPTION_ID', 'TELEMETRY_TOO_LARGE', 'INVALID_REGISTRATION', 'TRANSACTION_ABORTABLE',
];

export function errorName(code: number): string {
  if (code === -1) return 'UNKNOWN_SERVER_ERROR';
  return ERROR_NAMES[code] ?? `ERROR_${code}`;
}
