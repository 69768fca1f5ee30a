/* The agent's side of the keyed API-key hash (kern/apikey.h): the key the
 * kernel hashes with (its tg_hash_key map), held for the process, so that
 * every hash the agent takes (configured keys into tg_apikeys, /v1/check,
 * the detectors' key names) matches the kernel's. */
#ifndef TG_KEYHASH_H
#define TG_KEYHASH_H

#include <stddef.h>
#include <stdint.h>

/* Set once the kernel's key is known (bpf/loader.c), before any hash is
 * taken; unit tests set their own. */
void tg_keyhash_set(uint64_t k0, uint64_t k1);

/* A fresh random key (getrandom). Returns 0 or a negative errno. */
int tg_keyhash_random(uint64_t *k0, uint64_t *k1);

/* The hash of a key's bytes (at most TG_APIKEY_MAX), never 0. */
uint64_t tg_apikey_hash(const char *key, size_t len);

#endif
