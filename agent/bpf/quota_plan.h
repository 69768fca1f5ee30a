/* Turning the config's quotas into what the kernel maps hold: stable quota
 * ids by entry name, struct tg_quota values, settings words. Pure logic. */
#ifndef TG_QUOTA_PLAN_H
#define TG_QUOTA_PLAN_H

#include "config/config.h"
#include "shared.h"

#define TG_QUOTA_NAME_DEFAULT "default"

/* Assigns each entry (names[0..n)) a quota id in 1..TG_MAX_QUOTAS-1,
 * keeping the id an entry of the same name had in old[] (old[id] is the
 * name in slot id, "" when free). Id 0 is quotas.default. Returns 0, or
 * -ENOSPC when the slots run out. */
int tg_quota_assign_ids(const char (*old)[32], const char (*names)[TG_NAME_LEN],
			int n, int *ids);

/* The kernel's view of one quota entry (id 0: pass NULL for quotas.default). */
void tg_quota_build(struct tg_quota *q, const struct tg_config *cfg,
		    const struct tg_quota_entry *e);

/* The mode, prefix, header words and scan settings of cfg. */
void tg_settings_build(struct tg_settings *s, const struct tg_config *cfg,
		       unsigned int generation);

/* Assigns each route of cfg an id in 1..TG_MAX_ROUTES, keeping the id a
 * route of the same name had in old[] (old[id]: the name, "" when free);
 * new names take ids nobody had before ids of removed routes. ids[i] is
 * routes[i]'s. */
void tg_route_assign_ids(const char (*old)[TG_ROUTE_NAME_LEN], const struct tg_config *cfg,
			 int *ids);

/* Assigns each model of cfg an id in 1..TG_MAX_MODELS by the same rule
 * (old[id]: the name that held id, "" when free). ids[i] is models[i]'s. */
void tg_model_assign_ids(const char (*old)[TG_MODEL_NAME_LEN], const struct tg_config *cfg,
			 int *ids);

/* tg_models' key of a model name: its bytes, zero-padded to 64. */
void tg_model_name_key(struct tg_model_name *k, const char *name);

/* The kernel's route table: prefixes as words and masks, longest first. */
void tg_routes_build(struct tg_route_table *rt, const struct tg_config *cfg, const int *ids);

/* LPM key of a CIDR entry. */
void tg_quota_lpm_key(struct tg_lpm_key *k, const struct tg_quota_entry *e);

/* LPM key of an identity.trusted_proxies CIDR (tg_proxy_trusted). */
_Static_assert(TG_MAX_TRUSTED == TG_MAX_PROXY_TRUSTED, "trusted proxies: one bound");
void tg_trusted_lpm_key(struct tg_lpm_key *k, const struct tg_cidr *c);

/* The local share of a global quota (used while Redis is out of reach):
 * rate and burst divided by expected_nodes, at least 1. */
void tg_quota_local_share(uint64_t rate, uint64_t burst, uint32_t nodes, uint64_t *lrate,
			  uint64_t *lburst);

#endif
