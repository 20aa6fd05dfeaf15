/**
 * Where the rules can start in a long text, found in one pass by a small
 * WebAssembly module (native/locate.c, built into locate-wasm.ts by
 * scripts/pii/build-locate.mjs). In V8 the same work was three walks over
 * the text (the anchor trie regex, the digit-run regex, indexOf(':')) at
 * 2-4 ns per character plus ~100 ns per match returned to JS; the module
 * walks the UTF-16 code units once and hands back lists: the anchors as the
 * scanner's anchor search takes them, the digit runs worth dispatching, the
 * colons that can be part of an IPv6 address. Short values do not come
 * here: for them copying the text costs more than it saves.
 */
import { LOCATE_WASM } from './locate-wasm.js';

/** The little of the WebAssembly API used here (the project's `lib` has no DOM types, where TypeScript declares it). */
interface WasmMemory {
  buffer: ArrayBuffer;
  grow(pages: number): number;
}
interface WasmApi {
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object, imports: object) => { exports: object };
}
const { WebAssembly: WASM } = globalThis as unknown as { WebAssembly: WasmApi };

interface LocateExports {
  memory: WasmMemory;
  __heap_base: { value: number };
  set_class(c: number, k: number): void;
  set_text(i: number, c: number): void;
  set_anchor(id: number, at: number, len: number): void;
  set_free(c: number, id: number): void;
  add_anchor(id: number, group: number): number;
  locate(s: number, n: number, anchors: number, runs: number, colons: number, counts: number): void;
}

/** Character classes of locate.c */
const DIGIT = 1, COLON = 4;

const MODULE = new WASM.Module(Buffer.from(LOCATE_WASM, 'base64'));

/**
 * The module's eight anchor groups, by first character: the characters all
 * of whose anchors have 6 characters or more share groups 4-7 (their sixth
 * character is tested too), the others groups 0-3, round robin.
 */
function teddyGroups(anchors: readonly string[]): Map<string, number> {
  const shortest = new Map<string, number>();
  for (const a of anchors) shortest.set(a[0]!, Math.min(a.length, shortest.get(a[0]!) ?? Infinity));
  const groups = new Map<string, number>();
  let short = 0, long = 0;
  for (const [c, len] of shortest) groups.set(c, len >= 6 ? 4 + (long++ % 4) : short++ % 4);
  return groups;
}

export class Locator {
  /** The module's memory as 32-bit words; the lists below are word indexes into it (valid until the next locate). */
  words: Int32Array;
  /** `anchorCount` pairs (start, anchor id) from word `anchorsAt`, in text order. */
  anchorsAt = 0;
  anchorCount = 0;
  /** `runCount` pairs [a, b) from word `runsAt`, in text order. */
  runsAt = 0;
  runCount = 0;
  /** `colonCount` positions from word `colonsAt`, in text order. */
  colonsAt = 0;
  colonCount = 0;
  private readonly x: LocateExports;
  private readonly base: number;
  private bytes: Buffer;

  /**
   * `anchors[id]`: the literal anchors (at least three ASCII characters to
   * start with); `free`: the one-character anchor reported at every
   * occurrence, outside the longest-then-skip rule of the others.
   */
  constructor(anchors: readonly string[], free: string) {
    this.x = new WASM.Instance(MODULE, {}).exports as LocateExports;
    // 16 bytes of zeros before the input: the module reads the character before each block
    this.base = ((this.x.__heap_base.value + 15) & ~15) + 16;
    this.words = new Int32Array(this.x.memory.buffer);
    this.bytes = Buffer.from(this.x.memory.buffer);
    for (let d = 48; d <= 57; d++) this.x.set_class(d, DIGIT);
    this.x.set_class(58, COLON);
    const freeId = anchors.indexOf(free);
    if (free.length !== 1 || freeId < 0 || free.charCodeAt(0) >= 128) throw new Error(`locate: bad free anchor ${free}`);
    this.x.set_free(free.charCodeAt(0), freeId);
    // the module picks the first anchor of a pair's list that matches: longest first
    const ids = anchors.map((_, id) => id).sort((p, q) => anchors[q]!.length - anchors[p]!.length);
    const groups = teddyGroups(anchors.filter((_, id) => id !== freeId));
    let at = 0;
    for (const id of ids) {
      const a = anchors[id]!;
      if (id === freeId) continue;
      if (a.length < 3 || !/^[\x00-\x7f]{3}/.test(a) || id >= 128 || at + a.length > 4096) throw new Error(`locate: anchor ${a} does not fit`);
      for (let i = 0; i < a.length; i++) this.x.set_text(at + i, a.charCodeAt(i));
      this.x.set_anchor(id, at, a.length);
      at += a.length;
      if (this.x.add_anchor(id, groups.get(a[0]!)!) !== 1) throw new Error(`locate: too many anchors start with ${a.slice(0, 2)}`);
    }
  }

  /** Fill the lists for `s`. */
  locate(s: string): void {
    const n = s.length;
    // input (2 bytes a character, then 32 more that the module zeroes: it reads blocks of 16 and 5 characters past them), then room for the most each list can hold
    const input = this.base;
    const anchors = input + ((2 * n + 64 + 15) & ~15);
    const runs = anchors + 8 * n;
    const colons = runs + 4 * n + 8;
    const counts = colons + 4 * n + 8;
    const end = counts + 16;
    const mem = this.x.memory;
    if (end > mem.buffer.byteLength) mem.grow(Math.ceil((end - mem.buffer.byteLength) / 65536));
    if (this.bytes.buffer !== mem.buffer) {
      this.bytes = Buffer.from(mem.buffer);
      this.words = new Int32Array(mem.buffer);
    }
    // UTF-16 code units as they are (lone surrogates too): offsets stay those of `s`
    this.bytes.write(s, input, 2 * n, 'utf16le');
    this.x.locate(input, n, anchors, runs, colons, counts);
    const w = this.words;
    this.anchorsAt = anchors >> 2;
    this.runsAt = runs >> 2;
    this.colonsAt = colons >> 2;
    this.anchorCount = w[counts >> 2]!;
    this.runCount = w[(counts >> 2) + 1]!;
    this.colonCount = w[(counts >> 2) + 2]!;
  }
}
