/* Standard Webhooks signatures: HMAC-SHA256 over "id.timestamp.body",
 * base64 with padding, prefixed "v1,". */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>

#include "deliver/sign.h"

#define WHSEC_PREFIX "whsec_"
#define WHSEC_PREFIX_LEN (sizeof(WHSEC_PREFIX) - 1)
#define HMAC_SHA256_LEN 32

static int b64_char(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
	       c == '+' || c == '/';
}

/* EVP_DecodeBlock takes '=' anywhere as a zero sextet and counts padding
 * as output bytes, so the input is checked here first (padding only at the
 * end, at most two) and the real length derived from it. Unpadded input
 * is padded: some tools print secrets without it. */
static int b64_decode(const char *in, size_t len, unsigned char *out, size_t cap)
{
	unsigned char buf[4 * 128], dec[3 * 128];
	size_t n = 0, pad = 0, i, padded;
	int got;

	while (len > 0 && in[len - 1] == '=') {
		len--;
		pad++;
	}
	if (pad > 2 || len == 0)
		return -1;
	for (i = 0; i < len; i++)
		if (!b64_char((unsigned char)in[i]))
			return -1;
	if (len % 4 == 1)
		return -1;
	padded = (len + 3) / 4 * 4;
	if (pad != 0 && len + pad != padded)
		return -1;
	if (padded > sizeof(buf))
		return -1;
	memcpy(buf, in, len);
	for (n = len; n < padded; n++)
		buf[n] = '=';
	got = EVP_DecodeBlock(dec, buf, (int)padded);
	if (got < 0)
		return -1;
	got -= (int)(padded - len);
	if ((size_t)got > cap)
		return -1;
	memcpy(out, dec, (size_t)got);
	OPENSSL_cleanse(dec, sizeof(dec));
	return got;
}

int tg_sign_key(const char *secret, size_t len, unsigned char *key, size_t cap)
{
	if (!secret || !key)
		return -1;
	if (len >= WHSEC_PREFIX_LEN && memcmp(secret, WHSEC_PREFIX, WHSEC_PREFIX_LEN) == 0)
		return b64_decode(secret + WHSEC_PREFIX_LEN, len - WHSEC_PREFIX_LEN, key, cap);
	if (len > cap || len > INT32_MAX)
		return -1;
	memcpy(key, secret, len);
	return (int)len;
}

int tg_sign(const unsigned char *key, size_t key_len, const char *id, uint64_t timestamp,
	    const void *body, size_t len, char out[TG_SIGNATURE_LEN])
{
	static const unsigned char no_key;
	unsigned char mac[HMAC_SHA256_LEN];
	char ts[24];
	size_t mac_len = 0;
	OSSL_PARAM params[2];
	EVP_MAC_CTX *ctx = NULL;
	EVP_MAC *hmac;
	int ok, tslen;

	if (!id || (!body && len > 0) || (!key && key_len > 0))
		return -1;
	tslen = snprintf(ts, sizeof(ts), ".%" PRIu64 ".", timestamp);
	hmac = EVP_MAC_fetch(NULL, "HMAC", NULL);
	if (!hmac)
		return -1;
	ctx = EVP_MAC_CTX_new(hmac);
	params[0] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *)"SHA256", 0);
	params[1] = OSSL_PARAM_construct_end();
	ok = ctx && EVP_MAC_init(ctx, key_len ? key : &no_key, key_len, params) &&
	     EVP_MAC_update(ctx, (const unsigned char *)id, strlen(id)) &&
	     EVP_MAC_update(ctx, (const unsigned char *)ts, (size_t)tslen) &&
	     (len == 0 || EVP_MAC_update(ctx, body, len)) &&
	     EVP_MAC_final(ctx, mac, &mac_len, sizeof(mac)) && mac_len == sizeof(mac);
	EVP_MAC_CTX_free(ctx);
	EVP_MAC_free(hmac);
	if (!ok)
		return -1;
	memcpy(out, "v1,", 3);
	/* 32 bytes encode to 44 characters and a NUL: 48 of the 64. */
	EVP_EncodeBlock((unsigned char *)out + 3, mac, sizeof(mac));
	return 0;
}
