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

/**
 * struct tls_record (bpf/tls.h), 96 bytes, then cap_len plaintext bytes:
 * u64 ts_ns, u64 ssl, u32 pid, u32 tid, u32 len (moved by the call), u32 cap_len,
 * struct tls_tuple { u8 laddr[16], u8 raddr[16], u16 lport, u16 rport, u8 family, u8 pad[3] },
 * char comm[16], u8 direction (1 read, 2 write), u8 library (1 OpenSSL, 2 GnuTLS, 3 Go crypto/tls; 0 in an exit record),
 * u8 role (the process's end: 0 unknown, 1 client, 2 server), u8 kind (TlsKind), u8 pad[4].
 */
export const TLS_RECORD = {
  SIZE: 96,
  TS_NS: 0,
  SSL: 8,
  PID: 16,
  TID: 20,
  LEN: 24,
  CAP_LEN: 28,
  LADDR: 32,
  RADDR: 48,
  LPORT: 64,
  RPORT: 66,
  FAMILY: 68,
  COMM: 72,
  DIRECTION: 88,
  LIBRARY: 89,
  ROLE: 90,
  KIND: 91,
} as const;
/** enum tls_kind: a record's plaintext, or the end of a library connection (SSL_free) or of a process's (exit), without data. */
export const TlsKind = { DATA: 0, END_FREE: 1, END_EXIT: 2 } as const;
/** Plaintext bytes copied per SSL call at most (TLS_MAX_DATA). */
export const TLS_MAX_DATA = 32768;
export const TLS_LIBRARY = { 1: 'openssl', 2: 'gnutls', 3: 'go' } as Record<number, string>;
/** enum tls_stat: counters in the per-CPU `tls_stats` map. */
export const TlsStat = {
  CHUNKS: 0,
  DROP_BUFFER: 1,
  DROP_COPY: 2,
  TRUNCATED: 3,
  UNTIED: 4,
  ACTIVE_FULL: 5,
} as const;
export const TLS_NSTATS = 6;
/** Programs of bpf/tls.bpf.o. */
export const TLS_PROGRAMS = {
  write: 'pano_tls_write',
  read: 'pano_tls_read',
  writeEx: 'pano_tls_write_ex',
  readEx: 'pano_tls_read_ex',
  handshake: 'pano_tls_handshake',
  handshakeRet: 'pano_tls_handshake_ret',
  ret: 'pano_tls_ret',
  free: 'pano_tls_free',
  connect: 'pano_tls_connect',
  accept: 'pano_tls_accept',
  gnutlsSend: 'pano_gnutls_send',
  gnutlsRecv: 'pano_gnutls_recv',
  gnutlsDeinit: 'pano_gnutls_deinit',
  gnutlsInit: 'pano_gnutls_init',
  gnutlsInitRet: 'pano_gnutls_init_ret',
  goRead: 'pano_go_read',
  goWrite: 'pano_go_write',
  goReadRet: 'pano_go_read_ret',
  goWriteRet: 'pano_go_write_ret',
  goClose: 'pano_go_close',
  sockSend: 'pano_tls_sock_send',
  sockRecv: 'pano_tls_sock_recv',
  exit: 'pano_tls_exit',
} as const;
