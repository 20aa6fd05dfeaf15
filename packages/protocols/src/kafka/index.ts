/**
 * Apache Kafka wire protocol. Detected from the client's first request
 * header (sane size, known API key, plausible version and client id);
 * responses alone carry too little to tell, so a connection whose first
 * request was not captured is left to the port hint.
 */
import type { Dir } from '@panopticon/flows';
import type { Detection, ProtocolModule } from '../types.js';
import { KafkaParser, plausibleRequest } from './parser.js';

export function detectKafka(head: Buffer, _dir: Dir): Detection {
  // Content decides the sender: the dispatcher's roles may be a guess.
  const v = plausibleRequest(head, 0);
  if (v === 'more') return head.length < 256 ? 'more' : null;
  return v === 'yes' ? { sender: 'client', confidence: 0.7 } : null;
}

export const kafkaModule: ProtocolModule = {
  name: 'kafka',
  transport: 'tcp',
  ports: [9092, 9093, 9094],
  detect: detectKafka,
  createStream: (ctx) => new KafkaParser(ctx),
};
