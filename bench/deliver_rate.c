/* Webhook delivery rate: events/s from tg_deliver_event() to 2xx at a
 * local receiver, without loss.
 *
 * A forked child is the receiver (its own libuv loop, http-parser, 200 to
 * everything, keep-alive); the parent runs the deliverer with one signed
 * generic webhook and its spool in a temporary state_dir. Two phases:
 *  - burst: N events queued at once, then drained: the spool grows, so
 *    every event is a new file;
 *  - steady: for a few seconds, after every pass of the loop the queue is
 *    topped up to a backlog that the spool's file pool covers (delivered
 *    files are reused): the sustained rate, tg_deliver_event() to 2xx.
 * At the end the receiver reports how many requests and distinct ids it
 * saw: a loss or a duplicate fails the run.
 *
 * Build (not part of the default targets):
 *   cc -O2 -D_GNU_SOURCE -Iagent -Ikern -Igateway-hooks bench/deliver_rate.c \
 *      build/libtg_core.a $(pkg-config --libs libuv libcurl libcjson libcrypto) \
 *      -lhttp_parser -ldl -lm -o build/deliver_rate
 * Run: build/deliver_rate [burst_events] [steady_seconds] */
#include <errno.h>
#include <ftw.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <http_parser.h>
#include <uv.h>

#include "formats.h"
#include "log.h"
#include "webhook.h"

/* ---- receiver (child) ------------------------------------------------- */

#define MAX_IDS (1 << 20)

static uint8_t *seen; /* by event number */
static uint64_t rx_requests, rx_distinct;

struct conn {
	uv_tcp_t tcp;
	http_parser p;
	char field[32], id[40];
	size_t flen, idlen;
	bool in_value, is_id;
	char buf[65536];
};

static const char resp[] = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";

static void append(char *dst, size_t cap, size_t *len, const char *p, size_t n)
{
	if (*len + n >= cap)
		n = cap - 1 - *len;
	memcpy(dst + *len, p, n);
	*len += n;
	dst[*len] = '\0';
}

static int on_field(http_parser *p, const char *at, size_t n)
{
	struct conn *c = p->data;

	if (c->in_value) { /* a new header starts */
		c->in_value = false;
		c->flen = 0;
	}
	append(c->field, sizeof(c->field), &c->flen, at, n);
	return 0;
}

static int on_value(http_parser *p, const char *at, size_t n)
{
	struct conn *c = p->data;

	if (!c->in_value) {
		c->in_value = true;
		c->is_id = strcasecmp(c->field, "webhook-id") == 0;
	}
	if (c->is_id)
		append(c->id, sizeof(c->id), &c->idlen, at, n);
	return 0;
}

static void written(uv_write_t *w, int status)
{
	free(w);
}

static int on_complete(http_parser *p)
{
	struct conn *c = p->data;
	uv_write_t *w = malloc(sizeof(*w));
	uv_buf_t b = uv_buf_init((char *)resp, sizeof(resp) - 1);
	unsigned long n;

	if (!w)
		return -1;
	rx_requests++;
	if (sscanf(c->id, "evt_%lu", &n) == 1 && n < MAX_IDS && !seen[n]) {
		seen[n] = 1;
		rx_distinct++;
	}
	c->flen = c->idlen = 0;
	c->in_value = c->is_id = false;
	c->id[0] = '\0';
	if (uv_write(w, (uv_stream_t *)&c->tcp, &b, 1, written) < 0)
		free(w);
	return 0;
}

static const http_parser_settings settings = {
	.on_header_field = on_field,
	.on_header_value = on_value,
	.on_message_complete = on_complete,
};

static void closed(uv_handle_t *h)
{
	free(h->data);
}

static void alloc_cb(uv_handle_t *h, size_t hint, uv_buf_t *b)
{
	struct conn *c = h->data;

	*b = uv_buf_init(c->buf, sizeof(c->buf));
}

static void read_cb(uv_stream_t *s, ssize_t n, const uv_buf_t *b)
{
	struct conn *c = s->data;

	if (n < 0 || http_parser_execute(&c->p, &settings, b->base, (size_t)n) != (size_t)n)
		uv_close((uv_handle_t *)s, closed);
}

static uint64_t rx_conns;

static void on_conn(uv_stream_t *srv, int status)
{
	struct conn *c = calloc(1, sizeof(*c));

	if (status < 0 || !c) {
		free(c);
		return;
	}
	uv_tcp_init(srv->loop, &c->tcp);
	c->tcp.data = c;
	http_parser_init(&c->p, HTTP_REQUEST);
	c->p.data = c;
	if (uv_accept(srv, (uv_stream_t *)&c->tcp) == 0) {
		rx_conns++;
		uv_read_start((uv_stream_t *)&c->tcp, alloc_cb, read_cb);
	} else {
		uv_close((uv_handle_t *)&c->tcp, closed);
	}
}

static int report_fd;

static void on_term(uv_signal_t *s, int sig)
{
	char line[128];
	int n = snprintf(line, sizeof(line), "%llu %llu %llu\n", (unsigned long long)rx_requests,
			 (unsigned long long)rx_distinct, (unsigned long long)rx_conns);

	if (write(report_fd, line, (size_t)n) < 0)
		_exit(1);
	_exit(0);
}

static void receiver(int listen_fd, int fd)
{
	uv_loop_t *loop = uv_default_loop();
	uv_tcp_t srv;
	uv_signal_t sig;

	report_fd = fd;
	seen = calloc(MAX_IDS, 1);
	if (!seen)
		_exit(1);
	uv_tcp_init(loop, &srv);
	uv_tcp_open(&srv, listen_fd);
	uv_listen((uv_stream_t *)&srv, 512, on_conn);
	uv_signal_init(loop, &sig);
	uv_signal_start(&sig, on_term, SIGTERM);
	uv_run(loop, UV_RUN_DEFAULT);
}

/* ---- deliverer (parent) ------------------------------------------------- */

static uv_loop_t loop;
static struct tg_deliver *D;
static char state[64];
static unsigned long next_id;

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void send_one(void)
{
	char id[40], json[512];
	int n;

	snprintf(id, sizeof(id), "evt_%lu", next_id++);
	n = snprintf(json, sizeof(json),
		     "{\"schema\":\"tollgate.anomaly.v1\",\"id\":\"%s\",\"instance\":\"bench\","
		     "\"severity\":\"warning\",\"summary\":\"rate_spike 10.0.0.7: 412 req/s over "
		     "a baseline of 20\",\"anomalies\":[{\"type\":\"rate_spike\"}]}",
		     id);
	if (tg_deliver_event(D, TG_SCHEMA_ANOMALY, id, 1, json, (size_t)n) != 1) {
		fprintf(stderr, "event %s not queued\n", id);
		exit(1);
	}
}

static uint64_t sent(void)
{
	struct tg_hook_stats st;

	tg_deliver_stats(D, 0, &st);
	return st.sent;
}

static void drain(uint64_t want, double limit_s)
{
	double t0 = now_s();

	while (sent() < want && now_s() - t0 < limit_s)
		uv_run(&loop, UV_RUN_ONCE);
}

/* Steady phase: keeps BACKLOG events queued. */
#define BACKLOG 64

static bool steady_on;

static void on_check(uv_check_t *c)
{
	struct tg_hook_stats st;

	if (!steady_on)
		return;
	tg_deliver_stats(D, 0, &st);
	while (st.queued++ < BACKLOG)
		send_one();
}

static void on_steady_end(uv_timer_t *t)
{
	steady_on = false;
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	return remove(path);
}

int main(int argc, char **argv)
{
	unsigned long burst = argc > 1 ? strtoul(argv[1], NULL, 10) : 20000;
	unsigned long secs = argc > 2 ? strtoul(argv[2], NULL, 10) : 3;
	struct tg_webhook_config c;
	struct tg_deliver_opts o;
	struct sockaddr_in sa;
	struct sockaddr_storage ss;
	int len = sizeof(ss), pfd[2], lfd;
	uv_tcp_t probe;
	uv_timer_t stop_timer;
	uv_check_t check;
	uint64_t sent0;
	char err[256], line[128];
	unsigned long long rq = 0, rd = 0, rc = 0;
	double t0, t1;
	pid_t pid;
	ssize_t got;

	tg_log_setup(getenv("TG_DEBUG") ? TG_LOG_DEBUG : TG_LOG_ERROR, TG_LOG_LOGFMT);
	uv_loop_init(&loop);
	/* The listening socket is made here so the port is known before the fork. */
	uv_tcp_init(&loop, &probe);
	uv_ip4_addr("127.0.0.1", 0, &sa);
	uv_tcp_bind(&probe, (struct sockaddr *)&sa, 0);
	uv_tcp_getsockname(&probe, (struct sockaddr *)&ss, &len);
	uv_fileno((uv_handle_t *)&probe, &lfd);
	lfd = dup(lfd);
	uv_close((uv_handle_t *)&probe, NULL);
	uv_run(&loop, UV_RUN_NOWAIT);
	if (pipe(pfd) < 0)
		return 1;
	pid = fork();
	if (pid == 0) {
		close(pfd[0]);
		receiver(lfd, pfd[1]);
		_exit(0);
	}
	close(lfd);
	close(pfd[1]);

	strcpy(state, "/tmp/tg_bench_XXXXXX");
	if (!mkdtemp(state))
		return 1;
	memset(&c, 0, sizeof(c));
	strcpy(c.name, "bench");
	snprintf(c.url, sizeof(c.url), "http://127.0.0.1:%d/hook",
		 ntohs(((struct sockaddr_in *)&ss)->sin_port));
	c.format = TG_FMT_GENERIC;
	c.timeout_ms = 5000;
	strcpy(c.secret, "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw");
	c.secret_len = strlen(c.secret);
	memset(&o, 0, sizeof(o));
	o.loop = &loop;
	o.state_dir = state;
	o.instance = "bench";
	o.spool_max = burst + 1000;
	if (tg_deliver_new(&o, &c, 1, &D, err, sizeof(err)) < 0) {
		fprintf(stderr, "%s\n", err);
		return 1;
	}

	/* burst */
	t0 = now_s();
	for (unsigned long i = 0; i < burst; i++)
		send_one();
	t1 = now_s();
	drain(burst, 60);
	printf("burst: %lu events queued in %.3f s (%.0f/s), all sent after %.3f s: %.0f events/s\n",
	       burst, t1 - t0, burst / (t1 - t0), now_s() - t0, sent() / (now_s() - t0));

	/* steady */
	uv_check_init(&loop, &check);
	uv_check_start(&check, on_check);
	uv_timer_init(&loop, &stop_timer);
	uv_timer_start(&stop_timer, on_steady_end, secs * 1000, 0);
	steady_on = true;
	sent0 = sent();
	t0 = now_s();
	on_check(&check); /* checks run after the poll: this one first */
	while (steady_on)
		uv_run(&loop, UV_RUN_ONCE);
	t1 = now_s();
	printf("steady: %llu events sent in %.3f s with %d queued: %.0f events/s\n",
	       (unsigned long long)(sent() - sent0), t1 - t0, BACKLOG, (sent() - sent0) / (t1 - t0));
	drain(next_id, 60);
	uv_close((uv_handle_t *)&check, NULL);
	uv_close((uv_handle_t *)&stop_timer, NULL);

	tg_deliver_stop(D);
	uv_run(&loop, UV_RUN_NOWAIT);
	tg_deliver_free(D);
	uv_run(&loop, UV_RUN_DEFAULT);
	uv_loop_close(&loop);

	kill(pid, SIGTERM);
	got = read(pfd[0], line, sizeof(line) - 1);
	waitpid(pid, NULL, 0);
	if (got > 0) {
		line[got] = '\0';
		sscanf(line, "%llu %llu %llu", &rq, &rd, &rc);
	}
	printf("receiver: %llu requests, %llu distinct events, %llu connections (expected %lu)\n",
	       rq, rd, rc, next_id);
	nftw(state, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	return rd == next_id && rq == next_id ? 0 : 2;
}
