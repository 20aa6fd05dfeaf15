/**
 * --doctor: what this machine offers for capture, and what is missing and why.
 * Changes nothing on the host (loads the BPF object without attaching it).
 */
import { existsSync, readFileSync } from 'node:fs';
import { release } from 'node:os';
import { gunzipSync } from 'node:zlib';
import { BPF_MAP_TYPE_PERF_EVENT_ARRAY, BPF_MAP_TYPE_RINGBUF, BPF_PROG_TYPE_SCHED_CLS, libbpf, type Libbpf } from './libbpf.js';
import { CAP_BPF, CAP_NET_ADMIN, CAP_PERFMON, CAP_SYS_ADMIN, effectiveCapabilities, hasCapability, missingCapabilities } from './privileges.js';
import { LoadedProgram, OBJECT_PATH } from './program.js';
import { NO_FILTERS } from './filters.js';
import { listInterfaces } from './interfaces.js';
import { findLibssl, TLS_OBJECT_PATH, TlsProbes } from './tls.js';

interface Check {
  ok: boolean | undefined; // undefined: informational / unknown
  what: string;
  detail: string;
  /** Needed for capture at all (a failure makes --doctor exit 1). */
  required?: boolean;
}

function kernelConfig(): string | undefined {
  try {
    return gunzipSync(readFileSync('/proc/config.gz')).toString('latin1');
  } catch {
    // fall through
  }
  try {
    return readFileSync(`/boot/config-${release()}`, 'latin1');
  } catch {
    return undefined;
  }
}

export function doctor(out: NodeJS.WritableStream): number {
  const checks: Check[] = [];
  checks.push({ ok: undefined, what: 'kernel', detail: `Linux ${release()}` });
  checks.push({
    ok: existsSync('/sys/kernel/btf/vmlinux'),
    what: 'BTF',
    detail: existsSync('/sys/kernel/btf/vmlinux') ? '/sys/kernel/btf/vmlinux present' : 'no /sys/kernel/btf/vmlinux (not needed by the TC capture program, which uses only uapi types)',
  });

  let lib: Libbpf | undefined;
  try {
    lib = libbpf();
    checks.push({ ok: true, what: 'libbpf', detail: `libbpf.so.1 ${lib.version}`, required: true });
  } catch (e) {
    checks.push({ ok: false, what: 'libbpf', detail: (e as Error).message, required: true });
  }

  const caps = effectiveCapabilities();
  const missing = missingCapabilities(caps);
  const capNames = [
    [CAP_BPF, 'CAP_BPF'],
    [CAP_NET_ADMIN, 'CAP_NET_ADMIN'],
    [CAP_PERFMON, 'CAP_PERFMON'],
    [CAP_SYS_ADMIN, 'CAP_SYS_ADMIN'],
  ] as const;
  checks.push({
    ok: missing.length === 0,
    what: 'capabilities',
    detail:
      `held: ${capNames.filter(([c]) => hasCapability(caps, c)).map(([, n]) => n).join(', ') || 'none'}` +
      (missing.length ? `; missing ${missing.join(', ')} (run as root)` : ''),
    required: true,
  });

  const config = kernelConfig();
  if (config) {
    for (const [opt, why] of [
      ['CONFIG_NET_SCH_INGRESS', 'clsact qdisc'],
      ['CONFIG_NET_CLS_BPF', 'BPF classifier'],
      ['CONFIG_BPF_SYSCALL', 'bpf() system call'],
    ] as const) {
      const on = new RegExp(`^${opt}=[ym]$`, 'm').test(config);
      checks.push({ ok: on, what: opt, detail: on ? `${why}: enabled` : `${why}: not enabled in this kernel's config`, required: true });
    }
  } else {
    checks.push({ ok: undefined, what: 'kernel config', detail: 'not readable (/proc/config.gz, /boot/config-*); clsact and cls_bpf are checked when attaching' });
  }

  let ring = false;
  let perf = false;
  if (lib && missing.length === 0) {
    const cls = lib.probeProgType(BPF_PROG_TYPE_SCHED_CLS) === 1;
    checks.push({ ok: cls, what: 'TC programs', detail: cls ? 'BPF_PROG_TYPE_SCHED_CLS loads' : 'BPF_PROG_TYPE_SCHED_CLS cannot be loaded', required: true });
    ring = lib.probeMapType(BPF_MAP_TYPE_RINGBUF) === 1;
    checks.push({ ok: ring, what: 'ring buffer', detail: ring ? 'BPF_MAP_TYPE_RINGBUF available (--buffer ringbuf, the default)' : 'BPF_MAP_TYPE_RINGBUF missing (needs Linux 5.8): --buffer perf is used instead' });
    perf = lib.probeMapType(BPF_MAP_TYPE_PERF_EVENT_ARRAY) === 1;
    checks.push({ ok: perf, what: 'perf event array', detail: perf ? 'BPF_MAP_TYPE_PERF_EVENT_ARRAY available (--buffer perf)' : 'BPF_MAP_TYPE_PERF_EVENT_ARRAY missing' });
    checks.push({ ok: ring || perf, what: 'a kernel buffer', detail: ring || perf ? 'at least one way to hand packets to user space' : 'neither ring buffer nor perf event array', required: true });
    for (const buffer of ['ringbuf', 'perf'] as const) {
      if ((buffer === 'ringbuf' && !ring) || (buffer === 'perf' && !perf)) continue;
      try {
        LoadedProgram.load({ buffer, snaplen: 262144, ringSize: 1 << 20, filters: NO_FILTERS }).close();
        checks.push({ ok: true, what: `program (${buffer})`, detail: `${OBJECT_PATH} passes the verifier` });
      } catch (e) {
        checks.push({ ok: false, what: `program (${buffer})`, detail: (e as Error).message, required: buffer === 'ringbuf' || !ring });
      }
    }
    // --tls: not required for packet capture
    const libssl = findLibssl();
    checks.push({ ok: libssl !== undefined, what: 'libssl.so.3 (--tls)', detail: libssl ?? 'not found by ldconfig -p or in the usual directories (--tls-binary PATH still works)' });
    try {
      TlsProbes.verify();
      checks.push({ ok: true, what: 'TLS program (--tls)', detail: `${TLS_OBJECT_PATH} passes the verifier (uprobes; raw tracepoints sock_send_length/sock_recv_length, Linux 6.3+)` });
    } catch (e) {
      checks.push({ ok: false, what: 'TLS program (--tls)', detail: (e as Error).message });
    }
  } else {
    checks.push({ ok: undefined, what: 'BPF features', detail: 'not probed (needs libbpf and privileges)' });
  }

  for (const i of listInterfaces()) {
    const supported = i.linkType !== undefined;
    checks.push({
      ok: supported && i.up ? true : supported ? undefined : false,
      what: `interface ${i.name}`,
      detail: `ifindex ${i.ifindex}, ${i.up ? 'up' : 'down'}, mtu ${i.mtu}, ${supported ? (i.loopback ? 'loopback (captured on ingress only)' : i.l3Offset ? 'Ethernet' : 'raw IP') : `link type ARPHRD ${i.arphrd} not supported`}`,
    });
  }

  let failed = false;
  for (const c of checks) {
    const mark = c.ok === true ? 'ok  ' : c.ok === false ? (c.required ? 'FAIL' : 'no  ') : '--  ';
    if (c.ok === false && c.required) failed = true;
    out.write(`${mark} ${c.what.padEnd(24)} ${c.detail}\n`);
  }
  out.write(failed ? 'pano-capture cannot capture on this machine (see FAIL above)\n' : 'pano-capture can capture on this machine\n');
  return failed ? 1 : 0;
}
