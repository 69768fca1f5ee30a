/* Names of anomaly types and severities. */
#include <string.h>
#include "anomaly.h"

static const char *const type_names[TG_AN_MAX] = {
	"rate_spike", "global_rate_spike", "payload_outlier", "quota_near", "quota_exhausted",
	"denied", "new_client_surge", "connection_churn", "error_surge", "key_shared",
	"key_rotation",
};
static const char *const sev_names[] = { "info", "warning", "critical" };

const char *tg_anomaly_type_name(int type)
{
	return type >= 0 && type < TG_AN_MAX ? type_names[type] : NULL;
}

const char *tg_severity_name(int sev)
{
	return sev >= 0 && sev <= TG_SEV_CRITICAL ? sev_names[sev] : NULL;
}

int tg_severity_parse(const char *s)
{
	for (int i = 0; i <= TG_SEV_CRITICAL; i++)
		if (!strcmp(s, sev_names[i]))
			return i;
	return -1;
}

int tg_anomaly_type_parse(const char *s)
{
	for (int i = 0; i < TG_AN_MAX; i++)
		if (!strcmp(s, type_names[i]))
			return i;
	return -1;
}
