/* Webhook delivery rate: events/s from tg_deliver_event() to 2xx at a
 * local receiver, without loss, against a baseline of bare libcurl.
 *
 * A forked child is the receiver (tests/lib/rx.h on its own libuv loop,
 * 200 to everything, keep-alive); it counts requests and distinct event
 * ids. The parent runs three phases on one libuv loop:
 *  - baseline: the same body POSTed by libcurl's multi interface on the
 *    same loop (agent/curl_uv.c), 16 in flight over kept-alive
 *    connections, for S seconds: no spool, no format, no signature;
 *  - burst: N events queued at once to one signed generic webhook, then
 *    drained: the spool grows, so every event is a new file;
 *  - steady: for S seconds the queue is topped up to a backlog the spool's
 *    file pool covers (delivered files are reused): the sustained rate,
 *    tg_deliver_event() to 2xx.
 * The receiver must have seen every event once: a loss or a duplicate
 * fails the run (exit 2).
 *
 *   build/deliver_rate [--burst N] [--seconds S] [--json FILE]
 */
#include <errno.h>
#include <ftw.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <uv.h>

#include "deliver/curl_uv.h"
#include "formats/formats.h"
#include "lib/log.h"
#include "deliver/deliver.h"

#include "../tests/lib/rx.h"

/* ---- receiver (child) ------------------------------------------------- */

#define MAX_IDS (1 << 20)

static uint8_t *seen; /* by event number */
static uint64_t rx_distinct;
static struct rx rx;

static void count_event(struct rx *r, const struct rx_req *q)
{
	unsigned long n;

	if (sscanf(q->webhook_id, "evt_%lx", &n) == 1 && n < MAX_IDS && !seen[n]) {
		seen[n] = 1;
		rx_distinct++;
	}
}

static int report_fd;

static void on_term(uv_signal_t *s, int sig)
{
	char line[128];
	int n = snprintf(line, sizeof(line), "%llu %llu %llu\n", (unsigned long long)rx.requests,
			 (unsigned long long)rx_distinct, (unsigned long long)rx.connections);

	if (write(report_fd, line, (size_t)n) < 0)
		_exit(1);
	_exit(0);
}

/* tests/lib/rx.h on listen_fd, 200 to everything; at SIGTERM the counts go
 * to fd as "requests distinct connections". */
static void receiver(int listen_fd, int fd)
{
	uv_loop_t *loop = uv_default_loop();
	uv_signal_t sig;

	report_fd = fd;
	seen = calloc(MAX_IDS, 1);
	if (!seen)
		_exit(1);
	rx.on_request = count_event;
	if (rx_open(&rx, loop, listen_fd) < 0)
		_exit(1);
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

/* A complete event, as the summaries render them: the generic format
 * checks what it sends. */
static int event_json(char *json, size_t len, const char *id)
{
	return snprintf(json, len,
		"{\"schema\":\"tollgate.anomaly.v1\",\"id\":\"%s\",\"instance\":\"bench\","
		"\"host\":\"bench\",\"agent_version\":\"0.1.0\","
		"\"window\":{\"start\":\"2026-11-28T06:40:00.000Z\",\"end\":\"2026-11-28T06:40:10.000Z\"},"
		"\"severity\":\"warning\",\"summary\":\"1 anomaly on bench: rate_spike 198.18.0.7 412 req/s (baseline 20)\","
		"\"anomalies\":[{\"type\":\"rate_spike\",\"severity\":\"warning\","
		"\"client\":{\"address\":\"198.18.0.7\",\"prefix\":32,\"key\":null},"
		"\"observed\":{\"requests_per_sec\":412},\"baseline\":{\"mean_requests_per_sec\":20,\"stddev\":2},"
		"\"count\":1,\"first_seen\":\"2026-11-28T06:40:01.000Z\",\"last_seen\":\"2026-11-28T06:40:01.000Z\"}],"
		"\"top_clients\":[],\"totals\":{\"requests\":1,\"bytes\":1,\"denied\":0,\"clients\":1}}",
		id);
}

static void send_one(void)
{
	char id[40], json[2048];
	int n;

	snprintf(id, sizeof(id), "evt_%032lx", next_id++);
	n = event_json(json, sizeof(json), id);
	if (tg_deliver_event(D, TG_SCHEMA_ANOMALY, id, 1, json, (size_t)n) != 1) {
		fprintf(stderr, "event %s not queued\n", id);
		exit(1);
	}
}

/* ---- baseline: bare libcurl multi on the same loop ----------------------- */

#define BASE_IN_FLIGHT 16

static struct tg_curl_uv *base_cu;
static struct curl_slist *base_hdrs;
static char base_url[TG_URL_LEN], base_body[2048];
static uint64_t base_done;
static bool base_on;

static void base_start(CURL *e)
{
	char id[40];

	snprintf(id, sizeof(id), "evt_%032lx", next_id++);
	event_json(base_body, sizeof(base_body), id);
	curl_easy_setopt(e, CURLOPT_COPYPOSTFIELDS, base_body);
	if (tg_curl_uv_add(base_cu, e)) {
		fprintf(stderr, "baseline: curl refused a transfer\n");
		exit(1);
	}
}

static size_t base_discard(char *p, size_t sz, size_t n, void *arg)
{
	return sz * n;
}

static void base_done_fn(void *arg, CURL *e, CURLcode rc)
{
	long status = 0;

	curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
	if (rc != CURLE_OK || status != 200) {
		fprintf(stderr, "baseline: %s %ld\n", curl_easy_strerror(rc), status);
		exit(1);
	}
	base_done++;
	if (base_on)
		base_start(e);
	else
		curl_easy_cleanup(e);
}

static void base_closed(void *arg)
{
}

static void on_base_end(uv_timer_t *t)
{
	base_on = false;
}

/* Requests/s of bare libcurl against the receiver, for secs seconds. */
static double baseline(const char *url, unsigned long secs)
{
	uv_timer_t stop;
	double t0, t1;

	snprintf(base_url, sizeof(base_url), "%s", url);
	base_cu = tg_curl_uv_new(&loop, base_done_fn, NULL);
	base_hdrs = curl_slist_append(NULL, "Content-Type: application/json");
	base_hdrs = curl_slist_append(base_hdrs, "Expect:");
	if (!base_cu || !base_hdrs)
		exit(1);
	curl_multi_setopt(tg_curl_uv_multi(base_cu), CURLMOPT_MAX_HOST_CONNECTIONS, 256L);
	uv_timer_init(&loop, &stop);
	uv_timer_start(&stop, on_base_end, secs * 1000, 0);
	base_on = true;
	t0 = now_s();
	for (int i = 0; i < BASE_IN_FLIGHT; i++) {
		CURL *e = curl_easy_init();

		curl_easy_setopt(e, CURLOPT_URL, base_url);
		curl_easy_setopt(e, CURLOPT_HTTPHEADER, base_hdrs);
		curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, base_discard);
		curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
		base_start(e);
	}
	while (base_on)
		uv_run(&loop, UV_RUN_ONCE);
	t1 = now_s();
	/* let the last transfers finish; their handles are freed as they end */
	for (double t = now_s(); now_s() - t < 5;) {
		uv_run(&loop, UV_RUN_NOWAIT);
		if (base_done >= next_id)
			break;
	}
	tg_curl_uv_close(base_cu, base_closed, NULL);
	uv_close((uv_handle_t *)&stop, NULL);
	uv_run(&loop, UV_RUN_NOWAIT);
	curl_slist_free_all(base_hdrs);
	return (double)base_done / (t1 - t0);
}

static uint64_t sent(void)
{
	struct tg_hook_stats st;

	tg_deliver_stats(D, 0, &st);
	return st.sent;
}

static void on_tick(uv_timer_t *t)
{
}

/* Runs the loop until want events are sent or limit_s passes (a ticking
 * timer wakes it, so a stalled delivery cannot hang the run). */
static void drain(uint64_t want, double limit_s)
{
	double t0 = now_s();
	uv_timer_t tick;

	uv_timer_init(&loop, &tick);
	uv_timer_start(&tick, on_tick, 100, 100);
	while (sent() < want && now_s() - t0 < limit_s)
		uv_run(&loop, UV_RUN_ONCE);
	uv_close((uv_handle_t *)&tick, NULL);
	uv_run(&loop, UV_RUN_NOWAIT);
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
	unsigned long burst = 20000, secs = 3;
	const char *json_out = NULL;
	double base_rate, burst_rate, steady_rate;
	uint64_t steady_n, base_n;
	FILE *jf;
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

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--burst") && i + 1 < argc)
			burst = strtoul(argv[++i], NULL, 10);
		else if (!strcmp(argv[i], "--seconds") && i + 1 < argc)
			secs = strtoul(argv[++i], NULL, 10);
		else if (!strcmp(argv[i], "--json") && i + 1 < argc)
			json_out = argv[++i];
		else {
			fprintf(stderr, "usage: deliver_rate [--burst N] [--seconds S] [--json FILE]\n");
			return 2;
		}
	}
	if (burst < 1 || burst > MAX_IDS / 2 || secs < 1 || secs > 60) {
		fprintf(stderr, "deliver_rate: --burst 1..%d, --seconds 1..60\n", MAX_IDS / 2);
		return 2;
	}
	tg_log_setup(getenv("TG_DEBUG") ? TG_LOG_DEBUG : TG_LOG_ERROR, TG_LOG_LOGFMT);
	uv_loop_init(&loop);
	/* The listening socket is made here so the port is known before the
	 * fork, and listens before it: the parent's first connections wait in
	 * its backlog until the child accepts them. */
	uv_tcp_init(&loop, &probe);
	uv_ip4_addr("127.0.0.1", 0, &sa);
	uv_tcp_bind(&probe, (struct sockaddr *)&sa, 0);
	uv_tcp_getsockname(&probe, (struct sockaddr *)&ss, &len);
	uv_fileno((uv_handle_t *)&probe, &lfd);
	lfd = dup(lfd);
	uv_close((uv_handle_t *)&probe, NULL);
	uv_run(&loop, UV_RUN_NOWAIT);
	if (listen(lfd, RX_BACKLOG) < 0 || pipe(pfd) < 0)
		return 1;
	pid = fork();
	if (pid == 0) {
		/* a parent that fails does not leave its receiver behind */
		prctl(PR_SET_PDEATHSIG, SIGKILL);
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

	base_rate = baseline(c.url, secs);
	base_n = next_id;
	printf("baseline: bare libcurl, %d in flight: %.0f requests/s\n", BASE_IN_FLIGHT, base_rate);

	/* burst */
	t0 = now_s();
	for (unsigned long i = 0; i < burst; i++)
		send_one();
	t1 = now_s();
	drain(burst, 60);
	burst_rate = sent() / (now_s() - t0);
	printf("burst: %lu events queued in %.3f s (%.0f/s), all sent after %.3f s: %.0f events/s\n",
	       burst, t1 - t0, burst / (t1 - t0), now_s() - t0, burst_rate);

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
	steady_n = sent() - sent0;
	steady_rate = steady_n / (t1 - t0);
	printf("steady: %llu events sent in %.3f s with %d queued: %.0f events/s\n",
	       (unsigned long long)steady_n, t1 - t0, BACKLOG, steady_rate);
	drain(next_id - base_n, 60); /* the baseline's requests went around the deliverer */
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
	/* The baseline's requests carry no webhook-id: only the deliverer's
	 * events are told apart. */
	printf("receiver: %llu requests (expected %lu), %llu distinct events (expected %lu), "
	       "%llu connections\n", rq, next_id, rd, (unsigned long)(next_id - base_n), rc);
	nftw(state, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	if (json_out && (jf = fopen(json_out, "w"))) {
		fprintf(jf, "{\"baseline_rps\":%.1f,\"burst_events\":%lu,\"burst_eps\":%.1f,"
			"\"steady_seconds\":%lu,\"steady_events\":%llu,\"steady_eps\":%.1f,"
			"\"received\":%llu,\"distinct\":%llu,\"expected\":%lu,\"connections\":%llu}\n",
			base_rate, burst, burst_rate, secs, (unsigned long long)steady_n, steady_rate,
			rq, rd, (unsigned long)(next_id - base_n), rc);
		fclose(jf);
	}
	return rd == next_id - base_n && rq == next_id ? 0 : 2;
}
