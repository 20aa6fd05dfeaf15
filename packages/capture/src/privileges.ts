/** Capabilities capture needs, read from /proc/self/status (CapEff). */
import { readFileSync } from 'node:fs';

export const CAP_NET_ADMIN = 12;
export const CAP_SYS_ADMIN = 21;
export const CAP_PERFMON = 38;
export const CAP_BPF = 39;

export function effectiveCapabilities(): bigint {
  try {
    const m = /^CapEff:\s*([0-9a-f]+)$/m.exec(readFileSync('/proc/self/status', 'utf8'));
    return m ? BigInt(`0x${m[1]}`) : 0n;
  } catch {
    return 0n;
  }
}

export function hasCapability(caps: bigint, cap: number): boolean {
  return (caps & (1n << BigInt(cap))) !== 0n;
}

/** Names of the missing capabilities among those loading and attaching need (CAP_SYS_ADMIN stands in for CAP_BPF on older kernels). */
export function missingCapabilities(caps = effectiveCapabilities()): string[] {
  const missing: string[] = [];
  if (!hasCapability(caps, CAP_BPF) && !hasCapability(caps, CAP_SYS_ADMIN)) missing.push('CAP_BPF');
  if (!hasCapability(caps, CAP_NET_ADMIN)) missing.push('CAP_NET_ADMIN');
  return missing;
}
