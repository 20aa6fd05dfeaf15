/** Running a test's independent cases side by side. */

/** Runs `fn` over `items` with at most `limit` in flight, results in input order. */
export async function mapLimit<T, R>(items: T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}

/**
 * How many command processes a test starts at once: each spends most of its
 * life starting Node.js and compiling its modules, so a few in flight use both
 * cores of the CI machine where one at a time used one.
 */
export const PROCESSES = 4;
