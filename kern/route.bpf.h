/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* Routes: a request start's path, matched against up to TG_MAX_ROUTES
 * prefixes, and its counts per (client, route) and (key, route).
 *
 * The match runs inside the request start's header scan (scan.bpf.h),
 * on the bytes it copied to the per-CPU scratch. Why an array of
 * prefixes compared word by word rather than an LPM trie or hashes of the
 * path's prefixes: a trie or hash lookup is a helper call per lookup
 * (dear under the SRSO mitigation, ~30-60 ns each), and the hash scheme
 * needs one per distinct prefix length. The array is one inlined lookup;
 * a route whose first 8 bytes differ from the path's is rejected by one
 * masked compare, so 32 routes cost ~200 instructions at most, without a
 * helper call. The agent sorts the routes longest first: the first
 * match is the longest prefix.
 *
 * A prefix holds no ' ', '?' or control byte (the config refuses them), so
 * a byte-wise prefix compare never matches across the end of the path or
 * into its query string: no terminator search is needed. Bytes past what
 * was copied are zeroed, and no prefix holds a zero byte. */
#ifndef TG_ROUTE_BPF_H
#define TG_ROUTE_BPF_H

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include "shared.h"
#include "http_token.h"
#include "maps.bpf.h"
#include "scan.bpf.h"

/* The configured routes, written by the agent, longest prefix first. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct tg_route_table);
} tg_route_table SEC(".maps") __weak;

/* The current request start's route and quota id, per CPU: set by the
 * scan, read where the request is counted (not on the stack, which the
 * packet program's chain of calls has used up). */
struct tg_route_state {
	__u64 path[TG_ROUTE_WORDS]; /* the path's first bytes, zero past the copy */
	__u32 route;                /* TG_ROUTE_OTHER or 1..TG_MAX_ROUTES */
	__u32 qid;                  /* TG_ROUTE_NO_QID when no quota entry applies */
	struct tg_route_key key;    /* tg_route_count's lookup key */
	struct tg_route_count fresh; /* ... and the value it inserts */
	/* The request's model and body figures (models); req.route mirrors
	 * route once the scan has matched it. */
	struct tg_req_info req;
	struct tg_path_sketch sketch; /* route_scan: the value a first insert writes */
	__u32 body_wait; /* the start's segment ended with its headers: the
			  * body (for the model) comes in the next one */
	__u32 pad;
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct tg_route_state);
} tg_route_state SEC(".maps") __weak;

/* Request starts per (client, route): shared values, atomic adds; sized
 * like tg_clients by the agent. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 262144);
	__type(key, struct tg_route_key);
	__type(value, struct tg_route_count);
} tg_route_clients SEC(".maps") __weak;

/* route_scan: distinct unmatched paths per client (struct tg_path_sketch);
 * sized by the agent, 1 entry while the detector is off. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 4096);
	__type(key, struct tg_addr);
	__type(value, struct tg_path_sketch);
} tg_route_scan SEC(".maps") __weak;

/* Request starts per (quota id, route): index qid * TG_ROUTE_IDS + route.
 * A plain array (not per CPU): its memory does not grow with the CPUs. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, TG_MAX_QUOTAS * TG_ROUTE_IDS);
	__type(key, __u32);
	__type(value, struct tg_route_count);
} tg_route_keys SEC(".maps") __weak;

/* The path's first TG_ROUTE_PREFIX_MAX bytes into tg_route_state, from
 * the request start whose first `loaded` bytes are in the scratch buffer;
 * 0 when it has no request-line shape (the route stays "other"). The
 * method ends at the first space of the first 8 bytes (a method is at
 * most 7 letters). Global functions with their state in map memory and
 * loops kept rolled: the packet program's chain of calls leaves them
 * ~40 bytes of stack. */
__noinline __weak int tg_route_path(__u32 loaded)
{
	__u32 zero = 0, p0, at;
	struct tg_scratch *sc = bpf_map_lookup_elem(&tg_scratch, &zero);
	struct tg_route_state *rs = bpf_map_lookup_elem(&tg_route_state, &zero);
	__u64 sp;

	if (!sc || !rs)
		return 0;
	rs->route = TG_ROUTE_OTHER;
	if (loaded > TG_SCAN_MAX)
		return 0;
	sp = zero_bytes(scratch_aligned(sc, 0, 0) ^ TG_SP_BYTES) & TG_HIGH1 &
	     tg_bytes_mask(loaded);
	if (!sp)
		return 0;
	p0 = lowest_flagged_byte(sp) + 1; /* 1..8 */
	if (p0 < 2)
		return 0; /* no method */
#pragma nounroll
	for (__u32 k = 0; k < TG_ROUTE_WORDS; k++) {
		at = (p0 + 8 * k) & (TG_SCAN_MAX - 1); /* < 72: inside the buffer */
		rs->path[k] = scratch_word(sc, at) & tg_bytes_mask(loaded > at ? loaded - at : 0);
	}
	return 1;
}

/* The longest configured prefix of the path in tg_route_state, into its
 * route. */
__noinline __weak int tg_route_match(void)
{
	__u32 zero = 0;
	struct tg_route_state *rs = bpf_map_lookup_elem(&tg_route_state, &zero);
	struct tg_route_table *rt = bpf_map_lookup_elem(&tg_route_table, &zero);

	if (!rs || !rt)
		return 0;
#pragma nounroll
	for (__u32 i = 0; i < TG_MAX_ROUTES; i++) {
		const struct tg_route_prefix *r;
		__u64 diff = 0;

		if (i >= rt->n)
			break;
		r = &rt->r[i];
		if ((rs->path[0] & r->m[0]) != r->w[0])
			continue;
#pragma nounroll
		for (__u32 k = 1; k < TG_ROUTE_WORDS; k++)
			diff |= (rs->path[k] & r->m[k]) ^ r->w[k];
		if (!diff) {
			rs->route = r->id;
			return 0;
		}
	}
	return 0;
}

/* Before a request start's scan: no route or quota id known yet; the
 * client key it counts under, kept in map memory (not live in a register
 * of the packet program's big frame across the verdict). */
static __always_inline void route_begin(const struct tg_addr *ckey)
{
	__u32 zero = 0;
	struct tg_route_state *rs = bpf_map_lookup_elem(&tg_route_state, &zero);
	struct tg_scratch *sc = bpf_map_lookup_elem(&tg_scratch, &zero);

	if (sc)
		sc->gen++; /* see tg_scratch.gen */
	if (rs) {
		rs->route = TG_ROUTE_OTHER;
		rs->qid = TG_ROUTE_NO_QID;
		rs->key.addr = *ckey;
		rs->path[0] = 0; /* no path until tg_route_path copies one */
		rs->req.route = TG_ROUTE_OTHER;
		rs->req.model = TG_MODEL_NONE;
		rs->req.max_tokens = 0;
		rs->req.flags = 0;
		rs->body_wait = 0;
	}
}

/* The quota id the request start resolved to. */
static __always_inline void route_note_qid(__u32 qid)
{
	__u32 zero = 0;
	struct tg_route_state *rs = bpf_map_lookup_elem(&tg_route_state, &zero);

	if (rs)
		rs->qid = qid;
}

#define TG_QM_BYTES 0x3f3f3f3f3f3f3f3fULL /* '?' in every byte */
#define TG_HASH_MUL 0x9e3779b97f4a7c15ULL

/* Notes the path of an unmatched request start in its client's route_scan
 * sketch. The path is hashed up to its first ' ', '?' or end of the copy
 * (at most its first 64 bytes): a query string does not make a path new.
 * A window change clears the bits with plain stores, so a CPU setting a
 * bit at that moment may lose it: one path less in an estimate. */
__noinline __weak int tg_route_scan_note(void)
{
	__u32 zero = 0, idx;
	struct tg_route_state *rs = bpf_map_lookup_elem(&tg_route_state, &zero);
	struct tg_route_table *rt = bpf_map_lookup_elem(&tg_route_table, &zero);
	struct tg_path_sketch *s;
	__u64 h = TG_HASH_MUL, win;

	if (!rs || !rt || !rt->scan_window_ms || !rs->path[0])
		return 0;
#pragma nounroll
	for (__u32 k = 0; k < TG_ROUTE_WORDS; k++) {
		__u64 w = rs->path[k];
		__u64 stop = (zero_bytes(w ^ TG_SP_BYTES) | zero_bytes(w ^ TG_QM_BYTES) |
			      zero_bytes(w)) & TG_HIGH1;

		if (stop)
			w &= tg_bytes_mask(lowest_flagged_byte(stop));
		h = (h ^ w) * TG_HASH_MUL;
		if (stop)
			break;
	}
	h ^= h >> 29;
	h *= TG_HASH_MUL;
	idx = (__u32)(h >> 56); /* 0..255 */
	win = bpf_ktime_get_ns() / ((__u64)rt->scan_window_ms * 1000000);
	s = bpf_map_lookup_elem(&tg_route_scan, &rs->key.addr);
	if (!s) {
		__builtin_memset(&rs->sketch, 0, sizeof(rs->sketch));
		rs->sketch.window = win;
		rs->sketch.bits[(idx >> 6) & 3] = 1ULL << (idx & 63);
		if (bpf_map_update_elem(&tg_route_scan, &rs->key.addr, &rs->sketch, BPF_NOEXIST) == 0)
			return 0;
		s = bpf_map_lookup_elem(&tg_route_scan, &rs->key.addr);
		if (!s)
			return 0;
	}
	if (s->window != win) {
		s->window = win;
		s->bits[0] = 0;
		s->bits[1] = 0;
		s->bits[2] = 0;
		s->bits[3] = 0;
	}
	__sync_fetch_and_or(&s->bits[(idx >> 6) & 3], 1ULL << (idx & 63));
	return 0;
}

static __always_inline void route_add(struct tg_route_count *c, int dropped)
{
	__sync_fetch_and_add(&c->requests, 1);
	if (dropped)
		__sync_fetch_and_add(&c->dropped, 1);
}

/* Counts a request start of the client route_begin() named under its
 * route and its quota id's route. A global function: verified once. The
 * insert of a first request races with another CPU's; the loser adds to
 * the winner's entry, so no count is lost. */
__noinline __weak int tg_route_count(int dropped)
{
	__u32 zero = 0, idx;
	struct tg_route_state *rs = bpf_map_lookup_elem(&tg_route_state, &zero);
	struct tg_route_count *c;

	if (!rs)
		return 0;
	if (rs->route > TG_MAX_ROUTES)
		rs->route = TG_ROUTE_OTHER;
	rs->key.route = rs->route;
	rs->key.pad = 0;
	c = bpf_map_lookup_elem(&tg_route_clients, &rs->key);
	if (!c) {
		rs->fresh.requests = 1;
		rs->fresh.dropped = dropped ? 1 : 0;
		if (bpf_map_update_elem(&tg_route_clients, &rs->key, &rs->fresh, BPF_NOEXIST) == 0)
			goto keys;
		c = bpf_map_lookup_elem(&tg_route_clients, &rs->key);
	}
	if (c)
		route_add(c, dropped);
keys:
	if (rs->route == TG_ROUTE_OTHER)
		tg_route_scan_note();
	if (rs->qid >= TG_MAX_QUOTAS)
		return 0;
	idx = rs->qid * TG_ROUTE_IDS + rs->route;
	c = bpf_map_lookup_elem(&tg_route_keys, &idx);
	if (c)
		route_add(c, dropped);
	return 0;
}

#endif /* TG_ROUTE_BPF_H */
