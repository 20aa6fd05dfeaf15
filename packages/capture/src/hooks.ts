/**
 * Attaching to and detaching from clsact hooks, and recognising what we own.
 *
 * Ownership (see docs/adr/0302-tc-filter-ownership.md):
 * - our filters have priority PRIORITY, handle = the owning process's pid,
 *   and a program whose name starts with "pano_cap";
 * - the owner is alive when that pid holds an fd of that program
 *   (/proc/PID/fdinfo shows prog_id); otherwise the filter is stale;
 * - a clsact qdisc created by pano-capture is marked by a file under
 *   /run/panopticon/clsact/ (per network namespace and ifindex), so a later
 *   run knows it may remove it once no filter is left on it.
 */
import { mkdirSync, readdirSync, readFileSync, readlinkSync, rmSync, statSync, writeFileSync, existsSync } from 'node:fs';
import { BPF_TC_EGRESS, BPF_TC_INGRESS, tcHook, tcOpts, type Libbpf } from './libbpf.js';
import { hasClsact, listFilters, PARENT_EGRESS, PARENT_INGRESS } from './netlink.js';
import { OWNED_PREFIX } from './layout.js';
import { CaptureError, errnoText } from './program.js';
import { listInterfaces, type NetInterface } from './interfaces.js';

/** tc filter priority of every pano-capture filter (0xca7: "cat", below the kernel's auto-assigned 0xc000 range). */
export const PRIORITY = 0xca7;
const MARKER_DIR = '/run/panopticon/clsact';
const EEXIST = 17;

export type Direction = 'ingress' | 'egress';

export interface Attachment {
  iface: NetInterface;
  direction: Direction;
  handle: number;
}

function netnsId(): string {
  try {
    return /\[(\d+)\]/.exec(readlinkSync('/proc/self/ns/net'))?.[1] ?? 'unknown';
  } catch {
    return 'unknown';
  }
}

function markerPath(ifindex: number): string {
  return `${MARKER_DIR}/${netnsId()}.${ifindex}`;
}

function attachPoint(d: Direction): number {
  return d === 'ingress' ? BPF_TC_INGRESS : BPF_TC_EGRESS;
}

/** Hooks one interface: creates clsact when absent (and marks it ours), attaches the programs. */
export class InterfaceHooks {
  readonly attachments: Attachment[] = [];
  /** True when pano-capture created this clsact (now or in an earlier run). */
  ownsQdisc = false;

  constructor(
    private readonly lib: Libbpf,
    readonly iface: NetInterface,
  ) {}

  attach(progFd: (d: Direction) => number, directions: Direction[]): void {
    const ret = this.lib.tcHookCreate(tcHook(this.iface.ifindex, BPF_TC_INGRESS));
    if (ret === 0) {
      this.ownsQdisc = true;
      try {
        mkdirSync(MARKER_DIR, { recursive: true, mode: 0o700 });
        writeFileSync(markerPath(this.iface.ifindex), `${this.iface.name} created by pid ${process.pid}\n`);
      } catch {
        // Without the marker a killed run's qdisc would be left behind, but capture still works.
      }
    } else if (ret === -EEXIST) {
      this.ownsQdisc = existsSync(markerPath(this.iface.ifindex));
    } else {
      throw new CaptureError(`${this.iface.name}: cannot create the clsact qdisc: ${errnoText(-ret)}${ret === -95 || ret === -2 ? ' (kernel lacks CONFIG_NET_SCH_INGRESS)' : ''}`);
    }
    for (const direction of directions) {
      const opts = tcOpts({ progFd: progFd(direction), handle: process.pid, priority: PRIORITY });
      const r = this.lib.tcAttach(tcHook(this.iface.ifindex, attachPoint(direction)), opts);
      if (r < 0) throw new CaptureError(`${this.iface.name}: cannot attach the ${direction} classifier: ${errnoText(-r)}`);
      this.attachments.push({ iface: this.iface, direction, handle: process.pid });
    }
  }

  /** Removes our filters, then the qdisc if pano created it and nothing else is attached. Once: later calls do nothing. */
  detach(): string[] {
    const problems: string[] = [];
    for (const a of this.attachments.splice(0)) {
      const r = this.lib.tcDetach(tcHook(a.iface.ifindex, attachPoint(a.direction)), tcOpts({ handle: a.handle, priority: PRIORITY }));
      if (r < 0 && r !== -2 && r !== -19) problems.push(`${a.iface.name}: cannot detach the ${a.direction} classifier: ${errnoText(-r)}`);
    }
    if (this.ownsQdisc) removeQdiscIfUnused(this.lib, this.iface.ifindex, problems);
    // a clsact made later on this ifindex is someone else's
    this.ownsQdisc = false;
    return problems;
  }

  /**
   * The directions whose filter of ours is no longer attached: the interface
   * went away (deleted, or moved to another network namespace: its qdiscs go
   * with it) or something deleted the clsact qdisc or the filter. A renamed
   * interface keeps them. Throws when netlink cannot tell.
   */
  missing(): Direction[] {
    const out: Direction[] = [];
    for (const a of this.attachments) {
      const filters = listFilters(a.iface.ifindex, a.direction === 'ingress' ? PARENT_INGRESS : PARENT_EGRESS);
      if (!filters.some((f) => f.handle === a.handle && f.priority === PRIORITY && f.kind === 'bpf')) out.push(a.direction);
    }
    return out;
  }

  /** The interface is gone: nothing is left to detach, and its clsact went with it (so does the marker; the ifindex may be reused). */
  forget(): void {
    this.attachments.splice(0);
    if (this.ownsQdisc) rmSync(markerPath(this.iface.ifindex), { force: true });
    this.ownsQdisc = false;
  }
}

function removeQdiscIfUnused(lib: Libbpf, ifindex: number, problems: string[]): void {
  try {
    if (!hasClsact(ifindex)) {
      rmSync(markerPath(ifindex), { force: true });
      return;
    }
    if (listFilters(ifindex, PARENT_INGRESS).length || listFilters(ifindex, PARENT_EGRESS).length) return;
    const r = lib.tcHookDestroy(tcHook(ifindex, BPF_TC_INGRESS | BPF_TC_EGRESS));
    if (r < 0 && r !== -2 && r !== -19 && r !== -22) problems.push(`ifindex ${ifindex}: cannot remove the clsact qdisc: ${errnoText(-r)}`);
    else rmSync(markerPath(ifindex), { force: true });
  } catch (e) {
    problems.push(`ifindex ${ifindex}: ${(e as Error).message}`);
  }
}

/** Whether process `pid` holds an fd of BPF program `progId`. */
function holdsProgram(pid: number, progId: number): boolean {
  let fds: string[];
  try {
    fds = readdirSync(`/proc/${pid}/fdinfo`);
  } catch {
    return false;
  }
  const want = `prog_id:\t${progId}\n`;
  for (const fd of fds) {
    try {
      if (readFileSync(`/proc/${pid}/fdinfo/${fd}`, 'utf8').includes(want)) return true;
    } catch {
      // fd closed meanwhile
    }
  }
  return false;
}

export interface StaleCleanup {
  filters: number;
  qdiscs: number;
  problems: string[];
}

/**
 * Finds pano-capture filters whose owner is gone (a run killed with SIGKILL)
 * on every interface of this namespace, removes them, and removes a clsact
 * qdisc pano-capture created once nothing is left on it.
 */
export function removeStale(lib: Libbpf): StaleCleanup {
  const result: StaleCleanup = { filters: 0, qdiscs: 0, problems: [] };
  forgetDeadNamespaces();
  for (const iface of listInterfaces()) {
    for (const [parent, direction] of [
      [PARENT_INGRESS, 'ingress'],
      [PARENT_EGRESS, 'egress'],
    ] as const) {
      let filters;
      try {
        filters = listFilters(iface.ifindex, parent);
      } catch (e) {
        result.problems.push(`${iface.name}: cannot list filters: ${(e as Error).message}`);
        continue;
      }
      for (const f of filters) {
        if (f.priority !== PRIORITY || f.kind !== 'bpf' || f.progId === undefined) continue;
        const fd = lib.progGetFdById(f.progId);
        if (fd < 0) continue;
        const name = lib.progName(fd);
        lib.close(fd);
        if (!name?.startsWith(OWNED_PREFIX)) continue;
        if (holdsProgram(f.handle, f.progId)) continue;
        const r = lib.tcDetach(tcHook(iface.ifindex, attachPoint(direction)), tcOpts({ handle: f.handle, priority: PRIORITY }));
        if (r < 0) result.problems.push(`${iface.name}: cannot remove stale ${direction} filter (handle ${f.handle}): ${errnoText(-r)}`);
        else {
          result.filters++;
        }
      }
    }
    const marker = markerPath(iface.ifindex);
    if (existsSync(marker)) {
      const before = result.problems.length;
      const had = hasClsactSafe(iface.ifindex);
      removeQdiscIfUnused(lib, iface.ifindex, result.problems);
      if (had && !hasClsactSafe(iface.ifindex) && result.problems.length === before) result.qdiscs++;
    }
  }
  return result;
}

function hasClsactSafe(ifindex: number): boolean {
  try {
    return hasClsact(ifindex);
  } catch {
    return false;
  }
}

/** Network namespaces still alive: held by a process or bind-mounted by `ip netns`. */
function liveNamespaces(): Set<string> {
  const live = new Set<string>([netnsId()]);
  const add = (path: string) => {
    try {
      live.add(String(statSync(path).ino));
    } catch {
      // gone meanwhile, or not ours to see
    }
  };
  for (const pid of safeReaddir('/proc')) if (/^\d+$/.test(pid)) add(`/proc/${pid}/ns/net`);
  for (const name of safeReaddir('/run/netns')) add(`/run/netns/${name}`);
  return live;
}

/** Markers of namespaces that no longer exist describe qdiscs that no longer exist. */
function forgetDeadNamespaces(): void {
  const markers = safeReaddir(MARKER_DIR);
  if (markers.length === 0) return;
  const live = liveNamespaces();
  for (const m of markers) {
    const ns = m.split('.')[0];
    if (!live.has(ns)) rmSync(`${MARKER_DIR}/${m}`, { force: true });
  }
}

function safeReaddir(path: string): string[] {
  try {
    return readdirSync(path);
  } catch {
    return [];
  }
}
