/**
 * QUIC registry values (RFC 9000, RFC 9001, RFC 9369): the versions whose
 * Initial packets can be read (each with its Initial salt, key labels and
 * long-header type codes), frame types and transport error names.
 */

export interface VersionParams {
  /** How events name the version: `1`, `2`, `draft-29`. */
  name: string;
  /** The salt of HKDF-Extract for the Initial secret (RFC 9001 §5.2, RFC 9369 §3.3.1). */
  salt: Buffer;
  /** HKDF-Expand-Label labels for the packet protection key, IV and header protection key, and a key update's next secret. */
  labels: { key: string; iv: string; hp: string; ku: string };
  /** Long-header packet type codes (bits 4–5 of the first byte): RFC 9369 §3.2 renumbers them for v2. */
  types: { initial: number; zeroRtt: number; handshake: number; retry: number };
}

const V1_TYPES = { initial: 0, zeroRtt: 1, handshake: 2, retry: 3 };
const V1_LABELS = { key: 'quic key', iv: 'quic iv', hp: 'quic hp', ku: 'quic ku' };

const PARAMS = new Map<number, VersionParams>([
  [0x00000001, { name: '1', salt: Buffer.from('38762cf7f55934b34d179ae6a4c80cadccbb7f0a', 'hex'), labels: V1_LABELS, types: V1_TYPES }],
  [0x6b3343cf, { name: '2', salt: Buffer.from('0dede3def700a6db819381be6e269dcbf9bd2ed9', 'hex'), labels: { key: 'quicv2 key', iv: 'quicv2 iv', hp: 'quicv2 hp', ku: 'quicv2 ku' }, types: { initial: 1, zeroRtt: 2, handshake: 3, retry: 0 } }],
  // the last drafts, still sent by clients of 2020–2021 (Chrome until 90, older quic-go and curl builds)
  ...[29, 30, 31, 32].map((d): [number, VersionParams] => [0xff000000 + d, { name: `draft-${d}`, salt: Buffer.from('afbfec289993d24c9e9786f19c6111e04390a899', 'hex'), labels: V1_LABELS, types: V1_TYPES }]),
]);

/** The parameters of a version whose Initial packets we can read, else undefined. */
export function versionParams(version: number): VersionParams | undefined {
  return PARAMS.get(version);
}

/** A version as events write it: a known one by name, else `0x` and eight hex digits. */
export function versionName(version: number): string {
  return PARAMS.get(version)?.name ?? `0x${version.toString(16).padStart(8, '0')}`;
}

/** Frame types an Initial packet may carry (RFC 9000 §12.4, Table 3). */
export const Frame = { Padding: 0x00, Ping: 0x01, Ack: 0x02, AckEcn: 0x03, Crypto: 0x06, ConnectionClose: 0x1c } as const;

const TRANSPORT_ERRORS = [
  'NO_ERROR', 'INTERNAL_ERROR', 'CONNECTION_REFUSED', 'FLOW_CONTROL_ERROR', 'STREAM_LIMIT_ERROR', 'STREAM_STATE_ERROR',
  'FINAL_SIZE_ERROR', 'FRAME_ENCODING_ERROR', 'TRANSPORT_PARAMETER_ERROR', 'CONNECTION_ID_LIMIT_ERROR',
  'PROTOCOL_VIOLATION', 'INVALID_TOKEN', 'APPLICATION_ERROR', 'CRYPTO_BUFFER_EXCEEDED', 'KEY_UPDATE_ERROR',
  'AEAD_LIMIT_REACHED', 'NO_VIABLE_PATH',
];

/** A transport error code's name (RFC 9000 §20.1); 0x0100–0x01ff are TLS alerts (CRYPTO_ERROR), named by the caller. */
export function transportErrorName(code: number): string {
  return TRANSPORT_ERRORS[code] ?? `0x${code.toString(16)}`;
}
