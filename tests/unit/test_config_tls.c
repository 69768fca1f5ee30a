/* gateway.tls: off by default, a cgroup or process ids (never both, never
 * neither, never the root cgroup), libssl, the printed form, and the
 * restart rule. */
#include <stdlib.h>

#include <cjson/cJSON.h>
#include "config_check.h"

#define T(s) "{\"gateway\": {\"tls\": " s "}}"

Test(config_tls, off_by_default)
{
	cr_assert(eq(int, parse("{}"), 0));
	cr_expect(eq(int, cfg.tls.on, 0));
	cr_assert(eq(int, parse(tg_default_config_json), 0));
	cr_expect(eq(int, cfg.tls.on, 0));
	ok(T("null"));
	cr_expect(eq(int, cfg.tls.on, 0));
}

Test(config_tls, valid)
{
	char *out;
	cJSON *root, *t;

	ok(T("{\"cgroup\": \"/sys/fs/cgroup/unified/gw\"}"));
	cr_expect(eq(int, cfg.tls.on, 1));
	cr_expect(eq(str, cfg.tls.cgroup, "/sys/fs/cgroup/unified/gw"));
	cr_expect(eq(str, cfg.tls.libssl, ""));
	cr_expect(eq(int, cfg.tls.n_pids, 0));
	ok(T("{\"libssl\": \"/usr/lib/x86_64-linux-gnu/libssl.so.3\", \"pids\": [12, 4194304]}"));
	cr_expect(eq(str, cfg.tls.libssl, "/usr/lib/x86_64-linux-gnu/libssl.so.3"));
	cr_assert(eq(int, cfg.tls.n_pids, 2));
	cr_expect(eq(u32, cfg.tls.pids[0], 12));
	cr_expect(eq(u32, cfg.tls.pids[1], 4194304));
	ok(T("{\"libssl\": null, \"cgroup\": \"/x\"}"));
	/* printed back, and read again to the same */
	ok(T("{\"pids\": [7, 9]}"));
	out = tg_config_to_json(&cfg);
	cr_assert(out != NULL);
	root = cJSON_Parse(out);
	t = cJSON_GetObjectItem(cJSON_GetObjectItem(root, "gateway"), "tls");
	cr_assert(t != NULL);
	cr_expect(cJSON_IsNull(cJSON_GetObjectItem(t, "libssl")));
	cr_expect(eq(int, cJSON_GetArraySize(cJSON_GetObjectItem(t, "pids")), 2));
	cr_expect(eq(int, parse(out), 0));
	cr_expect(eq(int, cfg.tls.n_pids, 2));
	cJSON_Delete(root);
	free(out);
	ok("{}");
	out = tg_config_to_json(&cfg);
	root = cJSON_Parse(out);
	cr_expect(cJSON_IsNull(cJSON_GetObjectItem(cJSON_GetObjectItem(root, "gateway"), "tls")));
	cJSON_Delete(root);
	free(out);
}

Test(config_tls, rejected)
{
	static const struct bad_case c[] = {
		{ T("true"), "$.gateway.tls", "expected null or an object {libssl, cgroup | pids}" },
		{ T("{}"), "$.gateway.tls",
		  "needs \"cgroup\" or \"pids\": the gateway's processes (never every process on the host)" },
		{ T("{\"libssl\": \"/l\"}"), "$.gateway.tls",
		  "needs \"cgroup\" or \"pids\": the gateway's processes (never every process on the host)" },
		{ T("{\"cgroup\": \"/a\", \"pids\": [1]}"), "$.gateway.tls",
		  "give \"cgroup\" or \"pids\", not both" },
		{ T("{\"cgroup\": \"root\"}"), "$.gateway.tls.cgroup",
		  "the root cgroup holds every process on the host: name the gateway's own cgroup" },
		{ T("{\"cgroup\": \"/\"}"), "$.gateway.tls.cgroup",
		  "the root cgroup holds every process on the host: name the gateway's own cgroup" },
		{ T("{\"cgroup\": \"gw\"}"), "$.gateway.tls.cgroup", "must be an absolute path" },
		{ T("{\"cgroup\": \"/a/../b\"}"), "$.gateway.tls.cgroup", "must not contain \"..\"" },
		{ T("{\"cgroup\": 5}"), "$.gateway.tls.cgroup", "expected an absolute path" },
		{ T("{\"pids\": []}"), "$.gateway.tls.pids", "must not be empty" },
		{ T("{\"pids\": 5}"), "$.gateway.tls.pids", "expected an array of process ids" },
		{ T("{\"pids\": [0]}"), "$.gateway.tls.pids[0]", "must be a process id, 1..4194304" },
		{ T("{\"pids\": [1.5]}"), "$.gateway.tls.pids[0]", "must be a process id, 1..4194304" },
		{ T("{\"pids\": [3, 3]}"), "$.gateway.tls.pids[1]", "duplicate process id 3" },
		{ T("{\"pids\": [1], \"libssl\": \"libssl.so.3\"}"), "$.gateway.tls.libssl",
		  "must be an absolute path" },
		{ T("{\"pids\": [1], \"libssl\": 3}"), "$.gateway.tls.libssl", "expected null or a path" },
		{ T("{\"pids\": [1], \"uprobes\": true}"), "$.gateway.tls.uprobes", "unknown key" },
	};

	BAD_ALL(c);
}

Test(config_tls, at_most_64_pids)
{
	char json[2048];
	int n = snprintf(json, sizeof(json), "{\"gateway\": {\"tls\": {\"pids\": [1");

	for (int i = 2; i <= 65; i++)
		n += snprintf(json + n, sizeof(json) - (size_t)n, ", %d", i);
	snprintf(json + n, sizeof(json) - (size_t)n, "]}}}");
	bad(json, "$.gateway.tls.pids", "at most 64 process ids");
	json[n - 4] = '\0'; /* drop ", 65" */
	strcat(json, "]}}}");
	ok(json);
	cr_expect(eq(int, cfg.tls.n_pids, 64));
}

Test(config_tls, restart_key)
{
	static struct tg_config a;
	char keys[256];

	cr_assert(eq(int, parse(T("{\"pids\": [1]}")), 0));
	a = cfg;
	cr_assert(eq(int, parse(T("{\"pids\": [2]}")), 0));
	tg_config_restart_keys(&a, &cfg, keys, sizeof(keys));
	cr_expect(strstr(keys, "gateway.tls") != NULL, "%s", keys);
}
