/**
 * Layouts shared with bpf/capture.bpf.c. Keep the two in step; the
 * BPF_PROG_TEST_RUN tests decode records with these constants.
 */

/**
 * struct record: u64 ts_ns, u32 ifindex, u32 orig_len, u32 cap_len, u16 slot, u8 direction,
 * u8 vlan_present, u16 vlan_tci (host order), be16 vlan_proto (network order), u32 pad.
 * With vlan_present, the frame's outer VLAN tag is not in the bytes that follow (the kernel held
 * it beside them) and goes back in after the MAC addresses.
 */
export const RECORD = {
  SIZE: 32,
  TS_NS: 0,
  IFINDEX: 8,
  ORIG_LEN: 12,
  CAP_LEN: 16,
  SLOT: 20,
  DIRECTION: 22,
  VLAN_PRESENT: 23,
  VLAN_TCI: 24,
  VLAN_PROTO: 26,
} as const;

/** Where a VLAN tag goes in an Ethernet frame (after the two MAC addresses), and its size. */
export const VLAN_OFFSET = 12;
export const VLAN_TAG_LEN = 4;

/** Values of record.direction; equal to pcapng epb_flags direction bits. */
export const DIRECTION_INGRESS = 1;
export const DIRECTION_EGRESS = 2;

/** Per-interface counters in the per-CPU `stats` map, at slot * NSTATS + stat. */
export const Stat = {
  SEEN: 0,
  MATCHED: 1,
  CAPTURED: 2,
  DROP_BUFFER: 3,
  DROP_COPY: 4,
  TRUNCATED: 5,
} as const;
export const NSTATS = 6;
export const MAX_IFACES = 256;

/** struct config in .rodata: u32 snaplen, u32 filter_flags. */
export const CONFIG_SIZE = 8;
export const FilterFlag = {
  PORTS: 1 << 0,
  HOSTS: 1 << 1,
  PROTO: 1 << 2,
  TCP: 1 << 3,
  UDP: 1 << 4,
} as const;

/** Largest snap length the program copies (ring path). */
export const MAX_SNAPLEN = 262144;
/** Largest the perf path can carry: a perf record's size is 16 bits. */
export const PERF_MAX_SNAPLEN = 65472;

/** Program names (all start with OWNED_PREFIX, which is how stale filters are recognised). */
export const OWNED_PREFIX = 'pano_cap';
export const PROGRAMS = {
  ringbuf: { ingress: 'pano_cap_in_rb', egress: 'pano_cap_eg_rb' },
  perf: { ingress: 'pano_cap_in_pf', egress: 'pano_cap_eg_pf' },
} as const;
