/* routes: named path prefixes the kernel counts requests by. The longest
 * prefix of a request's path wins; a request that matches none is route
 * "other", a name no entry may take. models: the model names the kernel
 * counts requests by (from the JSON body); any other name is "other". */
#include "config/config.h"
#include "config/config_int.h"

#include <cjson/cJSON.h>
#include <string.h>

#define PATH_LEN sizeof(((struct tg_config_error *)0)->path)

/* The OpenAI- and Anthropic-compatible endpoints. */
static const struct tg_route_config default_routes[] = {
	{ "chat", "/v1/chat/completions", true },
	{ "completions", "/v1/completions", true },
	{ "responses", "/v1/responses", true },
	{ "embeddings", "/v1/embeddings", true },
	{ "messages", "/v1/messages", true },
	{ "models", "/v1/models", false },
};

void tg_config_routes_defaults(struct tg_config *cfg)
{
	size_t n = sizeof(default_routes) / sizeof(default_routes[0]);

	memset(cfg->routes, 0, sizeof(cfg->routes));
	memcpy(cfg->routes, default_routes, sizeof(default_routes));
	cfg->n_routes = (int)n;
}

static const char *name_check(const cJSON *v)
{
	size_t n;

	if (!cJSON_IsString(v))
		return "expected a string";
	n = strspn(v->valuestring, "abcdefghijklmnopqrstuvwxyz0123456789_-");
	if (v->valuestring[n] || n < 1 || n > TG_ROUTE_NAME_LEN - 1)
		return "must be 1..31 characters of a-z 0-9 _ -";
	if (!strcmp(v->valuestring, "other"))
		return "\"other\" is reserved (the route of requests that match none)";
	return NULL;
}

/* The kernel compares raw bytes of the request-target up to the first
 * ' ', '?', '#' or control byte: a prefix holding one could never match. */
static const char *prefix_check(const cJSON *v)
{
	const char *s;
	size_t n;

	if (!cJSON_IsString(v))
		return "expected a string";
	s = v->valuestring;
	if (s[0] != '/')
		return "must start with '/'";
	for (n = 0; s[n]; n++)
		if ((unsigned char)s[n] < 0x21 || (unsigned char)s[n] > 0x7e || s[n] == '?' ||
		    s[n] == '#')
			return "must be printable ASCII without spaces, '?' or '#'";
	if (n > TG_ROUTE_PREFIX_MAX)
		return "at most 64 bytes";
	return NULL;
}

/* One route object into r; false after reporting what is wrong. */
static bool parse_route(struct tg_route_config *r, const cJSON *obj, const char *path,
			struct tg_config_errors *errs)
{
	char kpath[PATH_LEN];
	bool ok = true, have_name = false, have_prefix = false;
	const char *reason;
	const cJSON *it;

	cJSON_ArrayForEach(it, obj) {
		tg_config_path_key(kpath, sizeof(kpath), path, it->string);
		reason = NULL;
		if (!strcmp(it->string, "name")) {
			if (have_name)
				reason = "duplicate key";
			else if (!(reason = name_check(it)))
				strcpy(r->name, it->valuestring);
			have_name = true;
		} else if (!strcmp(it->string, "prefix")) {
			if (have_prefix)
				reason = "duplicate key";
			else if (!(reason = prefix_check(it)))
				strcpy(r->prefix, it->valuestring);
			have_prefix = true;
		} else if (!strcmp(it->string, "llm")) {
			if (cJSON_IsBool(it))
				r->llm = cJSON_IsTrue(it);
			else
				reason = "expected a boolean";
		} else {
			reason = "unknown key";
		}
		if (reason) {
			tg_config_errf(errs, kpath, "%s", reason);
			ok = false;
		}
	}
	if (!have_name || !have_prefix) {
		tg_config_errf(errs, path, "needs %s", !have_name ? "a name" : "a prefix");
		ok = false;
	}
	return ok;
}

void tg_config_routes_parse(struct tg_config *cfg, const cJSON *v, const char *path,
			    struct tg_config_errors *errs)
{
	char ipath[PATH_LEN + 16];
	const cJSON *it;
	int i = 0;

	if (!cJSON_IsArray(v)) {
		tg_config_errf(errs, path, "expected an array of {name, prefix, llm}");
		return;
	}
	memset(cfg->routes, 0, sizeof(cfg->routes));
	cfg->n_routes = 0;
	cJSON_ArrayForEach(it, v) {
		struct tg_route_config r = { 0 };

		if (i >= TG_MAX_ROUTES) {
			tg_config_errf(errs, path, "at most %d routes", TG_MAX_ROUTES);
			return;
		}
		snprintf(ipath, sizeof(ipath), "%s[%d]", path, i++);
		if (!cJSON_IsObject(it)) {
			tg_config_errf(errs, ipath, "expected an object {name, prefix, llm}");
			continue;
		}
		if (!parse_route(&r, it, ipath, errs))
			continue;
		for (int j = 0; j < cfg->n_routes; j++) {
			if (!strcmp(cfg->routes[j].name, r.name)) {
				tg_config_errf(errs, ipath, "name \"%s\" is taken by an earlier route",
					       r.name);
				goto next;
			}
			if (!strcmp(cfg->routes[j].prefix, r.prefix)) {
				tg_config_errf(errs, ipath, "prefix \"%s\" is taken by route \"%s\"",
					       r.prefix, cfg->routes[j].name);
				goto next;
			}
		}
		cfg->routes[cfg->n_routes++] = r;
next:;
	}
}

cJSON *tg_config_routes_json(const struct tg_config *cfg, unsigned flags)
{
	cJSON *a = cJSON_CreateArray(), *o;

	(void)flags;
	for (int i = 0; a && i < cfg->n_routes && i < TG_MAX_ROUTES; i++) {
		const struct tg_route_config *r = &cfg->routes[i];

		if (!(o = cJSON_CreateObject()))
			goto fail;
		if (!cJSON_AddItemToArray(a, o)) {
			cJSON_Delete(o);
			goto fail;
		}
		if (!cJSON_AddStringToObject(o, "name", r->name) ||
		    !cJSON_AddStringToObject(o, "prefix", r->prefix) ||
		    !cJSON_AddBoolToObject(o, "llm", r->llm))
			goto fail;
	}
	return a;
fail:
	cJSON_Delete(a);
	return NULL;
}

/* A model name is compared byte for byte with the JSON string the kernel
 * reads from the request body, escapes not decoded: a name holding '"' or
 * '\' could never match, so neither may appear. */
static const char *model_check(const cJSON *v)
{
	size_t n;

	if (!cJSON_IsString(v))
		return "expected a string";
	for (n = 0; v->valuestring[n]; n++) {
		unsigned char ch = (unsigned char)v->valuestring[n];

		if (ch < 0x20 || ch > 0x7e || ch == '"' || ch == '\\')
			return "must be printable ASCII without '\"' or '\\'";
	}
	if (n < 1 || n > TG_MODEL_NAME_LEN - 1)
		return "must be 1..63 bytes";
	if (!strcmp(v->valuestring, "other"))
		return "\"other\" is reserved (the model of requests that name none of these)";
	return NULL;
}

void tg_config_models_parse(struct tg_config *cfg, const cJSON *v, const char *path,
			    struct tg_config_errors *errs)
{
	char ipath[PATH_LEN + 16];
	const char *reason;
	const cJSON *it;
	int i = 0;

	if (!cJSON_IsArray(v)) {
		tg_config_errf(errs, path, "expected an array of model names");
		return;
	}
	memset(cfg->models, 0, sizeof(cfg->models));
	cfg->n_models = 0;
	cJSON_ArrayForEach(it, v) {
		if (i >= TG_MAX_MODELS) {
			tg_config_errf(errs, path, "at most %d models", TG_MAX_MODELS);
			return;
		}
		snprintf(ipath, sizeof(ipath), "%s[%d]", path, i++);
		if ((reason = model_check(it))) {
			tg_config_errf(errs, ipath, "%s", reason);
			continue;
		}
		for (int j = 0; j < cfg->n_models; j++) {
			if (!strcmp(cfg->models[j], it->valuestring)) {
				tg_config_errf(errs, ipath, "\"%s\" is listed twice", it->valuestring);
				goto next;
			}
		}
		strcpy(cfg->models[cfg->n_models++], it->valuestring);
next:;
	}
}

cJSON *tg_config_models_json(const struct tg_config *cfg, unsigned flags)
{
	cJSON *a = cJSON_CreateArray(), *s;

	(void)flags;
	for (int i = 0; a && i < cfg->n_models && i < TG_MAX_MODELS; i++) {
		if (!(s = cJSON_CreateString(cfg->models[i])) || !cJSON_AddItemToArray(a, s)) {
			cJSON_Delete(s);
			cJSON_Delete(a);
			return NULL;
		}
	}
	return a;
}
