/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* Token buckets as GCRA (the generic cell rate algorithm): a bucket is one
 * theoretical arrival time (TAT). A take of `cost` ns is allowed when the
 * TAT is at most `tolerance` ns ahead of now, and moves it to
 * max(TAT, now) + cost. This is exactly a token bucket of rate
 * 1/interval and capacity burst = tolerance/interval + 1, with no floating
 * point, no refill timer and no overflow after a long idle (max() forgets
 * idle time beyond a full bucket).
 *
 * Why not a spin lock: one u64 updated by compare-and-swap is correct when
 * several CPUs take from the same key at once, costs one atomic instead of
 * lock + unlock (~100 ns measured here), and works in LRU hash maps, which
 * do not allow bpf_spin_lock.
 *
 * Plain C: the kernel programs, the agent and the unit tests share it. */
#ifndef TG_BUCKET_H
#define TG_BUCKET_H

#include "shared.h"

#define TG_CAS_TRIES 8
#define TG_NSEC 1000000000ULL

static inline __u64 tg_load_u64(const __u64 *p)
{
	return *(const volatile __u64 *)p;
}

/* 1: allowed, TAT advanced by cost. 0: beyond the tolerance, nothing
 * changed. Losing the race TG_CAS_TRIES times in a row denies: under such
 * contention the key is being drained anyway, and denying fails closed. */
static inline int tg_gcra_take(__u64 *tat, __u64 now, __u64 cost, __u64 tolerance)
{
	for (int i = 0; i < TG_CAS_TRIES; i++) {
		__u64 old = tg_load_u64(tat);
		__u64 base = old > now ? old : now;

		if (base - now > tolerance)
			return 0;
		if (__sync_val_compare_and_swap(tat, old, base + cost) == old)
			return 1;
	}
	return 0;
}

/* Charges cost unconditionally (a debt bucket: bytes already arrived). */
static inline void tg_gcra_charge(__u64 *tat, __u64 now, __u64 cost)
{
	for (int i = 0; i < TG_CAS_TRIES; i++) {
		__u64 old = tg_load_u64(tat);
		__u64 base = old > now ? old : now;

		if (__sync_val_compare_and_swap(tat, old, base + cost) == old)
			return;
	}
	/* The TAT is being pushed ahead of now by others: adding keeps the
	 * charge without the max(). */
	__sync_fetch_and_add(tat, cost);
}

/* 1 when the TAT is more than tolerance ahead: a debt bucket is negative. */
static inline int tg_gcra_over(const __u64 *tat, __u64 now, __u64 tolerance)
{
	__u64 t = tg_load_u64(tat);

	return t > now && t - now > tolerance;
}

/* ns of TAT that `len` bytes cost at interval_fp (ns per byte << 16),
 * split so that neither product can overflow for len < 2^32. */
static inline __u64 tg_byte_cost(__u64 len, __u64 interval_fp)
{
	return len * (interval_fp >> TG_FP_SHIFT) +
	       ((len * (interval_fp & ((1ULL << TG_FP_SHIFT) - 1))) >> TG_FP_SHIFT);
}

#ifndef __bpf__ /* user space only: 128-bit arithmetic */
#include <stdint.h>
/* Fills the GCRA parameters of q from limits (0 = unlimited). Rates are
 * capped by the config: requests and connections ≤ 10^6/s, bytes ≥ 64/s. */
static inline void tg_quota_set_limits(struct tg_quota *q, __u64 rps, __u64 burst,
				       __u64 bps, __u64 bytes_burst, __u64 cps)
{
	q->req_interval = rps ? TG_NSEC / rps : 0;
	q->req_tolerance = rps ? ((burst ? burst : 1) - 1) * q->req_interval : 0;
	q->byte_interval_fp = bps ? (TG_NSEC << TG_FP_SHIFT) / bps : 0;
	/* bytes_burst bytes of debt, in ns: burst / rate seconds */
	q->byte_tolerance = bps ? (__u64)(((unsigned __int128)bytes_burst * TG_NSEC) / bps) : 0;
	q->conn_interval = cps ? TG_NSEC / cps : 0;
	q->conn_tolerance = cps ? (cps - 1) * q->conn_interval : 0;
}

/* Requests (or connections) a bucket would admit right now: burst when
 * full, 0 when empty. */
static inline __s64 tg_gcra_tokens(__u64 tat, __u64 now, __u64 interval, __u64 tolerance)
{
	__u64 ahead = tat > now ? tat - now : 0;

	if (!interval)
		return -1; /* unlimited */
	if (ahead > tolerance)
		return 0;
	return (__s64)((tolerance - ahead) / interval + 1);
}

/* Bytes left in a debt bucket; negative while in debt. 128-bit: the
 * tolerance of a slow, deep bucket exceeds 2^63 ns. */
static inline __s64 tg_gcra_bytes_left(__u64 tat, __u64 now, __u64 interval_fp,
				       __u64 tolerance)
{
	__u64 ahead = tat > now ? tat - now : 0;
	__int128 ns = (__int128)tolerance - (__int128)ahead, bytes;

	if (!interval_fp)
		return 0;
	bytes = ns * (1 << TG_FP_SHIFT) / (__int128)interval_fp;
	if (bytes > INT64_MAX)
		return INT64_MAX;
	if (bytes < INT64_MIN)
		return INT64_MIN;
	return (__s64)bytes;
}
#endif /* !__bpf__ */

#endif /* TG_BUCKET_H */
