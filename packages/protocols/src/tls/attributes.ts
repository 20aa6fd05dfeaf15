/**
 * The `tls.*` attributes of a handshake read in the clear, from its hellos
 * and (before TLS 1.3) the server's certificate: one shape for TLS over TCP
 * and for the TLS handshake QUIC carries in its Initial packets.
 */
import type { ExchangeRecord } from '../types.js';
import type { CertificateInfo, ClientHello, ServerHello } from './handshake.js';

export interface HandshakeSeen {
  client?: ClientHello;
  server?: ServerHello;
  certificate?: CertificateInfo;
  /** An alert (or a QUIC CRYPTO_ERROR) sent in the clear, by name. */
  alert?: string;
  /** The handshake could not be read to its end (damage). */
  malformed: boolean;
  /**
   * TLS 1.3 0-RTT: what the server's EncryptedExtensions (read with keys)
   * said of the client's early data; `rejected` too after a
   * HelloRetryRequest, whose second ClientHello offers none.
   */
  earlyAnswer?: 'accepted' | 'rejected';
}

/** `name`: `tls`, or `dtls` for the datagram variant (RFC 6347, RFC 9147). */
export function tlsAttributes(h: HandshakeSeen, name: 'tls' | 'dtls' = 'tls'): Record<string, unknown> {
  const c = h.client;
  const s = h.server;
  const tls: Record<string, unknown> = { protocol: { name, version: s?.version ?? c!.versions[0] } };
  if (s) tls.cipher = s.cipher;
  if (s?.alpn) tls.next_protocol = s.alpn;
  if (s) {
    // TLS 1.3: a pre-shared key taken; before: the server echoed the client's session id
    const resumed = s.version === '1.3' ? s.psk : c !== undefined && s.sessionId.length > 0 && s.sessionId.equals(c.sessionId);
    tls.resumed = resumed;
  }
  tls.established = s !== undefined && h.alert === undefined && !h.malformed;
  if (c) {
    const client: Record<string, unknown> = {};
    if (c.serverName !== undefined) client.server_name = c.serverName;
    client.supported_versions = c.versions;
    client.supported_ciphers = c.ciphers;
    if (c.alpn.length) client.alpn = c.alpn;
    if (c.groups.length) client.supported_groups = c.groups;
    client.ja3 = c.ja3;
    client.ja4 = c.ja4;
    tls.client = client;
  }
  const cert = h.certificate;
  if (s || cert) {
    const server: Record<string, unknown> = {};
    if (s) server.ja3s = s.ja3s;
    if (cert) {
      Object.assign(server, { subject: cert.subject, issuer: cert.issuer, not_before: cert.notBefore, not_after: cert.notAfter, hash: { sha256: cert.sha256 } });
      if (cert.altNames) server.alt_names = cert.altNames;
    }
    tls.server = server;
  }
  if (c?.earlyData || h.earlyAnswer) tls.early_data = earlyData(h);
  if (h.alert) tls.alert = h.alert;
  return tls;
}

/**
 * The fate of the 0-RTT data a client sent (its ClientHello offered
 * early_data, RFC 8446 §4.2.10): a server takes it only in TLS 1.3, with the
 * client's first pre-shared key, and without a HelloRetryRequest, all of
 * which the ServerHello shows in the clear; whether it then did is in its
 * encrypted extensions.
 */
function earlyData(h: HandshakeSeen): 'accepted' | 'rejected' | 'sent' {
  const s = h.server;
  if (s && (s.version !== '1.3' || s.pskIdentity !== 0)) return 'rejected';
  return h.earlyAnswer ?? 'sent';
}

/** What one side of a handshake sent: when it started, and the bytes it took. */
export interface SideSeen {
  startNs: bigint | undefined;
  bytes: number;
}

/**
 * The record of a handshake: an exchange when both hellos were read, else
 * the side that was; from the first byte either side sent to `tsNs` (or the
 * server's first, when the handshake ended on damage).
 */
export function handshakeRecord(h: HandshakeSeen, client: SideSeen, server: SideSeen, tsNs: bigint | undefined, flags: Set<string>, attributes: Record<string, unknown>): ExchangeRecord {
  const c = h.client;
  const s = h.server;
  const startNs = client.startNs ?? server.startNs!;
  const endNs = tsNs ?? server.startNs ?? startNs;
  return {
    kind: c && s ? 'exchange' : c ? 'unanswered' : 'orphan_response',
    startNs,
    endNs: endNs < startNs ? startNs : endNs,
    requestBytes: c ? client.bytes : undefined,
    responseBytes: s ? server.bytes : undefined,
    flags: flags.size ? [...flags] : undefined,
    attributes,
  };
}
