/* The local API's parser and router (agent/api/api.c) in process, with no
 * socket: api.c is compiled into this file with its libuv calls on the
 * connection (accept, read, write, shutdown, close, timers) turned into
 * the stand-ins below, which record what the server asked for. Each input
 * is one connection: its bytes are handed to the server's read callback in
 * chunks, writes complete when the server is not inside its own code, and
 * the connection ends with EOF. Every response must be a well-framed
 * HTTP/1.1 response.
 *
 * Input: byte 0 sets the chunk size (0: TG_API_READ_BUF, the size libuv
 * reads with; n: n bytes), the rest is what the client sends. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

static int fz_tcp_init(uv_loop_t *loop, uv_tcp_t *h);
static int fz_timer_init(uv_loop_t *loop, uv_timer_t *h);
static int fz_timer_start(uv_timer_t *h, uv_timer_cb cb, uint64_t timeout, uint64_t repeat);
static int fz_accept(uv_stream_t *server, uv_stream_t *client);
static int fz_tcp_nodelay(uv_tcp_t *h, int enable);
static int fz_tcp_getpeername(const uv_tcp_t *h, struct sockaddr *name, int *namelen);
static int fz_read_start(uv_stream_t *s, uv_alloc_cb alloc_cb, uv_read_cb read_cb);
static int fz_read_stop(uv_stream_t *s);
static int fz_write(uv_write_t *req, uv_stream_t *s, const uv_buf_t bufs[], unsigned int nbufs,
		    uv_write_cb cb);
static int fz_shutdown(uv_shutdown_t *req, uv_stream_t *s, uv_shutdown_cb cb);
static void fz_close(uv_handle_t *h, uv_close_cb cb);
static int fz_try_write(uv_stream_t *s, const uv_buf_t bufs[], unsigned int nbufs);
static size_t fz_write_queue_size(const uv_stream_t *s);

#define uv_tcp_init fz_tcp_init
#define uv_timer_init fz_timer_init
#define uv_timer_start fz_timer_start
#define uv_accept fz_accept
#define uv_tcp_nodelay fz_tcp_nodelay
#define uv_tcp_getpeername fz_tcp_getpeername
#define uv_read_start fz_read_start
#define uv_read_stop fz_read_stop
#define uv_write fz_write
#define uv_shutdown fz_shutdown
#define uv_close fz_close
#define uv_try_write fz_try_write
#define uv_stream_get_write_queue_size fz_write_queue_size
#include "api/api.c"
#include "fuzz_api_routes.h"

/* What the server asked of the connection. */
static struct {
	uv_stream_t *stream;
	uv_alloc_cb alloc_cb;
	uv_read_cb read_cb;
	int reading, shut;
	uv_write_t *wreq;
	uv_write_cb wcb;
	struct {
		uv_handle_t *h;
		uv_close_cb cb;
	} closes[4];
	int n_closes;
	char *out; /* every byte written */
	size_t out_len, out_cap;
} fz;

static int fz_tcp_init(uv_loop_t *loop, uv_tcp_t *h)
{
	(void)loop;
	memset(h, 0, sizeof(*h));
	return 0;
}

static int fz_timer_init(uv_loop_t *loop, uv_timer_t *h)
{
	(void)loop;
	memset(h, 0, sizeof(*h));
	return 0;
}

/* Timers never fire: an input ends with EOF instead. */
static int fz_timer_start(uv_timer_t *h, uv_timer_cb cb, uint64_t timeout, uint64_t repeat)
{
	(void)h, (void)cb, (void)timeout, (void)repeat;
	return 0;
}

static int fz_accept(uv_stream_t *server, uv_stream_t *client)
{
	(void)server;
	fz.stream = client;
	return 0;
}

static int fz_tcp_nodelay(uv_tcp_t *h, int enable)
{
	(void)h, (void)enable;
	return 0;
}

static int fz_tcp_getpeername(const uv_tcp_t *h, struct sockaddr *name, int *namelen)
{
	struct sockaddr_in *a = (struct sockaddr_in *)name;

	(void)h;
	if (*namelen < (int)sizeof(*a))
		return UV_EINVAL;
	memset(a, 0, sizeof(*a));
	a->sin_family = AF_INET;
	a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	a->sin_port = htons(40000);
	*namelen = sizeof(*a);
	return 0;
}

static int fz_read_start(uv_stream_t *s, uv_alloc_cb alloc_cb, uv_read_cb read_cb)
{
	if (fz.reading)
		abort(); /* libuv says UV_EALREADY; the server must track it */
	fz.stream = s;
	fz.alloc_cb = alloc_cb;
	fz.read_cb = read_cb;
	fz.reading = 1;
	return 0;
}

static int fz_read_stop(uv_stream_t *s)
{
	(void)s;
	fz.reading = 0;
	return 0;
}

static int fz_write(uv_write_t *req, uv_stream_t *s, const uv_buf_t bufs[], unsigned int nbufs,
		    uv_write_cb cb)
{
	(void)s;
	if (fz.wcb || fz.shut)
		abort(); /* a write while one is pending, or after the shutdown */
	for (unsigned int i = 0; i < nbufs; i++) {
		if (fz.out_len + bufs[i].len > fz.out_cap) {
			size_t cap = (fz.out_len + bufs[i].len) * 2;
			char *p = realloc(fz.out, cap);

			if (!p)
				abort();
			fz.out = p;
			fz.out_cap = cap;
		}
		memcpy(fz.out + fz.out_len, bufs[i].base, bufs[i].len);
		fz.out_len += bufs[i].len;
	}
	fz.wreq = req;
	fz.wcb = cb;
	return 0;
}

static int fz_shutdown(uv_shutdown_t *req, uv_stream_t *s, uv_shutdown_cb cb)
{
	(void)req, (void)s, (void)cb;
	fz.shut = 1;
	return 0;
}

/* The socket takes nothing at once: every answer goes through a write
 * request, whose completion the input loop below controls. */
static int fz_try_write(uv_stream_t *s, const uv_buf_t bufs[], unsigned int nbufs)
{
	(void)s, (void)bufs, (void)nbufs;
	if (fz.wcb || fz.shut)
		abort(); /* a write while one is pending, or after the shutdown */
	return UV_EAGAIN;
}

static size_t fz_write_queue_size(const uv_stream_t *s)
{
	(void)s;
	return fz.wcb ? 1 : 0;
}

/* Close callbacks run after the server's code returns, as libuv's do. */
static void fz_close(uv_handle_t *h, uv_close_cb cb)
{
	if (fz.n_closes >= (int)(sizeof(fz.closes) / sizeof(fz.closes[0])))
		abort(); /* a handle closed twice */
	fz.closes[fz.n_closes].h = h;
	fz.closes[fz.n_closes].cb = cb;
	fz.n_closes++;
}

static struct tg_api *api;
static uv_loop_t loop; /* only its clock is read (uv_now) */

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc, (void)argv;
	api = calloc(1, sizeof(*api));
	if (!api || uv_loop_init(&loop) != 0)
		abort();
	api->loop = &loop;
	api->routes = fuzz_routes;
	api->n_routes = FUZZ_N_ROUTES;
	api->idle_ms = TG_API_IDLE_MS;
	api->head_ms = TG_API_HEAD_MS;
	api->rng = 1;
	api->lim.max = TG_API_MAX_CONNS;
	api->lim.per_peer = TG_API_MAX_PER_PEER;
	api->slots = calloc(api->lim.max, sizeof(*api->slots));
	if (!api->slots)
		abort();
	api->listener.h.data = api;
	if (tg_api_set_token(api, getenv("TG_FUZZ_API_TOKEN")) != 0)
		abort();
	return 0;
}

static void bad_reply(const char *why, const char *r, size_t n)
{
	fprintf(stderr, "%s (%zu bytes): %.*s\n", why, n, (int)(n < 512 ? n : 512), r);
	abort();
}

/* The responses, back to back: each "HTTP/1.1 NNN ", headers, a
 * Content-Length, and that many body bytes (none after a HEAD, which the
 * next response's start or the end shows). Returns how many. */
static size_t check_replies(const char *r, size_t n)
{
	size_t count = 0;

	while (n) {
		const char *end, *cl;
		unsigned long long len;
		size_t hl;
		char *e;

		if (n < 13 || memcmp(r, "HTTP/1.1 ", 9) != 0 || r[9] < '1' || r[9] > '5' ||
		    r[10] < '0' || r[10] > '9' || r[11] < '0' || r[11] > '9' || r[12] != ' ')
			bad_reply("malformed status line", r, n);
		end = memmem(r, n, "\r\n\r\n", 4);
		if (!end)
			bad_reply("no end of headers", r, n);
		hl = (size_t)(end - r) + 4;
		cl = memmem(r, hl, "\r\nContent-Length: ", 18);
		if (!cl)
			bad_reply("no Content-Length", r, n);
		len = strtoull(cl + 18, &e, 10);
		if (*e != '\r')
			bad_reply("bad Content-Length", r, n);
		for (const char *p = r; p < end; p++)
			if ((unsigned char)*p < 0x20 && *p != '\r' && *p != '\n')
				bad_reply("control byte in headers", r, n);
		count++;
		if (n - hl >= len && (n - hl == len || !memcmp(r + hl + len, "HTTP/1.1 ", 9))) {
			r += hl + len;
			n -= hl + len;
		} else if (n == hl || !memcmp(r + hl, "HTTP/1.1 ", 9)) {
			r += hl; /* after a HEAD */
			n -= hl;
		} else {
			bad_reply("body does not match Content-Length", r, n);
		}
	}
	return count;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t chunk, off = 1;
	uv_buf_t buf;

	if (size < 1)
		return 0;
	chunk = data[0] ? data[0] : TG_API_READ_BUF;
	memset(&fz.stream, 0, offsetof(__typeof__(fz), out));
	fz.out_len = 0;
	on_connection((uv_stream_t *)&api->listener, 0);
	if (!fz.stream || !fz.reading)
		abort();
	/* bounded: every turn consumes input, completes a write, or ends */
	for (size_t turn = 0; turn < 2 * size + 64 && !fz.n_closes; turn++) {
		if (fz.wcb) {
			uv_write_cb cb = fz.wcb;

			fz.wcb = NULL;
			cb(fz.wreq, 0);
			continue;
		}
		if (!fz.reading)
			abort(); /* neither writing nor reading: the connection hangs */
		fz.alloc_cb((uv_handle_t *)fz.stream, TG_API_READ_BUF, &buf);
		if (off < size) {
			size_t n = size - off < chunk ? size - off : chunk;

			if (n > buf.len)
				n = buf.len;
			memcpy(buf.base, data + off, n);
			off += n;
			fz.read_cb(fz.stream, (ssize_t)n, &buf);
		} else {
			fz.read_cb(fz.stream, UV_EOF, &buf);
		}
	}
	if (fz.n_closes != 2)
		abort(); /* the connection and its timer, once each */
	if (fz.wcb) { /* libuv cancels a pending write before the close */
		uv_write_cb cb = fz.wcb;

		fz.wcb = NULL;
		cb(fz.wreq, UV_ECANCELED);
	}
	for (int i = 0; i < fz.n_closes; i++)
		fz.closes[i].cb(fz.closes[i].h);
	if (api->n_conns != 0 || api->n_open != 0)
		abort();
	check_replies(fz.out, fz.out_len);
	return 0;
}
