import { chalkStderr } from 'chalk';
import type { Command } from 'commander';

/**
 * How every command fails: user errors are one line on stderr naming where
 * and what, with a non-zero exit; only unexpected internal errors show a
 * stack, and only with PANO_DEBUG=1.
 */

/** The running command's name, for the messages of shared code (set by `runMain`). */
let program = 'pano';
/** Whether writing the command's output failed (a full disk, an I/O error; not a closed pipe). */
let outputFailed = false;

export function programName(): string {
  return program;
}

/**
 * Writing the output failed: the run ends with EX_IOERR (74) whatever the
 * command's main function returns, so a script never takes a cut-short
 * output for a whole one.
 */
export function noteOutputFailure(): void {
  outputFailed = true;
  process.exitCode = 74; // EX_IOERR
}

/**
 * Options that mean something only beside another (`--rotate` with `--jsonl`): given alone they would be
 * ignored without a word, so each one the user gave (not a default) needs its parent. `parents` maps an
 * option's attribute name to its parent's (`{ rotate: 'jsonl' }`).
 */
export function requireParents(cmd: Command, parents: Record<string, string>): void {
  const flag = (attr: string) => cmd.options.find((o) => o.attributeName() === attr)?.long ?? `--${attr}`;
  for (const [child, parent] of Object.entries(parents)) {
    if (cmd.getOptionValueSource(child) === 'cli' && cmd.getOptionValue(parent) === undefined) throw new UserError(`${flag(child)} needs ${flag(parent)}`);
  }
}

/** A problem the user can fix (bad input, bad option, missing file). Printed as one line. */
export class UserError extends Error {
  constructor(
    message: string,
    readonly exitCode = 2,
  ) {
    super(message);
    this.name = 'UserError';
  }
}

/** Whether `err` is a system call's failure (`ENOENT`, `EIO`, …), as the fs functions throw. */
export function isErrno(err: unknown): err is NodeJS.ErrnoException {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  return typeof code === 'string' && /^E[A-Z0-9]+$/.test(code);
}

/** The message of a filesystem error in words, naming the path. */
export function describeFsError(err: unknown, path: string): string {
  const e = err as NodeJS.ErrnoException;
  switch (e?.code) {
    case 'ENOENT':
      return `${path}: no such file or directory`;
    case 'EACCES':
    case 'EPERM':
      return `${path}: permission denied`;
    case 'EISDIR':
      return `${path}: is a directory`;
    case 'ENOTDIR':
      return `${path}: a component of the path is not a directory`;
    case 'ENOSPC':
      return `${path}: no space left on device`;
    case 'EDQUOT':
      return `${path}: disk quota exceeded`;
    case 'EIO':
      return `${path}: input/output error`;
    default: {
      // node's text is 'ENXIO: no such device or address, open '/path'': keep the words, the path is named already
      const words = /^E[A-Z0-9]+: (.+?), \w+(?: '.*')?$/.exec(e?.message ?? '');
      return `${path}: ${words ? words[1] : (e?.message ?? String(err))}`;
    }
  }
}

/**
 * Runs a command's main function: exit code from its result (74 when it
 * succeeded but its output could not be written), one-line errors for
 * UserError, and a short internal-error line otherwise.
 */
export async function runMain(name: string, main: () => Promise<number | void>): Promise<void> {
  program = name;
  try {
    const code = await main();
    process.exitCode = code || (outputFailed ? 74 : 0);
  } catch (err) {
    if (err instanceof UserError) {
      // Colour only when stderr is a terminal (chalk checks), never in pipes or logs.
      process.stderr.write(`${chalkStderr.bold(name)}: ${chalkStderr.red(err.message)}\n`);
      process.exitCode = err.exitCode;
      return;
    }
    const e = err as Error;
    if (process.env.PANO_DEBUG) process.stderr.write(`${name}: internal error: ${e?.stack ?? String(err)}\n`);
    else process.stderr.write(`${name}: internal error: ${e?.message ?? String(err)} (set PANO_DEBUG=1 for a stack trace)\n`);
    process.exitCode = 70; // EX_SOFTWARE
  }
}

/**
 * Commander's usage errors (an unknown option, a bad value, a missing
 * argument) the way every pano command reports errors: one line,
 * `name: what`, exit status 2, for the command and its subcommands (whose
 * own exit statuses, like verify-audit's 1, must not be confused with a
 * typo). --help and --version still exit 0. Call it once the subcommands
 * are defined.
 */
export function oneLineUsageErrors<C extends Command>(cmd: C, name: string): C {
  for (const sub of cmd.commands) oneLineUsageErrors(sub, name);
  // An empty value (a script's unset variable: `--jsonl "$OUT"`) would read as "not given" and switch a sink,
  // a key or a filter off without a word: an error for every option that takes one.
  for (const opt of cmd.options) {
    if (!opt.required && !opt.optional) continue;
    cmd.on(`option:${opt.name()}`, (value: unknown) => {
      if (value === '') cmd.error(`error: option '${opt.flags}' argument '' is invalid. empty value`, { exitCode: 2, code: 'pano.emptyValue' });
    });
  }
  cmd.exitOverride((err) => {
    if (err.exitCode === 0) process.exit(0);
    process.stderr.write(`${chalkStderr.bold(name)}: ${chalkStderr.red(err.message.replace(/^error: /, ''))}\n`);
    process.exit(2);
  });
  cmd.configureOutput({
    writeErr: (s) => {
      if (!s.startsWith('error:')) process.stderr.write(s);
    },
  });
  return cmd;
}
