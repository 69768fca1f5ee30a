/* Config: the anomaly section, webhooks and state_dir. */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include <sys/stat.h>

#include "config_check.h"
#include "telemetry/rates.h"
#include "lib/addr.h"

/* text -> the config's address form (IPv4-mapped, network order) */
static int tg_addr_text(uint32_t a[4], const char *text)
{
	struct tg_addr x;
	int rc = tg_addr_parse(text, &x);

	memcpy(a, x.w, sizeof(x.w));
	return rc;
}

#define AN(x) "{\"anomaly\": {" x "}}"
#define HOOK(x) "{\"webhooks\": [{\"name\": \"ops\", \"url\": \"https://hooks.example/x\", " \
		"\"format\": \"generic\"" x "}]}"

Test(config_alerts, anomaly_defaults)
{
	ok("{}");
	cr_assert(eq(u32, cfg.anomaly.scan_interval_ms, 1000));
	cr_assert(eq(u32, cfg.anomaly.window_ms, 10000));
	for (int t = 0; t < TG_AN_MAX; t++)
		cr_assert(cfg.anomaly.det[t].enabled, "%s", tg_anomaly_type_name(t));
	cr_assert(eq(int, cfg.anomaly.det[TG_AN_QUOTA_NEAR].severity, TG_SEV_INFO));
	cr_assert(eq(int, cfg.anomaly.det[TG_AN_RATE_SPIKE].severity, TG_SEV_WARNING));
	cr_assert(eq(dbl, cfg.anomaly.det[TG_AN_RATE_SPIKE].z, 4));
	cr_assert(eq(dbl, cfg.anomaly.det[TG_AN_RATE_SPIKE].factor, 3));
	cr_assert(eq(dbl, cfg.anomaly.det[TG_AN_RATE_SPIKE].min_value, 5));
	cr_assert(eq(u32, cfg.anomaly.det[TG_AN_RATE_SPIKE].warmup, 30));
	cr_assert(eq(dbl, cfg.anomaly.det[TG_AN_GLOBAL_RATE_SPIKE].min_value, 50));
	cr_assert(eq(dbl, cfg.anomaly.det[TG_AN_PAYLOAD_OUTLIER].min_value, 4096));
	cr_assert(eq(dbl, cfg.anomaly.det[TG_AN_QUOTA_NEAR].percent, 80));
	cr_assert(eq(u32, cfg.anomaly.det[TG_AN_QUOTA_NEAR].intervals, 3));
	cr_assert(eq(dbl, cfg.anomaly.det[TG_AN_ERROR_SURGE].ratio, 0.5));
	cr_assert(eq(u32, cfg.anomaly.det[TG_AN_KEY_SHARED].max_count, 10));
	cr_assert(eq(u32, cfg.anomaly.det[TG_AN_KEY_ROTATION].max_count, 5));
	cr_assert(eq(str, cfg.state_dir, "/var/lib/tollgate"));
	cr_assert(eq(int, cfg.n_webhooks, 0));
}

Test(config_alerts, anomaly_values)
{
	ok(AN("\"scan_interval_ms\": 500, \"window_ms\": 60000,"
	      " \"rate_spike\": {\"enabled\": false, \"severity\": \"critical\", \"z\": 2.5,"
	      "  \"factor\": 10, \"alpha\": 0.2, \"warmup_intervals\": 5, \"min_requests_per_sec\": 0},"
	      " \"quota_exhausted\": {\"severity\": \"critical\"},"
	      " \"connection_churn\": {\"min_syns_per_sec\": 100, \"max_requests_per_syn\": 0.5},"
	      " \"key_rotation\": {\"max_keys\": 3}"));
	cr_assert(eq(u32, cfg.anomaly.scan_interval_ms, 500));
	cr_assert(eq(u32, cfg.anomaly.window_ms, 60000));
	cr_assert(not(cfg.anomaly.det[TG_AN_RATE_SPIKE].enabled));
	cr_assert(eq(int, cfg.anomaly.det[TG_AN_RATE_SPIKE].severity, TG_SEV_CRITICAL));
	cr_assert(eq(dbl, cfg.anomaly.det[TG_AN_RATE_SPIKE].z, 2.5));
	cr_assert(eq(dbl, cfg.anomaly.det[TG_AN_RATE_SPIKE].alpha, 0.2));
	cr_assert(eq(u32, cfg.anomaly.det[TG_AN_RATE_SPIKE].warmup, 5));
	cr_assert(eq(dbl, cfg.anomaly.det[TG_AN_RATE_SPIKE].min_value, 0));
	cr_assert(eq(int, cfg.anomaly.det[TG_AN_QUOTA_EXHAUSTED].severity, TG_SEV_CRITICAL));
	cr_assert(eq(dbl, cfg.anomaly.det[TG_AN_CONNECTION_CHURN].ratio, 0.5));
	cr_assert(eq(u32, cfg.anomaly.det[TG_AN_KEY_ROTATION].max_count, 3));
}

Test(config_alerts, anomaly_bad)
{
	static const struct bad_case c[] = {
		{ AN("\"scan_interval_ms\": 50"), "$.anomaly.scan_interval_ms", "must be an integer in 100..60000" },
		{ AN("\"window_ms\": 1.5"), "$.anomaly.window_ms", "must be an integer in 1000..3600000" },
		{ AN("\"scan_interval_ms\": 5000, \"window_ms\": 2000"), "$.anomaly.window_ms",
		  "must not be shorter than scan_interval_ms (5000)" },
		{ AN("\"rate_spikes\": {}"), "$.anomaly.rate_spikes", "unknown key" },
		{ AN("\"rate_spike\": []"), "$.anomaly.rate_spike", "expected an object" },
		{ AN("\"rate_spike\": {\"enabled\": 1}"), "$.anomaly.rate_spike.enabled", "expected a boolean" },
		{ AN("\"rate_spike\": {\"severity\": \"high\"}"), "$.anomaly.rate_spike.severity",
		  "must be one of info|warning|critical" },
		{ AN("\"rate_spike\": {\"z\": 0}"), "$.anomaly.rate_spike.z", "must be a number in 0.5..100" },
		{ AN("\"rate_spike\": {\"z\": \"4\"}"), "$.anomaly.rate_spike.z", "must be a number in 0.5..100" },
		{ AN("\"rate_spike\": {\"alpha\": 1}"), "$.anomaly.rate_spike.alpha", "must be a number in 0.001..0.999" },
		{ AN("\"rate_spike\": {\"warmup_intervals\": 2.5}"), "$.anomaly.rate_spike.warmup_intervals",
		  "must be an integer in 1..100000" },
		/* A key of another detector is not silently taken. */
		{ AN("\"rate_spike\": {\"max_keys\": 3}"), "$.anomaly.rate_spike.max_keys", "unknown key" },
		{ AN("\"denied\": {\"z\": 3}"), "$.anomaly.denied.z", "unknown key" },
		{ AN("\"error_surge\": {\"min_error_ratio\": 1.5}"), "$.anomaly.error_surge.min_error_ratio",
		  "must be a number in 0..1" },
		{ AN("\"quota_near\": {\"percent\": 0}"), "$.anomaly.quota_near.percent", "must be a number in 1..100" },
		{ AN("\"key_shared\": {\"max_addresses\": 0}"), "$.anomaly.key_shared.max_addresses",
		  "must be an integer in 1..100000" },
		{ AN("\"rate_spike\": {\"z\": 3, \"z\": 4}"), "$.anomaly.rate_spike.z", "duplicate key" },
		{ "{\"anomaly\": 1}", "$.anomaly", "expected an object" },
	};

	BAD_ALL(c);
}

Test(config_alerts, webhooks_valid)
{
	setenv("TG_TEST_HOOK_SECRET", "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", 1);
	setenv("TG_TEST_OPENAI_KEY", "sk-test", 1);
	ok("{\"webhooks\": ["
	   " {\"name\": \"ops\", \"url\": \"https://hooks.example/x?a=1\", \"format\": \"generic\","
	   "  \"secret_env\": \"TG_TEST_HOOK_SECRET\", \"min_severity\": \"warning\", \"timeout_ms\": 2000,"
	   "  \"headers\": {\"Authorization\": \"Bearer abc\", \"X-Team\": \"sre\"}},"
	   " {\"name\": \"am\", \"url\": \"http://127.0.0.1:9093/api/v2/alerts\", \"format\": \"alertmanager\"},"
	   " {\"name\": \"llm\", \"url\": \"http://[::1]:4000/v1/chat/completions\", \"format\": \"openai\","
	   "  \"model\": \"gpt-4o-mini\", \"api_key_env\": \"TG_TEST_OPENAI_KEY\"}],"
	   " \"state_dir\": \"/tmp/tg-state/\"}");
	cr_assert(eq(int, cfg.n_webhooks, 3));
	cr_assert(eq(str, cfg.webhooks[0].name, "ops"));
	cr_assert(eq(int, cfg.webhooks[0].format, TG_FMT_GENERIC));
	cr_assert(eq(str, cfg.webhooks[0].secret, "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"));
	cr_assert(eq(sz, cfg.webhooks[0].secret_len, 38));
	cr_assert(eq(int, cfg.webhooks[0].min_severity, TG_SEV_WARNING));
	cr_assert(eq(u32, cfg.webhooks[0].timeout_ms, 2000));
	cr_assert(eq(int, cfg.webhooks[0].n_headers, 2));
	cr_assert(eq(str, cfg.webhooks[0].headers[1].value, "sre"));
	cr_assert(eq(int, cfg.webhooks[1].format, TG_FMT_ALERTMANAGER));
	cr_assert(eq(u32, cfg.webhooks[1].timeout_ms, 5000));
	cr_assert(eq(u32, cfg.webhooks[1].retry_max_ms, 60000));
	cr_assert(eq(int, cfg.webhooks[1].min_severity, TG_SEV_INFO));
	cr_assert(eq(sz, cfg.webhooks[1].secret_len, 0));
	cr_assert(eq(str, cfg.webhooks[2].api_key, "sk-test"));
	cr_assert(eq(str, cfg.state_dir, "/tmp/tg-state"));

	/* Printed: secrets and header values never appear. */
	char *s = tg_config_to_json(&cfg);
	cr_assert(s != NULL);
	cr_assert(strstr(s, "MfKQ9r8") == NULL, "%s", s);
	cr_assert(strstr(s, "sk-test") == NULL, "%s", s);
	cr_assert(strstr(s, "Bearer abc") == NULL, "%s", s);
	cr_assert(strstr(s, "\"secret_env\":\t\"TG_TEST_HOOK_SECRET\"") != NULL, "%s", s);
	free(s);
}

/* Webhook URLs are often bearer secrets: Slack's incoming-webhook URL,
 * user:password@, ?token=. check-config and /v1/config print them
 * redacted (both print tg_config_to_json). */
Test(config_alerts, webhook_urls_are_printed_redacted)
{
	static const char *const cases[][2] = {
		{ "https://hooks.slack.com/services/T0001/B0002/XXXXSECRETXXXX",
		  "https://hooks.slack.com/services/<redacted>" },
		{ "https://bot:s3cr3t-pw@alerts.example:8443/hook?token=TOPSECRET#frag",
		  "https://<redacted>@alerts.example:8443/hook?<redacted>#<redacted>" },
		{ "http://a@b@host/x/y/z?q", "http://<redacted>@host/x/<redacted>?<redacted>" },
		{ "http://127.0.0.1:9093/api/v2/alerts", "http://127.0.0.1:9093/api/<redacted>" },
		{ "http://[::1]:4000/hook", "http://[::1]:4000/hook" },
		{ "http://host/hook/", "http://host/hook/" },
		{ "http://host", "http://host" },
		{ "http://host?", "http://host?" },
		{ "http://host/?a=1", "http://host/?<redacted>" },
	};
	char out[TG_URL_LEN + 64], *s;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		tg_config_url_redacted(cases[i][0], out, sizeof(out));
		cr_assert(eq(str, out, (char *)cases[i][1]), "%s", cases[i][0]);
	}

	ok("{\"webhooks\": ["
	   " {\"name\": \"slack\", \"format\": \"slack\","
	   "  \"url\": \"https://hooks.slack.com/services/T0001/B0002/XXXXSECRETXXXX\"},"
	   " {\"name\": \"basic\", \"format\": \"generic\","
	   "  \"url\": \"https://bot:s3cr3t-pw@alerts.example/hook?token=TOPSECRET\"},"
	   " {\"name\": \"plain\", \"format\": \"generic\", \"redact_url\": false,"
	   "  \"url\": \"http://10.0.0.9:9000/hooks/tollgate/in?team=sre\"}]}");
	cr_assert(cfg.webhooks[0].redact_url);
	cr_assert(not(cfg.webhooks[2].redact_url));
	s = tg_config_to_json(&cfg);
	cr_assert(s != NULL);
	cr_assert(eq(ptr, strstr(s, "XXXXSECRETXXXX"), NULL), "%s", s);
	cr_assert(eq(ptr, strstr(s, "T0001"), NULL), "%s", s);
	cr_assert(eq(ptr, strstr(s, "s3cr3t-pw"), NULL), "%s", s);
	cr_assert(eq(ptr, strstr(s, "TOPSECRET"), NULL), "%s", s);
	cr_assert(not(eq(ptr, strstr(s, "\"https://hooks.slack.com/services/<redacted>\""), NULL)), "%s", s);
	cr_assert(not(eq(ptr, strstr(s, "\"https://<redacted>@alerts.example/hook?<redacted>\""), NULL)),
		  "%s", s);
	/* the opt-in: shown whole, and said so */
	cr_assert(not(eq(ptr, strstr(s, "\"http://10.0.0.9:9000/hooks/tollgate/in?team=sre\""), NULL)),
		  "%s", s);
	cr_assert(not(eq(ptr, strstr(s, "\"redact_url\":\tfalse"), NULL)), "%s", s);

	/* pasting the printed config back: the redacted URLs are refused */
	cr_assert(eq(int, parse(s), -EINVAL));
	cr_assert(eq(str, errs.e[0].path, "$.webhooks[0].url"));
	cr_assert(eq(str, errs.e[0].reason,
		     "holds <redacted>: put the real URL here (check-config prints it redacted)"));
	free(s);
	bad(HOOK(", \"redact_url\": \"no\""), "$.webhooks[0].redact_url", "expected true or false");
}

Test(config_alerts, secret_file)
{
	char path[] = "/tmp/tg-secret-XXXXXX", json[256], reason[128];
	int fd = mkstemp(path);

	cr_assert(fd >= 0);
	cr_assert(eq(int, (int)write(fd, "s3cr3t\n", 7), 7));
	close(fd);
	snprintf(json, sizeof(json), HOOK(", \"secret_file\": \"%s\""), path);
	ok(json);
	cr_assert(eq(str, cfg.webhooks[0].secret, "s3cr3t"));
	cr_assert(eq(sz, cfg.webhooks[0].secret_len, 6));
	unlink(path);
	snprintf(reason, sizeof(reason), "cannot read %s: No such file or directory", path);
	bad(json, "$.webhooks[0].secret_file", reason);
}

Test(config_alerts, round_trip)
{
	static struct tg_config a;
	char *s;

	setenv("TG_TEST_HOOK_SECRET", "raw-secret", 1);
	ok("{\"anomaly\": {\"window_ms\": 30000, \"payload_outlier\": {\"min_bytes\": 100}},"
	   " \"webhooks\": [{\"name\": \"a.b-c_d\", \"url\": \"http://127.0.0.1:1/\", \"format\": \"slack\","
	   "  \"secret_env\": \"TG_TEST_HOOK_SECRET\", \"headers\": {\"X-A\": \"1\"}}]}");
	a = cfg;
	s = tg_config_to_json_flags(&a, TG_CONFIG_JSON_SECRETS);
	cr_assert(s != NULL);
	ok(s);
	cr_assert(eq(int, memcmp(&a, &cfg, sizeof(a)), 0), "%s", s);
	free(s);
}

Test(config_alerts, webhooks_bad)
{
	static const struct bad_case c[] = {
		{ "{\"webhooks\": {}}", "$.webhooks", "expected an array of webhooks" },
		{ "{\"webhooks\": [1]}", "$.webhooks[0]", "expected an object" },
		{ HOOK(", \"urls\": 1"), "$.webhooks[0].urls", "unknown key" },
		{ "{\"webhooks\": [{\"url\": \"http://a/\", \"format\": \"generic\"}]}", "$.webhooks[0]", "needs a name" },
		{ "{\"webhooks\": [{\"name\": \"a\", \"format\": \"generic\"}]}", "$.webhooks[0]", "needs a url" },
		{ "{\"webhooks\": [{\"name\": \"a\", \"url\": \"http://a/\"}]}", "$.webhooks[0]",
		  "needs a format (generic|alertmanager|slack|openai|plugin)" },
		{ "{\"webhooks\": [{\"name\": \"a/b\", \"url\": \"http://a/\", \"format\": \"generic\"}]}",
		  "$.webhooks[0].name", "must be 1..31 characters of A-Z a-z 0-9 _ . - (not starting with .)" },
		{ "{\"webhooks\": [{\"name\": \"..\", \"url\": \"http://a/\", \"format\": \"generic\"}]}",
		  "$.webhooks[0].name", "must be 1..31 characters of A-Z a-z 0-9 _ . - (not starting with .)" },
		{ "{\"webhooks\": [{\"name\": \"a\", \"url\": \"ftp://a/\", \"format\": \"generic\"}]}",
		  "$.webhooks[0].url", "must be an http:// or https:// URL" },
		{ "{\"webhooks\": [{\"name\": \"a\", \"url\": \"http://a b/\", \"format\": \"generic\"}]}",
		  "$.webhooks[0].url", "must not hold spaces or control characters" },
		{ "{\"webhooks\": [{\"name\": \"a\", \"url\": \"not a url\", \"format\": \"generic\"}]}",
		  "$.webhooks[0].url", "must not hold spaces or control characters" },
		{ "{\"webhooks\": [{\"name\": \"a\", \"url\": \"http://\", \"format\": \"generic\"}]}",
		  "$.webhooks[0].url", "must be an http:// or https:// URL with a host" },
		{ HOOK(", \"format\": \"xml\""), "$.webhooks[0].format", "duplicate key" },
		{ "{\"webhooks\": [{\"name\": \"a\", \"url\": \"http://a/\", \"format\": \"xml\"}]}",
		  "$.webhooks[0].format", "must be one of generic|alertmanager|slack|openai|plugin" },
		{ HOOK(", \"secret_env\": \"TG_TEST_UNSET_VAR\""), "$.webhooks[0].secret_env",
		  "environment variable TG_TEST_UNSET_VAR is not set" },
		{ HOOK(", \"secret_env\": \"1BAD\""), "$.webhooks[0].secret_env",
		  "must be an environment variable name: [A-Za-z_][A-Za-z0-9_]{0,62}" },
		{ HOOK(", \"secret_file\": \"relative\""), "$.webhooks[0].secret_file", "must be an absolute path" },
		{ HOOK(", \"secret_file\": \"/nonexistent/secret\""), "$.webhooks[0].secret_file",
		  "cannot read /nonexistent/secret: No such file or directory" },
		{ HOOK(", \"secret_file\": \"/tmp\""), "$.webhooks[0].secret_file",
		  "cannot read /tmp: not a regular file" },
		{ HOOK(", \"min_severity\": \"error\""), "$.webhooks[0].min_severity",
		  "must be one of info|warning|critical" },
		{ HOOK(", \"timeout_ms\": 10"), "$.webhooks[0].timeout_ms", "must be an integer in 100..120000" },
		{ HOOK(", \"retry_max_ms\": 999"), "$.webhooks[0].retry_max_ms", "must be an integer in 1000..3600000" },
		{ HOOK(", \"headers\": []"), "$.webhooks[0].headers", "expected an object of header names and values" },
		{ HOOK(", \"headers\": {\"Content-Type\": \"text/plain\"}"), "$.webhooks[0].headers[\"Content-Type\"]",
		  "set by tollgate itself" },
		{ HOOK(", \"headers\": {\"webhook-signature\": \"x\"}"), "$.webhooks[0].headers[\"webhook-signature\"]",
		  "set by tollgate itself" },
		{ HOOK(", \"headers\": {\"X-A\": \"1\\r\\nX-B: 2\"}"), "$.webhooks[0].headers[\"X-A\"]",
		  "must be a string of at most 255 bytes, no CR or LF" },
		{ HOOK(", \"headers\": {\"X A\": \"1\"}"), "$.webhooks[0].headers[\"X A\"]",
		  "must be a header name (1..63 token characters)" },
		{ HOOK(", \"headers\": {\"X-A\": \"1\", \"x-a\": \"2\"}"), "$.webhooks[0].headers[\"x-a\"]",
		  "duplicate header" },
		{ HOOK(", \"model\": \"m\""), "$.webhooks[0].model", "only for format openai" },
		{ HOOK(", \"plugin\": \"/x.so\""), "$.webhooks[0].plugin", "only for format plugin" },
		{ HOOK(", \"options\": {}"), "$.webhooks[0].options", "only for format plugin" },
		{ "{\"webhooks\": [{\"name\": \"a\", \"url\": \"http://a/\", \"format\": \"plugin\","
		  " \"plugin\": \"/bin/sh\", \"options\": []}]}",
		  "$.webhooks[0].options", "expected an object (handed to the plugin's init)" },
		{ "{\"webhooks\": [{\"name\": \"a\", \"url\": \"http://a/\", \"format\": \"openai\"}]}",
		  "$.webhooks[0]", "format openai needs a model" },
		{ "{\"webhooks\": [{\"name\": \"a\", \"url\": \"http://a/\", \"format\": \"plugin\"}]}",
		  "$.webhooks[0]", "format plugin needs a plugin path" },
		{ "{\"webhooks\": [{\"name\": \"a\", \"url\": \"http://a/\", \"format\": \"plugin\","
		  " \"plugin\": \"/nonexistent.so\"}]}",
		  "$.webhooks[0].plugin", "/nonexistent.so: No such file or directory" },
		{ "{\"webhooks\": [{\"name\": \"a\", \"url\": \"http://a/\", \"format\": \"generic\"},"
		  " {\"name\": \"a\", \"url\": \"http://b/\", \"format\": \"slack\"}]}",
		  "$.webhooks[1]", "name \"a\" is used by webhooks[0]" },
		{ "{\"state_dir\": \"var/lib\"}", "$.state_dir",
		  "must be an absolute directory path (not /) of at most 255 bytes" },
		{ "{\"state_dir\": \"/\"}", "$.state_dir",
		  "must be an absolute directory path (not /) of at most 255 bytes" },
	};

	unsetenv("TG_TEST_UNSET_VAR");
	BAD_ALL(c);
}

Test(config_alerts, plugin_options)
{
	char *s;

	ok("{\"webhooks\": [{\"name\": \"pd\", \"url\": \"https://events.example/v2/enqueue\","
	   " \"format\": \"plugin\", \"plugin\": \"/bin/sh\","
	   " \"options\": {\"routing_key\": \"R0UT1NG\", \"n\": [1, {\"k\": \"v\"}]}}]}");
	cr_assert(eq(str, cfg.webhooks[0].options, "{\"routing_key\":\"R0UT1NG\",\"n\":[1,{\"k\":\"v\"}]}"));
	s = tg_config_to_json(&cfg);
	cr_assert(strstr(s, "R0UT1NG") == NULL, "%s", s);
	cr_assert(strstr(s, "\"routing_key\":\t\"<redacted>\"") != NULL, "%s", s);
	free(s);
	s = tg_config_to_json_flags(&cfg, TG_CONFIG_JSON_SECRETS);
	cr_assert(strstr(s, "R0UT1NG") != NULL, "%s", s);
	free(s);
}

/* A plugin the agent would load as root, in a directory anyone may write:
 * another user could replace it with their own code. Refused at parse
 * time, naming the file and the directory, so check-config and run exit
 * 2 before anything is loaded. Above the plugin's own directory a sticky
 * directory of root's (/tmp) is fine: nobody else can rename or remove
 * what is in it. */
static void plugin_json(char *json, size_t len, const char *path)
{
	snprintf(json, len, "{\"webhooks\": [{\"name\": \"a\", \"url\": \"http://a/\","
		 " \"format\": \"plugin\", \"plugin\": \"%s\"}]}", path);
}

Test(config_alerts, plugin_others_could_replace_is_refused)
{
	char dir[] = "/tmp/tg-plugin-XXXXXX", path[64], json[256], want[200];
	char loose[] = "/tmp/tg-plugin-XXXXXX.so";
	FILE *f;
	int fd;

	cr_assert(mkdtemp(dir) != NULL);
	snprintf(path, sizeof(path), "%s/p.so", dir);
	f = fopen(path, "w");
	cr_assert(f != NULL);
	fclose(f);
	cr_assert(eq(int, chmod(path, 0644), 0));
	plugin_json(json, sizeof(json), path);
	cr_assert(eq(int, chmod(dir, 0755), 0));
	ok(json); /* its own directory the owner's alone; /tmp above it */
	cr_assert(eq(int, chmod(dir, 0777), 0));
	snprintf(want, sizeof(want), "%s: %s is writable by group or others (mode 0777)", path, dir);
	bad(json, "$.webhooks[0].plugin", want);
	cr_assert(eq(int, chmod(dir, 0755), 0));
	cr_assert(eq(int, chmod(path, 0666), 0));
	snprintf(want, sizeof(want), "%s: %s is writable by group or others (mode 0666)", path, path);
	bad(json, "$.webhooks[0].plugin", want);
	unlink(path);
	rmdir(dir);

	/* right in /tmp: anyone may put files beside it */
	fd = mkstemps(loose, 3);
	cr_assert(fd >= 0);
	close(fd);
	plugin_json(json, sizeof(json), loose);
	snprintf(want, sizeof(want), "%s: /tmp is writable by group or others (mode 1777)", loose);
	bad(json, "$.webhooks[0].plugin", want);
	unlink(loose);
}

Test(config_alerts, too_many_webhooks)
{
	char json[8192];
	size_t n = (size_t)snprintf(json, sizeof(json), "{\"webhooks\": [");

	for (int i = 0; i <= TG_MAX_WEBHOOKS; i++)
		n += (size_t)snprintf(json + n, sizeof(json) - n,
				      "%s{\"name\": \"h%d\", \"url\": \"http://a/\", \"format\": \"generic\"}",
				      i ? "," : "", i);
	snprintf(json + n, sizeof(json) - n, "]}");
	bad(json, "$.webhooks", "at most 16 webhooks");
}

Test(config_alerts, check_settings)
{
	uint32_t a[4];

	ok("{}");
	cr_assert(eq(u32, cfg.check_deny_status, 429));
	cr_assert(eq(int, cfg.n_trusted, 0));
	ok("{\"api\": {\"check_deny_status\": 403},"
	   " \"identity\": {\"trusted_proxies\": [\"198.18.0.0/15\", \"fd00:198:18::/64\", \"10.0.0.1\"]}}");
	cr_assert(eq(u32, cfg.check_deny_status, 403));
	cr_assert(eq(int, cfg.n_trusted, 3));
	cr_assert(eq(int, tg_addr_text(a, "198.19.255.1"), 0));
	cr_assert(tg_config_trusted(&cfg, a));
	cr_assert(eq(int, tg_addr_text(a, "198.20.0.1"), 0));
	cr_assert(not(tg_config_trusted(&cfg, a)));
	cr_assert(eq(int, tg_addr_text(a, "fd00:198:18::99"), 0));
	cr_assert(tg_config_trusted(&cfg, a));
	cr_assert(eq(int, tg_addr_text(a, "10.0.0.1"), 0));
	cr_assert(tg_config_trusted(&cfg, a));
	cr_assert(eq(int, tg_addr_text(a, "10.0.0.2"), 0));
	cr_assert(not(tg_config_trusted(&cfg, a)));
	char *s = tg_config_to_json(&cfg);
	cr_assert(strstr(s, "\"fd00:198:18::/64\"") != NULL, "%s", s);
	cr_assert(strstr(s, "\"10.0.0.1/32\"") != NULL, "%s", s);
	free(s);
	bad("{\"api\": {\"check_deny_status\": 200}}", "$.api.check_deny_status",
	    "must be an integer in 400..499");
	bad("{\"identity\": {\"trusted_proxies\": \"10.0.0.0/8\"}}", "$.identity.trusted_proxies",
	    "expected an array of CIDRs");
	bad("{\"identity\": {\"trusted_proxies\": [\"10.0.0.1/8\"]}}", "$.identity.trusted_proxies[0]",
	    "host bits set (did you mean 10.0.0.0/8?)");
	bad("{\"identity\": {\"trusted_proxies\": [\"nope\"]}}", "$.identity.trusted_proxies[0]",
	    "must be a CIDR (198.18.0.0/15, fd00::/8) or an address");
	ok("{\"quotas\": {\"clients\": [{\"name\": \"g\", \"cidr\": \"198.18.0.0/24\", \"action\": \"gateway\"}]}}");
	cr_assert(eq(int, cfg.quotas[0].action, TG_ACTION_GATEWAY));
}
