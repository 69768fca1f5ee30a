/* quotas.default and quotas.clients: every rule with the exact JSON path and
 * reason, the burst defaults, keys from the environment, duplicates, and
 * that printed configs never show an inline API key. */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <arpa/inet.h>
#include <cjson/cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/config.h"

#include "config_check.h"
#include "lib/addr.h"

#define Q(s) "{\"quotas\": {" s "}}"
#define DEF(s) Q("\"default\": {" s "}")
#define CL(s) Q("\"clients\": [" s "]")
/* An entry with a name and a CIDR, plus s. */
#define NET(s) "{\"name\": \"n\", \"cidr\": \"198.18.0.0/16\"" s "}"
#define KEYE(s) "{\"name\": \"k\", \"api_key\": \"sk-1\"" s "}"
#define C0 "$.quotas.clients[0]"

#define NSY "not supported yet"
#define NAME_BAD "must be 1..31 characters of A-Z a-z 0-9 _ . -"
#define CIDR_BAD "must be an IPv4 or IPv6 address or prefix: a.b.c.d/n or x:y::/n"
#define KEY_BAD "1..128 printable ASCII characters, no spaces, ',' or ';'"
#define ENV_NAME_BAD "must be an environment variable name: [A-Za-z_][A-Za-z0-9_]{0,62}"
#define ACTION_BAD "must be one of drop|monitor|gateway|deny|exempt"
#define MATCH_NONE "needs one of cidr, api_key, api_key_env"
#define MATCH_TWO "only one of cidr, api_key, api_key_env"

static void expect_v4(const struct tg_quota_entry *q, const char *addr, uint32_t plen)
{
	uint32_t want[4] = { 0, 0, htonl(0xffff), 0 };

	cr_assert(eq(int, inet_pton(AF_INET, addr, &want[3]), 1));
	cr_expect(eq(int, memcmp(q->cidr, want, sizeof(want)), 0), "%s", addr);
	cr_expect(eq(u32, q->prefix_len, plen), "%s", addr);
}

static void expect_v6(const struct tg_quota_entry *q, const char *addr, uint32_t plen)
{
	uint32_t want[4];

	cr_assert(eq(int, inet_pton(AF_INET6, addr, want), 1));
	cr_expect(eq(int, memcmp(q->cidr, want, sizeof(want)), 0), "%s", addr);
	cr_expect(eq(u32, q->prefix_len, plen), "%s", addr);
}

Test(quotas, absent_means_unlimited)
{
	ok("{}");
	cr_assert(eq(int, cfg.n_quotas, 0));
	cr_assert(eq(u64, cfg.default_limits.requests_per_sec, 0));
	cr_assert(eq(u64, cfg.default_limits.burst, 0));
	cr_assert(eq(u64, cfg.default_limits.bytes_per_sec, 0));
	cr_assert(eq(u64, cfg.default_limits.bytes_burst, 0));
	cr_assert(eq(u64, cfg.default_limits.connections_per_sec, 0));
	cr_assert(eq(int, cfg.default_action, TG_ACTION_DROP));
	ok(Q("\"default\": {}, \"clients\": []"));
	cr_assert(eq(int, cfg.n_quotas, 0));
	cr_assert(eq(u64, cfg.default_limits.burst, 0));
}

Test(quotas, default_limits)
{
	ok(DEF("\"requests_per_sec\": 20, \"burst\": 40, \"bytes_per_sec\": 64,"
	       " \"bytes_burst\": 1000, \"connections_per_sec\": 5, \"action\": \"monitor\""));
	cr_assert(eq(u64, cfg.default_limits.requests_per_sec, 20));
	cr_assert(eq(u64, cfg.default_limits.burst, 40));
	cr_assert(eq(u64, cfg.default_limits.bytes_per_sec, 64));
	cr_assert(eq(u64, cfg.default_limits.bytes_burst, 1000));
	cr_assert(eq(u64, cfg.default_limits.connections_per_sec, 5));
	cr_assert(eq(int, cfg.default_action, TG_ACTION_MONITOR));
	ok(DEF("\"action\": \"drop\""));
	cr_assert(eq(int, cfg.default_action, TG_ACTION_DROP));
	/* Upper bounds. */
	ok(DEF("\"requests_per_sec\": 1000000, \"burst\": 1000000000,"
	       " \"bytes_per_sec\": 1000000000000, \"bytes_burst\": 1e12,"
	       " \"connections_per_sec\": 1000000"));
	cr_assert(eq(u64, cfg.default_limits.bytes_per_sec, 1000000000000ull));
	cr_assert(eq(u64, cfg.default_limits.bytes_burst, 1000000000000ull));
	cr_assert(eq(u64, cfg.default_limits.burst, 1000000000));
	ok(DEF("\"requests_per_sec\": 0, \"burst\": 0, \"bytes_per_sec\": 0, \"bytes_burst\": 0"));
}

Test(quotas, burst_defaults)
{
	/* Absent or 0: burst = max(1, rate), bytes_burst = bytes_per_sec. */
	ok(DEF("\"requests_per_sec\": 1, \"bytes_per_sec\": 100"));
	cr_assert(eq(u64, cfg.default_limits.burst, 1));
	cr_assert(eq(u64, cfg.default_limits.bytes_burst, 100));
	ok(DEF("\"requests_per_sec\": 20, \"burst\": 0, \"bytes_per_sec\": 4096, \"bytes_burst\": 0"));
	cr_assert(eq(u64, cfg.default_limits.burst, 20));
	cr_assert(eq(u64, cfg.default_limits.bytes_burst, 4096));
	/* A burst below the rate is the operator's choice. */
	ok(DEF("\"requests_per_sec\": 20, \"burst\": 5"));
	cr_assert(eq(u64, cfg.default_limits.burst, 5));
	ok(CL(NET(", \"requests_per_sec\": 7, \"bytes_per_sec\": 640") ","
	      KEYE(", \"connections_per_sec\": 3")));
	cr_assert(eq(u64, cfg.quotas[0].limits.burst, 7));
	cr_assert(eq(u64, cfg.quotas[0].limits.bytes_burst, 640));
	cr_assert(eq(u64, cfg.quotas[1].limits.burst, 0)); /* unlimited stays 0 */
	cr_assert(eq(u64, cfg.quotas[1].limits.bytes_burst, 0));
	cr_assert(eq(u64, cfg.quotas[1].limits.connections_per_sec, 3));
}

#define RPS_BAD "must be an integer in 0..1000000"
#define BURST_BAD "must be an integer in 0..1000000000"
#define BPS_BAD "must be 0 or an integer in 64..1000000000000"
#define BB_BAD "must be an integer in 0..1000000000000"

Test(quotas, limit_values_invalid)
{
	static const struct bad_case c[] = {
		{ Q("\"default\": 5"), "$.quotas.default", "expected an object" },
		{ Q("\"default\": null"), "$.quotas.default", "expected an object" },
		{ Q("\"default\": []"), "$.quotas.default", "expected an object" },
		{ "{\"quotas\": []}", "$.quotas", "expected an object" },
		{ Q("\"defaults\": {}"), "$.quotas.defaults", "unknown key" },
		{ DEF("\"requests_per_sec\": -1"), "$.quotas.default.requests_per_sec", RPS_BAD },
		{ DEF("\"requests_per_sec\": 1000001"), "$.quotas.default.requests_per_sec", RPS_BAD },
		{ DEF("\"requests_per_sec\": 2.5"), "$.quotas.default.requests_per_sec", RPS_BAD },
		{ DEF("\"requests_per_sec\": \"20\""), "$.quotas.default.requests_per_sec", RPS_BAD },
		{ DEF("\"requests_per_sec\": null"), "$.quotas.default.requests_per_sec", RPS_BAD },
		{ DEF("\"requests_per_sec\": 1e400"), "$.quotas.default.requests_per_sec", RPS_BAD },
		{ DEF("\"requests_per_sec\": 1, \"burst\": 1000000001"), "$.quotas.default.burst",
		  BURST_BAD },
		{ DEF("\"bytes_per_sec\": 63"), "$.quotas.default.bytes_per_sec", BPS_BAD },
		{ DEF("\"bytes_per_sec\": 1"), "$.quotas.default.bytes_per_sec", BPS_BAD },
		{ DEF("\"bytes_per_sec\": 1000000000001"), "$.quotas.default.bytes_per_sec", BPS_BAD },
		{ DEF("\"bytes_per_sec\": 64, \"bytes_burst\": 1000000000001"),
		  "$.quotas.default.bytes_burst", BB_BAD },
		{ DEF("\"connections_per_sec\": 1000001"), "$.quotas.default.connections_per_sec",
		  RPS_BAD },
		{ DEF("\"burst\": 10"), "$.quotas.default.burst", "burst needs requests_per_sec" },
		{ DEF("\"requests_per_sec\": 0, \"burst\": 10"), "$.quotas.default.burst",
		  "burst needs requests_per_sec" },
		{ DEF("\"bytes_burst\": 4096"), "$.quotas.default.bytes_burst",
		  "bytes_burst needs bytes_per_sec" },
		{ DEF("\"max_connections\": 10"), "$.quotas.default.max_connections",
		  "needs gateway.cgroup (socket-level tracking)" },
		{ DEF("\"max_connections\": -1"), "$.quotas.default.max_connections",
		  "must be an integer in 0..1000000" },
		{ DEF("\"action\": \"deny\""), "$.quotas.default.action", "must be one of drop|monitor" },
		{ DEF("\"action\": \"exempt\""), "$.quotas.default.action", "must be one of drop|monitor" },
		{ DEF("\"action\": \"gateway\""), "$.quotas.default.action", "must be one of drop|monitor" },
		{ DEF("\"action\": 0"), "$.quotas.default.action", "must be one of drop|monitor" },
		/* Entry keys are not keys of quotas.default. */
		{ DEF("\"name\": \"x\""), "$.quotas.default.name", "unknown key" },
		{ DEF("\"cidr\": \"198.18.0.0/16\""), "$.quotas.default.cidr", "unknown key" },
		{ DEF("\"share\": \"shared\""), "$.quotas.default.share", "unknown key" },
		{ DEF("\"global\": false"), "$.quotas.default.global", "unknown key" },
		{ DEF("\"rps\": 5"), "$.quotas.default.rps", "unknown key" },
		{ DEF("\"burst\": 5, \"burst\": 6, \"requests_per_sec\": 1"), "$.quotas.default.burst",
		  "duplicate key" },
		{ CL(NET(", \"requests_per_sec\": 1000001")), C0 ".requests_per_sec", RPS_BAD },
		{ CL(NET(", \"bytes_per_sec\": 10")), C0 ".bytes_per_sec", BPS_BAD },
		{ CL(NET(", \"burst\": 3")), C0 ".burst", "burst needs requests_per_sec" },
		{ CL(KEYE(", \"bytes_burst\": 3")), C0 ".bytes_burst", "bytes_burst needs bytes_per_sec" },
		{ CL(NET(", \"max_connections\": 100")), C0 ".max_connections",
		  "needs gateway.cgroup (socket-level tracking)" },
	};

	BAD_ALL(c);
}

Test(quotas, bad_rate_gives_one_error)
{
	/* The burst is not blamed for its rate's own error. */
	bad(DEF("\"requests_per_sec\": -5, \"burst\": 10"), "$.quotas.default.requests_per_sec",
	    RPS_BAD);
}

Test(quotas, cidr_entries)
{
	ok(CL("{\"name\": \"office\", \"cidr\": \"198.18.10.0/24\", \"requests_per_sec\": 200},"
	      "{\"name\": \"v6\", \"cidr\": \"fd00:198:18::/64\", \"share\": \"per_address\"},"
	      "{\"name\": \"host\", \"cidr\": \"198.18.0.7\"},"
	      "{\"name\": \"host6\", \"cidr\": \"fd00:198:18::7\"},"
	      "{\"name\": \"all4\", \"cidr\": \"0.0.0.0/0\", \"share\": \"shared\"},"
	      "{\"name\": \"all6\", \"cidr\": \"::/0\"},"
	      "{\"name\": \"FD-upper\", \"cidr\": \"FD00:198:19::/48\"}"));
	cr_assert(eq(int, cfg.n_quotas, 7));
	cr_assert(eq(str, cfg.quotas[0].name, "office"));
	cr_assert(eq(int, cfg.quotas[0].match, TG_MATCH_CIDR));
	expect_v4(&cfg.quotas[0], "198.18.10.0", 120);
	cr_assert(eq(int, cfg.quotas[0].share, TG_SHARE_SHARED));
	cr_assert(eq(int, cfg.quotas[0].action, TG_ACTION_DROP));
	cr_assert(eq(u64, cfg.quotas[0].limits.requests_per_sec, 200));
	cr_assert(eq(u64, cfg.quotas[0].limits.burst, 200));
	expect_v6(&cfg.quotas[1], "fd00:198:18::", 64);
	cr_assert(eq(int, cfg.quotas[1].share, TG_SHARE_PER_ADDRESS));
	expect_v4(&cfg.quotas[2], "198.18.0.7", 128);
	expect_v6(&cfg.quotas[3], "fd00:198:18::7", 128);
	expect_v4(&cfg.quotas[4], "0.0.0.0", 96);
	expect_v6(&cfg.quotas[5], "::", 0);
	expect_v6(&cfg.quotas[6], "fd00:198:19::", 48);
	cr_assert(eq(str, cfg.quotas[0].api_key, ""));
}

Test(quotas, cidr_invalid)
{
	static const struct bad_case c[] = {
		{ CL("{\"name\": \"a\", \"cidr\": \"198.18.0.1/16\"}"), C0 ".cidr",
		  "host bits set (did you mean 198.18.0.0/16?)" },
		{ CL("{\"name\": \"a\", \"cidr\": \"198.18.10.200/25\"}"), C0 ".cidr",
		  "host bits set (did you mean 198.18.10.128/25?)" },
		{ CL("{\"name\": \"a\", \"cidr\": \"198.18.0.1/0\"}"), C0 ".cidr",
		  "host bits set (did you mean 0.0.0.0/0?)" },
		{ CL("{\"name\": \"a\", \"cidr\": \"fd00:198:18::1/64\"}"), C0 ".cidr",
		  "host bits set (did you mean fd00:198:18::/64?)" },
		{ CL("{\"name\": \"a\", \"cidr\": \"fd00:198:18:ff::/56\"}"), C0 ".cidr",
		  "host bits set (did you mean fd00:198:18::/56?)" },
		{ CL("{\"name\": \"a\", \"cidr\": \"198.18.0.0/33\"}"), C0 ".cidr", CIDR_BAD },
		{ CL("{\"name\": \"a\", \"cidr\": \"fd00::/129\"}"), C0 ".cidr", CIDR_BAD },
		{ CL("{\"name\": \"a\", \"cidr\": \"198.18.0.0/\"}"), C0 ".cidr", CIDR_BAD },
		{ CL("{\"name\": \"a\", \"cidr\": \"198.18.0.0/016\"}"), C0 ".cidr", CIDR_BAD },
		{ CL("{\"name\": \"a\", \"cidr\": \"198.18.0.0/+16\"}"), C0 ".cidr", CIDR_BAD },
		{ CL("{\"name\": \"a\", \"cidr\": \"198.18.0.0/16 \"}"), C0 ".cidr", CIDR_BAD },
		{ CL("{\"name\": \"a\", \"cidr\": \"198.18.0.0/1/6\"}"), C0 ".cidr", CIDR_BAD },
		{ CL("{\"name\": \"a\", \"cidr\": \"/16\"}"), C0 ".cidr", CIDR_BAD },
		{ CL("{\"name\": \"a\", \"cidr\": \"\"}"), C0 ".cidr", CIDR_BAD },
		{ CL("{\"name\": \"a\", \"cidr\": \"198.18/16\"}"), C0 ".cidr", CIDR_BAD },
		{ CL("{\"name\": \"a\", \"cidr\": \"198.18.0.256\"}"), C0 ".cidr", CIDR_BAD },
		{ CL("{\"name\": \"a\", \"cidr\": \"office.example.com/24\"}"), C0 ".cidr", CIDR_BAD },
		{ CL("{\"name\": \"a\", \"cidr\": \"fd00::1%eth0\"}"), C0 ".cidr", CIDR_BAD },
		{ CL("{\"name\": \"a\", \"cidr\": 5}"), C0 ".cidr", "expected a string" },
		{ CL("{\"name\": \"a\", \"cidr\": [\"198.18.0.0/16\"]}"), C0 ".cidr", "expected a string" },
	};

	BAD_ALL(c);
}

Test(quotas, cidr_helpers)
{
	uint32_t net[4], plen;
	char buf[TG_CIDR_STR_LEN];

	cr_assert(eq(int, tg_cidr_parse("198.18.3.4/8", net, &plen), -ERANGE));
	tg_cidr_format(net, plen, buf, sizeof(buf));
	cr_assert(eq(str, buf, "198.0.0.0/8"));
	cr_assert(eq(int, tg_cidr_parse("::ffff:198.18.0.0/112", net, &plen), 0));
	tg_cidr_format(net, plen, buf, sizeof(buf));
	cr_assert(eq(str, buf, "198.18.0.0/16")); /* mapped prints as IPv4 */
	cr_assert(eq(int, tg_cidr_parse("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", net, &plen), 0));
	tg_cidr_format(net, plen, buf, sizeof(buf));
	cr_assert(eq(str, buf, "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff/128"));
	cr_assert(eq(int, tg_cidr_parse("fd00:198:18::/127", net, &plen), 0));
	cr_assert(eq(u32, plen, 127));
	cr_assert(eq(int, tg_cidr_parse("0:0:0:0:0:ffff:255.255.255.255/128", net, &plen), 0));
	tg_cidr_format(net, plen, buf, sizeof(buf));
	cr_assert(eq(str, buf, "255.255.255.255/32"));
	cr_assert(eq(int, tg_cidr_parse("1.2.3.4.5", net, &plen), -EINVAL));
}

Test(quotas, names_and_matches)
{
	static const struct bad_case c[] = {
		{ CL("{\"cidr\": \"198.18.0.0/16\"}"), C0, "missing name" },
		{ CL("{\"name\": \"a\"}"), C0, MATCH_NONE },
		{ CL("{\"name\": \"a\", \"requests_per_sec\": 5}"), C0, MATCH_NONE },
		{ CL("{\"name\": \"\", \"cidr\": \"198.18.0.0/16\"}"), C0 ".name", NAME_BAD },
		{ CL("{\"name\": \"a b\", \"cidr\": \"198.18.0.0/16\"}"), C0 ".name", NAME_BAD },
		{ CL("{\"name\": \"a/b\", \"cidr\": \"198.18.0.0/16\"}"), C0 ".name", NAME_BAD },
		{ CL("{\"name\": \"abcdefghijklmnopqrstuvwxyz012345\", \"cidr\": \"198.18.0.0/16\"}"),
		  C0 ".name", NAME_BAD },
		{ CL("{\"name\": 5, \"cidr\": \"198.18.0.0/16\"}"), C0 ".name", NAME_BAD },
		{ CL(NET(", \"api_key\": \"sk-1\"")), C0 ".api_key", MATCH_TWO },
		{ CL(KEYE(", \"cidr\": \"198.18.0.0/16\"")), C0 ".cidr", MATCH_TWO },
		{ CL(KEYE(", \"api_key_env\": \"TG_X\"")), C0 ".api_key_env", MATCH_TWO },
		{ CL(NET(", \"cidr\": \"198.19.0.0/16\"")), C0 ".cidr", "duplicate key" },
		{ CL(NET(", \"rate\": 5")), C0 ".rate", "unknown key" },
		{ CL(NET(", \"x\\ny\": 5")), C0 "[\"x\\u000ay\"]", "unknown key" },
		{ CL("5"), C0, "expected an object" },
		{ CL("null"), C0, "expected an object" },
		{ Q("\"clients\": {}"), "$.quotas.clients", "expected an array of entries" },
		{ Q("\"clients\": null"), "$.quotas.clients", "expected an array of entries" },
		{ Q("\"client\": []"), "$.quotas.client", "unknown key" },
	};

	BAD_ALL(c);
	ok(CL("{\"name\": \"abcdefghijklmnopqrstuvwxyz01234\", \"cidr\": \"198.18.0.0/16\"},"
	      "{\"name\": \"A.b_c-9\", \"cidr\": \"198.19.0.0/16\"}"));
	cr_assert(eq(str, cfg.quotas[1].name, "A.b_c-9"));
}

Test(quotas, actions_share_global)
{
	static const struct bad_case c[] = {
		{ CL(NET(", \"action\": \"block\"")), C0 ".action", ACTION_BAD },
		{ CL(NET(", \"action\": \"DROP\"")), C0 ".action", ACTION_BAD },
		{ CL(NET(", \"action\": null")), C0 ".action", ACTION_BAD },
		{ CL(NET(", \"action\": \"deny\", \"requests_per_sec\": 10")), C0 ".requests_per_sec",
		  "limits make no sense with action deny" },
		{ CL(NET(", \"action\": \"exempt\", \"bytes_per_sec\": 1000")), C0 ".bytes_per_sec",
		  "limits make no sense with action exempt" },
		{ CL(KEYE(", \"connections_per_sec\": 1, \"action\": \"deny\"")),
		  C0 ".connections_per_sec", "limits make no sense with action deny" },
		{ CL(NET(", \"action\": \"exempt\", \"burst\": 5")), C0 ".burst",
		  "limits make no sense with action exempt" },
		{ CL(NET(", \"share\": \"per_host\"")), C0 ".share", "must be one of shared|per_address" },
		{ CL(NET(", \"share\": 1")), C0 ".share", "must be one of shared|per_address" },
		{ CL(KEYE(", \"share\": \"per_address\"")), C0 ".share", "only for cidr entries" },
		{ CL(KEYE(", \"share\": \"shared\"")), C0 ".share", "only for cidr entries" },
		{ CL(NET(", \"global\": true")), C0 ".global",
		  "needs cluster (the Redis it is shared through)" },
		{ CL(NET(", \"global\": \"no\"")), C0 ".global", "expected a boolean" },
		{ CL(NET(", \"global\": null")), C0 ".global", "expected a boolean" },
	};

	BAD_ALL(c);
	ok(CL(NET(", \"action\": \"monitor\", \"global\": false") ","
	      "{\"name\": \"d\", \"cidr\": \"198.19.0.0/16\", \"action\": \"deny\"},"
	      "{\"name\": \"e\", \"cidr\": \"198.18.0.8/29\", \"action\": \"exempt\","
	      " \"requests_per_sec\": 0, \"share\": \"per_address\"},"
	      "{\"name\": \"k\", \"api_key\": \"sk-k\", \"action\": \"deny\"},"
	      "{\"name\": \"x\", \"api_key\": \"sk-x\", \"action\": \"exempt\"},"
	      "{\"name\": \"p\", \"cidr\": \"198.18.0.0/24\", \"action\": \"drop\"}"));
	cr_assert(eq(int, cfg.quotas[0].action, TG_ACTION_MONITOR));
	cr_assert(eq(int, cfg.quotas[1].action, TG_ACTION_DENY));
	cr_assert(eq(int, cfg.quotas[2].action, TG_ACTION_EXEMPT));
	cr_assert(eq(int, cfg.quotas[2].share, TG_SHARE_PER_ADDRESS));
	cr_assert(eq(int, cfg.quotas[3].action, TG_ACTION_DENY));
	cr_assert(eq(int, cfg.quotas[3].match, TG_MATCH_API_KEY));
	cr_assert(eq(int, cfg.quotas[4].action, TG_ACTION_EXEMPT));
	cr_assert(eq(int, cfg.quotas[5].action, TG_ACTION_DROP));
}

Test(quotas, api_keys_inline)
{
	char json[512], key[TG_APIKEY_MAX + 2];
	static const struct bad_case c[] = {
		{ CL("{\"name\": \"k\", \"api_key\": \"\"}"), C0 ".api_key", "must be " KEY_BAD },
		{ CL("{\"name\": \"k\", \"api_key\": \"Bearer sk-1\"}"), C0 ".api_key", "must be " KEY_BAD },
		{ CL("{\"name\": \"k\", \"api_key\": \"sk-1\\t\"}"), C0 ".api_key", "must be " KEY_BAD },
		{ CL("{\"name\": \"k\", \"api_key\": \"sk-\\u00e9\"}"), C0 ".api_key", "must be " KEY_BAD },
		{ CL("{\"name\": \"k\", \"api_key\": \"sk-\\u007f\"}"), C0 ".api_key", "must be " KEY_BAD },
		{ CL("{\"name\": \"k\", \"api_key\": \"sk,1\"}"), C0 ".api_key", "must be " KEY_BAD },
		{ CL("{\"name\": \"k\", \"api_key\": \"sk;1\"}"), C0 ".api_key", "must be " KEY_BAD },
		{ CL("{\"name\": \"k\", \"api_key\": 12345}"), C0 ".api_key", "expected a string" },
		{ CL("{\"name\": \"k\", \"api_key\": \"<redacted>\"}"), C0 ".api_key",
		  "\"<redacted>\" is a placeholder: put the key here or use api_key_env" },
	};

	BAD_ALL(c);
	ok(CL("{\"name\": \"k\", \"api_key\": \"sk-proj_AZaz09!~\\\"#$%&'()*+-./:<=>?@[\\\\]^`{|}\"}"));
	cr_assert(eq(int, cfg.quotas[0].match, TG_MATCH_API_KEY));
	cr_assert(eq(str, cfg.quotas[0].api_key, "sk-proj_AZaz09!~\"#$%&'()*+-./:<=>?@[\\]^`{|}"));
	cr_assert(eq(str, cfg.quotas[0].api_key_env, ""));

	memset(key, 'k', TG_APIKEY_MAX);
	key[TG_APIKEY_MAX] = '\0';
	snprintf(json, sizeof(json), CL("{\"name\": \"k\", \"api_key\": \"%s\"}"), key);
	ok(json);
	cr_assert(eq(int, (int)strlen(cfg.quotas[0].api_key), TG_APIKEY_MAX));
	strcat(key, "k");
	snprintf(json, sizeof(json), CL("{\"name\": \"k\", \"api_key\": \"%s\"}"), key);
	bad(json, C0 ".api_key", "must be " KEY_BAD);
}

Test(quotas, api_keys_from_env)
{
	static const struct bad_case c[] = {
		{ CL("{\"name\": \"k\", \"api_key_env\": \"TG_TEST_UNSET_KEY\"}"), C0 ".api_key_env",
		  "environment variable TG_TEST_UNSET_KEY is not set" },
		{ CL("{\"name\": \"k\", \"api_key_env\": \"TG_TEST_EMPTY_KEY\"}"), C0 ".api_key_env",
		  "environment variable TG_TEST_EMPTY_KEY is not set" },
		{ CL("{\"name\": \"k\", \"api_key_env\": \"TG_TEST_SPACE_KEY\"}"), C0 ".api_key_env",
		  "environment variable TG_TEST_SPACE_KEY must hold " KEY_BAD },
		{ CL("{\"name\": \"k\", \"api_key_env\": \"TG_TEST_LONG_KEY\"}"), C0 ".api_key_env",
		  "environment variable TG_TEST_LONG_KEY must hold " KEY_BAD },
		{ CL("{\"name\": \"k\", \"api_key_env\": \"\"}"), C0 ".api_key_env", ENV_NAME_BAD },
		{ CL("{\"name\": \"k\", \"api_key_env\": \"1KEY\"}"), C0 ".api_key_env", ENV_NAME_BAD },
		{ CL("{\"name\": \"k\", \"api_key_env\": \"TG-KEY\"}"), C0 ".api_key_env", ENV_NAME_BAD },
		{ CL("{\"name\": \"k\", \"api_key_env\": \"TG KEY\"}"), C0 ".api_key_env", ENV_NAME_BAD },
		{ CL("{\"name\": \"k\", \"api_key_env\": \"$TG_KEY\"}"), C0 ".api_key_env", ENV_NAME_BAD },
		{ CL("{\"name\": \"k\", \"api_key_env\": "
		     "\"A234567890123456789012345678901234567890123456789012345678901234\"}"),
		  C0 ".api_key_env", ENV_NAME_BAD },
		{ CL("{\"name\": \"k\", \"api_key_env\": null}"), C0 ".api_key_env", "expected a string" },
	};
	char longkey[TG_APIKEY_MAX + 2];

	memset(longkey, 'x', TG_APIKEY_MAX + 1);
	longkey[TG_APIKEY_MAX + 1] = '\0';
	unsetenv("TG_TEST_UNSET_KEY");
	setenv("TG_TEST_EMPTY_KEY", "", 1);
	setenv("TG_TEST_SPACE_KEY", "sk secret", 1);
	setenv("TG_TEST_LONG_KEY", longkey, 1);
	BAD_ALL(c);
	/* No error message shows a value. */
	cr_assert(eq(ptr, strstr(errs.e[0].reason, "secret"), NULL));

	setenv("_tg_test_key_9", "sk-from-env", 1);
	ok(CL("{\"name\": \"k\", \"api_key_env\": \"_tg_test_key_9\", \"requests_per_sec\": 3}"));
	cr_assert(eq(int, cfg.quotas[0].match, TG_MATCH_API_KEY));
	cr_assert(eq(str, cfg.quotas[0].api_key, "sk-from-env"));
	cr_assert(eq(str, cfg.quotas[0].api_key_env, "_tg_test_key_9"));
	cr_assert(eq(u64, cfg.quotas[0].limits.burst, 3));
	/* The value is read at parse time: a reload sees a new one. */
	setenv("_tg_test_key_9", "sk-rotated", 1);
	ok(CL("{\"name\": \"k\", \"api_key_env\": \"_tg_test_key_9\"}"));
	cr_assert(eq(str, cfg.quotas[0].api_key, "sk-rotated"));
	unsetenv("_tg_test_key_9");
	bad(CL("{\"name\": \"k\", \"api_key_env\": \"_tg_test_key_9\"}"), C0 ".api_key_env",
	    "environment variable _tg_test_key_9 is not set");
}

Test(quotas, duplicates)
{
	static const struct bad_case c[] = {
		{ CL(NET("") ",{\"name\": \"n\", \"api_key\": \"sk-1\"}"), "$.quotas.clients[1].name",
		  "duplicate name (same as quotas.clients[0])" },
		{ CL("{\"name\": \"a\", \"cidr\": \"198.18.0.0/16\"},"
		     "{\"name\": \"b\", \"cidr\": \"198.18.0.0/24\"},"
		     "{\"name\": \"c\", \"cidr\": \"198.18.0.0/16\", \"share\": \"per_address\"}"),
		  "$.quotas.clients[2].cidr", "duplicate of quotas.clients[0]" },
		/* The same network however it is spelled. */
		{ CL("{\"name\": \"a\", \"cidr\": \"198.18.0.0/16\"},"
		     "{\"name\": \"b\", \"cidr\": \"::ffff:198.18.0.0/112\"}"),
		  "$.quotas.clients[1].cidr", "duplicate of quotas.clients[0]" },
		{ CL("{\"name\": \"a\", \"cidr\": \"fd00:198:18::/64\"},"
		     "{\"name\": \"b\", \"cidr\": \"FD00:198:18:0::/64\"}"),
		  "$.quotas.clients[1].cidr", "duplicate of quotas.clients[0]" },
		{ CL("{\"name\": \"a\", \"cidr\": \"198.18.0.7\"},"
		     "{\"name\": \"b\", \"cidr\": \"198.18.0.7/32\"}"),
		  "$.quotas.clients[1].cidr", "duplicate of quotas.clients[0]" },
		{ CL("{\"name\": \"a\", \"api_key\": \"sk-same\"},"
		     "{\"name\": \"b\", \"cidr\": \"198.18.0.0/16\"},"
		     "{\"name\": \"c\", \"api_key\": \"sk-same\"}"),
		  "$.quotas.clients[2].api_key", "duplicate api key (same as quotas.clients[0])" },
		{ CL("{\"name\": \"a\", \"api_key\": \"sk-same\"},"
		     "{\"name\": \"b\", \"api_key_env\": \"TG_TEST_DUP_KEY\"}"),
		  "$.quotas.clients[1].api_key_env", "duplicate api key (same as quotas.clients[0])" },
		{ CL("{\"name\": \"a\", \"api_key_env\": \"TG_TEST_DUP_KEY\"},"
		     "{\"name\": \"b\", \"api_key\": \"sk-same\"}"),
		  "$.quotas.clients[1].api_key", "duplicate api key (same as quotas.clients[0])" },
	};

	setenv("TG_TEST_DUP_KEY", "sk-same", 1);
	BAD_ALL(c);
	/* Different prefixes, families and key case are different entries. */
	ok(CL("{\"name\": \"a\", \"cidr\": \"198.18.0.0/16\"},"
	      "{\"name\": \"b\", \"cidr\": \"198.18.0.0/15\"},"
	      "{\"name\": \"c\", \"cidr\": \"::/16\"},"
	      "{\"name\": \"d\", \"api_key\": \"sk-same\"},"
	      "{\"name\": \"e\", \"api_key\": \"SK-SAME\"},"
	      "{\"name\": \"A\", \"api_key\": \"198.18.0.0/16\"}"));
	/* An invalid entry is not reported again as a duplicate. */
	bad(CL("{\"name\": \"a\", \"cidr\": \"198.18.0.1/16\"},"
	       "{\"name\": \"b\", \"cidr\": \"198.18.0.0/16\"}"),
	    C0 ".cidr", "host bits set (did you mean 198.18.0.0/16?)");
}

Test(quotas, several_errors_in_order)
{
	static const char json[] = CL(
		"{\"name\": \"ok\", \"cidr\": \"198.18.0.0/16\"},"
		"{\"name\": \"ok\", \"cidr\": \"198.18.0.0/16\", \"burst\": 4},"
		"{\"name\": \"c\", \"cidr\": \"198.18.0.1/24\", \"action\": \"deny\", \"burst\": 2}");
	static const struct tg_config_error want[] = {
		{ "$.quotas.clients[1].burst", "burst needs requests_per_sec" },
		{ "$.quotas.clients[1].name", "duplicate name (same as quotas.clients[0])" },
		{ "$.quotas.clients[1].cidr", "duplicate of quotas.clients[0]" },
		{ "$.quotas.clients[2].cidr", "host bits set (did you mean 198.18.0.0/24?)" },
		{ "$.quotas.clients[2].burst", "limits make no sense with action deny" },
	};
	const int n = (int)(sizeof(want) / sizeof(want[0]));
	static struct tg_config before;

	/* A failed parse leaves the caller's config alone, quotas included. */
	memset(&cfg, 0x5a, sizeof(cfg));
	before = cfg;
	cr_assert(eq(int, parse(json), -EINVAL));
	cr_assert(eq(int, memcmp(&cfg, &before, sizeof(cfg)), 0));
	cr_assert(eq(int, errs.n, n));
	for (int i = 0; i < n; i++) {
		cr_expect(eq(str, errs.e[i].path, (char *)want[i].path), "error %d", i);
		cr_expect(eq(str, errs.e[i].reason, (char *)want[i].reason), "error %d", i);
	}
}

/* {"quotas": {"clients": [n entries]}}, each its own /32. */
static char *many(int n)
{
	char *s = malloc((size_t)n * 64 + 64);
	size_t o = (size_t)sprintf(s, "{\"quotas\": {\"clients\": [");

	for (int i = 0; i < n; i++)
		o += (size_t)sprintf(s + o, "%s{\"name\": \"e%d\", \"cidr\": \"198.18.%d.%d\"}",
				     i ? "," : "", i, i / 256, i % 256);
	strcpy(s + o, "]}}");
	return s;
}

Test(quotas, entry_count_limit)
{
	char *s = many(TG_MAX_QUOTAS - 1);

	ok(s);
	cr_assert(eq(int, cfg.n_quotas, TG_MAX_QUOTAS - 1));
	expect_v4(&cfg.quotas[TG_MAX_QUOTAS - 2], "198.18.3.254", 128);
	free(s);
	s = many(TG_MAX_QUOTAS);
	bad(s, "$.quotas.clients", "at most 1023 entries");
	free(s);
}

static const char printed[] = CL(
	"{\"name\": \"office\", \"cidr\": \"198.18.10.0/24\", \"requests_per_sec\": 200},"
	"{\"name\": \"per-host\", \"cidr\": \"fd00:198:18::/64\", \"share\": \"per_address\","
	" \"connections_per_sec\": 9, \"action\": \"monitor\"},"
	"{\"name\": \"scanner\", \"cidr\": \"198.19.66.0/24\", \"action\": \"deny\"},"
	"{\"name\": \"inline\", \"api_key\": \"sk-inline-TOPSECRET\", \"bytes_per_sec\": 4096},"
	"{\"name\": \"from-env\", \"api_key_env\": \"TG_TEST_PRINT_KEY\", \"requests_per_sec\": 5}");

Test(quotas, to_json_redacts_and_shows_effective_values)
{
	cJSON *j, *q, *cl, *e;
	char *s;

	setenv("TG_TEST_PRINT_KEY", "sk-env-TOPSECRET", 1);
	cr_assert(eq(int, parse(printed), 0));
	s = tg_config_to_json(&cfg);
	cr_assert(s != NULL);
	cr_assert(eq(ptr, strstr(s, "TOPSECRET"), NULL), "%s", s);

	j = cJSON_Parse(s);
	q = cJSON_GetObjectItem(j, "quotas");
	e = cJSON_GetObjectItem(q, "default");
	cr_assert(eq(str, cJSON_GetObjectItem(e, "action")->valuestring, "drop"));
	cr_assert(eq(int, cJSON_GetObjectItem(e, "burst")->valueint, 0));
	cl = cJSON_GetObjectItem(q, "clients");
	cr_assert(eq(int, cJSON_GetArraySize(cl), 5));

	e = cJSON_GetArrayItem(cl, 0);
	cr_assert(eq(str, cJSON_GetObjectItem(e, "cidr")->valuestring, "198.18.10.0/24"));
	cr_assert(eq(str, cJSON_GetObjectItem(e, "share")->valuestring, "shared"));
	cr_assert(eq(str, cJSON_GetObjectItem(e, "action")->valuestring, "drop"));
	cr_assert(eq(int, cJSON_GetObjectItem(e, "burst")->valueint, 200)); /* computed */
	e = cJSON_GetArrayItem(cl, 1);
	cr_assert(eq(str, cJSON_GetObjectItem(e, "cidr")->valuestring, "fd00:198:18::/64"));
	cr_assert(eq(str, cJSON_GetObjectItem(e, "share")->valuestring, "per_address"));
	cr_assert(eq(str, cJSON_GetObjectItem(e, "action")->valuestring, "monitor"));
	e = cJSON_GetArrayItem(cl, 2);
	cr_assert(eq(str, cJSON_GetObjectItem(e, "action")->valuestring, "deny"));
	cr_assert(eq(ptr, cJSON_GetObjectItem(e, "requests_per_sec"), NULL));
	e = cJSON_GetArrayItem(cl, 3);
	cr_assert(eq(str, cJSON_GetObjectItem(e, "api_key")->valuestring, "<redacted>"));
	cr_assert(eq(ptr, cJSON_GetObjectItem(e, "cidr"), NULL));
	cr_assert(eq(ptr, cJSON_GetObjectItem(e, "share"), NULL));
	cr_assert(eq(int, cJSON_GetObjectItem(e, "bytes_burst")->valueint, 4096));
	e = cJSON_GetArrayItem(cl, 4);
	cr_assert(eq(str, cJSON_GetObjectItem(e, "api_key_env")->valuestring, "TG_TEST_PRINT_KEY"));
	cr_assert(eq(ptr, cJSON_GetObjectItem(e, "api_key"), NULL));
	cJSON_Delete(j);

	/* Pasting the printed config back needs the real key. */
	cr_assert(eq(int, parse(s), -EINVAL));
	cr_assert(eq(str, errs.e[0].path, "$.quotas.clients[3].api_key"));
	free(s);

	cr_assert(eq(int, parse(printed), 0));
	s = tg_config_to_json_flags(&cfg, TG_CONFIG_JSON_SECRETS);
	cr_assert(strstr(s, "sk-inline-TOPSECRET") != NULL);
	cr_assert(eq(ptr, strstr(s, "sk-env-TOPSECRET"), NULL)); /* still by name */
	free(s);
}

static void round_trip(const char *json)
{
	static struct tg_config a, b;
	char *s;

	cr_assert(eq(int, parse(json), 0), "%s: %s", errs.e[0].path, errs.e[0].reason);
	a = cfg;
	for (int pass = 0; pass < 2; pass++) {
		s = tg_config_to_json_flags(&a, TG_CONFIG_JSON_SECRETS);
		cr_assert(s != NULL);
		cr_assert(eq(int, tg_config_parse(s, strlen(s), &b, &errs), 0), "%s", s);
		cr_assert(eq(int, memcmp(&a, &b, sizeof(a)), 0), "%s", s);
		free(s);
		a = b;
	}
}

Test(quotas, round_trip)
{
	setenv("TG_TEST_PRINT_KEY", "sk-env-TOPSECRET", 1);
	round_trip(printed);
	round_trip(DEF("\"requests_per_sec\": 20, \"burst\": 40, \"bytes_per_sec\": 1000000000000,"
		       " \"action\": \"monitor\""));
	round_trip(CL("{\"name\": \"all\", \"cidr\": \"::/0\", \"action\": \"exempt\"},"
		      "{\"name\": \"m\", \"cidr\": \"::ffff:198.18.0.0/112\"}"));
}

/* The repository's config/example-quotas.json, found from this file. */
static void example_path(char *buf, size_t len)
{
	const char *tail = strstr(__FILE__, "tests/unit/");

	cr_assert(tail != NULL);
	snprintf(buf, len, "%.*sconfig/example-quotas.json", (int)(tail - __FILE__), __FILE__);
}

Test(quotas, example_config)
{
	char path[4096], *s;

	example_path(path, sizeof(path));
	unsetenv("TOLLGATE_KEY_TEAM_A");
	cr_assert(eq(int, tg_config_load(path, &cfg, &errs), -EINVAL));
	cr_assert(eq(int, errs.n, 1));
	cr_assert(eq(str, errs.e[0].path, "$.quotas.clients[4].api_key_env"));
	cr_assert(eq(str, errs.e[0].reason, "environment variable TOLLGATE_KEY_TEAM_A is not set"));

	setenv("TOLLGATE_KEY_TEAM_A", "tg-team-a-7d1f0c5b", 1);
	cr_assert(eq(int, tg_config_load(path, &cfg, &errs), 0), "%s: %s", errs.e[0].path,
		  errs.e[0].reason);
	cr_assert(eq(int, cfg.mode, TG_MODE_ENFORCE));
	cr_assert(eq(u64, cfg.default_limits.requests_per_sec, 20));
	cr_assert(eq(u64, cfg.default_limits.burst, 40));
	cr_assert(eq(int, cfg.n_quotas, 6));
	expect_v4(&cfg.quotas[0], "198.18.10.0", 120);
	cr_assert(eq(u64, cfg.quotas[0].limits.requests_per_sec, 200));
	cr_assert(eq(int, cfg.quotas[1].share, TG_SHARE_PER_ADDRESS));
	cr_assert(eq(int, cfg.quotas[2].action, TG_ACTION_EXEMPT));
	cr_assert(eq(int, cfg.quotas[3].action, TG_ACTION_DENY));
	cr_assert(eq(str, cfg.quotas[4].api_key, "tg-team-a-7d1f0c5b"));
	cr_assert(eq(u64, cfg.quotas[4].limits.bytes_per_sec, 10000000));
	cr_assert(eq(u64, cfg.quotas[4].limits.bytes_burst, 10000000));
	cr_assert(eq(int, cfg.quotas[5].match, TG_MATCH_API_KEY));
	cr_assert(eq(int, cfg.quotas[5].action, TG_ACTION_MONITOR));
	s = tg_config_to_json(&cfg);
	cr_assert(eq(ptr, strstr(s, "tg-team-a-7d1f0c5b"), NULL));
	cr_assert(eq(ptr, strstr(s, "tg-demo-batch"), NULL));
	free(s);
	unsetenv("TOLLGATE_KEY_TEAM_A");
}
