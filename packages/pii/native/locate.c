/*
 * Candidate positions of a long text, found in one pass (see src/locate.ts).
 * The scanner's passes over long values were three walks in V8 (the anchor
 * regex, the digit-run regex, indexOf(':')), at 2-4 ns per character and
 * ~100 ns per match; this walks the UTF-16 code units once and writes:
 *  - anchors: (start, id) of each anchor as the scanner's anchor search
 *    takes them: at each position the longest anchor starting there, the
 *    next one searched from its end; the "free" anchor ('@') at every
 *    occurrence, outside that rule;
 *  - digit runs: [a, b) as \d(?:\d|[ ./()-]{1,2}(?=[\d(]))+ matches them
 *    from left to right, less those no rule can use: under 6 characters,
 *    unless two digits follow letters (an IBAN, NINO or PAN);
 *  - colons with a hex digit or colon on both sides (IPv6 candidates).
 * The tables (which characters start what, the anchors' text) are set by
 * the caller once; nothing here knows the rules.
 * Build: node scripts/pii/build-locate.mjs (clang --target=wasm32, wasm-ld).
 */
#include <wasm_simd128.h>

typedef unsigned char u8;
typedef unsigned short u16;
typedef int i32;
typedef unsigned int u32;

enum { DIGIT = 1, FIRST = 2, COLON = 4, FREE = 8 };
enum { MAX_ANCHORS = 128, BUCKET = 8, MAX_TEXT = 4096 };

static u8 cls[128];
/* first two characters of an anchor -> bucket (0: none); a bucket lists anchor ids, longest first, 255 ends it */
static u8 pair_bucket[128 * 128];
static u8 buckets[256 * BUCKET];
static u16 anchor_at[MAX_ANCHORS], anchor_len[MAX_ANCHORS];
static u16 text[MAX_TEXT];
static i32 free_char = -1, free_id = 0;
/*
 * Blocks of 16 positions are tested at once (Teddy, as in Hyperscan): a
 * position can start an anchor only if the characters at offsets 0, 1, 2
 * and 5 from it are in the nibble tables of one of eight groups of anchors
 * (the caller's grouping; offset 5 is left open for a group with an anchor
 * shorter than 6). Offset 5 is there for '-----BEGIN ': runs of dashes
 * (multipart boundaries, comment rules) are common in bodies. Other
 * positions matter only for a digit that starts a run, a ':' between hex
 * digits or the free anchor. Most blocks of text have none of these and are
 * skipped; the positions flagged are looked at one by one.
 */
enum { FINGERPRINT = 4 };
static const i32 offsets[FINGERPRINT] = {0, 1, 2, 5};
static u8 nib_lo[FINGERPRINT][16], nib_hi[FINGERPRINT][16];

__attribute__((export_name("set_class"))) void set_class(i32 c, i32 k) { cls[c & 127] |= (u8)k; }
__attribute__((export_name("set_text"))) void set_text(i32 i, i32 c) { text[i] = (u16)c; }
__attribute__((export_name("set_anchor"))) void set_anchor(i32 id, i32 at, i32 len) { anchor_at[id] = (u16)at; anchor_len[id] = (u16)len; }
__attribute__((export_name("set_free"))) void set_free(i32 c, i32 id) { free_char = c; free_id = id; cls[c & 127] |= FREE; }
static i32 n_buckets = 0;
/*
 * Anchor `id` (its text set with set_text and set_anchor: at least three
 * ASCII characters) joins the search, in Teddy group `group` (0-7).
 * Anchors must be added longest first. Returns 0 when its bucket (or the
 * bucket table) is full.
 */
__attribute__((export_name("add_anchor"))) i32 add_anchor(i32 id, i32 group) {
  const u16 *t = &text[anchor_at[id]];
  i32 p = (t[0] << 7) | t[1];
  if (!pair_bucket[p]) {
    if (n_buckets == 255) return 0;
    pair_bucket[p] = (u8)++n_buckets;
    for (i32 j = 0; j < BUCKET; j++) buckets[n_buckets * BUCKET + j] = 255;
  }
  u8 *b = &buckets[pair_bucket[p] * BUCKET];
  i32 j = 0;
  while (j < BUCKET && b[j] != 255) j++;
  if (j == BUCKET) return 0;
  b[j] = (u8)id;
  cls[t[0]] |= FIRST;
  u8 g = (u8)(1 << (group & 7));
  for (i32 k = 0; k < FINGERPRINT; k++) {
    if (offsets[k] < anchor_len[id]) {
      nib_lo[k][t[offsets[k]] & 15] |= g;
      nib_hi[k][t[offsets[k]] >> 4] |= g;
    } else {
      for (i32 j = 0; j < 16; j++) {
        nib_lo[k][j] |= g;
        nib_hi[k][j] |= g;
      }
    }
  }
  return 1;
}

static inline i32 is_digit(i32 c) { return c >= 48 && c <= 57; }
static inline i32 is_sep(i32 c) { return c == 32 || c == 46 || c == 47 || c == 40 || c == 41 || c == 45; }
static inline v128_t is_digit_v(v128_t x) { return wasm_u8x16_lt(wasm_i8x16_sub(x, wasm_i8x16_splat('0')), wasm_i8x16_splat(10)); }
/* 0-9, ':' and a-f, A-F (x | 0x20 folds only A-F onto a-f) */
static inline v128_t hexish_v(v128_t x) {
  return wasm_v128_or(wasm_u8x16_lt(wasm_i8x16_sub(x, wasm_i8x16_splat('0')), wasm_i8x16_splat(11)),
                      wasm_u8x16_lt(wasm_i8x16_sub(wasm_v128_or(x, wasm_i8x16_splat(0x20)), wasm_i8x16_splat('a')), wasm_i8x16_splat(6)));
}
static inline i32 is_upper(i32 c) { return c >= 65 && c <= 90; }
static inline i32 is_alpha(i32 c) { return is_upper(c) || (c >= 97 && c <= 122); }
/* letters before the run at a: the only use of a run under 6 characters (IBAN, NINO, PAN; scan.ts digitRuns) */
static inline i32 lettered_before(const u16 *s, i32 a) { return a > 1 && (is_alpha(s[a - 1]) || (s[a - 1] == 32 && is_upper(s[a - 2]))); }
static inline i32 hexish(i32 x) { return (x >= 48 && x <= 58) || (x >= 65 && x <= 70) || (x >= 97 && x <= 102); }

/* End of the run starting at digit i: runEnd() of scan.ts */
static i32 run_end(const u16 *s, i32 n, i32 i) {
  i32 j = i + 1;
  for (;;) {
    i32 c = j < n ? s[j] : -1;
    if (is_digit(c)) { j++; continue; }
    if (c < 0 || !is_sep(c)) return j;
    i32 c1 = j + 1 < n ? s[j + 1] : -1;
    if (is_sep(c1)) {
      i32 c2 = j + 2 < n ? s[j + 2] : -1;
      if (is_digit(c2) || c2 == 40) { j += 2; continue; }
    }
    if (is_digit(c1) || c1 == 40) { j += 1; continue; }
    return j;
  }
}

static inline i32 anchor_here(const u16 *s, i32 n, i32 i, i32 bucket) {
  const u8 *b = &buckets[bucket * BUCKET];
  for (i32 j = 0; j < BUCKET && b[j] != 255; j++) {
    i32 id = b[j], len = anchor_len[id];
    if (i + len > n) continue;
    const u16 *t = &text[anchor_at[id]];
    i32 k = 2;
    while (k < len && s[i + k] == t[k]) k++;
    if (k == len) return id;
  }
  return -1;
}

/*
 * counts[0..2] = anchors, runs, colons found; anchors and runs are pairs.
 * Blocks read s[-1], which must be 0, and up to s[n + 21], which this zeroes.
 */
__attribute__((export_name("locate"))) void locate(u16 *s, i32 n, i32 *anchors, i32 *runs, i32 *colons, i32 *counts) {
  i32 na = 0, nr = 0, nc = 0, anchor_from = 0, run_from = 0;
  for (i32 k = 0; k < 32; k++) s[n + k] = 0;
  const v128_t nib = wasm_i8x16_splat(15), zero = wasm_i8x16_splat(0), colon = wasm_i8x16_splat(':'), fc = wasm_i8x16_splat((char)free_char);
  const v128_t space = wasm_i8x16_splat(' '), paren = wasm_i8x16_splat('('), dash = wasm_i8x16_splat('-'), two = wasm_i8x16_splat(2), three = wasm_i8x16_splat(3);
  v128_t lo[FINGERPRINT], hi[FINGERPRINT];
  for (i32 k = 0; k < FINGERPRINT; k++) {
    lo[k] = wasm_v128_load(nib_lo[k]);
    hi[k] = wasm_v128_load(nib_hi[k]);
  }
  for (i32 base = 0; base < n; base += 16) {
    /* code units >= 256 become 255 or 0: in no table, no digit, no separator */
    v128_t prev = wasm_u8x16_narrow_i16x8(wasm_v128_load(s + base - 1), wasm_v128_load(s + base + 7));
    v128_t c[FINGERPRINT];
    v128_t group = wasm_i8x16_splat(-1);
    for (i32 k = 0; k < FINGERPRINT; k++) {
      c[k] = wasm_u8x16_narrow_i16x8(wasm_v128_load(s + base + offsets[k]), wasm_v128_load(s + base + offsets[k] + 8));
      group = wasm_v128_and(group, wasm_v128_and(wasm_i8x16_swizzle(lo[k], wasm_v128_and(c[k], nib)), wasm_i8x16_swizzle(hi[k], wasm_u8x16_shr(c[k], 4))));
    }
    v128_t a = c[0], next = c[1];
    /* a digit that starts a run of two characters or more: no digit before it, a digit or separator after it */
    v128_t sep = wasm_v128_or(wasm_v128_or(wasm_i8x16_eq(next, space), wasm_u8x16_lt(wasm_i8x16_sub(next, paren), two)), wasm_u8x16_lt(wasm_i8x16_sub(next, dash), three));
    v128_t digit = wasm_v128_andnot(wasm_v128_and(is_digit_v(a), wasm_v128_or(is_digit_v(next), sep)), is_digit_v(prev));
    /* a colon between hex digits or colons */
    v128_t v6 = wasm_v128_and(wasm_i8x16_eq(a, colon), wasm_v128_and(hexish_v(prev), hexish_v(next)));
    v128_t flag = wasm_v128_or(wasm_v128_or(wasm_i8x16_ne(group, zero), digit), wasm_v128_or(v6, wasm_i8x16_eq(a, fc)));
    u32 bits = wasm_i8x16_bitmask(flag);
    while (bits) {
      i32 i = base + __builtin_ctz(bits);
      bits &= bits - 1;
      if (i >= n) break;
      i32 c = s[i];
      if (c >= 128) continue;
      i32 k = cls[c];
      if (!k) continue;
      if (k & DIGIT) {
        if (i >= run_from) {
          i32 e = run_end(s, n, i);
          run_from = e;
          if (e - i >= 6 || (e - i >= 2 && is_digit(s[i + 1]) && lettered_before(s, i))) { runs[nr++] = i; runs[nr++] = e; }
        }
        continue;
      }
      if (k & COLON) {
        if (i > 0 && i + 1 < n && hexish(s[i - 1]) && hexish(s[i + 1])) colons[nc++] = i;
      }
      if (k & FREE) {
        if (c == free_char) { anchors[na++] = i; anchors[na++] = free_id; }
      }
      if ((k & FIRST) && i >= anchor_from && i + 1 < n && s[i + 1] < 128) {
        i32 bk = pair_bucket[(c << 7) | s[i + 1]];
        if (bk) {
          i32 id = anchor_here(s, n, i, bk);
          if (id >= 0) { anchors[na++] = i; anchors[na++] = id; anchor_from = i + anchor_len[id]; }
        }
      }
    }
  }
  counts[0] = na >> 1;
  counts[1] = nr >> 1;
  counts[2] = nc;
}
