/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* Packet parsing for TC programs: Ethernet (802.1Q/802.1ad), IPv4 with
 * options, IPv6 with its common extension headers, TCP. A cursor walks the
 * linear data and every access is bounds-checked before it is made. */
#ifndef TG_PARSE_BPF_H
#define TG_PARSE_BPF_H

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include "shared.h"

#define ETH_P_IP 0x0800
#define ETH_P_IPV6 0x86DD
#define ETH_P_8021Q 0x8100
#define ETH_P_8021AD 0x88A8
#define IPPROTO_HOPOPTS_ 0
#define IPPROTO_TCP_ 6
#define IPPROTO_ROUTING_ 43
#define IPPROTO_FRAGMENT_ 44
#define IPPROTO_AH_ 51
#define IPPROTO_DSTOPTS_ 60

#define TCP_FIN 0x01
#define TCP_SYN 0x02
#define TCP_RST 0x04
#define TCP_ACK 0x10

/* Parse outcomes: the program passes every packet; these say why it counts
 * or does not count one. */
enum tg_parse_rc {
	TG_PARSE_TCP = 0,     /* a whole TCP header was found */
	TG_PARSE_OTHER = 1,   /* not IP, or not TCP: passed untouched */
	TG_PARSE_FRAGMENT = 2,/* an IP fragment */
	TG_PARSE_BAD = 3,     /* truncated or inconsistent headers */
	TG_PARSE_DEEP = 4,    /* more IPv6 extension headers than we walk */
};

struct tg_pkt {
	struct tg_flow flow;
	__u32 seq;         /* host order */
	__u32 ack;         /* host order */
	__u32 payload_off; /* offset of the TCP payload */
	__u32 payload_len; /* TCP payload bytes, from the IP length fields */
	__u32 hdr_len;     /* IP + TCP header bytes of one segment */
	__u8 tcp_flags;
	__u8 is_v6;
	__u8 frag_first;  /* a first fragment of TCP (offset 0, more to come) */
	/* 64 bytes, every field in the stack slot it has always had: the
	 * verifier tracks the offsets precisely where they are, and the main
	 * program's frame has no byte to spare (512 with the key scan's
	 * calls). */
	union {
		__u8 frag_ports; /* a fragment: its ports were readable, flow.dport is set */
		__u8 at_socket;  /* TCP at cgroup_skb: skb->sk is the socket the stack matched */
	};
};

struct tg_cursor {
	void *pos;
	void *end;
};

/* Advances over a header of `len` bytes, returning it, or NULL if the
 * packet's linear data ends first. */
static __always_inline void *cursor_take(struct tg_cursor *c, __u32 len)
{
	void *p = c->pos;

	if (p + len > c->end)
		return NULL;
	c->pos = p + len;
	return p;
}

static __always_inline void addr_from_v4(struct tg_addr *a, __u32 v4)
{
	a->w[0] = 0;
	a->w[1] = 0;
	a->w[2] = bpf_htonl(0x0000ffff);
	a->w[3] = v4;
}

/* Returns the L4 protocol, or -1 when truncated. Walks at most
 * TG_IPV6_EXT_MAX extension headers. *frag is set for a fragment. */
static __always_inline int parse_ipv6(struct tg_cursor *c, struct tg_pkt *p,
				      __u32 *ip_end_len, int *frag)
{
	struct ipv6hdr *ip6 = cursor_take(c, sizeof(*ip6));
	__u8 nexthdr;

	if (!ip6)
		return -1;
	__builtin_memcpy(&p->flow.saddr, &ip6->saddr, 16);
	__builtin_memcpy(&p->flow.daddr, &ip6->daddr, 16);
	*ip_end_len = sizeof(*ip6) + bpf_ntohs(ip6->payload_len);
	nexthdr = ip6->nexthdr;

#pragma unroll
	for (int i = 0; i < TG_IPV6_EXT_MAX; i++) {
		struct ipv6_opt_hdr *opt;
		struct frag_hdr *fh;

		switch (nexthdr) {
		case IPPROTO_HOPOPTS_:
		case IPPROTO_ROUTING_:
		case IPPROTO_DSTOPTS_:
			opt = cursor_take(c, sizeof(*opt));
			if (!opt)
				return -1;
			nexthdr = opt->nexthdr;
			/* hdrlen counts 8-octet units beyond the first */
			if (!cursor_take(c, opt->hdrlen * 8 + 8 - sizeof(*opt)))
				return -1;
			break;
		case IPPROTO_AH_:
			opt = cursor_take(c, sizeof(*opt));
			if (!opt)
				return -1;
			nexthdr = opt->nexthdr;
			/* AH length counts 4-octet units, minus 2 */
			if (!cursor_take(c, (opt->hdrlen + 2) * 4 - sizeof(*opt)))
				return -1;
			break;
		case IPPROTO_FRAGMENT_:
			fh = cursor_take(c, sizeof(*fh));
			if (!fh)
				return -1;
			/* an atomic fragment (offset 0, no M flag) is whole */
			if (fh->frag_off & bpf_htons(0xFFF9)) {
				*frag = 1;
				p->frag_first = !(fh->frag_off & bpf_htons(0xFFF8));
			}
			nexthdr = fh->nexthdr;
			break;
		default:
			return nexthdr;
		}
	}
	switch (nexthdr) {
	case IPPROTO_HOPOPTS_:
	case IPPROTO_ROUTING_:
	case IPPROTO_DSTOPTS_:
	case IPPROTO_AH_:
	case IPPROTO_FRAGMENT_:
		return -2; /* the chain goes on past our bound */
	}
	return nexthdr;
}

/* Fills p from skb. l2: the data starts with an Ethernet header (TC);
 * otherwise with the IP header (cgroup_skb), whose protocol skb gives.
 * Only the headers must be in the linear data. */
static __always_inline int tg_parse_at(struct __sk_buff *skb, struct tg_pkt *p, const int l2)
{
	struct tg_cursor c = {
		.pos = (void *)(long)skb->data,
		.end = (void *)(long)skb->data_end,
	};
	void *start = c.pos;
	__u32 ip_end_len = 0, tcp_len, l3_off;
	int l4, frag = 0;
	struct tcphdr *tcp;
	__u16 proto;

	p->frag_first = 0;
	p->frag_ports = 0; /* at_socket too */
	if (l2) {
		struct ethhdr *eth = cursor_take(&c, sizeof(*eth));

		if (!eth)
			return TG_PARSE_BAD;
		proto = eth->h_proto;
#pragma unroll
		for (int i = 0; i < TG_VLAN_MAX; i++) {
			struct vlan_hdr *vh;

			if (proto != bpf_htons(ETH_P_8021Q) &&
			    proto != bpf_htons(ETH_P_8021AD))
				break;
			vh = cursor_take(&c, sizeof(*vh));
			if (!vh)
				return TG_PARSE_BAD;
			proto = vh->h_vlan_encapsulated_proto;
		}
	} else {
		proto = (__u16)skb->protocol;
	}

	l3_off = c.pos - start;
	if (proto == bpf_htons(ETH_P_IP)) {
		struct iphdr *ip = cursor_take(&c, sizeof(*ip));
		__u32 ihl;

		if (!ip)
			return TG_PARSE_BAD;
		ihl = ip->ihl * 4;
		if (ihl < sizeof(*ip))
			return TG_PARSE_BAD;
		if (!cursor_take(&c, ihl - sizeof(*ip))) /* options */
			return TG_PARSE_BAD;
		addr_from_v4(&p->flow.saddr, ip->saddr);
		addr_from_v4(&p->flow.daddr, ip->daddr);
		ip_end_len = bpf_ntohs(ip->tot_len);
		if (ip->frag_off & bpf_htons(0x3FFF)) { /* MF or an offset */
			frag = 1;
			p->frag_first = !(ip->frag_off & bpf_htons(0x1FFF));
		}
		l4 = ip->protocol;
		p->is_v6 = 0;
	} else if (proto == bpf_htons(ETH_P_IPV6)) {
		l4 = parse_ipv6(&c, p, &ip_end_len, &frag);
		if (l4 == -2)
			return TG_PARSE_DEEP;
		if (l4 < 0)
			return TG_PARSE_BAD;
		p->is_v6 = 1;
	} else {
		return TG_PARSE_OTHER;
	}
	if (l4 != IPPROTO_TCP_) {
		p->frag_first = 0; /* only TCP fragments concern the gateway */
		return frag ? TG_PARSE_FRAGMENT : TG_PARSE_OTHER;
	}
	if (frag) {
		__u16 *ports = cursor_take(&c, 4);

		if (p->frag_first && ports) {
			p->flow.sport = ports[0];
			p->flow.dport = ports[1];
			p->frag_ports = 1;
		}
		return TG_PARSE_FRAGMENT;
	}

	tcp = cursor_take(&c, sizeof(*tcp));
	if (!tcp)
		return TG_PARSE_BAD;
	tcp_len = tcp->doff * 4;
	if (tcp_len < sizeof(*tcp))
		return TG_PARSE_BAD;
	p->flow.sport = tcp->source;
	p->flow.dport = tcp->dest;
	p->flow.pad = 0;
	p->seq = bpf_ntohl(tcp->seq);
	p->ack = bpf_ntohl(tcp->ack_seq);
	p->tcp_flags = ((__u8 *)tcp)[13];
	p->payload_off = ((void *)tcp - start) + tcp_len;
	p->hdr_len = p->payload_off - l3_off;

	/* Payload length from the IP length fields, not skb->len, so link-layer
	 * padding is not payload. BIG TCP super-packets carry a zero length. */
	if (ip_end_len == 0 || (p->is_v6 && ip_end_len == sizeof(struct ipv6hdr)))
		ip_end_len = skb->len - l3_off;
	if (ip_end_len < p->hdr_len || l3_off + ip_end_len > skb->len)
		return TG_PARSE_BAD;
	p->payload_len = ip_end_len - p->hdr_len;
	return TG_PARSE_TCP;
}

static __always_inline int tg_parse(struct __sk_buff *skb, struct tg_pkt *p)
{
	return tg_parse_at(skb, p, 1);
}

#endif /* TG_PARSE_BPF_H */
