/* The kernel's API-key scan of a request start (kern/scan.bpf.h), through
 * the real TC program: which key hash a request start is given, read back
 * from tg_key_use (the key detectors on, so every request start is
 * scanned). The edge cases of the word-at-a-time newline search, and
 * random requests against a plain byte-by-byte model of the scan's rules. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "apikey.h"
#include "config/config.h"
#include "harness.h"
#include "bpf/quota_plan.h"
#include "api/check.h"
#include "lib/keyhash.h"

#define CLIENT "198.18.0.2"
#define SCAN_LINES 32      /* TG_SCAN_LINES (kern/maps.bpf.h) */
#define KEY_CANDIDATES 4   /* TG_KEY_CANDIDATES (kern/scan.bpf.h) */

static struct tg_config cfg;
static struct tg_settings set;
static uint16_t sport = 20000;

static void apply(void)
{
	__u32 zero = 0;

	tg_settings_build(&set, &cfg, 1);
	cr_assert_eq(bpf_map_update_elem(h_map_fd("tg_settings"), &zero, &set, 0), 0);
}

static void setup(void)
{
	h_setup();
	tg_config_defaults(&cfg);
	cfg.mode = TG_MODE_MONITOR;
	cfg.anomaly.det[TG_AN_KEY_SHARED].enabled = true;
	apply();
}

static void scan_bytes(__u32 n)
{
	cfg.header_scan_bytes = n;
	apply();
}

static __u64 hash_of(const char *key)
{
	return tg_apikey_hash(key, strlen(key));
}

/* A configured key: in tg_apikeys, with no quota behind it. */
static void configured(const char *key)
{
	__u64 h = hash_of(key);
	__u32 id = 9;

	cr_assert_eq(bpf_map_update_elem(h_map_fd("tg_apikeys"), &h, &id, 0), 0);
}

/* The key hash the scan gave a request start of these bytes (0: none);
 * tg_key_use is emptied for the next one. */
static __u64 scan_n(const char *req, size_t len)
{
	struct tg_key_use_key k, next;
	int fd = h_map_fd("tg_key_use"), n = 0;
	uint16_t p = sport;
	__u64 h = 0;

	sport = (uint16_t)(sport + 1 < 60000 ? sport + 1 : 20000);
	cr_assert_eq(h_first_payload(CLIENT, p, req, len), TC_PASS);
	while (bpf_map_get_next_key(fd, NULL, &next) == 0) {
		k = next;
		h = k.key_hash;
		cr_assert_eq(bpf_map_delete_elem(fd, &k), 0);
		n++;
	}
	cr_assert_leq(n, 1, "one request start, one key at most");
	return h;
}

static __u64 scan(const char *req)
{
	return scan_n(req, strlen(req));
}

TestSuite(keyscan, .init = setup, .fini = h_teardown, .timeout = 120);

#define REQ_LINE "POST /v1/chat/completions HTTP/1.1\r\n"

/* The line before the key's ends at each of 16 positions of the words. */
Test(keyscan, newline_at_each_position_within_a_word)
{
	char req[512];

	for (int pad = 0; pad < 16; pad++) {
		snprintf(req, sizeof(req), REQ_LINE "X-Pad: %.*s\r\nx-api-key: k-%d\r\n\r\n", pad,
			 "pppppppppppppppp", pad);
		char want[16];

		snprintf(want, sizeof(want), "k-%d", pad);
		cr_assert_eq(scan(req), hash_of(want), "pad %d", pad);
		/* LF only: the newline one byte earlier */
		snprintf(req, sizeof(req), "POST / HTTP/1.1\nX-Pad: %.*s\nx-api-key: k-%d\n\n", pad,
			 "pppppppppppppppp", pad);
		cr_assert_eq(scan(req), hash_of(want), "LF, pad %d", pad);
	}
}

/* Several newlines in one word; the key line starting exactly where a word
 * does (offset 64) and one byte either side. */
Test(keyscan, key_header_right_after_a_word_boundary)
{
	char req[512];

	for (int at = 63; at <= 65; at++) {
		int pad = at - (int)strlen(REQ_LINE "a:\nb:\nX-Pad: \r\n");

		snprintf(req, sizeof(req), REQ_LINE "a:\nb:\nX-Pad: %.*s\r\nAuthorization: Bearer k-at\r\n\r\n",
			 pad, "pppppppppppppppppppppppppppppppp");
		cr_assert_eq(strstr(req, "Authorization") - req, at);
		cr_assert_eq(scan(req), hash_of("k-at"), "key line at %d", at);
	}
}

/* The request line and 31 header lines are looked at, no more. */
Test(keyscan, key_line_beyond_the_scan_lines_is_not_seen)
{
	char req[1024];

	for (int before = SCAN_LINES - 3; before <= SCAN_LINES; before++) {
		size_t n = (size_t)snprintf(req, sizeof(req), "GET / HTTP/1.1\r\n");

		for (int i = 0; i < before; i++)
			n += (size_t)snprintf(req + n, sizeof(req) - n, "h%d: v\r\n", i);
		snprintf(req + n, sizeof(req) - n, "api-key: k-lines\r\n\r\n");
		/* the key line is line before + 2 of the request */
		cr_assert_eq(scan(req), before + 2 <= SCAN_LINES ? hash_of("k-lines") : 0,
			     "%d header lines before the key's", before);
	}
}

Test(keyscan, crlf_lf_and_mixed_line_ends)
{
	cr_assert_eq(scan("GET / HTTP/1.1\r\nHost: gw\r\nx-api-key: k-crlf\r\n\r\n"), hash_of("k-crlf"));
	cr_assert_eq(scan("GET / HTTP/1.1\nHost: gw\nx-api-key: k-lf\n\n"), hash_of("k-lf"));
	cr_assert_eq(scan("GET / HTTP/1.1\r\nHost: gw\nx-api-key: k-mixed\r\n\n"), hash_of("k-mixed"));
	/* a lone CR does not end a line */
	cr_assert_eq(scan("GET / HTTP/1.1\r\nHost: gw\rx-api-key: k-cr\r\n\r\n"), 0);
	/* the key ends at the segment's end, with no line end at all */
	cr_assert_eq(scan("GET / HTTP/1.1\r\nHost: gw\r\nx-api-key: k-end"), hash_of("k-end"));
}

/* Decoys: up to TG_KEY_CANDIDATES matching lines are hashed, the first
 * configured key wins, else the first key seen is the request's. */
Test(keyscan, decoys_before_the_real_key)
{
	configured("k-real");
	cr_assert_eq(scan(REQ_LINE "x-api-key: junk\r\nAuthorization: Bearer k-real\r\n\r\n"),
		     hash_of("k-real"));
	cr_assert_eq(scan(REQ_LINE "x-api-key: j1\r\napi-key:\r\nx-api-key: j3\r\n"
			  "Authorization: Bearer k-real\r\n\r\n"),
		     hash_of("k-real"), "the fourth matching line is hashed (an empty one counts)");
	cr_assert_eq(scan(REQ_LINE "x-api-key: j1\r\napi-key:\r\nx-api-key: j3\r\napi-key: j4\r\n"
			  "Authorization: Bearer k-real\r\n\r\n"),
		     hash_of("j1"), "the fifth is not: the first key seen");
	/* the configured key first, a decoy after it */
	cr_assert_eq(scan(REQ_LINE "api-key: k-real\r\nx-api-key: junk\r\n\r\n"), hash_of("k-real"));
}

Test(keyscan, unconfigured_key_reported_as_the_first_seen)
{
	configured("k-other");
	cr_assert_eq(scan(REQ_LINE "X-API-Key: first\r\nAuthorization: Bearer second\r\n\r\n"),
		     hash_of("first"));
	/* a matching line with no value is no key */
	cr_assert_eq(scan(REQ_LINE "X-API-Key:   \r\nAuthorization: Bearer second\r\n\r\n"),
		     hash_of("second"));
}

/* Under 16 bytes a segment is not scanned. */
Test(keyscan, request_shorter_than_16_bytes)
{
	cr_assert_eq(scan("GET \napi-key:ab"), 0, "15 bytes");
	cr_assert_eq(scan("GET \napi-key:abc"), hash_of("abc"), "16 bytes");
	cr_assert_eq(scan("GET \napi-key:abcd"), hash_of("abcd"));
}

/* The header name must be whole in the scanned bytes; a newline as the
 * last scanned byte starts no line. */
Test(keyscan, header_cut_by_the_segment_end)
{
	cr_assert_eq(scan("GET / HTTP/1.1\r\nx-api-ke"), 0);
	cr_assert_eq(scan("GET / HTTP/1.1\r\nx-api-key:"), 0, "name whole, no value");
	cr_assert_eq(scan("GET / HTTP/1.1\r\nx-api-key:v"), hash_of("v"));
	cr_assert_eq(scan("GET / HTTP/1.1\r\nHost: gw\n"), 0);
}

Test(keyscan, key_at_byte_900_with_scan_bytes_1024_and_512)
{
	char req[1400], pad[1024];
	const char *line;

	memset(pad, 'a', sizeof(pad));
	snprintf(req, sizeof(req), REQ_LINE "X-Pad: %.*s\r\nAuthorization: Bearer k-900\r\n\r\n",
		 (int)(900 - strlen(REQ_LINE "X-Pad: \r\n")), pad);
	line = strstr(req, "Authorization");
	cr_assert_eq(line - req, 900);
	scan_bytes(1024);
	cr_assert_eq(scan(req), hash_of("k-900"));
	scan_bytes(512);
	cr_assert_eq(scan(req), 0, "past header_scan_bytes");
	/* the bound cuts the value: the key is what is left of it */
	scan_bytes(900 + (__u32)strlen("Authorization: Bearer k-9"));
	cr_assert_eq(scan(req), hash_of("k-9"));
}

/* The same header spellings through both sides: the kernel's scan of the
 * request start and the agent's hash of the value /v1/check receives (a
 * gateway passes the value with the whitespace around it trimmed, as
 * nginx does). RFC 9110: any run of SP/HTAB is optional whitespace around
 * a value and between the auth scheme and its token; the scheme is
 * case-insensitive. Each must give the key's own hash. */
static const struct spacing {
	const char *line;  /* the header line in the request */
	const char *value; /* the value a gateway hands the check */
} spacing[] = {
	{ "Authorization: Bearer k-sp", "Bearer k-sp" },
	{ "Authorization: Bearer  k-sp", "Bearer  k-sp" },
	{ "Authorization: Bearer\tk-sp", "Bearer\tk-sp" },
	{ "Authorization: Bearer \t \t k-sp", "Bearer \t \t k-sp" },
	{ "Authorization:Bearer k-sp", "Bearer k-sp" },
	{ "Authorization:\tBearer k-sp", "Bearer k-sp" },
	{ "Authorization:          Bearer           k-sp", "Bearer           k-sp" },
	{ "authorization: bearer k-sp", "bearer k-sp" },
	{ "AUTHORIZATION: BEARER\tk-sp", "BEARER\tk-sp" },
	{ "Authorization: bEaReR k-sp", "bEaReR k-sp" },
	{ "X-API-Key: k-sp", "k-sp" },
	{ "X-API-Key:k-sp", "k-sp" },
	{ "X-API-Key:            k-sp", "k-sp" },
	{ "x-api-key:\t\t\t\t\t\t\t\t\t\tk-sp", "k-sp" },
	{ "api-key:                                                                 k-sp", "k-sp" },
	{ "X-API-Key: k-sp   ", "k-sp" },
};

Test(keyscan, spacing_gives_the_same_hash_on_both_sides)
{
	__u64 want = hash_of("k-sp");
	char req[512];

	configured("k-sp");
	for (size_t i = 0; i < sizeof(spacing) / sizeof(spacing[0]); i++) {
		snprintf(req, sizeof(req), REQ_LINE "Host: gw\r\n%s\r\n\r\n", spacing[i].line);
		cr_assert_eq(scan(req), want, "kernel: %s", spacing[i].line);
		cr_assert_eq(tg_check_key_hash(spacing[i].value), want, "agent: %s", spacing[i].value);
	}
	/* a scheme is a word of its own: "Bearerk-sp" is a key, not the scheme */
	cr_assert_eq(scan(REQ_LINE "Authorization: Bearerk-sp\r\n\r\n"), hash_of("Bearerk-sp"));
	cr_assert_eq(tg_check_key_hash("Bearerk-sp"), hash_of("Bearerk-sp"));
	/* blanks and the scheme alone: no key */
	cr_assert_eq(scan(REQ_LINE "Authorization: Bearer    \r\nx: y\r\n\r\n"), 0);
	cr_assert_eq(tg_check_key_hash("Bearer    "), 0);
}

/* ---- the scan's rules, byte by byte ---------------------------------- */

static int configured_hash(__u64 h)
{
	__u32 id;

	return bpf_map_lookup_elem(h_map_fd("tg_apikeys"), &h, &id) == 0;
}

static __u32 model_match(const __u8 *p, size_t len, size_t at)
{
	__u8 b[16] = { 0 };
	__u64 w0, w1;

	memcpy(b, p + at, len - at < 16 ? len - at : 16);
	memcpy(&w0, b, 8);
	memcpy(&w1, b + 8, 8);
	w0 |= TG_CASE_FOLD;
	w1 |= TG_CASE_FOLD;
	for (__u32 h = 0; h < set.n_headers && h < TG_MAX_KEY_HEADERS; h++)
		if ((w0 & set.hdr_m[h][0]) == set.hdr_w[h][0] && (w1 & set.hdr_m[h][1]) == set.hdr_w[h][1])
			return at + set.hdr_len[h] <= len ? set.hdr_len[h] : 0;
	return 0;
}

static __u64 model_hash(const __u8 *p, size_t len, size_t off)
{
	__u64 w = 0;
	size_t n;

	while (off < len && (p[off] == ' ' || p[off] == '\t'))
		off++;
	if (off + 7 <= len) {
		memcpy(&w, p + off, 7);
		if (tg_key_bearer(w))
			for (off += 7; off < len && (p[off] == ' ' || p[off] == '\t'); off++)
				;
	}
	for (n = 0; n < TG_APIKEY_MAX && off + n < len && !tg_key_end(p[off + n]); n++)
		;
	return n ? tg_apikey_hash((const char *)p + off, n) : 0;
}

/* What the scan is meant to give: lines start after a '\n' that is not
 * the last scanned byte; the request line and 31 more are looked at; up to
 * KEY_CANDIDATES matching lines are hashed; the first configured key wins,
 * else the first key seen. */
static __u64 model(const __u8 *p, size_t plen)
{
	size_t len = plen, lines = 1;
	int cand = 0;
	__u64 first = 0;

	if (len > set.scan_bytes)
		len = set.scan_bytes;
	if (len > 2048)
		len = 2048;
	if (len < 16)
		return 0;
	for (size_t i = 0; i + 1 < len && lines < SCAN_LINES; i++) {
		__u32 hl;
		__u64 h;

		if (p[i] != '\n')
			continue;
		lines++;
		hl = model_match(p, len, i + 1);
		if (!hl)
			continue;
		h = model_hash(p, len, i + 1 + hl);
		if (h && !first)
			first = h;
		if (h && configured_hash(h))
			return h;
		if (++cand == KEY_CANDIDATES)
			break;
	}
	return first;
}

static const char *pick(const char *const *v, size_t n)
{
	return v[(size_t)rand() % n];
}

/* A random request start: key header lines among others, values with and
 * without "Bearer ", LF or CRLF, lines of every length, sometimes cut. */
static size_t random_request(char *buf, size_t cap)
{
	static const char *const names[] = { "x-api-key", "X-API-KEY", "api-key", "Api-Key", "authorization",
					     "AUTHORIZATION", "host", "x-pad", "content-type", "x-api-ke",
					     "api-keys", "authorizatio", "x-api-key " };
	static const char *const seps[] = { ":", ": ", ":\t", ":        ", ":         ", "" };
	static const char *const vals[] = { "k-conf", "Bearer k-conf", "bEaReR k-other", "k-other",
					    "Bearer", "Bearer  k-x", "", " ", "k-a,k-b", "k;x",
					    "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
					    "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
					    "\x0a", "a\nx-api-key: k-conf" };
	static const char *const ends[] = { "\r\n", "\n", "\r\n", "\r", "\n\n" };
	size_t n = (size_t)snprintf(buf, cap, "%s /%.*s HTTP/1.1%s", rand() % 2 ? "GET" : "POST",
				    rand() % 20, "vvvvvvvvvvvvvvvvvvvv", pick(ends, 5));
	int lines = rand() % 45;

	for (int i = 0; i < lines && n + 200 < cap; i++) {
		if (rand() % 4 == 0)
			n += (size_t)snprintf(buf + n, cap - n, "X-Pad: %.*s%s", rand() % 64,
					      "pppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppp",
					      pick(ends, 5));
		else
			n += (size_t)snprintf(buf + n, cap - n, "%s%s%s%s", pick(names, 13), pick(seps, 6),
					      pick(vals, 13), pick(ends, 5));
	}
	if (n + 2 < cap)
		n += (size_t)snprintf(buf + n, cap - n, "\r\n");
	if (rand() % 4 == 0)
		n = (size_t)rand() % (n + 1);
	return n;
}

Test(keyscan, scan_matches_a_byte_by_byte_model)
{
	static const __u32 bytes[] = { 1024, 512, 64, 2048, 100 };
	char req[2400];
	int seen = 0, conf = 0;

	srand(7);
	configured("k-conf");
	for (int i = 0; i < 1500; i++) {
		size_t n;
		__u64 want, got;

		if (i % 300 == 0)
			scan_bytes(bytes[i / 300]);
		n = random_request(req, sizeof(req));
		want = model((const __u8 *)req, n);
		got = scan_n(req, n);
		cr_assert_eq(got, want, "request %d (%zu bytes, scan %u): kernel %llx, model %llx:\n%.*s", i, n,
			     set.scan_bytes, (unsigned long long)got, (unsigned long long)want, (int)n, req);
		seen += want != 0;
		conf += want == hash_of("k-conf");
	}
	/* the mix exercises every outcome */
	cr_assert_gt(seen, 300);
	cr_assert_gt(conf, 100);
	cr_assert_lt(seen, 1400);
}
