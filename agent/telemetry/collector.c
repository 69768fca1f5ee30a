#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <bpf/bpf.h>
#include "telemetry/active_keys.h"
#include "telemetry/collector.h"
#include "lib/clock.h"
#include "lib/buf.h"
#include "lib/addr.h"

#define TG_BATCH 4096
/* A sweep of tg_clients is spread over this many scans: at 1M entries a
 * slice of ~37k costs ~25-35 ms, a few % of a core at one scan a second. */
#define TG_SWEEP_SCANS 30
/* Side maps (responses, sockets, address buckets) with fewer live entries
 * than this are read whole every scan (~5 ms); bigger ones once a sweep. */
#define TG_SIDE_SMALL 16384
/* Clients kept in the snapshot at most: 232 bytes each, twice (cur and
 * prev) and once more while read (aviews), so 64k cost ~45 MB. The
 * clients read in a scan go first, then the recently active ones. A burst
 * of new clients (a flood, a restart of many) makes every one of them
 * recently active: without this bound the agent's memory would follow
 * the map's size, which is what reading only what changed avoids. */
#define TG_WARM_MAX 65536
/* The active set is drained this many clients at a time; a scan out of
 * time still looks up this many (progress through a carried backlog). */
#define TG_DRAIN_CHUNK 1024
/* Keys drained and not yet read, at most (16 bytes each): beyond it the
 * backlog waits in the kernel's set. */
#define TG_PENDING_MAX 65536
/* Keys drained but not read in time that are carried to the next scan,
 * at most: more than the active clients of a busy gateway in one
 * interval, about what one scan reads on a quiet host. Beyond it is a
 * backlog (a burst of new clients, a flood), let go: read for minutes it
 * would cost current activity, and a client still active comes back into
 * the set at its next packet. */
#define TG_CARRY_MAX 16384
/* Time a scan may spend reading the kernel (the active set first, then
 * the sweep's slice) unless the agent sets it: one lookup syscall per
 * active client, 2-4 us on a quiet host, 10-40 us on a busy one. A flood
 * of new clients fills the active set, and the scan, which shares the
 * loop with the API, must stay short; what is left waits for the next
 * scans. */
#define TG_READ_BUDGET_NS (100 * 1000000ull)
/* An idle client stays in the snapshot (/v1/clients, top-N) this long. */
#define TG_RETAIN_SCANS 600

int tg_collector_init(struct tg_collector *c, int clients_fd, int global_fd,
		      int abuckets_fd, int ncpus, unsigned int map_size)
{
	memset(c, 0, sizeof(*c));
	c->clients_fd = clients_fd;
	c->global_fd = global_fd;
	c->abuckets_fd = abuckets_fd;
	c->integrity_fd = -1;
	c->bb.ksz = sizeof(struct tg_bucket_key);
	c->bb.vsz = sizeof(struct tg_bucket);
	c->rb.ksz = sizeof(struct tg_addr);
	c->rb.vsz = sizeof(struct tg_resp) * (size_t)ncpus;
	c->sb.ksz = sizeof(struct tg_addr);
	c->sb.vsz = sizeof(struct tg_sock_client);
	c->ncpus = ncpus;
	c->map_size = map_size;
	c->batch = TG_BATCH;
	c->warm_cap = map_size < TG_WARM_MAX ? map_size : TG_WARM_MAX;
	if (!c->warm_cap)
		c->warm_cap = TG_WARM_MAX;
	c->retain_scans = TG_RETAIN_SCANS;
	c->read_budget_ns = TG_READ_BUDGET_NS;
	c->slice = map_size / TG_SWEEP_SCANS;
	if (c->slice < TG_BATCH)
		c->slice = TG_BATCH;
	c->keys = calloc(c->batch, sizeof(*c->keys));
	/* per-CPU values are laid out at 8-byte strides */
	c->vals = calloc(c->batch * (size_t)ncpus, sizeof(struct tg_client));
	if (!c->keys || !c->vals) {
		tg_collector_free(c);
		return -ENOMEM;
	}
	return 0;
}

void tg_collector_free(struct tg_collector *c)
{
	free(c->cur);
	free(c->prev);
	free(c->keys);
	free(c->vals);
	free(c->akeys);
	free(c->aviews);
	free(c->bk);
	free(c->resp);
	free(c->socks);
	free(c->bb.keys);
	free(c->bb.vals);
	free(c->rb.keys);
	free(c->rb.vals);
	free(c->sb.keys);
	free(c->sb.vals);
	memset(c, 0, sizeof(*c));
}

/* cur and prev share one capacity. */
static int grow(struct tg_collector *c, size_t need)
{
	size_t cap_cur = c->cap, cap_prev = c->cap;
	void *a, *b;

	a = tg_grow(c->cur, &cap_cur, need, sizeof(*c->cur), 1024);
	if (!a)
		return -ENOMEM;
	c->cur = a;
	b = tg_grow(c->prev, &cap_prev, need, sizeof(*c->prev), 1024);
	if (!b)
		return -ENOMEM;
	c->prev = b;
	c->cap = cap_cur;
	return 0;
}

static void read_integrity(struct tg_collector *c)
{
	struct tg_integrity v[TG_MAX_CPUS];
	__u32 zero = 0;

	if (c->integrity_fd < 0 || bpf_map_lookup_elem(c->integrity_fd, &zero, v) != 0)
		return;
	for (int i = 0; i < c->ncpus; i++) {
		c->totals.abandoned += v[i].abandoned;
		c->totals.abandoned_drops += v[i].abandoned_drops;
		c->totals.unverified += v[i].unverified;
		c->totals.verified_handshake += v[i].verified_handshake;
		c->totals.verified_socket += v[i].verified_socket;
		c->totals.unproven_dropped += v[i].unproven_dropped;
	}
}

static void read_global(struct tg_collector *c)
{
	struct tg_global g[TG_MAX_CPUS];
	__u32 zero = 0;

	memset(&c->totals, 0, sizeof(c->totals));
	if (bpf_map_lookup_elem(c->global_fd, &zero, g) != 0)
		return;
	for (int i = 0; i < c->ncpus; i++) {
		c->totals.new_clients += g[i].new_clients;
		c->totals.malformed += g[i].malformed;
		c->totals.fragments += g[i].fragments;
		c->totals.conns_missing += g[i].conns_missing;
		c->totals.addr_buckets_created += g[i].addr_buckets;
		c->totals.fragments_dropped += g[i].fragments_dropped;
		c->totals.events_lost += g[i].events_lost;
		c->totals.active_lost += g[i].active_lost;
		c->totals.packets += g[i].packets;
		c->totals.bytes += g[i].bytes;
		c->totals.payload_bytes += g[i].payload_bytes;
		c->totals.syns += g[i].syns;
		c->totals.requests += g[i].requests;
	}
	read_integrity(c);
}

static int bucket_cmp(const void *pa, const void *pb)
{
	const struct tg_bucket_view *a = pa, *b = pb;
	int r = tg_addr_cmp(&a->key.addr, &b->key.addr);

	if (r)
		return r;
	return a->key.qid < b->key.qid ? -1 : a->key.qid > b->key.qid;
}

/* Reads a whole map with batch lookups into b's growable key and value
 * arrays (vsz: bytes of one value, all CPUs' copies for a per-CPU map). */
int tg_collector_read_map(int fd, struct tg_batch *b)
{
	__u32 next_key = 0;
	void *in = NULL;
	int err;

	b->n = 0;
	for (;;) {
		__u32 count = 1024;

		if (b->n + count > b->cap) {
			size_t kcap = b->cap, vcap = b->cap;
			void *k, *v;

			k = tg_grow(b->keys, &kcap, b->n + count, b->ksz, 1024);
			if (!k)
				return -ENOMEM;
			b->keys = k;
			v = tg_grow(b->vals, &vcap, b->n + count, b->vsz, 1024);
			if (!v)
				return -ENOMEM;
			b->vals = v;
			b->cap = kcap;
		}
		DECLARE_LIBBPF_OPTS(bpf_map_batch_opts, opts);
		err = bpf_map_lookup_batch(fd, in, &next_key, (char *)b->keys + b->n * b->ksz,
					   (char *)b->vals + b->n * b->vsz, &count, &opts);
		if (err && errno != ENOENT)
			return -errno;
		b->n += count;
		if (err)
			return 0; /* ENOENT: that was the last batch */
		in = &next_key;
	}
}

/* Per-address buckets: one batch walk of the LRU, sorted for lookups. */
static int read_buckets(struct tg_collector *c)
{
	int err = tg_collector_read_map(c->abuckets_fd, &c->bb);
	void *p;

	if (err)
		return err;
	p = tg_grow(c->bk, &c->cap_bk, c->bb.n, sizeof(*c->bk), 1024);
	if (!p)
		return -ENOMEM;
	c->bk = p;
	for (size_t i = 0; i < c->bb.n; i++) {
		memcpy(&c->bk[i].key, (char *)c->bb.keys + i * c->bb.ksz, sizeof(c->bk[i].key));
		memcpy(&c->bk[i].b, (char *)c->bb.vals + i * c->bb.vsz, sizeof(c->bk[i].b));
	}
	qsort(c->bk, c->bb.n, sizeof(*c->bk), bucket_cmp);
	c->n_bk = c->bb.n;
	return 0;
}

/* Response figures, summed over CPUs, and socket figures, per client. */
static int read_responses(struct tg_collector *c)
{
	int err = tg_collector_read_map(c->resp_fd, &c->rb);
	void *p;

	if (err)
		return err;
	p = tg_grow(c->resp, &c->cap_resp, c->rb.n, sizeof(*c->resp), 1024);
	if (!p)
		return -ENOMEM;
	c->resp = p;
	for (size_t i = 0; i < c->rb.n; i++) {
		struct tg_resp_view *v = &c->resp[i];

		memcpy(&v->addr, (char *)c->rb.keys + i * c->rb.ksz, sizeof(v->addr));
		tg_resp_aggregate(&v->r, (char *)c->rb.vals + i * c->rb.vsz, sizeof(struct tg_resp),
				  c->ncpus);
	}
	qsort(c->resp, c->rb.n, sizeof(*c->resp), tg_addr_cmp);
	c->n_resp = c->rb.n;
	return 0;
}

static int read_socks(struct tg_collector *c)
{
	int err = tg_collector_read_map(c->socks_fd, &c->sb);
	void *p;

	if (err)
		return err;
	p = tg_grow(c->socks, &c->cap_socks, c->sb.n, sizeof(*c->socks), 1024);
	if (!p)
		return -ENOMEM;
	c->socks = p;
	for (size_t i = 0; i < c->sb.n; i++) {
		memcpy(&c->socks[i].addr, (char *)c->sb.keys + i * c->sb.ksz, sizeof(c->socks[i].addr));
		memcpy(&c->socks[i].s, (char *)c->sb.vals + i * c->sb.vsz, sizeof(c->socks[i].s));
	}
	qsort(c->socks, c->sb.n, sizeof(*c->socks), tg_addr_cmp);
	c->n_socks = c->sb.n;
	return 0;
}

const struct tg_resp_view *tg_collector_resp(const struct tg_collector *c, const struct tg_addr *a)
{
	return c->n_resp ? bsearch(a, c->resp, c->n_resp, sizeof(*c->resp), tg_addr_cmp) : NULL;
}

const struct tg_sock_view *tg_collector_sock(const struct tg_collector *c, const struct tg_addr *a)
{
	return c->n_socks ? bsearch(a, c->socks, c->n_socks, sizeof(*c->socks), tg_addr_cmp) : NULL;
}

static int bucket_addr_cmp(const void *key, const void *elem)
{
	return tg_addr_cmp(key, &((const struct tg_bucket_view *)elem)->key.addr);
}

const struct tg_bucket_view *tg_collector_bucket(const struct tg_collector *c,
						 const struct tg_addr *addr)
{
	if (!c->n_bk)
		return NULL;
	return bsearch(addr, c->bk, c->n_bk, sizeof(*c->bk), bucket_addr_cmp);
}

void tg_collector_use_active(struct tg_collector *c, int active_fd, volatile __u32 *epoch)
{
	c->active_fd = active_fd;
	c->epoch = epoch;
}

void tg_collector_set_interval(struct tg_collector *c, unsigned int interval_ms)
{
	uint64_t b = (uint64_t)interval_ms * 1000000ull / 10;

	c->read_budget_ns = b < 20000000ull ? 20000000ull : b;
}

int tg_collector_lookup(const struct tg_collector *c, const struct tg_addr *addr,
			struct tg_client_view *out)
{
	/* c->vals holds TG_BATCH values: one is scratch enough, but the
	 * snapshot is const here, so use a buffer of our own */
	struct tg_client v[TG_MAX_CPUS];

	if (bpf_map_lookup_elem(c->clients_fd, addr, v) != 0)
		return -errno;
	tg_client_aggregate(out, addr, v, sizeof(struct tg_client), c->ncpus);
	return 0;
}

/* The old way, for a collector without an active set: every client, each
 * scan, into cur (unsorted; the caller sorts). */
static int read_all(struct tg_collector *c, size_t limit, size_t *out_n, __u16 *max_epoch)
{
	size_t stride = sizeof(struct tg_client), n = 0;
	__u32 next_key = 0;
	void *in = NULL;
	int err;

	for (;;) {
		__u32 count = (__u32)c->batch;

		DECLARE_LIBBPF_OPTS(bpf_map_batch_opts, opts);
		err = bpf_map_lookup_batch(c->clients_fd, in, &next_key, c->keys,
					   c->vals, &count, &opts);
		if (err && errno != ENOENT) {
			err = -errno;
			break;
		}
		if (count) {
			if (grow(c, n + count)) {
				err = -ENOMEM;
				break;
			}
			for (__u32 i = 0; i < count && max_epoch; i++)
				for (int cpu = 0; cpu < c->ncpus; cpu++) {
					const struct tg_client *pc = (const struct tg_client *)
						((char *)c->vals + ((size_t)i * (size_t)c->ncpus + (size_t)cpu) * stride);

					if (pc->epoch > *max_epoch)
						*max_epoch = pc->epoch;
				}
			for (__u32 i = 0; i < count; i++) {
				tg_client_aggregate(&c->cur[n + i], &c->keys[i],
						    (char *)c->vals + (size_t)i * stride * (size_t)c->ncpus,
						    stride, c->ncpus);
				c->cur[n + i].active_scan = c->st.scans;
			}
			n += count;
		}
		if (err) { /* ENOENT: the last batch */
			err = 0;
			break;
		}
		if (n >= limit)
			break;
		in = &next_key;
	}
	if (n > limit)
		n = limit;
	*out_n = n;
	c->st.read = n;
	c->st.drained = n;
	return err;
}

/* Bumps the epoch, drains the active set, then looks the drained clients
 * up one by one, all within the scan's budget (deadline). The active set
 * is what freshness is about, so it goes first and the sweep gets what
 * is left. A drain chunk costs little next to the lookups of its keys, so
 * the drain empties the set unless the keys pending reach TG_PENDING_MAX
 * (what it did not reach stays in the set; the next scan resumes where
 * this one stopped, so no bucket of the table is starved).
 *
 * Keys drained but not read in time are carried to the next scan and
 * read first there (tg_active_keys_plan): on a loaded host every active
 * client is read, one scan late, rather than some never. Beyond
 * TG_CARRY_MAX it is a backlog, let go (st.skipped); the drained keys
 * are read from where the last scan stopped (read_cursor), so what is
 * let go moves round the address space.
 *
 * Bumping first: a packet that still sees the old epoch put its client in
 * the set already (drained now); one that sees the new epoch puts it in
 * again, for this drain or the next. A count landing between the drain
 * and the lookup is read at the client's next activity. The views come
 * out in c->aviews, sorted by address. */
static int collect_active(struct tg_collector *c, uint64_t deadline, size_t *out_n)
{
	size_t stride = sizeof(struct tg_client), n = 0, nk = c->n_carry, k;
	__u8 vals[TG_DRAIN_CHUNK];
	void *in = c->drain_resume ? &c->drain_token : NULL;
	uint64_t drained = 0;
	int more = 1;
	void *p;

	if (c->epoch) {
		__u32 e = *c->epoch + 1;

		if ((e & 0xffff) == 0) /* 0 is a new entry's epoch: never current */
			e++;
		__atomic_store_n(c->epoch, e, __ATOMIC_RELEASE);
	}
	/* one chunk at least, so the set moves even on a scan out of time */
	while (more && nk + TG_DRAIN_CHUNK <= TG_PENDING_MAX) {
		__u32 count = TG_DRAIN_CHUNK;
		int err;

		p = tg_grow(c->akeys, &c->cap_akeys, nk + TG_DRAIN_CHUNK, sizeof(*c->akeys), 1024);
		if (!p)
			return -ENOMEM;
		c->akeys = p;
		DECLARE_LIBBPF_OPTS(bpf_map_batch_opts, opts);
		err = bpf_map_lookup_and_delete_batch(c->active_fd, in, &c->drain_token,
						      c->akeys + nk, vals, &count, &opts);
		if (err && errno != ENOENT) {
			c->drain_resume = 0;
			return -errno;
		}
		more = !err;
		in = &c->drain_token;
		nk += count;
		drained += count;
		if (tg_now_mono_ns() >= deadline)
			break;
	}
	c->st.drained = drained;
	c->drain_resume = more; /* at the end of the table: from the start next time */

	nk = tg_active_keys_plan(c->akeys, c->n_carry, nk, &c->read_cursor);
	p = tg_grow(c->aviews, &c->cap_aviews, nk ? nk : 1, sizeof(*c->aviews), 1024);
	if (!p)
		return -ENOMEM;
	c->aviews = p;
	/* TG_DRAIN_CHUNK lookups at least, so a scan out of time still
	 * makes progress through the carried keys */
	for (k = 0; k < nk && n < c->warm_cap; k++) {
		const struct tg_addr *key = &c->akeys[k];

		if (k >= TG_DRAIN_CHUNK && tg_now_mono_ns() >= deadline)
			break;
		if (bpf_map_lookup_elem(c->clients_fd, key, c->vals) != 0)
			continue; /* evicted since: gone */
		tg_client_aggregate(&c->aviews[n], key, c->vals, stride, c->ncpus);
		c->aviews[n++].active_scan = c->st.scans;
	}
	if (nk - k > TG_CARRY_MAX) /* the next scan's new keys start at the first let go */
		c->read_cursor = c->akeys[k + TG_CARRY_MAX];
	c->n_carry = tg_active_keys_carry(c->akeys, k, nk, TG_CARRY_MAX);
	c->st.skipped += nk - k - c->n_carry;
	c->st.carried = c->n_carry;
	c->st.backlog = more || c->n_carry;
	qsort(c->aviews, n, sizeof(*c->aviews), tg_addr_cmp);
	*out_n = n;
	return 0;
}

/* cur = the clients read now (aviews) merged with prev's clients that
 * were active within retain_scans; both lists are sorted by address, so
 * cur comes out sorted. Active clients take the room first. */
static int merge_active(struct tg_collector *c, size_t n_a, double dt, size_t *out_n)
{
	size_t i = 0, j = 0, n = 0, keep_idle;
	int err;

	if (n_a > c->warm_cap) {
		c->st.active_dropped += n_a - c->warm_cap;
		n_a = c->warm_cap;
	}
	keep_idle = c->warm_cap - n_a;
	err = grow(c, (c->n_prev + n_a) < c->warm_cap ? c->n_prev + n_a : c->warm_cap);
	if (err)
		return err;
	while (i < c->n_prev || j < n_a) {
		const struct tg_client_view *p = i < c->n_prev ? &c->prev[i] : NULL;
		const struct tg_client_view *a = j < n_a ? &c->aviews[j] : NULL;
		int cmp = !p ? 1 : !a ? -1 : tg_addr_cmp(&p->addr, &a->addr);
		struct tg_client_view *v;

		if (cmp < 0) { /* idle since the last scan: as it was, rate 0 */
			i++;
			if (c->st.scans - p->active_scan >= c->retain_scans || !keep_idle ||
			    n >= c->warm_cap)
				continue;
			keep_idle--;
			v = &c->cur[n++];
			*v = *p;
			v->requests_per_sec = v->bytes_per_sec = v->syns_per_sec = 0;
			continue;
		}
		j++;
		if (cmp == 0)
			i++;
		else
			p = NULL;
		if (n >= c->warm_cap)
			continue;
		v = &c->cur[n++];
		*v = *a;
		v->requests_per_sec = v->bytes_per_sec = v->syns_per_sec = 0;
		if (!c->have_prev)
			continue;
		if (p) {
			tg_rates_from(v, p, dt);
		} else if (!v->first_seen_ns || v->first_seen_ns >= c->prev_mono_ns) {
			/* made since the last scan: all it counted is new */
			tg_rates_from(v, NULL, dt);
		}
		/* else: back from idleness, or beyond the snapshot's room last
		 * time; its earlier figures are unknown, so no rate until the
		 * next scan rather than a spike of everything it ever sent */
	}
	c->st.read = n_a;
	*out_n = n;
	return 0;
}

/* One slice of the sweep: up to c->slice entries of tg_clients, batch by
 * batch, until the scan's deadline (what the active set left of the
 * budget; one batch at least), values read only to be counted (the
 * lookup batch has no keys-only form). At the end of the map the sweep is complete: its count
 * is the live entries, and the kernel's creation count when it began,
 * minus that, the evictions (at least: clients made during the sweep may
 * be counted as live). */
static int sweep_slice(struct tg_collector *c, uint64_t deadline, bool *done)
{
	uint64_t t0 = tg_now_mono_ns(), read = 0;
	void *in;
	int err = 0;

	*done = false;
	if (!c->sw.started) {
		memset(&c->sw, 0, sizeof(c->sw));
		c->sw.started = 1;
		c->sw.t0_mono_ns = t0;
		/* read_global ran earlier in this scan */
		c->sw.new_clients = c->totals.new_clients;
		in = NULL;
	} else {
		in = &c->sw.token;
	}
	/* bounded in entries and in time (one batch at least): on a busy
	 * host a slice of a big map would otherwise hold the loop for
	 * hundreds of ms, and the sweep just takes more scans */
	while (read < c->slice && (!read || tg_now_mono_ns() < deadline)) {
		__u32 count = (__u32)c->batch;

		DECLARE_LIBBPF_OPTS(bpf_map_batch_opts, opts);
		err = bpf_map_lookup_batch(c->clients_fd, in, &c->sw.token, c->keys, c->vals,
					   &count, &opts);
		if (err && errno != ENOENT) {
			err = -errno;
			c->sw.started = 0; /* start over next time */
			break;
		}
		read += count;
		c->sw.seen += count;
		in = &c->sw.token;
		if (err) {
			err = 0;
			*done = true;
			break;
		}
	}
	c->st.slice_ms = (double)(tg_now_mono_ns() - t0) / 1e6;
	c->sw.ms += c->st.slice_ms;
	if (*done) {
		uint64_t ev = c->sw.new_clients > c->sw.seen ? c->sw.new_clients - c->sw.seen : 0;

		c->live = c->sw.seen;
		c->have_live = 1;
		/* a lower bound each time: keep the highest */
		if (ev > c->totals.evicted)
			c->totals.evicted = ev;
		c->st.sweeps++;
		c->st.sweep_entries = c->sw.seen;
		c->st.sweep_ms = c->sw.ms;
		c->st.sweep_period_s = (double)(tg_now_mono_ns() - c->sw.t0_mono_ns) / 1e9;
		c->sw.started = 0;
	}
	return err;
}

int tg_collector_scan(struct tg_collector *c)
{
	uint64_t t0 = tg_now_mono_ns(), evicted = c->totals.evicted;
	struct tg_client_view *swap;
	bool swept = false, side;
	size_t n = 0, n_a = 0;
	double dt;
	int err;

	/* Swap: the current snapshot becomes the previous one. */
	swap = c->prev;
	c->prev = c->cur;
	c->cur = swap;
	c->n_prev = c->n_cur;
	c->n_cur = 0;
	c->prev_mono_ns = c->cur_mono_ns;
	c->st.scans++;

	if (c->active_fd > 0 && !c->seeded) {
		/* The first scan of a run that adopted its maps (keep, kill -9,
		 * a layout migration): the active set only names clients that
		 * sent since, so the snapshot starts from one bounded read of
		 * the table (at most warm_cap clients), kept as idle entries. */
		__u16 last = 0;

		c->seeded = 1;
		/* The adopted entries carry the epochs of the run before, while
		 * this run's count starts again: a client whose copy holds the
		 * epoch this run is in would not be put in the set. So the
		 * count goes on from the highest epoch found. */
		if (read_all(c, c->warm_cap, &n, &last) == 0 && last && c->epoch)
			__atomic_store_n(c->epoch, (__u32)last, __ATOMIC_RELEASE);
		if (n) {
			qsort(c->cur, n, sizeof(*c->cur), tg_addr_cmp);
			swap = c->prev;
			c->prev = c->cur;
			c->cur = swap;
			c->n_prev = n;
			n = 0;
		}
	}
	if (c->active_fd > 0) {
		err = collect_active(c, t0 + c->read_budget_ns, &n_a);
		c->cur_mono_ns = tg_now_mono_ns();
		c->st.read_ms = (double)(c->cur_mono_ns - t0) / 1e6;
		dt = (double)(c->cur_mono_ns - c->prev_mono_ns) / 1e9;
		if (!err)
			err = merge_active(c, n_a, dt, &n);
		c->st.active = n_a;
		c->st.active_total += n_a;
	} else {
		err = read_all(c, SIZE_MAX, &n, NULL);
		c->cur_mono_ns = tg_now_mono_ns();
		tg_rates_compute(c->cur, n, c->prev, c->n_prev, c->have_prev,
				 (double)(c->cur_mono_ns - c->prev_mono_ns) / 1e9);
	}
	c->n_cur = n;
	c->have_prev = err == 0;

	read_global(c);
	c->totals.evicted = evicted;
	c->totals.requests_per_sec = c->totals.bytes_per_sec = 0;
	for (size_t i = 0; i < n; i++) {
		c->totals.requests_per_sec += c->cur[i].requests_per_sec;
		c->totals.bytes_per_sec += c->cur[i].bytes_per_sec;
	}
	if (c->active_fd > 0) {
		sweep_slice(c, t0 + c->read_budget_ns, &swept);
		c->totals.clients = c->have_live ? c->live : n;
	} else {
		c->totals.clients = n;
		c->totals.evicted = c->totals.new_clients > n ? c->totals.new_clients - n : 0;
		swept = true;
	}
	/* Side maps: whole every scan while small, else when a sweep ends. */
	side = swept || (c->n_resp < TG_SIDE_SMALL && c->n_socks < TG_SIDE_SMALL &&
			 c->n_bk < TG_SIDE_SMALL);
	if (side) {
		c->st.side_reads++;
		if (c->resp_fd > 0)
			read_responses(c);
		if (c->socks_fd > 0)
			read_socks(c);
		if (c->abuckets_fd > 0 && read_buckets(c) == 0)
			c->totals.addr_buckets = c->n_bk;
	}
	c->totals.addr_buckets_evicted =
		c->totals.addr_buckets_created > c->totals.addr_buckets
			? c->totals.addr_buckets_created - c->totals.addr_buckets : 0;
	c->scan_ms = (double)(tg_now_mono_ns() - t0) / 1e6;
	return err;
}
