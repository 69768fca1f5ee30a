/* /v1/check, the parts that need no kernel: who the client is (X-Real-IP,
 * X-Forwarded-For through identity.trusted_proxies), which API key it
 * presents (hashed as the kernel hashes it), and the rate-limit headers of
 * an answer computed from a bucket's state. No allocation: a check is on
 * the gateway's request path. */
#ifndef TG_CHECK_H
#define TG_CHECK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "api/api.h"
#include "config/config.h"
#include "shared.h"

/* The client a check is about: X-Real-IP, or, when that is a trusted
 * proxy, the rightmost X-Forwarded-For address that is not. Without
 * X-Real-IP, the rightmost X-Forwarded-For address that is not a trusted
 * proxy: a gateway that appends its TCP peer there and sends no X-Real-IP
 * (Traefik's ForwardAuth, gateway-hooks/GATEWAYS.md) names the client
 * that way. 0, or -1 with a reason. */
int tg_check_client(const struct tg_config *cfg, const char *real_ip, const char *xff,
		    struct tg_addr *client, const char **why);

/* An address header's value ("198.18.0.1", "fd00::1", "[fd00::1]"). */
int tg_check_addr(const char *s, struct tg_addr *a);

/* The client key of an address: IPv6 masked to identity.ipv6_prefix. */
void tg_check_client_key(const struct tg_config *cfg, const struct tg_addr *a, struct tg_addr *key);

/* The keyed hash of an API key header's value as the kernel computes it
 * (the rules of kern/apikey.h: blank runs and "Bearer" skipped, up to a
 * blank, ',' or ';', at most TG_APIKEY_MAX bytes). 0 when there is no key. */
uint64_t tg_check_key_hash(const char *value);

/* The hashes of cfg's API-key entries, sorted, into out (at most cap);
 * returns how many: the `known` of tg_check_request_key. */
size_t tg_check_known_keys(const struct tg_config *cfg, uint64_t *out, size_t cap);

/* The key a request presents: the first configured key among the
 * request's key headers, else the first key at all (as the kernel picks).
 * known: sorted hashes of the configured keys. 0 for none. */
uint64_t tg_check_request_key(const struct tg_config *cfg, const struct tg_api_req *req,
			      const uint64_t *known, size_t n_known);

/* What an answer says about a key's bucket. */
struct tg_check_limits {
	bool requests;                /* the key has a request limit */
	uint64_t limit, remaining;    /* requests: burst, tokens now */
	uint64_t reset_ms;            /* until the bucket is full again */
	uint64_t next_ms;             /* until one more request is admitted, 0 now */
	uint64_t rate;                /* requests_per_sec (rounded) */
	bool bytes;                   /* the key has a byte limit */
	uint64_t byte_limit;          /* bytes_burst */
	int64_t byte_remaining;       /* negative while in debt */
	uint64_t byte_reset_ms, byte_next_ms;
};

void tg_check_limits(const struct tg_quota *q, const struct tg_bucket *b, uint64_t now_ns,
		     struct tg_check_limits *out);

/* The route and model of a check, as tg_check's TG_CK_SUB argument: the
 * route from uri (X-Original-URI or X-Forwarded-Uri: NULL for none) matched
 * against the kernel's route table, the model id of model (X-Model) among
 * the configured models (models and live indexed by model id, as in
 * struct tg_kern). */
uint64_t tg_check_sub_arg(const struct tg_route_table *rt, const char *uri,
			  const char (*models)[TG_MODEL_NAME_LEN], const bool *live,
			  const char *model);

/* Which of n buckets' limits an answer shows: the one that refused
 * (refused >= 0), else the one with the fewest requests left (the
 * tightest); -1 when none limits requests. */
int tg_check_pick(const struct tg_check_limits *l, int n, int refused);

/* Adds Retry-After (when denied) and the rate-limit headers: the IETF
 * draft's RateLimit-Policy and RateLimit, X-RateLimit-*, and OpenAI's
 * x-ratelimit-*-requests / -tokens. */
void tg_check_headers(struct tg_api_resp *resp, const char *key, const struct tg_check_limits *l,
		      bool denied);

/* "1s", "250ms", "1m30s": OpenAI's reset durations. */
void tg_check_duration(uint64_t ms, char *buf, size_t len);

#endif
