#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include "telemetry/reqlog_fmt.h"
#include "lib/addr.h"
#include "lib/clock.h"

static const char *const methods[TG_METHOD_MAX] = {
	[TG_METHOD_OTHER] = "other",   [TG_METHOD_GET] = "GET",
	[TG_METHOD_POST] = "POST",     [TG_METHOD_PUT] = "PUT",
	[TG_METHOD_HEAD] = "HEAD",     [TG_METHOD_DELETE] = "DELETE",
	[TG_METHOD_PATCH] = "PATCH",   [TG_METHOD_OPTIONS] = "OPTIONS",
	[TG_METHOD_CONNECT] = "CONNECT", [TG_METHOD_TRACE] = "TRACE",
};

static const char *const verdicts[TG_RV_MAX] = {
	[TG_RV_ALLOWED] = "allowed",
	[TG_RV_DENIED] = "denied",
	[TG_RV_WOULD_DENY] = "would_deny",
	[TG_RV_ABANDONED] = "abandoned",
};

const char *tg_method_name(unsigned int method)
{
	return method < TG_METHOD_MAX ? methods[method] : "other";
}

const char *tg_reqlog_verdict_name(unsigned int verdict)
{
	return verdict < TG_RV_MAX ? verdicts[verdict] : "allowed";
}

/* s as a JSON string, quotes included; 0 when it does not fit. */
static size_t json_str(char *out, size_t len, const char *s)
{
	size_t o = 0;

	if (len < 3)
		return 0;
	out[o++] = '"';
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (o + 7 >= len)
			return 0;
		if (c == '"' || c == '\\') {
			out[o++] = '\\';
			out[o++] = (char)c;
		} else if (c < 0x20 || c == 0x7f) {
			o += (size_t)snprintf(out + o, len - o, "\\u%04x", c);
		} else {
			out[o++] = (char)c;
		}
	}
	out[o++] = '"';
	out[o] = '\0';
	return o;
}

int tg_reqlog_format(const struct tg_reqlog_rec *r, uint64_t wall_ns,
		     const struct tg_reqlog_names *n, char *buf, size_t len)
{
	char t[TG_TIME_LEN], addr[64], key[80], route[80], model[80], status[8], ttfb[32];
	int w;

	tg_format_time(wall_ns, t, sizeof(t));
	tg_addr_format(&r->client, addr, sizeof(addr));
	if (!json_str(key, sizeof(key), n->key ? n->key : "other") ||
	    !json_str(route, sizeof(route), n->route ? n->route : "other"))
		return -1;
	if (!n->model)
		snprintf(model, sizeof(model), "null");
	else if (!json_str(model, sizeof(model), n->model))
		return -1;
	if (r->status)
		snprintf(status, sizeof(status), "%u", r->status);
	else
		snprintf(status, sizeof(status), "null");
	if (r->ttfb_ns)
		snprintf(ttfb, sizeof(ttfb), "%" PRIu64 ".%03" PRIu64, (uint64_t)r->ttfb_ns / 1000000,
			 (uint64_t)r->ttfb_ns / 1000 % 1000);
	else
		snprintf(ttfb, sizeof(ttfb), "null");
	w = snprintf(buf, len,
		     "{\"time\":\"%s\",\"client\":\"%s\",\"client_port\":%u,\"key\":%s,"
		     "\"route\":%s,\"model\":%s,\"method\":\"%s\",\"request_bytes\":%u,"
		     "\"verdict\":\"%s\",\"status\":%s,\"ttfb_ms\":%s}\n",
		     t, addr, r->client_port, key, route, model, tg_method_name(r->method),
		     r->request_bytes, tg_reqlog_verdict_name(r->verdict), status, ttfb);
	return w < 0 || (size_t)w >= len ? -1 : w;
}
