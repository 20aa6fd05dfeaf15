/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The record tls.bpf.c hands to user space, one per SSL_read/SSL_write call
 * (or gnutls_record_recv/send, Go's (*tls.Conn).Read/Write) that moved bytes. Mirrored in ONE place: TLS_RECORD in
 * packages/capture/src/layout.ts; test/capture/tls.test.ts decodes real
 * records with it (pid, ports, thread names, data). Host byte order.
 */
#ifndef PANO_TLS_H
#define PANO_TLS_H

/*
 * Plaintext bytes copied per call at most; the record still says how many the
 * call moved. A record takes 1 KiB, 4 KiB or 32 KiB of the ring (and its
 * header), the smallest that holds its data; cap_len says how much is data.
 */
#define TLS_MAX_DATA 32768

/* The connection as seen from the process: local and remote end. */
struct tls_tuple {
	__u8 laddr[16];  /* IPv4 in the first 4 bytes, network order */
	__u8 raddr[16];
	__u16 lport;     /* host order */
	__u16 rport;     /* host order */
	__u8 family;     /* 0 unknown, 2 AF_INET, 10 AF_INET6 */
	__u8 pad[3];
};                       /* 40 bytes */

struct tls_record {
	__u64 ts_ns;     /* bpf_ktime_get_ns(): CLOCK_MONOTONIC */
	__u64 ssl;       /* the SSL * the call was made with */
	__u32 pid;       /* tgid */
	__u32 tid;
	__u32 len;       /* bytes the call moved */
	__u32 cap_len;   /* bytes that follow: min(len, TLS_MAX_DATA) */
	struct tls_tuple t;
	char comm[16];   /* the calling thread's name */
	__u8 direction;  /* 1 read (the process received), 2 write (it sent) */
	__u8 library;    /* TLS_LIB_*; 0 in a process's exit record (every library) */
	__u8 role;       /* the process's end: 0 unknown, 1 client, 2 server */
	__u8 kind;       /* TLS_DATA, or an end without data: TLS_END_FREE, TLS_END_EXIT */
	__u8 pad[4];
};                       /* 96 bytes, data follows (kind TLS_DATA only) */

enum tls_lib {
	TLS_LIB_OPENSSL = 1,
	TLS_LIB_GNUTLS = 2,
	TLS_LIB_GO = 3,    /* Go crypto/tls; ssl is the *tls.Conn */
};

enum tls_kind {
	TLS_DATA = 0,      /* plaintext moved by a call */
	TLS_END_FREE = 1,  /* SSL_free: the library connection is over (ssl says which) */
	TLS_END_EXIT = 2,  /* the process that made SSL calls exited (ssl is 0) */
};

enum tls_stat {
	TLS_STAT_CHUNKS = 0,      /* records handed to the ring buffer */
	TLS_STAT_DROP_BUFFER = 1, /* ring buffer full: lost */
	TLS_STAT_DROP_COPY = 2,   /* plaintext unreadable: lost */
	TLS_STAT_TRUNCATED = 3,   /* calls that moved more than TLS_MAX_DATA */
	TLS_STAT_UNTIED = 4,      /* records sent without a connection tuple */
	TLS_STAT_ACTIVE_FULL = 5, /* a call not followed: per-thread table full */
	TLS_NSTATS = 6,
};

#endif
