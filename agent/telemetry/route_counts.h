/* Request counts per route, read from the kernel on demand: per (client,
 * route) from tg_route_clients, per (quota id, route) from tg_route_keys;
 * per (quota id, model) from tg_model_keys. Only the routes and models
 * configured now (and "other") are read. */
#ifndef TG_ROUTE_COUNTS_H
#define TG_ROUTE_COUNTS_H

#include "bpf/kern.h"
#include "shared.h"

/* out[id] for every route id, zero where the route is not configured or
 * has no count. 0, or -errno when the map cannot be read. */
int tg_route_counts_client(const struct tg_kern *k, const struct tg_addr *client,
			   struct tg_route_count out[TG_ROUTE_IDS]);
int tg_route_counts_key(const struct tg_kern *k, int qid, struct tg_route_count out[TG_ROUTE_IDS]);
/* out[id] for every model id, likewise. */
int tg_model_counts_key(const struct tg_kern *k, int qid, struct tg_route_count out[TG_MODEL_IDS]);

#endif
