/**
 * BPF_PROG_TEST_RUN for the classifier: runs one packet (starting with its
 * Ethernet header) through a loaded program without attaching it anywhere.
 */
import koffi from 'koffi';
import { TEST_RUN_OPTS_SIZE, type Libbpf } from './libbpf.js';
import { errnoText, CaptureError } from './program.js';

/** __sk_buff is 192 bytes in linux/bpf.h; ifindex is at offset 40. */
const SKB_CTX_SIZE = 192;
const SKB_IFINDEX = 40;

/** Runs `packet` through the program once and returns the program's return code. */
export function testRun(lib: Libbpf, progFd: number, packet: Buffer, ifindex = 1): number {
  const ctx = Buffer.alloc(SKB_CTX_SIZE);
  ctx.writeUInt32LE(ifindex, SKB_IFINDEX);
  const opts = Buffer.alloc(TEST_RUN_OPTS_SIZE);
  opts.writeBigUInt64LE(BigInt(TEST_RUN_OPTS_SIZE), 0);
  // The Buffers stay referenced until the call returns, so their addresses stay valid.
  opts.writeBigUInt64LE(koffi.address(packet), 8);
  opts.writeUInt32LE(packet.length, 24);
  opts.writeBigUInt64LE(koffi.address(ctx), 32);
  opts.writeUInt32LE(ctx.length, 48);
  opts.writeInt32LE(1, 60); // repeat
  const err = lib.progTestRun(progFd, opts);
  if (err < 0) throw new CaptureError(`BPF_PROG_TEST_RUN failed: ${errnoText(-err)}`);
  return opts.readUInt32LE(56);
}
