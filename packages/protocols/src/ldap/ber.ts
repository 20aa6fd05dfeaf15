/**
 * The subset of BER (X.690 §8) that LDAP's messages are encoded with (RFC
 * 4511 §5.1): definite lengths only, no indefinite form, tags read on
 * `Buffer` offsets. A cursor walks the elements of one constructed value;
 * `enter()` gives a cursor over the current element's contents. Nothing is
 * copied: strings are read out of the message where they lie.
 */

export class BerError extends Error {
  constructor(
    readonly offset: number,
    message: string,
  ) {
    super(`${message} at byte ${offset}`);
  }
}

/** Universal tags as they appear on the wire (class and constructed bit included). */
export const BOOLEAN = 0x01;
export const INTEGER = 0x02;
export const OCTET_STRING = 0x04;
export const NULL = 0x05;
export const ENUMERATED = 0x0a;
export const SEQUENCE = 0x30;
export const SET = 0x31;

/** Lengths past this are not an LDAP message's (the parser bounds messages far below it). */
const MAX_LENGTH = 0x7fffffff;

/**
 * Reads an element's header at `pos`: its tag (the identifier octet; a high tag number as 0x1f00 |
 * number, which LDAP never uses) and where its contents start and end. -1 in `end` when `buf`
 * holds too little to know (only `lengthOf` asks that).
 */
function header(buf: Buffer, pos: number, end: number, out: BerCursor): void {
  if (pos >= end) throw new BerError(pos, 'element expected, none left');
  let tag = buf[pos]!;
  let p = pos + 1;
  if ((tag & 0x1f) === 0x1f) {
    // high tag number form: base-128 digits, the last without its top bit
    let n = 0;
    for (let i = 0; ; i++) {
      if (p >= end || i > 3) throw new BerError(pos, 'bad high tag number');
      const b = buf[p++]!;
      n = n * 128 + (b & 0x7f);
      if ((b & 0x80) === 0) break;
    }
    tag = 0x1f00 | n;
  }
  if (p >= end) throw new BerError(pos, 'length missing');
  const first = buf[p++]!;
  let len: number;
  if (first < 0x80) len = first;
  else if (first === 0x80) throw new BerError(pos, 'indefinite length (LDAP allows definite lengths only)');
  else {
    const n = first & 0x7f;
    if (n > 4) throw new BerError(pos, `length of ${n} bytes`);
    if (p + n > end) throw new BerError(pos, 'length runs past the end');
    len = 0;
    for (let i = 0; i < n; i++) len = len * 256 + buf[p++]!;
    if (len > MAX_LENGTH) throw new BerError(pos, 'length too large');
  }
  if (p + len > end) throw new BerError(pos, `element of ${len} bytes runs past the end`);
  out.tag = tag;
  out.valueStart = p;
  out.valueEnd = p + len;
}

/**
 * The whole size of the element at `pos` (header and contents) once the header is there, or -1
 * when more bytes are needed to read it; throws on a header no message has.
 */
export function elementSize(buf: Buffer, pos: number, end: number): number {
  if (end - pos < 2) return -1;
  const first = buf[pos + 1]!;
  if (first < 0x80) return 2 + first;
  if (first === 0x80) throw new BerError(pos, 'indefinite length (LDAP allows definite lengths only)');
  const n = first & 0x7f;
  if (n > 4) throw new BerError(pos, `length of ${n} bytes`);
  if (end - pos < 2 + n) return -1;
  let len = 0;
  for (let i = 0; i < n; i++) len = len * 256 + buf[pos + 2 + i]!;
  if (len > MAX_LENGTH) throw new BerError(pos, 'length too large');
  return 2 + n + len;
}

export class BerCursor {
  /** The current element (after `next()`): its tag and contents. */
  tag = 0;
  valueStart = 0;
  valueEnd = 0;

  constructor(
    readonly buf: Buffer,
    public pos: number,
    readonly end: number,
  ) {}

  get more(): boolean {
    return this.pos < this.end;
  }

  /** The tag of the next element, without moving; -1 at the end. */
  peek(): number {
    return this.pos < this.end ? this.buf[this.pos]! : -1;
  }

  /** Moves to the next element and returns its tag (its contents are skipped by the next call). */
  next(): number {
    header(this.buf, this.pos, this.end, this);
    this.pos = this.valueEnd;
    return this.tag;
  }

  /** The next element, which must have tag `tag`. */
  expect(tag: number, what: string): void {
    const start = this.pos;
    if (this.next() !== tag) throw new BerError(start, `${what}: tag 0x${this.tag.toString(16)}, expected 0x${tag.toString(16)}`);
  }

  /** A cursor over the current element's contents. */
  enter(): BerCursor {
    return new BerCursor(this.buf, this.valueStart, this.valueEnd);
  }

  /** The current element's contents as a two's complement integer (at most 6 bytes: exact in a number). */
  integer(): number {
    const n = this.valueEnd - this.valueStart;
    if (n === 0 || n > 6) throw new BerError(this.valueStart, `integer of ${n} bytes`);
    let v = 0;
    for (let i = this.valueStart; i < this.valueEnd; i++) v = v * 256 + this.buf[i]!;
    return this.buf[this.valueStart]! & 0x80 ? v - 256 ** n : v;
  }

  boolean(): boolean {
    if (this.valueEnd - this.valueStart !== 1) throw new BerError(this.valueStart, 'boolean of more than one byte');
    return this.buf[this.valueStart] !== 0;
  }

  /** The current element's contents as UTF-8 text (LDAP strings are UTF-8, RFC 4511 §4.1.2). */
  text(): string {
    return this.buf.toString('utf8', this.valueStart, this.valueEnd);
  }

  /** The current element's contents (a view). */
  bytes(): Buffer {
    return this.buf.subarray(this.valueStart, this.valueEnd);
  }

  /** Next element read as an INTEGER (or ENUMERATED, or `tag`). */
  readInteger(tag = INTEGER, what = 'integer'): number {
    this.expect(tag, what);
    return this.integer();
  }

  readText(tag = OCTET_STRING, what = 'string'): string {
    this.expect(tag, what);
    return this.text();
  }

  readBoolean(what = 'boolean'): boolean {
    this.expect(BOOLEAN, what);
    return this.boolean();
  }
}
