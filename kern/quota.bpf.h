/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* Quota resolution and verdicts, on SYNs and request starts only.
 * Precedence: a deny entry (address) -> an API-key entry (a deny key
 * included) -> the address's longest-prefix CIDR entry (exempt lifts the
 * address limits) -> quotas.default. */
#ifndef TG_QUOTA_BPF_H
#define TG_QUOTA_BPF_H

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include "shared.h"
#include "bucket.h"
#include "maps.bpf.h"
#include "sublimit.bpf.h"

enum tg_verdict {
	TG_PASS = 0,
	TG_DROP = 1,
	TG_OVER = 2, /* passed, over a gateway-action quota: the gateway denies */
	TG_WOULD = 3, /* passed, over a quota that does not drop here (would deny) */
};

/* Where a request's or a connection's limits come from. */
struct tg_resolved {
	struct tg_bucket_key bkey;
	struct tg_quota *q;
	int addr_bucket; /* bkey lives in tg_addr_buckets */
};

static __always_inline struct tg_quota *quota_get(__u32 qid)
{
	return bpf_map_lookup_elem(&tg_quotas, &qid);
}

/* client: the full source address (CIDR match); key: the client key
 * (IPv6 grouped by prefix: per-address buckets). key_hash: 0 for none. */
static __always_inline int quota_resolve(const struct tg_addr *client,
					 const struct tg_addr *key, __u64 key_hash,
					 struct tg_resolved *r)
{
	struct tg_lpm_key *lk = lpm_key(client);
	struct tg_quota *cq = NULL, *q;
	__u32 *qid, cidr_qid = 0;

	__builtin_memset(&r->bkey, 0, sizeof(r->bkey));
	r->addr_bucket = 0;
	r->q = NULL;
	if (!lk)
		return -1;
	qid = bpf_map_lookup_elem(&tg_deny_cidrs, lk);
	if (qid) {
		q = quota_get(*qid);
		if (q) {
			r->bkey.qid = *qid;
			r->q = q;
			return 0;
		}
	}
	qid = bpf_map_lookup_elem(&tg_cidrs, lk);
	if (qid) {
		cidr_qid = *qid;
		cq = quota_get(cidr_qid);
	}
	if (key_hash) {
		qid = bpf_map_lookup_elem(&tg_apikeys, &key_hash);
		q = qid ? quota_get(*qid) : NULL;
		if (q) {
			r->bkey.qid = *qid;
			r->q = q;
			return 0;
		}
	}
	if (cq) {
		r->bkey.qid = cidr_qid;
		r->q = cq;
		if (cq->flags & TG_QUOTA_PER_ADDRESS) {
			r->bkey.addr = *key;
			r->addr_bucket = 1;
		}
		return 0;
	}
	r->q = quota_get(0);
	r->bkey.addr = *key;
	r->addr_bucket = 1;
	return r->q ? 0 : -1;
}

static __always_inline struct tg_bucket *bucket_lookup(const struct tg_bucket_key *k,
							int addr_bucket)
{
	return addr_bucket ? bpf_map_lookup_elem(&tg_addr_buckets, k)
			   : bpf_map_lookup_elem(&tg_buckets, k);
}

/* A new bucket's value, read-only (.rodata): not built on the stack, where
 * its 112 bytes would add to every program's deepest call chain. */
static const struct tg_bucket tg_bucket_zero;

static __always_inline struct tg_bucket *bucket_get(const struct tg_resolved *r)
{
	struct tg_bucket *b = bucket_lookup(&r->bkey, r->addr_bucket);
	struct tg_global *g;

	if (b)
		return b;
	if (r->addr_bucket) {
		if (bpf_map_update_elem(&tg_addr_buckets, &r->bkey, &tg_bucket_zero,
					BPF_NOEXIST) == 0) {
			g = global_get();
			if (g)
				g->addr_buckets++;
		}
	} else {
		bpf_map_update_elem(&tg_buckets, &r->bkey, &tg_bucket_zero, BPF_NOEXIST);
	}
	return bucket_lookup(&r->bkey, r->addr_bucket);
}

/* The first denial of a key in each interval goes to the agent. */
static __always_inline void quota_event(struct tg_bucket *b, const struct tg_resolved *r,
					__u32 type, int enforced,
					const struct tg_addr *client, __u64 now,
					__u64 key_hash, const struct tg_settings *s)
{
	__u64 last = b->last_event_ns;
	struct tg_event *e;
	struct tg_global *g;

	if (last && now - last < s->event_interval_ns)
		return;
	if (__sync_val_compare_and_swap(&b->last_event_ns, last, now) != last)
		return; /* another CPU sends this one */
	e = bpf_ringbuf_reserve(&tg_events, sizeof(*e), 0);
	if (!e) {
		g = global_get();
		if (g)
			g->events_lost++;
		return;
	}
	e->type = type;
	e->qid = r->bkey.qid;
	e->action = r->q->action;
	e->enforced = enforced;
	e->client = *client;
	e->ts_ns = now;
	e->denied = b->denied + b->would_deny + b->conns_denied;
	e->api_key_hash = key_hash;
	bpf_ringbuf_submit(e, 0);
}

/* Beyond quota: drop in enforce mode (unless the action is monitor, or
 * gateway: the kernel never drops for it), count as would-deny otherwise. */
static __always_inline int quota_enforced(const struct tg_quota *q,
					  const struct tg_settings *s)
{
	return s->mode == TG_MODE_ENFORCE && q->action != TG_ACTION_MONITOR &&
	       q->action != TG_ACTION_GATEWAY;
}

/* A request token of a global quota: from the fleet credit while the agent
 * is in sync, from the bucket at the local share otherwise (or all/none
 * in the open/closed fallbacks). 1: admitted. */
static __always_inline int fleet_take(const struct tg_resolved *r, struct tg_bucket *b,
				      __u64 now)
{
	const struct tg_quota *q = r->q;
	__u32 qid = r->bkey.qid;
	struct tg_fleet_slot *f = bpf_map_lookup_elem(&tg_fleet, &qid);
	int ok;

	if (!f)
		return tg_gcra_take(&b->req_tat, now, q->req_interval, q->req_tolerance);
	switch (f->mode) {
	case TG_FLEET_SHARED:
		/* Taken first, given back when there was none: concurrent
		 * takers never admit more than the credit. */
		ok = __sync_fetch_and_add(&f->credit, -1) > 0;
		if (!ok)
			__sync_fetch_and_add(&f->credit, 1);
		break;
	case TG_FLEET_OPEN:
		ok = 1;
		break;
	case TG_FLEET_CLOSED:
		ok = 0;
		break;
	default:
		ok = tg_gcra_take(&b->req_tat, now, q->req_interval, q->req_tolerance);
	}
	__sync_fetch_and_add(ok ? &f->used : &f->denied, 1);
	return ok;
}

/* A request start of `len` payload bytes. `retx`: a retransmission of a
 * start refused before (its request is counted once in denied; each drop
 * in drops). rm: its route and model for the entry's sub-limits
 * (TG_SUB_FROM_STATE: tg_route_state's); *refused (when not NULL): 1 +
 * the slot of the sub-bucket that refused it, else 0. */
static __always_inline int quota_request(const struct tg_resolved *r, struct tg_bucket *b,
					 __u64 now, __u32 len,
					 const struct tg_addr *client, __u64 key_hash,
					 const struct tg_settings *s, int retx, __u32 rm,
					 int *refused)
{
	const struct tg_quota *q = r->q;
	int over, enforced, gateway, sub = -1;

	if (q->action == TG_ACTION_EXEMPT) {
		__sync_fetch_and_add(&b->allowed, 1);
		return TG_PASS;
	}
	over = q->action == TG_ACTION_DENY;
	/* Bytes first (a read): a request refused for its byte debt must not
	 * also take a request token. */
	if (!over && q->byte_interval_fp && tg_gcra_over(&b->byte_tat, now, q->byte_tolerance))
		over = 1;
	/* Sub-limits (sublimit.bpf.h): the entry's bucket looked at, then the
	 * sub-buckets taken (all or none), then the entry's; if the entry's
	 * take fails after all (a race), the sub-buckets get theirs back. */
	if (!over && (q->flags & TG_QUOTA_SUBLIMITS)) {
		if (!(q->flags & TG_QUOTA_GLOBAL) && q->req_interval &&
		    tg_gcra_over(&b->req_tat, now, q->req_tolerance))
			over = 1;
		else if ((sub = tg_sub_take(r->bkey.qid, rm, now)) != 0)
			over = 1;
		if (refused)
			*refused = sub > 0 ? sub : 0;
	}
	if (!over && (q->flags & TG_QUOTA_GLOBAL))
		over = !fleet_take(r, b, now);
	else if (!over && q->req_interval &&
		 !tg_gcra_take(&b->req_tat, now, q->req_interval, q->req_tolerance))
		over = 1;
	if (over && sub == 0)
		tg_sub_refund(r->bkey.qid, rm);
	if (!over) {
		__sync_fetch_and_add(&b->allowed, 1);
		if (q->byte_interval_fp)
			tg_gcra_charge(&b->byte_tat, now, tg_byte_cost(len, q->byte_interval_fp));
		return TG_PASS;
	}
	/* A gateway-action key is denied by the gateway (through /v1/check),
	 * so it counts as denied, though the kernel lets the packet by. */
	gateway = q->action == TG_ACTION_GATEWAY && s->mode == TG_MODE_ENFORCE;
	enforced = quota_enforced(q, s) || gateway;
	if (enforced) {
		if (!retx) {
			__sync_fetch_and_add(&b->denied, 1);
			__sync_fetch_and_add(&b->denied_bytes, len);
		}
		if (!gateway)
			__sync_fetch_and_add(&b->drops, 1);
	} else {
		__sync_fetch_and_add(&b->would_deny, 1);
	}
	quota_event(b, r, TG_EV_DENY_REQUEST, enforced, client, now, key_hash, s);
	return gateway ? TG_OVER : enforced ? TG_DROP : TG_WOULD;
}

/* A new connection (SYN): address-based limits only, no key yet. */
static __always_inline int quota_conn(const struct tg_addr *client, const struct tg_addr *key,
				      __u64 now, const struct tg_settings *s)
{
	struct tg_resolved r;
	struct tg_bucket *b;
	int over, enforced;

	if (quota_resolve(client, key, 0, &r) || !r.q)
		return TG_PASS;
	if (r.q->action == TG_ACTION_EXEMPT)
		return TG_PASS;
	over = r.q->action == TG_ACTION_DENY;
	if (!over && !r.q->conn_interval && !r.q->max_conns)
		return TG_PASS; /* no connection limit: no bucket touched */
	b = bucket_get(&r);
	if (!b)
		return TG_PASS;
	/* max_connections: the open count the sockops program keeps exact.
	 * SYNs in flight together all see the same count, so a burst of them
	 * can overshoot by as many as arrive within one handshake. */
	if (!over && r.q->max_conns && b->open >= (__s64)r.q->max_conns) {
		__sync_fetch_and_add(&b->conns_over_max, 1);
		__sync_fetch_and_add(&b->conns_denied, 1);
		enforced = quota_enforced(r.q, s);
		quota_event(b, &r, TG_EV_MAX_CONNS, enforced, client, now, 0, s);
		return enforced ? TG_DROP : TG_PASS;
	}
	if (!over && r.q->conn_interval &&
	    !tg_gcra_take(&b->conn_tat, now, r.q->conn_interval, r.q->conn_tolerance))
		over = 1;
	if (!over) {
		__sync_fetch_and_add(&b->conns_allowed, 1);
		return TG_PASS;
	}
	enforced = quota_enforced(r.q, s);
	__sync_fetch_and_add(&b->conns_denied, 1);
	quota_event(b, &r, TG_EV_DENY_CONN, enforced, client, now, 0, s);
	return enforced ? TG_DROP : TG_PASS;
}

#endif /* TG_QUOTA_BPF_H */
