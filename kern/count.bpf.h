/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* Per-client counting of TCP segments toward gateway ports. One code path
 * for every attach point that sees client-to-gateway segments.
 *
 * Cost discipline: a plain segment (no SYN/FIN/RST, not a request start)
 * does one LRU lookup and three adds on the client's hot line (plain on
 * the CPU that owns the record, atomic on others), one inlined per-CPU
 * array update (totals),
 * one compare for the active set and reads its first payload bytes,
 * nothing else. Timestamps, connection state and histograms are touched only on
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
#include "quota.bpf.h"
#include "scan.bpf.h"
#include "route.bpf.h"
#include "model.bpf.h"

#define TG_EEXIST 17 /* the errno a BPF_NOEXIST update of an existing key returns */

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

/* The client key of an address: IPv4 as is, IPv6 masked to the prefix. */
static __always_inline void addr_key(struct tg_addr *k, const struct tg_addr *a)
{
	struct tg_settings *s;
	__u32 prefix = 64;

	*k = *a;
	if (a->w[0] == 0 && a->w[1] == 0 && a->w[2] == bpf_htonl(0xffff))
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
	struct tg_scratch *sc;
	struct tg_global *g;
	__u32 zero = 0;

	if (c)
		return c;
	/* The new record is built in the per-CPU scratch, not on the stack
	 * (128 bytes the scan's chain of calls needs). Nothing else uses the
	 * scratch's buffer at this point: the header scan comes later. */
	sc = bpf_map_lookup_elem(&tg_scratch, &zero);
	if (!sc)
		return NULL;
	c = (struct tg_client *)sc->buf;
	__builtin_memset(c, 0, sizeof(*c));
	c->owner = bpf_get_smp_processor_id();
	/* When it was made: the agent tells a new client (rated from zero)
	 * from an old one back from idleness (whose earlier figures it may
	 * not hold) by this. */
	c->first_seen_ns = bpf_ktime_get_ns();
	/* BPF_NOEXIST: another CPU may have created it meanwhile. */
	if (bpf_map_update_elem(&tg_clients, key, c, BPF_NOEXIST) == 0) {
		g = global_get();
		if (g)
			g->new_clients++;
	}
	return bpf_map_lookup_elem(&tg_clients, key);
}

/* Puts the client into the active set once per scan epoch: the
 * agent reads only what changed. On every other packet this is one load
 * and one compare. BPF_NOEXIST: when another CPU put it there already, the
 * update fails before allocating anything. */
static __always_inline void client_mark_active(struct tg_client *c, const struct tg_addr *key)
{
	__u16 epoch = (__u16)tg_scan_epoch;
	struct tg_global *g;
	__u8 one = 1;
	long err;

	if (c->epoch == epoch)
		return;
	c->epoch = epoch;
	err = bpf_map_update_elem(&tg_active, key, &one, BPF_NOEXIST);
	if (err && err != -TG_EEXIST) {
		g = global_get();
		if (g)
			g->active_lost++;
	}
}

/* Adds delta to the client's pending hint (one shared counter). */
static __always_inline void client_pending_add(const struct tg_addr *key, int delta)
{
	struct tg_client *c = bpf_map_lookup_elem(&tg_clients, key);

	if (c)
		__sync_fetch_and_add(&c->pending, delta);
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
		__sync_fetch_and_add(&c->size_hist[b], 1);
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

/* Creates (or replaces) the connection record of `flow`. The record is
 * built in the per-CPU scratch, not on the stack (64 bytes the deepest
 * call chain cannot spare); nothing else uses the scratch's buffer here. */
static __always_inline void conn_put(const struct tg_flow *flow, __u32 isn, __u32 flags)
{
	struct tg_scratch *sc;
	struct tg_conn *nc;
	__u32 zero = 0;

	sc = bpf_map_lookup_elem(&tg_scratch, &zero);
	if (!sc)
		return;
	nc = (struct tg_conn *)sc->buf;
	__builtin_memset(nc, 0, sizeof(*nc));
	nc->isn = isn;
	nc->flags = flags;
	bpf_map_update_elem(&tg_conns, flow, nc, BPF_ANY);
}


static __always_inline void conn_attention(const struct tg_addr *key, __u32 before,
					   __u32 after)
{
	int was = conn_needs_attention(before), is = conn_needs_attention(after);

	if (was != is)
		client_pending_add(key, is ? 1 : -1);
}

static __always_inline struct tg_bucket *conn_bucket(const struct tg_conn *cn)
{
	struct tg_bucket_key k = { .qid = cn->qid, .addr = cn->bucket_addr };

	if (!(cn->flags & TG_CONN_BUCKET))
		return NULL;
	return bucket_lookup(&k, cn->flags & TG_CONN_ADDR_BUCKET);
}

/* The request that ends here (at sequence number `end`) was `size` bytes:
 * into the histogram, and to its key's allowed bytes. */
static __always_inline void conn_request_done(struct tg_client *c, struct tg_conn *cn,
					      __u32 end)
{
	__u32 size = end - cn->req_seq;
	struct tg_bucket *b;

	client_size(c, size);
	if (cn->flags & TG_CONN_REQ_DENIED)
		return;
	b = conn_bucket(cn);
	if (b)
		__sync_fetch_and_add(&b->allowed_bytes, size);
}

/* Applies the quota to the request start at p->seq and records the
 * verdict in the connection. */
static __always_inline int conn_verdict(struct __sk_buff *skb, struct tg_pkt *p,
					const struct tg_addr *client, const struct tg_addr *key,
					struct tg_conn *cn, __u64 now, const struct tg_settings *s)
{
	struct tg_resolved r;
	struct tg_bucket *b;
	__u64 hash = 0;
	int v;

	if (s->n_quota_keys || (s->flags & (TG_SET_KEY_USE | TG_SET_ROUTES | TG_SET_MODELS)))
		hash = tg_scan_api_key(skb, p->payload_off, p->payload_len);
	if (hash && (s->flags & TG_SET_KEY_USE))
		tg_key_use_note(hash, key, now);
	if (quota_resolve(client, key, hash, &r) || !r.q)
		return TG_PASS;
	route_note_qid(r.bkey.qid);
	/* Telemetry only (no limit, nothing to deny): no bucket to touch. */
	if (!r.q->req_interval && !r.q->byte_interval_fp && r.q->action != TG_ACTION_DENY) {
		cn->flags &= ~(TG_CONN_REQ_DENIED | TG_CONN_REQ_OVER | TG_CONN_CHARGE |
			       TG_CONN_BUCKET);
		return TG_PASS;
	}
	b = bucket_get(&r);
	if (!b)
		return TG_PASS;
	/* REQ_DENIED still set, with a bucket: a retransmission of a start
	 * this bucket refused and counted already (conn_request lets no other
	 * segment through to here with it). REQ_DENIED without a bucket is a
	 * TCP Fast Open start dropped uncharged (conn_unproven): not counted
	 * yet. */
	v = quota_request(&r, b, now, p->payload_len, client, hash, s,
			  (cn->flags & (TG_CONN_REQ_DENIED | TG_CONN_BUCKET)) ==
				  (TG_CONN_REQ_DENIED | TG_CONN_BUCKET));
	cn->qid = r.bkey.qid;
	cn->bucket_addr = r.bkey.addr;
	cn->flags &= ~(TG_CONN_REQ_DENIED | TG_CONN_REQ_OVER | TG_CONN_CHARGE |
		       TG_CONN_ADDR_BUCKET);
	cn->flags |= TG_CONN_BUCKET;
	if (r.addr_bucket)
		cn->flags |= TG_CONN_ADDR_BUCKET;
	if (v == TG_DROP)
		cn->flags |= TG_CONN_REQ_DENIED;
	else if (v == TG_OVER)
		cn->flags |= TG_CONN_REQ_OVER; /* /v1/check answers it; no byte charge */
	else if (r.q->byte_interval_fp && r.q->action != TG_ACTION_EXEMPT)
		cn->flags |= TG_CONN_CHARGE;
	return v == TG_OVER ? TG_PASS : v;
}

/* A request start its client has not proven (no acknowledgement of the
 * gateway's ISN, no established socket): a spoofer's, a start on the SYN
 * itself (TCP Fast Open), or a real client's whose proof is out of sight
 * (its handshake record evicted by a SYN flood, a forged first payload
 * ahead of its own, its tracked connection forgotten). Charging it would
 * let a spoofer drain its victim's bucket; admitting it free would let a
 * client make itself unproven and walk around its quota. So where a limit
 * the kernel enforces applies, it is held: dropped uncharged and counted.
 * A real client's stack sends it again (a TFO client: the SYN without data,
 * then the request after the handshake), and once proven it is charged;
 * a spoofer's never comes back. Monitor and gateway quotas never drop (the
 * check charges what the kernel could not). */
static __always_inline int conn_unproven(struct __sk_buff *skb, struct tg_pkt *p,
					 const struct tg_addr *client, const struct tg_addr *key,
					 const struct tg_settings *s)
{
	struct tg_integrity *in;
	struct tg_resolved r;
	__u64 hash = 0;

	if (s->n_quota_keys || (s->flags & (TG_SET_ROUTES | TG_SET_MODELS)))
		hash = tg_scan_api_key(skb, p->payload_off, p->payload_len);
	if (quota_resolve(client, key, hash, &r) || !r.q)
		return TG_PASS;
	route_note_qid(r.bkey.qid);
	if (r.q->action == TG_ACTION_EXEMPT)
		return TG_PASS;
	if (!r.q->req_interval && !r.q->byte_interval_fp && r.q->action != TG_ACTION_DENY)
		return TG_PASS;
	if (!quota_enforced(r.q, s))
		return TG_PASS;
	in = integrity_get();
	if (in)
		in->unproven_dropped++;
	return TG_DROP;
}

/* At a connection's first payload, with identity.proxy_protocol: a PROXY
 * header names the client. Returns 1 when the segment was only the header,
 * or ended inside it (the request comes next: this segment is no request
 * start and charges nobody), else 0 with p moved past any header. From a
 * source outside identity.trusted_proxies (when set) a PROXY header is
 * not read: the payload counts as the source's own request. */
static __always_inline int conn_proxy(struct __sk_buff *skb, struct tg_pkt *p,
				      struct tg_conn *cn)
{
	__u32 zero = 0, hdr;
	struct tg_scratch *sc;
	int rc;

	if (!proxy_source_trusted(&p->flow.saddr))
		return 0;
	rc = tg_proxy_scan(skb, p, cn->flags & TG_CONN_PROXY_PART);
	if (rc == TG_PROXY_PARTIAL) {
		cn->flags |= TG_CONN_PROXY_PART;
		return 1;
	}
	cn->flags &= ~TG_CONN_PROXY_PART;
	if (rc == TG_PROXY_NONE)
		return 0;
	cn->flags |= TG_CONN_PROXY_DONE;
	sc = bpf_map_lookup_elem(&tg_scratch, &zero);
	/* A malformed header counts as a request of the connection's own
	 * source: the gateway will refuse it, the quota still sees it. */
	if (rc == TG_PROXY_BAD || !sc)
		return 0;
	if (rc == TG_PROXY_ADDR) {
		cn->proxy_addr = sc->proxy.client;
		cn->flags |= TG_CONN_PROXY;
	}
	hdr = sc->proxy.hdr_len;
	cn->req_seq = p->seq + hdr; /* where the request data begins */
	if (hdr >= p->payload_len)
		return 1;
	p->seq += hdr;
	p->payload_off += hdr;
	p->payload_len -= hdr;
	return 0;
}

#define TG_TCP_ESTABLISHED 1
#define TG_TCP_FIN_WAIT1 4
#define TG_TCP_FIN_WAIT2 5
#define TG_TCP_CLOSE_WAIT 8
#define TG_TCP_LAST_ACK 9
#define TG_TCP_CLOSING 11

/* A socket past the handshake (data may flow to it). */
static __always_inline int sk_state_open(__u32 state)
{
	return state == TG_TCP_ESTABLISHED || state == TG_TCP_FIN_WAIT1 ||
	       state == TG_TCP_FIN_WAIT2 || state == TG_TCP_CLOSE_WAIT ||
	       state == TG_TCP_LAST_ACK || state == TG_TCP_CLOSING;
}

/* Is there an established gateway socket for this segment's 4-tuple? At
 * cgroup_skb the stack has matched the socket already; on TC it is looked
 * up in the packet's network namespace (a gateway in another namespace,
 * behind the host's end of a veth, is not found: the handshake proof
 * covers it). */
static __always_inline int conn_socket_open(struct __sk_buff *skb, const struct tg_pkt *p)
{
	struct bpf_sock_tuple t = {};
	struct bpf_sock *sk;
	__u32 state, len;

	if (p->at_socket) {
		sk = skb->sk;
		if (!sk)
			return 0;
		sk = bpf_sk_fullsock(sk);
		return sk && sk_state_open(sk->state);
	}
	if (p->is_v6) {
		__builtin_memcpy(t.ipv6.saddr, p->flow.saddr.w, 16);
		__builtin_memcpy(t.ipv6.daddr, p->flow.daddr.w, 16);
		t.ipv6.sport = p->flow.sport;
		t.ipv6.dport = p->flow.dport;
		len = sizeof(t.ipv6);
	} else {
		t.ipv4.saddr = p->flow.saddr.w[3];
		t.ipv4.daddr = p->flow.daddr.w[3];
		t.ipv4.sport = p->flow.sport;
		t.ipv4.dport = p->flow.dport;
		len = sizeof(t.ipv4);
	}
	sk = bpf_skc_lookup_tcp(skb, &t, len, BPF_F_CURRENT_NETNS, 0);
	if (!sk)
		return 0;
	state = sk->state;
	bpf_sk_release(sk);
	return sk_state_open(state);
}

/* Before a request start is charged: did its client complete the
 * handshake? A blind spoofer sending request starts from a victim's
 * address would otherwise drain the victim's bucket. Proof, cheapest
 * first: the first payload acknowledges the server's ISN (seen in its
 * SYN-ACK on egress), or an established socket exists for the 4-tuple.
 * A global function: verified once, so its paths do not multiply those
 * of the quota check after it. 1: proven. */
__noinline __weak int tg_conn_verify(struct __sk_buff *skb, struct tg_pkt *p)
{
	struct tg_integrity *in = integrity_get();
	__u32 *isn;

	if (!p)
		return 0;
	isn = bpf_map_lookup_elem(&tg_handshake, &p->flow);
	if (isn && p->ack == *isn + 1) {
		bpf_map_delete_elem(&tg_handshake, &p->flow);
		if (in)
			in->verified_handshake++;
		return 1;
	}
	if (conn_socket_open(skb, p)) {
		if (in)
			in->verified_socket++;
		return 1;
	}
	if (in)
		in->unverified++;
	return 0;
}

/* Once proven, a connection stays proven: later request starts on it cost
 * one flag test. */
static __always_inline int conn_verify(struct __sk_buff *skb, struct tg_pkt *p,
				       struct tg_conn *cn)
{
	if (cn->flags & TG_CONN_VERIFIED)
		return 1;
	if (!tg_conn_verify(skb, p))
		return 0;
	cn->flags |= TG_CONN_VERIFIED;
	return 1;
}

/* The client closed while the dropped start at req_seq waited: that
 * request is abandoned. Its client's kernel goes on retransmitting it
 * (an orphan socket, up to ~100 s), and tokens coming back would admit it
 * to a gateway nobody reads from; from now on it is never admitted. */
static __always_inline void conn_abandon(struct tg_conn *cn)
{
	struct tg_quota_stats *qs;
	struct tg_integrity *in;
	__u32 qid = cn->qid;

	if (cn->flags & TG_CONN_ABANDONED)
		return;
	cn->flags |= TG_CONN_ABANDONED;
	in = integrity_get();
	if (in)
		in->abandoned++;
	if (!(cn->flags & TG_CONN_BUCKET))
		return;
	qs = bpf_map_lookup_elem(&tg_quota_stats, &qid);
	if (qs)
		__sync_fetch_and_add(&qs->abandoned, 1);
}

/* A request start, or what may be one. Counts it unless it is a
 * retransmission of the current request start or older data. A
 * retransmission of a dropped request start is checked again; one of an
 * admitted start passes without taking a second token. `c` and `key` are
 * the packet source's: its hint is what plain segments read. One call
 * site of the quota check: the verifier walks this code once per path. */
static __always_inline int conn_request(struct __sk_buff *skb, struct tg_pkt *p,
					struct tg_client *c, const struct tg_addr *key,
					struct tg_conn *cn, __u64 now)
{
	struct tg_settings *s = settings_get();
	__u32 before, seq = p->seq, off = p->payload_off, len = p->payload_len;
	const struct tg_addr *client = &p->flow.saddr, *ckey = key;
	struct tg_addr pkey;
	int v = TG_PASS, recheck = 0;

	if (!s)
		return TG_PASS;
	if (!cn) {
		/* The SYN went unseen (the agent started mid-connection, or
		 * the entry was evicted): track it from here, without a PROXY
		 * header (only a connection's start may carry one) and without
		 * raising the hint. */
		struct tg_global *g = global_get();

		if (g)
			g->conns_missing++;
		conn_put(&p->flow, p->seq - 1, TG_CONN_SEEN_PAYLOAD);
		cn = bpf_map_lookup_elem(&tg_conns, &p->flow);
		if (!cn)
			return TG_PASS;
	}
	before = cn->flags;
	if ((s->flags & TG_SET_PROXY_PROTOCOL) &&
	    !(before & (TG_CONN_SEEN_PAYLOAD | TG_CONN_PROXY_DONE)) &&
	    conn_proxy(skb, p, cn))
		return TG_PASS; /* the header alone */
	if ((cn->flags & TG_CONN_PROXY_DONE) && !(cn->flags & TG_CONN_SEEN_PAYLOAD)) {
		/* req_seq marks where the header ended: its bytes,
		 * retransmitted, are not a request */
		__s32 hd = (__s32)(cn->req_seq - p->seq);

		if (hd > 0) {
			if ((__u32)hd >= p->payload_len)
				goto out;
			p->seq += (__u32)hd;
			p->payload_off += (__u32)hd;
			p->payload_len -= (__u32)hd;
		}
	}
	if (cn->flags & TG_CONN_PROXY) {
		/* requests, buckets and quotas go to the proxied client */
		client = &cn->proxy_addr;
		addr_key(&pkey, client);
		ckey = &pkey;
		c = client_get(&pkey);
		if (!c)
			goto out;
		client_mark_active(c, &pkey);
	}
	if (before & TG_CONN_HAVE_REQ) {
		__s32 d = (__s32)(p->seq - cn->req_seq);

		if ((before & TG_CONN_REQ_DENIED) && d <= 0 &&
		    (__s32)(p->seq + p->payload_len - cn->req_seq) > 0) {
			/* Covers a dropped start: a retransmission of it, maybe
			 * with bytes before it the gateway has already. Once
			 * the client has closed (a FIN before, or with it) it
			 * is abandoned: dropped, never admitted. */
			if ((before & TG_CONN_ABANDONED) || (p->tcp_flags & TCP_FIN)) {
				struct tg_integrity *in = integrity_get();

				conn_abandon(cn);
				if (in)
					in->abandoned_drops++;
				v = TG_DROP;
				goto out;
			}
			p->seq = cn->req_seq;
			recheck = 1;
		} else if (d <= 0) {
			goto out; /* retransmitted: no token, no count */
		} else if (before & TG_CONN_REQ_DENIED) {
			/* A later start behind a dropped one: the gateway cannot
			 * read it before the gap is filled, so it waits too,
			 * uncharged, and comes again. */
			struct tg_integrity *in = integrity_get();

			if (in)
				in->behind_dropped++;
			v = TG_DROP;
			goto out;
		} else {
			conn_request_done(c, cn, p->seq);
		}
	}
	if (!recheck) {
		__u64 w;
		__u32 n;

		cn->req_seq = p->seq;
		cn->flags |= TG_CONN_HAVE_REQ | TG_CONN_SEEN_PAYLOAD;
		/* What /v1/check may hand over as a key's verdict: an HTTP
		 * request start, never a first payload of other bytes. Looked
		 * at after any PROXY header. */
		cn->flags &= ~(TG_CONN_REQ_HTTP | TG_CONN_BODY_PENDING);
		if (payload_head(skb, p, &w, &n) == 0 && tg_is_request_start(w, n))
			cn->flags |= TG_CONN_REQ_HTTP;
		cn->requests++;
		cn->req_ns = now;
	}
	if (!recheck && (s->flags & (TG_SET_ROUTES | TG_SET_MODELS)))
		route_begin(ckey);
	/* An unproven start is counted, never charged, and held where the
	 * kernel enforces (conn_unproven). */
	if (conn_verify(skb, p, cn))
		v = conn_verdict(skb, p, client, ckey, cn, now, s);
	else if ((v = conn_unproven(skb, p, client, ckey, s)) == TG_DROP)
		cn->flags |= TG_CONN_REQ_DENIED; /* its data comes again, proven */
	if (v == TG_PASS)
		cn->flags |= TG_CONN_RESP_PENDING;
	/* the model counted, or its body awaited in the next segment */
	if (!recheck && (s->flags & TG_SET_MODELS) && tg_model_done(p, v == TG_DROP))
		cn->flags |= TG_CONN_BODY_PENDING;
	conn_attention(key, before, cn->flags);
	if (!recheck) {
		struct tg_global *g = global_get();

		__sync_fetch_and_add(&c->requests, 1);
		if (g)
			g->requests++;
		client_touch(c, now);
		if (s->flags & TG_SET_ROUTES)
			tg_route_count(v == TG_DROP);
	}
out:
	p->seq = seq;
	p->payload_off = off;
	p->payload_len = len;
	return v;
}

static __always_inline int conn_syn(struct tg_pkt *p, struct tg_client *c,
				    const struct tg_addr *key, __u64 now)
{
	struct tg_conn *cn = bpf_map_lookup_elem(&tg_conns, &p->flow);
	struct tg_settings *s = settings_get();
	struct tg_global *g;
	int v;

	if (!s)
		return TG_PASS;
	if (cn && cn->isn == p->seq) {
		/* A retransmitted SYN: checked again only if it was dropped. */
		if (!(cn->flags & TG_CONN_SYN_DENIED))
			return TG_PASS;
		v = quota_conn(&p->flow.saddr, key, now, s);
		if (v == TG_PASS)
			cn->flags &= ~TG_CONN_SYN_DENIED;
		return v;
	}
	if (cn && conn_needs_attention(cn->flags))
		client_pending_add(key, -1); /* the old connection is replaced */
	v = quota_conn(&p->flow.saddr, key, now, s);
	conn_put(&p->flow, p->seq, v == TG_DROP ? TG_CONN_SYN_DENIED : 0);
	client_pending_add(key, 1);
	__sync_fetch_and_add(&c->syns, 1);
	g = global_get();
	if (g)
		g->syns++;
	client_touch(c, now);
	return v;
}

static __always_inline void conn_end(struct tg_pkt *p, struct tg_client *c,
				     const struct tg_addr *key, __u64 now)
{
	struct tg_conn *cn = bpf_map_lookup_elem(&tg_conns, &p->flow);

	if (!cn)
		return;
	/* A FIN at or after a dropped start still waiting for its turn: the
	 * client gave up on it. The connection stays known, so the start's
	 * retransmissions are recognised and dropped. */
	if ((p->tcp_flags & (TCP_FIN | TCP_RST)) == TCP_FIN &&
	    (cn->flags & (TG_CONN_HAVE_REQ | TG_CONN_REQ_DENIED)) ==
		    (TG_CONN_HAVE_REQ | TG_CONN_REQ_DENIED) &&
	    (__s32)(p->seq + p->payload_len - cn->req_seq) >= 0) {
		conn_abandon(cn);
		client_touch(c, now);
		return;
	}
	/* A FIN ends the last request: its size is the FIN's sequence number
	 * minus the request start's. A RST aborts it: no size. */
	if ((p->tcp_flags & TCP_FIN) && (cn->flags & TG_CONN_HAVE_REQ))
		conn_request_done(c, cn, p->seq + p->payload_len);
	if (conn_needs_attention(cn->flags))
		client_pending_add(key, -1);
	if (cn->flags & TG_CONN_PROXY_PART)
		bpf_map_delete_elem(&tg_proxy_held, &p->flow);
	if (cn->flags & TG_CONN_BODY_PENDING)
		bpf_map_delete_elem(&tg_body_wait, &p->flow);
	bpf_map_delete_elem(&tg_conns, &p->flow);
	client_touch(c, now);
}

/* Counts one client-to-gateway TCP segment (a GSO super-packet counts as
 * the segments it carries) and returns the verdict: TG_DROP only for a
 * SYN or request start beyond an enforced quota. */
static __always_inline int tg_count(struct __sk_buff *skb, struct tg_pkt *p)
{
	__u32 segs = skb->gso_segs > 1 ? skb->gso_segs : 1, syn;
	struct tg_conn *cn = NULL;
	struct tg_global *g;
	struct tg_addr key;
	struct tg_client *c;
	__u64 w = 0, now, bytes;
	__u32 n = 0;
	int start, v = TG_PASS;

	addr_key(&key, &p->flow.saddr);
	c = client_get(&key);
	if (!c)
		return TG_PASS;
	client_mark_active(c, &key);
	bytes = p->payload_len + segs * p->hdr_len;
	if (c->owner == bpf_get_smp_processor_id()) {
		/* the owner CPU: the only writer of these */
		c->packets += segs;
		c->bytes += bytes;
		c->payload_bytes += p->payload_len;
	} else {
		__sync_fetch_and_add(&c->xpackets, segs);
		__sync_fetch_and_add(&c->xbytes, bytes);
		__sync_fetch_and_add(&c->xpayload_bytes, p->payload_len);
	}
	/* The whole-agent totals: a per-CPU array, whose lookup the verifier
	 * inlines (no helper call). */
	g = global_get();
	if (g) {
		g->packets += segs;
		g->bytes += bytes;
		g->payload_bytes += p->payload_len;
	}

	start = p->payload_len && payload_head(skb, p, &w, &n) == 0 &&
		tg_is_request_start(w, n);

	if (!(p->tcp_flags & (TCP_SYN | TCP_FIN | TCP_RST)) && !start) {
		/* The plain-segment path: nothing more unless a connection of
		 * this client needs attention. The hint is never cleared here:
		 * a stale one (its connection evicted from tg_conns) costs
		 * lookups until the client's entry goes. */
		if (!p->payload_len || c->pending <= 0)
			return TG_PASS;
		cn = bpf_map_lookup_elem(&tg_conns, &p->flow);
		if (!cn || !conn_needs_attention(cn->flags)) {
			c->wasted++;
			return TG_PASS;
		}
		now = bpf_ktime_get_ns();
		goto payload;
	}

	now = bpf_ktime_get_ns();
	if ((p->tcp_flags & (TCP_SYN | TCP_ACK)) == TCP_SYN)
		v = conn_syn(p, c, &key, now);
	if (!p->payload_len || v != TG_PASS)
		goto end;
	cn = bpf_map_lookup_elem(&tg_conns, &p->flow);
payload:
	/* A SYN's payload (TCP Fast Open) sits one past the ISN. */
	syn = (p->tcp_flags & TCP_SYN) ? 1 : 0;
	p->seq += syn;
	/* The first payload of a connection is a request start whatever it
	 * holds; so is a segment carrying a dropped start (its
	 * retransmission). Data after a dropped start waits in the gateway's
	 * queue for it and passes. */
	if (start || (cn && (!(cn->flags & TG_CONN_SEEN_PAYLOAD) ||
			     ((cn->flags & TG_CONN_REQ_DENIED) &&
			      (__s32)(p->seq - cn->req_seq) <= 0 &&
			      (__s32)(p->seq + p->payload_len - cn->req_seq) > 0)))) {
		v = conn_request(skb, p, c, &key, cn, now);
	} else if (cn) {
		/* the body of a request whose headers came alone */
		if ((cn->flags & TG_CONN_BODY_PENDING) && tg_model_body(skb, p, cn, &key))
			tg_model_body_scan();
		if (cn->flags & TG_CONN_CHARGE) {
			struct tg_bucket *b = conn_bucket(cn);
			struct tg_quota *q = quota_get(cn->qid);

			if (b && q && q->byte_interval_fp)
				tg_gcra_charge(&b->byte_tat, now,
					       tg_byte_cost(p->payload_len, q->byte_interval_fp));
		}
	}
	p->seq -= syn;
end:
	if (v == TG_PASS && (p->tcp_flags & (TCP_FIN | TCP_RST)))
		conn_end(p, c, &key, now);
	return v;
}

#endif /* TG_COUNT_BPF_H */
