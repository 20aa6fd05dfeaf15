/**
 * DNS over UDP and over TCP. Two modules share the name `dns` (one per
 * transport) so `--protocols dns` selects both and events say `dns`.
 */
import type { Dir } from '@panopticon/flows';
import type { Detection, ProtocolModule } from '../types.js';
import { HEADER_LENGTH, plausibleHeader, tryDecodeMessage, type DnsMessage } from './message.js';
import { readName } from './names.js';
import { DnsDatagramParser, DnsStreamParser, rememberDetected } from './parser.js';

const DNS_PORTS = [53, 5353, 5355] as const;

function senderOf(msg: Buffer, offset: number): Detection {
  return { sender: msg[offset + 2] & 0x80 ? 'server' : 'client' };
}

/** Bytes of a TCP message's head we need before judging a message we cannot see whole. */
const TCP_JUDGE_BYTES = 64;

/**
 * A message that decodes and holds a question, an answer or an EDNS OPT
 * record: a header alone is any twelve bytes, but a message with only an OPT
 * record is how DNS cookies are primed (RFC 7873 §5.4: no question).
 */
function substantial(m: DnsMessage | undefined): m is DnsMessage {
  return !!m && (m.questions.length > 0 || m.answers.length > 0 || m.edns !== undefined);
}

export function detectDnsDatagram(head: Buffer): Detection {
  if (!plausibleHeader(head, 0, head.length)) return null;
  const m = tryDecodeMessage(head);
  if (!substantial(m)) return null;
  rememberDetected(head, m);
  return senderOf(head, 0);
}

export function detectDnsStream(head: Buffer, _dir: Dir): Detection {
  if (head.length < 2 + HEADER_LENGTH) return 'more';
  const len = head.readUInt16BE(0);
  if (len < HEADER_LENGTH) return null;
  if (!plausibleHeader(head, 2, len)) return null;
  if (head.length >= 2 + len) {
    if (!substantial(tryDecodeMessage(head.subarray(2, 2 + len)))) return null;
    return senderOf(head, 2);
  }
  if (head.length < 2 + TCP_JUDGE_BYTES) return 'more';
  // Long message seen in part: the first question name must at least parse.
  if (head.readUInt16BE(6) === 0) return null;
  try {
    const n = readName(head.subarray(2), HEADER_LENGTH);
    if (n.end + 4 > head.length - 2) return null;
  } catch {
    return null;
  }
  return { ...(senderOf(head, 2) as object), confidence: 0.6 } as Detection;
}

export const dnsModule: ProtocolModule = {
  name: 'dns',
  transport: 'udp',
  ports: DNS_PORTS,
  detect: (head) => detectDnsDatagram(head),
  createDatagram: (ctx) => new DnsDatagramParser(ctx),
};

export const dnsTcpModule: ProtocolModule = {
  name: 'dns',
  transport: 'tcp',
  ports: [53],
  detect: detectDnsStream,
  createStream: (ctx) => new DnsStreamParser(ctx),
};
