/* A quota entry's sub-limits: per_route {route: limits} and per_model
 * {model: limits}. Each is a bucket of its own in the kernel that a
 * request of that route or model must pass as well as its entry's. A
 * sub-limit holds requests_per_sec and burst; the byte and connection
 * limits belong to the entry. */
#include "config/config.h"
#include "config/config_int.h"

#include <cjson/cJSON.h>
#include <string.h>

#define PATH_LEN sizeof(((struct tg_config_error *)0)->path)
#define OTHER "other"

static const char *const kind_keys[] = { [TG_SUB_ROUTE] = "per_route",
					 [TG_SUB_MODEL] = "per_model" };

/* A model name as the kernel and X-Model carry it. */
static const char *model_name_check(const char *s)
{
	size_t n;

	for (n = 0; s[n]; n++)
		if ((unsigned char)s[n] < 0x20 || (unsigned char)s[n] > 0x7e || s[n] == '"' ||
		    s[n] == '\\')
			return "a model name is 1..63 bytes of printable ASCII without '\"' or '\\'";
	if (n < 1 || n > TG_MODEL_NAME_LEN - 1)
		return "a model name is 1..63 bytes of printable ASCII without '\"' or '\\'";
	return NULL;
}

static const char *route_name_check(const char *s)
{
	size_t n = strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789_-");

	if (s[n] || n < 1 || n > TG_ROUTE_NAME_LEN - 1)
		return "a route name is 1..31 characters of a-z 0-9 _ -";
	return NULL;
}

/* One {requests_per_sec, burst} object into l; false after reporting. */
static bool parse_limits(struct tg_sublimit *l, const cJSON *obj, const char *path,
			 struct tg_config_errors *errs)
{
	char kpath[PATH_LEN];
	bool ok = true, have_rps = false, have_burst = false;
	const cJSON *it;
	long long n;

	if (!cJSON_IsObject(obj)) {
		tg_config_errf(errs, path, "expected an object: {requests_per_sec, burst}");
		return false;
	}
	cJSON_ArrayForEach(it, obj) {
		tg_config_path_key(kpath, sizeof(kpath), path, it->string);
		if (!strcmp(it->string, "requests_per_sec") || !strcmp(it->string, "burst")) {
			bool rps = it->string[0] == 'r';

			if (rps ? have_rps : have_burst) {
				tg_config_errf(errs, kpath, "duplicate key");
				ok = false;
				continue;
			}
			if (!tg_config_json_int(it, 1, rps ? 1000000 : 1000000000, &n)) {
				tg_config_errf(errs, kpath, "must be an integer in 1..%d",
					       rps ? 1000000 : 1000000000);
				ok = false;
				continue;
			}
			if (rps) {
				l->requests_per_sec = (uint64_t)n;
				have_rps = true;
			} else {
				l->burst = (uint64_t)n;
				have_burst = true;
			}
		} else if (!strcmp(it->string, "bytes_per_sec") || !strcmp(it->string, "bytes_burst") ||
			   !strcmp(it->string, "connections_per_sec") ||
			   !strcmp(it->string, "max_connections")) {
			tg_config_errf(errs, kpath, "not supported yet (a sub-limit limits requests)");
			ok = false;
		} else {
			tg_config_errf(errs, kpath, "unknown key");
			ok = false;
		}
	}
	if (ok && !have_rps) {
		tg_config_errf(errs, path, "missing requests_per_sec");
		ok = false;
	}
	if (ok && !have_burst)
		l->burst = l->requests_per_sec;
	return ok;
}

void tg_config_sublimits_parse(struct tg_config *cfg, int qi, const cJSON *entry,
			       const char *path, struct tg_config_errors *errs)
{
	const struct tg_quota_entry *q = &cfg->quotas[qi];
	char kpath[PATH_LEN], npath[PATH_LEN];

	for (int kind = TG_SUB_ROUTE; kind <= TG_SUB_MODEL; kind++) {
		const cJSON *obj = cJSON_GetObjectItemCaseSensitive(entry, kind_keys[kind]), *it;
		int first = cfg->n_sublimits, max = kind == TG_SUB_ROUTE ? TG_ROUTE_IDS
									  : TG_MODEL_IDS;

		if (!obj)
			continue;
		tg_config_path_key(kpath, sizeof(kpath), path, kind_keys[kind]);
		if (!cJSON_IsObject(obj)) {
			tg_config_errf(errs, kpath, "expected an object of {name: limits}");
			continue;
		}
		if (q->action == TG_ACTION_DENY || q->action == TG_ACTION_EXEMPT) {
			tg_config_errf(errs, kpath, "limits make no sense with action %s",
				       q->action == TG_ACTION_DENY ? "deny" : "exempt");
			continue;
		}
		if (q->match == TG_MATCH_CIDR && q->share == TG_SHARE_PER_ADDRESS) {
			/* one sub-bucket per entry: per address it would need a
			 * bucket per (address, route), which the kernel does not
			 * keep */
			tg_config_errf(errs, kpath, "not supported yet with share per_address");
			continue;
		}
		if (cJSON_GetArraySize(obj) > max) {
			tg_config_errf(errs, kpath, "at most %d entries", max);
			continue;
		}
		cJSON_ArrayForEach(it, obj) {
			struct tg_sublimit l = { .quota = qi, .kind = kind };
			const char *why;

			tg_config_path_key(npath, sizeof(npath), kpath, it->string);
			why = kind == TG_SUB_ROUTE ? route_name_check(it->string)
						   : model_name_check(it->string);
			if (why) {
				tg_config_errf(errs, npath, "%s", why);
				continue;
			}
			for (int j = first; j < cfg->n_sublimits && !why; j++)
				if (!strcmp(cfg->sublimits[j].name, it->string))
					why = "duplicate key";
			if (why) {
				tg_config_errf(errs, npath, "%s", why);
				continue;
			}
			if (cfg->n_sublimits >= TG_MAX_SUBLIMITS) {
				tg_config_errf(errs, npath, "at most %d sub-limits in all",
					       TG_MAX_SUBLIMITS);
				return;
			}
			strcpy(l.name, it->string);
			if (parse_limits(&l, it, npath, errs))
				cfg->sublimits[cfg->n_sublimits++] = l;
		}
	}
}

void tg_config_sublimits_check(const struct tg_config *cfg, struct tg_config_errors *errs)
{
	char base[PATH_LEN], path[PATH_LEN];

	for (int i = 0; i < cfg->n_sublimits; i++) {
		const struct tg_sublimit *l = &cfg->sublimits[i];
		bool found = !strcmp(l->name, OTHER);

		if (l->kind == TG_SUB_MODEL) {
			for (int m = 0; m < cfg->n_models && !found; m++)
				found = !strcmp(cfg->models[m], l->name);
			if (found)
				continue;
			snprintf(base, sizeof(base), "$.quotas.clients[%d].per_model", l->quota);
			tg_config_path_key(path, sizeof(path), base, l->name);
			tg_config_errf(errs, path, "not a configured model (models[]) or \"other\"");
			continue;
		}
		for (int r = 0; r < cfg->n_routes && !found; r++)
			found = !strcmp(cfg->routes[r].name, l->name);
		if (found)
			continue;
		snprintf(base, sizeof(base), "$.quotas.clients[%d].per_route", l->quota);
		tg_config_path_key(path, sizeof(path), base, l->name);
		tg_config_errf(errs, path, "not a configured route (routes[].name) or \"other\"");
	}
}

bool tg_config_sublimits_json(const struct tg_config *cfg, int qi, cJSON *entry)
{
	for (int kind = TG_SUB_ROUTE; kind <= TG_SUB_MODEL; kind++) {
		cJSON *o = NULL, *l;

		for (int i = 0; i < cfg->n_sublimits; i++) {
			const struct tg_sublimit *s = &cfg->sublimits[i];

			if (s->quota != qi || s->kind != kind)
				continue;
			if (!o && !(o = cJSON_AddObjectToObject(entry, kind_keys[kind])))
				return false;
			if (!(l = cJSON_AddObjectToObject(o, s->name)) ||
			    !cJSON_AddNumberToObject(l, "requests_per_sec",
						     (double)s->requests_per_sec) ||
			    !cJSON_AddNumberToObject(l, "burst", (double)s->burst))
				return false;
		}
	}
	return true;
}
