/* Per-client figures as the agent sees them: the kernel's records (one
 * shared record per client since layout v3; copies summed), and
 * rates from two successive snapshots. Pure logic, unit-tested. */
#ifndef TG_RATES_H
#define TG_RATES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "shared.h"

struct tg_client_view {
	struct tg_addr addr;
	uint64_t packets;
	uint64_t bytes;
	uint64_t payload_bytes;
	uint64_t syns;
	uint64_t requests;
	uint64_t first_seen_ns; /* CLOCK_MONOTONIC, 0 = never */
	uint64_t last_seen_ns;
	uint64_t size_hist[TG_SIZE_BUCKETS];
	double requests_per_sec;
	double bytes_per_sec;
	double syns_per_sec; /* new connections per second */
	uint64_t active_scan; /* the collector's scan that last read it from the kernel */
};

/* Sums ncpus copies of a client's record, each `stride` bytes apart (as
 * bpf_map_lookup_* lays out per-CPU values). The maps are shared since
 * layout v3 (one copy); the migration from v2 folds per-CPU copies. */
void tg_client_aggregate(struct tg_client_view *out, const struct tg_addr *addr,
			 const void *percpu, size_t stride, int ncpus);

/* Sums copies of a client's response figures, as above. */
void tg_resp_aggregate(struct tg_resp *out, const void *percpu, size_t stride, int ncpus);

/* Sets a client's rates from its counters in p (NULL: from zero) over dt
 * seconds. */
void tg_rates_from(struct tg_client_view *c, const struct tg_client_view *p, double dt);

/* Sorts cur by address, then sets each client's rates from its counters in
 * prev (sorted) over dt seconds. Without a previous snapshot (have_prev is
 * false) rates are 0. A client absent from prev, or whose counters went
 * back (its entry was evicted and made anew), is rated from zero. */
void tg_rates_compute(struct tg_client_view *cur, size_t n_cur,
		      const struct tg_client_view *prev, size_t n_prev,
		      bool have_prev, double dt);

/* The rate of a counter that went from prev to cur over dt seconds. */
double tg_rate(uint64_t prev, uint64_t cur, double dt);

enum tg_sort_key {
	TG_SORT_REQUESTS = 0,
	TG_SORT_BYTES,
	TG_SORT_RPS,
	TG_SORT_BPS,
	TG_SORT_LAST_SEEN,
	TG_SORT_ADDRESS,
};
/* -1 for an unknown name. */
int tg_sort_key_parse(const char *s);
/* Fills idx[0..n) with indices of v sorted by key, highest first (address:
 * ascending). */
void tg_sort_clients(const struct tg_client_view *v, size_t n, int key, size_t *idx);

#endif
