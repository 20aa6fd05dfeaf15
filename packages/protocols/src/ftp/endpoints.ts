/**
 * Where an FTP data connection will be opened, from the control connection's
 * words: a 227 reply to PASV (RFC 959 §4.1.2: `h1,h2,h3,h4,p1,p2`, anywhere in
 * its text), a 229 reply to EPSV (RFC 2428: `(|||port|)`), a PORT command's
 * argument, an EPRT command's (`|1|132.235.1.2|6275|`, `|2|::1|6275|`).
 */

export interface Endpoint {
  address: string;
  port: number;
}

const HOST_PORT = /(\d{1,3}),(\d{1,3}),(\d{1,3}),(\d{1,3}),(\d{1,3}),(\d{1,3})/;

/** `h1,h2,h3,h4,p1,p2` (PASV's reply, PORT's argument). */
export function hostPort(text: string): Endpoint | undefined {
  const m = HOST_PORT.exec(text);
  if (!m) return undefined;
  const n = m.slice(1).map(Number);
  if (n.some((x) => x > 255)) return undefined;
  const port = n[4]! * 256 + n[5]!;
  if (port === 0) return undefined;
  return { address: `${n[0]}.${n[1]}.${n[2]}.${n[3]}`, port };
}

/** EPSV's reply: `(<d><d><d>port<d>)`, the delimiter any printable character (RFC 2428 §3). */
export function epsvPort(text: string): number | undefined {
  const m = /\(([!-~])\1\1(\d{1,5})\1\)/.exec(text);
  if (!m) return undefined;
  const port = Number(m[2]);
  return port > 0 && port < 65536 ? port : undefined;
}

/** EPRT's argument: `<d>af<d>address<d>port<d>` (af 1: IPv4, 2: IPv6). */
export function eprt(arg: string): Endpoint | undefined {
  const d = arg[0];
  if (!d) return undefined;
  const parts = arg.split(d);
  // '', af, address, port, ''
  if (parts.length !== 5) return undefined;
  const port = Number(parts[3]);
  if (!/^\d{1,5}$/.test(parts[3]!) || port === 0 || port > 65535) return undefined;
  if (parts[1] === '1' && /^\d{1,3}(?:\.\d{1,3}){3}$/.test(parts[2]!)) return { address: parts[2]!, port };
  if (parts[1] === '2' && parts[2]!.includes(':')) return { address: parts[2]!.toLowerCase(), port };
  return undefined;
}
