/* Quotas in the kernel's maps (see quota_plan.h for the pure part). */
#ifndef TG_QUOTAS_H
#define TG_QUOTAS_H

#include "config/config.h"
#include "bpf/kern.h"

/* Writes cfg's quotas, CIDRs and API keys in place. Returns 0 or -errno. */
int tg_quotas_apply(struct tg_kern *k, const struct tg_config *cfg);
/* Writes identity.trusted_proxies into tg_proxy_trusted (new ones first,
 * then the ones gone), before the settings say to use it. 0 or -errno. */
int tg_proxy_trusted_apply(struct tg_kern *k, const struct tg_config *cfg);
/* Writes cfg's routes into tg_route_table (ids kept by name across reloads;
 * an id that passes to another name starts its counts from zero). 0 or
 * -errno. */
int tg_routes_apply(struct tg_kern *k, const struct tg_config *cfg);
/* The route id of a route name ("other" is 0), or -1. */
int tg_routes_find(const struct tg_kern *k, const char *name);

/* Writes cfg's models into tg_models (ids kept by name across reloads;
 * an id that passes to another name starts its counts from zero). 0 or
 * -errno. */
int tg_models_apply(struct tg_kern *k, const struct tg_config *cfg);
/* The model id of a model name ("other" is 0), or -1. */
int tg_models_find(const struct tg_kern *k, const char *name);

/* The quota id of an entry name ("default" is 0), or -1. */
int tg_quotas_find(const struct tg_kern *k, const char *name);

#endif
