/* Config parsing and validation: every key valid and invalid, with the exact
 * JSON path and reason each error must carry. */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <cjson/cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config/config.h"
#include "lib/log.h"
#include "shared.h"

#include "config_check.h"

Test(config, defaults)
{
	static const uint16_t ports[] = { 80, 443, 4000, 8000, 8080, 8099, 9080 };

	tg_config_defaults(&cfg);
	cr_assert(eq(str, cfg.instance, "default"));
	cr_assert(eq(int, cfg.n_interfaces, 1));
	cr_assert(eq(str, cfg.interfaces[0], "lo"));
	cr_assert(eq(int, cfg.n_ports, 7));
	cr_assert(eq(int, memcmp(cfg.ports, ports, sizeof(ports)), 0));
	cr_assert(eq(u32, cfg.max_clients, 262144));
	cr_assert(eq(int, cfg.mode, TG_MODE_MONITOR));
	cr_assert(eq(u32, cfg.ipv6_prefix, 64));
	cr_assert(eq(int, cfg.n_key_headers, 3));
	cr_assert(eq(str, cfg.key_headers[0], "authorization"));
	cr_assert(eq(str, cfg.key_headers[1], "x-api-key"));
	cr_assert(eq(str, cfg.key_headers[2], "api-key"));
	cr_assert(eq(u32, cfg.header_scan_bytes, 1024));
	cr_assert(not(cfg.proxy_protocol));
	cr_assert(eq(u64, cfg.default_limits.requests_per_sec, 0));
	cr_assert(eq(u64, cfg.default_limits.bytes_burst, 0));
	cr_assert(eq(int, cfg.default_action, TG_ACTION_DROP));
	cr_assert(eq(int, cfg.n_quotas, 0));
	cr_assert(eq(str, cfg.api_listen, "127.0.0.1:9470"));
	cr_assert(eq(u32, cfg.api_top_n, 50));
	cr_assert(eq(int, cfg.log_level, TG_LOG_INFO));
	cr_assert(eq(int, cfg.log_format, TG_LOG_LOGFMT));
}

Test(config, embedded_default_equals_defaults)
{
	static struct tg_config def; /* ~300 KB */

	tg_config_defaults(&def);
	cr_assert(eq(int, parse(tg_default_config_json), 0));
	cr_assert(eq(int, errs.n, 0));
	cr_assert(eq(int, memcmp(&cfg, &def, sizeof(def)), 0));
	ok("{}");
	cr_assert(eq(int, memcmp(&cfg, &def, sizeof(def)), 0));
	ok(" \n{ \"gateway\": {}, \"identity\": {}, \"quotas\": {}, \"api\": {}, \"log\": {} }\n");
	cr_assert(eq(int, memcmp(&cfg, &def, sizeof(def)), 0));
	ok("{\"quotas\": {\"default\": {}, \"clients\": []}}");
	cr_assert(eq(int, memcmp(&cfg, &def, sizeof(def)), 0));
}

static const char full[] =
	"{\"instance\": \"edge-1_A\","
	" \"gateway\": {\"interfaces\": [\"eth0\", \"veth-gw\"], \"ports\": [8080, 80, 443],"
	"  \"max_clients\": 1024, \"cgroup\": null},"
	" \"mode\": \"enforce\", \"identity\": {\"ipv6_prefix\": 48,"
	"  \"api_key_headers\": [\"X-Team-Key\", \"Authorization\"], \"header_scan_bytes\": 2048,"
	"  \"proxy_protocol\": true},"
	" \"api\": {\"listen\": \"[::1]:9000\", \"top_n\": 10000},"
	" \"log\": {\"level\": \"debug\", \"format\": \"json\"}, \"cluster\": null}";

Test(config, every_key_valid)
{
	ok(full);
	cr_assert(eq(str, cfg.instance, "edge-1_A"));
	cr_assert(eq(int, cfg.n_interfaces, 2));
	cr_assert(eq(str, cfg.interfaces[0], "eth0"));
	cr_assert(eq(str, cfg.interfaces[1], "veth-gw"));
	cr_assert(eq(int, cfg.n_ports, 3));
	cr_assert(eq(int, memcmp(cfg.ports, (uint16_t[]){ 80, 443, 8080, 0 }, 8), 0)); /* sorted */
	cr_assert(eq(u32, cfg.max_clients, 1024));
	cr_assert(eq(int, cfg.mode, TG_MODE_ENFORCE));
	cr_assert(eq(u32, cfg.ipv6_prefix, 48));
	cr_assert(eq(int, cfg.n_key_headers, 2));
	cr_assert(eq(str, cfg.key_headers[0], "x-team-key")); /* stored lower case */
	cr_assert(eq(str, cfg.key_headers[1], "authorization"));
	cr_assert(eq(u32, cfg.header_scan_bytes, 2048));
	cr_assert(cfg.proxy_protocol);
	cr_assert(eq(str, cfg.api_listen, "[::1]:9000"));
	cr_assert(eq(u32, cfg.api_top_n, 10000));
	cr_assert(eq(int, cfg.log_level, TG_LOG_DEBUG));
	cr_assert(eq(int, cfg.log_format, TG_LOG_JSON));
}

Test(config, bounds_and_forms_accepted)
{
	ok("{\"gateway\": {\"interfaces\": []}}");
	cr_assert(eq(int, cfg.n_interfaces, 0));
	ok("{\"gateway\": {\"interfaces\": [\"abcdefghijklmno\"], \"ports\": [65535, 1],"
	   " \"max_clients\": 16777216}}");
	cr_assert(eq(u16, cfg.ports[0], 1));
	cr_assert(eq(u32, cfg.max_clients, 16777216));
	ok("{\"instance\": \"abcdefghijklmnopqrstuvwxyz01234\"}");
	ok("{\"identity\": {\"ipv6_prefix\": 1}, \"api\": {\"top_n\": 1}}");
	ok("{\"identity\": {\"ipv6_prefix\": 128}}");
	ok("{\"mode\": \"monitor\"}");
	cr_assert(eq(int, cfg.mode, TG_MODE_MONITOR));
	ok("{\"identity\": {\"api_key_headers\": [\"abcdefghijklmno\", \"a\", \"0-9\", \"API-KEY\"],"
	   " \"header_scan_bytes\": 64, \"proxy_protocol\": false}}");
	cr_assert(eq(int, cfg.n_key_headers, 4));
	cr_assert(eq(str, cfg.key_headers[3], "api-key"));
	cr_assert(eq(u32, cfg.header_scan_bytes, 64));
	/* JSON Schema's integer: a number with no fraction, whatever the spelling. */
	ok("{\"identity\": {\"ipv6_prefix\": 56.0}}");
	cr_assert(eq(u32, cfg.ipv6_prefix, 56));
	ok("{\"api\": {\"listen\": \"localhost:9470\"}}");
	cr_assert(eq(str, cfg.api_listen, "127.0.0.1:9470"));
	ok("{\"api\": {\"listen\": \"127.0.0.2:1\"}}");
	ok("{\"api\": {\"listen\": \"[::ffff:127.0.0.1]:65535\"}}");
	ok("{\"log\": {\"level\": \"error\", \"format\": \"logfmt\"}}");
	cr_assert(eq(int, cfg.log_level, TG_LOG_ERROR));
	ok("{\"log\": {\"level\": \"warn\"}}");
	cr_assert(eq(int, cfg.log_level, TG_LOG_WARN));
}

/* {"gateway": {"interfaces"|"ports": [n items]}}, items counting down. */
static const char *gw_list(char *buf, size_t len, bool ports, int n)
{
	size_t o = (size_t)snprintf(buf, len, "{\"gateway\": {\"%s\": [",
				    ports ? "ports" : "interfaces");

	for (int i = 0; i < n; i++)
		o += ports ? (size_t)snprintf(buf + o, len - o, "%s%d", i ? "," : "", 1000 - i)
			   : (size_t)snprintf(buf + o, len - o, "%s\"if%d\"", i ? "," : "", 1000 - i);
	snprintf(buf + o, len - o, "]}}");
	return buf;
}

Test(config, list_lengths)
{
	char buf[4096];

	ok(gw_list(buf, sizeof(buf), false, TG_MAX_INTERFACES));
	bad(gw_list(buf, sizeof(buf), false, TG_MAX_INTERFACES + 1), "$.gateway.interfaces",
	    "at most 32 interfaces");
	ok(gw_list(buf, sizeof(buf), true, TG_MAX_PORTS));
	cr_assert(eq(u16, cfg.ports[0], 1000 - TG_MAX_PORTS + 1));
	bad(gw_list(buf, sizeof(buf), true, TG_MAX_PORTS + 1), "$.gateway.ports",
	    "at most 64 ports");
	bad("{\"identity\": {\"api_key_headers\": [\"a\", \"b\", \"c\", \"d\", \"e\"]}}",
	    "$.identity.api_key_headers", "at most 4 headers");
}

#define INSTANCE_BAD "must be 1..31 characters of A-Z a-z 0-9 _ -"
#define IFACE_BAD "must be an interface name: 1..15 characters, no '/', ':' or whitespace"
#define PORT_BAD "must be an integer in 1..65535"
#define LISTEN_BAD "must be \"host:port\" with an IPv4 address, [IPv6] or localhost, port 1..65535"
#define NONLOOP "a non-loopback address needs api.token_env (a bearer token)"
#define MAXC_BAD "must be an integer in 1024..16777216"
#define NSY "not supported yet"
#define HDR_BAD "must be a header name: 1..15 characters of A-Z a-z 0-9 -"
#define SCAN_BAD "must be an integer in 64..2048"
#define HDRS(s) IDENT("\"api_key_headers\": [" s "]")
#define GW(s) "{\"gateway\": {" s "}}"
#define IFS(s) GW("\"interfaces\": [" s "]")
#define PORTS(s) GW("\"ports\": [" s "]")
#define MAXC(s) GW("\"max_clients\": " s)
#define IDENT(s) "{\"identity\": {" s "}}"
#define API(s) "{\"api\": {" s "}}"
#define LISTEN(s) API("\"listen\": \"" s "\"")

Test(config, instance_and_gateway_invalid)
{
	static const struct bad_case c[] = {
		{ "{\"instance\": \"\"}", "$.instance", INSTANCE_BAD },
		{ "{\"instance\": \"abcdefghijklmnopqrstuvwxyz012345\"}", "$.instance", INSTANCE_BAD },
		{ "{\"instance\": \"a b\"}", "$.instance", INSTANCE_BAD },
		{ "{\"instance\": \"a.b\"}", "$.instance", INSTANCE_BAD },
		{ "{\"instance\": \"../x\"}", "$.instance", INSTANCE_BAD },
		{ "{\"instance\": 5}", "$.instance", "expected a string" },
		{ "{\"instance\": null}", "$.instance", "expected a string" },
		{ "{\"gateway\": []}", "$.gateway", "expected an object" },
		{ "{\"gateway\": null}", "$.gateway", "expected an object" },
		{ GW("\"interfaces\": \"lo\""), "$.gateway.interfaces", "expected an array of interfaces" },
		{ IFS("\"\""), "$.gateway.interfaces[0]", IFACE_BAD },
		{ IFS("\"lo\", \"a/b\""), "$.gateway.interfaces[1]", IFACE_BAD },
		{ IFS("\"a b\""), "$.gateway.interfaces[0]", IFACE_BAD },
		{ IFS("\"a\\tb\""), "$.gateway.interfaces[0]", IFACE_BAD },
		{ IFS("\"eth0:1\""), "$.gateway.interfaces[0]", IFACE_BAD },
		{ IFS("\"..\""), "$.gateway.interfaces[0]", IFACE_BAD },
		{ IFS("\"abcdefghijklmnop\""), "$.gateway.interfaces[0]", IFACE_BAD },
		{ IFS("5"), "$.gateway.interfaces[0]", IFACE_BAD },
		{ IFS("\"lo\", \"eth0\", \"lo\""), "$.gateway.interfaces[2]", "duplicate interface lo" },
		{ PORTS(""), "$.gateway.ports", "must not be empty" },
		{ GW("\"ports\": 80"), "$.gateway.ports", "expected an array of ports" },
		{ PORTS("0"), "$.gateway.ports[0]", PORT_BAD },
		{ PORTS("80, 65536"), "$.gateway.ports[1]", PORT_BAD },
		{ PORTS("-1"), "$.gateway.ports[0]", PORT_BAD },
		{ PORTS("80.5"), "$.gateway.ports[0]", PORT_BAD },
		{ PORTS("\"80\""), "$.gateway.ports[0]", PORT_BAD },
		{ PORTS("true"), "$.gateway.ports[0]", PORT_BAD },
		{ PORTS("null"), "$.gateway.ports[0]", PORT_BAD },
		{ PORTS("1e400"), "$.gateway.ports[0]", PORT_BAD },
		{ PORTS("-1e400"), "$.gateway.ports[0]", PORT_BAD },
		{ PORTS("80, 8080, 443, 8080"), "$.gateway.ports[3]", "duplicate port 8080" },
		{ MAXC("1023"), "$.gateway.max_clients", MAXC_BAD },
		{ MAXC("16777217"), "$.gateway.max_clients", MAXC_BAD },
		{ MAXC("262144.5"), "$.gateway.max_clients", MAXC_BAD },
		{ MAXC("\"262144\""), "$.gateway.max_clients", MAXC_BAD },
		{ MAXC("true"), "$.gateway.max_clients", MAXC_BAD },
		{ MAXC("1e400"), "$.gateway.max_clients", MAXC_BAD },
		{ GW("\"cgroup\": \"relative/gw\""), "$.gateway.cgroup",
		  "must be \"root\" or an absolute path without \"..\", shorter than 256 bytes" },
		{ GW("\"cgroup\": \"/sys/fs/cgroup/../etc\""), "$.gateway.cgroup",
		  "must be \"root\" or an absolute path without \"..\", shorter than 256 bytes" },
		{ GW("\"cgroup\": false"), "$.gateway.cgroup", "expected null, \"root\" or an absolute path" },
	};

	BAD_ALL(c);
	ok(GW("\"cgroup\": null"));
	ok(GW("\"cgroup\": \"root\""));
	cr_assert(eq(str, cfg.cgroup, "root"));
	ok(GW("\"cgroup\": \"/sys/fs/cgroup/unified/gw\""));
	cr_assert(eq(str, cfg.cgroup, "/sys/fs/cgroup/unified/gw"));
}

Test(config, mode_identity_api_log_invalid)
{
	static const struct bad_case c[] = {
		{ "{\"mode\": \"Monitor\"}", "$.mode", "must be one of monitor|enforce" },
		{ "{\"mode\": 0}", "$.mode", "must be one of monitor|enforce" },
		{ "{\"mode\": null}", "$.mode", "must be one of monitor|enforce" },
		{ "{\"identity\": 64}", "$.identity", "expected an object" },
		{ IDENT("\"ipv6_prefix\": 0"), "$.identity.ipv6_prefix", "must be an integer in 1..128" },
		{ IDENT("\"ipv6_prefix\": 129"), "$.identity.ipv6_prefix", "must be an integer in 1..128" },
		{ IDENT("\"ipv6_prefix\": \"64\""), "$.identity.ipv6_prefix", "must be an integer in 1..128" },
		{ IDENT("\"api_key_headers\": \"x-api-key\""), "$.identity.api_key_headers",
		  "expected an array of headers" },
		{ HDRS(""), "$.identity.api_key_headers", "must not be empty" },
		{ HDRS("\"\""), "$.identity.api_key_headers[0]", HDR_BAD },
		{ HDRS("\"x-api-key\", \"abcdefghijklmnop\""), "$.identity.api_key_headers[1]", HDR_BAD },
		{ HDRS("\"x_api_key\""), "$.identity.api_key_headers[0]", HDR_BAD },
		{ HDRS("\"x-api-key:\""), "$.identity.api_key_headers[0]", HDR_BAD },
		{ HDRS("\"x api\""), "$.identity.api_key_headers[0]", HDR_BAD },
		{ HDRS("\"caf\u00e9\""), "$.identity.api_key_headers[0]", HDR_BAD },
		{ HDRS("5"), "$.identity.api_key_headers[0]", HDR_BAD },
		{ HDRS("null"), "$.identity.api_key_headers[0]", HDR_BAD },
		{ HDRS("\"x-api-key\", \"api-key\", \"X-API-Key\""), "$.identity.api_key_headers[2]",
		  "duplicate header x-api-key" },
		{ IDENT("\"header_scan_bytes\": 63"), "$.identity.header_scan_bytes", SCAN_BAD },
		{ IDENT("\"header_scan_bytes\": 2049"), "$.identity.header_scan_bytes", SCAN_BAD },
		{ IDENT("\"header_scan_bytes\": 1024.5"), "$.identity.header_scan_bytes", SCAN_BAD },
		{ IDENT("\"header_scan_bytes\": \"1024\""), "$.identity.header_scan_bytes", SCAN_BAD },
		{ IDENT("\"proxy_protocol\": 0"), "$.identity.proxy_protocol", "expected a boolean" },
		{ IDENT("\"proxy_protocol\": \"true\""), "$.identity.proxy_protocol", "expected a boolean" },
		{ IDENT("\"proxy_protocol\": null"), "$.identity.proxy_protocol", "expected a boolean" },
		{ API("\"listen\": 9470"), "$.api.listen", "expected a string" },
		{ LISTEN("127.0.0.1"), "$.api.listen", LISTEN_BAD },
		{ LISTEN("127.0.0.1:"), "$.api.listen", LISTEN_BAD },
		{ LISTEN(":9470"), "$.api.listen", LISTEN_BAD },
		{ LISTEN("127.0.0.1:0"), "$.api.listen", LISTEN_BAD },
		{ LISTEN("127.0.0.1:65536"), "$.api.listen", LISTEN_BAD },
		{ LISTEN("127.0.0.1:99999999999999999999999"), "$.api.listen", LISTEN_BAD },
		{ LISTEN("127.0.0.1:09470"), "$.api.listen", LISTEN_BAD },
		{ LISTEN("127.0.0.1:+80"), "$.api.listen", LISTEN_BAD },
		{ LISTEN("127.0.0.1:80x"), "$.api.listen", LISTEN_BAD },
		{ LISTEN("127.0.0.1:8 0"), "$.api.listen", LISTEN_BAD },
		{ LISTEN("127.0.0.256:80"), "$.api.listen", LISTEN_BAD },
		{ LISTEN("127.1:80"), "$.api.listen", LISTEN_BAD },
		{ LISTEN("::1:80"), "$.api.listen", LISTEN_BAD },
		{ LISTEN("[::1]"), "$.api.listen", LISTEN_BAD },
		{ LISTEN("[::1:80"), "$.api.listen", LISTEN_BAD },
		{ LISTEN("[]:80"), "$.api.listen", LISTEN_BAD },
		{ LISTEN("[127.0.0.1]:80"), "$.api.listen", LISTEN_BAD },
		{ LISTEN("example.com:80"), "$.api.listen", LISTEN_BAD },
		{ LISTEN("0.0.0.0:9470"), "$.api.listen", NONLOOP },
		{ LISTEN("[::]:9470"), "$.api.listen", NONLOOP },
		{ LISTEN("[::ffff:10.0.0.1]:9470"), "$.api.listen", NONLOOP },
		{ API("\"top_n\": 0"), "$.api.top_n", "must be an integer in 1..10000" },
		{ API("\"top_n\": 10001"), "$.api.top_n", "must be an integer in 1..10000" },
		{ "{\"log\": {\"level\": \"trace\"}}", "$.log.level", "must be one of error|warn|info|debug" },
		{ "{\"log\": {\"level\": 2}}", "$.log.level", "must be one of error|warn|info|debug" },
		{ "{\"log\": {\"format\": \"text\"}}", "$.log.format", "must be one of logfmt|json" },
		{ "{\"log\": \"debug\"}", "$.log", "expected an object" },
	};

	BAD_ALL(c);
}

Test(config, unknown_and_duplicate_keys)
{
	static const struct bad_case c[] = {
		{ "{\"foo\": 1}", "$.foo", "unknown key" },
		{ "{\"Instance\": \"x\"}", "$.Instance", "unknown key" },
		{ GW("\"port\": [80]"), "$.gateway.port", "unknown key" },
		{ "{\"log\": {\"levle\": \"info\"}}", "$.log.levle", "unknown key" },
		{ IDENT("\"ipv4_prefix\": 24"), "$.identity.ipv4_prefix", "unknown key" },
		{ API("\"top_n\": 5, \"x\": {\"y\": 1}"), "$.api.x", "unknown key" },
		/* A dotted key at the root does not reach a nested option. */
		{ "{\"gateway.ports\": [80]}", "$[\"gateway.ports\"]", "unknown key" },
		{ "{\"a b\": 1}", "$[\"a b\"]", "unknown key" },
		{ "{\"\": 1}", "$[\"\"]", "unknown key" },
		/* Escaped, so a key cannot forge a second "FILE: path: reason" line. */
		{ "{\"x\\n\\\"y\": 1}", "$[\"x\\u000a\\\"y\"]", "unknown key" },
		{ "{\"mode\": \"monitor\", \"mode\": \"enforce\"}", "$.mode", "duplicate key" },
		{ GW("\"ports\": [80], \"ports\": [81]"), "$.gateway.ports", "duplicate key" },
	};

	BAD_ALL(c);
}

Test(config, not_supported_yet)
{
	static const struct bad_case c[] = {
		{ "{\"cluster\": {\"redis\": \"rediss://127.0.0.1:6379\"}}", "$.cluster.redis",
		  "rediss:// is not supported yet (hiredis 0.14 has no TLS): use redis:// through a "
		  "TLS tunnel such as stunnel" },
	};

	BAD_ALL(c);
	ok("{\"cluster\": null}");
}

#define TOKEN_VAR "TG_TEST_API_TOKEN"
#define TOKEN_ENV(s) API("\"token_env\": " s)
#define ENV_NAME_BAD "must be an environment variable name: [A-Za-z_][A-Za-z0-9_]{0,62}"
#define TOKEN_VAL_BAD(v) "environment variable " v " must hold 16..256 visible ASCII characters (no spaces)"

Test(config, api_token_env)
{
	char big[300], json[256];
	char *s;

	setenv(TOKEN_VAR, "tg-9d2e7c41b0a5f3e8", 1);
	ok(TOKEN_ENV("\"" TOKEN_VAR "\""));
	cr_assert(eq(str, cfg.api_token_env, TOKEN_VAR));
	cr_assert(eq(str, cfg.api_token, "tg-9d2e7c41b0a5f3e8"));
	ok(TOKEN_ENV("null"));
	cr_assert(eq(str, cfg.api_token_env, ""));
	cr_assert(eq(str, cfg.api_token, ""));
	ok("{}");
	cr_assert(eq(str, cfg.api_token_env, ""));
	/* with a token, the API may listen beyond loopback */
	ok(API("\"listen\": \"0.0.0.0:9470\", \"token_env\": \"" TOKEN_VAR "\""));
	cr_assert(eq(str, cfg.api_listen, "0.0.0.0:9470"));
	ok(API("\"token_env\": \"" TOKEN_VAR "\", \"listen\": \"[::]:9470\""));
	ok(API("\"token_env\": \"" TOKEN_VAR "\", \"listen\": \"[fd00:198:18::1]:9470\""));
	/* printed as the variable's name, never its value; parses back */
	ok(TOKEN_ENV("\"" TOKEN_VAR "\""));
	s = tg_config_to_json(&cfg);
	cr_assert(s != NULL);
	cr_assert(eq(ptr, strstr(s, "tg-9d2e7c41b0a5f3e8"), NULL), "%s", s);
	cr_assert(not(eq(ptr, strstr(s, "\"token_env\":\t\"" TOKEN_VAR "\""), NULL)), "%s", s);
	ok(s);
	cr_assert(eq(str, cfg.api_token, "tg-9d2e7c41b0a5f3e8"));
	free(s);
	s = tg_config_to_json_flags(&cfg, TG_CONFIG_JSON_SECRETS);
	cr_assert(eq(ptr, strstr(s, "tg-9d2e7c41b0a5f3e8"), NULL), "%s", s);
	free(s);
	/* 256 visible characters fit, 257 do not */
	memset(big, 'x', 256);
	big[256] = '\0';
	setenv(TOKEN_VAR, big, 1);
	ok(TOKEN_ENV("\"" TOKEN_VAR "\""));
	cr_assert(eq(sz, strlen(cfg.api_token), 256));
	strcat(big, "x");
	setenv(TOKEN_VAR, big, 1);
	bad(TOKEN_ENV("\"" TOKEN_VAR "\""), "$.api.token_env", TOKEN_VAL_BAD(TOKEN_VAR));
	/* a short token is refused: 15 bytes are guessed, 16 are the floor */
	setenv(TOKEN_VAR, "tg-0123456789ab", 1);
	bad(TOKEN_ENV("\"" TOKEN_VAR "\""), "$.api.token_env",
	    TOKEN_VAL_BAD(TOKEN_VAR) ": a shorter token is guessed");
	setenv(TOKEN_VAR, "x", 1);
	bad(TOKEN_ENV("\"" TOKEN_VAR "\""), "$.api.token_env",
	    TOKEN_VAL_BAD(TOKEN_VAR) ": a shorter token is guessed");
	setenv(TOKEN_VAR, "tg-0123456789abc", 1);
	ok(TOKEN_ENV("\"" TOKEN_VAR "\""));
	setenv(TOKEN_VAR, "two words", 1);
	bad(TOKEN_ENV("\"" TOKEN_VAR "\""), "$.api.token_env", TOKEN_VAL_BAD(TOKEN_VAR));
	setenv(TOKEN_VAR, "tab\there", 1);
	bad(TOKEN_ENV("\"" TOKEN_VAR "\""), "$.api.token_env", TOKEN_VAL_BAD(TOKEN_VAR));
	setenv(TOKEN_VAR, "caf\xc3\xa9", 1);
	bad(TOKEN_ENV("\"" TOKEN_VAR "\""), "$.api.token_env", TOKEN_VAL_BAD(TOKEN_VAR));
	setenv(TOKEN_VAR, "", 1);
	bad(TOKEN_ENV("\"" TOKEN_VAR "\""), "$.api.token_env",
	    "environment variable " TOKEN_VAR " is not set");
	unsetenv(TOKEN_VAR);
	bad(TOKEN_ENV("\"" TOKEN_VAR "\""), "$.api.token_env",
	    "environment variable " TOKEN_VAR " is not set");
	/* an unset variable is still a token asked for: no listen error on top */
	bad(API("\"listen\": \"0.0.0.0:1\", \"token_env\": \"" TOKEN_VAR "\""), "$.api.token_env",
	    "environment variable " TOKEN_VAR " is not set");
	bad(TOKEN_ENV("\"\""), "$.api.token_env", ENV_NAME_BAD);
	bad(TOKEN_ENV("\"9TOKEN\""), "$.api.token_env", ENV_NAME_BAD);
	bad(TOKEN_ENV("\"TG-TOKEN\""), "$.api.token_env", ENV_NAME_BAD);
	bad(TOKEN_ENV("\"TG TOKEN\""), "$.api.token_env", ENV_NAME_BAD);
	memset(big, 'A', 64);
	big[64] = '\0';
	snprintf(json, sizeof(json), TOKEN_ENV("\"%s\""), big);
	bad(json, "$.api.token_env", ENV_NAME_BAD);
	bad(TOKEN_ENV("5"), "$.api.token_env", "expected null or an environment variable name");
	bad(TOKEN_ENV("[]"), "$.api.token_env", "expected null or an environment variable name");
	bad(TOKEN_ENV("true"), "$.api.token_env", "expected null or an environment variable name");
}

Test(config, malformed_json)
{
	static const struct bad_case c[] = {
		{ "{\n  \"mode\": \"monitor\",\n  \"instance\": }\n", "$", "invalid JSON at 3:15" },
		{ "{\"mode\": \"monitor\"", "$", "invalid JSON at 1:18" },
		{ "{\"a\": 1,}", "$", "invalid JSON at 1:9" },
		{ "{} x", "$", "invalid JSON at 1:4" },
		{ "{}\n{}", "$", "invalid JSON at 2:1" },
		{ "{\"a\": NaN}", "$", "invalid JSON at 1:7" },
		{ "{\"a\": Infinity}", "$", "invalid JSON at 1:7" },
		{ "{\"a\": -}", "$", "invalid JSON at 1:7" },
		{ "{\"a\": 0x10}", "$", "invalid JSON at 1:8" },
		{ "{\"instance\": \"a\\u0000b\"}", "$", "\\u0000 is not allowed at 1:16" },
		{ "", "$", "empty config" },
		{ " \n\t ", "$", "empty config" },
		{ "[]", "$", "expected an object" },
		{ "[{\"mode\": \"monitor\"}]", "$", "expected an object" },
		{ "\"x\"", "$", "expected an object" },
		{ "null", "$", "expected an object" },
		{ "42", "$", "expected an object" },
	};

	BAD_ALL(c);
	cr_assert(eq(int, tg_config_parse(NULL, 0, &cfg, &errs), -EINVAL));
	cr_assert(eq(str, errs.e[0].reason, "empty config"));
}

static int parse_exact(const char *text)
{
	size_t n = strlen(text);
	char *raw = memcpy(malloc(n), text, n);
	int rc = tg_config_parse(raw, n, &cfg, &errs);

	free(raw);
	return rc;
}

Test(config, nul_bytes_and_unterminated_input)
{
	static const char nul[] = "{\"instance\": \"a\0b\"}";

	cr_assert(eq(int, tg_config_parse(nul, sizeof(nul) - 1, &cfg, &errs), -EINVAL));
	cr_assert(eq(str, errs.e[0].reason, "NUL byte at 1:16"));
	/* A C string's terminator counted in len is fine. */
	cr_assert(eq(int, tg_config_parse("{}", 3, &cfg, &errs), 0));

	/* Exactly sized heap copies: ASan catches any read past len. */
	cr_assert(eq(int, parse_exact("{}"), 0));
	cr_assert(eq(int, parse_exact("{\"mode\": "), -EINVAL));
	cr_assert(eq(str, errs.e[0].reason, "invalid JSON at 1:9"));
}

Test(config, deep_nesting_and_size_limit)
{
	size_t depth = 100000, big = (1u << 20) + 1;
	char *s = malloc(2 * depth + 32);
	size_t o;

	memset(s, '[', depth);
	memset(s + depth, ']', depth);
	cr_assert(eq(int, tg_config_parse(s, 2 * depth, &cfg, &errs), -EINVAL));
	cr_assert(eq(int, errs.n, 1));
	cr_assert(eq(int, strncmp(errs.e[0].reason, "invalid JSON at 1:", 18), 0));

	/* Under cJSON's nesting limit, inside an unknown key: one error. */
	o = (size_t)sprintf(s, "{\"deep\": ");
	memset(s + o, '[', 500);
	memset(s + o + 500, ']', 500);
	s[o + 1000] = '}';
	o += 1001;
	cr_assert(eq(int, tg_config_parse(s, o, &cfg, &errs), -EINVAL));
	cr_assert(eq(int, errs.n, 1));
	cr_assert(eq(str, errs.e[0].path, "$.deep"));
	free(s);

	s = malloc(big);
	memset(s, ' ', big);
	s[0] = '{';
	s[big - 1] = '}';
	cr_assert(eq(int, tg_config_parse(s, big, &cfg, &errs), -EINVAL));
	cr_assert(eq(str, errs.e[0].reason, "larger than 1 MiB"));
	s[big - 2] = '}';
	cr_assert(eq(int, tg_config_parse(s, big - 1, &cfg, &errs), 0));
	free(s);
}

Test(config, collects_all_errors)
{
	static const char json[] =
		"{\"instance\": \"bad name\", \"colour\": 1,\n"
		" \"gateway\": {\"interfaces\": [\"lo\", \"lo\"], \"ports\": [80, 0, 80, \"x\"],"
		"  \"max_clients\": 5, \"cgroup\": \"x\"},\n"
		" \"mode\": \"enforced\", \"quotas\": {\"default\": {\"burst\": 5}, \"client\": []},\n"
		" \"api\": {\"listen\": \"1.2.3.4\", \"top_n\": -1}, \"log\": {\"level\": \"loud\"}}";
	static const struct tg_config_error want[] = {
		{ "$.instance", INSTANCE_BAD },
		{ "$.colour", "unknown key" },
		{ "$.gateway.interfaces[1]", "duplicate interface lo" },
		{ "$.gateway.ports[1]", PORT_BAD },
		{ "$.gateway.ports[2]", "duplicate port 80" },
		{ "$.gateway.ports[3]", PORT_BAD },
		{ "$.gateway.max_clients", MAXC_BAD },
		{ "$.gateway.cgroup", "must be \"root\" or an absolute path without \"..\", shorter than 256 bytes" },
		{ "$.mode", "must be one of monitor|enforce" },
		{ "$.quotas.default.burst", "burst needs requests_per_sec" },
		{ "$.quotas.client", "unknown key" },
		{ "$.api.listen", LISTEN_BAD },
		{ "$.api.top_n", "must be an integer in 1..10000" },
		{ "$.log.level", "must be one of error|warn|info|debug" },
	};
	const int n = (int)(sizeof(want) / sizeof(want[0]));
	static struct tg_config before;

	/* A failed parse leaves the caller's config alone (a bad reload). */
	memset(&cfg, 0x5a, sizeof(cfg));
	before = cfg;
	cr_assert(eq(int, parse(json), -EINVAL));
	cr_assert(eq(int, memcmp(&cfg, &before, sizeof(cfg)), 0));
	cr_assert(eq(int, errs.n, n));
	cr_assert(eq(int, errs.dropped, 0));
	for (int i = 0; i < n; i++) {
		cr_expect(eq(str, errs.e[i].path, (char *)want[i].path), "error %d", i);
		cr_expect(eq(str, errs.e[i].reason, (char *)want[i].reason), "error %d", i);
	}
}

Test(config, error_overflow_and_print)
{
	char json[2048], *out = NULL;
	size_t o = 0, sz = 0;
	FILE *f;

	o += (size_t)snprintf(json + o, sizeof(json) - o, "{");
	for (int i = 0; i < 40; i++)
		o += (size_t)snprintf(json + o, sizeof(json) - o, "%s\"k%d\": 1", i ? "," : "", i);
	snprintf(json + o, sizeof(json) - o, "}");
	cr_assert(eq(int, parse(json), -EINVAL));
	cr_assert(eq(int, errs.n, TG_CONFIG_MAX_ERRORS));
	cr_assert(eq(int, errs.dropped, 40 - TG_CONFIG_MAX_ERRORS));
	cr_assert(eq(str, errs.e[31].path, "$.k31"));

	f = open_memstream(&out, &sz);
	errs.n = 2;
	tg_config_errors_print(f, "tg.json", &errs);
	fclose(f);
	cr_assert(eq(str, out, "tg.json: $.k0: unknown key\n"
			       "tg.json: $.k1: unknown key\n"
			       "tg.json: ... 8 more errors\n"));
	free(out);
	/* errs may be NULL when only the verdict matters. */
	cr_assert(eq(int, tg_config_parse("{\"x\": 1}", 8, &cfg, NULL), -EINVAL));
}

static void write_tmp(char *path, const char *data, size_t len)
{
	int fd = mkstemp(path);

	cr_assert(fd >= 0);
	cr_assert(eq(int, (int)write(fd, data, len), (int)len));
	close(fd);
}

Test(config, load_file)
{
	static char blob[(1 << 20) + 2];
	char path[] = "/tmp/tg_cfg_XXXXXX", big[] = "/tmp/tg_cfg_XXXXXX";

	write_tmp(path, "{\"instance\": \"fromfile\"}\n", 25);
	cr_assert(eq(int, tg_config_load(path, &cfg, &errs), 0));
	cr_assert(eq(str, cfg.instance, "fromfile"));
	unlink(path);
	cr_assert(eq(int, tg_config_load(path, &cfg, &errs), -ENOENT));
	cr_assert(eq(int, errs.n, 1));
	cr_assert(eq(str, errs.e[0].path, "$"));
	cr_assert(eq(str, errs.e[0].reason, "cannot read: No such file or directory"));
	cr_assert(eq(int, tg_config_load("/tmp", &cfg, &errs), -EINVAL));
	cr_assert(eq(str, errs.e[0].reason, "cannot read: not a regular file"));

	memset(blob, ' ', sizeof(blob));
	blob[0] = '{';
	blob[sizeof(blob) - 1] = '}';
	write_tmp(big, blob, sizeof(blob));
	cr_assert(eq(int, tg_config_load(big, &cfg, &errs), -EINVAL));
	cr_assert(eq(str, errs.e[0].reason, "larger than 1 MiB"));
	unlink(big);
}

Test(config, round_trip)
{
	static struct tg_config a, b;
	cJSON *j;
	char *s;

	tg_config_defaults(&a);
	for (int pass = 0; pass < 2; pass++) {
		s = tg_config_to_json(&a);
		cr_assert(s != NULL);
		cr_assert(eq(int, tg_config_parse(s, strlen(s), &b, &errs), 0), "%s", s);
		cr_assert(eq(int, memcmp(&a, &b, sizeof(a)), 0), "%s", s);

		j = cJSON_Parse(s);
		cr_assert(cJSON_IsNull(cJSON_GetObjectItem(cJSON_GetObjectItem(j, "gateway"), "cgroup")));
		cr_assert(cJSON_IsNull(cJSON_GetObjectItem(j, "cluster")));
		cr_assert(eq(int, cJSON_GetArraySize(j), 15));
		cJSON_Delete(j);
		free(s);
		cr_assert(eq(int, parse(full), 0));
		a = cfg;
	}
}

Test(config, restart_keys)
{
	static struct tg_config a, b;
	char buf[128];

	tg_config_defaults(&a);
	b = a;
	tg_config_restart_keys(&a, &b, buf, sizeof(buf));
	cr_assert(eq(str, buf, ""));
	/* Reloadable keys are not listed. */
	b.ports[0] = 81;
	b.log_level = TG_LOG_DEBUG;
	b.api_top_n = 7;
	b.mode = TG_MODE_ENFORCE;
	strcpy(b.key_headers[0], "x-team");
	b.header_scan_bytes = 2048;
	b.proxy_protocol = true;
	b.default_limits.requests_per_sec = 10;
	b.default_action = TG_ACTION_MONITOR;
	b.n_quotas = 1;
	strcpy(b.quotas[0].name, "office");
	tg_config_restart_keys(&a, &b, buf, sizeof(buf));
	cr_assert(eq(str, buf, ""));
	strcpy(b.instance, "other");
	b.max_clients = 2048;
	strcpy(b.api_listen, "127.0.0.1:1");
	tg_config_restart_keys(&a, &b, buf, sizeof(buf));
	cr_assert(eq(str, buf, "instance,gateway.max_clients,api.listen"));
	strcpy(b.api_token_env, "TG_TOKEN");
	tg_config_restart_keys(&a, &b, buf, sizeof(buf));
	cr_assert(eq(str, buf, "instance,gateway.max_clients,api.listen,api.token_env"));
	strcpy(b.user, "nobody");
	tg_config_restart_keys(&a, &b, buf, sizeof(buf));
	cr_assert(eq(str, buf, "instance,gateway.max_clients,api.listen,api.token_env,user"));
	tg_config_restart_keys(&a, &b, buf, 12);
	cr_assert(eq(int, (int)strlen(buf), 11));
}

Test(config, user)
{
	char name[64];

	tg_config_defaults(&cfg);
	cr_assert(eq(str, cfg.user, ""), "the default: stay the starting user");
	ok("{\"user\": null}");
	cr_assert(eq(str, cfg.user, ""));
	ok("{\"user\": \"root\"}");
	cr_assert(eq(str, cfg.user, "root"));
	cr_assert(eq(u32, cfg.user_uid, 0));
	ok("{\"user\": \"nobody\"}");
	cr_assert(eq(str, cfg.user, "nobody"));
	cr_assert(eq(u32, cfg.user_uid, 65534), "Debian's nobody");
	cr_assert(eq(u32, cfg.user_gid, 65534));
	bad("{\"user\": \"tg-no-such-user\"}", "$.user", "no such user: tg-no-such-user");
	bad("{\"user\": 0}", "$.user", "expected a user name or null");
	bad("{\"user\": true}", "$.user", "expected a user name or null");
	bad("{\"user\": \"\"}", "$.user",
	    "must be a user name: 1..32 characters of A-Z a-z 0-9 _ . -, not all digits");
	bad("{\"user\": \"65534\"}", "$.user",
	    "must be a user name: 1..32 characters of A-Z a-z 0-9 _ . -, not all digits");
	bad("{\"user\": \"-nobody\"}", "$.user",
	    "must be a user name: 1..32 characters of A-Z a-z 0-9 _ . -, not all digits");
	bad("{\"user\": \"no body\"}", "$.user",
	    "must be a user name: 1..32 characters of A-Z a-z 0-9 _ . -, not all digits");
	bad("{\"user\": \"nobody\\n\"}", "$.user",
	    "must be a user name: 1..32 characters of A-Z a-z 0-9 _ . -, not all digits");
	snprintf(name, sizeof(name), "{\"user\": \"%s\"}", "abcdefghijklmnopqrstuvwxyz0123456");
	bad(name, "$.user", "must be a user name: 1..32 characters of A-Z a-z 0-9 _ . -, not all digits");
}

Test(config, user_printed)
{
	char *s;
	cJSON *j;

	ok("{\"user\": \"nobody\"}");
	s = tg_config_to_json(&cfg);
	j = cJSON_Parse(s);
	cr_assert(eq(str, cJSON_GetObjectItem(j, "user")->valuestring, "nobody"));
	cJSON_Delete(j);
	free(s);
	tg_config_defaults(&cfg);
	s = tg_config_to_json(&cfg);
	j = cJSON_Parse(s);
	cr_assert(cJSON_IsNull(cJSON_GetObjectItem(j, "user")));
	cJSON_Delete(j);
	free(s);
}

#define CKL(s) API("\"check_listen\": " s)
#define CKL_BAD "must be \"unix:/path\" or \"host:port\" with an IPv4 address, [IPv6] or " \
		"localhost, port 1..65535"
#define CKL_UNIX_BAD "must be \"unix:\" and an absolute path of a socket, at most 107 " \
		     "characters, no spaces"
#define GROUP_BAD "must be null or a group name: 1..32 characters of A-Z a-z 0-9 _ . -, " \
		  "not all digits"

/* api.check_listen: the gateway's own listener; api.check_group: who may
 * connect to it when it is a Unix socket. */
Test(config, check_listen)
{
	char json[256], path[128];
	char *s;
	cJSON *j, *api;

	tg_config_defaults(&cfg);
	cr_assert(eq(str, cfg.api_check_listen, ""), "none by default");
	ok(CKL("null"));
	cr_assert(eq(str, cfg.api_check_listen, ""));
	ok(CKL("\"unix:/run/tollgate/check.sock\""));
	cr_assert(eq(str, cfg.api_check_listen, "unix:/run/tollgate/check.sock"));
	ok(CKL("\"localhost:9471\""));
	cr_assert(eq(str, cfg.api_check_listen, "127.0.0.1:9471"));
	ok(CKL("\"[::1]:9471\""));
	ok("{\"api\": {\"check_listen\": \"unix:/run/tg.sock\", \"check_group\": \"root\"}}");
	cr_assert(eq(str, cfg.api_check_group, "root"));
	cr_assert(eq(u32, cfg.api_check_gid, 0));
	ok("{\"api\": {\"check_listen\": \"unix:/run/tg.sock\", \"check_group\": \"nogroup\"}}");
	cr_assert(eq(u32, cfg.api_check_gid, 65534), "Debian's nogroup");
	/* the longest path sun_path holds: 107 bytes */
	memset(path, 'a', 107);
	path[0] = '/';
	path[107] = '\0';
	snprintf(json, sizeof(json), CKL("\"unix:%s\""), path);
	ok(json);
	s = tg_config_to_json(&cfg);
	j = cJSON_Parse(s);
	api = cJSON_GetObjectItem(j, "api");
	snprintf(json, sizeof(json), "unix:%s", path);
	cr_assert(eq(str, cJSON_GetObjectItem(api, "check_listen")->valuestring, json));
	cr_assert(cJSON_IsNull(cJSON_GetObjectItem(api, "check_group")));
	cJSON_Delete(j);
	free(s);
	/* a non-loopback TCP listener with the token the rule asks for */
	setenv("TG_TEST_CK_TOKEN", "s3cret-s3cret-s3cret", 1);
	ok("{\"api\": {\"check_listen\": \"0.0.0.0:9471\", \"token_env\": \"TG_TEST_CK_TOKEN\"}}");
	unsetenv("TG_TEST_CK_TOKEN");

	path[107] = 'a';
	path[108] = '\0';
	snprintf(json, sizeof(json), CKL("\"unix:%s\""), path);
	bad(json, "$.api.check_listen", CKL_UNIX_BAD);
	{
		static const struct bad_case c[] = {
			{ CKL("9471"), "$.api.check_listen", "expected null, \"unix:/path\" or \"host:port\"" },
			{ CKL("true"), "$.api.check_listen", "expected null, \"unix:/path\" or \"host:port\"" },
			{ CKL("\"\""), "$.api.check_listen", CKL_BAD },
			{ CKL("\"/run/check.sock\""), "$.api.check_listen", CKL_BAD },
			{ CKL("\"127.0.0.1\""), "$.api.check_listen", CKL_BAD },
			{ CKL("\"127.0.0.1:0\""), "$.api.check_listen", CKL_BAD },
			{ CKL("\"example.com:9471\""), "$.api.check_listen", CKL_BAD },
			{ CKL("\"unix:\""), "$.api.check_listen", CKL_UNIX_BAD },
			{ CKL("\"unix:/\""), "$.api.check_listen", CKL_UNIX_BAD },
			{ CKL("\"unix:run/check.sock\""), "$.api.check_listen", CKL_UNIX_BAD },
			{ CKL("\"unix:/run/tollgate/\""), "$.api.check_listen", CKL_UNIX_BAD },
			{ CKL("\"unix:/run/my check.sock\""), "$.api.check_listen", CKL_UNIX_BAD },
			{ CKL("\"unix:/run/check\\n.sock\""), "$.api.check_listen", CKL_UNIX_BAD },
			{ CKL("\"127.0.0.1:9470\""), "$.api.check_listen",
			  "needs a port of its own (api.listen has port 9470)" },
			{ CKL("\"[::1]:9470\""), "$.api.check_listen",
			  "needs a port of its own (api.listen has port 9470)" },
			{ CKL("\"0.0.0.0:9471\""), "$.api.check_listen", NONLOOP },
			{ API("\"check_group\": \"root\""), "$.api.check_group",
			  "needs a Unix socket in api.check_listen (\"unix:/path\")" },
			{ API("\"check_listen\": \"127.0.0.1:9471\", \"check_group\": \"root\""),
			  "$.api.check_group", "needs a Unix socket in api.check_listen (\"unix:/path\")" },
			{ API("\"check_listen\": \"unix:/run/c.sock\", \"check_group\": \"tg-no-such-group\""),
			  "$.api.check_group", "no such group: tg-no-such-group" },
			{ API("\"check_listen\": \"unix:/run/c.sock\", \"check_group\": 33"),
			  "$.api.check_group", GROUP_BAD },
			{ API("\"check_listen\": \"unix:/run/c.sock\", \"check_group\": \"33\""),
			  "$.api.check_group", GROUP_BAD },
			{ API("\"check_listen\": \"unix:/run/c.sock\", \"check_group\": \"-x\""),
			  "$.api.check_group", GROUP_BAD },
			{ API("\"check_listen\": \"unix:/run/c.sock\", \"check_group\": \"\""),
			  "$.api.check_group", GROUP_BAD },
		};

		BAD_ALL(c);
	}
}

Test(config, check_listen_needs_a_restart)
{
	static struct tg_config a, b;
	char buf[128];

	tg_config_defaults(&a);
	b = a;
	strcpy(b.api_check_listen, "unix:/run/tollgate/check.sock");
	tg_config_restart_keys(&a, &b, buf, sizeof(buf));
	cr_assert(eq(str, buf, "api.check_listen"));
	strcpy(b.api_check_group, "www-data");
	tg_config_restart_keys(&a, &b, buf, sizeof(buf));
	cr_assert(eq(str, buf, "api.check_listen,api.check_group"));
}

/* api.check_deny_delay_ms: how long a denial's answer is held; reloadable. */
Test(config, check_deny_delay)
{
	static struct tg_config a, b;
	char buf[64];

	tg_config_defaults(&cfg);
	cr_assert(eq(u32, cfg.check_deny_delay_ms, 0), "at once by default");
	ok(API("\"check_deny_delay_ms\": 1000"));
	cr_assert(eq(u32, cfg.check_deny_delay_ms, 1000));
	ok(API("\"check_deny_delay_ms\": 100"));
	bad(API("\"check_deny_delay_ms\": 1001"), "$.api.check_deny_delay_ms",
	    "must be an integer in 0..1000");
	bad(API("\"check_deny_delay_ms\": -1"), "$.api.check_deny_delay_ms",
	    "must be an integer in 0..1000");
	bad(API("\"check_deny_delay_ms\": \"100\""), "$.api.check_deny_delay_ms",
	    "must be an integer in 0..1000");
	tg_config_defaults(&a);
	b = a;
	b.check_deny_delay_ms = 100;
	tg_config_restart_keys(&a, &b, buf, sizeof(buf));
	cr_assert(eq(str, buf, ""));
}
