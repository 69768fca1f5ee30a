#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lib/buf.h"

static struct tg_buf b;

static void setup(void)
{
	tg_buf_init(&b);
}

static void teardown(void)
{
	tg_buf_free(&b);
}

TestSuite(buf, .init = setup, .fini = teardown, .timeout = 10);

static void assert_json(const char *in, const char *want)
{
	tg_buf_reset(&b);
	cr_assert(eq(int, tg_buf_json_str(&b, in), 0));
	cr_assert(eq(sz, b.len, strlen(want)), "input %s", in);
	cr_assert(eq(str, b.data, (char *)want));
}

Test(buf, init_is_empty)
{
	cr_assert(eq(ptr, b.data, NULL));
	cr_assert(eq(sz, b.len, 0));
	cr_assert(not(b.oom));
}

Test(buf, append_grows_and_terminates)
{
	char chunk[1000];
	size_t i;

	memset(chunk, 'x', sizeof(chunk));
	for (i = 0; i < 100; i++)
		cr_assert(eq(int, tg_buf_append(&b, chunk, sizeof(chunk)), 0));
	cr_assert(eq(sz, b.len, 100000));
	cr_assert(b.cap > b.len);
	cr_assert(eq(chr, b.data[b.len], '\0'));
	/* doubling: capacity is a power-of-two multiple of the minimum */
	cr_assert(eq(sz, b.cap & (b.cap - 1), 0));
	cr_assert(eq(int, tg_buf_append(&b, NULL, 0), 0));
	cr_assert(eq(sz, b.len, 100000));
}

Test(buf, reset_keeps_memory)
{
	char *p;
	size_t cap;

	tg_buf_append(&b, "hello", 5);
	p = b.data;
	cap = b.cap;
	tg_buf_reset(&b);
	cr_assert(eq(sz, b.len, 0));
	cr_assert(eq(ptr, b.data, p));
	cr_assert(eq(sz, b.cap, cap));
	cr_assert(eq(str, b.data, ""));
	tg_buf_append(&b, "ab", 2);
	cr_assert(eq(str, b.data, "ab"));
}

Test(buf, printf_small_and_large)
{
	char big[3000];

	cr_assert(eq(int, tg_buf_printf(&b, "%d-%s", 42, "x"), 0));
	cr_assert(eq(str, b.data, "42-x"));
	memset(big, 'y', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	/* larger than the free space: the second vsnprintf path */
	cr_assert(eq(int, tg_buf_printf(&b, "[%s]", big), 0));
	cr_assert(eq(sz, b.len, 4 + 2 + sizeof(big) - 1));
	cr_assert(eq(chr, b.data[4], '['));
	cr_assert(eq(chr, b.data[b.len - 1], ']'));
	cr_assert(eq(sz, strlen(b.data), b.len));
}

Test(buf, oom_makes_appends_noops)
{
	tg_buf_append(&b, "abc", 3);
	/* a size no allocator can satisfy */
	cr_assert(eq(int, tg_buf_append(&b, "x", (size_t)-1 / 2), -ENOMEM));
	cr_assert(b.oom);
	cr_assert(eq(int, tg_buf_append(&b, "d", 1), -ENOMEM));
	cr_assert(eq(int, tg_buf_printf(&b, "%d", 1), -ENOMEM));
	cr_assert(eq(int, tg_buf_json_str(&b, "e"), -ENOMEM));
	cr_assert(eq(sz, b.len, 3));
	cr_assert(eq(str, b.data, "abc"));
	tg_buf_reset(&b);
	cr_assert(not(b.oom));
	cr_assert(eq(int, tg_buf_append(&b, "z", 1), 0));
	cr_assert(eq(str, b.data, "z"));
}

Test(buf, free_is_reusable)
{
	tg_buf_append(&b, "abc", 3);
	tg_buf_free(&b);
	cr_assert(eq(ptr, b.data, NULL));
	cr_assert(eq(sz, b.len, 0));
	tg_buf_free(&b);
	tg_buf_free(NULL);
}

Test(buf, json_plain)
{
	assert_json("", "\"\"");
	assert_json("hello world", "\"hello world\"");
	assert_json("a/b", "\"a/b\"");
	assert_json("\x7f", "\"\x7f\"");
	tg_buf_reset(&b);
	tg_buf_json_str(&b, NULL);
	cr_assert(eq(str, b.data, "null"));
}

Test(buf, json_escapes)
{
	assert_json("say \"hi\"", "\"say \\\"hi\\\"\"");
	assert_json("C:\\dir", "\"C:\\\\dir\"");
	assert_json("a\nb\rc\td\be\ff", "\"a\\nb\\rc\\td\\be\\ff\"");
	assert_json("\x01\x1f\x1b", "\"\\u0001\\u001f\\u001b\"");
	assert_json("x\x0by", "\"x\\u000by\"");
}

Test(buf, json_valid_utf8_passes)
{
	assert_json("caf\xc3\xa9", "\"caf\xc3\xa9\"");                 /* U+00E9 */
	assert_json("\xe2\x82\xac", "\"\xe2\x82\xac\"");                /* U+20AC */
	assert_json("\xf0\x9f\x98\x80", "\"\xf0\x9f\x98\x80\"");        /* U+1F600 */
	assert_json("\xef\xbf\xbf", "\"\xef\xbf\xbf\"");                /* U+FFFF */
	assert_json("\xf4\x8f\xbf\xbf", "\"\xf4\x8f\xbf\xbf\"");        /* U+10FFFF */
	assert_json("\xed\x9f\xbf", "\"\xed\x9f\xbf\"");                /* U+D7FF */
}

#define FFFD "\xef\xbf\xbd"

Test(buf, json_invalid_utf8_replaced)
{
	assert_json("a\x80z", "\"a" FFFD "z\"");            /* lone continuation */
	assert_json("\xff", "\"" FFFD "\"");                /* never valid */
	assert_json("\xc0\xaf", "\"" FFFD FFFD "\"");       /* overlong '/' */
	assert_json("\xc3", "\"" FFFD "\"");                /* truncated at end */
	assert_json("\xc3(", "\"" FFFD "(\"");              /* truncated mid-string */
	assert_json("\xe2\x82", "\"" FFFD "\"");            /* maximal subpart: one */
	assert_json("\xe2\x82\"", "\"" FFFD "\\\"\"");      /* next byte still parsed */
	assert_json("\xed\xa0\x80", "\"" FFFD FFFD FFFD "\""); /* surrogate U+D800 */
	assert_json("\xf4\x90\x80\x80", "\"" FFFD FFFD FFFD FFFD "\""); /* > U+10FFFF */
	assert_json("\xe0\x80\x80", "\"" FFFD FFFD FFFD "\""); /* overlong 3-byte */
	assert_json("\xf0\x9f\x98", "\"" FFFD "\"");
	assert_json("\xf8\x88\x80\x80\x80", "\"" FFFD FFFD FFFD FFFD FFFD "\"");
}

Test(buf, json_appends_after_existing)
{
	tg_buf_append(&b, "{\"k\":", 5);
	tg_buf_json_str(&b, "v\n");
	tg_buf_append(&b, "}", 1);
	cr_assert(eq(str, b.data, "{\"k\":\"v\\n\"}"));
}

/* An empty map read at start asks for room for 0: that is no failure, so
 * the first block is allocated and NULL keeps meaning out of memory. */
Test(buf, grow_from_nothing_for_nothing_allocates)
{
	size_t cap = 0;
	int *p = tg_grow(NULL, &cap, 0, sizeof(int), 16);

	cr_assert(ne(ptr, p, NULL));
	cr_assert(eq(sz, cap, 16));
	cr_assert(eq(ptr, tg_grow(p, &cap, 0, sizeof(int), 16), p)); /* nothing to do */
	p = tg_grow(p, &cap, 17, sizeof(int), 16);
	cr_assert(ne(ptr, p, NULL));
	cr_assert(eq(sz, cap, 32));
	free(p);
}

Test(buf, grow_overflow_is_null_and_keeps_the_array)
{
	size_t cap = 4;
	char *p = malloc(4);

	cr_assert(eq(ptr, tg_grow(p, &cap, SIZE_MAX, 1, 4), NULL));
	cr_assert(eq(sz, cap, 4));
	free(p);
}
