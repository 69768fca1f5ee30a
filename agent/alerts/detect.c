#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "alerts/detect.h"
#include "alerts/hashtab.h"
#include "lib/addr.h"

/* ---- baselines -------------------------------------------------------- */

/* Exponentially weighted mean and variance of one series. */
struct ewma {
	double mean, var;
	uint32_t n; /* intervals learned */
};

static double ewma_sd(const struct ewma *b)
{
	return b->var > 0 ? sqrt(b->var) : 0;
}

/* The deviation a z-score divides by. A perfectly flat history has none;
 * a tenth of the mean keeps z finite without deciding anything (the
 * factor test is the stricter one for any factor above 1 + z / 10). */
static double ewma_spread(const struct ewma *b)
{
	return fmax(ewma_sd(b), fmax(0.1 * fabs(b->mean), 1e-9));
}

static void ewma_learn(struct ewma *b, double x, double alpha)
{
	double diff, incr;

	if (b->n == 0) {
		b->mean = x;
		b->var = 0;
	} else {
		diff = x - b->mean;
		incr = alpha * diff;
		b->mean += incr;
		b->var = (1 - alpha) * (b->var + diff * incr);
	}
	if (b->n < UINT32_MAX)
		b->n++;
}

/* An interval that fired moves the mean one step toward at most
 * mean + z * spread and leaves the variance alone: a spike must not teach
 * the baseline that spikes are normal, while a lasting new level is
 * learned over some tens of intervals instead of never. */
static void ewma_learn_fired(struct ewma *b, double x, double alpha, double z)
{
	double cap = b->mean + (z > 0 ? z : 4) * ewma_spread(b);

	b->mean += alpha * (fmin(x, cap) - b->mean);
	if (b->n < UINT32_MAX)
		b->n++;
}

/* ---- state ------------------------------------------------------------ */

struct client_st {
	struct tg_addr addr; /* key */
	uint64_t requests, payload, syns, last_seen_ns;
	uint64_t responses, st429, st5xx;
	uint32_t hist[TG_SIZE_BUCKETS]; /* low 32 bits: only differences matter */
	struct ewma rate, size;
	uint64_t seen_scan, resp_scan, active_scan, new_scan;
	bool have_resp;
};

struct bucket_id {
	struct tg_bucket_key k;
	uint64_t addr_bucket;
};

struct bucket_st {
	struct bucket_id id; /* key */
	uint64_t allowed, bytes, denied;
	uint64_t seen_scan, active_scan;
	uint32_t consec; /* consecutive scans near the quota */
};

struct pair_id {
	uint64_t hash;
	struct tg_addr addr;
};

/* One (API key, address) pair. */
struct pair_st {
	struct pair_id id; /* key */
	uint64_t requests;
	uint64_t inc_scan;  /* last scan its requests grew; 0 = not seen growing */
	uint64_t seen_scan; /* last scan it was in the input */
};

/* Per API key and per address: how many pairs are in the window now. */
struct key_st {
	uint64_t hash; /* key */
	char name[TG_NAME_LEN];
	uint64_t pairs, cnt, cnt_scan;
};

struct kaddr_st {
	struct tg_addr addr; /* key */
	uint64_t pairs, cnt, cnt_scan;
};

/* A (quota entry, model) series: rate_spike per key and model. */
struct km_st {
	uint64_t id; /* key: qid << 32 | model id */
	uint64_t requests;
	struct ewma rate;
	uint64_t seen_scan, active_scan;
};

/* A client route_scan fired for, and in which window: once a window. */
struct scan_st {
	struct tg_addr addr;
	uint64_t window;
};

struct tg_detector {
	struct tg_anomaly_config cfg;
	uint64_t scan;      /* scans run; the first is 1 */
	uint64_t mono_mark; /* latest last_seen_ns of any client so far */
	uint32_t ipv6_prefix;
	struct tg_tab clients, buckets, pairs, keys, kaddrs;
	struct tg_tab scanners; /* route_scan: struct scan_st */
	struct tg_tab keymodels; /* rate_spike per (key, model): struct km_st */
	struct ewma global, newc;
	uint64_t fired[TG_AN_MAX];
	uint64_t suppressed;
	uint64_t untracked; /* sightings of clients beyond TG_DETECT_MAX_CLIENTS */
	/* output of the scan in progress */
	struct tg_anomaly *out;
	size_t cap, n;
};

/* One table of defaults: the config's (config_anomaly.c). */
void tg_detect_config_defaults(struct tg_anomaly_config *cfg)
{
	tg_config_anomaly_defaults(cfg);
}

void tg_detect_configure(struct tg_detector *d, const struct tg_anomaly_config *cfg)
{
	if (!d)
		return;
	if (cfg)
		d->cfg = *cfg;
	else
		tg_detect_config_defaults(&d->cfg);
	/* A hand-made config may leave these 0; the detectors need sane ones. */
	if (!d->cfg.scan_interval_ms)
		d->cfg.scan_interval_ms = 1000;
	if (!d->cfg.window_ms)
		d->cfg.window_ms = 10000;
	for (int t = 0; t < TG_AN_MAX; t++) {
		struct tg_detector_config *c = &d->cfg.det[t];

		if (!(c->alpha > 0 && c->alpha < 1))
			c->alpha = 0.1;
		if (c->severity < TG_SEV_INFO || c->severity > TG_SEV_CRITICAL)
			c->severity = TG_SEV_WARNING;
		if (!c->intervals)
			c->intervals = 1;
	}
}

struct tg_detector *tg_detect_new(const struct tg_anomaly_config *cfg)
{
	struct tg_detector *d = calloc(1, sizeof(*d));

	if (!d)
		return NULL;
	tg_tab_init(&d->clients, sizeof(struct client_st), sizeof(struct tg_addr));
	tg_tab_init(&d->buckets, sizeof(struct bucket_st), sizeof(struct bucket_id));
	tg_tab_init(&d->pairs, sizeof(struct pair_st), sizeof(struct pair_id));
	tg_tab_init(&d->keys, sizeof(struct key_st), sizeof(uint64_t));
	tg_tab_init(&d->kaddrs, sizeof(struct kaddr_st), sizeof(struct tg_addr));
	tg_tab_init(&d->scanners, sizeof(struct scan_st), sizeof(struct tg_addr));
	tg_tab_init(&d->keymodels, sizeof(struct km_st), sizeof(uint64_t));
	d->ipv6_prefix = 64;
	tg_detect_configure(d, cfg);
	return d;
}

void tg_detect_free(struct tg_detector *d)
{
	if (!d)
		return;
	tg_tab_free(&d->clients);
	tg_tab_free(&d->buckets);
	tg_tab_free(&d->pairs);
	tg_tab_free(&d->keys);
	tg_tab_free(&d->kaddrs);
	tg_tab_free(&d->scanners);
	tg_tab_free(&d->keymodels);
	free(d);
}

void tg_key_hash_name(uint64_t hash, char *buf, size_t len)
{
	if (buf && len)
		snprintf(buf, len, "key:%016llx", (unsigned long long)hash);
}

/* ---- anomalies -------------------------------------------------------- */

static const struct tg_detector_config *det(const struct tg_detector *d, int type)
{
	return &d->cfg.det[type];
}

static void an_start(const struct tg_detector *d, struct tg_anomaly *a, int type, uint64_t ts)
{
	memset(a, 0, sizeof(*a));
	a->type = type;
	a->severity = det(d, type)->severity;
	a->ts_ns = ts;
}

static bool addr_is_zero(const struct tg_addr *a)
{
	return !(a->w[0] | a->w[1] | a->w[2] | a->w[3]);
}

static void an_client(const struct tg_detector *d, struct tg_anomaly *a,
		      const struct tg_addr *addr, uint32_t v6prefix)
{
	a->has_addr = true;
	a->addr = *addr;
	a->prefix = tg_addr_is_v4(addr) ? 32 : v6prefix ? v6prefix : d->ipv6_prefix;
}

/* A name from a fixed-size field that may lack its NUL. */
static void an_key(struct tg_anomaly *a, const char *name, uint64_t hash)
{
	size_t n = strnlen(name, TG_NAME_LEN);

	if (n)
		snprintf(a->key, sizeof(a->key), "%.*s", (int)n, name);
	else if (hash)
		tg_key_hash_name(hash, a->key, sizeof(a->key));
}

static void emit(struct tg_detector *d, const struct tg_anomaly *a)
{
	d->fired[a->type]++;
	if (d->n < d->cap)
		d->out[d->n++] = *a;
	else
		d->suppressed++;
}

/* The rate and size spikes: above the floor, z-score and factor, after
 * the warm-up. */
static bool spike(const struct tg_detector_config *c, const struct ewma *b, double x, double *z)
{
	*z = (x - b->mean) / ewma_spread(b);
	return c->enabled && b->n > 0 && b->n >= c->warmup && x >= c->min_value &&
	       x > b->mean && *z >= c->z && x >= c->factor * b->mean;
}

/* A rate_spike's figures: a client's series or a key's on one model. */
static void rate_figures(struct tg_anomaly *a, double rps, double z, const struct ewma *b)
{
	tg_an_observe(a, "requests_per_sec", rps);
	tg_an_observe(a, "z_score", z);
	tg_an_reference(a, "mean_requests_per_sec", b->mean);
	tg_an_reference(a, "stddev", ewma_sd(b));
}

static void learn(struct ewma *b, bool fired, double x, const struct tg_detector_config *c)
{
	if (fired)
		ewma_learn_fired(b, x, c->alpha, c->z);
	else
		ewma_learn(b, x, c->alpha);
}

/* ---- per-client detectors --------------------------------------------- */

static void client_rebase(struct client_st *e, const struct tg_client_view *c)
{
	e->requests = c->requests;
	e->payload = c->payload_bytes;
	e->syns = c->syns;
	e->last_seen_ns = c->last_seen_ns;
	for (int b = 0; b < TG_SIZE_BUCKETS; b++)
		e->hist[b] = (uint32_t)c->size_hist[b];
}

static void check_rate(struct tg_detector *d, const struct tg_detect_input *in,
		       struct client_st *e, double rps)
{
	const struct tg_detector_config *c = det(d, TG_AN_RATE_SPIKE);
	struct tg_anomaly a;
	double z;
	bool fire = spike(c, &e->rate, rps, &z);

	if (fire) {
		an_start(d, &a, TG_AN_RATE_SPIKE, in->now_wall_ns);
		an_client(d, &a, &e->addr, in->ipv6_prefix);
		rate_figures(&a, rps, z, &e->rate);
		emit(d, &a);
	}
	learn(&e->rate, fire, rps, c);
}

static void check_size(struct tg_detector *d, const struct tg_detect_input *in,
		       struct client_st *e, uint64_t dreq, uint64_t dpay, int top_bucket)
{
	const struct tg_detector_config *c = det(d, TG_AN_PAYLOAD_OUTLIER);
	double size = (double)dpay / (double)dreq, z;
	bool fire = spike(c, &e->size, size, &z);
	struct tg_anomaly a;

	if (fire) {
		an_start(d, &a, TG_AN_PAYLOAD_OUTLIER, in->now_wall_ns);
		an_client(d, &a, &e->addr, in->ipv6_prefix);
		tg_an_observe(&a, "mean_request_bytes", size);
		tg_an_observe(&a, "requests", (double)dreq);
		tg_an_observe(&a, "z_score", z);
		/* the lower bound of the largest size bucket that grew */
		if (top_bucket >= 0)
			tg_an_observe(&a, "largest_bucket_bytes",
				      top_bucket ? (double)(1ull << (top_bucket + TG_SIZE_BUCKET_SHIFT - 1)) : 0);
		tg_an_reference(&a, "mean_request_bytes", e->size.mean);
		tg_an_reference(&a, "stddev", ewma_sd(&e->size));
		emit(d, &a);
	}
	learn(&e->size, fire, size, c);
}

static void check_churn(struct tg_detector *d, const struct tg_detect_input *in,
			struct client_st *e, const struct tg_client_view *v,
			uint64_t dreq, uint64_t dsyn)
{
	const struct tg_detector_config *c = det(d, TG_AN_CONNECTION_CHURN);
	double sps = v->syns_per_sec, per_syn;
	struct tg_anomaly a;

	if (!c->enabled || !dsyn || sps < c->min_value)
		return;
	per_syn = (double)dreq / (double)dsyn;
	if (per_syn >= c->ratio)
		return;
	an_start(d, &a, TG_AN_CONNECTION_CHURN, in->now_wall_ns);
	an_client(d, &a, &e->addr, in->ipv6_prefix);
	tg_an_observe(&a, "syns_per_sec", sps);
	tg_an_observe(&a, "requests_per_syn", per_syn);
	tg_an_observe(&a, "requests_per_sec", v->requests_per_sec);
	tg_an_reference(&a, "min_syns_per_sec", c->min_value);
	tg_an_reference(&a, "max_requests_per_syn", c->ratio);
	emit(d, &a);
}

static void client_check(struct tg_detector *d, const struct tg_detect_input *in,
			 struct client_st *e, const struct tg_client_view *c)
{
	uint64_t dreq, dpay, dsyn;
	int top = -1;

	e->seen_scan = d->scan;
	/* Counters only go back when the kernel's LRU evicted the entry and
	 * made it anew: start over from here rather than see a huge delta. */
	if (c->requests < e->requests || c->payload_bytes < e->payload || c->syns < e->syns) {
		client_rebase(e, c);
		e->active_scan = d->scan;
		return;
	}
	dreq = c->requests - e->requests;
	dpay = c->payload_bytes - e->payload;
	dsyn = c->syns - e->syns;
	if (dreq || dpay || dsyn || c->last_seen_ns != e->last_seen_ns)
		e->active_scan = d->scan;
	for (int b = TG_SIZE_BUCKETS - 1; b >= 0 && dreq; b--)
		if ((uint32_t)c->size_hist[b] != e->hist[b]) {
			top = b;
			break;
		}
	client_rebase(e, c);
	if (in->dt <= 0)
		return;
	/* Rates are the collector's (it knows when it last read each
	 * client); ratios come from the differences seen here. */
	if (isfinite(c->requests_per_sec) && c->requests_per_sec >= 0)
		check_rate(d, in, e, c->requests_per_sec);
	if (dreq)
		check_size(d, in, e, dreq, dpay, top);
	if (isfinite(c->syns_per_sec))
		check_churn(d, in, e, c, dreq, dsyn);
}

/* Returns how many clients are new since the previous scan. */
static uint64_t scan_clients(struct tg_detector *d, const struct tg_detect_input *in)
{
	uint64_t mark = d->mono_mark, latest = mark, n_new = 0;
	bool have_prev = d->scan > 1;

	for (size_t i = 0; i < in->n_clients; i++) {
		const struct tg_client_view *c = &in->clients[i];
		struct client_st *e = tg_tab_find(&d->clients, &c->addr);

		if (c->last_seen_ns > latest)
			latest = c->last_seen_ns;
		if (e) {
			if (e->seen_scan != d->scan)
				client_check(d, in, e, c);
			continue;
		}
		/* Clocks differ (the kernel's is monotonic): a client is new
		 * when it appeared after the latest activity the previous scan
		 * saw. One idle since then needs no state at all. */
		bool is_new = have_prev && (!c->first_seen_ns || c->first_seen_ns > mark);

		if (have_prev && !is_new && c->last_seen_ns && c->last_seen_ns <= mark)
			continue;
		if (d->clients.n >= TG_DETECT_MAX_CLIENTS) {
			d->untracked++;
			n_new += is_new;
			continue;
		}
		e = tg_tab_add(&d->clients, &c->addr);
		if (!e)
			continue;
		e->active_scan = d->scan;
		if (is_new) {
			/* everything it counted happened in this interval */
			n_new++;
			e->new_scan = d->scan;
			client_check(d, in, e, c);
		} else {
			e->seen_scan = d->scan;
			client_rebase(e, c);
		}
	}
	d->mono_mark = latest;
	return n_new;
}

static void scan_resp(struct tg_detector *d, const struct tg_detect_input *in)
{
	const struct tg_detector_config *c = det(d, TG_AN_ERROR_SURGE);

	for (size_t i = 0; i < in->n_resp; i++) {
		const struct tg_detect_resp *r = &in->resp[i];
		struct client_st *e = tg_tab_find(&d->clients, &r->addr);
		uint64_t s429 = r->status[TG_ST_429], s5 = r->status[TG_ST_5XX];
		uint64_t dresp, d429, d5, errs;
		double eps, ratio;
		struct tg_anomaly a;

		/* Responses go to clients the request side keeps state for. */
		if (!e || e->resp_scan == d->scan)
			continue;
		e->resp_scan = d->scan;
		if (!e->have_resp && e->new_scan != d->scan) {
			e->have_resp = true;
			goto rebase;
		}
		e->have_resp = true;
		if (r->responses < e->responses || s429 < e->st429 || s5 < e->st5xx)
			goto rebase;
		dresp = r->responses - e->responses;
		d429 = s429 - e->st429;
		d5 = s5 - e->st5xx;
		if (dresp || d429 || d5)
			e->active_scan = d->scan;
		e->responses = r->responses;
		e->st429 = s429;
		e->st5xx = s5;
		errs = d429 + d5;
		if (in->dt <= 0 || !c->enabled || !errs)
			continue;
		eps = (double)errs / in->dt;
		ratio = (double)errs / (double)(dresp > errs ? dresp : errs);
		if (eps < c->min_value || ratio < c->ratio)
			continue;
		an_start(d, &a, TG_AN_ERROR_SURGE, in->now_wall_ns);
		an_client(d, &a, &e->addr, in->ipv6_prefix);
		tg_an_observe(&a, "errors_per_sec", eps);
		tg_an_observe(&a, "error_ratio", ratio);
		tg_an_observe(&a, "status_429_per_sec", (double)d429 / in->dt);
		tg_an_observe(&a, "status_5xx_per_sec", (double)d5 / in->dt);
		tg_an_observe(&a, "responses_per_sec", (double)dresp / in->dt);
		tg_an_reference(&a, "min_errors_per_sec", c->min_value);
		tg_an_reference(&a, "min_error_ratio", c->ratio);
		emit(d, &a);
		continue;
rebase:
		e->responses = r->responses;
		e->st429 = s429;
		e->st5xx = s5;
	}
}

/* ---- whole-gateway detectors ------------------------------------------ */

static void scan_global(struct tg_detector *d, const struct tg_detect_input *in, uint64_t n_new)
{
	const struct tg_detector_config *c = det(d, TG_AN_GLOBAL_RATE_SPIKE);
	double x = in->requests_per_sec, z;
	struct tg_anomaly a;
	bool fire;

	if (in->dt <= 0 || !isfinite(x) || x < 0)
		return;
	fire = spike(c, &d->global, x, &z);
	if (fire) {
		an_start(d, &a, TG_AN_GLOBAL_RATE_SPIKE, in->now_wall_ns);
		tg_an_observe(&a, "requests_per_sec", x);
		tg_an_observe(&a, "z_score", z);
		tg_an_reference(&a, "mean_requests_per_sec", d->global.mean);
		tg_an_reference(&a, "stddev", ewma_sd(&d->global));
		emit(d, &a);
	}
	learn(&d->global, fire, x, c);

	c = det(d, TG_AN_NEW_CLIENT_SURGE);
	if (d->scan <= 1)
		return;
	x = (double)n_new;
	fire = c->enabled && d->newc.n > 0 && d->newc.n >= c->warmup && x >= c->min_value &&
	       x > d->newc.mean && x >= c->factor * d->newc.mean;
	if (fire) {
		an_start(d, &a, TG_AN_NEW_CLIENT_SURGE, in->now_wall_ns);
		tg_an_observe(&a, "new_clients", x);
		tg_an_observe(&a, "new_clients_per_sec", x / in->dt);
		tg_an_reference(&a, "mean_new_clients", d->newc.mean);
		tg_an_reference(&a, "stddev", ewma_sd(&d->newc));
		emit(d, &a);
	}
	learn(&d->newc, fire, x, c);
}

/* ---- quota buckets ---------------------------------------------------- */

static void scan_buckets(struct tg_detector *d, const struct tg_detect_input *in)
{
	const struct tg_detector_config *c = det(d, TG_AN_QUOTA_NEAR);

	for (size_t i = 0; i < in->n_buckets; i++) {
		const struct tg_detect_bucket *b = &in->buckets[i];
		uint64_t denied = b->denied + b->would_deny;
		struct bucket_id id;
		struct bucket_st *e;
		double rps, bps, share = 0, need;
		struct tg_anomaly a;

		memset(&id, 0, sizeof(id));
		id.k.qid = b->key.qid;
		id.k.addr = b->key.addr;
		id.addr_bucket = b->addr_bucket;
		e = tg_tab_find(&d->buckets, &id);
		if (!e) {
			e = tg_tab_add(&d->buckets, &id);
			if (!e)
				continue;
			e->active_scan = d->scan;
			goto rebase;
		}
		if (e->seen_scan == d->scan)
			continue;
		if (b->allowed < e->allowed || b->allowed_bytes < e->bytes || denied < e->denied) {
			e->consec = 0;
			e->active_scan = d->scan;
			goto rebase;
		}
		if (b->allowed != e->allowed || b->allowed_bytes != e->bytes || denied != e->denied)
			e->active_scan = d->scan;
		rps = in->dt > 0 ? (double)(b->allowed - e->allowed) / in->dt : 0;
		bps = in->dt > 0 ? (double)(b->allowed_bytes - e->bytes) / in->dt : 0;
		e->seen_scan = d->scan;
		e->allowed = b->allowed;
		e->bytes = b->allowed_bytes;
		e->denied = denied;
		if (in->dt <= 0)
			continue;
		if (b->limit_rps > 0)
			share = fmax(share, 100 * rps / b->limit_rps);
		if (b->limit_bps > 0)
			share = fmax(share, 100 * bps / b->limit_bps);
		need = c->percent > 0 ? c->percent : 80;
		if (share < need) {
			e->consec = 0;
			continue;
		}
		if (e->consec < UINT32_MAX)
			e->consec++;
		if (!c->enabled || e->consec < c->intervals)
			continue;
		an_start(d, &a, TG_AN_QUOTA_NEAR, in->now_wall_ns);
		if (b->addr_bucket)
			an_client(d, &a, &b->key.addr, in->ipv6_prefix);
		an_key(&a, b->name, 0);
		a.is_quota = true;
		tg_an_observe(&a, "requests_per_sec", rps);
		tg_an_observe(&a, "bytes_per_sec", bps);
		tg_an_observe(&a, "percent_of_quota", share);
		tg_an_observe(&a, "intervals", e->consec);
		if (b->limit_rps > 0)
			tg_an_reference(&a, "requests_per_sec", b->limit_rps);
		if (b->limit_bps > 0)
			tg_an_reference(&a, "bytes_per_sec", b->limit_bps);
		emit(d, &a);
		continue;
rebase:
		e->seen_scan = d->scan;
		e->allowed = b->allowed;
		e->bytes = b->allowed_bytes;
		e->denied = denied;
	}
}

/* ---- API keys --------------------------------------------------------- */

/* Scans that cover anomaly.window_ms. */
static uint64_t window_scans(const struct tg_detector *d)
{
	uint64_t n = (d->cfg.window_ms + d->cfg.scan_interval_ms - 1) / d->cfg.scan_interval_ms;

	return n ? n : 1;
}

static void pair_added(struct tg_detector *d, const struct tg_detect_keyuse *k)
{
	struct key_st *ke = tg_tab_find(&d->keys, &k->key_hash);
	struct kaddr_st *ae = tg_tab_find(&d->kaddrs, &k->addr);

	if (!ke)
		ke = tg_tab_add(&d->keys, &k->key_hash);
	if (ke)
		ke->pairs++;
	if (!ae)
		ae = tg_tab_add(&d->kaddrs, &k->addr);
	if (ae)
		ae->pairs++;
}

static void pair_forget(struct tg_detector *d, const struct pair_st *p)
{
	struct key_st *ke = tg_tab_find(&d->keys, &p->id.hash);
	struct kaddr_st *ae = tg_tab_find(&d->kaddrs, &p->id.addr);

	if (ke && !--ke->pairs)
		tg_tab_remove(&d->keys, (size_t)((unsigned char *)ke - d->keys.ent) / d->keys.esz);
	if (ae && !--ae->pairs)
		tg_tab_remove(&d->kaddrs, (size_t)((unsigned char *)ae - d->kaddrs.ent) / d->kaddrs.esz);
}

static void scan_keys(struct tg_detector *d, const struct tg_detect_input *in)
{
	const struct tg_detector_config *cs = det(d, TG_AN_KEY_SHARED);
	const struct tg_detector_config *cr = det(d, TG_AN_KEY_ROTATION);
	uint64_t win = window_scans(d);
	struct tg_anomaly a;

	for (size_t i = 0; i < in->n_keys; i++) {
		const struct tg_detect_keyuse *k = &in->keys[i];
		struct pair_id id;
		struct pair_st *p;
		struct key_st *ke;

		memset(&id, 0, sizeof(id));
		id.hash = k->key_hash;
		id.addr = k->addr;
		p = tg_tab_find(&d->pairs, &id);
		if (!p) {
			p = tg_tab_add(&d->pairs, &id);
			if (!p)
				continue;
			pair_added(d, k);
			/* Pairs the very first scan finds tell nothing of when
			 * they were used. */
			p->inc_scan = d->scan > 1 && k->requests ? d->scan : 0;
		} else if (p->seen_scan == d->scan) {
			continue;
		} else if (k->requests != p->requests && k->requests) {
			/* grown, or evicted and made anew: used either way */
			p->inc_scan = d->scan;
		}
		p->requests = k->requests;
		p->seen_scan = d->scan;
		if (strnlen(k->name, TG_NAME_LEN) && (ke = tg_tab_find(&d->keys, &k->key_hash)))
			snprintf(ke->name, sizeof(ke->name), "%.*s",
				 (int)strnlen(k->name, TG_NAME_LEN), k->name);
	}

	/* Distinct addresses per key and keys per address in the window. */
	for (size_t i = 0; i < d->pairs.n; i++) {
		const struct pair_st *p = tg_tab_at(&d->pairs, i);
		struct key_st *ke;
		struct kaddr_st *ae;

		if (!p->inc_scan || d->scan - p->inc_scan >= win)
			continue;
		if ((ke = tg_tab_find(&d->keys, &p->id.hash))) {
			if (ke->cnt_scan != d->scan)
				ke->cnt = 0;
			ke->cnt_scan = d->scan;
			ke->cnt++;
		}
		if ((ae = tg_tab_find(&d->kaddrs, &p->id.addr))) {
			if (ae->cnt_scan != d->scan)
				ae->cnt = 0;
			ae->cnt_scan = d->scan;
			ae->cnt++;
		}
	}

	for (size_t i = 0; cs->enabled && i < d->keys.n; i++) {
		const struct key_st *ke = tg_tab_at(&d->keys, i);

		if (ke->cnt_scan != d->scan || ke->cnt <= cs->max_count)
			continue;
		an_start(d, &a, TG_AN_KEY_SHARED, in->now_wall_ns);
		an_key(&a, ke->name, ke->hash);
		tg_an_observe(&a, "addresses", (double)ke->cnt);
		tg_an_observe(&a, "window_seconds", (double)(win * d->cfg.scan_interval_ms) / 1000);
		tg_an_reference(&a, "max_addresses", cs->max_count);
		emit(d, &a);
	}
	for (size_t i = 0; cr->enabled && i < d->kaddrs.n; i++) {
		const struct kaddr_st *ae = tg_tab_at(&d->kaddrs, i);

		if (ae->cnt_scan != d->scan || ae->cnt <= cr->max_count)
			continue;
		an_start(d, &a, TG_AN_KEY_ROTATION, in->now_wall_ns);
		an_client(d, &a, &ae->addr, in->ipv6_prefix);
		tg_an_observe(&a, "keys", (double)ae->cnt);
		tg_an_observe(&a, "window_seconds", (double)(win * d->cfg.scan_interval_ms) / 1000);
		tg_an_reference(&a, "max_keys", cr->max_count);
		emit(d, &a);
	}
}

/* ---- route_scan -------------------------------------------------------- */

double tg_path_sketch_estimate(uint32_t clear)
{
	const double m = TG_PATH_SKETCH_BITS;

	if (clear > TG_PATH_SKETCH_BITS)
		clear = TG_PATH_SKETCH_BITS;
	return clear ? -m * log(clear / m) : m * log(m);
}

/* The kernel keeps each client's sketch of its current window until the
 * client's next unmatched request starts a new one, so a sketch of the
 * window just ended is still read whole; older ones are stale. */
static void scan_paths(struct tg_detector *d, const struct tg_detect_input *in)
{
	const struct tg_detector_config *c = det(d, TG_AN_ROUTE_SCAN);
	struct tg_anomaly a;

	for (size_t i = 0; c->enabled && i < in->n_paths; i++) {
		const struct tg_detect_paths *p = &in->paths[i];
		double est = tg_path_sketch_estimate(p->clear);
		struct scan_st *s;

		if (p->window + 1 < in->path_window || p->window > in->path_window ||
		    est <= c->max_count)
			continue;
		s = tg_tab_find(&d->scanners, &p->addr);
		if (s && s->window >= p->window)
			continue; /* fired for this window already */
		if (!s && !(s = tg_tab_add(&d->scanners, &p->addr)))
			continue;
		s->window = p->window;
		an_start(d, &a, TG_AN_ROUTE_SCAN, in->now_wall_ns);
		an_client(d, &a, &p->addr, in->ipv6_prefix);
		tg_an_observe(&a, "distinct_paths", floor(est + 0.5));
		tg_an_observe(&a, "window_seconds", (double)d->cfg.window_ms / 1000);
		tg_an_reference(&a, "max_paths", c->max_count);
		emit(d, &a);
	}
	for (size_t i = 0; i < d->scanners.n;) {
		const struct scan_st *s = tg_tab_at(&d->scanners, i);

		if (s->window + 1 < in->path_window)
			tg_tab_remove(&d->scanners, i);
		else
			i++;
	}
	tg_tab_shrink(&d->scanners);
}

/* ---- rate_spike per (key, model) -------------------------------------- */

/* The same baseline test as a client's rate_spike (its config: z, factor,
 * alpha, warm-up, floor), on each (quota entry, model) series: one key
 * suddenly calling one model far more than it used to. Series that stay
 * idle for TG_DETECT_IDLE_INTERVALS scans are forgotten with their
 * baseline, like clients. */
static void scan_keymodels(struct tg_detector *d, const struct tg_detect_input *in)
{
	const struct tg_detector_config *c = det(d, TG_AN_RATE_SPIKE);

	for (size_t i = 0; i < in->n_keymodels; i++) {
		const struct tg_detect_keymodel *k = &in->keymodels[i];
		uint64_t id = (uint64_t)k->qid << 32 | k->model;
		struct km_st *e = tg_tab_find(&d->keymodels, &id);
		struct tg_anomaly a;
		double rps, z;
		bool fire;

		if (!e) {
			if (!k->requests || !(e = tg_tab_add(&d->keymodels, &id)))
				continue;
			e->requests = k->requests;
			e->seen_scan = e->active_scan = d->scan;
			continue; /* what it counted before tells no rate */
		}
		if (e->seen_scan == d->scan)
			continue;
		e->seen_scan = d->scan;
		if (k->requests < e->requests) { /* the id's counts were zeroed */
			e->requests = k->requests;
			continue;
		}
		if (k->requests != e->requests)
			e->active_scan = d->scan;
		rps = in->dt > 0 ? (double)(k->requests - e->requests) / in->dt : 0;
		e->requests = k->requests;
		if (in->dt <= 0)
			continue;
		fire = spike(c, &e->rate, rps, &z);
		if (fire) {
			an_start(d, &a, TG_AN_RATE_SPIKE, in->now_wall_ns);
			an_key(&a, k->key, 0);
			snprintf(a.model, sizeof(a.model), "%.*s", (int)strnlen(k->name, sizeof(k->name)),
				 k->name);
			rate_figures(&a, rps, z, &e->rate);
			emit(d, &a);
		}
		learn(&e->rate, fire, rps, c);
	}
	for (size_t i = 0; i < d->keymodels.n;) {
		const struct km_st *e = tg_tab_at(&d->keymodels, i);

		if (d->scan - e->active_scan >= TG_DETECT_IDLE_INTERVALS)
			tg_tab_remove(&d->keymodels, i);
		else
			i++;
	}
	tg_tab_shrink(&d->keymodels);
}

/* ---- forgetting ------------------------------------------------------- */

static void sweep(struct tg_detector *d)
{
	uint64_t win = window_scans(d), now = d->scan;

	for (size_t i = 0; i < d->clients.n;) {
		const struct client_st *e = tg_tab_at(&d->clients, i);

		if (now - e->active_scan >= TG_DETECT_IDLE_INTERVALS)
			tg_tab_remove(&d->clients, i);
		else
			i++;
	}
	for (size_t i = 0; i < d->buckets.n;) {
		const struct bucket_st *e = tg_tab_at(&d->buckets, i);

		if (now - e->active_scan >= TG_DETECT_IDLE_INTERVALS)
			tg_tab_remove(&d->buckets, i);
		else
			i++;
	}
	/* A pair's counter carries no time: one forgotten while the kernel
	 * still lists it would look freshly used when it is found again. So
	 * pairs are kept while listed, and forgotten once gone from the
	 * input and out of the window. */
	for (size_t i = 0; i < d->pairs.n;) {
		const struct pair_st *p = tg_tab_at(&d->pairs, i);

		if (now - p->seen_scan >= TG_DETECT_IDLE_INTERVALS &&
		    (!p->inc_scan || now - p->inc_scan >= win)) {
			pair_forget(d, p);
			tg_tab_remove(&d->pairs, i);
		} else {
			i++;
		}
	}
	tg_tab_shrink(&d->clients);
	tg_tab_shrink(&d->buckets);
	tg_tab_shrink(&d->pairs);
	tg_tab_shrink(&d->keys);
	tg_tab_shrink(&d->kaddrs);
}

/* ---- entry points ----------------------------------------------------- */

size_t tg_detect_scan(struct tg_detector *d, const struct tg_detect_input *in_arg,
		      struct tg_anomaly *out, size_t cap)
{
	struct tg_detect_input in;
	uint64_t n_new;

	if (!d || !in_arg)
		return 0;
	in = *in_arg;
	if (!in.clients)
		in.n_clients = 0;
	if (!in.resp)
		in.n_resp = 0;
	if (!in.buckets)
		in.n_buckets = 0;
	if (!in.keys)
		in.n_keys = 0;
	if (!in.paths)
		in.n_paths = 0;
	if (!in.keymodels)
		in.n_keymodels = 0;
	if (!isfinite(in.dt) || in.dt < 0)
		in.dt = 0;
	if (in.ipv6_prefix < 1 || in.ipv6_prefix > 128)
		in.ipv6_prefix = d->ipv6_prefix;
	d->ipv6_prefix = in.ipv6_prefix;
	d->out = out;
	d->cap = out ? cap : 0;
	d->n = 0;
	d->scan++;

	n_new = scan_clients(d, &in);
	scan_resp(d, &in);
	scan_global(d, &in, n_new);
	scan_buckets(d, &in);
	scan_keys(d, &in);
	scan_paths(d, &in);
	scan_keymodels(d, &in);
	sweep(d);

	d->out = NULL;
	return d->n;
}

int tg_detect_denial(struct tg_detector *d, const struct tg_detect_denial *e,
		     struct tg_anomaly *out)
{
	int type;

	if (!d || !e || !out)
		return 0;
	type = e->action == TG_ACTION_DENY ? TG_AN_DENIED : TG_AN_QUOTA_EXHAUSTED;
	if (!det(d, type)->enabled)
		return 0;
	an_start(d, out, type, e->ts_wall_ns);
	if (!addr_is_zero(&e->client))
		an_client(d, out, &e->client, e->prefix);
	an_key(out, e->name, e->key_hash);
	out->is_quota = true;
	tg_an_observe(out, "denied", (double)e->denied);
	tg_an_observe(out, "enforced", e->enforced ? 1 : 0);
	if (type == TG_AN_QUOTA_EXHAUSTED) {
		if (e->type == TG_EV_MAX_CONNS) {
			tg_an_reference(out, "max_connections", (double)e->max_connections);
		} else {
			tg_an_reference(out, "requests_per_sec", e->limit_rps);
			tg_an_reference(out, "burst", e->burst);
		}
	}
	d->fired[type]++;
	return 1;
}

void tg_detect_stats(const struct tg_detector *d, struct tg_detect_stats *st)
{
	memset(st, 0, sizeof(*st));
	if (!d)
		return;
	st->clients = d->clients.n;
	st->buckets = d->buckets.n;
	st->keys = d->keys.n;
	memcpy(st->fired, d->fired, sizeof(st->fired));
	st->suppressed = d->suppressed;
	st->clients_untracked = d->untracked;
}
