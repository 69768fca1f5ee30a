/* /v1/check's pure parts: the client, the key, the rate-limit headers. */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <string.h>

#include "apikey.h"
#include "api/check.h"
#include "config_check.h"
#include "bpf/quota_plan.h"
#include "telemetry/rates.h"
#include "lib/addr.h"
#include "lib/keyhash.h"

static const char *addr_text(const struct tg_addr *a)
{
	static char buf[64];

	tg_addr_format(a, buf, sizeof(buf));
	return buf;
}

Test(check, client_from_x_real_ip)
{
	struct tg_addr c;
	const char *why = NULL;

	ok("{}");
	cr_assert(eq(int, tg_check_client(&cfg, "198.18.0.7", NULL, &c, &why), 0));
	cr_assert(eq(str, (char *)addr_text(&c), "198.18.0.7"));
	cr_assert(eq(int, tg_check_client(&cfg, " [fd00:198:18::9] ", NULL, &c, &why), 0));
	cr_assert(eq(str, (char *)addr_text(&c), "fd00:198:18::9"));
	cr_assert(eq(int, tg_check_client(&cfg, NULL, NULL, &c, &why), -1));
	cr_assert(eq(str, (char *)why, "X-Real-IP or X-Forwarded-For is required (the client's address)"));
	cr_assert(eq(int, tg_check_client(&cfg, "", "", &c, &why), -1));
	cr_assert(eq(str, (char *)why, "X-Real-IP or X-Forwarded-For is required (the client's address)"));
	cr_assert(eq(int, tg_check_client(&cfg, "example.com", NULL, &c, &why), -1));
	cr_assert(eq(str, (char *)why, "X-Real-IP is not an IP address"));
	/* no trusted proxies: X-Forwarded-For is not believed */
	cr_assert(eq(int, tg_check_client(&cfg, "198.18.0.7", "203.0.113.9", &c, &why), 0));
	cr_assert(eq(str, (char *)addr_text(&c), "198.18.0.7"));
	bad("{\"identity\": {\"trusted_proxies\": [1]}}", "$.identity.trusted_proxies[0]",
	    "expected a CIDR string");
}

/* What Traefik's ForwardAuth sends with the shipped
 * gateway-hooks/traefik/tollgate.yml (GATEWAYS.md has the reasoning from
 * Traefik's source): no X-Real-IP (it is not in authRequestHeaders: a
 * client's own X-Real-Ip survives Traefik when the peer is a trusted
 * balancer), and X-Forwarded-For with the TCP peer Traefik saw appended
 * (trustForwardHeader: the prior hops kept). The client is the rightmost
 * hop that is not a trusted proxy, whatever the client put in front. */
Test(check, traefik_client_cannot_choose_its_identity)
{
	struct tg_addr c;
	const char *why;

	/* behind a balancer (10.0.0.0/24) that appends X-Forwarded-For: the
	 * client 203.0.113.9 sent X-Real-Ip and X-Forwarded-For 198.19.66.6
	 * (its victim) */
	ok("{\"identity\": {\"trusted_proxies\": [\"10.0.0.0/24\"]}}");
	cr_assert(eq(int, tg_check_client(&cfg, NULL, "198.19.66.6, 203.0.113.9, 10.0.0.2", &c, &why),
		     0));
	cr_assert(eq(str, (char *)addr_text(&c), "203.0.113.9"));
	/* Traefik facing clients itself: its entry point dropped what the
	 * client sent; the peer is the only hop */
	cr_assert(eq(int, tg_check_client(&cfg, NULL, "203.0.113.9", &c, &why), 0));
	cr_assert(eq(str, (char *)addr_text(&c), "203.0.113.9"));
	/* the same with the entry point trusting everyone (insecure): what
	 * the client wrote is left of its own address, never used */
	cr_assert(eq(int, tg_check_client(&cfg, NULL, "198.19.66.6, 203.0.113.9", &c, &why), 0));
	cr_assert(eq(str, (char *)addr_text(&c), "203.0.113.9"));
	/* a client that claims to be a balancer itself stops nothing: the
	 * walk goes on left of a trusted hop, to the next untrusted one */
	cr_assert(eq(int, tg_check_client(&cfg, NULL, "198.19.66.6, 10.0.0.7, 203.0.113.9, 10.0.0.2",
					  &c, &why), 0));
	cr_assert(eq(str, (char *)addr_text(&c), "203.0.113.9"));
	/* only balancers: the leftmost of them (the request came from one) */
	cr_assert(eq(int, tg_check_client(&cfg, NULL, "10.0.0.3, 10.0.0.2", &c, &why), 0));
	cr_assert(eq(str, (char *)addr_text(&c), "10.0.0.3"));
	/* the gateway's own hop must be an address */
	cr_assert(eq(int, tg_check_client(&cfg, NULL, "203.0.113.9, junk", &c, &why), -1));
	cr_assert(eq(str, (char *)why, "X-Forwarded-For's last hop is not an IP address"));
	cr_assert(eq(int, tg_check_client(&cfg, NULL, "203.0.113.9,", &c, &why), -1));
	/* no trusted proxies: the peer Traefik saw */
	ok("{}");
	cr_assert(eq(int, tg_check_client(&cfg, NULL, "198.19.66.6, 203.0.113.9", &c, &why), 0));
	cr_assert(eq(str, (char *)addr_text(&c), "203.0.113.9"));
}

Test(check, forwarded_for_through_trusted_proxies_only)
{
	struct tg_addr c;
	const char *why;

	ok("{\"identity\": {\"trusted_proxies\": [\"198.18.0.0/24\", \"198.19.0.1\"]}}");
	/* rightmost untrusted hop; a spoofed left part is ignored */
	cr_assert(eq(int, tg_check_client(&cfg, "198.18.0.7", "6.6.6.6, 203.0.113.9, 198.19.0.1", &c, &why), 0));
	cr_assert(eq(str, (char *)addr_text(&c), "203.0.113.9"));
	cr_assert(eq(int, tg_check_client(&cfg, "198.18.0.7", "203.0.113.10", &c, &why), 0));
	cr_assert(eq(str, (char *)addr_text(&c), "203.0.113.10"));
	/* a malformed hop stops the walk at the last good one */
	cr_assert(eq(int, tg_check_client(&cfg, "198.18.0.7", "203.0.113.9, junk, 198.19.0.1", &c, &why), 0));
	cr_assert(eq(str, (char *)addr_text(&c), "198.19.0.1"));
	/* not from a trusted proxy: the header is ignored */
	cr_assert(eq(int, tg_check_client(&cfg, "198.20.0.1", "203.0.113.9", &c, &why), 0));
	cr_assert(eq(str, (char *)addr_text(&c), "198.20.0.1"));
	/* an empty header leaves the proxy as the client */
	cr_assert(eq(int, tg_check_client(&cfg, "198.18.0.7", "", &c, &why), 0));
	cr_assert(eq(str, (char *)addr_text(&c), "198.18.0.7"));
}

Test(check, key_hash_matches_the_kernel)
{
	uint64_t k = tg_apikey_hash("sk-abc", 6);

	cr_assert(eq(u64, tg_check_key_hash("Bearer sk-abc"), k));
	cr_assert(eq(u64, tg_check_key_hash("bEaReR sk-abc"), k));
	cr_assert(eq(u64, tg_check_key_hash("  sk-abc"), k));
	cr_assert(eq(u64, tg_check_key_hash("sk-abc, other"), k));
	cr_assert(eq(u64, tg_check_key_hash("sk-abc;x"), k));
	cr_assert(eq(u64, tg_check_key_hash(""), 0));
	cr_assert(eq(u64, tg_check_key_hash("Bearer "), 0));
}

/* SipHash-2-4's reference vectors (Aumasson and Bernstein, appendix A):
 * key 00..0f; messages 00..(n-1). */
Test(check, key_hash_is_siphash_2_4)
{
	uint64_t k0 = 0x0706050403020100ULL, k1 = 0x0f0e0d0c0b0a0908ULL;
	char m[16];

	for (int i = 0; i < 16; i++)
		m[i] = (char)i;
	cr_assert(eq(u64, tg_siphash_key(k0, k1, m, 15), 0xa129ca6149be45e5ULL));
	cr_assert(eq(u64, tg_siphash_key(k0, k1, m, 0), 0x726fdb47dd0e0e31ULL));
	cr_assert(eq(u64, tg_siphash_key(k0, k1, m, 8), 0x93f5f5799a932462ULL));
}

/* Keyed: another key, another hash of the same secret, so a hash that
 * leaves the agent (an event's key:…) fingerprints nothing elsewhere. */
Test(check, key_hash_depends_on_the_key)
{
	uint64_t a, b;

	tg_keyhash_set(1, 2);
	a = tg_apikey_hash("sk-abc", 6);
	tg_keyhash_set(3, 4);
	b = tg_apikey_hash("sk-abc", 6);
	cr_assert(ne(u64, a, b));
	cr_assert(eq(u64, tg_check_key_hash("Bearer sk-abc"), b));
}

Test(check, request_key_prefers_a_configured_key)
{
	static const char h[] = "host\0gw\0x-api-key\0decoy\0authorization\0Bearer sk-real";
	struct tg_api_req req = { .headers = h, .n_headers = 3 };
	uint64_t known[] = { tg_apikey_hash("sk-real", 7) };

	ok("{}");
	cr_assert(eq(u64, tg_check_request_key(&cfg, &req, known, 1), known[0]));
	cr_assert(eq(u64, tg_check_request_key(&cfg, &req, NULL, 0), tg_apikey_hash("decoy", 5)));
	req.n_headers = 1;
	cr_assert(eq(u64, tg_check_request_key(&cfg, &req, known, 1), 0));
}

Test(check, client_key_groups_ipv6_by_prefix)
{
	struct tg_addr a, k;

	ok("{\"identity\": {\"ipv6_prefix\": 48}}");
	tg_addr_parse("fd00:198:18:77::5", &a);
	tg_check_client_key(&cfg, &a, &k);
	cr_assert(eq(str, (char *)addr_text(&k), "fd00:198:18::"));
	tg_addr_parse("198.18.0.5", &a);
	tg_check_client_key(&cfg, &a, &k);
	cr_assert(eq(str, (char *)addr_text(&k), "198.18.0.5"));
}

static void limits_for(uint64_t rps, uint64_t burst, uint64_t bps, struct tg_quota *q)
{
	struct tg_quota_entry e;

	memset(&e, 0, sizeof(e));
	e.limits.requests_per_sec = rps;
	e.limits.burst = burst;
	e.limits.bytes_per_sec = bps;
	e.limits.bytes_burst = bps;
	tg_quota_build(q, &cfg, &e);
}

Test(check, limits_from_a_bucket)
{
	struct tg_quota q;
	struct tg_bucket b = { 0 };
	struct tg_check_limits l;
	uint64_t now = 1000000000000ull;

	ok("{}");
	limits_for(10, 5, 0, &q);
	/* an idle bucket: full */
	tg_check_limits(&q, &b, now, &l);
	cr_assert(l.requests && !l.bytes);
	cr_assert(eq(u64, l.limit, 5));
	cr_assert(eq(u64, l.remaining, 5));
	cr_assert(eq(u64, l.reset_ms, 0));
	cr_assert(eq(u64, l.next_ms, 0));
	cr_assert(eq(u64, l.rate, 10));
	/* emptied: the TAT is the tolerance plus one interval ahead */
	b.req_tat = now + q.req_tolerance + q.req_interval;
	tg_check_limits(&q, &b, now, &l);
	cr_assert(eq(u64, l.remaining, 0));
	cr_assert(eq(u64, l.next_ms, 100));
	cr_assert(eq(u64, l.reset_ms, 500));
}

Test(check, headers_of_a_denial)
{
	static struct tg_api_resp resp;
	struct tg_check_limits l = { .requests = true, .limit = 5, .remaining = 0, .reset_ms = 2500,
				     .next_ms = 1200, .rate = 2, .bytes = true, .byte_limit = 4096,
				     .byte_remaining = -10, .byte_reset_ms = 300, .byte_next_ms = 50 };

	tg_check_headers(&resp, "team-a", &l, true);
	cr_assert(eq(str, resp.retry_after, "2"));
	resp.extra[resp.extra_len] = '\0';
	cr_assert(eq(str, resp.extra,
		     "RateLimit-Policy: \"team-a\";q=5;w=3\r\n"
		     "RateLimit: \"team-a\";r=0;t=2\r\n"
		     "X-RateLimit-Limit: 5\r\n"
		     "X-RateLimit-Remaining: 0\r\n"
		     "X-RateLimit-Reset: 3\r\n"
		     "x-ratelimit-limit-requests: 5\r\n"
		     "x-ratelimit-remaining-requests: 0\r\n"
		     "x-ratelimit-reset-requests: 1.200s\r\n"
		     "x-ratelimit-limit-tokens: 4096\r\n"
		     "x-ratelimit-remaining-tokens: 0\r\n"
		     "x-ratelimit-reset-tokens: 50ms\r\n"));
}

Test(check, durations)
{
	char b[32];

	tg_check_duration(0, b, sizeof(b));
	cr_assert(eq(str, b, "0ms"));
	tg_check_duration(999, b, sizeof(b));
	cr_assert(eq(str, b, "999ms"));
	tg_check_duration(1000, b, sizeof(b));
	cr_assert(eq(str, b, "1s"));
	tg_check_duration(61500, b, sizeof(b));
	cr_assert(eq(str, b, "1m2s"));
}

Test(check, known_keys_sorted_from_the_key_entries)
{
	uint64_t k[4];

	ok("{\"quotas\": {\"clients\": [{\"name\": \"b\", \"api_key\": \"sk-b\"},"
	   " {\"name\": \"net\", \"cidr\": \"198.18.0.0/24\"}, {\"name\": \"a\", \"api_key\": \"sk-a\"}]}}");
	cr_assert(eq(sz, tg_check_known_keys(&cfg, k, 4), 2));
	cr_assert(k[0] < k[1]);
	cr_assert(k[0] == tg_apikey_hash("sk-a", 4) || k[1] == tg_apikey_hash("sk-a", 4));
	cr_assert(k[0] == tg_apikey_hash("sk-b", 4) || k[1] == tg_apikey_hash("sk-b", 4));
	cr_assert(eq(sz, tg_check_known_keys(&cfg, k, 1), 1), "bounded by cap");
}

Test(check, sub_arg_route_and_model)
{
	static struct tg_route_table rt;
	static struct tg_config c;
	char models[TG_MODEL_IDS][TG_MODEL_NAME_LEN] = { "other", "gpt-4o", "o1" };
	bool live[TG_MODEL_IDS] = { true, true, true };
	int ids[TG_MAX_ROUTES] = { 5 };
	const char (*m)[TG_MODEL_NAME_LEN] = (const char (*)[TG_MODEL_NAME_LEN])models;

	tg_config_defaults(&c);
	c.n_routes = 1;
	snprintf(c.routes[0].name, sizeof(c.routes[0].name), "chat");
	snprintf(c.routes[0].prefix, sizeof(c.routes[0].prefix), "/v1/chat/completions");
	tg_routes_build(&rt, &c, ids);
	cr_assert_eq(tg_check_sub_arg(&rt, "/v1/chat/completions?x=1", m, live, "o1"), 5u | 2u << 16);
	cr_assert_eq(tg_check_sub_arg(&rt, "/v1/embeddings", m, live, "gpt-5"),
		     TG_ROUTE_OTHER | (uint64_t)TG_MODEL_OTHER << 16);
	cr_assert_eq(tg_check_sub_arg(&rt, NULL, m, live, NULL),
		     TG_CK_NO_ROUTE | (uint64_t)TG_MODEL_NONE << 16, "nothing known: none");
	cr_assert_eq(tg_check_sub_arg(&rt, "", m, live, ""), TG_CK_NO_ROUTE | (uint64_t)TG_MODEL_NONE << 16);
}

Test(check, pick_refusing_else_tightest)
{
	struct tg_check_limits l[3] = { { .requests = true, .remaining = 9 },
					{ .requests = true, .remaining = 2 },
					{ .requests = false } };

	cr_assert_eq(tg_check_pick(l, 3, -1), 1, "the fewest left");
	cr_assert_eq(tg_check_pick(l, 3, 0), 0, "the one that refused");
	cr_assert_eq(tg_check_pick(l, 3, 2), 1, "a refusing bucket without limits: the tightest");
	l[0].requests = l[1].requests = false;
	cr_assert_eq(tg_check_pick(l, 3, -1), -1);
}
