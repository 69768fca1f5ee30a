/* Rate computation, per-CPU aggregation, address formatting and sorting. */
#include <arpa/inet.h>
#include <errno.h>
#include <criterion/criterion.h>
#include <string.h>
#include "telemetry/rates.h"
#include "lib/addr.h"

static struct tg_client_view view(const char *addr, uint64_t req, uint64_t bytes)
{
	struct tg_client_view v;

	memset(&v, 0, sizeof(v));
	cr_assert_eq(tg_addr_parse(addr, &v.addr), 0);
	v.requests = req;
	v.bytes = bytes;
	return v;
}

Test(rates, counter_delta_over_time)
{
	cr_assert_float_eq(tg_rate(100, 150, 0.5), 100.0, 1e-9);
	cr_assert_float_eq(tg_rate(7, 7, 1.0), 0.0, 1e-9);
	cr_assert_float_eq(tg_rate(0, 10, 0.0), 0.0, 1e-9, "no time, no rate");
	/* an evicted and recreated entry restarts from zero */
	cr_assert_float_eq(tg_rate(1000, 30, 1.0), 30.0, 1e-9);
}

Test(rates, snapshots_matched_by_address)
{
	struct tg_client_view prev[2] = { view("198.18.0.2", 10, 1000), view("198.18.0.3", 5, 500) };
	struct tg_client_view cur[3] = { view("198.18.0.9", 4, 40), view("198.18.0.3", 25, 2500),
					 view("198.18.0.2", 10, 1000) };

	qsort(prev, 2, sizeof(prev[0]), tg_addr_cmp);
	tg_rates_compute(cur, 3, prev, 2, true, 2.0);
	/* cur is now sorted by address */
	cr_assert_float_eq(cur[0].requests_per_sec, 0.0, 1e-9);    /* .2 idle */
	cr_assert_float_eq(cur[1].requests_per_sec, 10.0, 1e-9);   /* .3 */
	cr_assert_float_eq(cur[1].bytes_per_sec, 1000.0, 1e-9);
	cr_assert_float_eq(cur[2].requests_per_sec, 2.0, 1e-9);    /* .9 new */
	cr_assert_float_eq(cur[1].syns_per_sec, 0.0, 1e-9);
}

Test(rates, first_snapshot_has_no_rates)
{
	struct tg_client_view cur[1] = { view("198.18.0.2", 1000, 1) };

	tg_rates_compute(cur, 1, NULL, 0, false, 1.0);
	cr_assert_float_eq(cur[0].requests_per_sec, 0.0, 1e-9);
}

Test(rates, aggregate_sums_cpus_and_takes_time_bounds)
{
	struct tg_client pc[3];
	struct tg_client_view v;
	struct tg_addr a;

	memset(pc, 0, sizeof(pc));
	tg_addr_parse("198.18.0.2", &a);
	pc[0].requests = 1; pc[0].first_seen_ns = 500; pc[0].last_seen_ns = 600;
	pc[1].requests = 2; pc[1].first_seen_ns = 0;   pc[1].last_seen_ns = 0;
	pc[2].requests = 3; pc[2].first_seen_ns = 400; pc[2].last_seen_ns = 900;
	pc[2].size_hist[3] = 7;
	pc[0].size_hist[3] = 1;
	tg_client_aggregate(&v, &a, pc, sizeof(pc[0]), 3);
	cr_assert_eq(v.requests, 6);
	cr_assert_eq(v.first_seen_ns, 400, "a CPU that never saw it does not count");
	cr_assert_eq(v.last_seen_ns, 900);
	cr_assert_eq(v.size_hist[3], 8);
}

Test(rates, address_text_round_trip)
{
	struct tg_addr a;
	char buf[64];

	cr_assert_eq(tg_addr_parse("198.18.0.2", &a), 0);
	cr_assert(tg_addr_is_v4(&a));
	cr_assert_eq(a.w[2], htonl(0xffff));
	tg_addr_format(&a, buf, sizeof(buf));
	cr_assert_str_eq(buf, "198.18.0.2");
	cr_assert_eq(tg_addr_parse("fd00:198:18::", &a), 0);
	cr_assert_not(tg_addr_is_v4(&a));
	tg_addr_format(&a, buf, sizeof(buf));
	cr_assert_str_eq(buf, "fd00:198:18::");
	cr_assert_eq(tg_addr_parse("198.18.0.300", &a), -EINVAL);
	cr_assert_eq(tg_addr_parse("", &a), -EINVAL);
}

Test(rates, sort_keys)
{
	struct tg_client_view v[3] = { view("198.18.0.2", 5, 900), view("198.18.0.3", 50, 10),
				       view("198.18.0.1", 5, 100) };
	size_t idx[3];

	v[0].requests_per_sec = 1;
	v[1].requests_per_sec = 3;
	v[2].requests_per_sec = 2;
	tg_sort_clients(v, 3, TG_SORT_REQUESTS, idx);
	cr_assert_eq(idx[0], 1);
	cr_assert_eq(idx[1], 2, "a tie is broken by address");
	cr_assert_eq(idx[2], 0);
	tg_sort_clients(v, 3, TG_SORT_BYTES, idx);
	cr_assert_eq(idx[0], 0);
	tg_sort_clients(v, 3, TG_SORT_RPS, idx);
	cr_assert_eq(idx[0], 1);
	cr_assert_eq(idx[1], 2);
	tg_sort_clients(v, 3, TG_SORT_ADDRESS, idx);
	cr_assert_eq(idx[0], 2);
	cr_assert_eq(tg_sort_key_parse("requests_per_sec"), TG_SORT_RPS);
	cr_assert_eq(tg_sort_key_parse("nope"), -1);
}
