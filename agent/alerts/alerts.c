/* See alerts.h. Everything here runs on the loop; the only I/O is a few
 * batch reads of small maps per scan and the spool writes of delivery. */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <bpf/bpf.h>

#include "alerts/alerts.h"
#include "apikey.h"
#include "formats/formats.h"
#include "bpf/loader.h"
#include "lib/log.h"
#include "lib/clock.h"
#include "lib/buf.h"
#include "lib/addr.h"
#include "lib/keyhash.h"

/* A triage answer waiting to be handed to delivery. */
struct tg_triage_item {
	struct tg_triage_item *next;
	char id[TG_EVENT_ID_LEN];
	int severity;
	size_t len;
	char json[];
};

static int key_name_cmp(const void *pa, const void *pb)
{
	const struct tg_key_name *a = pa, *b = pb;

	return a->hash < b->hash ? -1 : a->hash > b->hash;
}

static void index_keys(struct tg_alerts *al)
{
	al->n_key_names = 0;
	for (int q = 1; q < TG_MAX_QUOTAS; q++) {
		int i = al->kern->qentry[q];
		const struct tg_quota_entry *e;

		if (!al->kern->qnames[q][0] || i < 0 || i >= al->cfg->n_quotas)
			continue;
		e = &al->cfg->quotas[i];
		if (e->match != TG_MATCH_API_KEY)
			continue;
		al->key_names[al->n_key_names].hash = tg_apikey_hash(e->api_key, strlen(e->api_key));
		al->key_names[al->n_key_names++].qid = q;
	}
	qsort(al->key_names, al->n_key_names, sizeof(al->key_names[0]), key_name_cmp);
}

static const char *key_name_of(const struct tg_alerts *al, uint64_t hash)
{
	struct tg_key_name k = { .hash = hash }, *f;

	f = al->n_key_names ? bsearch(&k, al->key_names, al->n_key_names, sizeof(k), key_name_cmp)
			    : NULL;
	return f ? al->kern->qnames[f->qid] : "";
}

/* The configured limits of quota id q (0: quotas.default). */
static const struct tg_limits *limits_of(const struct tg_alerts *al, uint32_t q)
{
	int i;

	if (q >= TG_MAX_QUOTAS || !al->kern->qnames[q][0])
		return NULL;
	if (q == 0)
		return &al->cfg->default_limits;
	i = al->kern->qentry[q];
	return i >= 0 && i < al->cfg->n_quotas ? &al->cfg->quotas[i].limits : NULL;
}

static void bucket_in(struct tg_alerts *al, struct tg_detect_bucket *d,
		      const struct tg_bucket_key *k, const struct tg_bucket *b, bool addr)
{
	const struct tg_limits *l = limits_of(al, k->qid);

	memset(d, 0, sizeof(*d));
	d->key = *k;
	d->addr_bucket = addr;
	snprintf(d->name, sizeof(d->name), "%s", al->kern->qnames[k->qid]);
	d->allowed = b->allowed;
	d->denied = b->denied;
	d->would_deny = b->would_deny;
	d->allowed_bytes = b->allowed_bytes;
	d->limit_rps = l ? (double)l->requests_per_sec : 0;
	d->limit_bps = l ? (double)l->bytes_per_sec : 0;
}

/* Buckets with a limit: shared and API-key buckets (tg_buckets) and the
 * per-address ones the collector read. Returns how many. */
static size_t read_buckets(struct tg_alerts *al)
{
	const struct tg_collector *c = al->col;
	size_t n = 0, need;
	void *p;

	al->sbk.n = 0;
	if (al->buckets_fd > 0 && tg_collector_read_map(al->buckets_fd, &al->sbk))
		al->sbk.n = 0;
	need = al->sbk.n + c->n_bk;
	if (!(p = tg_grow(al->dbk, &al->cap_dbk, need ? need : 1, sizeof(*al->dbk), 256)))
		return 0;
	al->dbk = p;
	al->denied_total = 0;
	for (size_t i = 0; i < al->sbk.n; i++) {
		const struct tg_bucket_key *k = (const void *)((char *)al->sbk.keys + i * al->sbk.ksz);
		const struct tg_bucket *b = (const void *)((char *)al->sbk.vals + i * al->sbk.vsz);

		al->denied_total += b->denied + b->would_deny;
		if (k->qid < TG_MAX_QUOTAS)
			bucket_in(al, &al->dbk[n++], k, b, false);
	}
	for (size_t i = 0; i < c->n_bk; i++) {
		al->denied_total += c->bk[i].b.denied + c->bk[i].b.would_deny;
		if (c->bk[i].key.qid < TG_MAX_QUOTAS)
			bucket_in(al, &al->dbk[n++], &c->bk[i].key, &c->bk[i].b, true);
	}
	/* Unlimited buckets cannot be near their quota. */
	for (size_t i = 0; i < n;)
		if (!al->dbk[i].limit_rps && !al->dbk[i].limit_bps)
			al->dbk[i] = al->dbk[--n];
		else
			i++;
	return n;
}

static size_t read_key_use(struct tg_alerts *al)
{
	void *p;

	al->kub.n = 0;
	if (al->keyuse_fd <= 0 || tg_collector_read_map(al->keyuse_fd, &al->kub) || !al->kub.n)
		return 0;
	if (!(p = tg_grow(al->dku, &al->cap_dku, al->kub.n, sizeof(*al->dku), 256)))
		return 0;
	al->dku = p;
	for (size_t i = 0; i < al->kub.n; i++) {
		const struct tg_key_use_key *k = (const void *)((char *)al->kub.keys + i * al->kub.ksz);
		const struct tg_key_use *u = (const void *)((char *)al->kub.vals + i * al->kub.vsz);
		struct tg_detect_keyuse *d = &al->dku[i];

		d->key_hash = k->key_hash;
		d->addr = k->addr;
		d->requests = u->requests;
		snprintf(d->name, sizeof(d->name), "%s", key_name_of(al, k->key_hash));
	}
	return al->kub.n;
}

/* route_scan's sketches, and the window the kernel is in now (its clock:
 * CLOCK_MONOTONIC, bpf_ktime_get_ns()). */
static size_t read_paths(struct tg_alerts *al, uint64_t *window)
{
	uint64_t wns = (uint64_t)al->cfg->anomaly.window_ms * 1000000;
	void *p;

	*window = 0;
	al->psb.n = 0;
	if (al->paths_fd <= 0 || !wns || !al->cfg->anomaly.det[TG_AN_ROUTE_SCAN].enabled ||
	    tg_collector_read_map(al->paths_fd, &al->psb) || !al->psb.n)
		return 0;
	if (!(p = tg_grow(al->dps, &al->cap_dps, al->psb.n, sizeof(*al->dps), 256)))
		return 0;
	al->dps = p;
	*window = tg_now_mono_ns() / wns;
	for (size_t i = 0; i < al->psb.n; i++) {
		const struct tg_path_sketch *s =
			(const void *)((char *)al->psb.vals + i * al->psb.vsz);
		uint32_t set = 0;

		memcpy(&al->dps[i].addr, (char *)al->psb.keys + i * al->psb.ksz,
		       sizeof(al->dps[i].addr));
		al->dps[i].window = s->window;
		for (int w = 0; w < TG_PATH_SKETCH_BITS / 64; w++)
			set += (uint32_t)__builtin_popcountll(s->bits[w]);
		al->dps[i].clear = TG_PATH_SKETCH_BITS - set;
	}
	return al->psb.n;
}

static size_t read_resp(struct tg_alerts *al)
{
	const struct tg_collector *c = al->col;
	void *p;

	if (!c->n_resp || !(p = tg_grow(al->drs, &al->cap_drs, c->n_resp, sizeof(*al->drs), 256)))
		return 0;
	al->drs = p;
	for (size_t i = 0; i < c->n_resp; i++) {
		al->drs[i].addr = c->resp[i].addr;
		al->drs[i].responses = c->resp[i].r.responses;
		for (int k = 0; k < TG_ST_MAX; k++)
			al->drs[i].status[k] = c->resp[i].r.status[k];
	}
	return c->n_resp;
}

static uint32_t prefix_of(const struct tg_alerts *al, const struct tg_addr *a)
{
	return tg_addr_is_v4(a) ? 32 : al->cfg->ipv6_prefix;
}

/* The busiest clients and the totals an event carries. */
static void event_ctx(struct tg_alerts *al, struct tg_summary_ctx *ctx, struct tg_top_client *top)
{
	const struct tg_collector *c = al->col;
	size_t idx[TG_ALERTS_TOP], n = 0;

	/* A partial selection: TG_ALERTS_TOP passes over the snapshot. */
	for (; n < TG_ALERTS_TOP && n < c->n_cur; n++) {
		size_t best = SIZE_MAX;

		for (size_t i = 0; i < c->n_cur; i++) {
			bool taken = false;

			for (size_t j = 0; j < n; j++)
				taken |= idx[j] == i;
			if (!taken && (best == SIZE_MAX ||
				       c->cur[i].requests_per_sec > c->cur[best].requests_per_sec))
				best = i;
		}
		idx[n] = best;
	}
	for (size_t i = 0; i < n; i++) {
		const struct tg_client_view *v = &c->cur[idx[i]];
		const struct tg_bucket_view *bv = tg_collector_bucket(c, &v->addr);

		memset(&top[i], 0, sizeof(top[i]));
		top[i].addr = v->addr;
		top[i].prefix = prefix_of(al, &v->addr);
		top[i].requests_per_sec = v->requests_per_sec;
		top[i].bytes_per_sec = v->bytes_per_sec;
		if (bv && bv->key.qid < TG_MAX_QUOTAS) {
			snprintf(top[i].key, sizeof(top[i].key), "%s", al->kern->qnames[bv->key.qid]);
			top[i].denied = bv->b.denied + bv->b.would_deny;
		}
	}
	memset(ctx, 0, sizeof(*ctx));
	ctx->instance = al->cfg->instance;
	ctx->host = al->host;
	ctx->agent_version = TG_VERSION;
	ctx->top = top;
	ctx->n_top = n;
	ctx->requests = c->totals.requests;
	ctx->bytes = c->totals.bytes;
	ctx->denied = al->denied_total;
	ctx->clients = c->totals.clients;
}

static void send_event(struct tg_alerts *al, struct tg_event_out *ev, const char *why)
{
	int n = al->dl ? tg_deliver_event(al->dl, TG_SCHEMA_ANOMALY, ev->id, ev->severity,
					  ev->json, ev->len) : 0;

	al->events++;
	pr_info("anomaly event", "id=%s severity=%s kind=%s webhooks=%d bytes=%zu", ev->id,
		tg_severity_name(ev->severity), why, n, ev->len);
	free(ev->json);
	ev->json = NULL;
}

static void send_urgent(struct tg_alerts *al)
{
	struct tg_top_client top[TG_ALERTS_TOP];
	struct tg_summary_ctx ctx;
	struct tg_event_out ev;

	event_ctx(al, &ctx, top);
	if (tg_summary_urgent(al->sum, &ctx, tg_now_wall_ns(), &ev) == 0) {
		al->urgent++;
		send_event(al, &ev, "critical");
	}
}

static void add_anomaly(struct tg_alerts *al, const struct tg_anomaly *an, bool *urgent)
{
	char addr[64] = "";

	if (an->has_addr)
		tg_addr_format(&an->addr, addr, sizeof(addr));
	pr_debug("anomaly", "type=%s severity=%s client=%s key=%s",
		 tg_anomaly_type_name(an->type), tg_severity_name(an->severity), addr, an->key);
	if (tg_summary_add(al->sum, an))
		*urgent = true;
}

void tg_alerts_scan(struct tg_alerts *al)
{
	const struct tg_collector *c = al->col;
	struct tg_detect_input in = { 0 };
	bool urgent = false;
	size_t n;

	if (!al->started)
		return;
	in.now_wall_ns = tg_now_wall_ns();
	in.dt = c->have_prev ? (double)(c->cur_mono_ns - c->prev_mono_ns) / 1e9 : 0;
	in.ipv6_prefix = al->cfg->ipv6_prefix;
	in.clients = c->cur;
	in.n_clients = c->n_cur;
	in.n_resp = read_resp(al);
	in.resp = al->drs;
	in.n_buckets = read_buckets(al);
	in.buckets = al->dbk;
	in.n_keys = read_key_use(al);
	in.keys = al->dku;
	in.n_paths = read_paths(al, &in.path_window);
	in.paths = al->dps;
	in.requests_per_sec = c->totals.requests_per_sec;
	n = tg_detect_scan(al->det, &in, al->out, TG_ALERTS_MAX_PER_SCAN);
	for (size_t i = 0; i < n; i++)
		add_anomaly(al, &al->out[i], &urgent);
	if (urgent)
		send_urgent(al);
}

void tg_alerts_denial(struct tg_alerts *al, const struct tg_event *e)
{
	struct tg_detect_denial d = { 0 };
	const struct tg_limits *l;
	struct tg_anomaly an;
	bool urgent = false;

	if (!al->started || e->qid >= TG_MAX_QUOTAS)
		return;
	d.type = (int)e->type;
	d.enforced = e->enforced != 0;
	d.action = (int)e->action;
	d.client = e->client;
	d.prefix = prefix_of(al, &e->client);
	snprintf(d.name, sizeof(d.name), "%s", al->kern->qnames[e->qid]);
	d.denied = e->denied;
	d.key_hash = e->api_key_hash;
	if ((l = limits_of(al, e->qid))) {
		d.limit_rps = (double)l->requests_per_sec;
		d.burst = (double)l->burst;
		d.max_connections = l->max_connections;
	}
	d.ts_wall_ns = tg_mono_to_wall_ns(e->ts_ns);
	if (tg_detect_denial(al->det, &d, &an) == 1)
		add_anomaly(al, &an, &urgent);
	if (urgent)
		send_urgent(al);
}

static void on_window(uv_timer_t *t)
{
	struct tg_alerts *al = t->data;
	struct tg_top_client top[TG_ALERTS_TOP];
	struct tg_summary_ctx ctx;
	struct tg_event_out ev;

	event_ctx(al, &ctx, top);
	if (tg_summary_close(al->sum, &ctx, tg_now_wall_ns(), &ev) == 0)
		send_event(al, &ev, "summary");
}

/* Triage answers come from inside delivery's completion handling; they
 * are queued and delivered from a timer so delivery is never re-entered. */
static void on_triage_timer(uv_timer_t *t)
{
	struct tg_alerts *al = t->data;
	struct tg_triage_item *it;

	while ((it = al->triage_head)) {
		al->triage_head = it->next;
		if (al->dl)
			tg_deliver_event(al->dl, TG_SCHEMA_TRIAGE, it->id, it->severity, it->json,
					 it->len);
		free(it);
	}
	al->triage_tail = NULL;
}

static void on_triage(void *arg, const char *id, int severity, const char *json, size_t len)
{
	struct tg_alerts *al = arg;
	struct tg_triage_item *it = malloc(sizeof(*it) + len + 1);

	if (!it) {
		pr_warn("triage answer dropped: out of memory", "id=%s", id);
		return;
	}
	memset(it, 0, sizeof(*it));
	snprintf(it->id, sizeof(it->id), "%s", id);
	it->severity = severity;
	it->len = len;
	memcpy(it->json, json, len);
	it->json[len] = '\0';
	if (al->triage_tail)
		al->triage_tail->next = it;
	else
		al->triage_head = it;
	al->triage_tail = it;
	uv_timer_start(&al->triage_timer, on_triage_timer, 0, 0);
}

static void start_window_timer(struct tg_alerts *al)
{
	uint64_t w = al->cfg->anomaly.window_ms;

	uv_timer_start(&al->window_timer, on_window, w, w);
}

int tg_alerts_start(struct tg_alerts *al, uv_loop_t *loop, const struct tg_config *cfg,
		    const struct tg_kern *k, struct tg_collector *col, char *err, size_t errlen)
{
	struct tg_deliver_opts o = { 0 };
	int rc;

	memset(al, 0, sizeof(*al));
	al->loop = loop;
	al->cfg = cfg;
	al->kern = k;
	al->col = col;
	if (gethostname(al->host, sizeof(al->host) - 1) < 0)
		snprintf(al->host, sizeof(al->host), "unknown");
	al->buckets_fd = tg_kern_fd(k, tg_buckets);
	al->keyuse_fd = tg_kern_fd(k, tg_key_use);
	al->paths_fd = tg_kern_fd(k, tg_route_scan);
	al->psb.ksz = sizeof(struct tg_addr);
	al->psb.vsz = sizeof(struct tg_path_sketch);
	al->sbk.ksz = sizeof(struct tg_bucket_key);
	al->sbk.vsz = sizeof(struct tg_bucket);
	al->kub.ksz = sizeof(struct tg_key_use_key);
	al->kub.vsz = sizeof(struct tg_key_use);
	al->det = tg_detect_new(&cfg->anomaly);
	al->sum = tg_summary_new(cfg->anomaly.window_ms, 4096, tg_now_wall_ns());
	if (!al->det || !al->sum) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	index_keys(al);
	o.loop = loop;
	o.state_dir = cfg->state_dir;
	o.instance = cfg->instance;
	o.host = al->host;
	o.agent_version = TG_VERSION;
	o.on_triage = on_triage;
	o.triage_arg = al;
	rc = tg_deliver_new(&o, cfg->webhooks, cfg->n_webhooks, &al->dl, err, errlen);
	if (rc)
		return rc;
	uv_timer_init(loop, &al->window_timer);
	uv_timer_init(loop, &al->triage_timer);
	al->window_timer.data = al->triage_timer.data = al;
	start_window_timer(al);
	al->started = 1;
	return 0;
}

int tg_alerts_reload(struct tg_alerts *al, char *err, size_t errlen)
{
	int rc;

	if (!al->started)
		return 0;
	tg_detect_configure(al->det, &al->cfg->anomaly);
	index_keys(al);
	rc = tg_deliver_reconfigure(al->dl, al->cfg->webhooks, al->cfg->n_webhooks, err, errlen);
	if (uv_timer_get_repeat(&al->window_timer) != al->cfg->anomaly.window_ms) {
		tg_summary_set_window(al->sum, al->cfg->anomaly.window_ms);
		start_window_timer(al);
	}
	return rc;
}

void tg_alerts_stop(struct tg_alerts *al)
{
	if (!al->started)
		return;
	/* What the current window holds goes to the spool: the next run
	 * sends it, nothing detected is lost to a restart. */
	on_window(&al->window_timer);
	on_triage_timer(&al->triage_timer);
	al->started = 0;
	uv_close((uv_handle_t *)&al->window_timer, NULL);
	uv_close((uv_handle_t *)&al->triage_timer, NULL);
	if (al->dl)
		tg_deliver_stop(al->dl);
}

void tg_alerts_free(struct tg_alerts *al)
{
	struct tg_triage_item *it;

	while ((it = al->triage_head)) {
		al->triage_head = it->next;
		free(it);
	}
	if (al->dl)
		tg_deliver_free(al->dl);
	tg_detect_free(al->det);
	tg_summary_free(al->sum);
	free(al->sbk.keys);
	free(al->sbk.vals);
	free(al->kub.keys);
	free(al->kub.vals);
	free(al->psb.keys);
	free(al->psb.vals);
	free(al->dps);
	free(al->dbk);
	free(al->dku);
	free(al->drs);
	memset(al, 0, sizeof(*al));
}
