/* The anomaly pipeline on the agent's loop: each scan's figures go through
 * the detectors, anomalies into the window's summary, and events to the
 * webhooks. Kernel denials arrive between scans and take the same path, so
 * a critical one is on its way within milliseconds. */
#ifndef TG_ALERTS_H
#define TG_ALERTS_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>
#include "telemetry/collector.h"
#include "config/config.h"
#include "alerts/detect.h"
#include "alerts/summary.h"
#include "deliver/deliver.h"

struct tg_kern;

#define TG_ALERTS_MAX_PER_SCAN 512
#define TG_ALERTS_TOP 5 /* top_clients in an event */

struct tg_alerts {
	uv_loop_t *loop;
	const struct tg_config *cfg; /* the agent's, updated in place on reload */
	const struct tg_kern *kern;
	struct tg_collector *col;
	struct tg_detector *det;
	struct tg_summary *sum;
	struct tg_deliver *dl;
	uv_timer_t window_timer;
	uv_timer_t triage_timer;     /* hands triage answers on, off curl's callback */
	int buckets_fd, keyuse_fd, paths_fd;
	struct tg_batch sbk, kub, psb; /* tg_buckets, tg_key_use, tg_route_scan */
	struct tg_detect_paths *dps;
	size_t cap_dps;
	struct tg_detect_bucket *dbk;
	size_t cap_dbk;
	struct tg_detect_keyuse *dku;
	size_t cap_dku;
	struct tg_detect_resp *drs;
	size_t cap_drs;
	/* API-key entries by hash, so a key the kernel saw is reported under
	 * its entry's name (an unconfigured key by its hash only). */
	struct tg_key_name { uint64_t hash; int qid; } key_names[TG_MAX_QUOTAS];
	size_t n_key_names;
	struct tg_anomaly out[TG_ALERTS_MAX_PER_SCAN];
	struct tg_triage_item *triage_head, *triage_tail;
	char host[256];
	uint64_t events;             /* events handed to delivery */
	uint64_t urgent;             /* of which critical, sent at once */
	uint64_t denied_total;       /* last scan: every bucket's denials */
	int started;
};

/* Starts detectors, the window timer and delivery (which replays the
 * spool). Returns 0, or -errno with a reason in err. */
int tg_alerts_start(struct tg_alerts *al, uv_loop_t *loop, const struct tg_config *cfg,
		    const struct tg_kern *k, struct tg_collector *col, char *err, size_t errlen);
/* After each collector scan. */
void tg_alerts_scan(struct tg_alerts *al);
/* A kernel denial event (ring buffer). */
void tg_alerts_denial(struct tg_alerts *al, const struct tg_event *e);
/* A reload: cfg already holds the new config. 0 or -errno with err. */
int tg_alerts_reload(struct tg_alerts *al, char *err, size_t errlen);
/* Closes the current window (its event is spooled for the next run if it
 * cannot go out now) and stops delivery. */
void tg_alerts_stop(struct tg_alerts *al);
void tg_alerts_free(struct tg_alerts *al);

#endif
