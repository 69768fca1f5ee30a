/* Retry policy: backoff bounds, Retry-After in both forms, statuses. */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <stdint.h>

#include "deliver/retry.h"

Test(retry, backoff_stays_within_full_jitter_bounds)
{
	static const uint32_t rnds[] = { 0, 1, 2, 499, 500, 12345, 0x7fffffff, 0xffffffff };
	unsigned attempt;
	size_t i;

	for (attempt = 0; attempt < 40; attempt++) {
		uint64_t hi = attempt < 20 ? (uint64_t)TG_RETRY_BASE_MS << attempt : UINT64_MAX;

		if (hi > TG_RETRY_CAP_MS)
			hi = TG_RETRY_CAP_MS;
		for (i = 0; i < sizeof(rnds) / sizeof(rnds[0]); i++) {
			uint64_t d =
				tg_retry_backoff_ms(attempt, TG_RETRY_BASE_MS, TG_RETRY_CAP_MS, rnds[i]);

			cr_assert(ge(u64, d, TG_RETRY_BASE_MS), "attempt %u rnd %u", attempt,
				  rnds[i]);
			cr_assert(le(u64, d, hi), "attempt %u rnd %u", attempt, rnds[i]);
		}
	}
}

Test(retry, backoff_first_retry_and_cap)
{
	/* attempt 0: [base, base] */
	cr_assert(eq(u64, tg_retry_backoff_ms(0, 500, 60000, 0xdeadbeef), 500));
	/* attempt 1: [500, 1000], every value reachable */
	cr_assert(eq(u64, tg_retry_backoff_ms(1, 500, 60000, 0), 500));
	cr_assert(eq(u64, tg_retry_backoff_ms(1, 500, 60000, 500), 1000));
	cr_assert(eq(u64, tg_retry_backoff_ms(1, 500, 60000, 501), 500));
	/* far attempts hit the cap without overflowing */
	cr_assert(eq(u64, tg_retry_backoff_ms(31, 500, 60000, 59500), 60000));
	cr_assert(eq(u64, tg_retry_backoff_ms(64, 500, 60000, 59500), 60000));
	cr_assert(eq(u64, tg_retry_backoff_ms(1000, 0xffffffffu, 0xffffffffu, 7), 0xffffffffu));
	/* a cap below the base: the base */
	cr_assert(eq(u64, tg_retry_backoff_ms(3, 500, 100, 7), 500));
}

Test(retry, backoff_spreads)
{
	uint64_t lo = UINT64_MAX, hi = 0;
	uint32_t r;

	for (r = 0; r < 100000; r += 7) {
		uint64_t d = tg_retry_backoff_ms(6, 500, 60000, r * 2654435761u);

		lo = d < lo ? d : lo;
		hi = d > hi ? d : hi;
	}
	cr_assert(lt(u64, lo, 1000));
	cr_assert(gt(u64, hi, 31000));
}

Test(retry, retry_after_seconds)
{
	cr_assert(eq(i64, tg_retry_after_ms("1", 0), 1000));
	cr_assert(eq(i64, tg_retry_after_ms("0", 0), 0));
	cr_assert(eq(i64, tg_retry_after_ms(" 120 ", 0), 120000));
	cr_assert(eq(i64, tg_retry_after_ms("3600", 0), 3600000));
	cr_assert(eq(i64, tg_retry_after_ms("3601", 0), 3600000));
	cr_assert(eq(i64, tg_retry_after_ms("99999999999999999999999", 0), 3600000));
	cr_assert(eq(i64, tg_retry_after_ms("5\r\n", 0), 5000));
}

Test(retry, retry_after_malformed)
{
	cr_assert(eq(i64, tg_retry_after_ms(NULL, 0), -1));
	cr_assert(eq(i64, tg_retry_after_ms("", 0), -1));
	cr_assert(eq(i64, tg_retry_after_ms("   ", 0), -1));
	cr_assert(eq(i64, tg_retry_after_ms("-1", 0), -1));
	cr_assert(eq(i64, tg_retry_after_ms("1.5", 0), -1));
	cr_assert(eq(i64, tg_retry_after_ms("12abc", 0), -1));
	cr_assert(eq(i64, tg_retry_after_ms("soon", 0), -1));
	cr_assert(eq(i64, tg_retry_after_ms("Sun, 06 Nov 1994 08:49:37", 0), -1));
	cr_assert(eq(i64, tg_retry_after_ms("Sun, 06 Nox 1994 08:49:37 GMT", 0), -1));
	cr_assert(eq(i64, tg_retry_after_ms("Sun, 06 Nov 1994 25:49:37 GMT", 0), -1));
	cr_assert(eq(i64, tg_retry_after_ms("Sun, 6 Nov 1994 08:49:37 GMT", 0), -1));
	cr_assert(eq(i64, tg_retry_after_ms("Sun, 06 Nov 1994 08:49:37 GMT trailing", 0), -1));
	cr_assert(eq(i64, tg_retry_after_ms("Sun, 00 Nov 1994 08:49:37 GMT", 0), -1));
	cr_assert(eq(i64, tg_retry_after_ms("Xyz, 06 Nov 1994 08:49:37 GMT", 0), -1));
}

/* 784111777 is Sun, 06 Nov 1994 08:49:37 GMT (RFC 9110's example). */
#define EXAMPLE "Sun, 06 Nov 1994 08:49:37 GMT"
#define EXAMPLE_T 784111777

Test(retry, retry_after_imf_fixdate)
{
	cr_assert(eq(i64, tg_retry_after_ms(EXAMPLE, EXAMPLE_T - 30), 30000));
	cr_assert(eq(i64, tg_retry_after_ms(EXAMPLE, EXAMPLE_T), 0));
	/* in the past: retry now */
	cr_assert(eq(i64, tg_retry_after_ms(EXAMPLE, EXAMPLE_T + 99), 0));
	/* far in the future: capped at an hour */
	cr_assert(eq(i64, tg_retry_after_ms(EXAMPLE, EXAMPLE_T - 86400), 3600000));
	cr_assert(eq(i64, tg_retry_after_ms("Fri, 31 Dec 2049 23:59:59 GMT", 2524607997), 2000));
}

Test(retry, retry_after_obsolete_date_forms)
{
	cr_assert(eq(i64, tg_retry_after_ms("Sunday, 06-Nov-94 08:49:37 GMT", EXAMPLE_T - 5),
		     5000));
	cr_assert(eq(i64, tg_retry_after_ms("Sun Nov  6 08:49:37 1994", EXAMPLE_T - 5), 5000));
	cr_assert(eq(i64, tg_retry_after_ms("Sun Nov 16 08:49:37 1994", EXAMPLE_T + 10 * 86400 - 5),
		     5000));
}

Test(retry, retryable_statuses)
{
	static const long yes[] = { 408, 429, 500, 502, 503, 504, 599 };
	static const long no[] = { 0, 200, 204, 301, 400, 401, 403, 404, 409, 410, 413, 422, 600 };
	size_t i;

	for (i = 0; i < sizeof(yes) / sizeof(yes[0]); i++)
		cr_assert(tg_retry_status(yes[i]), "%ld", yes[i]);
	for (i = 0; i < sizeof(no) / sizeof(no[0]); i++)
		cr_assert(not(tg_retry_status(no[i])), "%ld", no[i]);
}
