#include <errno.h>
#include <string.h>
#include <sys/random.h>
#include "apikey.h"
#include "lib/keyhash.h"

static uint64_t key0, key1;

void tg_keyhash_set(uint64_t k0, uint64_t k1)
{
	key0 = k0;
	key1 = k1;
}

int tg_keyhash_random(uint64_t *k0, uint64_t *k1)
{
	uint64_t k[2] = { 0, 0 };
	size_t got = 0;

	/* A zero key is what a map no agent wrote holds: never draw it. */
	while (k[0] == 0 && k[1] == 0) {
		for (got = 0; got < sizeof(k);) {
			ssize_t r = getrandom((char *)k + got, sizeof(k) - got, 0);

			if (r < 0 && errno == EINTR)
				continue;
			if (r < 0)
				return -errno;
			got += (size_t)r;
		}
	}
	*k0 = k[0];
	*k1 = k[1];
	return 0;
}

uint64_t tg_apikey_hash(const char *key, size_t len)
{
	return tg_siphash_key(key0, key1, key, len);
}
