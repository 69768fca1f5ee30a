/* Detectors into a summary: one synthetic gateway where every detector
 * fires once, rendered as one tollgate.anomaly.v1 event that carries every
 * anomaly type with its figures. With TG_EVENT_DUMP_DIR set the event is
 * written there for schema validation. */
#include <arpa/inet.h>
#include <cjson/cJSON.h>
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "alerts/detect.h"
#include "alerts/summary.h"

#define SEC 1000000000ull
#define WALL0 (1800000000ull * SEC)
#define NCLIENTS 1024
#define NKEYS 64

static struct tg_addr addr_n(uint32_t i)
{
	struct tg_addr a;

	memset(&a, 0, sizeof(a));
	a.w[2] = htonl(0xffff);
	a.w[3] = htonl(0xc6120000u + i);
	return a;
}

struct gw {
	struct tg_client_view c[NCLIENTS];
	size_t n;
	struct tg_detect_resp r[1];
	struct tg_detect_bucket b[1];
	struct tg_detect_keyuse k[NKEYS];
	size_t nk;
	uint64_t mono;
};

static size_t client(struct gw *g, uint32_t i)
{
	cr_assert_lt(g->n, NCLIENTS);
	memset(&g->c[g->n], 0, sizeof(g->c[0]));
	g->c[g->n].addr = addr_n(i);
	g->c[g->n].first_seen_ns = g->mono + SEC / 2;
	g->c[g->n].last_seen_ns = g->mono + SEC / 2;
	return g->n++;
}

static void traffic(struct gw *g, size_t i, uint64_t n, uint64_t size, uint64_t syns)
{
	g->c[i].requests += n;
	g->c[i].payload_bytes += n * size;
	g->c[i].syns += syns;
	g->c[i].size_hist[size >= 16384 ? 9 : 4] += n;
	g->c[i].requests_per_sec = (double)n;
	g->c[i].syns_per_sec = (double)syns;
	g->c[i].last_seen_ns = g->mono + SEC / 2;
}

static void keyuse(struct gw *g, uint64_t hash, struct tg_addr a, const char *name)
{
	cr_assert_lt(g->nk, NKEYS);
	memset(&g->k[g->nk], 0, sizeof(g->k[0]));
	g->k[g->nk].key_hash = hash;
	g->k[g->nk].addr = a;
	g->k[g->nk].requests = 1;
	snprintf(g->k[g->nk].name, sizeof(g->k[0].name), "%s", name);
	g->nk++;
}

static void dump(const struct tg_event_out *ev)
{
	const char *dir = getenv("TG_EVENT_DUMP_DIR");
	char path[512];
	FILE *f;

	if (!dir || !*dir)
		return;
	snprintf(path, sizeof(path), "%s/%s.json", dir, ev->id);
	f = fopen(path, "w");
	cr_assert_not_null(f, "%s", path);
	fwrite(ev->json, 1, ev->len, f);
	fclose(f);
}

Test(pipeline, every_detector_into_one_event)
{
	static struct gw g;
	struct tg_anomaly_config cfg;
	struct tg_detector *d;
	struct tg_summary *s;
	struct tg_anomaly out[64], a;
	struct tg_event_out ev;
	struct tg_detect_denial den;
	struct tg_top_client top;
	struct tg_summary_ctx ctx = {
		.instance = "default", .host = "gw-1", .agent_version = "0.1.0",
		.top = &top, .n_top = 1, .requests = 12345, .bytes = 678900, .denied = 12,
		.clients = 3,
	};
	uint32_t next = 100;
	bool seen[TG_AN_MAX] = { false };
	cJSON *root, *arr, *it;
	size_t spike = 0, big = 1, churn = 2, errs = 3;

	tg_detect_config_defaults(&cfg);
	cfg.det[TG_AN_ERROR_SURGE].severity = TG_SEV_CRITICAL;
	d = tg_detect_new(&cfg);
	s = tg_summary_new(cfg.window_ms, 256, WALL0);
	cr_assert(d && s);
	g.mono = 1000 * SEC;
	for (uint32_t i = 0; i < 4; i++)
		client(&g, i);
	g.r[0].addr = g.c[errs].addr;
	g.b[0].key.qid = 1;
	snprintf(g.b[0].name, sizeof(g.b[0].name), "gold");
	g.b[0].limit_rps = 100;

	for (int scan = 0; scan < 41; scan++) {
		bool last = scan == 40;
		/* a client probing ~100 unmatched paths in the window */
		struct tg_detect_paths probe = { addr_n(900), 7, 173 };
		struct tg_detect_input in = {
			.now_wall_ns = WALL0 + (uint64_t)(scan + 1) * SEC, .dt = 1, .ipv6_prefix = 64,
			.clients = g.c, .resp = g.r, .n_resp = 1, .buckets = g.b, .n_buckets = 1,
			.keys = g.k, .requests_per_sec = last ? 3000 : 300,
			.paths = &probe, .n_paths = last, .path_window = 7,
		};
		size_t n;

		traffic(&g, spike, last ? 400 : 20, 200, 1);
		traffic(&g, big, 10, last ? 20000 : 500, 1);
		traffic(&g, churn, last ? 1 : 20, 200, last ? 60 : 1);
		traffic(&g, errs, 20, 200, 1);
		g.r[0].responses += 20;
		g.r[0].status[last ? TG_ST_5XX : TG_ST_2XX] += 20;
		g.b[0].allowed += scan >= 38 ? 90 : 10;
		for (int j = 0; j < (last ? 200 : 2); j++)
			traffic(&g, client(&g, next++), 1, 100, 1);
		if (last) {
			for (uint32_t j = 0; j < 14; j++)
				keyuse(&g, 0xabcd, addr_n(500 + j), "");
			for (uint64_t j = 0; j < 7; j++)
				keyuse(&g, 0x100 + j, g.c[spike].addr, "");
		}
		in.n_clients = g.n;
		in.n_keys = g.nk;
		n = tg_detect_scan(d, &in, out, 64);
		cr_assert(last || n == 0, "scan %d fired %zu (type %d)", scan, n, n ? out[0].type : -1);
		for (size_t i = 0; i < n; i++)
			cr_assert_eq(tg_summary_add(s, &out[i]), out[i].severity == TG_SEV_CRITICAL);
		g.mono += SEC;
	}

	memset(&den, 0, sizeof(den));
	den.type = TG_EV_DENY_REQUEST;
	den.action = TG_ACTION_DROP;
	den.enforced = true;
	den.client = g.c[spike].addr;
	den.prefix = 32;
	snprintf(den.name, sizeof(den.name), "gold");
	den.denied = 12;
	den.limit_rps = 100;
	den.burst = 100;
	den.ts_wall_ns = WALL0 + 41 * SEC;
	cr_assert_eq(tg_detect_denial(d, &den, &a), 1);
	tg_summary_add(s, &a);
	den.action = TG_ACTION_DENY;
	snprintf(den.name, sizeof(den.name), "blocklist");
	cr_assert_eq(tg_detect_denial(d, &den, &a), 1);
	tg_summary_add(s, &a);

	memset(&top, 0, sizeof(top));
	top.addr = g.c[spike].addr;
	top.prefix = 32;
	top.requests_per_sec = 400;
	top.bytes_per_sec = 80000;
	top.denied = 12;

	/* the critical one went out at once; the close has the rest */
	cr_assert_eq(tg_summary_urgent(s, &ctx, WALL0 + 41 * SEC, &ev), 0);
	dump(&ev);
	root = cJSON_Parse(ev.json);
	cr_assert_eq(cJSON_GetArraySize(cJSON_GetObjectItem(root, "anomalies")), 1);
	cJSON_Delete(root);
	free(ev.json);
	cr_assert_eq(tg_summary_close(s, &ctx, WALL0 + 42 * SEC, &ev), 0);
	dump(&ev);
	root = cJSON_Parse(ev.json);
	cr_assert_not_null(root);
	arr = cJSON_GetObjectItem(root, "anomalies");
	cJSON_ArrayForEach(it, arr) {
		int t = tg_anomaly_type_parse(cJSON_GetStringValue(cJSON_GetObjectItem(it, "type")));

		cr_assert_geq(t, 0);
		cr_assert_not(seen[t], "one entry per type here");
		seen[t] = true;
		cr_assert_gt(cJSON_GetArraySize(cJSON_GetObjectItem(it, "observed")), 0);
	}
	for (int t = 0; t < TG_AN_MAX; t++)
		cr_assert(seen[t] || t == TG_AN_ERROR_SURGE, "%s missing from\n%s",
			  tg_anomaly_type_name(t), ev.json);
	cr_assert_not(seen[TG_AN_ERROR_SURGE], "sent at once and not recurred");
	cr_assert_str_eq(cJSON_GetStringValue(cJSON_GetObjectItem(root, "severity")), "warning");
	cJSON_Delete(root);
	free(ev.json);
	tg_summary_free(s);
	tg_detect_free(d);
}
