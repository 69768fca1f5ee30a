/* The local HTTP API: a small HTTP/1.1 server on the agent's libuv loop,
 * parsed with http-parser. Endpoints are rows of a route table. */
#ifndef TG_API_H
#define TG_API_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>
#include "api/api_hdrs.h" /* TG_API_MAX_REQUEST, TG_API_MAX_HEADERS */
#include "lib/buf.h"

#define TG_API_MAX_CONNS 64       /* connections served at once (a listener's default) */
#define TG_API_MAX_PER_PEER 32    /* of them from one TCP peer: half (tg_api_start) */
#define TG_API_IDLE_MS 10000      /* idle keep-alive connections are closed; and the
				     bound of a whole request */
#define TG_API_HEAD_MS 2000       /* a request's head, from its first byte (the
				     first request's: from the connection) */

#define TG_API_EXTRA_HEADERS 1024 /* a response's extra header lines */

struct tg_api_req {
	const char *method;  /* "GET", ... */
	const char *path;    /* decoded path without the query, NUL-terminated */
	const char *query;   /* raw query string without '?', "" when none */
	/* The request's headers as n_headers "name\0value\0" pairs: names in
	 * lower case, values without surrounding whitespace. Read them with
	 * tg_api_header(). */
	const char *headers;
	unsigned int n_headers;
	const char *peer;    /* the connection's peer address (no port) */
};

struct tg_api_resp {
	int status;                /* 200 unless the handler sets it */
	const char *content_type;  /* "application/json" unless set */
	struct tg_buf body;        /* handler appends the body here */
	char retry_after[16];      /* extra header when non-empty */
	char extra[TG_API_EXTRA_HEADERS]; /* more "Name: value\r\n" lines */
	size_t extra_len;
	/* Hold the answer about this long (0: at once; spread over 0.5..1.5
	 * times it). A client that waits for its answer asks nothing else
	 * meanwhile. Connections held so take at most half of the listener's
	 * slots; beyond, answers go at once. */
	unsigned int delay_ms;
};

/* Adds a response header line. Values with control characters, and lines
 * that do not fit, are left out (returns -1). No allocation. */
__attribute__((format(printf, 3, 4)))
int tg_api_resp_header(struct tg_api_resp *resp, const char *name, const char *fmt, ...);

typedef void (*tg_api_handler_fn)(void *ctx, const struct tg_api_req *req,
				  struct tg_api_resp *resp);

/* Route flags. */
/* With an API token set, the route accepts it only in X-Tollgate-Token, not
 * as "Authorization: Bearer": a gateway's check request carries the
 * client's own Authorization header. */
#define TG_API_NO_BEARER 0x1u

struct tg_api_route {
	const char *method; /* "*": any method */
	const char *path;  /* exact match, or a prefix when it ends with '/' */
	tg_api_handler_fn fn;
	unsigned int flags; /* TG_API_* route flags */
};

struct tg_api;

/* Listens on "host:port" (IPv4 or [IPv6]) with the defaults above (a Unix
 * socket: see tg_api_start_opts). Returns 0 or a negative errno. */
int tg_api_start(uv_loop_t *loop, const char *listen,
		 const struct tg_api_route *routes, size_t n_routes, void *ctx,
		 struct tg_api **out);

struct tg_api_opts {
	/* "host:port" (IPv4, [IPv6], localhost), or "unix:/absolute/path": a
	 * Unix socket, replacing a stale file of that name (a killed agent's)
	 * and removed by tg_api_stop */
	const char *listen;
	unsigned int max_conns;    /* served at once; 0: TG_API_MAX_CONNS. When
				      full, a newcomer displaces the connection
				      idle the longest (api_conns.h) */
	unsigned int max_per_peer; /* from one TCP peer group; 0: no such cap */
	int sock_uid, sock_gid;    /* a Unix socket's owner and group; -1: as made */
	unsigned int sock_mode;    /* a Unix socket's mode; 0: 0660 */
};

int tg_api_start_opts(uv_loop_t *loop, const struct tg_api_opts *o,
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
/* The request head's deadline, the same way; TG_API_HEAD_MS by default. */
void tg_api_set_head_ms(struct tg_api *api, unsigned int ms);

/* How the listener's connections fared. */
struct tg_api_stats {
	uint64_t open, max;      /* served now; at most */
	uint64_t accepted;       /* given a slot */
	uint64_t evicted;        /* closed to make room for a newcomer */
	uint64_t refused;        /* newcomers closed: nothing could make room */
	uint64_t timed_out;      /* closed before a request arrived in time */
	uint64_t delayed;        /* answers held for their delay_ms */
};

void tg_api_get_stats(const struct tg_api *api, struct tg_api_stats *out);

/* Requires a token on every request from now on: "Authorization: Bearer
 * <token>" (routes without TG_API_NO_BEARER) or "X-Tollgate-Token: <token>",
 * compared in constant time; a request without it gets a 401. NULL or ""
 * turns the check off. Only a digest is kept. Returns 0 or -EIO. */
int tg_api_set_token(struct tg_api *api, const char *token);

/* Replaces the body with {"error": msg} and sets the status. */
void tg_api_error(struct tg_api_resp *resp, int status, const char *msg);

/* The first value of header `name` (any case), or NULL when absent. */
const char *tg_api_header(const struct tg_api_req *req, const char *name);


#endif
