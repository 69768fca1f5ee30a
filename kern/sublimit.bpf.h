/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* Sub-limits: a quota entry's per_route and per_model buckets. A request
 * start of an entry with sub-limits must pass the entry's own request
 * bucket, its route's sub-bucket and its model's; a refused request takes
 * no token from any of them.
 *
 * Check, then commit, and a refund only after a lost race. Each bucket is
 * one GCRA TAT moved by compare-and-swap (bucket.h), and no two TATs can
 * be swapped as one, so "all or none" is built from three steps:
 *  1. look (read only) at every bucket: any that would refuse refuses the
 *     request, and nothing was taken (the usual refusal);
 *  2. take from the sub-buckets, then from the entry's bucket, each with
 *     its own compare-and-swap: two CPUs racing for a bucket's last token
 *     never both get it;
 *  3. a take refused in step 2 (another CPU took the last token between
 *     the look and the take) gives back the tokens taken before it.
 * Why not refunds alone (take all, give back on a refusal): a refusal is
 * the common case of a client over its route's limit, and each refund
 * briefly holds a token another request may be refused for. The look
 * makes refunds rare: only a race within the same microsecond needs one.
 *
 * A refund subtracts the cost from the TAT (an atomic add). A take made
 * by another CPU between our take and our refund found the TAT ahead of
 * its own clock (our take put it at least one interval, >= 1 us, ahead of
 * ours, and the refund follows within the same program run), so it added
 * its cost to our TAT, and taking ours back leaves exactly its own. The
 * only inexactness: its cost counts from our clock, not its own, a
 * difference of the nanoseconds between the two reads: never a token.
 *
 * The sub-buckets are plain arrays indexed by quota id and slot (routes,
 * then models): shared values with atomics, so their memory does not grow
 * with the CPUs. The functions are global (verified once) and keep their
 * state in registers: the packet program's chain of calls has almost no
 * stack left. */
#ifndef TG_SUBLIMIT_BPF_H
#define TG_SUBLIMIT_BPF_H

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include "shared.h"
#include "bucket.h"
#include "route.bpf.h"

/* The sub-limits, written by the agent. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, TG_MAX_QUOTAS * TG_SUB_SLOTS);
	__type(key, __u32);
	__type(value, struct tg_sub_limit);
} tg_sub_limits SEC(".maps") __weak;

/* Their buckets: a shared value per slot, atomics. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, TG_MAX_QUOTAS * TG_SUB_SLOTS);
	__type(key, __u32);
	__type(value, struct tg_sub_bucket);
} tg_sub_buckets SEC(".maps") __weak;

/* tg_sub_take's `rm` on the packet path: the route and model are those
 * of the request start in tg_route_state. */
#define TG_SUB_FROM_STATE 0xffffffffu

/* The route and model slots of rm (-1: none): a request start always has
 * a route (TG_ROUTE_OTHER included), a model only when it named one. */
static __always_inline void sub_slots(__u32 rm, __s32 *rslot, __s32 *mslot)
{
	__u32 route, model, zero = 0;

	if (rm == TG_SUB_FROM_STATE) {
		struct tg_route_state *rs = bpf_map_lookup_elem(&tg_route_state, &zero);

		if (!rs) {
			route = TG_ROUTE_OTHER;
			model = TG_MODEL_NONE;
		} else {
			route = rs->route;
			model = rs->req.model;
		}
	} else {
		route = rm & 0xffff;
		model = rm >> 16;
	}
	/* a check whose gateway passed no URI has no route (0xffff) */
	*rslot = route <= TG_MAX_ROUTES ? (__s32)route : -1;
	*mslot = model <= TG_MAX_MODELS ? (__s32)TG_SUB_MODEL_SLOT(model) : -1;
}

/* The limit and bucket of slot `slot` of quota qid, NULL when the slot
 * has no sub-limit. */
static __always_inline struct tg_sub_bucket *sub_get(__u32 qid, __s32 slot,
						     struct tg_sub_limit **lim)
{
	__u32 idx;

	if (slot < 0 || slot >= TG_SUB_SLOTS || qid >= TG_MAX_QUOTAS)
		return NULL;
	idx = qid * TG_SUB_SLOTS + (__u32)slot;
	*lim = bpf_map_lookup_elem(&tg_sub_limits, &idx);
	if (!*lim || !(*lim)->interval)
		return NULL;
	return bpf_map_lookup_elem(&tg_sub_buckets, &idx);
}

/* A token back into a sub-bucket that took it for a request refused after
 * all: its TAT moved back one interval, the refund counted. */
static __always_inline void sub_give_back(struct tg_sub_bucket *b, const struct tg_sub_limit *l)
{
	__sync_fetch_and_sub(&b->tat, l->interval);
	__sync_fetch_and_add(&b->refunds, 1);
}

/* Takes a token from every sub-bucket of quota qid that the request
 * (route and model in rm) falls under: all of them, or none. 0: taken
 * (or no sub-limit applies); else 1 + the slot of the sub-bucket that
 * refused, with nothing taken. */
__noinline __weak int tg_sub_take(__u32 qid, __u32 rm, __u64 now)
{
	struct tg_sub_limit *rl = NULL, *ml = NULL;
	struct tg_sub_bucket *rb, *mb;
	__s32 rslot, mslot;

	sub_slots(rm, &rslot, &mslot);
	rb = sub_get(qid, rslot, &rl);
	mb = sub_get(qid, mslot, &ml);
	/* 1. look */
	if (rb && rl && tg_gcra_over(&rb->tat, now, rl->tolerance))
		goto route_refused;
	if (mb && ml && tg_gcra_over(&mb->tat, now, ml->tolerance))
		goto model_refused;
	/* 2. take */
	if (rb && rl && !tg_gcra_take(&rb->tat, now, rl->interval, rl->tolerance))
		goto route_refused;
	if (mb && ml && !tg_gcra_take(&mb->tat, now, ml->interval, ml->tolerance)) {
		/* 3. the route's token back */
		if (rb && rl)
			sub_give_back(rb, rl);
		goto model_refused;
	}
	if (rb)
		__sync_fetch_and_add(&rb->allowed, 1);
	if (mb)
		__sync_fetch_and_add(&mb->allowed, 1);
	return 0;
route_refused:
	if (rb)
		__sync_fetch_and_add(&rb->denied, 1);
	return 1 + rslot;
model_refused:
	if (mb)
		__sync_fetch_and_add(&mb->denied, 1);
	return 1 + mslot;
}

/* Gives back what tg_sub_take took for the same request: the entry's own
 * bucket refused it after all (step 3). */
__noinline __weak int tg_sub_refund(__u32 qid, __u32 rm)
{
	struct tg_sub_limit *rl = NULL, *ml = NULL;
	struct tg_sub_bucket *rb, *mb;
	__s32 rslot, mslot;

	sub_slots(rm, &rslot, &mslot);
	rb = sub_get(qid, rslot, &rl);
	mb = sub_get(qid, mslot, &ml);
	if (rb && rl) {
		sub_give_back(rb, rl);
		__sync_fetch_and_sub(&rb->allowed, 1);
	}
	if (mb && ml) {
		sub_give_back(mb, ml);
		__sync_fetch_and_sub(&mb->allowed, 1);
	}
	return 0;
}

#endif /* TG_SUBLIMIT_BPF_H */
