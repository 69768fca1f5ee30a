/* Growable byte buffer. data[len] is always '\0' once anything was
 * allocated, so text built here can be handed to C string functions. */
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/buf.h"

#define TG_BUF_MIN_CAP 256

void tg_buf_init(struct tg_buf *b)
{
	memset(b, 0, sizeof(*b));
}

void tg_buf_free(struct tg_buf *b)
{
	if (!b)
		return;
	free(b->data);
	tg_buf_init(b);
}

/* Clearing oom too: a reused buffer (one per connection) must not stay
 * poisoned by one oversized response. */
void tg_buf_reset(struct tg_buf *b)
{
	b->len = 0;
	b->oom = false;
	if (b->data)
		b->data[0] = '\0';
}

/* Makes room for n more bytes plus the terminating NUL. */
static int buf_reserve(struct tg_buf *b, size_t n)
{
	size_t need, cap;
	char *p;

	if (b->oom)
		return -ENOMEM;
	if (n > SIZE_MAX - b->len - 1)
		goto oom;
	need = b->len + n + 1;
	if (need <= b->cap)
		return 0;
	cap = b->cap ? b->cap : TG_BUF_MIN_CAP;
	while (cap < need) {
		if (cap > SIZE_MAX / 2)
			goto oom;
		cap *= 2;
	}
	p = realloc(b->data, cap);
	if (!p)
		goto oom;
	b->data = p;
	b->cap = cap;
	return 0;
oom:
	b->oom = true;
	return -ENOMEM;
}

int tg_buf_append(struct tg_buf *b, const void *p, size_t n)
{
	int err = buf_reserve(b, n);

	if (err)
		return err;
	if (n)
		memcpy(b->data + b->len, p, n);
	b->len += n;
	b->data[b->len] = '\0';
	return 0;
}

int tg_buf_printf(struct tg_buf *b, const char *fmt, ...)
{
	va_list ap;
	size_t room;
	int n, err;

	if (b->oom)
		return -ENOMEM;
	room = b->cap > b->len ? b->cap - b->len : 0;
	va_start(ap, fmt);
	n = vsnprintf(room ? b->data + b->len : NULL, room, fmt, ap);
	va_end(ap);
	if (n < 0)
		return -EINVAL;
	if ((size_t)n >= room) {
		err = buf_reserve(b, (size_t)n);
		if (err)
			return err;
		va_start(ap, fmt);
		vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
		va_end(ap);
	}
	b->len += (size_t)n;
	return 0;
}

/* Length of the well-formed UTF-8 sequence at s (RFC 3629 table 3-7),
 * or 0 with *bad set to the length of the maximal ill-formed prefix, which
 * is replaced by one U+FFFD (the Unicode "maximal subpart" practice). */
static size_t utf8_seq(const unsigned char *s, size_t *bad)
{
	unsigned char c = s[0], lo = 0x80, hi = 0xBF;
	size_t n, i;

	if (c >= 0xC2 && c <= 0xDF) {
		n = 2;
	} else if (c >= 0xE0 && c <= 0xEF) {
		n = 3;
		if (c == 0xE0)
			lo = 0xA0;
		else if (c == 0xED) /* no UTF-16 surrogates */
			hi = 0x9F;
	} else if (c >= 0xF0 && c <= 0xF4) {
		n = 4;
		if (c == 0xF0)
			lo = 0x90;
		else if (c == 0xF4) /* nothing above U+10FFFF */
			hi = 0x8F;
	} else {
		*bad = 1;
		return 0;
	}
	for (i = 1; i < n; i++) {
		/* a NUL terminator fails here too, so we never read past it */
		if (s[i] < lo || s[i] > hi) {
			*bad = i;
			return 0;
		}
		lo = 0x80;
		hi = 0xBF;
	}
	return n;
}

int tg_buf_json_str(struct tg_buf *b, const char *str)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *s = (const unsigned char *)str;
	size_t run, n, bad;
	char esc[6];

	if (!str)
		return tg_buf_append(b, "null", 4);
	tg_buf_append(b, "\"", 1);
	while (*s) {
		/* copy runs of bytes that need no escaping in one append */
		for (run = 0; s[run] >= 0x20 && s[run] < 0x80 && s[run] != '"' &&
			      s[run] != '\\'; run++)
			;
		if (run) {
			tg_buf_append(b, s, run);
			s += run;
			continue;
		}
		if (*s >= 0x80) {
			n = utf8_seq(s, &bad);
			if (n) {
				tg_buf_append(b, s, n);
				s += n;
			} else {
				tg_buf_append(b, "\xEF\xBF\xBD", 3);
				s += bad;
			}
			continue;
		}
		esc[0] = '\\';
		switch (*s) {
		case '"': esc[1] = '"'; n = 2; break;
		case '\\': esc[1] = '\\'; n = 2; break;
		case '\b': esc[1] = 'b'; n = 2; break;
		case '\f': esc[1] = 'f'; n = 2; break;
		case '\n': esc[1] = 'n'; n = 2; break;
		case '\r': esc[1] = 'r'; n = 2; break;
		case '\t': esc[1] = 't'; n = 2; break;
		default:
			memcpy(esc + 1, "u00", 3);
			esc[4] = hex[*s >> 4];
			esc[5] = hex[*s & 0xF];
			n = 6;
		}
		tg_buf_append(b, esc, n);
		s++;
	}
	return tg_buf_append(b, "\"", 1);
}

void *tg_grow(void *p, size_t *cap, size_t need, size_t elem, size_t first)
{
	size_t c = *cap ? *cap : first;
	void *q;

	/* With nothing allocated yet, even a need of 0 gets the first block:
	 * NULL must mean failure only (an empty map read at start is not out
	 * of memory). */
	if (p && need <= *cap)
		return p;
	while (c < need) {
		if (c > SIZE_MAX / 2)
			return NULL;
		c *= 2;
	}
	if (elem && c > SIZE_MAX / elem)
		return NULL;
	q = realloc(p, c * elem);
	if (q)
		*cap = c;
	return q;
}
