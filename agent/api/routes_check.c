/* GET|POST|HEAD /v1/check: external authorisation for a gateway (nginx
 * auth_request, Envoy ext_authz, Traefik ForwardAuth, APISIX
 * forward-auth). The kernel's tg_check program gives the verdict (see
 * kern/check.bpf.c); this handler reads the client and key from the
 * request, runs it, and turns the key's bucket into rate-limit headers.
 * Per check: two syscalls, no allocation (the response buffers belong to
 * the connection and are reused). When the kernel cannot be asked, the
 * answer is 503: failing closed, never silently open.
 *
 * The answer has no body: 204 when allowed, the deny status with
 * Content-Length: 0. nginx's auth_request reads only the head of the
 * answer and cannot drain a body, so a body would make it close its
 * connection to the agent after every check; what a body said is in
 * headers (X-Tollgate-Key, Retry-After). */
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <bpf/bpf.h>

#include "api/check.h"
#include "lib/log.h"
#include "api/routes.h"
#include "lib/clock.h"
#include "bpf/loader.h"

void tg_routes_check_reindex(struct tg_api_ctx *a)
{
	struct tg_check_state *cs = &a->check;

	cs->n_known = tg_check_known_keys(a->cfg, cs->known, TG_MAX_QUOTAS);
	cs->prog_fd = tg_kern_check_fd(a->kern);
	cs->buckets_fd = tg_kern_fd(a->kern, tg_buckets);
	cs->abuckets_fd = tg_kern_fd(a->kern, tg_addr_buckets);
	cs->sub_limits_fd = tg_kern_fd(a->kern, tg_sub_limits);
	cs->sub_buckets_fd = tg_kern_fd(a->kern, tg_sub_buckets);
}

/* The limits of sub-bucket `slot` of quota qid; false when it has none. */
static bool sub_limits(const struct tg_check_state *cs, __u32 qid, int slot, uint64_t now,
		       struct tg_check_limits *l)
{
	__u32 idx = qid * TG_SUB_SLOTS + (__u32)slot;
	struct tg_sub_limit sl;
	struct tg_sub_bucket sb;
	struct tg_quota q = { 0 };
	struct tg_bucket b = { 0 };

	if (slot < 0 || slot >= TG_SUB_SLOTS || qid >= TG_MAX_QUOTAS ||
	    bpf_map_lookup_elem(cs->sub_limits_fd, &idx, &sl) || !sl.interval ||
	    bpf_map_lookup_elem(cs->sub_buckets_fd, &idx, &sb))
		return false;
	q.req_interval = sl.interval;
	q.req_tolerance = sl.tolerance;
	b.req_tat = sb.tat;
	tg_check_limits(&q, &b, now, l);
	return true;
}

/* The rate-limit headers of the tightest of the request's buckets (its
 * entry's, its route's, its model's), or of the one that refused it, and
 * X-Tollgate-Limit naming a sub-bucket when it is that one. */
static void limit_headers(struct tg_api_ctx *a, struct tg_api_resp *resp, __u32 r, __u32 qid,
			  const char *name, const struct tg_bucket *b, uint64_t sub_arg, bool deny)
{
	const struct tg_kern *k = a->kern;
	struct tg_check_limits lim[3];
	uint64_t now = tg_now_mono_ns();
	int route = (int)(sub_arg & 0xffff), model = (int)(sub_arg >> 16), refused = -1, pick;
	int slot[3] = { -1, route <= TG_MAX_ROUTES ? route : -1,
			model <= TG_MAX_MODELS ? TG_SUB_MODEL_SLOT(model) : -1 };
	char label[TG_NAME_LEN + TG_MODEL_NAME_LEN + 16];

	memset(lim, 0, sizeof(lim));
	if (b)
		tg_check_limits(&k->qvals[qid], b, now, &lim[0]);
	for (int i = 1; i < 3; i++)
		if (slot[i] >= 0 && !sub_limits(&a->check, qid, slot[i], now, &lim[i]))
			slot[i] = -1;
	if (r & TG_CK_REFUSED) {
		int s = (int)((r >> TG_CK_SLOT_SHIFT) & 0xff);

		refused = s >= TG_ROUTE_IDS ? 2 : 1;
		if (slot[refused] != s) /* the limit changed since: read what refused */
			refused = sub_limits(&a->check, qid, s, now, &lim[refused]) ? refused : -1;
	}
	pick = tg_check_pick(lim, 3, refused);
	if (pick < 0)
		return;
	if (pick == 0) {
		tg_check_headers(resp, name, &lim[0], deny);
		return;
	}
	if (pick == 1)
		snprintf(label, sizeof(label), "%s/route:%s", name,
			 route <= TG_MAX_ROUTES && k->rnames[route][0] ? k->rnames[route] : "other");
	else
		snprintf(label, sizeof(label), "%s/model:%s", name,
			 model >= 1 && model < TG_MODEL_IDS && k->mlive[model] ? k->mnames[model]
										 : "other");
	tg_check_headers(resp, label, &lim[pick], deny);
	tg_api_resp_header(resp, "X-Tollgate-Limit", "%s", strchr(label, '/') + 1);
}

/* A port header, 1..65535; 0 when absent or malformed. */
static uint16_t port_of(const char *s)
{
	char *end;
	unsigned long v;

	if (!s || *s < '0' || *s > '9')
		return 0;
	v = strtoul(s, &end, 10);
	return *end || v > 65535 ? 0 : (uint16_t)v;
}

static void put_addr(__u64 *lo, __u64 *hi, const struct tg_addr *a)
{
	*lo = a->w[0] | (__u64)a->w[1] << 32;
	*hi = a->w[2] | (__u64)a->w[3] << 32;
}

void tg_h_check(void *ctx, const struct tg_api_req *req, struct tg_api_resp *resp)
{
	struct tg_api_ctx *a = ctx;
	struct tg_check_state *cs = &a->check;
	__u64 args[TG_CK_NARGS] = { 0 };
	LIBBPF_OPTS(bpf_test_run_opts, o, .ctx_in = args, .ctx_size_in = sizeof(args));
	struct tg_addr client, server;
	struct tg_check_limits lim;
	struct tg_bucket_key bk = { 0 };
	struct tg_bucket b;
	const char *why, *name = NULL, *uri;
	uint16_t cport, sport;
	bool deny;
	__u32 r, qid;

	cs->checks++;
	if (tg_check_client(a->cfg, tg_api_header(req, "X-Real-IP"),
			    tg_api_header(req, "X-Forwarded-For"), &client, &why)) {
		cs->bad++;
		return tg_api_error(resp, 400, why);
	}
	put_addr(&args[TG_CK_CLIENT_LO], &args[TG_CK_CLIENT_HI], &client);
	cport = port_of(tg_api_header(req, "X-Real-Port"));
	sport = port_of(tg_api_header(req, "X-Server-Port"));
	if (cport && sport && !tg_check_addr(tg_api_header(req, "X-Server-Addr"), &server)) {
		put_addr(&args[TG_CK_SERVER_LO], &args[TG_CK_SERVER_HI], &server);
		args[TG_CK_PORTS] = (__u64)cport << 16 | sport;
	}
	args[TG_CK_KEY_HASH] = tg_check_request_key(a->cfg, req, cs->known, cs->n_known);
	uri = tg_api_header(req, "X-Original-URI");
	if (!uri || !*uri)
		uri = tg_api_header(req, "X-Forwarded-Uri");
	/* Envoy's ext_authz appends the request's path to /v1/check */
	if ((!uri || !*uri) && req->path && !strncmp(req->path, "/v1/check/", 10))
		uri = req->path + 9;
	args[TG_CK_SUB] = tg_check_sub_arg(&a->kern->rtable, uri,
					   (const char (*)[TG_MODEL_NAME_LEN])a->kern->mnames,
					   a->kern->mlive, tg_api_header(req, "X-Model"));
	if (cs->prog_fd < 0 || bpf_prog_test_run_opts(cs->prog_fd, &o)) {
		cs->errors++;
		pr_warn("check failed: the kernel program did not run", "err=\"%s\"", strerror(errno));
		return tg_api_error(resp, 503, "the check could not run");
	}
	r = o.retval;
	if (r & TG_CK_NO_QUOTA) {
		cs->allowed++;
		resp->status = 204;
		return;
	}
	qid = r >> TG_CK_QID_SHIFT;
	deny = r & TG_CK_DENY;
	if (r & TG_CK_KERNEL)
		cs->from_kernel++;
	if (qid < TG_MAX_QUOTAS && a->kern->qnames[qid][0])
		name = a->kern->qnames[qid];
	if ((r & TG_CK_BUCKET) && name) {
		bk.qid = qid;
		if (r & TG_CK_ADDR)
			tg_check_client_key(a->cfg, &client, &bk.addr);
		if (!bpf_map_lookup_elem((r & TG_CK_ADDR) ? cs->abuckets_fd : cs->buckets_fd, &bk, &b)) {
			if (a->kern->qvals[qid].flags & TG_QUOTA_SUBLIMITS) {
				limit_headers(a, resp, r, qid, name, &b, args[TG_CK_SUB], deny);
			} else {
				tg_check_limits(&a->kern->qvals[qid], &b, tg_now_mono_ns(), &lim);
				tg_check_headers(resp, name, &lim, deny);
			}
		}
	}
	if (name)
		tg_api_resp_header(resp, "X-Tollgate-Key", "%s", name);
	if (deny) {
		cs->denied++;
		resp->status = (int)a->cfg->check_deny_status;
		resp->delay_ms = a->cfg->check_deny_delay_ms;
		if (!resp->retry_after[0])
			snprintf(resp->retry_after, sizeof(resp->retry_after), "1");
	} else {
		cs->allowed++;
		resp->status = 204;
	}
}

