/**
 * Network interfaces of the current network namespace, read from
 * /sys/class/net (which `ip netns exec` remounts for the namespace).
 */
import { readdirSync, readFileSync } from 'node:fs';
import { LinkType } from '@panopticon/pcap';
import { ifIndexToName, ifNameToIndex } from './netlink.js';

const ARPHRD_ETHER = 1;
const ARPHRD_LOOPBACK = 772;
const ARPHRD_NONE = 65534;
const IFF_UP = 0x1;

export interface NetInterface {
  name: string;
  ifindex: number;
  /** ARPHRD_* from /sys/class/net/NAME/type. */
  arphrd: number;
  loopback: boolean;
  up: boolean;
  mtu: number;
  /** pcapng link type of what TC hands the program, or undefined when not supported. */
  linkType?: number;
  /** Bytes before the network header in what TC hands the program. */
  l3Offset: number;
}

/** An interface the user named does not exist. */
export class NoSuchInterfaceError extends Error {}

function readNumber(name: string, file: string): number {
  return Number(readFileSync(`/sys/class/net/${name}/${file}`, 'utf8').trim());
}

/**
 * Describes interface `name`, which may also be one of its alternative names
 * (`ip link property add dev eth0 altname uplink`; udev gives many NICs their
 * path names as altnames): ip(8) and tcpdump take those, and /sys/class/net
 * lists only the primary name. The description carries the primary name,
 * which is what the kernel reports and the capture checks.
 */
export function describeInterface(name: string): NetInterface {
  let ifindex: number;
  try {
    ifindex = readNumber(name, 'ifindex');
  } catch {
    // the kernel resolves altnames too (if_nametoindex, as libpcap asks it)
    const byAlt = name.includes('/') ? undefined : ifNameToIndex(name);
    const primary = byAlt === undefined ? undefined : ifIndexToName(byAlt);
    if (primary === undefined || primary === name) throw new NoSuchInterfaceError(`no such interface: ${name}`);
    return describeInterface(primary);
  }
  const arphrd = readNumber(name, 'type');
  const flags = readNumber(name, 'flags');
  const mtu = readNumber(name, 'mtu');
  const ethernetLike = arphrd === ARPHRD_ETHER || arphrd === ARPHRD_LOOPBACK;
  return {
    name,
    ifindex,
    arphrd,
    loopback: arphrd === ARPHRD_LOOPBACK,
    up: (flags & IFF_UP) !== 0,
    mtu,
    linkType: ethernetLike ? LinkType.ETHERNET : arphrd === ARPHRD_NONE ? LinkType.RAW : undefined,
    l3Offset: ethernetLike ? 14 : 0,
  };
}

export function listInterfaces(): NetInterface[] {
  let names: string[];
  try {
    names = readdirSync('/sys/class/net');
  } catch {
    return [];
  }
  const out: NetInterface[] = [];
  for (const n of names) {
    try {
      out.push(describeInterface(n));
    } catch {
      // vanished meanwhile
    }
  }
  return out.sort((a, b) => a.ifindex - b.ifindex);
}

/**
 * Resolves `-i` values: names, comma lists, and `any` (every interface that is
 * up and has a supported link type).
 */
export function resolveInterfaces(values: string[]): NetInterface[] {
  const seen = new Map<number, NetInterface>();
  for (const v of values) {
    if (v === 'any') {
      for (const i of listInterfaces()) if (i.up && i.linkType !== undefined) seen.set(i.ifindex, i);
      continue;
    }
    const i = describeInterface(v);
    if (i.linkType === undefined) throw new NoSuchInterfaceError(`${v}: link type ARPHRD ${i.arphrd} is not supported (Ethernet, loopback and raw-IP devices are)`);
    seen.set(i.ifindex, i);
  }
  return [...seen.values()];
}
