/* Reads the kernel's per-client counters and keeps the last two snapshots
 * of the clients that were recently active, from which rates come.
 *
 * Read what changed: a full per-CPU read of tg_clients costs 0.6-0.9 s at
 * 1M entries, so a scan reads only the clients the kernel put into the
 * active set (tg_active) since the previous scan: bump the epoch, drain
 * the set, look those clients up one by one. Whole-agent totals come from
 * the kernel's own per-CPU counters (tg_global). The whole map is walked
 * only by a sweep spread over TG_SWEEP_SCANS scans (a slice per scan),
 * which counts live entries (and so evictions); the smaller side maps
 * (responses, sockets, address buckets) are read whole every scan while
 * they are small, else once per sweep. */
#ifndef TG_COLLECTOR_H
#define TG_COLLECTOR_H

#include <stddef.h>
#include <stdint.h>
#include "telemetry/rates.h"
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

/* The walk of tg_clients spread over scans. */
struct tg_sweep {
	__u32 token;            /* batch position; valid when started */
	int started;
	uint64_t seen;          /* entries read so far in this sweep */
	uint64_t new_clients;   /* the kernel's creation count when it began */
	uint64_t t0_mono_ns;
	double ms;              /* time spent in its slices so far */
};

struct tg_totals {
	uint64_t packets, bytes, payload_bytes, syns, requests;
	uint64_t clients;        /* live per-client entries */
	uint64_t new_clients;    /* entries ever created */
	uint64_t evicted;        /* new_clients - clients: map pressure */
	uint64_t malformed, fragments, conns_missing;
	uint64_t addr_buckets, addr_buckets_created, addr_buckets_evicted;
	uint64_t fragments_dropped, events_lost;
	uint64_t active_lost;    /* kernel: active-set inserts that failed */
	/* request integrity (kernel: tg_integrity) */
	uint64_t abandoned, abandoned_drops, unverified, verified_handshake, verified_socket;
	uint64_t unproven_dropped;
	double requests_per_sec, bytes_per_sec;
};

/* How the collector read the kernel: for /metrics and the tests. */
struct tg_scan_stats {
	uint64_t scans;
	uint64_t active;          /* active clients read in the last scan */
	uint64_t active_total;
	uint64_t read;            /* per-client lookups in the last scan */
	uint64_t active_dropped;  /* active clients beyond warm_cap, not kept */
	uint64_t carried;         /* drained, not read in time: read first next scan */
	uint64_t skipped;         /* drained, not read in time, beyond the carry: let go */
	uint64_t sweeps;          /* full sweeps completed */
	uint64_t sweep_entries;   /* entries the last complete sweep counted */
	double sweep_ms;          /* time spent in the last complete sweep's slices */
	double sweep_period_s;    /* first slice to last of that sweep */
	double slice_ms;          /* the last scan's slice */
	double read_ms;           /* the last scan's drain of the set and its lookups */
	uint64_t drained;         /* keys drained in the last scan */
	int backlog;              /* the budget ran out with clients left (set or carried) */
	uint64_t side_reads;      /* full reads of the side maps */
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
	int integrity_fd; /* tg_integrity; -1 when not read */
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
	/* read what changed */
	int active_fd;            /* tg_active; <= 0: read every client each scan */
	volatile __u32 *epoch;    /* tg_scan_epoch (mmapped .bss) */
	struct tg_addr *akeys;    /* keys to read: carried over, then drained */
	size_t cap_akeys, n_carry;
	struct tg_client_view *aviews; /* the clients read this scan, sorted */
	size_t cap_aviews;
	uint64_t read_budget_ns;  /* time a scan may spend reading (active set, then sweep) */
	__u32 drain_token;        /* where the last drain stopped, if drain_resume */
	struct tg_addr read_cursor; /* drained keys are read from the first >= this */
	int drain_resume;
	size_t warm_cap;          /* clients kept in cur at most */
	uint64_t retain_scans;    /* an idle client stays in cur this many scans */
	int seeded;               /* the first scan's read of the whole table is done */
	size_t slice;             /* sweep entries per scan */
	struct tg_sweep sw;
	struct tg_scan_stats st;
	uint64_t live;            /* entries the last complete sweep counted */
	int have_live;
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
/* Switches to reading what changed: active_fd is tg_active, epoch the
 * kernel's tg_scan_epoch. */
void tg_collector_use_active(struct tg_collector *c, int active_fd, volatile __u32 *epoch);
/* The scan interval: a scan may spend a tenth of it (20 ms at least)
 * reading the kernel, active clients first, then the sweep, so the agent
 * stays within ~10% of a core. */
void tg_collector_set_interval(struct tg_collector *c, unsigned int interval_ms);
/* One scan: reads the active clients (or every client without an active
 * set), computes rates, advances the sweep. Returns 0 or -errno. */
int tg_collector_scan(struct tg_collector *c);
/* A client's figures straight from the kernel (rates 0), for a client not
 * in the last snapshot. 0, or -ENOENT when the kernel does not track it. */
int tg_collector_lookup(const struct tg_collector *c, const struct tg_addr *addr,
			struct tg_client_view *out);

#endif
