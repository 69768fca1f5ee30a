/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* Responses on the egress path (TC egress, cgroup egress): gateway-to-
 * client segments from a gateway port. Per client: response bytes (wire
 * bytes: a retransmitted segment counts again), status classes (one per
 * request: a retransmitted status line does not count) and the time from
 * the request start to the response's first byte. A plain response
 * segment costs one per-CPU LRU update; only a status line looks the
 * connection up. */
#ifndef TG_RESP_BPF_H
#define TG_RESP_BPF_H

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include "shared.h"
#include "http_token.h"
#include "maps.bpf.h"
#include "parse.bpf.h"
#include "count.bpf.h"

static __always_inline struct tg_resp *resp_get(const struct tg_addr *key)
{
	struct tg_resp *r = bpf_map_lookup_elem(&tg_responses, key);
	struct tg_resp zero = {};

	if (r)
		return r;
	bpf_map_update_elem(&tg_responses, key, &zero, BPF_NOEXIST);
	return bpf_map_lookup_elem(&tg_responses, key);
}

/* The first 16 payload bytes, as two words; n of them valid. */
static __always_inline int resp_head(struct __sk_buff *skb, const struct tg_pkt *p,
				     __u64 *w0, __u64 *w1, __u32 *n)
{
	__u32 off = p->payload_off;
	void *data = (void *)(long)skb->data;
	void *end = (void *)(long)skb->data_end;

	*w0 = 0;
	*w1 = 0;
	*n = p->payload_len < 16 ? p->payload_len : 16;
	if (*n < 12)
		return -1;
	if (off < TG_DIRECT_OFF_MAX && data + off + 16 <= end) {
		__builtin_memcpy(w0, data + off, 8);
		__builtin_memcpy(w1, data + off + 8, 8);
		return 0;
	}
	if (bpf_skb_load_bytes(skb, off, w0, 8) || bpf_skb_load_bytes(skb, off + 8, w1, 4))
		return -1;
	return 0;
}

/* Counts one gateway-to-client segment. */
static __always_inline void tg_count_response(struct __sk_buff *skb, struct tg_pkt *p)
{
	__u32 segs = skb->gso_segs > 1 ? skb->gso_segs : 1, n;
	struct tg_flow f;
	struct tg_addr key;
	struct tg_resp *r;
	struct tg_conn *cn;
	__u64 w0, w1;
	int cls, code;

	/* The server's SYN-ACK: its ISN, which the client's first payload must
	 * acknowledge (count.bpf.h, conn_verify). */
	if ((p->tcp_flags & (TCP_SYN | TCP_ACK)) == (TCP_SYN | TCP_ACK)) {
		f.saddr = p->flow.daddr;
		f.daddr = p->flow.saddr;
		f.sport = p->flow.dport;
		f.dport = p->flow.sport;
		f.pad = 0;
		bpf_map_update_elem(&tg_handshake, &f, &p->seq, BPF_ANY);
		return;
	}
	addr_key(&key, &p->flow.daddr);
	r = resp_get(&key);
	if (!r)
		return;
	__sync_fetch_and_add(&r->packets, segs);
	__sync_fetch_and_add(&r->bytes, p->payload_len);
	if (resp_head(skb, p, &w0, &w1, &n))
		return;
	code = tg_status_code(w0, w1, n);
	cls = tg_status_class_of(code);
	if (cls < 0)
		return;
	/* the connection, as the client sent it */
	f.saddr = p->flow.daddr;
	f.daddr = p->flow.saddr;
	f.sport = p->flow.dport;
	f.dport = p->flow.sport;
	f.pad = 0;
	cn = bpf_map_lookup_elem(&tg_conns, &f);
	/* A status line on a connection whose request was answered already
	 * is a retransmission: not a second response. */
	if (cn && !(cn->flags & TG_CONN_RESP_PENDING))
		return;
	__sync_fetch_and_add(&r->responses, 1);
	if (cls < TG_ST_MAX)
		__sync_fetch_and_add(&r->status[cls], 1);
	if (cn) {
		__u32 b = tg_lat_bucket(bpf_ktime_get_ns() - cn->req_ns);

		cn->flags &= ~TG_CONN_RESP_PENDING;
		if (b < TG_LAT_BUCKETS)
			__sync_fetch_and_add(&r->lat_hist[b], 1);
		if (cn->flags & TG_CONN_LOGGED)
			tg_reqlog_response(&f, p, cn, code);
	}
}

#endif /* TG_RESP_BPF_H */
