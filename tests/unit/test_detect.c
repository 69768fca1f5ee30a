/* Detectors on synthetic series: a steady baseline then a spike fires;
 * steady never fires; warm-up and floors hold; disabled detectors stay
 * quiet; counters that go back are resets, not spikes; state follows the
 * active set. */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <math.h>
#include <criterion/parameterized.h>
#include <stdlib.h>
#include <string.h>
#include "alerts/detect.h"
#include "lib/addr.h"

#define SEC 1000000000ull
#define MAX_OUT 256

/* A gateway in miniature: clients with cumulative counters, one scan per
 * simulated second. */
struct sim {
	struct tg_detector *d;
	struct tg_anomaly_config cfg;
	uint64_t wall, mono;
	struct tg_client_view *c;
	size_t n, cap;
	struct tg_detect_resp *r;
	size_t nr;
	struct tg_detect_bucket *b;
	size_t nb;
	struct tg_detect_keyuse *k;
	size_t nk;
	double global_rps;
	struct tg_anomaly out[MAX_OUT];
	size_t nout;
};

static void sim_init(struct sim *s)
{
	memset(s, 0, sizeof(*s));
	tg_detect_config_defaults(&s->cfg);
	s->wall = 1800000000ull * SEC;
	s->mono = 5000 * SEC;
	s->cap = 1024;
	s->c = calloc(s->cap, sizeof(*s->c));
	s->r = calloc(s->cap, sizeof(*s->r));
	s->b = calloc(64, sizeof(*s->b));
	s->k = calloc(1024, sizeof(*s->k));
	cr_assert(s->c && s->r && s->b && s->k);
}

static void sim_start(struct sim *s)
{
	s->d = tg_detect_new(&s->cfg);
	cr_assert_not_null(s->d);
}

static void sim_fini(struct sim *s)
{
	tg_detect_free(s->d);
	free(s->c);
	free(s->r);
	free(s->b);
	free(s->k);
}

static struct tg_addr addr(const char *text)
{
	struct tg_addr a;

	cr_assert_eq(tg_addr_parse(text, &a), 0, "%s", text);
	return a;
}

static struct tg_addr addr_n(uint32_t i)
{
	struct tg_addr a;

	memset(&a, 0, sizeof(a));
	a.w[2] = htonl(0xffff);
	a.w[3] = htonl(0xc6120000u + i); /* 198.18.x.y */
	return a;
}

/* Adds a client that appeared during the coming interval. */
static size_t sim_client(struct sim *s, struct tg_addr a)
{
	if (s->n == s->cap) {
		s->cap *= 2;
		s->c = realloc(s->c, s->cap * sizeof(*s->c));
		cr_assert_not_null(s->c);
	}
	memset(&s->c[s->n], 0, sizeof(s->c[0]));
	s->c[s->n].addr = a;
	s->c[s->n].first_seen_ns = s->mono + SEC / 2;
	s->c[s->n].last_seen_ns = s->mono + SEC / 2;
	return s->n++;
}

static unsigned size_bucket(uint64_t size)
{
	uint64_t v = size >> TG_SIZE_BUCKET_SHIFT;
	unsigned b = 0;

	while (v) {
		b++;
		v >>= 1;
	}
	return b < TG_SIZE_BUCKETS ? b : TG_SIZE_BUCKETS - 1;
}

/* Client i sends n requests of size bytes and opens syns connections in
 * the coming interval. */
static void traffic(struct sim *s, size_t i, uint64_t n, uint64_t size, uint64_t syns)
{
	struct tg_client_view *c = &s->c[i];

	c->requests += n;
	c->payload_bytes += n * size;
	c->bytes += n * (size + 100);
	c->syns += syns;
	c->size_hist[size_bucket(size)] += n;
	c->requests_per_sec = (double)n;
	c->syns_per_sec = (double)syns;
	if (n || syns)
		c->last_seen_ns = s->mono + SEC / 2;
}

static size_t sim_scan(struct sim *s)
{
	struct tg_detect_input in = {
		.now_wall_ns = s->wall,
		.dt = 1.0,
		.ipv6_prefix = 64,
		.clients = s->c, .n_clients = s->n,
		.resp = s->r, .n_resp = s->nr,
		.buckets = s->b, .n_buckets = s->nb,
		.keys = s->k, .n_keys = s->nk,
		.requests_per_sec = s->global_rps,
	};

	s->wall += SEC;
	s->mono += SEC;
	in.now_wall_ns = s->wall;
	s->nout = tg_detect_scan(s->d, &in, s->out, MAX_OUT);
	for (size_t i = 0; i < s->n; i++) {
		s->c[i].requests_per_sec = 0;
		s->c[i].syns_per_sec = 0;
	}
	return s->nout;
}

static int count(const struct sim *s, int type)
{
	int n = 0;

	for (size_t i = 0; i < s->nout; i++)
		n += s->out[i].type == type;
	return n;
}

static const struct tg_anomaly *find(const struct sim *s, int type)
{
	for (size_t i = 0; i < s->nout; i++)
		if (s->out[i].type == type)
			return &s->out[i];
	return NULL;
}

static double val(const struct tg_an_value *v, int n, const char *name)
{
	for (int i = 0; i < n; i++)
		if (strcmp(v[i].name, name) == 0)
			return v[i].v;
	cr_assert_fail("no value %s", name);
	return 0;
}

#define OBS(a, name) val((a)->observed, (a)->n_observed, name)
#define REF(a, name) val((a)->reference, (a)->n_reference, name)

static uint32_t next_client; /* addr_n() of the next new client */

/* One interval of the series detector det watches, with the figures p:
 *   rate_spike         client 0 at p[0] req/s;
 *   global_rate_spike  p[0] req/s over the gateway;
 *   payload_outlier    client 0 sends p[0] requests of p[1] bytes;
 *   quota_near         bucket 0 allows p[0] requests and p[1] bytes;
 *   new_client_surge   p[0] new clients;
 *   connection_churn   client 0 sends p[0] requests over p[1] SYNs;
 *   error_surge        client 0 gets p[0] 2xx, p[1] 429 and p[2] 5xx answers. */
static void interval(struct sim *s, int det, const uint64_t *p)
{
	switch (det) {
	case TG_AN_RATE_SPIKE:
		traffic(s, 0, p[0], 200, 1);
		return;
	case TG_AN_GLOBAL_RATE_SPIKE:
		s->global_rps = (double)p[0];
		return;
	case TG_AN_PAYLOAD_OUTLIER:
		traffic(s, 0, p[0], p[1], 1);
		return;
	case TG_AN_QUOTA_NEAR:
		s->b[0].allowed += p[0];
		s->b[0].allowed_bytes += p[1];
		return;
	case TG_AN_NEW_CLIENT_SURGE:
		for (uint64_t j = 0; j < p[0]; j++)
			traffic(s, sim_client(s, addr_n(next_client++)), 1, 100, 1);
		return;
	case TG_AN_CONNECTION_CHURN:
		traffic(s, 0, p[0], 100, p[1]);
		return;
	case TG_AN_ERROR_SURGE:
		s->nr = 1;
		s->r[0].addr = s->c[0].addr;
		traffic(s, 0, p[0] + p[1] + p[2], 100, 1);
		s->r[0].responses += p[0] + p[1] + p[2];
		s->r[0].status[TG_ST_2XX] += p[0];
		s->r[0].status[TG_ST_429] += p[1];
		s->r[0].status[TG_ST_5XX] += p[2];
		return;
	}
	cr_assert_fail("no series for %s", tg_anomaly_type_name(det));
}

/* Runs scans intervals of det's series; returns how often det fired. */
static int run_series(struct sim *s, int det, int scans, const uint64_t *p)
{
	int fired = 0;

	for (int i = 0; i < scans; i++) {
		interval(s, det, p);
		sim_scan(s);
		fired += count(s, det);
	}
	return fired;
}

/* run(&s, DETECTOR, SCANS, FIGURES...): run_series with interval()'s figures */
#define run(s, det, scans, ...) run_series(s, det, scans, (const uint64_t[3]){ __VA_ARGS__ })

/* ---- rate_spike -------------------------------------------------------- */

Test(rate_spike, noisy_baseline_never_fires)
{
	struct sim s;
	int fired = 0;

	sim_init(&s);
	sim_start(&s);
	sim_client(&s, addr("198.18.0.3"));
	for (int i = 0; i < 200; i++)
		fired += run(&s, TG_AN_RATE_SPIKE, 1, (uint64_t)(10 + (i * 7919) % 11));
	cr_assert_eq(fired, 0);
	sim_fini(&s);
}

Test(rate_spike, spike_after_baseline_fires)
{
	struct sim s;
	const struct tg_anomaly *a;

	sim_init(&s);
	sim_start(&s);
	sim_client(&s, addr("198.18.0.3"));
	cr_assert_eq(run(&s, TG_AN_RATE_SPIKE, 40, 20), 0);
	cr_assert_eq(run(&s, TG_AN_RATE_SPIKE, 1, 412), 1);
	a = find(&s, TG_AN_RATE_SPIKE);
	cr_assert_eq(a->severity, TG_SEV_WARNING);
	cr_assert(a->has_addr);
	cr_assert_eq(memcmp(&a->addr, &s.c[0].addr, sizeof(a->addr)), 0);
	cr_assert_eq(a->prefix, 32);
	cr_assert_str_empty(a->key);
	cr_assert_not(a->is_quota);
	cr_assert_eq(a->ts_ns, s.wall);
	cr_assert_float_eq(OBS(a, "requests_per_sec"), 412.0, 1e-9);
	cr_assert_float_eq(REF(a, "mean_requests_per_sec"), 20.0, 1e-6);
	cr_assert_float_eq(REF(a, "stddev"), 0.0, 1e-6);
	cr_assert_gt(OBS(a, "z_score"), 4.0);
	sim_fini(&s);
}

Test(rate_spike, ipv6_client_reports_its_prefix)
{
	struct sim s;
	const struct tg_anomaly *a;

	sim_init(&s);
	sim_start(&s);
	sim_client(&s, addr("fd00:198:18::"));
	run(&s, TG_AN_RATE_SPIKE, 40, 20);
	cr_assert_eq(run(&s, TG_AN_RATE_SPIKE, 1, 400), 1);
	a = find(&s, TG_AN_RATE_SPIKE);
	cr_assert_eq(a->prefix, 64);
	sim_fini(&s);
}

Test(rate_spike, brand_new_client_cannot_fire)
{
	struct sim s;

	sim_init(&s);
	s.cfg.det[TG_AN_RATE_SPIKE].warmup = 0;
	sim_start(&s);
	sim_scan(&s);
	sim_client(&s, addr("198.18.0.3"));
	cr_assert_eq(run(&s, TG_AN_RATE_SPIKE, 1, 5000), 0);
	sim_fini(&s);
}

Test(rate_spike, severity_from_config)
{
	struct sim s;

	sim_init(&s);
	s.cfg.det[TG_AN_RATE_SPIKE].severity = TG_SEV_CRITICAL;
	sim_start(&s);
	sim_client(&s, addr("198.18.0.3"));
	run(&s, TG_AN_RATE_SPIKE, 40, 20);
	run(&s, TG_AN_RATE_SPIKE, 1, 412);
	cr_assert_eq(find(&s, TG_AN_RATE_SPIKE)->severity, TG_SEV_CRITICAL);
	sim_fini(&s);
}

Test(rate_spike, a_spike_does_not_poison_the_baseline_quickly)
{
	struct sim s;

	sim_init(&s);
	sim_start(&s);
	sim_client(&s, addr("198.18.0.3"));
	run(&s, TG_AN_RATE_SPIKE, 40, 20);
	cr_assert_eq(run(&s, TG_AN_RATE_SPIKE, 15, 400), 15);
	/* a lasting new level is learned in the end */
	run(&s, TG_AN_RATE_SPIKE, 300, 400);
	cr_assert_eq(run(&s, TG_AN_RATE_SPIKE, 10, 400), 0);
	sim_fini(&s);
}

Test(rate_spike, once_per_scan_per_client)
{
	struct sim s;

	sim_init(&s);
	sim_start(&s);
	sim_client(&s, addr("198.18.0.3"));
	run(&s, TG_AN_RATE_SPIKE, 40, 20);
	/* the same client twice in one scan's input */
	traffic(&s, 0, 400, 200, 1);
	s.c[1] = s.c[0];
	s.n = 2;
	sim_scan(&s);
	cr_assert_eq(count(&s, TG_AN_RATE_SPIKE), 1);
	sim_fini(&s);
}

/* ---- global_rate_spike ------------------------------------------------- */

Test(global_rate_spike, spike_fires_steady_does_not)
{
	struct sim s;
	const struct tg_anomaly *a;

	sim_init(&s);
	sim_start(&s);
	cr_assert_eq(run(&s, TG_AN_GLOBAL_RATE_SPIKE, 100, 300), 0);
	cr_assert_eq(run(&s, TG_AN_GLOBAL_RATE_SPIKE, 1, 2000), 1);
	a = find(&s, TG_AN_GLOBAL_RATE_SPIKE);
	cr_assert_not(a->has_addr);
	cr_assert_str_empty(a->key);
	cr_assert_float_eq(OBS(a, "requests_per_sec"), 2000, 1e-9);
	cr_assert_float_eq(REF(a, "mean_requests_per_sec"), 300, 1e-6);
	sim_fini(&s);
}

/* ---- payload_outlier --------------------------------------------------- */

Test(payload_outlier, outlier_after_baseline_fires)
{
	struct sim s;
	const struct tg_anomaly *a;

	sim_init(&s);
	sim_start(&s);
	sim_client(&s, addr("198.18.0.4"));
	cr_assert_eq(run(&s, TG_AN_PAYLOAD_OUTLIER, 40, 10, 500), 0);
	cr_assert_eq(run(&s, TG_AN_PAYLOAD_OUTLIER, 1, 10, 20000), 1);
	a = find(&s, TG_AN_PAYLOAD_OUTLIER);
	cr_assert_float_eq(OBS(a, "mean_request_bytes"), 20000, 1e-9);
	cr_assert_float_eq(OBS(a, "requests"), 10, 1e-9);
	cr_assert_float_eq(OBS(a, "largest_bucket_bytes"), 16384, 1e-9);
	cr_assert_float_eq(REF(a, "mean_request_bytes"), 500, 1e-6);
	sim_fini(&s);
}

/* ---- quota_near -------------------------------------------------------- */

static void bucket(struct sim *s, const char *name, double limit_rps, double limit_bps,
		   const char *client)
{
	struct tg_detect_bucket *b = &s->b[s->nb++];

	memset(b, 0, sizeof(*b));
	b->key.qid = (uint32_t)s->nb;
	snprintf(b->name, sizeof(b->name), "%s", name);
	b->limit_rps = limit_rps;
	b->limit_bps = limit_bps;
	if (client) {
		b->addr_bucket = true;
		b->key.addr = addr(client);
	}
}

Test(quota_near, fires_after_consecutive_intervals)
{
	struct sim s;
	const struct tg_anomaly *a;

	sim_init(&s);
	sim_start(&s);
	bucket(&s, "gold", 100, 0, NULL);
	run(&s, TG_AN_QUOTA_NEAR, 5, 10, 0);
	cr_assert_eq(run(&s, TG_AN_QUOTA_NEAR, 2, 90, 0), 0, "2 of 3 intervals");
	cr_assert_eq(run(&s, TG_AN_QUOTA_NEAR, 1, 90, 0), 1);
	a = find(&s, TG_AN_QUOTA_NEAR);
	cr_assert_eq(a->severity, TG_SEV_INFO);
	cr_assert_not(a->has_addr);
	cr_assert_str_eq(a->key, "gold");
	cr_assert(a->is_quota);
	cr_assert_float_eq(OBS(a, "requests_per_sec"), 90, 1e-9);
	cr_assert_float_eq(OBS(a, "percent_of_quota"), 90, 1e-9);
	cr_assert_float_eq(REF(a, "requests_per_sec"), 100, 1e-9);
	/* one gap restarts the count */
	run(&s, TG_AN_QUOTA_NEAR, 1, 10, 0);
	cr_assert_eq(run(&s, TG_AN_QUOTA_NEAR, 2, 95, 0), 0);
	sim_fini(&s);
}

Test(quota_near, bytes_and_per_address_bucket)
{
	struct sim s;
	const struct tg_anomaly *a;

	sim_init(&s);
	sim_start(&s);
	bucket(&s, "default", 0, 1000000, "198.18.0.7");
	run(&s, TG_AN_QUOTA_NEAR, 1, 1, 0);
	cr_assert_eq(run(&s, TG_AN_QUOTA_NEAR, 3, 1, 850000), 1);
	a = find(&s, TG_AN_QUOTA_NEAR);
	cr_assert(a->has_addr);
	cr_assert_eq(a->prefix, 32);
	cr_assert_str_eq(a->key, "default");
	cr_assert_float_eq(REF(a, "bytes_per_sec"), 1000000, 1e-9);
	sim_fini(&s);
}

/* ---- quota_exhausted and denied --------------------------------------- */

static struct tg_detect_denial denial(int type, int action)
{
	struct tg_detect_denial e;

	memset(&e, 0, sizeof(e));
	e.type = type;
	e.action = action;
	e.enforced = true;
	e.client = addr("198.18.0.2");
	e.prefix = 32;
	snprintf(e.name, sizeof(e.name), "gold");
	e.denied = 12;
	e.limit_rps = 10;
	e.burst = 20;
	e.max_connections = 4;
	e.ts_wall_ns = 1800000000ull * SEC;
	return e;
}

Test(denial, quota_exhausted)
{
	struct tg_detector *d = tg_detect_new(NULL);
	struct tg_detect_denial e = denial(TG_EV_DENY_REQUEST, TG_ACTION_DROP);
	struct tg_anomaly a;
	struct tg_detect_stats st;

	cr_assert_eq(tg_detect_denial(d, &e, &a), 1);
	cr_assert_eq(a.type, TG_AN_QUOTA_EXHAUSTED);
	cr_assert_eq(a.severity, TG_SEV_WARNING);
	cr_assert(a.has_addr);
	cr_assert_eq(a.prefix, 32);
	cr_assert_str_eq(a.key, "gold");
	cr_assert(a.is_quota);
	cr_assert_eq(a.ts_ns, e.ts_wall_ns);
	cr_assert_float_eq(OBS(&a, "denied"), 12, 1e-9);
	cr_assert_float_eq(OBS(&a, "enforced"), 1, 1e-9);
	cr_assert_float_eq(REF(&a, "requests_per_sec"), 10, 1e-9);
	cr_assert_float_eq(REF(&a, "burst"), 20, 1e-9);

	e = denial(TG_EV_MAX_CONNS, TG_ACTION_MONITOR);
	e.enforced = false;
	cr_assert_eq(tg_detect_denial(d, &e, &a), 1);
	cr_assert_eq(a.type, TG_AN_QUOTA_EXHAUSTED);
	cr_assert_float_eq(OBS(&a, "enforced"), 0, 1e-9);
	cr_assert_float_eq(REF(&a, "max_connections"), 4, 1e-9);
	tg_detect_stats(d, &st);
	cr_assert_eq(st.fired[TG_AN_QUOTA_EXHAUSTED], 2);
	tg_detect_free(d);
}

Test(denial, denied_and_api_key_without_entry)
{
	struct tg_detector *d = tg_detect_new(NULL);
	struct tg_detect_denial e = denial(TG_EV_DENY_REQUEST, TG_ACTION_DENY);
	struct tg_anomaly a;

	cr_assert_eq(tg_detect_denial(d, &e, &a), 1);
	cr_assert_eq(a.type, TG_AN_DENIED);
	e.name[0] = '\0';
	e.key_hash = 0x0123456789abcdefull;
	cr_assert_eq(tg_detect_denial(d, &e, &a), 1);
	cr_assert_str_eq(a.key, "key:0123456789abcdef");
	tg_detect_free(d);
}

Test(denial, disabled)
{
	struct tg_anomaly_config cfg;
	struct tg_detector *d;
	struct tg_detect_denial e = denial(TG_EV_DENY_REQUEST, TG_ACTION_DROP);
	struct tg_anomaly a;

	tg_detect_config_defaults(&cfg);
	cfg.det[TG_AN_QUOTA_EXHAUSTED].enabled = false;
	d = tg_detect_new(&cfg);
	cr_assert_eq(tg_detect_denial(d, &e, &a), 0);
	e.action = TG_ACTION_DENY;
	cr_assert_eq(tg_detect_denial(d, &e, &a), 1, "denied is its own detector");
	tg_detect_free(d);
}

/* ---- new_client_surge -------------------------------------------------- */

Test(new_client_surge, surge_fires_steady_does_not)
{
	struct sim s;
	const struct tg_anomaly *a;

	sim_init(&s);
	sim_start(&s);
	next_client = 1;
	cr_assert_eq(run(&s, TG_AN_NEW_CLIENT_SURGE, 40, 2), 0);
	cr_assert_eq(run(&s, TG_AN_NEW_CLIENT_SURGE, 1, 200), 1);
	a = find(&s, TG_AN_NEW_CLIENT_SURGE);
	cr_assert_not(a->has_addr);
	cr_assert_float_eq(OBS(a, "new_clients"), 200, 1e-9);
	cr_assert_float_eq(REF(a, "mean_new_clients"), 2, 1e-6);
	sim_fini(&s);
}

Test(new_client_surge, known_clients_are_not_new)
{
	struct sim s;

	sim_init(&s);
	sim_start(&s);
	next_client = 1;
	run(&s, TG_AN_NEW_CLIENT_SURGE, 40, 1);
	/* 300 clients that were seen long ago and forgotten come back */
	for (int j = 0; j < 300; j++) {
		size_t i = sim_client(&s, addr_n(10000 + (uint32_t)j));

		s.c[i].first_seen_ns = 1000 * SEC;
		traffic(&s, i, 1, 100, 1);
	}
	sim_scan(&s);
	cr_assert_eq(count(&s, TG_AN_NEW_CLIENT_SURGE), 0);
	sim_fini(&s);
}

/* ---- connection_churn -------------------------------------------------- */

Test(connection_churn, many_syns_few_requests)
{
	struct sim s;
	const struct tg_anomaly *a;

	sim_init(&s);
	sim_start(&s);
	sim_client(&s, addr("198.18.0.5"));
	cr_assert_eq(run(&s, TG_AN_CONNECTION_CHURN, 10, 50, 50), 0, "one request per connection");
	cr_assert_eq(run(&s, TG_AN_CONNECTION_CHURN, 1, 1, 50), 1);
	a = find(&s, TG_AN_CONNECTION_CHURN);
	cr_assert_float_eq(OBS(a, "syns_per_sec"), 50, 1e-9);
	cr_assert_float_eq(OBS(a, "requests_per_syn"), 0.02, 1e-9);
	cr_assert_float_eq(REF(a, "max_requests_per_syn"), 0.1, 1e-9);
	sim_fini(&s);
}

/* ---- error_surge ------------------------------------------------------- */

Test(error_surge, errors_fire)
{
	struct sim s;
	const struct tg_anomaly *a;

	sim_init(&s);
	sim_start(&s);
	sim_client(&s, addr("198.18.0.6"));
	cr_assert_eq(run(&s, TG_AN_ERROR_SURGE, 10, 20, 0, 0), 0, "all fine");
	cr_assert_eq(run(&s, TG_AN_ERROR_SURGE, 1, 5, 10, 5), 1);
	a = find(&s, TG_AN_ERROR_SURGE);
	cr_assert_float_eq(OBS(a, "errors_per_sec"), 15, 1e-9);
	cr_assert_float_eq(OBS(a, "error_ratio"), 0.75, 1e-9);
	cr_assert_float_eq(OBS(a, "status_429_per_sec"), 10, 1e-9);
	cr_assert_float_eq(OBS(a, "status_5xx_per_sec"), 5, 1e-9);
	sim_fini(&s);
}

/* ---- what must not fire: one table ------------------------------------ */

/* Every detector that watches a series holds fire while it warms up, below
 * its floors, when its counters go back (a reset, not a spike) and when it
 * is disabled. One row a case: the detector, what differs from the default
 * config, and steps in order on one simulated gateway; a step runs the
 * detector's series (figures in p, as interval() takes them) for some
 * scans and checks how often it fired. */

#define MAX_STEPS 5
#define ANY (-1)           /* a step that is not checked: a baseline */
#define COUNTERS_BACK (-1) /* a step's scans: counters go back, one scan */

enum setup { AS_DEFAULT, DISABLED, ONE_INTERVAL, NO_LIMIT };

struct step {
	int scans;
	uint64_t p[3];
	int want;     /* anomalies of the detector over the step, or ANY */
	char why[40]; /* the assertion's message */
};

/* Criterion hands a parameter to the test's process as bytes: no pointers. */
struct quiet_case {
	int det;
	char name[48];
	enum setup setup;
	struct step steps[MAX_STEPS]; /* up to the first with no scans */
};

#define FEED(n, ...) { n, { __VA_ARGS__ }, ANY, "" }
#define QUIET(n, why, ...) { n, { __VA_ARGS__ }, 0, why }
#define FIRES(n, ...) { n, { __VA_ARGS__ }, (n), "fires" }
#define RESET(why) { COUNTERS_BACK, { 0 }, 0, why }

static struct quiet_case quiet_cases[] = {
	{ TG_AN_RATE_SPIKE, "steady", AS_DEFAULT, { QUIET(120, "steady", 20) } },
	{ TG_AN_RATE_SPIKE, "warm-up", AS_DEFAULT,
	  { FEED(20, 20), QUIET(1, "20 of 30 warm-up scans", 412) } },
	{ TG_AN_RATE_SPIKE, "floor", AS_DEFAULT,
	  { FEED(40, 1), QUIET(1, "4 req/s is below 5", 4), FIRES(1, 8) } },
	{ TG_AN_RATE_SPIKE, "factor", AS_DEFAULT,
	  { FEED(40, 100), QUIET(1, "2.5 x is below 3 x", 250) } },
	{ TG_AN_RATE_SPIKE, "disabled", DISABLED, { FEED(40, 20), QUIET(3, "disabled", 412) } },
	{ TG_AN_RATE_SPIKE, "counter reset", AS_DEFAULT,
	  { FEED(40, 20), RESET("reset"), QUIET(20, "after the reset", 20) } },
	{ TG_AN_GLOBAL_RATE_SPIKE, "warm-up", AS_DEFAULT,
	  { FEED(10, 300), QUIET(1, "warm-up", 3000) } },
	{ TG_AN_GLOBAL_RATE_SPIKE, "floor", AS_DEFAULT,
	  { FEED(40, 5), QUIET(1, "below 50 req/s", 45) } },
	{ TG_AN_GLOBAL_RATE_SPIKE, "disabled", DISABLED,
	  { FEED(40, 300), QUIET(1, "disabled", 3000) } },
	{ TG_AN_PAYLOAD_OUTLIER, "steady", AS_DEFAULT, { QUIET(60, "steady", 10, 5000) } },
	{ TG_AN_PAYLOAD_OUTLIER, "idle intervals do not count toward the warm-up", AS_DEFAULT,
	  { FEED(5, 10, 500), FEED(30, 0, 500),
	    QUIET(1, "4 of 10 intervals with requests", 10, 20000),
	    /* that one taught the baseline a wide spread: let it settle */
	    FEED(40, 10, 500), FIRES(1, 10, 20000) } },
	{ TG_AN_PAYLOAD_OUTLIER, "floor", AS_DEFAULT,
	  { FEED(20, 10, 100), QUIET(1, "below 4096 bytes", 10, 4000) } },
	{ TG_AN_PAYLOAD_OUTLIER, "disabled", DISABLED,
	  { FEED(20, 10, 500), QUIET(1, "disabled", 10, 20000) } },
	{ TG_AN_PAYLOAD_OUTLIER, "counter reset", AS_DEFAULT,
	  { FEED(20, 10, 500), RESET("reset"), QUIET(5, "after the reset", 10, 500) } },
	{ TG_AN_QUOTA_NEAR, "below the percent, reset", ONE_INTERVAL,
	  { QUIET(20, "70 %", 70, 0), RESET("reset"), QUIET(2, "after the reset", 10, 0),
	    { 1, { 85, 0 }, 1, "one interval is enough here" } } },
	{ TG_AN_QUOTA_NEAR, "unlimited", NO_LIMIT, { QUIET(10, "unlimited", 100000, 0) } },
	{ TG_AN_QUOTA_NEAR, "disabled", DISABLED, { QUIET(10, "disabled", 99, 0) } },
	{ TG_AN_NEW_CLIENT_SURGE, "warm-up", AS_DEFAULT,
	  { FEED(10, 2), QUIET(1, "warm-up", 200) } },
	{ TG_AN_NEW_CLIENT_SURGE, "floor", AS_DEFAULT,
	  { FEED(40, 0), QUIET(1, "below 50 new clients", 40) } },
	{ TG_AN_NEW_CLIENT_SURGE, "disabled", DISABLED,
	  { FEED(40, 2), QUIET(1, "disabled", 200) } },
	{ TG_AN_CONNECTION_CHURN, "floor, reset", AS_DEFAULT,
	  { QUIET(5, "15 SYN/s is below 20", 0, 15), RESET("reset") } },
	{ TG_AN_CONNECTION_CHURN, "disabled", DISABLED, { QUIET(5, "disabled", 0, 100) } },
	{ TG_AN_ERROR_SURGE, "ratio, floor, reset", AS_DEFAULT,
	  { QUIET(5, "10 % errors", 90, 10, 0), QUIET(5, "4 errors/s is below 5", 0, 4, 0),
	    RESET("reset") } },
	{ TG_AN_ERROR_SURGE, "disabled", DISABLED, { QUIET(5, "disabled", 0, 50, 50) } },
};

/* What the case watches: client 0 (its address by detector), quota
 * bucket 0, new clients, or the gateway as a whole. */
static const char *const client_of[TG_AN_MAX] = {
	[TG_AN_RATE_SPIKE] = "198.18.0.3",
	[TG_AN_PAYLOAD_OUTLIER] = "198.18.0.4",
	[TG_AN_CONNECTION_CHURN] = "198.18.0.5",
	[TG_AN_ERROR_SURGE] = "198.18.0.6",
};

static void subject(struct sim *s, const struct quiet_case *q)
{
	if (client_of[q->det])
		sim_client(s, addr(client_of[q->det]));
	if (q->det == TG_AN_QUOTA_NEAR) {
		if (q->setup == NO_LIMIT)
			bucket(s, "open", 0, 0, NULL);
		else
			bucket(s, "gold", 100, 0, NULL);
	}
	if (q->det == TG_AN_NEW_CLIENT_SURGE)
		next_client = 1;
}

/* The subject's counters go back (its entry was evicted and made anew). */
static void counters_back(struct sim *s, int det)
{
	switch (det) {
	case TG_AN_RATE_SPIKE:
		/* counters restart small: a naive difference would be near 2^64 */
		s->c[0].requests = 7;
		s->c[0].payload_bytes = 700;
		s->c[0].syns = 1;
		/* whatever rate the collector made of it */
		s->c[0].requests_per_sec = 1e6;
		return;
	case TG_AN_PAYLOAD_OUTLIER:
		/* payload went back but requests did not: still a reset */
		s->c[0].payload_bytes = 10;
		s->c[0].requests += 1;
		return;
	case TG_AN_QUOTA_NEAR:
		s->b[0].allowed = 3;
		return;
	case TG_AN_CONNECTION_CHURN:
		s->c[0].syns = 0;
		return;
	case TG_AN_ERROR_SURGE:
		s->r[0].responses = 1;
		s->r[0].status[TG_ST_429] = 1;
		s->r[0].status[TG_ST_5XX] = 0;
		return;
	}
	cr_assert_fail("no counters to reset for %s", tg_anomaly_type_name(det));
}

ParameterizedTestParameters(quiet, holds)
{
	return cr_make_param_array(struct quiet_case, quiet_cases,
				   sizeof(quiet_cases) / sizeof(quiet_cases[0]));
}

ParameterizedTest(struct quiet_case *q, quiet, holds)
{
	struct sim s;

	sim_init(&s);
	if (q->setup == DISABLED)
		s.cfg.det[q->det].enabled = false;
	if (q->setup == ONE_INTERVAL)
		s.cfg.det[q->det].intervals = 1;
	sim_start(&s);
	subject(&s, q);
	for (int i = 0; i < MAX_STEPS && q->steps[i].scans; i++) {
		const struct step *st = &q->steps[i];
		int fired;

		if (st->scans == COUNTERS_BACK) {
			counters_back(&s, q->det);
			sim_scan(&s);
			fired = count(&s, q->det);
		} else {
			fired = run_series(&s, q->det, st->scans, st->p);
		}
		if (st->want != ANY)
			cr_assert_eq(fired, st->want, "%s, %s, step %d: %s",
				     tg_anomaly_type_name(q->det), q->name, i + 1,
				     st->why);
	}
	sim_fini(&s);
}

/* ---- key_shared and key_rotation --------------------------------------- */

static void keyuse(struct sim *s, uint64_t hash, struct tg_addr a, uint64_t n, const char *name)
{
	for (size_t i = 0; i < s->nk; i++)
		if (s->k[i].key_hash == hash && memcmp(&s->k[i].addr, &a, sizeof(a)) == 0) {
			s->k[i].requests += n;
			return;
		}
	memset(&s->k[s->nk], 0, sizeof(s->k[0]));
	s->k[s->nk].key_hash = hash;
	s->k[s->nk].addr = a;
	s->k[s->nk].requests = n;
	snprintf(s->k[s->nk].name, sizeof(s->k[0].name), "%s", name);
	s->nk++;
}

Test(key_shared, one_key_from_many_addresses)
{
	struct sim s;
	const struct tg_anomaly *a;

	sim_init(&s);
	sim_start(&s);
	sim_scan(&s);
	for (uint32_t i = 0; i < 8; i++)
		keyuse(&s, 0xabcdull, addr_n(i), 5, "");
	sim_scan(&s);
	cr_assert_eq(count(&s, TG_AN_KEY_SHARED), 0, "8 addresses");
	for (uint32_t i = 8; i < 14; i++)
		keyuse(&s, 0xabcdull, addr_n(i), 5, "");
	sim_scan(&s);
	cr_assert_eq(count(&s, TG_AN_KEY_SHARED), 1);
	a = find(&s, TG_AN_KEY_SHARED);
	cr_assert_not(a->has_addr);
	cr_assert_str_eq(a->key, "key:000000000000abcd");
	cr_assert_float_eq(OBS(a, "addresses"), 14, 1e-9);
	cr_assert_float_eq(REF(a, "max_addresses"), 10, 1e-9);
	cr_assert_eq(count(&s, TG_AN_KEY_ROTATION), 0);
	sim_fini(&s);
}

Test(key_shared, window_slides)
{
	struct sim s;
	int fired = 0;

	sim_init(&s);
	sim_start(&s);
	sim_scan(&s);
	/* a new address every 2 s: never more than 5 within 10 s */
	for (uint32_t i = 0; i < 30; i++) {
		keyuse(&s, 7, addr_n(i), 1, "team-a");
		sim_scan(&s);
		fired += count(&s, TG_AN_KEY_SHARED);
		sim_scan(&s);
		fired += count(&s, TG_AN_KEY_SHARED);
	}
	cr_assert_eq(fired, 0);
	/* now 12 at once, by name */
	for (uint32_t i = 100; i < 112; i++)
		keyuse(&s, 7, addr_n(i), 1, "team-a");
	sim_scan(&s);
	cr_assert_eq(count(&s, TG_AN_KEY_SHARED), 1);
	cr_assert_str_eq(find(&s, TG_AN_KEY_SHARED)->key, "team-a");
	sim_fini(&s);
}

Test(key_shared, pairs_present_at_start_are_not_fresh_use)
{
	struct sim s;

	sim_init(&s);
	sim_start(&s);
	for (uint32_t i = 0; i < 20; i++)
		keyuse(&s, 9, addr_n(i), 3, "");
	sim_scan(&s);
	sim_scan(&s);
	cr_assert_eq(count(&s, TG_AN_KEY_SHARED), 0);
	sim_fini(&s);
}

Test(key_rotation, one_address_many_keys)
{
	struct sim s;
	const struct tg_anomaly *a;

	sim_init(&s);
	sim_start(&s);
	sim_scan(&s);
	for (uint64_t k = 1; k <= 5; k++)
		keyuse(&s, k, addr("198.18.0.9"), 1, "");
	sim_scan(&s);
	cr_assert_eq(count(&s, TG_AN_KEY_ROTATION), 0, "5 keys");
	keyuse(&s, 6, addr("198.18.0.9"), 1, "");
	sim_scan(&s);
	cr_assert_eq(count(&s, TG_AN_KEY_ROTATION), 1);
	a = find(&s, TG_AN_KEY_ROTATION);
	cr_assert(a->has_addr);
	cr_assert_eq(a->prefix, 32);
	cr_assert_str_empty(a->key);
	cr_assert_float_eq(OBS(a, "keys"), 6, 1e-9);
	cr_assert_float_eq(REF(a, "max_keys"), 5, 1e-9);
	/* no further use: out of the window after 10 scans */
	for (int i = 0; i < 9; i++)
		sim_scan(&s);
	sim_scan(&s);
	cr_assert_eq(count(&s, TG_AN_KEY_ROTATION), 0);
	sim_fini(&s);
}

Test(key_rotation, disabled)
{
	struct sim s;

	sim_init(&s);
	s.cfg.det[TG_AN_KEY_ROTATION].enabled = false;
	s.cfg.det[TG_AN_KEY_SHARED].enabled = false;
	sim_start(&s);
	sim_scan(&s);
	for (uint64_t k = 1; k <= 20; k++)
		keyuse(&s, k, addr("198.18.0.9"), 1, "");
	for (uint32_t i = 0; i < 20; i++)
		keyuse(&s, 1, addr_n(i), 1, "");
	sim_scan(&s);
	cr_assert_eq(s.nout, 0);
	sim_fini(&s);
}

/* ---- state, output bound, scale --------------------------------------- */

Test(state, shrinks_when_entries_go_idle)
{
	struct sim s;
	struct tg_detect_stats st;

	sim_init(&s);
	sim_start(&s);
	for (uint32_t i = 0; i < 1000; i++)
		sim_client(&s, addr_n(i));
	bucket(&s, "gold", 100, 0, NULL);
	for (int scan = 0; scan < 5; scan++) {
		for (size_t i = 0; i < s.n; i++)
			traffic(&s, i, 2, 100, 1);
		s.b[0].allowed += 10;
		for (uint32_t i = 0; i < 50; i++)
			keyuse(&s, 1 + i % 3, addr_n(i), 1, "");
		sim_scan(&s);
	}
	tg_detect_stats(s.d, &st);
	cr_assert_eq(st.clients, 1000);
	cr_assert_eq(st.buckets, 1);
	cr_assert_eq(st.keys, 3);
	/* half stay listed but idle, half vanish from the input; the key
	 * pairs vanish too */
	s.n = 500;
	s.nk = 0;
	for (int scan = 0; scan < TG_DETECT_IDLE_INTERVALS - 1; scan++)
		sim_scan(&s);
	tg_detect_stats(s.d, &st);
	cr_assert_eq(st.clients, 1000, "not idle long enough yet");
	sim_scan(&s);
	tg_detect_stats(s.d, &st);
	cr_assert_eq(st.clients, 0);
	cr_assert_eq(st.buckets, 0);
	cr_assert_eq(st.keys, 0);
	/* a listed idle client is not taken back; an active one is */
	traffic(&s, 3, 1, 100, 0);
	sim_scan(&s);
	tg_detect_stats(s.d, &st);
	cr_assert_eq(st.clients, 1);
	sim_fini(&s);
}

Test(state, output_bound_counts_suppressed)
{
	struct sim s;
	struct tg_anomaly out[2];
	struct tg_detect_stats st;
	struct tg_detect_input in;

	sim_init(&s);
	sim_start(&s);
	for (uint32_t i = 0; i < 5; i++)
		sim_client(&s, addr_n(i));
	sim_scan(&s);
	for (size_t i = 0; i < s.n; i++)
		traffic(&s, i, 1, 100, 50); /* churn for all five */
	memset(&in, 0, sizeof(in));
	in.dt = 1;
	in.clients = s.c;
	in.n_clients = s.n;
	cr_assert_eq(tg_detect_scan(s.d, &in, out, 2), 2);
	tg_detect_stats(s.d, &st);
	cr_assert_eq(st.fired[TG_AN_CONNECTION_CHURN], 5);
	cr_assert_eq(st.suppressed, 3);
	sim_fini(&s);
}

Test(state, reload_keeps_learned_baselines)
{
	struct sim s;
	struct tg_anomaly_config cfg;

	sim_init(&s);
	sim_start(&s);
	sim_client(&s, addr("198.18.0.3"));
	run(&s, TG_AN_RATE_SPIKE, 40, 20);
	tg_detect_config_defaults(&cfg);
	cfg.det[TG_AN_RATE_SPIKE].factor = 10;
	tg_detect_configure(s.d, &cfg);
	cr_assert_eq(run(&s, TG_AN_RATE_SPIKE, 1, 100), 0, "5 x is now below 10 x");
	cr_assert_eq(run(&s, TG_AN_RATE_SPIKE, 1, 400), 1, "still warm");
	sim_fini(&s);
}

Test(state, no_input_is_harmless)
{
	struct tg_detector *d = tg_detect_new(NULL);
	struct tg_detect_input in;
	struct tg_anomaly a;

	memset(&in, 0, sizeof(in));
	in.n_clients = 5; /* with a NULL array */
	in.dt = -1;
	cr_assert_eq(tg_detect_scan(d, &in, &a, 1), 0);
	cr_assert_eq(tg_detect_scan(d, &in, NULL, 0), 0);
	cr_assert_eq(tg_detect_scan(NULL, &in, &a, 1), 0);
	cr_assert_eq(tg_detect_denial(d, NULL, &a), 0);
	tg_detect_free(NULL);
	tg_detect_free(d);
}

/* 100k clients through a few scans: each scan is linear in its input (one
 * hash lookup per client), so this completes in a blink even under the
 * sanitizers. No timing is asserted. */
Test(scale, hundred_thousand_clients, .timeout = 60)
{
	enum { N = 100000 };
	struct tg_client_view *c = calloc(N, sizeof(*c));
	struct tg_detector *d = tg_detect_new(NULL);
	struct tg_anomaly out[64];
	struct tg_detect_input in;
	struct tg_detect_stats st;
	size_t fired = 0;

	cr_assert(c && d);
	for (uint32_t i = 0; i < N; i++) {
		c[i].addr = addr_n(i);
		c[i].first_seen_ns = SEC;
	}
	for (int scan = 0; scan < 5; scan++) {
		for (uint32_t i = 0; i < N; i++) {
			c[i].requests += 1 + i % 7;
			c[i].payload_bytes += (1 + i % 7) * 300;
			c[i].syns += 1;
			c[i].last_seen_ns = (uint64_t)(scan + 2) * SEC;
			c[i].requests_per_sec = 1 + i % 7;
		}
		memset(&in, 0, sizeof(in));
		in.now_wall_ns = 1800000000ull * SEC + (uint64_t)scan * SEC;
		in.dt = scan ? 1 : 0;
		in.clients = c;
		in.n_clients = N;
		fired += tg_detect_scan(d, &in, out, 64);
	}
	tg_detect_stats(d, &st);
	cr_assert_eq(st.clients, N);
	cr_assert_eq(fired, 0);
	tg_detect_free(d);
	free(c);
}

Test(names, key_hash_name_and_types)
{
	char buf[TG_AN_KEY_LEN];

	tg_key_hash_name(0xfedcba9876543210ull, buf, sizeof(buf));
	cr_assert_str_eq(buf, "key:fedcba9876543210");
	tg_key_hash_name(1, buf, 8);
	cr_assert_str_eq(buf, "key:000");
	for (int t = 0; t < TG_AN_MAX; t++)
		cr_assert_eq(tg_anomaly_type_parse(tg_anomaly_type_name(t)), t);
	cr_assert_null(tg_anomaly_type_name(TG_AN_MAX));
	cr_assert_null(tg_anomaly_type_name(-1));
	cr_assert_eq(tg_anomaly_type_parse("nope"), -1);
	cr_assert_str_eq(tg_severity_name(TG_SEV_CRITICAL), "critical");
	cr_assert_eq(tg_severity_parse("info"), TG_SEV_INFO);
	cr_assert_eq(tg_severity_parse("fatal"), -1);
	cr_assert_eq(tg_severity_parse(NULL), -1);
	cr_assert_null(tg_severity_name(3));
}

Test(scale, client_state_bounded, .timeout = 60)
{
	enum { N = TG_DETECT_MAX_CLIENTS + 1000 };
	struct tg_client_view *c = calloc(N, sizeof(*c));
	struct tg_detector *d = tg_detect_new(NULL);
	struct tg_anomaly out[64];
	struct tg_detect_input in;
	struct tg_detect_stats st;

	cr_assert(c && d);
	for (uint32_t i = 0; i < N; i++) {
		c[i].addr = addr_n(i);
		c[i].first_seen_ns = c[i].last_seen_ns = SEC;
		c[i].requests = 1;
	}
	memset(&in, 0, sizeof(in));
	in.now_wall_ns = 1800000000ull * SEC;
	in.clients = c;
	in.n_clients = N;
	tg_detect_scan(d, &in, out, 64);
	tg_detect_stats(d, &st);
	cr_assert_eq(st.clients, TG_DETECT_MAX_CLIENTS);
	cr_assert_eq(st.clients_untracked, 1000);
	/* those with state are still checked: the next scan finds them */
	for (uint32_t i = 0; i < N; i++) {
		c[i].requests++;
		c[i].last_seen_ns = 2 * SEC;
	}
	in.now_wall_ns += SEC;
	in.dt = 1;
	tg_detect_scan(d, &in, out, 64);
	tg_detect_stats(d, &st);
	cr_assert_eq(st.clients, TG_DETECT_MAX_CLIENTS);
	cr_assert_eq(st.clients_untracked, 2000);
	tg_detect_free(d);
	free(c);
}

/* ---- route_scan ---------------------------------------------------------- */

Test(route_scan, estimate_from_clear_bits)
{
	cr_assert_float_eq(tg_path_sketch_estimate(256), 0, 1e-9);
	cr_assert_float_eq(tg_path_sketch_estimate(216), 256 * log(256.0 / 216), 1e-9);
	cr_assert_float_eq(tg_path_sketch_estimate(0), 256 * log(256.0), 1e-9); /* saturated */
	cr_assert_float_eq(tg_path_sketch_estimate(999), 0, 1e-9);               /* clamped */
}

static size_t paths_scan(struct tg_detector *d, const struct tg_detect_paths *p, size_t n,
			 uint64_t window, struct tg_anomaly *out)
{
	struct tg_detect_input in = { .now_wall_ns = 1800000000ull * SEC, .dt = 1.0,
				      .ipv6_prefix = 64, .paths = p, .n_paths = n,
				      .path_window = window };

	return tg_detect_scan(d, &in, out, MAX_OUT);
}

Test(route_scan, fires_once_per_client_and_window)
{
	struct tg_anomaly_config cfg;
	struct tg_anomaly out[MAX_OUT];
	struct tg_detect_paths p[2] = {
		{ addr("198.18.0.7"), 100, 256 - 15 }, /* ~15 paths: below 20 */
		{ addr("198.18.0.8"), 100, 200 },      /* ~63 paths */
	};
	struct tg_detector *d;

	tg_detect_config_defaults(&cfg);
	d = tg_detect_new(&cfg);
	cr_assert_not_null(d);
	cr_assert_eq(paths_scan(d, p, 2, 100, out), 1);
	cr_assert_eq(out[0].type, TG_AN_ROUTE_SCAN);
	cr_assert(out[0].has_addr);
	cr_assert_eq(memcmp(&out[0].addr, &p[1].addr, sizeof(p[1].addr)), 0);
	cr_assert_float_eq(val(out[0].observed, out[0].n_observed, "distinct_paths"),
			   floor(256 * log(256.0 / 200) + 0.5), 1e-9);
	cr_assert_float_eq(val(out[0].reference, out[0].n_reference, "max_paths"), 20, 1e-9);
	/* the same window, read again (also once it has ended): no repeat */
	cr_assert_eq(paths_scan(d, p, 2, 100, out), 0);
	p[1].clear = 150;
	cr_assert_eq(paths_scan(d, p, 2, 101, out), 0);
	/* the next window of the same client fires again */
	p[1].window = 101;
	cr_assert_eq(paths_scan(d, p, 2, 101, out), 1);
	/* a sketch two windows old is stale */
	p[0].window = 99;
	p[0].clear = 10;
	cr_assert_eq(paths_scan(d, p, 1, 101, out), 0);
	tg_detect_free(d);

	/* disabled */
	cfg.det[TG_AN_ROUTE_SCAN].enabled = false;
	d = tg_detect_new(&cfg);
	p[1].window = 100;
	cr_assert_eq(paths_scan(d, p, 2, 100, out), 0);
	tg_detect_free(d);
}

/* ---- rate_spike per (key, model) ----------------------------------------- */

static size_t km_scan(struct tg_detector *d, struct tg_detect_keymodel *k, size_t n,
		      struct tg_anomaly *out)
{
	struct tg_detect_input in = { .now_wall_ns = 1800000000ull * SEC, .dt = 1.0,
				      .ipv6_prefix = 64, .keymodels = k, .n_keymodels = n };

	return tg_detect_scan(d, &in, out, MAX_OUT);
}

Test(rate_spike, per_key_and_model)
{
	struct tg_anomaly_config cfg;
	struct tg_anomaly out[MAX_OUT];
	struct tg_detect_keymodel k[2] = {
		{ .qid = 3, .model = 1, .key = "team-a", .name = "gpt-4o" },
		{ .qid = 3, .model = 2, .key = "team-a", .name = "embed" },
	};
	struct tg_detector *d;
	size_t n;

	tg_detect_config_defaults(&cfg);
	cfg.det[TG_AN_RATE_SPIKE].warmup = 10;
	d = tg_detect_new(&cfg);
	cr_assert_not_null(d);
	/* a steady 6 req/s on each model: learned, never fires */
	for (int i = 0; i < 20; i++) {
		k[0].requests += 6;
		k[1].requests += 6;
		cr_assert_eq(km_scan(d, k, 2, out), 0, "scan %d", i);
	}
	/* gpt-4o jumps to 60 req/s, embed stays */
	k[0].requests += 60;
	k[1].requests += 6;
	n = km_scan(d, k, 2, out);
	cr_assert_eq(n, 1);
	cr_assert_eq(out[0].type, TG_AN_RATE_SPIKE);
	cr_assert_not(out[0].has_addr);
	cr_assert_str_eq(out[0].key, "team-a");
	cr_assert_str_eq(out[0].model, "gpt-4o");
	cr_assert_float_eq(val(out[0].observed, out[0].n_observed, "requests_per_sec"), 60, 1e-9);
	/* counts zeroed (the model id passed to another name): no spike, no
	 * wrapped difference */
	k[0].requests = 0;
	cr_assert_eq(km_scan(d, k, 2, out), 0);
	tg_detect_free(d);

	/* rate_spike disabled: nothing per key and model either */
	cfg.det[TG_AN_RATE_SPIKE].enabled = false;
	d = tg_detect_new(&cfg);
	k[0].requests = 6;
	for (int i = 0; i < 20; i++) {
		k[0].requests += i == 19 ? 600 : 6;
		cr_assert_eq(km_scan(d, k, 1, out), 0);
	}
	tg_detect_free(d);
}
