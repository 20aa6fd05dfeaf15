/**
 * SMTP (RFC 5321; ESMTP with PIPELINING, CHUNKING, AUTH, STARTTLS).
 * Detected from the server's greeting (`220 <domain> ... ESMTP|SMTP ...` or a
 * 220 answered by EHLO/HELO) or a client's first command (EHLO or HELO with a
 * domain, or, joined mid-session, MAIL FROM:/RCPT TO:). Ports 25, 465 (SMTP
 * over TLS, read with a key log) and 587 are hints only.
 */
import type { Dir } from '@panopticon/flows';
import type { Detection, ProtocolModule } from '../types.js';
import { SmtpParser } from './parser.js';

// the words an SMTP greeting carries; FTP greets with 220 too ("220 FTP server ready"), and its USER/PASS
// lines read as SMTP would put a password in an event
const GREETING = /^220[ -][^\r\n]*\b(?:E?SMTP|Postfix|Exim|Sendmail|MTA)\b[^\r\n]*\r?\n/i;
const GREETING_ANY = /^220[ -][^\r\n]*\r?\n/;
const CLIENT = /^(?:EHLO|HELO|LHLO) \S[^\r\n]*\r?\n|^(?:MAIL FROM|RCPT TO) ?:[^\r\n]*\r?\n/i;

export function detectSmtp(head: Buffer, dir: Dir): Detection {
  if (head.length === 0) return 'more';
  const text = head.toString('latin1', 0, Math.min(head.length, 1024));
  if (text.startsWith('220')) {
    if (GREETING.test(text)) return { sender: 'server', confidence: 0.9 };
    // an FTP server greets with 220 too: a bare 220 only from the side that spoke first, weakly
    if (GREETING_ANY.test(text)) return null;
    return text.includes('\n') || head.length >= 1024 ? null : 'more';
  }
  if (CLIENT.test(text)) return { sender: 'client', confidence: 0.8 };
  const first = text.charCodeAt(0) | 0x20;
  if (first >= 0x61 && first <= 0x7a && !text.includes('\n') && head.length < 1024 && /^[A-Za-z]{1,4}( |$)/.test(text)) return 'more';
  void dir;
  return null;
}

export const smtpModule: ProtocolModule = {
  name: 'smtp',
  transport: 'tcp',
  ports: [25, 465, 587, 2525],
  detect: detectSmtp,
  createStream: (ctx) => new SmtpParser(ctx),
};
