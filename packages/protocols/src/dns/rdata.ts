/**
 * Resource-record data in presentation format (the text `dig` prints), one
 * small decoder per type. Unknown or malformed RDATA is kept as hex rather
 * than dropped, so nothing the wire carried is hidden.
 */
import { nameEnd, readNameText } from './names.js';
import { SVC_PARAM_NAMES, rcodeName, typeName } from './constants.js';
import { sequential } from '@panopticon/events';
import { formatIPv4, formatIPv6 } from '@panopticon/decode';

type RdataDecoder = (msg: Buffer, start: number, end: number) => string;

function ipv4(msg: Buffer, start: number, end: number): string {
  if (end - start !== 4) throw new RangeError('A record is not 4 bytes');
  return formatIPv4(msg, start);
}

/** RFC 5952 text, IPv4-mapped addresses ending in a dotted quad, as dig and tshark print them. */
function ipv6(msg: Buffer, start: number, end: number): string {
  if (end - start !== 16) throw new RangeError('AAAA record is not 16 bytes');
  return formatIPv6(msg, start);
}

/**
 * Checks that the fields read so far stay inside the RDATA: a record shorter
 * than its type needs would otherwise be read on into the next record (or a
 * name taken from it), and printed as if it held that.
 */
function within(pos: number, end: number, what: string): void {
  if (pos > end) throw new RangeError(`${what} runs past RDATA`);
}

/** A name that is the record's last field must end where the RDATA does. */
function lastName(msg: Buffer, start: number, end: number): string {
  const name = readNameText(msg, start);
  if (nameEnd !== end) throw new RangeError(nameEnd > end ? 'name runs past RDATA' : 'bytes after the name in RDATA');
  return name;
}

function nameOnly(msg: Buffer, start: number, end: number): string {
  return lastName(msg, start, end);
}

function mx(msg: Buffer, start: number, end: number): string {
  within(start + 3, end, 'MX preference');
  return sequential(`${msg.readUInt16BE(start)} ${lastName(msg, start + 2, end)}`);
}

function quoted(msg: Buffer, start: number, end: number): string {
  return '"' + escaped(msg, start, end, false) + '"';
}

/**
 * Bytes as presentation-format text (RFC 1035 §5.1): `"` and `\\` escaped,
 * bytes outside printable ASCII as \\DDD; with `comma`, a `,` too (an id of
 * an alpn value list, RFC 9460 §7.1.1).
 */
function escaped(msg: Buffer, start: number, end: number, comma: boolean): string {
  let plain = true;
  for (let i = start; i < end; i++) {
    const c = msg[i];
    if (c === 0x22 || c === 0x5c || c < 0x20 || c >= 0x7f || (comma && c === 0x2c)) {
      plain = false;
      break;
    }
  }
  // Most strings need no escape: one slice instead of a string per character.
  if (plain) return msg.toString('latin1', start, end);
  let s = '';
  for (let i = start; i < end; i++) {
    const c = msg[i];
    if (c === 0x22 || c === 0x5c || (comma && c === 0x2c)) s += '\\' + String.fromCharCode(c);
    else if (c < 0x20 || c >= 0x7f) s += '\\' + String(c).padStart(3, '0');
    else s += String.fromCharCode(c);
  }
  return s;
}

/** TXT and SPF: one or more character-strings (RFC 1035 §3.3.14, RFC 7208 §3.3); no RDATA at all is malformed, as dig finds it. */
function characterStrings(msg: Buffer, start: number, end: number): string {
  // Most TXT records hold one string: no array for them.
  if (start < end && start + 1 + msg[start] === end) return sequential(quoted(msg, start + 1, end));
  if (start === end) throw new RangeError('no character-string in RDATA');
  const parts: string[] = [];
  let pos = start;
  while (pos < end) {
    const len = msg[pos];
    if (pos + 1 + len > end) throw new RangeError('character-string runs past RDATA');
    parts.push(quoted(msg, pos + 1, pos + 1 + len));
    pos += 1 + len;
  }
  return sequential(parts.join(' '));
}

/** HINFO (RFC 1035 §3.3.2): exactly two character-strings, CPU and OS; dig rejects one or three. */
function hinfo(msg: Buffer, start: number, end: number): string {
  if (start >= end) throw new RangeError('HINFO without CPU');
  const os = start + 1 + msg[start];
  if (os >= end || os + 1 + msg[os] !== end) throw new RangeError('HINFO is not two character-strings');
  return sequential(`${quoted(msg, start + 1, os)} ${quoted(msg, os + 1, end)}`);
}

function srv(msg: Buffer, start: number, end: number): string {
  within(start + 7, end, 'SRV priority, weight and port');
  return sequential(`${msg.readUInt16BE(start)} ${msg.readUInt16BE(start + 2)} ${msg.readUInt16BE(start + 4)} ${lastName(msg, start + 6, end)}`);
}

function soa(msg: Buffer, start: number, end: number): string {
  const mname = readNameText(msg, start);
  within(nameEnd, end, 'SOA mname');
  const rname = readNameText(msg, nameEnd);
  const p = nameEnd;
  // five 32-bit numbers end the RDATA: bytes after them make it malformed (dig: "extra input data"), not dropped
  if (p + 20 !== end) throw new RangeError(p + 20 > end ? 'SOA numbers run past RDATA' : 'bytes after the SOA numbers');
  const n = [0, 4, 8, 12, 16].map((o) => msg.readUInt32BE(p + o));
  return sequential(`${mname} ${rname} ${n.join(' ')}`);
}

const CAA_TAG_CHAR = new Uint8Array(256);
for (const [a, z] of ['az', 'AZ', '09']) for (let c = a.charCodeAt(0); c <= z.charCodeAt(0); c++) CAA_TAG_CHAR[c] = 1;

function caa(msg: Buffer, start: number, end: number): string {
  within(start + 2, end, 'CAA flags and tag length');
  const flags = msg[start];
  const tagLen = msg[start + 1];
  if (start + 2 + tagLen > end) throw new RangeError('CAA tag runs past RDATA');
  // RFC 8659 §4.1.1: a tag is one or more ASCII letters and digits (dig rejects others, and an empty tag)
  if (tagLen === 0) throw new RangeError('CAA tag is empty');
  for (let i = start + 2; i < start + 2 + tagLen; i++) if (!CAA_TAG_CHAR[msg[i]]) throw new RangeError('CAA tag is not letters and digits');
  const tag = msg.toString('latin1', start + 2, start + 2 + tagLen);
  return sequential(`${flags} ${tag} ${quoted(msg, start + 2 + tagLen, end)}`);
}

function svcb(msg: Buffer, start: number, end: number): string {
  within(start + 3, end, 'SVCB priority');
  const priority = msg.readUInt16BE(start);
  const target = readNameText(msg, start + 2);
  within(nameEnd, end, 'SVCB target');
  const parts = [String(priority), target];
  let pos = nameEnd;
  let lastKey = -1;
  while (pos < end) {
    if (pos + 4 > end) throw new RangeError('SvcParam header runs past RDATA');
    const key = msg.readUInt16BE(pos);
    // RFC 9460 §2.2: keys in strictly increasing order, else the record is malformed (no key twice, none to reorder)
    if (key <= lastKey) throw new RangeError('SvcParam keys not in increasing order');
    lastKey = key;
    const len = msg.readUInt16BE(pos + 2);
    const vs = pos + 4;
    const ve = vs + len;
    if (ve > end) throw new RangeError('SvcParam value runs past RDATA');
    const name = SVC_PARAM_NAMES[key] ?? `key${key}`;
    svcValueFits(key, msg, vs, ve);
    parts.push(len === 0 ? name : `${name}=${svcValue(key, msg, vs, ve)}`);
    pos = ve;
  }
  return sequential(parts.join(' '));
}

/**
 * Bytes each SvcParam of a defined wire form takes (RFC 9460 §7): a value of
 * another length makes the record malformed (as dig, reporting FORMERR, takes
 * it), and read as if it fitted it would show a port or an address made of
 * the next record's bytes, or drop bytes unseen. alpn ids must fill the value
 * exactly, none empty (§7.1.1; an ALPN id has 1 to 255 bytes, RFC 7301);
 * no-default-alpn has none (§7.1.1); port is 2 octets (§7.2); address hints
 * are one or more addresses (§7.3); mandatory one or more keys, in strictly
 * increasing order (§8).
 */
const SVC_VALUE_UNIT: Record<number, number> = { 0: 2, 4: 4, 6: 16 };

function svcValueFits(key: number, msg: Buffer, start: number, end: number): void {
  const len = end - start;
  const unit = SVC_VALUE_UNIT[key];
  if (unit !== undefined && (len === 0 || len % unit !== 0)) throw new RangeError(`SvcParam ${key} is not a whole number of ${unit}-byte items`);
  if (key === 3 && len !== 2) throw new RangeError('SvcParam port is not 2 bytes');
  if (key === 2 && len !== 0) throw new RangeError('SvcParam no-default-alpn has a value');
  if (key === 1) {
    if (len === 0) throw new RangeError('SvcParam alpn is empty');
    let p = start;
    while (p < end) {
      if (msg[p] === 0) throw new RangeError('SvcParam alpn id is empty');
      p += 1 + msg[p];
    }
    if (p !== end) throw new RangeError('SvcParam alpn ids do not fill the value');
  }
  if (key === 0) {
    for (let p = start + 2; p < end; p += 2) if (msg.readUInt16BE(p) <= msg.readUInt16BE(p - 2)) throw new RangeError('SvcParam mandatory keys not in increasing order');
  }
}

function svcValue(key: number, msg: Buffer, start: number, end: number): string {
  switch (key) {
    case 0: { // mandatory: list of keys
      const keys: string[] = [];
      for (let p = start; p + 1 < end; p += 2) keys.push(SVC_PARAM_NAMES[msg.readUInt16BE(p)] ?? `key${msg.readUInt16BE(p)}`);
      return keys.join(',');
    }
    case 1: { // alpn: character-strings, a comma-separated list with `,` and `\` inside an id escaped (RFC 9460 §7.1.1)
      const ids: string[] = [];
      for (let p = start; p < end; ) {
        const l = msg[p];
        ids.push(escaped(msg, p + 1, p + 1 + l, true)); // the ids fill the value: svcValueFits
        p += 1 + l;
      }
      return ids.join(',');
    }
    case 3:
      return String(msg.readUInt16BE(start));
    case 4: {
      const a: string[] = [];
      for (let p = start; p + 4 <= end; p += 4) a.push(ipv4(msg, p, p + 4));
      return a.join(',');
    }
    case 6: {
      const a: string[] = [];
      for (let p = start; p + 16 <= end; p += 16) a.push(formatIPv6(msg, p));
      return a.join(',');
    }
    case 5:
      return msg.subarray(start, end).toString('base64');
    default:
      // dohpath (RFC 9461) and keys without a defined form: the value as a quoted string (RFC 9460 §2.1)
      return quoted(msg, start, end);
  }
}

function rrsig(msg: Buffer, start: number, end: number): string {
  within(start + 19, end, 'RRSIG fields');
  const covered = typeName(msg.readUInt16BE(start));
  const alg = msg[start + 2];
  const labels = msg[start + 3];
  const ttl = msg.readUInt32BE(start + 4);
  const expiration = msg.readUInt32BE(start + 8);
  const inception = msg.readUInt32BE(start + 12);
  const keyTag = msg.readUInt16BE(start + 16);
  const signer = readNameText(msg, start + 18);
  within(nameEnd, end, 'RRSIG signer');
  const sig = msg.subarray(nameEnd, end).toString('base64');
  return sequential(`${covered} ${alg} ${labels} ${ttl} ${rrsigTime(expiration)} ${rrsigTime(inception)} ${keyTag} ${signer} ${sig}`);
}

/** An RRSIG time (seconds since 1970, 32 bits) as YYYYMMDDHHmmSS, the form of RFC 4034 §3.2 that dig prints. */
function rrsigTime(t: number): string {
  const iso = new Date(t * 1000).toISOString();
  return iso.slice(0, 4) + iso.slice(5, 7) + iso.slice(8, 10) + iso.slice(11, 13) + iso.slice(14, 16) + iso.slice(17, 19);
}

function dnskey(msg: Buffer, start: number, end: number): string {
  within(start + 4, end, 'DNSKEY flags, protocol and algorithm');
  return sequential(`${msg.readUInt16BE(start)} ${msg[start + 2]} ${msg[start + 3]} ${msg.subarray(start + 4, end).toString('base64')}`);
}

function ds(msg: Buffer, start: number, end: number): string {
  within(start + 4, end, 'DS key tag, algorithm and digest type');
  return sequential(`${msg.readUInt16BE(start)} ${msg[start + 2]} ${msg[start + 3]} ${msg.toString('hex', start + 4, end).toUpperCase()}`);
}

/** Fixed-size fields, then a digest in uppercase hex (SSHFP: algorithm type; TLSA: usage selector matching type), as dig prints them. */
function fieldsAndDigest(fields: number): RdataDecoder {
  return (msg, start, end) => {
    if (start + fields >= end) throw new RangeError('digest missing from RDATA');
    let s = '';
    for (let i = 0; i < fields; i++) s += `${msg[start + i]} `;
    return sequential(s + msg.toString('hex', start + fields, end).toUpperCase());
  };
}

/**
 * TSIG (RFC 8945 §4.2): algorithm, time signed (48 bits), fudge, MAC size and MAC (base64), original
 * id, error, other length and other data (base64), as dig prints the record (`hmac-sha256 1700000000
 * 300 32 lGHw…= 41897 NOERROR 0`); an empty MAC or other data is left out rather than written as two
 * spaces. The fields must fill the RDATA exactly, as BIND's reader requires.
 */
function tsig(msg: Buffer, start: number, end: number): string {
  const alg = readNameText(msg, start);
  let p = nameEnd;
  within(p + 10, end, 'TSIG time, fudge and MAC size');
  const signed = msg.readUInt16BE(p) * 0x100000000 + msg.readUInt32BE(p + 2);
  const fudge = msg.readUInt16BE(p + 6);
  const macSize = msg.readUInt16BE(p + 8);
  p += 10;
  within(p + macSize + 6, end, 'TSIG MAC, original id, error and other length');
  const mac = sizedBase64(msg, p, macSize);
  p += macSize;
  const originalId = msg.readUInt16BE(p);
  const error = msg.readUInt16BE(p + 2);
  return sequential(`${alg} ${signed} ${fudge} ${mac} ${originalId} ${tsigErrorName(error)} ${otherData(msg, p + 4, end, 'TSIG')}`);
}

/**
 * TKEY (RFC 2930 §2): algorithm, inception and expiration (seconds, 32 bits, as numbers), mode, error,
 * key size and key (base64), other size and other data (base64), as dig prints the record (`gss-tsig
 * 1700000000 1700086400 3 NOERROR 4 AAECAw== 0`; in GSS-TSIG, RFC 3645, the key is the GSS-API
 * token); an empty key or other data is left out. The fields must fill the RDATA exactly.
 */
function tkey(msg: Buffer, start: number, end: number): string {
  const alg = readNameText(msg, start);
  let p = nameEnd;
  within(p + 14, end, 'TKEY times, mode, error and key size');
  const inception = msg.readUInt32BE(p);
  const expiration = msg.readUInt32BE(p + 4);
  const mode = msg.readUInt16BE(p + 8);
  const error = msg.readUInt16BE(p + 10);
  const keySize = msg.readUInt16BE(p + 12);
  p += 14;
  within(p + keySize + 2, end, 'TKEY key and other size');
  return sequential(`${alg} ${inception} ${expiration} ${mode} ${tsigErrorName(error)} ${sizedBase64(msg, p, keySize)} ${otherData(msg, p + keySize, end, 'TKEY')}`);
}

/** `size`, then the `size` bytes at `p` in base64 unless there are none: a TSIG MAC, a TKEY key, their other data. */
function sizedBase64(msg: Buffer, p: number, size: number): string {
  return size ? `${size} ${msg.toString('base64', p, p + size)}` : '0';
}

/** TSIG's and TKEY's last fields, other size and other data from `p`, which must end the RDATA. */
function otherData(msg: Buffer, p: number, end: number, type: string): string {
  const size = msg.readUInt16BE(p);
  if (p + 2 + size !== end) throw new RangeError(p + 2 + size > end ? `${type} other data runs past RDATA` : `bytes after the ${type} other data`);
  return sizedBase64(msg, p + 2, size);
}

/** A TSIG or TKEY error (RFC 8945 §5.3): 16 is BADSIG here, where a message's RCODE 16 is BADVERS; the others are RCODEs. */
function tsigErrorName(e: number): string {
  return e === 16 ? 'BADSIG' : rcodeName(e);
}

/**
 * Type bitmaps (RFC 4034 §4.1.2, RFC 5155 §3.2.1) from `p` to `end` as the types' names, each after a
 * space (` A NS SOA RRSIG`). Windows in increasing order, each of 1 to 32 bytes without a trailing zero
 * byte, as BIND's reader requires; `allowEmpty` for NSEC3, whose bitmap may be empty.
 */
function typeBitmaps(msg: Buffer, p: number, end: number, allowEmpty: boolean): string {
  let s = '';
  let last = -1;
  while (p < end) {
    within(p + 2, end, 'type bitmap window header');
    const window = msg[p];
    const len = msg[p + 1];
    p += 2;
    if (window <= last) throw new RangeError('type bitmap windows not in increasing order');
    if (len < 1 || len > 32) throw new RangeError('type bitmap window length not 1 to 32');
    within(p + len, end, 'type bitmap');
    if (msg[p + len - 1] === 0) throw new RangeError('type bitmap ends in a zero byte');
    for (let i = 0; i < len; i++) {
      const bits = msg[p + i];
      for (let b = 0; b < 8; b++) if (bits & (0x80 >> b)) s += ' ' + typeName(window * 256 + i * 8 + b);
    }
    last = window;
    p += len;
  }
  if (last < 0 && !allowEmpty) throw new RangeError('no type bitmap');
  return s;
}

/**
 * NSEC (RFC 4034 §4.2): the next owner name, then the types at this one (`host.example.com A RRSIG
 * NSEC`). The next name may be compressed, as mDNS writes it (RFC 6762 §18.14) and BIND does not read.
 */
function nsec(msg: Buffer, start: number, end: number): string {
  const next = readNameText(msg, start);
  within(nameEnd, end, 'NSEC next name');
  return sequential(next + typeBitmaps(msg, nameEnd, end, false));
}

/** NSEC3's and NSEC3PARAM's first fields (RFC 5155 §3.2, §4.2): hash algorithm, flags, iterations, salt in uppercase hex or `-`. */
function nsec3Params(msg: Buffer, start: number, end: number): { text: string; next: number } {
  within(start + 5, end, 'NSEC3 hash algorithm, flags, iterations and salt length');
  const saltLen = msg[start + 4];
  within(start + 5 + saltLen, end, 'NSEC3 salt');
  const salt = saltLen ? msg.toString('hex', start + 5, start + 5 + saltLen).toUpperCase() : '-';
  return { text: `${msg[start]} ${msg[start + 1]} ${msg.readUInt16BE(start + 2)} ${salt}`, next: start + 5 + saltLen };
}

const BASE32HEX = '0123456789ABCDEFGHIJKLMNOPQRSTUV';

/** Base32 with the extended hex alphabet, no padding (RFC 4648 §7; RFC 5155 §3.3): an NSEC3 next hashed owner. */
function base32hex(msg: Buffer, start: number, end: number): string {
  let s = '';
  let bits = 0;
  let value = 0;
  for (let i = start; i < end; i++) {
    value = ((value << 8) | msg[i]) & 0xffff;
    bits += 8;
    while (bits >= 5) {
      s += BASE32HEX[(value >>> (bits - 5)) & 31];
      bits -= 5;
    }
  }
  if (bits > 0) s += BASE32HEX[(value << (5 - bits)) & 31];
  return s;
}

/** NSEC3 (RFC 5155 §3.3): hash algorithm, flags, iterations, salt, next hashed owner (base32hex), types. */
function nsec3(msg: Buffer, start: number, end: number): string {
  const { text, next } = nsec3Params(msg, start, end);
  within(next + 1, end, 'NSEC3 hash length');
  const hashLen = msg[next];
  if (hashLen === 0) throw new RangeError('NSEC3 next hashed owner is empty');
  within(next + 1 + hashLen, end, 'NSEC3 next hashed owner');
  return sequential(`${text} ${base32hex(msg, next + 1, next + 1 + hashLen)}${typeBitmaps(msg, next + 1 + hashLen, end, true)}`);
}

/** NSEC3PARAM (RFC 5155 §4.2): hash algorithm, flags, iterations, salt; nothing after them. */
function nsec3param(msg: Buffer, start: number, end: number): string {
  const { text, next } = nsec3Params(msg, start, end);
  if (next !== end) throw new RangeError('bytes after the NSEC3PARAM salt');
  return text;
}

/** RP (RFC 1183 §2.2): the responsible person's mailbox as a name, then the name of a TXT record about them. */
function rp(msg: Buffer, start: number, end: number): string {
  const mbox = readNameText(msg, start);
  within(nameEnd, end, 'RP mailbox');
  return sequential(`${mbox} ${lastName(msg, nameEnd, end)}`);
}

/** The whole RDATA in base64: DHCID (RFC 4701), OPENPGPKEY (RFC 7929). */
function base64Only(msg: Buffer, start: number, end: number): string {
  if (start === end) throw new RangeError('empty RDATA');
  return msg.toString('base64', start, end);
}

/** URI (RFC 7553 §4.5): priority weight "target", the target the rest of the RDATA. */
function uri(msg: Buffer, start: number, end: number): string {
  if (start + 4 >= end) throw new RangeError('URI without a target');
  return sequential(`${msg.readUInt16BE(start)} ${msg.readUInt16BE(start + 2)} ${quoted(msg, start + 4, end)}`);
}

/** CSYNC (RFC 7477 §2.1): SOA serial, flags, the types to synchronise. */
function csync(msg: Buffer, start: number, end: number): string {
  within(start + 6, end, 'CSYNC serial and flags');
  return sequential(`${msg.readUInt32BE(start)} ${msg.readUInt16BE(start + 4)}${typeBitmaps(msg, start + 6, end, true)}`);
}

/** ZONEMD (RFC 8976 §2.2): serial, scheme, hash algorithm, digest in uppercase hex. */
function zonemd(msg: Buffer, start: number, end: number): string {
  if (start + 6 >= end) throw new RangeError('ZONEMD without a digest');
  return sequential(`${msg.readUInt32BE(start)} ${msg[start + 4]} ${msg[start + 5]} ${msg.toString('hex', start + 6, end).toUpperCase()}`);
}

/** NAPTR (RFC 3403 §4.1): order preference "flags" "services" "regexp" replacement. */
function naptr(msg: Buffer, start: number, end: number): string {
  if (start + 4 > end) throw new RangeError('NAPTR order and preference run past RDATA');
  let s = `${msg.readUInt16BE(start)} ${msg.readUInt16BE(start + 2)}`;
  let pos = start + 4;
  for (let i = 0; i < 3; i++) {
    if (pos >= end || pos + 1 + msg[pos] > end) throw new RangeError('NAPTR character-string runs past RDATA');
    s += ' ' + quoted(msg, pos + 1, pos + 1 + msg[pos]);
    pos += 1 + msg[pos];
  }
  const replacement = readNameText(msg, pos);
  if (nameEnd !== end) throw new RangeError('NAPTR replacement does not end the RDATA');
  return sequential(`${s} ${replacement}`);
}

const decoders: Record<number, RdataDecoder> = {
  1: ipv4,
  2: nameOnly,
  5: nameOnly,
  6: soa,
  12: nameOnly,
  13: hinfo,
  15: mx,
  16: characterStrings,
  17: rp,
  18: mx,
  24: rrsig,
  25: dnskey,
  28: ipv6,
  33: srv,
  35: naptr,
  39: nameOnly,
  43: ds,
  44: fieldsAndDigest(2),
  46: rrsig,
  47: nsec,
  48: dnskey,
  49: base64Only,
  50: nsec3,
  51: nsec3param,
  52: fieldsAndDigest(3),
  53: fieldsAndDigest(3),
  59: ds,
  60: dnskey,
  61: base64Only,
  62: csync,
  63: zonemd,
  64: svcb,
  65: svcb,
  99: characterStrings,
  249: tkey,
  250: tsig,
  256: uri,
  257: caa,
};

/**
 * Presentation text of one RDATA. Unknown types are returned as lowercase
 * hex; so are known types whose RDATA does not parse (flagged by `rdataRaw`,
 * a variable rather than a result object: this runs for every record).
 */
export function formatRdata(type: number, msg: Buffer, start: number, end: number): string {
  rdataRaw = false;
  const decode = decoders[type];
  if (!decode) return msg.toString('hex', start, end);
  try {
    // Each decoder returns sequential text (ADR 0007): those that concatenate call `sequential`.
    return decode(msg, start, end);
  } catch {
    // a malformed record of a known type is shown as hex, not invented
    rdataRaw = true;
    return msg.toString('hex', start, end);
  }
}

/** Whether the RDATA last formatted was of a known type and did not decode (kept as hex). */
export let rdataRaw = false;
