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
#define TG_LAYOUT_VERSION 3

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

/* What happens to a request start or SYN beyond a key's quota. */
enum tg_action {
	TG_ACTION_DROP = 0,    /* the kernel drops it (in enforce mode) */
	TG_ACTION_MONITOR = 1, /* counted as would-deny, never dropped */
	TG_ACTION_GATEWAY = 2, /* never dropped: the verdict waits for /v1/check */
	TG_ACTION_DENY = 3,    /* always denied */
	TG_ACTION_EXEMPT = 4,  /* no limit */
};

#define TG_MAX_QUOTAS 1024      /* quota entries, quotas.default included */
#define TG_MAX_KEY_HEADERS 4    /* identity.api_key_headers */
#define TG_KEY_HEADER_LEN 16    /* a header name, its ':' included, fits */
#define TG_SCAN_MAX 2048        /* identity.header_scan_bytes upper bound */
#define TG_APIKEY_MAX 128       /* bytes of an API key value that are hashed */
#define TG_MAX_ROUTES 32        /* routes[]; route id 0 is "other", 1..32 the routes */
#define TG_ROUTE_PREFIX_MAX 64  /* bytes of a route prefix (8 words) */
#define TG_MAX_MODELS 64        /* models[]; model id 0 is "other", 1..64 the models */
#define TG_MODEL_IDS (TG_MAX_MODELS + 1)
#define TG_MODEL_OTHER 0
#define TG_MODEL_NONE 0xffffu   /* the request carries no model (or none seen yet) */

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
#define TG_CONN_REQ_DENIED (1u << 2)   /* the request start at req_seq was dropped */
#define TG_CONN_SYN_DENIED (1u << 3)   /* the SYN was dropped */
#define TG_CONN_CHARGE (1u << 4)       /* its bytes are charged to a bucket */
#define TG_CONN_BUCKET (1u << 5)       /* bucket/qid name the request's bucket */
#define TG_CONN_ADDR_BUCKET (1u << 6)  /* ... in tg_addr_buckets (else tg_buckets) */
#define TG_CONN_PROXY (1u << 7)        /* proxy_addr is the client (PROXY protocol) */
#define TG_CONN_PROXY_DONE (1u << 8)   /* the PROXY header was seen */
#define TG_CONN_RESP_PENDING (1u << 9) /* a request awaits its response's first byte */
#define TG_CONN_REQ_OVER (1u << 10)    /* the request start at req_seq is over a
					* gateway-action quota: /v1/check denies it */
#define TG_CONN_REQ_HTTP (1u << 11)    /* ... and reads as an HTTP request start (not
					* a TLS ClientHello or other first bytes) */
#define TG_CONN_ABANDONED (1u << 12)   /* the client closed (FIN) while the dropped start
					* at req_seq waited: it is never admitted */
#define TG_CONN_VERIFIED (1u << 13)    /* the client proved the handshake: its request
					* starts may be charged */
#define TG_CONN_PROXY_PART (1u << 14)  /* a PROXY header began, its end is yet to come
					* (its bytes so far in tg_proxy_held) */
#define TG_CONN_BODY_PENDING (1u << 15) /* the request's body is still to be scanned
					* for its model (a body split from its headers) */
#define TG_CONN_LLM (1u << 16)         /* the current request is on an "llm" route */
#define TG_CONN_LOGGED (1u << 17)      /* the current request is sampled into the
					* request log and awaits its record */
#define TG_CONN_REQ_WOULD (1u << 18)   /* the request start at req_seq is over a
					* quota that does not drop (would deny) */
/* A connection with any of these needs the per-segment path. */
#define TG_CONN_ATTENTION (TG_CONN_REQ_DENIED | TG_CONN_CHARGE | TG_CONN_BODY_PENDING)

/* Per-connection state, touched only on SYN, request start and FIN/RST,
 * and on plain segments of connections that need attention (see
 * tg_client.pending). */
struct tg_conn {
	__u32 isn;        /* client's initial sequence number */
	__u32 req_seq;    /* sequence number of the current request start */
	__u32 flags;      /* TG_CONN_* */
	__u32 requests;   /* request starts on this connection */
	__u64 req_ns;     /* when the current request started */
	__u32 qid;        /* quota of the current request's bucket */
	__u32 checked;    /* request starts whose verdict /v1/check has taken */
	struct tg_addr bucket_addr; /* address part of that bucket's key */
	struct tg_addr proxy_addr;  /* the client a PROXY header named */
};

/* A quota as the kernel applies it (ARRAY, index = quota id; id 0 is
 * quotas.default). Intervals are GCRA emission intervals: ns per request
 * or connection, and ns per byte in 1/65536 ns units. Tolerances are in
 * ns: (burst - 1) * interval. Zero interval = unlimited. */
struct tg_quota {
	__u64 req_interval;
	__u64 req_tolerance;
	__u64 byte_interval_fp;
	__u64 byte_tolerance;
	__u64 conn_interval;
	__u64 conn_tolerance;
	__u32 action;      /* enum tg_action */
	__u32 flags;       /* TG_QUOTA_* */
	__u32 max_conns;   /* open connections per bucket, 0 = unlimited */
	__u32 pad;
	char name[32];     /* the entry's name: keeps ids stable over restarts */
};

#define TG_QUOTA_SET (1u << 0)         /* a configured entry lives here */
#define TG_QUOTA_PER_ADDRESS (1u << 1) /* one bucket per address (LRU) */
#define TG_QUOTA_GLOBAL (1u << 2)      /* requests counted fleet-wide: see tg_fleet_slot */
#define TG_QUOTA_SUBLIMITS (1u << 3)   /* per_route / per_model buckets: tg_sub_limits */
#define TG_FP_SHIFT 16

/* The fleet state of a global quota (ARRAY indexed by quota id, mmapable:
 * the agent moves credit with atomics on the mapped memory while the
 * kernel takes from it, so neither loses the other's updates). */
struct tg_fleet_slot {
	__s64 credit;  /* TG_FLEET_SHARED: requests this node may still admit */
	__u64 used;    /* requests admitted under the quota, in any mode */
	__u64 denied;  /* requests refused by it, in any mode */
	__u32 mode;    /* enum tg_fleet_mode */
	__u32 pad;
};

/* How the kernel admits a global quota's requests. LOCAL is 0, so a slot
 * no agent has written (or one left behind by a stopped agent) enforces
 * the local share with the quota's own bucket. */
enum tg_fleet_mode {
	TG_FLEET_LOCAL = 0,  /* the quota's bucket, at its local-share rate */
	TG_FLEET_SHARED = 1, /* the credit the agent got from the fleet */
	TG_FLEET_OPEN = 2,   /* fallback open: every request passes */
	TG_FLEET_CLOSED = 3, /* fallback closed: every request is refused */
};

/* Key of a bucket: the quota and, for per-address buckets, the client
 * address (zero for a shared or API-key bucket). */
struct tg_bucket_key {
	__u32 qid;
	__u32 pad;
	struct tg_addr addr;
};

/* Token-bucket state as GCRA theoretical arrival times (CLOCK_MONOTONIC
 * ns), each updated with one compare-and-swap, plus per-key counters. */
struct tg_bucket {
	__u64 req_tat;
	__u64 byte_tat;
	__u64 conn_tat;
	__u64 allowed;       /* request starts admitted */
	__u64 denied;        /* request starts refused (a retransmission of a
			      * refused start is not counted again: see drops) */
	__u64 would_deny;    /* beyond quota but passed: monitor */
	__u64 allowed_bytes; /* payload bytes of admitted requests */
	__u64 denied_bytes;  /* payload bytes of dropped request starts */
	__u64 conns_allowed;
	__u64 conns_denied;  /* SYNs dropped or would-be dropped */
	__u64 last_event_ns; /* last denial event sent for this key */
	__s64 open;          /* established connections (socket level) */
	__u64 conns_over_max; /* SYNs beyond max_connections (in conns_denied too) */
	__u64 drops;         /* request-start segments dropped: each retransmission
			      * of a refused start counts again (layout v3) */
};

/* LPM trie key for CIDR entries; prefixlen counts IPv6 bits (an IPv4
 * /24 is ::ffff:0:0/96 + 24 = 120). */
struct tg_lpm_key {
	__u32 prefixlen;
	struct tg_addr addr;
};

enum tg_event_type {
	TG_EV_DENY_REQUEST = 1, /* a request start dropped (or would be) */
	TG_EV_DENY_CONN = 2,    /* a SYN dropped (or would be) */
	TG_EV_MAX_CONNS = 3,    /* a SYN beyond max_connections */
};

/* Response status classes counted per client. */
enum tg_status_class {
	TG_ST_2XX = 0,
	TG_ST_3XX = 1,
	TG_ST_4XX = 2, /* 429 not included */
	TG_ST_429 = 3,
	TG_ST_5XX = 4,
	TG_ST_MAX = 5,
};

#define TG_LAT_BUCKETS 16 /* see tg_lat_bucket(): < 1 ms ... >= 17 s */

/* Per-client response figures, one shared record (LRU_HASH, atomic adds),
 * from the egress path (TC egress or cgroup egress). */
struct tg_resp {
	__u64 packets;
	__u64 bytes;         /* response payload bytes: the completion side */
	__u64 responses;     /* HTTP/1.x status lines (1xx not counted) */
	__u32 status[TG_ST_MAX];
	__u32 pad;
	__u32 lat_hist[TG_LAT_BUCKETS]; /* request start -> first response byte */
};

/* Per-client socket figures (LRU_HASH, shared: exact under atomics),
 * from the sockops program on the gateway's cgroup. */
struct tg_sock_client {
	__s64 open;          /* established, not yet closed */
	__u64 established;   /* connections established in all */
	__u64 closed;
	__u64 retransmits;   /* segments the gateway retransmitted */
	__u64 srtt_us;       /* smoothed RTT of the last closed connection, EWMA */
	__u64 last_ns;
};

/* Per-socket storage: what the sockops program counted this socket as. */
struct tg_sk_state {
	struct tg_bucket_key bkey; /* the bucket whose open count it holds */
	struct tg_addr key;        /* the client key it is counted under */
	__u32 counted;
	__u32 addr_bucket;
};

/* Ring buffer record: the first denial of a key in each interval. */
struct tg_event {
	__u32 type;        /* enum tg_event_type */
	__u32 qid;
	__u32 action;      /* enum tg_action of the quota */
	__u32 enforced;    /* 1 dropped, 0 monitor (would deny) */
	struct tg_addr client;
	__u64 ts_ns;
	__u64 denied;      /* the bucket's denied + would_deny so far */
	__u64 api_key_hash;
};

/* Per-client counters, one shared record per client (LRU_HASH): its size
 * does not depend on the number of CPUs. 160 bytes.
 *
 * The first 64 bytes are all a plain segment touches. A client's packets
 * mostly arrive on one CPU (RSS, flow hashing): the CPU that made the
 * record owns packets/bytes/payload_bytes and adds to them with plain adds
 * (a single writer: exact, and as cheap as a per-CPU copy); any other CPU
 * adds to the x* counters with atomic adds. The totals are the sums. The
 * rest is written with atomic adds (counters) or plain stores (times,
 * epoch: last writer wins). */
struct tg_client {
	__u64 packets;       /* wire segments (GSO super-packets expanded), owner */
	__u64 bytes;         /* wire L3 bytes, headers of every segment included, owner */
	__u64 payload_bytes; /* TCP payload bytes, owner */
	__u64 xpackets;      /* the same three from the other CPUs (atomic) */
	__u64 xbytes;
	__u64 xpayload_bytes;
	__u32 owner;         /* the CPU that made the record */
	/* Connections of this client that need the per-segment path (first
	 * payload still to come, a dropped start, charged bytes): one shared
	 * atomic count, so the plain-segment path can tell whether it must
	 * look up the connection. */
	__s32 pending;
	/* Lookups the hint caused for nothing (a stale hint), wraps. A
	 * diagnostic: updated without an atomic (16-bit), so concurrent CPUs
	 * may lose an increment. */
	__u16 wasted;
	/* The scan epoch (tg_scan_epoch, low 16 bits) in which the client was
	 * last put into tg_active. A packet that finds another epoch here
	 * marks the client active: one compare on every other packet.
	 * 16 bits wrap after 65536 scans; a client idle for an exact multiple
	 * of that is picked up by the next full sweep instead. */
	__u16 epoch;
	__u32 pad;
	/* Touched on SYN, request start and FIN/RST only. */
	__u64 syns;          /* new connections (retransmitted SYNs not counted) */
	__u64 requests;      /* request starts (retransmissions not counted) */
	__u64 first_seen_ns; /* bpf_ktime_get_ns() (CLOCK_MONOTONIC); 0 = never */
	__u64 last_seen_ns;
	__u32 size_hist[TG_SIZE_BUCKETS];
};

/* Request integrity, per quota id (ARRAY, TG_MAX_QUOTAS entries, atomic
 * adds): what the buckets' own counters do not hold. */
struct tg_quota_stats {
	__u64 abandoned; /* dropped starts whose client closed: never admitted */
	__u64 pad[3];
};

/* Request integrity over every client (PERCPU_ARRAY, one entry). */
struct tg_integrity {
	__u64 abandoned;  /* dropped starts whose client closed */
	__u64 abandoned_drops; /* their retransmissions dropped after that */
	__u64 unverified; /* request starts with no proven handshake: not charged */
	__u64 verified_handshake; /* first payloads proven by the server's ISN */
	__u64 verified_socket;    /* ... by an established socket */
	__u64 unproven_dropped;   /* unproven starts held (dropped) under an enforced quota */
	__u64 behind_dropped;     /* later starts dropped while an earlier one waits */
	__u64 pad[1];
};

/* Whole-agent counters (PERCPU_ARRAY, one entry). Only rare paths touch it. */
struct tg_global {
	__u64 new_clients;   /* per-client entries created (minus live = evicted) */
	__u64 malformed;     /* truncated or inconsistent headers, passed */
	__u64 fragments;     /* IP fragments toward gateway ports, passed */
	__u64 conns_missing; /* request starts of connections whose SYN was not seen */
	__u64 addr_buckets;  /* per-address buckets created (minus live = evicted) */
	__u64 fragments_dropped; /* first fragments toward gateway ports, enforce */
	__u64 events_lost;   /* ring buffer full */
	__u64 malformed_dropped; /* unparsable packets dropped (enforce mode) */
	__u64 active_lost;   /* active-set inserts that failed (tg_active full) */
	/* Totals over every client since the maps were made: the agent no
	 * longer reads every client each scan, so it cannot sum them. */
	__u64 packets;
	__u64 bytes;
	__u64 payload_bytes;
	__u64 syns;
	__u64 requests;
};

/* Run-time settings (ARRAY, one entry), rewritten on reload. */
struct tg_settings {
	__u32 mode;        /* enum tg_mode */
	__u32 ipv6_prefix; /* 0..128 */
	__u32 generation;  /* config generation, for /healthz */
	__u32 scan_bytes;  /* identity.header_scan_bytes */
	__u32 n_headers;   /* identity.api_key_headers */
	__u32 flags;       /* TG_SET_* */
	__u64 event_interval_ns;
	/* Header names with their ':' as lower-case little-endian words and
	 * masks (see tg_header_words()), compared OR 0x20 per byte. */
	__u64 hdr_w[TG_MAX_KEY_HEADERS][2];
	__u64 hdr_m[TG_MAX_KEY_HEADERS][2];
	__u32 hdr_len[TG_MAX_KEY_HEADERS];
	__u32 n_quota_keys; /* API-key entries: 0 skips the header scan */
	__u32 body_scan_bytes; /* identity.body_scan_bytes (with TG_SET_MODELS) */
};

/* Requests start with routes: the request-target's path is matched
 * against tg_route_table (route.bpf.h). */
#define TG_SET_ROUTES (1u << 3)
/* A quota entry has sub-limits: request starts reset tg_route_state (the
 * route and model its sub-buckets are chosen by) even without routes. */
#define TG_SET_SUBLIMITS (1u << 6)
#define TG_ROUTE_WORDS (TG_ROUTE_PREFIX_MAX / 8)
#define TG_ROUTE_IDS (TG_MAX_ROUTES + 1) /* route ids 0 ("other") .. TG_MAX_ROUTES */
#define TG_ROUTE_OTHER 0
#define TG_ROUTE_NO_QID 0xffffffffu /* the request resolved to no quota entry */

/* What the kernel learned of a request at its start (and, for a body
 * split from its headers, its next segment): routes, models and the
 * figures token budgets reserve from. */
struct tg_req_info {
	__u16 route;      /* TG_ROUTE_OTHER or 1..TG_MAX_ROUTES */
	__u16 model;      /* TG_MODEL_NONE, TG_MODEL_OTHER or 1..TG_MAX_MODELS */
	__u32 max_tokens; /* max_tokens / max_completion_tokens / max_output_tokens, 0: none */
	__u32 flags;      /* TG_REQ_* */
	__u32 pad;
};

/* Request starts read their JSON body (a body split from its headers:
 * the connection's next segment) for the model, max_tokens and stream
 * (model.bpf.h). */
#define TG_SET_MODELS (1u << 4)
#define TG_MODEL_NAME_WORDS 8

/* tg_models' key: a model name, zero-padded (at most 63 bytes). */
struct tg_model_name {
	__u64 w[TG_MODEL_NAME_WORDS];
};

#define TG_REQ_STREAM (1u << 0)     /* "stream": true */
#define TG_REQ_LLM (1u << 1)        /* its route is an "llm" route */

/* One route as the kernel compares it: its prefix as little-endian words
 * and byte masks (zero past the prefix), matched against the path's first
 * TG_ROUTE_PREFIX_MAX bytes. */
struct tg_route_prefix {
	__u64 w[TG_ROUTE_WORDS];
	__u64 m[TG_ROUTE_WORDS];
	__u32 id;  /* 1..TG_MAX_ROUTES */
	__u32 len; /* bytes of the prefix */
};

/* The routes (ARRAY, one entry), longest prefix first: the first match
 * is the longest. */
struct tg_route_table {
	__u32 n;
	__u32 scan_window_ms; /* route_scan's window; 0: the detector is off */
	struct tg_route_prefix r[TG_MAX_ROUTES];
};

/* Request starts per (client, route) (LRU_HASH). */
struct tg_route_key {
	struct tg_addr addr; /* the client key (IPv6 masked to its prefix) */
	__u32 route;         /* 0 "other", 1..TG_MAX_ROUTES */
	__u32 pad;
};

/* The value of tg_route_clients, and of tg_route_keys (ARRAY indexed by
 * quota id * TG_ROUTE_IDS + route): atomic adds. */
struct tg_route_count {
	__u64 requests; /* request starts counted (retransmissions not) */
	__u64 dropped;  /* ... of them dropped by the verdict */
};

/* Sub-limits (a quota entry's per_route and per_model): slot s of quota
 * id q is index q * TG_SUB_SLOTS + s of tg_sub_limits and tg_sub_buckets;
 * slots 0..TG_MAX_ROUTES are route ids, then TG_MODEL_IDS model ids. */
#define TG_SUB_SLOTS (TG_ROUTE_IDS + TG_MODEL_IDS)
#define TG_SUB_MODEL_SLOT(m) (TG_ROUTE_IDS + (m))

/* A sub-limit as the kernel applies it (GCRA, as struct tg_quota's
 * requests); interval 0: no sub-limit in this slot. */
struct tg_sub_limit {
	__u64 interval;
	__u64 tolerance;
};

/* A sub-bucket: its GCRA TAT and what it decided (atomic adds). */
struct tg_sub_bucket {
	__u64 tat;
	__u64 allowed;  /* request starts (and checks) it admitted */
	__u64 denied;   /* refusals by this bucket (each retransmission too) */
	__u64 refunds;  /* tokens given back: another bucket refused after this one took */
};

/* log.requests is on: request starts are sampled into the request log
 * (reqlog.bpf.h). Off, the request start pays this one flag test. */
#define TG_SET_REQLOG (1u << 5)

/* A request's method in the request log. */
enum tg_method {
	TG_METHOD_OTHER = 0, /* not an HTTP/1.x request line (TLS, h2c, ...) */
	TG_METHOD_GET = 1,
	TG_METHOD_POST = 2,
	TG_METHOD_PUT = 3,
	TG_METHOD_HEAD = 4,
	TG_METHOD_DELETE = 5,
	TG_METHOD_PATCH = 6,
	TG_METHOD_OPTIONS = 7,
	TG_METHOD_CONNECT = 8,
	TG_METHOD_TRACE = 9,
	TG_METHOD_MAX = 10,
};

/* A request log record's verdict. */
enum tg_reqlog_verdict {
	TG_RV_ALLOWED = 0,
	TG_RV_DENIED = 1,     /* dropped, or over a gateway-action quota (/v1/check denies) */
	TG_RV_WOULD_DENY = 2, /* over a monitor quota (or in monitor mode): passed */
	TG_RV_ABANDONED = 3,  /* the connection closed before the response started */
	TG_RV_MAX = 4,
};

/* log.requests as the kernel applies it, and the cap's budget (ARRAY, one
 * entry). The agent writes the first four fields (and zeroes the rest). */
struct tg_reqlog_conf {
	__u32 threshold;   /* sampled when bpf_get_prandom_u32() < threshold ... */
	__u32 all;         /* ... or always (sample 1) */
	__u32 max_per_sec; /* records started per second, 0 = no cap */
	__u32 pad;
	__u64 sec;         /* the second the budget counts (CLOCK_MONOTONIC) */
	__u64 used;        /* records started in it (atomic) */
};

/* Request log counters (PERCPU_ARRAY, one entry). */
struct tg_reqlog_stats {
	__u64 sampled;     /* request starts the sample picked */
	__u64 capped;      /* ... of them over max_per_sec: no record */
	__u64 lost;        /* records dropped: the ring buffer was full */
	__u64 pending_lost; /* records whose pending state could not be stored */
	__u64 records;     /* records handed to the ring buffer */
	__u64 pad[3];
};

/* One request log record (ring buffer tg_requests), fixed size. Also the
 * value of tg_reqlog_pending while its request awaits its response. */
struct tg_reqlog_rec {
	__u64 start_ns;      /* the request start, bpf_ktime_get_ns() */
	__u64 ttfb_ns;       /* start to the response's first byte; 0: not seen */
	struct tg_addr client; /* the client (a PROXY header's, when read) */
	__u32 qid;           /* quota id, TG_ROUTE_NO_QID for none */
	__u32 req_seq;       /* the request start's sequence number */
	__u32 request_bytes; /* see reqlog.bpf.h */
	__u16 client_port;   /* host order */
	__u16 route;         /* TG_ROUTE_OTHER or 1..TG_MAX_ROUTES */
	__u16 model;         /* TG_MODEL_NONE, TG_MODEL_OTHER or 1..TG_MAX_MODELS */
	__u16 status;        /* the response's status code, 0: not seen */
	__u8 method;         /* enum tg_method */
	__u8 verdict;        /* enum tg_reqlog_verdict */
	__u16 pad;
	__u32 pad2[2];
};

/* TLS visibility (gateway.tls): uprobes on the gateway's libssl. Counters
 * of the whole agent (PERCPU_ARRAY, one entry: tg_tls_stats). */
struct tg_tls_stats {
	__u64 reads;       /* SSL_read / SSL_read_ex calls that returned data */
	__u64 read_bytes;
	__u64 writes;      /* SSL_write / SSL_write_ex calls that wrote data */
	__u64 write_bytes;
	__u64 requests;    /* decrypted request starts counted */
	__u64 keyed;       /* ... of them with a configured API key */
	__u64 unbound;     /* request starts of an SSL* not tied to a socket yet: not counted */
	__u64 lost;        /* scans overwritten twice by a packet program on the CPU: not counted */
	__u64 other_port;  /* request starts on a socket whose port is no gateway port */
};

/* Sizes of the TLS maps with gateway.tls (one entry without it). They
 * are not pinned: calls in flight and SSL* ties are rebuilt by the next
 * socket read, and the counters start again with the agent. */
#define TG_TLS_THREADS 4096 /* tg_tls_calls: SSL calls in flight, one a thread */
#define TG_TLS_CONNS 16384  /* tg_tls_conns: SSL* tied to a socket; an evicted one is
			     * tied again at its next socket read */

/* route_scan, per client (LRU_HASH keyed by the client key): a
 * linear-counting sketch of the distinct paths of its unmatched ("other")
 * request starts in the current window. A path sets one bit of 256 (its
 * hash); n distinct paths leave about 256 * exp(-n / 256) bits clear, so
 * the count is estimated from the clear bits: within ~10% up to a few
 * hundred paths, saturated beyond ~1,400. */
#define TG_PATH_SKETCH_BITS 256
struct tg_path_sketch {
	__u64 window; /* the window (monotonic ns / window length) of the bits */
	__u64 bits[TG_PATH_SKETCH_BITS / 64];
};

/* The 128-bit key of the API-key hash (ARRAY, one entry: tg_hash_key). */
struct tg_hash_key {
	__u64 k0, k1;
};

#define TG_SET_PROXY_PROTOCOL (1u << 0)
/* identity.trusted_proxies is set: a PROXY header is believed only from a
 * source in tg_proxy_trusted. Off (an empty list): from any source. */
#define TG_SET_PROXY_TRUSTED (1u << 2)
#define TG_MAX_PROXY_TRUSTED 64 /* identity.trusted_proxies entries */
/* Record (API key, client) pairs in tg_key_use: the key_shared and
 * key_rotation detectors are on. Makes every request start scan its
 * headers for a key, even with no API-key quota entry. */
#define TG_SET_KEY_USE (1u << 1)

/* (API key, client) pairs seen at request starts (LRU_HASH). Only the
 * key's hash is kept, never the key. */
#define TG_KEY_USE_ENTRIES 65536
struct tg_key_use_key {
	__u64 key_hash;
	struct tg_addr addr; /* the client key (IPv6 masked to its prefix) */
};

struct tg_key_use {
	__u64 requests;
	__u64 last_ns;
};

/* /v1/check: the arguments of the tg_check program, run through
 * BPF_PROG_TEST_RUN as a raw tracepoint (its context is an array of u64).
 * A raw tracepoint program, unlike a syscall one, may use the LPM tries
 * the quotas are resolved with, and runs the same code as the packet path
 * on the same buckets, so a charge from the check and one from a packet
 * are as atomic as two packets. */
enum tg_check_arg {
	TG_CK_CLIENT_LO = 0,  /* the client's address, words 0-1 and 2-3 */
	TG_CK_CLIENT_HI,
	TG_CK_SERVER_LO,      /* the gateway's address of the connection */
	TG_CK_SERVER_HI,
	TG_CK_PORTS,          /* client port << 16 | server port, host order; 0: unknown */
	TG_CK_KEY_HASH,       /* the API key's hash, 0 for none */
	TG_CK_SUB,            /* route id | model id << 16, for the entry's sub-limits;
			       * TG_CK_NO_ROUTE / TG_MODEL_NONE: none known */
	TG_CK_NARGS,
};

/* tg_check's return value. */
#define TG_CK_DENY (1u << 0)      /* deny the request */
#define TG_CK_KERNEL (1u << 1)    /* the kernel's verdict of a request start it saw */
#define TG_CK_BUCKET (1u << 2)    /* a bucket holds the key's state (qid below) */
#define TG_CK_ADDR (1u << 3)      /* ... in tg_addr_buckets, keyed by the client key */
#define TG_CK_NO_QUOTA (1u << 4)  /* nothing to check (settings or quotas missing) */
#define TG_CK_NO_ROUTE 0xffffu    /* TG_CK_SUB: the gateway passed no URI */
#define TG_CK_REFUSED (1u << 5)   /* a sub-bucket refused (its slot below) */
#define TG_CK_SLOT_SHIFT 8        /* bits 8..15: the refusing sub-bucket's slot */
#define TG_CK_QID_SHIFT 16        /* bits 16..31: the quota id */

#endif /* TOLLGATE_SHARED_H */
