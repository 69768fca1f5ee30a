// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* TC egress on the gateway's interfaces: responses from gateway ports to
 * clients. Never drops. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include "shared.h"
#include "maps.bpf.h"
#include "parse.bpf.h"
#include "resp.bpf.h"

#define TC_ACT_UNSPEC (-1)

SEC("tc")
int tg_tc_egress(struct __sk_buff *skb)
{
	struct tg_pkt pkt;

	if (tg_parse(skb, &pkt) == TG_PARSE_TCP && port_is_gateway(pkt.flow.sport))
		tg_count_response(skb, &pkt);
	return TC_ACT_UNSPEC;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
