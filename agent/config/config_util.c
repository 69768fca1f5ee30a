/* What the config's section parsers share beneath them (config_int.h):
 * collecting errors with their JSON path, path keys, integral numbers. */
#include <cjson/cJSON.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include "config/config.h"
#include "config/config_int.h"

void tg_config_errf(struct tg_config_errors *errs, const char *path, const char *fmt, ...)
{
	struct tg_config_error *e;
	va_list ap;

	if (errs->n >= TG_CONFIG_MAX_ERRORS) {
		errs->dropped++;
		return;
	}
	e = &errs->e[errs->n++];
	snprintf(e->path, sizeof(e->path), "%s", path);
	va_start(ap, fmt);
	vsnprintf(e->reason, sizeof(e->reason), fmt, ap);
	va_end(ap);
}

/* Escaped, so a hostile key cannot forge a second error line. Truncates to
 * len. */
void tg_config_path_key(char *out, size_t len, const char *base, const char *key)
{
	const char *ident = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ_0123456789";
	size_t o;

	if (*key && !(*key >= '0' && *key <= '9') && !key[strspn(key, ident)]) {
		snprintf(out, len, "%s.%s", base, key);
		return;
	}
	o = (size_t)snprintf(out, len, "%s[\"", base);
	for (const unsigned char *k = (const unsigned char *)key; *k && o + 9 < len; k++) {
		if (*k == '"' || *k == '\\')
			o += (size_t)snprintf(out + o, len - o, "\\%c", *k);
		else if (*k < 0x20 || *k == 0x7f)
			o += (size_t)snprintf(out + o, len - o, "\\u%04x", *k);
		else
			out[o++] = (char)*k;
	}
	if (o + 3 <= len)
		memcpy(out + o, "\"]", 3);
	else
		out[len - 1] = '\0';
}

bool tg_config_json_int(const cJSON *it, long long min, long long max, long long *out)
{
	double d = cJSON_IsNumber(it) ? it->valuedouble : 0.5;

	/* False for NaN too; inf (1e400) fails the range. */
	if (!(d >= (double)min && d <= (double)max) || d != (double)(long long)d)
		return false;
	*out = (long long)d;
	return true;
}
