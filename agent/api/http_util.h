/* HTTP helpers without I/O, for the API server and the CLI's client. */
#ifndef TG_HTTP_UTIL_H
#define TG_HTTP_UTIL_H

#include <stdbool.h>
#include <stddef.h>

/* "Too Many Requests" for 429; "Unknown" for codes not in the table. */
const char *tg_http_reason(int status);

/* Decodes %XX (and '+' when plus) into a NUL-terminated out. Returns the
 * length, or -1 on a malformed escape, an encoded NUL, or when out is too
 * small. */
int tg_http_pct_decode(const char *s, size_t n, char *out, size_t outlen, bool plus);

/* Copies query parameter `name` (percent-decoded) into out. Returns its
 * length, or -1 when absent or longer than len - 1. */
int tg_http_query_get(const char *query, const char *name, char *out, size_t len);

#endif
