// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * pano-capture --tls: OpenSSL and GnuTLS plaintext through uprobes (and Go
 * crypto/tls with --tls-go: at the end of this file, ADR 0305).
 *
 * SSL_write/SSL_read/SSL_write_ex/SSL_read_ex: the entry probe stashes the
 * SSL *, the buffer (and the _ex length pointer) per thread; the return probe
 * copies min(bytes moved, TLS_MAX_DATA) plaintext into the ring buffer with
 * pid, tid, comm, time, direction and the connection's tuple.
 *
 * The tuple (no kprobes on this kernel, and fentry programs are refused:
 * ADR 0304): the raw tracepoints sock_send_length and sock_recv_length give
 * each sendmsg/recvmsg's struct sock, whose addresses and ports are read
 * with CO-RE (IPv4 and IPv6 sockets only). Seen while
 * the thread is inside an SSL call (a socket BIO: nginx, curl, openssl
 * s_client/s_server), the socket is that SSL's, remembered per (tgid, SSL *)
 * for later calls that touch no socket. A library that does its socket I/O
 * outside the SSL call (Node.js: memory BIOs, libuv writes after SSL_write
 * returns and reads before SSL_read) is tied by the thread's order: the
 * thread's last socket read before an SSL_read, and its first socket write
 * after an SSL_write. SSL_free forgets the SSL *.
 *
 * The role of the process's end comes from the library too: SSL_connect and
 * SSL_set_connect_state make an SSL * a client, SSL_accept and
 * SSL_set_accept_state a server. Ports cannot say it (a server on a port
 * above its client's), nor content when the server speaks first.
 */
#include <linux/bpf.h>
#include <linux/in6.h>
#include <linux/ptrace.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>
#include "tls.h"

#define AF_INET 2
#define AF_INET6 10
#define MAX_THREADS 16384
#define MAX_SSL 65536

/* The few kernel fields read, relocated by libbpf against the running kernel's BTF. */
struct sock_common {
	__be32 skc_daddr;
	__be32 skc_rcv_saddr;
	__be16 skc_dport;
	__u16 skc_num;
	unsigned short skc_family;
	struct in6_addr skc_v6_daddr;
	struct in6_addr skc_v6_rcv_saddr;
} __attribute__((preserve_access_index));

struct sock {
	struct sock_common __sk_common;
} __attribute__((preserve_access_index));

/* signal->live: threads of the group not yet exiting (do_exit counts it down before sched_process_exit). */
struct pano_atomic {
	int counter;
};

struct signal_struct {
	struct pano_atomic live;
} __attribute__((preserve_access_index));

/* Go: a connection's fd to its socket, through the calling task's file table. */
struct fdtable {
	unsigned int max_fds;
	struct file **fd;
} __attribute__((preserve_access_index));

struct files_struct {
	struct fdtable *fdt;
} __attribute__((preserve_access_index));

struct inode {
	unsigned short i_mode;
} __attribute__((preserve_access_index));

struct file {
	struct inode *f_inode;
	void *private_data;
} __attribute__((preserve_access_index));

struct socket {
	struct sock *sk;
} __attribute__((preserve_access_index));

struct task_struct {
	struct signal_struct *signal;
	struct files_struct *files;
} __attribute__((preserve_access_index));

struct active {
	__u64 ssl;
	__u64 buf;
	__u64 exlen;     /* size_t * of the _ex calls, 0 for SSL_read/SSL_write */
	__u8 direction;
	__u8 tied;       /* t was read during this call */
	__u8 library;    /* TLS_LIB_* */
	__u8 pad[5];
	struct tls_tuple t;
};

struct ssl_key {
	__u32 tgid;
	__u32 pad;
	__u64 ssl;
};

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 8 << 20);
} tls_ring SEC(".maps");

/* Threads inside an SSL call. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, MAX_THREADS);
	__type(key, __u64);
	__type(value, struct active);
} active SEC(".maps");

/* The connection of each SSL * (per process). */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, MAX_SSL);
	__type(key, struct ssl_key);
	__type(value, struct tls_tuple);
} ssl_tuple SEC(".maps");

/* The role of each SSL * (per process): 1 client, 2 server. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, MAX_SSL);
	__type(key, struct ssl_key);
	__type(value, __u8);
} ssl_role SEC(".maps");

/* Processes that made SSL calls: only their socket calls are looked at outside one. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, MAX_THREADS);
	__type(key, __u32);
	__type(value, __u8);
} tls_pids SEC(".maps");

/* Per thread of such a process: the socket it last read from. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, MAX_THREADS);
	__type(key, __u64);
	__type(value, struct tls_tuple);
} last_recv SEC(".maps");

/* Per thread: an SSL * whose SSL_write touched no socket, waiting for the thread's next socket write. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, MAX_THREADS);
	__type(key, __u64);
	__type(value, __u64);
} pending_send SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, TLS_NSTATS);
	__type(key, __u32);
	__type(value, __u64);
} tls_stats SEC(".maps");

static __always_inline void count(__u32 stat)
{
	__u64 *v = bpf_map_lookup_elem(&tls_stats, &stat);

	if (v)
		*v += 1;
}

/*
 * A record without data saying a library connection (SSL_free) or all of a
 * process's (its exit) ended: user space closes their streams then, rather
 * than when they go idle.
 */
static __always_inline void emit_end(__u64 ssl, __u8 kind, __u8 library)
{
	__u64 id = bpf_get_current_pid_tgid();
	struct tls_record *e = bpf_ringbuf_reserve(&tls_ring, sizeof(*e), 0);

	if (!e) {
		count(TLS_STAT_DROP_BUFFER);
		return;
	}
	__builtin_memset(e, 0, sizeof(*e));
	e->ts_ns = bpf_ktime_get_ns();
	e->ssl = ssl;
	e->pid = id >> 32;
	e->tid = (__u32)id;
	e->library = library;
	e->kind = kind;
	bpf_get_current_comm(e->comm, sizeof(e->comm));
	bpf_ringbuf_submit(e, BPF_RB_NO_WAKEUP);
}

static __always_inline int read_tuple(struct sock *sk, struct tls_tuple *t)
{
	unsigned short family = BPF_CORE_READ(sk, __sk_common.skc_family);
	__be16 dport = BPF_CORE_READ(sk, __sk_common.skc_dport);

	__builtin_memset(t, 0, sizeof(*t));
	if (family == AF_INET) {
		__be32 a = BPF_CORE_READ(sk, __sk_common.skc_rcv_saddr);
		__be32 b = BPF_CORE_READ(sk, __sk_common.skc_daddr);

		__builtin_memcpy(t->laddr, &a, 4);
		__builtin_memcpy(t->raddr, &b, 4);
	} else if (family == AF_INET6) {
		BPF_CORE_READ_INTO(&t->laddr, sk, __sk_common.skc_v6_rcv_saddr);
		BPF_CORE_READ_INTO(&t->raddr, sk, __sk_common.skc_v6_daddr);
	} else {
		return 0;
	}
	t->family = family;
	t->lport = BPF_CORE_READ(sk, __sk_common.skc_num);
	t->rport = bpf_ntohs(dport);
	return 1;
}

static __always_inline void on_socket(struct sock *sk, int send)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u32 tgid = id >> 32;
	struct active *a = bpf_map_lookup_elem(&active, &id);
	struct tls_tuple t;

	if (a) {
		if (read_tuple(sk, &t)) {
			a->t = t;
			a->tied = 1;
		}
		return;
	}
	if (!bpf_map_lookup_elem(&tls_pids, &tgid))
		return;
	if (!read_tuple(sk, &t))
		return;
	if (send) {
		__u64 *ssl = bpf_map_lookup_elem(&pending_send, &id);

		if (ssl) {
			struct ssl_key k = { .tgid = tgid, .ssl = *ssl };

			bpf_map_update_elem(&ssl_tuple, &k, &t, BPF_ANY);
			bpf_map_delete_elem(&pending_send, &id);
		}
	} else {
		bpf_map_update_elem(&last_recv, &id, &t, BPF_ANY);
	}
}

/*
 * sock_send_length / sock_recv_length (Linux 6.3+): after every sendmsg and
 * recvmsg on a socket, with its struct sock. Raw tracepoints: attached by
 * name, without tracefs.
 */
SEC("raw_tp/sock_send_length")
int pano_tls_sock_send(struct bpf_raw_tracepoint_args *ctx)
{
	on_socket((struct sock *)ctx->args[0], 1);
	return 0;
}

SEC("raw_tp/sock_recv_length")
int pano_tls_sock_recv(struct bpf_raw_tracepoint_args *ctx)
{
	on_socket((struct sock *)ctx->args[0], 0);
	return 0;
}

/*
 * A thread's end releases what is kept per thread (a thread killed inside an
 * SSL call would otherwise hold its slot in `active` for good), and the
 * process's end its mark in tls_pids. The process ends with its last thread,
 * not with its first (the group leader can leave by pthread_exit while other
 * threads go on with their connections): the thread that counted the group's
 * `live` down to 0 writes the record. What is kept per SSL * goes with
 * SSL_free, or leaves the LRU map when it is needed for others.
 */
SEC("raw_tp/sched_process_exit")
int pano_tls_exit(struct bpf_raw_tracepoint_args *ctx)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u32 tgid = id >> 32;
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();

	bpf_map_delete_elem(&active, &id);
	bpf_map_delete_elem(&last_recv, &id);
	bpf_map_delete_elem(&pending_send, &id);
	if (BPF_CORE_READ(task, signal, live.counter) == 0 && bpf_map_lookup_elem(&tls_pids, &tgid)) {
		bpf_map_delete_elem(&tls_pids, &tgid);
		emit_end(0, TLS_END_EXIT, 0);
	}
	return 0;
}

static __always_inline int enter(__u64 ssl, __u64 buf, __u64 exlen, __u8 direction, __u8 library)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u32 tgid = id >> 32;
	__u8 one = 1;
	struct active a = {};

	a.ssl = ssl;
	a.buf = buf;
	a.exlen = exlen;
	a.direction = direction;
	a.library = library;
	if (bpf_map_update_elem(&active, &id, &a, BPF_ANY))
		count(TLS_STAT_ACTIVE_FULL);
	bpf_map_update_elem(&tls_pids, &tgid, &one, BPF_ANY);
	return 0;
}

/*
 * Reserves a record of SIZE data bytes in the ring and copies the plaintext
 * straight into it. Uprobe programs can be preempted, so no per-CPU staging
 * area: a reservation belongs to this program alone. The size of a
 * reservation must be a constant, hence a few classes: a small chunk does
 * not take 32 KiB of the ring.
 */
#define EMIT(SIZE, BUF)							\
	do {									\
		struct {							\
			struct tls_record rec;					\
			__u8 data[SIZE];					\
		} *e = bpf_ringbuf_reserve(&tls_ring, sizeof(*e), 0);		\
		if (!e) {							\
			count(TLS_STAT_DROP_BUFFER);				\
			goto out;						\
		}								\
		e->rec = rec;							\
		if (bpf_probe_read_user(e->data, n, (void *)(BUF))) {		\
			bpf_ringbuf_discard(e, BPF_RB_NO_WAKEUP);		\
			count(TLS_STAT_DROP_COPY);				\
			goto out;						\
		}								\
		bpf_ringbuf_submit(e, BPF_RB_NO_WAKEUP);			\
		count(TLS_STAT_CHUNKS);						\
	} while (0)

static __always_inline int leave(struct pt_regs *ctx)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u32 tgid = id >> 32;
	struct active *a = bpf_map_lookup_elem(&active, &id);
	long ret = PT_REGS_RC(ctx);
	struct tls_record rec = {};
	struct ssl_key k = {};
	struct tls_tuple *known;
	__u8 *role;
	__u64 len, n;

	/* a handshake's entry is its own return's (a handshake inside this call never made one) */
	if (!a || a->direction == 0)
		return 0;
	if (a->exlen) {
		__u64 moved = 0;

		if ((int)ret != 1 || bpf_probe_read_user(&moved, sizeof(moved), (void *)a->exlen))
			goto out;
		len = moved;
	} else {
		if ((int)ret <= 0)
			goto out;
		len = (__u32)(int)ret;
	}
	if (len == 0)
		goto out;

	k.tgid = tgid;
	k.ssl = a->ssl;
	if (a->tied) {
		bpf_map_update_elem(&ssl_tuple, &k, &a->t, BPF_ANY);
		rec.t = a->t;
	} else if ((known = bpf_map_lookup_elem(&ssl_tuple, &k))) {
		rec.t = *known;
	} else if (a->direction == 1 && (known = bpf_map_lookup_elem(&last_recv, &id))) {
		/* no socket in the call: the socket this thread read last (Node.js) */
		rec.t = *known;
		bpf_map_update_elem(&ssl_tuple, &k, known, BPF_ANY);
	} else {
		if (a->direction == 2)
			bpf_map_update_elem(&pending_send, &id, &a->ssl, BPF_ANY);
		count(TLS_STAT_UNTIED);
	}

	if (len > TLS_MAX_DATA)
		count(TLS_STAT_TRUNCATED);
	n = len < TLS_MAX_DATA ? len : TLS_MAX_DATA;
	rec.ts_ns = bpf_ktime_get_ns();
	rec.ssl = a->ssl;
	rec.pid = tgid;
	rec.tid = (__u32)id;
	rec.len = len > 0xffffffffULL ? 0xffffffff : (__u32)len;
	rec.cap_len = n;
	bpf_get_current_comm(rec.comm, sizeof(rec.comm));
	rec.direction = a->direction;
	rec.library = a->library;
	role = bpf_map_lookup_elem(&ssl_role, &k);
	if (role)
		rec.role = *role;
	/* keep n in a register the verifier follows into the helper */
	asm volatile("" : "+r"(n));
	if (n < 1)
		goto out;
	if (n <= 1024)
		EMIT(1024, a->buf);
	else if (n <= 4096)
		EMIT(4096, a->buf);
	else if (n <= TLS_MAX_DATA)
		EMIT(TLS_MAX_DATA, a->buf);
out:
	bpf_map_delete_elem(&active, &id);
	return 0;
}

/* int SSL_write(SSL *s, const void *buf, int num) */
SEC("uprobe")
int BPF_KPROBE(pano_tls_write, void *ssl, const void *buf)
{
	return enter((__u64)ssl, (__u64)buf, 0, 2, TLS_LIB_OPENSSL);
}

/* int SSL_read(SSL *s, void *buf, int num) */
SEC("uprobe")
int BPF_KPROBE(pano_tls_read, void *ssl, void *buf)
{
	return enter((__u64)ssl, (__u64)buf, 0, 1, TLS_LIB_OPENSSL);
}

/* int SSL_write_ex(SSL *s, const void *buf, size_t num, size_t *written) */
SEC("uprobe")
int BPF_KPROBE(pano_tls_write_ex, void *ssl, const void *buf, __u64 num, void *written)
{
	return enter((__u64)ssl, (__u64)buf, (__u64)written, 2, TLS_LIB_OPENSSL);
}

/* int SSL_read_ex(SSL *s, void *buf, size_t num, size_t *readbytes) */
SEC("uprobe")
int BPF_KPROBE(pano_tls_read_ex, void *ssl, void *buf, __u64 num, void *readbytes)
{
	return enter((__u64)ssl, (__u64)buf, (__u64)readbytes, 1, TLS_LIB_OPENSSL);
}

/*
 * int SSL_do_handshake(SSL *s) (SSL_connect and SSL_accept call it): the
 * socket I/O of the handshake ties the SSL * to its connection before any
 * plaintext moves. Needed where the first plaintext needs no socket call of
 * its own: with TLS 1.3 the client's first data can come in the flight that
 * ends the handshake, so the server's first SSL_read returns it from
 * OpenSSL's buffer; and an SSL * at the address of a freed one (nginx reuses
 * them) would otherwise be read as that old connection's. A handshake inside
 * another probed call leaves that call's entry alone (BPF_NOEXIST).
 */
SEC("uprobe")
int BPF_KPROBE(pano_tls_handshake, void *ssl)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u32 tgid = id >> 32;
	__u8 one = 1;
	struct active a = {};

	a.ssl = (__u64)ssl;
	a.direction = 0;
	bpf_map_update_elem(&active, &id, &a, BPF_NOEXIST);
	bpf_map_update_elem(&tls_pids, &tgid, &one, BPF_ANY);
	return 0;
}

/* The return of SSL_do_handshake: the socket it used, if any, is the SSL *'s connection. */
SEC("uretprobe")
int BPF_KRETPROBE(pano_tls_handshake_ret)
{
	__u64 id = bpf_get_current_pid_tgid();
	struct active *a = bpf_map_lookup_elem(&active, &id);
	struct ssl_key k = {};

	/* a handshake inside a probed data call (not OpenSSL 3's way) leaves that call's entry alone */
	if (!a || a->direction != 0)
		return 0;
	k.tgid = id >> 32;
	k.ssl = a->ssl;
	if (a->tied)
		bpf_map_update_elem(&ssl_tuple, &k, &a->t, BPF_ANY);
	bpf_map_delete_elem(&active, &id);
	return 0;
}

/* The return of all four. */
SEC("uretprobe")
int BPF_KRETPROBE(pano_tls_ret)
{
	return leave(ctx);
}

static __always_inline int set_role(void *ssl, __u8 role)
{
	struct ssl_key k = { .tgid = bpf_get_current_pid_tgid() >> 32, .ssl = (__u64)ssl };

	bpf_map_update_elem(&ssl_role, &k, &role, BPF_ANY);
	return 0;
}

/* int SSL_connect(SSL *s), void SSL_set_connect_state(SSL *s): this end is the client. */
SEC("uprobe")
int BPF_KPROBE(pano_tls_connect, void *ssl)
{
	return set_role(ssl, 1);
}

/* int SSL_accept(SSL *s), void SSL_set_accept_state(SSL *s): this end is the server. */
SEC("uprobe")
int BPF_KPROBE(pano_tls_accept, void *ssl)
{
	return set_role(ssl, 2);
}

static __always_inline int forget(void *ssl, __u8 library)
{
	struct ssl_key k = { .tgid = bpf_get_current_pid_tgid() >> 32, .ssl = (__u64)ssl };

	/* only an SSL * the capture saw in use: a process's others (failed handshakes) are nobody's stream */
	if (bpf_map_lookup_elem(&ssl_tuple, &k) || bpf_map_lookup_elem(&ssl_role, &k))
		emit_end((__u64)ssl, TLS_END_FREE, library);
	bpf_map_delete_elem(&ssl_tuple, &k);
	bpf_map_delete_elem(&ssl_role, &k);
	return 0;
}

/* void SSL_free(SSL *s): its connection is over (said to user space); the address may be reused. */
SEC("uprobe")
int BPF_KPROBE(pano_tls_free, void *ssl)
{
	return forget(ssl, TLS_LIB_OPENSSL);
}

/*
 * GnuTLS (wget, libcurl3-gnutls and so git, apt): the same shapes.
 * ssize_t gnutls_record_send(gnutls_session_t s, const void *data, size_t n)
 * and gnutls_record_recv(s, void *data, size_t n) return what they moved,
 * as SSL_write/SSL_read do (pano_tls_ret); gnutls_handshake(s) is probed as
 * SSL_do_handshake; gnutls_deinit(s) as SSL_free.
 */
SEC("uprobe")
int BPF_KPROBE(pano_gnutls_send, void *session, const void *buf)
{
	return enter((__u64)session, (__u64)buf, 0, 2, TLS_LIB_GNUTLS);
}

SEC("uprobe")
int BPF_KPROBE(pano_gnutls_recv, void *session, void *buf)
{
	return enter((__u64)session, (__u64)buf, 0, 1, TLS_LIB_GNUTLS);
}

SEC("uprobe")
int BPF_KPROBE(pano_gnutls_deinit, void *session)
{
	return forget(session, TLS_LIB_GNUTLS);
}

/* Per thread: a gnutls_init call's session pointer-to-pointer and the role its flags give. */
struct gnutls_init_call {
	__u64 session_pp;
	__u8 role;
	__u8 pad[7];
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, MAX_THREADS);
	__type(key, __u64);
	__type(value, struct gnutls_init_call);
} gnutls_init_calls SEC(".maps");

#define GNUTLS_SERVER 1

/* int gnutls_init(gnutls_session_t *session, unsigned int flags): the role is in the flags, the session is known on return. */
SEC("uprobe")
int BPF_KPROBE(pano_gnutls_init, void *session_pp, unsigned int flags)
{
	__u64 id = bpf_get_current_pid_tgid();
	struct gnutls_init_call c = { .session_pp = (__u64)session_pp, .role = (flags & GNUTLS_SERVER) ? 2 : 1 };

	bpf_map_update_elem(&gnutls_init_calls, &id, &c, BPF_ANY);
	return 0;
}

SEC("uretprobe")
int BPF_KRETPROBE(pano_gnutls_init_ret)
{
	__u64 id = bpf_get_current_pid_tgid();
	struct gnutls_init_call *c = bpf_map_lookup_elem(&gnutls_init_calls, &id);
	__u64 session = 0;

	if (!c)
		return 0;
	if ((int)PT_REGS_RC(ctx) == 0 && !bpf_probe_read_user(&session, sizeof(session), (void *)c->session_pp) && session)
		set_role((void *)session, c->role);
	bpf_map_delete_elem(&gnutls_init_calls, &id);
	return 0;
}

/*
 * Go crypto/tls (ADR 0305). Go 1.17+ passes arguments and results in
 * registers (ABIInternal on x86-64: RAX, RBX, RCX, ...) and keeps the running
 * goroutine's g in R14. A goroutine blocked in Read may resume on another
 * thread, so a call is keyed by (tgid, g), not by thread. Returns are probed
 * at each RET instruction (uretprobes break Go stacks); user space finds
 * them in the binary's pclntab. A Read is emitted at its RETs with the count
 * it returned, a Write at its entry (go_enter says why).
 */
struct go_key {
	__u32 tgid;
	__u32 pad;
	__u64 g;
};

struct go_call {
	__u64 conn;      /* the *tls.Conn */
	__u64 buf;       /* b's data pointer */
	__u64 len;       /* b's length */
	__u8 direction;
	__u8 pad[7];
};

/*
 * Goroutines inside Read or Write. LRU: a goroutine that never returns (its
 * process killed) gives way, since nothing per goroutine can be released at
 * exit. Sized for idle connections: a Go HTTP server keeps a goroutine
 * blocked in Read on every keep-alive connection, and the oldest calls beyond
 * this many are forgotten without a count (ADR 0305).
 */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, MAX_SSL);
	__type(key, struct go_key);
	__type(value, struct go_call);
} go_calls SEC(".maps");

#define S_IFMT 00170000
#define S_IFSOCK 0140000
/* A Go fd above this is not believed (bounds the table index; the kernel's own limit is checked too). */
#define GO_MAX_FD (1 << 20)

/*
 * The connection of a *tls.Conn: its first field is `conn net.Conn`, an
 * interface {itab, data}. When the itab is *net.TCPConn's (its address, per
 * binary, is the probe's cookie), data points to a net.TCPConn, whose first
 * word is its *netFD; a netFD starts with a poll.FD, whose Sysfd follows the
 * 16-byte fdMutex. The fd is looked up in the calling task's file table and
 * must be a socket.
 */
static __always_inline int go_tuple(__u64 conn, __u64 itab, struct tls_tuple *t)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	struct fdtable *fdt;
	struct file **fds;
	struct file *f = 0;
	struct socket *sock;
	__u64 iface[2] = {};
	__u64 netfd = 0;
	__s64 sysfd = -1;

	if (!itab || bpf_probe_read_user(iface, sizeof(iface), (void *)conn) || iface[0] != itab)
		return 0;
	if (bpf_probe_read_user(&netfd, sizeof(netfd), (void *)iface[1]) ||
	    bpf_probe_read_user(&sysfd, sizeof(sysfd), (void *)(netfd + 16)))
		return 0;
	if (sysfd < 0 || sysfd >= GO_MAX_FD)
		return 0;
	fdt = BPF_CORE_READ(task, files, fdt);
	if (!fdt || sysfd >= BPF_CORE_READ(fdt, max_fds))
		return 0;
	fds = BPF_CORE_READ(fdt, fd);
	if (bpf_probe_read_kernel(&f, sizeof(f), &fds[sysfd]) || !f)
		return 0;
	if ((BPF_CORE_READ(f, f_inode, i_mode) & S_IFMT) != S_IFSOCK)
		return 0;
	sock = BPF_CORE_READ(f, private_data);
	if (!sock)
		return 0;
	return read_tuple(BPF_CORE_READ(sock, sk), t);
}

/* A record of min(len, TLS_MAX_DATA) bytes of buf, moved by conn's Read or Write. */
static __always_inline void go_emit(struct pt_regs *ctx, __u64 conn, __u64 buf, __u64 len, __u8 direction)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u32 tgid = id >> 32;
	struct tls_record rec = {};
	struct ssl_key k = { .tgid = tgid, .ssl = conn };
	__u64 n;

	if (go_tuple(conn, bpf_get_attach_cookie(ctx), &rec.t))
		bpf_map_update_elem(&ssl_tuple, &k, &rec.t, BPF_ANY);
	else
		count(TLS_STAT_UNTIED);
	if (len > TLS_MAX_DATA)
		count(TLS_STAT_TRUNCATED);
	n = len < TLS_MAX_DATA ? len : TLS_MAX_DATA;
	rec.ts_ns = bpf_ktime_get_ns();
	rec.ssl = conn;
	rec.pid = tgid;
	rec.tid = (__u32)id;
	rec.len = len > 0xffffffffULL ? 0xffffffff : (__u32)len;
	rec.cap_len = n;
	bpf_get_current_comm(rec.comm, sizeof(rec.comm));
	rec.direction = direction;
	rec.library = TLS_LIB_GO;
	asm volatile("" : "+r"(n));
	if (n < 1)
		goto out;
	if (n <= 1024)
		EMIT(1024, buf);
	else if (n <= 4096)
		EMIT(4096, buf);
	else if (n <= TLS_MAX_DATA)
		EMIT(TLS_MAX_DATA, buf);
out:
	return;
}

/*
 * Entry of Read or Write: the call is remembered for its RETs. A Write is
 * emitted here, before its bytes reach the socket: emitted at its return it
 * could come after the peer's answer to it (Go's HTTP client writes and
 * reads on two goroutines, and the writer can be descheduled between its
 * socket write and its RET), and the request would follow its response in
 * the process's stream. The entry probe fires again when a stack growth
 * restarts the function from its entry; that second entry finds the same
 * call (same goroutine, *Conn, buffer and length) still open and emits
 * nothing. Go's Write writes all of b or fails (and the connection is then
 * unusable), so b's length is what it moved.
 */
static __always_inline int go_enter(struct pt_regs *ctx, __u8 direction)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	struct go_key k = { .tgid = tgid, .g = ctx->r14 };
	struct go_call c = { .conn = ctx->rax, .buf = ctx->rbx, .len = ctx->rcx, .direction = direction };
	struct go_call *open = bpf_map_lookup_elem(&go_calls, &k);
	__u8 one = 1;

	if (open && open->conn == c.conn && open->buf == c.buf && open->len == c.len && open->direction == direction)
		return 0;
	if (bpf_map_update_elem(&go_calls, &k, &c, BPF_ANY))
		count(TLS_STAT_ACTIVE_FULL);
	bpf_map_update_elem(&tls_pids, &tgid, &one, BPF_ANY);
	if (direction == 2 && c.len > 0)
		go_emit(ctx, c.conn, c.buf, c.len, direction);
	return 0;
}

/* At a RET of Read or Write: a Read emits what it returned (n, in RAX); the call is over. */
static __always_inline int go_leave(struct pt_regs *ctx, __u8 direction)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	struct go_key k = { .tgid = tgid, .g = ctx->r14 };
	struct go_call *a = bpf_map_lookup_elem(&go_calls, &k);
	long ret = (long)ctx->rax;

	if (!a || a->direction != direction)
		return 0;
	if (direction == 1 && ret > 0)
		go_emit(ctx, a->conn, a->buf, ret, direction);
	bpf_map_delete_elem(&go_calls, &k);
	return 0;
}

/* func (c *Conn) Read(b []byte) (int, error): RAX c, RBX b's data, RCX b's length */
SEC("uprobe")
int pano_go_read(struct pt_regs *ctx)
{
	return go_enter(ctx, 1);
}

/* func (c *Conn) Write(b []byte) (int, error) */
SEC("uprobe")
int pano_go_write(struct pt_regs *ctx)
{
	return go_enter(ctx, 2);
}

/* At each RET of Read and of Write. Every Go probe's cookie is the binary's *net.TCPConn itab address. */
SEC("uprobe")
int pano_go_read_ret(struct pt_regs *ctx)
{
	return go_leave(ctx, 1);
}

SEC("uprobe")
int pano_go_write_ret(struct pt_regs *ctx)
{
	return go_leave(ctx, 2);
}

/* func (c *Conn) Close() error: the connection is over (the *Conn may be reused once collected). */
SEC("uprobe")
int pano_go_close(struct pt_regs *ctx)
{
	return forget((void *)ctx->rax, TLS_LIB_GO);
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
