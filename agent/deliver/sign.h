/* Standard Webhooks signing (HMAC-SHA256 from OpenSSL's libcrypto). */
#ifndef TG_SIGN_H
#define TG_SIGN_H

#include <stddef.h>
#include <stdint.h>

#define TG_SIGNATURE_LEN 64 /* "v1," + base64 of 32 bytes (44) + NUL, rounded up */

/* The HMAC key of a configured secret: "whsec_<base64>" is decoded after
 * the prefix, any other secret is used as raw bytes. Returns the key's
 * length, or -1 when a whsec_ secret is not valid base64. */
int tg_sign_key(const char *secret, size_t len, unsigned char *key, size_t cap);

/* "v1,<base64 HMAC-SHA256(key, "<id>.<timestamp>.<body>")>". Returns 0,
 * or -1 on error. */
int tg_sign(const unsigned char *key, size_t key_len, const char *id, uint64_t timestamp,
	    const void *body, size_t len, char out[TG_SIGNATURE_LEN]);

#endif
