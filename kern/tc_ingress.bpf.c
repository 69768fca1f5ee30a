// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* TC ingress on the gateway's interfaces: counts client segments toward
 * gateway ports. Never drops; TC_ACT_UNSPEC lets later programs on the same
 * hook run. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include "shared.h"
#include "maps.bpf.h"
#include "parse.bpf.h"
#include "count.bpf.h"

#define TC_ACT_UNSPEC (-1)

SEC("tc")
int tg_tc_ingress(struct __sk_buff *skb)
{
	struct tg_pkt pkt;
	struct tg_global *g;
	int rc = tg_parse(skb, &pkt);

	if (rc == TG_PARSE_TCP) {
		if (port_is_gateway(pkt.flow.dport))
			tg_count(skb, &pkt);
		return TC_ACT_UNSPEC;
	}
	if (rc == TG_PARSE_OTHER)
		return TC_ACT_UNSPEC;
	g = global_get();
	if (g) {
		if (rc == TG_PARSE_FRAGMENT)
			g->fragments++;
		else
			g->malformed++;
	}
	return TC_ACT_UNSPEC;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
