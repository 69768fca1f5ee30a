/* The route table both API harnesses serve (fuzz_api, fuzz_api_socket):
 * an exact route, a prefix route, a method wildcard, a route without
 * bearer tokens, and a handler that sets status, Retry-After and headers
 * from the request. */
#ifndef TG_FUZZ_API_ROUTES_H
#define TG_FUZZ_API_ROUTES_H
#include <string.h>
#include "api/api.h"
#include "api/http_util.h"

static void h_json(void *ctx, const struct tg_api_req *req, struct tg_api_resp *resp)
{
	char v[64];
	const char *a = tg_api_header(req, "x-a");

	(void)ctx;
	if (tg_http_query_get(req->query, "q", v, sizeof(v)) < 0)
		strcpy(v, "-");
	tg_buf_printf(&resp->body, "{\"path\":\"%zu\",\"q\":%zu}", strlen(req->path), strlen(v));
	tg_api_resp_header(resp, "X-Echo", "%s", a ? a : "-");
	tg_api_resp_header(resp, "X-Method", "%s", req->method);
}

static void h_limited(void *ctx, const struct tg_api_req *req, struct tg_api_resp *resp)
{
	(void)ctx;
	(void)req;
	resp->status = 429;
	strcpy(resp->retry_after, "3");
	tg_buf_printf(&resp->body, "{\"error\":\"slow down\"}");
}

static const struct tg_api_route fuzz_routes[] = {
	{ "*", "/any", h_json, 0 },
	{ "GET", "/v1/status", h_json, 0 },
	{ "GET", "/v1/clients/", h_json, 0 },
	{ "POST", "/v1/check/", h_json, TG_API_NO_BEARER },
	{ "GET", "/limited", h_limited, 0 },
};
#define FUZZ_N_ROUTES (sizeof(fuzz_routes) / sizeof(fuzz_routes[0]))

#endif
