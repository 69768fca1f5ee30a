/* One line per event on stderr, logfmt or JSON. A line is built whole and
 * written with one fwrite so lines from other threads do not interleave. */
#include "lib/log.h"
#include "lib/clock.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

int tg_log_level_cur = TG_LOG_INFO;
static int log_format = TG_LOG_LOGFMT;

static const char *const level_names[] = { "error", "warn", "info", "debug", NULL };
static const char *const format_names[] = { "logfmt", "json", NULL };

static int name_index(const char *const *names, const char *s)
{
	for (int i = 0; s && names[i]; i++)
		if (!strcmp(names[i], s))
			return i;
	return -1;
}

int tg_log_level_parse(const char *s)
{
	return name_index(level_names, s);
}

int tg_log_format_parse(const char *s)
{
	return name_index(format_names, s);
}

void tg_log_setup(int level, int format)
{
	if (level >= TG_LOG_ERROR && level <= TG_LOG_DEBUG)
		tg_log_level_cur = level;
	if (format == TG_LOG_LOGFMT || format == TG_LOG_JSON)
		log_format = format;
}

/* Writes the escape for byte c into esc (NUL-terminated); shared by logfmt
 * quoting and JSON strings, whose escapes agree. */
static void escape_byte(unsigned char c, char esc[8])
{
	switch (c) {
	case '"': strcpy(esc, "\\\""); break;
	case '\\': strcpy(esc, "\\\\"); break;
	case '\n': strcpy(esc, "\\n"); break;
	case '\r': strcpy(esc, "\\r"); break;
	case '\t': strcpy(esc, "\\t"); break;
	default:
		if (c < 0x20 || c == 0x7f)
			snprintf(esc, 8, "\\u%04x", c);
		else
			esc[0] = (char)c, esc[1] = '\0';
	}
}

static const char *quote_into(char *buf, size_t len, const char *s)
{
	size_t o = 0;
	char esc[8];

	if (len < 3)
		return "\"\"";
	buf[o++] = '"';
	for (; *s; s++) {
		escape_byte((unsigned char)*s, esc);
		size_t n = strlen(esc);
		if (o + n + 2 > len)
			break;
		memcpy(buf + o, esc, n);
		o += n;
	}
	buf[o++] = '"';
	buf[o] = '\0';
	return buf;
}

const char *tg_log_quote(char *buf, size_t len, const char *s)
{
	bool need;

	if (!s)
		s = "";
	need = !*s;
	for (const unsigned char *p = (const unsigned char *)s; *p && !need; p++)
		need = *p <= ' ' || *p == 0x7f || *p == '"' || *p == '=';
	return need ? quote_into(buf, len, s) : s;
}

/* ---- the line buffer ----------------------------------------------------- */

struct line {
	char buf[16384];
	size_t len;
	bool full; /* a put did not fit; the JSON writer rolls the member back */
};

/* Room kept for the closing of a JSON line after a truncated member. */
#define LINE_RESERVE 32

static void put(struct line *l, const char *s, size_t n)
{
	if (l->full || l->len + n > sizeof(l->buf) - LINE_RESERVE) {
		l->full = true;
		return;
	}
	memcpy(l->buf + l->len, s, n);
	l->len += n;
}

static void puts_(struct line *l, const char *s)
{
	put(l, s, strlen(s));
}

static void put_json_str(struct line *l, const char *s, size_t n)
{
	char esc[8];

	put(l, "\"", 1);
	for (size_t i = 0; i < n; i++) {
		escape_byte((unsigned char)s[i], esc);
		puts_(l, esc);
	}
	put(l, "\"", 1);
}

static bool is_hex(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

/* A logfmt quoted value (p after the opening quote) as a JSON string.
 * Returns the position after the closing quote. */
static const char *put_unquoted(struct line *l, const char *p)
{
	char esc[8];

	put(l, "\"", 1);
	for (; *p && *p != '"'; p++) {
		if (*p != '\\' || !p[1]) {
			escape_byte((unsigned char)*p, esc);
			puts_(l, esc);
			continue;
		}
		p++;
		if (*p == 'u' && is_hex(p[1]) && is_hex(p[2]) && is_hex(p[3]) && is_hex(p[4])) {
			put(l, p - 1, 6); /* JSON spells \uXXXX the same way */
			p += 4;
			continue;
		}
		char c = *p == 'n' ? '\n' : *p == 'r' ? '\r' : *p == 't' ? '\t' : *p;
		escape_byte((unsigned char)c, esc);
		puts_(l, esc);
	}
	put(l, "\"", 1);
	return *p ? p + 1 : p;
}

/* JSON number grammar, whole span. */
static bool is_number(const char *s, size_t n)
{
	size_t i = 0, d;

	if (i < n && s[i] == '-')
		i++;
	if (i < n && s[i] == '0')
		i++;
	else if (i < n && s[i] >= '1' && s[i] <= '9')
		while (i < n && s[i] >= '0' && s[i] <= '9')
			i++;
	else
		return false;
	if (i < n && s[i] == '.') {
		for (d = ++i; i < n && s[i] >= '0' && s[i] <= '9'; i++)
			;
		if (i == d)
			return false;
	}
	if (i < n && (s[i] == 'e' || s[i] == 'E')) {
		i++;
		if (i < n && (s[i] == '+' || s[i] == '-'))
			i++;
		for (d = i; i < n && s[i] >= '0' && s[i] <= '9'; i++)
			;
		if (i == d)
			return false;
	}
	return i == n;
}

/* key=value pairs as JSON members. A member that does not fit is dropped
 * along with the rest, and "truncated":true says so. */
static void kv_to_json(struct line *l, const char *p)
{
	while (*p) {
		size_t mark = l->len;
		const char *k, *v;

		while (*p == ' ')
			p++;
		if (!*p)
			break;
		for (k = p; *p && *p != '=' && *p != ' '; p++)
			;
		put(l, ",", 1);
		put_json_str(l, k, (size_t)(p - k));
		put(l, ":", 1);
		if (*p != '=') {
			puts_(l, "true"); /* a bare logfmt key is a flag */
		} else if (*++p == '"') {
			p = put_unquoted(l, p + 1);
		} else {
			for (v = p; *p && *p != ' '; p++)
				;
			if (is_number(v, (size_t)(p - v)))
				put(l, v, (size_t)(p - v));
			else
				put_json_str(l, v, (size_t)(p - v));
		}
		if (l->full) {
			l->len = mark;
			l->full = false;
			puts_(l, ",\"truncated\":true");
			return;
		}
	}
}

void tg_log_emit(int level, const char *msg, const char *kvfmt, ...)
{
	struct line l; /* 16 KiB of stack, not zeroed: only len bytes are used */
	char kv[4096] = "", ts[48], qbuf[1024];
	va_list ap;

	l.len = 0;
	l.full = false;
	if (kvfmt) {
		va_start(ap, kvfmt);
		vsnprintf(kv, sizeof(kv), kvfmt, ap);
		va_end(ap);
	}
	if (level < TG_LOG_ERROR || level > TG_LOG_DEBUG)
		level = TG_LOG_ERROR;
	if (!msg)
		msg = "";
	tg_format_time(tg_now_wall_ns(), ts, sizeof(ts));

	if (log_format == TG_LOG_JSON) {
		puts_(&l, "{\"ts\":\"");
		puts_(&l, ts);
		puts_(&l, "\",\"level\":\"");
		puts_(&l, level_names[level]);
		puts_(&l, "\",\"msg\":");
		/* Capped so that the closing quote always fits. */
		put_json_str(&l, msg, strnlen(msg, sizeof(qbuf)));
		kv_to_json(&l, kv);
		l.full = false;
		puts_(&l, "}");
	} else {
		puts_(&l, "ts=");
		puts_(&l, ts);
		puts_(&l, " level=");
		puts_(&l, level_names[level]);
		puts_(&l, " msg=");
		puts_(&l, tg_log_quote(qbuf, sizeof(qbuf), msg));
		if (kv[0]) {
			puts_(&l, " ");
			puts_(&l, kv);
		}
		l.full = false;
	}
	puts_(&l, "\n");
	fwrite(l.buf, 1, l.len, stderr);
}

void tg_log_fail(const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	tg_log_emit(TG_LOG_ERROR, msg, NULL);
}
