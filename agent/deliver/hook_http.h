/* One webhook delivery attempt as an HTTP POST: the easy handle with its
 * options and headers (Standard Webhooks signature included), and its
 * answer as far as delivery cares. No I/O here: curl_uv.c runs it. */
#ifndef TG_HOOK_HTTP_H
#define TG_HOOK_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <curl/curl.h>

#include "config/config.h"

#define TG_HOOK_RESP_KEEP_MAX (1u << 20)     /* an answer kept (openai) */
#define TG_HOOK_RESP_DISCARD_MAX (64u << 10) /* an answer read and dropped */

struct tg_hook_http {
	CURL *easy;
	struct curl_slist *hdrs;
	char *body;           /* what is POSTed; owned */
	size_t body_len;
	char *resp;           /* the answer when kept, NUL-terminated */
	size_t resp_len, resp_cap;
	bool keep_resp;
	bool capped;          /* the answer was longer than allowed: cut */
};

struct tg_hook_http_opts {
	const struct tg_webhook_config *cfg;
	const unsigned char *key; /* HMAC key; key_len 0: unsigned */
	size_t key_len;
	const char *id;           /* the event id: webhook-id */
	const char *content_type; /* "" for application/json */
	const char *user_agent;
	bool keep_resp;
	void *priv;               /* CURLINFO_PRIVATE */
};

/* Takes body (malloc'd) in every case. 0, or -1 when out of memory or
 * when signing fails. */
int tg_hook_http_init(struct tg_hook_http *r, const struct tg_hook_http_opts *o, char *body,
		      size_t len);
void tg_hook_http_free(struct tg_hook_http *r);

struct tg_hook_result {
	CURLcode res;           /* CURLE_OK when an answer came, even if cut */
	long status;            /* 0 without an answer */
	int64_t retry_after_ms; /* 429/503 with a valid Retry-After, else -1 */
};

void tg_hook_http_result(struct tg_hook_http *r, CURLcode res, struct tg_hook_result *out);

#endif
