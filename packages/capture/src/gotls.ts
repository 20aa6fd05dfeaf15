/**
 * Where to probe Go's crypto/tls in a Go binary (ADR 0305), found without a
 * disassembler: the functions' addresses from the ELF symbol table, and the
 * return instructions of Read and Write from Go's own pclntab. uretprobes
 * must not be used on Go code (the return address they plant breaks when the
 * goroutine's stack is moved), so the return is probed at every RET.
 *
 * The pcsp table of a function maps each pc to the SP offset from the entry
 * and changes only at instruction boundaries. A function with a frame
 * subtracts its frame size after the stack check and adds it back right
 * before each RET, so every RET starts a range at SP offset 0; the other
 * ranges at offset 0 are the entry (the stack check) and the morestack call
 * at the end, which start with other instructions. A range that starts with
 * the byte 0xC3 starts with a RET: a range starts at an instruction, and
 * 0xC3 as an instruction's first byte is RET (it is no prefix).
 */
import { ElfError, ElfFile } from './elf.js';

export const GO_FUNCS = {
  read: 'crypto/tls.(*Conn).Read',
  write: 'crypto/tls.(*Conn).Write',
  close: 'crypto/tls.(*Conn).Close',
} as const;
/** The itab of *net.TCPConn as a net.Conn (Go 1.20 renamed go. to go:). */
const TCP_ITAB = ['go:itab.*net.TCPConn,net.Conn', 'go.itab.*net.TCPConn,net.Conn'];

const EM_X86_64 = 62;
const ET_EXEC = 2;
const RET = 0xc3;
/** pcHeader magics (runtime/symtab.go) and the Go versions that write them. */
const MAGIC_GO118 = 0xfffffff0;
const MAGIC_GO120 = 0xfffffff1;
const OLDER_MAGICS: Record<number, string> = { 0xfffffffa: 'Go 1.16 or 1.17', 0xfffffffb: 'Go 1.2 to 1.15' };
/** A function's code is read whole to check its RETs: far above any crypto/tls function's size. */
const MAX_FUNC = 1 << 20;

export interface GoFunction {
  name: string;
  address: bigint;
  size: number;
  /** File offset of the entry (the uprobe's func_offset). */
  entryOffset: number;
  /** File offsets of its RET instructions. */
  retOffsets: number[];
}

export interface GoTlsTarget {
  path: string;
  read: GoFunction;
  write: GoFunction;
  close: GoFunction | undefined;
  /** Address of go:itab.*net.TCPConn,net.Conn (0n when the binary has none: no connection is tied). */
  tcpConnItab: bigint;
}

/**
 * One function's pc ranges and their SP offsets (pcsp), decoded as
 * runtime.pcvalue does: pairs of a zigzag varint value delta (the value
 * starts at -1) and a varint pc delta in units of the minimum instruction
 * size; a zero value delta after the first pair ends the table.
 */
export function pcspRanges(tab: Buffer, start: number, entry: bigint, quantum: number, limit: bigint): { start: bigint; end: bigint; sp: number }[] {
  const out: { start: bigint; end: bigint; sp: number }[] = [];
  let p = start;
  let pc = entry;
  let val = -1;
  const varint = (): number => {
    let v = 0;
    for (let shift = 0; ; shift += 7) {
      if (p >= tab.length || shift > 28) throw new ElfError(`pcsp table runs past its section`);
      const b = tab[p++];
      v += (b & 0x7f) * 2 ** shift;
      if (!(b & 0x80)) return v;
    }
  };
  for (let first = true; ; first = false) {
    if (p >= tab.length) throw new ElfError(`pcsp table runs past its section`);
    const uv = varint();
    if (uv === 0 && !first) break;
    val += uv & 1 ? -((uv + 1) / 2) : uv / 2;
    const next = pc + BigInt(varint() * quantum);
    if (next > limit) throw new ElfError(`pcsp table runs past its function's end`);
    out.push({ start: pc, end: next, sp: val });
    pc = next;
  }
  return out;
}

/**
 * The parts of a Go 1.18+ .gopclntab needed to find a function's pcsp
 * table: its header (runtime.pcHeader), function table and pc tables.
 */
class Pclntab {
  private readonly quantum: number;
  private readonly nfunc: number;
  private readonly textStart: bigint;
  private readonly funcnameOff: number;
  private readonly pctabOff: number;
  private readonly pclnOff: number;

  constructor(
    private readonly b: Buffer,
    private readonly where: string,
  ) {
    if (b.length < 72) throw new ElfError(`${where}: .gopclntab is ${b.length} bytes, shorter than its header`);
    const magic = b.readUInt32LE(0);
    if (magic !== MAGIC_GO118 && magic !== MAGIC_GO120) {
      const older = OLDER_MAGICS[magic];
      throw new ElfError(`${where}: .gopclntab of ${older ?? `an unknown Go version (magic 0x${magic.toString(16)})`}: only Go 1.18 and later are supported`);
    }
    if (b[7] !== 8) throw new ElfError(`${where}: .gopclntab says pointers are ${b[7]} bytes`);
    this.quantum = b[6];
    this.nfunc = Number(b.readBigUInt64LE(8));
    this.textStart = b.readBigUInt64LE(24);
    this.funcnameOff = Number(b.readBigUInt64LE(32));
    this.pctabOff = Number(b.readBigUInt64LE(56));
    this.pclnOff = Number(b.readBigUInt64LE(64));
    if (this.textStart === 0n) throw new ElfError(`${where}: .gopclntab has no text address (a position-independent binary is not supported)`);
    if (this.pclnOff + (this.nfunc + 1) * 8 > b.length) throw new ElfError(`${where}: .gopclntab's function table (${this.nfunc} functions) runs past the section`);
  }

  /** The pcsp ranges of the function whose entry is `entry`, checked against its name. */
  ranges(entry: bigint, name: string, size: number): { start: bigint; end: bigint; sp: number }[] {
    const b = this.b;
    const want = entry - this.textStart;
    // functab: nfunc+1 pairs {entryOff u32, funcOff u32}, sorted by entryOff
    let lo = 0;
    let hi = this.nfunc - 1;
    let found = -1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      const e = BigInt(b.readUInt32LE(this.pclnOff + mid * 8));
      if (e === want) {
        found = mid;
        break;
      }
      if (e < want) lo = mid + 1;
      else hi = mid - 1;
    }
    if (found < 0) throw new ElfError(`${this.where}: ${name} is not in .gopclntab`);
    const fn = this.pclnOff + b.readUInt32LE(this.pclnOff + found * 8 + 4);
    if (fn + 20 > b.length) throw new ElfError(`${this.where}: ${name}'s .gopclntab entry runs past the section`);
    // _func: entryOff u32, nameOff i32, args i32, deferreturn u32, pcsp u32 (the same from 1.18 to 1.2x)
    const nameAt = this.funcnameOff + b.readInt32LE(fn + 4);
    const end = b.indexOf(0, nameAt);
    if (nameAt < 0 || end < 0 || b.toString('latin1', nameAt, end) !== name) throw new ElfError(`${this.where}: .gopclntab names another function at ${name}'s address`);
    try {
      return pcspRanges(b, this.pctabOff + b.readUInt32LE(fn + 16), entry, this.quantum, entry + BigInt(size));
    } catch (e) {
      throw new ElfError(`${this.where}: ${name}: ${(e as Error).message}`);
    }
  }
}

function goFunction(elf: ElfFile, tab: Pclntab, sym: { name: string; value: bigint; size: number }, withRets: boolean): GoFunction {
  const f: GoFunction = { name: sym.name, address: sym.value, size: sym.size, entryOffset: elf.fileOffset(sym.value), retOffsets: [] };
  if (!withRets) return f;
  if (sym.size <= 0 || sym.size > MAX_FUNC) throw new ElfError(`${elf.path}: ${sym.name} is ${sym.size} bytes long`);
  const code = elf.readAt(sym.value, sym.size);
  const ranges = tab.ranges(sym.value, sym.name, sym.size);
  if (!ranges.some((r) => r.sp !== 0)) throw new ElfError(`${elf.path}: ${sym.name} has no stack frame, so its returns cannot be found from its pcsp table`);
  for (const r of ranges.slice(1)) {
    if (r.sp === 0 && r.start < r.end && code[Number(r.start - sym.value)] === RET) f.retOffsets.push(elf.fileOffset(r.start));
  }
  if (f.retOffsets.length === 0) throw new ElfError(`${elf.path}: found no return instruction in ${sym.name}`);
  return f;
}

/**
 * The probe points of Go's crypto/tls in `path`: a non-PIE x86-64 Go 1.18+
 * binary with its symbol table. Throws ElfError naming the file and what it
 * lacks.
 */
export function goTlsTarget(path: string): GoTlsTarget {
  const elf = ElfFile.open(path);
  try {
    if (elf.machine !== EM_X86_64) throw new ElfError(`${path}: not an x86-64 binary (Go's register ABI is probed for x86-64 only)`);
    const wanted = new Set<string>([...Object.values(GO_FUNCS), ...TCP_ITAB]);
    const syms = elf.symbols((n) => wanted.has(n));
    if (!syms) throw new ElfError(`${path}: stripped (no .symtab), so Go's crypto/tls functions cannot be found`);
    const by = (n: string) => syms.find((s) => s.name === n);
    const read = by(GO_FUNCS.read);
    const write = by(GO_FUNCS.write);
    if (!read || !write) throw new ElfError(`${path}: has no ${GO_FUNCS.read} and ${GO_FUNCS.write} (not a Go program using crypto/tls)`);
    if (elf.type !== ET_EXEC) throw new ElfError(`${path}: a position-independent Go binary (PIE) is not supported (build with -buildmode=exe, Go's default on Linux)`);
    const sec = elf.section('.gopclntab');
    if (!sec) throw new ElfError(`${path}: has no .gopclntab section`);
    const tab = new Pclntab(elf.sectionData(sec), path);
    const close = by(GO_FUNCS.close);
    const itab = TCP_ITAB.map(by).find((s) => s !== undefined);
    return {
      path,
      read: goFunction(elf, tab, read, true),
      write: goFunction(elf, tab, write, true),
      close: close && goFunction(elf, tab, close, false),
      tcpConnItab: itab?.value ?? 0n,
    };
  } finally {
    elf.close();
  }
}
