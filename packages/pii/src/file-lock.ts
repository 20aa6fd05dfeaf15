/**
 * An exclusive flock(2) on an open file: the lock belongs to the file
 * itself (its inode), so a second writer reaching the same audit log under
 * another name (a hard link, a bind mount) is refused too, which the lock
 * file beside the log's name cannot see. The kernel drops it when the file
 * is closed or the process dies, so it never goes stale. Node has no flock;
 * libc's is called through koffi (a dependency of pano-capture already),
 * loaded only when an audit log is opened.
 */
import { createRequire } from 'node:module';

const LOCK_EX = 2;
const LOCK_NB = 4;
const EWOULDBLOCK = 11;

type Flock = { call(fd: number, op: number): number; errno(): number };
let flock: Flock | null | undefined;

function load(): Flock | null {
  if (flock !== undefined) return flock;
  try {
    const koffi = createRequire(import.meta.url)('koffi') as { load(lib: string): { func(sig: string): (fd: number, op: number) => number }; errno(): number };
    const fn = koffi.load('libc.so.6').func('int flock(int fd, int op)');
    flock = { call: fn, errno: () => koffi.errno() };
  } catch {
    flock = null;
  }
  return flock;
}

/**
 * Takes an exclusive lock on `fd` without waiting: 'locked', 'busy' (another
 * open file description holds it: another writer), or 'unavailable' (no
 * libc flock here, or the file system refused: the lock file alone guards).
 */
export function lockExclusive(fd: number): 'locked' | 'busy' | 'unavailable' {
  const f = load();
  if (!f) return 'unavailable';
  if (f.call(fd, LOCK_EX | LOCK_NB) === 0) return 'locked';
  return f.errno() === EWOULDBLOCK ? 'busy' : 'unavailable';
}
