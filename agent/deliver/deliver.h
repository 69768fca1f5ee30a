/* Webhook delivery: one queue per webhook (its own spool, format, filter
 * and backoff), so one slow receiver never delays another. HTTP goes
 * through libcurl's multi socket API driven by the agent's libuv loop: no
 * thread, nothing blocks. At least once: an event is spooled before it is
 * sent and removed after a 2xx; 408, 429 (Retry-After honoured), 5xx,
 * connection errors and timeouts are retried with exponential backoff and
 * jitter; any other answer sends it to the dead-letter file. */
#ifndef TG_DELIVER_H
#define TG_DELIVER_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>
#include "config/config.h"

#define TG_HOOK_LAT_BUCKETS 12 /* delivery latency: < 1 ms .. >= 1 s, log2 */
#define TG_HOOK_MAX_IN_FLIGHT 16

struct tg_hook_stats {
	uint64_t enqueued;       /* events accepted into the spool */
	uint64_t filtered;       /* below min_severity, or skipped by the format */
	uint64_t sent;           /* 2xx */
	uint64_t retries;
	uint64_t failures;       /* attempts that failed (retried or not) */
	uint64_t dead_letters;
	uint64_t spool_dropped;  /* the spool's bound dropped them */
	uint64_t replayed;       /* found in the spool at start */
	uint64_t queued;         /* in the spool now */
	uint64_t in_flight;
	/* enqueue -> 2xx, milliseconds: counts per bucket (upper bounds 1, 2,
	 * 4 ... 1024 ms, +Inf), sum and count for a Prometheus histogram */
	uint64_t lat_bucket[TG_HOOK_LAT_BUCKETS];
	double lat_sum_ms;
	uint64_t lat_count;
	long last_status;        /* last HTTP status, 0 for none */
	uint64_t triage_failures; /* openai: 2xx answers that gave no triage event */
};

/* What the openai format's answers turn into: called for each triage
 * event, which the caller hands back to tg_deliver_event(). */
typedef void (*tg_triage_fn)(void *arg, const char *id, int severity, const char *json,
			     size_t len);

struct tg_deliver;

struct tg_deliver_opts {
	uv_loop_t *loop;
	const char *state_dir, *instance, *host, *agent_version;
	size_t spool_max;             /* per webhook; 0: TG_SPOOL_DEFAULT_MAX */
	tg_triage_fn on_triage;
	void *triage_arg;
};

/* Opens every webhook's spool (replaying what is there) and starts
 * sending. Returns 0, or -errno with a reason in err (e.g. state_dir not
 * writable, a plugin that does not load). */
int tg_deliver_new(const struct tg_deliver_opts *o, const struct tg_webhook_config *hooks,
		   int n, struct tg_deliver **out, char *err, size_t errlen);

/* A reload: webhooks are matched by name. A kept one takes the new
 * settings for its next attempt and keeps its queue; a new one starts; a
 * removed one stops, its spool stays on disk for a later run. */
int tg_deliver_reconfigure(struct tg_deliver *d, const struct tg_webhook_config *hooks,
			   int n, char *err, size_t errlen);

/* Formats and spools the event for every webhook it is meant for (the
 * severity filter; triage events go to every webhook but openai ones),
 * then sends. schema is TG_SCHEMA_ANOMALY or TG_SCHEMA_TRIAGE. Returns
 * the number of webhooks it was queued for. */
int tg_deliver_event(struct tg_deliver *d, const char *schema, const char *id,
		     int severity, const char *json, size_t len);

/* Closes every handle; in-flight requests are abandoned (their events stay
 * spooled and are replayed next run). Call before the loop's last run. */
void tg_deliver_stop(struct tg_deliver *d);
void tg_deliver_free(struct tg_deliver *d);

size_t tg_deliver_count(const struct tg_deliver *d);
/* The i-th webhook's name and figures. */
const char *tg_deliver_name(const struct tg_deliver *d, size_t i);
void tg_deliver_stats(const struct tg_deliver *d, size_t i, struct tg_hook_stats *st);

#endif
