/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* PROXY protocol v1 and v2 headers (haproxy's spec): the client address a
 * load balancer puts at the start of a connection.
 *
 * Plain C shared by the kernel, the agent's tests and the fuzzers. Every
 * byte read is buf[i & TG_PROXY_MASK] from a buffer of TG_PROXY_BUF bytes,
 * every loop has a constant bound, and the parser's state lives in *st,
 * which the kernel keeps in map memory: the verifier then sees the same
 * registers on every path through an iteration and prunes them. */
#ifndef TG_PROXY_H
#define TG_PROXY_H

#include "shared.h"

#define TG_PROXY_BUF 128      /* bytes looked at; a v1 header is at most 107 */
#define TG_PROXY_MASK (TG_PROXY_BUF - 1)
#define TG_PROXY_V1_MAX 107

enum tg_proxy_rc {
	TG_PROXY_NONE = 0,    /* not a PROXY header */
	TG_PROXY_ADDR = 1,    /* a header with a client address */
	TG_PROXY_NOADDR = 2,  /* a valid header without one (LOCAL, UNKNOWN) */
	TG_PROXY_BAD = 3,     /* starts like one, but malformed */
	TG_PROXY_PARTIAL = 4, /* so far a header, which ends past the bytes given */
};

struct tg_proxy_state {
	struct tg_addr client;
	__u32 hdr_len;      /* bytes of the header, the request follows */
	__u32 len;          /* valid bytes in the buffer */
	__u32 pos;
	__u32 val;          /* the number being read */
	__u32 digits;
	__u32 part;         /* octet or group index */
	__u32 dcolon;       /* group index of "::", or 0xff */
	__u32 done;
	__u32 err;
	__u32 start;        /* where the address text begins */
	__u32 lastc;
	__u16 groups[8];
};

/* In the kernel the state must stay in (map) memory, not in registers the
 * compiler would cache it in: the verifier prunes paths only when the
 * registers agree. */
#ifdef __bpf__
#define TG_PST volatile struct tg_proxy_state
#else
#define TG_PST struct tg_proxy_state
#endif

#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define TG_BE32(x) __builtin_bswap32(x)
#else
#define TG_BE32(x) (x)
#endif

static inline __u8 tg_pb(const __u8 *buf, __u32 i)
{
	return buf[i & TG_PROXY_MASK];
}

static inline int tg_hexval(__u8 c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c |= 0x20;
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* v1 "a.b.c.d" at st->pos, ending with ' '. */
static inline void tg_proxy_v1_ipv4(const __u8 *buf, TG_PST *st)
{
	__u32 addr = 0;

	st->val = 0;
	st->digits = 0;
	st->part = 0;
	st->done = 0;
	for (int i = 0; i < 16; i++) {
		__u8 c = tg_pb(buf, st->pos);

		if (st->pos >= st->len) {
			st->err = 1;
			break;
		}
		st->pos++;
		if (c >= '0' && c <= '9' && st->digits < 3) {
			st->val = st->val * 10 + (c - '0');
			st->digits++;
			continue;
		}
		if ((c == '.' || c == ' ') && st->digits && st->val <= 255) {
			addr = addr << 8 | st->val;
			st->part++;
			st->val = 0;
			st->digits = 0;
			if (c == ' ') {
				st->done = 1;
				break;
			}
			continue;
		}
		st->err = 1;
		break;
	}
	if (!st->done || st->part != 4) {
		st->err = 1;
		return;
	}
	st->client.w[0] = 0;
	st->client.w[1] = 0;
	st->client.w[2] = TG_BE32(0xffff);
	st->client.w[3] = TG_BE32(addr);
}

/* v1 IPv6 text at st->pos, ending with ' ': hex groups, at most one "::".
 * In three parts so the kernel can run the step under bpf_loop. */
#define TG_PROXY_V6_STEPS 41

static inline void tg_proxy_v6_begin(TG_PST *st)
{
	st->val = 0;
	st->digits = 0;
	st->part = 0;
	st->dcolon = 0xff;
	st->done = 0;
	st->lastc = 0;
	for (int i = 0; i < 8; i++)
		st->groups[i] = 0;
}

/* One character; 1 when the address ended (st->done) or failed (st->err). */
static inline int tg_proxy_v6_step(const __u8 *buf, TG_PST *st)
{
	__u8 c = tg_pb(buf, st->pos);
	int h = tg_hexval(c);

	if (st->pos >= st->len)
		return 1;
	st->pos++;
	if (h >= 0) {
		if (st->digits >= 4 || (st->lastc == ':' && st->part == 0 && st->dcolon == 0xff &&
					st->pos == st->start + 2)) {
			st->err = 1; /* five digits, or a lone leading ':' */
			return 1;
		}
		st->val = st->val << 4 | (__u32)h;
		st->digits++;
	} else if (c == ':' || c == ' ') {
		if (st->digits) {
			if (st->part >= 8) {
				st->err = 1;
				return 1;
			}
			st->groups[st->part & 7] = (__u16)st->val;
			st->part++;
			st->val = 0;
			st->digits = 0;
		} else if (st->lastc == ':') {
			if (c == ':') { /* "::" */
				if (st->dcolon != 0xff) {
					st->err = 1;
					return 1;
				}
				st->dcolon = st->part;
			} else if (st->dcolon != st->part) {
				st->err = 1; /* "a: " */
				return 1;
			}
		} else if (!(c == ':' && st->pos == st->start + 1)) {
			st->err = 1; /* only "::" may start the address */
			return 1;
		}
		if (c == ' ') {
			st->done = 1;
			return 1;
		}
	} else {
		st->err = 1;
		return 1;
	}
	st->lastc = c;
	return 0;
}

static inline void tg_proxy_v6_end(TG_PST *st)
{
	if (!st->done || (st->dcolon == 0xff ? st->part != 8 : st->part > 7)) {
		st->err = 1;
		return;
	}
	if (st->dcolon != 0xff) {
		/* the groups after "::" move to the end, zeros fill the gap */
		__u32 gap = 8 - st->part;

		for (int i = 7; i >= 0; i--) {
			if ((__u32)i >= st->dcolon + gap)
				st->groups[i & 7] = st->groups[((__u32)i - gap) & 7];
			else if ((__u32)i >= st->dcolon)
				st->groups[i & 7] = 0;
		}
	}
	for (int i = 0; i < 4; i++)
		st->client.w[i] = TG_BE32((__u32)st->groups[2 * i] << 16 | st->groups[2 * i + 1]);
}

static inline void tg_proxy_v1_ipv6(const __u8 *buf, TG_PST *st)
{
	tg_proxy_v6_begin(st);
	for (int i = 0; i < TG_PROXY_V6_STEPS; i++)
		if (tg_proxy_v6_step(buf, st))
			break;
	tg_proxy_v6_end(st);
}

/* The kernel verifies each address parser as a function of its own (see
 * scan.bpf.h); elsewhere they are plain calls. */
#ifndef TG_PROXY_V1_IPV4
#define TG_PROXY_V1_IPV4(buf, st) tg_proxy_v1_ipv4(buf, st)
#define TG_PROXY_V1_IPV6(buf, st) tg_proxy_v1_ipv6(buf, st)
#endif

/* buf holds the first st->len (<= TG_PROXY_BUF) bytes of a connection. */
static inline int tg_proxy_parse(const __u8 *buf, TG_PST *st)
{
	static const __u8 v2sig[12] = { '\r', '\n', '\r', '\n', 0, '\r', '\n', 'Q', 'U', 'I', 'T', '\n' };
	static const __u8 v1sig[6] = { 'P', 'R', 'O', 'X', 'Y', ' ' };
	int v2 = st->len > 0, v1 = st->len > 0;

	st->err = 0;
	st->hdr_len = 0;
	for (int i = 0; i < 12; i++)
		if (i < (int)st->len && tg_pb(buf, (__u32)i) != v2sig[i])
			v2 = 0;
	/* A segment may end anywhere in a header (a balancer that writes it
	 * in pieces): what is there so far is a header still. */
	if (v2 && st->len < 12)
		return TG_PROXY_PARTIAL;
	if (v2) {
		__u8 vc, fam;
		__u32 alen;

		if (st->len < 16)
			return TG_PROXY_PARTIAL;
		vc = tg_pb(buf, 12);
		fam = tg_pb(buf, 13);
		alen = (__u32)tg_pb(buf, 14) << 8 | tg_pb(buf, 15);
		if ((vc & 0xf0) != 0x20 || (vc & 0x0f) > 1)
			return TG_PROXY_BAD;
		st->hdr_len = 16 + alen;
		if ((vc & 0x0f) == 0) /* LOCAL: the balancer's own health check */
			return TG_PROXY_NOADDR;
		if (fam == 0x11 && alen >= 12 && st->len >= 16 + 12) {
			st->client.w[0] = 0;
			st->client.w[1] = 0;
			st->client.w[2] = TG_BE32(0xffff);
			st->client.w[3] = TG_BE32((__u32)tg_pb(buf, 16) << 24 | (__u32)tg_pb(buf, 17) << 16 |
						  (__u32)tg_pb(buf, 18) << 8 | tg_pb(buf, 19));
			return TG_PROXY_ADDR;
		}
		if (fam == 0x21 && alen >= 36 && st->len >= 16 + 36) {
			for (int i = 0; i < 4; i++)
				st->client.w[i] = TG_BE32((__u32)tg_pb(buf, 16 + 4 * i) << 24 |
							  (__u32)tg_pb(buf, 17 + 4 * i) << 16 |
							  (__u32)tg_pb(buf, 18 + 4 * i) << 8 |
							  tg_pb(buf, 19 + 4 * i));
			return TG_PROXY_ADDR;
		}
		if ((fam == 0x11 && alen < 12) || (fam == 0x21 && alen < 36))
			return TG_PROXY_BAD; /* too short for its family */
		if (fam == 0x11 || fam == 0x21)
			return TG_PROXY_PARTIAL; /* the address is in a later segment */
		return TG_PROXY_NOADDR;  /* UNSPEC, UDP, unix */
	}

	/* v1: "PROXY TCP4 src dst sport dport\r\n" */
	for (int i = 0; i < 6; i++)
		if (i < (int)st->len && tg_pb(buf, (__u32)i) != v1sig[i])
			v1 = 0;
	if (!v1)
		return TG_PROXY_NONE;
	if (st->len < 6)
		return TG_PROXY_PARTIAL;
	/* the header ends at the first CRLF, within 107 bytes */
	for (__u32 i = 6; i + 1 < TG_PROXY_V1_MAX; i++) {
		if (i + 1 >= st->len)
			break;
		if (tg_pb(buf, i) == '\r' && tg_pb(buf, i + 1) == '\n') {
			st->hdr_len = i + 2;
			break;
		}
	}
	if (!st->hdr_len)
		return st->len < TG_PROXY_V1_MAX ? TG_PROXY_PARTIAL : TG_PROXY_BAD;
	if (st->len >= 14 && tg_pb(buf, 6) == 'U' && tg_pb(buf, 7) == 'N' && tg_pb(buf, 8) == 'K')
		return TG_PROXY_NOADDR; /* UNKNOWN */
	if (st->len < 11 || tg_pb(buf, 6) != 'T' || tg_pb(buf, 7) != 'C' || tg_pb(buf, 8) != 'P' ||
	    tg_pb(buf, 10) != ' ')
		return TG_PROXY_BAD;
	st->pos = 11;
	st->start = 11;
	if (tg_pb(buf, 9) == '4')
		TG_PROXY_V1_IPV4(buf, st);
	else if (tg_pb(buf, 9) == '6')
		TG_PROXY_V1_IPV6(buf, st);
	else
		return TG_PROXY_BAD;
	return st->err ? TG_PROXY_BAD : TG_PROXY_ADDR;
}

#endif /* TG_PROXY_H */
