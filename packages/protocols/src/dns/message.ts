/**
 * One DNS message (RFC 1035 §4.1) decoded into plain objects. The decoder
 * works on a single datagram / TCP message buffer and throws DnsFormatError
 * with the byte offset when the message is malformed.
 */
import { DnsFormatError, beginMessage, endMessage, nameEnd, readNameText } from './names.js';
import { formatRdata, rdataRaw } from './rdata.js';
import { EDE_INFO_CODE_NAMES, EDNS_OPTION_NAMES, OPCODE_NAMES, TYPE_OPT, className, rcodeName, typeName } from './constants.js';
import { formatIPv4, formatIPv6 } from '@panopticon/decode';
import { sequential } from '@panopticon/events';

export const HEADER_LENGTH = 12;
/** More records than fit in a 64 KiB message (minimum 11 bytes each) cannot be real. */
const MAX_RECORDS = 65535 / 11;

const FLAG_QR = 0x8000;
const FLAG_AA = 0x0400;
const FLAG_TC = 0x0200;
const FLAG_RD = 0x0100;
const FLAG_RA = 0x0080;
const FLAG_AD = 0x0020;
const FLAG_CD = 0x0010;

export interface DnsQuestion {
  name: string;
  type: string;
  class: string;
  /** mDNS (RFC 6762 §5.4): the top bit of the class asks for a unicast answer (a QU question). */
  unicast_response?: true;
}

export interface DnsRecord {
  name: string;
  type: string;
  class: string;
  ttl: number;
  data: string;
  /** mDNS (RFC 6762 §10.2): the top bit of the class tells caches to flush other records of this name and type. */
  cache_flush?: true;
}

export interface DnsEdnsOption {
  code: number;
  name?: string;
  data: string;
  /** ECS (RFC 7871 §6): the client subnet as dig prints it, address/source prefix/scope prefix. */
  subnet?: string;
  /** Extended DNS Error (RFC 8914 §2): its INFO-CODE, the code's registered name, and its EXTRA-TEXT (UTF-8; absent when empty). */
  info_code?: number;
  info_code_name?: string;
  extra_text?: string;
}

export interface DnsEdns {
  udp_payload_size: number;
  version: number;
  dnssec_ok: boolean;
  options?: DnsEdnsOption[];
}

export interface DnsMessage {
  id: number;
  response: boolean;
  opcode: string;
  /** Full response code (with the EDNS extended bits when an OPT record is present). */
  rcode: number;
  flags: string[];
  questions: DnsQuestion[];
  answers: DnsRecord[];
  authority: DnsRecord[];
  additional: DnsRecord[];
  edns?: DnsEdns;
  /** Records of a known type whose RDATA did not decode and were kept as hex. */
  rawRecords: number;
}

/** Flag names per combination of the six flag bits (AA TC RD RA AD CD), copied per message. */
const FLAG_SETS: string[][] = [];
for (let i = 0; i < 64; i++) {
  const f: string[] = [];
  if (i & 32) f.push('AA');
  if (i & 16) f.push('TC');
  if (i & 8) f.push('RD');
  if (i & 4) f.push('RA');
  if (i & 2) f.push('AD');
  if (i & 1) f.push('CD');
  FLAG_SETS.push(f);
}

function flagNames(bits: number): string[] {
  // A copy: events are plain data that later stages (redaction) may change in place.
  return FLAG_SETS[
    (bits & FLAG_AA ? 32 : 0) | (bits & FLAG_TC ? 16 : 0) | (bits & FLAG_RD ? 8 : 0) | (bits & FLAG_RA ? 4 : 0) | (bits & FLAG_AD ? 2 : 0) | (bits & FLAG_CD ? 1 : 0)
  ].slice();
}

/**
 * Cheap plausibility check of a message header, for protocol detection:
 * opcode known, Z bit clear, section counts small enough for the length.
 */
export function plausibleHeader(buf: Buffer, offset: number, length: number): boolean {
  if (length < HEADER_LENGTH) return false;
  const bits = buf.readUInt16BE(offset + 2);
  const opcode = (bits >> 11) & 0xf;
  if (!(opcode in OPCODE_NAMES)) return false;
  if (bits & 0x0040) return false; // Z must be zero
  const qd = buf.readUInt16BE(offset + 4);
  const an = buf.readUInt16BE(offset + 6);
  const ns = buf.readUInt16BE(offset + 8);
  const ar = buf.readUInt16BE(offset + 10);
  if (qd > 16) return false;
  // Each question takes ≥ 5 bytes, each record ≥ 11.
  return HEADER_LENGTH + qd * 5 + (an + ns + ar) * 11 <= length;
}

/**
 * With `mdns`, the message is Multicast DNS (RFC 6762): the top bit of a
 * question's class is its unicast-response bit (§5.4) and of a record's its
 * cache-flush bit (§10.2), and the class is the other 15 bits. In unicast
 * DNS that bit is part of the class number.
 */
export function decodeMessage(msg: Buffer, mdns = false): DnsMessage {
  if (msg.length < HEADER_LENGTH) throw new DnsFormatError(msg.length, 'message shorter than the 12-byte header');
  mdnsClass = mdns;
  beginMessage(msg);
  try {
    return decodeBody(msg);
  } finally {
    endMessage();
  }
}

/** `decodeMessage`, or undefined when the bytes are not a well-formed message. */
export function tryDecodeMessage(msg: Buffer, mdns = false): DnsMessage | undefined {
  try {
    return decodeMessage(msg, mdns);
  } catch (err) {
    if (err instanceof DnsFormatError || err instanceof RangeError) return undefined;
    throw err;
  }
}

/**
 * The authority and additional sections of most messages are empty, and an
 * event shows them only when they are not: those share this one frozen empty
 * array. (`answers` always reaches the event, so it is never shared.)
 */
const NO_RECORDS: DnsRecord[] = Object.freeze([]) as unknown as DnsRecord[];

/** Read position and count of undecodable records of the message being decoded (one message at a time, synchronously). */
let pos = 0;
let rawRecords = 0;
/** Whether the message being decoded is mDNS, whose classes carry a flag in their top bit. */
let mdnsClass = false;
const MDNS_CLASS_FLAG = 0x8000;
/** Classes of RFC 2136's UPDATE sections (§2.4–2.5) that may come without RDATA. */
const CLASS_NONE = 254;
const CLASS_ANY = 255;

function decodeBody(msg: Buffer): DnsMessage {
  const id = u16(msg, 0);
  const bits = u16(msg, 2);
  const qd = u16(msg, 4);
  const an = u16(msg, 6);
  const ns = u16(msg, 8);
  const ar = u16(msg, 10);
  if (an + ns + ar > MAX_RECORDS) throw new DnsFormatError(6, 'record counts exceed what a message can hold');
  pos = HEADER_LENGTH;
  rawRecords = 0;
  // One question and one record are the common counts: array literals of
  // exactly that size, where `[]` and a push would reserve 17 slots.
  let questions: DnsQuestion[];
  if (qd === 1) questions = [readQuestion(msg)];
  else {
    questions = [];
    for (let i = 0; i < qd; i++) questions.push(readQuestion(msg));
  }
  const answers = readSection(msg, an);
  const authority = ns === 0 ? NO_RECORDS : readSection(msg, ns);
  let edns: DnsEdns | undefined;
  let extendedRcode = 0;
  let additional: DnsRecord[] | undefined;
  for (let i = 0; i < ar; i++) {
    // The OPT record's owner is the root (one zero byte): no name to decode.
    const at = msg[pos] === 0 ? pos + 1 : (readNameText(msg, pos), nameEnd);
    const type = recordType(msg, at);
    if (type === TYPE_OPT) {
      edns = readOpt(msg, at);
      extendedRcode = msg[at + 4];
    } else {
      (additional ??= []).push(readRecord(msg));
    }
  }
  const opcode = (bits >> 11) & 0xf;
  return {
    id,
    response: (bits & FLAG_QR) !== 0,
    opcode: OPCODE_NAMES[opcode] ?? `OPCODE${opcode}`,
    rcode: (extendedRcode << 4) | (bits & 0xf),
    flags: flagNames(bits),
    questions,
    answers,
    authority,
    additional: additional ?? NO_RECORDS,
    edns,
    rawRecords,
  };
}

// Big-endian reads where the bounds were checked just before: plain byte
// arithmetic, without Buffer#readUInt16BE's argument validation.
function u16(msg: Buffer, at: number): number {
  return (msg[at] << 8) | msg[at + 1];
}

function u32(msg: Buffer, at: number): number {
  return msg[at] * 0x1000000 + ((msg[at + 1] << 16) | (msg[at + 2] << 8) | msg[at + 3]);
}

function recordType(msg: Buffer, at: number): number {
  if (at + 10 > msg.length) throw new DnsFormatError(at, 'record header runs past the message end');
  return u16(msg, at);
}

function readQuestion(msg: Buffer): DnsQuestion {
  const name = readNameText(msg, pos);
  const end = nameEnd;
  if (end + 4 > msg.length) throw new DnsFormatError(end, 'question runs past the message end');
  pos = end + 4;
  const cls = u16(msg, end + 2);
  if (mdnsClass && cls & MDNS_CLASS_FLAG) return { name, type: typeName(u16(msg, end)), class: className(cls & ~MDNS_CLASS_FLAG), unicast_response: true };
  return { name, type: typeName(u16(msg, end)), class: className(cls) };
}

function readSection(msg: Buffer, count: number): DnsRecord[] {
  if (count === 0) return [];
  if (count === 1) return [readRecord(msg)];
  const out: DnsRecord[] = [];
  for (let i = 0; i < count; i++) out.push(readRecord(msg));
  return out;
}

function readRecord(msg: Buffer): DnsRecord {
  const name = readNameText(msg, pos);
  const p = nameEnd;
  const type = recordType(msg, p);
  const cls = u16(msg, p + 2);
  const ttl = u32(msg, p + 4);
  const rdlen = u16(msg, p + 8);
  const start = p + 10;
  const end = start + rdlen;
  if (end > msg.length) throw new DnsFormatError(p + 8, 'RDATA runs past the message end');
  // RFC 2136 §2.4–2.5: in an UPDATE, class ANY or NONE with no RDATA names an RRset (to delete, or that must
  // (not) exist); no data to decode, as dig prints nothing there
  const rrset = rdlen === 0 && (cls === CLASS_NONE || cls === CLASS_ANY);
  const data = rrset ? '' : formatRdata(type, msg, start, end);
  if (!rrset && rdataRaw) rawRecords++;
  pos = end;
  if (mdnsClass && cls & MDNS_CLASS_FLAG) return { name, type: typeName(type), class: className(cls & ~MDNS_CLASS_FLAG), ttl, data, cache_flush: true };
  return { name, type: typeName(type), class: className(cls), ttl, data };
}

/** OPT pseudo-record (RFC 6891): CLASS is the UDP size, TTL carries extended rcode, version and DO. Moves `pos` past it. */
function readOpt(msg: Buffer, at: number): DnsEdns {
  const udp = u16(msg, at + 2);
  const version = msg[at + 5];
  const doBit = (msg[at + 6] & 0x80) !== 0;
  const rdlen = u16(msg, at + 8);
  const start = at + 10;
  const end = start + rdlen;
  if (end > msg.length) throw new DnsFormatError(at + 8, 'OPT RDATA runs past the message end');
  const edns: DnsEdns = { udp_payload_size: udp, version, dnssec_ok: doBit };
  // Most OPT records carry no option: no array for them.
  if (start < end) {
    const options: DnsEdnsOption[] = [];
    for (let p = start; p < end; ) {
      if (p + 4 > end) throw new DnsFormatError(p, 'EDNS option header runs past the OPT record');
      const code = msg.readUInt16BE(p);
      const len = msg.readUInt16BE(p + 2);
      if (p + 4 + len > end) throw new DnsFormatError(p + 2, 'EDNS option runs past the OPT record');
      const name = EDNS_OPTION_NAMES[code];
      const option: DnsEdnsOption = name ? { code, name, data: msg.toString('hex', p + 4, p + 4 + len) } : { code, data: msg.toString('hex', p + 4, p + 4 + len) };
      if (code === OPTION_ECS) {
        const subnet = clientSubnet(msg, p + 4, p + 4 + len);
        if (subnet !== undefined) option.subnet = subnet;
      } else if (code === OPTION_EDE && len >= 2) {
        // shorter, there is no INFO-CODE: the hex alone, as a malformed ECS option
        extendedError(option, msg, p + 4, p + 4 + len);
      }
      options.push(option);
      p += 4 + len;
    }
    edns.options = options;
  }
  pos = end;
  return edns;
}

const OPTION_ECS = 8;
const OPTION_EDE = 15;

/**
 * Extended DNS Error option data (RFC 8914 §2): a 16-bit INFO-CODE, then
 * EXTRA-TEXT to the option's end, UTF-8 for a human reader (§2: not
 * NUL-terminated, may be empty). Why a resolver answered SERVFAIL or
 * REFUSED (a DNSSEC failure, a blocked or filtered name) is said here, not
 * in the RCODE; in hex nobody reads it. An unregistered code keeps only its
 * number; text that is not UTF-8 is read with replacement characters, the
 * hex holding its bytes.
 */
function extendedError(option: DnsEdnsOption, msg: Buffer, start: number, end: number): void {
  const info = u16(msg, start);
  option.info_code = info;
  const name = EDE_INFO_CODE_NAMES[info];
  if (name !== undefined) option.info_code_name = name;
  if (end > start + 2) option.extra_text = msg.toString('utf8', start + 2, end);
}
/** Address bytes per ECS family (1 IPv4, 2 IPv6), as the address text is printed from. */
const ECS_ADDRESS_BYTES = [0, 4, 16];

/**
 * ECS option data (RFC 7871 §6): family, source and scope prefix lengths, then
 * the address cut to the source prefix's bytes. A client's subnet is what a
 * resolver tells authoritative servers about its client: shown as text, not
 * only in the hex. Undefined when the option is not well formed (unknown
 * family, a prefix longer than the family's address, more address bytes than
 * the prefix needs), and the hex alone says what it carried.
 */
function clientSubnet(msg: Buffer, start: number, end: number): string | undefined {
  if (end - start < 4) return undefined;
  const family = u16(msg, start);
  const size = ECS_ADDRESS_BYTES[family];
  if (family === 0 || size === undefined) return undefined;
  const source = msg[start + 2];
  const scope = msg[start + 3];
  if (source > size * 8 || scope > size * 8 || end - start - 4 !== Math.ceil(source / 8)) return undefined;
  const address = Buffer.alloc(size);
  msg.copy(address, 0, start + 4, end);
  // flat text for the event (ADR 0007), not a rope of its three parts
  return sequential(`${family === 1 ? formatIPv4(address, 0) : formatIPv6(address, 0)}/${source}/${scope}`);
}

export { rcodeName };
