#include <errno.h>
#include <stdio.h>
#include <string.h>
#include "apikey.h"
#include "bucket.h"
#include "bpf/quota_plan.h"

#define TG_EVENT_INTERVAL_NS 1000000000ULL

/* The one id rule of quota entries and routes: a name that stays keeps its
 * id (old[id * old_w]: the name that held id, "" when free; id 0 is
 * reserved), new names take ids nobody held before, then ids of removed
 * names (whose state is gone by the time an id is reused). names[i *
 * stride] is the i-th name. ids[i] is -1 where the ids ran out. */
static void assign_ids(const char *old, size_t old_w, int n_ids, const char *names,
		       size_t stride, int n, int *ids)
{
	unsigned char used[TG_MAX_QUOTAS] = { 1 };

	_Static_assert(TG_MAX_QUOTAS >= TG_ROUTE_IDS && TG_MAX_QUOTAS >= TG_MODEL_IDS,
		       "assign_ids: one used[] for every id space");

	for (int i = 0; i < n; i++) {
		ids[i] = -1;
		for (int id = 1; id < n_ids; id++) {
			const char *o = old + (size_t)id * old_w;

			if (!used[id] && o[0] && !strncmp(o, names + (size_t)i * stride, old_w)) {
				ids[i] = id;
				used[id] = 1;
				break;
			}
		}
	}
	for (int pass = 0; pass < 2; pass++) {
		int id = 1;

		for (int i = 0; i < n; i++) {
			if (ids[i] >= 0)
				continue;
			while (id < n_ids && (used[id] || (pass == 0 && old[(size_t)id * old_w])))
				id++;
			if (id >= n_ids)
				break;
			ids[i] = id;
			used[id] = 1;
		}
	}
}

int tg_quota_assign_ids(const char (*old)[32], const char (*names)[TG_NAME_LEN],
			int n, int *ids)
{
	assign_ids(old[0], sizeof(old[0]), TG_MAX_QUOTAS, names[0], sizeof(names[0]), n, ids);
	for (int i = 0; i < n; i++)
		if (ids[i] < 0)
			return -ENOSPC;
	return 0;
}

void tg_quota_build(struct tg_quota *q, const struct tg_config *cfg,
		    const struct tg_quota_entry *e)
{
	const struct tg_limits *l = e ? &e->limits : &cfg->default_limits;
	uint64_t rps = l->requests_per_sec, burst = l->burst;

	/* A global quota's own bucket holds the local share: what the node
	 * admits while Redis is out of reach (fallback local_share). */
	if (e && e->global)
		tg_quota_local_share(rps, burst, cfg->cluster.expected_nodes, &rps, &burst);
	memset(q, 0, sizeof(*q));
	tg_quota_set_limits(q, rps, burst, l->bytes_per_sec, l->bytes_burst,
			    l->connections_per_sec);
	q->action = (__u32)(e ? e->action : cfg->default_action);
	q->max_conns = (__u32)l->max_connections;
	q->flags = TG_QUOTA_SET;
	if (e && e->match == TG_MATCH_CIDR && e->share == TG_SHARE_PER_ADDRESS)
		q->flags |= TG_QUOTA_PER_ADDRESS;
	if (e && e->global)
		q->flags |= TG_QUOTA_GLOBAL;
	snprintf(q->name, sizeof(q->name), "%s", e ? e->name : TG_QUOTA_NAME_DEFAULT);
}

void tg_settings_build(struct tg_settings *s, const struct tg_config *cfg,
		       unsigned int generation)
{
	memset(s, 0, sizeof(*s));
	s->mode = (__u32)cfg->mode;
	s->ipv6_prefix = cfg->ipv6_prefix;
	s->generation = generation;
	s->scan_bytes = cfg->header_scan_bytes;
	s->event_interval_ns = TG_EVENT_INTERVAL_NS;
	if (cfg->proxy_protocol)
		s->flags |= TG_SET_PROXY_PROTOCOL;
	if (cfg->n_trusted > 0)
		s->flags |= TG_SET_PROXY_TRUSTED;
	if (cfg->n_routes > 0)
		s->flags |= TG_SET_ROUTES;
	if (cfg->n_models > 0)
		s->flags |= TG_SET_MODELS;
	s->body_scan_bytes = cfg->body_scan_bytes;
	if (cfg->anomaly.det[TG_AN_KEY_SHARED].enabled || cfg->anomaly.det[TG_AN_KEY_ROTATION].enabled)
		s->flags |= TG_SET_KEY_USE;
	for (int i = 0; i < cfg->n_key_headers && i < TG_MAX_KEY_HEADERS; i++) {
		__u32 len = tg_header_words(cfg->key_headers[i], s->hdr_w[s->n_headers],
					    s->hdr_m[s->n_headers]);
		if (len)
			s->hdr_len[s->n_headers++] = len;
	}
	for (int i = 0; i < cfg->n_quotas; i++)
		if (cfg->quotas[i].match == TG_MATCH_API_KEY)
			s->n_quota_keys++;
}

void tg_route_assign_ids(const char (*old)[TG_ROUTE_NAME_LEN], const struct tg_config *cfg,
			 int *ids)
{
	int n = cfg->n_routes < TG_MAX_ROUTES ? cfg->n_routes : TG_MAX_ROUTES;

	/* 32 ids for at most 32 routes: the second pass always finds one */
	assign_ids(old[0], sizeof(old[0]), TG_ROUTE_IDS, cfg->routes[0].name,
		   sizeof(cfg->routes[0]), n, ids);
}

void tg_model_assign_ids(const char (*old)[TG_MODEL_NAME_LEN], const struct tg_config *cfg,
			 int *ids)
{
	int n = cfg->n_models < TG_MAX_MODELS ? cfg->n_models : TG_MAX_MODELS;

	/* 64 ids for at most 64 models: the second pass always finds one */
	assign_ids(old[0], sizeof(old[0]), TG_MODEL_IDS, cfg->models[0], sizeof(cfg->models[0]), n,
		   ids);
}

void tg_model_name_key(struct tg_model_name *k, const char *name)
{
	memset(k, 0, sizeof(*k));
	memcpy(k->w, name, strnlen(name, sizeof(k->w) - 1));
}

void tg_routes_build(struct tg_route_table *rt, const struct tg_config *cfg, const int *ids)
{
	int n = cfg->n_routes < TG_MAX_ROUTES ? cfg->n_routes : TG_MAX_ROUTES;
	int order[TG_MAX_ROUTES];

	memset(rt, 0, sizeof(*rt));
	for (int i = 0; i < n; i++)
		order[i] = i;
	/* longest prefix first (insertion sort, stable) */
	for (int i = 1; i < n; i++) {
		int v = order[i], j = i;
		size_t len = strlen(cfg->routes[v].prefix);

		while (j > 0 && strlen(cfg->routes[order[j - 1]].prefix) < len) {
			order[j] = order[j - 1];
			j--;
		}
		order[j] = v;
	}
	for (int i = 0; i < n; i++) {
		const char *p = cfg->routes[order[i]].prefix;
		struct tg_route_prefix *r = &rt->r[rt->n];
		size_t len = strnlen(p, TG_ROUTE_PREFIX_MAX);

		if (ids[order[i]] < 1 || ids[order[i]] > TG_MAX_ROUTES)
			continue;
		for (size_t b = 0; b < len; b++) {
			r->w[b / 8] |= (__u64)(unsigned char)p[b] << (8 * (b % 8));
			r->m[b / 8] |= 0xffULL << (8 * (b % 8));
		}
		r->id = (__u32)ids[order[i]];
		r->len = (__u32)len;
		rt->n++;
	}
	/* route_scan sketches the paths no route matches: nothing to do
	 * without routes */
	if (rt->n && cfg->anomaly.det[TG_AN_ROUTE_SCAN].enabled)
		rt->scan_window_ms = cfg->anomaly.window_ms;
}

void tg_quota_lpm_key(struct tg_lpm_key *k, const struct tg_quota_entry *e)
{
	memset(k, 0, sizeof(*k));
	k->prefixlen = e->prefix_len;
	memcpy(k->addr.w, e->cidr, sizeof(k->addr.w));
}

void tg_trusted_lpm_key(struct tg_lpm_key *k, const struct tg_cidr *c)
{
	memset(k, 0, sizeof(*k));
	k->prefixlen = c->prefix_len;
	memcpy(k->addr.w, c->net, sizeof(k->addr.w));
}

void tg_quota_local_share(uint64_t rate, uint64_t burst, uint32_t nodes, uint64_t *lrate,
			  uint64_t *lburst)
{
	if (!nodes)
		nodes = 1;
	*lrate = rate ? (rate / nodes ? rate / nodes : 1) : 0;
	*lburst = burst ? (burst / nodes ? burst / nodes : 1) : 0;
}
