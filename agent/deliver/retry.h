/* When and whether to retry a webhook delivery. Pure logic. */
#ifndef TG_RETRY_H
#define TG_RETRY_H

#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#define TG_RETRY_BASE_MS 500
#define TG_RETRY_CAP_MS 60000

/* Exponential backoff with full jitter: a delay in [base, min(cap,
 * base * 2^attempt)] picked by rnd (any 32 random bits). attempt 0 is the
 * first retry. */
uint64_t tg_retry_backoff_ms(unsigned attempt, uint32_t base_ms, uint32_t cap_ms, uint32_t rnd);

/* A Retry-After value (delay-seconds or an HTTP-date) in ms from now;
 * -1 when malformed. Capped at 1 hour. */
int64_t tg_retry_after_ms(const char *value, time_t now);

/* An HTTP status worth a retry: 408, 429, 5xx. (Connection errors and
 * timeouts are retried too; they have no status.) */
bool tg_retry_status(long status);

#endif
