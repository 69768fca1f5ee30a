/* Fleet mode's I/O: the Redis connection (hiredis async on libuv), the
 * sync rounds, the fallback, and the kernel's tg_fleet slots (mmapped, so
 * credit moves with atomics while the kernel takes it). States:
 *   connecting -> connected (script loaded)  -> fallback on any error,
 *   timeout or lost connection, then connecting again after a backoff.
 * Each transition is logged once; errors while in fallback are counted. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include <hiredis/hiredis.h>
#include <hiredis/async.h>
#include <hiredis/adapters/libuv.h>
#include <bpf/bpf.h>
#include "bucket.h"
#include "fleet/fleet.h"
#include "fleet/fleet_algo.h"
#include "bpf/quota_plan.h"
#include "lib/log.h"
#include "lib/clock.h"
#include "bpf/loader.h"

enum { ST_FALLBACK = 0, ST_CONNECTING, ST_CONNECTED };
_Static_assert(ST_CONNECTED + 1 == TG_FLEET_STATES, "state names");
static const char *const state_names[] = { "fallback", "connecting", "connected" };

#define KEY_LEN (TG_NAME_LEN + 24)
#define IDX_BITS 10 /* privdata: round generation << IDX_BITS | key index */
_Static_assert(TG_MAX_QUOTAS <= (1 << IDX_BITS), "key index must fit");

struct fkey {
	uint32_t qid;
	char name[TG_NAME_LEN];
	char bucket[KEY_LEN], nodes_key[KEY_LEN], leases_key[KEY_LEN];
	uint64_t rate, burst;
	uint64_t reported_used; /* what the last report covered */
	uint64_t sent_used;   /* slot used when the in-flight report was made */
	bool synced;          /* its slot is in TG_FLEET_SHARED */
	int64_t credit, tokens_milli;
	uint32_t nodes;
};

struct tg_fleet {
	uv_loop_t *loop;
	const struct tg_config *cfg;
	struct tg_kern *kern;
	struct tg_fleet_slot *slots;
	size_t map_len;
	int buckets_fd; /* tg_buckets: the local share's bucket (fallback) */
	redisAsyncContext *ac;
	uv_timer_t tick, deadline, retry;
	uv_check_t guard;     /* after each loop turn: the reader's buffer */
	uv_getaddrinfo_t gai;
	bool gai_busy, stopping;
	int state;
	char sha[41];
	unsigned pending;     /* replies outstanding */
	uint32_t round_gen;
	uint64_t round_start_ns;
	uint32_t backoff_ms;
	struct fkey keys[TG_MAX_QUOTAS];
	int n_keys;
	/* metrics */
	uint64_t rounds, round_ns_sum, errors, timeouts, ops, connects, state_changes;
	double last_round_ms;
};

static struct tg_fleet_slot *slot(struct tg_fleet *f, uint32_t qid)
{
	return &f->slots[qid];
}

static uint64_t load64(const __u64 *p)
{
	return __atomic_load_n(p, __ATOMIC_RELAXED);
}

static void set_fallback_modes(struct tg_fleet *f)
{
	uint32_t mode = tg_fleet_fallback_mode(f->cfg->cluster.fallback);

	if (!f->slots)
		return;
	for (int i = 0; i < f->n_keys; i++) {
		__atomic_store_n(&slot(f, f->keys[i].qid)->mode, mode, __ATOMIC_RELEASE);
		f->keys[i].synced = false;
	}
}

static void set_state(struct tg_fleet *f, int st, const char *why)
{
	static const char *const fb[] = { "local_share", "open", "closed" };

	if (st == f->state)
		return;
	f->state = st;
	f->state_changes++;
	if (st == ST_CONNECTED)
		pr_info("cluster connected", "redis=%s:%u node_id=%s global_quotas=%d",
			f->cfg->cluster.host, f->cfg->cluster.port, f->cfg->cluster.node_id,
			f->n_keys);
	else if (st == ST_FALLBACK)
		pr_warn("cluster fallback", "redis=%s:%u fallback=%s reason=\"%s\"",
			f->cfg->cluster.host, f->cfg->cluster.port, fb[f->cfg->cluster.fallback],
			why ? why : "?");
}

static void connect_redis(struct tg_fleet *f);

static void on_retry(uv_timer_t *t)
{
	connect_redis(t->data);
}

/* Any failure: the kernel falls back now, the connection goes, and a
 * reconnect follows after the backoff. Never called from inside a hiredis
 * callback with the context still in use: see drop_later. */
static void fail(struct tg_fleet *f, const char *why)
{
	redisAsyncContext *ac = f->ac;

	f->errors++;
	set_fallback_modes(f);
	if (f->state == ST_FALLBACK) /* said once at warn; each retry's reason at debug */
		pr_debug("cluster error", "redis=%s:%u reason=\"%s\"", f->cfg->cluster.host,
			 f->cfg->cluster.port, why ? why : "?");
	set_state(f, ST_FALLBACK, why);
	uv_timer_stop(&f->deadline);
	f->pending = 0;
	f->round_gen++;
	f->ac = NULL;
	if (ac)
		redisAsyncFree(ac); /* pending callbacks run with NULL: ignored */
	if (!f->stopping && !uv_is_active((uv_handle_t *)&f->retry) && !f->gai_busy) {
		f->backoff_ms = tg_fleet_backoff(f->backoff_ms);
		uv_timer_start(&f->retry, on_retry, f->backoff_ms, 0);
	}
}

/* hiredis must not be freed from inside its own callbacks: a bad reply
 * fails on the next loop iteration. */
static void on_fail_later(uv_timer_t *t)
{
	struct tg_fleet *f = t->data;

	fail(f, f->state == ST_CONNECTED ? "bad reply from redis" : "redis handshake failed");
}

static uv_timer_t fail_timer_storage; /* one agent, one fleet */

/* hiredis buffers a bulk string whole before it parses it: a Redis that
 * announces $1000000000 and streams would grow the buffer without bound.
 * Checked after every turn of the loop (a read is at most 16 KiB). */
static void on_guard(uv_check_t *c)
{
	struct tg_fleet *f = c->data;

	if (f->ac && tg_fleet_reader_overflow(f->ac->c.reader))
		fail(f, tg_fleet_reader_why());
}

/* The reason of a dropped connection: what the reply guard refused (it
 * shows as hiredis's "Out of memory"), else hiredis's own. */
static const char *lost_why(const redisAsyncContext *ac, const char *dflt)
{
	const char *why = tg_fleet_reader_why();

	return why ? why : ac->errstr[0] ? ac->errstr : dflt;
}

static void fail_later(struct tg_fleet *f)
{
	fail_timer_storage.data = f;
	uv_timer_start(&fail_timer_storage, on_fail_later, 0, 0);
}

static void on_deadline(uv_timer_t *t)
{
	struct tg_fleet *f = t->data;

	f->timeouts++;
	fail(f, f->state == ST_CONNECTED ? "sync round timed out" : "connect timed out");
}

static void arm_deadline(struct tg_fleet *f)
{
	uv_timer_start(&f->deadline, on_deadline,
		       tg_fleet_timeout_ms(f->cfg->cluster.sync_interval_ms), 0);
}

static void reply_done(struct tg_fleet *f)
{
	if (f->pending && --f->pending == 0) {
		uint64_t ns = tg_now_mono_ns() - f->round_start_ns;

		uv_timer_stop(&f->deadline);
		if (f->state == ST_CONNECTED) {
			f->rounds++;
			f->round_ns_sum += ns;
			f->last_round_ms = (double)ns / 1e6;
		}
	}
}

static void start_synced(struct tg_fleet *f)
{
	/* What the kernel admitted in the fallback is reported with the first
	 * round, at most a burst of it (see round_start). */
	f->backoff_ms = 0;
	set_state(f, ST_CONNECTED, NULL);
}

static void on_script(redisAsyncContext *ac, void *r, void *priv)
{
	struct tg_fleet *f = ac->data;
	const char *why;

	(void)priv;
	if (!f || ac != f->ac || !r)
		return;
	if (tg_fleet_parse_sha(r, f->sha, &why)) {
		pr_debug("cluster script load failed", "reason=\"%s\"", why);
		fail_later(f);
		return;
	}
	if (f->state != ST_CONNECTED)
		start_synced(f);
	reply_done(f);
}

static void on_auth(redisAsyncContext *ac, void *r, void *priv)
{
	struct tg_fleet *f = ac->data;
	const redisReply *rep = r;

	(void)priv;
	if (!f || ac != f->ac || !r)
		return;
	if (rep->type != REDIS_REPLY_STATUS) {
		pr_err("cluster: redis refused AUTH (check the password in cluster.password_env)",
		       NULL);
		fail_later(f);
		return;
	}
	reply_done(f);
}

static void load_script(struct tg_fleet *f)
{
	const char *argv[] = { "SCRIPT", "LOAD", tg_fleet_script };

	if (redisAsyncCommandArgv(f->ac, on_script, NULL, 3, argv, NULL) == REDIS_OK) {
		f->pending++;
		f->ops++;
	}
}

static void on_sync(redisAsyncContext *ac, void *r, void *priv)
{
	struct tg_fleet *f = ac->data;
	uintptr_t p = (uintptr_t)priv;
	struct tg_fleet_result res;
	struct tg_fleet_slot *s;
	struct fkey *k;
	const char *why;
	int err;

	if (!f || ac != f->ac || !r)
		return;
	if ((p >> IDX_BITS) != (f->round_gen & 0xfffff) ||
	    (int)(p & ((1u << IDX_BITS) - 1)) >= f->n_keys) {
		reply_done(f); /* a round from before a reload */
		return;
	}
	k = &f->keys[p & ((1u << IDX_BITS) - 1)];
	err = tg_fleet_parse_reply(r, &res, &why);
	if (err == -ENOENT) {
		/* SCRIPT FLUSH: load it again, this key waits a round */
		f->errors++;
		load_script(f);
		reply_done(f);
		return;
	}
	if (err) {
		pr_debug("cluster bad reply", "quota=%s reason=\"%s\"", k->name, why);
		fail_later(f);
		return;
	}
	s = slot(f, k->qid);
	k->tokens_milli = res.tokens_milli;
	k->nodes = res.nodes;
	k->credit = tg_fleet_credit(res.lease, load64(&s->used) - k->sent_used);
	__atomic_store_n(&s->credit, k->credit, __ATOMIC_RELEASE);
	__atomic_store_n(&s->mode, (uint32_t)TG_FLEET_SHARED, __ATOMIC_RELEASE);
	k->synced = true;
	reply_done(f);
}

/* How far the quota's local bucket (the fallback's local share) is below
 * full now: the requests it admitted beyond what it earned back. */
static uint64_t local_deficit(const struct tg_fleet *f, uint32_t qid)
{
	struct tg_bucket_key key = { .qid = qid };
	const struct tg_quota *q = &f->kern->qvals[qid];
	struct tg_bucket b;
	__s64 tokens;
	uint64_t full;

	if (!q->req_interval)
		return 0;
	full = q->req_tolerance / q->req_interval + 1;
	if (f->buckets_fd < 0 || bpf_map_lookup_elem(f->buckets_fd, &key, &b))
		return 0; /* never used: full */
	tokens = tg_gcra_tokens(b.req_tat, tg_now_mono_ns(), q->req_interval, q->req_tolerance);
	return tokens < 0 || (uint64_t)tokens >= full ? 0 : full - (uint64_t)tokens;
}

/* What this round reports as used: all of it while in sync, the fallback
 * charge (tg_fleet_fallback_charge) for the first round after one. */
static uint64_t report_used(const struct tg_fleet *f, const struct fkey *k, uint64_t u)
{
	uint64_t since = u - k->reported_used, lrate, lburst;

	if (k->synced)
		return since;
	tg_quota_local_share(k->rate, k->burst, f->cfg->cluster.expected_nodes, &lrate, &lburst);
	return tg_fleet_fallback_charge(since, tg_fleet_fallback_mode(f->cfg->cluster.fallback),
					local_deficit(f, k->qid), lburst);
}

static void round_start(struct tg_fleet *f)
{
	uint32_t ttl = tg_fleet_node_ttl_ms(f->cfg->cluster.sync_interval_ms);
	char used[24], rate[24], burst[24], ttls[16];

	f->round_gen++;
	f->round_start_ns = tg_now_mono_ns();
	snprintf(ttls, sizeof(ttls), "%u", ttl);
	for (int i = 0; i < f->n_keys; i++) {
		struct fkey *k = &f->keys[i];
		struct tg_fleet_slot *s = slot(f, k->qid);
		uint64_t u = load64(&s->used);
		const char *argv[] = { "EVALSHA", f->sha, "3", k->bucket, k->nodes_key, k->leases_key,
				       f->cfg->cluster.node_id, used, rate, burst, ttls };
		uintptr_t priv = ((uintptr_t)(f->round_gen & 0xfffff) << IDX_BITS) | (uintptr_t)i;

		snprintf(used, sizeof(used), "%" PRIu64, report_used(f, k, u));
		snprintf(rate, sizeof(rate), "%" PRIu64, k->rate);
		snprintf(burst, sizeof(burst), "%" PRIu64, k->burst);
		if (redisAsyncCommandArgv(f->ac, on_sync, (void *)priv, 11, argv, NULL) != REDIS_OK)
			continue;
		k->sent_used = k->reported_used = u;
		f->pending++;
		f->ops++;
	}
	if (f->pending)
		arm_deadline(f);
}

static void on_tick(uv_timer_t *t)
{
	struct tg_fleet *f = t->data;

	if (f->state != ST_CONNECTED || !f->ac || !f->n_keys)
		return;
	if (f->pending) /* the last round is still out: the deadline decides */
		return;
	round_start(f);
}

static void on_connect(const redisAsyncContext *ac, int status)
{
	struct tg_fleet *f = ac->data;

	if (!f || ac != f->ac || status == REDIS_OK)
		return;
	/* hiredis frees the context after this callback */
	f->ac = NULL;
	fail(f, lost_why(ac, "connect failed"));
}

static void on_disconnect(const redisAsyncContext *ac, int status)
{
	struct tg_fleet *f = ac->data;

	(void)status;
	if (!f || ac != f->ac)
		return; /* one we freed ourselves */
	f->ac = NULL;
	fail(f, lost_why(ac, "connection closed"));
}

static void on_resolved(uv_getaddrinfo_t *req, int status, struct addrinfo *res)
{
	struct tg_fleet *f = req->data;
	const struct tg_cluster_config *c = &f->cfg->cluster;
	char ip[INET6_ADDRSTRLEN] = "";
	redisAsyncContext *ac;

	f->gai_busy = false;
	if (f->stopping) {
		uv_freeaddrinfo(res);
		return;
	}
	if (status == 0 && res)
		uv_ip_name(res->ai_addr, ip, sizeof(ip));
	uv_freeaddrinfo(res);
	if (!ip[0]) {
		fail(f, status ? uv_strerror(status) : "host not found");
		return;
	}
	/* A numeric address: hiredis resolves nothing, so connect cannot block. */
	ac = redisAsyncConnect(ip, c->port);
	if (!ac || ac->err) {
		const char *why = ac && ac->errstr[0] ? ac->errstr : "connect failed";

		fail(f, why);
		if (ac)
			redisAsyncFree(ac);
		return;
	}
	if (redisLibuvAttach(ac, f->loop) != REDIS_OK) {
		redisAsyncFree(ac);
		fail(f, "cannot attach to the loop");
		return;
	}
	ac->data = f;
	f->ac = ac;
	f->connects++;
	tg_fleet_reader_guard(ac->c.reader);
	tg_fleet_reader_why_reset();
	redisAsyncSetConnectCallback(ac, on_connect);
	redisAsyncSetDisconnectCallback(ac, on_disconnect);
	f->round_start_ns = tg_now_mono_ns();
	if (c->password[0]) {
		const char *argv[] = { "AUTH", c->password };

		if (redisAsyncCommandArgv(ac, on_auth, NULL, 2, argv, NULL) == REDIS_OK) {
			f->pending++;
			f->ops++;
		}
	}
	load_script(f);
	arm_deadline(f);
}

static void connect_redis(struct tg_fleet *f)
{
	const struct tg_cluster_config *c = &f->cfg->cluster;
	struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM };
	char port[8];
	int err;

	if (f->stopping || f->ac || f->gai_busy)
		return;
	if (f->state == ST_FALLBACK && f->connects)
		pr_debug("cluster reconnecting", "redis=%s:%u", c->host, c->port);
	if (f->state != ST_FALLBACK || !f->connects)
		set_state(f, ST_CONNECTING, NULL);
	snprintf(port, sizeof(port), "%u", c->port);
	f->gai.data = f;
	/* A name may need DNS: resolved off the loop. */
	err = uv_getaddrinfo(f->loop, &f->gai, on_resolved, c->host, port, &hints);
	if (err) {
		fail(f, uv_strerror(err));
		return;
	}
	f->gai_busy = true;
}

static void build_keys(struct tg_fleet *f, const struct tg_config *cfg)
{
	static struct fkey old[TG_MAX_QUOTAS];
	int n_old = f->n_keys;

	memcpy(old, f->keys, sizeof(old[0]) * (size_t)n_old);
	f->n_keys = 0;
	for (uint32_t id = 1; id < TG_MAX_QUOTAS; id++) {
		int e = f->kern->qentry[id];
		const struct tg_quota_entry *q;
		struct fkey *k;

		if (!f->kern->qnames[id][0] || e < 0 || e >= cfg->n_quotas)
			continue;
		q = &cfg->quotas[e];
		if (!q->global)
			continue;
		k = &f->keys[f->n_keys++];
		memset(k, 0, sizeof(*k));
		k->qid = id;
		snprintf(k->name, sizeof(k->name), "%s", q->name);
		tg_fleet_keys(q->name, k->bucket, k->nodes_key, k->leases_key, sizeof(k->bucket));
		k->rate = q->limits.requests_per_sec;
		k->burst = q->limits.burst;
		k->reported_used = load64(&slot(f, id)->used);
		for (int j = 0; j < n_old; j++)
			if (old[j].qid == id && !strcmp(old[j].name, k->name)) {
				k->reported_used = old[j].reported_used;
				k->synced = old[j].synced;
				k->credit = old[j].credit;
				k->nodes = old[j].nodes;
				k->tokens_milli = old[j].tokens_milli;
			}
		if (!k->synced)
			__atomic_store_n(&slot(f, id)->mode,
					 tg_fleet_fallback_mode(cfg->cluster.fallback),
					 __ATOMIC_RELEASE);
	}
}

int tg_fleet_start(uv_loop_t *loop, const struct tg_config *cfg, struct tg_kern *k,
		   struct tg_fleet **out)
{
	long page = sysconf(_SC_PAGESIZE);
	struct tg_fleet *f;
	int fd;

	*out = NULL;
	if (!cfg->cluster.enabled)
		return 0;
	fd = tg_kern_fd(k, tg_fleet);
	if (fd < 0)
		return -ENOENT;
	f = calloc(1, sizeof(*f));
	if (!f)
		return -ENOMEM;
	f->loop = loop;
	f->cfg = cfg;
	f->kern = k;
	f->buckets_fd = tg_kern_fd(k, tg_buckets);
	f->map_len = ((sizeof(struct tg_fleet_slot) * TG_MAX_QUOTAS + (size_t)page - 1) /
		      (size_t)page) * (size_t)page;
	f->slots = mmap(NULL, f->map_len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (f->slots == MAP_FAILED) {
		int err = -errno;

		free(f);
		return err;
	}
	f->state = ST_CONNECTING;
	build_keys(f, cfg);
	uv_timer_init(loop, &f->tick);
	uv_timer_init(loop, &f->deadline);
	uv_timer_init(loop, &f->retry);
	uv_timer_init(loop, &fail_timer_storage);
	uv_check_init(loop, &f->guard);
	f->tick.data = f->deadline.data = f->retry.data = f;
	f->guard.data = f;
	uv_check_start(&f->guard, on_guard);
	uv_timer_start(&f->tick, on_tick, cfg->cluster.sync_interval_ms,
		       cfg->cluster.sync_interval_ms);
	pr_info("cluster starting", "redis=%s:%u node_id=%s sync_interval_ms=%u global_quotas=%d",
		cfg->cluster.host, cfg->cluster.port, cfg->cluster.node_id,
		cfg->cluster.sync_interval_ms, f->n_keys);
	connect_redis(f);
	*out = f;
	return 0;
}

void tg_fleet_reload(struct tg_fleet *f, const struct tg_config *cfg)
{
	if (!f)
		return;
	/* Cluster settings need a restart (the old ones stay in cfg). */
	f->cfg = cfg;
	f->round_gen++; /* replies in flight belong to the old key table */
	build_keys(f, cfg);
	/* Slots of quotas no longer global: back to their own bucket. */
	for (uint32_t id = 1; id < TG_MAX_QUOTAS; id++) {
		bool global = false;

		for (int i = 0; i < f->n_keys && !global; i++)
			global = f->keys[i].qid == id;
		if (!global && f->slots[id].mode != TG_FLEET_LOCAL)
			__atomic_store_n(&f->slots[id].mode, (uint32_t)TG_FLEET_LOCAL,
					 __ATOMIC_RELEASE);
	}
}

void tg_fleet_stop(struct tg_fleet *f)
{
	redisAsyncContext *ac;

	if (!f)
		return;
	f->stopping = true;
	set_fallback_modes(f);
	uv_timer_stop(&f->tick);
	uv_timer_stop(&f->deadline);
	uv_timer_stop(&f->retry);
	uv_timer_stop(&fail_timer_storage);
	uv_check_stop(&f->guard);
	ac = f->ac;
	f->ac = NULL;
	if (ac)
		redisAsyncFree(ac);
	if (f->gai_busy)
		uv_cancel((uv_req_t *)&f->gai);
	munmap(f->slots, f->map_len);
	f->slots = NULL;
	/* The timers are closed by the agent's handle walk: f lives until
	 * tg_fleet_free. */
}

void tg_fleet_free(struct tg_fleet *f)
{
	free(f);
}

const char *tg_fleet_state(const struct tg_fleet *f)
{
	return f ? state_names[f->state] : "off";
}

int tg_fleet_stats(const struct tg_fleet *f, struct tg_fleet_stats *st)
{
	if (!f)
		return -ENOENT;
	st->state = f->state;
	st->rounds = f->rounds;
	st->round_ns_sum = f->round_ns_sum;
	st->last_round_ms = f->last_round_ms;
	st->errors = f->errors;
	st->timeouts = f->timeouts;
	st->ops = f->ops;
	st->connects = f->connects;
	st->state_changes = f->state_changes;
	st->n_quotas = f->n_keys;
	return 0;
}

int tg_fleet_quota_stats(const struct tg_fleet *f, int i, struct tg_fleet_quota_stats *q)
{
	const struct fkey *k;

	if (!f || i < 0 || i >= f->n_keys)
		return -ENOENT;
	k = &f->keys[i];
	q->name = k->name;
	q->nodes = k->nodes;
	q->tokens_milli = k->tokens_milli;
	q->mapped = f->slots != NULL;
	q->credit = f->slots ? (int64_t)__atomic_load_n(&f->slots[k->qid].credit, __ATOMIC_RELAXED) : 0;
	q->admitted = f->slots ? (uint64_t)__atomic_load_n(&f->slots[k->qid].used, __ATOMIC_RELAXED) : 0;
	return 0;
}

const char *tg_fleet_state_name(int state)
{
	return state >= 0 && state < TG_FLEET_STATES ? state_names[state] : NULL;
}
