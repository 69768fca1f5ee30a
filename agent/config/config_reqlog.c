/* log.requests: the per-request log. null (the default) is off; an object
 * turns it on with its sample, cap and destination. */
#include "config/config.h"
#include "config/config_int.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <string.h>

#define PATH_LEN sizeof(((struct tg_config_error *)0)->path)

static const char *file_check(const cJSON *v, char *out, size_t len)
{
	const char *s;
	size_t n;

	if (!cJSON_IsString(v))
		return "expected a string: \"stdout\" or an absolute path";
	s = v->valuestring;
	n = strlen(s);
	if (!strcmp(s, "stdout")) {
		snprintf(out, len, "%s", s);
		return NULL;
	}
	if (s[0] != '/')
		return "must be \"stdout\" or an absolute path";
	if (n >= len)
		return "path too long (at most 255 bytes)";
	if (s[n - 1] == '/')
		return "must name a file, not a directory";
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			return "must not hold control characters";
	memcpy(out, s, n + 1);
	return NULL;
}

void tg_config_reqlog_parse(struct tg_config *cfg, const cJSON *v, const char *path,
			    struct tg_config_errors *errs)
{
	struct tg_reqlog_config *r = &cfg->reqlog;
	char kpath[PATH_LEN];
	bool have_file = false;
	const char *reason;
	const cJSON *it;
	long long n;

	memset(r, 0, sizeof(*r));
	if (cJSON_IsNull(v))
		return;
	if (!cJSON_IsObject(v)) {
		tg_config_errf(errs, path, "expected an object {sample, max_per_sec, file} or null");
		return;
	}
	r->enabled = true;
	r->sample = 1.0;
	r->max_per_sec = TG_REQLOG_MAX_PER_SEC_DEFAULT;
	cJSON_ArrayForEach(it, v) {
		tg_config_path_key(kpath, sizeof(kpath), path, it->string);
		reason = NULL;
		if (!strcmp(it->string, "sample")) {
			if (!cJSON_IsNumber(it) || !isfinite(it->valuedouble) ||
			    it->valuedouble < 0 || it->valuedouble > 1)
				reason = "must be a number in 0..1";
			else
				r->sample = it->valuedouble;
		} else if (!strcmp(it->string, "max_per_sec")) {
			if (!tg_config_json_int(it, 0, TG_REQLOG_MAX_PER_SEC_MAX, &n))
				reason = "must be an integer in 0..1000000 (0: no cap)";
			else
				r->max_per_sec = (uint32_t)n;
		} else if (!strcmp(it->string, "file")) {
			have_file = true;
			reason = file_check(it, r->file, sizeof(r->file));
		} else {
			reason = "unknown key";
		}
		if (reason)
			tg_config_errf(errs, kpath, "%s", reason);
	}
	if (!have_file)
		snprintf(r->file, sizeof(r->file), "stdout");
}

cJSON *tg_config_reqlog_json(const struct tg_config *cfg, unsigned flags)
{
	const struct tg_reqlog_config *r = &cfg->reqlog;
	cJSON *o;

	(void)flags;
	if (!r->enabled)
		return cJSON_CreateNull();
	if (!(o = cJSON_CreateObject()))
		return NULL;
	if (!cJSON_AddNumberToObject(o, "sample", r->sample) ||
	    !cJSON_AddNumberToObject(o, "max_per_sec", r->max_per_sec) ||
	    !cJSON_AddStringToObject(o, "file", r->file)) {
		cJSON_Delete(o);
		return NULL;
	}
	return o;
}

uint32_t tg_reqlog_threshold(double sample)
{
	double t = sample * 4294967296.0;

	if (!(t > 0))
		return 0;
	return t >= 4294967295.0 ? 0xffffffffu : (uint32_t)t;
}
