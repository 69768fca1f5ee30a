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

SEC("tc")
int tg_tc_ingress(struct __sk_buff *skb)
{
	struct tg_pkt pkt;
	struct tg_global *g;
	int rc = tg_parse(skb, &pkt);

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
	if (rc != TG_PARSE_FRAGMENT) {
		g->malformed++;
		return TC_ACT_UNSPEC;
	}
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
