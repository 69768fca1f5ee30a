#include <errno.h>
#include <string.h>
#include <bpf/bpf.h>
#include "tollgate.skel.h"
#include "bpf/loader.h"
#include "telemetry/route_counts.h"

int tg_route_counts_client(const struct tg_kern *k, const struct tg_addr *client,
			   struct tg_route_count out[TG_ROUTE_IDS])
{
	int fd = tg_kern_fd(k, tg_route_clients);
	struct tg_route_key key;

	memset(out, 0, sizeof(*out) * TG_ROUTE_IDS);
	memset(&key, 0, sizeof(key));
	key.addr = *client;
	for (__u32 id = 0; id < TG_ROUTE_IDS; id++) {
		if (!k->rlive[id])
			continue;
		key.route = id;
		if (bpf_map_lookup_elem(fd, &key, &out[id]) && errno != ENOENT)
			return -errno;
	}
	return 0;
}

int tg_route_counts_key(const struct tg_kern *k, int qid, struct tg_route_count out[TG_ROUTE_IDS])
{
	int fd = tg_kern_fd(k, tg_route_keys);

	memset(out, 0, sizeof(*out) * TG_ROUTE_IDS);
	if (qid < 0 || qid >= TG_MAX_QUOTAS)
		return -EINVAL;
	for (__u32 id = 0; id < TG_ROUTE_IDS; id++) {
		__u32 idx = (__u32)qid * TG_ROUTE_IDS + id;

		if (k->rlive[id] && bpf_map_lookup_elem(fd, &idx, &out[id]))
			return -errno;
	}
	return 0;
}

int tg_model_counts_key(const struct tg_kern *k, int qid, struct tg_route_count out[TG_MODEL_IDS])
{
	int fd = tg_kern_fd(k, tg_model_keys);

	memset(out, 0, sizeof(*out) * TG_MODEL_IDS);
	if (qid < 0 || qid >= TG_MAX_QUOTAS)
		return -EINVAL;
	for (__u32 id = 0; id < TG_MODEL_IDS; id++) {
		__u32 idx = (__u32)qid * TG_MODEL_IDS + id;

		if (k->mlive[id] && bpf_map_lookup_elem(fd, &idx, &out[id]))
			return -errno;
	}
	return 0;
}
