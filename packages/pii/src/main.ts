/**
 * `pano-pii`: reads events (NDJSON), annotates each with the PII it carries,
 * optionally redacts it and keeps an audit log; `pano-pii verify-audit`
 * checks such a log. Wiring only: the work is in event.ts and audit.ts.
 */
import { Command, InvalidArgumentError, Option } from 'commander';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';
import { createPrivateKey, createPublicKey } from 'node:crypto';
import { BadLines, LineOutput, StopSignal, refuseInputAsOutput, refuseSameOutputs, requireParents, UserError, describeFsError, formatStats, oneLineUsageErrors, parseCount, parseList, readNdjson, runMain, type NdjsonLocation } from '@panopticon/cli';
import { EventScanner, flagEvent, type Pending, type RedactMode } from './event.js';
import { AuditLog, AuditWriteError, verifyAudit } from './audit.js';
import { loadKey } from './keyed-hash.js';
import { ALL_TYPES } from './rules.js';
import { OnnxSpanModel, type SpanModel } from './model.js';

const NAME = 'pano-pii';
const VERSION = '0.1.0';

/** The model shipped with the package (packages/pii/model/). */
export const BUILTIN_MODEL = join(dirname(fileURLToPath(import.meta.url)), '..', 'model', 'pano-span-v4.onnx');

function parseConfidence(v: string): number {
  // Number('') is 0: an empty value must not pass as the lowest confidence
  const n = v.trim() === '' ? NaN : Number(v);
  if (!Number.isFinite(n) || n < 0 || n > 1) throw new InvalidArgumentError(`not a confidence between 0 and 1: "${v}"`);
  return n;
}

function readText(file: string, what: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (e) {
    throw new UserError(`${what}: ${describeFsError(e, file)}`);
  }
}

interface PiiOptions {
  redact?: RedactMode;
  keyFile?: string;
  minConfidence: number;
  types?: string[];
  allow?: string;
  model?: string;
  modelThreshold: number;
  mlBudget: number;
  audit?: string;
  signKey?: string;
  checkpointEvery: number;
  output?: string;
  stats?: boolean;
  strict?: boolean;
}

async function scan(inputs: string[], o: PiiOptions): Promise<number> {
  refuseInputAsOutput(o.output, inputs, '-o');
  if (o.audit) {
    refuseInputAsOutput(o.audit, inputs, '--audit');
    refuseSameOutputs(o.output, '-o', o.audit, '--audit');
  }
  if (o.types) {
    const bad = o.types.filter((t) => !(ALL_TYPES as string[]).includes(t));
    if (bad.length) throw new UserError(`--types: unknown type ${bad.join(', ')} (known: ${ALL_TYPES.join(', ')})`);
  }
  let key: Buffer;
  try {
    key = loadKey(o.keyFile);
  } catch (e) {
    throw new UserError(`--key-file: ${(e as NodeJS.ErrnoException).code ? describeFsError(e, o.keyFile!) : (e as Error).message}`);
  }
  const allow = o.allow ? new Set(readText(o.allow, '--allow').split('\n').map((l) => l.trim()).filter(Boolean)) : undefined;
  let model: SpanModel | undefined;
  if (o.model) {
    const file = o.model === 'builtin' ? BUILTIN_MODEL : o.model;
    try {
      model = await OnnxSpanModel.load(file);
    } catch (e) {
      throw new UserError(`--model ${file}: ${(e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (e as Error).message.split('\n')[0]}`);
    }
  }
  let audit: AuditLog | undefined;
  if (o.audit) {
    let signKey;
    if (o.signKey) {
      try {
        signKey = createPrivateKey(readText(o.signKey, '--sign-key'));
      } catch (e) {
        throw e instanceof UserError ? e : new UserError(`--sign-key ${o.signKey}: not a PEM private key`);
      }
      if (signKey.asymmetricKeyType !== 'ed25519') throw new UserError(`--sign-key ${o.signKey}: ${signKey.asymmetricKeyType} key, need ed25519`);
    }
    try {
      audit = AuditLog.open(o.audit, { signKey, checkpointEvery: o.checkpointEvery });
    } catch (e) {
      // named with the option, as pano-export names it
      throw new UserError((e as NodeJS.ErrnoException).code ? `--audit ${describeFsError(e, o.audit)}` : (e as Error).message.replace(/^audit: /, '--audit '));
    }
  }
  const scanner = new EventScanner({ types: o.types ? new Set(o.types) : undefined, minConfidence: o.minConfidence, allow, redact: o.redact, key, model, modelThreshold: o.modelThreshold, hashValues: audit !== undefined });
  const out = LineOutput.toPath(o.output);
  const stop = new StopSignal();
  /**
   * Ends the reading: the reader of the output gone, or a signal (from a pipe, once it ends or after the
   * grace for what upstream stages flush: StopSignal.inputSignal). readNdjson then destroys the stream it
   * reads (standard input too) at once, so a stop does not wait for the next chunk; what is complete is flushed.
   */
  const readStop = new AbortController();
  stop.inputSignal(inputs).addEventListener('abort', () => readStop.abort());
  const byType = new Map<string, number>();
  const counts = { events: 0, events_with_pii: 0, findings: 0, repeats: 0, bad_lines: 0, ml_candidates: 0, ml_partial_events: 0 };
  // readNdjson ends a --strict run at a line that is not JSON; BadLines, at an event that cannot be written out
  const bad = new BadLines(NAME, { strict: o.strict });
  let batch: Array<{ p: Pending; ref: string; where: NdjsonLocation }> = [];

  /**
   * Findings of finished events go to the audit log, flushed, before the
   * events go out: every event written has its findings on record, and a log
   * that cannot be written stops the run before more events leave.
   */
  const emit = (todo: Array<{ p: Pending; ref: string; where: NdjsonLocation }>) => {
    // the reader went away (`| head`): these events will not leave, so their findings are not on record either
    if (out.closed) return;
    const lines: string[] = [];
    for (const { p, ref, where } of todo) {
      const found = scanner.finish(p);
      let line: string;
      try {
        line = JSON.stringify(p.event);
      } catch (e) {
        // JSON.parse reads any depth, JSON.stringify recurses and runs out of stack a few thousand levels
        // down (values that deep are only redacted under --redact): the event cannot leave, so it is damage
        if (!(e instanceof RangeError)) throw e;
        try {
          bad.report(`${where.file}:${where.line}`, 'event nested too deep to write out');
        } catch (fatal) {
          // --strict: what came before it is complete and goes out
          audit?.flush();
          for (const l of lines) out.line(l);
          throw fatal;
        }
        continue;
      }
      lines.push(line);
      if (found.length) counts.events_with_pii++;
      for (const f of found) {
        counts.findings++;
        if (f.detector === 'repeat') counts.repeats++;
        byType.set(f.type, (byType.get(f.type) ?? 0) + 1);
        audit?.append({ kind: 'finding', event: ref, type: f.type, path: f.path, start: f.start, end: f.end, value_hash: f.valueHash ?? null, detector: f.detector, confidence: f.confidence });
      }
    }
    audit?.flush();
    for (const l of lines) out.line(l);
  };

  const finishBatch = async () => {
    if (batch.length === 0) return;
    const todo = batch;
    batch = [];
    if (model) {
      for (const { p } of todo) {
        if (p.candidates.length > o.mlBudget) {
          p.candidates.length = o.mlBudget;
          flagEvent(p.event, 'pii_ml_partial');
          counts.ml_partial_events++;
        }
        counts.ml_candidates += p.candidates.length;
      }
      await scanner.scoreCandidates(todo.map((t) => t.p));
    }
    emit(todo);
  };

  let failure: unknown;
  try {
    await readInput();
    await finishBatch();
  } catch (e) {
    failure = e;
    // a bad line under --strict ends the run: the events read before it are complete and still go out
    if (e instanceof UserError) {
      try {
        await finishBatch();
      } catch (e2) {
        if (e2 instanceof AuditWriteError) failure = e2;
      }
    }
  }
  // Any other failure (--strict, a read error) still ends the log with its final checkpoint.
  try {
    if (failure instanceof AuditWriteError) audit?.abandon();
    else audit?.close();
  } catch (e) {
    failure ??= e;
    audit?.abandon();
  }
  if (failure) {
    // the events that were finished (and audited) are complete: they go out before the error
    await out.end();
    if (failure instanceof AuditWriteError) {
      throw new UserError(`${describeFsError(failure.error, failure.file)}; the audit log is cut short there, and no event whose findings are not in it was written out (pano-pii verify-audit shows where it ends)`, 74);
    }
    throw failure;
  }
  async function readInput(): Promise<void> {
    try {
      await readNdjson(
        inputs,
        {
          record(value, where) {
            counts.events++;
            const ev = value as Record<string, unknown>;
            const id = (ev.pano as { id?: unknown } | undefined)?.id;
            batch.push({ p: scanner.collect(ev), ref: typeof id === 'string' ? id : `${where.file}:${where.line}`, where });
            // rules only: finished here, so that an error (the audit log failing) ends the read
            if (!model && batch.length >= 64) emit(batch.splice(0));
          },
          bad(where, message) {
            bad.report(`${where.file}:${where.line}`, message);
          },
          async pause() {
            await finishBatch();
            if (out.full) await out.drained();
            // nobody reads on (`| head -1`): stop reading, as on a signal, instead of scanning to the end of the input
            if (out.closed) readStop.abort();
          },
        },
        { strict: o.strict, signal: readStop.signal },
      );
    } catch (e) {
      // stdin destroyed by SIGINT/SIGTERM: what was read is complete and gets flushed
      if (stop.stopped && (e as NodeJS.ErrnoException).code === 'ERR_STREAM_PREMATURE_CLOSE') return;
      throw e;
    }
  }
  await out.end();
  counts.bad_lines = bad.count;
  if (o.stats) {
    (counts as Record<string, number>).annotations_dropped = scanner.annotationsDropped;
    (counts as Record<string, number>).scan_cut_events = scanner.scanCutEvents;
    const types: Record<string, number> = {};
    for (const [t, n] of [...byType].sort()) types[t] = n;
    process.stderr.write(formatStats({ pii: counts, 'pii.type': types }));
  } else if (counts.bad_lines) {
    process.stderr.write(`${NAME}: ${counts.bad_lines} bad line(s) skipped\n`);
  }
  return 0;
}

function verify(file: string, o: { pubkey?: string; head?: string }): number {
  let publicKey;
  if (o.pubkey) {
    try {
      publicKey = createPublicKey(readText(o.pubkey, '--pubkey'));
    } catch (e) {
      throw e instanceof UserError ? e : new UserError(`--pubkey ${o.pubkey}: not a PEM public key`);
    }
    // a key that can never verify is a usage error (2), not a tampered log (1)
    if (publicKey.asymmetricKeyType !== 'ed25519') throw new UserError(`--pubkey ${o.pubkey}: ${publicKey.asymmetricKeyType} key, need ed25519`);
  }
  // a head is a SHA-256 in hex, as verify-audit prints it: anything else could never match
  if (o.head !== undefined && !/^[0-9a-f]{64}$/i.test(o.head)) throw new UserError(`--head: not a head hash (64 hex digits, as verify-audit prints): "${o.head}"`);
  let res;
  // `-` is standard input, as for the scan: `ssh host cat audit.log | pano-pii verify-audit -`
  const name = file === '-' ? 'stdin' : file;
  try {
    res = verifyAudit(file === '-' ? 0 : file, { publicKey, expectHead: o.head });
  } catch (e) {
    throw new UserError(describeFsError(e, name));
  }
  if (res.ok) {
    process.stdout.write(`${name}: OK: ${res.records} records, ${res.checkpoints} checkpoints (${res.signedCheckpoints} signed${publicKey ? ', verified' : ', signatures not checked: no --pubkey'}), head ${res.head}\n`);
    return 0;
  }
  const e = res.error!;
  process.stderr.write(`${NAME}: ${name}:${e.line}: ${e.seq !== undefined ? `record seq ${e.seq}: ` : ''}${e.reason} (${res.records} records verified before it)\n`);
  return 1;
}

export function buildProgram(): Command {
  const program = new Command(NAME)
    .description('Find personal data in Panopticon events (NDJSON), annotate it, optionally redact it, and keep a tamper-evident audit log.')
    .version(VERSION)
    .argument('[files...]', 'event files (NDJSON); standard input when none or "-"')
    .addOption(new Option('--redact <mode>', 'replace what was found before writing: mask, hash (keyed HMAC token) or drop (remove the field)').choices(['mask', 'hash', 'drop']))
    .option('--key-file <file>', 'HMAC key for --redact hash and audit hashes (≥16 bytes; default: a random per-run key)')
    .option('--min-confidence <n>', 'report findings at or above this confidence', parseConfidence, 0.5)
    .option('--types <list>', `only these types (comma list): ${ALL_TYPES.join(', ')}`, parseList)
    .option('--allow <file>', 'known test values (one per line) never reported')
    .option('--model <file>', 'ONNX span model for person names and street addresses ("builtin" = the shipped model)')
    .option('--model-threshold <p>', 'model probability needed to report a name/address', parseConfidence, 0.5)
    .option('--ml-budget <n>', 'most model candidates scored per event; events over it are flagged pii_ml_partial', parseCount, 64)
    .option('--audit <file>', 'append findings (keyed hashes only) to a hash-chained audit log, created 0600')
    .option('--sign-key <pem>', 'Ed25519 private key (PEM) signing the audit checkpoints')
    .option('--checkpoint-every <n>', 'audit records between checkpoints', parseCount, 1000)
    .option('-o, --output <file>', 'write events here (created 0600) instead of standard output')
    .option('--stats', 'print counters and hits per type on stderr at exit')
    .option('--strict', 'a bad input line is fatal instead of skipped')
    .addHelpText('after', `
Examples:
  pano-parse capture.pcapng | pano-pii --redact mask > events.jsonl
  pano-pii --redact hash --key-file pii.key --audit audit.log --sign-key audit.pem events.jsonl
  pano-pii --types email,credit_card --min-confidence 0.9 --stats < events.jsonl > /dev/null
  pano-pii --model builtin events.jsonl | jq -c '.pii'
  pano-pii verify-audit audit.log --pubkey audit.pub.pem

Each event gains "pii": [{type, path, start, end, confidence, detector, validator}]; raw values are
never written there or to the audit log. See pano-pii(1) and docs/PII.md.`)
    .action(async (files: string[], opts: PiiOptions, cmd: Command) => {
      requireParents(cmd, { signKey: 'audit', checkpointEvery: 'audit' });
      process.exitCode = await scan(files, opts);
    });
  program
    .command('verify-audit')
    .description('verify an audit log: hash chain, sequence, final checkpoint, and signatures with --pubkey; exit 1 naming the first bad record')
    .argument('<file>', 'audit log ("-" is standard input)')
    .option('--pubkey <pem>', 'Ed25519 public key (PEM): every checkpoint must carry a valid signature by it')
    .option('--head <hash>', 'expected head hash (kept elsewhere): detects records cut off at an earlier checkpoint')
    .action((file: string, opts: { pubkey?: string; head?: string }) => {
      process.exitCode = verify(file, opts);
    });
  return oneLineUsageErrors(program, NAME);
}

export async function main(argv = process.argv): Promise<void> {
  await runMain(NAME, async () => {
    try {
      await buildProgram().parseAsync(argv);
    } catch (e) {
      if ((e as { code?: string }).code?.startsWith('commander.') && (e as { exitCode?: number }).exitCode === 0) return 0;
      throw e;
    }
    return process.exitCode as number | undefined;
  });
}
