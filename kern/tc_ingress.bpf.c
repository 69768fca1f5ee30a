// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* TC ingress on the gateway's interfaces: counts client segments toward
 * gateway ports and drops SYNs and request starts beyond an enforced
 * quota. Everything else gets TC_ACT_UNSPEC, so later programs on the same
 * hook still run. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include "shared.h"
#include "maps.bpf.h"
#include "parse.bpf.h"
#include "count.bpf.h"

#define TC_ACT_UNSPEC (-1)
#define TC_ACT_SHOT 2
#define TG_PULL_MAX 512 /* bytes of headers made linear for a second look */

/* In enforce mode, what cannot be parsed is dropped: a header chain the
 * parser gives up on could otherwise carry a request past every quota.
 * Legitimate traffic is never malformed, and the stack drops most of it. */
static __always_inline int unparsed(struct tg_global *g)
{
	struct tg_settings *s = settings_get();

	g->malformed++;
	if (s && s->mode == TG_MODE_ENFORCE) {
		g->malformed_dropped++;
		return TC_ACT_SHOT;
	}
	return TC_ACT_UNSPEC;
}

SEC("tc")
int tg_tc_ingress(struct __sk_buff *skb)
{
	struct tg_pkt pkt;
	struct tg_global *g;
	int rc = tg_parse(skb, &pkt);

	/* Headers past the linear data: pull them in and look again. */
	if (rc == TG_PARSE_BAD && skb->len > skb->data_end - skb->data &&
	    bpf_skb_pull_data(skb, skb->len < TG_PULL_MAX ? skb->len : TG_PULL_MAX) == 0)
		rc = tg_parse(skb, &pkt);
	if (rc == TG_PARSE_TCP) {
		if (port_is_gateway(pkt.flow.dport) && tg_count(skb, &pkt) == TG_DROP)
			return TC_ACT_SHOT;
		return TC_ACT_UNSPEC;
	}
	if (rc == TG_PARSE_OTHER)
		return TC_ACT_UNSPEC;
	g = global_get();
	if (!g)
		return TC_ACT_UNSPEC;
	if (rc != TG_PARSE_FRAGMENT)
		return unparsed(g);
	g->fragments++;
	/* Legitimate TCP does not fragment (PMTUD): in enforce mode a first
	 * fragment of TCP toward a gateway port, or one too short to show the
	 * ports, is dropped, so fragments cannot carry a request past the
	 * quota. Later fragments cannot be reassembled without it. */
	if (pkt.frag_first && (!pkt.frag_ports || port_is_gateway(pkt.flow.dport))) {
		struct tg_settings *s = settings_get();

		if (s && s->mode == TG_MODE_ENFORCE) {
			g->fragments_dropped++;
			return TC_ACT_SHOT;
		}
	}
	return TC_ACT_UNSPEC;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
