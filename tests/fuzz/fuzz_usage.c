/* The token-usage reader (agent/tokens/usage.c) on arbitrary response
 * bytes: never a crash or a leak, counts within their bounds, and a read
 * that does not depend on bytes past the copy (the copy is re-read from a
 * heap buffer of exactly its size, so ASan sees any overread). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "tokens/usage.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct tg_usage u, v;
	enum tg_usage_status st;
	char *copy = malloc(size ? size : 1);

	if (!copy)
		return 0;
	memcpy(copy, data, size);
	st = tg_usage_parse(copy, size, &u);
	if (st != TG_USAGE_OK && st != TG_USAGE_NONE && st != TG_USAGE_MALFORMED)
		abort();
	if (st == TG_USAGE_OK) {
		if (u.prompt > 3 * TG_USAGE_MAX_TOKENS || u.completion > TG_USAGE_MAX_TOKENS ||
		    u.cached > TG_USAGE_MAX_TOKENS || !u.objects)
			abort();
		/* the same bytes read the same */
		if (tg_usage_parse(copy, size, &v) != st || memcmp(&u, &v, sizeof(u)))
			abort();
	}
	free(copy);
	return 0;
}
