/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* Models: a request's JSON body read for its top-level "model" string,
 * max_tokens / max_completion_tokens / max_output_tokens and
 * "stream": true, within the body's first identity.body_scan_bytes; the
 * request counted per (key, model).
 *
 * The body is read where it starts: in the request start's segment,
 * behind the headers (the scan's copy covers the segment up to
 * TG_SCAN_MAX bytes when models are on), or, when that segment ends with
 * the headers (SDKs write headers and body separately), in the
 * connection's next segment (TG_CONN_BODY_PENDING, tg_body_wait).
 *
 * The JSON is walked eight bytes a step: a word holding no byte that
 * matters in the current state (inside a string: '"' and '\'; outside:
 * '"' ':' ',' and the brackets) costs a few instructions, so the cost
 * follows the body's structure, not its length. Depth and the in-string
 * state are tracked, so a "model" key inside a nested object or inside a
 * string value does not count; an escaped quote does not end a string.
 *
 * Model names resolve through tg_models, a hash keyed by the name
 * zero-padded to 64 bytes: exact (no collisions to handle, no key to
 * keep), one lookup per request, and the agent writes names as they are.
 * A keyed 64-bit hash would save the zero-padding copy but need a hash
 * over a variable length in the kernel (the API-key scan's SipHash costs
 * ~1 ns a byte plus set-up) and a collision story. A name the config
 * does not list is TG_MODEL_OTHER; no model field, TG_MODEL_NONE.
 * Escapes are not decoded: configured names hold no '"' or '\', so a
 * string with an escape is "other". */
#ifndef TG_MODEL_BPF_H
#define TG_MODEL_BPF_H

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include "shared.h"
#include "http_token.h"
#include "maps.bpf.h"
#include "parse.bpf.h"
#include "scan.bpf.h"
#include "route.bpf.h"

/* Steps of the JSON walk: a word without structure, or one structural
 * byte. 1024 covers a 2048-byte window of ordinary JSON (a step per word
 * plus one per quote, bracket, ':' or ','); a window denser than that is
 * read only as far as the steps go. */
#define TG_JSON_STEPS 1024
#define TG_JSON_VALUE_BYTES 32 /* blanks and digits read after a ':' */

/* The keys looked for, as tg_json.key */
#define TG_JK_MODEL 1
#define TG_JK_MAX_TOKENS 2
#define TG_JK_STREAM 3

#define TG_QUOTE_BYTES 0x2222222222222222ULL
#define TG_BSLASH_BYTES 0x5c5c5c5c5c5c5c5cULL
#define TG_COLON_BYTES 0x3a3a3a3a3a3a3a3aULL
#define TG_COMMA_BYTES 0x2c2c2c2c2c2c2c2cULL
#define TG_LBRACE_BYTES 0x7b7b7b7b7b7b7b7bULL /* '{', and '[' | 0x20 */
#define TG_RBRACE_BYTES 0x7d7d7d7d7d7d7d7dULL /* '}', and ']' | 0x20 */
#define TG_CR_BYTES 0x0d0d0d0d0d0d0d0dULL

/* The names model, stream and the max_*tokens keys as little-endian words */
#define TG_W_MODEL 0x6c65646f6dULL
#define TG_W_STREAM 0x6d6165727473ULL
#define TG_W_MAX_TO 0x656b6f745f78616dULL   /* "max_toke" */
#define TG_W_MAX_CO 0x706d6f635f78616dULL   /* "max_comp" */
#define TG_W_LETION_T 0x745f6e6f6974656cULL /* "letion_t" */
#define TG_W_OKENS 0x736e656b6fULL          /* "okens" */
#define TG_W_MAX_OU 0x7074756f5f78616dULL   /* "max_outp" */
#define TG_W_UT_TOKEN 0x6e656b6f745f7475ULL /* "ut_token" */
#define TG_W_TRUE 0x65757274ULL
#define TG_W_POST 0x2054534f50ULL   /* "POST " */
#define TG_W_PUT 0x20545550ULL      /* "PUT " */
#define TG_W_PATCH 0x204843544150ULL /* "PATCH " */


/* The configured model names, written by the agent: name -> 1..64. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, TG_MAX_MODELS);
	__type(key, struct tg_model_name);
	__type(value, __u32);
} tg_models SEC(".maps") __weak;

/* Request starts per (quota id, model): index qid * TG_MODEL_IDS + model.
 * A plain array (not per CPU), atomic adds. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, TG_MAX_QUOTAS * TG_MODEL_IDS);
	__type(key, __u32);
	__type(value, struct tg_route_count);
} tg_model_keys SEC(".maps") __weak;

/* A request whose headers ended with their segment: where its body starts
 * and what its start resolved to, until the connection's next segment.
 * Its own small map, not a field of tg_conn (whose size is pinned
 * layout). An LRU: an entry whose connection vanished without a FIN
 * makes way; one evicted early leaves that request without a model. An
 * entry lives from the headers' segment to the body's (a round trip of
 * the client's writes, microseconds to milliseconds), so 4096 bodies in
 * flight at once are ample; 0.5 MiB keeps the default config within its
 * memory ceiling (unit_test_mapmem). */
struct tg_body_wait {
	__u32 seq; /* the body's first sequence number */
	__u32 qid;
	struct tg_req_info req;
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 4096);
	__type(key, struct tg_flow);
	__type(value, struct tg_body_wait);
} tg_body_wait SEC(".maps") __weak;

static __always_inline __u64 json_word(const struct tg_scratch *sc, __u32 at)
{
	return scratch_word(sc, at & (TG_SCAN_MAX - 1));
}

/* Offset of the body in the scratch (just past the first "\r\n\r\n"
 * within the copied bytes), or 0 when the headers do not end there.
 * Eight bytes a step, one exit a word: a byte ends the headers when it is
 * '\n' and the three before it are "\r\n\r"; the word shifted by one,
 * two and three bytes (the previous word's last bytes shifted in) lines
 * those up in the same lane, and zero_bytes flags exact matches only. */
__noinline __weak __u32 tg_body_start(void)
{
	__u32 zero = 0, base = 0, n;
	struct tg_scratch *sc = bpf_map_lookup_elem(&tg_scratch, &zero);
	struct tg_json *js = bpf_map_lookup_elem(&tg_json, &zero);
	__u64 prev = 0;

	if (!sc || !js)
		return 0;
	for (n = 0; n < TG_SCAN_MAX / 8; n++, base += 8) {
		__u64 a, m;

		if (base >= js->copied)
			return 0;
		a = scratch_aligned(sc, base, 0);
		m = zero_bytes(a ^ TG_NL_BYTES) & zero_bytes(((a << 8) | (prev >> 56)) ^ TG_CR_BYTES) &
		    zero_bytes(((a << 16) | (prev >> 48)) ^ TG_NL_BYTES) &
		    zero_bytes(((a << 24) | (prev >> 40)) ^ TG_CR_BYTES) & TG_HIGH1;
		if (m) {
			/* a match in stale bytes past the copy is no end */
			__u32 i = base + lowest_flagged_byte(m);

			return i < js->copied ? i + 1 : 0;
		}
		prev = a;
	}
	return 0;
}

/* The key of the string [start, start + len) (not escaped): TG_JK_*. */
static __always_inline __u32 json_key(const struct tg_scratch *sc, __u32 start, __u32 len)
{
	__u64 w0 = json_word(sc, start);

	if (len == 5)
		return (w0 & tg_bytes_mask(5)) == TG_W_MODEL ? TG_JK_MODEL : 0;
	if (len == 6)
		return (w0 & tg_bytes_mask(6)) == TG_W_STREAM ? TG_JK_STREAM : 0;
	if (len == 10)
		return w0 == TG_W_MAX_TO && (json_word(sc, start + 8) & 0xffff) == 0x736e
			       ? TG_JK_MAX_TOKENS
			       : 0;
	if (len == 17)
		return w0 == TG_W_MAX_OU && json_word(sc, start + 8) == TG_W_UT_TOKEN &&
				       (json_word(sc, start + 16) & 0xff) == 0x73
			       ? TG_JK_MAX_TOKENS
			       : 0;
	if (len == 21)
		return w0 == TG_W_MAX_CO && json_word(sc, start + 8) == TG_W_LETION_T &&
				       (json_word(sc, start + 16) & tg_bytes_mask(5)) == TG_W_OKENS
			       ? TG_JK_MAX_TOKENS
			       : 0;
	return 0;
}

/* A string at depth 1 ended at `at` (its closing quote): a key, or the
 * model's value. */
__noinline __weak int tg_json_string(__u32 at)
{
	__u32 zero = 0, start, len, *id;
	struct tg_scratch *sc = bpf_map_lookup_elem(&tg_scratch, &zero);
	struct tg_json *js = bpf_map_lookup_elem(&tg_json, &zero);
	struct tg_route_state *rs = bpf_map_lookup_elem(&tg_route_state, &zero);

	if (!sc || !js || !rs)
		return 0;
	start = js->str_start;
	len = at - start;
	if (js->expect_key) {
		js->expect_key = 0;
		js->key = js->str_esc ? 0 : json_key(sc, start, len);
		return 0;
	}
	if (!js->want_model)
		return 0;
	js->want_model = 0;
	rs->req.model = TG_MODEL_OTHER;
	if (js->str_esc || len < 1 || len >= TG_MODEL_NAME_WORDS * 8)
		return 0;
#pragma nounroll
	for (__u32 k = 0; k < TG_MODEL_NAME_WORDS; k++)
		js->name.w[k] = json_word(sc, start + 8 * k) &
				tg_bytes_mask(len > 8 * k ? len - 8 * k : 0);
	id = bpf_map_lookup_elem(&tg_models, &js->name);
	if (id && *id >= 1 && *id <= TG_MAX_MODELS)
		rs->req.model = (__u16)*id;
	return 0;
}

static __always_inline int json_blank(__u32 c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* The value after the ':' at at - 1 of a max_tokens key (a number, whole
 * in the window) or of "stream" (true or false). */
__noinline __weak int tg_json_value(__u32 at)
{
	__u32 zero = 0, key, digits = 0;
	struct tg_scratch *sc = bpf_map_lookup_elem(&tg_scratch, &zero);
	struct tg_json *js = bpf_map_lookup_elem(&tg_json, &zero);
	struct tg_route_state *rs = bpf_map_lookup_elem(&tg_route_state, &zero);
	__u64 v = 0;

	if (!sc || !js || !rs)
		return 0;
	key = js->key;
	js->key = 0;
	if (key == TG_JK_MODEL) {
		js->want_model = 1;
		return 0;
	}
#pragma nounroll
	for (__u32 k = 0; k < TG_JSON_VALUE_BYTES; k++, at++) {
		__u32 c;

		if (at >= js->end)
			return 0; /* the value may go on past the window */
		c = sc->buf[at & (TG_SCAN_MAX - 1)];
		if (!digits && json_blank(c))
			continue;
		if (key == TG_JK_STREAM) {
			if (c == 't' && at + 4 <= js->end &&
			    (json_word(sc, at) & tg_bytes_mask(4)) == TG_W_TRUE)
				rs->req.flags |= TG_REQ_STREAM;
			else if (c == 'f')
				rs->req.flags &= ~TG_REQ_STREAM;
			return 0;
		}
		if (c >= '0' && c <= '9' && digits < 10) {
			v = v * 10 + (c - '0');
			digits++;
			continue;
		}
		if (digits && !(c >= '0' && c <= '9'))
			rs->req.max_tokens = v > 0xffffffffULL ? 0xffffffffu : (__u32)v;
		return 0;
	}
	return 0;
}

/* One structural byte at i (a quote or backslash in a string; a quote,
 * bracket, ':' or ',' outside): the walk's state moved on. 1 when the
 * walk is over (the top-level object ended, or the top level is no
 * object). A global function: the walk's loop has one shape a step. */
__noinline __weak int tg_json_event(__u32 i)
{
	__u32 zero = 0, c;
	struct tg_scratch *sc = bpf_map_lookup_elem(&tg_scratch, &zero);
	struct tg_json *js = bpf_map_lookup_elem(&tg_json, &zero);

	if (!sc || !js)
		return 1;
	c = sc->buf[i & (TG_SCAN_MAX - 1)];
	js->pos = i + 1;
	if (js->in_str) {
		if (c == '\\') {
			js->pos = i + 2; /* the escaped byte is no quote */
			js->str_esc = 1;
			return 0;
		}
		js->in_str = 0;
		if (js->depth == 1)
			tg_json_string(i);
		return 0;
	}
	if (c == '"') {
		js->in_str = 1;
		js->str_start = i + 1;
		js->str_esc = 0;
	} else if (c == ':') {
		if (js->depth == 1 && js->key)
			tg_json_value(i + 1);
		js = bpf_map_lookup_elem(&tg_json, &zero);
		if (js)
			js->key = 0;
	} else if (c == ',') {
		if (js->depth == 1) {
			js->expect_key = 1;
			js->key = 0;
			js->want_model = 0;
		}
	} else if ((c | 0x20) == '{') {
		if (js->depth == 0 && c != '{')
			return 1; /* the top level is no object */
		js->depth++;
		if (js->depth == 1)
			js->expect_key = 1;
		else
			js->want_model = 0;
	} else {
		if (js->depth <= 1)
			return 1; /* the top-level object ends */
		js->depth--;
	}
	return 0;
}

/* Walks the JSON in the scratch from js->pos to js->end (set by the
 * caller, with the rest of the state zeroed): the top-level object's
 * "model", max_tokens keys and "stream" into tg_route_state's req. */
__noinline __weak int tg_json_scan(void)
{
	for (__u32 n = 0; n < TG_JSON_STEPS; n++) {
		__u32 zero = 0, pos, base, i;
		/* looked up each step (inlined, no helper call) rather than
		 * kept across the event's call: the frame stays small */
		struct tg_scratch *sc = bpf_map_lookup_elem(&tg_scratch, &zero);
		struct tg_json *js = bpf_map_lookup_elem(&tg_json, &zero);
		__u64 w, m, in_str;

		if (!sc || !js)
			return 0;
		pos = js->pos;
		if (pos >= js->end || js->end > TG_SCAN_MAX)
			return 0;
		base = pos & (TG_SCAN_MAX - 8);
		w = scratch_aligned(sc, base, 0);
		/* inside a string only '"' and '\' matter: selected without a
		 * branch, so every step has one shape to verify */
		in_str = -(__u64)(js->in_str & 1);
		m = (zero_bytes(w ^ TG_QUOTE_BYTES) | (zero_bytes(w ^ TG_BSLASH_BYTES) & in_str) |
		     ((zero_bytes(w ^ TG_COLON_BYTES) | zero_bytes(w ^ TG_COMMA_BYTES) |
		       zero_bytes((w | TG_CASE_FOLD) ^ TG_LBRACE_BYTES) |
		       zero_bytes((w | TG_CASE_FOLD) ^ TG_RBRACE_BYTES)) &
		      ~in_str)) &
		    TG_HIGH1 & (~0ULL << ((pos & 7) * 8));
		if (!m) {
			js->pos = base + 8;
			continue;
		}
		i = base + lowest_flagged_byte(m);
		if (i >= js->end)
			return 0;
		if (tg_json_event(i))
			return 0;
	}
	return 0;
}

/* Starts the walk over the scratch's [from, to). */
static __always_inline void json_begin(struct tg_json *js, __u32 from, __u32 to)
{
	js->pos = from;
	js->end = to;
	js->depth = 0;
	js->in_str = 0;
	js->expect_key = 0;
	js->key = 0;
	js->want_model = 0;
}

/* The request start in the scratch (its first `copied` bytes; js->seg_len
 * is the segment's length): the body behind its headers read, or, when
 * the segment ends with the headers of a method with a body, the body
 * noted as to come (tg_route_state.body_wait). Called by the scan with
 * models on. */
__noinline __weak int tg_model_head(__u32 copied)
{
	__u32 zero = 0, body, end;
	struct tg_scratch *sc = bpf_map_lookup_elem(&tg_scratch, &zero);
	struct tg_json *js = bpf_map_lookup_elem(&tg_json, &zero);
	struct tg_settings *s;
	struct tg_route_state *rs;
	__u64 w;

	if (!sc || !js || copied > TG_SCAN_MAX)
		return 0;
	js->copied = copied;
	body = tg_body_start();
	if (!body)
		return 0;
	/* looked up after the call: nothing live across it */
	js = bpf_map_lookup_elem(&tg_json, &zero);
	sc = bpf_map_lookup_elem(&tg_scratch, &zero);
	s = bpf_map_lookup_elem(&tg_settings, &zero);
	rs = bpf_map_lookup_elem(&tg_route_state, &zero);
	if (!js || !sc || !s || !rs)
		return 0;
	if (body >= js->seg_len) {
		w = scratch_aligned(sc, 0, 0);
		if ((w & tg_bytes_mask(5)) == TG_W_POST || (w & tg_bytes_mask(4)) == TG_W_PUT ||
		    (w & tg_bytes_mask(6)) == TG_W_PATCH)
			rs->body_wait = 1;
		return 0;
	}
	end = body + s->body_scan_bytes;
	if (end > js->copied)
		end = js->copied;
	json_begin(js, body, end);
	tg_json_scan();
	return 0;
}

static __always_inline void model_count(const struct tg_route_state *rs, int dropped)
{
	__u32 model = rs->req.model, qid = rs->qid, idx;
	struct tg_route_count *c;

	if (model > TG_MAX_MODELS || qid >= TG_MAX_QUOTAS)
		return;
	idx = qid * TG_MODEL_IDS + model;
	c = bpf_map_lookup_elem(&tg_model_keys, &idx);
	if (c)
		route_add(c, dropped);
}

/* After a request start's verdict (not a recheck): counts its model, or,
 * when its body is still to come, notes what it resolved to for the
 * connection's next segment. 1: the body is pending. */
__noinline __weak int tg_model_done(struct tg_pkt *p, int dropped)
{
	__u32 zero = 0;
	struct tg_route_state *rs = bpf_map_lookup_elem(&tg_route_state, &zero);
	struct tg_body_wait *bw;
	struct tg_scratch *sc;

	if (!p || !rs)
		return 0;
	if (!rs->body_wait) {
		model_count(rs, dropped);
		return 0;
	}
	/* staged in the scratch, free once the scan is over */
	sc = bpf_map_lookup_elem(&tg_scratch, &zero);
	if (!sc)
		return 0;
	bw = (struct tg_body_wait *)sc->buf;
	bw->seq = p->seq + p->payload_len;
	bw->qid = rs->qid;
	bw->req = rs->req;
	return bpf_map_update_elem(&tg_body_wait, &p->flow, bw, BPF_ANY) == 0;
}

/* The segment after a request's headers, on a connection with
 * TG_CONN_BODY_PENDING: its first bytes copied to the scratch for
 * tg_model_body_scan (1), the flag cleared (with the client's pending
 * count). Data older than the body (a retransmission) leaves it pending
 * (0); a gap gives up (0). Two functions, so the walk's chain of calls
 * does not sit on this one's frame. */
__noinline __weak int tg_model_body(struct __sk_buff *skb, struct tg_pkt *p, struct tg_conn *cn,
				    const struct tg_addr *key)
{
	__u32 zero = 0, len;
	struct tg_body_wait *bw;
	struct tg_route_state *rs;
	struct tg_settings *s;
	struct tg_scratch *sc;
	struct tg_json *js;
	int ok = 0;
	__s32 d;

	if (!p || !cn || !key)
		return 0;
	bw = bpf_map_lookup_elem(&tg_body_wait, &p->flow);
	if (!bw)
		goto done;
	d = (__s32)(p->seq - bw->seq);
	if (d < 0 && (__s32)(p->seq + p->payload_len - bw->seq) <= 0)
		return 0;
	rs = bpf_map_lookup_elem(&tg_route_state, &zero);
	s = bpf_map_lookup_elem(&tg_settings, &zero);
	js = bpf_map_lookup_elem(&tg_json, &zero);
	if (d != 0 || !rs || !s || !js)
		goto done;
	rs->qid = bw->qid;
	rs->req = bw->req;
	js->dropped = cn->flags & TG_CONN_REQ_DENIED ? 1 : 0;
	len = p->payload_len;
	if (len > s->body_scan_bytes)
		len = s->body_scan_bytes;
	js->end = len;
	asm volatile("" : "+r"(len));
	len &= (TG_SCAN_MAX * 2 - 1);
	sc = bpf_map_lookup_elem(&tg_scratch, &zero);
	if (!sc || len < 1 || len > TG_SCAN_MAX)
		goto done;
	ok = bpf_skb_load_bytes(skb, p->payload_off, sc->buf, len) == 0;
done:
	bpf_map_delete_elem(&tg_body_wait, &p->flow);
	if (cn->flags & TG_CONN_BODY_PENDING) {
		cn->flags &= ~TG_CONN_BODY_PENDING;
		if (!conn_needs_attention(cn->flags)) {
			struct tg_client *c = bpf_map_lookup_elem(&tg_clients, key);

			if (c)
				__sync_fetch_and_add(&c->pending, -1);
		}
	}
	return ok;
}

/* The body tg_model_body copied: walked, and its model counted. */
__noinline __weak int tg_model_body_scan(void)
{
	__u32 zero = 0;
	struct tg_json *js = bpf_map_lookup_elem(&tg_json, &zero);
	struct tg_route_state *rs;

	if (!js)
		return 0;
	json_begin(js, 0, js->end);
	tg_json_scan();
	js = bpf_map_lookup_elem(&tg_json, &zero);
	rs = bpf_map_lookup_elem(&tg_route_state, &zero);
	if (js && rs)
		model_count(rs, js->dropped);
	return 0;
}

#endif /* TG_MODEL_BPF_H */
