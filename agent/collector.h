/* Reads the kernel's per-client counters (batch lookups) and keeps the
 * last two snapshots, from which rates come. */
#ifndef TG_COLLECTOR_H
#define TG_COLLECTOR_H

#include <stddef.h>
#include <stdint.h>
#include "rates.h"
#include "shared.h"

/* A per-address bucket as read from tg_addr_buckets. */
struct tg_bucket_view {
	struct tg_bucket_key key;
	struct tg_bucket b;
};

/* A client's response figures, summed over CPUs. */
struct tg_resp_view {
	struct tg_addr addr;
	struct tg_resp r;
};

/* A client's socket figures (sockops). */
struct tg_sock_view {
	struct tg_addr addr;
	struct tg_sock_client s;
};

/* A whole map's keys and values, as batch lookups return them. */
struct tg_batch {
	void *keys, *vals;
	size_t n, cap, ksz, vsz;
};

struct tg_totals {
	uint64_t packets, bytes, payload_bytes, syns, requests;
	uint64_t clients;        /* live per-client entries */
	uint64_t new_clients;    /* entries ever created */
	uint64_t evicted;        /* new_clients - clients: map pressure */
	uint64_t malformed, fragments, conns_missing;
	uint64_t addr_buckets, addr_buckets_created, addr_buckets_evicted;
	uint64_t fragments_dropped, events_lost;
	double requests_per_sec, bytes_per_sec;
};

struct tg_collector {
	int clients_fd, global_fd, ncpus;
	unsigned int map_size;
	struct tg_client_view *cur, *prev;
	size_t n_cur, n_prev, cap;
	int have_prev;
	uint64_t cur_mono_ns, prev_mono_ns;
	double scan_ms; /* duration of the last scan */
	struct tg_totals totals;
	int abuckets_fd, resp_fd, socks_fd;
	struct tg_bucket_view *bk; /* sorted by address, then quota id */
	size_t n_bk, cap_bk;
	struct tg_resp_view *resp; /* sorted by address */
	size_t n_resp, cap_resp;
	struct tg_sock_view *socks; /* sorted by address */
	size_t n_socks, cap_socks;
	struct tg_batch bb, rb, sb;
	/* batch buffers */
	struct tg_addr *keys;
	void *vals;
	size_t batch;
};

int tg_collector_init(struct tg_collector *c, int clients_fd, int global_fd,
		      int abuckets_fd, int ncpus, unsigned int map_size);
/* A client's response and socket figures from the last scan, or NULL. */
const struct tg_resp_view *tg_collector_resp(const struct tg_collector *c, const struct tg_addr *a);
const struct tg_sock_view *tg_collector_sock(const struct tg_collector *c, const struct tg_addr *a);
/* The per-address bucket of a client from the last scan, or NULL. */
const struct tg_bucket_view *tg_collector_bucket(const struct tg_collector *c,
						 const struct tg_addr *addr);
void tg_collector_free(struct tg_collector *c);
/* Reads a whole map with batch lookups into b (ksz and vsz set by the
 * caller; vsz covers every CPU's copy of a per-CPU value). 0 or -errno. */
int tg_collector_read_map(int fd, struct tg_batch *b);
/* One scan: reads every client, computes rates. Returns 0 or -errno. */
int tg_collector_scan(struct tg_collector *c);

/* Wall-clock Unix nanoseconds of a CLOCK_MONOTONIC timestamp. */
uint64_t tg_mono_to_wall_ns(uint64_t mono_ns);
uint64_t tg_now_mono_ns(void);
/* RFC 3339 UTC with milliseconds, e.g. 2026-11-28T06:40:00.123Z */
void tg_format_time(uint64_t wall_ns, char *buf, size_t len);

#endif
