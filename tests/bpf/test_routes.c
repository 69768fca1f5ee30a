/* Routes (kern/route.bpf.h) through the real TC program on crafted
 * packets: which route a request start is counted under (longest prefix,
 * query string ignored, no match is "other", prefixes at the edge of what
 * is copied), and exact counts per (client, route) and (key, route). */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "apikey.h"
#include "config/config.h"
#include "harness.h"
#include "bpf/quota_plan.h"
#include "lib/addr.h"
#include "lib/keyhash.h"

#define CLIENT "198.18.0.2"

static struct tg_config cfg;
static int ids[TG_MAX_ROUTES];
static uint16_t sport = 20000;

static void apply_settings(void)
{
	struct tg_settings s;
	__u32 zero = 0;

	tg_settings_build(&s, &cfg, 1);
	cr_assert_eq(bpf_map_update_elem(h_map_fd("tg_settings"), &zero, &s, 0), 0);
}

/* Writes cfg's routes into tg_route_table, as the agent does. */
static void apply_routes(void)
{
	static const char none[TG_ROUTE_IDS][TG_ROUTE_NAME_LEN];
	static struct tg_route_table rt;
	__u32 zero = 0;

	tg_route_assign_ids(none, &cfg, ids);
	tg_routes_build(&rt, &cfg, ids);
	cr_assert_eq(bpf_map_update_elem(h_map_fd("tg_route_table"), &zero, &rt, 0), 0);
	apply_settings();
}

static void route(const char *name, const char *prefix)
{
	struct tg_route_config *r = &cfg.routes[cfg.n_routes++];

	memset(r, 0, sizeof(*r));
	snprintf(r->name, sizeof(r->name), "%s", name);
	snprintf(r->prefix, sizeof(r->prefix), "%s", prefix);
}

/* The route id of the route named `name` (0 for "other"). */
static __u32 id_of(const char *name)
{
	if (!strcmp(name, "other"))
		return TG_ROUTE_OTHER;
	for (int i = 0; i < cfg.n_routes; i++)
		if (!strcmp(cfg.routes[i].name, name))
			return (__u32)ids[i];
	cr_assert_fail("no route %s", name);
	return 0;
}

/* Writes quota id `id`: no limits (counted only), or rps/burst in enforce. */
static void quota(__u32 id, __u64 rps, __u64 burst)
{
	struct tg_quota_entry e;
	struct tg_quota q;

	memset(&e, 0, sizeof(e));
	e.limits.requests_per_sec = rps;
	e.limits.burst = burst;
	e.action = TG_ACTION_DROP;
	snprintf(e.name, sizeof(e.name), "q%u", id);
	if (id == 0) {
		cfg.default_limits = e.limits;
		tg_quota_build(&q, &cfg, NULL);
	} else {
		tg_quota_build(&q, &cfg, &e);
	}
	cr_assert_eq(bpf_map_update_elem(h_map_fd("tg_quotas"), &id, &q, 0), 0);
}

static void apikey(const char *key, __u32 id)
{
	__u64 h = tg_apikey_hash(key, strlen(key));

	cr_assert_eq(bpf_map_update_elem(h_map_fd("tg_apikeys"), &h, &id, 0), 0);
	quota(id, 0, 0);
	cfg.quotas[cfg.n_quotas].match = TG_MATCH_API_KEY; /* counted by the settings */
	cfg.n_quotas++;
	apply_settings();
}

static void setup(void)
{
	h_setup();
	tg_config_defaults(&cfg);
	cfg.mode = TG_MODE_MONITOR;
	cfg.n_routes = 0;
	quota(0, 0, 0);
	apply_settings();
}

/* A new connection from addr with one request start of these bytes;
 * returns its verdict. */
static int request_n(const char *addr, const char *req, size_t len)
{
	uint16_t p = sport;

	sport = (uint16_t)(sport + 1 < 60000 ? sport + 1 : 20000);
	return h_first_payload(addr, p, req, len);
}

static int request(const char *addr, const char *req)
{
	return request_n(addr, req, strlen(req));
}

static struct tg_route_count client_count(const char *addr, __u32 route)
{
	struct tg_route_key k;
	struct tg_route_count c = { 0 };

	memset(&k, 0, sizeof(k));
	cr_assert_eq(tg_addr_parse(addr, &k.addr), 0);
	k.route = route;
	bpf_map_lookup_elem(h_map_fd("tg_route_clients"), &k, &c);
	return c;
}

static struct tg_route_count key_count(__u32 qid, __u32 route)
{
	struct tg_route_count c = { 0 };
	__u32 idx = qid * TG_ROUTE_IDS + route;

	cr_assert_eq(bpf_map_lookup_elem(h_map_fd("tg_route_keys"), &idx, &c), 0);
	return c;
}

static int n_client_entries(void)
{
	struct tg_route_key k, next;
	int n = 0, fd = h_map_fd("tg_route_clients");

	for (void *prev = NULL; bpf_map_get_next_key(fd, prev, &next) == 0; prev = &k) {
		k = next;
		n++;
	}
	return n;
}

/* The route a request start of these bytes is counted under (a new
 * client address each time, so its one entry says). */
static __u32 route_of_n(const char *req, size_t len)
{
	static int client = 1;
	struct tg_route_key k, next;
	int fd = h_map_fd("tg_route_clients"), n = 0;
	struct tg_addr a;
	char addr[32];
	__u32 r = 999;

	snprintf(addr, sizeof(addr), "198.18.%d.%d", 1 + client / 250, 1 + client % 250);
	client++;
	cr_assert_eq(request_n(addr, req, len), TC_PASS);
	cr_assert_eq(tg_addr_parse(addr, &a), 0);
	for (void *prev = NULL; bpf_map_get_next_key(fd, prev, &next) == 0; prev = &k) {
		k = next;
		if (!memcmp(&a, &k.addr, sizeof(a))) {
			r = k.route;
			n++;
		}
	}
	cr_assert_eq(n, 1, "one route entry for %s (%.*s)", addr, (int)len, req);
	return r;
}

static __u32 route_of(const char *req)
{
	return route_of_n(req, strlen(req));
}

#define REQ(method, path) method " " path " HTTP/1.1\r\nHost: gw\r\n\r\n"

TestSuite(routes, .init = setup, .fini = h_teardown, .timeout = 120);

Test(routes, longest_prefix_wins)
{
	/* in config order shortest first: the table sorts them */
	route("v1", "/v1/");
	route("chat_any", "/v1/chat");
	route("chat", "/v1/chat/completions");
	route("embeddings", "/v1/embeddings");
	route("root", "/");
	apply_routes();
	cr_expect_eq(route_of(REQ("POST", "/v1/chat/completions")), id_of("chat"));
	cr_expect_eq(route_of(REQ("POST", "/v1/chat/completions/x")), id_of("chat"));
	cr_expect_eq(route_of(REQ("POST", "/v1/chat/completion")), id_of("chat_any"));
	cr_expect_eq(route_of(REQ("POST", "/v1/chat")), id_of("chat_any"));
	cr_expect_eq(route_of(REQ("POST", "/v1/chatter")), id_of("chat_any"));
	cr_expect_eq(route_of(REQ("POST", "/v1/embeddings")), id_of("embeddings"));
	cr_expect_eq(route_of(REQ("GET", "/v1/models")), id_of("v1"));
	cr_expect_eq(route_of(REQ("GET", "/v1")), id_of("root"));
	cr_expect_eq(route_of(REQ("GET", "/")), id_of("root"));
	/* every method length from 3 to 7 */
	cr_expect_eq(route_of(REQ("PUT", "/v1/chat/completions")), id_of("chat"));
	cr_expect_eq(route_of(REQ("HEAD", "/v1/chat/completions")), id_of("chat"));
	cr_expect_eq(route_of(REQ("PATCH", "/v1/chat/completions")), id_of("chat"));
	cr_expect_eq(route_of(REQ("DELETE", "/v1/chat/completions")), id_of("chat"));
	cr_expect_eq(route_of(REQ("OPTIONS", "/v1/chat/completions")), id_of("chat"));
}

Test(routes, query_string_ignored)
{
	route("chat", "/v1/chat/completions");
	route("chat_any", "/v1/chat");
	route("emb", "/v1/embeddings");
	apply_routes();
	cr_expect_eq(route_of(REQ("POST", "/v1/chat/completions?stream=true")), id_of("chat"));
	cr_expect_eq(route_of(REQ("POST", "/v1/chat?/completions")), id_of("chat_any"));
	cr_expect_eq(route_of(REQ("POST", "/v1/chat?x=/v1/chat/completions")), id_of("chat_any"));
	cr_expect_eq(route_of(REQ("POST", "/v1/emb?eddings")), id_of("other"));
	cr_expect_eq(route_of(REQ("POST", "/v1/embeddings?")), id_of("emb"));
	/* the path ends at the space before the version */
	cr_expect_eq(route_of("POST /v1/chat HTTP/1.1/completions\r\n\r\n"), id_of("chat_any"));
}

Test(routes, no_match_is_other)
{
	route("chat", "/v1/chat/completions");
	route("models", "/v1/models");
	apply_routes();
	cr_expect_eq(route_of(REQ("GET", "/healthz")), id_of("other"));
	cr_expect_eq(route_of(REQ("GET", "/v1/model")), id_of("other"));
	cr_expect_eq(route_of(REQ("GET", "/V1/models")), id_of("other")); /* case-sensitive */
	cr_expect_eq(route_of(REQ("GET", "http://gw/v1/models")), id_of("other"));
	cr_expect_eq(route_of(REQ("GET", "*")), id_of("other"));
	/* not a request line: a first payload of other bytes */
	cr_expect_eq(route_of("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03 /v1/models x"),
		     id_of("other"));
	cr_expect_eq(route_of("/v1/models /v1/models HTTP/1.1\r\n\r\n"), id_of("other"));
	/* shorter than the scan's minimum (16 bytes): other */
	cr_expect_eq(route_of("GET /v1/models\n"), id_of("other"));
	/* the method's space beyond the first 8 bytes */
	cr_expect_eq(route_of(REQ("VERYLONGX", "/v1/models")), id_of("other"));
}

Test(routes, prefix_at_the_edge_of_the_window)
{
	/* 64 bytes, the longest prefix: with OPTIONS (8 bytes with its space)
	 * it ends at byte 72, the last one copied for the route */
	static const char p64[] =
		"/123456789/123456789/123456789/123456789/123456789/123456789/123";
	char req[256];
	size_t plen = strlen(p64);

	cr_assert_eq(plen, 64);
	route("long", p64);
	route("short", "/123456789/");
	apply_routes();
	snprintf(req, sizeof(req), "OPTIONS %s HTTP/1.1\r\n\r\n", p64);
	cr_expect_eq(route_of(req), id_of("long"));
	snprintf(req, sizeof(req), "OPTIONS %sxyz HTTP/1.1\r\n\r\n", p64);
	cr_expect_eq(route_of(req), id_of("long"));
	/* the segment ends with the prefix's last byte: whole, it matches */
	snprintf(req, sizeof(req), "OPTIONS %s", p64);
	cr_expect_eq(route_of_n(req, strlen(req)), id_of("long"));
	/* ... one byte short of it: the shorter prefix */
	cr_expect_eq(route_of_n(req, strlen(req) - 1), id_of("short"));
	/* one byte different at the very end */
	snprintf(req, sizeof(req), "OPTIONS %.63s4 HTTP/1.1\r\n\r\n", p64);
	cr_expect_eq(route_of(req), id_of("short"));
	/* the route window does not follow identity.header_scan_bytes down */
	cfg.header_scan_bytes = 64;
	apply_settings();
	snprintf(req, sizeof(req), "OPTIONS %s HTTP/1.1\r\nHost: gw\r\n\r\n", p64);
	cr_expect_eq(route_of(req), id_of("long"));
	/* stale bytes of a longer earlier copy do not complete a short one */
	snprintf(req, sizeof(req), "OPTIONS %s HTTP/1.1\r\n\r\n", p64);
	cr_expect_eq(route_of(req), id_of("long"));
	snprintf(req, sizeof(req), "OPTIONS %.40s", p64);
	cr_expect_eq(route_of_n(req, strlen(req)), id_of("short"));
}

/* Two clients, two API keys, three routes: counts per (client, route) and
 * (key, route) exactly as sent; a retransmitted start is not counted
 * again; requests of no key count under quotas.default (id 0). */
Test(routes, counts_per_client_and_per_key_exact)
{
	static const char *const paths[3] = { "/v1/chat/completions", "/v1/embeddings",
					      "/v1/models" };
	static const char *const names[3] = { "chat", "embeddings", "models" };
	static const char *const clients[2] = { "198.18.0.2", "198.18.0.3" };
	static const char *const keys[2] = { "sk-team-a", "sk-team-b" };
	unsigned want_c[2][4] = { { 0 } }, want_k[3][4] = { { 0 } };
	char req[256];

	for (int i = 0; i < 3; i++)
		route(names[i], paths[i]);
	apply_routes();
	apikey(keys[0], 1);
	apikey(keys[1], 2);
	for (int n = 0; n < 60; n++) {
		int c = n % 2, k = (n / 2) % 3, r = (n / 6) % 4; /* r 3: a path of no route */

		if (k < 2)
			snprintf(req, sizeof(req),
				 "POST %s HTTP/1.1\r\nHost: gw\r\nAuthorization: Bearer %s\r\n\r\n",
				 r < 3 ? paths[r] : "/admin", keys[k]);
		else
			snprintf(req, sizeof(req), "POST %s HTTP/1.1\r\nHost: gw\r\n\r\n",
				 r < 3 ? paths[r] : "/admin");
		cr_assert_eq(request(clients[c], req), TC_PASS);
		want_c[c][r < 3 ? r : 3]++;
		want_k[k][r < 3 ? r : 3]++;
	}
	/* a retransmission of the last start: not a request */
	{
		struct pkt_opts o = { .saddr = clients[1], .sport = (uint16_t)(sport - 1), .seq = 101,
				      .flags = F_ACK, .payload = req, .len = strlen(req) };

		cr_assert_eq(h_run(&o, 0), TC_PASS);
	}
	for (int c = 0; c < 2; c++)
		for (int r = 0; r < 4; r++) {
			__u32 id = r < 3 ? id_of(names[r]) : TG_ROUTE_OTHER;

			cr_expect_eq(client_count(clients[c], id).requests, want_c[c][r],
				     "client %d route %d", c, r);
			cr_expect_eq(client_count(clients[c], id).dropped, 0);
		}
	for (int k = 0; k < 3; k++)
		for (int r = 0; r < 4; r++) {
			__u32 id = r < 3 ? id_of(names[r]) : TG_ROUTE_OTHER;
			__u32 qid = k < 2 ? (__u32)k + 1 : 0;

			cr_expect_eq(key_count(qid, id).requests, want_k[k][r], "key %d route %d", k,
				     r);
		}
	{
		int cells = 0;

		for (int c = 0; c < 2; c++)
			for (int r = 0; r < 4; r++)
				cells += want_c[c][r] > 0;
		cr_expect_eq(cells, 8, "every (client, route) pair is used");
		cr_expect_eq(n_client_entries(), cells);
	}
}

/* Dropped starts are counted as requests and as dropped, once: the
 * client's retransmissions of a dropped start are not new requests. */
Test(routes, dropped_counted_once)
{
	route("chat", "/v1/chat/completions");
	apply_routes();
	cfg.mode = TG_MODE_ENFORCE;
	apply_settings();
	quota(0, 1, 2);
	for (int i = 0; i < 5; i++)
		cr_assert_eq(request(CLIENT, REQ("POST", "/v1/chat/completions")),
			     i < 2 ? TC_PASS : TC_DROP, "request %d", i);
	{
		/* the last start's retransmission: still dropped, not counted */
		const char *req = REQ("POST", "/v1/chat/completions");
		struct pkt_opts o = { .saddr = CLIENT, .sport = (uint16_t)(sport - 1), .seq = 101,
				      .flags = F_ACK, .payload = req, .len = strlen(req) };

		cr_assert_eq(h_run(&o, 0), TC_DROP);
	}
	cr_expect_eq(client_count(CLIENT, id_of("chat")).requests, 5);
	cr_expect_eq(client_count(CLIENT, id_of("chat")).dropped, 3);
	cr_expect_eq(key_count(0, id_of("chat")).requests, 5);
	cr_expect_eq(key_count(0, id_of("chat")).dropped, 3);
}

/* Without routes nothing is counted per route: the request start costs
 * what it did before. */
Test(routes, none_configured_counts_nothing)
{
	cr_assert_eq(request(CLIENT, REQ("POST", "/v1/chat/completions")), TC_PASS);
	cr_expect_eq(n_client_entries(), 0);
	cr_expect_eq(key_count(0, TG_ROUTE_OTHER).requests, 0);
}

/* route_scan's sketch of a client: its set bits, -1 when it has none. */
static int sketch_bits(const char *addr)
{
	struct tg_path_sketch s;
	struct tg_addr a;
	int n = 0;

	cr_assert_eq(tg_addr_parse(addr, &a), 0);
	if (bpf_map_lookup_elem(h_map_fd("tg_route_scan"), &a, &s))
		return -1;
	for (int w = 0; w < TG_PATH_SKETCH_BITS / 64; w++)
		n += __builtin_popcountll(s.bits[w]);
	return n;
}

/* The distinct-path estimate the agent makes of a sketch (linear counting). */
static double estimate(int bits)
{
	return -256.0 * log((256.0 - bits) / 256.0);
}

Test(routes, route_scan_sketches_unmatched_paths)
{
	char req[128];
	int bits;

	route("chat", "/v1/chat/completions");
	cfg.anomaly.window_ms = 600000; /* one window for the whole test */
	apply_routes();
	/* the API's own paths are never sketched */
	for (int i = 0; i < 5; i++)
		request("198.18.7.1", REQ("POST", "/v1/chat/completions"));
	cr_expect_eq(sketch_bits("198.18.7.1"), -1);

	/* 40 distinct unmatched paths: the estimate is within 20% */
	for (int i = 0; i < 40; i++) {
		snprintf(req, sizeof(req), REQ("GET", "/admin/probe%d"), i);
		request("198.18.7.2", req);
	}
	bits = sketch_bits("198.18.7.2");
	cr_assert_geq(bits, 30, "%d bits", bits);
	cr_expect(estimate(bits) >= 32 && estimate(bits) <= 48, "estimate %.1f", estimate(bits));
	/* the same paths again, with query strings: nothing new */
	for (int i = 0; i < 40; i++) {
		snprintf(req, sizeof(req), REQ("GET", "/admin/probe%d?a=%d"), i, i * 7);
		request("198.18.7.2", req);
	}
	cr_expect_eq(sketch_bits("198.18.7.2"), bits);
	/* one path requested 50 times is one path */
	for (int i = 0; i < 50; i++)
		request("198.18.7.3", REQ("GET", "/.env"));
	cr_expect_eq(sketch_bits("198.18.7.3"), 1);
}

Test(routes, route_scan_off_sketches_nothing)
{
	route("chat", "/v1/chat/completions");
	cfg.anomaly.det[TG_AN_ROUTE_SCAN].enabled = false;
	apply_routes();
	for (int i = 0; i < 10; i++) {
		char req[128];

		snprintf(req, sizeof(req), REQ("GET", "/admin/probe%d"), i);
		request("198.18.7.4", req);
	}
	cr_expect_eq(sketch_bits("198.18.7.4"), -1);
	cr_expect_eq(client_count("198.18.7.4", TG_ROUTE_OTHER).requests, 10);
}
