/* A webhook receiver on a libuv loop, for the C tests and benchmarks
 * (tests/unit/test_webhook.c, bench/deliver_rate.c): uv_tcp on 127.0.0.1,
 * http-parser, keep-alive. It answers with scripted statuses (then 200),
 * keeps the first RX_MAX_REQS requests (path, the webhook headers, body,
 * arrival time), counts every request and connection, and hands each
 * request to an optional callback. Header-only, like the other headers the
 * tests share; the includer links libuv and http-parser. */
#ifndef TG_TEST_RX_H
#define TG_TEST_RX_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <http_parser.h>
#include <uv.h>

#define RX_MAX_REQS 256
#define RX_MAX_SCRIPT 32
#define RX_BACKLOG 512

struct rx_req {
	char path[128], webhook_id[64], timestamp[32], signature[128], content_type[128];
	char user_agent[64], authorization[128], custom[64];
	char *body;
	size_t len;
	uint64_t at_ms;
};

struct rx_conn;

struct rx {
	uv_loop_t *loop;
	uv_tcp_t srv;
	bool listening;
	int port;                  /* rx_listen: 0 the first time (any port) */
	struct rx_conn *conns;
	int script[RX_MAX_SCRIPT]; /* statuses to answer, in order; then 200 */
	int n_script, pos;
	const char *retry_after;   /* sent with 429 and 503 */
	const char *location;      /* sent with a 3xx */
	const char *answer;        /* response body; NULL: {} */
	bool hang;                 /* read requests, never answer */
	void (*on_request)(struct rx *rx, const struct rx_req *req); /* each one */
	uint64_t requests, connections; /* all of them */
	struct rx_req reqs[RX_MAX_REQS]; /* the first ones */
	int n;
};

struct rx_conn {
	uv_tcp_t tcp;
	struct rx *rx;
	struct rx_conn *next;
	http_parser p;
	char field[64], value[512];
	size_t flen, vlen;
	bool in_value;
	struct rx_req cur;
	char rbuf[65536];
};

struct rx_write {
	uv_write_t w;
	char data[];
};

static inline void rx_conn_closed(uv_handle_t *h)
{
	struct rx_conn *c = h->data;

	free(c->cur.body);
	free(c);
}

static inline void rx_conn_close(struct rx_conn *c)
{
	struct rx_conn **pp;

	for (pp = &c->rx->conns; *pp; pp = &(*pp)->next)
		if (*pp == c) {
			*pp = c->next;
			break;
		}
	uv_close((uv_handle_t *)&c->tcp, rx_conn_closed);
}

static inline void rx_copy_to(char *dst, size_t cap, size_t *len, const char *p, size_t n)
{
	if (*len + n >= cap)
		n = cap - 1 - *len;
	memcpy(dst + *len, p, n);
	*len += n;
	dst[*len] = '\0';
}

static inline void rx_flush_header(struct rx_conn *c)
{
	static const struct {
		const char *name;
		size_t off, cap;
	} known[] = {
#define F(n, m) { n, offsetof(struct rx_req, m), sizeof(((struct rx_req *)0)->m) }
		F("webhook-id", webhook_id),	   F("webhook-timestamp", timestamp),
		F("webhook-signature", signature), F("content-type", content_type),
		F("user-agent", user_agent),	   F("authorization", authorization),
		F("x-custom", custom),
#undef F
	};
	size_t i;

	for (i = 0; i < sizeof(known) / sizeof(known[0]); i++)
		if (strcasecmp(c->field, known[i].name) == 0) {
			/* truncated to the field on purpose (memcpy: gcc -O3
			 * warns about a truncating snprintf) */
			char *dst = (char *)&c->cur + known[i].off;
			size_t n = strnlen(c->value, known[i].cap - 1);

			memcpy(dst, c->value, n);
			dst[n] = '\0';
		}
	c->flen = c->vlen = 0;
	c->field[0] = c->value[0] = '\0';
	c->in_value = false;
}

static inline int rx_on_begin(http_parser *p)
{
	struct rx_conn *c = p->data;

	free(c->cur.body);
	memset(&c->cur, 0, sizeof(c->cur));
	return 0;
}

static inline int rx_on_url(http_parser *p, const char *at, size_t n)
{
	struct rx_conn *c = p->data;
	size_t len = strlen(c->cur.path);

	rx_copy_to(c->cur.path, sizeof(c->cur.path), &len, at, n);
	return 0;
}

static inline int rx_on_field(http_parser *p, const char *at, size_t n)
{
	struct rx_conn *c = p->data;

	if (c->in_value)
		rx_flush_header(c);
	rx_copy_to(c->field, sizeof(c->field), &c->flen, at, n);
	return 0;
}

static inline int rx_on_value(http_parser *p, const char *at, size_t n)
{
	struct rx_conn *c = p->data;

	c->in_value = true;
	rx_copy_to(c->value, sizeof(c->value), &c->vlen, at, n);
	return 0;
}

static inline int rx_on_headers(http_parser *p)
{
	struct rx_conn *c = p->data;

	if (c->in_value)
		rx_flush_header(c);
	return 0;
}

/* The body is kept only while requests are (the first RX_MAX_REQS). */
static inline int rx_on_body(http_parser *p, const char *at, size_t n)
{
	struct rx_conn *c = p->data;
	char *b;

	if (c->rx->n >= RX_MAX_REQS)
		return 0;
	b = realloc(c->cur.body, c->cur.len + n + 1);
	if (!b)
		return -1;
	memcpy(b + c->cur.len, at, n);
	c->cur.len += n;
	b[c->cur.len] = '\0';
	c->cur.body = b;
	return 0;
}

static inline void rx_written(uv_write_t *w, int status)
{
	free(w);
}

static inline void rx_respond(struct rx_conn *c, int status)
{
	const char *body = c->rx->answer ? c->rx->answer : "{}";
	char extra[128] = "";
	struct rx_write *w;
	int n;

	if ((status == 429 || status == 503) && c->rx->retry_after)
		snprintf(extra, sizeof(extra), "Retry-After: %s\r\n", c->rx->retry_after);
	if (status >= 300 && status < 400 && c->rx->location)
		snprintf(extra, sizeof(extra), "Location: %s\r\n", c->rx->location);
	w = malloc(sizeof(*w) + 512 + strlen(body));
	if (!w)
		return;
	n = sprintf(w->data,
		    "HTTP/1.1 %d Scripted\r\nContent-Type: application/json\r\n"
		    "Content-Length: %zu\r\n%s\r\n%s",
		    status, strlen(body), extra, body);
	uv_buf_t buf = uv_buf_init(w->data, (unsigned)n);
	if (uv_write(&w->w, (uv_stream_t *)&c->tcp, &buf, 1, rx_written) < 0)
		free(w);
}

static inline int rx_on_complete(http_parser *p)
{
	struct rx_conn *c = p->data;
	struct rx *rx = c->rx;

	c->cur.at_ms = uv_hrtime() / 1000000;
	rx->requests++;
	if (rx->on_request)
		rx->on_request(rx, &c->cur);
	if (rx->n < RX_MAX_REQS) {
		rx->reqs[rx->n++] = c->cur;
		c->cur.body = NULL;
	}
	if (!rx->hang)
		rx_respond(c, rx->pos < rx->n_script ? rx->script[rx->pos++] : 200);
	return 0;
}

static const http_parser_settings rx_parser_settings = {
	.on_message_begin = rx_on_begin,
	.on_url = rx_on_url,
	.on_header_field = rx_on_field,
	.on_header_value = rx_on_value,
	.on_headers_complete = rx_on_headers,
	.on_body = rx_on_body,
	.on_message_complete = rx_on_complete,
};

static inline void rx_conn_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
	struct rx_conn *c = h->data;

	*buf = uv_buf_init(c->rbuf, sizeof(c->rbuf));
}

static inline void rx_conn_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
	struct rx_conn *c = s->data;

	if (n < 0) {
		rx_conn_close(c);
		return;
	}
	if (http_parser_execute(&c->p, &rx_parser_settings, buf->base, (size_t)n) != (size_t)n)
		rx_conn_close(c);
}

static inline void rx_on_connection(uv_stream_t *srv, int status)
{
	struct rx *rx = srv->data;
	struct rx_conn *c;

	if (status < 0 || !(c = calloc(1, sizeof(*c))))
		return;
	c->rx = rx;
	uv_tcp_init(rx->loop, &c->tcp);
	c->tcp.data = c;
	http_parser_init(&c->p, HTTP_REQUEST);
	c->p.data = c;
	if (uv_accept(srv, (uv_stream_t *)&c->tcp) < 0) {
		uv_close((uv_handle_t *)&c->tcp, rx_conn_closed);
		return;
	}
	rx->connections++;
	c->next = rx->conns;
	rx->conns = c;
	uv_read_start((uv_stream_t *)&c->tcp, rx_conn_alloc, rx_conn_read);
}

/* Listens on the bound socket fd (rx_listen binds one itself); 0 or a
 * libuv error. */
static inline int rx_open(struct rx *rx, uv_loop_t *loop, int fd)
{
	struct sockaddr_storage ss;
	int len = sizeof(ss), rc;

	rx->loop = loop;
	if ((rc = uv_tcp_init(loop, &rx->srv)) < 0)
		return rc;
	rx->srv.data = rx;
	rx->listening = true;
	if ((rc = uv_tcp_open(&rx->srv, fd)) < 0 ||
	    (rc = uv_listen((uv_stream_t *)&rx->srv, RX_BACKLOG, rx_on_connection)) < 0 ||
	    (rc = uv_tcp_getsockname(&rx->srv, (struct sockaddr *)&ss, &len)) < 0)
		return rc;
	rx->port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
	return 0;
}

/* Listens on 127.0.0.1: on port 0 the first time, then on the same port;
 * 0 or a libuv error. */
static inline int rx_listen(struct rx *rx, uv_loop_t *loop)
{
	struct sockaddr_in sa;
	struct sockaddr_storage ss;
	int len = sizeof(ss), rc;

	if (rx->listening)
		return UV_EALREADY;
	rx->loop = loop;
	uv_ip4_addr("127.0.0.1", rx->port, &sa);
	if ((rc = uv_tcp_init(loop, &rx->srv)) < 0)
		return rc;
	rx->srv.data = rx;
	rx->listening = true;
	if ((rc = uv_tcp_bind(&rx->srv, (struct sockaddr *)&sa, 0)) < 0 ||
	    (rc = uv_listen((uv_stream_t *)&rx->srv, RX_BACKLOG, rx_on_connection)) < 0 ||
	    (rc = uv_tcp_getsockname(&rx->srv, (struct sockaddr *)&ss, &len)) < 0)
		return rc;
	rx->port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
	return 0;
}

/* Stops listening and drops every connection: the next attempt is refused. */
static inline void rx_down(struct rx *rx)
{
	if (rx->listening)
		uv_close((uv_handle_t *)&rx->srv, NULL);
	rx->listening = false;
	while (rx->conns)
		rx_conn_close(rx->conns);
}

static inline void rx_free(struct rx *rx)
{
	int i;

	rx_down(rx);
	for (i = 0; i < rx->n; i++)
		free(rx->reqs[i].body);
	rx->n = 0;
}

/* The next n statuses to answer with (ints), after those already set. */
static inline void rx_script(struct rx *rx, int n, ...)
{
	va_list ap;
	int i;

	va_start(ap, n);
	for (i = 0; i < n; i++)
		rx->script[rx->n_script++] = va_arg(ap, int);
	va_end(ap);
}

#endif
