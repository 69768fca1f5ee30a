#include <arpa/inet.h>
#include <string.h>
#include "pkt.h"

static void put16(uint8_t *p, uint16_t v)
{
	v = htons(v);
	memcpy(p, &v, 2);
}

static void put32(uint8_t *p, uint32_t v)
{
	v = htonl(v);
	memcpy(p, &v, 4);
}

size_t pkt_hdr_len(const struct pkt_opts *o)
{
	size_t ip = o->v6 ? 40 + (size_t)o->v6_ext * 8 + (o->frag ? 8 : 0)
			  : 20 + (size_t)o->ip_opt_words * 4;

	return ip + (o->udp ? 8 : 20);
}

size_t pkt_build(uint8_t *buf, size_t cap, const struct pkt_opts *o)
{
	size_t l4len = (o->udp ? 8 : 20) + o->len;
	size_t total = 14 + (size_t)o->vlan_tags * 4 + pkt_hdr_len(o) + o->len;
	uint8_t proto = o->udp ? 17 : 6;
	uint8_t *p = buf;

	if (total > cap)
		return 0;
	memset(buf, 0, total);
	/* Ethernet: zero MACs, then tags, then the EtherType. */
	p += 12;
	for (int i = 0; i < o->vlan_tags; i++) {
		put16(p, i == 0 && o->vlan_tags == 2 ? 0x88A8 : 0x8100);
		put16(p + 2, (uint16_t)(100 + i));
		p += 4;
	}
	put16(p, o->v6 ? 0x86DD : 0x0800);
	p += 2;

	if (!o->v6) {
		size_t ihl = 20 + (size_t)o->ip_opt_words * 4;
		uint16_t tot = (uint16_t)(ihl + l4len + (o->long_tot_len ? 100 : 0));

		p[0] = (uint8_t)(0x40 | (o->bad_ihl ? 4 : ihl / 4));
		put16(p + 2, tot);
		if (o->frag == 1)
			put16(p + 6, 0x2000); /* MF */
		else if (o->frag == 2)
			put16(p + 6, 0x0010); /* offset 128 */
		p[8] = 64;
		p[9] = proto;
		inet_pton(AF_INET, o->saddr ? o->saddr : "198.18.0.2", p + 12);
		inet_pton(AF_INET, o->daddr ? o->daddr : "198.18.0.1", p + 16);
		for (size_t i = 20; i < ihl; i++)
			p[i] = 1; /* NOP options */
		p += ihl;
	} else {
		size_t ext = (size_t)o->v6_ext * 8 + (o->frag ? 8 : 0);
		uint8_t next[4];
		int n = 0;

		for (int i = 0; i < o->v6_ext; i++)
			next[n++] = i == 0 ? 0 : 60; /* hop-by-hop, then dest opts */
		if (o->frag)
			next[n++] = 44;
		next[n] = proto;
		p[0] = 0x60;
		put16(p + 4, (uint16_t)(ext + l4len + (o->long_tot_len ? 100 : 0)));
		p[6] = next[0];
		p[7] = 64;
		inet_pton(AF_INET6, o->saddr ? o->saddr : "fd00:198:18::2", p + 8);
		inet_pton(AF_INET6, o->daddr ? o->daddr : "fd00:198:18::1", p + 24);
		p += 40;
		for (int i = 0; i < n; i++) {
			p[0] = next[i + 1];
			if (next[i] == 44) {
				put16(p + 2, o->frag == 1 ? 0x0001 : 0x0080); /* M / offset */
			} else {
				p[1] = 0;    /* 8 bytes */
				p[2] = 1;    /* PadN option filling the rest */
				p[3] = 4;
			}
			p += 8;
		}
	}

	if (o->udp) {
		put16(p, o->sport ? o->sport : 40000);
		put16(p + 2, o->dport ? o->dport : 8080);
		put16(p + 4, (uint16_t)l4len);
		p += 8;
	} else {
		put16(p, o->sport ? o->sport : 40000);
		put16(p + 2, o->dport ? o->dport : 8080);
		put32(p + 4, o->seq);
		put32(p + 8, o->ack ? o->ack : 1);
		p[12] = 5 << 4;
		p[13] = o->flags ? o->flags : F_ACK;
		put16(p + 14, 65535);
		p += 20;
	}
	if (o->len)
		memcpy(p, o->payload, o->len);
	if (o->truncate && o->truncate < total)
		return o->truncate;
	return total;
}
