/* The table of `tollgate top`: numbers to short cells, columns to a
 * terminal width, the API's JSON to rows. */
#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "shared.h"
#include "cli/top_fmt.h"

/* Hidden columns go in this order when the terminal is narrow. */
static const enum tg_top_col drop_order[] = {
	TG_TOP_ROUTE, TG_TOP_CONNS, TG_TOP_P50, TG_TOP_DENIED, TG_TOP_REQS, TG_TOP_BPS,
};

static const int col_width[TG_TOP_NCOLS] = {
	[TG_TOP_RPS] = 8,     /* "999.9k/s" */
	[TG_TOP_BPS] = 10,    /* "999.9 MB/s" */
	[TG_TOP_REQS] = 8,    /* "REQUESTS" */
	[TG_TOP_DENIED] = 10, /* "WOULD-DENY" */
	[TG_TOP_P50] = 7,     /* "999ms", "16.8s" */
	[TG_TOP_CONNS] = 6,   /* "999.9k" */
	[TG_TOP_ROUTE] = 11,  /* a route name, cut to fit */
};

void tg_top_layout(int term_width, struct tg_top_layout *l)
{
	size_t dropped = 0;
	int others, avail;

	if (term_width <= 0)
		term_width = 80;
	memcpy(l->width, col_width, sizeof(l->width));
	for (;;) {
		others = 0;
		for (int i = 1; i < TG_TOP_NCOLS; i++)
			if (l->width[i])
				others += TG_TOP_GAP + l->width[i];
		avail = term_width - others;
		if (avail >= TG_TOP_ADDR_MIN || dropped == sizeof(drop_order) / sizeof(drop_order[0]))
			break;
		l->width[drop_order[dropped++]] = 0;
	}
	/* too narrow even so: the lines get cut at the terminal's edge */
	l->width[TG_TOP_ADDR] = avail > TG_TOP_ADDR_MAX ? TG_TOP_ADDR_MAX
			      : avail < TG_TOP_ADDR_MIN ? TG_TOP_ADDR_MIN : avail;
	l->total = l->width[TG_TOP_ADDR] + others;
}

/* v scaled by 1000 per unit; one decimal below 100 (and for unit 0 only
 * when decimals0). */
static void scaled(double v, const char *const *units, int n_units, bool decimals0,
		   const char *suffix, char *buf, size_t len)
{
	int u = 0;

	if (!(v >= 0) || isinf(v)) {
		snprintf(buf, len, "-");
		return;
	}
	while (v >= 999.5 && u < n_units - 1) {
		v /= 1000;
		u++;
	}
	if (v < 99.95 && (u || decimals0))
		snprintf(buf, len, "%.1f%s%s", v, units[u], suffix);
	else
		snprintf(buf, len, "%.0f%s%s", v, units[u], suffix);
}

void tg_top_fmt_rate(double per_sec, char *buf, size_t len)
{
	static const char *const u[] = { "", "k", "M", "G", "T" };

	scaled(per_sec, u, 5, true, "/s", buf, len);
}

void tg_top_fmt_bytes_rate(double per_sec, char *buf, size_t len)
{
	static const char *const u[] = { " B", " kB", " MB", " GB", " TB" };

	scaled(per_sec, u, 5, false, "/s", buf, len);
}

void tg_top_fmt_count(double v, char *buf, size_t len)
{
	static const char *const u[] = { "", "k", "M", "G", "T", "P", "E" };

	scaled(v, u, 7, false, "", buf, len);
}

void tg_top_fmt_ms(double ms, char *buf, size_t len)
{
	if (!(ms >= 0) || isinf(ms))
		snprintf(buf, len, "-");
	else if (ms < 9.95)
		snprintf(buf, len, "%.1fms", ms);
	else if (ms < 999.5)
		snprintf(buf, len, "%.0fms", ms);
	else if (ms < 9950)
		snprintf(buf, len, "%.1fs", ms / 1000);
	else
		snprintf(buf, len, "%.0fs", ms / 1000);
}

#define LAT_UNIT_MS 1.048576 /* 2^20 ns: bucket 0's upper bound */

double tg_top_lat_quantile_ms(const uint64_t *hist, int n, double q)
{
	double total = 0, below = 0, rank, lo, hi;

	if (!hist || n <= 0 || !(q >= 0 && q <= 1))
		return -1;
	for (int i = 0; i < n; i++)
		total += (double)hist[i];
	if (total <= 0)
		return -1;
	rank = q * total;
	for (int i = 0; i < n; i++) {
		if (!hist[i] || below + (double)hist[i] < rank) {
			below += (double)hist[i];
			continue;
		}
		lo = i ? ldexp(LAT_UNIT_MS, i - 1) : 0;
		hi = ldexp(LAT_UNIT_MS, i);
		if (i == n - 1 && n > 1)
			return lo; /* open-ended: no upper bound to lean on */
		return lo + (hi - lo) * (rank - below) / (double)hist[i];
	}
	return -1; /* not reached: rank <= total */
}

static double num(const cJSON *o, const char *k, double absent)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);

	return cJSON_IsNumber(v) ? v->valuedouble : absent;
}

void tg_top_fmt_client(const char *address, int prefix, char *buf, size_t len)
{
	/* IPv6 clients are networks (identity.ipv6_prefix): say which */
	if (strchr(address, ':') && prefix >= 0 && prefix < 128)
		snprintf(buf, len, "%.39s/%d", address, prefix);
	else
		snprintf(buf, len, "%.39s", address);
}

int tg_top_row_from_json(const cJSON *client, bool monitor, struct tg_top_row *r)
{
	const cJSON *addr = cJSON_GetObjectItemCaseSensitive(client, "address");
	const cJSON *quota = cJSON_GetObjectItemCaseSensitive(client, "quota");
	const cJSON *conns = cJSON_GetObjectItemCaseSensitive(client, "connections");
	const cJSON *resp = cJSON_GetObjectItemCaseSensitive(client, "responses");
	const cJSON *hist = cJSON_GetObjectItemCaseSensitive(resp, "latency_hist"), *it;
	const cJSON *routes = cJSON_GetObjectItemCaseSensitive(client, "routes");
	double most = 0;
	uint64_t h[TG_LAT_BUCKETS] = { 0 };
	int n = 0;

	memset(r, 0, sizeof(*r));
	if (!cJSON_IsObject(client) || !cJSON_IsString(addr))
		return -EINVAL;
	tg_top_fmt_client(addr->valuestring, (int)num(client, "prefix", 128), r->addr,
			  sizeof(r->addr));
	r->rps = num(client, "requests_per_sec", -1);
	r->bps = num(client, "bytes_per_sec", -1);
	r->requests = num(client, "requests", -1);
	r->denied = cJSON_IsObject(quota) ? num(quota, monitor ? "would_deny" : "denied", -1) : -1;
	r->conns = cJSON_IsObject(conns) ? num(conns, "open", -1) : -1;
	if (cJSON_IsObject(routes)) {
		cJSON_ArrayForEach(it, routes) {
			double n_req = num(it, "requests", 0);

			if (n_req > most) {
				most = n_req;
				snprintf(r->route, sizeof(r->route), "%.31s", it->string);
			}
		}
	}
	r->p50_ms = -1;
	if (cJSON_IsArray(hist)) {
		cJSON_ArrayForEach(it, hist) {
			if (n >= TG_LAT_BUCKETS)
				break;
			h[n++] = cJSON_IsNumber(it) && it->valuedouble > 0 ? (uint64_t)it->valuedouble : 0;
		}
		r->p50_ms = tg_top_lat_quantile_ms(h, n, 0.5);
	}
	return 0;
}

/* Cells joined by the gap; the first left-aligned and cut to its width. */
static void join(const struct tg_top_layout *l, const char *const cell[TG_TOP_NCOLS],
		 char *buf, size_t len)
{
	size_t o = 0;
	int w = l->width[TG_TOP_ADDR], n = (int)strlen(cell[TG_TOP_ADDR]);

	if (!len)
		return;
	buf[0] = '\0';
	if (n > w) /* a '+' says the address goes on */
		o += (size_t)snprintf(buf, len, "%.*s+", w - 1, cell[TG_TOP_ADDR]);
	else
		o += (size_t)snprintf(buf, len, "%-*s", w, cell[TG_TOP_ADDR]);
	for (int i = 1; i < TG_TOP_NCOLS && o < len; i++)
		if (l->width[i])
			o += (size_t)snprintf(buf + o, len - o, "%*s%*.*s", TG_TOP_GAP, "",
					      l->width[i], l->width[i], cell[i]);
}

void tg_top_header(const struct tg_top_layout *l, bool monitor, char *buf, size_t len)
{
	const char *const cell[TG_TOP_NCOLS] = {
		"CLIENT", "REQ/S", "BYTES/S", "REQUESTS", monitor ? "WOULD-DENY" : "DENIED",
		"P50", "OPEN", "TOP-ROUTE",
	};

	join(l, cell, buf, len);
}

void tg_top_line(const struct tg_top_layout *l, const struct tg_top_row *r, char *buf, size_t len)
{
	char c[TG_TOP_NCOLS][24];
	const char *const cell[TG_TOP_NCOLS] = { r->addr, c[1], c[2], c[3], c[4], c[5], c[6],
						  r->route[0] ? r->route : "-" };

	tg_top_fmt_rate(r->rps, c[TG_TOP_RPS], sizeof(c[0]));
	tg_top_fmt_bytes_rate(r->bps, c[TG_TOP_BPS], sizeof(c[0]));
	tg_top_fmt_count(r->requests, c[TG_TOP_REQS], sizeof(c[0]));
	tg_top_fmt_count(r->denied, c[TG_TOP_DENIED], sizeof(c[0]));
	tg_top_fmt_ms(r->p50_ms, c[TG_TOP_P50], sizeof(c[0]));
	tg_top_fmt_count(r->conns, c[TG_TOP_CONNS], sizeof(c[0]));
	join(l, cell, buf, len);
}

void tg_top_title(const cJSON *health, const char *clock, char *buf, size_t len,
		  bool *monitor)
{
	const cJSON *inst = cJSON_GetObjectItemCaseSensitive(health, "instance");
	const cJSON *mode = cJSON_GetObjectItemCaseSensitive(health, "mode");
	char rps[24], bps[24], clients[24];

	*monitor = cJSON_IsString(mode) && !strcmp(mode->valuestring, "monitor");
	if (!cJSON_IsObject(health)) {
		snprintf(buf, len, "tollgate top  %s", clock);
		return;
	}
	tg_top_fmt_rate(num(health, "requests_per_sec", -1), rps, sizeof(rps));
	tg_top_fmt_bytes_rate(num(health, "bytes_per_sec", -1), bps, sizeof(bps));
	tg_top_fmt_count(num(health, "clients", -1), clients, sizeof(clients));
	snprintf(buf, len, "tollgate top  instance %.31s  mode %.16s  clients %s  total %s  %s  %s",
		 cJSON_IsString(inst) ? inst->valuestring : "?",
		 cJSON_IsString(mode) ? mode->valuestring : "?", clients, rps, bps, clock);
}
