/* /metrics: every tollgate_* family, rendered here from the figures the
 * subsystems expose (collector totals and snapshot, key buckets, detector
 * and delivery stats, /v1/check counters, fleet stats), through the
 * exposition helpers below. Per-client series are capped at api.top_n. */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "alerts/alerts.h"
#include "api/metrics.h"
#include "api/routes.h"
#include "bucket.h"
#include "fleet/fleet.h"
#include "lib/addr.h"
#include "lib/clock.h"
#include "telemetry/route_counts.h"

void tg_metric_family(struct tg_buf *b, const char *name, const char *type, const char *help)
{
	tg_buf_printf(b, "# HELP tollgate_%s %s\n# TYPE tollgate_%s %s\n", name, help, name, type);
}

void tg_metric_sample(struct tg_buf *b, const char *name, const char *inst, const char *labels,
		      const char *vfmt, ...)
{
	char v[64];
	va_list ap;

	va_start(ap, vfmt);
	vsnprintf(v, sizeof(v), vfmt, ap);
	va_end(ap);
	tg_buf_printf(b, "tollgate_%s{instance=\"%s\"%s} %s\n", name, inst, labels, v);
}

void tg_metric_one(struct tg_buf *b, const char *name, const char *type, const char *help,
		   const char *inst, double v)
{
	tg_metric_family(b, name, type, help);
	tg_metric_sample(b, name, inst, "", "%.17g", v);
}

char *tg_metric_label(char *buf, size_t len, const char *key, const char *value)
{
	size_t n = strnlen(buf, len);
	int w = snprintf(buf + n, len - n, ",%s=\"", key);

	if (w < 0 || (size_t)w >= len - n)
		return buf;
	n += (size_t)w;
	for (const char *p = value; *p && n + 3 < len; p++) {
		if (*p == '\\' || *p == '"' || *p == '\n') {
			buf[n++] = '\\';
			buf[n++] = *p == '\n' ? 'n' : *p;
		} else {
			buf[n++] = *p;
		}
	}
	if (n + 1 < len)
		buf[n++] = '"';
	buf[n] = '\0';
	return buf;
}

/* ---- telemetry: totals, the scan, the top-N clients ---------------------- */

static void totals_metrics(struct tg_api_ctx *a, struct tg_buf *b, const char *inst)
{
	const struct tg_collector *c = a->col;
	const struct tg_totals *t = &c->totals;

	tg_metric_one(b, "requests_total", "counter", "HTTP request starts seen toward gateway ports (since the maps were made).", inst, (double)t->requests);
	tg_metric_one(b, "bytes_total", "counter", "Wire L3 bytes from clients toward gateway ports (since the maps were made).", inst, (double)t->bytes);
	tg_metric_one(b, "payload_bytes_total", "counter", "TCP payload bytes from clients (since the maps were made).", inst, (double)t->payload_bytes);
	tg_metric_one(b, "packets_total", "counter", "TCP segments from clients (since the maps were made).", inst, (double)t->packets);
	tg_metric_one(b, "connections_total", "counter", "New connections (SYN) from clients (since the maps were made).", inst, (double)t->syns);
	tg_metric_one(b, "clients", "gauge", "Clients tracked in the kernel's per-client map (as the last complete sweep counted them).", inst, (double)t->clients);
	tg_metric_one(b, "clients_map_capacity", "gauge", "Entries the per-client map holds.", inst, (double)c->map_size);
	tg_metric_one(b, "clients_created_total", "counter", "Per-client entries created by the kernel.", inst, (double)t->new_clients);
	tg_metric_one(b, "clients_evicted_total", "counter", "Per-client entries evicted under map pressure (created minus live).", inst, (double)t->evicted);
	tg_metric_one(b, "malformed_packets_total", "counter", "Packets with truncated or inconsistent headers (passed, not counted).", inst, (double)t->malformed);
	tg_metric_one(b, "fragments_total", "counter", "IP fragments seen (passed, not counted).", inst, (double)t->fragments);
	tg_metric_one(b, "connections_untracked_total", "counter", "Request starts on connections whose SYN was not seen.", inst, (double)t->conns_missing);
	tg_metric_one(b, "scan_duration_seconds", "gauge", "Duration of the last read of the kernel's counters.", inst, c->scan_ms / 1e3);
	tg_metric_one(b, "scans_total", "counter", "Scans of the kernel's counters.", inst, (double)c->st.scans);
	tg_metric_one(b, "scan_active_clients", "gauge", "Active clients the last scan read (drained from the kernel's active set, still tracked).", inst, (double)c->st.active);
	tg_metric_one(b, "scan_active_backlog", "gauge", "1 when the last scan's budget ran out with active clients left for the next scans (in the set or carried).", inst, (double)c->st.backlog);
	tg_metric_one(b, "scan_active_clients_total", "counter", "Clients drained from the active set, over all scans.", inst, (double)c->st.active_total);
	tg_metric_one(b, "scan_active_carried", "gauge", "Active clients the last scan drained but had no time to read: the next scan reads them first.", inst, (double)c->st.carried);
	tg_metric_one(b, "scan_active_skipped_total", "counter", "Active clients drained but not read in time beyond those carried to the next scan (a backlog let go).", inst, (double)c->st.skipped);
	tg_metric_one(b, "scan_active_dropped_total", "counter", "Active clients beyond the snapshot's room, not kept in it.", inst, (double)c->st.active_dropped);
	tg_metric_one(b, "active_set_lost_total", "counter", "Kernel: active-set inserts that failed (set full); the full sweep covers them.", inst, (double)t->active_lost);
	tg_metric_one(b, "snapshot_clients", "gauge", "Clients in the agent's snapshot (recently active).", inst, (double)c->n_cur);
	tg_metric_one(b, "sweep_slice_duration_seconds", "gauge", "Duration of the last scan's slice of the full sweep.", inst, c->st.slice_ms / 1e3);
	tg_metric_one(b, "sweep_duration_seconds", "gauge", "Time spent in the slices of the last complete sweep of the per-client map.", inst, c->st.sweep_ms / 1e3);
	tg_metric_one(b, "sweep_period_seconds", "gauge", "Wall time from the first slice to the last of the last complete sweep.", inst, c->st.sweep_period_s);
	tg_metric_one(b, "sweep_entries", "gauge", "Per-client entries the last complete sweep counted.", inst, (double)c->st.sweep_entries);
	tg_metric_one(b, "sweeps_total", "counter", "Complete sweeps of the per-client map.", inst, (double)c->st.sweeps);
	tg_metric_one(b, "addr_buckets", "gauge", "Per-address buckets live (quotas.default, per_address entries).", inst, (double)t->addr_buckets);
	tg_metric_one(b, "addr_buckets_evicted_total", "counter", "Per-address buckets evicted under map pressure: those clients start again from a full bucket.", inst, (double)t->addr_buckets_evicted);
	tg_metric_one(b, "fragments_dropped_total", "counter", "First IP fragments toward gateway ports dropped (enforce mode).", inst, (double)t->fragments_dropped);
	tg_metric_one(b, "requests_abandoned_total", "counter", "Dropped request starts whose client closed (FIN) before they were admitted: never admitted after.", inst, (double)t->abandoned);
	tg_metric_one(b, "requests_abandoned_dropped_total", "counter", "Retransmissions of abandoned request starts dropped.", inst, (double)t->abandoned_drops);
	tg_metric_one(b, "requests_unverified_total", "counter", "Request starts whose client proved no handshake (a spoofed source, or a gateway socket out of sight): counted, never charged to a bucket; held where the kernel enforces.", inst, (double)t->unverified);
	tg_metric_one(b, "requests_waiting_dropped_total", "counter", "Request starts dropped uncharged because an earlier start on their connection was dropped: the gateway cannot read them before it, and they come again.", inst, (double)t->behind_dropped);
	tg_metric_one(b, "requests_unproven_dropped_total", "counter", "Request starts whose client proved no handshake (spoofed, on a SYN with TCP Fast Open, or with the proof out of sight) held under an enforced quota: dropped uncharged; a real client sends them again and is charged once proven.", inst, (double)t->unproven_dropped);
	tg_metric_family(b, "connections_verified_total", "counter", "Connections whose client proved the handshake at its first request start, by proof.");
	tg_metric_sample(b, "connections_verified_total", inst, ",proof=\"handshake\"", "%" PRIu64, t->verified_handshake);
	tg_metric_sample(b, "connections_verified_total", inst, ",proof=\"socket\"", "%" PRIu64, t->verified_socket);
	tg_metric_one(b, "denial_events_total", "counter", "Denial events received from the kernel (one per key per second at most).", inst, (double)a->events->received);
	tg_metric_one(b, "denial_events_lost_total", "counter", "Denial events lost to a full ring buffer.", inst, (double)t->events_lost);
	tg_metric_one(b, "enforcing", "gauge", "1 in enforce mode, 0 in monitor mode.", inst, a->cfg->mode == TG_MODE_ENFORCE ? 1 : 0);
	tg_metric_one(b, "config_generation", "gauge", "Config generation (increments on each successful reload).", inst, (double)*a->generation);
}

static int top_clients_metrics(struct tg_api_ctx *a, struct tg_buf *b, const char *inst)
{
	static const struct { const char *name, *type, *help; } per[] = {
		{ "client_requests_total", "counter", "Request starts per client (top-N by request rate)." },
		{ "client_bytes_total", "counter", "Wire bytes per client (top-N by request rate)." },
		{ "client_requests_per_second", "gauge", "Request rate per client over the last scan (top-N)." },
	};
	const struct tg_collector *c = a->col;
	size_t n = c->n_cur, *idx = malloc((n ? n : 1) * sizeof(*idx));

	if (!idx)
		return -1;
	tg_sort_clients(c->cur, n, TG_SORT_RPS, idx);
	for (size_t m = 0; m < sizeof(per) / sizeof(per[0]); m++) {
		tg_metric_family(b, per[m].name, per[m].type, per[m].help);
		for (size_t i = 0; i < n && i < a->cfg->api_top_n; i++) {
			const struct tg_client_view *v = &c->cur[idx[i]];
			char addr[64], l[96] = "";
			double val = m == 0 ? (double)v->requests
				   : m == 1 ? (double)v->bytes : v->requests_per_sec;

			tg_addr_format(&v->addr, addr, sizeof(addr));
			tg_metric_sample(b, per[m].name, inst, tg_metric_label(l, sizeof(l), "client", addr),
					 "%.17g", val);
		}
	}
	free(idx);
	return 0;
}

/* Responses by status class, open connections and response bytes, over
 * every client and for the top-N by response bytes. */
static void responses_metrics(struct tg_api_ctx *a, struct tg_buf *b, const char *inst)
{
	static const char *const classes[TG_ST_MAX] = { "2xx", "3xx", "4xx", "429", "5xx" };
	const struct tg_collector *c = a->col;
	uint64_t st[TG_ST_MAX] = { 0 }, bytes = 0;
	int64_t open = 0;

	for (size_t i = 0; i < c->n_resp; i++) {
		for (int k = 0; k < TG_ST_MAX; k++)
			st[k] += c->resp[i].r.status[k];
		bytes += c->resp[i].r.bytes;
	}
	for (size_t i = 0; i < c->n_socks; i++)
		open += c->socks[i].s.open;
	tg_metric_family(b, "responses_total", "counter", "HTTP/1.x responses to clients by status class (live clients).");
	for (int k = 0; k < TG_ST_MAX; k++) {
		char l[32] = "";

		tg_metric_sample(b, "responses_total", inst, tg_metric_label(l, sizeof(l), "class", classes[k]),
				 "%" PRIu64, st[k]);
	}
	tg_metric_one(b, "response_bytes_total", "counter", "Response payload bytes to clients (live clients).", inst, (double)bytes);
	tg_metric_one(b, "open_connections", "gauge", "Established gateway connections (socket level).", inst, (double)open);
	tg_metric_family(b, "client_open_connections", "gauge", "Established connections per client (socket level).");
	for (size_t i = 0; i < c->n_socks && i < a->cfg->api_top_n; i++) {
		char addr[64], l[96] = "";

		if (!c->socks[i].s.open)
			continue;
		tg_addr_format(&c->socks[i].addr, addr, sizeof(addr));
		tg_metric_sample(b, "client_open_connections", inst,
				 tg_metric_label(l, sizeof(l), "client", addr), "%" PRId64,
				 (int64_t)c->socks[i].s.open);
	}
}

/* ---- quotas: per configured key ------------------------------------------ */

static void keys_metrics(struct tg_api_ctx *a, struct tg_buf *b, const char *inst)
{
	static const struct { const char *name, *type, *help; } m[] = {
		{ "key_requests_allowed_total", "counter", "Request starts admitted, per configured key." },
		{ "key_requests_denied_total", "counter", "Requests refused beyond quota (a retransmission of a refused start not counted again), per key." },
		{ "key_requests_would_deny_total", "counter", "Request starts beyond quota that passed (monitor), per key." },
		{ "key_bytes_allowed_total", "counter", "Payload bytes of admitted requests, per key." },
		{ "key_connections_denied_total", "counter", "SYNs beyond the connection rate (dropped or would be), per key." },
		{ "key_tokens", "gauge", "Requests the key's bucket admits now (shared buckets only)." },
		{ "key_requests_abandoned_total", "counter", "Dropped request starts whose client closed before they were admitted: never admitted after, per key." },
		{ "key_request_drops_total", "counter", "Request-start segments dropped beyond quota, each retransmission again, per key." },
	};
	static struct tg_bucket st[TG_MAX_QUOTAS]; /* 100 KB: not on the stack */
	int per[TG_MAX_QUOTAS];

	for (int qid = 0; qid < TG_MAX_QUOTAS; qid++) {
		uint64_t n;

		if (a->kern->qnames[qid][0])
			per[qid] = tg_key_state(a, qid, &st[qid], &n);
	}
	for (size_t i = 0; i < sizeof(m) / sizeof(m[0]); i++) {
		tg_metric_family(b, m[i].name, m[i].type, m[i].help);
		for (int qid = 0; qid < TG_MAX_QUOTAS; qid++) {
			const struct tg_quota *q = &a->kern->qvals[qid];
			const struct tg_bucket *s = &st[qid];
			char l[96] = "";
			double v;

			if (!a->kern->qnames[qid][0])
				continue;
			switch (i) {
			case 0: v = (double)s->allowed; break;
			case 1: v = (double)s->denied; break;
			case 2: v = (double)s->would_deny; break;
			case 3: v = (double)s->allowed_bytes; break;
			case 4: v = (double)s->conns_denied; break;
			case 6: v = (double)tg_key_abandoned(a, qid); break;
			case 7: v = (double)s->drops; break;
			default:
				if (per[qid] || !q->req_interval)
					continue;
				v = (double)tg_gcra_tokens(s->req_tat, tg_now_mono_ns(),
							   q->req_interval, q->req_tolerance);
			}
			tg_metric_sample(b, m[i].name, inst,
					 tg_metric_label(l, sizeof(l), "key", a->kern->qnames[qid]),
					 "%.17g", v);
		}
	}
}

/* ---- routes: per route, per (key, route), per (top-N client, route) ------ */

/* Bounded: routes (at most 33) x configured keys, and routes x the top-N
 * clients by request rate; series with no request are left out. */
static int routes_metrics(struct tg_api_ctx *a, struct tg_buf *b, const char *inst)
{
	static struct tg_route_count kc[TG_MAX_QUOTAS][TG_ROUTE_IDS]; /* 540 KB */
	struct tg_route_count tot[TG_ROUTE_IDS] = { 0 }, cc[TG_ROUTE_IDS];
	const struct tg_kern *k = a->kern;
	const struct tg_collector *c = a->col;
	size_t n = c->n_cur, *idx;

	if (!a->cfg->n_routes)
		return 0;
	for (int qid = 0; qid < TG_MAX_QUOTAS; qid++) {
		if (!k->qnames[qid][0] || tg_route_counts_key(k, qid, kc[qid]))
			memset(kc[qid], 0, sizeof(kc[qid]));
		for (int r = 0; r < TG_ROUTE_IDS; r++) {
			tot[r].requests += kc[qid][r].requests;
			tot[r].dropped += kc[qid][r].dropped;
		}
	}
	tg_metric_family(b, "route_requests_total", "counter", "Request starts per route (\"other\": no route matched).");
	for (int r = 0; r < TG_ROUTE_IDS; r++) {
		char l[96] = "";

		if (k->rlive[r])
			tg_metric_sample(b, "route_requests_total", inst,
					 tg_metric_label(l, sizeof(l), "route", k->rnames[r]), "%" PRIu64,
					 (uint64_t)tot[r].requests);
	}
	tg_metric_family(b, "route_requests_dropped_total", "counter", "Request starts dropped by the verdict, per route.");
	for (int r = 0; r < TG_ROUTE_IDS; r++) {
		char l[96] = "";

		if (k->rlive[r])
			tg_metric_sample(b, "route_requests_dropped_total", inst,
					 tg_metric_label(l, sizeof(l), "route", k->rnames[r]), "%" PRIu64,
					 (uint64_t)tot[r].dropped);
	}
	tg_metric_family(b, "key_route_requests_total", "counter", "Request starts per configured key and route.");
	for (int qid = 0; qid < TG_MAX_QUOTAS; qid++)
		for (int r = 0; r < TG_ROUTE_IDS; r++) {
			char l[160] = "";

			if (!k->qnames[qid][0] || !k->rlive[r] || !kc[qid][r].requests)
				continue;
			tg_metric_label(l, sizeof(l), "key", k->qnames[qid]);
			tg_metric_sample(b, "key_route_requests_total", inst,
					 tg_metric_label(l, sizeof(l), "route", k->rnames[r]), "%" PRIu64,
					 (uint64_t)kc[qid][r].requests);
		}
	if (!(idx = malloc((n ? n : 1) * sizeof(*idx))))
		return -1;
	tg_sort_clients(c->cur, n, TG_SORT_RPS, idx);
	tg_metric_family(b, "client_route_requests_total", "counter", "Request starts per client and route (top-N clients by request rate).");
	for (size_t i = 0; i < n && i < a->cfg->api_top_n; i++) {
		const struct tg_client_view *v = &c->cur[idx[i]];
		char addr[64];

		if (tg_route_counts_client(k, &v->addr, cc))
			continue;
		tg_addr_format(&v->addr, addr, sizeof(addr));
		for (int r = 0; r < TG_ROUTE_IDS; r++) {
			char l[160] = "";

			if (!k->rlive[r] || !cc[r].requests)
				continue;
			tg_metric_label(l, sizeof(l), "client", addr);
			tg_metric_sample(b, "client_route_requests_total", inst,
					 tg_metric_label(l, sizeof(l), "route", k->rnames[r]), "%" PRIu64,
					 (uint64_t)cc[r].requests);
		}
	}
	free(idx);
	return 0;
}

/* ---- models: per model, per (key, model) --------------------------------- */

/* Bounded: models (at most 65) x configured keys; (key, model) series
 * with no request are left out. */
static void models_metrics(struct tg_api_ctx *a, struct tg_buf *b, const char *inst)
{
	static struct tg_route_count kc[TG_MAX_QUOTAS][TG_MODEL_IDS]; /* 1 MB */
	struct tg_route_count tot[TG_MODEL_IDS] = { 0 };
	const struct tg_kern *k = a->kern;

	if (!a->cfg->n_models)
		return;
	for (int qid = 0; qid < TG_MAX_QUOTAS; qid++) {
		if (!k->qnames[qid][0] || tg_model_counts_key(k, qid, kc[qid]))
			memset(kc[qid], 0, sizeof(kc[qid]));
		for (int m = 0; m < TG_MODEL_IDS; m++) {
			tot[m].requests += kc[qid][m].requests;
			tot[m].dropped += kc[qid][m].dropped;
		}
	}
	tg_metric_family(b, "model_requests_total", "counter", "Requests per model named in the body (\"other\": a model not configured).");
	for (int m = 0; m < TG_MODEL_IDS; m++) {
		char l[160] = "";

		if (k->mlive[m])
			tg_metric_sample(b, "model_requests_total", inst,
					 tg_metric_label(l, sizeof(l), "model", k->mnames[m]), "%" PRIu64,
					 (uint64_t)tot[m].requests);
	}
	tg_metric_family(b, "model_requests_dropped_total", "counter", "Requests dropped by the verdict, per model.");
	for (int m = 0; m < TG_MODEL_IDS; m++) {
		char l[160] = "";

		if (k->mlive[m])
			tg_metric_sample(b, "model_requests_dropped_total", inst,
					 tg_metric_label(l, sizeof(l), "model", k->mnames[m]), "%" PRIu64,
					 (uint64_t)tot[m].dropped);
	}
	tg_metric_family(b, "key_model_requests_total", "counter", "Requests per configured key and model.");
	for (int qid = 0; qid < TG_MAX_QUOTAS; qid++)
		for (int m = 0; m < TG_MODEL_IDS; m++) {
			char l[224] = "";

			if (!k->qnames[qid][0] || !k->mlive[m] || !kc[qid][m].requests)
				continue;
			tg_metric_label(l, sizeof(l), "key", k->qnames[qid]);
			tg_metric_sample(b, "key_model_requests_total", inst,
					 tg_metric_label(l, sizeof(l), "model", k->mnames[m]), "%" PRIu64,
					 (uint64_t)kc[qid][m].requests);
		}
}

/* ---- alerts: detectors, events, delivery per webhook -------------------- */

/* Upper bounds of the delivery latency buckets, seconds (deliver.h). */
static double lat_le(int i)
{
	return (double)(1u << i) / 1000.0;
}

static void hook_counter(struct tg_buf *b, const char *inst, const struct tg_deliver *d,
			 const char *name, const char *type, const char *help, size_t off)
{
	tg_metric_family(b, name, type, help);
	for (size_t i = 0; i < tg_deliver_count(d); i++) {
		struct tg_hook_stats st;
		char l[96] = "";

		tg_deliver_stats(d, i, &st);
		tg_metric_sample(b, name, inst, tg_metric_label(l, sizeof(l), "webhook", tg_deliver_name(d, i)),
				 "%" PRIu64, *(const uint64_t *)((const char *)&st + off));
	}
}

#define HOOK_COUNTER(n, t, h, f) hook_counter(b, inst, d, n, t, h, offsetof(struct tg_hook_stats, f))

static void alerts_metrics(struct tg_api_ctx *a, struct tg_buf *b, const char *inst)
{
	const struct tg_alerts *al = a->alerts;
	const struct tg_deliver *d = al ? al->dl : NULL;
	static const char *const kinds[] = { "clients", "buckets", "keys" };
	struct tg_detect_stats ds;
	size_t tracked[3];

	if (!al || !al->det || !d)
		return;
	tg_detect_stats(al->det, &ds);
	tg_metric_family(b, "anomalies_total", "counter", "Detector firings by anomaly type (before deduplication).");
	for (int t = 0; t < TG_AN_MAX; t++) {
		char l[64] = "";

		tg_metric_sample(b, "anomalies_total", inst,
				 tg_metric_label(l, sizeof(l), "type", tg_anomaly_type_name(t)),
				 "%" PRIu64, ds.fired[t]);
	}
	tg_metric_family(b, "anomaly_events_total", "counter", "Anomaly events sent to delivery (window summaries and critical ones at once).");
	tg_metric_sample(b, "anomaly_events_total", inst, "", "%" PRIu64, al->events);
	tg_metric_family(b, "anomaly_events_critical_total", "counter", "Events sent at once for a critical anomaly.");
	tg_metric_sample(b, "anomaly_events_critical_total", inst, "", "%" PRIu64, al->urgent);
	tg_metric_family(b, "detector_tracked", "gauge", "Entries of detector state (clients, buckets and keys active lately).");
	tracked[0] = ds.clients;
	tracked[1] = ds.buckets;
	tracked[2] = ds.keys;
	for (int k = 0; k < 3; k++) {
		char l[32] = "";

		tg_metric_sample(b, "detector_tracked", inst, tg_metric_label(l, sizeof(l), "kind", kinds[k]),
				 "%zu", tracked[k]);
	}
	tg_metric_family(b, "detector_untracked_total", "counter", "Client sightings given no detector state: the state was full (a burst of new clients).");
	tg_metric_sample(b, "detector_untracked_total", inst, "", "%" PRIu64, ds.clients_untracked);
	HOOK_COUNTER("webhook_queue_depth", "gauge", "Events in the webhook's spool, waiting or in flight.", queued);
	HOOK_COUNTER("webhook_in_flight", "gauge", "Requests to the webhook in flight.", in_flight);
	HOOK_COUNTER("webhook_enqueued_total", "counter", "Events spooled for the webhook.", enqueued);
	HOOK_COUNTER("webhook_filtered_total", "counter", "Events below the webhook's min_severity or skipped by its format.", filtered);
	HOOK_COUNTER("webhook_sent_total", "counter", "Events the webhook accepted (2xx).", sent);
	HOOK_COUNTER("webhook_retries_total", "counter", "Delivery attempts retried (408, 429, 5xx, connection errors, timeouts).", retries);
	HOOK_COUNTER("webhook_failures_total", "counter", "Delivery attempts that failed.", failures);
	HOOK_COUNTER("webhook_dead_letters_total", "counter", "Events moved to the dead-letter file (other 4xx, unrenderable).", dead_letters);
	HOOK_COUNTER("webhook_spool_dropped_total", "counter", "Events dropped because the spool was full (lowest severity, oldest first).", spool_dropped);
	HOOK_COUNTER("webhook_replayed_total", "counter", "Events found in the spool at start and sent again.", replayed);
	tg_metric_family(b, "webhook_delivery_seconds", "histogram", "Time from spooling an event to its 2xx.");
	for (size_t i = 0; i < tg_deliver_count(d); i++) {
		struct tg_hook_stats st;
		uint64_t cum = 0;
		char l[96] = "";

		tg_metric_label(l, sizeof(l), "webhook", tg_deliver_name(d, i));
		tg_deliver_stats(d, i, &st);
		for (int k = 0; k < TG_HOOK_LAT_BUCKETS; k++) {
			char le[160], v[24];

			cum += st.lat_bucket[k];
			if (k == TG_HOOK_LAT_BUCKETS - 1)
				snprintf(v, sizeof(v), "+Inf");
			else
				snprintf(v, sizeof(v), "%g", lat_le(k));
			snprintf(le, sizeof(le), "%s", l);
			tg_metric_sample(b, "webhook_delivery_seconds_bucket", inst,
					 tg_metric_label(le, sizeof(le), "le", v), "%" PRIu64, cum);
		}
		tg_metric_sample(b, "webhook_delivery_seconds_sum", inst, l, "%.6f", st.lat_sum_ms / 1e3);
		tg_metric_sample(b, "webhook_delivery_seconds_count", inst, l, "%" PRIu64, st.lat_count);
	}
}

/* ---- /v1/check ----------------------------------------------------------- */

static void check_metrics(struct tg_api_ctx *a, struct tg_buf *b, const char *inst)
{
	const struct tg_check_state *cs = &a->check;
	static const char *const results[] = { "allowed", "denied", "bad_request", "error" };
	const uint64_t counts[] = { cs->allowed, cs->denied, cs->bad, cs->errors };

	tg_metric_family(b, "checks_total", "counter", "/v1/check answers by result.");
	for (int i = 0; i < 4; i++) {
		char l[32] = "";

		tg_metric_sample(b, "checks_total", inst, tg_metric_label(l, sizeof(l), "result", results[i]),
				 "%" PRIu64, counts[i]);
	}
	tg_metric_family(b, "checks_kernel_verdict_total", "counter", "Checks answered with the verdict the kernel gave the request start (not charged again).");
	tg_metric_sample(b, "checks_kernel_verdict_total", inst, "", "%" PRIu64, cs->from_kernel);
}

/* ---- the API's listeners ------------------------------------------------- */

/* Per listener ("api", and "check" when api.check_listen is set): who
 * holds connections, and who was turned away. */
static void listener_metrics(struct tg_api_ctx *a, struct tg_buf *b, const char *inst)
{
	static const struct { const char *name, *type, *help; size_t off; } per[] = {
		{ "api_connections", "gauge", "Connections the listener serves now.", offsetof(struct tg_api_stats, open) },
		{ "api_connections_max", "gauge", "Connections the listener serves at most.", offsetof(struct tg_api_stats, max) },
		{ "api_connections_accepted_total", "counter", "Connections given a slot.", offsetof(struct tg_api_stats, accepted) },
		{ "api_connections_evicted_total", "counter", "Connections closed to make room for a newcomer (full, or its peer at its cap): the one idle the longest.", offsetof(struct tg_api_stats, evicted) },
		{ "api_connections_refused_total", "counter", "Newcomers closed because nothing could make room.", offsetof(struct tg_api_stats, refused) },
		{ "api_request_timeouts_total", "counter", "Connections closed because a request's head or body did not arrive in time.", offsetof(struct tg_api_stats, timed_out) },
		{ "api_answers_delayed_total", "counter", "Answers held before they were sent (denied checks, api.check_deny_delay_ms).", offsetof(struct tg_api_stats, delayed) },
	};
	const struct tg_api *const lst[] = { a->api, a->check_api };
	static const char *const names[] = { "api", "check" };
	struct tg_api_stats st[2];

	for (int k = 0; k < 2; k++)
		tg_api_get_stats(lst[k], &st[k]);
	for (size_t m = 0; m < sizeof(per) / sizeof(per[0]); m++) {
		tg_metric_family(b, per[m].name, per[m].type, per[m].help);
		for (int k = 0; k < 2; k++) {
			uint64_t v = *(const uint64_t *)((const char *)&st[k] + per[m].off);
			char l[32] = "";

			if (!lst[k])
				continue;
			tg_metric_sample(b, per[m].name, inst, tg_metric_label(l, sizeof(l), "listener",
									 names[k]), "%" PRIu64, v);
		}
	}
}

/* ---- fleet --------------------------------------------------------------- */

static void fleet_metrics(struct tg_api_ctx *a, struct tg_buf *b, const char *inst)
{
	static const struct { const char *name, *type, *help; size_t off; } counters[] = {
		{ "cluster_errors_total", "counter", "Redis errors, bad replies, timeouts and lost connections.", offsetof(struct tg_fleet_stats, errors) },
		{ "cluster_timeouts_total", "counter", "Sync rounds or connects that timed out.", offsetof(struct tg_fleet_stats, timeouts) },
		{ "cluster_redis_ops_total", "counter", "Commands sent to Redis.", offsetof(struct tg_fleet_stats, ops) },
		{ "cluster_connects_total", "counter", "Connection attempts that reached connect().", offsetof(struct tg_fleet_stats, connects) },
		{ "cluster_state_changes_total", "counter", "Transitions between sync states.", offsetof(struct tg_fleet_stats, state_changes) },
	};
	struct tg_fleet_quota_stats q;
	struct tg_fleet_stats st;

	if (tg_fleet_stats(a->fleet, &st))
		return;
	tg_metric_family(b, "cluster_state", "gauge", "Fleet sync state (1 for the current one).");
	for (int s = 0; s < TG_FLEET_STATES; s++) {
		char l[48] = "";

		tg_metric_sample(b, "cluster_state", inst, tg_metric_label(l, sizeof(l), "state", tg_fleet_state_name(s)),
				 "%d", st.state == s);
	}
	tg_metric_family(b, "cluster_connected", "gauge", "1 while global quotas are in sync through Redis.");
	tg_metric_sample(b, "cluster_connected", inst, "", "%d", st.state == TG_FLEET_STATES - 1);
	tg_metric_family(b, "cluster_sync_rounds_total", "counter", "Completed sync rounds with Redis.");
	tg_metric_sample(b, "cluster_sync_rounds_total", inst, "", "%" PRIu64, st.rounds);
	tg_metric_family(b, "cluster_sync_seconds_total", "counter", "Time spent in completed sync rounds (round trip).");
	tg_metric_sample(b, "cluster_sync_seconds_total", inst, "", "%.6f", (double)st.round_ns_sum / 1e9);
	tg_metric_family(b, "cluster_last_sync_seconds", "gauge", "Round trip of the last sync round.");
	tg_metric_sample(b, "cluster_last_sync_seconds", inst, "", "%.6f", st.last_round_ms / 1e3);
	for (size_t i = 0; i < sizeof(counters) / sizeof(counters[0]); i++) {
		tg_metric_family(b, counters[i].name, counters[i].type, counters[i].help);
		tg_metric_sample(b, counters[i].name, inst, "", "%" PRIu64,
				 *(const uint64_t *)((const char *)&st + counters[i].off));
	}
	tg_metric_family(b, "cluster_quota_credit", "gauge", "Requests this node may admit under a global quota until the next sync.");
	for (int i = 0; !tg_fleet_quota_stats(a->fleet, i, &q); i++) {
		char l[96] = "";

		tg_metric_sample(b, "cluster_quota_credit", inst, tg_metric_label(l, sizeof(l), "quota", q.name),
				 "%" PRId64, q.credit);
	}
	tg_metric_family(b, "cluster_quota_tokens", "gauge", "Tokens the fleet had left at the last sync (negative: debt).");
	for (int i = 0; !tg_fleet_quota_stats(a->fleet, i, &q); i++) {
		char l[96] = "";

		tg_metric_sample(b, "cluster_quota_tokens", inst, tg_metric_label(l, sizeof(l), "quota", q.name),
				 "%.3f", (double)q.tokens_milli / 1000.0);
	}
	tg_metric_family(b, "cluster_quota_nodes", "gauge", "Nodes sharing a global quota at the last sync.");
	for (int i = 0; !tg_fleet_quota_stats(a->fleet, i, &q); i++) {
		char l[96] = "";

		tg_metric_sample(b, "cluster_quota_nodes", inst, tg_metric_label(l, sizeof(l), "quota", q.name),
				 "%u", q.nodes);
	}
	tg_metric_family(b, "cluster_quota_admitted_total", "counter", "Requests admitted under a global quota on this node (any mode).");
	for (int i = 0; !tg_fleet_quota_stats(a->fleet, i, &q) && q.mapped; i++) {
		char l[96] = "";

		tg_metric_sample(b, "cluster_quota_admitted_total", inst,
				 tg_metric_label(l, sizeof(l), "quota", q.name), "%" PRIu64, q.admitted);
	}
}

void tg_h_metrics(void *ctx, const struct tg_api_req *req, struct tg_api_resp *resp)
{
	struct tg_api_ctx *a = ctx;
	struct tg_buf *b = &resp->body;
	const char *inst = a->cfg->instance; /* [A-Za-z0-9_-]: no escaping needed */

	(void)req;
	resp->content_type = "text/plain; version=0.0.4; charset=utf-8";
	totals_metrics(a, b, inst);
	if (top_clients_metrics(a, b, inst))
		return tg_api_error(resp, 503, "out of memory");
	responses_metrics(a, b, inst);
	keys_metrics(a, b, inst);
	if (routes_metrics(a, b, inst))
		return tg_api_error(resp, 503, "out of memory");
	models_metrics(a, b, inst);
	alerts_metrics(a, b, inst);
	check_metrics(a, b, inst);
	listener_metrics(a, b, inst);
	fleet_metrics(a, b, inst);
	if (b->oom)
		tg_api_error(resp, 503, "out of memory");
}
