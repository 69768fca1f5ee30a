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
