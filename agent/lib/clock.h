/* Clocks and RFC 3339 times: the one home of each. Monotonic ns time the
 * kernel's counters (bpf_ktime_get_ns is CLOCK_MONOTONIC); wall ns for
 * what people and receivers read. */
#ifndef TG_CLOCK_H
#define TG_CLOCK_H

#include <stddef.h>
#include <stdint.h>

/* "2026-11-28T09:20:01.123Z" and room */
#define TG_TIME_LEN 32

uint64_t tg_now_mono_ns(void);
uint64_t tg_now_wall_ns(void);
/* A CLOCK_MONOTONIC time (a kernel timestamp) as wall ns; a time in the
 * future is now. */
uint64_t tg_mono_to_wall_ns(uint64_t mono_ns);

/* RFC 3339, UTC, milliseconds. Years are clamped to 0000..9999 (what
 * RFC 3339 can write). */
void tg_format_time_ms(int64_t unix_ms, char *buf, size_t len);
void tg_format_time(uint64_t wall_ns, char *buf, size_t len);

/* Parses an RFC 3339 date-time (any offset, any fraction: milliseconds
 * kept) into Unix ms. Returns 0 or -EINVAL. */
int tg_parse_time(const char *s, int64_t *unix_ms);

#endif
