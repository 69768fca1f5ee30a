/* Fleet mode: global quotas shared through Redis. Every sync interval the
 * agent reports, per global quota, what its kernel admitted since the last
 * report, and hands its kernel a credit: its share of what the fleet has
 * left (fleet_algo.h). While Redis is out of reach the kernel falls back
 * to cluster.fallback. hiredis (async, on the agent's libuv loop): nothing
 * here blocks; rounds and connects are timed out with uv timers. */
#ifndef TG_FLEET_H
#define TG_FLEET_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>
#include "config/config.h"
#include "bpf/kern.h"

struct tg_fleet;

/* Starts when cfg->cluster is enabled (else *out = NULL and 0). The slots
 * of global quotas start in the fallback mode until Redis answers. */
int tg_fleet_start(uv_loop_t *loop, const struct tg_config *cfg, struct tg_kern *k,
		   struct tg_fleet **out);

/* After a reload wrote the quotas: the global keys may have changed. */
void tg_fleet_reload(struct tg_fleet *f, const struct tg_config *cfg);

/* Drops the connection (before the loop's handles are closed) and leaves
 * the slots in the fallback mode, so a kept kernel enforces the local
 * share. NULL-safe. */
void tg_fleet_stop(struct tg_fleet *f);

/* Frees what tg_fleet_stop left, after the loop's handles are closed. */
void tg_fleet_free(struct tg_fleet *f);

/* The figures /metrics shows (tollgate_cluster_*). */
#define TG_FLEET_STATES 3 /* fallback, connecting, connected */
struct tg_fleet_stats {
	int state; /* 0..TG_FLEET_STATES-1: tg_fleet_state_name() */
	uint64_t rounds, round_ns_sum, errors, timeouts, ops, connects, state_changes;
	double last_round_ms;
	int n_quotas; /* global quotas: tg_fleet_quota_stats(0..n_quotas-1) */
};
struct tg_fleet_quota_stats {
	const char *name;
	int64_t credit;       /* what the kernel may still admit until the next sync */
	int64_t tokens_milli; /* the fleet's tokens at the last sync, x 1000 */
	uint32_t nodes;
	uint64_t admitted;    /* admitted on this node, any mode */
	bool mapped;          /* the kernel's slots are readable */
};
/* -ENOENT for NULL (no cluster) or an index out of range. */
int tg_fleet_stats(const struct tg_fleet *f, struct tg_fleet_stats *st);
int tg_fleet_quota_stats(const struct tg_fleet *f, int i, struct tg_fleet_quota_stats *q);
const char *tg_fleet_state_name(int state);

/* "connected", "connecting" or "fallback"; "off" for NULL. */
const char *tg_fleet_state(const struct tg_fleet *f);

#endif
