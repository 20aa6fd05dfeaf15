/**
 * Just enough ELF (64-bit little-endian: x86-64, aarch64) to probe code that
 * exports no dynamic symbols: section headers, the static symbol table
 * (.symtab), the loadable segments (to turn a symbol's address into the file
 * offset a uprobe is attached at), and a section's or a range's bytes. Reads
 * what it needs by position, so a large binary is not read whole; every
 * size taken from the file is checked against the file's size first.
 */
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';

/** Bad or unsupported input: the message names the file and what was wrong. */
export class ElfError extends Error {}

export interface ElfSection {
  name: string;
  type: number;
  addr: bigint;
  offset: number;
  size: number;
  link: number;
  entsize: number;
}

export interface ElfSymbol {
  name: string;
  value: bigint;
  size: number;
  /** STT_* (low 4 bits of st_info): 2 function, 1 object. */
  type: number;
}

export interface ElfLoad {
  vaddr: bigint;
  offset: number;
  filesz: number;
  flags: number;
}

const SHT_SYMTAB = 2;
const SHT_NOBITS = 8;
const PT_LOAD = 1;
/** Sections read whole (.symtab, .strtab, .gopclntab): far above any real binary's, a bound on a damaged one. */
const MAX_SECTION = 256 << 20;

export class ElfFile {
  readonly sections: ElfSection[] = [];
  readonly loads: ElfLoad[] = [];
  /** ET_EXEC (2) or ET_DYN (3: shared objects and PIE executables). */
  readonly type: number;
  /** e_machine: 62 x86-64, 183 aarch64. */
  readonly machine: number;
  private readonly fd: number;
  private readonly fileSize: number;

  private constructor(readonly path: string) {
    this.fd = openSync(path, 'r');
    try {
      this.fileSize = fstatSync(this.fd).size;
      const h = this.read(0, 64, 'ELF header');
      if (h.readUInt32BE(0) !== 0x7f454c46) throw new ElfError(`${path}: not an ELF file`);
      if (h[4] !== 2 || h[5] !== 1) throw new ElfError(`${path}: not a 64-bit little-endian ELF file`);
      this.type = h.readUInt16LE(16);
      this.machine = h.readUInt16LE(18);
      const phoff = Number(h.readBigUInt64LE(32));
      const shoff = Number(h.readBigUInt64LE(40));
      const phentsize = h.readUInt16LE(54);
      const phnum = h.readUInt16LE(56);
      const shentsize = h.readUInt16LE(58);
      const shnum = h.readUInt16LE(60);
      const shstrndx = h.readUInt16LE(62);
      if (phnum > 0 && phentsize < 56) throw new ElfError(`${path}: program header entries of ${phentsize} bytes`);
      if (shnum > 0 && shentsize < 64) throw new ElfError(`${path}: section header entries of ${shentsize} bytes`);
      const ph = this.read(phoff, phnum * phentsize, 'program headers');
      for (let i = 0; i < phnum; i++) {
        const o = i * phentsize;
        if (ph.readUInt32LE(o) !== PT_LOAD) continue;
        this.loads.push({ flags: ph.readUInt32LE(o + 4), offset: Number(ph.readBigUInt64LE(o + 8)), vaddr: ph.readBigUInt64LE(o + 16), filesz: Number(ph.readBigUInt64LE(o + 32)) });
      }
      const sh = this.read(shoff, shnum * shentsize, 'section headers');
      const raw = [];
      for (let i = 0; i < shnum; i++) {
        const o = i * shentsize;
        raw.push({
          nameOff: sh.readUInt32LE(o),
          type: sh.readUInt32LE(o + 4),
          addr: sh.readBigUInt64LE(o + 16),
          offset: Number(sh.readBigUInt64LE(o + 24)),
          size: Number(sh.readBigUInt64LE(o + 32)),
          link: sh.readUInt32LE(o + 40),
          entsize: Number(sh.readBigUInt64LE(o + 56)),
        });
      }
      const names = shstrndx < raw.length ? this.read(raw[shstrndx].offset, raw[shstrndx].size, 'section names') : Buffer.alloc(0);
      for (const s of raw) this.sections.push({ ...s, name: cString(names, s.nameOff) });
    } catch (e) {
      closeSync(this.fd);
      throw e;
    }
  }

  static open(path: string): ElfFile {
    try {
      return new ElfFile(path);
    } catch (e) {
      if (e instanceof ElfError) throw e;
      throw new ElfError(`${path}: ${(e as Error).message.split('\n')[0]}`);
    }
  }

  close(): void {
    closeSync(this.fd);
  }

  section(name: string): ElfSection | undefined {
    return this.sections.find((s) => s.name === name);
  }

  /** A section's bytes (bounded by MAX_SECTION). */
  sectionData(s: ElfSection): Buffer {
    if (s.type === SHT_NOBITS) return Buffer.alloc(0);
    if (s.size > MAX_SECTION) throw new ElfError(`${this.path}: section ${s.name} is ${s.size} bytes, more than the ${MAX_SECTION} read`);
    return this.read(s.offset, s.size, `section ${s.name}`);
  }

  /**
   * The static symbols (.symtab) whose names `want` accepts; undefined when
   * the file has no .symtab (stripped).
   */
  symbols(want: (name: string) => boolean): ElfSymbol[] | undefined {
    const symtab = this.sections.find((s) => s.type === SHT_SYMTAB);
    if (!symtab) return undefined;
    const strtab = this.sections[symtab.link];
    if (!strtab) throw new ElfError(`${this.path}: .symtab names no string table`);
    const syms = this.sectionData(symtab);
    const strs = this.sectionData(strtab);
    const out: ElfSymbol[] = [];
    const ent = symtab.entsize || 24;
    for (let o = 0; o + 24 <= syms.length; o += ent) {
      const name = cString(strs, syms.readUInt32LE(o));
      if (!want(name)) continue;
      out.push({ name, type: syms[o + 4] & 0xf, value: syms.readBigUInt64LE(o + 8), size: Number(syms.readBigUInt64LE(o + 16)) });
    }
    return out;
  }

  /**
   * The file offset of a virtual address in a loaded segment: the address
   * minus the segment's vaddr plus the segment's file offset (what
   * bpf_program__attach_uprobe_opts takes as func_offset).
   */
  fileOffset(vaddr: bigint): number {
    for (const l of this.loads) {
      if (vaddr >= l.vaddr && vaddr < l.vaddr + BigInt(l.filesz)) return Number(vaddr - l.vaddr) + l.offset;
    }
    throw new ElfError(`${this.path}: address 0x${vaddr.toString(16)} is in no loaded segment`);
  }

  /** `length` bytes at a virtual address in a loaded segment. */
  readAt(vaddr: bigint, length: number): Buffer {
    return this.read(this.fileOffset(vaddr), length, `0x${vaddr.toString(16)}`);
  }

  private read(offset: number, length: number, what: string): Buffer {
    if (!Number.isSafeInteger(offset) || offset < 0 || length < 0 || offset + length > this.fileSize) {
      throw new ElfError(`${this.path}: ${what} (${length} bytes at offset ${offset}) lies beyond the file's ${this.fileSize} bytes`);
    }
    const b = Buffer.alloc(length);
    let done = 0;
    while (done < length) {
      const n = readSync(this.fd, b, done, length - done, offset + done);
      if (n <= 0) throw new ElfError(`${this.path}: short read of ${what}`);
      done += n;
    }
    return b;
  }
}

function cString(b: Buffer, off: number): string {
  if (off >= b.length) return '';
  const end = b.indexOf(0, off);
  return b.toString('latin1', off, end < 0 ? b.length : end);
}
