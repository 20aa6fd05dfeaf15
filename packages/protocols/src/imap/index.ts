/**
 * IMAP (RFC 9051, RFC 3501). Detected from the server's greeting (`* OK`,
 * `* PREAUTH` or `* BYE` with IMAP, a CAPABILITY code or a known server's
 * name) or, joined mid-session, from a tagged client command only IMAP sends
 * (`a1 LOGIN`, `a1 SELECT`, `a1 UID FETCH` ...). Ports 143 and 993 (IMAP over
 * TLS, read with a key log) are hints only.
 */
import type { Dir } from '@panopticon/flows';
import type { Detection, ProtocolModule } from '../types.js';
import { ImapParser } from './parser.js';

const GREETING = /^\* (?:OK|PREAUTH|BYE)\b[^\r\n]*(?:IMAP4|\[CAPABILITY |Dovecot|Cyrus|Courier|Zimbra|Exchange)[^\r\n]*\r?\n/i;
const CLIENT = /^[A-Za-z0-9.]{1,20} (?:CAPABILITY|STARTTLS|LOGIN \S|AUTHENTICATE \S|SELECT \S|EXAMINE \S|LIST \S|LSUB \S|STATUS \S|APPEND \S|IDLE|NAMESPACE|ENABLE \S|ID [("N]|(?:UID )?(?:FETCH|STORE|SEARCH|COPY|MOVE) \S)[^\r\n]*\r?\n/i;

export function detectImap(head: Buffer, _dir: Dir): Detection {
  if (head.length === 0) return 'more';
  const text = head.toString('latin1', 0, Math.min(head.length, 1024));
  if (text.startsWith('* ')) {
    if (GREETING.test(text)) return { sender: 'server', confidence: 0.9 };
    return !text.includes('\n') && head.length < 1024 ? 'more' : null;
  }
  if (text === '*') return 'more';
  if (CLIENT.test(text)) return { sender: 'client', confidence: 0.7 };
  return null;
}

export const imapModule: ProtocolModule = {
  name: 'imap',
  transport: 'tcp',
  ports: [143, 993],
  detect: detectImap,
  createStream: (ctx) => new ImapParser(ctx),
};
