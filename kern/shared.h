/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* Structs and constants shared by the kernel programs and the agent.
 * Fixed-width types only: the agent reads these bytes straight out of maps. */
#ifndef TOLLGATE_SHARED_H
#define TOLLGATE_SHARED_H

#ifndef __bpf__
#include <linux/types.h>
#endif

/* Bumped whenever a pinned map's key or value layout changes; it is part of
 * the pin path (/sys/fs/bpf/tollgate/<instance>/v<layout>/). */
#define TG_LAYOUT_VERSION 1

/* Fixed TC filter identity, so a restarted agent replaces its own leftover
 * filter and never touches anyone else's. */
#define TG_TC_HANDLE 0x7467
#define TG_TC_PRIORITY 0x7467

#define TG_MAX_CPUS 512         /* bound for loops over possible CPUs */
#define TG_IPV6_EXT_MAX 6       /* IPv6 extension headers walked before giving up */
#define TG_VLAN_MAX 2           /* 802.1Q / 802.1ad tags walked */
#define TG_SIZE_BUCKETS 16      /* request size histogram, see tg_size_bucket() */
#define TG_SIZE_BUCKET_SHIFT 6  /* bucket 0 holds sizes < 64 bytes */

enum tg_mode {
	TG_MODE_MONITOR = 0,
	TG_MODE_ENFORCE = 1,
};

/* A client address. IPv6 as is (masked to identity.ipv6_prefix), IPv4 as
 * the IPv4-mapped IPv6 address ::ffff:a.b.c.d. Network byte order. */
struct tg_addr {
	__u32 w[4];
};

/* One TCP connection as the client sees it (client = source). */
struct tg_flow {
	struct tg_addr saddr;
	struct tg_addr daddr;
	__u16 sport; /* network order */
	__u16 dport; /* network order */
	__u32 pad;
};

/* tg_conn.flags */
#define TG_CONN_SEEN_PAYLOAD (1u << 0) /* a payload segment was seen */
#define TG_CONN_HAVE_REQ (1u << 1)     /* req_seq holds a request start */

/* Per-connection state, touched only on SYN, request start and FIN/RST. */
struct tg_conn {
	__u32 isn;        /* client's initial sequence number */
	__u32 req_seq;    /* sequence number of the current request start */
	__u32 flags;      /* TG_CONN_* */
	__u32 requests;   /* request starts on this connection */
	__u64 req_ns;     /* when the current request started */
};

/* Per-client counters, one copy per CPU (LRU_PERCPU_HASH). Exactly 128 bytes:
 * the per-client memory is this times the number of possible CPUs. */
struct tg_client {
	__u64 packets;       /* wire segments (GSO super-packets expanded) */
	__u64 bytes;         /* wire L3 bytes, headers of every segment included */
	__u64 payload_bytes; /* TCP payload bytes */
	__u64 syns;          /* new connections (retransmitted SYNs not counted) */
	__u64 requests;      /* request starts (retransmissions not counted) */
	__u64 first_seen_ns; /* bpf_ktime_get_ns() (CLOCK_MONOTONIC); 0 = never */
	__u64 last_seen_ns;
	/* Connections of this client whose first payload segment is still to
	 * come. Written on every CPU's copy at SYN time, so the plain-segment
	 * path of any CPU can tell whether it must look up the connection. */
	__u32 pending;
	__u32 wasted; /* lookups the hint caused for nothing; resets pending */
	__u32 size_hist[TG_SIZE_BUCKETS];
};

/* Whole-agent counters (PERCPU_ARRAY, one entry). Only rare paths touch it. */
struct tg_global {
	__u64 new_clients;   /* per-client entries created (minus live = evicted) */
	__u64 malformed;     /* truncated or inconsistent headers, passed */
	__u64 fragments;     /* IP fragments toward gateway ports, passed */
	__u64 conns_missing; /* request starts of connections whose SYN was not seen */
};

/* Run-time settings (ARRAY, one entry), rewritten on reload. */
struct tg_settings {
	__u32 mode;        /* enum tg_mode */
	__u32 ipv6_prefix; /* 0..128 */
	__u32 generation;  /* config generation, for /healthz */
	__u32 pad;
};

#endif /* TOLLGATE_SHARED_H */
