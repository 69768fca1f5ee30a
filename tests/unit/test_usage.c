/* Token usage read from response bytes (agent/tokens/usage.c): OpenAI
 * non-streaming and streaming with include_usage, the responses API,
 * Anthropic messages (streaming and not), fragments, truncated and
 * malformed bodies, and counts at their limits. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>
#include "tokens/usage.h"

static enum tg_usage_status parse(const char *s, struct tg_usage *u)
{
	return tg_usage_parse(s, strlen(s), u);
}

Test(usage, openai_chat_completion)
{
	struct tg_usage u;
	const char *body =
		"{\"id\":\"chatcmpl-1\",\"object\":\"chat.completion\",\"model\":\"gpt-4o\","
		"\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\",\"content\":"
		"\"the \\\"usage\\\": {\\\"prompt_tokens\\\": 999} in a reply is text\"},"
		"\"finish_reason\":\"stop\"}],"
		"\"usage\":{\"prompt_tokens\":120,\"completion_tokens\":35,\"total_tokens\":155,"
		"\"prompt_tokens_details\":{\"cached_tokens\":64,\"audio_tokens\":0},"
		"\"completion_tokens_details\":{\"reasoning_tokens\":0}}}";

	cr_assert_eq(parse(body, &u), TG_USAGE_OK);
	cr_assert_eq(u.prompt, 120, "the quoted usage inside the content is not read");
	cr_assert_eq(u.completion, 35);
	cr_assert_eq(u.cached, 64);
	cr_assert_eq(u.total, 155);
	cr_assert_eq(u.objects, 1);
}

Test(usage, openai_stream_with_include_usage)
{
	struct tg_usage u;
	const char *sse =
		"data: {\"id\":\"c\",\"choices\":[{\"delta\":{\"content\":\"Hel\"}}],\"usage\":null}\n\n"
		"data: {\"id\":\"c\",\"choices\":[{\"delta\":{\"content\":\"lo\"}}],\"usage\":null}\n\n"
		"data: {\"id\":\"c\",\"choices\":[],\"usage\":{\"prompt_tokens\":11,"
		"\"completion_tokens\":2,\"total_tokens\":13}}\n\n"
		"data: [DONE]\n\n";

	cr_assert_eq(parse(sse, &u), TG_USAGE_OK);
	cr_assert_eq(u.prompt, 11);
	cr_assert_eq(u.completion, 2);
	cr_assert_eq(u.total, 13);
	cr_assert_eq(u.cached, 0);
}

Test(usage, openai_stream_without_usage_is_none)
{
	struct tg_usage u;
	const char *sse =
		"data: {\"id\":\"c\",\"choices\":[{\"delta\":{\"content\":\"Hi\"}}]}\n\n"
		"data: {\"id\":\"c\",\"choices\":[{\"delta\":{},\"finish_reason\":\"stop\"}],"
		"\"usage\":null}\n\ndata: [DONE]\n\n";

	cr_assert_eq(parse(sse, &u), TG_USAGE_NONE);
}

Test(usage, openai_responses_api)
{
	struct tg_usage u;
	const char *body =
		"{\"type\":\"response.completed\",\"response\":{\"id\":\"resp_1\",\"status\":"
		"\"completed\",\"usage\":{\"input_tokens\":300,\"input_tokens_details\":"
		"{\"cached_tokens\":100},\"output_tokens\":50,\"output_tokens_details\":"
		"{\"reasoning_tokens\":20},\"total_tokens\":350}}}";

	cr_assert_eq(parse(body, &u), TG_USAGE_OK);
	cr_assert_eq(u.prompt, 300);
	cr_assert_eq(u.cached, 100);
	cr_assert_eq(u.completion, 50);
	cr_assert_eq(u.total, 350);
}

Test(usage, anthropic_message)
{
	struct tg_usage u;
	const char *body =
		"{\"id\":\"msg_1\",\"type\":\"message\",\"role\":\"assistant\",\"content\":[{\"type\":"
		"\"text\",\"text\":\"Hi\"}],\"model\":\"claude-3-5-sonnet\",\"stop_reason\":\"end_turn\","
		"\"usage\":{\"input_tokens\":20,\"cache_creation_input_tokens\":5,"
		"\"cache_read_input_tokens\":100,\"output_tokens\":12}}";

	cr_assert_eq(parse(body, &u), TG_USAGE_OK);
	cr_assert_eq(u.prompt, 125, "input plus both cache counts");
	cr_assert_eq(u.cached, 100);
	cr_assert_eq(u.completion, 12);
	cr_assert_eq(u.total, 137);
}

Test(usage, anthropic_stream)
{
	struct tg_usage u;
	const char *sse =
		"event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_1\","
		"\"usage\":{\"input_tokens\":25,\"cache_read_input_tokens\":0,\"output_tokens\":1}}}\n\n"
		"event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,"
		"\"delta\":{\"type\":\"text_delta\",\"text\":\"Hello\"}}\n\n"
		"event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":"
		"\"end_turn\"},\"usage\":{\"output_tokens\":15}}\n\n"
		"event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n";

	cr_assert_eq(parse(sse, &u), TG_USAGE_OK);
	cr_assert_eq(u.prompt, 25, "message_start's input stays");
	cr_assert_eq(u.completion, 15, "message_delta's cumulative output wins");
	cr_assert_eq(u.total, 40);
	cr_assert_eq(u.objects, 2);
}

Test(usage, fragment_from_the_middle)
{
	struct tg_usage u;
	/* a copy that starts inside a string and ends after the usage */
	const char *frag = "ing text\\\" here\"}],\"usage\":{\"prompt_tokens\":7,"
			   "\"completion_tokens\":3}}";

	cr_assert_eq(parse(frag, &u), TG_USAGE_OK);
	cr_assert_eq(u.prompt, 7);
	cr_assert_eq(u.completion, 3);
	cr_assert_eq(u.total, 10);
}

Test(usage, truncated)
{
	struct tg_usage u;
	const char *cut = "{\"usage\":{\"prompt_tokens\":7,\"completion_tok";

	cr_assert_eq(parse(cut, &u), TG_USAGE_NONE);
	cr_assert_eq(u.truncated, 1);
	/* every cut of a whole body: never a wrong count, never a crash */
	const char *body = "{\"x\":1,\"usage\":{\"prompt_tokens\":42,\"completion_tokens\":8}}";
	for (size_t n = 0; n <= strlen(body); n++) {
		enum tg_usage_status st = tg_usage_parse(body, n, &u);

		if (n == strlen(body) || n == strlen(body) - 1) {
			cr_assert_eq(st, TG_USAGE_OK, "cut at %zu", n);
			cr_assert_eq(u.prompt, 42);
			cr_assert_eq(u.completion, 8);
		} else {
			cr_assert_eq(st, TG_USAGE_NONE, "cut at %zu", n);
		}
	}
}

Test(usage, malformed)
{
	struct tg_usage u;
	static const char *const bad[] = {
		"{\"usage\":{\"prompt_tokens\":-1,\"completion_tokens\":2}}",
		"{\"usage\":{\"prompt_tokens\":1.5,\"completion_tokens\":2}}",
		"{\"usage\":{\"prompt_tokens\":\"12\",\"completion_tokens\":2}}",
		"{\"usage\":{\"prompt_tokens\":1e300,\"completion_tokens\":2}}",
		"{\"usage\":{\"prompt_tokens\":1099511627777,\"completion_tokens\":2}}",
		"{\"usage\":{\"prompt_tokens\":12,,\"completion_tokens\":2}}",
		"{\"usage\":{\"prompt_tokens\":true}}",
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		cr_assert_eq(parse(bad[i], &u), TG_USAGE_MALFORMED, "%s", bad[i]);
}

Test(usage, limits_and_nothing)
{
	struct tg_usage u;
	char big[160];

	snprintf(big, sizeof(big), "{\"usage\":{\"prompt_tokens\":%llu,\"completion_tokens\":%llu}}",
		 (unsigned long long)TG_USAGE_MAX_TOKENS, (unsigned long long)TG_USAGE_MAX_TOKENS);
	cr_assert_eq(parse(big, &u), TG_USAGE_OK);
	cr_assert_eq(u.prompt, TG_USAGE_MAX_TOKENS);
	cr_assert_eq(u.total, 2 * TG_USAGE_MAX_TOKENS, "no overflow at the limit");
	cr_assert_eq(parse("{\"usage\":{\"prompt_tokens\":0,\"completion_tokens\":0}}", &u),
		     TG_USAGE_OK);
	cr_assert_eq(u.total, 0);
	cr_assert_eq(parse("", &u), TG_USAGE_NONE);
	cr_assert_eq(tg_usage_parse(NULL, 10, &u), TG_USAGE_NONE);
	cr_assert_eq(parse("{\"usage\":{}}", &u), TG_USAGE_NONE);
	cr_assert_eq(parse("{\"usage\": \"none\"}", &u), TG_USAGE_NONE);
	cr_assert_eq(parse("\"usage\"", &u), TG_USAGE_NONE);
	/* nesting beyond what a usage object has is not one */
	cr_assert_eq(parse("{\"usage\":{\"a\":[[[[[[[[[[1]]]]]]]]]],\"prompt_tokens\":1}}", &u),
		     TG_USAGE_NONE);
}
