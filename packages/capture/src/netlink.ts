/**
 * Just enough rtnetlink to list the TC filters on an interface's clsact
 * hooks (libbpf can only query a filter whose handle and priority it already
 * knows) and whether a clsact qdisc is present. Used to find filters left by
 * a killed run and to remove a qdisc only when nothing else uses it.
 */
import koffi from 'koffi';

const AF_NETLINK = 16;
const SOCK_RAW = 3;
const SOCK_CLOEXEC = 0o2000000;
const NETLINK_ROUTE = 0;

const NLM_F_REQUEST = 0x1;
const NLM_F_DUMP = 0x300;
const NLMSG_ERROR = 2;
const NLMSG_DONE = 3;
const RTM_NEWQDISC = 36;
const RTM_GETQDISC = 38;
const RTM_NEWTFILTER = 44;
const RTM_GETTFILTER = 46;

const NLMSG_HDRLEN = 16;
const TCMSG_LEN = 20;
const TCA_KIND = 1;
const TCA_OPTIONS = 2;
const TCA_BPF_ID = 11;

/** Parent handles of the clsact hooks: TC_H_MAKE(TC_H_CLSACT, TC_H_MIN_INGRESS / _EGRESS). */
export const PARENT_INGRESS = 0xfffffff2;
export const PARENT_EGRESS = 0xfffffff3;

export interface TcFilter {
  parent: number;
  handle: number;
  priority: number;
  protocol: number;
  kind: string;
  /** BPF program id, for cls_bpf filters. */
  progId?: number;
}

interface Libc {
  socket(domain: number, type: number, proto: number): number;
  send(fd: number, buf: Buffer, len: number, flags: number): number;
  recv(fd: number, buf: Buffer, len: number, flags: number): number;
  close(fd: number): number;
  if_indextoname(ifindex: number, name: Buffer): string | null;
  if_nametoindex(name: string): number;
}

let libc: Libc | undefined;
function c(): Libc {
  if (!libc) {
    const l = koffi.load('libc.so.6');
    libc = {
      socket: l.func('int socket(int domain, int type, int protocol)'),
      send: l.func('intptr_t send(int fd, void *buf, size_t len, int flags)'),
      recv: l.func('intptr_t recv(int fd, void *buf, size_t len, int flags)'),
      close: l.func('int close(int fd)'),
      if_indextoname: l.func('const char *if_indextoname(unsigned int ifindex, _Out_ char *ifname)'),
      if_nametoindex: l.func('unsigned int if_nametoindex(const char *ifname)'),
    } as unknown as Libc;
  }
  return libc;
}

let seq = 1;

/** Sends one dump request and returns the payloads (after nlmsghdr) of the reply messages of `replyType`. */
function dump(type: number, replyType: number, ifindex: number, parent: number): Buffer[] {
  const lib = c();
  const fd = lib.socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
  if (fd < 0) throw new Error(`netlink socket: errno ${koffi.errno()}`);
  try {
    const req = Buffer.alloc(NLMSG_HDRLEN + TCMSG_LEN);
    const mySeq = seq++;
    req.writeUInt32LE(req.length, 0);
    req.writeUInt16LE(type, 4);
    req.writeUInt16LE(NLM_F_REQUEST | NLM_F_DUMP, 6);
    req.writeUInt32LE(mySeq, 8);
    req.writeInt32LE(ifindex, NLMSG_HDRLEN + 4);
    req.writeUInt32LE(parent >>> 0, NLMSG_HDRLEN + 12);
    if (lib.send(fd, req, req.length, 0) !== req.length) throw new Error(`netlink send: errno ${koffi.errno()}`);
    const out: Buffer[] = [];
    const buf = Buffer.alloc(64 * 1024);
    for (;;) {
      const n = lib.recv(fd, buf, buf.length, 0);
      if (n < 0) throw new Error(`netlink recv: errno ${koffi.errno()}`);
      let at = 0;
      while (at + NLMSG_HDRLEN <= n) {
        const len = buf.readUInt32LE(at);
        const t = buf.readUInt16LE(at + 4);
        if (len < NLMSG_HDRLEN || at + len > n) return out;
        if (buf.readUInt32LE(at + 8) === mySeq) {
          if (t === NLMSG_DONE) return out;
          if (t === NLMSG_ERROR) {
            const err = -buf.readInt32LE(at + NLMSG_HDRLEN);
            if (err === 0) return out;
            const e = new Error(`netlink dump failed: errno ${err}`) as Error & { errno: number };
            e.errno = err;
            throw e;
          }
          if (t === replyType) out.push(Buffer.from(buf.subarray(at + NLMSG_HDRLEN, at + len)));
        }
        at += (len + 3) & ~3;
      }
    }
  } finally {
    lib.close(fd);
  }
}

function* attributes(buf: Buffer, from: number, to: number): Generator<[number, Buffer]> {
  let at = from;
  while (at + 4 <= to) {
    const len = buf.readUInt16LE(at);
    const type = buf.readUInt16LE(at + 2) & 0x3fff;
    if (len < 4 || at + len > to) return;
    yield [type, buf.subarray(at + 4, at + len)];
    at += (len + 3) & ~3;
  }
}

/** The filters attached at one clsact hook (parent) of an interface. Empty when there is no clsact. */
export function listFilters(ifindex: number, parent: number): TcFilter[] {
  let msgs: Buffer[];
  try {
    msgs = dump(RTM_GETTFILTER, RTM_NEWTFILTER, ifindex, parent);
  } catch (e) {
    // No qdisc at that parent, or the interface vanished: nothing attached.
    const errno = (e as { errno?: number }).errno;
    if (errno === 22 || errno === 2 || errno === 19) return [];
    throw e;
  }
  const out: TcFilter[] = [];
  for (const m of msgs) {
    if (m.length < TCMSG_LEN) continue;
    const handle = m.readUInt32LE(8);
    const info = m.readUInt32LE(16);
    let kind = '';
    let progId: number | undefined;
    for (const [t, v] of attributes(m, TCMSG_LEN, m.length)) {
      if (t === TCA_KIND) kind = v.toString('latin1').replace(/\0.*$/, '');
      else if (t === TCA_OPTIONS) {
        for (const [ot, ov] of attributes(v, 0, v.length)) if (ot === TCA_BPF_ID && ov.length >= 4) progId = ov.readUInt32LE(0);
      }
    }
    // The dump also lists each filter chain head (handle 0); only real filters count.
    if (handle === 0) continue;
    out.push({ parent: m.readUInt32LE(12), handle, priority: info >>> 16, protocol: ntohs(info & 0xffff), kind, progId });
  }
  return out;
}

/** Whether the interface has a clsact qdisc. */
export function hasClsact(ifindex: number): boolean {
  for (const m of dump(RTM_GETQDISC, RTM_NEWQDISC, ifindex, 0)) {
    if (m.length < TCMSG_LEN || m.readInt32LE(4) !== ifindex) continue;
    for (const [t, v] of attributes(m, TCMSG_LEN, m.length)) {
      if (t === TCA_KIND && v.toString('latin1').replace(/\0.*$/, '') === 'clsact') return true;
    }
  }
  return false;
}

function ntohs(v: number): number {
  return ((v & 0xff) << 8) | (v >> 8);
}

/** The name of interface `ifindex` in this network namespace now, or undefined when there is none (an ioctl: no sysfs needed). */
export function ifIndexToName(ifindex: number): string | undefined {
  const buf = Buffer.alloc(16); // IF_NAMESIZE
  return c().if_indextoname(ifindex, buf) === null ? undefined : buf.toString('latin1').replace(/\0.*$/s, '');
}

/** The index of interface `name` in this network namespace now, or undefined when there is none. */
export function ifNameToIndex(name: string): number | undefined {
  return c().if_nametoindex(name) || undefined;
}
