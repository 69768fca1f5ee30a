/* tg_log_quote and the log line formats; the JSON format reads the logfmt
 * pairs back. */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <criterion/redirect.h>
#include <cjson/cJSON.h>
#include <stdio.h>
#include <string.h>

#include "lib/log.h"

Test(log, quote)
{
	char buf[64];
	const char *plain = "abc/DEF-1.2";
#define Q(s) (char *)tg_log_quote(buf, sizeof(buf), s)

	cr_assert(tg_log_quote(buf, sizeof(buf), plain) == plain);
	cr_assert(eq(str, Q("a b"), "\"a b\""));
	cr_assert(eq(str, Q(""), "\"\""));
	cr_assert(eq(str, Q(NULL), "\"\""));
	cr_assert(eq(str, Q("k=v"), "\"k=v\""));
	cr_assert(eq(str, Q("say \"hi\""), "\"say \\\"hi\\\"\""));
	cr_assert(eq(str, Q("a\nb\\"), "\"a\\nb\\\\\""));
	cr_assert(eq(str, Q("\x01"), "\"\\u0001\""));
	cr_assert(eq(str, (char *)tg_log_quote(buf, 7, "hello world"), "\"hell\""));
	cr_assert(eq(int, tg_log_level_parse("debug"), TG_LOG_DEBUG));
	cr_assert(eq(int, tg_log_level_parse("loud"), -1));
	cr_assert(eq(int, tg_log_format_parse("json"), TG_LOG_JSON));
}

static void redirect(void)
{
	cr_redirect_stderr();
}

static void read_line(char *buf, size_t len)
{
	fflush(stderr);
	cr_assert(fgets(buf, (int)len, cr_get_redirected_stderr()) != NULL);
}

Test(log, logfmt_line, .init = redirect)
{
	char line[512], q[64];
	int evaluated = 0;

	tg_log_setup(TG_LOG_INFO, TG_LOG_LOGFMT);
	pr_debug("hidden", "n=%d", ++evaluated);
	cr_assert(eq(int, evaluated, 0));
	pr_info("started", "port=%d name=%s", 80, tg_log_quote(q, sizeof(q), "a b"));
	read_line(line, sizeof(line));
	cr_assert(eq(int, strncmp(line, "ts=", 3), 0));
	cr_assert(eq(int, line[26], (int)'Z'), "%s", line); /* ts=YYYY-MM-DDTHH:MM:SS.mmmZ */
	cr_assert(eq(str, line + 27, " level=info msg=started port=80 name=\"a b\"\n"));
}

Test(log, json_line, .init = redirect)
{
	char line[1024], q[64];
	cJSON *j;

	tg_log_setup(TG_LOG_DEBUG, TG_LOG_JSON);
	pr_debug("it \"works\"", "n=42 neg=-1.5e3 hex=0x10 lead=01 s=%s flag path=/a=b",
		 tg_log_quote(q, sizeof(q), "say \"hi\"\tnow"));
	read_line(line, sizeof(line));
	j = cJSON_Parse(line);
	cr_assert(j != NULL, "%s", line);
	cr_assert(eq(int, strncmp(line, "{\"ts\":\"", 7), 0));
	cr_assert(eq(int, (int)strlen(cJSON_GetObjectItem(j, "ts")->valuestring), 24));
	/* Numbers stay numbers only when they are JSON numbers; quoted values are
	 * unescaped from logfmt and escaped again for JSON; a bare key is true. */
	cr_assert(eq(str, line + 31, "\",\"level\":\"debug\",\"msg\":\"it \\\"works\\\"\","
		     "\"n\":42,\"neg\":-1.5e3,\"hex\":\"0x10\",\"lead\":\"01\","
		     "\"s\":\"say \\\"hi\\\"\\tnow\",\"flag\":true,\"path\":\"/a=b\"}\n"));
	cJSON_Delete(j);
}
