/** Back-pressure-aware write for callers that hold a plain stream. */
import { once } from 'node:events';
import type { Writable } from 'node:stream';

export async function writeAll(stream: Writable, text: string): Promise<void> {
  if (!stream.write(text)) await once(stream, 'drain');
}
