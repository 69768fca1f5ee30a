/* The local HTTP API server: libuv for I/O, http-parser for HTTP/1.x.
 *
 * One request at a time per connection: the parser is paused at the end of
 * each message and reading stops while its response is written, so
 * pipelined requests already in the read buffer are answered in order
 * without a queue. Memory per connection is fixed (read buffer, URL, path,
 * headers, two reusable response buffers).
 *
 * With a token set, every request must carry it (see tg_api_set_token and
 * api_hdrs.c), checked before routing so that nothing about the routes
 * answers a request without it.
 *
 * Holding connections open must not lock others out: a request's head has
 * a short deadline, a full server closes a connection that does nothing
 * for a newcomer, and one TCP peer may hold only so many (api_conns.h). */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <strings.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <http_parser.h>

#include "api/api.h"
#include "api/api_conns.h"
#include "api/api_hdrs.h"
#include "api/api_listen.h"
#include "api/http_util.h"

/* Smaller than TG_API_MAX_REQUEST: the parser streams, rbuf never holds a
 * whole request, only what one read returned. */
#define TG_API_READ_BUF 4096
#define TG_API_MAX_URL 2048
#define TG_API_LINGER_MS 1000 /* drain time after an error before the close */
#define TG_API_BACKLOG 128

/* A TCP or a Unix stream: the same code serves both. */
union stream {
	uv_handle_t h;
	uv_stream_t s;
	uv_tcp_t tcp;
	uv_pipe_t pipe;
};

struct tg_api {
	union stream listener;
	uv_loop_t *loop;
	const struct tg_api_route *routes;
	size_t n_routes;
	void *ctx;
	struct tg_api_bound bound;
	struct tg_conn_limits lim;
	/* the open connections (closing ones leave the table), lim.max slots */
	struct tg_conn_slot **slots;
	unsigned int n_open;
	unsigned int n_held;    /* open connections whose answer waits (delay_ms) */
	uint32_t rng;           /* xorshift32 state: held answers' spread */
	unsigned int n_conns;   /* allocated connections, closing ones included */
	unsigned int idle_ms, head_ms;
	bool stopping, listener_closed;
	struct tg_api_token token;
	struct tg_api_stats st;
};

struct conn {
	union stream io;
	uv_timer_t timer;
	uv_write_t wreq;
	uv_shutdown_t sreq;
	struct tg_api *api;
	struct tg_conn_slot slot;
	bool in_table;          /* slot is in api->slots */
	uint64_t req_start;     /* loop ms: the current request's first byte */
	http_parser parser;
	int handles;            /* open uv handles; memory is freed at 0 */
	bool reading, writing, draining, closing, close_after;
	bool processing;        /* conn_process's loop is running */
	bool held;              /* the answer waits for its delay_ms */
	bool peer_eof;          /* the peer stopped sending while answered */
	bool msg_done, headers_done, keep_alive, head;
	bool challenge;         /* a 401: the response says how to authenticate */
	int err_status;         /* why a parser callback aborted, 0 if it did not */
	const char *err_msg;    /* ... and the error body's message */
	size_t req_bytes, body_bytes;
	size_t rpos, rlen;      /* unparsed bytes of rbuf: pipelined requests */
	size_t url_len;
	struct tg_api_resp resp;
	struct tg_buf hdr;
	char allow[64];
	char peer[64];
	char url[TG_API_MAX_URL + 1];
	char path[TG_API_MAX_URL + 1];
	struct tg_api_hdrs hdrs;
	char rbuf[TG_API_READ_BUF];
};

static void conn_process(struct conn *c);
static void conn_read(struct conn *c, bool on);

#define conn_of(s) ((struct conn *)((char *)(s) - offsetof(struct conn, slot)))

/* ---- connection lifetime --------------------------------------------- */

static void api_maybe_free(struct tg_api *api)
{
	if (api->stopping && api->listener_closed && api->n_conns == 0) {
		tg_api_token_clear(&api->token);
		free(api->slots);
		free(api);
	}
}

static void conn_phase(struct conn *c, enum tg_conn_phase p)
{
	c->slot.phase = p;
	c->slot.since_ms = uv_now(c->api->loop);
}

static void table_add(struct tg_api *api, struct conn *c)
{
	c->slot.index = api->n_open;
	api->slots[api->n_open++] = &c->slot;
	c->in_table = true;
}

static void table_remove(struct tg_api *api, struct conn *c)
{
	unsigned int i = c->slot.index;

	if (!c->in_table)
		return;
	c->in_table = false;
	api->slots[i] = api->slots[--api->n_open];
	api->slots[i]->index = i;
}

static void on_conn_closed(uv_handle_t *h)
{
	struct conn *c = h->data;
	struct tg_api *api = c->api;

	if (--c->handles > 0)
		return;
	tg_buf_free(&c->resp.body);
	tg_buf_free(&c->hdr);
	free(c);
	api->n_conns--;
	api_maybe_free(api);
}

static void conn_close(struct conn *c)
{
	if (c->closing)
		return;
	c->closing = true;
	if (c->held)
		c->api->n_held--;
	c->held = false;
	table_remove(c->api, c);
	uv_close(&c->io.h, on_conn_closed);
	uv_close((uv_handle_t *)&c->timer, on_conn_closed);
}

/* Never re-armed by reads: a request's head has to arrive within one
 * period and the request within another, which is what bounds a slowloris
 * client. */
static void on_timer(uv_timer_t *t)
{
	struct conn *c = t->data;

	if (c->slot.phase == TG_CONN_NEW || c->slot.phase == TG_CONN_REQUEST)
		c->api->st.timed_out++;
	conn_close(c);
}

/* The deadline of a request's head: head_ms from its first byte (for the
 * first request, from the connection), and never past the whole request's. */
static void timer_head(struct conn *c)
{
	struct tg_api *api = c->api;

	uv_timer_start(&c->timer, on_timer, api->head_ms < api->idle_ms ? api->head_ms : api->idle_ms,
		       0);
}

/* What is left of idle_ms since the request's first byte: for its body. */
static void timer_request(struct conn *c)
{
	uint64_t end = c->req_start + c->api->idle_ms, now = uv_now(c->api->loop);

	uv_timer_start(&c->timer, on_timer, end > now ? end - now : 1, 0);
}

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
	struct conn *c = h->data;

	/* reading only runs once rbuf is fully consumed (see conn_process) */
	*buf = uv_buf_init(c->rbuf, sizeof(c->rbuf));
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
	struct conn *c = s->data;

	if (nread == 0)
		return;
	/* A half-close after the request while its answer is on its way: the
	 * answer goes out, then the connection closes. */
	if (nread == UV_EOF && (c->writing || c->held) && !c->draining) {
		c->peer_eof = true;
		conn_read(c, false);
		return;
	}
	if (nread < 0) {
		conn_close(c);
		return;
	}
	if (c->draining)
		return;
	c->rpos = 0;
	c->rlen = (size_t)nread;
	/* Reading goes on while an answer is out (see conn_send): what comes
	 * meanwhile waits in rbuf, unparsed, and nothing more is read. */
	if (c->writing || c->held) {
		conn_read(c, false);
		return;
	}
	conn_process(c);
}

static void conn_read(struct conn *c, bool on)
{
	if (on && !c->reading) {
		if (uv_read_start(&c->io.s, on_alloc, on_read)) {
			conn_close(c);
			return;
		}
		c->reading = true;
	} else if (!on && c->reading) {
		uv_read_stop(&c->io.s);
		c->reading = false;
	}
}

/* While an answer is out, reading stops only if rbuf holds unparsed bytes
 * (pipelined requests) a read would overwrite. A gateway sends its next
 * check only after the answer, so its connections keep their read watcher:
 * no pair of epoll_ctl calls per request. */
static void conn_read_pause(struct conn *c)
{
	if (c->rpos < c->rlen)
		conn_read(c, false);
}

static void on_shutdown(uv_shutdown_t *req, int status)
{
	struct conn *c = req->data;

	if (status < 0)
		conn_close(c);
}

/* Closing right after the last write would turn unread input (the rest of
 * an oversized request) into a RST that can destroy the response on its way
 * to the client. So: FIN, read and discard until EOF or a short timer. */
static void conn_linger(struct conn *c)
{
	c->draining = true;
	conn_phase(c, TG_CONN_CLOSING);
	c->rpos = c->rlen = 0;
	if (uv_shutdown(&c->sreq, &c->io.s, on_shutdown)) {
		conn_close(c);
		return;
	}
	uv_timer_start(&c->timer, on_timer, TG_API_LINGER_MS, 0);
	conn_read(c, true);
}

/* An answer is out: the connection closes, or waits for the next request. */
static void conn_sent(struct conn *c)
{
	if (c->close_after) {
		conn_linger(c);
		return;
	}
	conn_phase(c, TG_CONN_IDLE);
	uv_timer_start(&c->timer, on_timer, c->api->idle_ms, 0);
	conn_process(c);
}

static void on_write(uv_write_t *req, int status)
{
	struct conn *c = req->data;

	c->writing = false;
	if (c->closing)
		return;
	if (status < 0) {
		conn_close(c);
		return;
	}
	conn_sent(c);
}

/* ---- responses ------------------------------------------------------- */

static void resp_prepare(struct tg_api_resp *r, int status)
{
	r->status = status;
	r->content_type = "application/json";
	tg_buf_reset(&r->body);
	r->retry_after[0] = '\0';
	r->extra_len = 0;
	r->delay_ms = 0;
}

/* Decimal digits of v into buf (at least 21 bytes), not terminated;
 * returns how many. */
static size_t u64_digits(char *buf, uint64_t v)
{
	char tmp[20];
	size_t n = 0;

	do
		tmp[n++] = (char)('0' + v % 10);
	while ((v /= 10));
	for (size_t i = 0; i < n; i++)
		buf[i] = tmp[n - 1 - i];
	return n;
}

/* snprintf's contract (the length it wanted, what fits copied and
 * terminated) for the two formats most header values take: every answer
 * to a check carries several, and printf was a tenth of the agent's time
 * under a gateway's checks. Anything else goes to vsnprintf. */
static int format_value(char *out, size_t room, const char *fmt, va_list ap)
{
	char num[24];
	const char *s;
	size_t n;

	if (!strcmp(fmt, "%s")) {
		s = va_arg(ap, const char *);
		n = strlen(s);
	} else if (!strcmp(fmt, "%" PRIu64)) {
		n = u64_digits(num, va_arg(ap, uint64_t));
		s = num;
	} else {
		return vsnprintf(out, room, fmt, ap);
	}
	if (room) {
		memcpy(out, s, n < room ? n : room - 1);
		out[n < room ? n : room - 1] = '\0';
	}
	return n > INT_MAX ? -1 : (int)n;
}

int tg_api_resp_header(struct tg_api_resp *r, const char *name, const char *fmt, ...)
{
	size_t room = sizeof(r->extra) - r->extra_len, start = r->extra_len, nl = strlen(name);
	va_list ap;
	int v;
	size_t n;

	if (nl + 2 >= room)
		return -1;
	memcpy(r->extra + start, name, nl);
	memcpy(r->extra + start + nl, ": ", 2);
	n = nl + 2;
	va_start(ap, fmt);
	v = format_value(r->extra + start + n, room - n, fmt, ap);
	va_end(ap);
	if (v < 0 || n + (size_t)v + 2 >= room)
		goto undo;
	n += (size_t)v;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)r->extra[start + i] < 0x20 || r->extra[start + i] == 0x7f)
			goto undo;
	memcpy(r->extra + start + n, "\r\n", 2);
	r->extra_len = start + n + 2;
	return 0;
undo:
	r->extra[start] = '\0';
	return -1;
}

static void resp_error(struct tg_api_resp *r, int status, const char *msg)
{
	resp_prepare(r, status);
	tg_buf_append(&r->body, "{\"error\":", 9);
	tg_buf_json_str(&r->body, msg);
	tg_buf_append(&r->body, "}", 1);
}

/* A handler's extra header value must not be able to split the response. */
static bool header_value_ok(const char *v, size_t max)
{
	const char *end = memchr(v, '\0', max);

	if (!end || end == v)
		return false;
	for (; v < end; v++)
		if ((unsigned char)*v < 0x20 || *v == 0x7f)
			return false;
	return true;
}

/* "name: value\r\n", or name alone when value is NULL. */
static void hdr_put(struct tg_buf *b, const char *name, const char *value)
{
	tg_buf_append(b, name, strlen(name));
	if (!value)
		return;
	tg_buf_append(b, ": ", 2);
	tg_buf_append(b, value, strlen(value));
	tg_buf_append(b, "\r\n", 2);
}

static void conn_send(struct conn *c, bool keep_alive)
{
	struct tg_api_resp *r = &c->resp;
	uv_buf_t bufs[2];
	unsigned int nbufs = 1, i = 0;
	char num[24];
	size_t len, done;
	int n;

	if (r->status < 100 || r->status > 599 || r->body.oom)
		resp_error(r, 500, "internal error");
	if (!r->content_type || r->content_type[strcspn(r->content_type, "\r\n")])
		r->content_type = "application/json";
	keep_alive = keep_alive && !c->api->stopping;
	/* A 204 has no body and must not announce one (RFC 9110 8.6). */
	if (r->status == 204)
		tg_buf_reset(&r->body);
	tg_buf_reset(&c->hdr);
	hdr_put(&c->hdr, "HTTP/1.1 ", NULL);
	len = u64_digits(num, (uint64_t)r->status);
	num[len++] = ' ';
	tg_buf_append(&c->hdr, num, len);
	hdr_put(&c->hdr, tg_http_reason(r->status), NULL);
	hdr_put(&c->hdr, "\r\n", NULL);
	if (r->body.len)
		hdr_put(&c->hdr, "Content-Type", r->content_type);
	if (r->status != 204) {
		len = u64_digits(num, r->body.len);
		num[len] = '\0';
		hdr_put(&c->hdr, "Content-Length", num);
	}
	hdr_put(&c->hdr, "Connection", keep_alive ? "keep-alive" : "close");
	if (c->allow[0])
		hdr_put(&c->hdr, "Allow", c->allow);
	if (header_value_ok(r->retry_after, sizeof(r->retry_after)))
		hdr_put(&c->hdr, "Retry-After", r->retry_after);
	if (r->extra_len && r->extra_len < sizeof(r->extra))
		tg_buf_append(&c->hdr, r->extra, r->extra_len);
	if (c->challenge)
		hdr_put(&c->hdr, "WWW-Authenticate", "Bearer");
	tg_buf_append(&c->hdr, "\r\n", 2);
	if (c->hdr.oom) {
		conn_close(c);
		return;
	}
	bufs[0] = uv_buf_init(c->hdr.data, (unsigned int)c->hdr.len);
	if (!c->head && r->body.len)
		bufs[nbufs++] = uv_buf_init(r->body.data, (unsigned int)r->body.len);
	c->allow[0] = '\0';
	c->head = false;
	c->challenge = false;
	c->close_after = !keep_alive || c->peer_eof;
	/* The socket nearly always takes a small answer at once: written here,
	 * it needs no write request, whose completion would have libuv drop
	 * the write watcher with an epoll_ctl per answer. */
	n = uv_try_write(&c->io.s, bufs, nbufs);
	if (n < 0 && n != UV_EAGAIN) {
		conn_close(c);
		return;
	}
	done = n > 0 ? (size_t)n : 0;
	while (i < nbufs && done >= bufs[i].len)
		done -= bufs[i++].len;
	if (i == nbufs) {
		conn_sent(c);
		return;
	}
	bufs[i].base += done;
	bufs[i].len -= done;
	if (uv_write(&c->wreq, &c->io.s, bufs + i, nbufs - i, on_write)) {
		conn_close(c);
		return;
	}
	c->writing = true;
	conn_phase(c, TG_CONN_BUSY);
	/* What the socket did not take at once (a big answer, a slow reader)
	 * gets idle_ms, not what is left of the head's deadline. */
	if (uv_stream_get_write_queue_size(&c->io.s))
		uv_timer_start(&c->timer, on_timer, c->api->idle_ms, 0);
	conn_read_pause(c);
}

static void on_held(uv_timer_t *t)
{
	struct conn *c = t->data;

	c->held = false;
	c->api->n_held--;
	conn_send(c, c->keep_alive);
}

/* The answer is ready but waits about delay_ms, and the connection counts
 * as one being answered (never displaced). The wait is spread over
 * 0.5..1.5 delay_ms: answers held at once (a client's many connections,
 * answered together) would otherwise come back at once, again and again,
 * in bursts that every other request waits behind. */
static void conn_hold(struct conn *c)
{
	struct tg_api *api = c->api;
	uint64_t d = c->resp.delay_ms;

	api->rng ^= api->rng << 13;
	api->rng ^= api->rng >> 17;
	api->rng ^= api->rng << 5;
	c->held = true;
	api->n_held++;
	api->st.delayed++;
	conn_phase(c, TG_CONN_BUSY);
	conn_read_pause(c);
	uv_timer_start(&c->timer, on_held, d / 2 + api->rng % (d + 1), 0);
}

static void conn_error(struct conn *c, int status, const char *msg, bool keep_alive)
{
	resp_error(&c->resp, status, msg);
	conn_send(c, keep_alive);
}

/* ---- requests -------------------------------------------------------- */

/* 0: no match; larger is more specific; an exact match beats any prefix. */
static size_t route_score(const char *rpath, const char *path)
{
	size_t n = strlen(rpath);

	if (strcmp(rpath, path) == 0)
		return SIZE_MAX;
	if (n && rpath[n - 1] == '/' && strncmp(rpath, path, n) == 0)
		return n;
	return 0;
}

static void allow_add(char *allow, size_t cap, const char *m)
{
	size_t len = strlen(allow);

	snprintf(allow + len, cap - len, "%s%s", len ? ", " : "", m);
}

/* The Allow list of the best-matching route group, duplicates removed,
 * HEAD implied by GET. */
static void build_allow(struct conn *c, const char *path, size_t best)
{
	const struct tg_api_route *rt = c->api->routes;
	size_t i, j, n = c->api->n_routes;
	bool get = false, head = false, dup;

	c->allow[0] = '\0';
	for (i = 0; i < n; i++) {
		if (route_score(rt[i].path, path) != best)
			continue;
		for (dup = false, j = 0; j < i && !dup; j++)
			dup = route_score(rt[j].path, path) == best &&
			      strcmp(rt[j].method, rt[i].method) == 0;
		if (dup)
			continue;
		get |= strcmp(rt[i].method, "GET") == 0;
		head |= strcmp(rt[i].method, "HEAD") == 0;
		allow_add(c->allow, sizeof(c->allow), rt[i].method);
	}
	if (get && !head)
		allow_add(c->allow, sizeof(c->allow), "HEAD");
}

static const struct tg_api_route *route_find(struct conn *c, const char *method,
					     const char *path, size_t *best)
{
	const struct tg_api_route *rt = c->api->routes;
	size_t i, s, n = c->api->n_routes;
	int pass;

	*best = 0;
	for (i = 0; i < n; i++) {
		s = route_score(rt[i].path, path);
		if (s > *best)
			*best = s;
	}
	if (!*best)
		return NULL;
	/* a HEAD request falls back to the GET handler; the body is dropped */
	for (pass = 0; pass < 2; pass++) {
		for (i = 0; i < n; i++)
			if (route_score(rt[i].path, path) == *best &&
			    (strcmp(rt[i].method, method) == 0 || strcmp(rt[i].method, "*") == 0))
				return &rt[i];
		if (strcmp(method, "HEAD") != 0)
			break;
		method = "GET";
	}
	return NULL;
}

/* The matched route's flags; without one (404, 405) those of any route
 * of the best-matching group, so its token rule still holds. */
static unsigned int route_flags(struct conn *c, const struct tg_api_route *rt, size_t best)
{
	unsigned int flags = 0;

	if (rt)
		return rt->flags;
	for (size_t i = 0; best && i < c->api->n_routes; i++)
		if (route_score(c->api->routes[i].path, c->path) == best)
			flags |= c->api->routes[i].flags;
	return flags;
}

static void conn_dispatch(struct conn *c)
{
	struct http_parser_url u;
	const struct tg_api_route *rt;
	struct tg_api_req req;
	const char *method = http_method_str(c->parser.method);
	const char *query = "";
	size_t best;

	c->head = c->parser.method == HTTP_HEAD;
	c->url[c->url_len] = '\0';
	http_parser_url_init(&u);
	if (http_parser_parse_url(c->url, c->url_len, 0, &u) ||
	    !(u.field_set & (1 << UF_PATH))) {
		conn_error(c, 400, "bad request target", false);
		return;
	}
	if (tg_http_pct_decode(c->url + u.field_data[UF_PATH].off, u.field_data[UF_PATH].len,
		       c->path, sizeof(c->path), false) < 0) {
		conn_error(c, 400, "bad path encoding", false);
		return;
	}
	if (u.field_set & (1 << UF_QUERY)) {
		query = c->url + u.field_data[UF_QUERY].off;
		/* cuts off a fragment; the path was decoded already */
		c->url[u.field_data[UF_QUERY].off + u.field_data[UF_QUERY].len] = '\0';
	}
	rt = route_find(c, method, c->path, &best);
	/* before 404/405: without the token, nothing about the routes leaks */
	if (!tg_api_token_ok(&c->api->token, &c->hdrs,
			     !(route_flags(c, rt, best) & TG_API_NO_BEARER))) {
		c->challenge = true;
		conn_error(c, 401, "missing or invalid API token", c->keep_alive);
		return;
	}
	if (!rt) {
		if (best) {
			build_allow(c, c->path, best);
			conn_error(c, 405, "method not allowed", c->keep_alive);
		} else {
			conn_error(c, 404, "not found", c->keep_alive);
		}
		return;
	}
	req.method = method;
	req.path = c->path;
	req.query = query;
	req.headers = c->hdrs.buf;
	req.n_headers = c->hdrs.n;
	req.peer = c->peer;
	resp_prepare(&c->resp, 200);
	rt->fn(c->api->ctx, &req, &c->resp);
	if (c->closing) /* the handler stopped the server */
		return;
	if (c->resp.delay_ms && c->api->n_held < c->api->lim.max / 2) {
		conn_hold(c);
		return;
	}
	conn_send(c, c->keep_alive);
}

static int cb_begin(http_parser *p)
{
	struct conn *c = p->data;

	/* a connection's first request keeps the deadline set at accept */
	if (c->slot.phase == TG_CONN_NEW) {
		c->req_start = c->slot.since_ms;
	} else {
		c->req_start = uv_now(c->api->loop);
		timer_head(c);
	}
	c->slot.phase = TG_CONN_REQUEST;
	c->slot.since_ms = c->req_start;
	c->url_len = 0;
	c->body_bytes = 0;
	c->headers_done = false;
	tg_api_hdrs_reset(&c->hdrs);
	return 0;
}

static int cb_url(http_parser *p, const char *at, size_t n)
{
	struct conn *c = p->data;

	if (n > TG_API_MAX_URL - c->url_len) {
		c->err_status = 414;
		c->err_msg = "uri too long";
		return -1;
	}
	memcpy(c->url + c->url_len, at, n);
	c->url_len += n;
	return 0;
}

static int hdr_result(struct conn *c, const char *msg)
{
	if (!msg)
		return 0;
	c->err_status = 431;
	c->err_msg = msg;
	return -1;
}

static int cb_header_field(http_parser *p, const char *at, size_t n)
{
	struct conn *c = p->data;

	return hdr_result(c, tg_api_hdrs_name(&c->hdrs, at, n));
}

static int cb_header_value(http_parser *p, const char *at, size_t n)
{
	struct conn *c = p->data;

	return hdr_result(c, tg_api_hdrs_value(&c->hdrs, at, n));
}

static int cb_headers_complete(http_parser *p)
{
	struct conn *c = p->data;

	tg_api_hdrs_finish(&c->hdrs);
	c->headers_done = true;
	/* refuse a declared oversized body before reading any of it */
	if (p->content_length != ULLONG_MAX && p->content_length > TG_API_MAX_REQUEST) {
		c->err_status = 413;
		c->err_msg = "request too large";
		return -1;
	}
	/* the head is in: a body gets the rest of the request's time */
	if ((p->content_length != ULLONG_MAX && p->content_length > 0) || (p->flags & F_CHUNKED))
		timer_request(c);
	return 0;
}

static int cb_body(http_parser *p, const char *at, size_t n)
{
	struct conn *c = p->data;

	c->body_bytes += n;
	return 0;
}

static int cb_message_complete(http_parser *p)
{
	struct conn *c = p->data;

	tg_api_hdrs_finish(&c->hdrs);
	c->msg_done = true;
	c->keep_alive = http_should_keep_alive(p) && !p->upgrade;
	/* http_parser_execute returns right after this message */
	http_parser_pause(p, 1);
	return 0;
}

static const http_parser_settings parser_settings = {
	.on_message_begin = cb_begin,
	.on_url = cb_url,
	.on_header_field = cb_header_field,
	.on_header_value = cb_header_value,
	.on_headers_complete = cb_headers_complete,
	.on_body = cb_body,
	.on_message_complete = cb_message_complete,
};

static void conn_too_large(struct conn *c, bool headers_too_large)
{
	if (headers_too_large)
		conn_error(c, 431, "request headers too large", false);
	else
		conn_error(c, 413, "request too large", false);
}

static void conn_process(struct conn *c)
{
	size_t avail, n;
	enum http_errno e;
	bool big, hdr_big;

	/* An answer written at once comes back here (conn_sent): the loop
	 * below, already running, goes on with the next request. */
	if (c->processing)
		return;
	c->processing = true;
	while (!c->writing && !c->held && !c->closing && !c->draining && c->rpos < c->rlen) {
		avail = c->rlen - c->rpos;
		n = http_parser_execute(&c->parser, &parser_settings, c->rbuf + c->rpos, avail);
		e = HTTP_PARSER_ERRNO(&c->parser);
		c->rpos += n;
		c->req_bytes += n;
		if (c->msg_done) {
			c->msg_done = false;
			http_parser_pause(&c->parser, 0);
			big = c->req_bytes > TG_API_MAX_REQUEST;
			hdr_big = c->req_bytes - c->body_bytes > TG_API_MAX_REQUEST;
			c->req_bytes = 0;
			if (big)
				conn_too_large(c, hdr_big);
			else
				conn_dispatch(c);
		} else if (e != HPE_OK) {
			if (c->err_status)
				conn_error(c, c->err_status, c->err_msg, false);
			else
				conn_error(c, 400, http_errno_description(e), false);
		} else if (c->req_bytes > TG_API_MAX_REQUEST) {
			conn_too_large(c, !c->headers_done);
		} else if (n < avail) {
			conn_error(c, 400, "bad request", false);
		}
	}
	c->processing = false;
	if (c->closing || c->draining)
		return;
	if (c->rpos >= c->rlen)
		c->rpos = c->rlen = 0;
	if (!c->writing && !c->held && !c->rlen)
		conn_read(c, true);
}

/* ---- listener -------------------------------------------------------- */

static int stream_init(struct tg_api *api, union stream *st)
{
	return api->bound.is_unix ? uv_pipe_init(api->loop, &st->pipe, 0)
				  : uv_tcp_init(api->loop, &st->tcp);
}

static void on_reject_closed(uv_handle_t *h)
{
	free(h);
}

/* Accept-and-close: a connection left in the backlog would keep the
 * client waiting and libuv's listener watcher stopped. */
static void api_reject(struct tg_api *api)
{
	union stream *t = malloc(sizeof(*t));

	api->st.refused++;
	if (!t)
		return;
	if (stream_init(api, t)) {
		free(t);
		return;
	}
	uv_accept(&api->listener.s, &t->s);
	uv_close(&t->h, on_reject_closed);
}

/* The peer's address as text, without the port (who is asking), and its
 * group for the per-peer cap. false when there is none (a Unix socket). */
static bool peer_of(struct conn *c, struct tg_addr *key)
{
	struct sockaddr_storage ss;
	int len = sizeof(ss);

	snprintf(c->peer, sizeof(c->peer), "%s", c->api->bound.is_unix ? "unix" : "");
	if (c->api->bound.is_unix || uv_tcp_getpeername(&c->io.tcp, (struct sockaddr *)&ss, &len))
		return false;
	if (ss.ss_family == AF_INET)
		uv_ip4_name((struct sockaddr_in *)&ss, c->peer, sizeof(c->peer));
	else if (ss.ss_family == AF_INET6)
		uv_ip6_name((struct sockaddr_in6 *)&ss, c->peer, sizeof(c->peer));
	return tg_conn_peer_key((struct sockaddr *)&ss, key);
}

static void on_connection(uv_stream_t *server, int status)
{
	struct tg_api *api = server->data;
	struct tg_addr key = { 0 };
	struct conn *c;
	bool has_peer;
	int v;

	if (status < 0 || api->stopping)
		return;
	/* what is closing is freed within a loop turn; this bounds the memory
	 * of a client that connects faster than that */
	if (api->n_conns >= 2 * api->lim.max) {
		api_reject(api);
		return;
	}
	c = calloc(1, sizeof(*c));
	if (!c) {
		api_reject(api);
		return;
	}
	if (stream_init(api, &c->io)) {
		free(c);
		api_reject(api);
		return;
	}
	uv_timer_init(api->loop, &c->timer); /* cannot fail */
	c->io.h.data = c->timer.data = c->wreq.data = c->sreq.data = c;
	c->handles = 2;
	c->api = api;
	api->n_conns++;
	tg_buf_init(&c->resp.body);
	tg_buf_init(&c->hdr);
	http_parser_init(&c->parser, HTTP_REQUEST);
	c->parser.data = c;
	if (uv_accept(server, &c->io.s)) {
		conn_close(c);
		return;
	}
	has_peer = peer_of(c, &key);
	v = tg_conn_admit((const struct tg_conn_slot *const *)api->slots, api->n_open,
			  has_peer ? &key : NULL, &api->lim);
	if (v == TG_CONN_REFUSE) {
		api->st.refused++;
		conn_close(c);
		return;
	}
	if (v >= 0) {
		api->st.evicted++;
		conn_close(conn_of(api->slots[v]));
	}
	api->st.accepted++;
	c->slot.has_peer = has_peer;
	c->slot.peer = key;
	conn_phase(c, TG_CONN_NEW);
	table_add(api, c);
	if (!api->bound.is_unix)
		uv_tcp_nodelay(&c->io.tcp, 1);
	timer_head(c);
	conn_read(c, true);
}

static void on_listener_closed(uv_handle_t *h)
{
	struct tg_api *api = h->data;

	api->listener_closed = true;
	api_maybe_free(api);
}

static unsigned int or_default(unsigned int v, unsigned int def)
{
	return v ? v : def;
}

int tg_api_start_opts(uv_loop_t *loop, const struct tg_api_opts *o,
		      const struct tg_api_route *routes, size_t n_routes, void *ctx,
		      struct tg_api **out)
{
	struct tg_api_unix_opts uo;
	struct tg_api *api;
	int err;

	if (!out)
		return -EINVAL;
	*out = NULL;
	if (!loop || !o || (n_routes && !routes))
		return -EINVAL;
	api = calloc(1, sizeof(*api));
	if (!api)
		return -ENOMEM;
	api->loop = loop;
	api->routes = routes;
	api->n_routes = n_routes;
	api->ctx = ctx;
	api->idle_ms = TG_API_IDLE_MS;
	api->head_ms = TG_API_HEAD_MS;
	api->rng = (uint32_t)uv_hrtime() | 1; /* xorshift's state must not be 0 */
	api->lim.max = or_default(o->max_conns, TG_API_MAX_CONNS);
	api->lim.per_peer = o->max_per_peer;
	api->slots = calloc(api->lim.max, sizeof(*api->slots));
	uo = (struct tg_api_unix_opts){ .uid = o->sock_uid, .gid = o->sock_gid,
					.mode = or_default(o->sock_mode, 0660) };
	err = api->slots ? tg_api_listen(o->listen, &uo, TG_API_BACKLOG, &api->bound) : -ENOMEM;
	if (err) {
		free(api->slots);
		free(api);
		return err;
	}
	err = stream_init(api, &api->listener);
	if (err) {
		tg_api_listen_unlink(&api->bound);
		close(api->bound.fd);
		free(api->slots);
		free(api);
		return err;
	}
	api->listener.h.data = api;
	err = api->bound.is_unix ? uv_pipe_open(&api->listener.pipe, api->bound.fd)
				 : uv_tcp_open(&api->listener.tcp, api->bound.fd);
	if (err)
		close(api->bound.fd);
	else
		err = uv_listen(&api->listener.s, TG_API_BACKLOG, on_connection);
	if (err) {
		/* the handle exists now: it is freed by its close callback */
		tg_api_listen_unlink(&api->bound);
		api->stopping = true;
		uv_close(&api->listener.h, on_listener_closed);
		return err;
	}
	*out = api;
	return 0;
}

int tg_api_start(uv_loop_t *loop, const char *listen,
		 const struct tg_api_route *routes, size_t n_routes, void *ctx,
		 struct tg_api **out)
{
	struct tg_api_opts o = { .listen = listen, .max_per_peer = TG_API_MAX_PER_PEER,
				 .sock_uid = -1, .sock_gid = -1 };

	return tg_api_start_opts(loop, &o, routes, n_routes, ctx, out);
}

void tg_api_stop(struct tg_api *api)
{
	if (!api || api->stopping)
		return;
	api->stopping = true;
	tg_api_listen_unlink(&api->bound);
	uv_close(&api->listener.h, on_listener_closed);
	while (api->n_open)
		conn_close(conn_of(api->slots[0]));
}

int tg_api_port(const struct tg_api *api)
{
	return api ? api->bound.port : -EINVAL;
}

void tg_api_set_idle_ms(struct tg_api *api, unsigned int ms)
{
	if (api && ms)
		api->idle_ms = ms;
}

void tg_api_set_head_ms(struct tg_api *api, unsigned int ms)
{
	if (api && ms)
		api->head_ms = ms;
}

void tg_api_get_stats(const struct tg_api *api, struct tg_api_stats *out)
{
	memset(out, 0, sizeof(*out));
	if (!api)
		return;
	*out = api->st;
	out->open = api->n_open;
	out->max = api->lim.max;
}

int tg_api_set_token(struct tg_api *api, const char *token)
{
	return api ? tg_api_token_set(&api->token, token) : -EINVAL;
}

const char *tg_api_header(const struct tg_api_req *req, const char *name)
{
	const char *p = req->headers, *v;

	for (unsigned int i = 0; p && i < req->n_headers; i++, p = v + strlen(v) + 1) {
		v = p + strlen(p) + 1;
		if (!strcasecmp(p, name))
			return v;
	}
	return NULL;
}

void tg_api_error(struct tg_api_resp *resp, int status, const char *msg)
{
	resp->status = status;
	tg_buf_reset(&resp->body);
	tg_buf_printf(&resp->body, "{\"error\":");
	tg_buf_json_str(&resp->body, msg);
	tg_buf_printf(&resp->body, "}\n");
}
