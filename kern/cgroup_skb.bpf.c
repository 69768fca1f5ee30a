// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* cgroup_skb on the gateway's cgroup, for traffic no interface program
 * sees (loopback between containers, a gateway in its own cgroup). The
 * same counting and quota code as TC; packets of interfaces that have the
 * TC programs are left to them, so nothing is counted twice. The data
 * starts at the IP header here. Return 1 passes, 0 drops. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include "shared.h"
#include "maps.bpf.h"
#include "parse.bpf.h"
#include "count.bpf.h"
#include "resp.bpf.h"

static __always_inline int tc_has(__u32 ifindex)
{
	return bpf_map_lookup_elem(&tg_tc_ifaces, &ifindex) != NULL;
}

SEC("cgroup_skb/ingress")
int tg_cgroup_ingress(struct __sk_buff *skb)
{
	struct tg_pkt pkt;

	if (tg_parse_at(skb, &pkt, 0) != TG_PARSE_TCP || !port_is_gateway(pkt.flow.dport))
		return 1;
	if (tc_has(skb->ingress_ifindex))
		return 1;

	return tg_count(skb, &pkt) == TG_DROP ? 0 : 1;
}

SEC("cgroup_skb/egress")
int tg_cgroup_egress(struct __sk_buff *skb)
{
	struct tg_pkt pkt;

	if (tg_parse_at(skb, &pkt, 0) != TG_PARSE_TCP || !port_is_gateway(pkt.flow.sport))
		return 1;
	if (!tc_has(skb->ifindex))
		tg_count_response(skb, &pkt);
	return 1;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
