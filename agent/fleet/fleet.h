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
#include "lib/buf.h"
#include "config/config.h"
#include "bpf/loader.h"

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

/* Prometheus lines (tollgate_cluster_*). */
void tg_fleet_metrics(const struct tg_fleet *f, struct tg_buf *b, const char *inst);

/* "connected", "connecting" or "fallback"; "off" for NULL. */
const char *tg_fleet_state(const struct tg_fleet *f);

#endif
