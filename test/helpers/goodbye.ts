import assert from 'node:assert/strict';
import type { Socket } from 'node:net';

/**
 * Writes a protocol's goodbye (MySQL's COM_QUIT, PostgreSQL's Terminate) on a TLS socket and waits
 * for the server to close. The server closes at once, and the kernel answers the client's
 * close_notify arriving after that with a reset: that reset is the goodbye, any other error is not.
 */
export async function sayGoodbye(socket: Socket, goodbye: Buffer): Promise<void> {
  socket.on('error', (e: NodeJS.ErrnoException) => assert.equal(e.code, 'ECONNRESET', e.message));
  const closed = new Promise((r) => socket.once('close', r));
  socket.write(goodbye);
  await closed;
}
