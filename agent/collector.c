#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <bpf/bpf.h>
#include "collector.h"

#define TG_BATCH 4096

uint64_t tg_now_mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

uint64_t tg_mono_to_wall_ns(uint64_t mono_ns)
{
	struct timespec rt;
	uint64_t now_mono = tg_now_mono_ns(), now_wall;

	clock_gettime(CLOCK_REALTIME, &rt);
	now_wall = (uint64_t)rt.tv_sec * 1000000000ull + (uint64_t)rt.tv_nsec;
	if (mono_ns > now_mono)
		return now_wall;
	return now_wall - (now_mono - mono_ns);
}

void tg_format_time(uint64_t wall_ns, char *buf, size_t len)
{
	time_t s = (time_t)(wall_ns / 1000000000ull);
	struct tm tm;
	char tmp[32];

	gmtime_r(&s, &tm);
	strftime(tmp, sizeof(tmp), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(buf, len, "%s.%03uZ", tmp, (unsigned)((wall_ns / 1000000ull) % 1000));
}

int tg_collector_init(struct tg_collector *c, int clients_fd, int global_fd,
		      int abuckets_fd, int ncpus, unsigned int map_size)
{
	memset(c, 0, sizeof(*c));
	c->clients_fd = clients_fd;
	c->global_fd = global_fd;
	c->abuckets_fd = abuckets_fd;
	c->ncpus = ncpus;
	c->map_size = map_size;
	c->batch = TG_BATCH;
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
	free(c->bk);
	memset(c, 0, sizeof(*c));
}

static int grow(struct tg_collector *c, size_t need)
{
	size_t cap = c->cap ? c->cap : 1024;
	void *a, *b;

	if (need <= c->cap)
		return 0;
	while (cap < need)
		cap *= 2;
	a = realloc(c->cur, cap * sizeof(*c->cur));
	if (!a)
		return -ENOMEM;
	c->cur = a;
	b = realloc(c->prev, cap * sizeof(*c->prev));
	if (!b)
		return -ENOMEM;
	c->prev = b;
	c->cap = cap;
	return 0;
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
	}
}

static int bucket_cmp(const void *pa, const void *pb)
{
	const struct tg_bucket_view *a = pa, *b = pb;
	int r = tg_addr_cmp(&a->key.addr, &b->key.addr);

	if (r)
		return r;
	return a->key.qid < b->key.qid ? -1 : a->key.qid > b->key.qid;
}

/* Per-address buckets: one batch walk of the LRU, sorted for lookups. */
static int read_buckets(struct tg_collector *c)
{
	struct tg_bucket_key keys[1024];
	struct tg_bucket vals[1024];
	__u32 next_key = 0;
	void *in = NULL;
	size_t n = 0;
	int err;

	for (;;) {
		__u32 count = 1024;

		DECLARE_LIBBPF_OPTS(bpf_map_batch_opts, opts);
		err = bpf_map_lookup_batch(c->abuckets_fd, in, &next_key, keys, vals,
					   &count, &opts);
		if (err && errno != ENOENT)
			return -errno;
		if (n + count > c->cap_bk) {
			size_t cap = c->cap_bk ? c->cap_bk : 1024;
			void *p;

			while (cap < n + count)
				cap *= 2;
			p = realloc(c->bk, cap * sizeof(*c->bk));
			if (!p)
				return -ENOMEM;
			c->bk = p;
			c->cap_bk = cap;
		}
		for (__u32 i = 0; i < count; i++) {
			c->bk[n + i].key = keys[i];
			c->bk[n + i].b = vals[i];
		}
		n += count;
		if (err)
			break;
		in = &next_key;
	}
	qsort(c->bk, n, sizeof(*c->bk), bucket_cmp);
	c->n_bk = n;
	return 0;
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

int tg_collector_scan(struct tg_collector *c)
{
	size_t stride = sizeof(struct tg_client);
	uint64_t t0 = tg_now_mono_ns();
	struct tg_client_view *swap;
	__u32 next_key = 0;
	void *in = NULL;
	size_t n = 0;
	int err = 0;

	/* Swap: the current snapshot becomes the previous one. */
	swap = c->prev;
	c->prev = c->cur;
	c->cur = swap;
	c->n_prev = c->n_cur;
	c->n_cur = 0;
	c->prev_mono_ns = c->cur_mono_ns;

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
			for (__u32 i = 0; i < count; i++)
				tg_client_aggregate(&c->cur[n + i], &c->keys[i],
						    (char *)c->vals + (size_t)i * stride * (size_t)c->ncpus,
						    stride, c->ncpus);
			n += count;
		}
		if (err) { /* ENOENT: the last batch */
			err = 0;
			break;
		}
		in = &next_key;
	}
	c->n_cur = n;
	c->cur_mono_ns = tg_now_mono_ns();
	tg_rates_compute(c->cur, c->n_cur, c->prev, c->n_prev, c->have_prev,
			 (double)(c->cur_mono_ns - c->prev_mono_ns) / 1e9);
	c->have_prev = err == 0;

	read_global(c);
	for (size_t i = 0; i < n; i++) {
		struct tg_client_view *v = &c->cur[i];

		c->totals.packets += v->packets;
		c->totals.bytes += v->bytes;
		c->totals.payload_bytes += v->payload_bytes;
		c->totals.syns += v->syns;
		c->totals.requests += v->requests;
		c->totals.requests_per_sec += v->requests_per_sec;
		c->totals.bytes_per_sec += v->bytes_per_sec;
	}
	c->totals.clients = n;
	if (c->abuckets_fd > 0 && read_buckets(c) == 0) {
		c->totals.addr_buckets = c->n_bk;
		c->totals.addr_buckets_evicted =
			c->totals.addr_buckets_created > c->n_bk
				? c->totals.addr_buckets_created - c->n_bk : 0;
	}
	c->totals.evicted = c->totals.new_clients > n ? c->totals.new_clients - n : 0;
	c->scan_ms = (double)(tg_now_mono_ns() - t0) / 1e6;
	return err;
}
