/* The local HTTP API: a small HTTP/1.1 server on the agent's libuv loop,
 * parsed with http-parser. Endpoints are rows of a route table. */
#ifndef TG_API_H
#define TG_API_H

#include <stdbool.h>
#include <stddef.h>
#include <uv.h>
#include "buf.h"

#define TG_API_MAX_REQUEST 8192   /* request line + headers + body, bytes */
#define TG_API_MAX_CONNS 64       /* concurrent connections */
#define TG_API_IDLE_MS 10000      /* idle keep-alive connections are closed */

#define TG_API_MAX_HEADERS 48     /* request headers kept; more: 431 */
#define TG_API_HEADER_BYTES 6144  /* their names and values, NUL-terminated */
#define TG_API_EXTRA_HEADERS 1024 /* a response's extra header lines */

struct tg_api_header {
	const char *name;   /* as sent; compare with strcasecmp */
	const char *value;  /* leading and trailing blanks removed */
};

struct tg_api_req {
	const char *method;  /* "GET", ... */
	const char *path;    /* decoded path without the query, NUL-terminated */
	const char *query;   /* raw query string without '?', "" when none */
	const struct tg_api_header *headers;
	size_t n_headers;
	const char *peer;    /* the connection's peer address (no port) */
};

/* The first header called name (case-insensitive), or NULL. */
const char *tg_api_req_header(const struct tg_api_req *req, const char *name);

struct tg_api_resp {
	int status;                /* 200 unless the handler sets it */
	const char *content_type;  /* "application/json" unless set */
	struct tg_buf body;        /* handler appends the body here */
	char retry_after[16];      /* extra header when non-empty */
	char extra[TG_API_EXTRA_HEADERS]; /* more "Name: value\r\n" lines */
	size_t extra_len;
};

/* Adds a response header line. Values with control characters, and lines
 * that do not fit, are left out (returns -1). No allocation. */
__attribute__((format(printf, 3, 4)))
int tg_api_resp_header(struct tg_api_resp *resp, const char *name, const char *fmt, ...);

typedef void (*tg_api_handler_fn)(void *ctx, const struct tg_api_req *req,
				  struct tg_api_resp *resp);

struct tg_api_route {
	const char *method; /* "*": any method */
	const char *path;  /* exact match, or a prefix when it ends with '/' */
	tg_api_handler_fn fn;
};

struct tg_api;

/* Listens on "host:port" (IPv4 or [IPv6]). Returns 0 or a negative errno. */
int tg_api_start(uv_loop_t *loop, const char *listen,
		 const struct tg_api_route *routes, size_t n_routes, void *ctx,
		 struct tg_api **out);
/* Closes the listener and every connection; frees in close callbacks.
 * Call on the loop's thread (a handler may call it too); the loop ends once
 * the close callbacks have run. The routes table must outlive the server. */
void tg_api_stop(struct tg_api *api);
/* The bound port (useful after listening on port 0). */
int tg_api_port(const struct tg_api *api);
/* Idle / slow-request bound for connections whose timer starts after this
 * call; TG_API_IDLE_MS by default. Mainly for tests. */
void tg_api_set_idle_ms(struct tg_api *api, unsigned int ms);

/* Copies query parameter `name` (percent-decoded) into out. Returns its
 * length, or -1 when absent or longer than len - 1. */
int tg_api_query_get(const char *query, const char *name, char *out, size_t len);

/* Parses "host:port" into a sockaddr. Returns 0 or -EINVAL. */
int tg_api_parse_listen(const char *listen, struct sockaddr_storage *ss);

#endif
