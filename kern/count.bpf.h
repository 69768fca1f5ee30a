/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* Per-client counting of TCP segments toward gateway ports. One code path
 * for every attach point that sees client-to-gateway segments.
 *
 * Cost discipline: a plain segment (no SYN/FIN/RST, not a request start)
 * does one per-CPU LRU update and reads its first payload bytes, nothing
 * else. Timestamps, connection state and histograms are touched only on
 * SYN, request start and FIN/RST. */
#ifndef TG_COUNT_BPF_H
#define TG_COUNT_BPF_H

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include "shared.h"
#include "http_token.h"
#include "maps.bpf.h"
#include "parse.bpf.h"

/* Hint lookups that found nothing to do before the hint is cleared on this
 * CPU; bounds the cost of a stale hint (a connection whose end we missed). */
#define TG_HINT_WASTE_MAX 32

/* Longest header stack we read payload bytes behind with direct access. */
#define TG_DIRECT_OFF_MAX 512

static __always_inline __u32 prefix_mask(__u32 prefix, int word)
{
	int bits = (int)prefix - 32 * word;

	if (bits >= 32)
		return 0xffffffff;
	if (bits <= 0)
		return 0;
	return bpf_htonl(0xffffffff << (32 - bits));
}

static __always_inline void client_key(struct tg_addr *k, const struct tg_pkt *p)
{
	struct tg_settings *s;
	__u32 prefix = 64;

	*k = p->flow.saddr;
	if (!p->is_v6)
		return;
	s = settings_get();
	if (s && s->ipv6_prefix && s->ipv6_prefix <= 128)
		prefix = s->ipv6_prefix;
	k->w[0] &= prefix_mask(prefix, 0);
	k->w[1] &= prefix_mask(prefix, 1);
	k->w[2] &= prefix_mask(prefix, 2);
	k->w[3] &= prefix_mask(prefix, 3);
}

static __always_inline struct tg_client *client_get(const struct tg_addr *key)
{
	struct tg_client *c = bpf_map_lookup_elem(&tg_clients, key);
	struct tg_client zero = {};
	struct tg_global *g;

	if (c)
		return c;
	/* BPF_NOEXIST: another CPU may have created it meanwhile. */
	if (bpf_map_update_elem(&tg_clients, key, &zero, BPF_NOEXIST) == 0) {
		g = global_get();
		if (g)
			g->new_clients++;
	}
	return bpf_map_lookup_elem(&tg_clients, key);
}

/* Adds delta to the client's pending-first-payload hint on every CPU. */
static __always_inline void client_pending_add(const struct tg_addr *key, int delta)
{
	for (__u32 cpu = 0; cpu < TG_MAX_CPUS; cpu++) {
		struct tg_client *c;

		if (cpu >= tg_nr_cpus)
			break;
		c = bpf_map_lookup_percpu_elem(&tg_clients, key, cpu);
		if (c)
			__sync_fetch_and_add(&c->pending, delta);
	}
}

static __always_inline void client_touch(struct tg_client *c, __u64 now)
{
	if (!c->first_seen_ns)
		c->first_seen_ns = now;
	c->last_seen_ns = now;
}

static __always_inline void client_size(struct tg_client *c, __u32 size)
{
	__u32 b = tg_size_bucket(size);

	if (b < TG_SIZE_BUCKETS)
		c->size_hist[b]++;
}

/* The first (up to 8) payload bytes as a little-endian word. Direct packet
 * access when they are in the linear data, a helper call otherwise. */
static __always_inline int payload_head(struct __sk_buff *skb,
					const struct tg_pkt *p, __u64 *w,
					__u32 *n)
{
	__u32 off = p->payload_off, len = p->payload_len < 8 ? p->payload_len : 8;
	void *data = (void *)(long)skb->data;
	void *end = (void *)(long)skb->data_end;

	*w = 0;
	*n = len;
	if (len == 0)
		return -1;
	if (off < TG_DIRECT_OFF_MAX && data + off + 8 <= end) {
		__builtin_memcpy(w, data + off, 8);
		*w &= tg_bytes_mask(len);
		return 0;
	}
	len &= 0xf; /* keeps the verifier's bound through clang 14 */
	if (len < 1 || len > 8)
		return -1;
	return bpf_skb_load_bytes(skb, off, w, len);
}

/* A request start, or what may be one: counts it unless it is a
 * retransmission of the current request start (or older data). */
static __always_inline void conn_request(struct tg_pkt *p, struct tg_client *c,
					 const struct tg_addr *key,
					 struct tg_conn *cn, __u64 now)
{
	if (cn) {
		if ((cn->flags & TG_CONN_HAVE_REQ) &&
		    (__s32)(p->seq - cn->req_seq) <= 0)
			return;
		if (cn->flags & TG_CONN_HAVE_REQ)
			client_size(c, p->seq - cn->req_seq);
		if (!(cn->flags & TG_CONN_SEEN_PAYLOAD))
			client_pending_add(key, -1);
		cn->req_seq = p->seq;
		cn->flags |= TG_CONN_HAVE_REQ | TG_CONN_SEEN_PAYLOAD;
		cn->requests++;
		cn->req_ns = now;
	} else {
		/* The SYN went unseen (the agent started mid-connection, or
		 * the entry was evicted): track it from here. */
		struct tg_conn nc = {
			.isn = p->seq - 1,
			.req_seq = p->seq,
			.flags = TG_CONN_HAVE_REQ | TG_CONN_SEEN_PAYLOAD,
			.requests = 1,
			.req_ns = now,
		};
		struct tg_global *g = global_get();

		bpf_map_update_elem(&tg_conns, &p->flow, &nc, BPF_ANY);
		if (g)
			g->conns_missing++;
	}
	c->requests++;
	client_touch(c, now);
}

static __always_inline void conn_syn(struct tg_pkt *p, struct tg_client *c,
				     const struct tg_addr *key, __u64 now)
{
	struct tg_conn *cn = bpf_map_lookup_elem(&tg_conns, &p->flow);
	struct tg_conn nc = { .isn = p->seq };
	int was_pending;

	if (cn && cn->isn == p->seq)
		return; /* a retransmitted SYN */
	was_pending = cn && !(cn->flags & TG_CONN_SEEN_PAYLOAD);
	bpf_map_update_elem(&tg_conns, &p->flow, &nc, BPF_ANY);
	c->syns++;
	client_touch(c, now);
	if (!was_pending)
		client_pending_add(key, 1);
}

static __always_inline void conn_end(struct tg_pkt *p, struct tg_client *c,
				     const struct tg_addr *key, __u64 now)
{
	struct tg_conn *cn = bpf_map_lookup_elem(&tg_conns, &p->flow);

	if (!cn)
		return;
	/* A FIN ends the last request: its size is the FIN's sequence number
	 * minus the request start's. A RST aborts it: no size. */
	if ((p->tcp_flags & TCP_FIN) && (cn->flags & TG_CONN_HAVE_REQ))
		client_size(c, p->seq + p->payload_len - cn->req_seq);
	if (!(cn->flags & TG_CONN_SEEN_PAYLOAD))
		client_pending_add(key, -1);
	bpf_map_delete_elem(&tg_conns, &p->flow);
	client_touch(c, now);
}

/* Counts one client-to-gateway TCP segment (a GSO super-packet counts as
 * the segments it carries). */
static __always_inline void tg_count(struct __sk_buff *skb, struct tg_pkt *p)
{
	__u32 segs = skb->gso_segs > 1 ? skb->gso_segs : 1;
	struct tg_addr key;
	struct tg_client *c;
	__u64 w = 0, now;
	__u32 n = 0;
	int start;

	client_key(&key, p);
	c = client_get(&key);
	if (!c)
		return;
	c->packets += segs;
	c->bytes += p->payload_len + segs * p->hdr_len;
	c->payload_bytes += p->payload_len;

	start = p->payload_len && payload_head(skb, p, &w, &n) == 0 &&
		tg_is_request_start(w, n);

	if (!(p->tcp_flags & (TCP_SYN | TCP_FIN | TCP_RST)) && !start) {
		/* The plain-segment path. */
		struct tg_conn *cn;

		if (!p->payload_len || !c->pending)
			return;
		/* A connection of this client still awaits its first payload
		 * segment, which is a request start whatever it holds. */
		cn = bpf_map_lookup_elem(&tg_conns, &p->flow);
		if (cn && !(cn->flags & TG_CONN_SEEN_PAYLOAD)) {
			conn_request(p, c, &key, cn, bpf_ktime_get_ns());
		} else if (++c->wasted >= TG_HINT_WASTE_MAX) {
			c->pending = 0;
			c->wasted = 0;
		}
		return;
	}

	now = bpf_ktime_get_ns();
	if ((p->tcp_flags & (TCP_SYN | TCP_ACK)) == TCP_SYN)
		conn_syn(p, c, &key, now);
	if (p->payload_len) {
		struct tg_conn *cn = bpf_map_lookup_elem(&tg_conns, &p->flow);

		/* A SYN's payload (TCP Fast Open) sits one past the ISN. */
		if (p->tcp_flags & TCP_SYN)
			p->seq += 1;
		if (start || (cn && !(cn->flags & TG_CONN_SEEN_PAYLOAD)))
			conn_request(p, c, &key, cn, now);
		if (p->tcp_flags & TCP_SYN)
			p->seq -= 1;
	}
	if (p->tcp_flags & (TCP_FIN | TCP_RST))
		conn_end(p, c, &key, now);
}

#endif /* TG_COUNT_BPF_H */
