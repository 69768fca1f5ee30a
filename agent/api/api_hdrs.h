/* The API server's request headers and its token check: a fixed store the
 * parser's callbacks fill piece by piece, and the constant-time match of
 * the token against it. Internal to api.c (handlers use tg_api_header). */
#ifndef TG_API_HDRS_H
#define TG_API_HDRS_H

#include <stdbool.h>
#include <stddef.h>

#define TG_API_MAX_REQUEST 8192   /* request line + headers + body, bytes */
#define TG_API_MAX_HEADERS 64     /* request headers; more get a 431 */

/* Names and values with their NULs; both bounds make a 431 before it fills. */
#define TG_API_HDR_BUF (TG_API_MAX_REQUEST + 2 * TG_API_MAX_HEADERS)
#define TG_API_TOKEN_MD 32 /* SHA-256 */

enum tg_api_hdr_state { TG_HDR_NONE = 0, TG_HDR_NAME, TG_HDR_VALUE };

/* n "name\0value\0" pairs, names in lower case. */
struct tg_api_hdrs {
	enum tg_api_hdr_state state; /* which part of a header the parser is in */
	unsigned int n;
	size_t len, item;            /* bytes used; start of the current part */
	char buf[TG_API_HDR_BUF];
};

void tg_api_hdrs_reset(struct tg_api_hdrs *h);
/* A piece of a name or of a value (the parser may split either across
 * reads). NULL, or why the request gets a 431. */
const char *tg_api_hdrs_name(struct tg_api_hdrs *h, const char *at, size_t n);
const char *tg_api_hdrs_value(struct tg_api_hdrs *h, const char *at, size_t n);
/* Ends the last value: at the end of the headers, and of chunked trailers. */
void tg_api_hdrs_finish(struct tg_api_hdrs *h);

/* Only a digest of the token is kept. */
struct tg_api_token {
	bool set;
	unsigned char md[TG_API_TOKEN_MD];
};

/* NULL or "" clears it. Returns 0 or -EIO. */
int tg_api_token_set(struct tg_api_token *t, const char *token);
void tg_api_token_clear(struct tg_api_token *t);
/* True when no token is set, or when X-Tollgate-Token, or (bearer)
 * "Authorization: Bearer", carries it. */
bool tg_api_token_ok(const struct tg_api_token *t, const struct tg_api_hdrs *h, bool bearer);

#endif
