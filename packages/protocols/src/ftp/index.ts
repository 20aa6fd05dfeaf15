/**
 * FTP (RFC 959): the control connection, detected from the server's greeting
 * (220 naming FTP, or a known server: vsftpd, ProFTPD, Pure-FTPd, FileZilla,
 * pyftpdlib) or a client's first commands (USER then PASS, FEAT, AUTH TLS
 * answered 234 ...); port 21 is a hint. The data connections it announces are
 * the `ftp-data` module's, never detected from their bytes: the dispatcher
 * gives them to it (ParserContext.expect).
 */
import type { Dir } from '@panopticon/flows';
import type { Detection, ProtocolModule } from '../types.js';
import { FtpDataParser } from './data.js';
import { FtpParser } from './parser.js';

// SMTP greets with 220 too: only a greeting that names FTP, or a server known to speak it, decides
const GREETING = /^220[ -][^\r\n]*\b(?:FTP|vsFTPd|ProFTPD|Pure-FTPd|FileZilla|pyftpdlib|Serv-U|WU-FTPD)\b[^\r\n]*\r?\n/i;
const CLIENT = /^(?:USER \S[^\r\n]*\r?\nPASS |AUTH (?:TLS|SSL)\r?\n|FEAT\r?\n|(?:PASV|EPSV)\r?\n|(?:PORT \d{1,3}(?:,\d{1,3}){5}|EPRT \|[12]\|)[^\r\n]*\r?\n)/i;

export function detectFtp(head: Buffer, _dir: Dir): Detection {
  if (head.length === 0) return 'more';
  const text = head.toString('latin1', 0, Math.min(head.length, 1024));
  if (text.startsWith('220')) {
    if (GREETING.test(text)) return { sender: 'server', confidence: 0.9 };
    return !text.includes('\n') && head.length < 1024 ? 'more' : null;
  }
  if (CLIENT.test(text)) return { sender: 'client', confidence: 0.7 };
  // USER alone waits for the next line (PASS decides; SMTP and POP3 have their own words)
  if (/^USER \S[^\r\n]*\r?\n$/i.test(text) && head.length < 512) return 'more';
  return null;
}

export const ftpModule: ProtocolModule = {
  name: 'ftp',
  transport: 'tcp',
  ports: [21],
  detect: detectFtp,
  createStream: (ctx, init) => init?.carried?.parser(ctx) ?? new FtpParser(ctx),
};

/** Data connections: only ever started by an announcement on their control connection. */
export const ftpDataModule: ProtocolModule = {
  name: 'ftp-data',
  transport: 'tcp',
  ports: [],
  detect: () => null,
  createStream: (ctx, init) => init?.carried?.parser(ctx) ?? new FtpDataParser(ctx, undefined, undefined),
};
