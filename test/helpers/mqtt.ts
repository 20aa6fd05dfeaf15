/**
 * MQTT for the tests and the benchmark: packets built by hand from the
 * OASIS 3.1.1 and 5.0 layouts, and the typed view of an MQTT event the live
 * and oracle tests read (pano-events(5), MQTT).
 */
import type { PanoEvent } from '@panopticon/events';

export const u8 = (n: number) => Buffer.from([n]);
export const u16 = (n: number) => Buffer.from([(n >> 8) & 0xff, n & 0xff]);
export const u32 = (n: number) => { const b = Buffer.alloc(4); b.writeUInt32BE(n); return b; };
/** Variable byte integer (§1.5.5). */
export function vbi(n: number): Buffer {
  const out: number[] = [];
  do {
    let b = n % 128;
    n = Math.floor(n / 128);
    if (n > 0) b |= 0x80;
    out.push(b);
  } while (n > 0);
  return Buffer.from(out);
}
/** A UTF-8 string with its 2-byte length (§1.5.4). */
export const str = (s: string) => Buffer.concat([u16(Buffer.byteLength(s)), Buffer.from(s)]);
/** Binary data with its 2-byte length (§1.5.6). */
export const bin = (b: Buffer | string) => { const x = Buffer.from(b); return Buffer.concat([u16(x.length), x]); };
/** A control packet: its first byte (type and flags), the remaining length, the parts. */
export const pkt = (first: number, ...parts: Buffer[]) => { const body = Buffer.concat(parts); return Buffer.concat([u8(first), vbi(body.length), body]); };
/** A 5.0 property list: its length, then the properties. */
export const props = (...p: Buffer[]) => { const b = Buffer.concat(p); return Buffer.concat([vbi(b.length), b]); };

export interface Body {
  size: number;
  content?: string;
  truncated?: boolean;
}

/** The fields of an MQTT event the tests read. */
export interface MqttFields {
  client: { port: number };
  server: { port: number };
  network: { protocol: { name: string; version: string } };
  messaging: {
    system: string;
    operation: { name: string; type?: string };
    destination?: { name: string };
    client?: { id: string };
    message?: { body?: Body; conversation_id?: string };
  };
  mqtt: {
    packet_type: string;
    packet_id?: number;
    qos?: number;
    retain?: boolean;
    dup?: boolean;
    properties?: Record<string, unknown>;
    connect?: {
      protocol_name: string;
      clean_session?: boolean;
      clean_start?: boolean;
      keep_alive: number;
      username?: string;
      password?: { size: number };
      will?: { topic: string; qos: number; retain: boolean; body: Body; properties?: Record<string, unknown> };
    };
    subscriptions?: Array<{ filter: string; qos: number }>;
    topic_filters?: string[];
    response?: {
      packet_type: string;
      reason_code?: number;
      reason_name?: string;
      reason_codes?: number[];
      session_present?: boolean;
      properties?: Record<string, unknown>;
    };
  };
  error?: { type: string };
}
export type MqttEvent = PanoEvent & MqttFields;
