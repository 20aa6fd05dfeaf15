/**
 * A read-only word → number table over a text of lines `word a b` (two base-36
 * numbers; `#` lines are comments), for the 300,000 words of the model's word
 * clusters. A `Map` of them took ~0.3 s to build (a string and a hash-table
 * entry per word); this keeps the text as it is and builds only an open-addressing
 * index of line offsets (~15 ms), comparing a looked-up word with the text in
 * place, so a lookup allocates nothing.
 */
export class WordTable {
  private constructor(
    private readonly text: string,
    private readonly slots: Int32Array,
    private readonly mask: number,
  ) {}

  static fromText(text: string): WordTable {
    let lines = 0;
    for (let i = text.indexOf('\n'); i >= 0; i = text.indexOf('\n', i + 1)) lines++;
    // at most half full, so probe runs stay short
    let size = 1024;
    while (size < 2 * (lines + 1)) size *= 2;
    const slots = new Int32Array(size).fill(-1);
    const mask = size - 1;
    for (let i = 0; i < text.length; ) {
      let e = text.indexOf('\n', i);
      if (e < 0) e = text.length;
      if (e > i && text.charCodeAt(i) !== 35 /* # */) {
        let h = 0x811c9dc5;
        let j = i;
        for (; j < e && text.charCodeAt(j) !== 32; j++) h = Math.imul(h ^ text.charCodeAt(j), 0x01000193);
        if (j === e) throw new Error(`word table: line ${lineOf(text, i)} has no numbers`);
        let s = h & mask;
        while (slots[s] !== -1) s = (s + 1) & mask;
        slots[s] = i;
      }
      i = e + 1;
    }
    return new WordTable(text, slots, mask);
  }

  /** The word's numbers as `a << 16 | b`, or -1 when the table does not have it. */
  get(word: string): number {
    const n = word.length;
    let h = 0x811c9dc5;
    for (let j = 0; j < n; j++) h = Math.imul(h ^ word.charCodeAt(j), 0x01000193);
    const text = this.text;
    for (let s = h & this.mask; ; s = (s + 1) & this.mask) {
      const at = this.slots[s]!;
      if (at < 0) return -1;
      if (text.charCodeAt(at + n) !== 32) continue;
      let j = 0;
      while (j < n && text.charCodeAt(at + j) === word.charCodeAt(j)) j++;
      if (j < n) continue;
      let p = at + n + 1;
      let a = 0;
      for (let c = text.charCodeAt(p); c !== 32; c = text.charCodeAt(++p)) a = a * 36 + base36(c);
      let b = 0;
      for (let c = text.charCodeAt(++p); p < text.length && c !== 10; c = text.charCodeAt(++p)) b = b * 36 + base36(c);
      return (a << 16) | b;
    }
  }
}

function base36(c: number): number {
  return c <= 57 ? c - 48 : c - 87;
}

function lineOf(text: string, at: number): number {
  let n = 1;
  for (let i = text.indexOf('\n'); i >= 0 && i < at; i = text.indexOf('\n', i + 1)) n++;
  return n;
}
