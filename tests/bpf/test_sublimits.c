/* Sub-limits (kern/sublimit.bpf.h) through the real programs: a request
 * start over its route's limit is refused while its entry has tokens and
 * takes none of them; one the entry refuses takes none from its route;
 * per model through tg_check (the /v1/check program); and two CPUs racing
 * for the same buckets never admit more than the tightest allows, nor
 * leave a refused request's token taken. */

#include <criterion/criterion.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "apikey.h"
#include "bucket.h"
#include "config/config.h"
#include "harness.h"
#include "bpf/quota_plan.h"
#include "lib/addr.h"
#include "lib/clock.h"
#include "lib/keyhash.h"

#define KEY "sk-team-a"
#define QID 1u

static struct tg_config cfg;
static int ids[TG_MAX_ROUTES];
static uint16_t sport = 20000;

static void apply_settings(int mode)
{
	struct tg_settings s;
	__u32 zero = 0;

	cfg.mode = mode;
	tg_settings_build(&s, &cfg, 1);
	cr_assert_eq(bpf_map_update_elem(h_map_fd("tg_settings"), &zero, &s, 0), 0);
}

static void route(const char *name, const char *prefix)
{
	struct tg_route_config *r = &cfg.routes[cfg.n_routes++];

	memset(r, 0, sizeof(*r));
	snprintf(r->name, sizeof(r->name), "%s", name);
	snprintf(r->prefix, sizeof(r->prefix), "%s", prefix);
}

static __u32 id_of(const char *name)
{
	for (int i = 0; i < cfg.n_routes; i++)
		if (!strcmp(cfg.routes[i].name, name))
			return (__u32)ids[i];
	cr_assert_fail("no route %s", name);
	return 0;
}

/* The API-key entry QID: rps/burst of its own, sub-limits on, enforce. */
static void entry(__u64 rps, __u64 burst)
{
	static const char none[TG_ROUTE_IDS][TG_ROUTE_NAME_LEN];
	static struct tg_route_table rt;
	struct tg_quota_entry *e = &cfg.quotas[0];
	__u64 h = tg_apikey_hash(KEY, strlen(KEY));
	__u32 zero = 0, qid = QID;
	struct tg_quota q;

	tg_route_assign_ids(none, &cfg, ids);
	tg_routes_build(&rt, &cfg, ids);
	cr_assert_eq(bpf_map_update_elem(h_map_fd("tg_route_table"), &zero, &rt, 0), 0);
	memset(e, 0, sizeof(*e));
	snprintf(e->name, sizeof(e->name), "team-a");
	e->match = TG_MATCH_API_KEY;
	e->action = TG_ACTION_DROP;
	e->limits.requests_per_sec = rps;
	e->limits.burst = burst;
	cfg.n_quotas = 1;
	cfg.sublimits[0].quota = 0; /* tg_quota_build sets TG_QUOTA_SUBLIMITS */
	cfg.n_sublimits = 1;
	tg_quota_build(&q, &cfg, e);
	cr_assert(q.flags & TG_QUOTA_SUBLIMITS);
	cr_assert_eq(bpf_map_update_elem(h_map_fd("tg_quotas"), &qid, &q, 0), 0);
	cr_assert_eq(bpf_map_update_elem(h_map_fd("tg_apikeys"), &h, &qid, 0), 0);
	apply_settings(TG_MODE_ENFORCE);
}

/* Sub-limit in slot `slot` of QID. */
static void sub(int slot, __u64 rps, __u64 burst)
{
	struct tg_quota q;
	struct tg_sub_limit l;
	struct tg_sub_bucket b = { 0 };
	__u32 idx = QID * TG_SUB_SLOTS + (__u32)slot;

	tg_quota_set_limits(&q, rps, burst, 0, 0, 0);
	l.interval = q.req_interval;
	l.tolerance = q.req_tolerance;
	cr_assert_eq(bpf_map_update_elem(h_map_fd("tg_sub_limits"), &idx, &l, 0), 0);
	cr_assert_eq(bpf_map_update_elem(h_map_fd("tg_sub_buckets"), &idx, &b, 0), 0);
}

static struct tg_sub_bucket sub_bucket(int slot)
{
	struct tg_sub_bucket b;
	__u32 idx = QID * TG_SUB_SLOTS + (__u32)slot;

	cr_assert_eq(bpf_map_lookup_elem(h_map_fd("tg_sub_buckets"), &idx, &b), 0);
	return b;
}

static __s64 sub_tokens(int slot)
{
	struct tg_sub_limit l;
	struct tg_sub_bucket b = sub_bucket(slot);
	__u32 idx = QID * TG_SUB_SLOTS + (__u32)slot;

	cr_assert_eq(bpf_map_lookup_elem(h_map_fd("tg_sub_limits"), &idx, &l), 0);
	return tg_gcra_tokens(b.tat, tg_now_mono_ns(), l.interval, l.tolerance);
}

static struct tg_bucket entry_bucket(void)
{
	struct tg_bucket_key k = { .qid = QID };
	struct tg_bucket b;

	cr_assert_eq(bpf_map_lookup_elem(h_map_fd("tg_buckets"), &k, &b), 0);
	return b;
}

static __s64 entry_tokens(void)
{
	struct tg_quota q;
	__u32 qid = QID;
	struct tg_bucket b = entry_bucket();

	cr_assert_eq(bpf_map_lookup_elem(h_map_fd("tg_quotas"), &qid, &q), 0);
	return tg_gcra_tokens(b.req_tat, tg_now_mono_ns(), q.req_interval, q.req_tolerance);
}

/* A new connection's request start on path with the entry's key. */
static int request(const char *path)
{
	char req[256];
	uint16_t p = sport++;

	snprintf(req, sizeof(req),
		 "POST %s HTTP/1.1\r\nHost: gw\r\nAuthorization: Bearer " KEY "\r\n\r\n", path);
	return h_first_payload("198.18.0.2", p, req, strlen(req));
}

static void setup(void)
{
	struct tg_quota q;
	__u32 zero = 0;

	h_setup();
	tg_config_defaults(&cfg);
	cfg.n_routes = 0;
	cfg.anomaly.det[TG_AN_KEY_SHARED].enabled = false;
	cfg.anomaly.det[TG_AN_KEY_ROTATION].enabled = false;
	tg_quota_build(&q, &cfg, NULL); /* quotas.default: unlimited */
	cr_assert_eq(bpf_map_update_elem(h_map_fd("tg_quotas"), &zero, &q, 0), 0);
	route("chat", "/v1/chat/completions");
	route("embeddings", "/v1/embeddings");
}

TestSuite(sublimits, .init = setup, .fini = h_teardown, .timeout = 120);

Test(sublimits, route_over_its_limit_refused_while_the_entry_has_tokens)
{
	int chat, emb, passed = 0;

	entry(1, 10); /* 10 tokens, one more a second */
	chat = (int)id_of("chat");
	emb = (int)id_of("embeddings");
	sub(chat, 1, 3);
	for (int i = 0; i < 5; i++)
		passed += request("/v1/chat/completions") == TC_PASS;
	cr_assert_eq(passed, 3, "the route's burst of 3");
	cr_assert_eq(sub_bucket(chat).allowed, 3);
	cr_assert_eq(sub_bucket(chat).denied, 2);
	cr_assert_eq(sub_bucket(chat).refunds, 0, "looked at first: no take to give back");
	/* the two refusals took nothing from the entry */
	cr_assert_eq(entry_bucket().allowed, 3);
	cr_assert_eq(entry_bucket().denied, 2);
	cr_assert_eq(entry_tokens(), 7);
	/* ... so another route still gets all 7 */
	passed = 0;
	for (int i = 0; i < 8; i++)
		passed += request("/v1/embeddings") == TC_PASS;
	cr_assert_eq(passed, 7, "the entry's 10 less the 3 admitted chat requests");
	cr_assert_eq(sub_bucket(emb).allowed, 0, "no sub-limit on embeddings: untouched");
	/* a request of no route ("other") is under the entry alone */
	cr_assert_eq(request("/health"), TC_DROP);
}

Test(sublimits, entry_refusal_takes_nothing_from_the_route)
{
	int chat;

	entry(1, 2);
	chat = (int)id_of("chat");
	sub(chat, 1, 5);
	cr_assert_eq(request("/v1/chat/completions"), TC_PASS);
	cr_assert_eq(request("/v1/chat/completions"), TC_PASS);
	cr_assert_eq(request("/v1/chat/completions"), TC_DROP);
	cr_assert_eq(request("/v1/chat/completions"), TC_DROP);
	cr_assert_eq(sub_tokens(chat), 3, "5 less the 2 admitted");
	cr_assert_eq(sub_bucket(chat).allowed, 2);
	cr_assert_eq(sub_bucket(chat).denied, 0, "refused by the entry, not the route");
}

Test(sublimits, route_other_and_monitor_mode)
{
	entry(1, 10);
	sub(TG_ROUTE_OTHER, 1, 1);
	cr_assert_eq(request("/admin"), TC_PASS);
	cr_assert_eq(request("/metrics"), TC_DROP, "route other: burst 1");
	cr_assert_eq(request("/v1/embeddings"), TC_PASS, "a configured route is not other");
	/* monitor: counted as would-deny, passed, nothing taken */
	apply_settings(TG_MODE_MONITOR);
	cr_assert_eq(request("/admin"), TC_PASS);
	cr_assert_eq(entry_bucket().would_deny, 1);
	cr_assert_eq(entry_tokens(), 8);
}

/* ---- through tg_check: route and model as the agent passes them ---------- */

static __u32 check(__u32 route, __u32 model)
{
	__u64 args[TG_CK_NARGS] = { 0 };
	LIBBPF_OPTS(bpf_test_run_opts, o, .ctx_in = args, .ctx_size_in = sizeof(args));
	struct tg_addr a;

	cr_assert_eq(tg_addr_parse("198.18.0.9", &a), 0);
	args[TG_CK_CLIENT_LO] = a.w[0] | (__u64)a.w[1] << 32;
	args[TG_CK_CLIENT_HI] = a.w[2] | (__u64)a.w[3] << 32;
	args[TG_CK_KEY_HASH] = tg_apikey_hash(KEY, strlen(KEY));
	args[TG_CK_SUB] = route | (__u64)model << 16;
	cr_assert_eq(bpf_prog_test_run_opts(bpf_program__fd(skel->progs.tg_check), &o), 0);
	return o.retval;
}

#define SLOT(r) (((r) >> TG_CK_SLOT_SHIFT) & 0xff)

Test(sublimits, check_charges_route_and_model)
{
	int chat;
	__u32 r;

	entry(1, 100);
	chat = (int)id_of("chat");
	sub(chat, 1, 3);
	sub(TG_SUB_MODEL_SLOT(1), 1, 2);            /* per_model gpt-4o (id 1) */
	sub(TG_SUB_MODEL_SLOT(TG_MODEL_OTHER), 1, 1); /* per_model other */
	cr_assert_eq(check((__u32)chat, 1) & TG_CK_DENY, 0);
	cr_assert_eq(check((__u32)chat, 1) & TG_CK_DENY, 0);
	r = check((__u32)chat, 1);
	cr_assert(r & TG_CK_DENY, "gpt-4o's burst of 2");
	cr_assert(r & TG_CK_REFUSED);
	cr_assert_eq(SLOT(r), TG_SUB_MODEL_SLOT(1), "the model's bucket refused");
	cr_assert_eq(r >> TG_CK_QID_SHIFT, QID);
	/* the route's bucket gave nothing for the refusal: one token left */
	cr_assert_eq(sub_tokens(chat), 1);
	/* no model: only the route applies */
	cr_assert_eq(check((__u32)chat, TG_MODEL_NONE) & TG_CK_DENY, 0);
	r = check((__u32)chat, TG_MODEL_NONE);
	cr_assert(r & TG_CK_REFUSED);
	cr_assert_eq(SLOT(r), (__u32)chat, "the route's bucket refused");
	/* an unconfigured model is "other": burst 1 */
	cr_assert_eq(check(TG_ROUTE_OTHER, TG_MODEL_OTHER) & TG_CK_DENY, 0);
	r = check(TG_ROUTE_OTHER, TG_MODEL_OTHER);
	cr_assert_eq(SLOT(r), TG_SUB_MODEL_SLOT(TG_MODEL_OTHER));
	cr_assert_eq(entry_bucket().allowed, 4);
	cr_assert_eq(entry_tokens(), 96, "refusals took no entry token");
}

/* ---- two CPUs racing ------------------------------------------------------ */

#define RACE_ROUNDS 200
#define RACE_TRIES 400

struct racer {
	int cpu;
	__u32 route, model;
	pthread_barrier_t *go;
	int admitted;
};

static void *race(void *arg)
{
	struct racer *r = arg;
	cpu_set_t set;

	CPU_ZERO(&set);
	CPU_SET(r->cpu, &set);
	pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
	pthread_barrier_wait(r->go);
	for (int i = 0; i < RACE_TRIES; i++)
		r->admitted += !(check(r->route, r->model) & TG_CK_DENY);
	return NULL;
}

/* The entry, the route and the model. Even rounds: both CPUs on chat,
 * bursts 60, 40 and 50 (the route the tightest). Odd rounds: one CPU on
 * chat, the other on embeddings (40 each), the model (40) shared: a take
 * can win its route's token and lose the model's last one to the other
 * CPU, and gives the route's back (a refund). What is admitted never
 * exceeds 40 (plus what refills while it runs, at one a second), and every
 * bucket has exactly its burst less what was admitted through it left: a
 * refused request, refunded or not, took nothing. */
Test(sublimits, two_cpus_race_for_the_last_tokens, .timeout = 300)
{
	long refunds = 0;

	cr_assert(ncpus >= 2, "needs two CPUs");
	for (int round = 0; round < RACE_ROUNDS; round++) {
		pthread_barrier_t go;
		pthread_t t[2];
		struct racer r[2] = { { .cpu = 0, .model = 1, .go = &go },
				      { .cpu = 1, .model = 1, .go = &go } };
		__u64 start, secs;
		int admitted, chat;
		struct tg_bucket_key k = { .qid = QID };

		int eb = 60, mb = round % 2 ? 40 : 50, emb;

		entry(1, (__u64)eb);
		bpf_map_delete_elem(h_map_fd("tg_buckets"), &k);
		chat = (int)id_of("chat");
		emb = (int)id_of("embeddings");
		sub(chat, 1, 40);
		sub(emb, 1, 40);
		sub(TG_SUB_MODEL_SLOT(1), 1, (__u64)mb);
		r[0].route = (__u32)chat;
		r[1].route = (__u32)(round % 2 ? emb : chat);
		pthread_barrier_init(&go, NULL, 2);
		start = tg_now_mono_ns();
		for (int i = 0; i < 2; i++)
			cr_assert_eq(pthread_create(&t[i], NULL, race, &r[i]), 0);
		for (int i = 0; i < 2; i++)
			pthread_join(t[i], NULL);
		secs = (tg_now_mono_ns() - start) / 1000000000ull + 1;
		pthread_barrier_destroy(&go);
		admitted = r[0].admitted + r[1].admitted;
		cr_assert(admitted >= 40 && admitted <= 40 + (int)secs,
			  "round %d: %d admitted, the route allows 40 (+%llu refilled)", round,
			  admitted, (unsigned long long)secs);
		cr_assert_eq(entry_bucket().allowed, (__u64)admitted);
		cr_assert_eq(sub_bucket(chat).allowed + sub_bucket(emb).allowed, (__u64)admitted);
		cr_assert_eq(sub_bucket(TG_SUB_MODEL_SLOT(1)).allowed, (__u64)admitted);
		/* tokens left: burst - admitted, and at most `secs` refilled */
		cr_assert(entry_tokens() >= eb - admitted && entry_tokens() <= eb - admitted + (int)secs,
			  "round %d: entry %lld tokens after %d admitted", round,
			  (long long)entry_tokens(), admitted);
		cr_assert(sub_tokens(TG_SUB_MODEL_SLOT(1)) >= mb - admitted &&
				  sub_tokens(TG_SUB_MODEL_SLOT(1)) <= mb - admitted + (int)secs,
			  "round %d: model %lld tokens after %d admitted", round,
			  (long long)sub_tokens(TG_SUB_MODEL_SLOT(1)), admitted);
		for (int i = 0; i < 2; i++) {
			int rs = i ? emb : chat, through = (int)sub_bucket(rs).allowed;

			cr_assert(sub_tokens(rs) >= 40 - through && sub_tokens(rs) <= 40 - through + (int)secs,
				  "round %d: route %d: %lld tokens after %d admitted", round, rs,
				  (long long)sub_tokens(rs), through);
			refunds += (long)sub_bucket(rs).refunds;
		}
	}
	cr_log_info("refunds over %d rounds: %ld", RACE_ROUNDS, refunds);
}

/* The refund path without a race: a global entry is not looked at first
 * (its fleet credit is taken, not read), so with the fleet closed the
 * sub-buckets are taken, the entry refuses, and they get their tokens
 * back. */
Test(sublimits, entry_refusal_after_the_take_refunds)
{
	struct tg_fleet_slot f = { .mode = TG_FLEET_CLOSED };
	__u32 qid = QID;
	struct tg_quota q;
	int chat;

	entry(1, 10);
	cr_assert_eq(bpf_map_lookup_elem(h_map_fd("tg_quotas"), &qid, &q), 0);
	q.flags |= TG_QUOTA_GLOBAL;
	cr_assert_eq(bpf_map_update_elem(h_map_fd("tg_quotas"), &qid, &q, 0), 0);
	cr_assert_eq(bpf_map_update_elem(h_map_fd("tg_fleet"), &qid, &f, 0), 0);
	chat = (int)id_of("chat");
	sub(chat, 1, 3);
	sub(TG_SUB_MODEL_SLOT(1), 1, 3);
	for (int i = 0; i < 5; i++)
		cr_assert(check((__u32)chat, 1) & TG_CK_DENY);
	cr_assert_eq(sub_bucket(chat).refunds, 5);
	cr_assert_eq(sub_bucket(TG_SUB_MODEL_SLOT(1)).refunds, 5);
	cr_assert_eq(sub_bucket(chat).allowed, 0);
	cr_assert_eq(sub_tokens(chat), 3, "every token given back");
	cr_assert_eq(sub_tokens(TG_SUB_MODEL_SLOT(1)), 3);
	/* the fleet opens: admitted, and charged once */
	f.mode = TG_FLEET_OPEN;
	cr_assert_eq(bpf_map_update_elem(h_map_fd("tg_fleet"), &qid, &f, 0), 0);
	cr_assert_eq(check((__u32)chat, 1) & TG_CK_DENY, 0);
	cr_assert_eq(sub_tokens(chat), 2);
}
