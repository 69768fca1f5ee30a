/* Writing the config's quotas into the kernel's maps, in place: entries
 * keep their ids (and so their buckets) across reloads and restarts, new
 * keys are added before old ones are removed, so enforcement never lapses. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "tollgate.skel.h"
#include "apikey.h"
#include "lib/log.h"
#include "bpf/quota_plan.h"
#include "bpf/quotas.h"
#include "lib/keyhash.h"

/* Zeroes the (key, route) counts of quota id qid: route `route`, or
 * every route when it is TG_ROUTE_IDS. */
static void route_keys_clear(struct tg_kern *k, __u32 qid, __u32 route)
{
	int fd = bpf_map__fd(k->skel->maps.tg_route_keys);
	struct tg_route_count zero = { 0 };

	for (__u32 r = 0; r < TG_ROUTE_IDS; r++) {
		__u32 idx = qid * TG_ROUTE_IDS + r;

		if (route == TG_ROUTE_IDS || route == r)
			bpf_map_update_elem(fd, &idx, &zero, BPF_ANY);
	}
}

/* Zeroes the (key, model) counts of quota id qid: model `model`, or
 * every model when it is TG_MODEL_IDS. */
static void model_keys_clear(struct tg_kern *k, __u32 qid, __u32 model)
{
	int fd = bpf_map__fd(k->skel->maps.tg_model_keys);
	struct tg_route_count zero = { 0 };

	for (__u32 m = 0; m < TG_MODEL_IDS; m++) {
		__u32 idx = qid * TG_MODEL_IDS + m;

		if (model == TG_MODEL_IDS || model == m)
			bpf_map_update_elem(fd, &idx, &zero, BPF_ANY);
	}
}

static int write_quota(int fd, __u32 id, const struct tg_quota *q)
{
	return bpf_map_update_elem(fd, &id, q, BPF_ANY) ? -errno : 0;
}

/* Deletes every key of map `fd` (key size ks) for which keep() says no.
 * Keys are collected first: deleting during a walk would break it. */
static void prune(int fd, size_t ks, int (*keep)(const void *key, void *arg), void *arg)
{
	unsigned char cur[64], next[64];
	unsigned char *del = NULL, *grown;
	size_t n = 0, cap = 0;
	void *prev = NULL;

	while (bpf_map_get_next_key(fd, prev, next) == 0) {
		memcpy(cur, next, ks);
		prev = cur;
		if (keep(cur, arg))
			continue;
		if (n == cap) {
			cap = cap ? cap * 2 : 64;
			grown = realloc(del, cap * ks);
			if (!grown)
				break;
			del = grown;
		}
		memcpy(del + n++ * ks, cur, ks);
	}
	for (size_t i = 0; i < n; i++)
		bpf_map_delete_elem(fd, del + i * ks);
	free(del);
}

struct keep_ctx {
	const struct tg_config *cfg;
	const int *ids;
	__u32 qid;
};

static int keep_cidr(const void *key, void *arg)
{
	const struct tg_lpm_key *k = key;
	const struct keep_ctx *c = arg;

	for (int i = 0; i < c->cfg->n_quotas; i++) {
		struct tg_lpm_key want;

		if (c->cfg->quotas[i].match != TG_MATCH_CIDR)
			continue;
		tg_quota_lpm_key(&want, &c->cfg->quotas[i]);
		if (!memcmp(&want, k, sizeof(want)))
			return 1;
	}
	return 0;
}

static int keep_apikey(const void *key, void *arg)
{
	const struct keep_ctx *c = arg;
	__u64 h;

	memcpy(&h, key, sizeof(h));
	for (int i = 0; i < c->cfg->n_quotas; i++) {
		const struct tg_quota_entry *e = &c->cfg->quotas[i];

		if (e->match == TG_MATCH_API_KEY &&
		    tg_apikey_hash(e->api_key, strlen(e->api_key)) == h)
			return 1;
	}
	return 0;
}

static int keep_other_qid(const void *key, void *arg)
{
	const struct tg_bucket_key *k = key;

	return k->qid != ((const struct keep_ctx *)arg)->qid;
}

int tg_quotas_apply(struct tg_kern *k, const struct tg_config *cfg)
{
	int qfd = bpf_map__fd(k->skel->maps.tg_quotas);
	int cfd = bpf_map__fd(k->skel->maps.tg_cidrs);
	int dfd = bpf_map__fd(k->skel->maps.tg_deny_cidrs);
	int afd = bpf_map__fd(k->skel->maps.tg_apikeys);
	static char old[TG_MAX_QUOTAS][32];
	static char names[TG_MAX_QUOTAS][TG_NAME_LEN];
	int ids[TG_MAX_QUOTAS];
	struct keep_ctx kc = { .cfg = cfg, .ids = ids };
	struct tg_quota q;
	int err;

	memset(old, 0, sizeof(old));
	for (__u32 id = 1; id < TG_MAX_QUOTAS; id++)
		if (bpf_map_lookup_elem(qfd, &id, &q) == 0 && (q.flags & TG_QUOTA_SET))
			memcpy(old[id], q.name, sizeof(old[id]));
	for (int i = 0; i < cfg->n_quotas; i++)
		memcpy(names[i], cfg->quotas[i].name, TG_NAME_LEN);
	err = tg_quota_assign_ids((const char (*)[32])old, (const char (*)[TG_NAME_LEN])names,
				  cfg->n_quotas, ids);
	if (err)
		return err;

	/* 1. quota values, so every id a key may point at is valid */
	tg_quota_build(&q, cfg, NULL);
	err = write_quota(qfd, 0, &q);
	for (int i = 0; i < cfg->n_quotas && !err; i++) {
		tg_quota_build(&q, cfg, &cfg->quotas[i]);
		err = write_quota(qfd, (__u32)ids[i], &q);
	}
	/* 2. keys: new and changed ones */
	for (int i = 0; i < cfg->n_quotas && !err; i++) {
		const struct tg_quota_entry *e = &cfg->quotas[i];
		__u32 id = (__u32)ids[i];

		if (e->match == TG_MATCH_CIDR) {
			struct tg_lpm_key lk;
			int deny = e->action == TG_ACTION_DENY;

			/* deny entries live in a trie of their own (checked
			 * first); an entry that changed action moves */
			tg_quota_lpm_key(&lk, e);
			err = bpf_map_update_elem(deny ? dfd : cfd, &lk, &id, BPF_ANY) ? -errno : 0;
			if (!err)
				bpf_map_delete_elem(deny ? cfd : dfd, &lk);
		} else {
			__u64 h = tg_apikey_hash(e->api_key, strlen(e->api_key));

			err = bpf_map_update_elem(afd, &h, &id, BPF_ANY) ? -errno : 0;
		}
	}
	if (err)
		return err;
	/* 3. keys that are gone */
	prune(cfd, sizeof(struct tg_lpm_key), keep_cidr, &kc);
	prune(dfd, sizeof(struct tg_lpm_key), keep_cidr, &kc);
	prune(afd, sizeof(__u64), keep_apikey, &kc);
	/* 4. slots of removed entries, with their buckets */
	for (__u32 id = 1; id < TG_MAX_QUOTAS; id++) {
		int kept = 0;

		if (!old[id][0])
			continue;
		for (int i = 0; i < cfg->n_quotas && !kept; i++)
			kept = (__u32)ids[i] == id;
		if (kept)
			continue;
		memset(&q, 0, sizeof(q));
		write_quota(qfd, id, &q);
		kc.qid = id;
		prune(bpf_map__fd(k->skel->maps.tg_buckets), sizeof(struct tg_bucket_key),
		      keep_other_qid, &kc);
		prune(bpf_map__fd(k->skel->maps.tg_addr_buckets), sizeof(struct tg_bucket_key),
		      keep_other_qid, &kc);
		route_keys_clear(k, id, TG_ROUTE_IDS);
		model_keys_clear(k, id, TG_MODEL_IDS);
		pr_info("quota removed", "name=%s id=%u", old[id], id);
	}
	memset(k->qnames, 0, sizeof(k->qnames));
	memset(k->qvals, 0, sizeof(k->qvals));
	snprintf(k->qnames[0], sizeof(k->qnames[0]), "%s", TG_QUOTA_NAME_DEFAULT);
	tg_quota_build(&k->qvals[0], cfg, NULL);
	k->qentry[0] = -1;
	for (int i = 0; i < cfg->n_quotas; i++) {
		memcpy(k->qnames[ids[i]], cfg->quotas[i].name, TG_NAME_LEN);
		tg_quota_build(&k->qvals[ids[i]], cfg, &cfg->quotas[i]);
		k->qentry[ids[i]] = i;
	}
	return 0;
}

struct route_clear {
	__u32 route;
};

static int keep_other_route(const void *key, void *arg)
{
	return ((const struct tg_route_key *)key)->route != ((struct route_clear *)arg)->route;
}

int tg_routes_apply(struct tg_kern *k, const struct tg_config *cfg)
{
	int ids[TG_MAX_ROUTES];
	struct tg_route_table *rt = calloc(1, sizeof(*rt));
	__u32 zero = 0;
	int err = 0;

	if (!rt)
		return -ENOMEM;
	tg_route_assign_ids((const char (*)[TG_ROUTE_NAME_LEN])k->rnames, cfg, ids);
	memset(k->rlive, 0, sizeof(k->rlive));
	snprintf(k->rnames[0], sizeof(k->rnames[0]), "other");
	k->rlive[0] = true;
	for (int i = 0; i < cfg->n_routes && i < TG_MAX_ROUTES; i++) {
		int id = ids[i];

		if (id < 1 || id > TG_MAX_ROUTES)
			continue;
		if (k->rnames[id][0] && strcmp(k->rnames[id], cfg->routes[i].name)) {
			/* the id held another route: its counts are not this one's */
			struct route_clear rc = { .route = (__u32)id };

			for (__u32 q = 0; q < TG_MAX_QUOTAS; q++)
				route_keys_clear(k, q, (__u32)id);
			prune(bpf_map__fd(k->skel->maps.tg_route_clients), sizeof(struct tg_route_key),
			      keep_other_route, &rc);
			pr_info("route id reused", "name=%s id=%d was=%s", cfg->routes[i].name, id,
				k->rnames[id]);
		}
		snprintf(k->rnames[id], sizeof(k->rnames[id]), "%s", cfg->routes[i].name);
		k->rlive[id] = true;
	}
	tg_routes_build(rt, cfg, ids);
	if (bpf_map_update_elem(bpf_map__fd(k->skel->maps.tg_route_table), &zero, rt, BPF_ANY))
		err = -errno;
	free(rt);
	return err;
}

int tg_routes_find(const struct tg_kern *k, const char *name)
{
	for (int id = 0; id < TG_ROUTE_IDS; id++)
		if (k->rlive[id] && !strcmp(k->rnames[id], name))
			return id;
	return -1;
}

static int keep_trusted(const void *key, void *arg)
{
	const struct tg_config *cfg = arg;

	for (int i = 0; i < cfg->n_trusted && i < TG_MAX_TRUSTED; i++) {
		struct tg_lpm_key want;

		tg_trusted_lpm_key(&want, &cfg->trusted[i]);
		if (!memcmp(&want, key, sizeof(want)))
			return 1;
	}
	return 0;
}

int tg_proxy_trusted_apply(struct tg_kern *k, const struct tg_config *cfg)
{
	int fd = bpf_map__fd(k->skel->maps.tg_proxy_trusted);
	__u8 one = 1;

	for (int i = 0; i < cfg->n_trusted && i < TG_MAX_TRUSTED; i++) {
		struct tg_lpm_key lk;

		tg_trusted_lpm_key(&lk, &cfg->trusted[i]);
		if (bpf_map_update_elem(fd, &lk, &one, BPF_ANY))
			return -errno;
	}
	prune(fd, sizeof(struct tg_lpm_key), keep_trusted, (void *)cfg);
	return 0;
}

int tg_quotas_find(const struct tg_kern *k, const char *name)
{
	for (int id = 0; id < TG_MAX_QUOTAS; id++)
		if (k->qnames[id][0] && !strcmp(k->qnames[id], name))
			return id;
	return -1;
}

int tg_models_apply(struct tg_kern *k, const struct tg_config *cfg)
{
	int fd = bpf_map__fd(k->skel->maps.tg_models), ids[TG_MAX_MODELS], err = 0;
	struct tg_model_name cur, next, gone[TG_MAX_MODELS];
	int n_gone = 0;
	bool first = true;

	tg_model_assign_ids((const char (*)[TG_MODEL_NAME_LEN])k->mnames, cfg, ids);
	memset(k->mlive, 0, sizeof(k->mlive));
	snprintf(k->mnames[0], sizeof(k->mnames[0]), "other");
	k->mlive[0] = true;
	for (int i = 0; i < cfg->n_models && i < TG_MAX_MODELS; i++) {
		__u32 id = (__u32)ids[i];

		if (ids[i] < 1 || ids[i] > TG_MAX_MODELS)
			continue;
		if (k->mnames[id][0] && strcmp(k->mnames[id], cfg->models[i])) {
			/* the id held another model: its counts are not this one's */
			for (__u32 q = 0; q < TG_MAX_QUOTAS; q++)
				model_keys_clear(k, q, id);
			pr_info("model id reused", "name=%s id=%u was=%s", cfg->models[i], id,
				k->mnames[id]);
		}
		snprintf(k->mnames[id], sizeof(k->mnames[id]), "%s", cfg->models[i]);
		k->mlive[id] = true;
		tg_model_name_key(&cur, cfg->models[i]);
		if (bpf_map_update_elem(fd, &cur, &id, BPF_ANY) && !err)
			err = -errno;
	}
	/* then the names no longer configured (collected first: deleting
	 * during the walk would break it) */
	while (n_gone < TG_MAX_MODELS &&
	       !bpf_map_get_next_key(fd, first ? NULL : &cur, &next)) {
		bool kept = false;

		first = false;
		cur = next;
		for (int i = 0; i < cfg->n_models && !kept; i++) {
			struct tg_model_name m;

			tg_model_name_key(&m, cfg->models[i]);
			kept = !memcmp(&m, &cur, sizeof(m));
		}
		if (!kept)
			gone[n_gone++] = cur;
	}
	for (int i = 0; i < n_gone; i++)
		bpf_map_delete_elem(fd, &gone[i]);
	return err;
}

int tg_models_find(const struct tg_kern *k, const char *name)
{
	for (int id = 0; id < TG_MODEL_IDS; id++)
		if (k->mlive[id] && !strcmp(k->mnames[id], name))
			return id;
	return -1;
}
