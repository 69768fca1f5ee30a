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
	c->bb.ksz = sizeof(struct tg_bucket_key);
	c->bb.vsz = sizeof(struct tg_bucket);
	c->rb.ksz = sizeof(struct tg_addr);
	c->rb.vsz = sizeof(struct tg_resp) * (size_t)ncpus;
	c->sb.ksz = sizeof(struct tg_addr);
	c->sb.vsz = sizeof(struct tg_sock_client);
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
			size_t cap = b->cap ? b->cap * 2 : 1024;
			void *k, *v;

			while (cap < b->n + count)
				cap *= 2;
			k = realloc(b->keys, cap * b->ksz);
			if (!k)
				return -ENOMEM;
			b->keys = k;
			v = realloc(b->vals, cap * b->vsz);
			if (!v)
				return -ENOMEM;
			b->vals = v;
			b->cap = cap;
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

static void *grow_array(void *p, size_t *cap, size_t need, size_t elem)
{
	size_t c = *cap ? *cap : 1024;
	void *q;

	if (need <= *cap)
		return p;
	while (c < need)
		c *= 2;
	q = realloc(p, c * elem);
	if (q)
		*cap = c;
	return q;
}

/* Per-address buckets: one batch walk of the LRU, sorted for lookups. */
static int read_buckets(struct tg_collector *c)
{
	int err = tg_collector_read_map(c->abuckets_fd, &c->bb);
	void *p;

	if (err)
		return err;
	p = grow_array(c->bk, &c->cap_bk, c->bb.n, sizeof(*c->bk));
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
	p = grow_array(c->resp, &c->cap_resp, c->rb.n, sizeof(*c->resp));
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
	p = grow_array(c->socks, &c->cap_socks, c->sb.n, sizeof(*c->socks));
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
	if (c->resp_fd > 0)
		read_responses(c);
	if (c->socks_fd > 0)
		read_socks(c);
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
