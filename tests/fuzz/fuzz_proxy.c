/* The kernel's PROXY v1/v2 parser (kern/proxy.h) on the first bytes of a
 * connection, as the programs see them: a zero-padded TG_PROXY_BUF buffer
 * and the count of valid bytes. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "proxy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct tg_proxy_state st;
	__u8 buf[TG_PROXY_BUF];
	size_t n = size < TG_PROXY_BUF ? size : TG_PROXY_BUF;
	int rc;

	memset(buf, 0, sizeof(buf));
	memcpy(buf, data, n);
	memset(&st, 0, sizeof(st));
	st.len = (__u32)n;
	rc = tg_proxy_parse(buf, &st);
	if (rc < TG_PROXY_NONE || rc > TG_PROXY_PARTIAL)
		abort();
	/* a v1 header that parsed ends at a CRLF inside the bytes seen */
	if ((rc == TG_PROXY_ADDR || rc == TG_PROXY_NOADDR) && data[0] == 'P') {
		if (st.hdr_len < 8 || st.hdr_len > TG_PROXY_V1_MAX || st.hdr_len > n ||
		    buf[st.hdr_len - 2] != '\r' || buf[st.hdr_len - 1] != '\n')
			abort();
	}
	return 0;
}
