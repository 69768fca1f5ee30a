#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "telemetry/rates.h"
#include "lib/addr.h"

void tg_client_aggregate(struct tg_client_view *out, const struct tg_addr *addr,
			 const void *percpu, size_t stride, int ncpus)
{
	memset(out, 0, sizeof(*out));
	out->addr = *addr;
	for (int cpu = 0; cpu < ncpus; cpu++) {
		const struct tg_client *c =
			(const void *)((const char *)percpu + (size_t)cpu * stride);

		out->packets += c->packets + c->xpackets;
		out->bytes += c->bytes + c->xbytes;
		out->payload_bytes += c->payload_bytes + c->xpayload_bytes;
		out->syns += c->syns;
		out->requests += c->requests;
		if (c->first_seen_ns &&
		    (!out->first_seen_ns || c->first_seen_ns < out->first_seen_ns))
			out->first_seen_ns = c->first_seen_ns;
		if (c->last_seen_ns > out->last_seen_ns)
			out->last_seen_ns = c->last_seen_ns;
		for (int b = 0; b < TG_SIZE_BUCKETS; b++)
			out->size_hist[b] += c->size_hist[b];
	}
}

void tg_resp_aggregate(struct tg_resp *out, const void *percpu, size_t stride, int ncpus)
{
	memset(out, 0, sizeof(*out));
	for (int cpu = 0; cpu < ncpus; cpu++) {
		const struct tg_resp *r = (const void *)((const char *)percpu + (size_t)cpu * stride);

		out->packets += r->packets;
		out->bytes += r->bytes;
		out->responses += r->responses;
		for (int i = 0; i < TG_ST_MAX; i++)
			out->status[i] += r->status[i];
		for (int i = 0; i < TG_LAT_BUCKETS; i++)
			out->lat_hist[i] += r->lat_hist[i];
	}
}

double tg_rate(uint64_t prev, uint64_t cur, double dt)
{
	if (dt <= 0)
		return 0;
	/* Counters only go back when the entry was evicted and recreated:
	 * everything in it is new since then. */
	if (cur < prev)
		prev = 0;
	return (double)(cur - prev) / dt;
}

void tg_rates_from(struct tg_client_view *c, const struct tg_client_view *p, double dt)
{
	c->requests_per_sec = tg_rate(p ? p->requests : 0, c->requests, dt);
	c->bytes_per_sec = tg_rate(p ? p->bytes : 0, c->bytes, dt);
	c->syns_per_sec = tg_rate(p ? p->syns : 0, c->syns, dt);
}

void tg_rates_compute(struct tg_client_view *cur, size_t n_cur,
		      const struct tg_client_view *prev, size_t n_prev,
		      bool have_prev, double dt)
{
	qsort(cur, n_cur, sizeof(*cur), tg_addr_cmp);
	for (size_t i = 0; i < n_cur; i++) {
		const struct tg_client_view *p = NULL;
		struct tg_client_view *c = &cur[i];

		c->requests_per_sec = 0;
		c->bytes_per_sec = 0;
		c->syns_per_sec = 0;
		if (!have_prev)
			continue;
		if (n_prev)
			p = bsearch(&c->addr, prev, n_prev, sizeof(*prev), tg_addr_cmp);
		tg_rates_from(c, p, dt);
	}
}

static const char *const sort_names[] = {
	[TG_SORT_REQUESTS] = "requests", [TG_SORT_BYTES] = "bytes",
	[TG_SORT_RPS] = "requests_per_sec", [TG_SORT_BPS] = "bytes_per_sec",
	[TG_SORT_LAST_SEEN] = "last_seen", [TG_SORT_ADDRESS] = "address",
};

int tg_sort_key_parse(const char *s)
{
	for (size_t i = 0; i < sizeof(sort_names) / sizeof(sort_names[0]); i++)
		if (strcmp(s, sort_names[i]) == 0)
			return (int)i;
	return -1;
}

/* qsort has no context argument; the sort runs on the loop thread only. */
static const struct tg_client_view *sort_v;
static int sort_k;

static int cmp_desc_u64(uint64_t a, uint64_t b)
{
	return a < b ? 1 : a > b ? -1 : 0;
}

static int cmp_desc_d(double a, double b)
{
	return a < b ? 1 : a > b ? -1 : 0;
}

static int sort_cmp(const void *pa, const void *pb)
{
	const struct tg_client_view *a = &sort_v[*(const size_t *)pa];
	const struct tg_client_view *b = &sort_v[*(const size_t *)pb];
	int r = 0;

	switch (sort_k) {
	case TG_SORT_REQUESTS: r = cmp_desc_u64(a->requests, b->requests); break;
	case TG_SORT_BYTES: r = cmp_desc_u64(a->bytes, b->bytes); break;
	case TG_SORT_RPS: r = cmp_desc_d(a->requests_per_sec, b->requests_per_sec); break;
	case TG_SORT_BPS: r = cmp_desc_d(a->bytes_per_sec, b->bytes_per_sec); break;
	case TG_SORT_LAST_SEEN: r = cmp_desc_u64(a->last_seen_ns, b->last_seen_ns); break;
	default: break;
	}
	/* Ties (and the address sort) by address, so the order is stable. */
	return r ? r : tg_addr_cmp(&a->addr, &b->addr);
}

void tg_sort_clients(const struct tg_client_view *v, size_t n, int key, size_t *idx)
{
	for (size_t i = 0; i < n; i++)
		idx[i] = i;
	sort_v = v;
	sort_k = key;
	qsort(idx, n, sizeof(*idx), sort_cmp);
}
