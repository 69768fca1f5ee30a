/* The anomaly section: scan and window lengths, then one object per
 * detector. Every detector takes "enabled" and "severity"; its thresholds
 * come from one table, which maps each config key onto a field of struct
 * tg_detector_config and gives its range and default. */
#include "config/config.h"
#include "config/config_int.h"

#include <cjson/cJSON.h>
#include <string.h>

#define PATH_LEN sizeof(((struct tg_config_error *)0)->path)

enum ptype { P_DOUBLE, P_U32 };

struct dparam {
	int det;          /* enum tg_anomaly_type */
	const char *key;
	enum ptype type;
	size_t off;       /* in struct tg_detector_config */
	double min, max, def;
};

#define D(det_, key_, field, lo, hi, d) \
	{ det_, key_, P_DOUBLE, offsetof(struct tg_detector_config, field), lo, hi, d }
#define U(det_, key_, field, lo, hi, d) \
	{ det_, key_, P_U32, offsetof(struct tg_detector_config, field), lo, hi, d }
/* The EWMA trio shared by the baseline detectors. */
#define BASELINE(det_, z_, f_, w_) \
	D(det_, "z", z, 0.5, 100, z_), D(det_, "factor", factor, 1, 1000, f_), \
	D(det_, "alpha", alpha, 0.001, 0.999, 0.1), \
	U(det_, "warmup_intervals", warmup, 1, 100000, w_)

static const struct dparam params[] = {
	BASELINE(TG_AN_RATE_SPIKE, 4, 3, 30),
	D(TG_AN_RATE_SPIKE, "min_requests_per_sec", min_value, 0, 1e9, 5),
	BASELINE(TG_AN_GLOBAL_RATE_SPIKE, 4, 3, 30),
	D(TG_AN_GLOBAL_RATE_SPIKE, "min_requests_per_sec", min_value, 0, 1e9, 50),
	BASELINE(TG_AN_PAYLOAD_OUTLIER, 4, 4, 10),
	D(TG_AN_PAYLOAD_OUTLIER, "min_bytes", min_value, 0, 1e12, 4096),
	D(TG_AN_QUOTA_NEAR, "percent", percent, 1, 100, 80),
	U(TG_AN_QUOTA_NEAR, "intervals", intervals, 1, 10000, 3),
	D(TG_AN_NEW_CLIENT_SURGE, "factor", factor, 1, 1000, 5),
	D(TG_AN_NEW_CLIENT_SURGE, "alpha", alpha, 0.001, 0.999, 0.1),
	U(TG_AN_NEW_CLIENT_SURGE, "warmup_intervals", warmup, 1, 100000, 30),
	D(TG_AN_NEW_CLIENT_SURGE, "min_new_clients", min_value, 1, 1e9, 50),
	D(TG_AN_CONNECTION_CHURN, "min_syns_per_sec", min_value, 0, 1e9, 20),
	D(TG_AN_CONNECTION_CHURN, "max_requests_per_syn", ratio, 0, 1000, 0.1),
	D(TG_AN_ERROR_SURGE, "min_errors_per_sec", min_value, 0, 1e9, 5),
	D(TG_AN_ERROR_SURGE, "min_error_ratio", ratio, 0, 1, 0.5),
	U(TG_AN_KEY_SHARED, "max_addresses", max_count, 1, 100000, 10),
	U(TG_AN_KEY_ROTATION, "max_keys", max_count, 1, 100000, 5),
	U(TG_AN_ROUTE_SCAN, "max_paths", max_count, 1, 1000, 20),
};

#define N_PARAMS (sizeof(params) / sizeof(params[0]))


static void *field_of(struct tg_detector_config *dc, const struct dparam *p)
{
	return (char *)dc + p->off;
}

void tg_config_anomaly_defaults(struct tg_anomaly_config *a)
{
	memset(a, 0, sizeof(*a));
	a->scan_interval_ms = 1000;
	a->window_ms = 10000;
	for (int t = 0; t < TG_AN_MAX; t++) {
		a->det[t].enabled = true;
		a->det[t].severity = t == TG_AN_QUOTA_NEAR ? TG_SEV_INFO : TG_SEV_WARNING;
	}
	for (size_t i = 0; i < N_PARAMS; i++) {
		void *f = field_of(&a->det[params[i].det], &params[i]);

		if (params[i].type == P_DOUBLE)
			*(double *)f = params[i].def;
		else
			*(uint32_t *)f = (uint32_t)params[i].def;
	}
}

static const struct dparam *param_find(int det, const char *key)
{
	for (size_t i = 0; i < N_PARAMS; i++)
		if (params[i].det == det && !strcmp(params[i].key, key))
			return &params[i];
	return NULL;
}

static void parse_param(struct tg_detector_config *dc, const struct dparam *p, const cJSON *v,
			const char *path, struct tg_config_errors *errs)
{
	long long i;

	if (p->type == P_U32) {
		if (tg_config_json_int(v, (long long)p->min, (long long)p->max, &i))
			*(uint32_t *)field_of(dc, p) = (uint32_t)i;
		else
			tg_config_errf(errs, path, "must be an integer in %.0f..%.0f", p->min, p->max);
		return;
	}
	/* !(x >= min && x <= max) is also true for NaN. */
	if (!cJSON_IsNumber(v) || !(v->valuedouble >= p->min && v->valuedouble <= p->max))
		tg_config_errf(errs, path, "must be a number in %g..%g", p->min, p->max);
	else
		*(double *)field_of(dc, p) = v->valuedouble;
}

static void parse_detector(struct tg_detector_config *dc, int det, const cJSON *obj,
			   const char *path, struct tg_config_errors *errs)
{
	char kpath[PATH_LEN];
	const cJSON *it;
	const struct dparam *p;
	int s;

	if (!cJSON_IsObject(obj)) {
		tg_config_errf(errs, path, "expected an object");
		return;
	}
	cJSON_ArrayForEach(it, obj) {
		tg_config_path_key(kpath, sizeof(kpath), path, it->string);
		/* cJSON keeps duplicates; the first one would win silently. */
		if (cJSON_GetObjectItemCaseSensitive(obj, it->string) != it) {
			tg_config_errf(errs, kpath, "duplicate key");
		} else if (!strcmp(it->string, "enabled")) {
			if (cJSON_IsBool(it))
				dc->enabled = cJSON_IsTrue(it);
			else
				tg_config_errf(errs, kpath, "expected a boolean");
		} else if (!strcmp(it->string, "severity")) {
			s = cJSON_IsString(it) ? tg_severity_parse(it->valuestring) : -1;
			if (s < 0)
				tg_config_errf(errs, kpath, "must be one of info|warning|critical");
			else
				dc->severity = s;
		} else if ((p = param_find(det, it->string))) {
			parse_param(dc, p, it, kpath, errs);
		} else {
			tg_config_errf(errs, kpath, "unknown key");
		}
	}
}

void tg_config_anomaly_parse(struct tg_config *cfg, const cJSON *v, const char *path,
			     struct tg_config_errors *errs)
{
	struct tg_anomaly_config *a = &cfg->anomaly;
	char kpath[PATH_LEN];
	const cJSON *it;
	long long i;
	int t;

	if (!cJSON_IsObject(v)) {
		tg_config_errf(errs, path, "expected an object");
		return;
	}
	cJSON_ArrayForEach(it, v) {
		tg_config_path_key(kpath, sizeof(kpath), path, it->string);
		if (cJSON_GetObjectItemCaseSensitive(v, it->string) != it) {
			tg_config_errf(errs, kpath, "duplicate key");
		} else if (!strcmp(it->string, "scan_interval_ms")) {
			if (tg_config_json_int(it, 100, 60000, &i))
				a->scan_interval_ms = (uint32_t)i;
			else
				tg_config_errf(errs, kpath, "must be an integer in 100..60000");
		} else if (!strcmp(it->string, "window_ms")) {
			if (tg_config_json_int(it, 1000, 3600000, &i))
				a->window_ms = (uint32_t)i;
			else
				tg_config_errf(errs, kpath, "must be an integer in 1000..3600000");
		} else if ((t = tg_anomaly_type_parse(it->string)) >= 0) {
			parse_detector(&a->det[t], t, it, kpath, errs);
		} else {
			tg_config_errf(errs, kpath, "unknown key");
		}
	}
	if (a->window_ms < a->scan_interval_ms) {
		tg_config_path_key(kpath, sizeof(kpath), path, "window_ms");
		tg_config_errf(errs, kpath, "must not be shorter than scan_interval_ms (%u)",
			       a->scan_interval_ms);
	}
}

cJSON *tg_config_anomaly_json(const struct tg_config *cfg, unsigned flags)
{
	const struct tg_anomaly_config *a = &cfg->anomaly;
	cJSON *o = cJSON_CreateObject(), *d;
	bool ok = o && cJSON_AddNumberToObject(o, "scan_interval_ms", a->scan_interval_ms) &&
		  cJSON_AddNumberToObject(o, "window_ms", a->window_ms);

	for (int t = 0; ok && t < TG_AN_MAX; t++) {
		const struct tg_detector_config *dc = &a->det[t];
		const char *sev = tg_severity_name(dc->severity);

		ok = sev && (d = cJSON_AddObjectToObject(o, tg_anomaly_type_name(t))) &&
		     cJSON_AddBoolToObject(d, "enabled", dc->enabled) &&
		     cJSON_AddStringToObject(d, "severity", sev);
		for (size_t i = 0; ok && i < N_PARAMS; i++) {
			const void *f = (const char *)dc + params[i].off;

			if (params[i].det != t)
				continue;
			ok = cJSON_AddNumberToObject(d, params[i].key,
						     params[i].type == P_DOUBLE ? *(const double *)f
						     : *(const uint32_t *)f) != NULL;
		}
	}
	if (!ok) {
		cJSON_Delete(o);
		return NULL;
	}
	return o;
}
