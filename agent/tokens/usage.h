/* A response's token usage, read from a bounded copy of its bytes: an
 * OpenAI chat/completions or responses JSON body, an OpenAI SSE stream
 * whose last chunk carries usage (stream_options.include_usage), or an
 * Anthropic messages body or stream (message_start's usage, then
 * message_delta's cumulative output_tokens).
 *
 * The copy may be a fragment: the kernel hands over the bytes around the
 * usage object, not the whole body, and may have cut them anywhere. So the
 * whole copy is not parsed as one document: every `"usage": {...}` object
 * that is a key (not inside a string) and complete in the copy is cut out
 * and parsed on its own with cJSON. Later objects override earlier ones
 * field by field, which is what a stream needs. */
#ifndef TG_USAGE_H
#define TG_USAGE_H

#include <stddef.h>
#include <stdint.h>

/* Counts above this are refused as malformed: no request has 2^40 tokens,
 * and sums of such counts cannot overflow a u64. */
#define TG_USAGE_MAX_TOKENS (1ull << 40)

enum tg_usage_status {
	TG_USAGE_OK = 0,        /* at least one of prompt / completion found */
	TG_USAGE_NONE = 1,      /* no usage object (or only "usage": null) */
	TG_USAGE_MALFORMED = 2, /* a usage object that does not parse, or a count
				 * that is not an integer in 0..TG_USAGE_MAX_TOKENS */
};

struct tg_usage {
	uint64_t prompt;     /* prompt_tokens | input_tokens (+ Anthropic's cache
			      * creation and cache read input tokens) */
	uint64_t completion; /* completion_tokens | output_tokens */
	uint64_t cached;     /* prompt tokens served from a cache (OpenAI's
			      * *_tokens_details.cached_tokens, Anthropic's
			      * cache_read_input_tokens) */
	uint64_t total;      /* total_tokens when given, else prompt + completion */
	uint32_t objects;    /* usage objects read */
	uint32_t truncated;  /* a usage object cut off by the end of the copy */
};

/* Reads the usage of the response in buf[0..len). */
enum tg_usage_status tg_usage_parse(const char *buf, size_t len, struct tg_usage *out);

#endif
