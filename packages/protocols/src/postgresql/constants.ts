/**
 * PostgreSQL frontend/backend protocol v3 message codes
 * (https://www.postgresql.org/docs/current/protocol-message-formats.html).
 * Type bytes are reused between directions with different meanings
 * ('D' is Describe from the client and DataRow from the server), so each
 * direction has its own table.
 */

/** Codes that stand where a protocol version would in an untyped first message. */
export const StartupCode = {
  /** 3.0; minor versions above 0 are announced with NegotiateProtocolVersion. */
  Protocol3: 196608,
  SSLRequest: 80877103,
  GSSENCRequest: 80877104,
  CancelRequest: 80877102,
} as const;

/** Frontend (client → server) message types. */
export const Frontend = {
  Bind: 0x42, // B
  Close: 0x43, // C
  CopyData: 0x64, // d
  CopyDone: 0x63, // c
  CopyFail: 0x66, // f
  Describe: 0x44, // D
  Execute: 0x45, // E
  Flush: 0x48, // H
  FunctionCall: 0x46, // F
  Parse: 0x50, // P
  /** PasswordMessage, SASLInitialResponse, SASLResponse, GSSResponse: told apart only by context. */
  Password: 0x70, // p
  Query: 0x51, // Q
  Sync: 0x53, // S
  Terminate: 0x58, // X
} as const;

/** Backend (server → client) message types. */
export const Backend = {
  Authentication: 0x52, // R
  BackendKeyData: 0x4b, // K
  BindComplete: 0x32, // 2
  CloseComplete: 0x33, // 3
  CommandComplete: 0x43, // C
  CopyData: 0x64, // d
  CopyDone: 0x63, // c
  CopyInResponse: 0x47, // G
  CopyOutResponse: 0x48, // H
  CopyBothResponse: 0x57, // W
  DataRow: 0x44, // D
  EmptyQueryResponse: 0x49, // I
  ErrorResponse: 0x45, // E
  FunctionCallResponse: 0x56, // V
  NegotiateProtocolVersion: 0x76, // v
  NoData: 0x6e, // n
  NoticeResponse: 0x4e, // N
  NotificationResponse: 0x41, // A
  ParameterDescription: 0x74, // t
  ParameterStatus: 0x53, // S
  ParseComplete: 0x31, // 1
  PortalSuspended: 0x73, // s
  ReadyForQuery: 0x5a, // Z
  RowDescription: 0x54, // T
} as const;

/** Authentication request codes carried in 'R' messages. */
export const AuthCode = {
  Ok: 0,
  KerberosV5: 2,
  CleartextPassword: 3,
  MD5Password: 5,
  GSS: 7,
  GSSContinue: 8,
  SSPI: 9,
  SASL: 10,
  SASLContinue: 11,
  SASLFinal: 12,
} as const;

/** Names of the authentication methods a server asked for (never the secrets exchanged). */
export const authMethodName: Record<number, string> = {
  [AuthCode.KerberosV5]: 'kerberos-v5',
  [AuthCode.CleartextPassword]: 'password',
  [AuthCode.MD5Password]: 'md5',
  [AuthCode.GSS]: 'gss',
  [AuthCode.SSPI]: 'sspi',
  [AuthCode.SASL]: 'sasl',
};

/** Messages whose body has a fixed length (length field included), used to judge framing. */
export const fixedLength = {
  frontend: new Map<number, number>([
    [Frontend.Sync, 4],
    [Frontend.Flush, 4],
    [Frontend.Terminate, 4],
    [Frontend.CopyDone, 4],
  ]),
  backend: new Map<number, number>([
    [Backend.ParseComplete, 4],
    [Backend.BindComplete, 4],
    [Backend.CloseComplete, 4],
    [Backend.NoData, 4],
    [Backend.PortalSuspended, 4],
    [Backend.EmptyQueryResponse, 4],
    [Backend.CopyDone, 4],
    [Backend.ReadyForQuery, 5],
    [Backend.BackendKeyData, 12],
  ]),
};

/** Frontend message names, for events and counters. */
export const frontendName: Record<number, string> = {
  [Frontend.Bind]: 'Bind',
  [Frontend.Close]: 'Close',
  [Frontend.CopyData]: 'CopyData',
  [Frontend.CopyDone]: 'CopyDone',
  [Frontend.CopyFail]: 'CopyFail',
  [Frontend.Describe]: 'Describe',
  [Frontend.Execute]: 'Execute',
  [Frontend.Flush]: 'Flush',
  [Frontend.FunctionCall]: 'FunctionCall',
  [Frontend.Parse]: 'Parse',
  [Frontend.Password]: 'PasswordMessage',
  [Frontend.Query]: 'Query',
  [Frontend.Sync]: 'Sync',
  [Frontend.Terminate]: 'Terminate',
};

/** One byte per possible type: 1 where the direction may send it (framing plausibility). */
function table(codes: readonly number[]): Uint8Array {
  const t = new Uint8Array(256);
  for (const c of codes) t[c] = 1;
  return t;
}
export const frontendTypes = table(Object.values(Frontend));
export const backendTypes = table(Object.values(Backend));
