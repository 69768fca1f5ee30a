/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* The API-key scan of a request start: copy up to scan_bytes of the
 * segment into per-CPU scratch, then line by line (newlines searched 8
 * bytes a step) look for one that starts with a configured header name
 * (case-insensitive), skip blanks and "Bearer", hash the value, and stop at the
 * first configured key. A header split across two TCP segments is not
 * seen: the scan covers the request-start segment only. */
#ifndef TG_SCAN_BPF_H
#define TG_SCAN_BPF_H

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include "shared.h"
#include "apikey.h"
#include "maps.bpf.h"
#include "parse.bpf.h"

#define TG_KEY_CANDIDATES 4 /* matching header lines hashed at most */
#define TG_SCAN_END 0xffffffffu /* tg_scan_line: no line left to look at */
/* Bytes of a request start copied for its route: a method of up to 7
 * letters, its space, and the longest prefix. */
#define TG_ROUTE_WINDOW (8 + TG_ROUTE_PREFIX_MAX)

#define TG_NL_BYTES 0x0a0a0a0a0a0a0a0aULL
#define TG_LOW7 0x7f7f7f7f7f7f7f7fULL
#define TG_HIGH1 0x8080808080808080ULL

/* The 8-aligned word of the scratch at (at & ~7) + 8 * k, at < TG_SCAN_MAX,
 * k <= 2 (the buffer's 64 bytes of slack hold the words past the end).
 * Aligned: clang 14 splits an unaligned 8-byte load into eight byte loads,
 * and the verifier accepts aligned ones on every architecture. */
static __always_inline __u64 scratch_aligned(const struct tg_scratch *sc, __u32 at, __u32 k)
{
	__u64 w;

	__builtin_memcpy(&w, __builtin_assume_aligned(&sc->buf[(at & (TG_SCAN_MAX - 8)) + 8 * k], 8), 8);
	return w;
}

/* The 8 bytes at `at` (little-endian), from the two aligned words they
 * straddle. (b << 1) << (63 - sh) is b << (64 - sh) without the undefined
 * shift by 64 when `at` is aligned (it gives 0 then). */
static __always_inline __u64 scratch_join(__u64 a, __u64 b, __u32 sh)
{
	return (a >> sh) | ((b << 1) << (63 - sh));
}

static __always_inline __u64 scratch_word(const struct tg_scratch *sc, __u32 at)
{
	return scratch_join(scratch_aligned(sc, at, 0), scratch_aligned(sc, at, 1), (at & 7) * 8);
}

/* Length of the header name (with ':') matching at `at`, or 0. */
static __always_inline __u32 header_match(const struct tg_scratch *sc, __u32 at,
					  const struct tg_settings *s)
{
	__u32 sh = (at & 7) * 8;
	__u64 a = scratch_aligned(sc, at, 0), b = scratch_aligned(sc, at, 1);
	__u64 c = scratch_aligned(sc, at, 2);
	__u64 w0 = scratch_join(a, b, sh) | TG_CASE_FOLD;
	__u64 w1 = scratch_join(b, c, sh) | TG_CASE_FOLD;

#pragma unroll
	for (int h = 0; h < TG_MAX_KEY_HEADERS; h++) {
		if (h >= s->n_headers)
			break;
		if ((w0 & s->hdr_m[h][0]) == s->hdr_w[h][0] &&
		    (w1 & s->hdr_m[h][1]) == s->hdr_w[h][1])
			return s->hdr_len[h];
	}
	return 0;
}

/* Index (0..7) of the lowest byte flagged 0x80 in m (m != 0). BPF has no
 * count-trailing-zeros: the isolated flag, shifted down to 1 << 8i, times
 * 0x0001020304050607 puts byte 7 - i of the constant, which is i, on top. */
static __always_inline __u32 lowest_flagged_byte(__u64 m)
{
	return (__u32)((((m & -m) >> 7) * 0x0001020304050607ULL) >> 56);
}

/* Global functions below: the verifier checks each once, on its own,
 * instead of once per path into it, which keeps the loops verifiable. */

/* The offset just past the next '\n' at or after sc->nl_pos, which
 * moves there; 0 when there is none before the segment's last byte (a
 * '\n' as the last byte starts no line). Eight bytes a step: a word holds
 * a '\n' when its XOR with 0x0a... has a zero byte, and
 * ~(((x & 0x7f..) + 0x7f..) | x | 0x7f..) flags exactly the zero bytes of
 * x with 0x80 (no carry crosses a byte, so no false positives), so only
 * a word with a newline costs more than a few instructions. The branch
 * out of the loop returns at once, so the verifier's pending states are
 * one short path a word. Bytes past sc->len are stale: a '\n' there ends
 * the search like one at the end. */
__noinline __weak __u32 tg_scan_nl(void)
{
	__u32 zero = 0, base, n;
	struct tg_scratch *sc = bpf_map_lookup_elem(&tg_scratch, &zero);
	__u64 skip;

	if (!sc)
		return 0;
	base = sc->nl_pos & (TG_SCAN_MAX - 1);
	/* bytes of the first word before nl_pos were searched already */
	skip = ~0ULL << ((base & 7) * 8);
	base &= ~7u;
	for (n = 0; n < TG_SCAN_MAX / 8; n++) {
		__u64 x, m;
		__u32 i;

		if (base >= sc->len)
			return 0;
		x = scratch_aligned(sc, base, 0) ^ TG_NL_BYTES;
		m = ~(((x & TG_LOW7) + TG_LOW7) | x | TG_LOW7) & skip;
		if (m) {
			i = base + lowest_flagged_byte(m);
			if (i + 1 >= sc->len)
				return 0;
			sc->nl_pos = i + 1;
			return i + 1;
		}
		skip = ~0ULL;
		base += 8;
	}
	return 0;
}

/* The next header line (the request line and the TG_SCAN_LINES - 1 lines
 * after it are looked at): the offset of its value when its name is a
 * configured one and whole in the segment, 0 when not, TG_SCAN_END when
 * there is none. No loop of its own, so the caller's loop has three
 * outcomes a line to verify, not every path through the comparison. */
__noinline __weak __u32 tg_scan_line(void)
{
	__u32 zero = 0, at, hl;
	struct tg_scratch *sc = bpf_map_lookup_elem(&tg_scratch, &zero);
	struct tg_settings *s = bpf_map_lookup_elem(&tg_settings, &zero);

	if (!sc || !s || sc->n_lines >= TG_SCAN_LINES - 1)
		return TG_SCAN_END;
	at = tg_scan_nl();
	if (!at)
		return TG_SCAN_END;
	sc->n_lines++;
	at &= TG_SCAN_MAX - 1;
	hl = header_match(sc, at, s);
	return hl && at + hl <= sc->len ? at + hl : 0;
}

/* Offset of the value of the next header line whose name matches, or 0.
 * The search position and the line count stay in map memory: registers
 * the verifier refines at each test would split its states on every
 * line. */
__noinline __weak __u32 tg_scan_find(void)
{
	for (int n = 0; n < TG_SCAN_LINES; n++) {
		__u32 v = tg_scan_line();

		if (v == TG_SCAN_END)
			return 0;
		if (v)
			return v;
	}
	return 0;
}

#define TG_TAB_BYTES 0x0909090909090909ULL
#define TG_SP_BYTES 0x2020202020202020ULL

/* 0x80 in each byte of x that is zero (no false positives: see tg_scan_nl). */
static __always_inline __u64 zero_bytes(__u64 x)
{
	return ~(((x & TG_LOW7) + TG_LOW7) | x | TG_LOW7);
}

/* Moves sc->off past a run of blanks (SP, HTAB), however long, within the
 * scanned bytes: eight bytes a step, a byte being blank when its XOR with
 * 0x20 or with 0x09 is zero. A global function with the offset in map
 * memory, verified once: a byte-at-a-time loop over the whole window is
 * too long a path for the verifier. */
__noinline __weak int tg_scan_blanks(void)
{
	__u32 zero = 0, base;
	struct tg_scratch *sc = bpf_map_lookup_elem(&tg_scratch, &zero);
	__u64 skip;

	if (!sc)
		return 0;
	base = sc->off & (TG_SCAN_MAX - 1);
	/* bytes of the first word before off are not part of the run */
	skip = ~0ULL << ((base & 7) * 8);
	base &= ~7u;
	for (__u32 n = 0; n < TG_SCAN_MAX / 8; n++) {
		__u64 w, m;

		if (base >= sc->len) {
			sc->off = sc->len;
			return 0;
		}
		w = scratch_aligned(sc, base, 0);
		m = ~(zero_bytes(w ^ TG_SP_BYTES) | zero_bytes(w ^ TG_TAB_BYTES)) & TG_HIGH1 &
		    (skip & TG_HIGH1);
		if (m) {
			sc->off = base + lowest_flagged_byte(m);
			return 0;
		}
		skip = ~0ULL;
		base += 8;
	}
	return 0;
}

/* The keyed hash of the header value at off, by the rules of apikey.h:
 * blank runs skipped, "Bearer" and the blanks after it skipped, the key
 * up to a key-end byte. 0 when there is no key. */
__noinline __weak __u64 tg_scan_hash(__u32 off)
{
	__u32 zero = 0, n;
	struct tg_scratch *sc = bpf_map_lookup_elem(&tg_scratch, &zero);
	struct tg_hash_key *hk;
	struct tg_sip *st;

	if (!sc)
		return 0;
	sc->off = off;
	tg_scan_blanks();
	if (sc->off + 7 <= sc->len &&
	    tg_key_bearer(scratch_word(sc, sc->off & (TG_SCAN_MAX - 1)))) {
		sc->off += 7;
		tg_scan_blanks();
	}
	/* looked up after the calls: nothing more to keep across them */
	hk = bpf_map_lookup_elem(&tg_hash_key, &zero);
	st = bpf_map_lookup_elem(&tg_hash_state, &zero);
	if (!hk || !st)
		return 0;
	tg_sip_init(st, hk->k0, hk->k1);
	for (n = 0; n < TG_APIKEY_MAX; n++) {
		__u32 at = sc->off + n;
		__u8 c;

		if (at >= sc->len)
			break;
		c = sc->buf[at & (TG_SCAN_MAX - 1)];
		if (tg_key_end(c))
			break;
		tg_sip_byte(st, c);
	}
	return st->n ? tg_sip_final(st) : 0;
}

/* Header lines are matched as the newline search finds them, and the scan
 * stops at the first configured key: its cost follows where the key sits,
 * not the request's length. Every matching line counts, not only the
 * first: a decoy header ("x-api-key: junk") before the real one must not
 * hide it. The first configured key wins; else the first key seen (of
 * the TG_KEY_CANDIDATES matching lines hashed) is reported. */
__noinline __weak __u64 tg_scan_pick(void)
{
	__u32 zero = 0, off;
	struct tg_scratch *sc = bpf_map_lookup_elem(&tg_scratch, &zero);
	__u64 first = 0;

	if (!sc)
		return 0;
	sc->nl_pos = 0;
	sc->n_lines = 0;
	for (int k = 0; k < TG_KEY_CANDIDATES; k++) {
		__u64 h;

		off = tg_scan_find();
		if (!off)
			break;
		h = tg_scan_hash(off);
		if (!h)
			continue;
		if (!first)
			first = h;
		if (bpf_map_lookup_elem(&tg_apikeys, &h))
			return h;
	}
	return first;
}

/* The JSON walk's state, per CPU (the packet program's chain of calls has
 * no stack to spare). Offsets are into the scratch buffer. */
struct tg_json {
	__u32 pos;        /* the next byte to look at */
	__u32 end;        /* the window's end */
	__u32 depth;      /* brackets open */
	__u32 in_str;     /* inside a string */
	__u32 expect_key; /* at depth 1, the next string is a key */
	__u32 key;        /* TG_JK_* of the key just read, 0 for another */
	__u32 want_model; /* the next string at depth 1 is the model */
	__u32 str_start;  /* the current string's first byte */
	__u32 str_esc;    /* ... holds an escape */
	__u32 seg_len;    /* the request start's segment's payload bytes */
	__u32 copied;     /* ... of which the scratch holds the first */
	__u32 dropped;    /* a pending body's request start was dropped */
	struct tg_model_name name; /* tg_models' lookup key */
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct tg_json);
} tg_json SEC(".maps") __weak;

/* route.bpf.h: the route of the request start copied to the scratch. */
__noinline __weak int tg_route_path(__u32 loaded);
__noinline __weak int tg_route_match(void);
/* model.bpf.h: the model and body figures of the request start copied. */
__noinline __weak int tg_model_head(__u32 copied);

/* The hash of the request's API key, or 0 when it carries none (or when
 * no key is wanted: the scan ran for the route or model alone). With
 * routes, the copy also covers the request line's first TG_ROUTE_WINDOW
 * bytes, whatever identity.header_scan_bytes says, and the route is
 * resolved from it before the key is looked for; with models, the copy
 * covers the segment up to TG_SCAN_MAX bytes, and the body behind the
 * headers is read for its model. */
__noinline __weak __u64 tg_scan_api_key(struct __sk_buff *skb, __u32 payload_off, __u32 payload_len)
{
	__u32 zero = 0, len = payload_len;
	struct tg_scratch *sc = bpf_map_lookup_elem(&tg_scratch, &zero);
	struct tg_settings *s = bpf_map_lookup_elem(&tg_settings, &zero);

	if (!sc || !s)
		return 0;
	if (len > s->scan_bytes)
		len = s->scan_bytes;
	if (len > TG_SCAN_MAX)
		len = TG_SCAN_MAX;
	sc->gen++;
	sc->len = len; /* the key scan's window; the copy may be longer */
	if ((s->flags & TG_SET_ROUTES) && len < TG_ROUTE_WINDOW)
		len = payload_len < TG_ROUTE_WINDOW ? payload_len : TG_ROUTE_WINDOW;
	if (s->flags & TG_SET_MODELS) {
		/* the body behind the headers: the whole segment, as far as
		 * the scratch goes */
		struct tg_json *js = bpf_map_lookup_elem(&tg_json, &zero);

		if (js)
			js->seg_len = payload_len;
		len = payload_len < TG_SCAN_MAX ? payload_len : TG_SCAN_MAX;
	}
	/* clang 14 drops the bound of a variable length: restate it after a
	 * barrier the optimiser cannot see through. One variable, no more:
	 * the packet program's chain of calls leaves this frame 8 bytes. */
	asm volatile("" : "+r"(len));
	len &= (TG_SCAN_MAX * 2 - 1);
	if (len < 16 || len > TG_SCAN_MAX)
		return 0;
	if (bpf_skb_load_bytes(skb, payload_off, sc->buf, len))
		return 0;
	/* looked up again (inlined, no helper call) rather than kept in a
	 * register across the copy, which would spill skb */
	s = bpf_map_lookup_elem(&tg_settings, &zero);
	if (!s)
		return 0;
	if ((s->flags & TG_SET_ROUTES) && tg_route_path(len))
		tg_route_match();
	if (s->flags & TG_SET_MODELS)
		tg_model_head(len);
	if (!s->n_quota_keys && !(s->flags & TG_SET_KEY_USE))
		return 0;
	return tg_scan_pick();
}

/* One request start of a key from a client. A global function: verified
 * once, whatever the caller's state. */
__noinline __weak int tg_key_use_note(__u64 hash, const struct tg_addr *addr, __u64 now)
{
	struct tg_key_use_key k = { .key_hash = hash };
	struct tg_key_use *u, fresh = { .requests = 1 };

	if (!addr)
		return 0;
	k.addr = *addr;
	fresh.last_ns = now;
	u = bpf_map_lookup_elem(&tg_key_use, &k);
	if (u) {
		__sync_fetch_and_add(&u->requests, 1);
		u->last_ns = now;
		return 0;
	}
	/* A race with another CPU's insert loses one count: fine for a
	 * detector that counts distinct pairs. */
	bpf_map_update_elem(&tg_key_use, &k, &fresh, BPF_NOEXIST);
	return 0;
}

__noinline __weak int tg_proxy_v4_fn(void)
{
	__u32 zero = 0;
	struct tg_scratch *sc = bpf_map_lookup_elem(&tg_scratch, &zero);

	if (sc)
		tg_proxy_v1_ipv4(sc->buf, &sc->proxy);
	return 0;
}

static long proxy_v6_cb(__u32 i, void *ctx)
{
	__u32 zero = 0;
	struct tg_scratch *sc = bpf_map_lookup_elem(&tg_scratch, &zero);

	return sc ? tg_proxy_v6_step(sc->buf, &sc->proxy) : 1;
}

/* IPv6 text has too many paths per character for an unrolled check:
 * bpf_loop verifies the step once (~9 ns a character, first segment of a
 * PROXY connection only). */
__noinline __weak int tg_proxy_v6_fn(void)
{
	__u32 zero = 0;
	struct tg_scratch *sc = bpf_map_lookup_elem(&tg_scratch, &zero);

	if (!sc)
		return 0;
	tg_proxy_v6_begin(&sc->proxy);
	bpf_loop(TG_PROXY_V6_STEPS, proxy_v6_cb, NULL, 0);
	tg_proxy_v6_end(&sc->proxy);
	return 0;
}

/* A PROXY protocol header at the start of the payload: enum tg_proxy_rc,
 * with the client and the header's length in the scratch's proxy state. */
static __always_inline int proxy_scan_first(struct __sk_buff *skb, __u32 payload_off,
					    __u32 payload_len)
{
	__u32 zero = 0, len = payload_len;
	struct tg_scratch *sc = bpf_map_lookup_elem(&tg_scratch, &zero);

	if (!sc)
		return TG_PROXY_NONE;
	if (len > TG_PROXY_BUF)
		len = TG_PROXY_BUF;
	asm volatile("" : "+r"(len));
	len &= (TG_PROXY_BUF * 2 - 1);
	if (len < 1 || len > TG_PROXY_BUF)
		return TG_PROXY_NONE;
	if (bpf_skb_load_bytes(skb, payload_off, sc->buf, len))
		return TG_PROXY_NONE;
	__builtin_memset(&sc->proxy, 0, sizeof(sc->proxy));
	sc->proxy.len = len;
	return tg_proxy_parse(sc->buf, &sc->proxy);
}

/* After proxy_scan_first said TG_PROXY_PARTIAL: keeps the header's bytes
 * so far (in the scratch) for the connection's next segment. 0, or -1. */
static __always_inline int proxy_hold(struct tg_pkt *p)
{
	__u32 zero = 0;
	struct tg_scratch *sc = bpf_map_lookup_elem(&tg_scratch, &zero);
	struct tg_proxy_held *h;

	if (!sc)
		return -1;
	/* staged in the scratch, whose first bytes are the header's */
	h = (struct tg_proxy_held *)sc->buf;
	h->seq = p->seq;
	h->len = sc->proxy.len;
	return bpf_map_update_elem(&tg_proxy_held, &p->flow, h, BPF_ANY) ? -1 : 0;
}

/* The next segment of a connection whose PROXY header began in an earlier
 * one: the held bytes and this segment's, parsed as one. enum
 * tg_proxy_rc; for a whole header, the scratch's proxy.hdr_len counts from
 * this segment's first byte. TG_PROXY_PARTIAL again for a retransmission
 * of held bytes, or when the header goes on past this segment too. A gap
 * (a segment missing before this one) or a lost entry: TG_PROXY_BAD.
 * Little is live across its calls (the held entry and the scratch are
 * looked up again): the frame stays small, as the combined stack limit
 * needs. */
static __always_inline int proxy_scan_more(struct __sk_buff *skb, struct tg_pkt *p)
{
	__u32 zero = 0, have, skip, n;
	struct tg_scratch *sc;
	struct tg_proxy_held *h;
	int rc;

	h = bpf_map_lookup_elem(&tg_proxy_held, &p->flow);
	if (!h)
		return TG_PROXY_BAD;
	have = h->len;
	skip = h->seq + have - p->seq; /* bytes of this segment held already */
	if (have >= TG_PROXY_BUF || (__s32)skip < 0)
		goto bad;
	if (skip >= p->payload_len)
		return TG_PROXY_PARTIAL;
	n = p->payload_len - skip;
	if (n > TG_PROXY_BUF - have)
		n = TG_PROXY_BUF - have;
	asm volatile("" : "+r"(n));
	n &= (TG_PROXY_BUF * 2 - 1);
	have &= TG_PROXY_MASK;
	if (n < 1 || n > TG_PROXY_BUF)
		goto bad;
	if (bpf_skb_load_bytes(skb, p->payload_off + skip, h->buf + have, n))
		goto bad;
	h->len = have + n;
	sc = bpf_map_lookup_elem(&tg_scratch, &zero);
	if (!sc)
		goto bad;
	__builtin_memcpy(sc->buf, h->buf, TG_PROXY_BUF);
	__builtin_memset(&sc->proxy, 0, sizeof(sc->proxy));
	sc->proxy.len = h->len;
	rc = tg_proxy_parse(sc->buf, &sc->proxy);
	h = bpf_map_lookup_elem(&tg_proxy_held, &p->flow);
	sc = bpf_map_lookup_elem(&tg_scratch, &zero);
	if (!h || !sc)
		goto bad;
	if (rc == TG_PROXY_PARTIAL && h->len < TG_PROXY_BUF)
		return rc;
	if (rc != TG_PROXY_ADDR && rc != TG_PROXY_NOADDR)
		goto bad; /* what looked like a header's start was not one */
	sc->proxy.hdr_len = h->seq + sc->proxy.hdr_len - p->seq;
	bpf_map_delete_elem(&tg_proxy_held, &p->flow);
	return rc;
bad:
	bpf_map_delete_elem(&tg_proxy_held, &p->flow);
	return TG_PROXY_BAD;
}

/* The PROXY header at a connection's start, from its first segment, or
 * (more: TG_CONN_PROXY_PART) from the next one of a header that began in
 * an earlier segment. One call site in the main program, whose frame has
 * no byte to spare. */
__noinline __weak int tg_proxy_scan(struct __sk_buff *skb, struct tg_pkt *p, __u32 more)
{
	int rc;

	if (!p)
		return TG_PROXY_NONE;
	if (more)
		return proxy_scan_more(skb, p);
	rc = proxy_scan_first(skb, p->payload_off, p->payload_len);
	if (rc == TG_PROXY_PARTIAL && proxy_hold(p))
		rc = TG_PROXY_BAD;
	return rc;
}

#endif /* TG_SCAN_BPF_H */
