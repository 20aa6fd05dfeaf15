import { Dir } from '@panopticon/flows';
import type { Detection, ProtocolModule } from '../types.js';
import { looksLikeRequestLine, looksLikeStatusLine } from './head.js';
import { Http1Stream } from './parser.js';

const METHOD_PREFIX = /^[A-Z][A-Z0-9\-_]{0,19}( |$)/;

/** HTTP/1.x: a request line from the client, or a status line from the server. */
function detect(head: Buffer, _dir: Dir): Detection {
  const lf = head.indexOf(0x0a);
  const line = head.toString('latin1', 0, lf === -1 ? Math.min(head.length, 8192) : lf);
  if (lf === -1) {
    // Not a whole line yet: keep waiting only while it could still become one.
    if (line.startsWith('HTTP/'.slice(0, line.length)) || /^HTTP\/\d\.\d/.test(line)) return 'more';
    return METHOD_PREFIX.test(line) || /^[A-Z]{1,20}$/.test(line) ? 'more' : null;
  }
  if (looksLikeRequestLine(line)) {
    // "PRI * HTTP/2.0" is the HTTP/2 preface, not HTTP/1.x.
    if (line.startsWith('PRI * HTTP/2')) return null;
    return { sender: 'client' };
  }
  if (looksLikeStatusLine(line)) return { sender: 'server' };
  return null;
}

export const http1Module: ProtocolModule = {
  name: 'http',
  transport: 'tcp',
  ports: [80, 8080, 8000, 8008, 8888, 3128, 5000, 9000],
  detect,
  createStream: (ctx) => new Http1Stream(ctx),
};
