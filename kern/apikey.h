/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* API keys: the hash the kernel takes of a header value and the agent of
 * a configured key, and the packing of header names for the kernel's
 * line-start comparison. Plain C shared by both sides and the tests. */
#ifndef TG_APIKEY_H
#define TG_APIKEY_H

#include "shared.h"

#define TG_FNV_OFFSET 0xcbf29ce484222325ULL
#define TG_FNV_PRIME 0x100000001b3ULL

/* FNV-1a, 64 bits. A hash of 0 is reserved for "no key". */
static inline __u64 tg_fnv_step(__u64 h, __u8 c)
{
	return (h ^ c) * TG_FNV_PRIME;
}

static inline __u64 tg_fnv_final(__u64 h)
{
	return h ? h : 1;
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

static inline __u64 tg_apikey_hash(const char *key, size_t len)
{
	__u64 h = TG_FNV_OFFSET;

	for (size_t i = 0; i < len && i < TG_APIKEY_MAX; i++)
		h = tg_fnv_step(h, (__u8)key[i]);
	return tg_fnv_final(h);
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
