/* See check.h. */
#include <arpa/inet.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "apikey.h"
#include "bucket.h"
#include "api/check.h"
#include "bpf/quota_plan.h"
#include "telemetry/rates.h"
#include "lib/addr.h"
#include "lib/keyhash.h"

static int parse_addr(const char *s, size_t n, struct tg_addr *a)
{
	char buf[INET6_ADDRSTRLEN + 2];

	while (n && (*s == ' ' || *s == '\t'))
		s++, n--;
	while (n && (s[n - 1] == ' ' || s[n - 1] == '\t'))
		n--;
	/* "[v6]" as some proxies write it */
	if (n >= 2 && s[0] == '[' && s[n - 1] == ']')
		s++, n -= 2;
	if (!n || n >= sizeof(buf))
		return -1;
	memcpy(buf, s, n);
	buf[n] = '\0';
	return tg_addr_parse(buf, a);
}

int tg_check_addr(const char *s, struct tg_addr *a)
{
	return s ? parse_addr(s, strlen(s), a) : -1;
}

int tg_check_client(const struct tg_config *cfg, const char *real_ip, const char *xff,
		    struct tg_addr *client, const char **why)
{
	const char *end;
	bool from_xff = !real_ip || !*real_ip;

	if (from_xff && (!xff || !*xff)) {
		*why = "X-Real-IP or X-Forwarded-For is required (the client's address)";
		return -1;
	}
	if (!from_xff && parse_addr(real_ip, strlen(real_ip), client)) {
		*why = "X-Real-IP is not an IP address";
		return -1;
	}
	if (!from_xff && (!xff || !tg_config_trusted(cfg, client->w)))
		return 0;
	/* Right to left: the first hop that is not ours is the client. A
	 * malformed hop ends the walk: what lies left of it is unverifiable.
	 * Without X-Real-IP the gateway's own hop, the rightmost (its TCP
	 * peer, which Traefik's ForwardAuth appends), must parse. */
	end = xff + strlen(xff);
	if (from_xff) {
		const char *start = end;

		while (start > xff && start[-1] != ',')
			start--;
		if (parse_addr(start, (size_t)(end - start), client)) {
			*why = "X-Forwarded-For's last hop is not an IP address";
			return -1;
		}
	}
	while (end > xff) {
		const char *start = end;
		struct tg_addr hop;

		while (start > xff && start[-1] != ',')
			start--;
		if (parse_addr(start, (size_t)(end - start), &hop))
			break;
		*client = hop;
		if (!tg_config_trusted(cfg, hop.w))
			break;
		end = start > xff ? start - 1 : xff;
	}
	return 0;
}

void tg_check_client_key(const struct tg_config *cfg, const struct tg_addr *a, struct tg_addr *key)
{
	*key = *a;
	if (!tg_addr_is_v4(a))
		tg_addr_mask(key, cfg->ipv6_prefix);
}

/* The rules of apikey.h, as the kernel's scan applies them. */
uint64_t tg_check_key_hash(const char *v)
{
	uint64_t w = 0;
	size_t n;

	while (tg_key_blank((uint8_t)*v))
		v++;
	if (strnlen(v, 7) == 7) {
		memcpy(&w, v, 7);
		if (tg_key_bearer(w))
			for (v += 7; tg_key_blank((uint8_t)*v); v++)
				;
	}
	for (n = 0; v[n] && n < TG_APIKEY_MAX && !tg_key_end((uint8_t)v[n]); n++)
		;
	return n ? tg_apikey_hash(v, n) : 0;
}

static int u64_cmp(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

size_t tg_check_known_keys(const struct tg_config *cfg, uint64_t *out, size_t cap)
{
	size_t n = 0;

	for (int i = 0; i < cfg->n_quotas && n < cap; i++) {
		const struct tg_quota_entry *e = &cfg->quotas[i];

		if (e->match == TG_MATCH_API_KEY)
			out[n++] = tg_apikey_hash(e->api_key, strlen(e->api_key));
	}
	qsort(out, n, sizeof(*out), u64_cmp);
	return n;
}

uint64_t tg_check_request_key(const struct tg_config *cfg, const struct tg_api_req *req,
			      const uint64_t *known, size_t n_known)
{
	uint64_t first = 0;

	const char *name = req->headers, *value;

	/* headers: n_headers "name\0value\0" pairs, names in lower case */
	for (unsigned int i = 0; name && i < req->n_headers; i++, name = value + strlen(value) + 1) {
		uint64_t h;
		int k;

		value = name + strlen(name) + 1;
		for (k = 0; k < cfg->n_key_headers; k++)
			if (!strcmp(name, cfg->key_headers[k]))
				break;
		if (k == cfg->n_key_headers || !(h = tg_check_key_hash(value)))
			continue;
		if (n_known && bsearch(&h, known, n_known, sizeof(*known), u64_cmp))
			return h;
		if (!first)
			first = h;
	}
	return first;
}

static uint64_t ms_up(uint64_t ns)
{
	return (ns + 999999) / 1000000;
}

void tg_check_limits(const struct tg_quota *q, const struct tg_bucket *b, uint64_t now,
		     struct tg_check_limits *l)
{
	memset(l, 0, sizeof(*l));
	if (q->req_interval) {
		uint64_t tat = b->req_tat > now ? b->req_tat : now;
		int64_t tokens = tg_gcra_tokens(b->req_tat, now, q->req_interval, q->req_tolerance);

		l->requests = true;
		l->limit = q->req_tolerance / q->req_interval + 1;
		l->remaining = tokens > 0 ? (uint64_t)tokens : 0;
		l->reset_ms = ms_up(tat - now);
		/* one more is admitted once the TAT is within the tolerance */
		l->next_ms = tat - now > q->req_tolerance ? ms_up(tat - now - q->req_tolerance) : 0;
		l->rate = (1000000000ull + q->req_interval / 2) / q->req_interval;
	}
	if (q->byte_interval_fp) {
		uint64_t tat = b->byte_tat > now ? b->byte_tat : now;

		l->bytes = true;
		l->byte_limit = (uint64_t)tg_gcra_bytes_left(0, 0, q->byte_interval_fp, q->byte_tolerance);
		l->byte_remaining = tg_gcra_bytes_left(b->byte_tat, now, q->byte_interval_fp,
						       q->byte_tolerance);
		l->byte_reset_ms = ms_up(tat - now);
		l->byte_next_ms = tat - now > q->byte_tolerance
					  ? ms_up(tat - now - q->byte_tolerance) : 0;
	}
}

void tg_check_duration(uint64_t ms, char *buf, size_t len)
{
	if (ms < 1000)
		snprintf(buf, len, "%" PRIu64 "ms", ms);
	else if (ms < 60000)
		snprintf(buf, len, ms % 1000 ? "%" PRIu64 ".%03" PRIu64 "s" : "%" PRIu64 "s",
			 ms / 1000, ms % 1000);
	else
		snprintf(buf, len, "%" PRIu64 "m%" PRIu64 "s", ms / 60000, (ms % 60000 + 999) / 1000);
}

static uint64_t secs_up(uint64_t ms)
{
	return (ms + 999) / 1000;
}

void tg_check_headers(struct tg_api_resp *resp, const char *key, const struct tg_check_limits *l,
		      bool denied)
{
	char d[32];
	uint64_t wait_ms = 0;

	if (l->requests && l->next_ms > wait_ms)
		wait_ms = l->next_ms;
	if (l->bytes && l->byte_next_ms > wait_ms)
		wait_ms = l->byte_next_ms;
	if (denied) {
		uint64_t ra = secs_up(wait_ms);

		/* at least 1: "0" would invite an immediate retry */
		snprintf(resp->retry_after, sizeof(resp->retry_after), "%u",
			 (unsigned)(ra < 1 ? 1 : ra > 999999999 ? 999999999 : ra));
	}
	if (l->requests) {
		/* A bucket of `limit` refilled at `rate` a second: `limit` requests
		 * per limit/rate seconds. */
		uint64_t w = l->rate ? (l->limit + l->rate - 1) / l->rate : 1;

		tg_api_resp_header(resp, "RateLimit-Policy", "\"%s\";q=%" PRIu64 ";w=%" PRIu64,
				   key, l->limit, w ? w : 1);
		tg_api_resp_header(resp, "RateLimit", "\"%s\";r=%" PRIu64 ";t=%" PRIu64, key,
				   l->remaining, secs_up(l->remaining ? l->reset_ms : l->next_ms));
		tg_api_resp_header(resp, "X-RateLimit-Limit", "%" PRIu64, l->limit);
		tg_api_resp_header(resp, "X-RateLimit-Remaining", "%" PRIu64, l->remaining);
		tg_api_resp_header(resp, "X-RateLimit-Reset", "%" PRIu64, secs_up(l->reset_ms));
		tg_api_resp_header(resp, "x-ratelimit-limit-requests", "%" PRIu64, l->limit);
		tg_api_resp_header(resp, "x-ratelimit-remaining-requests", "%" PRIu64, l->remaining);
		tg_check_duration(l->remaining ? l->reset_ms : l->next_ms, d, sizeof(d));
		tg_api_resp_header(resp, "x-ratelimit-reset-requests", "%s", d);
	}
	if (l->bytes) {
		tg_api_resp_header(resp, "x-ratelimit-limit-tokens", "%" PRIu64, l->byte_limit);
		tg_api_resp_header(resp, "x-ratelimit-remaining-tokens", "%" PRId64,
				   l->byte_remaining > 0 ? l->byte_remaining : 0);
		tg_check_duration(l->byte_remaining > 0 ? l->byte_reset_ms : l->byte_next_ms, d,
				  sizeof(d));
		tg_api_resp_header(resp, "x-ratelimit-reset-tokens", "%s", d);
	}
}

uint64_t tg_check_sub_arg(const struct tg_route_table *rt, const char *uri,
			  const char (*models)[TG_MODEL_NAME_LEN], const bool *live,
			  const char *model)
{
	uint64_t route = TG_CK_NO_ROUTE;

	if (uri && *uri)
		route = (uint64_t)tg_route_table_match(rt, uri);
	return route | (uint64_t)(uint16_t)tg_model_id(models, live, TG_MODEL_IDS, model) << 16;
}

int tg_check_pick(const struct tg_check_limits *l, int n, int refused)
{
	int best = -1;

	if (refused >= 0 && refused < n && l[refused].requests)
		return refused;
	for (int i = 0; i < n; i++)
		if (l[i].requests && (best < 0 || l[i].remaining < l[best].remaining))
			best = i;
	return best;
}
