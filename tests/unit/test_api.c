/* The local API server, end to end over loopback: the uv loop runs in a
 * second thread, the test body is a client on blocking sockets with
 * timeouts, so a broken server fails a test instead of hanging it. */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <errno.h>
#include <inttypes.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "api/api.h"
#include "api/api_hdrs.h"
#include "lib/addr.h"
#include "api/http_util.h"

/* ---- server under test ----------------------------------------------- */

static struct {
	uv_loop_t loop;
	uv_async_t stop_async;
	struct tg_api *api;
	pthread_t thread;
	int port;
	int run_rc;
} S;

static void h_hello(void *ctx, const struct tg_api_req *req, struct tg_api_resp *resp)
{
	tg_buf_printf(&resp->body, "{\"hello\":\"world\"}");
}

static void h_echo(void *ctx, const struct tg_api_req *req, struct tg_api_resp *resp)
{
	char q[64];

	tg_buf_printf(&resp->body, "{\"method\":\"%s\",\"path\":", req->method);
	tg_buf_json_str(&resp->body, req->path);
	tg_buf_printf(&resp->body, ",\"query\":");
	tg_buf_json_str(&resp->body, req->query);
	tg_buf_printf(&resp->body, ",\"q\":");
	tg_buf_json_str(&resp->body, tg_http_query_get(req->query, "q", q, sizeof(q)) >= 0 ? q : NULL);
	tg_buf_printf(&resp->body, "}");
}

static void h_limited(void *ctx, const struct tg_api_req *req, struct tg_api_resp *resp)
{
	resp->status = 429;
	resp->content_type = "text/plain";
	snprintf(resp->retry_after, sizeof(resp->retry_after), "%d", 7);
	tg_buf_printf(&resp->body, "slow down\n");
}

/* /v1/check's answers: a header, no body. */
static void h_nobody(void *ctx, const struct tg_api_req *req, struct tg_api_resp *resp)
{
	resp->status = 204;
	tg_api_resp_header(resp, "X-Tollgate-Key", "team");
}

static void h_denied_empty(void *ctx, const struct tg_api_req *req, struct tg_api_resp *resp)
{
	resp->status = 403;
	snprintf(resp->retry_after, sizeof(resp->retry_after), "3");
}

/* A denial held for a while, as /v1/check's with api.check_deny_delay_ms. */
static void h_held(void *ctx, const struct tg_api_req *req, struct tg_api_resp *resp)
{
	resp->status = 429;
	resp->delay_ms = 300;
}

static void h_big(void *ctx, const struct tg_api_req *req, struct tg_api_resp *resp)
{
	int i;

	for (i = 0; i < 10000; i++)
		tg_buf_printf(&resp->body, "%09d\n", i);
}

/* 8 MiB: more than a socket holds, so its write stays pending */
static void h_huge(void *ctx, const struct tg_api_req *req, struct tg_api_resp *resp)
{
	static char chunk[4096];

	memset(chunk, 'x', sizeof(chunk));
	for (int i = 0; i < 2048; i++)
		tg_buf_append(&resp->body, chunk, sizeof(chunk));
	tg_buf_append(&resp->body, "END\n", 4);
}

static void h_quit(void *ctx, const struct tg_api_req *req, struct tg_api_resp *resp)
{
	tg_api_stop(S.api);
	uv_close((uv_handle_t *)&S.stop_async, NULL);
}

/* Header values the handler saw, as JSON; null when absent. */
static void h_headers(void *ctx, const struct tg_api_req *req, struct tg_api_resp *resp)
{
	static const char *const names[] = { "x-a", "X-B", "x-empty", "authorization" };

	tg_buf_printf(&resp->body, "{\"n\":%u", req->n_headers);
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		tg_buf_printf(&resp->body, ",\"%s\":", names[i]);
		tg_buf_json_str(&resp->body, tg_api_header(req, names[i]));
	}
	tg_buf_printf(&resp->body, "}");
}

/* Response headers from a handler; any method. */
static void h_any(void *ctx, const struct tg_api_req *req, struct tg_api_resp *resp)
{
	const char *a = tg_api_header(req, "x-a");

	tg_buf_printf(&resp->body, "{\"peer\":\"%s\"}", req->peer);
	tg_api_resp_header(resp, "X-Echo-A", "%s", a ? a : "-");
	tg_api_resp_header(resp, "X-Bad", "a\r\nInjected: 1");
	tg_api_resp_header(resp, "X-Method", "%s", req->method);
}

static const struct tg_api_route routes[] = {
	{ "*", "/any", h_any, 0 },
	{ "GET", "/hello", h_hello, 0 },
	{ "GET", "/echo", h_echo, 0 },
	{ "GET", "/v1/clients/", h_echo, 0 },
	{ "GET", "/thing", h_hello, 0 },
	{ "DELETE", "/thing", h_echo, 0 },
	{ "POST", "/submit", h_hello, 0 },
	{ "GET", "/limited", h_limited, 0 },
	{ "GET", "/big", h_big, 0 },
	{ "*", "/nobody", h_nobody, 0 },
	{ "GET", "/denied", h_denied_empty, 0 },
	{ "GET", "/held", h_held, 0 },
	{ "GET", "/huge", h_huge, 0 },
	{ "GET", "/quit", h_quit, 0 },
	{ "GET", "/headers", h_headers, 0 },
	{ "GET", "/check/", h_headers, TG_API_NO_BEARER },
	{ "POST", "/check/", h_headers, TG_API_NO_BEARER },
};

static void *loop_main(void *arg)
{
	S.run_rc = uv_run(&S.loop, UV_RUN_DEFAULT);
	return NULL;
}

static void on_stop_async(uv_async_t *a)
{
	tg_api_stop(S.api);
	uv_close((uv_handle_t *)a, NULL);
}

/* o: NULL for tg_api_start's defaults on 127.0.0.1:0 */
static void srv_start_opts(const struct tg_api_opts *o, unsigned int idle_ms,
			   unsigned int head_ms, const char *token)
{
	cr_assert(eq(int, uv_loop_init(&S.loop), 0));
	if (o)
		cr_assert(eq(int, tg_api_start_opts(&S.loop, o, routes,
						    sizeof(routes) / sizeof(routes[0]), NULL,
						    &S.api), 0));
	else
		cr_assert(eq(int, tg_api_start(&S.loop, "127.0.0.1:0", routes,
					       sizeof(routes) / sizeof(routes[0]), NULL, &S.api), 0));
	cr_assert(eq(int, tg_api_set_token(S.api, token), 0));
	if (idle_ms)
		tg_api_set_idle_ms(S.api, idle_ms);
	if (head_ms)
		tg_api_set_head_ms(S.api, head_ms);
	S.port = tg_api_port(S.api);
	if (!o)
		cr_assert(gt(int, S.port, 0));
	cr_assert(eq(int, uv_async_init(&S.loop, &S.stop_async, on_stop_async), 0));
	S.run_rc = -1;
	cr_assert(eq(int, pthread_create(&S.thread, NULL, loop_main, NULL), 0));
}

static void srv_start_full(unsigned int idle_ms, const char *token)
{
	srv_start_opts(NULL, idle_ms, 0, token);
}

static void srv_start_idle(unsigned int idle_ms)
{
	srv_start_full(idle_ms, NULL);
}

static void srv_start(void)
{
	srv_start_idle(0);
}

/* uv_run must return by itself once every handle is closed */
static void srv_join(void)
{
	struct timespec dl;

	clock_gettime(CLOCK_REALTIME, &dl);
	dl.tv_sec += 5;
	cr_assert(eq(int, pthread_timedjoin_np(S.thread, NULL, &dl), 0), "loop did not end");
	cr_assert(eq(int, S.run_rc, 0));
	cr_assert(eq(int, uv_loop_close(&S.loop), 0));
}

static void srv_stop(void)
{
	uv_async_send(&S.stop_async);
	srv_join();
}

/* ---- client ----------------------------------------------------------- */

#define CLI_BUF (256 * 1024)

struct cli {
	int fd;
	size_t len;
	char *buf;
};

struct resp {
	int status;
	char head[4096];
	size_t body_len;
	char body[CLI_BUF];
};

static struct resp R;

static long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

static int cli_rcvbuf; /* SO_RCVBUF of the next cli_open, 0 for the default */

/* unix_path: NULL for TCP to S.port */
static struct cli *cli_open_at(const char *unix_path)
{
	struct timeval tv = { .tv_sec = 3 };
	struct sockaddr_in sa = { .sin_family = AF_INET };
	struct sockaddr_un su = { .sun_family = AF_UNIX };
	struct cli *c = calloc(1, sizeof(*c));
	int one = 1;

	cr_assert(c != NULL);
	c->buf = malloc(CLI_BUF);
	cr_assert(c->buf != NULL);
	c->fd = socket(unix_path ? AF_UNIX : AF_INET, SOCK_STREAM, 0);
	cr_assert(ge(int, c->fd, 0));
	setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(c->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	if (unix_path) {
		snprintf(su.sun_path, sizeof(su.sun_path), "%s", unix_path);
		cr_assert(eq(int, connect(c->fd, (struct sockaddr *)&su, sizeof(su)), 0),
			  "connect: %s", strerror(errno));
		return c;
	}
	setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (cli_rcvbuf) /* before connect: the window it advertises */
		setsockopt(c->fd, SOL_SOCKET, SO_RCVBUF, &cli_rcvbuf, sizeof(cli_rcvbuf));
	cli_rcvbuf = 0;
	sa.sin_port = htons((uint16_t)S.port);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	cr_assert(eq(int, connect(c->fd, (struct sockaddr *)&sa, sizeof(sa)), 0),
		  "connect: %s", strerror(errno));
	return c;
}

static struct cli *cli_open(void)
{
	return cli_open_at(NULL);
}

static void cli_close(struct cli *c)
{
	close(c->fd);
	free(c->buf);
	free(c);
}

static int cli_send_n(struct cli *c, const void *p, size_t n)
{
	const char *s = p;
	ssize_t w;

	while (n) {
		w = send(c->fd, s, n, MSG_NOSIGNAL);
		if (w <= 0)
			return -1;
		s += w;
		n -= (size_t)w;
	}
	return 0;
}

static void cli_send(struct cli *c, const char *s)
{
	cr_assert(eq(int, cli_send_n(c, s, strlen(s)), 0), "send: %s", strerror(errno));
}

static int cli_fill(struct cli *c)
{
	ssize_t r;

	if (c->len >= CLI_BUF)
		return -1;
	r = recv(c->fd, c->buf + c->len, CLI_BUF - c->len, 0);
	if (r <= 0)
		return -1;
	c->len += (size_t)r;
	return 0;
}

static const char *hdr_get(const struct resp *r, const char *name, char *out, size_t len)
{
	const char *p = r->head;
	size_t nl = strlen(name);

	while ((p = strstr(p, "\r\n")) != NULL) {
		p += 2;
		if (strncasecmp(p, name, nl) == 0 && p[nl] == ':') {
			const char *v = p + nl + 1, *e;

			while (*v == ' ')
				v++;
			e = strstr(v, "\r\n");
			snprintf(out, len, "%.*s", (int)(e - v), v);
			return out;
		}
	}
	return NULL;
}

/* Reads one response; head: the request was HEAD, no body follows. */
static int cli_read(struct cli *c, bool head, struct resp *r)
{
	char *end, cl[32];
	size_t hl;

	while (!(end = memmem(c->buf, c->len, "\r\n\r\n", 4)))
		if (cli_fill(c))
			return -1;
	hl = (size_t)(end - c->buf) + 4;
	cr_assert(lt(sz, hl, sizeof(r->head)));
	memcpy(r->head, c->buf, hl);
	r->head[hl] = '\0';
	if (sscanf(r->head, "HTTP/1.1 %d ", &r->status) != 1)
		return -1;
	if (r->status == 204) { /* no body, and none announced */
		cr_assert(hdr_get(r, "Content-Length", cl, sizeof(cl)) == NULL);
		snprintf(cl, sizeof(cl), "0");
	} else {
		cr_assert(hdr_get(r, "Content-Length", cl, sizeof(cl)) != NULL, "no Content-Length");
	}
	r->body_len = head ? 0 : strtoul(cl, NULL, 10);
	cr_assert(lt(sz, r->body_len, sizeof(r->body)));
	while (c->len < hl + r->body_len)
		if (cli_fill(c))
			return -1;
	memcpy(r->body, c->buf + hl, r->body_len);
	r->body[r->body_len] = '\0';
	c->len -= hl + r->body_len;
	memmove(c->buf, c->buf + hl + r->body_len, c->len);
	return 0;
}

/* The server closed: EOF or reset, and nothing else was sent. */
static bool cli_eof(struct cli *c)
{
	char b;
	ssize_t r;

	if (c->len)
		return false;
	r = recv(c->fd, &b, 1, 0);
	return r == 0 || (r < 0 && errno == ECONNRESET);
}

static void request(struct cli *c, const char *method, const char *target)
{
	char req[4096];

	snprintf(req, sizeof(req), "%s %s HTTP/1.1\r\nHost: t\r\n\r\n", method, target);
	cli_send(c, req);
	cr_assert(eq(int, cli_read(c, strcmp(method, "HEAD") == 0, &R), 0), "%s %s", method, target);
}

static int get_status(const char *target)
{
	struct cli *c = cli_open();

	request(c, "GET", target);
	cli_close(c);
	return R.status;
}

TestSuite(api, .timeout = 10);

/* ---- tests ------------------------------------------------------------ */

Test(api, hello_200)
{
	char v[64];
	struct cli *c;

	srv_start();
	c = cli_open();
	request(c, "GET", "/hello");
	cr_assert(eq(int, R.status, 200));
	cr_assert(eq(int, strncmp(R.head, "HTTP/1.1 200 OK\r\n", 17), 0));
	cr_assert(eq(str, R.body, "{\"hello\":\"world\"}"));
	cr_assert(eq(str, (char *)hdr_get(&R, "Content-Type", v, sizeof(v)), "application/json"));
	cr_assert(eq(str, (char *)hdr_get(&R, "Connection", v, sizeof(v)), "keep-alive"));
	cr_assert(eq(str, (char *)hdr_get(&R, "Content-Length", v, sizeof(v)), "17"));
	cr_assert(hdr_get(&R, "Retry-After", v, sizeof(v)) == NULL);
	cli_close(c);
	srv_stop();
}

Test(api, not_found_404)
{
	struct cli *c;

	srv_start();
	c = cli_open();
	request(c, "GET", "/nope");
	cr_assert(eq(int, R.status, 404));
	cr_assert(eq(str, R.body, "{\"error\":\"not found\"}"));
	/* a prefix route does not match its bare name */
	request(c, "GET", "/v1/clients");
	cr_assert(eq(int, R.status, 404));
	request(c, "GET", "/hello/x");
	cr_assert(eq(int, R.status, 404));
	cli_close(c);
	srv_stop();
}

Test(api, method_405_with_allow)
{
	char v[64];
	struct cli *c;

	srv_start();
	c = cli_open();
	cli_send(c, "POST /hello HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\n\r\nabc");
	cr_assert(eq(int, cli_read(c, false, &R), 0));
	cr_assert(eq(int, R.status, 405));
	cr_assert(eq(str, (char *)hdr_get(&R, "Allow", v, sizeof(v)), "GET, HEAD"));
	cr_assert(eq(str, R.body, "{\"error\":\"method not allowed\"}"));
	request(c, "PUT", "/thing");
	cr_assert(eq(int, R.status, 405));
	cr_assert(eq(str, (char *)hdr_get(&R, "Allow", v, sizeof(v)), "GET, DELETE, HEAD"));
	request(c, "DELETE", "/thing");
	cr_assert(eq(int, R.status, 200));
	cr_assert(hdr_get(&R, "Allow", v, sizeof(v)) == NULL, "Allow leaked into the next response");
	cli_close(c);
	srv_stop();
}

Test(api, garbage_400_and_close)
{
	static const char junk[] = "\x00\x01 junk\r\n\r\n";
	char v[64];
	struct cli *c;

	srv_start();
	c = cli_open();
	cr_assert(eq(int, cli_send_n(c, junk, sizeof(junk) - 1), 0));
	cr_assert(eq(int, cli_read(c, false, &R), 0));
	cr_assert(eq(int, R.status, 400));
	cr_assert(eq(str, (char *)hdr_get(&R, "Connection", v, sizeof(v)), "close"));
	cr_assert(eq(int, strncmp(R.body, "{\"error\":\"", 10), 0), "%s", R.body);
	cr_assert(cli_eof(c));
	cli_close(c);
	srv_stop();
}

Test(api, header_20k_431)
{
	static char req[21000];
	size_t n;
	struct cli *c;

	srv_start();
	n = (size_t)snprintf(req, sizeof(req), "GET /hello HTTP/1.1\r\nHost: t\r\nX-Fill: ");
	memset(req + n, 'a', 20000);
	memcpy(req + n + 20000, "\r\n\r\n", 4);
	c = cli_open();
	cr_assert(eq(int, cli_send_n(c, req, n + 20004), 0));
	cr_assert(eq(int, cli_read(c, false, &R), 0));
	cr_assert(eq(int, R.status, 431));
	cr_assert(cli_eof(c));
	cli_close(c);
	srv_stop();
}

Test(api, body_413)
{
	char chunk[1100];
	struct cli *c;
	int i;

	srv_start();
	/* declared: refused before the body is sent */
	c = cli_open();
	cli_send(c, "POST /submit HTTP/1.1\r\nHost: t\r\nContent-Length: 100000\r\n\r\n");
	cr_assert(eq(int, cli_read(c, false, &R), 0));
	cr_assert(eq(int, R.status, 413));
	cr_assert(cli_eof(c));
	cli_close(c);
	/* chunked: refused once it grows past the bound */
	c = cli_open();
	cli_send(c, "POST /submit HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n");
	memset(chunk, 'b', sizeof(chunk));
	memcpy(chunk, "400\r\n", 5);
	memcpy(chunk + 5 + 0x400, "\r\n", 2);
	for (i = 0; i < 10; i++)
		if (cli_send_n(c, chunk, 5 + 0x400 + 2))
			break;
	cr_assert(eq(int, cli_read(c, false, &R), 0));
	cr_assert(eq(int, R.status, 413));
	cli_close(c);
	/* a small body is fine */
	c = cli_open();
	cli_send(c, "POST /submit HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\nhello");
	cr_assert(eq(int, cli_read(c, false, &R), 0));
	cr_assert(eq(int, R.status, 200));
	cli_close(c);
	srv_stop();
}

Test(api, long_url_414)
{
	char target[3000];
	struct cli *c;

	srv_start();
	memset(target, 'a', sizeof(target) - 1);
	target[0] = '/';
	target[sizeof(target) - 1] = '\0';
	c = cli_open();
	request(c, "GET", target);
	cr_assert(eq(int, R.status, 414));
	cr_assert(cli_eof(c));
	cli_close(c);
	srv_stop();
}

Test(api, query_decoding)
{
	struct cli *c;

	srv_start();
	c = cli_open();
	request(c, "GET", "/echo?x=1&q=a%20b+c%2B%26&y");
	cr_assert(eq(int, R.status, 200));
	cr_assert(eq(str, R.body, "{\"method\":\"GET\",\"path\":\"/echo\","
			 "\"query\":\"x=1&q=a%20b+c%2B%26&y\",\"q\":\"a b c+&\"}"));
	request(c, "GET", "/echo");
	cr_assert(eq(str, R.body, "{\"method\":\"GET\",\"path\":\"/echo\",\"query\":\"\",\"q\":null}"));
	request(c, "GET", "/echo?q=1#frag");
	cr_assert(eq(str, R.body, "{\"method\":\"GET\",\"path\":\"/echo\","
			 "\"query\":\"q=1\",\"q\":\"1\"}"));
	cli_close(c);
	srv_stop();
}

Test(api, query_get_table)
{
	char out[8];

	cr_assert(eq(int, tg_http_query_get("a=1&b=xyz", "b", out, sizeof(out)), 3));
	cr_assert(eq(str, out, "xyz"));
	cr_assert(eq(int, tg_http_query_get("a=1&b=xyz", "a", out, sizeof(out)), 1));
	cr_assert(eq(str, out, "1"));
	cr_assert(eq(int, tg_http_query_get("ab=1&b=2", "b", out, sizeof(out)), 1));
	cr_assert(eq(str, out, "2"));
	cr_assert(eq(int, tg_http_query_get("a=1", "b", out, sizeof(out)), -1));
	cr_assert(eq(int, tg_http_query_get("", "a", out, sizeof(out)), -1));
	cr_assert(eq(int, tg_http_query_get("flag&x=1", "flag", out, sizeof(out)), 0));
	cr_assert(eq(str, out, ""));
	cr_assert(eq(int, tg_http_query_get("a=", "a", out, sizeof(out)), 0));
	cr_assert(eq(int, tg_http_query_get("a=%41+%7e", "a", out, sizeof(out)), 3));
	cr_assert(eq(str, out, "A ~"));
	cr_assert(eq(int, tg_http_query_get("a=1&a=2", "a", out, sizeof(out)), 1));
	cr_assert(eq(str, out, "1"));
	/* 7 bytes fit in 8, 8 do not */
	cr_assert(eq(int, tg_http_query_get("a=1234567", "a", out, sizeof(out)), 7));
	cr_assert(eq(int, tg_http_query_get("a=12345678", "a", out, sizeof(out)), -1));
	cr_assert(eq(int, tg_http_query_get("a=%4", "a", out, sizeof(out)), -1));
	cr_assert(eq(int, tg_http_query_get("a=%zz", "a", out, sizeof(out)), -1));
	cr_assert(eq(int, tg_http_query_get("a=x%00", "a", out, sizeof(out)), -1));
	cr_assert(eq(int, tg_http_query_get("a=1", "a", out, 0), -1));
}

Test(api, pipelined_in_order)
{
	static char reqs[400 * 48];
	char want[64];
	size_t n = 0;
	struct cli *c;
	int i;

	srv_start();
	c = cli_open();
	cli_send(c, "GET /hello HTTP/1.1\r\nHost: t\r\n\r\nGET /echo?q=2 HTTP/1.1\r\nHost: t\r\n\r\n");
	cr_assert(eq(int, cli_read(c, false, &R), 0));
	cr_assert(eq(str, R.body, "{\"hello\":\"world\"}"));
	cr_assert(eq(int, cli_read(c, false, &R), 0));
	cr_assert(eq(int, R.status, 200));
	cr_assert(not(eq(ptr, strstr(R.body, "\"q\":\"2\""), NULL)), "%s", R.body);
	/* more than one read buffer's worth, split at arbitrary points */
	for (i = 0; i < 400; i++)
		n += (size_t)snprintf(reqs + n, sizeof(reqs) - n,
				      "GET /echo?q=%d HTTP/1.1\r\nHost: t\r\n\r\n", i);
	cr_assert(eq(int, cli_send_n(c, reqs, n), 0));
	for (i = 0; i < 400; i++) {
		cr_assert(eq(int, cli_read(c, false, &R), 0), "response %d", i);
		snprintf(want, sizeof(want), "\"q\":\"%d\"}", i);
		cr_assert(not(eq(ptr, strstr(R.body, want), NULL)), "%d: %s", i, R.body);
	}
	cli_close(c);
	srv_stop();
}

Test(api, keep_alive_and_byte_by_byte)
{
	static const char req[] = "GET /h%65llo HTTP/1.1\r\nHost: t\r\n\r\n";
	struct cli *c;
	size_t i;

	srv_start();
	c = cli_open();
	for (i = 0; i < 3; i++) {
		request(c, "GET", "/hello");
		cr_assert(eq(int, R.status, 200));
	}
	for (i = 0; i < sizeof(req) - 1; i++) {
		cr_assert(eq(int, cli_send_n(c, req + i, 1), 0));
		usleep(1000);
	}
	cr_assert(eq(int, cli_read(c, false, &R), 0));
	cr_assert(eq(str, R.body, "{\"hello\":\"world\"}"));
	cli_close(c);
	srv_stop();
}

Test(api, http10)
{
	char v[64];
	struct cli *c;

	srv_start();
	c = cli_open();
	cli_send(c, "GET /hello HTTP/1.0\r\n\r\n");
	cr_assert(eq(int, cli_read(c, false, &R), 0));
	cr_assert(eq(int, R.status, 200));
	cr_assert(eq(str, (char *)hdr_get(&R, "Connection", v, sizeof(v)), "close"));
	cr_assert(cli_eof(c));
	cli_close(c);

	c = cli_open();
	cli_send(c, "GET /hello HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
	cr_assert(eq(int, cli_read(c, false, &R), 0));
	cr_assert(eq(str, (char *)hdr_get(&R, "Connection", v, sizeof(v)), "keep-alive"));
	cli_send(c, "GET /hello HTTP/1.1\r\nConnection: close\r\n\r\n");
	cr_assert(eq(int, cli_read(c, false, &R), 0));
	cr_assert(eq(str, (char *)hdr_get(&R, "Connection", v, sizeof(v)), "close"));
	cr_assert(cli_eof(c));
	cli_close(c);
	srv_stop();
}

Test(api, head_has_no_body)
{
	char v[64];
	struct cli *c;

	srv_start();
	c = cli_open();
	request(c, "HEAD", "/hello");
	cr_assert(eq(int, R.status, 200));
	cr_assert(eq(str, (char *)hdr_get(&R, "Content-Length", v, sizeof(v)), "17"));
	/* had a body been sent, it would precede this response */
	request(c, "GET", "/echo?q=after");
	cr_assert(eq(int, strncmp(R.head, "HTTP/1.1 200", 12), 0));
	cr_assert(not(eq(ptr, strstr(R.body, "\"q\":\"after\""), NULL)));
	request(c, "HEAD", "/nope");
	cr_assert(eq(int, R.status, 404));
	request(c, "GET", "/hello");
	cr_assert(eq(str, R.body, "{\"hello\":\"world\"}"));
	cli_close(c);
	srv_stop();
}

Test(api, percent_decoded_path)
{
	struct cli *c;

	srv_start();
	c = cli_open();
	request(c, "GET", "/h%65llo");
	cr_assert(eq(str, R.body, "{\"hello\":\"world\"}"));
	request(c, "GET", "/v1/clients/10.0.0.1%2F24%20x?q=1");
	cr_assert(eq(int, R.status, 200));
	cr_assert(not(eq(ptr, strstr(R.body, "\"path\":\"/v1/clients/10.0.0.1/24 x\""), NULL)),
		  "%s", R.body);
	cli_close(c);
	cr_assert(eq(int, get_status("/hello%00"), 400));
	cr_assert(eq(int, get_status("/he%zzllo"), 400));
	cr_assert(eq(int, get_status("/hello%4"), 400));
	cr_assert(eq(int, get_status("/hello%"), 400));
	srv_stop();
}

Test(api, retry_after_and_content_type)
{
	char v[64];
	struct cli *c;

	srv_start();
	c = cli_open();
	request(c, "GET", "/limited");
	cr_assert(eq(int, strncmp(R.head, "HTTP/1.1 429 Too Many Requests\r\n", 32), 0));
	cr_assert(eq(str, (char *)hdr_get(&R, "Retry-After", v, sizeof(v)), "7"));
	cr_assert(eq(str, (char *)hdr_get(&R, "Content-Type", v, sizeof(v)), "text/plain"));
	cr_assert(eq(str, R.body, "slow down\n"));
	request(c, "GET", "/hello");
	cr_assert(hdr_get(&R, "Retry-After", v, sizeof(v)) == NULL);
	cli_close(c);
	srv_stop();
}

/* The answers a gateway's auth subrequest gets: it reads the head only,
 * so the connection stays usable only when no body follows. */
Test(api, answers_without_a_body)
{
	char v[64];
	struct cli *c;

	srv_start();
	c = cli_open();
	request(c, "GET", "/nobody");
	cr_assert(eq(int, strncmp(R.head, "HTTP/1.1 204 No Content\r\n", 25), 0), "%s", R.head);
	cr_assert(eq(ptr, (void *)hdr_get(&R, "Content-Type", v, sizeof(v)), NULL));
	cr_assert(eq(str, (char *)hdr_get(&R, "X-Tollgate-Key", v, sizeof(v)), "team"));
	cr_assert(eq(str, (char *)hdr_get(&R, "Connection", v, sizeof(v)), "keep-alive"));
	request(c, "HEAD", "/nobody");
	cr_assert(eq(int, R.status, 204));
	cli_send(c, "POST /nobody HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n\r\n");
	cr_assert(eq(int, cli_read(c, false, &R), 0));
	cr_assert(eq(int, R.status, 204));
	request(c, "GET", "/denied");
	cr_assert(eq(int, R.status, 403));
	cr_assert(eq(str, (char *)hdr_get(&R, "Content-Length", v, sizeof(v)), "0"));
	cr_assert(eq(ptr, (void *)hdr_get(&R, "Content-Type", v, sizeof(v)), NULL));
	cr_assert(eq(str, (char *)hdr_get(&R, "Retry-After", v, sizeof(v)), "3"));
	/* nothing was sent after those heads: the next answer is intact */
	request(c, "GET", "/hello");
	cr_assert(eq(str, R.body, "{\"hello\":\"world\"}"));
	cli_close(c);
	srv_stop();
}

Test(api, big_body_twice)
{
	struct cli *c;
	int i;

	srv_start();
	c = cli_open();
	for (i = 0; i < 2; i++) {
		request(c, "GET", "/big");
		cr_assert(eq(sz, R.body_len, 100000));
		cr_assert(eq(int, memcmp(R.body + 99990, "000009999\n", 10), 0));
	}
	cli_close(c);
	srv_stop();
}

/* A slow reader of a big answer sends its next request, then stops
 * sending, while the answer is still on its way: both answers arrive
 * whole and in order, then the connection closes. */
Test(api, request_and_half_close_during_an_answer)
{
	struct cli *c;

	srv_start();
	cli_rcvbuf = 4096;
	c = cli_open();
	cli_send(c, "GET /big HTTP/1.1\r\nHost: t\r\n\r\n");
	usleep(100000); /* the answer fills the socket: its write is pending */
	cli_send(c, "GET /echo?q=next HTTP/1.1\r\nHost: t\r\n\r\n");
	usleep(50000);
	shutdown(c->fd, SHUT_WR);
	usleep(50000);
	cr_assert(eq(int, cli_read(c, false, &R), 0));
	cr_assert(eq(sz, R.body_len, 100000));
	cr_assert(eq(int, memcmp(R.body + 99990, "000009999\n", 10), 0));
	cr_assert(eq(int, cli_read(c, false, &R), 0));
	cr_assert(not(eq(ptr, strstr(R.body, "\"q\":\"next\""), NULL)), "%s", R.body);
	cr_assert(cli_eof(c));
	cli_close(c);
	srv_stop();
}

Test(api, half_close_during_a_big_answer)
{
	char buf[65536], tail[4];
	size_t total = 0;
	struct cli *c;
	ssize_t r;

	srv_start();
	cli_rcvbuf = 4096;
	c = cli_open();
	cli_send(c, "GET /huge HTTP/1.1\r\nHost: t\r\n\r\n");
	usleep(100000);
	shutdown(c->fd, SHUT_WR); /* seen while the answer is still written */
	usleep(50000);
	while ((r = recv(c->fd, buf, sizeof(buf), 0)) > 0) {
		total += (size_t)r;
		memcpy(tail, buf + r - (r < 4 ? r : 4), r < 4 ? (size_t)r : 4);
	}
	cr_assert(eq(int, (int)r, 0), "closed cleanly after the answer");
	cr_assert(gt(sz, total, (size_t)8 * 1024 * 1024), "the whole answer: %zu bytes", total);
	cr_assert(eq(int, memcmp(tail, "END\n", 4), 0));
	cli_close(c);
	srv_stop();
}

Test(api, half_close_still_answered)
{
	struct cli *c;

	srv_start();
	c = cli_open();
	cli_send(c, "GET /hello HTTP/1.1\r\nHost: t\r\n\r\n");
	shutdown(c->fd, SHUT_WR);
	cr_assert(eq(int, cli_read(c, false, &R), 0));
	cr_assert(eq(int, R.status, 200));
	cr_assert(cli_eof(c));
	cli_close(c);
	srv_stop();
}

static void get_hello(struct cli *c)
{
	request(c, "GET", "/hello");
	cr_assert(eq(int, R.status, 200));
}

static struct tg_api_stats stats_now(void)
{
	struct tg_api_stats st;

	/* the loop thread writes them; a test reads after it went quiet */
	usleep(50000);
	tg_api_get_stats(S.api, &st);
	return st;
}

/* Full: a newcomer is served, and the connection idle the longest makes
 * room; the others are untouched. */
Test(api, full_server_displaces_the_oldest_idle)
{
	struct tg_api_opts o = { .listen = "127.0.0.1:0", .max_conns = 4, .sock_uid = -1,
				 .sock_gid = -1 };
	struct tg_api_stats st;
	struct cli *cs[5];
	int i;

	srv_start_opts(&o, 0, 0, NULL);
	for (i = 0; i < 4; i++) {
		cs[i] = cli_open();
		get_hello(cs[i]);
		usleep(20000); /* distinct idle ages: cs[0] the oldest */
	}
	get_hello(cs[0]); /* ... no longer: cs[1] is now */
	cs[4] = cli_open();
	get_hello(cs[4]);
	cr_assert(cli_eof(cs[1]), "the longest idle made room");
	get_hello(cs[0]);
	get_hello(cs[2]);
	get_hello(cs[3]);
	st = stats_now();
	cr_assert(eq(u64, st.open, 4));
	cr_assert(eq(u64, st.max, 4));
	cr_assert(eq(u64, st.accepted, 5));
	cr_assert(eq(u64, st.evicted, 1));
	cr_assert(eq(u64, st.refused, 0));
	for (i = 0; i < 5; i++)
		cli_close(cs[i]);
	srv_stop();
}

/* Connections that hold without asking (the first request's head not
 * there yet) make room before a request that is arriving. */
Test(api, silent_connections_make_room_first)
{
	struct tg_api_opts o = { .listen = "127.0.0.1:0", .max_conns = 3, .sock_uid = -1,
				 .sock_gid = -1 };
	struct cli *slow, *a, *b, *c;

	srv_start_opts(&o, 0, 0, NULL);
	slow = cli_open();
	cli_send(slow, "GET /hello HTTP/1.1\r\nHo"); /* arriving, the oldest */
	usleep(20000);
	a = cli_open();
	usleep(20000);
	b = cli_open();
	usleep(20000);
	c = cli_open(); /* a and b are silent: a goes */
	get_hello(c);
	cr_assert(cli_eof(a));
	cli_send(slow, "st: t\r\n\r\n");
	cr_assert(eq(int, cli_read(slow, false, &R), 0));
	cr_assert(eq(int, R.status, 200), "the arriving request was kept");
	get_hello(b);
	cli_close(slow);
	cli_close(a);
	cli_close(b);
	cli_close(c);
	srv_stop();
}

/* One peer (every loopback address is one) holds at most max_per_peer:
 * beyond it, it displaces only its own. */
Test(api, per_peer_cap)
{
	struct tg_api_opts o = { .listen = "127.0.0.1:0", .max_conns = 16, .max_per_peer = 2,
				 .sock_uid = -1, .sock_gid = -1 };
	struct tg_api_stats st;
	struct cli *a, *b, *c;

	srv_start_opts(&o, 0, 0, NULL);
	a = cli_open();
	get_hello(a);
	usleep(20000);
	b = cli_open();
	get_hello(b);
	c = cli_open();
	get_hello(c);
	cr_assert(cli_eof(a));
	get_hello(b);
	st = stats_now();
	cr_assert(eq(u64, st.open, 2));
	cr_assert(eq(u64, st.evicted, 1));
	cli_close(a);
	cli_close(b);
	cli_close(c);
	srv_stop();
}

/* The default listener: TG_API_MAX_CONNS, TG_API_MAX_PER_PEER from one
 * peer; after a crowd leaves, it serves again. */
Test(api, max_conns)
{
	enum { N = TG_API_MAX_CONNS + 5 };
	struct tg_api_stats st;
	struct cli *cs[N];
	int i, ok = 0, closed = 0, tries;

	srv_start();
	for (i = 0; i < N; i++)
		cs[i] = cli_open();
	/* silent newcomers displaced each other: the latest are served */
	for (i = 0; i < N; i++) {
		if (cli_send_n(cs[i], "GET /hello HTTP/1.1\r\nHost: t\r\n\r\n", 32) == 0 &&
		    cli_read(cs[i], false, &R) == 0 && R.status == 200)
			ok++;
		else
			closed++;
	}
	cr_assert(eq(int, ok, TG_API_MAX_PER_PEER));
	cr_assert(eq(int, closed, N - TG_API_MAX_PER_PEER));
	st = stats_now();
	cr_assert(eq(u64, st.evicted, N - TG_API_MAX_PER_PEER));
	cr_assert(eq(u64, st.refused, 0));
	for (i = 0; i < N; i++)
		cli_close(cs[i]);
	/* the server notices the closes asynchronously */
	for (tries = 0; tries < 50; tries++) {
		struct cli *c = cli_open();

		cli_send(c, "GET /hello HTTP/1.1\r\nHost: t\r\n\r\n");
		i = cli_read(c, false, &R);
		cli_close(c);
		if (i == 0 && R.status == 200)
			break;
		usleep(50000);
	}
	cr_assert(lt(int, tries, 50), "server did not recover after the connections closed");
	srv_stop();
}

/* A request's head has head_ms from its first byte (the first request:
 * from the connection); an idle keep-alive connection has idle_ms. */
Test(api, head_deadline)
{
	struct tg_api_stats st;
	struct cli *silent, *slow, *kept;
	long t0, dt;

	srv_start_opts(NULL, 3000, 300, NULL);
	t0 = now_ms();
	silent = cli_open();
	slow = cli_open();
	kept = cli_open();
	get_hello(kept);
	cli_send(slow, "GET /hello HTTP/1.1\r\n");
	usleep(150000);
	cli_send(slow, "X-Slow: 1\r\n"); /* bytes do not extend it */
	cr_assert(cli_eof(silent));
	cr_assert(cli_eof(slow));
	dt = now_ms() - t0;
	cr_assert(lt(long, dt, 1500), "closed after %ld ms", dt);
	/* idle past head_ms: still open, and the next head gets its own time */
	usleep(200000);
	cli_send(kept, "GET /hello HTTP/1.1\r\n");
	usleep(200000);
	cli_send(kept, "Host: t\r\n\r\n");
	cr_assert(eq(int, cli_read(kept, false, &R), 0));
	cr_assert(eq(int, R.status, 200));
	/* a head that takes too long on a kept connection */
	t0 = now_ms();
	cli_send(kept, "GET /hello HTTP/1.1\r\n");
	cr_assert(cli_eof(kept));
	dt = now_ms() - t0;
	cr_assert(lt(long, dt, 1500), "closed after %ld ms", dt);
	st = stats_now();
	cr_assert(eq(u64, st.timed_out, 3));
	cli_close(silent);
	cli_close(slow);
	cli_close(kept);
	srv_stop();
}

/* A body has what is left of idle_ms after its head. */
Test(api, body_within_the_request_bound)
{
	struct cli *c;

	srv_start_opts(NULL, 600, 200, NULL);
	c = cli_open();
	cli_send(c, "POST /submit HTTP/1.1\r\nHost: t\r\nContent-Length: 4\r\n\r\nab");
	usleep(300000); /* past head_ms, within idle_ms */
	cli_send(c, "cd");
	cr_assert(eq(int, cli_read(c, false, &R), 0));
	cr_assert(eq(int, R.status, 200));
	cli_send(c, "POST /submit HTTP/1.1\r\nHost: t\r\nContent-Length: 4\r\n\r\nab");
	cr_assert(cli_eof(c), "a body that never ends is cut off");
	cli_close(c);
	srv_stop();
}

/* A held answer comes after its delay, in order with what follows it on
 * the connection; held connections are never displaced, and take at most
 * half of the slots: beyond, answers go at once. */
Test(api, held_answers)
{
	struct tg_api_opts o = { .listen = "127.0.0.1:0", .max_conns = 4, .sock_uid = -1,
				 .sock_gid = -1 };
	struct tg_api_stats st;
	struct cli *a, *b, *c, *d, *e;
	long t0, dt;

	srv_start_opts(&o, 0, 0, NULL);
	a = cli_open();
	t0 = now_ms();
	cli_send(a, "GET /held HTTP/1.1\r\nHost: t\r\n\r\nGET /hello HTTP/1.1\r\nHost: t\r\n\r\n");
	cr_assert(eq(int, cli_read(a, false, &R), 0));
	dt = now_ms() - t0;
	cr_assert(eq(int, R.status, 429));
	/* 300 ms, spread over 150..450 */
	cr_assert(ge(long, dt, 140), "answered after %ld ms", dt);
	cr_assert(lt(long, dt, 1500), "answered after %ld ms", dt);
	cr_assert(eq(int, cli_read(a, false, &R), 0));
	cr_assert(eq(int, R.status, 200), "the pipelined request after it");
	/* two held at once (half of 4); a third is answered at once */
	b = cli_open();
	c = cli_open();
	cli_send(a, "GET /held HTTP/1.1\r\nHost: t\r\n\r\n");
	cli_send(b, "GET /held HTTP/1.1\r\nHost: t\r\n\r\n");
	usleep(50000);
	t0 = now_ms();
	cli_send(c, "GET /held HTTP/1.1\r\nHost: t\r\n\r\n");
	cr_assert(eq(int, cli_read(c, false, &R), 0));
	cr_assert(eq(int, R.status, 429));
	cr_assert(lt(long, now_ms() - t0, 120), "beyond half of the slots: at once");
	/* full (a, b held; c idle, e new): a newcomer displaces c, the
	 * longest idle, never a held one */
	usleep(20000);
	e = cli_open();
	usleep(20000);
	d = cli_open();
	get_hello(d);
	cr_assert(cli_eof(c));
	cr_assert(eq(int, cli_read(a, false, &R), 0));
	cr_assert(eq(int, R.status, 429));
	cr_assert(eq(int, cli_read(b, false, &R), 0));
	cr_assert(eq(int, R.status, 429));
	st = stats_now();
	cr_assert(eq(u64, st.delayed, 3));
	cli_close(a);
	cli_close(b);
	cli_close(c);
	cli_close(d);
	cli_close(e);
	srv_stop();
}

/* Answers held together do not come back together: the wait is spread
 * over 0.5..1.5 times the delay. */
Test(api, held_answers_spread)
{
	enum { N = 8 };
	struct pollfd p[N];
	struct cli *cs[N];
	long t0, at[N] = { 0 }, first = 0, last = 0;
	int left = N;

	srv_start();
	for (int i = 0; i < N; i++) {
		cs[i] = cli_open();
		p[i] = (struct pollfd){ .fd = cs[i]->fd, .events = POLLIN };
	}
	t0 = now_ms();
	for (int i = 0; i < N; i++)
		cli_send(cs[i], "GET /held HTTP/1.1\r\nHost: t\r\n\r\n");
	/* when each answer arrives */
	while (left && now_ms() - t0 < 3000) {
		cr_assert(ge(int, poll(p, N, 100), 0));
		for (int i = 0; i < N; i++) {
			if (!(p[i].revents & POLLIN) || at[i])
				continue;
			at[i] = now_ms() - t0;
			p[i].events = 0;
			left--;
		}
	}
	cr_assert(eq(int, left, 0));
	for (int i = 0; i < N; i++) {
		first = i == 0 || at[i] < first ? at[i] : first;
		last = at[i] > last ? at[i] : last;
		cr_assert(eq(int, cli_read(cs[i], false, &R), 0));
		cr_assert(eq(int, R.status, 429));
		cli_close(cs[i]);
	}
	cr_assert(ge(long, first, 140));
	cr_assert(gt(long, last - first, 30), "all within %ld ms", last - first);
	srv_stop();
}

/* Stopping with answers held: the connections close, nothing leaks. */
Test(api, stop_with_held_answers)
{
	struct cli *a;

	srv_start();
	a = cli_open();
	cli_send(a, "GET /held HTTP/1.1\r\nHost: t\r\n\r\n");
	usleep(50000);
	srv_stop();
	cr_assert(cli_eof(a));
	cli_close(a);
}

/* ---- Unix sockets ------------------------------------------------------ */

static char udir[64], upath[96];

static void unix_paths(void)
{
	snprintf(udir, sizeof(udir), "/tmp/tg-api-test.XXXXXX");
	cr_assert(mkdtemp(udir) != NULL);
	snprintf(upath, sizeof(upath), "%s/sub/check.sock", udir);
}

static void unix_cleanup(void)
{
	char p[160];

	unlink(upath);
	snprintf(p, sizeof(p), "%s/sub", udir);
	rmdir(p);
	rmdir(udir);
}

Test(api, unix_socket)
{
	struct tg_api_opts o = { .sock_uid = -1, .sock_gid = (int)getgid(), .sock_mode = 0660 };
	char listen[160];
	struct stat st;
	struct cli *c;

	unix_paths();
	snprintf(listen, sizeof(listen), "unix:%s", upath);
	o.listen = listen;
	srv_start_opts(&o, 0, 0, NULL);
	cr_assert(eq(int, tg_api_port(S.api), 0));
	/* the directory was made; the socket has the mode and group asked */
	cr_assert(eq(int, lstat(upath, &st), 0));
	cr_assert(eq(u32, st.st_mode & S_IFMT, S_IFSOCK));
	cr_assert(eq(u32, st.st_mode & 07777, 0660));
	cr_assert(eq(u32, st.st_gid, getgid()));
	c = cli_open_at(upath);
	cli_send(c, "POST /any HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n\r\n");
	cr_assert(eq(int, cli_read(c, false, &R), 0));
	cr_assert(eq(str, R.body, "{\"peer\":\"unix\"}"));
	get_hello(c);
	cli_close(c);
	srv_stop();
	cr_assert(eq(int, lstat(upath, &st), -1), "the socket's file goes with the server");
	unix_cleanup();
}

Test(api, unix_socket_stale_live_and_foreign_files)
{
	struct sockaddr_un su = { .sun_family = AF_UNIX };
	struct tg_api *a = NULL, *b = NULL;
	char listen[160];
	uv_loop_t loop;
	int fd;

	unix_paths();
	snprintf(listen, sizeof(listen), "unix:%s", upath);
	cr_assert(eq(int, uv_loop_init(&loop), 0));
	/* a stale socket file: bound, never listened on (a killed agent's) */
	snprintf(su.sun_path, sizeof(su.sun_path), "%s/sub", udir);
	cr_assert(eq(int, mkdir(su.sun_path, 0755), 0));
	snprintf(su.sun_path, sizeof(su.sun_path), "%s", upath);
	fd = socket(AF_UNIX, SOCK_STREAM, 0);
	cr_assert(eq(int, bind(fd, (struct sockaddr *)&su, sizeof(su)), 0));
	close(fd);
	cr_assert(eq(int, tg_api_start(&loop, listen, routes, 1, NULL, &a), 0), "stale file replaced");
	/* a live one: refused, and left in place */
	cr_assert(eq(int, tg_api_start(&loop, listen, routes, 1, NULL, &b), -EADDRINUSE));
	cr_assert(eq(ptr, b, NULL));
	cr_assert(eq(int, access(upath, F_OK), 0));
	tg_api_stop(a);
	cr_assert(eq(int, uv_run(&loop, UV_RUN_DEFAULT), 0));
	/* not a socket: never removed */
	fd = open(upath, O_CREAT | O_WRONLY, 0600);
	cr_assert(ge(int, fd, 0));
	close(fd);
	cr_assert(eq(int, tg_api_start(&loop, listen, routes, 1, NULL, &b), -EEXIST));
	cr_assert(eq(int, access(upath, F_OK), 0));
	/* relative or too long: malformed */
	cr_assert(eq(int, tg_api_start(&loop, "unix:rel.sock", routes, 1, NULL, &b), -EINVAL));
	cr_assert(eq(int, tg_api_start(&loop, "unix:/tmp/", routes, 1, NULL, &b), -EINVAL));
	memset(listen + 5, 'x', 120);
	listen[5] = '/';
	listen[125] = '\0';
	cr_assert(eq(int, tg_api_start(&loop, listen, routes, 1, NULL, &b), -EINVAL));
	cr_assert(eq(int, uv_loop_close(&loop), 0));
	unix_cleanup();
}

Test(api, idle_timeout)
{
	struct cli *c;
	long t0, dt;
	int i;

	srv_start_idle(500);
	/* each response re-arms the timer: gaps below the bound are fine */
	c = cli_open();
	for (i = 0; i < 3; i++) {
		request(c, "GET", "/hello");
		cr_assert(eq(int, R.status, 200));
		usleep(250000);
	}
	t0 = now_ms();
	cr_assert(cli_eof(c));
	dt = now_ms() - t0;
	cr_assert(lt(long, dt, 1500), "closed after %ld ms", dt);
	cli_close(c);
	srv_stop();
}

Test(api, slowloris_bounded)
{
	static const char req[] = "GET /hello HTTP/1.1\r\nHost: t\r\nX-Slow: ";
	struct cli *c;
	long t0, dt;
	bool closed = false;
	char b;
	ssize_t r;
	int i;

	srv_start_idle(300);
	t0 = now_ms();
	c = cli_open();
	cli_send(c, req);
	/* keeps sending, never finishes the request */
	for (i = 0; i < 60 && !closed; i++) {
		if (cli_send_n(c, "a", 1))
			closed = true;
		r = recv(c->fd, &b, 1, MSG_DONTWAIT);
		if (r == 0 || (r < 0 && errno == ECONNRESET))
			closed = true;
		cr_assert(r <= 0, "got a response to an unfinished request");
		usleep(50000);
	}
	dt = now_ms() - t0;
	cr_assert(closed);
	cr_assert(lt(long, dt, 1500), "closed after %ld ms", dt);
	cli_close(c);
	srv_stop();
}

Test(api, stop_with_open_connections)
{
	struct cli *a, *b;

	srv_start();
	a = cli_open();
	b = cli_open();
	request(a, "GET", "/hello");
	cli_send(b, "GET /hello HTTP/1.1\r\nHo"); /* mid-request */
	usleep(50000);
	srv_stop();
	cr_assert(cli_eof(a));
	cr_assert(cli_eof(b));
	cli_close(a);
	cli_close(b);
}

Test(api, stop_from_handler)
{
	struct cli *c;

	srv_start();
	c = cli_open();
	cli_send(c, "GET /quit HTTP/1.1\r\nHost: t\r\n\r\n");
	cr_assert(cli_eof(c));
	cli_close(c);
	srv_join();
}

Test(api, start_errors)
{
	struct tg_api *a = NULL, *b = NULL;
	char listen[64];
	uv_loop_t loop;

	cr_assert(eq(int, uv_loop_init(&loop), 0));
	cr_assert(eq(int, tg_api_start(&loop, "nonsense", routes, 1, NULL, &b), -EINVAL));
	cr_assert(eq(ptr, b, NULL));
	cr_assert(eq(int, tg_api_start(&loop, "localhost:0", routes, 1, NULL, &a), 0));
	snprintf(listen, sizeof(listen), "127.0.0.1:%d", tg_api_port(a));
	cr_assert(eq(int, tg_api_start(&loop, listen, routes, 1, NULL, &b), -EADDRINUSE));
	cr_assert(eq(ptr, b, NULL));
	/* stop before the loop ever ran */
	tg_api_stop(a);
	tg_api_stop(NULL);
	cr_assert(eq(int, uv_run(&loop, UV_RUN_DEFAULT), 0));
	cr_assert(eq(int, uv_loop_close(&loop), 0));
}

Test(api, ipv6_listen)
{
	struct tg_api *a = NULL;
	uv_loop_t loop;
	int err;

	cr_assert(eq(int, uv_loop_init(&loop), 0));
	err = tg_api_start(&loop, "[::1]:0", routes, 1, NULL, &a);
	if (err == -EADDRNOTAVAIL || err == -EAFNOSUPPORT) {
		uv_loop_close(&loop);
		cr_skip_test("no IPv6 loopback");
	}
	cr_assert(eq(int, err, 0));
	cr_assert(gt(int, tg_api_port(a), 0));
	tg_api_stop(a);
	cr_assert(eq(int, uv_run(&loop, UV_RUN_DEFAULT), 0));
	cr_assert(eq(int, uv_loop_close(&loop), 0));
}

Test(api, parse_listen)
{
	static const char *bad[] = {
		"", "1.2.3.4", "1.2.3.4:", "1.2.3.4:65536", "1.2.3.4:8x", ":80",
		"[::1:80", "[::1]80", "[]:80", "host:80", "::1:80", "1.2.3:80",
		"1.2.3.4:123456", "[127.0.0.1]:80", "1.2.3.4:-1",
	};
	struct sockaddr_storage ss;
	struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
	size_t i;
	int lo;

	cr_assert(eq(int, tg_addr_parse_listen("127.0.0.1:9470", &ss), 0));
	cr_assert(eq(int, s4->sin_family, AF_INET));
	cr_assert(eq(u16, ntohs(s4->sin_port), 9470));
	cr_assert(eq(u32, ntohl(s4->sin_addr.s_addr), 0x7f000001));
	cr_assert(eq(int, tg_addr_parse_listen("localhost:0", &ss), 0));
	cr_assert(eq(u32, ntohl(s4->sin_addr.s_addr), 0x7f000001));
	cr_assert(eq(int, tg_addr_parse_listen("0.0.0.0:65535", &ss), 0));
	cr_assert(eq(u16, ntohs(s4->sin_port), 65535));
	cr_assert(eq(int, tg_addr_parse_listen("[::1]:80", &ss), 0));
	cr_assert(eq(int, s6->sin6_family, AF_INET6));
	cr_assert(eq(u16, ntohs(s6->sin6_port), 80));
	lo = IN6_IS_ADDR_LOOPBACK(&s6->sin6_addr);
	cr_assert(lo);
	cr_assert(eq(int, tg_addr_parse_listen("[fd00:198:18::1]:9470", &ss), 0));
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		cr_assert(eq(int, tg_addr_parse_listen(bad[i], &ss), -EINVAL), "%s", bad[i]);
	cr_assert(eq(int, tg_addr_parse_listen(NULL, &ss), -EINVAL));
}

/* ---- headers and the API token ---------------------------------------- */

#define TOKEN "tg-7f3a9c1e5b2d4f60"

/* One request with extra header lines (each ending in \r\n). */
static void request_h(struct cli *c, const char *method, const char *target, const char *hdrs)
{
	char req[8192];

	snprintf(req, sizeof(req), "%s %s HTTP/1.1\r\nHost: t\r\n%s\r\n", method, target, hdrs);
	cli_send(c, req);
	cr_assert(eq(int, cli_read(c, strcmp(method, "HEAD") == 0, &R), 0), "%s %s", method, target);
}

Test(api, headers_seen_by_handlers)
{
	static const char req[] = "GET /headers HTTP/1.1\r\nHost: t\r\nX-A:   spaced value \t\r\n"
				  "x-b: 2\r\nX-Empty:\r\nX-A: second\r\n\r\n";
	struct cli *c;

	srv_start();
	c = cli_open();
	request_h(c, "GET", "/headers", "X-A: 1\r\nX-Empty: \r\nAuthorization: Bearer sk-x\r\n");
	cr_assert(eq(int, R.status, 200));
	cr_assert(eq(str, R.body, "{\"n\":4,\"x-a\":\"1\",\"X-B\":null,\"x-empty\":\"\","
			 "\"authorization\":\"Bearer sk-x\"}"));
	/* byte by byte: every name and value arrives in pieces */
	for (size_t i = 0; i < sizeof(req) - 1; i++)
		cr_assert(eq(int, cli_send_n(c, req + i, 1), 0));
	cr_assert(eq(int, cli_read(c, false, &R), 0));
	cr_assert(eq(str, R.body, "{\"n\":5,\"x-a\":\"spaced value\",\"X-B\":\"2\",\"x-empty\":\"\","
			 "\"authorization\":null}"));
	/* nothing left over from the previous request */
	request(c, "GET", "/headers");
	cr_assert(eq(str, R.body, "{\"n\":1,\"x-a\":null,\"X-B\":null,\"x-empty\":null,"
			 "\"authorization\":null}"));
	cli_close(c);
	srv_stop();
}

static void many_headers(char *buf, size_t len, int n)
{
	size_t o = (size_t)snprintf(buf, len, "GET /headers HTTP/1.1\r\n");

	for (int i = 0; i < n; i++)
		o += (size_t)snprintf(buf + o, len - o, "X-H%d: %d\r\n", i, i);
	snprintf(buf + o, len - o, "\r\n");
}

Test(api, too_many_headers_431)
{
	static char req[4096];
	struct cli *c;

	srv_start();
	many_headers(req, sizeof(req), TG_API_MAX_HEADERS);
	c = cli_open();
	cli_send(c, req);
	cr_assert(eq(int, cli_read(c, false, &R), 0));
	cr_assert(eq(int, R.status, 200));
	cli_close(c);
	many_headers(req, sizeof(req), TG_API_MAX_HEADERS + 1);
	c = cli_open();
	cli_send(c, req);
	cr_assert(eq(int, cli_read(c, false, &R), 0));
	cr_assert(eq(int, R.status, 431));
	cr_assert(eq(str, R.body, "{\"error\":\"too many request headers\"}"));
	cr_assert(cli_eof(c));
	cli_close(c);
	srv_stop();
}

/* Headers just under the request bound, in many small reads: the header
 * store never overflows, the request bound answers first. */
Test(api, header_store_bounded)
{
	static char req[3 * TG_API_MAX_REQUEST];
	size_t o;
	struct cli *c;

	srv_start();
	o = (size_t)snprintf(req, sizeof(req), "GET /headers HTTP/1.1\r\n");
	for (int i = 0; i < 40; i++) {
		o += (size_t)snprintf(req + o, sizeof(req) - o, "X-%d: ", i);
		memset(req + o, 'v', 300);
		o += 300;
		o += (size_t)snprintf(req + o, sizeof(req) - o, "\r\n");
	}
	o += (size_t)snprintf(req + o, sizeof(req) - o, "\r\n");
	c = cli_open();
	cr_assert(eq(int, cli_send_n(c, req, o), 0));
	cr_assert(eq(int, cli_read(c, false, &R), 0));
	cr_assert(eq(int, R.status, 431));
	cli_close(c);
	srv_stop();
}

Test(api, unknown_method_400)
{
	struct cli *c;

	srv_start();
	c = cli_open();
	cli_send(c, "FROB /hello HTTP/1.1\r\nHost: t\r\n\r\n");
	cr_assert(eq(int, cli_read(c, false, &R), 0));
	cr_assert(eq(int, R.status, 400));
	cr_assert(cli_eof(c));
	cli_close(c);
	srv_stop();
}

Test(api, token_required)
{
	char v[64];
	struct cli *c;

	srv_start_full(0, TOKEN);
	c = cli_open();
	request(c, "GET", "/hello");
	cr_assert(eq(int, R.status, 401));
	cr_assert(eq(str, (char *)hdr_get(&R, "WWW-Authenticate", v, sizeof(v)), "Bearer"));
	cr_assert(eq(str, (char *)hdr_get(&R, "Content-Type", v, sizeof(v)), "application/json"));
	cr_assert(eq(str, R.body, "{\"error\":\"missing or invalid API token\"}"));
	/* the connection stays usable */
	request_h(c, "GET", "/hello", "Authorization: Bearer " TOKEN "\r\n");
	cr_assert(eq(int, R.status, 200));
	cr_assert(hdr_get(&R, "WWW-Authenticate", v, sizeof(v)) == NULL);
	request_h(c, "GET", "/hello", "authorization: bearer   " TOKEN "  \r\n");
	cr_assert(eq(int, R.status, 200));
	request_h(c, "GET", "/hello", "X-Tollgate-Token: " TOKEN "\r\n");
	cr_assert(eq(int, R.status, 200));
	request_h(c, "HEAD", "/hello", "x-tollgate-token: " TOKEN "\r\n");
	cr_assert(eq(int, R.status, 200));
	/* a wrong one next to the right one does not hide it */
	request_h(c, "GET", "/hello", "X-Tollgate-Token: nope\r\nAuthorization: Bearer " TOKEN "\r\n");
	cr_assert(eq(int, R.status, 200));
	cli_close(c);
	srv_stop();
}

Test(api, token_wrong_forms_401)
{
	static const char *const bad[] = {
		"Authorization: Bearer tg-7f3a9c1e5b2d4f6\r\n",      /* a prefix */
		"Authorization: Bearer " TOKEN "0\r\n",              /* one more */
		"Authorization: Bearer TG-7F3A9C1E5B2D4F60\r\n",     /* case */
		"Authorization: Basic " TOKEN "\r\n",
		"Authorization: " TOKEN "\r\n",
		"Authorization: Bearer\r\n",
		"Authorization: Bearer \r\n",
		"X-Tollgate-Token: \r\n",
		"X-Tollgate-Token: Bearer " TOKEN "\r\n",
		"X-Tollgate-Token-2: " TOKEN "\r\n",
		"X-Tollgate: " TOKEN "\r\n",
	};
	char v[64];
	struct cli *c;

	srv_start_full(0, TOKEN);
	c = cli_open();
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		request_h(c, "GET", "/hello", bad[i]);
		cr_assert(eq(int, R.status, 401), "%s", bad[i]);
		cr_assert(eq(str, (char *)hdr_get(&R, "WWW-Authenticate", v, sizeof(v)), "Bearer"));
	}
	cli_close(c);
	srv_stop();
}

/* Without the token an unknown path or method says nothing about the
 * routes; with it, the usual 404 and 405. */
Test(api, token_before_routing)
{
	char v[64];
	struct cli *c;

	srv_start_full(0, TOKEN);
	c = cli_open();
	request(c, "GET", "/nope");
	cr_assert(eq(int, R.status, 401));
	request(c, "DELETE", "/hello");
	cr_assert(eq(int, R.status, 401));
	cr_assert(hdr_get(&R, "Allow", v, sizeof(v)) == NULL);
	request_h(c, "GET", "/nope", "X-Tollgate-Token: " TOKEN "\r\n");
	cr_assert(eq(int, R.status, 404));
	cr_assert(hdr_get(&R, "WWW-Authenticate", v, sizeof(v)) == NULL);
	request_h(c, "DELETE", "/hello", "X-Tollgate-Token: " TOKEN "\r\n");
	cr_assert(eq(int, R.status, 405));
	cli_close(c);
	/* malformed requests are refused before any of it */
	cr_assert(eq(int, get_status("/hello%zz"), 400));
	srv_stop();
}

/* A NO_BEARER route: Authorization is the client's own header there. */
Test(api, token_no_bearer_route)
{
	struct cli *c;

	srv_start_full(0, TOKEN);
	c = cli_open();
	request_h(c, "GET", "/check/v1/chat", "Authorization: Bearer " TOKEN "\r\n");
	cr_assert(eq(int, R.status, 401));
	request_h(c, "GET", "/check/v1/chat",
		  "Authorization: Bearer sk-client\r\nX-Tollgate-Token: " TOKEN "\r\n");
	cr_assert(eq(int, R.status, 200));
	cr_assert(not(eq(ptr, strstr(R.body, "\"authorization\":\"Bearer sk-client\""), NULL)),
		  "%s", R.body);
	/* 405 on that group keeps the rule */
	request_h(c, "PUT", "/check/x", "Authorization: Bearer " TOKEN "\r\n");
	cr_assert(eq(int, R.status, 401));
	request_h(c, "PUT", "/check/x", "X-Tollgate-Token: " TOKEN "\r\n");
	cr_assert(eq(int, R.status, 405));
	cli_close(c);
	srv_stop();
}

Test(api, token_off)
{
	struct tg_api *a = NULL;
	uv_loop_t loop;

	cr_assert(eq(int, tg_api_set_token(NULL, TOKEN), -EINVAL));
	srv_start_full(0, "");
	cr_assert(eq(int, get_status("/hello"), 200));
	srv_stop();
	/* set, then cleared */
	cr_assert(eq(int, uv_loop_init(&loop), 0));
	cr_assert(eq(int, tg_api_start(&loop, "127.0.0.1:0", routes, 1, NULL, &a), 0));
	cr_assert(eq(int, tg_api_set_token(a, TOKEN), 0));
	cr_assert(eq(int, tg_api_set_token(a, NULL), 0));
	tg_api_stop(a);
	cr_assert(eq(int, uv_run(&loop, UV_RUN_DEFAULT), 0));
	cr_assert(eq(int, uv_loop_close(&loop), 0));
}

Test(api, header_lookup_table)
{
	static const char hs[] = "x-a\0one\0content-type\0text/plain\0x-a\0two\0";
	struct tg_api_req req = { .headers = hs, .n_headers = 3 };
	struct tg_api_req none = { 0 };

	cr_assert(eq(str, (char *)tg_api_header(&req, "X-A"), "one"));
	cr_assert(eq(str, (char *)tg_api_header(&req, "Content-Type"), "text/plain"));
	cr_assert(eq(ptr, (void *)tg_api_header(&req, "x"), NULL));
	cr_assert(eq(ptr, (void *)tg_api_header(&none, "x-a"), NULL));
}

/* The store directly: pieces, bounds, and the token match over it. */
Test(api, header_store_and_token_table)
{
	static struct tg_api_hdrs h;
	static char big[TG_API_HDR_BUF];
	struct tg_api_token t = { 0 };
	struct tg_api_req req;

	tg_api_hdrs_reset(&h);
	cr_assert(eq(ptr, (void *)tg_api_hdrs_name(&h, "X-Tol", 5), NULL));
	cr_assert(eq(ptr, (void *)tg_api_hdrs_name(&h, "lgate-Token", 11), NULL));
	cr_assert(eq(ptr, (void *)tg_api_hdrs_value(&h, " ab", 3), NULL));
	cr_assert(eq(ptr, (void *)tg_api_hdrs_value(&h, "c ", 2), NULL));
	cr_assert(eq(ptr, (void *)tg_api_hdrs_name(&h, "Authorization", 13), NULL));
	cr_assert(eq(ptr, (void *)tg_api_hdrs_value(&h, "Bearer xyz", 10), NULL));
	tg_api_hdrs_finish(&h);
	req.headers = h.buf;
	req.n_headers = h.n;
	cr_assert(eq(str, (char *)tg_api_header(&req, "x-tollgate-token"), "abc"));
	cr_assert(eq(str, (char *)tg_api_header(&req, "AUTHORIZATION"), "Bearer xyz"));

	cr_assert(tg_api_token_ok(&t, &h, true)); /* none set */
	cr_assert(eq(int, tg_api_token_set(&t, "abc"), 0));
	cr_assert(tg_api_token_ok(&t, &h, true));
	cr_assert(tg_api_token_ok(&t, &h, false));
	cr_assert(eq(int, tg_api_token_set(&t, "xyz"), 0));
	cr_assert(tg_api_token_ok(&t, &h, true));
	cr_assert(not(tg_api_token_ok(&t, &h, false)));
	cr_assert(eq(int, tg_api_token_set(&t, "ab"), 0));
	cr_assert(not(tg_api_token_ok(&t, &h, true)));
	cr_assert(eq(int, tg_api_token_set(&t, ""), 0));
	cr_assert(tg_api_token_ok(&t, &h, false));

	tg_api_hdrs_reset(&h);
	for (int i = 0; i < TG_API_MAX_HEADERS; i++) {
		cr_assert(eq(ptr, (void *)tg_api_hdrs_name(&h, "a", 1), NULL));
		cr_assert(eq(ptr, (void *)tg_api_hdrs_value(&h, "", 0), NULL));
	}
	cr_assert(eq(str, (char *)tg_api_hdrs_name(&h, "a", 1), "too many request headers"));
	tg_api_hdrs_reset(&h);
	memset(big, 'v', sizeof(big));
	cr_assert(eq(ptr, (void *)tg_api_hdrs_name(&h, "a", 1), NULL));
	cr_assert(eq(str, (char *)tg_api_hdrs_value(&h, big, sizeof(big) - 2),
		     "request headers too large"));
	cr_assert(eq(ptr, (void *)tg_api_hdrs_value(&h, big, sizeof(big) - 3), NULL));
	/* one byte left: for the value's NUL, not for another name */
	cr_assert(eq(ptr, (void *)tg_api_hdrs_value(&h, "", 0), NULL));
	cr_assert(eq(str, (char *)tg_api_hdrs_name(&h, "b", 1), "request headers too large"));
	cr_assert(eq(sz, h.len, sizeof(big)));
}

Test(api, response_headers_any_method_and_peer)
{
	struct cli *c;
	char v[128];

	srv_start();
	c = cli_open();
	cli_send(c, "POST /any HTTP/1.1\r\nHost: t\r\nX-A: first value\r\nContent-Length: 0\r\n\r\n");
	cr_assert(eq(int, cli_read(c, false, &R), 0));
	cr_assert(eq(int, R.status, 200));
	cr_assert(eq(str, R.body, "{\"peer\":\"127.0.0.1\"}"));
	cr_assert(eq(str, (char *)hdr_get(&R, "X-Echo-A", v, sizeof(v)), "first value"));
	cr_assert(eq(ptr, (void *)hdr_get(&R, "Injected", v, sizeof(v)), NULL), "no header injection");
	cr_assert(eq(ptr, (void *)hdr_get(&R, "X-Bad", v, sizeof(v)), NULL));
	cr_assert(eq(str, (char *)hdr_get(&R, "X-Method", v, sizeof(v)), "POST"));
	cli_send(c, "DELETE /any HTTP/1.1\r\nHost: t\r\n\r\n");
	cr_assert(eq(int, cli_read(c, false, &R), 0));
	cr_assert(eq(str, (char *)hdr_get(&R, "X-Method", v, sizeof(v)), "DELETE"), "any method");
	cr_assert(eq(str, (char *)hdr_get(&R, "X-Echo-A", v, sizeof(v)), "-"), "nothing left over");
	cli_close(c);
	srv_stop();
}

/* Header lines as tg_api_resp_header writes them: "%s" and "%" PRIu64
 * without printf, anything else through it; a value with a control
 * character, or a line that does not fit, leaves nothing behind. */
Test(api, response_header_lines)
{
	static struct tg_api_resp r;
	char big[TG_API_EXTRA_HEADERS];

	memset(&r, 0, sizeof(r));
	cr_assert(eq(int, tg_api_resp_header(&r, "A", "%s", "text"), 0));
	cr_assert(eq(int, tg_api_resp_header(&r, "B", "%" PRIu64, (uint64_t)0), 0));
	cr_assert(eq(int, tg_api_resp_header(&r, "C", "%" PRIu64, UINT64_MAX), 0));
	cr_assert(eq(int, tg_api_resp_header(&r, "D", "\"%s\";q=%d", "k", 5), 0));
	cr_assert(eq(int, tg_api_resp_header(&r, "E", "%s", "a\nb"), -1));
	cr_assert(eq(int, tg_api_resp_header(&r, "F", "%s", ""), 0));
	r.extra[r.extra_len] = '\0';
	cr_assert(eq(str, r.extra, "A: text\r\nB: 0\r\nC: 18446744073709551615\r\nD: \"k\";q=5\r\nF: \r\n"));
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	cr_assert(eq(int, tg_api_resp_header(&r, "G", "%s", big), -1));
	cr_assert(eq(int, tg_api_resp_header(&r, "H", "%s%s", "x", big), -1));
	cr_assert(eq(int, tg_api_resp_header(&r, big, "%s", "x"), -1));
	r.extra[r.extra_len] = '\0';
	cr_assert(eq(sz, strlen(r.extra), r.extra_len), "nothing left behind");
	cr_assert(eq(int, tg_api_resp_header(&r, "I", "%" PRIu64, (uint64_t)42), 0));
	cr_assert(not(eq(ptr, strstr(r.extra, "F: \r\nI: 42\r\n"), NULL)));
}
