/* A webhook POST as a curl easy handle. */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "deliver/retry.h"
#include "deliver/sign.h"
#include "deliver/hook_http.h"

#define HDR_LEN (TG_SECRET_MAX + 64)

static size_t on_write(char *p, size_t size, size_t n, void *arg)
{
	struct tg_hook_http *r = arg;
	size_t len = size * n;
	size_t cap = r->keep_resp ? TG_HOOK_RESP_KEEP_MAX : TG_HOOK_RESP_DISCARD_MAX;

	if (len > cap - r->resp_len) {
		r->capped = true;
		return 0; /* ends the transfer; the status still counts */
	}
	if (r->keep_resp) {
		if (r->resp_len + len + 1 > r->resp_cap) {
			size_t want = r->resp_cap ? r->resp_cap : 4096;
			char *grown;

			while (want < r->resp_len + len + 1)
				want *= 2;
			grown = realloc(r->resp, want);
			if (!grown)
				return 0;
			r->resp = grown;
			r->resp_cap = want;
		}
		memcpy(r->resp + r->resp_len, p, len);
		r->resp[r->resp_len + len] = '\0';
	}
	r->resp_len += len;
	return len;
}

static bool header_named(const struct tg_webhook_config *c, const char *name)
{
	int i;

	for (i = 0; i < c->n_headers && i < TG_MAX_HOOK_HEADERS; i++)
		if (strcasecmp(c->headers[i].name, name) == 0)
			return true;
	return false;
}

static int add_header(struct curl_slist **l, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static int add_header(struct curl_slist **l, const char *fmt, ...)
{
	char buf[HDR_LEN];
	struct curl_slist *n;
	va_list ap;
	int len;

	va_start(ap, fmt);
	len = vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (len < 0 || (size_t)len >= sizeof(buf))
		return -1;
	n = curl_slist_append(*l, buf);
	explicit_bzero(buf, sizeof(buf)); /* it may have held the api key */
	if (!n)
		return -1;
	*l = n;
	return 0;
}

static int build_headers(struct tg_hook_http *r, const struct tg_hook_http_opts *o)
{
	const struct tg_webhook_config *c = o->cfg;
	uint64_t ts;
	int i, rc = 0;

	for (i = 0; i < c->n_headers && i < TG_MAX_HOOK_HEADERS; i++) {
		const struct tg_hook_header *hh = &c->headers[i];

		/* webhook-* are ours to set; a CR or LF would smuggle in more
		 * headers. */
		if (strncasecmp(hh->name, "webhook-", 8) == 0 || !hh->name[0] ||
		    strpbrk(hh->name, "\r\n:") || strpbrk(hh->value, "\r\n"))
			continue;
		/* "Name;" is curl's way to send an empty value. */
		rc |= hh->value[0] ? add_header(&r->hdrs, "%s: %s", hh->name, hh->value)
				   : add_header(&r->hdrs, "%s;", hh->name);
	}
	if (!header_named(c, "Content-Type"))
		rc |= add_header(&r->hdrs, "Content-Type: %s",
				 o->content_type[0] ? o->content_type : "application/json");
	if (!header_named(c, "User-Agent"))
		rc |= add_header(&r->hdrs, "User-Agent: %s", o->user_agent);
	/* No 100-continue round trip: receivers answer POSTs directly. */
	rc |= add_header(&r->hdrs, "Expect:");
	if (c->format == TG_FMT_OPENAI && c->api_key[0] && !header_named(c, "Authorization"))
		rc |= add_header(&r->hdrs, "Authorization: Bearer %s", c->api_key);
	/* The id and timestamp go out signed or not: a receiver dedupes
	 * retries by the id either way. */
	ts = (uint64_t)time(NULL);
	rc |= add_header(&r->hdrs, "webhook-id: %s", o->id);
	rc |= add_header(&r->hdrs, "webhook-timestamp: %" PRIu64, ts);
	if (o->key_len > 0) {
		char sig[TG_SIGNATURE_LEN];

		if (tg_sign(o->key, o->key_len, o->id, ts, r->body, r->body_len, sig) < 0)
			return -1;
		rc |= add_header(&r->hdrs, "webhook-signature: %s", sig);
	}
	return rc;
}

static int setup_easy(struct tg_hook_http *r, const struct tg_hook_http_opts *o)
{
	CURL *e = r->easy;
	CURLcode rc = CURLE_OK;

	rc |= curl_easy_setopt(e, CURLOPT_URL, o->cfg->url);
	rc |= curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
	rc |= curl_easy_setopt(e, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
	rc |= curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
	rc |= curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	rc |= curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)o->cfg->timeout_ms);
	rc |= curl_easy_setopt(e, CURLOPT_POST, 1L);
	rc |= curl_easy_setopt(e, CURLOPT_POSTFIELDS, r->body);
	rc |= curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)r->body_len);
	rc |= curl_easy_setopt(e, CURLOPT_HTTPHEADER, r->hdrs);
	rc |= curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_write);
	rc |= curl_easy_setopt(e, CURLOPT_WRITEDATA, r);
	rc |= curl_easy_setopt(e, CURLOPT_PRIVATE, o->priv);
	/* TLS verification stays at curl's defaults: on. */
	return rc == CURLE_OK ? 0 : -1;
}

int tg_hook_http_init(struct tg_hook_http *r, const struct tg_hook_http_opts *o, char *body,
		      size_t len)
{
	memset(r, 0, sizeof(*r));
	r->body = body;
	r->body_len = len;
	r->keep_resp = o->keep_resp;
	r->easy = curl_easy_init();
	if (!r->easy || build_headers(r, o) < 0 || setup_easy(r, o) < 0)
		return -1;
	return 0;
}

void tg_hook_http_free(struct tg_hook_http *r)
{
	if (r->easy)
		curl_easy_cleanup(r->easy);
	curl_slist_free_all(r->hdrs);
	free(r->body);
	free(r->resp);
	memset(r, 0, sizeof(*r));
}

void tg_hook_http_result(struct tg_hook_http *r, CURLcode res, struct tg_hook_result *out)
{
	struct curl_header *ra;

	out->status = 0;
	out->retry_after_ms = -1;
	curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &out->status);
	/* We cut a long answer short: its status stands. */
	out->res = res == CURLE_WRITE_ERROR && r->capped ? CURLE_OK : res;
	if ((out->status == 429 || out->status == 503) &&
	    curl_easy_header(r->easy, "Retry-After", 0, CURLH_HEADER, -1, &ra) == CURLHE_OK)
		out->retry_after_ms = tg_retry_after_ms(ra->value, time(NULL));
}
