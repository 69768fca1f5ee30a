/* The "routes" object of /v1/clients and /v1/keys: request counts by route
 * name; the "models" object of /v1/keys. Pure: unit-tested. */
#ifndef TG_ROUTE_JSON_H
#define TG_ROUTE_JSON_H

#include <stdbool.h>
#include "config/config.h"
#include "lib/buf.h"
#include "shared.h"

/* ,"routes":{"chat":{"requests":N,"dropped":M},...}: the routes with
 * live[id] set, in id order ("other", id 0, first); with nonzero_only,
 * only those with requests. */
void tg_route_counts_json(struct tg_buf *b, const char (*names)[TG_ROUTE_NAME_LEN],
			  const bool *live, const struct tg_route_count *c, bool nonzero_only);

/* ,"models":{"other":{"requests":N,"dropped":M},"gpt-4o":{...},...}: every
 * model with live[id] set, in id order. */
void tg_model_counts_json(struct tg_buf *b, const char (*names)[TG_MODEL_NAME_LEN],
			  const bool *live, const struct tg_route_count *c);

#endif
