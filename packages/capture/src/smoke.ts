/**
 * --smoke-test: attach, send a datagram that must cross each interface, see
 * it come back through the kernel buffer, detach.
 */
import { createSocket, type Socket } from 'node:dgram';
import { randomBytes } from 'node:crypto';
import { networkInterfaces } from 'node:os';
import { Capture } from './capture.js';
import { NO_FILTERS } from './filters.js';
import type { NetInterface } from './interfaces.js';
import { CaptureError } from './program.js';
import type { BufferKind } from './program.js';

const PORT = 9; // discard: nothing is expected to answer
const TRIES = 30;
const INTERVAL_MS = 100;

interface Target {
  iface: NetInterface;
  socket: Socket;
  address: string;
}

function targetFor(iface: NetInterface): Target {
  if (iface.loopback) return { iface, socket: createSocket('udp4'), address: '127.0.0.1' };
  if (!iface.up) throw new CaptureError(`--smoke-test: ${iface.name} is down`);
  const addrs = networkInterfaces()[iface.name] ?? [];
  const v4 = addrs.find((a) => a.family === 'IPv4' && !a.internal);
  if (v4) {
    // The directed broadcast of the interface's subnet leaves through that interface.
    const ip = v4.address.split('.').map(Number);
    const mask = v4.netmask.split('.').map(Number);
    const bcast = ip.map((b, i) => (b | (~mask[i] & 0xff)) & 0xff).join('.');
    const socket = createSocket('udp4');
    return { iface, socket, address: bcast };
  }
  return { iface, socket: createSocket('udp6'), address: `ff02::1%${iface.name}` };
}

export async function smokeTest(o: { interfaces: NetInterface[]; buffer: 'auto' | BufferKind; ringSize: number; out: NodeJS.WritableStream }): Promise<number> {
  const nonce = randomBytes(16);
  const payload = Buffer.concat([Buffer.from('pano-capture smoke test '), nonce]);
  const seen = new Set<string>();
  const targets = o.interfaces.map(targetFor);
  const capture = new Capture({
    interfaces: o.interfaces,
    filters: NO_FILTERS,
    snaplen: 512,
    buffer: o.buffer,
    ringSize: o.ringSize,
    statsIntervalMs: 0,
    onPacket: (iface, data) => {
      if (data.includes(nonce)) seen.add(iface.name);
    },
  });
  try {
    for (const t of targets) {
      await new Promise<void>((resolve) => t.socket.bind(0, () => resolve()));
      if (t.address.includes('.') && !t.iface.loopback) t.socket.setBroadcast(true);
    }
    for (let i = 0; i < TRIES && seen.size < targets.length; i++) {
      for (const t of targets) {
        if (seen.has(t.iface.name)) continue;
        t.socket.send(payload, PORT, t.address, () => undefined);
      }
      await new Promise((r) => setTimeout(r, INTERVAL_MS));
    }
  } finally {
    for (const t of targets) t.socket.close();
  }
  const summary = capture.stop();
  for (const p of summary.problems) o.out.write(`pano-capture: ${p}\n`);
  let ok = summary.problems.length === 0;
  for (const t of targets) {
    if (seen.has(t.iface.name)) o.out.write(`pano-capture: smoke test ok on ${t.iface.name} (${summary.buffer}): a datagram to ${t.address} came back through the kernel buffer\n`);
    else {
      ok = false;
      o.out.write(`pano-capture: smoke test FAILED on ${t.iface.name} (${summary.buffer}): a datagram to ${t.address} was not captured within ${(TRIES * INTERVAL_MS) / 1000}s\n`);
    }
  }
  return ok ? 0 : 1;
}
