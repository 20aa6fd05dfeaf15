/**
 * The order in which modules try to detect a new flow: those whose ports
 * the flow's ports hint first, the rest after, each group in registry
 * order. It is asked for every new flow (a DNS client's every query), so
 * each port's hints are one read of a table built once, and each order is
 * built once per set of hints, not per flow.
 */
import type { ProtocolModule } from './types.js';

export class PortHints {
  /** Per port, a bit for each module (by its index) whose ports include it. */
  private readonly masks = new Uint32Array(65536);
  private readonly orders = new Map<number, readonly ProtocolModule[]>();

  constructor(private readonly mods: readonly ProtocolModule[]) {
    if (mods.length > 31) throw new RangeError(`${mods.length} protocol modules of one transport: port hints hold 31`);
    mods.forEach((m, i) => {
      for (const p of m.ports) this.masks[p]! |= 1 << i;
    });
  }

  /** The modules in detection order for a flow between ports `a` and `b`. */
  order(a: number, b: number): readonly ProtocolModule[] {
    const hints = this.masks[a]! | this.masks[b]!;
    // the hinted modules already come first (their bits are the low ones), or there are none
    if ((hints & (hints + 1)) === 0) return this.mods;
    let o = this.orders.get(hints);
    if (o === undefined) {
      o = [...this.mods.filter((_, i) => hints & (1 << i)), ...this.mods.filter((_, i) => !(hints & (1 << i)))];
      this.orders.set(hints, o);
    }
    return o;
  }
}
