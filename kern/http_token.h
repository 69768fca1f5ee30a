/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* Request-start recognition from the first bytes of a TCP payload.
 * Plain C with no helpers, so the agent's unit tests and fuzzers compile
 * exactly the code the kernel runs. */
#ifndef TG_HTTP_TOKEN_H
#define TG_HTTP_TOKEN_H

#include "shared.h"

/* Little-endian packing of up to 8 bytes, as a u64 load of them reads. */
#define TG_W8(a, b, c, d, e, f, g, h)                                          \
	((__u64)(a) | (__u64)(b) << 8 | (__u64)(c) << 16 | (__u64)(d) << 24 |  \
	 (__u64)(e) << 32 | (__u64)(f) << 40 | (__u64)(g) << 48 |              \
	 (__u64)(h) << 56)

/* Low n bytes set, n in 0..8. */
static inline __u64 tg_bytes_mask(__u32 n)
{
	return n >= 8 ? ~0ULL : ((1ULL << (n * 8)) - 1);
}

/* Bytes a request start can begin with: CR, LF and the first letters of
 * the tokens of tg_is_request_start (C D G H O P T), one bit each in two
 * words. */
#define TG_START_BYTES_LO ((1ULL << '\n') | (1ULL << '\r'))
#define TG_START_BYTES_HI                                                      \
	((1ULL << ('C' - 64)) | (1ULL << ('D' - 64)) | (1ULL << ('G' - 64)) |  \
	 (1ULL << ('H' - 64)) | (1ULL << ('O' - 64)) | (1ULL << ('P' - 64)) |  \
	 (1ULL << ('T' - 64)))

/* w holds the first n (1..8) payload bytes, zero padded. A token is matched
 * on min(n, len) bytes: a segment that is only the beginning of "POST "
 * is a request start too, so splitting a method over segments hides
 * nothing. The token includes its trailing space, so "GETTER" is not GET.
 * h2c's "PRI * HTTP/2.0" preface starts with the token "PRI ". */
static inline int tg_is_request_start(__u64 w, __u32 n)
{
	__u64 have, c = w & 0xff;
	__u32 k = 0;

	/* Most segments are body bytes: one test of the first byte rules
	 * them out before the token compares (the per-packet cost of a plain
	 * segment). */
	if (n && !((c < 64 ? TG_START_BYTES_LO >> c : c < 128 ? TG_START_BYTES_HI >> (c - 64) : 0) & 1))
		return 0;

	/* HTTP servers skip CR/LF before a request line (RFC 9112 2.2), so
	 * "\r\nGET" must not hide a method. Eight CR/LF bytes in a longer
	 * segment hide what follows: count that as a start. A short segment
	 * of only CR/LF carries no request: the next one must begin with it. */
	while (k < n && k < 8 && (((w >> (8 * k)) & 0xff) == '\r' || ((w >> (8 * k)) & 0xff) == '\n'))
		k++;
	if (k) {
		if (k == n)
			return n == 8;
		w >>= 8 * k;
		n -= k;
	}
	have = tg_bytes_mask(n);

#define TG_TOKEN(word, len)                                                    \
	if (((w ^ (word)) & have & tg_bytes_mask(len)) == 0)                   \
		return 1;
	TG_TOKEN(TG_W8('G', 'E', 'T', ' ', 0, 0, 0, 0), 4)
	TG_TOKEN(TG_W8('P', 'O', 'S', 'T', ' ', 0, 0, 0), 5)
	TG_TOKEN(TG_W8('P', 'U', 'T', ' ', 0, 0, 0, 0), 4)
	TG_TOKEN(TG_W8('H', 'E', 'A', 'D', ' ', 0, 0, 0), 5)
	TG_TOKEN(TG_W8('D', 'E', 'L', 'E', 'T', 'E', ' ', 0), 7)
	TG_TOKEN(TG_W8('P', 'A', 'T', 'C', 'H', ' ', 0, 0), 6)
	TG_TOKEN(TG_W8('O', 'P', 'T', 'I', 'O', 'N', 'S', ' '), 8)
	TG_TOKEN(TG_W8('C', 'O', 'N', 'N', 'E', 'C', 'T', ' '), 8)
	TG_TOKEN(TG_W8('T', 'R', 'A', 'C', 'E', ' ', 0, 0), 6)
	TG_TOKEN(TG_W8('P', 'R', 'I', ' ', 0, 0, 0, 0), 4)
#undef TG_TOKEN
	return 0;
}

/* Request size histogram bucket: 0 for < 64 bytes, then one bucket per
 * power of two, the last one open-ended. Branchy log2: BPF has no clz. */
static inline __u32 tg_size_bucket(__u32 size)
{
	__u32 v = size >> TG_SIZE_BUCKET_SHIFT, b = 0;

	if (v >= 1u << 16) { v >>= 16; b += 16; }
	if (v >= 1u << 8) { v >>= 8; b += 8; }
	if (v >= 1u << 4) { v >>= 4; b += 4; }
	if (v >= 1u << 2) { v >>= 2; b += 2; }
	if (v >= 1u << 1) { b += 1; }
	if (v)
		b += 1;
	return b < TG_SIZE_BUCKETS ? b : TG_SIZE_BUCKETS - 1;
}

/* Time to first response byte, ns, into log2 buckets of about 1 ms:
 * bucket 0 < 1.05 ms, bucket i in [2^(i-1), 2^i) * 1.05 ms, the last one
 * open-ended (>= 17 s). */
static inline __u32 tg_lat_bucket(__u64 ns)
{
	__u64 units = ns >> 14; /* 16.4 us */

	return tg_size_bucket(units > 0xffffffffULL ? 0xffffffffU : (__u32)units);
}

/* The status code of a response start: w0/w1 hold its first 16 bytes (n
 * of them valid), "HTTP/1.1 429 ..." gives 429. -1 when it is not an
 * HTTP/1.x status line. */
static inline int tg_status_code(__u64 w0, __u64 w1, __u32 n)
{
	__u32 d1, d2, d3;

	if (n < 12 || (w0 & 0x00ffffffffffffffULL) != TG_W8('H', 'T', 'T', 'P', '/', '1', '.', 0))
		return -1;
	if (((w0 >> 56) != '0' && (w0 >> 56) != '1') || (w1 & 0xff) != ' ')
		return -1;
	d1 = (__u32)((w1 >> 8) & 0xff) - '0';
	d2 = (__u32)((w1 >> 16) & 0xff) - '0';
	d3 = (__u32)((w1 >> 24) & 0xff) - '0';
	if (d1 > 9 || d2 > 9 || d3 > 9)
		return -1;
	return (int)(d1 * 100 + d2 * 10 + d3);
}

/* The class of a status code (tg_status_code): 429 is TG_ST_429. -1 for
 * none, or for 1xx (interim: the response is to come). */
static inline int tg_status_class_of(int code)
{
	if (code == 429)
		return TG_ST_429;
	if (code >= 200 && code < 300)
		return TG_ST_2XX;
	if (code >= 300 && code < 400)
		return TG_ST_3XX;
	if (code >= 400 && code < 500)
		return TG_ST_4XX;
	if (code >= 500 && code < 600)
		return TG_ST_5XX;
	return -1;
}

static inline int tg_status_class(__u64 w0, __u64 w1, __u32 n)
{
	return tg_status_class_of(tg_status_code(w0, w1, n));
}

/* The method of a request start whose first n (0..8) bytes are w: an
 * enum tg_method. CR/LF before the request line are not skipped: such a
 * start logs as TG_METHOD_OTHER. */
static inline __u32 tg_method(__u64 w, __u32 n)
{
	__u64 have = tg_bytes_mask(n);

#define TG_METHOD(word, len, m)                                                \
	if (n >= (len) && ((w ^ (word)) & have & tg_bytes_mask(len)) == 0)     \
		return (m);
	TG_METHOD(TG_W8('G', 'E', 'T', ' ', 0, 0, 0, 0), 4, TG_METHOD_GET)
	TG_METHOD(TG_W8('P', 'O', 'S', 'T', ' ', 0, 0, 0), 5, TG_METHOD_POST)
	TG_METHOD(TG_W8('P', 'U', 'T', ' ', 0, 0, 0, 0), 4, TG_METHOD_PUT)
	TG_METHOD(TG_W8('H', 'E', 'A', 'D', ' ', 0, 0, 0), 5, TG_METHOD_HEAD)
	TG_METHOD(TG_W8('D', 'E', 'L', 'E', 'T', 'E', ' ', 0), 7, TG_METHOD_DELETE)
	TG_METHOD(TG_W8('P', 'A', 'T', 'C', 'H', ' ', 0, 0), 6, TG_METHOD_PATCH)
	TG_METHOD(TG_W8('O', 'P', 'T', 'I', 'O', 'N', 'S', ' '), 8, TG_METHOD_OPTIONS)
	TG_METHOD(TG_W8('C', 'O', 'N', 'N', 'E', 'C', 'T', ' '), 8, TG_METHOD_CONNECT)
	TG_METHOD(TG_W8('T', 'R', 'A', 'C', 'E', ' ', 0, 0), 6, TG_METHOD_TRACE)
#undef TG_METHOD
	return TG_METHOD_OTHER;
}

#endif /* TG_HTTP_TOKEN_H */
