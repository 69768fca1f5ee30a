/* Summaries: anomalies gathered per anomaly.window_ms, deduplicated (one
 * entry per type, client and key with its count: "12 times in 10 s"), and
 * rendered as tollgate.anomaly.v1 events (schema/). A critical anomaly new
 * in its window goes out at once in an event of its own. Pure logic. */
#ifndef TG_SUMMARY_H
#define TG_SUMMARY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "lib/anomaly.h"

#define TG_EVENT_ID_LEN 40 /* "evt_" + 32 hex, NUL included */

struct tg_top_client {
	struct tg_addr addr;
	uint32_t prefix;
	char key[TG_AN_KEY_LEN];
	double requests_per_sec, bytes_per_sec;
	uint64_t denied;
};

/* What an event carries besides its anomalies. */
struct tg_summary_ctx {
	const char *instance, *host, *agent_version;
	const struct tg_top_client *top;
	size_t n_top;
	uint64_t requests, bytes, denied, clients; /* totals */
};

/* A rendered event. */
struct tg_event_out {
	char id[TG_EVENT_ID_LEN];
	int severity;
	char *json; /* malloc'd; the caller frees */
	size_t len;
};

struct tg_summary;

/* max_entries bounds the distinct anomalies kept per window; beyond it
 * the lowest severity ones are counted as dropped. */
struct tg_summary *tg_summary_new(uint32_t window_ms, size_t max_entries, uint64_t now_wall_ns);
void tg_summary_set_window(struct tg_summary *s, uint32_t window_ms);
void tg_summary_free(struct tg_summary *s);

/* Adds one detector firing. Returns true when it is critical and not yet
 * sent in this window: the caller then takes tg_summary_urgent(). */
bool tg_summary_add(struct tg_summary *s, const struct tg_anomaly *a);

/* An event of the critical anomalies not sent yet. Returns 0 and fills
 * out, or -ENOENT when there is none (-ENOMEM). */
int tg_summary_urgent(struct tg_summary *s, const struct tg_summary_ctx *ctx,
		      uint64_t now_wall_ns, struct tg_event_out *out);

/* When the current window ends (wall ns). */
uint64_t tg_summary_window_end(const struct tg_summary *s);

/* Closes the window at now_wall_ns and starts the next. Returns 0 with an
 * event of the window's anomalies (those already sent at once only when
 * they recurred since), or -ENOENT when there is nothing to say. */
int tg_summary_close(struct tg_summary *s, const struct tg_summary_ctx *ctx,
		     uint64_t now_wall_ns, struct tg_event_out *out);

struct tg_summary_stats {
	uint64_t events, anomalies, deduplicated, dropped;
	size_t entries; /* in the current window */
};
void tg_summary_stats(const struct tg_summary *s, struct tg_summary_stats *st);

/* A fresh event id: "evt_" and 32 random hex digits. */
void tg_event_id_new(char id[TG_EVENT_ID_LEN]);

#endif
