/* Standard Webhooks signing: the reference vector, raw secrets, and the
 * base64 corners of whsec_ keys. */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <string.h>

#include "deliver/sign.h"

static int key_of(const char *secret, unsigned char *key, size_t cap)
{
	return tg_sign_key(secret, strlen(secret), key, cap);
}

Test(sign, standard_webhooks_reference_vector)
{
	const char *body = "{\"test\": 2432232314}";
	unsigned char key[256];
	char sig[TG_SIGNATURE_LEN];
	int n = key_of("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", key, sizeof(key));

	cr_assert(eq(int, n, 24));
	cr_assert(eq(int, tg_sign(key, (size_t)n, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body,
				  strlen(body), sig),
		     0));
	cr_assert(eq(str, sig, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="));
}

Test(sign, raw_secret_is_used_as_bytes)
{
	unsigned char key[256];
	char sig[TG_SIGNATURE_LEN];
	int n = key_of("my raw secret", key, sizeof(key));

	cr_assert(eq(int, n, 13));
	cr_assert(eq(int, memcmp(key, "my raw secret", 13), 0));
	cr_assert(eq(int, tg_sign(key, (size_t)n, "evt_1", 1700000000, "{\"a\":1}", 7, sig), 0));
	cr_assert(eq(str, sig, "v1,6qkwKAqv4mlZDEeJJcw5/wabW/jQF52EW4U5FmFdY2E="));
	cr_assert(eq(int, tg_sign(key, (size_t)n, "evt_1", 1700000000, NULL, 0, sig), 0));
	cr_assert(eq(str, sig, "v1,yQVhL4u6m/+lGOZAEcQ8/uxI7B4V5E+u90TydiOKYi8="));
}

Test(sign, signature_changes_with_every_input)
{
	unsigned char key[] = "k";
	char a[TG_SIGNATURE_LEN], b[TG_SIGNATURE_LEN];

	cr_assert(eq(int, tg_sign(key, 1, "id", 1, "x", 1, a), 0));
	cr_assert(eq(int, tg_sign(key, 1, "id", 2, "x", 1, b), 0));
	cr_assert(ne(str, a, b));
	cr_assert(eq(int, tg_sign(key, 1, "ie", 1, "x", 1, b), 0));
	cr_assert(ne(str, a, b));
	cr_assert(eq(int, tg_sign(key, 1, "id", 1, "y", 1, b), 0));
	cr_assert(ne(str, a, b));
	cr_assert(eq(sz, strlen(a), 47));
}

Test(sign, whsec_padding_and_lengths)
{
	unsigned char key[8];

	cr_assert(eq(int, key_of("whsec_YWJjZA==", key, sizeof(key)), 4));
	cr_assert(eq(int, memcmp(key, "abcd", 4), 0));
	/* Unpadded: the same key. */
	cr_assert(eq(int, key_of("whsec_YWJjZA", key, sizeof(key)), 4));
	cr_assert(eq(int, memcmp(key, "abcd", 4), 0));
	cr_assert(eq(int, key_of("whsec_YWJj", key, sizeof(key)), 3));
	cr_assert(eq(int, key_of("whsec_YWI=", key, sizeof(key)), 2));
	cr_assert(eq(int, key_of("whsec_YQ==", key, sizeof(key)), 1));
	/* Exactly the key's size fits; one byte less does not. */
	cr_assert(eq(int, key_of("whsec_YWJjZA==", key, 4), 4));
	cr_assert(eq(int, key_of("whsec_YWJjZA==", key, 3), -1));
}

Test(sign, whsec_invalid_base64_is_refused)
{
	unsigned char key[64];

	cr_assert(eq(int, key_of("whsec_", key, sizeof(key)), -1));
	cr_assert(eq(int, key_of("whsec_====", key, sizeof(key)), -1));
	cr_assert(eq(int, key_of("whsec_YW=jZA==", key, sizeof(key)), -1));
	cr_assert(eq(int, key_of("whsec_YWJjZ", key, sizeof(key)), -1));
	cr_assert(eq(int, key_of("whsec_YWJj ZA==", key, sizeof(key)), -1));
	cr_assert(eq(int, key_of("whsec_YWJjZA===", key, sizeof(key)), -1));
	cr_assert(eq(int, key_of("whsec_YWJjZ===", key, sizeof(key)), -1));
	cr_assert(eq(int, key_of("whsec_YWJj\nZA==", key, sizeof(key)), -1));
	cr_assert(eq(int, key_of("whsec_YW*jZA==", key, sizeof(key)), -1));
}

Test(sign, raw_secret_larger_than_key_buffer)
{
	unsigned char key[4];

	cr_assert(eq(int, key_of("12345", key, sizeof(key)), -1));
	cr_assert(eq(int, key_of("1234", key, sizeof(key)), 4));
	cr_assert(eq(int, tg_sign_key(NULL, 0, key, sizeof(key)), -1));
}

Test(sign, bad_arguments)
{
	char sig[TG_SIGNATURE_LEN];

	cr_assert(eq(int, tg_sign((const unsigned char *)"k", 1, NULL, 1, "x", 1, sig), -1));
	cr_assert(eq(int, tg_sign((const unsigned char *)"k", 1, "id", 1, NULL, 3, sig), -1));
}
