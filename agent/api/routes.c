/* The local API's endpoints. Adding one is a row in tg_routes. */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include "api/check.h"
#include "lib/buf.h"
#include "config/config.h"
#include "telemetry/rates.h"
#include "api/routes.h"
#include "lib/clock.h"
#include "lib/addr.h"
#include "api/http_util.h"
#include "api/route_json.h"
#include "telemetry/route_counts.h"

#define TG_CLIENTS_DEFAULT_LIMIT 100
/* A client is ~0.8 KB of JSON: 1000 are under 1 MB, built in about a
 * millisecond. The loop builds a response whole while /v1/check waits:
 * a request for more is served this many. */
#define TG_CLIENTS_MAX_LIMIT 1000

static void h_healthz(void *ctx, const struct tg_api_req *req, struct tg_api_resp *resp)
{
	struct tg_api_ctx *a = ctx;
	struct tg_buf *b = &resp->body;

	tg_buf_printf(b, "{\"status\":\"ok\",\"version\":\"%s\",\"instance\":", TG_VERSION);
	tg_buf_json_str(b, a->cfg->instance);
	tg_buf_printf(b, ",\"generation\":%u,\"mode\":\"%s\",\"interfaces\":[", *a->generation,
		      a->cfg->mode == TG_MODE_ENFORCE ? "enforce" : "monitor");
	for (int i = 0; i < a->kern->n_links; i++) {
		tg_buf_printf(b, "%s{\"name\":", i ? "," : "");
		tg_buf_json_str(b, a->kern->links[i].ifname);
		tg_buf_printf(b, ",\"attached\":%s}", a->kern->links[i].attached ? "true" : "false");
	}
	tg_buf_printf(b, "],\"clients\":%" PRIu64 ",\"requests_per_sec\":%.3f,"
		      "\"bytes_per_sec\":%.1f,\"last_scan_ms\":%.3f}\n",
		      a->col->totals.clients, a->col->totals.requests_per_sec,
		      a->col->totals.bytes_per_sec, a->col->scan_ms);
}

/* The client's per-address bucket (quotas.default or a per_address CIDR
 * entry); null when its requests go to shared or key buckets. */
static void client_bucket_json(struct tg_api_ctx *a, struct tg_buf *b, const struct tg_client_view *v)
{
	const struct tg_bucket_view *bv = tg_collector_bucket(a->col, &v->addr);

	if (!bv || bv->key.qid >= TG_MAX_QUOTAS || !a->kern->qnames[bv->key.qid][0]) {
		tg_buf_printf(b, ",\"quota\":null");
		return;
	}
	tg_buf_printf(b, ",\"quota\":{\"name\":");
	tg_buf_json_str(b, a->kern->qnames[bv->key.qid]);
	tg_buf_printf(b, ",");
	tg_bucket_levels_json(b, &a->kern->qvals[bv->key.qid], &bv->b);
	tg_bucket_counts_json(b, &bv->b);
	tg_buf_printf(b, "}");
}

/* Socket-level figures (sockops) and responses (egress), or null. */
static void client_socket_json(struct tg_api_ctx *a, struct tg_buf *b, const struct tg_client_view *v)
{
	static const char *const classes[TG_ST_MAX] = { "2xx", "3xx", "4xx", "429", "5xx" };
	const struct tg_sock_view *sv = tg_collector_sock(a->col, &v->addr);
	const struct tg_resp_view *rv = tg_collector_resp(a->col, &v->addr);

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

/* The client's request counts per route, the routes it used only. */
static void client_routes_json(struct tg_api_ctx *a, struct tg_buf *b, const struct tg_client_view *v)
{
	struct tg_route_count c[TG_ROUTE_IDS];

	if (tg_route_counts_client(a->kern, &v->addr, c))
		return;
	tg_route_counts_json(b, (const char (*)[TG_ROUTE_NAME_LEN])a->kern->rnames, a->kern->rlive,
			     c, true);
}

static void client_json(struct tg_api_ctx *a, struct tg_buf *b, const struct tg_client_view *v,
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
	client_routes_json(a, b, v);
	tg_buf_printf(b, "}");
}

static void h_clients(void *ctx, const struct tg_api_req *req, struct tg_api_resp *resp)
{
	struct tg_api_ctx *a = ctx;
	struct tg_collector *c = a->col;
	struct tg_buf *b = &resp->body;
	char val[32];
	int key = TG_SORT_REQUESTS;
	long limit = TG_CLIENTS_DEFAULT_LIMIT;
	size_t *idx, n;

	if (tg_http_query_get(req->query, "sort", val, sizeof(val)) >= 0) {
		key = tg_sort_key_parse(val);
		if (key < 0)
			return tg_api_error(resp, 400, "sort must be one of requests, bytes, "
					  "requests_per_sec, bytes_per_sec, last_seen, address");
	}
	if (tg_http_query_get(req->query, "limit", val, sizeof(val)) >= 0) {
		char *end;

		errno = 0;
		limit = strtol(val, &end, 10);
		if (!val[0] || *end || limit < 1)
			return tg_api_error(resp, 400, "limit must be a positive integer (at most "
					  "1000 clients are listed)");
		if (errno == ERANGE || limit > TG_CLIENTS_MAX_LIMIT)
			limit = TG_CLIENTS_MAX_LIMIT;
	}
	n = c->n_cur;
	idx = malloc((n ? n : 1) * sizeof(*idx));
	if (!idx)
		return tg_api_error(resp, 503, "out of memory");
	tg_sort_clients(c->cur, n, key, idx);
	tg_buf_printf(b, "{\"clients\":[");
	for (size_t i = 0; i < n && i < (size_t)limit; i++) {
		if (i)
			tg_buf_printf(b, ",");
		client_json(a, b, &c->cur[idx[i]], (int)a->cfg->ipv6_prefix);
	}
	/* the kernel's count (the last sweep's) when it has more than the
	 * snapshot: idle clients are tracked, not listed */
	tg_buf_printf(b, "],\"limit\":%ld,\"total_clients\":%zu}\n", limit,
		      c->totals.clients > n ? (size_t)c->totals.clients : n);
	free(idx);
	if (b->oom)
		tg_api_error(resp, 503, "out of memory");
}

/* ADDRESS or ADDRESS/PREFIX, PREFIX the client's own prefix length (32 for
 * IPv4, identity.ipv6_prefix for IPv6): the forms status and top print.
 * Returns NULL, or the reason for a 400. */
static const char *client_parse(const struct tg_api_ctx *a, const char *s, struct tg_addr *addr,
				char *why, size_t len)
{
	char text[48]; /* INET6_ADDRSTRLEN */
	const char *slash = strchr(s, '/');
	size_t n = slash ? (size_t)(slash - s) : strlen(s);
	int want;

	if (n >= sizeof(text))
		return "expected /v1/clients/ADDRESS or ADDRESS/PREFIX (an IPv4 or IPv6 address)";
	memcpy(text, s, n);
	text[n] = '\0';
	if (tg_addr_parse(text, addr))
		return "expected /v1/clients/ADDRESS or ADDRESS/PREFIX (an IPv4 or IPv6 address)";
	if (!slash)
		return NULL;
	want = tg_addr_is_v4(addr) ? 32 : (int)a->cfg->ipv6_prefix;
	if (strspn(slash + 1, "0123456789") != strlen(slash + 1) || !slash[1] ||
	    strlen(slash + 1) > 3 || atoi(slash + 1) != want) {
		snprintf(why, len, "the client of %s is its /%d%s: ask for %s or %s/%d", text, want,
			 tg_addr_is_v4(addr) ? "" : " network (identity.ipv6_prefix)", text, text, want);
		return why;
	}
	return NULL;
}

static void h_client(void *ctx, const struct tg_api_req *req, struct tg_api_resp *resp)
{
	struct tg_api_ctx *a = ctx;
	const struct tg_client_view *v;
	struct tg_client_view idle;
	struct tg_addr addr;
	const char *bad;
	char why[320];

	if ((bad = client_parse(a, req->path + strlen("/v1/clients/"), &addr, why, sizeof(why))))
		return tg_api_error(resp, 400, bad);
	/* the kernel keys an IPv6 client by its identity.ipv6_prefix network,
	 * so any address inside it names that entry */
	tg_check_client_key(a->cfg, &addr, &addr);
	/* the scan leaves cur sorted by address, and addr is a view's first member */
	v = a->col->n_cur ? bsearch(&addr, a->col->cur, a->col->n_cur, sizeof(*a->col->cur), tg_addr_cmp)
			 : NULL;
	/* The snapshot holds the recently active clients; an idle one the
	 * kernel still tracks is read from its map (rates 0). */
	if (!v && tg_collector_lookup(a->col, &addr, &idle) == 0)
		v = &idle;
	if (!v)
		return tg_api_error(resp, 404, "client not tracked");
	client_json(a, &resp->body, v, (int)a->cfg->ipv6_prefix);
	tg_buf_printf(&resp->body, "\n");
	if (resp->body.oom)
		tg_api_error(resp, 503, "out of memory");
}

/* Secrets stay out: inline API keys print redacted, the others as the
 * name of the variable or file they came from. */
static void h_config(void *ctx, const struct tg_api_req *req, struct tg_api_resp *resp)
{
	struct tg_api_ctx *a = ctx;
	char *json = tg_config_to_json(a->cfg);

	if (!json)
		return tg_api_error(resp, 503, "out of memory");
	tg_buf_printf(&resp->body, "%s\n", json);
	free(json);
	if (resp->body.oom)
		tg_api_error(resp, 503, "out of memory");
}

/* The reload SIGHUP runs, asked for over the API: the new generation, or
 * why the old config stays. The agent re-reads its own file; nothing in
 * the request can name another. */
static void h_reload(void *ctx, const struct tg_api_req *req, struct tg_api_resp *resp)
{
	static struct tg_reload_result r; /* the errors: ~10 KB */
	struct tg_api_ctx *a = ctx;
	struct tg_buf *b = &resp->body;
	const char *k, *e;

	if (!a->reload)
		return tg_api_error(resp, 404, "not found");
	memset(&r, 0, sizeof(r));
	a->reload(a->reload_arg, &r);
	if (r.err == 0)
		resp->status = 200;
	else if (r.err == -EINVAL)
		resp->status = 422;
	else if (r.err == -ENOENT)
		resp->status = 409;
	else
		resp->status = 500;
	tg_buf_printf(b, "{\"reloaded\":%s,\"generation\":%u", r.err ? "false" : "true",
		      r.generation);
	if (r.file) {
		tg_buf_printf(b, ",\"file\":");
		tg_buf_json_str(b, r.file);
	}
	if (r.err == -ENOENT)
		tg_buf_printf(b, ",\"error\":\"the agent runs on its embedded default config: "
			      "there is no file to reload\"");
	else if (r.err == -EINVAL)
		tg_buf_printf(b, ",\"error\":\"config rejected, old config kept\"");
	else if (r.err) {
		tg_buf_printf(b, ",\"error\":");
		tg_buf_json_str(b, r.why[0] ? r.why : "reload failed, old config kept");
	}
	if (r.err == -EINVAL) {
		tg_buf_printf(b, ",\"errors\":[");
		for (int i = 0; i < r.errs.n && i < TG_CONFIG_MAX_ERRORS; i++) {
			tg_buf_printf(b, "%s{\"path\":", i ? "," : "");
			tg_buf_json_str(b, r.errs.e[i].path);
			tg_buf_printf(b, ",\"reason\":");
			tg_buf_json_str(b, r.errs.e[i].reason);
			tg_buf_printf(b, "}");
		}
		tg_buf_printf(b, "],\"more_errors\":%d", r.errs.dropped);
	}
	tg_buf_printf(b, ",\"restart_required\":[");
	for (k = r.restart_keys; *k; k = *e ? e + 1 : e) {
		e = k + strcspn(k, ",");
		tg_buf_printf(b, "%s\"%.*s\"", k == r.restart_keys ? "" : ",", (int)(e - k), k);
	}
	tg_buf_printf(b, "]}\n");
	if (b->oom)
		tg_api_error(resp, 503, "out of memory");
}

/* flags: TG_API_NO_BEARER for a route whose Authorization header belongs
 * to someone else (the gateway check): the API token then comes only in
 * X-Tollgate-Token. */
const struct tg_api_route tg_routes[] = {
	{ "GET", "/healthz", h_healthz, 0 },
	{ "GET", "/v1/clients", h_clients, 0 },
	{ "GET", "/v1/clients/", h_client, 0 },
	{ "GET", "/v1/config", h_config, 0 },
	{ "GET", "/metrics", tg_h_metrics, 0 },
	{ "GET", "/v1/keys", tg_h_keys, 0 },
	{ "GET", "/v1/keys/", tg_h_key, 0 },
	{ "GET", "/v1/webhooks", tg_h_webhooks, 0 },
	{ "POST", "/v1/reload", h_reload, 0 },
	/* Envoy's ext_authz appends the original path: /v1/check/v1/chat/... */
	{ "*", "/v1/check", tg_h_check, TG_API_NO_BEARER },
	{ "*", "/v1/check/", tg_h_check, TG_API_NO_BEARER },
};
const size_t tg_n_routes = sizeof(tg_routes) / sizeof(tg_routes[0]);

const struct tg_api_route tg_check_routes[] = {
	{ "GET", "/healthz", h_healthz, 0 },
	{ "*", "/v1/check", tg_h_check, TG_API_NO_BEARER },
	{ "*", "/v1/check/", tg_h_check, TG_API_NO_BEARER },
};
const size_t tg_n_check_routes = sizeof(tg_check_routes) / sizeof(tg_check_routes[0]);
