/* Request headers of the API server and the token check against them.
 *
 * The token is compared as SHA-256 digests with CRYPTO_memcmp, which makes
 * the time independent of where a wrong token first differs and of its
 * length; every candidate header is checked, none ends the loop early. */
#include <errno.h>
#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "api/api_hdrs.h"

void tg_api_hdrs_reset(struct tg_api_hdrs *h)
{
	h->state = TG_HDR_NONE;
	h->n = 0;
	h->len = h->item = 0;
}

/* Leaves a byte for the NUL. */
static const char *put(struct tg_api_hdrs *h, const char *at, size_t n, bool lower)
{
	if (h->len == h->item)
		while (n && (*at == ' ' || *at == '\t'))
			at++, n--;
	if (n >= sizeof(h->buf) - h->len)
		return "request headers too large";
	for (size_t i = 0; i < n; i++)
		h->buf[h->len + i] = lower && at[i] >= 'A' && at[i] <= 'Z' ? at[i] | 0x20 : at[i];
	h->len += n;
	return NULL;
}

/* Ends the current name or value: trailing whitespace off, a NUL on. */
static void end(struct tg_api_hdrs *h)
{
	while (h->len > h->item && (h->buf[h->len - 1] == ' ' || h->buf[h->len - 1] == '\t'))
		h->len--;
	h->buf[h->len++] = '\0';
	h->item = h->len;
}

const char *tg_api_hdrs_name(struct tg_api_hdrs *h, const char *at, size_t n)
{
	if (h->state == TG_HDR_VALUE)
		end(h);
	if (h->state != TG_HDR_NAME) {
		if (h->n >= TG_API_MAX_HEADERS)
			return "too many request headers";
		h->n++;
		h->state = TG_HDR_NAME;
	}
	return put(h, at, n, true);
}

/* An empty value still comes as one call of length 0. */
const char *tg_api_hdrs_value(struct tg_api_hdrs *h, const char *at, size_t n)
{
	if (h->state == TG_HDR_NAME) {
		end(h);
		h->state = TG_HDR_VALUE;
	}
	return put(h, at, n, false);
}

void tg_api_hdrs_finish(struct tg_api_hdrs *h)
{
	if (h->state == TG_HDR_VALUE)
		end(h);
	h->state = TG_HDR_NONE;
}

int tg_api_token_set(struct tg_api_token *t, const char *token)
{
	unsigned int mdlen = 0;

	tg_api_token_clear(t);
	if (!token || !*token)
		return 0;
	if (!EVP_Digest(token, strlen(token), t->md, &mdlen, EVP_sha256(), NULL) ||
	    mdlen != TG_API_TOKEN_MD) {
		tg_api_token_clear(t);
		return -EIO;
	}
	t->set = true;
	return 0;
}

void tg_api_token_clear(struct tg_api_token *t)
{
	t->set = false;
	OPENSSL_cleanse(t->md, sizeof(t->md));
}

static bool matches(const struct tg_api_token *t, const char *v)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;

	if (!EVP_Digest(v, strlen(v), md, &mdlen, EVP_sha256(), NULL) || mdlen != TG_API_TOKEN_MD)
		return false;
	return CRYPTO_memcmp(md, t->md, TG_API_TOKEN_MD) == 0;
}

bool tg_api_token_ok(const struct tg_api_token *t, const struct tg_api_hdrs *h, bool bearer)
{
	const char *p = h->buf, *v;
	bool ok = false;

	if (!t->set)
		return true;
	for (unsigned int i = 0; i < h->n; i++, p = v + strlen(v) + 1) {
		v = p + strlen(p) + 1;
		if (!strcmp(p, "x-tollgate-token")) {
			ok |= matches(t, v);
		} else if (bearer && !strcmp(p, "authorization") && !strncasecmp(v, "bearer ", 7)) {
			v += 7;
			v += strspn(v, " \t");
			ok |= matches(t, v);
		}
	}
	return ok;
}
