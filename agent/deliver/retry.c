/* Retry policy: exponential backoff with full jitter, Retry-After, and
 * which answers are worth another attempt. */
#include <ctype.h>
#include <string.h>

#include "deliver/retry.h"

#define RETRY_AFTER_CAP_MS (3600 * 1000LL)

uint64_t tg_retry_backoff_ms(unsigned attempt, uint32_t base_ms, uint32_t cap_ms, uint32_t rnd)
{
	uint64_t hi = cap_ms;

	/* base << 32 already exceeds any uint32_t cap. */
	if (attempt < 32 && ((uint64_t)base_ms << attempt) < hi)
		hi = (uint64_t)base_ms << attempt;
	if (hi <= base_ms)
		return base_ms;
	return base_ms + rnd % (hi - base_ms + 1);
}

static const char *skip_ws(const char *s)
{
	while (*s == ' ' || *s == '\t')
		s++;
	return s;
}

/* Digits into *v, exactly n of them when n > 0; returns the end or NULL. */
static const char *parse_num(const char *s, int n, int *v)
{
	int i = 0;

	*v = 0;
	while (isdigit((unsigned char)s[i]) && (n == 0 || i < n) && i < 9) {
		*v = *v * 10 + (s[i] - '0');
		i++;
	}
	if (i == 0 || (n > 0 && i != n))
		return NULL;
	return s + i;
}

static int month_index(const char *s)
{
	static const char months[] = "JanFebMarAprMayJunJulAugSepOctNovDec";
	int i;

	for (i = 0; i < 12; i++)
		if (strncmp(s, months + 3 * i, 3) == 0)
			return i;
	return -1;
}

static int day_name(const char *s, size_t n)
{
	static const char *const days[] = { "Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat" };
	static const char *const long_days[] = { "Sunday",   "Monday", "Tuesday", "Wednesday",
						 "Thursday", "Friday", "Saturday" };
	int i;

	for (i = 0; i < 7; i++)
		if ((n == 3 && strncmp(s, days[i], 3) == 0) ||
		    (n == strlen(long_days[i]) && strncmp(s, long_days[i], n) == 0))
			return i;
	return -1;
}

/* "hh:mm:ss" */
static const char *parse_clock(const char *s, struct tm *tm)
{
	if (!(s = parse_num(s, 2, &tm->tm_hour)) || *s++ != ':' ||
	    !(s = parse_num(s, 2, &tm->tm_min)) || *s++ != ':' ||
	    !(s = parse_num(s, 2, &tm->tm_sec)))
		return NULL;
	return s;
}

/* The three HTTP-date forms of RFC 9110 5.6.7: IMF-fixdate
 * "Sun, 06 Nov 1994 08:49:37 GMT", and the obsolete RFC 850
 * "Sunday, 06-Nov-94 08:49:37 GMT" and asctime "Sun Nov  6 08:49:37 1994". */
static int parse_http_date(const char *s, time_t *out)
{
	struct tm tm;
	const char *p = s;
	size_t n;
	int year;

	memset(&tm, 0, sizeof(tm));
	n = strspn(p, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz");
	if (day_name(p, n) < 0)
		return -1;
	p += n;
	if (*p == ',' && p[1] == ' ') {
		p += 2;
		if (!(p = parse_num(p, 2, &tm.tm_mday)))
			return -1;
		if (*p == ' ') { /* IMF-fixdate */
			if ((tm.tm_mon = month_index(p + 1)) < 0 || p[4] != ' ')
				return -1;
			if (!(p = parse_num(p + 5, 4, &year)))
				return -1;
		} else if (*p == '-') { /* RFC 850 */
			if ((tm.tm_mon = month_index(p + 1)) < 0 || p[4] != '-')
				return -1;
			if (!(p = parse_num(p + 5, 2, &year)))
				return -1;
			/* Two-digit years: the RFC's rule is "within 50 years";
			 * such a server is from the last century anyway. */
			year += year < 70 ? 2000 : 1900;
		} else {
			return -1;
		}
		if (*p++ != ' ' || !(p = parse_clock(p, &tm)) || strcmp(p, " GMT") != 0)
			return -1;
	} else if (*p == ' ' && n == 3) { /* asctime */
		if ((tm.tm_mon = month_index(p + 1)) < 0 || p[4] != ' ')
			return -1;
		p += 5;
		if (*p == ' ')
			p++;
		if (!(p = parse_num(p, 0, &tm.tm_mday)) || *p++ != ' ' ||
		    !(p = parse_clock(p, &tm)) || *p++ != ' ' || !(p = parse_num(p, 4, &year)) ||
		    *p != '\0')
			return -1;
	} else {
		return -1;
	}
	if (tm.tm_mday < 1 || tm.tm_mday > 31 || tm.tm_hour > 23 || tm.tm_min > 59 ||
	    tm.tm_sec > 60 || year < 1970)
		return -1;
	tm.tm_year = year - 1900;
	*out = timegm(&tm);
	return *out == (time_t)-1 ? -1 : 0;
}

int64_t tg_retry_after_ms(const char *value, time_t now)
{
	char buf[64];
	const char *s;
	size_t n;
	time_t when;

	if (!value)
		return -1;
	s = skip_ws(value);
	n = strlen(s);
	while (n > 0 && strchr(" \t\r\n", s[n - 1]))
		n--;
	if (n == 0 || n >= sizeof(buf))
		return -1;
	memcpy(buf, s, n);
	buf[n] = '\0';

	if (isdigit((unsigned char)buf[0])) {
		int64_t ms = 0;
		size_t i;

		for (i = 0; i < n; i++) {
			if (!isdigit((unsigned char)buf[i]))
				return -1;
			if (ms < RETRY_AFTER_CAP_MS)
				ms = ms * 10 + (buf[i] - '0') * 1000;
		}
		return ms < RETRY_AFTER_CAP_MS ? ms : RETRY_AFTER_CAP_MS;
	}
	if (parse_http_date(buf, &when) < 0)
		return -1;
	if (when <= now)
		return 0;
	if (when - now >= RETRY_AFTER_CAP_MS / 1000)
		return RETRY_AFTER_CAP_MS;
	return (int64_t)(when - now) * 1000;
}

bool tg_retry_status(long status)
{
	return status == 408 || status == 429 || (status >= 500 && status <= 599);
}
