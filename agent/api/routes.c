/* The local API's endpoints. Adding one is a row in tg_routes. */
#include <arpa/inet.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include "daemon/agent.h"
#include "api/check.h"
#include "lib/buf.h"
#include "config/config.h"
#include "telemetry/rates.h"
#include "api/routes.h"
#include "fleet/fleet.h"

#define TG_CLIENTS_DEFAULT_LIMIT 100
#define TG_CLIENTS_MAX_LIMIT 100000

void tg_json_error(struct tg_api_resp *resp, int status, const char *msg)
{
	resp->status = status;
	tg_buf_reset(&resp->body);
	tg_buf_printf(&resp->body, "{\"error\":");
	tg_buf_json_str(&resp->body, msg);
	tg_buf_printf(&resp->body, "}\n");
}

static void h_healthz(void *ctx, const struct tg_api_req *req, struct tg_api_resp *resp)
{
	struct tg_agent *a = ctx;
	struct tg_buf *b = &resp->body;

	tg_buf_printf(b, "{\"status\":\"ok\",\"version\":\"%s\",\"instance\":", TG_VERSION);
	tg_buf_json_str(b, a->cfg.instance);
	tg_buf_printf(b, ",\"generation\":%u,\"mode\":\"%s\",\"interfaces\":[", a->generation,
		      a->cfg.mode == TG_MODE_ENFORCE ? "enforce" : "monitor");
	for (int i = 0; i < a->kern.n_links; i++) {
		tg_buf_printf(b, "%s{\"name\":", i ? "," : "");
		tg_buf_json_str(b, a->kern.links[i].ifname);
		tg_buf_printf(b, ",\"attached\":%s}", a->kern.links[i].attached ? "true" : "false");
	}
	tg_buf_printf(b, "],\"clients\":%" PRIu64 ",\"requests_per_sec\":%.3f,"
		      "\"bytes_per_sec\":%.1f,\"last_scan_ms\":%.3f}\n",
		      a->col.totals.clients, a->col.totals.requests_per_sec,
		      a->col.totals.bytes_per_sec, a->col.scan_ms);
}

/* The client's per-address bucket (quotas.default or a per_address CIDR
 * entry); null when its requests go to shared or key buckets. */
static void client_bucket_json(struct tg_agent *a, struct tg_buf *b, const struct tg_client_view *v)
{
	const struct tg_bucket_view *bv = tg_collector_bucket(&a->col, &v->addr);

	if (!bv || bv->key.qid >= TG_MAX_QUOTAS || !a->kern.qnames[bv->key.qid][0]) {
		tg_buf_printf(b, ",\"quota\":null");
		return;
	}
	tg_buf_printf(b, ",\"quota\":{\"name\":");
	tg_buf_json_str(b, a->kern.qnames[bv->key.qid]);
	tg_buf_printf(b, ",");
	tg_bucket_levels_json(b, &a->kern.qvals[bv->key.qid], &bv->b);
	tg_bucket_counts_json(b, &bv->b);
	tg_buf_printf(b, "}");
}

/* Socket-level figures (sockops) and responses (egress), or null. */
static void client_socket_json(struct tg_agent *a, struct tg_buf *b, const struct tg_client_view *v)
{
	static const char *const classes[TG_ST_MAX] = { "2xx", "3xx", "4xx", "429", "5xx" };
	const struct tg_sock_view *sv = tg_collector_sock(&a->col, &v->addr);
	const struct tg_resp_view *rv = tg_collector_resp(&a->col, &v->addr);

	if (sv)
		tg_buf_printf(b, ",\"connections\":{\"open\":%" PRId64 ",\"established\":%" PRIu64
			      ",\"closed\":%" PRIu64 ",\"retransmits\":%" PRIu64 ",\"srtt_us\":%" PRIu64 "}",
			      (int64_t)sv->s.open, (uint64_t)sv->s.established, (uint64_t)sv->s.closed,
			      (uint64_t)sv->s.retransmits, (uint64_t)sv->s.srtt_us);
	else
		tg_buf_printf(b, ",\"connections\":null");
	if (!rv) {
		tg_buf_printf(b, ",\"responses\":null");
		return;
	}
	tg_buf_printf(b, ",\"responses\":{\"count\":%" PRIu64 ",\"bytes\":%" PRIu64
		      ",\"packets\":%" PRIu64 ",\"status\":{", (uint64_t)rv->r.responses,
		      (uint64_t)rv->r.bytes, (uint64_t)rv->r.packets);
	for (int i = 0; i < TG_ST_MAX; i++)
		tg_buf_printf(b, "%s\"%s\":%u", i ? "," : "", classes[i], rv->r.status[i]);
	tg_buf_printf(b, "},\"latency_hist\":[");
	for (int i = 0; i < TG_LAT_BUCKETS; i++)
		tg_buf_printf(b, "%s%u", i ? "," : "", rv->r.lat_hist[i]);
	tg_buf_printf(b, "]}");
}

static void client_json(struct tg_agent *a, struct tg_buf *b, const struct tg_client_view *v,
			int prefix6)
{
	char addr[64], first[40] = "", last[40] = "";

	tg_addr_format(&v->addr, addr, sizeof(addr));
	if (v->first_seen_ns)
		tg_format_time(tg_mono_to_wall_ns(v->first_seen_ns), first, sizeof(first));
	if (v->last_seen_ns)
		tg_format_time(tg_mono_to_wall_ns(v->last_seen_ns), last, sizeof(last));
	tg_buf_printf(b, "{\"address\":\"%s\",\"prefix\":%d,\"requests\":%" PRIu64
		      ",\"bytes\":%" PRIu64 ",\"payload_bytes\":%" PRIu64
		      ",\"packets\":%" PRIu64 ",\"syns\":%" PRIu64
		      ",\"requests_per_sec\":%.3f,\"bytes_per_sec\":%.1f,\"connections_per_sec\":%.3f,",
		      addr, tg_addr_is_v4(&v->addr) ? 32 : prefix6, v->requests, v->bytes,
		      v->payload_bytes, v->packets, v->syns, v->requests_per_sec,
		      v->bytes_per_sec, v->syns_per_sec);
	if (v->first_seen_ns)
		tg_buf_printf(b, "\"first_seen\":\"%s\",\"last_seen\":\"%s\",", first, last);
	else
		tg_buf_printf(b, "\"first_seen\":null,\"last_seen\":null,");
	tg_buf_printf(b, "\"request_size_hist\":[");
	for (int i = 0; i < TG_SIZE_BUCKETS; i++)
		tg_buf_printf(b, "%s%" PRIu64, i ? "," : "", v->size_hist[i]);
	tg_buf_printf(b, "]");
	client_bucket_json(a, b, v);
	client_socket_json(a, b, v);
	tg_buf_printf(b, "}");
}

static void h_clients(void *ctx, const struct tg_api_req *req, struct tg_api_resp *resp)
{
	struct tg_agent *a = ctx;
	struct tg_collector *c = &a->col;
	struct tg_buf *b = &resp->body;
	char val[32];
	int key = TG_SORT_REQUESTS;
	long limit = TG_CLIENTS_DEFAULT_LIMIT;
	size_t *idx, n;

	if (tg_api_query_get(req->query, "sort", val, sizeof(val)) >= 0) {
		key = tg_sort_key_parse(val);
		if (key < 0)
			return tg_json_error(resp, 400, "sort must be one of requests, bytes, "
					  "requests_per_sec, bytes_per_sec, last_seen, address");
	}
	if (tg_api_query_get(req->query, "limit", val, sizeof(val)) >= 0) {
		char *end;

		limit = strtol(val, &end, 10);
		if (!val[0] || *end || limit < 1 || limit > TG_CLIENTS_MAX_LIMIT)
			return tg_json_error(resp, 400, "limit must be an integer in 1..100000");
	}
	n = c->n_cur;
	idx = malloc((n ? n : 1) * sizeof(*idx));
	if (!idx)
		return tg_json_error(resp, 503, "out of memory");
	tg_sort_clients(c->cur, n, key, idx);
	tg_buf_printf(b, "{\"clients\":[");
	for (size_t i = 0; i < n && i < (size_t)limit; i++) {
		if (i)
			tg_buf_printf(b, ",");
		client_json(a, b, &c->cur[idx[i]], (int)a->cfg.ipv6_prefix);
	}
	/* the kernel's count (the last sweep's) when it has more than the
	 * snapshot: idle clients are tracked, not listed */
	tg_buf_printf(b, "],\"total_clients\":%zu}\n",
		      c->totals.clients > n ? (size_t)c->totals.clients : n);
	free(idx);
	if (b->oom)
		tg_json_error(resp, 503, "out of memory");
}

static void h_client(void *ctx, const struct tg_api_req *req, struct tg_api_resp *resp)
{
	struct tg_agent *a = ctx;
	const struct tg_client_view *v;
	struct tg_client_view idle;
	struct tg_addr addr;

	if (tg_addr_parse(req->path + strlen("/v1/clients/"), &addr))
		return tg_json_error(resp, 400, "expected /v1/clients/ADDRESS with an IPv4 or IPv6 address");
	/* the kernel keys an IPv6 client by its identity.ipv6_prefix network,
	 * so any address inside it names that entry */
	tg_check_client_key(&a->cfg, &addr, &addr);
	/* the scan leaves cur sorted by address, and addr is a view's first member */
	v = a->col.n_cur ? bsearch(&addr, a->col.cur, a->col.n_cur, sizeof(*a->col.cur), tg_addr_cmp)
			 : NULL;
	/* The snapshot holds the recently active clients; an idle one the
	 * kernel still tracks is read from its map (rates 0). */
	if (!v && tg_collector_lookup(&a->col, &addr, &idle) == 0)
		v = &idle;
	if (!v)
		return tg_json_error(resp, 404, "client not tracked");
	client_json(a, &resp->body, v, (int)a->cfg.ipv6_prefix);
	tg_buf_printf(&resp->body, "\n");
	if (resp->body.oom)
		tg_json_error(resp, 503, "out of memory");
}

/* Secrets stay out: inline API keys print redacted, the others as the
 * name of the variable or file they came from. */
static void h_config(void *ctx, const struct tg_api_req *req, struct tg_api_resp *resp)
{
	struct tg_agent *a = ctx;
	char *json = tg_config_to_json(&a->cfg);

	if (!json)
		return tg_json_error(resp, 503, "out of memory");
	tg_buf_printf(&resp->body, "%s\n", json);
	free(json);
	if (resp->body.oom)
		tg_json_error(resp, 503, "out of memory");
}

static void metric(struct tg_buf *b, const char *name, const char *type,
		   const char *help, const char *inst, double v)
{
	tg_buf_printf(b, "# HELP tollgate_%s %s\n# TYPE tollgate_%s %s\n"
		      "tollgate_%s{instance=\"%s\"} %.17g\n", name, help, name, type,
		      name, inst, v);
}

/* Responses by status class, open connections and response bytes, over
 * every client and for the top-N by response bytes. */
static void responses_metrics(struct tg_agent *a, struct tg_buf *b, const char *inst)
{
	static const char *const classes[TG_ST_MAX] = { "2xx", "3xx", "4xx", "429", "5xx" };
	const struct tg_collector *c = &a->col;
	uint64_t st[TG_ST_MAX] = { 0 }, bytes = 0;
	int64_t open = 0;

	for (size_t i = 0; i < c->n_resp; i++) {
		for (int k = 0; k < TG_ST_MAX; k++)
			st[k] += c->resp[i].r.status[k];
		bytes += c->resp[i].r.bytes;
	}
	for (size_t i = 0; i < c->n_socks; i++)
		open += c->socks[i].s.open;
	tg_buf_printf(b, "# HELP tollgate_responses_total HTTP/1.x responses to clients by status class (live clients).\n"
		      "# TYPE tollgate_responses_total counter\n");
	for (int k = 0; k < TG_ST_MAX; k++)
		tg_buf_printf(b, "tollgate_responses_total{instance=\"%s\",class=\"%s\"} %" PRIu64 "\n",
			      inst, classes[k], st[k]);
	metric(b, "response_bytes_total", "counter", "Response payload bytes to clients (live clients).", inst, (double)bytes);
	metric(b, "open_connections", "gauge", "Established gateway connections (socket level).", inst, (double)open);
	tg_buf_printf(b, "# HELP tollgate_client_open_connections Established connections per client (socket level).\n"
		      "# TYPE tollgate_client_open_connections gauge\n");
	for (size_t i = 0; i < c->n_socks && i < a->cfg.api_top_n; i++) {
		char addr[64];

		if (!c->socks[i].s.open)
			continue;
		tg_addr_format(&c->socks[i].addr, addr, sizeof(addr));
		tg_buf_printf(b, "tollgate_client_open_connections{instance=\"%s\",client=\"%s\"} %" PRId64 "\n",
			      inst, addr, (int64_t)c->socks[i].s.open);
	}
}

static void h_metrics(void *ctx, const struct tg_api_req *req, struct tg_api_resp *resp)
{
	struct tg_agent *a = ctx;
	struct tg_collector *c = &a->col;
	const struct tg_totals *t = &c->totals;
	struct tg_buf *b = &resp->body;
	const char *inst = a->cfg.instance; /* [A-Za-z0-9_-]: no escaping needed */
	size_t *idx, n = c->n_cur;

	resp->content_type = "text/plain; version=0.0.4; charset=utf-8";
	metric(b, "requests_total", "counter", "HTTP request starts seen toward gateway ports (since the maps were made).", inst, (double)t->requests);
	metric(b, "bytes_total", "counter", "Wire L3 bytes from clients toward gateway ports (since the maps were made).", inst, (double)t->bytes);
	metric(b, "payload_bytes_total", "counter", "TCP payload bytes from clients (since the maps were made).", inst, (double)t->payload_bytes);
	metric(b, "packets_total", "counter", "TCP segments from clients (since the maps were made).", inst, (double)t->packets);
	metric(b, "connections_total", "counter", "New connections (SYN) from clients (since the maps were made).", inst, (double)t->syns);
	metric(b, "clients", "gauge", "Clients tracked in the kernel's per-client map (as the last complete sweep counted them).", inst, (double)t->clients);
	metric(b, "clients_map_capacity", "gauge", "Entries the per-client map holds.", inst, (double)c->map_size);
	metric(b, "clients_created_total", "counter", "Per-client entries created by the kernel.", inst, (double)t->new_clients);
	metric(b, "clients_evicted_total", "counter", "Per-client entries evicted under map pressure (created minus live).", inst, (double)t->evicted);
	metric(b, "malformed_packets_total", "counter", "Packets with truncated or inconsistent headers (passed, not counted).", inst, (double)t->malformed);
	metric(b, "fragments_total", "counter", "IP fragments seen (passed, not counted).", inst, (double)t->fragments);
	metric(b, "connections_untracked_total", "counter", "Request starts on connections whose SYN was not seen.", inst, (double)t->conns_missing);
	metric(b, "scan_duration_seconds", "gauge", "Duration of the last read of the kernel's counters.", inst, c->scan_ms / 1e3);
	metric(b, "scans_total", "counter", "Scans of the kernel's counters.", inst, (double)c->st.scans);
	metric(b, "scan_active_clients", "gauge", "Active clients the last scan read (drained from the kernel's active set, still tracked).", inst, (double)c->st.active);
	metric(b, "scan_active_backlog", "gauge", "1 when the last scan's budget ran out with active clients left for the next scans (in the set or carried).", inst, (double)c->st.backlog);
	metric(b, "scan_active_clients_total", "counter", "Clients drained from the active set, over all scans.", inst, (double)c->st.active_total);
	metric(b, "scan_active_carried", "gauge", "Active clients the last scan drained but had no time to read: the next scan reads them first.", inst, (double)c->st.carried);
	metric(b, "scan_active_skipped_total", "counter", "Active clients drained but not read in time beyond those carried to the next scan (a backlog let go).", inst, (double)c->st.skipped);
	metric(b, "scan_active_dropped_total", "counter", "Active clients beyond the snapshot's room, not kept in it.", inst, (double)c->st.active_dropped);
	metric(b, "active_set_lost_total", "counter", "Kernel: active-set inserts that failed (set full); the full sweep covers them.", inst, (double)t->active_lost);
	metric(b, "snapshot_clients", "gauge", "Clients in the agent's snapshot (recently active).", inst, (double)c->n_cur);
	metric(b, "sweep_slice_duration_seconds", "gauge", "Duration of the last scan's slice of the full sweep.", inst, c->st.slice_ms / 1e3);
	metric(b, "sweep_duration_seconds", "gauge", "Time spent in the slices of the last complete sweep of the per-client map.", inst, c->st.sweep_ms / 1e3);
	metric(b, "sweep_period_seconds", "gauge", "Wall time from the first slice to the last of the last complete sweep.", inst, c->st.sweep_period_s);
	metric(b, "sweep_entries", "gauge", "Per-client entries the last complete sweep counted.", inst, (double)c->st.sweep_entries);
	metric(b, "sweeps_total", "counter", "Complete sweeps of the per-client map.", inst, (double)c->st.sweeps);
	metric(b, "addr_buckets", "gauge", "Per-address buckets live (quotas.default, per_address entries).", inst, (double)t->addr_buckets);
	metric(b, "addr_buckets_evicted_total", "counter", "Per-address buckets evicted under map pressure: those clients start again from a full bucket.", inst, (double)t->addr_buckets_evicted);
	metric(b, "fragments_dropped_total", "counter", "First IP fragments toward gateway ports dropped (enforce mode).", inst, (double)t->fragments_dropped);
	metric(b, "denial_events_total", "counter", "Denial events received from the kernel (one per key per second at most).", inst, (double)a->events.received);
	metric(b, "denial_events_lost_total", "counter", "Denial events lost to a full ring buffer.", inst, (double)t->events_lost);
	metric(b, "enforcing", "gauge", "1 in enforce mode, 0 in monitor mode.", inst, a->cfg.mode == TG_MODE_ENFORCE ? 1 : 0);
	metric(b, "config_generation", "gauge", "Config generation (increments on each successful reload).", inst, (double)a->generation);

	idx = malloc((n ? n : 1) * sizeof(*idx));
	if (!idx)
		return tg_json_error(resp, 503, "out of memory");
	tg_sort_clients(c->cur, n, TG_SORT_RPS, idx);
	static const struct { const char *name, *type, *help; } per[] = {
		{ "client_requests_total", "counter", "Request starts per client (top-N by request rate)." },
		{ "client_bytes_total", "counter", "Wire bytes per client (top-N by request rate)." },
		{ "client_requests_per_second", "gauge", "Request rate per client over the last scan (top-N)." },
	};
	for (size_t m = 0; m < sizeof(per) / sizeof(per[0]); m++) {
		tg_buf_printf(b, "# HELP tollgate_%s %s\n# TYPE tollgate_%s %s\n", per[m].name,
			      per[m].help, per[m].name, per[m].type);
		for (size_t i = 0; i < n && i < a->cfg.api_top_n; i++) {
			const struct tg_client_view *v = &c->cur[idx[i]];
			char addr[64];
			double val = m == 0 ? (double)v->requests
				   : m == 1 ? (double)v->bytes : v->requests_per_sec;

			tg_addr_format(&v->addr, addr, sizeof(addr));
			tg_buf_printf(b, "tollgate_%s{instance=\"%s\",client=\"%s\"} %.17g\n",
				      per[m].name, inst, addr, val);
		}
	}
	free(idx);
	responses_metrics(a, b, inst);
	tg_keys_metrics(a, b);
	tg_alerts_metrics(a, b);
	tg_check_metrics(a, b);
	tg_fleet_metrics(a->fleet, b, inst);
	if (b->oom)
		tg_json_error(resp, 503, "out of memory");
}

/* flags: TG_API_NO_BEARER for a route whose Authorization header belongs
 * to someone else (the gateway check): the API token then comes only in
 * X-Tollgate-Token. */
const struct tg_api_route tg_routes[] = {
	{ "GET", "/healthz", h_healthz, 0 },
	{ "GET", "/v1/clients", h_clients, 0 },
	{ "GET", "/v1/clients/", h_client, 0 },
	{ "GET", "/v1/config", h_config, 0 },
	{ "GET", "/metrics", h_metrics, 0 },
	{ "GET", "/v1/keys", tg_h_keys, 0 },
	{ "GET", "/v1/keys/", tg_h_key, 0 },
	{ "GET", "/v1/webhooks", tg_h_webhooks, 0 },
	/* Envoy's ext_authz appends the original path: /v1/check/v1/chat/... */
	{ "*", "/v1/check", tg_h_check, TG_API_NO_BEARER },
	{ "*", "/v1/check/", tg_h_check, TG_API_NO_BEARER },
};
const size_t tg_n_routes = sizeof(tg_routes) / sizeof(tg_routes[0]);
