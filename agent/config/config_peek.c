/* The light read of a config (config.h, struct tg_config_peek): the keys
 * the operator commands need, with the same rules and error paths as the
 * full parser, and nothing else. `tollgate detach` is the emergency
 * command: it must work from an admin shell that lacks the agent's
 * secrets, and from a config this binary's parser would not take whole. */
#include <cjson/cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "config/config.h"
#include "config/config_int.h"

/* v as a string member of obj, or NULL (an error at path when present but
 * not a string). */
static const char *member_str(const cJSON *obj, const char *key, const char *path,
			      struct tg_config_errors *errs, bool null_ok)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);

	if (!v || (null_ok && cJSON_IsNull(v)))
		return NULL;
	if (!cJSON_IsString(v)) {
		tg_config_errf(errs, path, null_ok ? "expected null or a string" : "expected a string");
		return NULL;
	}
	return v->valuestring;
}

/* obj's member key when it is an object; an error when present otherwise. */
static const cJSON *member_obj(const cJSON *obj, const char *key, const char *path,
			       struct tg_config_errors *errs)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);

	if (v && !cJSON_IsObject(v)) {
		tg_config_errf(errs, path, "expected an object");
		return NULL;
	}
	return v;
}

int tg_config_peek_parse(const char *json, size_t len, struct tg_config_peek *p,
			 struct tg_config_errors *errs)
{
	struct tg_config_errors scratch;
	const cJSON *api, *log;
	const char *s, *why;
	char buf[64];
	cJSON *root;
	int f;

	if (!errs)
		errs = &scratch;
	memset(errs, 0, sizeof(*errs));
	memset(p, 0, sizeof(*p));
	snprintf(p->instance, sizeof(p->instance), "default");
	snprintf(p->api_listen, sizeof(p->api_listen), "127.0.0.1:9470");
	p->log_format = TG_LOG_LOGFMT;
	if (!(root = tg_config_json_root(json, len, errs)))
		return -EINVAL;
	if ((s = member_str(root, "instance", "$.instance", errs, false))) {
		if ((why = tg_config_check_instance(s, p->instance, sizeof(p->instance)))) {
			tg_config_errf(errs, "$.instance", "%s", why);
			snprintf(p->instance, sizeof(p->instance), "default");
		}
	}
	api = member_obj(root, "api", "$.api", errs);
	if ((s = member_str(api, "listen", "$.api.listen", errs, false))) {
		if ((why = tg_cfg_check_listen(s, buf, sizeof(buf))))
			tg_config_errf(errs, "$.api.listen", "%s", why);
		else
			snprintf(p->api_listen, sizeof(p->api_listen), "%s", buf);
	}
	if ((s = member_str(api, "token_env", "$.api.token_env", errs, true))) {
		if (!tg_cfg_env_name_ok(s))
			tg_config_errf(errs, "$.api.token_env", TG_CFG_ENV_NAME_BAD);
		else
			snprintf(p->api_token_env, sizeof(p->api_token_env), "%s", s);
	}
	log = member_obj(root, "log", "$.log", errs);
	if ((s = member_str(log, "format", "$.log.format", errs, false))) {
		if ((f = tg_log_format_parse(s)) < 0)
			tg_config_errf(errs, "$.log.format", "must be one of logfmt|json");
		else
			p->log_format = f;
	}
	cJSON_Delete(root);
	return errs->n || errs->dropped ? -EINVAL : 0;
}

int tg_config_peek_load(const char *file, struct tg_config_peek *p,
			struct tg_config_errors *errs)
{
	struct tg_config_errors scratch;
	size_t len;
	char *text;
	int err;

	if (!errs)
		errs = &scratch;
	memset(errs, 0, sizeof(*errs));
	err = tg_config_read(file, &text, &len, errs);
	if (err) {
		struct tg_config_errors keep = *errs;

		tg_config_peek_parse("{}", 2, p, NULL); /* the defaults */
		*errs = keep;
		return err;
	}
	err = tg_config_peek_parse(text, len, p, errs);
	free(text);
	return err;
}
