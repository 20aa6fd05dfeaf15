/**
 * What the commands say when an audit log cannot be opened (`pano-pii
 * --audit`, `pano-export --audit`). AuditLog.open makes the writer lock
 * beside the log first and reports a lock it cannot make as the log's own
 * error, so that a missing directory reads `no such file or directory`, as
 * opening the log would. But a directory that takes no new files (`/proc`,
 * `/sys`) answers ENOENT too, for a log that exists: `--audit /proc/version:
 * no such file or directory` was untrue.
 */
import { existsSync, realpathSync } from 'node:fs';
import { dirname, resolve } from 'node:path';

/** `err` from AuditLog.open(file), or an error saying why an existing file cannot take the writer lock beside it. */
export function auditOpenError(err: unknown, file: string): unknown {
  if ((err as NodeJS.ErrnoException | undefined)?.code !== 'ENOENT' || !existsSync(file)) return err;
  let dir: string;
  try {
    dir = dirname(realpathSync(file));
  } catch {
    dir = dirname(resolve(file));
  }
  // the lock's own words are AuditLog's; without a code the commands print the message as it is
  return new Error(`audit: ${file}: cannot take its writer lock: no file can be created in ${dir}`);
}
