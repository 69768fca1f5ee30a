/* The anomaly pipeline in the local API: /metrics series per webhook and
 * per anomaly type, and /v1/webhooks (the same figures as JSON). */
#include <inttypes.h>
#include "daemon/agent.h"
#include "lib/buf.h"
#include "api/routes.h"

/* Upper bounds of the delivery latency buckets, seconds (webhook.h). */
static double lat_le(int i)
{
	return (double)(1u << i) / 1000.0;
}

static void hook_counter(struct tg_buf *b, const char *inst, const struct tg_deliver *d,
			 const char *name, const char *type, const char *help, size_t off)
{
	tg_buf_printf(b, "# HELP tollgate_webhook_%s %s\n# TYPE tollgate_webhook_%s %s\n",
		      name, help, name, type);
	for (size_t i = 0; i < tg_deliver_count(d); i++) {
		struct tg_hook_stats st;

		tg_deliver_stats(d, i, &st);
		tg_buf_printf(b, "tollgate_webhook_%s{instance=\"%s\",webhook=\"%s\"} %" PRIu64 "\n",
			      name, inst, tg_deliver_name(d, i),
			      *(const uint64_t *)((const char *)&st + off));
	}
}

#define HOOK_COUNTER(n, t, h, f) hook_counter(b, inst, d, n, t, h, offsetof(struct tg_hook_stats, f))

void tg_alerts_metrics(struct tg_agent *a, struct tg_buf *b)
{
	const struct tg_alerts *al = &a->alerts;
	const struct tg_deliver *d = al->dl;
	const char *inst = a->cfg.instance;
	struct tg_detect_stats ds;

	if (!al->det || !d)
		return;
	tg_detect_stats(al->det, &ds);
	tg_buf_printf(b, "# HELP tollgate_anomalies_total Detector firings by anomaly type (before deduplication).\n"
		      "# TYPE tollgate_anomalies_total counter\n");
	for (int t = 0; t < TG_AN_MAX; t++)
		tg_buf_printf(b, "tollgate_anomalies_total{instance=\"%s\",type=\"%s\"} %" PRIu64 "\n",
			      inst, tg_anomaly_type_name(t), ds.fired[t]);
	tg_buf_printf(b, "# HELP tollgate_anomaly_events_total Anomaly events sent to delivery (window summaries and critical ones at once).\n"
		      "# TYPE tollgate_anomaly_events_total counter\n"
		      "tollgate_anomaly_events_total{instance=\"%s\"} %" PRIu64 "\n"
		      "# HELP tollgate_anomaly_events_critical_total Events sent at once for a critical anomaly.\n"
		      "# TYPE tollgate_anomaly_events_critical_total counter\n"
		      "tollgate_anomaly_events_critical_total{instance=\"%s\"} %" PRIu64 "\n"
		      "# HELP tollgate_detector_tracked Entries of detector state (clients, buckets and keys active lately).\n"
		      "# TYPE tollgate_detector_tracked gauge\n"
		      "tollgate_detector_tracked{instance=\"%s\",kind=\"clients\"} %zu\n"
		      "tollgate_detector_tracked{instance=\"%s\",kind=\"buckets\"} %zu\n"
		      "tollgate_detector_tracked{instance=\"%s\",kind=\"keys\"} %zu\n"
		      "# HELP tollgate_detector_untracked_total Client sightings given no detector state: the state was full (a burst of new clients).\n"
		      "# TYPE tollgate_detector_untracked_total counter\n"
		      "tollgate_detector_untracked_total{instance=\"%s\"} %" PRIu64 "\n",
		      inst, al->events, inst, al->urgent, inst, ds.clients, inst, ds.buckets, inst,
		      ds.keys, inst, ds.clients_untracked);
	HOOK_COUNTER("queue_depth", "gauge", "Events in the webhook's spool, waiting or in flight.", queued);
	HOOK_COUNTER("in_flight", "gauge", "Requests to the webhook in flight.", in_flight);
	HOOK_COUNTER("enqueued_total", "counter", "Events spooled for the webhook.", enqueued);
	HOOK_COUNTER("filtered_total", "counter", "Events below the webhook's min_severity or skipped by its format.", filtered);
	HOOK_COUNTER("sent_total", "counter", "Events the webhook accepted (2xx).", sent);
	HOOK_COUNTER("retries_total", "counter", "Delivery attempts retried (408, 429, 5xx, connection errors, timeouts).", retries);
	HOOK_COUNTER("failures_total", "counter", "Delivery attempts that failed.", failures);
	HOOK_COUNTER("dead_letters_total", "counter", "Events moved to the dead-letter file (other 4xx, unrenderable).", dead_letters);
	HOOK_COUNTER("spool_dropped_total", "counter", "Events dropped because the spool was full (lowest severity, oldest first).", spool_dropped);
	HOOK_COUNTER("replayed_total", "counter", "Events found in the spool at start and sent again.", replayed);
	tg_buf_printf(b, "# HELP tollgate_webhook_delivery_seconds Time from spooling an event to its 2xx.\n"
		      "# TYPE tollgate_webhook_delivery_seconds histogram\n");
	for (size_t i = 0; i < tg_deliver_count(d); i++) {
		const char *name = tg_deliver_name(d, i);
		struct tg_hook_stats st;
		uint64_t cum = 0;

		tg_deliver_stats(d, i, &st);
		for (int k = 0; k < TG_HOOK_LAT_BUCKETS; k++) {
			cum += st.lat_bucket[k];
			if (k == TG_HOOK_LAT_BUCKETS - 1)
				tg_buf_printf(b, "tollgate_webhook_delivery_seconds_bucket{instance=\"%s\",webhook=\"%s\",le=\"+Inf\"} %" PRIu64 "\n",
					      inst, name, cum);
			else
				tg_buf_printf(b, "tollgate_webhook_delivery_seconds_bucket{instance=\"%s\",webhook=\"%s\",le=\"%g\"} %" PRIu64 "\n",
					      inst, name, lat_le(k), cum);
		}
		tg_buf_printf(b, "tollgate_webhook_delivery_seconds_sum{instance=\"%s\",webhook=\"%s\"} %.6f\n"
			      "tollgate_webhook_delivery_seconds_count{instance=\"%s\",webhook=\"%s\"} %" PRIu64 "\n",
			      inst, name, st.lat_sum_ms / 1e3, inst, name, st.lat_count);
	}
}

void tg_h_webhooks(void *ctx, const struct tg_api_req *req, struct tg_api_resp *resp)
{
	struct tg_agent *a = ctx;
	const struct tg_deliver *d = a->alerts.dl;
	struct tg_buf *b = &resp->body;
	size_t n = d ? tg_deliver_count(d) : 0;

	tg_buf_printf(b, "{\"webhooks\":[");
	for (size_t i = 0; i < n; i++) {
		struct tg_hook_stats st;

		tg_deliver_stats(d, i, &st);
		tg_buf_printf(b, "%s{\"name\":", i ? "," : "");
		tg_buf_json_str(b, tg_deliver_name(d, i));
		tg_buf_printf(b, ",\"queued\":%" PRIu64 ",\"in_flight\":%" PRIu64 ",\"enqueued\":%" PRIu64
			      ",\"filtered\":%" PRIu64 ",\"sent\":%" PRIu64 ",\"retries\":%" PRIu64
			      ",\"failures\":%" PRIu64 ",\"dead_letters\":%" PRIu64
			      ",\"spool_dropped\":%" PRIu64 ",\"replayed\":%" PRIu64
			      ",\"last_status\":%ld,\"delivery_ms_avg\":%.3f}",
			      st.queued, st.in_flight, st.enqueued, st.filtered, st.sent, st.retries,
			      st.failures, st.dead_letters, st.spool_dropped, st.replayed, st.last_status,
			      st.lat_count ? st.lat_sum_ms / (double)st.lat_count : 0.0);
	}
	tg_buf_printf(b, "],\"events\":%" PRIu64 ",\"events_critical\":%" PRIu64 "}\n",
		      a->alerts.events, a->alerts.urgent);
	if (b->oom)
		tg_json_error(resp, 503, "out of memory");
}
