/**
 * An output that is also an input destroys it: `pano-parse x.pcap -o x.pcap`
 * empties the capture before it is read (opening for writing truncates), and
 * `pano-export x.jsonl --jsonl x.jsonl` appends to what it is reading, so it
 * reads its own output without end. Refused before anything is opened.
 */
import { fstatSync, statSync, type Stats } from 'node:fs';
import { resolve } from 'node:path';
import { UserError } from './errors.js';

function fileAt(path: string | number): Stats | undefined {
  try {
    const st = typeof path === 'number' ? fstatSync(path) : statSync(path);
    return st.isFile() ? st : undefined;
  } catch {
    return undefined; // not there yet (so not an input), or not ours to judge: opening it says what is wrong
  }
}

/**
 * Throws a UserError when `output` (a path, or standard output when undefined
 * or `-`) is the same file as one of `inputs` (paths, `-` for standard input;
 * none means standard input). `option` names the output in the message.
 */
export function refuseInputAsOutput(output: string | undefined, inputs: readonly string[], option: string): void {
  const toStdout = !output || output === '-';
  const out = fileAt(toStdout ? 1 : output);
  if (!out) return;
  for (const input of inputs.length ? inputs : ['-']) {
    const st = fileAt(input === '-' ? 0 : input);
    if (st && st.dev === out.dev && st.ino === out.ino) {
      const src = input === '-' ? 'standard input' : `the input ${input}`;
      const what = toStdout ? `standard output is the same file as ${src}` : `${option} ${output}: the same file as ${src}`;
      throw new UserError(`${what} (writing it would destroy it before it is read)`);
    }
  }
}

/**
 * Throws a UserError when two outputs of one command are one file (`-o x
 * --audit x`, or `--audit x > x`): both writers would overwrite each other's
 * bytes. `first` undefined or `-` is standard output; the options name them.
 */
export function refuseSameOutputs(first: string | undefined, firstOption: string, second: string, secondOption: string): void {
  const toStdout = !first || first === '-';
  if (second === '-') return;
  const same = (!toStdout && resolve(first) === resolve(second)) || sameFile(fileAt(toStdout ? 1 : first), fileAt(second));
  if (same) throw new UserError(`${secondOption} ${second}: the same file as ${toStdout ? 'standard output' : `${firstOption} ${first}`} (each would overwrite the other)`);
}

function sameFile(a: Stats | undefined, b: Stats | undefined): boolean {
  return a !== undefined && b !== undefined && a.dev === b.dev && a.ino === b.ino;
}
