/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* Maps shared by every attach point. Defined __weak so each *.bpf.c can
 * include this header and `bpftool gen object` links them into one map.
 *
 * Memory design (layout v3). Kernel memory must not grow with the number
 * of possible CPUs: a per-CPU hash costs entries x value x CPUs, which at
 * 192 CPUs made tg_clients and tg_responses alone ~13 GiB. So every map
 * with an entry per client or connection is a plain (shared) hash:
 *  - tg_clients holds one record per client whose first 64 bytes are all
 *    a plain segment touches (packets, bytes, payload bytes, the pending
 *    hint, the active-set epoch) and whose second line (timestamps aside)
 *    is the request-size histogram, touched only when a request ends.
 *    Counters are updated with atomic adds: a client's packets mostly
 *    arrive on one CPU (RSS, flow hashing), so the cache line rarely moves;
 *    when it does the cost is bounded by one line transfer (see
 *    BENCHMARKS.md, "same client on two CPUs"). Counts stay exact.
 *  - The pending-first-payload hint is one shared atomic counter instead
 *    of a copy written on every CPU at SYN time (that loop was CPUs long).
 *  - tg_responses (egress figures) is shared too, with atomic adds.
 *  - Per-CPU maps remain only where the value is small and there is one
 *    entry (tg_global, tg_integrity, the scratch and hash state), so their
 *    size is a few KiB per CPU.
 * What remains sized by gateway.max_clients is listed by
 * tg_kernel_memory() (agent/bpf/mapmem.c), which a unit test evaluates for
 * 2, 64 and 192 CPUs. */
#ifndef TG_MAPS_BPF_H
#define TG_MAPS_BPF_H

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include "shared.h"
#include "apikey.h"

/* The PROXY address parsers run as global functions on the scratch (see
 * scan.bpf.h), so the verifier checks their loops once. */
__noinline __weak int tg_proxy_v4_fn(void);
__noinline __weak int tg_proxy_v6_fn(void);
#define TG_PROXY_V1_IPV4(buf, st) tg_proxy_v4_fn()
#define TG_PROXY_V1_IPV6(buf, st) tg_proxy_v6_fn()
#include "proxy.h"

/* Possible CPUs, set by the agent before load (informational since the
 * per-client maps stopped being per-CPU). */
const volatile __u32 tg_nr_cpus __weak = 1;

/* The agent's scan epoch, bumped (never to 0 in its low 16 bits) before
 * each drain of tg_active. In .bss, which the agent writes through the
 * skeleton's mmap: reading it costs a plain load, no map lookup. */
volatile __u32 tg_scan_epoch __weak;

/* Gateway ports: index = TCP port (host order), value 1 = count it. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 65536);
	__type(key, __u32);
	__type(value, __u8);
} tg_ports SEC(".maps") __weak;

/* Per-client counters, one shared record per client (atomic adds);
 * max_entries is set from gateway.max_clients plus headroom before load.
 * LRU: when full, the stalest client is evicted and counting of new
 * clients goes on. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 262144);
	__type(key, struct tg_addr);
	__type(value, struct tg_client);
} tg_clients SEC(".maps") __weak;

/* The active set: clients counted since the agent last drained it (each
 * scan). The agent reads just these clients' per-CPU values instead of
 * the whole of tg_clients. A plain hash without preallocation: memory
 * follows the clients active in one scan interval, not max_entries (set
 * like tg_clients). An insert that fails is counted (tg_global.active_lost)
 * and the agent's full sweep covers that client. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 262144);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct tg_addr);
	__type(value, __u8);
} tg_active SEC(".maps") __weak;

/* Per-connection request tracking, keyed by the client's 4-tuple. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 262144);
	__type(key, struct tg_flow);
	__type(value, struct tg_conn);
} tg_conns SEC(".maps") __weak;

/* Handshakes in flight: the server's initial sequence number of each
 * connection, from its SYN-ACK on egress, until the client's first payload
 * acknowledges it (and proves the client is no blind spoofer). Small: an
 * entry lives for one round trip. Keyed like tg_conns. */
#define TG_HANDSHAKES 65536
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, TG_HANDSHAKES);
	__type(key, struct tg_flow);
	__type(value, __u32);
} tg_handshake SEC(".maps") __weak;

/* Whole-agent counters of rare events. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct tg_global);
} tg_global SEC(".maps") __weak;

/* Request integrity per quota id: abandoned requests (see shared.h). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, TG_MAX_QUOTAS);
	__type(key, __u32);
	__type(value, struct tg_quota_stats);
} tg_quota_stats SEC(".maps") __weak;

/* Request integrity over every client: abandoned, unverified starts. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct tg_integrity);
} tg_integrity SEC(".maps") __weak;

/* Run-time settings written by the agent (mode, IPv6 prefix, generation). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct tg_settings);
} tg_settings SEC(".maps") __weak;

/* Quotas by id; id 0 is quotas.default. Rewritten in place on reload. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, TG_MAX_QUOTAS);
	__type(key, __u32);
	__type(value, struct tg_quota);
} tg_quotas SEC(".maps") __weak;

/* CIDR entries: longest prefix wins. Value: quota id. */
struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, TG_MAX_QUOTAS);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct tg_lpm_key);
	__type(value, __u32);
} tg_cidrs SEC(".maps") __weak;

/* CIDR entries with action deny, apart: a deny wins over every other
 * entry, a more specific CIDR inside it included. Value: quota id. */
struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, TG_MAX_QUOTAS);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct tg_lpm_key);
	__type(value, __u32);
} tg_deny_cidrs SEC(".maps") __weak;

/* API keys by the hash of their value. Value: quota id. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, TG_MAX_QUOTAS);
	__type(key, __u64);
	__type(value, __u32);
} tg_apikeys SEC(".maps") __weak;

/* The key of the API-key hash (apikey.h), drawn by the agent when it makes
 * the maps; pinned, so a restart that adopts them keeps matching. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct tg_hash_key);
} tg_hash_key SEC(".maps") __weak;

/* Buckets of configured keys (shared CIDR, API key): never evicted. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, TG_MAX_QUOTAS);
	__type(key, struct tg_bucket_key);
	__type(value, struct tg_bucket);
} tg_buckets SEC(".maps") __weak;

/* Fleet state of global quotas, by quota id; mmapable so the agent can
 * add credit atomically while the kernel takes it. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(map_flags, BPF_F_MMAPABLE);
	__uint(max_entries, TG_MAX_QUOTAS);
	__type(key, __u32);
	__type(value, struct tg_fleet_slot);
} tg_fleet SEC(".maps") __weak;

/* Per-address buckets (quotas.default, per_address CIDR entries); sized
 * like tg_clients. An evicted client starts again from a full bucket. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 262144);
	__type(key, struct tg_bucket_key);
	__type(value, struct tg_bucket);
} tg_addr_buckets SEC(".maps") __weak;

/* Denial events for the agent, at most one per key per interval. */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 256 * 1024);
} tg_events SEC(".maps") __weak;

/* Per-CPU scratch copy of request headers for the API-key scan; the scan's
 * position and counts live in map memory so the verifier does not track
 * them precisely (see scan.bpf.h). */
#define TG_SCAN_LINES 32 /* lines looked at, the request line included */

struct tg_scratch {
	__u8 buf[TG_SCAN_MAX + 64];
	__u32 len;
	__u32 off;
	__u32 n_lines; /* header lines found so far */
	__u32 nl_pos;  /* where the newline search resumes */
	/* Bumped by every packet program's request start (route_begin, the
	 * key scan): a uprobe (tls.bpf.c), which a packet's softirq may
	 * interrupt on its CPU, sees whether its scan was overwritten. */
	__u32 gen;
	/* Unused since the scan matches lines as it finds them; kept so the
	 * pinned map's value size stays that of TG_LAYOUT_VERSION 2. */
	__u16 unused[TG_SCAN_LINES - 2];
	struct tg_proxy_state proxy;
};

/* A PROXY header whose end is in a later segment: its bytes so far, from
 * sequence number seq, until that segment comes (tg_proxy_scan). buf
 * first: the scratch's buffer stages a new entry in place. Twice the bytes
 * parsed, so the next segment's load at any offset below TG_PROXY_BUF
 * verifies. Balancers write their header at once, so entries are rare and
 * the map small; one evicted makes the rest of its header count as the
 * balancer's own first payload. */
struct tg_proxy_held {
	__u8 buf[TG_PROXY_BUF * 2];
	__u32 seq;
	__u32 len;
};

#define TG_PROXY_HELD 4096
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, TG_PROXY_HELD);
	__type(key, struct tg_flow);
	__type(value, struct tg_proxy_held);
} tg_proxy_held SEC(".maps") __weak;

/* The key hash's state (tg_scan_hash), per CPU: not on the stack, which
 * the scan's chain of calls has used up. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct tg_sip);
} tg_hash_state SEC(".maps") __weak;

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct tg_scratch);
} tg_scratch SEC(".maps") __weak;

/* Per-client response figures (egress), shared, atomic adds. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 262144);
	__type(key, struct tg_addr);
	__type(value, struct tg_resp);
} tg_responses SEC(".maps") __weak;

/* Per-client socket figures (sockops): open counts must be exact. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 262144);
	__type(key, struct tg_addr);
	__type(value, struct tg_sock_client);
} tg_socks SEC(".maps") __weak;

/* Which API keys each client uses, for the key_shared / key_rotation
 * detectors (TG_SET_KEY_USE). LRU: the agent reads it every scan, stale
 * pairs make way. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, TG_KEY_USE_ENTRIES);
	__type(key, struct tg_key_use_key);
	__type(value, struct tg_key_use);
} tg_key_use SEC(".maps") __weak;

/* What each gateway socket was counted as, freed with the socket. */
struct {
	__uint(type, BPF_MAP_TYPE_SK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct tg_sk_state);
} tg_sk SEC(".maps") __weak;

/* identity.trusted_proxies: the sources whose PROXY header is believed
 * (with TG_SET_PROXY_TRUSTED). Value unused. */
struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, TG_MAX_PROXY_TRUSTED);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct tg_lpm_key);
	__type(value, __u8);
} tg_proxy_trusted SEC(".maps") __weak;

/* Interfaces with the TC programs: cgroup_skb skips their packets, so
 * nothing is counted twice when both attach points are configured. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 64);
	__type(key, __u32);
	__type(value, __u8);
} tg_tc_ifaces SEC(".maps") __weak;

/* Lookup keys staged per CPU rather than on the stack: a longest-prefix
 * key is 20 bytes of the deepest call chain's frame otherwise. Not
 * pinned state: rewritten before each use. One slot per program that may
 * interrupt another on the same CPU: the packet programs (TC and
 * cgroup_skb ingress, both in softirq, never nested: slot 0), sockops
 * (TG_STAGE_SLOT 1) and the check (a test run from the agent's process,
 * which a packet's softirq may interrupt: 2). */
#ifndef TG_STAGE_SLOT
#define TG_STAGE_SLOT 0
#endif
#define TG_STAGE_SLOTS 3

struct tg_stage {
	struct tg_lpm_key lpm;
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, TG_STAGE_SLOTS);
	__type(key, __u32);
	__type(value, struct tg_stage);
} tg_stage SEC(".maps") __weak;

/* The longest-prefix key of a full address, in this program's per-CPU
 * stage slot; NULL only if the map is missing. */
static __always_inline struct tg_lpm_key *lpm_key(const struct tg_addr *a)
{
	__u32 slot = TG_STAGE_SLOT;
	struct tg_stage *st = bpf_map_lookup_elem(&tg_stage, &slot);

	if (!st)
		return NULL;
	st->lpm.prefixlen = 128;
	st->lpm.addr = *a;
	return &st->lpm;
}

static __always_inline struct tg_global *global_get(void)
{
	__u32 zero = 0;

	return bpf_map_lookup_elem(&tg_global, &zero);
}

static __always_inline struct tg_integrity *integrity_get(void)
{
	__u32 zero = 0;

	return bpf_map_lookup_elem(&tg_integrity, &zero);
}

static __always_inline struct tg_settings *settings_get(void)
{
	__u32 zero = 0;

	return bpf_map_lookup_elem(&tg_settings, &zero);
}

/* May a PROXY header from this source name the client? Without a
 * trusted list, any source may (identity.proxy_protocol alone). */
static __always_inline int proxy_source_trusted(const struct tg_addr *src)
{
	struct tg_settings *s = settings_get();
	struct tg_lpm_key *k;

	if (!s || !(s->flags & TG_SET_PROXY_TRUSTED))
		return 1;
	k = lpm_key(src);
	return k && bpf_map_lookup_elem(&tg_proxy_trusted, k) != NULL;
}

static __always_inline int port_is_gateway(__u16 port_be)
{
	__u32 port = bpf_ntohs(port_be);
	__u8 *on = bpf_map_lookup_elem(&tg_ports, &port);

	return on && *on;
}

/* A connection needs the per-segment path while its first payload is to
 * come, its request start was dropped, its bytes are charged, or its
 * request's body is still to be read for the model. */
static __always_inline int conn_needs_attention(__u32 flags)
{
	return !(flags & TG_CONN_SEEN_PAYLOAD) || (flags & TG_CONN_ATTENTION);
}

#endif /* TG_MAPS_BPF_H */
