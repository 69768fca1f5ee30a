/* Anomalies: what the detectors report and the summaries carry. The names
 * are those of the tollgate.anomaly.v1 event schema. */
#ifndef TG_ANOMALY_H
#define TG_ANOMALY_H

#include <stdbool.h>
#include <stdint.h>
#include "shared.h"

enum tg_severity { TG_SEV_INFO = 0, TG_SEV_WARNING = 1, TG_SEV_CRITICAL = 2 };

enum tg_anomaly_type {
	TG_AN_RATE_SPIKE = 0,
	TG_AN_GLOBAL_RATE_SPIKE,
	TG_AN_PAYLOAD_OUTLIER,
	TG_AN_QUOTA_NEAR,
	TG_AN_QUOTA_EXHAUSTED,
	TG_AN_DENIED,
	TG_AN_NEW_CLIENT_SURGE,
	TG_AN_CONNECTION_CHURN,
	TG_AN_ERROR_SURGE,
	TG_AN_KEY_SHARED,
	TG_AN_KEY_ROTATION,
	TG_AN_ROUTE_SCAN,
	TG_AN_MAX
};

/* "rate_spike", ... ; NULL out of range. */
const char *tg_anomaly_type_name(int type);
/* "info" | "warning" | "critical"; NULL out of range. */
const char *tg_severity_name(int sev);
/* -1 for an unknown name. */
int tg_severity_parse(const char *s);
int tg_anomaly_type_parse(const char *s);

#define TG_AN_MAX_VALUES 6
#define TG_AN_VALUE_NAME 24
#define TG_AN_KEY_LEN 40
#define TG_AN_MODEL_LEN 64

/* A named figure of an anomaly: observed {"requests_per_sec": 412.0}. */
struct tg_an_value {
	char name[TG_AN_VALUE_NAME];
	double v;
};

/* One detector firing. */
struct tg_anomaly {
	int type;     /* enum tg_anomaly_type */
	int severity; /* enum tg_severity */
	/* The client, when the anomaly has one: address (IPv4-mapped or IPv6
	 * masked to prefix) and the key it was counted under. */
	bool has_addr;
	struct tg_addr addr;
	uint32_t prefix;          /* 32 for IPv4, identity.ipv6_prefix for IPv6 */
	char key[TG_AN_KEY_LEN];  /* quota entry name, "key:<16 hex>" for an
				   * unconfigured API key (a hash, never the key), or "" */
	char model[TG_AN_MODEL_LEN]; /* the model of a per-(key, model) anomaly, or "" */
	struct tg_an_value observed[TG_AN_MAX_VALUES];
	int n_observed;
	/* baseline (learned) or quota (configured): exactly one is used. */
	bool is_quota;
	struct tg_an_value reference[TG_AN_MAX_VALUES];
	int n_reference;
	uint64_t ts_ns; /* wall clock, Unix ns */
};

/* Appends a named value; ignores it beyond TG_AN_MAX_VALUES. */
void tg_an_observe(struct tg_anomaly *a, const char *name, double v);
void tg_an_reference(struct tg_anomaly *a, const char *name, double v);

/* Two anomalies are the same for deduplication when type, client address,
 * key and model match. */
bool tg_anomaly_same(const struct tg_anomaly *a, const struct tg_anomaly *b);

#endif
