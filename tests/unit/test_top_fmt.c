/* The table of `tollgate top`: cells, the latency p50, columns for a
 * terminal width, rows from /v1/clients' JSON, the title line. */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "shared.h"
#include "cli/top_fmt.h"

struct fmt_case {
	double v;
	const char *want;
};

static void check_fmt(void (*fn)(double, char *, size_t), const struct fmt_case *c, size_t n)
{
	char buf[32];

	for (size_t i = 0; i < n; i++) {
		fn(c[i].v, buf, sizeof(buf));
		cr_expect(eq(str, buf, (char *)c[i].want), "%g", c[i].v);
	}
}

#define CHECK_FMT(fn, arr) check_fmt(fn, arr, sizeof(arr) / sizeof(arr[0]))

Test(top_fmt, rates)
{
	static const struct fmt_case c[] = {
		{ 0, "0.0/s" }, { 0.5, "0.5/s" }, { 12.34, "12.3/s" }, { 99.94, "99.9/s" },
		{ 99.96, "100/s" }, { 950, "950/s" }, { 999.4, "999/s" }, { 999.5, "1.0k/s" },
		{ 1234, "1.2k/s" }, { 34567, "34.6k/s" }, { 123456, "123k/s" },
		{ 1.25e6, "1.2M/s" }, { 3e9, "3.0G/s" }, { 5e15, "5000T/s" },
		{ -1, "-" }, { NAN, "-" }, { INFINITY, "-" },
	};

	CHECK_FMT(tg_top_fmt_rate, c);
}

Test(top_fmt, bytes_rates)
{
	static const struct fmt_case c[] = {
		{ 0, "0 B/s" }, { 512, "512 B/s" }, { 999, "999 B/s" }, { 3400, "3.4 kB/s" },
		{ 3.4e6, "3.4 MB/s" }, { 250e6, "250 MB/s" }, { 1.5e9, "1.5 GB/s" },
		{ 2e12, "2.0 TB/s" }, { -1, "-" },
	};

	CHECK_FMT(tg_top_fmt_bytes_rate, c);
}

Test(top_fmt, counts_and_ms)
{
	static const struct fmt_case n[] = {
		{ 0, "0" }, { 7, "7" }, { 950, "950" }, { 1000, "1.0k" }, { 12345, "12.3k" },
		{ 1.2e6, "1.2M" }, { 18446744073709551615.0, "18.4E" }, { -1, "-" },
	};
	static const struct fmt_case ms[] = {
		{ 0, "0.0ms" }, { 0.6, "0.6ms" }, { 9.9, "9.9ms" }, { 12.4, "12ms" },
		{ 999, "999ms" }, { 1300, "1.3s" }, { 17180, "17s" }, { -1, "-" },
	};

	CHECK_FMT(tg_top_fmt_count, n);
	CHECK_FMT(tg_top_fmt_ms, ms);
}

#define U 1.048576 /* ms: bucket 0's upper bound */

Test(top_fmt, latency_quantile)
{
	uint64_t h[TG_LAT_BUCKETS] = { 0 };

	cr_assert(eq(dbl, tg_top_lat_quantile_ms(h, TG_LAT_BUCKETS, 0.5), -1));
	cr_assert(eq(dbl, tg_top_lat_quantile_ms(NULL, TG_LAT_BUCKETS, 0.5), -1));
	h[0] = 1;
	cr_assert(eq(dbl, tg_top_lat_quantile_ms(h, TG_LAT_BUCKETS, 1.5), -1));
	cr_assert(eq(dbl, tg_top_lat_quantile_ms(h, 0, 0.5), -1));
	/* one sample in bucket 0 [0, U): the middle */
	cr_assert(ieee_ulp_eq(dbl, tg_top_lat_quantile_ms(h, TG_LAT_BUCKETS, 0.5), U / 2, 4));
	/* bucket 3 is [4U, 8U) */
	h[0] = 0;
	h[3] = 4;
	cr_assert(ieee_ulp_eq(dbl, tg_top_lat_quantile_ms(h, TG_LAT_BUCKETS, 0.5), 6 * U, 4));
	cr_assert(ieee_ulp_eq(dbl, tg_top_lat_quantile_ms(h, TG_LAT_BUCKETS, 1), 8 * U, 4));
	/* half below, half above: p50 is the top of the lower bucket */
	h[1] = 4; /* [U, 2U) */
	cr_assert(ieee_ulp_eq(dbl, tg_top_lat_quantile_ms(h, TG_LAT_BUCKETS, 0.5), 2 * U, 4));
	/* empty buckets between are skipped */
	h[1] = 1;
	h[3] = 3;
	cr_assert(ieee_ulp_eq(dbl, tg_top_lat_quantile_ms(h, TG_LAT_BUCKETS, 0.5), 4 * U + 4 * U / 3, 4));
	/* the open last bucket gives its lower bound, 2^14 U */
	memset(h, 0, sizeof(h));
	h[TG_LAT_BUCKETS - 1] = 9;
	cr_assert(ieee_ulp_eq(dbl, tg_top_lat_quantile_ms(h, TG_LAT_BUCKETS, 0.5), 16384 * U, 4));
}

static int visible(const struct tg_top_layout *l)
{
	int n = 0;

	for (int i = 0; i < TG_TOP_NCOLS; i++)
		n += l->width[i] > 0;
	return n;
}

Test(top_fmt, layout_for_width)
{
	struct tg_top_layout l;

	/* every column; the address takes what is left, up to its maximum */
	tg_top_layout(120, &l);
	cr_assert(eq(int, visible(&l), TG_TOP_NCOLS));
	cr_assert(eq(int, l.width[TG_TOP_ADDR], TG_TOP_ADDR_MAX));
	cr_assert(le(int, l.total, 120));
	tg_top_layout(89, &l);
	cr_assert(eq(int, visible(&l), TG_TOP_NCOLS));
	cr_assert(eq(int, l.width[TG_TOP_ADDR], TG_TOP_ADDR_MIN));
	/* narrower: the route column goes first */
	tg_top_layout(88, &l);
	cr_assert(eq(int, visible(&l), TG_TOP_NCOLS - 1));
	cr_assert(eq(int, l.width[TG_TOP_ROUTE], 0));
	tg_top_layout(80, &l);
	cr_assert(eq(int, visible(&l), TG_TOP_NCOLS - 1));
	cr_assert(eq(int, l.total, 80));
	cr_assert(eq(int, l.width[TG_TOP_ADDR], 80 - 61));
	tg_top_layout(76, &l);
	cr_assert(eq(int, visible(&l), TG_TOP_NCOLS - 1));
	cr_assert(eq(int, l.width[TG_TOP_ADDR], TG_TOP_ADDR_MIN));
	/* one less: the connections go first, then the latency */
	tg_top_layout(75, &l);
	cr_assert(eq(int, l.width[TG_TOP_CONNS], 0));
	cr_assert(gt(int, l.width[TG_TOP_P50], 0));
	cr_assert(eq(int, l.total, 75));
	tg_top_layout(67, &l);
	cr_assert(eq(int, l.width[TG_TOP_P50], 0));
	cr_assert(gt(int, l.width[TG_TOP_DENIED], 0));
	cr_assert(eq(int, l.total, 67));
	cr_assert(ge(int, l.width[TG_TOP_ADDR], TG_TOP_ADDR_MIN));
	/* the address and the request rate always show */
	tg_top_layout(10, &l);
	cr_assert(eq(int, visible(&l), 2));
	cr_assert(gt(int, l.width[TG_TOP_RPS], 0));
	cr_assert(eq(int, l.width[TG_TOP_ADDR], TG_TOP_ADDR_MIN));
	/* unknown width: 80 */
	tg_top_layout(0, &l);
	cr_assert(eq(int, l.total, 80));
	for (int w = 1; w <= 300; w++) {
		tg_top_layout(w, &l);
		cr_assert(le(int, l.total, w > 25 ? w : 25), "%d", w);
		cr_assert(lt(int, l.total, TG_TOP_LINE_MAX));
	}
}

static const char client_json[] =
	"{\"address\":\"198.18.30.2\",\"prefix\":32,\"requests\":12345,\"bytes\":1,"
	"\"requests_per_sec\":12.5,\"bytes_per_sec\":3400,"
	"\"quota\":{\"name\":\"default\",\"denied\":7,\"would_deny\":3},"
	"\"connections\":{\"open\":2,\"established\":5},"
	"\"responses\":{\"count\":4,\"latency_hist\":[0,0,0,4,0,0,0,0,0,0,0,0,0,0,0,0]},"
	"\"routes\":{\"other\":{\"requests\":5,\"dropped\":0},"
	"\"embeddings\":{\"requests\":12000,\"dropped\":0},\"chat\":{\"requests\":340,\"dropped\":7}}}";

Test(top_fmt, row_from_json)
{
	cJSON *j = cJSON_Parse(client_json);
	struct tg_top_row r;

	cr_assert(eq(int, tg_top_row_from_json(j, false, &r), 0));
	cr_assert(eq(str, r.addr, "198.18.30.2"));
	cr_assert(eq(dbl, r.rps, 12.5));
	cr_assert(eq(dbl, r.bps, 3400));
	cr_assert(eq(dbl, r.requests, 12345));
	cr_assert(eq(dbl, r.denied, 7));
	cr_assert(eq(dbl, r.conns, 2));
	cr_assert(ieee_ulp_eq(dbl, r.p50_ms, 6 * U, 4));
	cr_assert(eq(str, r.route, "embeddings")); /* the most requests */
	/* monitor mode: what would have been denied */
	cr_assert(eq(int, tg_top_row_from_json(j, true, &r), 0));
	cr_assert(eq(dbl, r.denied, 3));
	cJSON_Delete(j);

	j = cJSON_Parse("{\"address\":\"fd00:198:18::\",\"prefix\":64,\"requests\":1,"
			"\"quota\":null,\"connections\":null,\"responses\":null}");
	cr_assert(eq(int, tg_top_row_from_json(j, false, &r), 0));
	cr_assert(eq(str, r.addr, "fd00:198:18::/64"));
	cr_assert(eq(dbl, r.denied, -1));
	cr_assert(eq(dbl, r.conns, -1));
	cr_assert(eq(dbl, r.p50_ms, -1));
	cr_assert(eq(dbl, r.rps, -1)); /* absent */
	cr_assert(eq(str, r.route, "")); /* no routes */
	cJSON_Delete(j);

	/* not a client; odd values never crash */
	j = cJSON_Parse("[1, {\"requests\":1}, {\"address\":5}, {\"address\":\"x\","
			"\"responses\":{\"latency_hist\":[-1,\"a\",1e30,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1]}}]");
	cr_assert(eq(int, tg_top_row_from_json(cJSON_GetArrayItem(j, 0), false, &r), -EINVAL));
	cr_assert(eq(int, tg_top_row_from_json(cJSON_GetArrayItem(j, 1), false, &r), -EINVAL));
	cr_assert(eq(int, tg_top_row_from_json(cJSON_GetArrayItem(j, 2), false, &r), -EINVAL));
	cr_assert(eq(int, tg_top_row_from_json(NULL, false, &r), -EINVAL));
	cr_assert(eq(int, tg_top_row_from_json(cJSON_GetArrayItem(j, 3), false, &r), 0));
	cr_assert(ge(dbl, r.p50_ms, 0));
	cJSON_Delete(j);
}

Test(top_fmt, lines)
{
	cJSON *j = cJSON_Parse(client_json);
	struct tg_top_layout l;
	struct tg_top_row r;
	char buf[TG_TOP_LINE_MAX];

	tg_top_layout(80, &l);
	tg_top_header(&l, false, buf, sizeof(buf));
	cr_assert(eq(str, buf, "CLIENT                  REQ/S     BYTES/S  REQUESTS      DENIED      P50    OPEN"));
	cr_assert(eq(sz, strlen(buf), 80));
	tg_top_header(&l, true, buf, sizeof(buf));
	cr_assert(not(eq(ptr, strstr(buf, "  WOULD-DENY  "), NULL)), "%s", buf);
	tg_top_row_from_json(j, false, &r);
	tg_top_line(&l, &r, buf, sizeof(buf));
	cr_assert(eq(str, buf, "198.18.30.2            12.5/s    3.4 kB/s     12.3k           7    6.3ms       2"));
	/* a long address is cut, with a mark */
	snprintf(r.addr, sizeof(r.addr), "ffff:ffff:ffff:ffff:ffff:ffff:ffff:0/128");
	tg_top_line(&l, &r, buf, sizeof(buf));
	cr_assert(eq(int, strncmp(buf, "ffff:ffff:ffff:fff+  ", 21), 0), "%s", buf);
	cr_assert(eq(sz, strlen(buf), 80));
	/* wide enough for the route column */
	tg_top_layout(100, &l);
	tg_top_header(&l, false, buf, sizeof(buf));
	cr_assert(eq(int, strcmp(buf + strlen(buf) - 11, "  TOP-ROUTE"), 0), "%s", buf);
	tg_top_line(&l, &r, buf, sizeof(buf));
	cr_assert(eq(int, strcmp(buf + strlen(buf) - 12, "  embeddings"), 0), "%s", buf);
	/* a narrow terminal: fewer columns, same line width rule */
	tg_top_layout(40, &l);
	tg_top_line(&l, &r, buf, sizeof(buf));
	cr_assert(le(sz, strlen(buf), 40));
	tg_top_header(&l, false, buf, sizeof(buf));
	cr_assert(eq(str, buf, "CLIENT                 REQ/S     BYTES/S"));
	cr_assert(eq(sz, strlen(buf), 40));
	/* a small buffer is never overrun */
	tg_top_line(&l, &r, buf, 8);
	cr_assert(eq(sz, strlen(buf), 7));
	cJSON_Delete(j);
}

Test(top_fmt, title)
{
	cJSON *j = cJSON_Parse("{\"status\":\"ok\",\"instance\":\"edge-1\",\"mode\":\"monitor\","
			       "\"clients\":3,\"requests_per_sec\":1234.5,\"bytes_per_sec\":5e6}");
	char buf[256];
	bool monitor = false;

	tg_top_title(j, "12:00:01", buf, sizeof(buf), &monitor);
	cr_assert(eq(str, buf, "tollgate top  instance edge-1  mode monitor  clients 3  "
			 "total 1.2k/s  5.0 MB/s  12:00:01"));
	cr_assert(monitor);
	cJSON_Delete(j);
	j = cJSON_Parse("{\"mode\":\"enforce\"}");
	tg_top_title(j, "t", buf, sizeof(buf), &monitor);
	cr_assert(not(monitor));
	cr_assert(eq(str, buf, "tollgate top  instance ?  mode enforce  clients -  total -  -  t"));
	cJSON_Delete(j);
	tg_top_title(NULL, "12:00:02", buf, sizeof(buf), &monitor);
	cr_assert(eq(str, buf, "tollgate top  12:00:02"));
	cr_assert(not(monitor));
}

/* status and top name a client one way, the way /v1/clients/{client}
 * takes it back: an address for a host, a network with its prefix. */
Test(top_fmt, client_form)
{
	char buf[TG_TOP_ADDR_MAX + 1];

	tg_top_fmt_client("127.0.0.1", 32, buf, sizeof(buf));
	cr_assert(eq(str, buf, "127.0.0.1"));
	tg_top_fmt_client("fd00:198:18::", 64, buf, sizeof(buf));
	cr_assert(eq(str, buf, "fd00:198:18::/64"));
	tg_top_fmt_client("fd00:198:18::5", 128, buf, sizeof(buf));
	cr_assert(eq(str, buf, "fd00:198:18::5"));
	tg_top_fmt_client("ffff:ffff:ffff:ffff:ffff:ffff:ffff:0", 127, buf, sizeof(buf));
	cr_assert(eq(str, buf, "ffff:ffff:ffff:ffff:ffff:ffff:ffff:0/127"));
}
