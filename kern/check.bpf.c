// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* /v1/check, the kernel's side: never attached, run by the agent through
 * BPF_PROG_TEST_RUN for each check. For a connection whose latest request
 * start the kernel saw and charged to the bucket the check resolves to, it
 * hands over the verdict the kernel recorded, once per request start (so
 * the request is never counted twice); otherwise (TLS ended at the
 * gateway, HTTP/2, a key the kernel could not see in the segment, an
 * address the kernel never saw) it charges the bucket with the packet
 * path's own code, so a check and a packet take tokens from one bucket as
 * atomically as two packets do. */
#define TG_STAGE_SLOT 2 /* its own slot of tg_stage (maps.bpf.h) */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include "shared.h"
#include "maps.bpf.h"
#include "count.bpf.h"

static __always_inline void addr_from(struct tg_addr *a, __u64 lo, __u64 hi)
{
	a->w[0] = (__u32)lo;
	a->w[1] = (__u32)(lo >> 32);
	a->w[2] = (__u32)hi;
	a->w[3] = (__u32)(hi >> 32);
}

static __always_inline __u32 bucket_bits(__u32 qid, int addr_bucket)
{
	return TG_CK_BUCKET | (addr_bucket ? TG_CK_ADDR : 0) | (qid << TG_CK_QID_SHIFT);
}

/* The kernel's verdict of the connection's latest request start, if one
 * is there that no check has taken yet, and if it is a verdict about the
 * request this check is about: the start was charged to the bucket the
 * check's own identity resolves to (r), and, when that identity is an API
 * key, the start was an HTTP request (a TLS ClientHello is charged to its
 * address, or to nothing; the key inside the encrypted request is never
 * the kernel's to see). -1 otherwise: the check charges the request
 * itself. Either way the start is taken, so it is handed over once. */
static __always_inline int kernel_verdict(const struct tg_addr *client, __u64 slo, __u64 shi,
					  __u64 ports, const struct tg_resolved *r, int by_key)
{
	struct tg_flow f = {};
	struct tg_conn *cn;
	__u32 seen, taken, flags, v;
	int addr_bucket;

	f.saddr = *client;
	addr_from(&f.daddr, slo, shi);
	f.sport = bpf_htons((__u16)(ports >> 16));
	f.dport = bpf_htons((__u16)ports);
	cn = bpf_map_lookup_elem(&tg_conns, &f);
	if (!cn)
		return -1;
	flags = cn->flags;
	seen = cn->requests;
	taken = cn->checked;
	if (!(flags & TG_CONN_HAVE_REQ) || seen == taken ||
	    __sync_val_compare_and_swap(&cn->checked, taken, seen) != taken)
		return -1;
	if (by_key && !(flags & TG_CONN_REQ_HTTP))
		return -1;
	addr_bucket = !!(flags & TG_CONN_ADDR_BUCKET);
	if (!(flags & TG_CONN_BUCKET) || !r->q || cn->qid != r->bkey.qid ||
	    addr_bucket != r->addr_bucket ||
	    cn->bucket_addr.w[0] != r->bkey.addr.w[0] || cn->bucket_addr.w[1] != r->bkey.addr.w[1] ||
	    cn->bucket_addr.w[2] != r->bkey.addr.w[2] || cn->bucket_addr.w[3] != r->bkey.addr.w[3])
		return -1;
	v = TG_CK_KERNEL | bucket_bits(cn->qid, addr_bucket);
	if (flags & (TG_CONN_REQ_DENIED | TG_CONN_REQ_OVER))
		v |= TG_CK_DENY;
	return (int)v;
}

SEC("raw_tp")
int tg_check(struct bpf_raw_tracepoint_args *ctx)
{
	__u64 clo = ctx->args[TG_CK_CLIENT_LO], chi = ctx->args[TG_CK_CLIENT_HI];
	__u64 slo = ctx->args[TG_CK_SERVER_LO], shi = ctx->args[TG_CK_SERVER_HI];
	__u64 ports = ctx->args[TG_CK_PORTS], hash = ctx->args[TG_CK_KEY_HASH];
	struct tg_settings *s = settings_get();
	struct tg_addr client, key;
	struct tg_resolved r;
	struct tg_bucket *b;
	__u32 *kq;
	__u64 now;
	int v, by_key, refused = 0;

	if (!s)
		return TG_CK_NO_QUOTA;
	addr_from(&client, clo, chi);
	addr_key(&key, &client);
	if (quota_resolve(&client, &key, hash, &r) || !r.q)
		return TG_CK_NO_QUOTA;
	/* No limit and not a deny entry: nothing to charge, as on the packet
	 * path. */
	if (!r.q->req_interval && !r.q->byte_interval_fp && r.q->action != TG_ACTION_DENY &&
	    !(r.q->flags & TG_QUOTA_SUBLIMITS))
		return (int)(r.bkey.qid << TG_CK_QID_SHIFT);
	kq = hash ? bpf_map_lookup_elem(&tg_apikeys, &hash) : NULL;
	by_key = kq && *kq == r.bkey.qid;
	if (ports) {
		v = kernel_verdict(&client, slo, shi, ports, &r, by_key);
		if (v >= 0)
			return v;
	}
	b = bucket_get(&r);
	if (!b)
		return TG_CK_NO_QUOTA;
	now = bpf_ktime_get_ns();
	/* The check sees no body: the request is charged, its bytes are not. */
	v = quota_request(&r, b, now, 0, &client, hash, s, 0, (__u32)ctx->args[TG_CK_SUB],
			  &refused);
	return (int)(bucket_bits(r.bkey.qid, r.addr_bucket) |
		     (v == TG_DROP || v == TG_OVER ? TG_CK_DENY : 0) |
		     (refused > 0 ? TG_CK_REFUSED | (__u32)(refused - 1) << TG_CK_SLOT_SHIFT : 0));
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
