/* Crafted packets for BPF_PROG_TEST_RUN: Ethernet, optional VLAN tags,
 * IPv4 (with options) or IPv6 (with extension headers), TCP or UDP. */
#ifndef TG_TEST_PKT_H
#define TG_TEST_PKT_H

#include <stddef.h>
#include <stdint.h>

#define PKT_MAX 4096

struct pkt_opts {
	int v6;
	int vlan_tags;     /* 0, 1 or 2 */
	int ip_opt_words;  /* IPv4 options, 4-byte words (0..10) */
	int v6_ext;        /* IPv6: hop-by-hop + destination options headers (0..2) */
	int frag;          /* 1: a first fragment (MF set); 2: a later fragment */
	int udp;           /* UDP instead of TCP */
	const char *saddr; /* default 198.18.0.2 / fd00:198:18::2 */
	const char *daddr; /* default 198.18.0.1 / fd00:198:18::1 */
	uint16_t sport;    /* default 40000 */
	uint16_t dport;    /* default 8080 */
	uint32_t seq;
	uint32_t ack;      /* acknowledgment number; default 1 */
	uint8_t flags;     /* TCP flags, default ACK */
	const void *payload;
	size_t len;
	size_t truncate;   /* when non-zero, the packet is cut to this size */
	int bad_ihl;       /* IPv4 header length field below 5 */
	int long_tot_len;  /* IP length larger than the packet */
};

#define F_FIN 0x01
#define F_SYN 0x02
#define F_RST 0x04
#define F_PSH 0x08
#define F_ACK 0x10

/* Returns the packet's size, or 0 if it does not fit. */
size_t pkt_build(uint8_t *buf, size_t cap, const struct pkt_opts *o);
/* Size of the IP + TCP headers pkt_build writes for these options. */
size_t pkt_hdr_len(const struct pkt_opts *o);

#endif
