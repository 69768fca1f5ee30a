/* Request-start recognition and the size histogram: the kernel's own code
 * (kern/http_token.h) compiled for user space. */
#include <criterion/criterion.h>
#include <string.h>
#include "http_token.h"

static int starts(const char *s)
{
	size_t n = strlen(s) < 8 ? strlen(s) : 8;
	__u64 w = 0;

	memcpy(&w, s, n);
	return tg_is_request_start(w, (__u32)n);
}

Test(http_token, methods)
{
	const char *yes[] = { "GET / HTTP/1.1", "POST /v1/chat", "PUT /x", "HEAD /",
			      "DELETE /x", "PATCH /x", "OPTIONS * HTTP/1.1", "CONNECT a:443",
			      "TRACE /", "PRI * HTTP/2.0" };

	for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++)
		cr_assert(starts(yes[i]), "%s", yes[i]);
}

Test(http_token, prefixes_of_a_method_are_starts)
{
	const char *yes[] = { "G", "GE", "GET", "P", "PO", "POS", "POST", "D", "DELET",
			      "OPTIONS", "CONNEC", "PR", "H", "T", "TRAC" };

	for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++)
		cr_assert(starts(yes[i]), "%s", yes[i]);
}

Test(http_token, not_starts)
{
	const char *no[] = { "get / HTTP/1.1", "GETTER /", "GET/", "POSTX /", "X", "{\"model\"",
			     "\x16\x03\x01", "HTTP/1.1 200", "PUTS", "OPTIONSX", "Host: a" };

	for (size_t i = 0; i < sizeof(no) / sizeof(no[0]); i++)
		cr_assert_not(starts(no[i]), "%s", no[i]);
}

Test(http_token, leading_crlf_does_not_hide_a_method)
{
	cr_assert(starts("\r\nGET / HTTP/1.1"));
	cr_assert(starts("\n\nPOST /"));
	cr_assert(starts("\r\n\r\n\r\n\r\nGET /"), "eight CR/LF hide the rest: a start");
	cr_assert_not(starts("\r\n"), "only CR/LF, nothing hidden");
	cr_assert_not(starts("\r\n0\r\n\r\n"), "a chunked body's end is no start");
	cr_assert_not(starts("\r\nHost: x"));
}

/* What the first-byte filter may never change: a start is a prefix of a
 * token or has one as its prefix, after up to 8 CR/LF. The reference
 * compares strings; every first byte and length is tried with tails that
 * complete each token and with tails that do not. */
static int starts_ref(const unsigned char *b, size_t n)
{
	static const char *tokens[] = { "GET ", "POST ", "PUT ", "HEAD ", "DELETE ",
					"PATCH ", "OPTIONS ", "CONNECT ", "TRACE ", "PRI " };
	size_t k = 0;

	while (k < n && (b[k] == '\r' || b[k] == '\n'))
		k++;
	if (k && k == n)
		return n == 8;
	for (size_t t = 0; t < sizeof(tokens) / sizeof(tokens[0]); t++) {
		size_t m = n - k < strlen(tokens[t]) ? n - k : strlen(tokens[t]);

		if (memcmp(b + k, tokens[t], m) == 0)
			return 1;
	}
	return 0;
}

Test(http_token, first_byte_filter_agrees_with_the_tokens)
{
	static const char *tails[] = { "ET /x", "OST /", "UT /", "EAD /", "ELETE /", "ATCH /",
				       "PTIONS ", "ONNECT ", "RACE /", "RI * H", "xyz{}", "\nGET /",
				       "\r\nPOST", "" };

	for (int c = 0; c < 256; c++)
		for (size_t t = 0; t < sizeof(tails) / sizeof(tails[0]); t++)
			for (size_t n = 1; n <= 8; n++) {
				unsigned char b[8] = { 0 };
				__u64 w = 0;

				b[0] = (unsigned char)c;
				memcpy(b + 1, tails[t], strlen(tails[t]) < 7 ? strlen(tails[t]) : 7);
				if (n > 1 + strlen(tails[t]))
					continue;
				memcpy(&w, b, n);
				cr_assert_eq(tg_is_request_start(w, (__u32)n), starts_ref(b, n),
					     "first byte 0x%02x, tail \"%s\", %zu bytes", c, tails[t], n);
			}
}

Test(http_token, size_buckets)
{
	cr_assert_eq(tg_size_bucket(0), 0);
	cr_assert_eq(tg_size_bucket(63), 0);
	cr_assert_eq(tg_size_bucket(64), 1);
	cr_assert_eq(tg_size_bucket(127), 1);
	cr_assert_eq(tg_size_bucket(128), 2);
	cr_assert_eq(tg_size_bucket(255), 2);
	cr_assert_eq(tg_size_bucket(256), 3);
	cr_assert_eq(tg_size_bucket(200150), 12);
	cr_assert_eq(tg_size_bucket(1u << 20), 15);
	cr_assert_eq(tg_size_bucket(0xffffffffu), TG_SIZE_BUCKETS - 1);
	for (__u32 s = 1; s < (1u << 24); s = s * 3 + 1)
		cr_assert(tg_size_bucket(s) >= tg_size_bucket(s - 1), "monotonic at %u", s);
}
