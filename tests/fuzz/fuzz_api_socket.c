/* The local API's request handling (agent/api/api.c) over a real socket:
 * the server listens on 127.0.0.1 in this process, each input is written
 * to a fresh connection, and the loop runs until the server closes it (or
 * 200 ms pass). What comes back must be an HTTP/1.1 response, or nothing.
 * Slow (a connection and up to 200 ms an input): fuzz_api feeds the parser
 * and router in process; this one keeps what only real I/O does (libuv's
 * reads and partial writes, the shutdown and linger, the idle timer). */
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include "fuzz_api_routes.h"

#define WAIT_MS 200

static uv_loop_t loop;
static struct tg_api *api;
static struct sockaddr_in srv;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	if (uv_loop_init(&loop) != 0 ||
	    tg_api_start(&loop, "127.0.0.1:0", fuzz_routes, FUZZ_N_ROUTES, NULL,
			 &api) != 0 ||
	    tg_api_set_token(api, getenv("TG_FUZZ_API_TOKEN")) != 0)
		abort();
	tg_api_set_idle_ms(api, WAIT_MS);
	memset(&srv, 0, sizeof(srv));
	srv.sin_family = AF_INET;
	srv.sin_port = htons((uint16_t)tg_api_port(api));
	srv.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	return 0;
}

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The first response: "HTTP/1.1 NNN " and a header block end. */
static void check_reply(const char *r, size_t n)
{
	if (n == 0)
		return;
	if (n < 13 || memcmp(r, "HTTP/1.1 ", 9) != 0 || r[9] < '1' || r[9] > '5' ||
	    r[10] < '0' || r[10] > '9' || r[11] < '0' || r[11] > '9' || r[12] != ' ' ||
	    !memmem(r, n, "\r\n\r\n", 4)) {
		fprintf(stderr, "malformed response (%zu bytes): %.*s\n", n, (int)(n < 512 ? n : 512), r);
		abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char reply[1 << 16];
	size_t sent = 0, got = 0;
	int fd, closed = 0, wr_shut = 0;
	int64_t deadline;

	fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		abort();
	if (connect(fd, (struct sockaddr *)&srv, sizeof(srv)) != 0 && errno != EINPROGRESS)
		abort();
	deadline = now_ms() + WAIT_MS;
	while (!closed && now_ms() < deadline) {
		struct pollfd p = { .fd = fd, .events = POLLIN };

		if (sent < size) {
			ssize_t w = send(fd, data + sent, size - sent, MSG_NOSIGNAL);

			if (w > 0)
				sent += (size_t)w;
			else if (w < 0 && errno != EAGAIN && errno != ENOTCONN)
				break; /* the server closed on us: fine */
		}
		if (sent == size && !wr_shut) {
			shutdown(fd, SHUT_WR);
			wr_shut = 1;
		}
		uv_run(&loop, UV_RUN_NOWAIT);
		if (poll(&p, 1, 1) > 0) {
			ssize_t r = recv(fd, reply + got, sizeof(reply) - got, 0);

			if (r > 0)
				got += (size_t)r;
			if (r == 0 || (r < 0 && errno != EAGAIN) || got == sizeof(reply))
				closed = 1;
		}
	}
	close(fd);
	check_reply(reply, got);
	/* let the server see the close before the next input */
	for (int i = 0; i < 4; i++)
		uv_run(&loop, UV_RUN_NOWAIT);
	return 0;
}
