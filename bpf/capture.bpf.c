// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * pano-capture's TC classifier: copies each packet (up to the snap length)
 * with a small metadata header to user space, through a BPF ring buffer or,
 * on kernels before 5.8, a perf event array.
 *
 * It only reads the packet and always returns TC_ACT_UNSPEC, so the next
 * classifier (or the qdisc's default) decides the packet's fate: capture
 * never alters traffic.
 *
 * The program touches no kernel structure except the uapi __sk_buff, whose
 * field accesses the verifier rewrites for the running kernel, so the object
 * needs no BTF relocations and loads on any kernel with the helpers used.
 *
 * The layouts below are shared with packages/capture/src/layout.ts; keep the
 * two in step (a test checks the record header through BPF_PROG_TEST_RUN).
 */
#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

/* Largest copy per packet; tcpdump's maximum snap length. */
#define MAX_SNAPLEN 262144
/*
 * A perf record's size is a u16: header (8) + raw size (4) + our header (32)
 * and data, padded to 8. Leave room for all of it.
 */
#define PERF_MAX_SNAPLEN 65472
#define MAX_IFACES 256

enum stat {
	STAT_SEEN = 0,       /* packets the hook ran on */
	STAT_MATCHED = 1,    /* passed the filters */
	STAT_CAPTURED = 2,   /* handed to the ring/perf buffer */
	STAT_DROP_BUFFER = 3,/* buffer full: lost */
	STAT_DROP_COPY = 4,  /* packet bytes unreadable: lost */
	STAT_TRUNCATED = 5,  /* captured, but cut at the snap length */
	NSTATS = 6,
};

enum filter_flag {
	F_PORTS = 1 << 0,
	F_HOSTS = 1 << 1,
	F_PROTO = 1 << 2,
	F_TCP = 1 << 3,
	F_UDP = 1 << 4,
};

/* Record header, little-endian on the machines we run on (host order). */
struct record {
	__u64 ts_ns;     /* bpf_ktime_get_ns(): CLOCK_MONOTONIC */
	__u32 ifindex;
	__u32 orig_len;  /* skb->len, link-layer header included */
	__u32 cap_len;   /* bytes that follow */
	__u16 slot;      /* interface slot assigned by user space */
	__u8 direction;  /* 1 ingress, 2 egress: pcapng epb_flags bits 0-1 */
	/*
	 * 1 when the frame's outer 802.1Q/802.1ad tag is not in the bytes that
	 * follow but held by the kernel beside them (VLAN acceleration: the stack
	 * takes it out on receive before TC ingress, and a VLAN device leaves it
	 * to the driver on transmit, after TC egress). User space puts it back
	 * after the MAC addresses, as libpcap does, so the frame reads as it was
	 * on the wire. Only on Ethernet-like devices.
	 */
	__u8 vlan_present;
	__u16 vlan_tci;   /* host order */
	__be16 vlan_proto;/* network order: the tag's bytes as they go in the frame */
	__u32 pad;
};

struct config {
	__u32 snaplen;
	__u32 filter_flags;
};

/* Set by user space before load; the verifier then sees constants. */
const volatile struct config CONFIG = { .snaplen = MAX_SNAPLEN };

struct iface {
	__u32 slot;
	__u32 l3_offset; /* 14 on Ethernet-like devices, 0 on raw-IP devices */
};

struct lpm4 {
	__u32 prefixlen;
	__u8 addr[4];
};

struct lpm6 {
	__u32 prefixlen;
	__u8 addr[16];
};

struct scratch {
	struct record rec;
	__u8 data[MAX_SNAPLEN];
};

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 8 << 20);
} ring SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERF_EVENT_ARRAY);
	__uint(key_size, sizeof(__u32));
	__uint(value_size, sizeof(__u32));
} perf SEC(".maps");

/*
 * One staging area per CPU for the ring path (bpf_ringbuf_output needs the
 * bytes in memory, and a per-CPU array value is limited to 32 KiB). TC
 * programs run with bottom halves disabled, so nothing else on this CPU uses
 * the slot meanwhile. max_entries is set to the CPU count by user space.
 */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct scratch);
} scratch SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, MAX_IFACES);
	__type(key, __u32);
	__type(value, struct iface);
} ifaces SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, MAX_IFACES * NSTATS);
	__type(key, __u32);
	__type(value, __u64);
} stats SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, __u16);
	__type(value, __u8);
} ports SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, 1024);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct lpm4);
	__type(value, __u8);
} hosts4 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, 1024);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct lpm6);
	__type(value, __u8);
} hosts6 SEC(".maps");

static __always_inline void count(__u32 slot, __u32 stat)
{
	__u32 key = slot * NSTATS + stat;
	__u64 *v = bpf_map_lookup_elem(&stats, &key);

	if (v)
		*v += 1;
}

static __always_inline int host4_listed(__be32 a, __be32 b)
{
	struct lpm4 k = { .prefixlen = 32 };

	__builtin_memcpy(k.addr, &a, 4);
	if (bpf_map_lookup_elem(&hosts4, &k))
		return 1;
	__builtin_memcpy(k.addr, &b, 4);
	return bpf_map_lookup_elem(&hosts4, &k) != 0;
}

static __always_inline int host6_listed(struct ipv6hdr *ip6)
{
	struct lpm6 k = { .prefixlen = 128 };

	__builtin_memcpy(k.addr, &ip6->saddr, 16);
	if (bpf_map_lookup_elem(&hosts6, &k))
		return 1;
	__builtin_memcpy(k.addr, &ip6->daddr, 16);
	return bpf_map_lookup_elem(&hosts6, &k) != 0;
}

static __always_inline int ipv6_ext(__u8 nh)
{
	return nh == IPPROTO_HOPOPTS || nh == IPPROTO_ROUTING || nh == IPPROTO_DSTOPTS;
}

/*
 * Filters: every kind given must match (ports AND hosts AND protocol); within
 * a kind, any listed value matches, on source or destination. With a filter
 * set, non-IP packets and fragments without a transport header never match.
 */
static __always_inline int matches(struct __sk_buff *skb, __u32 l3)
{
	__u32 flags = CONFIG.filter_flags;
	__u8 l4proto;
	__u32 l4off;
	int fragment = 0;

	if (!flags)
		return 1;

	if (skb->protocol == bpf_htons(ETH_P_IP)) {
		struct iphdr ip;

		if (bpf_skb_load_bytes(skb, l3, &ip, sizeof(ip)) || ip.version != 4)
			return 0;
		if ((flags & F_HOSTS) && !host4_listed(ip.saddr, ip.daddr))
			return 0;
		l4proto = ip.protocol;
		fragment = (bpf_ntohs(ip.frag_off) & 0x1fff) != 0;
		l4off = l3 + ip.ihl * 4;
	} else if (skb->protocol == bpf_htons(ETH_P_IPV6)) {
		struct ipv6hdr ip6;
		__u8 ext[2];

		if (bpf_skb_load_bytes(skb, l3, &ip6, sizeof(ip6)) || ip6.version != 6)
			return 0;
		if ((flags & F_HOSTS) && !host6_listed(&ip6))
			return 0;
		l4proto = ip6.nexthdr;
		l4off = l3 + sizeof(ip6);
#pragma unroll
		for (int i = 0; i < 4; i++) {
			if (ipv6_ext(l4proto)) {
				if (bpf_skb_load_bytes(skb, l4off, ext, 2))
					return 0;
				l4proto = ext[0];
				l4off += (ext[1] + 1) * 8;
			} else if (l4proto == IPPROTO_FRAGMENT) {
				__be16 fo;

				if (bpf_skb_load_bytes(skb, l4off, ext, 1) ||
				    bpf_skb_load_bytes(skb, l4off + 2, &fo, 2))
					return 0;
				l4proto = ext[0];
				fragment = (bpf_ntohs(fo) & 0xfff8) != 0;
				l4off += 8;
			}
		}
	} else {
		return 0;
	}

	if (flags & F_PROTO) {
		if (l4proto == IPPROTO_TCP) {
			if (!(flags & F_TCP))
				return 0;
		} else if (l4proto == IPPROTO_UDP) {
			if (!(flags & F_UDP))
				return 0;
		} else {
			return 0;
		}
	}

	if (flags & F_PORTS) {
		__be16 p[2];
		__u16 port;

		if (fragment || (l4proto != IPPROTO_TCP && l4proto != IPPROTO_UDP))
			return 0;
		if (bpf_skb_load_bytes(skb, l4off, p, sizeof(p)))
			return 0;
		port = bpf_ntohs(p[0]);
		if (bpf_map_lookup_elem(&ports, &port))
			return 1;
		port = bpf_ntohs(p[1]);
		return bpf_map_lookup_elem(&ports, &port) != 0;
	}
	return 1;
}

static __always_inline int capture(struct __sk_buff *skb, __u8 direction, int use_perf)
{
	__u32 ifindex = skb->ifindex;
	struct iface *ic = bpf_map_lookup_elem(&ifaces, &ifindex);
	struct record rec = {};
	__u32 len, cap, limit, slot;
	long err;

	if (!ic)
		return TC_ACT_UNSPEC;
	slot = ic->slot;
	if (slot >= MAX_IFACES)
		return TC_ACT_UNSPEC;
	count(slot, STAT_SEEN);
	if (!matches(skb, ic->l3_offset))
		return TC_ACT_UNSPEC;
	count(slot, STAT_MATCHED);

	len = skb->len;
	limit = CONFIG.snaplen;
	if (use_perf && limit > PERF_MAX_SNAPLEN)
		limit = PERF_MAX_SNAPLEN;
	if (limit > MAX_SNAPLEN)
		limit = MAX_SNAPLEN;
	cap = len < limit ? len : limit;
	if (ic->l3_offset == ETH_HLEN && skb->vlan_present) {
		rec.vlan_present = 1;
		rec.vlan_tci = skb->vlan_tci;
		rec.vlan_proto = skb->vlan_proto;
	}
	/* the frame user space writes is 4 bytes longer with the tag put back */
	if (len + (rec.vlan_present ? 4 : 0) > limit)
		count(slot, STAT_TRUNCATED);

	rec.ts_ns = bpf_ktime_get_ns();
	rec.ifindex = ifindex;
	rec.orig_len = len;
	rec.cap_len = cap;
	rec.slot = slot;
	rec.direction = direction;

	if (use_perf) {
		/* The kernel appends cap bytes of packet data after rec. */
		err = bpf_perf_event_output(skb, &perf,
					    ((__u64)cap << 32) | BPF_F_CURRENT_CPU,
					    &rec, sizeof(rec));
	} else {
		__u32 cpu = bpf_get_smp_processor_id();
		struct scratch *s = bpf_map_lookup_elem(&scratch, &cpu);

		__u64 n = cap;

		if (!s)
			return TC_ACT_UNSPEC;
		/*
		 * Bound n in a 64-bit register the verifier tracks through to the
		 * helper call: [1, MAX_SNAPLEN].
		 */
		asm volatile("" : "+r"(n));
		if (n < 1 || n > MAX_SNAPLEN)
			return TC_ACT_UNSPEC;
		if (bpf_skb_load_bytes(skb, 0, s->data, n)) {
			count(slot, STAT_DROP_COPY);
			return TC_ACT_UNSPEC;
		}
		s->rec = rec;
		/*
		 * No wakeup: user space drains the ring on a timer and never
		 * sleeps on it, and a wakeup is an interrupt per packet.
		 */
		err = bpf_ringbuf_output(&ring, s, sizeof(rec) + n, BPF_RB_NO_WAKEUP);
	}
	count(slot, err ? STAT_DROP_BUFFER : STAT_CAPTURED);
	return TC_ACT_UNSPEC;
}

/* Names start with "pano_cap": a later run recognises its own filters by them. */
SEC("tc")
int pano_cap_in_rb(struct __sk_buff *skb)
{
	return capture(skb, 1, 0);
}

SEC("tc")
int pano_cap_eg_rb(struct __sk_buff *skb)
{
	return capture(skb, 2, 0);
}

SEC("tc")
int pano_cap_in_pf(struct __sk_buff *skb)
{
	return capture(skb, 1, 1);
}

SEC("tc")
int pano_cap_eg_pf(struct __sk_buff *skb)
{
	return capture(skb, 2, 1);
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
