/* gateway.tls: the gateway's libssl and the processes whose TLS the
 * uprobes read (kern/tls.bpf.c). Either a cgroup (its processes and its
 * descendants', now and later) or a list of process ids: never every
 * process on the host, so "root" is refused. */
#include "config/config.h"
#include "config/config_int.h"

#include <cjson/cJSON.h>
#include <string.h>

#define PATH_LEN sizeof(((struct tg_config_error *)0)->path)

/* An absolute path without "..", shorter than len, no control bytes. */
static const char *abs_path_check(const char *s, size_t len)
{
	size_t n = strlen(s);

	if (s[0] != '/')
		return "must be an absolute path";
	if (n >= len)
		return "too long";
	if (strstr(s, "/../") || (n >= 3 && !strcmp(s + n - 3, "/..")))
		return "must not contain \"..\"";
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20)
			return "must not contain control characters";
	return NULL;
}

static void parse_pids(struct tg_tls_config *t, const cJSON *v, const char *path,
		       struct tg_config_errors *errs)
{
	char ipath[PATH_LEN + 16];
	const cJSON *it;
	int i = 0;

	if (!cJSON_IsArray(v)) {
		tg_config_errf(errs, path, "expected an array of process ids");
		return;
	}
	cJSON_ArrayForEach(it, v) {
		long long pid;

		snprintf(ipath, sizeof(ipath), "%s[%d]", path, i++);
		if (t->n_pids >= TG_TLS_MAX_PIDS) {
			tg_config_errf(errs, path, "at most %d process ids", TG_TLS_MAX_PIDS);
			return;
		}
		if (!tg_config_json_int(it, 1, 4194304, &pid)) {
			tg_config_errf(errs, ipath, "must be a process id, 1..4194304");
			continue;
		}
		for (int k = 0; k < t->n_pids; k++)
			if (t->pids[k] == (uint32_t)pid) {
				tg_config_errf(errs, ipath, "duplicate process id %lld", pid);
				pid = 0;
				break;
			}
		if (pid)
			t->pids[t->n_pids++] = (uint32_t)pid;
	}
	if (i == 0)
		tg_config_errf(errs, path, "must not be empty");
}

void tg_config_tls_parse(struct tg_config *cfg, const struct cJSON *v, const char *path,
			 struct tg_config_errors *errs)
{
	struct tg_tls_config *t = &cfg->tls;
	char kpath[PATH_LEN];
	bool have_cg = false, have_pids = false;
	const char *reason;
	const cJSON *it;

	memset(t, 0, sizeof(*t));
	if (cJSON_IsNull(v))
		return;
	if (!cJSON_IsObject(v)) {
		tg_config_errf(errs, path, "expected null or an object {libssl, cgroup | pids}");
		return;
	}
	cJSON_ArrayForEach(it, v) {
		tg_config_path_key(kpath, sizeof(kpath), path, it->string);
		if (!strcmp(it->string, "libssl")) {
			if (cJSON_IsNull(it))
				continue;
			if (!cJSON_IsString(it))
				reason = "expected null or a path";
			else
				reason = abs_path_check(it->valuestring, sizeof(t->libssl));
			if (reason)
				tg_config_errf(errs, kpath, "%s", reason);
			else
				snprintf(t->libssl, sizeof(t->libssl), "%s", it->valuestring);
		} else if (!strcmp(it->string, "cgroup")) {
			have_cg = true;
			if (!cJSON_IsString(it))
				reason = "expected an absolute path";
			else if (!strcmp(it->valuestring, "root") || !strcmp(it->valuestring, "/"))
				reason = "the root cgroup holds every process on the host: name the "
					 "gateway's own cgroup";
			else
				reason = abs_path_check(it->valuestring, sizeof(t->cgroup));
			if (reason)
				tg_config_errf(errs, kpath, "%s", reason);
			else
				snprintf(t->cgroup, sizeof(t->cgroup), "%s", it->valuestring);
		} else if (!strcmp(it->string, "pids")) {
			have_pids = true;
			parse_pids(t, it, kpath, errs);
		} else {
			tg_config_errf(errs, kpath, "unknown key");
		}
	}
	if (have_cg && have_pids)
		tg_config_errf(errs, path, "give \"cgroup\" or \"pids\", not both");
	else if (!have_cg && !have_pids)
		tg_config_errf(errs, path, "needs \"cgroup\" or \"pids\": the gateway's processes "
			       "(never every process on the host)");
	t->on = true;
}

struct cJSON *tg_config_tls_json(const struct tg_config *cfg, unsigned flags)
{
	const struct tg_tls_config *t = &cfg->tls;
	cJSON *o, *a;

	if (!t->on)
		return cJSON_CreateNull();
	o = cJSON_CreateObject();
	if (!o)
		return NULL;
	if (t->libssl[0])
		cJSON_AddStringToObject(o, "libssl", t->libssl);
	else
		cJSON_AddNullToObject(o, "libssl");
	if (t->cgroup[0]) {
		cJSON_AddStringToObject(o, "cgroup", t->cgroup);
	} else {
		a = cJSON_AddArrayToObject(o, "pids");
		for (int i = 0; a && i < t->n_pids; i++)
			cJSON_AddItemToArray(a, cJSON_CreateNumber(t->pids[i]));
	}
	return o;
}
