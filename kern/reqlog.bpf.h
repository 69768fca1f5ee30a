/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* The request log (log.requests): one fixed-size record per sampled
 * request, handed to the agent through its own ring buffer (tg_requests,
 * apart from the denial events).
 *
 * A request start is sampled (bpf_get_prandom_u32 against a threshold)
 * and capped (a per-second budget) before anything else, so an unsampled
 * request never reserves ring space or touches the pending map. A record
 * goes out:
 * - at once, when the request start is dropped (verdict denied);
 * - when its response's status line passes the egress path;
 * - when the connection closes (FIN/RST) with the request still open
 *   (verdict abandoned), or the next request start of the connection
 *   comes first (the record goes without a status).
 * Until then its fields wait in tg_reqlog_pending, an LRU keyed by the
 * flow: struct tg_conn does not grow; the connection carries only the
 * TG_CONN_LOGGED flag.
 *
 * request_bytes: at the status line, the server's acknowledgement minus
 * the request start's sequence number (what the gateway had received of
 * the request when it answered, body included); at a FIN, the FIN's
 * sequence number minus it; otherwise (a refused start, a RST, a
 * response whose ACK is behind) the request start segment's payload.
 *
 * The functions run in the request start's chain of calls, which leaves
 * them little stack: global functions (verified once) with their state
 * in map memory. */
#ifndef TG_REQLOG_BPF_H
#define TG_REQLOG_BPF_H

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include "shared.h"
#include "http_token.h"
#include "maps.bpf.h"
#include "parse.bpf.h"
#include "route.bpf.h"

#define TG_NSEC_PER_SEC 1000000000ULL

/* Request log records for the agent. */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1024 * 1024);
} tg_requests SEC(".maps") __weak;

/* log.requests' sample and cap, and the cap's budget of this second. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct tg_reqlog_conf);
} tg_reqlog_conf SEC(".maps") __weak;

/* Request log counters: sampled, capped, lost to a full ring. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct tg_reqlog_stats);
} tg_reqlog_stats SEC(".maps") __weak;

/* Sampled requests awaiting their response, by flow (client side). 8192:
 * at the default cap (1000 records/s), 8 s to the first response byte
 * before the oldest is evicted (its record is then lost, uncounted). */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 8192);
	__type(key, struct tg_flow);
	__type(value, struct tg_reqlog_rec);
} tg_reqlog_pending SEC(".maps") __weak;

/* The record being built at a request start (per CPU, not on the stack). */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct tg_reqlog_rec);
} tg_reqlog_build SEC(".maps") __weak;

static __always_inline struct tg_reqlog_stats *reqlog_stats(void)
{
	__u32 zero = 0;

	return bpf_map_lookup_elem(&tg_reqlog_stats, &zero);
}

/* Copies rec into the ring buffer; a full ring drops it and counts. */
static __always_inline void reqlog_emit(const struct tg_reqlog_rec *rec)
{
	struct tg_reqlog_stats *st = reqlog_stats();
	struct tg_reqlog_rec *out = bpf_ringbuf_reserve(&tg_requests, sizeof(*out), 0);

	if (!out) {
		if (st)
			st->lost++;
		return;
	}
	__builtin_memcpy(out, rec, sizeof(*out));
	bpf_ringbuf_submit(out, 0);
	if (st)
		st->records++;
}

/* The pending record of `flow`, finished as `verdict` (or as it was, for
 * TG_RV_MAX) with `bytes` when larger than what it holds, out to the
 * ring, and forgotten. */
static __always_inline void reqlog_flush(const struct tg_flow *flow, __u32 verdict, __u32 bytes)
{
	struct tg_reqlog_rec *rec = bpf_map_lookup_elem(&tg_reqlog_pending, flow);

	if (!rec)
		return;
	if (verdict < TG_RV_MAX)
		rec->verdict = verdict;
	if (bytes > rec->request_bytes && bytes < 0x80000000u)
		rec->request_bytes = bytes;
	reqlog_emit(rec);
	bpf_map_delete_elem(&tg_reqlog_pending, flow);
}

/* Sampling and the cap: 1 when this request start gets a record. */
static __always_inline int reqlog_sample(__u64 now)
{
	__u32 zero = 0;
	struct tg_reqlog_conf *conf = bpf_map_lookup_elem(&tg_reqlog_conf, &zero);
	struct tg_reqlog_stats *st;
	__u64 sec, old;

	if (!conf)
		return 0;
	if (!conf->all && bpf_get_prandom_u32() >= conf->threshold)
		return 0;
	st = reqlog_stats();
	if (st)
		st->sampled++;
	if (!conf->max_per_sec)
		return 1;
	/* A new second: whoever swaps the second in resets the budget. An
	 * add racing with the reset may be lost: the cap is then exceeded by
	 * the few starts that raced, never undercut. */
	sec = now / TG_NSEC_PER_SEC;
	old = conf->sec;
	if (old != sec && __sync_val_compare_and_swap(&conf->sec, old, sec) == old)
		conf->used = 0;
	if (__sync_fetch_and_add(&conf->used, 1) >= conf->max_per_sec) {
		if (st)
			st->capped++;
		return 0;
	}
	return 1;
}

/* A request start of the connection cn (its verdict v: TG_PASS or
 * TG_DROP; TG_CONN_REQ_OVER and TG_CONN_REQ_WOULD tell the rest), after
 * its route and quota id are known. A record still pending on the
 * connection goes out first, without a status. */
__noinline __weak int tg_reqlog_begin(struct __sk_buff *skb, struct tg_pkt *p,
				      struct tg_conn *cn, int v)
{
	__u32 zero = 0, n;
	struct tg_route_state *rs;
	struct tg_reqlog_rec *rec;
	__u64 w = 0;

	if (!p || !cn)
		return 0;
	if (cn->flags & TG_CONN_LOGGED) {
		cn->flags &= ~TG_CONN_LOGGED;
		reqlog_flush(&p->flow, TG_RV_MAX, 0);
	}
	if (!reqlog_sample(cn->req_ns))
		return 0;
	rec = bpf_map_lookup_elem(&tg_reqlog_build, &zero);
	rs = bpf_map_lookup_elem(&tg_route_state, &zero);
	if (!rec || !rs)
		return 0;
	rec->start_ns = cn->req_ns;
	rec->ttfb_ns = 0;
	if (cn->flags & TG_CONN_PROXY)
		rec->client = cn->proxy_addr;
	else
		rec->client = p->flow.saddr;
	rec->client_port = bpf_ntohs(p->flow.sport);
	rec->qid = rs->qid;
	rec->route = rs->route <= TG_MAX_ROUTES ? rs->route : TG_ROUTE_OTHER;
	rec->model = rs->req.model;
	rec->req_seq = cn->req_seq;
	rec->request_bytes = p->payload_len;
	rec->status = 0;
	n = (p->payload_len < 8 ? p->payload_len : 8) & 0xf;
	rec->method = TG_METHOD_OTHER;
	if (n >= 1 && n <= 8 && bpf_skb_load_bytes(skb, p->payload_off, &w, n) == 0)
		rec->method = tg_method(w, n);
	if (v == TG_DROP || (cn->flags & TG_CONN_REQ_OVER))
		rec->verdict = TG_RV_DENIED;
	else if (cn->flags & TG_CONN_REQ_WOULD)
		rec->verdict = TG_RV_WOULD_DENY;
	else
		rec->verdict = TG_RV_ALLOWED;
	rec->pad = 0;
	rec->pad2[0] = 0;
	rec->pad2[1] = 0;
	if (v == TG_DROP) {
		reqlog_emit(rec);
		return 0;
	}
	if (bpf_map_update_elem(&tg_reqlog_pending, &p->flow, rec, BPF_ANY)) {
		struct tg_reqlog_stats *st = reqlog_stats();

		if (st)
			st->pending_lost++;
		return 0;
	}
	cn->flags |= TG_CONN_LOGGED;
	return 0;
}

/* The response to the logged request of cn starts (status line `code`);
 * flow is the client's side, p the gateway's segment. */
__noinline __weak int tg_reqlog_response(struct tg_flow *flow, struct tg_pkt *p,
					 struct tg_conn *cn, int code)
{
	struct tg_reqlog_rec *rec;
	__u64 now = bpf_ktime_get_ns();

	if (!flow || !p || !cn)
		return 0;
	cn->flags &= ~TG_CONN_LOGGED;
	rec = bpf_map_lookup_elem(&tg_reqlog_pending, flow);
	if (!rec)
		return 0;
	rec->status = code > 0 && code < 1000 ? (__u16)code : 0;
	rec->ttfb_ns = now > rec->start_ns ? now - rec->start_ns : 0;
	reqlog_flush(flow, TG_RV_MAX, p->ack - rec->req_seq);
	return 0;
}

/* The client closed (FIN) or reset the connection with its logged
 * request still open: abandoned. */
__noinline __weak int tg_reqlog_close(struct tg_pkt *p, struct tg_conn *cn)
{
	struct tg_reqlog_rec *rec;
	__u32 bytes = 0;

	if (!p || !cn)
		return 0;
	cn->flags &= ~TG_CONN_LOGGED;
	rec = bpf_map_lookup_elem(&tg_reqlog_pending, &p->flow);
	if (!rec)
		return 0;
	if (!(p->tcp_flags & TCP_RST))
		bytes = p->seq + p->payload_len - rec->req_seq;
	reqlog_flush(&p->flow, TG_RV_ABANDONED, bytes);
	return 0;
}

#endif /* TG_REQLOG_BPF_H */
