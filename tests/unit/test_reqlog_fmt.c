/* The request log's lines: every field, nulls for what was not seen, the
 * verdicts and methods, escaping, IPv6, and lines that do not fit. With
 * TG_REQLOG_DUMP_DIR set, every line rendered is also appended to
 * requests.jsonl there (tests/tools/check_schemas.sh validates them
 * against schema/tollgate.request.v1.schema.json). Also the kernel's
 * method and status parsing (http_token.h). */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http_token.h"
#include "telemetry/reqlog_fmt.h"

/* 2026-12-07T15:30:00.123Z */
#define WALL_NS (1796657400123ull * 1000000ull + 456789ull)

static void dump(const char *line)
{
	const char *dir = getenv("TG_REQLOG_DUMP_DIR");
	char path[512];
	FILE *f;

	if (!dir || !*dir)
		return;
	snprintf(path, sizeof(path), "%s/requests.jsonl", dir);
	f = fopen(path, "a");
	cr_assert_not_null(f, "%s", path);
	fputs(line, f);
	fclose(f);
}

static struct tg_reqlog_rec v4_rec(void)
{
	struct tg_reqlog_rec r;

	memset(&r, 0, sizeof(r));
	r.client.w[2] = htonl(0xffff);
	r.client.w[3] = htonl(0xc6120007); /* 198.18.0.7 */
	r.client_port = 43210;
	r.qid = 3;
	r.route = 1;
	r.model = TG_MODEL_NONE;
	r.method = TG_METHOD_POST;
	r.request_bytes = 312;
	r.verdict = TG_RV_ALLOWED;
	r.status = 200;
	r.ttfb_ns = 12345678; /* 12.345 ms */
	return r;
}

static const char *render(const struct tg_reqlog_rec *r, const struct tg_reqlog_names *n)
{
	static char buf[1024];
	int w = tg_reqlog_format(r, WALL_NS, n, buf, sizeof(buf));

	cr_assert(gt(int, w, 0));
	cr_assert(eq(sz, (size_t)w, strlen(buf)));
	cr_assert(eq(chr, buf[w - 1], '\n'));
	dump(buf);
	return buf;
}

Test(reqlog_fmt, every_field)
{
	struct tg_reqlog_rec r = v4_rec();
	struct tg_reqlog_names n = { "team-a", "chat", NULL };

	cr_expect(eq(str, (char *)render(&r, &n),
		     "{\"time\":\"2026-12-07T15:30:00.123Z\",\"client\":\"198.18.0.7\","
		     "\"client_port\":43210,\"key\":\"team-a\",\"route\":\"chat\",\"model\":null,"
		     "\"method\":\"POST\",\"request_bytes\":312,\"verdict\":\"allowed\","
		     "\"status\":200,\"ttfb_ms\":12.345}\n"));
}

Test(reqlog_fmt, not_seen_is_null)
{
	struct tg_reqlog_rec r = v4_rec();
	struct tg_reqlog_names n = { NULL, NULL, "gpt-4o" };

	r.status = 0;
	r.ttfb_ns = 0;
	r.verdict = TG_RV_ABANDONED;
	r.method = TG_METHOD_GET;
	cr_expect(eq(str, (char *)render(&r, &n),
		     "{\"time\":\"2026-12-07T15:30:00.123Z\",\"client\":\"198.18.0.7\","
		     "\"client_port\":43210,\"key\":\"other\",\"route\":\"other\",\"model\":\"gpt-4o\","
		     "\"method\":\"GET\",\"request_bytes\":312,\"verdict\":\"abandoned\","
		     "\"status\":null,\"ttfb_ms\":null}\n"));
}

Test(reqlog_fmt, verdicts_methods_and_ipv6)
{
	static const char *const v[] = { "allowed", "denied", "would_deny", "abandoned" };
	static const char *const m[] = { "other", "GET", "POST", "PUT", "HEAD", "DELETE",
					 "PATCH", "OPTIONS", "CONNECT", "TRACE" };
	struct tg_reqlog_rec r = v4_rec();
	struct tg_reqlog_names n = { "k", "embeddings", NULL };
	char want[64];

	for (unsigned i = 0; i < TG_RV_MAX; i++) {
		r.verdict = (__u8)i;
		snprintf(want, sizeof(want), "\"verdict\":\"%s\"", v[i]);
		cr_expect(not(eq(ptr, strstr(render(&r, &n), want), NULL)), "%s", want);
	}
	for (unsigned i = 0; i < TG_METHOD_MAX; i++) {
		r.method = (__u8)i;
		snprintf(want, sizeof(want), "\"method\":\"%s\"", m[i]);
		cr_expect(not(eq(ptr, strstr(render(&r, &n), want), NULL)), "%s", want);
	}
	/* out of range: still valid lines */
	r.method = 200;
	r.verdict = 200;
	cr_expect(not(eq(ptr, strstr(render(&r, &n), "\"method\":\"other\""), NULL)));
	memset(&r.client, 0, sizeof(r.client));
	r.client.w[0] = htonl(0xfd000198);
	r.client.w[1] = htonl(0x00180000);
	r.client.w[3] = htonl(5);
	r.status = 429;
	r.ttfb_ns = 999; /* under a microsecond */
	cr_expect(not(eq(ptr, strstr(render(&r, &n), "\"client\":\"fd00:198:18::5\""), NULL)));
	cr_expect(not(eq(ptr, strstr(render(&r, &n), "\"status\":429,\"ttfb_ms\":0.000}"), NULL)));
}

Test(reqlog_fmt, names_escaped_and_too_long)
{
	struct tg_reqlog_rec r = v4_rec();
	struct tg_reqlog_names n = { "a\"b\\c", "chat", NULL };
	char small[64];

	cr_expect(not(eq(ptr, strstr(render(&r, &n), "\"key\":\"a\\\"b\\\\c\""), NULL)));
	cr_expect(eq(int, tg_reqlog_format(&r, WALL_NS, &n, small, sizeof(small)), -1));
}

Test(reqlog_fmt, method_and_status_parsing)
{
#define W(s) ({ __u64 w_ = 0; memcpy(&w_, s, strlen(s) < 8 ? strlen(s) : 8); w_; })
	cr_expect(eq(u32, tg_method(W("GET /v1/"), 8), TG_METHOD_GET));
	cr_expect(eq(u32, tg_method(W("POST /v1"), 8), TG_METHOD_POST));
	cr_expect(eq(u32, tg_method(W("DELETE /"), 8), TG_METHOD_DELETE));
	cr_expect(eq(u32, tg_method(W("OPTIONS "), 8), TG_METHOD_OPTIONS));
	cr_expect(eq(u32, tg_method(W("PATCH /x"), 8), TG_METHOD_PATCH));
	cr_expect(eq(u32, tg_method(W("POS"), 3), TG_METHOD_OTHER)); /* too short to tell */
	cr_expect(eq(u32, tg_method(W("GETTER /"), 8), TG_METHOD_OTHER));
	cr_expect(eq(u32, tg_method(W("\r\nGET /x"), 8), TG_METHOD_OTHER));
	cr_expect(eq(u32, tg_method(W("\x16\x03\x01\x02\x00\x01\x00\x01"), 8), TG_METHOD_OTHER));
	cr_expect(eq(int, tg_status_code(W("HTTP/1.1"), W(" 429 Too"), 16), 429));
	cr_expect(eq(int, tg_status_code(W("HTTP/1.0"), W(" 200 OK\r"), 16), 200));
	cr_expect(eq(int, tg_status_code(W("HTTP/1.1"), W(" 100 Con"), 16), 100));
	cr_expect(eq(int, tg_status_class(W("HTTP/1.1"), W(" 100 Con"), 16), -1));
	cr_expect(eq(int, tg_status_code(W("HTTP/2.0"), W(" 200 OK\r"), 16), -1));
	cr_expect(eq(int, tg_status_code(W("HTTP/1.1"), W(" 2x0 OK\r"), 16), -1));
	cr_expect(eq(int, tg_status_code(W("HTTP/1.1"), W(" 200"), 11), -1));
#undef W
}
