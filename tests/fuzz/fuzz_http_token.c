/* The kernel's request-start, status-line and API key helpers
 * (kern/http_token.h, kern/apikey.h) on arbitrary payload bytes. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "http_token.h"
#include "apikey.h"
#include "lib/keyhash.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	__u64 w = 0, w1 = 0, hw[2], hm[2];
	__u32 n = size < 8 ? (__u32)size : 8;
	char name[TG_KEY_HEADER_LEN + 8];
	size_t nl;
	int st;

	memcpy(&w, data, n);
	if (n) {
		int start = tg_is_request_start(w, n);

		if (start != 0 && start != 1)
			abort();
		/* a method split over segments: a start stays one on fewer bytes */
		if (start && n > 1 && data[0] != '\r' && data[0] != '\n' &&
		    !tg_is_request_start(w & tg_bytes_mask(n - 1), n - 1))
			abort();
	}
	if (size >= 16)
		memcpy(&w1, data + 8, 8);
	st = tg_status_class(w, w1, size < 16 ? (__u32)size : 16);
	if (st != -1 && (st < 0 || st >= TG_ST_MAX))
		abort();
	st = tg_status_code(w, w1, size < 16 ? (__u32)size : 16);
	if (st != -1 && (st < 0 || st > 999))
		abort();
	/* a method the request log names is a request start */
	if (tg_method(w, n) >= TG_METHOD_MAX ||
	    (tg_method(w, n) != TG_METHOD_OTHER && !tg_is_request_start(w, n)))
		abort();
	if (size >= 4) {
		__u32 v;

		memcpy(&v, data, 4);
		if (tg_size_bucket(v) >= TG_SIZE_BUCKETS)
			abort();
		if (tg_lat_bucket((__u64)v * v) >= TG_LAT_BUCKETS)
			abort();
	}
	if (tg_apikey_hash((const char *)data, size) == 0)
		abort();
	nl = size < sizeof(name) - 1 ? size : sizeof(name) - 1;
	memcpy(name, data, nl);
	name[nl] = '\0';
	if (tg_header_words(name, hw, hm) > TG_KEY_HEADER_LEN)
		abort();
	return 0;
}
