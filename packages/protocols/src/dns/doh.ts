/**
 * DNS over HTTPS (RFC 8484): DNS messages carried in HTTP exchanges, as a
 * POST body or a GET `?dns=` parameter (base64url) for the query, and a
 * response body, each of media type `application/dns-message`. The HTTP
 * parsers (1.1 and 2) call this with what they captured; the exchange keeps
 * its HTTP fields and gains the same `dns` group a DNS event has, so names
 * and answers reach the service graph and PII scanning either way.
 *
 * Seen in plaintext: cleartext DoH (`dig +http-plain`, resolvers behind a
 * TLS-terminating proxy) and HTTPS through the TLS uprobes.
 */
import type { BodyCapture } from '../body.js';
import { tryDecodeMessage, type DnsMessage } from './message.js';
import { dnsAttributes } from './session.js';

/** The media type of DNS messages (RFC 8484 §6). */
export const DNS_MESSAGE_TYPE = 'application/dns-message';

/** True for `application/dns-message`, whatever the case and parameters. */
export function isDnsMessageType(contentType: string | undefined): boolean {
  if (!contentType) return false;
  const semi = contentType.indexOf(';');
  return (semi < 0 ? contentType : contentType.slice(0, semi)).trim().toLowerCase() === DNS_MESSAGE_TYPE;
}

/** The query of a GET request: the `dns` parameter of the query string, base64url (RFC 8484 §4.1). */
export function dohQueryParameter(query: string | undefined): Buffer | undefined {
  if (!query) return undefined;
  for (const pair of query.split('&')) {
    if (!pair.startsWith('dns=')) continue;
    const value = pair.slice(4);
    // base64url without padding; anything else is not a DoH query.
    if (!/^[A-Za-z0-9_-]+$/.test(value)) return undefined;
    return Buffer.from(value, 'base64url');
  }
  return undefined;
}

/** What an HTTP parser captured of one exchange, as far as DoH needs it. */
export interface DohExchange {
  method: string | undefined;
  /** The request target (`:path` in HTTP/2), whose query string a GET carries the message in. */
  target: string | undefined;
  requestHeaders: Record<string, string[]> | undefined;
  requestBody: BodyCapture | undefined;
  responseHeaders: Record<string, string[]> | undefined;
  responseBody: BodyCapture | undefined;
}

/**
 * The `dns` attribute group of a DoH exchange, or undefined when it is not
 * one. A GET counts only when its request accepts, or its response has, the
 * DNS media type: a `dns=` parameter alone is too common to trust. A
 * message that does not decode adds the `undecodable` flag and is left out.
 */
export function dohAttributes(x: DohExchange, flags: string[]): Record<string, unknown> | undefined {
  const responseIsDns = isDnsMessageType(x.responseHeaders?.['content-type']?.[0]);
  let query: Buffer | undefined;
  if (x.method === 'POST' && isDnsMessageType(x.requestHeaders?.['content-type']?.[0])) query = wholeBody(x.requestBody, x.requestHeaders);
  else if (x.method === 'GET' && (responseIsDns || accepts(x.requestHeaders))) query = dohQueryParameter(queryString(x.target));
  const response = responseIsDns ? wholeBody(x.responseBody, x.responseHeaders) : undefined;
  const q = query && decodeOrFlag(query, flags);
  const r = response && decodeOrFlag(response, flags);
  if (!q && !r) return undefined;
  return dnsAttributes(q, r, flags);
}

function queryString(target: string | undefined): string | undefined {
  const q = target?.indexOf('?') ?? -1;
  return q < 0 ? undefined : target!.slice(q + 1);
}

function accepts(headers: Record<string, string[]> | undefined): boolean {
  return headers?.accept?.some((v) => v.split(',').some(isDnsMessageType)) ?? false;
}

/** The body when all of it was kept and it is not content-encoded (a cut DNS message does not decode). */
function wholeBody(body: BodyCapture | undefined, headers: Record<string, string[]> | undefined): Buffer | undefined {
  if (!body || body.size === 0 || body.truncated || body.gap) return undefined;
  const enc = headers?.['content-encoding']?.[0]?.trim().toLowerCase();
  if (enc && enc !== 'identity') return undefined;
  return body.bytes();
}

function decodeOrFlag(bytes: Buffer, flags: string[]): DnsMessage | undefined {
  const m = tryDecodeMessage(bytes);
  if (!m && !flags.includes('undecodable')) flags.push('undecodable');
  return m;
}
