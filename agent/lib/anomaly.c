#include <math.h>
#include <stdio.h>
#include <string.h>
#include "lib/anomaly.h"

static const char *const type_names[TG_AN_MAX] = {
	[TG_AN_RATE_SPIKE] = "rate_spike",
	[TG_AN_GLOBAL_RATE_SPIKE] = "global_rate_spike",
	[TG_AN_PAYLOAD_OUTLIER] = "payload_outlier",
	[TG_AN_QUOTA_NEAR] = "quota_near",
	[TG_AN_QUOTA_EXHAUSTED] = "quota_exhausted",
	[TG_AN_DENIED] = "denied",
	[TG_AN_NEW_CLIENT_SURGE] = "new_client_surge",
	[TG_AN_CONNECTION_CHURN] = "connection_churn",
	[TG_AN_ERROR_SURGE] = "error_surge",
	[TG_AN_KEY_SHARED] = "key_shared",
	[TG_AN_KEY_ROTATION] = "key_rotation",
	[TG_AN_ROUTE_SCAN] = "route_scan",
};

static const char *const sev_names[] = {
	[TG_SEV_INFO] = "info", [TG_SEV_WARNING] = "warning", [TG_SEV_CRITICAL] = "critical",
};

#define N_SEV ((int)(sizeof(sev_names) / sizeof(sev_names[0])))

const char *tg_anomaly_type_name(int type)
{
	return type >= 0 && type < TG_AN_MAX ? type_names[type] : NULL;
}

const char *tg_severity_name(int sev)
{
	return sev >= 0 && sev < N_SEV ? sev_names[sev] : NULL;
}

int tg_severity_parse(const char *s)
{
	for (int i = 0; s && i < N_SEV; i++)
		if (strcmp(s, sev_names[i]) == 0)
			return i;
	return -1;
}

int tg_anomaly_type_parse(const char *s)
{
	for (int i = 0; s && i < TG_AN_MAX; i++)
		if (strcmp(s, type_names[i]) == 0)
			return i;
	return -1;
}

static void add_value(struct tg_an_value *vals, int *n, const char *name, double v)
{
	/* JSON has no NaN or infinity: a figure that is not finite is left
	 * out rather than turned into an invalid event. */
	if (*n < 0 || *n >= TG_AN_MAX_VALUES || !name || !isfinite(v))
		return;
	snprintf(vals[*n].name, sizeof(vals[*n].name), "%s", name);
	vals[*n].v = v;
	(*n)++;
}

void tg_an_observe(struct tg_anomaly *a, const char *name, double v)
{
	add_value(a->observed, &a->n_observed, name, v);
}

void tg_an_reference(struct tg_anomaly *a, const char *name, double v)
{
	add_value(a->reference, &a->n_reference, name, v);
}

bool tg_anomaly_same(const struct tg_anomaly *a, const struct tg_anomaly *b)
{
	if (a->type != b->type || a->has_addr != b->has_addr)
		return false;
	if (a->has_addr && memcmp(&a->addr, &b->addr, sizeof(a->addr)) != 0)
		return false;
	return strncmp(a->key, b->key, sizeof(a->key)) == 0 &&
	       strncmp(a->model, b->model, sizeof(a->model)) == 0;
}
