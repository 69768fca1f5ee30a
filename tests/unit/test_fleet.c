/* Fleet mode's pure parts: the cluster config (errors by path, no password
 * in the output), global entries, the credit a node gives its kernel, the
 * local shares, backoff and timeouts, and what a broken or hostile Redis
 * may answer. Plus a model of the shared bucket driving three nodes, for
 * the error bound docs/guide/fleet.md states. */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <cjson/cJSON.h>
#include <errno.h>
#include <hiredis/hiredis.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/config.h"
#include "fleet/fleet_algo.h"
#include "bpf/quota_plan.h"
#include "shared.h"

#include "config_check.h"

#define CLU(s) "{\"cluster\": {" s "}}"
#define R "\"redis\": \"redis://127.0.0.1:16379\""
#define GLOBAL(s) "{\"cluster\": {" R "}, \"quotas\": {\"clients\": [{\"name\": \"g\", " \
		  "\"api_key\": \"sk-g\"" s "}]}}"
#define G0 "$.quotas.clients[0].global"

Test(cluster, accepted)
{
	ok("{\"cluster\": null}");
	cr_assert(eq(int, cfg.cluster.enabled, 0));
	ok(CLU(R));
	cr_assert(cfg.cluster.enabled);
	cr_assert(eq(str, cfg.cluster.host, "127.0.0.1"));
	cr_assert(eq(u32, cfg.cluster.port, 16379));
	cr_assert(eq(u32, cfg.cluster.sync_interval_ms, 100));
	cr_assert(eq(u32, cfg.cluster.expected_nodes, 1));
	cr_assert(eq(int, cfg.cluster.fallback, TG_FALLBACK_LOCAL_SHARE));
	/* the default node id: host name and instance, so two agents on one
	 * host differ */
	cr_assert(strstr(cfg.cluster.node_id, "-default") != NULL, "%s", cfg.cluster.node_id);
	ok("{\"instance\": \"tgflt-b\", \"cluster\": {" R "}}");
	cr_assert(strstr(cfg.cluster.node_id, "-tgflt-b") != NULL, "%s", cfg.cluster.node_id);

	ok(CLU("\"redis\": \"redis://redis.internal\", \"node_id\": \"gw-1:a.b\","
	       " \"sync_interval_ms\": 1000, \"fallback\": \"closed\", \"expected_nodes\": 3"));
	cr_assert(eq(str, cfg.cluster.host, "redis.internal"));
	cr_assert(eq(u32, cfg.cluster.port, 6379));
	cr_assert(eq(str, cfg.cluster.node_id, "gw-1:a.b"));
	cr_assert(eq(int, cfg.cluster.fallback, TG_FALLBACK_CLOSED));
	ok(CLU("\"redis\": \"redis://[fd00:198:18::1]:7000/\""));
	cr_assert(eq(str, cfg.cluster.host, "fd00:198:18::1"));
	cr_assert(eq(u32, cfg.cluster.port, 7000));
}

Test(cluster, errors_by_path)
{
	static const struct bad_case c[] = {
		{ "{\"cluster\": 1}", "$.cluster", "expected null or an object" },
		{ "{\"cluster\": {}}", "$.cluster", "missing redis (redis://host:port)" },
		{ CLU("\"redis\": 5"), "$.cluster.redis", "expected a string: redis://host:port" },
		{ CLU("\"redis\": \"http://x:1\""), "$.cluster.redis", "must be redis://host:port" },
		{ CLU("\"redis\": \"redis://:pw@x:1\""), "$.cluster.redis",
		  "no credentials in the URL: put the password in an environment variable named "
		  "by cluster.password_env" },
		{ CLU("\"redis\": \"redis://x:0\""), "$.cluster.redis", "port must be 1..65535" },
		{ CLU("\"redis\": \"redis://x:65536\""), "$.cluster.redis", "port must be 1..65535" },
		{ CLU("\"redis\": \"redis://x:\""), "$.cluster.redis", "port must be 1..65535" },
		{ CLU("\"redis\": \"redis://x:1/0\""), "$.cluster.redis",
		  "must be redis://host:port (no database, path or query)" },
		{ CLU("\"redis\": \"redis://\""), "$.cluster.redis", "missing host" },
		{ CLU("\"redis\": \"redis://a b:1\""), "$.cluster.redis", "bad host name" },
		{ CLU("\"redis\": \"redis://[::1:1\""), "$.cluster.redis",
		  "must be redis://host:port ([IPv6] in brackets)" },
		{ CLU(R ", \"node_id\": \"\""), "$.cluster.node_id",
		  "must be 1..63 characters of A-Z a-z 0-9 _ . : -" },
		{ CLU(R ", \"node_id\": \"a b\""), "$.cluster.node_id",
		  "must be 1..63 characters of A-Z a-z 0-9 _ . : -" },
		{ CLU(R ", \"sync_interval_ms\": 5"), "$.cluster.sync_interval_ms",
		  "must be an integer in 10..60000" },
		{ CLU(R ", \"sync_interval_ms\": 100.5"), "$.cluster.sync_interval_ms",
		  "must be an integer in 10..60000" },
		{ CLU(R ", \"fallback\": \"local\""), "$.cluster.fallback",
		  "must be one of local_share|open|closed" },
		{ CLU(R ", \"expected_nodes\": 0"), "$.cluster.expected_nodes",
		  "must be an integer in 1..1024" },
		{ CLU(R ", \"password_env\": \"1X\""), "$.cluster.password_env",
		  "must be an environment variable name: [A-Za-z_][A-Za-z0-9_]{0,62}" },
		{ CLU(R ", \"password_env\": \"TG_TEST_UNSET_PW\""), "$.cluster.password_env",
		  "environment variable TG_TEST_UNSET_PW is not set" },
		{ CLU(R ", \"tls\": true"), "$.cluster.tls", "unknown key" },
	};

	unsetenv("TG_TEST_UNSET_PW");
	BAD_ALL(c);
}

Test(cluster, global_entries)
{
	static const struct bad_case c[] = {
		{ "{\"quotas\": {\"clients\": [{\"name\": \"g\", \"api_key\": \"sk-g\", "
		  "\"requests_per_sec\": 5, \"global\": true}]}}", G0,
		  "needs cluster (the Redis it is shared through)" },
		{ GLOBAL(", \"global\": true"), G0, "needs requests_per_sec (the fleet-wide rate)" },
		{ GLOBAL(", \"global\": true, \"action\": \"deny\""), G0,
		  "makes no sense with action deny" },
		{ GLOBAL(", \"requests_per_sec\": 5, \"bytes_per_sec\": 1000, \"global\": true"), G0,
		  "not supported yet with bytes_per_sec, connections_per_sec or max_connections "
		  "(only requests are counted fleet-wide)" },
		{ "{\"cluster\": {" R "}, \"quotas\": {\"clients\": [{\"name\": \"g\", "
		  "\"cidr\": \"198.18.0.0/16\", \"share\": \"per_address\", \"requests_per_sec\": 5,"
		  " \"global\": true}]}}", G0, "not supported yet with share per_address" },
	};

	BAD_ALL(c);
	ok(GLOBAL(", \"requests_per_sec\": 30, \"burst\": 60, \"global\": true"));
	cr_assert(cfg.quotas[0].global);
}

Test(cluster, printed_without_password)
{
	char *s;
	cJSON *j, *c;

	setenv("TG_TEST_FLEET_PW", "hunter2-secret", 1);
	ok(CLU(R ", \"password_env\": \"TG_TEST_FLEET_PW\", \"node_id\": \"n1\""));
	cr_assert(eq(str, cfg.cluster.password, "hunter2-secret"));
	s = tg_config_to_json(&cfg);
	cr_assert(s != NULL);
	cr_assert(strstr(s, "hunter2") == NULL, "%s", s);
	j = cJSON_Parse(s);
	c = cJSON_GetObjectItem(j, "cluster");
	cr_assert(eq(str, cJSON_GetObjectItem(c, "redis")->valuestring,
		     "redis://127.0.0.1:16379"));
	cr_assert(eq(str, cJSON_GetObjectItem(c, "password_env")->valuestring,
		     "TG_TEST_FLEET_PW"));
	cr_assert(eq(str, cJSON_GetObjectItem(c, "fallback")->valuestring, "local_share"));
	/* and it parses back to the same config */
	{
		static struct tg_config again;

		cr_assert(eq(int, tg_config_parse(s, strlen(s), &again, &errs), 0), "%s", s);
		cr_assert(eq(int, memcmp(&again.cluster, &cfg.cluster, sizeof(cfg.cluster)), 0));
	}
	cJSON_Delete(j);
	free(s);
	unsetenv("TG_TEST_FLEET_PW");
}

Test(cluster, global_bucket_is_the_local_share)
{
	struct tg_quota q;

	ok("{\"cluster\": {" R ", \"expected_nodes\": 3}, \"quotas\": {\"clients\": ["
	   "{\"name\": \"g\", \"api_key\": \"sk-g\", \"requests_per_sec\": 30, \"burst\": 60,"
	   " \"global\": true}]}}");
	tg_quota_build(&q, &cfg, &cfg.quotas[0]);
	cr_assert(ne(u32, q.flags & TG_QUOTA_GLOBAL, 0));
	cr_assert(eq(u64, q.req_interval, 100000000ULL)); /* 10/s */
	cr_assert(eq(u64, q.req_tolerance, 19 * 100000000ULL)); /* burst 20 */
}

Test(fleet, local_share)
{
	uint64_t r, b;

	tg_quota_local_share(30, 60, 3, &r, &b);
	cr_assert(eq(u64, r, 10));
	cr_assert(eq(u64, b, 20));
	tg_quota_local_share(2, 1, 5, &r, &b); /* never 0 (that means unlimited) */
	cr_assert(eq(u64, r, 1));
	cr_assert(eq(u64, b, 1));
	tg_quota_local_share(100, 100, 0, &r, &b);
	cr_assert(eq(u64, r, 100));
	cr_assert(eq(u32, tg_fleet_fallback_mode(TG_FALLBACK_LOCAL_SHARE), TG_FLEET_LOCAL));
	cr_assert(eq(u32, tg_fleet_fallback_mode(TG_FALLBACK_OPEN), TG_FLEET_OPEN));
	cr_assert(eq(u32, tg_fleet_fallback_mode(TG_FALLBACK_CLOSED), TG_FLEET_CLOSED));
}

Test(fleet, credit)
{
	cr_assert(eq(i64, tg_fleet_credit(10, 0), 10));
	cr_assert(eq(i64, tg_fleet_credit(10, 4), 6));  /* admitted meanwhile */
	cr_assert(eq(i64, tg_fleet_credit(0, 3), -3));  /* nothing until the next lease */
	cr_assert(eq(i64, tg_fleet_credit(1, UINT64_MAX), 1 - (1LL << 53)));
}

Test(fleet, backoff_and_timeouts)
{
	uint32_t b = 0;

	b = tg_fleet_backoff(b);
	cr_assert(eq(u32, b, 100));
	for (int i = 0; i < 20; i++)
		b = tg_fleet_backoff(b);
	cr_assert(eq(u32, b, TG_FLEET_BACKOFF_MAX_MS));
	cr_assert(eq(u32, tg_fleet_backoff(200), 400));
	cr_assert(eq(u32, tg_fleet_timeout_ms(10), 200));
	cr_assert(eq(u32, tg_fleet_timeout_ms(100), 200));
	cr_assert(eq(u32, tg_fleet_timeout_ms(500), 1000));
	cr_assert(eq(u32, tg_fleet_timeout_ms(60000), 2000));
	cr_assert(eq(u32, tg_fleet_node_ttl_ms(100), 1000));
	cr_assert(eq(u32, tg_fleet_node_ttl_ms(1000), 10000));
}

Test(fleet, keys_share_a_hash_tag)
{
	char b[64], n[64], l[64];

	cr_assert(eq(int, tg_fleet_keys("team-a", b, n, l, sizeof(b)), 0));
	cr_assert(eq(str, b, "tollgate:{team-a}:bucket"));
	cr_assert(eq(str, n, "tollgate:{team-a}:nodes"));
	cr_assert(eq(str, l, "tollgate:{team-a}:leases"));
	cr_assert(eq(int, tg_fleet_keys("abcdefghijklmnopqrstuvwxyz01234", b, n, l, 20),
		     -ENAMETOOLONG));
}

/* Replies built by hand: what a broken or hostile Redis might send. */
static redisReply rep_int(long long v)
{
	return (redisReply){ .type = REDIS_REPLY_INTEGER, .integer = v };
}

static int parse_arr(redisReply **els, size_t n, struct tg_fleet_result *r, const char **why)
{
	redisReply a = { .type = REDIS_REPLY_ARRAY, .elements = n, .element = els };

	return tg_fleet_parse_reply(&a, r, why);
}

Test(fleet, replies)
{
	struct tg_fleet_result r;
	const char *why;
	redisReply g = rep_int(7), n = rep_int(3), t = rep_int(-2500);
	redisReply s = { .type = REDIS_REPLY_STRING, .str = "12", .len = 2 };
	redisReply nil = { .type = REDIS_REPLY_NIL }, big = rep_int(1LL << 60), zero = rep_int(0);
	redisReply neg = rep_int(-1);
	redisReply err = { .type = REDIS_REPLY_ERROR, .str = "ERR boom", .len = 8 };
	redisReply noscript = { .type = REDIS_REPLY_ERROR,
				.str = "NOSCRIPT No matching script. Please use EVAL.", .len = 46 };
	redisReply status = { .type = REDIS_REPLY_STATUS, .str = "OK", .len = 2 };
	redisReply *good[] = { &g, &n, &t }, *four[] = { &g, &n, &t, &t };
	redisReply *strs[] = { &s, &n, &t }, *nils[] = { &g, &nil, &t };
	redisReply *nulls[] = { &g, &n, NULL }, *huge_t[] = { &g, &n, &big };
	redisReply *huge_g[] = { &big, &n, &t }, *neg_g[] = { &neg, &n, &t };
	redisReply *no_nodes[] = { &g, &zero, &t }, *neg_nodes[] = { &g, &neg, &t };
	redisReply inner = { .type = REDIS_REPLY_ARRAY, .elements = 3, .element = good };
	redisReply *nested[] = { &inner, &n, &t };

	cr_assert(eq(int, parse_arr(good, 3, &r, &why), 0));
	cr_assert(eq(i64, r.lease, 7));
	cr_assert(eq(u32, r.nodes, 3));
	cr_assert(eq(i64, r.tokens_milli, -2500));

	cr_assert(eq(int, tg_fleet_parse_reply(NULL, &r, &why), -EPROTO));
	cr_assert(eq(int, tg_fleet_parse_reply(&err, &r, &why), -EPROTO));
	cr_assert(eq(str, (char *)why, "error reply"));
	cr_assert(eq(int, tg_fleet_parse_reply(&noscript, &r, &why), -ENOENT));
	cr_assert(eq(int, tg_fleet_parse_reply(&nil, &r, &why), -EPROTO));
	cr_assert(eq(int, tg_fleet_parse_reply(&status, &r, &why), -EPROTO));
	cr_assert(eq(int, tg_fleet_parse_reply(&g, &r, &why), -EPROTO));
	cr_assert(eq(int, parse_arr(four, 4, &r, &why), -EPROTO));
	cr_assert(eq(int, parse_arr(good, 2, &r, &why), -EPROTO));
	cr_assert(eq(int, parse_arr(NULL, 3, &r, &why), -EPROTO));
	cr_assert(eq(int, parse_arr(strs, 3, &r, &why), -EPROTO));
	cr_assert(eq(int, parse_arr(nils, 3, &r, &why), -EPROTO));
	cr_assert(eq(int, parse_arr(nulls, 3, &r, &why), -EPROTO));
	cr_assert(eq(int, parse_arr(huge_t, 3, &r, &why), -EPROTO));
	cr_assert(eq(str, (char *)why, "tokens out of range"));
	cr_assert(eq(int, parse_arr(huge_g, 3, &r, &why), -EPROTO));
	cr_assert(eq(int, parse_arr(neg_g, 3, &r, &why), -EPROTO));
	cr_assert(eq(str, (char *)why, "lease out of range"));
	cr_assert(eq(int, parse_arr(no_nodes, 3, &r, &why), -EPROTO));
	cr_assert(eq(int, parse_arr(neg_nodes, 3, &r, &why), -EPROTO));
	cr_assert(eq(int, parse_arr(nested, 3, &r, &why), -EPROTO));
	/* nothing was written on failure */
	cr_assert(eq(i64, r.lease, 7));
}

Test(fleet, script_sha_reply)
{
	char sha[41];
	const char *why;
	redisReply ok40 = { .type = REDIS_REPLY_STRING,
			    .str = "0123456789abcdef0123456789abcdef01234567", .len = 40 };
	redisReply upper = { .type = REDIS_REPLY_STRING,
			     .str = "0123456789ABCDEF0123456789abcdef01234567", .len = 40 };
	redisReply shortr = { .type = REDIS_REPLY_STRING, .str = "abc", .len = 3 };
	redisReply err = { .type = REDIS_REPLY_ERROR, .str = "NOPERM", .len = 6 };
	redisReply i = rep_int(1);

	cr_assert(eq(int, tg_fleet_parse_sha(&ok40, sha, &why), 0));
	cr_assert(eq(str, sha, "0123456789abcdef0123456789abcdef01234567"));
	cr_assert(eq(int, tg_fleet_parse_sha(&upper, sha, &why), -EPROTO));
	cr_assert(eq(int, tg_fleet_parse_sha(&shortr, sha, &why), -EPROTO));
	cr_assert(eq(int, tg_fleet_parse_sha(&err, sha, &why), -EPROTO));
	cr_assert(eq(int, tg_fleet_parse_sha(&i, sha, &why), -EPROTO));
	cr_assert(eq(int, tg_fleet_parse_sha(NULL, sha, &why), -EPROTO));
}

/* ---- a hostile Redis: what the reader builds --------------------------
 * The agent's reader is guarded (tg_fleet_reader_guard): these feed it
 * what a hostile Redis would send, through hiredis's own parser. */

/* Feeds bytes to a fresh guarded reader; returns redisReaderGetReply's
 * result, the reply in *out (freed by the caller) and the reader. */
static redisReader *guarded(void)
{
	redisReader *r = redisReaderCreate();

	cr_assert(r != NULL);
	tg_fleet_reader_guard(r);
	tg_fleet_reader_why_reset();
	return r;
}

static int feed(redisReader *r, const char *buf, size_t len, void **out)
{
	*out = NULL;
	cr_assert(eq(int, redisReaderFeed(r, buf, len), REDIS_OK));
	return redisReaderGetReply(r, out);
}

static void refused_reply(const char *wire, size_t len, const char *why)
{
	redisReader *r = guarded();
	void *reply;

	cr_assert(eq(int, feed(r, wire, len, &reply), REDIS_ERR), "%.40s accepted", wire);
	cr_assert(eq(ptr, reply, NULL));
	cr_assert(eq(str, (char *)tg_fleet_reader_why(), (char *)why));
	redisReaderFree(r);
}

Test(fleet, hostile_replies_are_refused_before_they_cost_memory)
{
	static char wire[1 << 17];
	redisReader *r;
	void *reply;
	size_t n = 0;

	/* an array of 2^31-1 elements: hiredis 0.14 would calloc 16 GB */
	refused_reply("*2147483647\r\n", 13, "array reply from redis too long");
	refused_reply("*17\r\n", 5, "array reply from redis too long");
	/* a complete string longer than any reply of ours */
	n = (size_t)snprintf(wire, sizeof(wire), "$%d\r\n", TG_FLEET_REPLY_BULK + 1);
	memset(wire + n, 'x', TG_FLEET_REPLY_BULK + 1);
	n += TG_FLEET_REPLY_BULK + 1;
	memcpy(wire + n, "\r\n", 2);
	refused_reply(wire, n + 2, "string reply from redis too long");
	/* a tree of small arrays: 16 of 16 of integers is 273 objects */
	n = (size_t)snprintf(wire, sizeof(wire), "*16\r\n");
	for (int i = 0; i < 16; i++) {
		n += (size_t)snprintf(wire + n, sizeof(wire) - n, "*16\r\n");
		for (int j = 0; j < 16; j++)
			n += (size_t)snprintf(wire + n, sizeof(wire) - n, ":%d\r\n", j);
	}
	refused_reply(wire, n, "reply from redis has too many objects");

	/* a bulk string announced at 1 GB and streamed: nothing is built
	 * until it is whole, so the buffer is what grows; past 64 KiB the
	 * reader says so and fleet.c drops the connection */
	r = guarded();
	n = (size_t)snprintf(wire, sizeof(wire), "$1000000000\r\n");
	cr_assert(eq(int, feed(r, wire, n, &reply), REDIS_OK));
	cr_assert(eq(ptr, reply, NULL), "no reply yet");
	memset(wire, 'x', sizeof(wire));
	for (size_t sent = 0; sent + 16384 < TG_FLEET_READER_MAX; sent += 16384) {
		cr_assert(eq(int, feed(r, wire, 16384, &reply), REDIS_OK));
		cr_assert(not(tg_fleet_reader_overflow(r)), "at %zu bytes", sent + 16384);
	}
	cr_assert(eq(int, feed(r, wire, 16384, &reply), REDIS_OK));
	cr_assert(eq(ptr, reply, NULL));
	cr_assert(tg_fleet_reader_overflow(r));
	cr_assert(eq(str, (char *)tg_fleet_reader_why(), "reply from redis too large"));
	redisReaderFree(r);

	/* what the agent does get still parses, one reply after another */
	r = guarded();
	n = (size_t)snprintf(wire, sizeof(wire),
			     "+OK\r\n$40\r\n0123456789abcdef0123456789abcdef01234567\r\n"
			     "*3\r\n:7\r\n:3\r\n:-2500\r\n-NOSCRIPT No matching script\r\n");
	cr_assert(eq(int, redisReaderFeed(r, wire, n), REDIS_OK));
	for (int i = 0; i < 4; i++) {
		struct tg_fleet_result res;
		const char *why;
		char sha[41];

		cr_assert(eq(int, redisReaderGetReply(r, &reply), REDIS_OK));
		cr_assert(not(eq(ptr, reply, NULL)), "reply %d", i);
		if (i == 1)
			cr_assert(eq(int, tg_fleet_parse_sha(reply, sha, &why), 0));
		if (i == 2)
			cr_assert(eq(int, tg_fleet_parse_reply(reply, &res, &why), 0));
		if (i == 3)
			cr_assert(eq(int, tg_fleet_parse_reply(reply, &res, &why), -ENOENT));
		freeReplyObject(reply);
	}
	cr_assert(eq(ptr, (void *)tg_fleet_reader_why(), NULL));
	cr_assert(not(tg_fleet_reader_overflow(r)));
	redisReaderFree(r);
}

/* A model of the script (same steps, in C) and of n nodes syncing in
 * turn, each offered far more than the quota, with a report taking `rtt`
 * to come back (the node admits from its old credit meanwhile). Returns
 * admitted / (Q×t + burst). */
struct model {
	double tokens, ts;
	int64_t lease[8];
	int busy[8];
};

static int64_t model_script(struct model *m, double now, double rate, double burst,
			    int node, uint64_t used, int nodes)
{
	double others = 0, idle = 0, left = (double)m->lease[node] - (double)used;
	int64_t grant = 0;

	m->tokens += left;
	for (int i = 0; i < nodes; i++) {
		if (i == node)
			continue;
		others += (double)m->lease[i];
		if (!m->busy[i])
			idle += (double)m->lease[i];
	}
	if (now > m->ts) {
		double up = m->tokens + (now - m->ts) * rate;

		if (up > burst - idle)
			up = burst - idle;
		if (up > m->tokens)
			m->tokens = up;
		m->ts = now;
	}
	if (m->tokens >= 1) {
		double keep = left < burst / nodes ? left : burst / nodes;
		double share = (m->tokens + others) / nodes;

		if (keep > share)
			share = keep;
		grant = (int64_t)((share < m->tokens ? share : m->tokens) + 1e-6);
	}
	m->tokens -= (double)grant;
	m->lease[node] = grant;
	m->busy[node] = left <= 0;
	return grant;
}

static double model_run(int nodes, double interval, double q, double burst, double t,
			double rtt, int in_phase)
{
	struct model m = { .tokens = burst };
	int64_t credit[8] = { 0 };
	uint64_t used[8] = { 0 }, admitted = 0, at_send[8] = { 0 }, total[8] = { 0 };
	double reply_at[8], step = 0.001;
	int64_t grant[8];

	for (int n = 0; n < nodes; n++)
		reply_at[n] = -1;
	for (long tick = 0; tick * step < t; tick++) {
		double now = tick * step;

		for (int n = 0; n < nodes; n++) {
			long phase = in_phase ? n : (long)(interval / step) * n / nodes;
			long every = (long)(interval / step);

			if (tick >= phase && (tick - phase) % every == 0 && reply_at[n] < 0) {
				grant[n] = model_script(&m, now, q, burst, n, used[n], nodes);
				used[n] = 0;
				at_send[n] = total[n];
				reply_at[n] = now + rtt;
			}
			if (reply_at[n] >= 0 && now >= reply_at[n]) {
				credit[n] = tg_fleet_credit(grant[n], total[n] - at_send[n]);
				reply_at[n] = -1;
			}
			/* a request every ms at each node: far over the quota */
			if (credit[n] > 0) {
				credit[n]--;
				used[n]++;
				total[n]++;
				admitted++;
			}
		}
	}
	return (double)admitted / (q * t + burst);
}

Test(fleet, model_error_bound)
{
	for (int nodes = 1; nodes <= 3; nodes++) {
		double r100 = model_run(nodes, 0.1, 100, 100, 30, 0.002, 0);
		double r1s = model_run(nodes, 1.0, 100, 100, 30, 0.002, 0);
		double p100 = model_run(nodes, 0.1, 100, 100, 30, 0.002, 1);
		double p1s = model_run(nodes, 1.0, 100, 100, 30, 0.002, 1);

		if (getenv("TG_MODEL_PRINT"))
			fprintf(stderr, "model %d nodes: 100 ms %.4f, 1 s %.4f; in phase %.4f, %.4f\n",
				nodes, r100, r1s, p100, p1s);
		cr_expect(r100 > 0.97 && r100 <= 1.0, "%d nodes, 100 ms: %.3f", nodes, r100);
		/* never more than the bucket; less by at most a lease per node
		 * still unused at the end (Q×T) */
		cr_expect(r1s > 0.95 && r1s <= 1.0, "%d nodes, 1 s: %.3f", nodes, r1s);
		/* nodes that sync at the same moment */
		cr_expect(p100 > 0.97 && p100 <= 1.0, "%d nodes in phase, 100 ms: %.3f", nodes, p100);
		cr_expect(p1s > 0.95 && p1s <= 1.0, "%d nodes in phase, 1 s: %.3f", nodes, p1s);
	}
}

Test(fleet, fallback_charge)
{
	/* local share: what the local bucket is below full, never more than
	 * was admitted */
	cr_assert(eq(u64, tg_fleet_fallback_charge(500, TG_FLEET_LOCAL, 10, 10), 10));
	cr_assert(eq(u64, tg_fleet_fallback_charge(4, TG_FLEET_LOCAL, 10, 10), 4));
	cr_assert(eq(u64, tg_fleet_fallback_charge(500, TG_FLEET_LOCAL, 0, 10), 0));
	/* open and closed keep no bucket: at most the node's part of the burst */
	cr_assert(eq(u64, tg_fleet_fallback_charge(500, TG_FLEET_OPEN, 0, 10), 10));
	cr_assert(eq(u64, tg_fleet_fallback_charge(3, TG_FLEET_OPEN, 0, 10), 3));
	cr_assert(eq(u64, tg_fleet_fallback_charge(0, TG_FLEET_CLOSED, 0, 10), 0));
}

/* Redis dies at t1 and comes back empty (a restart) at t2; n nodes offered
 * far more than the quota throughout, syncing in turn every 100 ms. In the
 * outage each node admits from its local bucket (Q/n, burst/n); its first
 * report after the restart charges `charge(...)`. Returns what the fleet
 * admitted from t1 + 1 s (local buckets drained: the fleet holds nothing
 * in hand) to t, over Q × that span. */
static double model_restart(int nodes, double q, double burst, double t, double t1, double t2,
			    int old_rule)
{
	struct model m = { .tokens = burst };
	double step = 0.001, lrate = q / nodes, lburst = burst / nodes, ltok[8];
	int64_t credit[8] = { 0 };
	uint64_t since[8] = { 0 }, admitted = 0;
	int synced[8], every = 100;

	for (int n = 0; n < nodes; n++) {
		ltok[n] = lburst;
		synced[n] = 1;
	}
	for (long tick = 0; tick * step < t; tick++) {
		double now = tick * step;
		int up = now < t1 || now >= t2;

		if (tick == (long)(t2 / step + 0.5)) {
			memset(&m, 0, sizeof(m)); /* an empty Redis */
			m.tokens = burst;
			m.ts = now;
		}
		for (int n = 0; n < nodes; n++) {
			ltok[n] = ltok[n] + lrate * step > lburst ? lburst : ltok[n] + lrate * step;
			if (!up) {
				synced[n] = 0;
				credit[n] = 0;
			} else if ((tick - (long)n * every / nodes) % every == 0) {
				uint64_t deficit = (uint64_t)(lburst - (double)(int64_t)ltok[n]);
				uint64_t used = synced[n]   ? since[n]
						: old_rule ? (since[n] < burst ? since[n] : (uint64_t)burst)
							   : tg_fleet_fallback_charge(
								     since[n], TG_FLEET_LOCAL, deficit,
								     (uint64_t)lburst);

				credit[n] = model_script(&m, now, q, burst, n, used, nodes);
				since[n] = 0;
				synced[n] = 1;
			}
			if (up ? credit[n] > 0 : ltok[n] >= 1) {
				if (up)
					credit[n]--;
				else
					ltok[n] -= 1;
				since[n]++;
				if (now >= t1 + 1)
					admitted++;
			}
		}
	}
	return (double)admitted / (q * (t - t1 - 1));
}

Test(fleet, model_redis_restart)
{
	for (int nodes = 2; nodes <= 3; nodes++) {
		double r = model_restart(nodes, 100, 100, 20, 3, 6, 0);
		double old = model_restart(nodes, 100, 100, 20, 3, 6, 1);

		if (getenv("TG_MODEL_PRINT"))
			fprintf(stderr, "restart, %d nodes: %.4f (charging up to a burst each: %.4f)\n",
				nodes, r, old);
		/* the fleet resumes from what its local buckets had left: Q
		 * per second, no debt, no second burst */
		cr_expect(r > 0.97 && r <= 1.01, "%d nodes after a restart: %.3f", nodes, r);
		/* the rule it replaces buried the fresh bucket: (n - 1) bursts of debt */
		cr_expect(old < 0.96, "%d nodes, old rule: %.3f", nodes, old);
	}
}
