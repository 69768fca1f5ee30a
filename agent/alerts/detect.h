/* Detectors: per-scan figures in, anomalies out. Pure logic (no I/O, no
 * clock of its own), so every detector is unit-tested on synthetic series.
 * State is kept for active clients, buckets and keys only: an entry idle
 * for TG_DETECT_IDLE_INTERVALS scans is forgotten, so memory follows the
 * active set, not every client ever seen. */
#ifndef TG_DETECT_H
#define TG_DETECT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "lib/anomaly.h"
#include "config/config.h"
#include "telemetry/rates.h"

#define TG_DETECT_IDLE_INTERVALS 60
/* Clients with state, at most: twice the collector's snapshot (the input
 * of each scan), so that a burst of new clients (a flood, a fill of the
 * table) does not make the agent's memory follow it for a minute. A
 * client beyond it gets no state until entries go idle
 * (tg_detect_stats.clients_untracked); it still counts as new for the
 * new-client detector. */
#define TG_DETECT_MAX_CLIENTS 131072

/* A key's bucket as the collector read it (tg_buckets / tg_addr_buckets):
 * cumulative counters; the detector takes differences between scans. */
struct tg_detect_bucket {
	struct tg_bucket_key key;   /* qid, and the address of a per-address bucket */
	bool addr_bucket;
	char name[TG_NAME_LEN];     /* the quota entry's name, "default" for id 0 */
	uint64_t allowed, denied, would_deny, allowed_bytes;
	double limit_rps;           /* the quota's requests_per_sec, 0 = unlimited */
	double limit_bps;           /* bytes_per_sec, 0 = unlimited */
};

/* One (API key, client) pair the kernel saw (tg_key_use): cumulative. */
struct tg_detect_keyuse {
	uint64_t key_hash;          /* FNV-1a of the key, never the key */
	struct tg_addr addr;        /* the client key (IPv6 masked to its prefix) */
	uint64_t requests;
	char name[TG_NAME_LEN];     /* the configured entry of this key, or "" */
};

/* A client's route_scan sketch (tg_route_scan): the distinct paths of its
 * unmatched requests in one window. */
struct tg_detect_paths {
	struct tg_addr addr;
	uint64_t window; /* the window of the bits (monotonic ns / window length) */
	uint32_t clear;  /* bits still clear, of TG_PATH_SKETCH_BITS */
};

/* Distinct paths a sketch with `clear` clear bits saw (linear counting:
 * -m ln(clear / m)); a full sketch reports the saturation point m ln m. */
double tg_path_sketch_estimate(uint32_t clear);

/* Request starts of one quota entry on one model (tg_model_keys):
 * cumulative. */
struct tg_detect_keymodel {
	uint32_t qid, model;        /* the entry's quota id, the model id */
	uint64_t requests;
	char key[TG_NAME_LEN];      /* the entry's name */
	char name[TG_AN_MODEL_LEN]; /* the model's name, "other" for id 0 */
};

/* A client's response status counts (cumulative, from tg_responses). */
struct tg_detect_resp {
	struct tg_addr addr;
	uint64_t responses;
	uint64_t status[TG_ST_MAX]; /* by enum tg_status_class */
};

/* Everything one scan saw. Arrays may be empty; clients carry rates. */
struct tg_detect_input {
	uint64_t now_wall_ns;
	double dt;                          /* seconds since the last scan; 0 first time */
	uint32_t ipv6_prefix;
	const struct tg_client_view *clients; /* cumulative counters + rates */
	size_t n_clients;
	const struct tg_detect_resp *resp;
	size_t n_resp;
	const struct tg_detect_bucket *buckets;
	size_t n_buckets;
	const struct tg_detect_keyuse *keys;
	size_t n_keys;
	const struct tg_detect_paths *paths;
	size_t n_paths;
	uint64_t path_window;               /* the kernel's current route_scan window */
	const struct tg_detect_keymodel *keymodels;
	size_t n_keymodels;
	double requests_per_sec;            /* all clients */
};

/* A denial the kernel reported on its ring buffer (at most one per key and
 * second). */
struct tg_detect_denial {
	int type;                   /* enum tg_event_type */
	bool enforced;              /* dropped, else would-deny (monitor) */
	int action;                 /* enum tg_action of the quota */
	struct tg_addr client;
	uint32_t prefix;
	char name[TG_NAME_LEN];     /* the quota entry's name */
	uint64_t denied;            /* the bucket's denied + would_deny so far */
	uint64_t key_hash;          /* 0 when no API key */
	double limit_rps, burst;    /* the quota */
	uint64_t max_connections;
	uint64_t ts_wall_ns;
};

struct tg_detector;

/* Every detector's defaults as the config reference gives them. */
void tg_detect_config_defaults(struct tg_anomaly_config *cfg);

/* NULL cfg: the defaults. */
struct tg_detector *tg_detect_new(const struct tg_anomaly_config *cfg);
/* A reload: new thresholds, learned state kept. */
void tg_detect_configure(struct tg_detector *d, const struct tg_anomaly_config *cfg);
void tg_detect_free(struct tg_detector *d);

/* Runs every enabled detector over one scan. Writes up to cap anomalies to
 * out and returns how many; more than cap are counted in
 * tg_detect_stats.suppressed. */
size_t tg_detect_scan(struct tg_detector *d, const struct tg_detect_input *in,
		      struct tg_anomaly *out, size_t cap);

/* quota_exhausted (action drop/monitor/gateway, and max_connections) or
 * denied (action deny). Returns 1 with *out filled, 0 when that detector
 * is disabled. */
int tg_detect_denial(struct tg_detector *d, const struct tg_detect_denial *e,
		     struct tg_anomaly *out);

struct tg_detect_stats {
	size_t clients, buckets, keys; /* entries of state kept now */
	uint64_t clients_untracked;    /* clients given no state: TG_DETECT_MAX_CLIENTS */
	uint64_t fired[TG_AN_MAX];
	uint64_t suppressed;
};
void tg_detect_stats(const struct tg_detector *d, struct tg_detect_stats *st);

/* The client's key text for an unconfigured API key: "key:" and 16 hex. */
void tg_key_hash_name(uint64_t hash, char *buf, size_t len);

#endif
