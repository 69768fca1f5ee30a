// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* sockops on the gateway's cgroup: the gateway's own connections from
 * gateway ports, per client and per quota bucket: open connections (exact:
 * counted at establishment, uncounted at close, RST included, through
 * per-socket storage), connection totals, retransmits and smoothed RTT. */
#define TG_STAGE_SLOT 1 /* its own slot of tg_stage (maps.bpf.h) */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include "shared.h"
#include "maps.bpf.h"
#include "count.bpf.h"
#include "quota.bpf.h"

#define AF_INET_ 2
#define AF_INET6_ 10

static __always_inline struct tg_sock_client *sock_client(const struct tg_addr *key)
{
	struct tg_sock_client *sc = bpf_map_lookup_elem(&tg_socks, key);
	struct tg_sock_client zero = {};

	if (sc)
		return sc;
	bpf_map_update_elem(&tg_socks, key, &zero, BPF_NOEXIST);
	return bpf_map_lookup_elem(&tg_socks, key);
}

static __always_inline void sock_established(struct bpf_sock_ops *skops)
{
	struct tg_addr client = {}, key;
	struct tg_sock_client *sc;
	struct tg_sk_state *st;
	struct tg_resolved r;
	struct tg_bucket *b;
	struct bpf_sock *sk;

	/* Every context field read once, unconditionally: clang would
	 * otherwise address remote_ip4 and remote_ip6 through one computed
	 * pointer, which the verifier refuses for a context. */
	__u32 family = skops->family, ip4 = skops->remote_ip4;
	__u32 ip6_0 = skops->remote_ip6[0], ip6_1 = skops->remote_ip6[1];
	__u32 ip6_2 = skops->remote_ip6[2], ip6_3 = skops->remote_ip6[3];

	if (!port_is_gateway(bpf_htons((__u16)skops->local_port)))
		return;
	if (family == AF_INET_) {
		client.w[2] = bpf_htonl(0xffff);
		client.w[3] = ip4;
	} else if (family == AF_INET6_) {
		client.w[0] = ip6_0;
		client.w[1] = ip6_1;
		client.w[2] = ip6_2;
		client.w[3] = ip6_3;
	} else {
		return;
	}
	sk = skops->sk;
	if (!sk)
		return;
	st = bpf_sk_storage_get(&tg_sk, sk, 0, BPF_SK_STORAGE_GET_F_CREATE);
	if (!st || st->counted)
		return;
	addr_key(&key, &client);
	sc = sock_client(&key);
	if (!sc)
		return;
	__sync_fetch_and_add(&sc->open, 1);
	__sync_fetch_and_add(&sc->established, 1);
	st->key = key;
	st->counted = 1;
	st->addr_bucket = 0;
	__builtin_memset(&st->bkey, 0, sizeof(st->bkey));
	/* the bucket whose max_connections this connection counts against */
	if (quota_resolve(&client, &key, 0, &r) == 0 && r.q &&
	    r.q->action != TG_ACTION_EXEMPT && r.q->max_conns) {
		b = bucket_get(&r);
		if (b) {
			__sync_fetch_and_add(&b->open, 1);
			st->bkey = r.bkey;
			st->addr_bucket = r.addr_bucket ? 2 : 1;
		}
	}
	bpf_sock_ops_cb_flags_set(skops, skops->bpf_sock_ops_cb_flags | BPF_SOCK_OPS_STATE_CB_FLAG);
}

static __always_inline void sock_closed(struct bpf_sock_ops *skops)
{
	struct tg_sock_client *sc;
	struct tg_sk_state *st;
	struct bpf_sock *sk = skops->sk;
	struct tg_bucket *b;
	__u64 srtt;

	if (!sk)
		return;
	st = bpf_sk_storage_get(&tg_sk, sk, 0, 0);
	if (!st || !st->counted)
		return;
	st->counted = 0;
	sc = bpf_map_lookup_elem(&tg_socks, &st->key);
	if (sc) {
		__sync_fetch_and_add(&sc->open, -1);
		__sync_fetch_and_add(&sc->closed, 1);
		__sync_fetch_and_add(&sc->retransmits, skops->total_retrans);
		srtt = skops->srtt_us >> 3;
		/* racy between CPUs, and only a gauge: good enough */
		sc->srtt_us = sc->srtt_us ? (sc->srtt_us * 7 + srtt) / 8 : srtt;
		sc->last_ns = bpf_ktime_get_ns();
	}
	if (st->addr_bucket) {
		b = bucket_lookup(&st->bkey, st->addr_bucket == 2);
		if (b)
			__sync_fetch_and_add(&b->open, -1);
	}
}

SEC("sockops")
int tg_sockops(struct bpf_sock_ops *skops)
{
	switch (skops->op) {
	case BPF_SOCK_OPS_PASSIVE_ESTABLISHED_CB:
		sock_established(skops);
		break;
	case BPF_SOCK_OPS_STATE_CB:
		if (skops->args[1] == BPF_TCP_CLOSE)
			sock_closed(skops);
		break;
	default:
		break;
	}
	return 1;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
