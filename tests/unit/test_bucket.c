/* GCRA token buckets (kern/bucket.h), on synthetic time: every `now` is a
 * value the test picks, nothing sleeps. */
#include <criterion/criterion.h>
#include <stdint.h>
#include <string.h>
#include "bucket.h"

#define US 1000ULL
#define MS 1000000ULL
#define T0 (1000ULL * TG_NSEC) /* an arbitrary start: 1000 s of uptime */

struct req_limit {
	__u64 interval;
	__u64 tol;
};

static struct req_limit req_limit(__u64 rps, __u64 burst)
{
	struct tg_quota q;
	struct req_limit l;

	memset(&q, 0, sizeof(q));
	tg_quota_set_limits(&q, rps, burst, 0, 0, 0);
	l.interval = q.req_interval;
	l.tol = q.req_tolerance;
	return l;
}

/* Takes at one instant until refused (at most max). */
static __u64 drain(__u64 *tat, __u64 now, struct req_limit l, __u64 max)
{
	__u64 n = 0;

	while (n < max && tg_gcra_take(tat, now, l.interval, l.tol))
		n++;
	return n;
}

static const struct {
	__u64 rps, burst;
} shapes[] = {
	{ 1, 1 }, { 1, 5 }, { 3, 3 }, { 10, 10 }, { 100, 1 }, { 100, 20 },
	{ 1000, 250 }, { 7, 2 }, { 1000000, 1 }, { 1000000, 1000 }, { 1000000, 1000000 },
};
#define N_SHAPES (sizeof(shapes) / sizeof(shapes[0]))

Test(bucket, full_bucket_admits_exactly_burst_at_one_instant)
{
	for (size_t i = 0; i < N_SHAPES; i++) {
		struct req_limit l = req_limit(shapes[i].rps, shapes[i].burst);
		__u64 tat = 0, n;

		cr_assert_eq(tg_gcra_tokens(tat, T0, l.interval, l.tol), (__s64)shapes[i].burst,
			     "rps %llu burst %llu: a new bucket is full", shapes[i].rps,
			     shapes[i].burst);
		n = drain(&tat, T0, l, shapes[i].burst + 10);
		cr_assert_eq(n, shapes[i].burst, "rps %llu burst %llu: admitted %llu", shapes[i].rps,
			     shapes[i].burst, n);
		cr_assert_eq(tat, T0 + shapes[i].burst * l.interval);
		cr_assert_eq(tg_gcra_take(&tat, T0, l.interval, l.tol), 0);
		cr_assert_eq(tg_gcra_tokens(tat, T0, l.interval, l.tol), 0);
	}
}

Test(bucket, tokens_count_down_with_each_take)
{
	struct req_limit l = req_limit(100, 20);
	__u64 tat = 0;

	for (int j = 0; j < 20; j++) {
		cr_assert_eq(tg_gcra_tokens(tat, T0, l.interval, l.tol), 20 - j);
		cr_assert_eq(tg_gcra_take(&tat, T0, l.interval, l.tol), 1);
	}
	cr_assert_eq(tg_gcra_tokens(tat, T0, l.interval, l.tol), 0);
	/* 2.5 intervals later: two whole tokens */
	cr_assert_eq(tg_gcra_tokens(tat, T0 + 5 * l.interval / 2, l.interval, l.tol), 2);
	/* a whole burst of intervals later: full again, and no more */
	cr_assert_eq(tg_gcra_tokens(tat, T0 + 20 * l.interval, l.interval, l.tol), 20);
	cr_assert_eq(tg_gcra_tokens(tat, T0 + 100 * l.interval, l.interval, l.tol), 20);
}

Test(bucket, refills_one_take_per_interval)
{
	for (size_t i = 0; i < N_SHAPES; i++) {
		struct req_limit l = req_limit(shapes[i].rps, shapes[i].burst);
		__u64 b = shapes[i].burst;
		__u64 ks[] = { 1, 2, 3, b / 2, b - 1, b, b + 1, 3 * b };

		for (size_t j = 0; j < sizeof(ks) / sizeof(ks[0]); j++) {
			__u64 k = ks[j], want = k < b ? k : b, tat = 0, n;

			if (k == 0)
				continue;
			cr_assert_eq(drain(&tat, T0, l, b + 1), b);
			/* one ns early: one fewer */
			__u64 t2 = tat;
			n = drain(&t2, T0 + k * l.interval - 1, l, b + 1);
			cr_assert_eq(n, (k <= b ? k - 1 : b), "rps %llu burst %llu k %llu: %llu early",
				     shapes[i].rps, b, k, n);
			n = drain(&tat, T0 + k * l.interval, l, b + 1);
			cr_assert_eq(n, want, "rps %llu burst %llu k %llu: admitted %llu", shapes[i].rps,
				     b, k, n);
		}
	}
}

/* Offers take after take at every tick (one every `step` ns) over t
 * seconds, the last tick included: the admitted count up to each tick s is
 * exactly floor((s - T0) / interval) + burst, so rate * t + burst in all. */
static void over_offer(__u64 rps, __u64 burst, __u64 step, __u64 secs)
{
	struct req_limit l = req_limit(rps, burst);
	__u64 tat = 0, total = 0;

	for (__u64 s = T0; s <= T0 + secs * TG_NSEC; s += step) {
		__u64 want = (s - T0) / l.interval + burst;

		total += drain(&tat, s, l, burst + step / l.interval + 2);
		if (total != want)
			cr_assert_fail("rps %llu burst %llu: %llu admitted by t=%llu ns, want %llu", rps,
				       burst, total, s - T0, want);
	}
	cr_assert_eq(total, rps * secs + burst, "rps %llu burst %llu: %llu in %llu s", rps, burst,
		     total, secs);
}

Test(bucket, steady_over_offer_admits_rate_times_t_plus_burst, .timeout = 120)
{
	/* a tick every 1 ms: over-offers whenever burst * interval >= 1 ms */
	over_offer(1, 1, MS, 10);
	over_offer(1, 5, MS, 10);
	over_offer(10, 1, MS, 10);
	over_offer(10, 20, MS, 10);
	over_offer(100, 1, MS, 10);
	over_offer(100, 100, MS, 10);
	over_offer(1000, 1, MS, 10);
	over_offer(1000, 50, MS, 10);
	over_offer(1000000, 1000, MS, 10);
	over_offer(1000000, 5000, MS, 10);
	/* a burst of 1 at 10^6/s needs an offer every microsecond */
	over_offer(1000000, 1, US, 10);
}

Test(bucket, refused_take_changes_nothing)
{
	struct req_limit l = req_limit(10, 3);
	__u64 tat = 0, saved;

	cr_assert_eq(drain(&tat, T0, l, 10), 3);
	saved = tat;
	for (int i = 0; i < 100; i++)
		cr_assert_eq(tg_gcra_take(&tat, T0, l.interval, l.tol), 0);
	cr_assert_eq(tat, saved);
	cr_assert_eq(tg_gcra_take(&tat, T0 + l.interval - 1, l.interval, l.tol), 0);
	cr_assert_eq(tat, saved);
	/* the refusals did not cost anything: one interval gives exactly one */
	cr_assert_eq(drain(&tat, T0 + l.interval, l, 10), 1);
	cr_assert_eq(tat, saved + l.interval);
}

Test(bucket, long_idle_neither_overflows_nor_overfills)
{
	const __u64 far = 1ULL << 62;

	for (size_t i = 0; i < N_SHAPES; i++) {
		struct req_limit l = req_limit(shapes[i].rps, shapes[i].burst);
		__u64 b = shapes[i].burst;
		__u64 starts[] = { 0, T0, T0 + 5 * b * l.interval, far - 1 };

		for (size_t j = 0; j < sizeof(starts) / sizeof(starts[0]); j++) {
			__u64 tat = starts[j];

			cr_assert_eq(tg_gcra_tokens(tat, far, l.interval, l.tol), (__s64)b);
			cr_assert_eq(drain(&tat, far, l, b + 10), b, "rps %llu burst %llu tat %llu",
				     shapes[i].rps, b, starts[j]);
			cr_assert_eq(tat, far + b * l.interval);
			cr_assert_eq(tg_gcra_tokens(tat, far, l.interval, l.tol), 0);
		}
	}
}

Test(bucket, far_future_tat_refuses)
{
	struct req_limit l = req_limit(1, 1);
	__u64 tat = 1ULL << 63;

	cr_assert_eq(tg_gcra_take(&tat, T0, l.interval, l.tol), 0);
	cr_assert_eq(tat, 1ULL << 63);
	cr_assert_eq(tg_gcra_tokens(tat, T0, l.interval, l.tol), 0);
}

Test(bucket, unlimited_reports_minus_one_tokens)
{
	struct tg_quota q;

	memset(&q, 0xff, sizeof(q));
	tg_quota_set_limits(&q, 0, 50, 0, 1000, 0);
	cr_assert_eq(tg_gcra_tokens(0, T0, q.req_interval, q.req_tolerance), -1);
	cr_assert_eq(tg_gcra_tokens(T0 * 2, T0, q.req_interval, q.req_tolerance), -1);
	cr_assert_eq(tg_gcra_bytes_left(T0 * 2, T0, q.byte_interval_fp, q.byte_tolerance), 0);
}

/* ---- debt bucket (bytes) ---------------------------------------------- */


/* 1000 B/s with 1000 B of tolerance: one byte per ms. */
static struct tg_quota kb_per_sec(void)
{
	struct tg_quota q;

	memset(&q, 0, sizeof(q));
	tg_quota_set_limits(&q, 0, 0, 1000, 1000, 0);
	cr_assert_eq(q.byte_interval_fp, 1000000ULL << TG_FP_SHIFT);
	cr_assert_eq(q.byte_tolerance, TG_NSEC);
	return q;
}

/* Charges 400 + 600 + 1 + 499 bytes at T0: 500 bytes of debt. */
static __u64 charge_1500(const struct tg_quota *q)
{
	__u64 tat = 0;

	cr_assert_eq(tg_gcra_bytes_left(tat, T0, q->byte_interval_fp, q->byte_tolerance), 1000);
	tg_gcra_charge(&tat, T0, tg_byte_cost(400, q->byte_interval_fp));
	cr_assert_eq(tat, T0 + 400 * 1000000ULL);
	cr_assert_eq(tg_gcra_bytes_left(tat, T0, q->byte_interval_fp, q->byte_tolerance), 600);
	cr_assert_not(tg_gcra_over(&tat, T0, q->byte_tolerance));
	/* exactly at the tolerance: not over */
	tg_gcra_charge(&tat, T0, tg_byte_cost(600, q->byte_interval_fp));
	cr_assert_eq(tg_gcra_bytes_left(tat, T0, q->byte_interval_fp, q->byte_tolerance), 0);
	cr_assert_not(tg_gcra_over(&tat, T0, q->byte_tolerance));
	/* one more byte: in debt */
	tg_gcra_charge(&tat, T0, tg_byte_cost(1, q->byte_interval_fp));
	cr_assert(tg_gcra_over(&tat, T0, q->byte_tolerance));
	/* charging is unconditional: 499 more while in debt */
	tg_gcra_charge(&tat, T0, tg_byte_cost(499, q->byte_interval_fp));
	cr_assert_eq(tat, T0 + 1500 * 1000000ULL);
	return tat;
}

Test(bucket, debt_bucket_goes_over_and_recovers_at_byte_rate)
{
	struct tg_quota q = kb_per_sec();
	__u64 tat = charge_1500(&q);

	/* 500 bytes of debt take 500 ms; the balance then refills a byte per ms */
	for (__u64 ms = 0; ms <= 2000; ms += 50) {
		cr_assert_eq(tg_gcra_over(&tat, T0 + ms * MS, q.byte_tolerance), ms < 500, "at %llu ms",
			     ms);
		if (ms >= 500)
			cr_assert_eq(tg_gcra_bytes_left(tat, T0 + ms * MS, q.byte_interval_fp,
							q.byte_tolerance),
				     (__s64)(ms - 500 < 1000 ? ms - 500 : 1000), "at %llu ms", ms);
	}
	cr_assert(tg_gcra_over(&tat, T0 + 500 * MS - 1, q.byte_tolerance));
	cr_assert_not(tg_gcra_over(&tat, T0 + 500 * MS, q.byte_tolerance));
}

Test(bucket, debt_bytes_left_is_minus_the_debt)
{
	struct tg_quota q = kb_per_sec();
	__u64 tat = 0;

	tg_gcra_charge(&tat, T0, tg_byte_cost(1001, q.byte_interval_fp));
	cr_assert_eq(tg_gcra_bytes_left(tat, T0, q.byte_interval_fp, q.byte_tolerance), -1);
	tat = charge_1500(&q);
	for (__u64 ms = 0; ms < 500; ms += 25)
		cr_assert_eq(tg_gcra_bytes_left(tat, T0 + ms * MS, q.byte_interval_fp, q.byte_tolerance),
			     (__s64)ms - 500, "at %llu ms", ms);
	cr_assert_eq(tg_gcra_bytes_left(tat, T0 + 499 * MS, q.byte_interval_fp, q.byte_tolerance), -1);

	/* 1 MB/s, 64 KiB of tolerance, 100000 bytes after an hour idle */
	memset(&q, 0, sizeof(q));
	tg_quota_set_limits(&q, 0, 0, 1000000, 65536, 0);
	__u64 now = T0 + 3600 * TG_NSEC;
	tat = T0;
	tg_gcra_charge(&tat, now, tg_byte_cost(100000, q.byte_interval_fp));
	cr_assert_eq(tg_gcra_bytes_left(tat, now, q.byte_interval_fp, q.byte_tolerance), -34464);
	cr_assert_eq(tg_gcra_bytes_left(tat, now + 34463ULL * 1000, q.byte_interval_fp,
					q.byte_tolerance), -1);
}

Test(bucket, debt_bucket_forgets_idle_beyond_full)
{
	struct tg_quota q;
	__u64 tat = T0;

	memset(&q, 0, sizeof(q));
	tg_quota_set_limits(&q, 0, 0, 1000000, 65536, 0); /* 1 MB/s: 1000 ns per byte */
	cr_assert_eq(q.byte_tolerance, 65536ULL * 1000);
	/* an hour idle, then 100000 bytes: 100000 - 65536 in debt, not more */
	__u64 now = T0 + 3600 * TG_NSEC;
	tg_gcra_charge(&tat, now, tg_byte_cost(100000, q.byte_interval_fp));
	cr_assert_eq(tat, now + 100000ULL * 1000);
	cr_assert(tg_gcra_over(&tat, now, q.byte_tolerance));
	cr_assert_eq(tg_gcra_bytes_left(tat, now + 34464ULL * 1000, q.byte_interval_fp,
					q.byte_tolerance), 0);
	cr_assert_not(tg_gcra_over(&tat, now + 34464ULL * 1000, q.byte_tolerance));
	cr_assert(tg_gcra_over(&tat, now + 34464ULL * 1000 - 1, q.byte_tolerance));
	cr_assert_eq(tg_gcra_bytes_left(tat, now + 100000ULL * 1000, q.byte_interval_fp,
					q.byte_tolerance), 65536);
	/* a long idle from 2^62 does not wrap */
	tat = 1ULL << 62;
	tg_gcra_charge(&tat, (1ULL << 62) + 10 * TG_NSEC, 5);
	cr_assert_eq(tat, (1ULL << 62) + 10 * TG_NSEC + 5);
	cr_assert_eq(tg_gcra_bytes_left(0, 1ULL << 62, q.byte_interval_fp, q.byte_tolerance), 65536);
	cr_assert_not(tg_gcra_over(&tat, 1ULL << 63, q.byte_tolerance));
}

/* A valid config reaches byte_tolerance > INT64_MAX (bytes_burst up to
 * 10^12, bytes_per_sec down to 64: 1.5625e19 ns); a 64-bit signed
 * computation would wrap to a negative balance. */
Test(bucket, bytes_left_with_tolerance_beyond_int64)
{
	struct tg_quota q;

	memset(&q, 0, sizeof(q));
	tg_quota_set_limits(&q, 0, 0, 64, 1000000000000ULL, 0);
	cr_assert_gt(q.byte_tolerance, (__u64)INT64_MAX);
	cr_assert_eq(tg_gcra_bytes_left(0, T0, q.byte_interval_fp, q.byte_tolerance),
		     1000000000000LL);
	/* 10^6 bytes charged: 10^12 - 10^6 left */
	__u64 tat = 0;
	tg_gcra_charge(&tat, T0, tg_byte_cost(1000000, q.byte_interval_fp));
	cr_assert_eq(tg_gcra_bytes_left(tat, T0, q.byte_interval_fp, q.byte_tolerance),
		     1000000000000LL - 1000000);
}

Test(bucket, over_is_false_when_tat_is_past)
{
	__u64 tat = T0;

	cr_assert_not(tg_gcra_over(&tat, T0, 0));
	cr_assert_not(tg_gcra_over(&tat, T0 + 1, 0));
	cr_assert(tg_gcra_over(&tat, T0 - 1, 0));
	cr_assert_not(tg_gcra_over(&tat, T0 - 1, 1));
}

/* ---- byte cost ---------------------------------------------------------- */

static void check_cost(__u64 len, __u64 rate)
{
	__u64 fp = (TG_NSEC << TG_FP_SHIFT) / rate;
	__u64 got = tg_byte_cost(len, fp);
	__u64 want = (__u64)(((unsigned __int128)len * TG_NSEC) / rate);
	__u64 slack = len / 65536 + 1;

	if (got > want || want - got > slack)
		cr_assert_fail("len %llu rate %llu: cost %llu, exact %llu (slack %llu)", len, rate, got,
			       want, slack);
	/* and it is exactly floor(len * fp / 2^16), without overflow */
	if (got != (__u64)(((unsigned __int128)len * fp) >> TG_FP_SHIFT))
		cr_assert_fail("len %llu rate %llu: cost %llu is not floor(len * fp >> 16)", len, rate,
			       got);
}

static __u64 rnd_state = 0x9e3779b97f4a7c15ULL;

static __u64 rnd(void)
{
	__u64 z = (rnd_state += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

Test(bucket, byte_cost_matches_exact_division)
{
	static const __u64 lens[] = { 0, 1, 2, 63, 64, 1500, 65535, 65536, 65537, 1000000,
				      (1ULL << 31) - 1, 1ULL << 31, 0xfffffffeULL, 0xffffffffULL };
	static const __u64 rates[] = { 64, 65, 100, 999, 1000, 1024, 3000, 65536, 999999, 1000000,
				       3000000, 123456789, 1000000000ULL, 1000000007ULL,
				       99999999999ULL, 1000000000000ULL };

	for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++)
		for (size_t j = 0; j < sizeof(rates) / sizeof(rates[0]); j++)
			check_cost(lens[i], rates[j]);
	for (int i = 0; i < 200000; i++) {
		__u64 len = rnd() & 0xffffffffULL;
		__u64 rate = 64 + rnd() % (1000000000000ULL - 63);

		if (i & 1)
			len >>= rnd() % 32; /* small lengths too */
		if (i & 2)
			rate = 64 + rnd() % 100000; /* and low rates, where fp is large */
		check_cost(len, rate);
	}
}

Test(bucket, byte_cost_exact_when_interval_is_exact)
{
	/* 1e9 / rate a whole number of ns: no rounding at all */
	cr_assert_eq(tg_byte_cost(0xffffffffULL, (TG_NSEC << TG_FP_SHIFT) / 64),
		     0xffffffffULL * 15625000ULL);
	cr_assert_eq(tg_byte_cost(0xffffffffULL, (TG_NSEC << TG_FP_SHIFT) / 1000),
		     0xffffffffULL * 1000000ULL);
	cr_assert_eq(tg_byte_cost(1500, (TG_NSEC << TG_FP_SHIFT) / 1000000000ULL), 1500);
	/* half a ns per byte (2e9 B/s): the fraction part alone */
	cr_assert_eq(tg_byte_cost(1500, (TG_NSEC << TG_FP_SHIFT) / 2000000000ULL), 750);
	cr_assert_eq(tg_byte_cost(3, 1ULL << (TG_FP_SHIFT - 1)), 1);
	cr_assert_eq(tg_byte_cost(0xffffffffULL, 0), 0);
}

/* ---- limits ------------------------------------------------------------- */

Test(bucket, set_limits_zero_is_unlimited)
{
	struct tg_quota q;

	memset(&q, 0xa5, sizeof(q));
	tg_quota_set_limits(&q, 0, 0, 0, 0, 0);
	cr_assert_eq(q.req_interval, 0);
	cr_assert_eq(q.req_tolerance, 0);
	cr_assert_eq(q.byte_interval_fp, 0);
	cr_assert_eq(q.byte_tolerance, 0);
	cr_assert_eq(q.conn_interval, 0);
	cr_assert_eq(q.conn_tolerance, 0);
	/* a burst or bytes_burst without its rate is still unlimited */
	memset(&q, 0xa5, sizeof(q));
	tg_quota_set_limits(&q, 0, 100, 0, 5000, 0);
	cr_assert_eq(q.req_interval, 0);
	cr_assert_eq(q.req_tolerance, 0);
	cr_assert_eq(q.byte_interval_fp, 0);
	cr_assert_eq(q.byte_tolerance, 0);
}

Test(bucket, set_limits_values)
{
	struct tg_quota q;

	memset(&q, 0, sizeof(q));
	tg_quota_set_limits(&q, 100, 20, 1000, 5000, 10);
	cr_assert_eq(q.req_interval, 10000000ULL);
	cr_assert_eq(q.req_tolerance, 19 * 10000000ULL);
	cr_assert_eq(q.byte_interval_fp, 1000000ULL << TG_FP_SHIFT);
	cr_assert_eq(q.byte_tolerance, 5ULL * TG_NSEC);
	cr_assert_eq(q.conn_interval, 100000000ULL);
	cr_assert_eq(q.conn_tolerance, 9 * 100000000ULL);

	/* burst 0 means 1: no tolerance */
	tg_quota_set_limits(&q, 100, 0, 0, 0, 0);
	cr_assert_eq(q.req_interval, 10000000ULL);
	cr_assert_eq(q.req_tolerance, 0);
	cr_assert_eq(q.byte_interval_fp, 0);
	cr_assert_eq(q.conn_interval, 0);
	cr_assert_eq(q.conn_tolerance, 0);

	/* a rate not dividing 10^9: the interval is truncated */
	tg_quota_set_limits(&q, 3, 3, 3, 0, 1);
	cr_assert_eq(q.req_interval, 333333333ULL);
	cr_assert_eq(q.req_tolerance, 666666666ULL);
	cr_assert_eq(q.byte_interval_fp, (TG_NSEC << TG_FP_SHIFT) / 3);
	cr_assert_eq(q.byte_tolerance, 0);
	cr_assert_eq(q.conn_interval, TG_NSEC);
	cr_assert_eq(q.conn_tolerance, 0);

	/* the extremes of the config's ranges */
	tg_quota_set_limits(&q, 1000000, 1000000, 64, 1000000000000ULL, 1000000);
	cr_assert_eq(q.req_interval, 1000);
	cr_assert_eq(q.req_tolerance, 999999ULL * 1000);
	cr_assert_eq(q.byte_interval_fp, 15625000ULL << TG_FP_SHIFT);
	/* 10^12 B at 64 B/s: 1.5625e19 ns, beyond 64-bit intermediates */
	cr_assert_eq(q.byte_tolerance, 15625000000000000000ULL);
	cr_assert_eq(q.conn_interval, 1000);
	cr_assert_eq(q.conn_tolerance, 999999ULL * 1000);

	tg_quota_set_limits(&q, 1, 1, 1000000000000ULL, 1000000000000ULL, 0);
	cr_assert_eq(q.req_interval, TG_NSEC);
	cr_assert_eq(q.req_tolerance, 0);
	cr_assert_eq(q.byte_interval_fp, 65); /* 0.000999 ns per byte */
	cr_assert_eq(q.byte_tolerance, TG_NSEC);
}

Test(bucket, limits_drive_a_bucket_end_to_end)
{
	struct tg_quota q;
	__u64 tat = 0;
	int n = 0;

	memset(&q, 0, sizeof(q));
	tg_quota_set_limits(&q, 5, 3, 0, 0, 2);
	while (tg_gcra_take(&tat, T0, q.req_interval, q.req_tolerance))
		n++;
	cr_assert_eq(n, 3);
	/* connections: burst = rate */
	tat = 0;
	n = 0;
	while (tg_gcra_take(&tat, T0, q.conn_interval, q.conn_tolerance))
		n++;
	cr_assert_eq(n, 2);
	cr_assert_eq(tg_gcra_tokens(tat, T0 + TG_NSEC / 2, q.conn_interval, q.conn_tolerance), 1);
}
