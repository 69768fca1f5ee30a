#include "tokens/usage.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

/* Deeper nesting than this inside a usage object is not a usage object. */
#define MAX_DEPTH 8

/* The raw fields, each with whether some object carried it. */
struct fields {
	uint64_t v[6];
	bool have[6];
	bool bad;
};

enum { F_INPUT, F_CACHE_CREATE, F_CACHE_READ, F_DETAILS_CACHED, F_OUTPUT, F_TOTAL };

/* One past the '}' closing the object that opens at b[i] ('{'), skipping
 * strings and their escapes; 0 when it does not close within len or nests
 * too deep. */
static size_t object_end(const char *b, size_t len, size_t i)
{
	bool in_str = false;
	int depth = 0;

	for (; i < len; i++) {
		char c = b[i];

		if (in_str) {
			if (c == '\\')
				i++;
			else if (c == '"')
				in_str = false;
			continue;
		}
		if (c == '"') {
			in_str = true;
		} else if (c == '{' || c == '[') {
			if (++depth > MAX_DEPTH)
				return 0;
		} else if (c == '}' || c == ']') {
			if (--depth == 0)
				return i + 1;
		}
	}
	return 0;
}

/* Whether the quote at b[q] is escaped: an odd run of backslashes before
 * it. An unescaped "usage" cannot be inside a JSON string, so it is a key
 * (or a string value, which the ':' test then rules out). */
static bool escaped(const char *b, size_t q)
{
	size_t n = 0;

	while (q > n && b[q - n - 1] == '\\')
		n++;
	return n & 1;
}

static size_t skip_ws(const char *b, size_t len, size_t i)
{
	while (i < len && (b[i] == ' ' || b[i] == '\t' || b[i] == '\r' || b[i] == '\n'))
		i++;
	return i;
}

/* A count: absent or null leaves the field; anything but an integer in
 * 0..TG_USAGE_MAX_TOKENS marks the read malformed. */
static void count(const cJSON *o, const char *name, struct fields *f, int idx)
{
	const cJSON *it = cJSON_GetObjectItemCaseSensitive(o, name);
	double v;

	if (!it || cJSON_IsNull(it))
		return;
	if (!cJSON_IsNumber(it)) {
		f->bad = true;
		return;
	}
	v = it->valuedouble;
	if (!isfinite(v) || v < 0 || v != floor(v) || v > (double)TG_USAGE_MAX_TOKENS) {
		f->bad = true;
		return;
	}
	f->v[idx] = (uint64_t)v;
	f->have[idx] = true;
}

/* OpenAI names the prompt "prompt_tokens" (chat, completions) or
 * "input_tokens" (responses), Anthropic "input_tokens" with its cache
 * tokens apart; OpenAI's cached tokens are inside a *_details object. */
static void read_object(const cJSON *o, struct fields *f)
{
	const cJSON *det;

	count(o, "prompt_tokens", f, F_INPUT);
	count(o, "input_tokens", f, F_INPUT);
	count(o, "cache_creation_input_tokens", f, F_CACHE_CREATE);
	count(o, "cache_read_input_tokens", f, F_CACHE_READ);
	count(o, "completion_tokens", f, F_OUTPUT);
	count(o, "output_tokens", f, F_OUTPUT);
	count(o, "total_tokens", f, F_TOTAL);
	det = cJSON_GetObjectItemCaseSensitive(o, "prompt_tokens_details");
	if (!cJSON_IsObject(det))
		det = cJSON_GetObjectItemCaseSensitive(o, "input_tokens_details");
	if (cJSON_IsObject(det))
		count(det, "cached_tokens", f, F_DETAILS_CACHED);
}

enum tg_usage_status tg_usage_parse(const char *buf, size_t len, struct tg_usage *out)
{
	static const char key[] = "\"usage\"";
	const size_t klen = sizeof(key) - 1;
	struct fields f;
	size_t i = 0;

	memset(out, 0, sizeof(*out));
	memset(&f, 0, sizeof(f));
	if (!buf)
		return TG_USAGE_NONE;
	while (i + klen <= len) {
		const char *hit = memmem(buf + i, len - i, key, klen);
		size_t q, v, end;
		cJSON *o;

		if (!hit)
			break;
		q = (size_t)(hit - buf);
		i = q + klen;
		if (escaped(buf, q))
			continue;
		v = skip_ws(buf, len, i);
		if (v >= len || buf[v] != ':')
			continue;
		v = skip_ws(buf, len, v + 1);
		if (v >= len || buf[v] != '{')
			continue; /* null, or not an object */
		end = object_end(buf, len, v);
		if (!end) {
			out->truncated++;
			break; /* nothing complete follows an object cut off */
		}
		o = cJSON_ParseWithLength(buf + v, end - v);
		if (!cJSON_IsObject(o)) {
			f.bad = true;
		} else {
			read_object(o, &f);
			out->objects++;
		}
		cJSON_Delete(o);
		i = end;
	}
	if (f.bad)
		return TG_USAGE_MALFORMED;
	if (!f.have[F_INPUT] && !f.have[F_OUTPUT])
		return TG_USAGE_NONE;
	out->prompt = f.v[F_INPUT] + f.v[F_CACHE_CREATE] + f.v[F_CACHE_READ];
	out->completion = f.v[F_OUTPUT];
	out->cached = f.have[F_CACHE_READ] ? f.v[F_CACHE_READ] : f.v[F_DETAILS_CACHED];
	out->total = f.have[F_TOTAL] ? f.v[F_TOTAL] : out->prompt + out->completion;
	return TG_USAGE_OK;
}
