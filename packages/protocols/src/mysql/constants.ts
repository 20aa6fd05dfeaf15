/**
 * MySQL / MariaDB client/server protocol constants
 * (https://dev.mysql.com/doc/dev/mysql-server/latest/PAGE_PROTOCOL.html,
 * https://mariadb.com/kb/en/clientserver-protocol/).
 */

/** Command bytes (first payload byte of a client packet with sequence id 0). */
export const Command = {
  Sleep: 0x00,
  Quit: 0x01,
  InitDb: 0x02,
  Query: 0x03,
  FieldList: 0x04,
  CreateDb: 0x05,
  DropDb: 0x06,
  Refresh: 0x07,
  Shutdown: 0x08,
  Statistics: 0x09,
  ProcessInfo: 0x0a,
  Connect: 0x0b,
  ProcessKill: 0x0c,
  Debug: 0x0d,
  Ping: 0x0e,
  Time: 0x0f,
  DelayedInsert: 0x10,
  ChangeUser: 0x11,
  BinlogDump: 0x12,
  TableDump: 0x13,
  ConnectOut: 0x14,
  RegisterSlave: 0x15,
  StmtPrepare: 0x16,
  StmtExecute: 0x17,
  StmtSendLongData: 0x18,
  StmtClose: 0x19,
  StmtReset: 0x1a,
  SetOption: 0x1b,
  StmtFetch: 0x1c,
  Daemon: 0x1d,
  BinlogDumpGtid: 0x1e,
  ResetConnection: 0x1f,
  Clone: 0x20,
  SubscribeGroupReplicationStream: 0x21,
  /** MariaDB: several prepared-statement executions in one packet */
  StmtBulkExecute: 0xfa,
} as const;

export const commandName: Record<number, string> = {
  0x00: 'COM_SLEEP',
  0x01: 'COM_QUIT',
  0x02: 'COM_INIT_DB',
  0x03: 'COM_QUERY',
  0x04: 'COM_FIELD_LIST',
  0x05: 'COM_CREATE_DB',
  0x06: 'COM_DROP_DB',
  0x07: 'COM_REFRESH',
  0x08: 'COM_SHUTDOWN',
  0x09: 'COM_STATISTICS',
  0x0a: 'COM_PROCESS_INFO',
  0x0b: 'COM_CONNECT',
  0x0c: 'COM_PROCESS_KILL',
  0x0d: 'COM_DEBUG',
  0x0e: 'COM_PING',
  0x0f: 'COM_TIME',
  0x10: 'COM_DELAYED_INSERT',
  0x11: 'COM_CHANGE_USER',
  0x12: 'COM_BINLOG_DUMP',
  0x13: 'COM_TABLE_DUMP',
  0x14: 'COM_CONNECT_OUT',
  0x15: 'COM_REGISTER_SLAVE',
  0x16: 'COM_STMT_PREPARE',
  0x17: 'COM_STMT_EXECUTE',
  0x18: 'COM_STMT_SEND_LONG_DATA',
  0x19: 'COM_STMT_CLOSE',
  0x1a: 'COM_STMT_RESET',
  0x1b: 'COM_SET_OPTION',
  0x1c: 'COM_STMT_FETCH',
  0x1d: 'COM_DAEMON',
  0x1e: 'COM_BINLOG_DUMP_GTID',
  0x1f: 'COM_RESET_CONNECTION',
  0x20: 'COM_CLONE',
  0x21: 'COM_SUBSCRIBE_GROUP_REPLICATION_STREAM',
  0xfa: 'COM_STMT_BULK_EXECUTE',
};

/** Capability flags (lower and upper 16 bits of the greeting / handshake response). */
export const Cap = {
  LongPassword: 0x1,
  ConnectWithDb: 0x8,
  /** Packets after the handshake are zlib-compressed (CLIENT_COMPRESS) */
  Compress: 0x20,
  Protocol41: 0x200,
  Ssl: 0x800,
  SecureConnection: 0x8000,
  MultiResults: 0x20000,
  PsMultiResults: 0x40000,
  PluginAuth: 0x80000,
  ConnectAttrs: 0x100000,
  PluginAuthLenencClientData: 0x200000,
  SessionTrack: 0x800000,
  DeprecateEof: 0x1000000,
  OptionalResultsetMetadata: 0x2000000,
  QueryAttributes: 0x8000000,
  /** Packets after the handshake are zstd-compressed */
  ZstdCompression: 0x4000000,
} as const;

/** Server status flags in OK / EOF packets. */
export const Status = {
  MoreResultsExist: 0x0008,
} as const;

/** Flags of COM_STMT_EXECUTE. */
export const ExecFlag = {
  ParameterCountAvailable: 0x08,
} as const;

/** First payload byte of a response packet. */
export const Header = {
  Ok: 0x00,
  AuthMoreData: 0x01,
  LocalInfile: 0xfb,
  /** EOF, or AuthSwitchRequest during authentication, or an OK that ends rows (CLIENT_DEPRECATE_EOF) */
  Eof: 0xfe,
  Err: 0xff,
} as const;

/**
 * The error code of an ERR packet that is a MariaDB progress report, not an
 * error: sent (to clients with MARIADB_CLIENT_PROGRESS) while a statement runs,
 * before its real reply (sql/protocol.cc net_send_progress_packet).
 */
export const PROGRESS_REPORT_CODE = 0xffff;

/** Column / parameter types (enum_field_types). */
export const Type = {
  Decimal: 0x00,
  Tiny: 0x01,
  Short: 0x02,
  Long: 0x03,
  Float: 0x04,
  Double: 0x05,
  Null: 0x06,
  Timestamp: 0x07,
  LongLong: 0x08,
  Int24: 0x09,
  Date: 0x0a,
  Time: 0x0b,
  DateTime: 0x0c,
  Year: 0x0d,
  NewDate: 0x0e,
  VarChar: 0x0f,
  Bit: 0x10,
  Timestamp2: 0x11,
  DateTime2: 0x12,
  Time2: 0x13,
  TypedArray: 0x14,
  Vector: 0xf2,
  Invalid: 0xf3,
  Bool: 0xf4,
  Json: 0xf5,
  NewDecimal: 0xf6,
  Enum: 0xf7,
  Set: 0xf8,
  TinyBlob: 0xf9,
  MediumBlob: 0xfa,
  LongBlob: 0xfb,
  Blob: 0xfc,
  VarString: 0xfd,
  String: 0xfe,
  Geometry: 0xff,
} as const;

/** Type names as enum_field_types spells them, without the MYSQL_TYPE_ prefix. */
export const typeName: Record<number, string> = {
  0x00: 'DECIMAL', 0x01: 'TINY', 0x02: 'SHORT', 0x03: 'LONG', 0x04: 'FLOAT', 0x05: 'DOUBLE', 0x06: 'NULL',
  0x07: 'TIMESTAMP', 0x08: 'LONGLONG', 0x09: 'INT24', 0x0a: 'DATE', 0x0b: 'TIME', 0x0c: 'DATETIME',
  0x0d: 'YEAR', 0x0e: 'NEWDATE', 0x0f: 'VARCHAR', 0x10: 'BIT', 0x11: 'TIMESTAMP2', 0x12: 'DATETIME2',
  0x13: 'TIME2', 0x14: 'TYPED_ARRAY', 0xf2: 'VECTOR', 0xf3: 'INVALID', 0xf4: 'BOOL', 0xf5: 'JSON',
  0xf6: 'NEWDECIMAL', 0xf7: 'ENUM', 0xf8: 'SET', 0xf9: 'TINY_BLOB', 0xfa: 'MEDIUM_BLOB', 0xfb: 'LONG_BLOB',
  0xfc: 'BLOB', 0xfd: 'VAR_STRING', 0xfe: 'STRING', 0xff: 'GEOMETRY',
};

/** The charset number of binary strings (BLOB, VARBINARY, and every numeric column in text results). */
export const BINARY_CHARSET = 63;

/** A payload of this length is continued by the next packet. */
export const MAX_PACKET_PAYLOAD = 0xffffff;
