/**
 * pano-capture: options to a Capture, a summary on stderr at exit.
 */
import { readFileSync } from 'node:fs';
import { isatty } from 'node:tty';
import { dirname, resolve } from 'node:path';
import { Command, InvalidArgumentError, Option } from 'commander';
import { describeFsError, longTimeout, oneLineUsageErrors, parseCount, parseDuration, parseList, parsePositiveCount, parsePositiveDuration, parseSize, runMain, UserError } from '@panopticon/cli';
import { Capture, directionsFor, type CaptureSummary } from './capture.js';
import { FilterError, parseHost, parsePort, parseProtocol, type Filters } from './filters.js';
import { NoSuchInterfaceError, resolveInterfaces, type NetInterface } from './interfaces.js';
import { LibbpfMissingError } from './libbpf.js';
import { CaptureError } from './program.js';
import { BlockSink } from './sink.js';
import { missingCapabilities } from './privileges.js';
import { doctor } from './doctor.js';
import { smokeTest } from './smoke.js';
import { MAX_SNAPLEN, TLS_MAX_DATA } from './layout.js';
import { libbpf } from './libbpf.js';
import { removeStale } from './hooks.js';
import { findLibgnutls, findLibssl } from './tls.js';
import { goTlsTarget, type GoTlsTarget } from './gotls.js';
import { ElfError } from './elf.js';
import { TextTail } from '@panopticon/pcap';

const NAME = 'pano-capture';

function version(): string {
  try {
    return JSON.parse(readFileSync(resolve(import.meta.dirname, '../package.json'), 'utf8')).version;
  } catch {
    return '0.0.0';
  }
}

const EXAMPLES = `
Examples:
  sudo pano-capture -i lo | pano-parse            HTTP events from live loopback traffic
  sudo pano-capture -i eth0 --port 443 -w x.pcapng  save a capture (mode 0600)
  sudo pano-capture -i lo,eth0 --host 10.0.0.0/8 --proto tcp -c 1000
  sudo pano-capture -i any --duration 30s > all.pcapng
  sudo pano-capture --smoke-test -i lo            check that capture works here
  pano-capture --doctor                           what this machine supports, and why not
  sudo pano-capture --tls | pano-parse            HTTP inside TLS, from OpenSSL's and GnuTLS's plaintext
  sudo pano-capture --tls-binary $(command -v node) -i lo | pano-parse
                                                  Node.js TLS too, beside loopback packets
  sudo pano-capture --tls-go ./server | pano-parse  Go crypto/tls in a Go binary

Output is pcapng: one Interface Description Block per interface, Enhanced
Packet Blocks with direction flags, Interface Statistics Blocks with the
kernel's drop counts, and loss records (pano-frames(5)). On loopback each
packet is captured once, on ingress. With --tls, what OpenSSL's SSL_read and
SSL_write (or GnuTLS's gnutls_record_recv and gnutls_record_send, or Go's
(*tls.Conn).Read and Write with --tls-go) moved in every process goes in TLS plaintext records (Custom Blocks, pano-frames(5))
with its process and connection.`;

interface Opts {
  interface: string[];
  port: string[];
  host: string[];
  proto: string[];
  snaplen: number;
  buffer: 'auto' | 'ringbuf' | 'perf';
  ringSize: number;
  write?: string;
  output?: string;
  count?: number;
  duration?: number;
  statsInterval: number;
  smokeTest?: boolean;
  doctor?: boolean;
  cleanup?: boolean;
  quiet?: boolean;
  tls?: boolean;
  tlsBinary: string[];
  tlsGo: string[];
  tlsKeylog: string[];
}

function parseSnaplen(v: string): number {
  const n = parseCount(v);
  if (n < 1 || n > MAX_SNAPLEN) throw new InvalidArgumentError(`must be 1-${MAX_SNAPLEN}`);
  return n;
}

/** Largest --ring-size: memory the kernel pins for the run; past 1 GiB the kernel refuses or the host suffers. */
const MAX_RING_SIZE = 1 << 30;

function parseRingSize(v: string): number {
  const n = parseSize(v);
  // (not `n & (n - 1)`: bitwise operators wrap past 2^31, and 64G would pass as a power of two of 0)
  if (n < 4096 || n > MAX_RING_SIZE || !Number.isInteger(Math.log2(n))) throw new InvalidArgumentError('must be a power of two from 4k to 1G (e.g. 8M)');
  return n;
}

/**
 * Longest --duration and --stats-interval: a year. Timers re-arm past Node's
 * 24.8-day limit (longTimeout, @panopticon/cli), so anything shorter works; a longer value is a
 * typo (600000h), and past 1e308 a number is Infinity.
 */
const MAX_DURATION_S = 365 * 24 * 3600;
const TOO_LONG = 'must be at most 8760h (365 days)';

function parseCaptureDuration(v: string): number {
  const d = parsePositiveDuration(v);
  if (d > MAX_DURATION_S) throw new InvalidArgumentError(`${TOO_LONG}: "${v}"`);
  return d;
}

function parseStatsInterval(v: string): number {
  const d = parseDuration(v);
  // below a millisecond would round to 0, which means "only at exit": say so rather than switch them off
  if (d > 0 && d < 0.001) throw new InvalidArgumentError(`must be 0 (only at exit) or at least 1ms: "${v}"`);
  if (d > MAX_DURATION_S) throw new InvalidArgumentError(`${TOO_LONG}: "${v}"`);
  return d;
}

export function program(): Command {
  return new Command(NAME)
    .description('Capture packets with an eBPF TC classifier and write them as pcapng.')
    .version(version())
    .option('-i, --interface <names>', 'interface to capture on; repeatable or comma list; "any" = every interface that is up', parseList, [])
    .option('--port <port>', 'only packets with this TCP/UDP source or destination port; repeatable or comma list', parseList, [])
    .option('--host <addr[/prefix]>', 'only packets from or to this IPv4/IPv6 address or CIDR; repeatable or comma list', parseList, [])
    .option('--proto <tcp|udp>', 'only these transport protocols; repeatable or comma list', parseList, [])
    .option('-s, --snaplen <bytes>', `bytes kept per packet (the original length is recorded), 1-${MAX_SNAPLEN}`, parseSnaplen, MAX_SNAPLEN)
    .addOption(new Option('--buffer <kind>', 'kernel-to-user buffer: ring buffer (Linux 5.8+) or perf event array').choices(['auto', 'ringbuf', 'perf']).default('auto'))
    .option('--ring-size <bytes>', 'ring buffer size (power of two); with perf, the total over all CPUs', parseRingSize, 8 << 20)
    .option('-w, --write <file>', 'write to FILE (created 0600) instead of standard output')
    .option('-o, --output <file>', 'the same as -w (the other pano commands\' spelling)')
    .option('-c, --count <n>', 'stop after N packets and TLS records (at least 1)', parsePositiveCount)
    .option('--duration <time>', 'stop after this long (e.g. 30s, 5m, 48h; more than 0, at most 8760h)', parseCaptureDuration)
    .option('--stats-interval <time>', 'write Interface Statistics Blocks this often (0: only at exit; 1ms to 8760h)', parseStatsInterval, 5)
    .option('--tls', 'also capture TLS plaintext: uprobes on SSL_read/SSL_write of libssl.so.3 and gnutls_record_recv/send of libgnutls.so.30 (as the dynamic linker finds them), all processes')
    .option('--tls-binary <path>', 'also probe this ELF file exporting OpenSSL\'s SSL_read/SSL_write or GnuTLS\'s gnutls_record_recv/send (e.g. the node binary); repeatable; implies --tls', (v: string, prev: string[]) => [...prev, v], [])
    .option('--tls-go <path>', 'also probe Go crypto/tls in this Go binary (Go 1.18+, x86-64, not PIE, with its symbol table); repeatable; implies --tls', (v: string, prev: string[]) => [...prev, v], [])
    .option('--tls-keylog <file>', 'write the lines of this TLS key log (SSLKEYLOGFILE), and those appended while capturing, into the capture as Decryption Secrets Blocks: pano-parse then decrypts TLS and QUIC without --tls-keylog; repeatable', (v: string, prev: string[]) => [...prev, v], [])
    .option('--smoke-test', 'attach, send a packet, see it come back, detach; exit 0 when it works')
    .option('--doctor', 'report what this machine supports for capture, and what is missing and why')
    .option('--cleanup', 'only remove filters (and qdiscs) left by killed pano-capture runs, then exit')
    .option('-q, --quiet', 'no summary on stderr at exit (loss is still reported)')
    .addHelpText('after', EXAMPLES)
    .showHelpAfterError(false);
}

function buildFilters(o: Opts): Filters {
  return {
    ports: [...new Set(o.port.map(parsePort))],
    hosts: o.host.map(parseHost),
    protocols: [...new Set(o.proto.map(parseProtocol))],
  };
}

/** Turns environment and kernel problems into the one-line errors users see. */
function asUserError(e: unknown): unknown {
  // a filter is what the user typed: a usage error (2); the rest is what the machine can do (1)
  if (e instanceof FilterError) return new UserError(e.message, 2);
  if (e instanceof LibbpfMissingError || e instanceof CaptureError || e instanceof NoSuchInterfaceError) {
    return new UserError(e.message, 1);
  }
  return e;
}

export async function main(argv = process.argv): Promise<void> {
  await runMain(NAME, async () => {
    const cmd = oneLineUsageErrors(program(), NAME);
    cmd.parse(argv);
    const o = cmd.opts<Opts>();
    try {
      return await run(o);
    } catch (e) {
      throw asUserError(e);
    }
  });
}

async function run(o: Opts): Promise<number> {
  const modes = (['doctor', 'cleanup', 'smokeTest'] as const).filter((m) => o[m]);
  if (modes.length > 1) throw new UserError('--doctor, --cleanup and --smoke-test are runs of their own: give one', 2);
  // options first: a typo is reported as one whoever runs it, before the privileges are asked for
  const filters = buildFilters(o);
  if (o.doctor) return doctor(process.stdout);

  const missing = missingCapabilities();
  if (missing.length) {
    throw new UserError(`needs ${missing.join(' and ')} to load and attach BPF programs (run as root, e.g. sudo ${NAME} ...)`, 1);
  }
  if (o.cleanup) {
    const r = removeStale(libbpf());
    for (const p of r.problems) process.stderr.write(`${NAME}: ${p}\n`);
    process.stderr.write(`${NAME}: removed ${r.filters} stale filter(s) and ${r.qdiscs} qdisc(s)\n`);
    return r.problems.length ? 1 : 0;
  }

  const names = o.interface.length ? o.interface : [];
  const tls = o.tls || o.tlsBinary.length > 0 || o.tlsGo.length > 0 ? tlsTargets(o) : undefined;
  if (names.length === 0 && !tls) throw new UserError('no interface given: use -i NAME (e.g. -i lo, -i eth0,lo, -i any), or --tls', 2);
  const interfaces: NetInterface[] = names.length ? resolveInterfaces(names) : [];
  if (names.length && interfaces.length === 0) throw new UserError('-i any: no interface is up', 1);

  if (o.smokeTest && interfaces.length === 0) throw new UserError('--smoke-test needs -i NAME', 2);
  if (o.smokeTest) return smokeTest({ interfaces, buffer: o.buffer, ringSize: o.ringSize, out: process.stderr });

  const out = outputOption(o);
  if (!out && isatty(1)) throw new UserError('standard output is a terminal: use -w FILE, or pipe into pano-parse or a file', 2);
  const keyLogs = o.tlsKeylog.map((path) => {
    try {
      return new TextTail(path, 512);
    } catch (e) {
      throw new UserError(`--tls-keylog ${path}: ${(e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (e as Error).message}`, 2);
    }
  });
  const sink = out ? openFile(out.path, out.flag) : BlockSink.stdout();
  // Handlers first: a signal while the filters are being attached (a Ctrl-C right after the start)
  // would otherwise end the process by default with the filters left on the interfaces. Taken now,
  // it waits for the attaching to finish, which it cannot interrupt, and then stops the capture.
  let capture: Capture | undefined;
  const stop = () => capture?.stop();
  const signals: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];
  for (const s of signals) process.on(s, stop);
  try {
    capture = new Capture({
      interfaces,
      filters,
      snaplen: o.snaplen,
      buffer: o.buffer,
      ringSize: o.ringSize,
      sink,
      count: o.count,
      statsIntervalMs: Math.round(o.statsInterval * 1000),
      tls,
      keyLogs: keyLogs.length ? keyLogs : undefined,
      // said when it happens (even with -q): an interface that went away is a capture that stopped
      onNotice: (m) => process.stderr.write(`${NAME}: ${m}\n`),
    });
  } catch (e) {
    for (const s of signals) process.off(s, stop);
    throw e;
  }
  if (!o.quiet) {
    const where = interfaces.map((i) => `${i.name} (${directionsFor(i).join('+')})`).join(', ');
    if (interfaces.length) process.stderr.write(`${NAME}: capturing on ${where} through the ${capture.buffer === 'ringbuf' ? 'ring buffer' : 'perf event array'}, snap length ${capture.program.snaplen}\n`);
    if (tls) process.stderr.write(`${NAME}: capturing TLS plaintext of every process from ${[...tls.targets, ...tls.go.map((g) => `${g.path} (Go)`)].join(', ')}\n`);
  }
  // (tcpdump refuses a down interface; the filters do work once it comes up, so say it rather than refuse,
  // even with -q: a capture that stays empty without a word looks like a quiet network)
  for (const i of interfaces) if (!i.up) process.stderr.write(`${NAME}: ${i.name} is down: nothing crosses it until it is brought up (the capture is attached and goes on)\n`);
  // (not setTimeout: past 2^31-1 ms it fires after 1 ms)
  const timer = o.duration !== undefined ? longTimeout(stop, o.duration * 1000) : undefined;
  const summary = await capture.done();
  timer?.cancel();
  for (const s of signals) process.off(s, stop);
  // the filters are off already; what is left goes as the reader takes it (a stalled one is given up on)
  await sink.finish();
  sink.close();
  // a write failure is said once, as the error that ends the run
  report({ ...summary, problems: summary.problems.filter((p) => p !== sink.error) }, o.quiet ?? false);
  if (sink.error) throw new UserError(sink.error, 74);
  // an interface that went away during the capture: the capture is not what was asked for (1, as for a missing interface)
  return summary.problems.length || summary.lostInterfaces.length ? 1 : 0;
}

/**
 * --tls: libssl.so.3 and libgnutls.so.30 where the dynamic linker finds them; --tls-binary: those files (each checked when attached);
 * --tls-go: Go binaries, whose probe points are found now (a binary that cannot be probed is a one-line error naming it).
 */
function tlsTargets(o: Opts): { targets: string[]; go: GoTlsTarget[] } {
  const targets: string[] = [];
  if (o.tls) {
    const libs = [findLibssl(), findLibgnutls()].filter((l): l is string => l !== undefined);
    if (libs.length === 0 && o.tlsBinary.length === 0 && o.tlsGo.length === 0) throw new UserError('--tls: neither libssl.so.3 nor libgnutls.so.30 found (ldconfig -p lists neither); name a binary with --tls-binary PATH', 1);
    targets.push(...libs);
  }
  for (const b of o.tlsBinary) targets.push(resolve(b));
  const go: GoTlsTarget[] = [];
  for (const b of new Set(o.tlsGo.map((p) => resolve(p)))) {
    try {
      go.push(goTlsTarget(b));
    } catch (e) {
      if (e instanceof ElfError) throw new UserError(`--tls-go: ${e.message}`, 1);
      throw e;
    }
  }
  return { targets: [...new Set(targets)], go };
}

/** `-w FILE`, or a one-line usage error (2) naming the option, the file and what is wrong with it. */
/**
 * Where the capture goes: `-w` as tcpdump writes it, or `-o` as pano-parse,
 * pano-pii and the others do (a user moving between them types either).
 * Given both, the file is ambiguous unless they agree.
 */
function outputOption(o: Opts): { path: string; flag: '-w' | '-o' } | undefined {
  if (o.write !== undefined && o.output !== undefined && o.write !== o.output) throw new UserError(`-w ${o.write} and -o ${o.output}: two files given for one capture; use one`, 2);
  if (o.write !== undefined) return { path: o.write, flag: '-w' };
  if (o.output !== undefined) return { path: o.output, flag: '-o' };
  return undefined;
}

function openFile(path: string, flag: '-w' | '-o'): BlockSink {
  try {
    return BlockSink.file(path);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    // ENOENT on a create: the directory it goes in is missing (node's words would say "file")
    if (code === 'ENOENT') throw new UserError(`${flag} ${path}: no such directory: ${dirname(resolve(path))}`, 2);
    throw new UserError(describeFsError(e, `${flag} ${path}`), 2);
  }
}

function report(s: CaptureSummary, quiet: boolean): void {
  const err = process.stderr;
  for (const p of s.problems) err.write(`${NAME}: ${p}\n`);
  if (s.stale.filters || s.stale.qdiscs) err.write(`${NAME}: removed ${s.stale.filters} stale filter(s) and ${s.stale.qdiscs} qdisc(s) left by a killed run\n`);
  // Loss is never silent, even with --quiet.
  for (const c of s.interfaces) {
    const lost = c.dropBuffer + c.dropCopy;
    if (lost > 0n) err.write(`${NAME}: ${c.name}: ${lost} packets lost in the kernel (${c.dropBuffer} buffer full, ${c.dropCopy} unreadable)\n`);
  }
  if (s.tls) {
    const t = s.tls;
    const lost = t.dropBuffer + t.dropCopy;
    if (lost > 0n) err.write(`${NAME}: TLS: ${lost} plaintext records lost in the kernel (${t.dropBuffer} buffer full, ${t.dropCopy} unreadable)\n`);
    if (t.activeFull > 0n) err.write(`${NAME}: TLS: ${t.activeFull} SSL calls not followed (more threads inside SSL calls at once than the table holds)\n`);
  }
  if (quiet) return;
  if (s.tls) err.write(`${NAME}: TLS: ${s.tls.delivered} plaintext records captured, ${s.tls.truncated} cut at ${TLS_MAX_DATA} bytes, ${s.tls.untied} without their connection when captured\n`);
  if (s.secretsBlocks !== undefined) err.write(`${NAME}: ${s.secretsBlocks} decryption secrets block(s) of TLS key log lines written\n`);
  const seen = s.interfaces.reduce((a, c) => a + c.seen, 0n);
  const matched = s.interfaces.reduce((a, c) => a + c.matched, 0n);
  const truncated = s.interfaces.reduce((a, c) => a + c.truncated, 0n);
  if (s.interfaces.length) err.write(`${NAME}: ${s.packets} packets captured (${s.buffer}), ${matched} matched the filters of ${seen} seen, ${s.lost} lost, ${truncated} truncated to the snap length\n`);
}
