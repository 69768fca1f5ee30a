/* HTTP helpers without I/O: status reasons, percent-decoding, query
 * parameters and listen addresses. Shared by the API server, the config
 * validator and the command-line clients. */
#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>

#include "api/http_util.h"

const char *tg_http_reason(int status)
{
	static const struct { int code; const char *text; } reasons[] = {
		{ 200, "OK" }, { 201, "Created" }, { 202, "Accepted" },
		{ 204, "No Content" }, { 304, "Not Modified" }, { 400, "Bad Request" },
		{ 401, "Unauthorized" }, { 403, "Forbidden" }, { 404, "Not Found" },
		{ 405, "Method Not Allowed" }, { 408, "Request Timeout" },
		{ 409, "Conflict" }, { 413, "Content Too Large" }, { 414, "URI Too Long" },
		{ 415, "Unsupported Media Type" }, { 422, "Unprocessable Content" },
		{ 429, "Too Many Requests" }, { 431, "Request Header Fields Too Large" },
		{ 500, "Internal Server Error" }, { 501, "Not Implemented" },
		{ 502, "Bad Gateway" }, { 503, "Service Unavailable" },
		{ 504, "Gateway Timeout" },
	};
	size_t i;

	for (i = 0; i < sizeof(reasons) / sizeof(reasons[0]); i++)
		if (reasons[i].code == status)
			return reasons[i].text;
	return "Unknown";
}

static int hexval(char ch)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	if (ch >= 'a' && ch <= 'f')
		return ch - 'a' + 10;
	if (ch >= 'A' && ch <= 'F')
		return ch - 'A' + 10;
	return -1;
}

/* Decodes %XX (and '+' when plus) into a NUL-terminated out. -1 on a
 * malformed escape, an encoded NUL, or when out is too small. */
int tg_http_pct_decode(const char *s, size_t n, char *out, size_t outlen, bool plus)
{
	size_t i, o = 0;
	int hi, lo;
	char ch;

	for (i = 0; i < n; i++) {
		ch = s[i];
		if (ch == '%') {
			if (n - i < 3)
				return -1;
			hi = hexval(s[i + 1]);
			lo = hexval(s[i + 2]);
			if (hi < 0 || lo < 0 || (hi | lo) == 0)
				return -1;
			ch = (char)(hi << 4 | lo);
			i += 2;
		} else if (plus && ch == '+') {
			ch = ' ';
		}
		if (o + 1 >= outlen || o >= INT_MAX)
			return -1;
		out[o++] = ch;
	}
	if (!outlen)
		return -1;
	out[o] = '\0';
	return (int)o;
}

/* Names are compared as sent (not decoded); the first occurrence wins. A
 * value with a malformed escape or %00 counts as absent. */
int tg_http_query_get(const char *query, const char *name, char *out, size_t len)
{
	const char *p, *amp, *eq, *v;
	size_t nl;

	if (!query || !name || !out || !len)
		return -1;
	nl = strlen(name);
	for (p = query;; p = amp + 1) {
		amp = strchrnul(p, '&');
		eq = memchr(p, '=', (size_t)(amp - p));
		if ((size_t)((eq ? eq : amp) - p) == nl && memcmp(p, name, nl) == 0) {
			v = eq ? eq + 1 : amp;
			return tg_http_pct_decode(v, (size_t)(amp - v), out, len, true);
		}
		if (!*amp)
			return -1;
	}
}
