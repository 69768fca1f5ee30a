/* Per-key state for the API: /v1/keys, /v1/keys/{name}, the per-key
 * metrics and the bucket fields of /v1/clients. */
#include <arpa/inet.h>
#include <inttypes.h>
#include <string.h>
#include <bpf/bpf.h>
#include "bucket.h"
#include "api/route_json.h"
#include "api/routes.h"
#include "bpf/quotas.h"
#include "lib/clock.h"
#include "bpf/loader.h"
#include "telemetry/route_counts.h"

static const char *const action_names[] = {
	[TG_ACTION_DROP] = "drop", [TG_ACTION_MONITOR] = "monitor",
	[TG_ACTION_GATEWAY] = "gateway", [TG_ACTION_DENY] = "deny",
	[TG_ACTION_EXEMPT] = "exempt",
};

const char *tg_action_name(unsigned int a)
{
	return a <= TG_ACTION_EXEMPT ? action_names[a] : "?";
}

/* Sums the buckets of a key: its shared bucket, or every per-address
 * bucket of its quota id. */
int tg_key_state(struct tg_api_ctx *a, int qid, struct tg_bucket *sum, uint64_t *addresses)
{
	const struct tg_quota *q = &a->kern->qvals[qid];
	struct tg_bucket_key k = { .qid = (__u32)qid };

	memset(sum, 0, sizeof(*sum));
	*addresses = 0;
	if (qid == 0 || (q->flags & TG_QUOTA_PER_ADDRESS)) {
		for (size_t i = 0; i < a->col->n_bk; i++) {
			const struct tg_bucket *b = &a->col->bk[i].b;

			if (a->col->bk[i].key.qid != (__u32)qid)
				continue;
			(*addresses)++;
			sum->allowed += b->allowed;
			sum->denied += b->denied;
			sum->drops += b->drops;
			sum->would_deny += b->would_deny;
			sum->allowed_bytes += b->allowed_bytes;
			sum->denied_bytes += b->denied_bytes;
			sum->conns_allowed += b->conns_allowed;
			sum->conns_denied += b->conns_denied;
			sum->conns_over_max += b->conns_over_max;
			sum->open += b->open;
		}
		return 1; /* per address: no single level */
	}
	if (bpf_map_lookup_elem(tg_kern_fd(a->kern, tg_buckets), &k, sum))
		memset(sum, 0, sizeof(*sum)); /* not used yet: a full bucket */
	return 0;
}

uint64_t tg_key_abandoned(struct tg_api_ctx *a, int qid)
{
	struct tg_quota_stats qs;
	__u32 id = (__u32)qid;

	if (bpf_map_lookup_elem(tg_kern_fd(a->kern, tg_quota_stats), &id, &qs))
		return 0;
	return qs.abandoned;
}

/* "tokens" (requests a bucket admits now) and "bytes_left" (negative in
 * debt); null where the quota has no such limit. */
void tg_bucket_levels_json(struct tg_buf *b, const struct tg_quota *q, const struct tg_bucket *bk)
{
	uint64_t now = tg_now_mono_ns();

	if (q->req_interval)
		tg_buf_printf(b, "\"tokens\":%" PRId64 ",",
			      (int64_t)tg_gcra_tokens(bk->req_tat, now, q->req_interval,
						      q->req_tolerance));
	else
		tg_buf_printf(b, "\"tokens\":null,");
	if (q->byte_interval_fp)
		tg_buf_printf(b, "\"bytes_left\":%" PRId64 ",",
			      (int64_t)tg_gcra_bytes_left(bk->byte_tat, now, q->byte_interval_fp,
							  q->byte_tolerance));
	else
		tg_buf_printf(b, "\"bytes_left\":null,");
}

void tg_bucket_counts_json(struct tg_buf *b, const struct tg_bucket *bk)
{
	tg_buf_printf(b, "\"allowed\":%" PRIu64 ",\"denied\":%" PRIu64 ",\"would_deny\":%" PRIu64
		      ",\"allowed_bytes\":%" PRIu64 ",\"denied_bytes\":%" PRIu64
		      ",\"connections_allowed\":%" PRIu64 ",\"connections_denied\":%" PRIu64
		      ",\"connections_over_max\":%" PRIu64 ",\"open_connections\":%" PRId64
		      ",\"drops\":%" PRIu64,
		      (uint64_t)bk->allowed, (uint64_t)bk->denied, (uint64_t)bk->would_deny,
		      (uint64_t)bk->allowed_bytes, (uint64_t)bk->denied_bytes,
		      (uint64_t)bk->conns_allowed, (uint64_t)bk->conns_denied,
		      (uint64_t)bk->conns_over_max, (int64_t)bk->open, (uint64_t)bk->drops);
}

static void limits_json(struct tg_buf *b, const struct tg_limits *l)
{
	tg_buf_printf(b, "\"limits\":{\"requests_per_sec\":%" PRIu64 ",\"burst\":%" PRIu64
		      ",\"bytes_per_sec\":%" PRIu64 ",\"bytes_burst\":%" PRIu64
		      ",\"connections_per_sec\":%" PRIu64 ",\"max_connections\":%" PRIu64 "}",
		      l->requests_per_sec, l->burst, l->bytes_per_sec, l->bytes_burst,
		      l->connections_per_sec, l->max_connections);
}

static void key_json(struct tg_api_ctx *a, struct tg_buf *b, int qid)
{
	const struct tg_quota_entry *e = qid ? &a->cfg->quotas[a->kern->qentry[qid]] : NULL;
	const struct tg_quota *q = &a->kern->qvals[qid];
	struct tg_bucket st;
	uint64_t addrs;
	int per_addr = tg_key_state(a, qid, &st, &addrs);

	tg_buf_printf(b, "{\"name\":");
	tg_buf_json_str(b, a->kern->qnames[qid]);
	if (!e) {
		tg_buf_printf(b, ",\"match\":\"default\"");
	} else if (e->match == TG_MATCH_CIDR) {
		char net[64];
		bool v4 = e->cidr[0] == 0 && e->cidr[1] == 0 && e->cidr[2] == htonl(0xffff);

		inet_ntop(v4 ? AF_INET : AF_INET6, v4 ? (const void *)&e->cidr[3] : e->cidr,
			  net, sizeof(net));
		tg_buf_printf(b, ",\"match\":\"cidr\",\"cidr\":\"%s/%u\",\"share\":\"%s\"", net,
			      v4 ? e->prefix_len - 96 : e->prefix_len,
			      e->share == TG_SHARE_PER_ADDRESS ? "per_address" : "shared");
	} else {
		/* the key itself is a secret: only where it came from */
		tg_buf_printf(b, ",\"match\":\"api_key\"");
		if (e->api_key_env[0]) {
			tg_buf_printf(b, ",\"api_key_env\":");
			tg_buf_json_str(b, e->api_key_env);
		}
	}
	tg_buf_printf(b, ",\"action\":\"%s\",", tg_action_name(q->action));
	limits_json(b, e ? &e->limits : &a->cfg->default_limits);
	tg_buf_printf(b, ",\"state\":{");
	if (per_addr)
		tg_buf_printf(b, "\"addresses\":%" PRIu64 ",", addrs);
	else
		tg_bucket_levels_json(b, q, &st);
	tg_bucket_counts_json(b, &st);
	tg_buf_printf(b, ",\"abandoned\":%" PRIu64 "}", tg_key_abandoned(a, qid));
	tg_key_routes_json(a, b, qid);
	tg_key_models_json(a, b, qid);
	tg_buf_printf(b, "}");
}

void tg_key_routes_json(struct tg_api_ctx *a, struct tg_buf *b, int qid)
{
	struct tg_route_count c[TG_ROUTE_IDS];

	if (tg_route_counts_key(a->kern, qid, c))
		return;
	tg_route_counts_json(b, (const char (*)[TG_ROUTE_NAME_LEN])a->kern->rnames, a->kern->rlive,
			     c, false);
}

void tg_key_models_json(struct tg_api_ctx *a, struct tg_buf *b, int qid)
{
	struct tg_route_count c[TG_MODEL_IDS];

	if (!a->cfg->n_models || tg_model_counts_key(a->kern, qid, c))
		return;
	tg_model_counts_json(b, (const char (*)[TG_MODEL_NAME_LEN])a->kern->mnames, a->kern->mlive,
			     c);
}

void tg_h_keys(void *ctx, const struct tg_api_req *req, struct tg_api_resp *resp)
{
	struct tg_api_ctx *a = ctx;
	struct tg_buf *b = &resp->body;
	int first = 1;

	tg_buf_printf(b, "{\"mode\":\"%s\",\"keys\":[",
		      a->cfg->mode == TG_MODE_ENFORCE ? "enforce" : "monitor");
	for (int qid = 0; qid < TG_MAX_QUOTAS; qid++) {
		if (!a->kern->qnames[qid][0])
			continue;
		if (!first)
			tg_buf_printf(b, ",");
		first = 0;
		key_json(a, b, qid);
	}
	tg_buf_printf(b, "]}\n");
	if (b->oom)
		tg_api_error(resp, 503, "out of memory");
}

void tg_h_key(void *ctx, const struct tg_api_req *req, struct tg_api_resp *resp)
{
	struct tg_api_ctx *a = ctx;
	const char *name = req->path + strlen("/v1/keys/");
	int qid = tg_quotas_find(a->kern, name);

	if (qid < 0)
		return tg_api_error(resp, 404, "no such key");
	key_json(a, &resp->body, qid);
	tg_buf_printf(&resp->body, "\n");
}

