/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* API keys: the keyed hash the kernel takes of a header value and the
 * agent of a configured key, where a key sits in a header value, and the
 * packing of header names for the kernel's line-start comparison. Plain C
 * shared by both sides and the tests. */
#ifndef TG_APIKEY_H
#define TG_APIKEY_H

#include "shared.h"

/* The key hash: SipHash-2-4 under a 128-bit key the agent draws at random
 * when it makes the maps (tg_hash_key; kept across restarts that adopt
 * them). Keyed, so a hash can neither be inverted offline nor serve as a
 * stable fingerprint of a customer's secret outside this agent. Fed a byte
 * at a time: the kernel hashes a header value as it scans it. A hash of 0
 * is reserved for "no key". */
struct tg_sip {
	__u64 v0, v1, v2, v3;
	__u64 m; /* bytes of the word being filled */
	__u32 n; /* bytes fed */
};

#define TG_SIP_ROTL(x, b) (((x) << (b)) | ((x) >> (64 - (b))))

/* In the kernel the state lives in map memory and is read and written at
 * each step (volatile): held in registers instead, the rounds spill onto
 * a stack the scan's chain of calls has no room left in. */
#ifdef __bpf__
#define TG_SIP_Q volatile
#else
#define TG_SIP_Q
#endif

static inline void tg_sip_round(TG_SIP_Q struct tg_sip *s)
{
	s->v0 += s->v1;
	s->v1 = TG_SIP_ROTL(s->v1, 13);
	s->v1 ^= s->v0;
	s->v0 = TG_SIP_ROTL(s->v0, 32);
	s->v2 += s->v3;
	s->v3 = TG_SIP_ROTL(s->v3, 16);
	s->v3 ^= s->v2;
	s->v0 += s->v3;
	s->v3 = TG_SIP_ROTL(s->v3, 21);
	s->v3 ^= s->v0;
	s->v2 += s->v1;
	s->v1 = TG_SIP_ROTL(s->v1, 17);
	s->v1 ^= s->v2;
	s->v2 = TG_SIP_ROTL(s->v2, 32);
}

static inline void tg_sip_init(TG_SIP_Q struct tg_sip *s, __u64 k0, __u64 k1)
{
	s->v0 = 0x736f6d6570736575ULL ^ k0;
	s->v1 = 0x646f72616e646f6dULL ^ k1;
	s->v2 = 0x6c7967656e657261ULL ^ k0;
	s->v3 = 0x7465646279746573ULL ^ k1;
	s->m = 0;
	s->n = 0;
}

/* Two compression rounds per 8-byte little-endian word (the "2"). */
static inline void tg_sip_word(TG_SIP_Q struct tg_sip *s, __u64 m)
{
	s->v3 ^= m;
	tg_sip_round(s);
	tg_sip_round(s);
	s->v0 ^= m;
}

static inline void tg_sip_byte(TG_SIP_Q struct tg_sip *s, __u8 c)
{
	s->m |= (__u64)c << (8 * (s->n & 7));
	s->n++;
	if (!(s->n & 7)) {
		tg_sip_word(s, s->m);
		s->m = 0;
	}
}

/* The length byte, then four finalization rounds (the "4"). */
static inline __u64 tg_sip_final(TG_SIP_Q struct tg_sip *s)
{
	__u64 h;

	tg_sip_word(s, ((__u64)(s->n & 0xff) << 56) | s->m);
	s->v2 ^= 0xff;
	tg_sip_round(s);
	tg_sip_round(s);
	tg_sip_round(s);
	tg_sip_round(s);
	h = s->v0 ^ s->v1 ^ s->v2 ^ s->v3;
	return h ? h : 1;
}

/* Where a key starts in a header value and where it ends: both sides
 * (kern/scan.bpf.h, agent/api/check.c) apply the same rules: every SP/HTAB
 * run is skipped (RFC 9110's optional whitespace around a value and
 * between an auth scheme and its token), "Bearer" followed by a blank is
 * the scheme in any case, and the key ends at a blank, CR, LF, ',' or ';',
 * or after TG_APIKEY_MAX bytes. */
static inline int tg_key_blank(__u8 c)
{
	return c == ' ' || c == '\t';
}

/* 1 when the 7 bytes at p (read as one little-endian word w, its top byte
 * ignored) are "bearer" in any case and a blank. */
static inline int tg_key_bearer(__u64 w)
{
	__u8 sep = (__u8)(w >> 48);

	return ((w | 0x0000202020202020ULL) & 0x0000ffffffffffffULL) == 0x0000726572616562ULL &&
	       tg_key_blank(sep);
}

/* Header value bytes that end a key. */
static inline int tg_key_end(__u8 c)
{
	return c == '\r' || c == '\n' || c == ' ' || c == '\t' || c == ',' || c == ';';
}

/* Lower-case ASCII letters; every byte of a header name ([a-z0-9-]) and
 * ':' has 0x20 set once lowered, so OR-ing 0x20 into packet bytes makes the
 * comparison case-insensitive. */
#define TG_CASE_FOLD 0x2020202020202020ULL

#ifndef __bpf__
#include <string.h>

/* The hash of a key's bytes (at most TG_APIKEY_MAX of them). */
static inline __u64 tg_siphash_key(__u64 k0, __u64 k1, const char *key, size_t len)
{
	struct tg_sip s;

	tg_sip_init(&s, k0, k1);
	for (size_t i = 0; i < len && i < TG_APIKEY_MAX; i++)
		tg_sip_byte(&s, (__u8)key[i]);
	return tg_sip_final(&s);
}

/* Packs "name:" (name lower case, at most TG_KEY_HEADER_LEN - 1 bytes)
 * into two little-endian words and masks. Returns its length with the ':',
 * or 0 if it does not fit. */
static inline __u32 tg_header_words(const char *name, __u64 w[2], __u64 m[2])
{
	size_t n = strlen(name);
	__u8 b[16] = { 0 };

	if (n == 0 || n + 1 > TG_KEY_HEADER_LEN)
		return 0;
	memcpy(b, name, n);
	b[n] = ':';
	memcpy(&w[0], b, 8);
	memcpy(&w[1], b + 8, 8);
	m[0] = n + 1 >= 8 ? ~0ULL : (1ULL << ((n + 1) * 8)) - 1;
	m[1] = n + 1 <= 8 ? 0 : n + 1 >= 16 ? ~0ULL : (1ULL << ((n + 1 - 8) * 8)) - 1;
	w[0] &= m[0];
	w[1] &= m[1];
	return (__u32)(n + 1);
}
#endif

#endif /* TG_APIKEY_H */
