/* Webhook delivery over real HTTP on loopback. The receivers are small
 * uv_tcp servers (tests/lib/rx.h) on the same loop as the deliverer and
 * answer with scripted statuses. Every wait is bounded by a watchdog
 * timer: a test that does not get what it waits for fails, it never
 * hangs. */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <uv.h>

#include "formats/formats.h"
#include "deliver/retry.h"
#include "deliver/sign.h"
#include "deliver/deliver.h"
#include "deliver/hook_http.h"

#include "../lib/rx.h"

#define WAIT_MS 10000

static uv_loop_t loop;
static char tmpdir[64];

/* ---- the receivers (tests/lib/rx.h) --------------------------------------- */

/* Listens on 127.0.0.1: on port 0 the first time, then on the same port. */
static void rx_up(struct rx *rx)
{
	cr_assert(eq(int, rx_listen(rx, &loop), 0));
}

/* ---- loop helpers ---------------------------------------------------------- */

static bool fired;

static void on_watchdog(uv_timer_t *t)
{
	fired = true;
}

/* Runs the loop until pred() holds; false when max_ms passed first. */
static bool run_until(bool (*pred)(void *), void *arg, uint64_t max_ms)
{
	uv_timer_t dog;

	fired = false;
	uv_timer_init(&loop, &dog);
	uv_timer_start(&dog, on_watchdog, max_ms, 0);
	while (!pred(arg) && !fired)
		uv_run(&loop, UV_RUN_ONCE);
	uv_close((uv_handle_t *)&dog, NULL);
	uv_run(&loop, UV_RUN_NOWAIT);
	return pred(arg);
}

static bool never(void *arg)
{
	return false;
}

static void run_for(uint64_t ms)
{
	run_until(never, NULL, ms);
}

struct want {
	struct rx *rx;
	int n;
};

static bool rx_has(void *arg)
{
	struct want *w = arg;

	return w->rx->n >= w->n;
}

static void wait_requests(struct rx *rx, int n)
{
	struct want w = { rx, n };

	cr_assert(run_until(rx_has, &w, WAIT_MS), "receiver got %d of %d requests", rx->n, n);
}

static struct tg_deliver *D;

struct stat_want {
	size_t hook;
	size_t off; /* a uint64_t field of tg_hook_stats */
	uint64_t n;
};

static bool stat_has(void *arg)
{
	struct stat_want *w = arg;
	struct tg_hook_stats st;

	tg_deliver_stats(D, w->hook, &st);
	return *(uint64_t *)((char *)&st + w->off) >= w->n;
}

#define WAIT_STAT(hook_i, field, want)                                                 \
	do {                                                                           \
		struct stat_want sw_ = { hook_i, offsetof(struct tg_hook_stats, field), want }; \
		cr_assert(run_until(stat_has, &sw_, WAIT_MS), "waiting for " #field " >= %d", \
			  (int)(want));                                                \
	} while (0)

static struct tg_hook_stats stats(size_t i)
{
	struct tg_hook_stats st;

	tg_deliver_stats(D, i, &st);
	return st;
}

/* ---- deliverer helpers --------------------------------------------------- */

static int triage_calls;
static char triage_json[4096];

static void on_triage(void *arg, const char *id, int sev, const char *json, size_t len)
{
	triage_calls++;
	snprintf(triage_json, sizeof(triage_json), "%.*s", (int)len, json);
	cr_assert(gt(sz, strlen(id), 0));
	tg_deliver_event(D, TG_SCHEMA_TRIAGE, id, sev, json, len);
}

static void hook_cfg(struct tg_webhook_config *c, const char *name, struct rx *rx,
		     const char *path)
{
	memset(c, 0, sizeof(*c));
	snprintf(c->name, sizeof(c->name), "%s", name);
	snprintf(c->url, sizeof(c->url), "http://127.0.0.1:%d%s", rx->port, path);
	c->format = TG_FMT_GENERIC;
	c->min_severity = 0;
	c->timeout_ms = 5000;
}

static void start(const struct tg_webhook_config *hooks, int n, size_t spool_max)
{
	struct tg_deliver_opts o = {
		.loop = &loop,
		.state_dir = tmpdir,
		.instance = "test",
		.host = "testhost",
		.agent_version = "9.9.9",
		.spool_max = spool_max,
		.on_triage = on_triage,
	};
	char err[256] = "";
	int rc = tg_deliver_new(&o, hooks, n, &D, err, sizeof(err));

	cr_assert(eq(int, rc, 0), "tg_deliver_new: %s", err);
}

/* Stops and frees the deliverer, letting its handles close. */
static void stop(void)
{
	tg_deliver_stop(D);
	uv_run(&loop, UV_RUN_NOWAIT);
	tg_deliver_free(D);
	uv_run(&loop, UV_RUN_NOWAIT);
	D = NULL;
}

static char event_buf[2048];

/* A complete tollgate.anomaly.v1 event: the formats check what they render. */
static const char *event(const char *id, int sev)
{
	static const char *const names[] = { "info", "warning", "critical" };

	snprintf(event_buf, sizeof(event_buf),
		 "{\"schema\":\"tollgate.anomaly.v1\",\"id\":\"%s\",\"instance\":\"test\","
		 "\"host\":\"testhost\",\"agent_version\":\"9.9.9\","
		 "\"window\":{\"start\":\"2026-11-28T06:40:00.000Z\",\"end\":\"2026-11-28T06:40:10.000Z\"},"
		 "\"severity\":\"%s\",\"summary\":\"test event\","
		 "\"anomalies\":[{\"type\":\"denied\",\"severity\":\"%s\","
		 "\"client\":{\"address\":\"198.18.0.2\",\"prefix\":32,\"key\":\"blocked\"},"
		 "\"observed\":{\"denied\":1},\"quota\":{},\"count\":1,"
		 "\"first_seen\":\"2026-11-28T06:40:01.000Z\",\"last_seen\":\"2026-11-28T06:40:01.000Z\"}],"
		 "\"top_clients\":[],\"totals\":{\"requests\":1,\"bytes\":1,\"denied\":1,\"clients\":1}}",
		 id, names[sev], names[sev]);
	return event_buf;
}

static int send_event(const char *id, int sev)
{
	const char *json = event(id, sev);

	return tg_deliver_event(D, TG_SCHEMA_ANOMALY, id, sev, json, strlen(json));
}

static bool got_id(const struct rx *rx, const char *id)
{
	int i;

	for (i = 0; i < rx->n; i++)
		if (strcmp(rx->reqs[i].webhook_id, id) == 0)
			return true;
	return false;
}

/* ---- fixture ---------------------------------------------------------------- */

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	return remove(path);
}

static void setup(void)
{
	/* Proxies from the environment would take loopback traffic away. */
	unsetenv("http_proxy");
	unsetenv("HTTP_PROXY");
	unsetenv("https_proxy");
	unsetenv("HTTPS_PROXY");
	unsetenv("all_proxy");
	unsetenv("ALL_PROXY");
	strcpy(tmpdir, "/tmp/tg_hook_XXXXXX");
	cr_assert(not(eq(ptr, mkdtemp(tmpdir), NULL)));
	cr_assert(eq(int, uv_loop_init(&loop), 0));
	D = NULL;
	triage_calls = 0;
}

static void walk_close(uv_handle_t *h, void *arg)
{
	if (!uv_is_closing(h))
		uv_close(h, NULL);
}

static void teardown(void)
{
	if (D)
		stop();
	uv_walk(&loop, walk_close, NULL);
	uv_run(&loop, UV_RUN_DEFAULT);
	uv_loop_close(&loop);
	nftw(tmpdir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

TestSuite(webhook, .init = setup, .fini = teardown, .timeout = 60);

/* ---- tests -------------------------------------------------------------------- */

#define SECRET "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

Test(webhook, delivers_signed_events_with_headers)
{
	static struct rx rx;
	struct tg_webhook_config c;
	struct tg_hook_stats st;
	unsigned char key[64];
	int klen, i;
	time_t now = time(NULL);

	rx_up(&rx);
	hook_cfg(&c, "signed", &rx, "/in");
	strcpy(c.secret, SECRET);
	c.secret_len = strlen(SECRET);
	c.n_headers = 1;
	strcpy(c.headers[0].name, "X-Custom");
	strcpy(c.headers[0].value, "yes");
	start(&c, 1, 0);
	cr_assert(eq(sz, tg_deliver_count(D), 1));
	cr_assert(eq(str, (char *)tg_deliver_name(D, 0), "signed"));

	cr_assert(eq(int, send_event("evt_a", 1), 1));
	cr_assert(eq(int, send_event("evt_b", 2), 1));
	cr_assert(eq(int, send_event("evt_c", 0), 1));
	wait_requests(&rx, 3);
	WAIT_STAT(0, sent, 3);

	klen = tg_sign_key(SECRET, strlen(SECRET), key, sizeof(key));
	cr_assert(gt(int, klen, 0));
	for (i = 0; i < 3; i++) {
		const struct rx_req *r = &rx.reqs[i];
		char sig[TG_SIGNATURE_LEN];
		unsigned long long ts = strtoull(r->timestamp, NULL, 10);

		cr_assert(eq(str, (char *)r->path, "/in"));
		cr_assert(eq(int, strncmp(r->webhook_id, "evt_", 4), 0));
		cr_assert(ge(u64, ts, (uint64_t)now - 5));
		cr_assert(le(u64, ts, (uint64_t)time(NULL) + 5));
		cr_assert(eq(int, tg_sign(key, (size_t)klen, r->webhook_id, ts, r->body, r->len,
					  sig),
			     0));
		cr_assert(eq(str, (char *)r->signature, sig));
		cr_assert(eq(str, (char *)r->user_agent, "tollgate/9.9.9"));
		cr_assert(eq(str, (char *)r->custom, "yes"));
		cr_assert(eq(str, (char *)r->authorization, ""));
		cr_assert(eq(int, strncmp(r->content_type, "application/json", 16), 0));
		cr_assert(gt(sz, r->len, 0));
	}
	cr_assert(got_id(&rx, "evt_a") && got_id(&rx, "evt_b") && got_id(&rx, "evt_c"));
	st = stats(0);
	cr_assert(eq(u64, st.enqueued, 3));
	cr_assert(eq(u64, st.failures, 0));
	cr_assert(eq(u64, st.queued, 0));
	cr_assert(eq(u64, st.in_flight, 0));
	cr_assert(eq(u64, st.lat_count, 3));
	cr_assert(eq(long, st.last_status, 200));
	rx_free(&rx);
}

Test(webhook, unsigned_without_secret)
{
	static struct rx rx;
	struct tg_webhook_config c;

	rx_up(&rx);
	hook_cfg(&c, "plain", &rx, "/");
	start(&c, 1, 0);
	send_event("evt_u", 1);
	wait_requests(&rx, 1);
	/* The id still goes out, for dedupe; only the signature is missing. */
	cr_assert(eq(str, rx.reqs[0].webhook_id, "evt_u"));
	cr_assert(eq(str, rx.reqs[0].signature, ""));
	rx_free(&rx);
}

Test(webhook, server_error_is_retried_with_the_same_id)
{
	static struct rx rx;
	struct tg_webhook_config c;
	struct tg_hook_stats st;

	rx_up(&rx);
	rx_script(&rx, 1, 500);
	hook_cfg(&c, "retry", &rx, "/");
	strcpy(c.secret, "raw-secret");
	c.secret_len = strlen(c.secret);
	start(&c, 1, 0);
	send_event("evt_r", 2);
	wait_requests(&rx, 2);
	WAIT_STAT(0, sent, 1);
	cr_assert(eq(str, rx.reqs[0].webhook_id, "evt_r"));
	cr_assert(eq(str, rx.reqs[1].webhook_id, "evt_r"));
	/* Backoff: at least the base before the second attempt. */
	cr_assert(ge(u64, rx.reqs[1].at_ms - rx.reqs[0].at_ms, TG_RETRY_BASE_MS - 50));
	st = stats(0);
	cr_assert(eq(u64, st.failures, 1));
	cr_assert(eq(u64, st.retries, 1));
	cr_assert(eq(u64, st.sent, 1));
	cr_assert(eq(u64, st.queued, 0));
	rx_free(&rx);
}

Test(webhook, too_many_requests_honours_retry_after)
{
	static struct rx rx;
	struct tg_webhook_config c;

	rx_up(&rx);
	rx_script(&rx, 1, 429);
	rx.retry_after = "1";
	hook_cfg(&c, "slow", &rx, "/");
	start(&c, 1, 0);
	send_event("evt_429", 1);
	wait_requests(&rx, 2);
	WAIT_STAT(0, sent, 1);
	cr_assert(ge(u64, rx.reqs[1].at_ms - rx.reqs[0].at_ms, 900), "retried after %llu ms",
		  (unsigned long long)(rx.reqs[1].at_ms - rx.reqs[0].at_ms));
	cr_assert(eq(u64, stats(0).retries, 1));
	rx_free(&rx);
}

Test(webhook, client_error_goes_to_dead_letters)
{
	static struct rx rx;
	struct tg_webhook_config c;
	struct tg_hook_stats st;
	char path[512], line[4096];
	cJSON *j;
	FILE *f;

	rx_up(&rx);
	rx_script(&rx, 1, 400);
	hook_cfg(&c, "strict", &rx, "/");
	start(&c, 1, 0);
	send_event("evt_bad", 1);
	send_event("evt_good", 1);
	WAIT_STAT(0, dead_letters, 1);
	WAIT_STAT(0, sent, 1);
	run_for(TG_RETRY_BASE_MS + 200); /* nothing more comes */
	cr_assert(eq(int, rx.n, 2));
	st = stats(0);
	cr_assert(eq(u64, st.failures, 1));
	cr_assert(eq(u64, st.retries, 0));
	cr_assert(eq(u64, st.queued, 0));

	snprintf(path, sizeof(path), "%s/test/deadletter/strict.jsonl", tmpdir);
	f = fopen(path, "r");
	cr_assert(not(eq(ptr, f, NULL)), "%s", path);
	cr_assert(not(eq(ptr, fgets(line, sizeof(line), f), NULL)));
	cr_assert(eq(ptr, fgets(path, sizeof(path), f), NULL)); /* one line */
	fclose(f);
	j = cJSON_Parse(line);
	cr_assert(not(eq(ptr, j, NULL)));
	cr_assert(eq(str, cJSON_GetObjectItem(j, "id")->valuestring, "evt_bad"));
	cr_assert(eq(dbl, cJSON_GetObjectItem(j, "status")->valuedouble, 400));
	cr_assert(cJSON_IsString(cJSON_GetObjectItem(j, "body")));
	cJSON_Delete(j);
	rx_free(&rx);
}

/* A receiver cannot send the agent, and the event with its signature,
 * somewhere else: a redirect is not followed; the event is refused like
 * any other answer that is not retried (a dead letter). */
Test(webhook, redirects_are_not_followed)
{
	static struct rx rx, other;
	struct tg_webhook_config c;
	char loc[64];

	rx_up(&rx);
	rx_up(&other);
	snprintf(loc, sizeof(loc), "http://127.0.0.1:%d/elsewhere", other.port);
	rx.location = loc;
	rx_script(&rx, 1, 307);
	hook_cfg(&c, "redir", &rx, "/");
	start(&c, 1, 0);
	send_event("evt_redir", 2);
	WAIT_STAT(0, dead_letters, 1);
	run_for(300);
	cr_assert(eq(int, rx.n, 1));
	cr_assert(eq(int, other.n, 0), "the redirect was followed");
	rx_free(&rx);
	rx_free(&other);
}

Test(webhook, refused_then_up_delivers_once)
{
	static struct rx rx;
	struct tg_webhook_config c;

	rx_up(&rx);
	rx_down(&rx);
	hook_cfg(&c, "flaky", &rx, "/");
	start(&c, 1, 0);
	send_event("evt_down", 2);
	WAIT_STAT(0, failures, 1);
	cr_assert(eq(u64, stats(0).sent, 0));
	rx_up(&rx);
	wait_requests(&rx, 1);
	WAIT_STAT(0, sent, 1);
	run_for(300);
	cr_assert(eq(int, rx.n, 1));
	cr_assert(eq(u64, stats(0).queued, 0));
	rx_free(&rx);
}

Test(webhook, min_severity_filters)
{
	static struct rx rx;
	struct tg_webhook_config c;

	rx_up(&rx);
	hook_cfg(&c, "warn", &rx, "/");
	c.min_severity = 1;
	start(&c, 1, 0);
	cr_assert(eq(int, send_event("evt_info", 0), 0));
	cr_assert(eq(int, send_event("evt_warn", 1), 1));
	cr_assert(eq(int, send_event("evt_crit", 2), 1));
	WAIT_STAT(0, sent, 2);
	cr_assert(eq(u64, stats(0).filtered, 1));
	cr_assert(eq(u64, stats(0).enqueued, 2));
	cr_assert(not(got_id(&rx, "evt_info")));
	rx_free(&rx);
}

/* One receiver refuses, one holds every request without answering: the
 * third webhook still delivers everything meanwhile. */
Test(webhook, a_down_receiver_does_not_delay_another)
{
	static struct rx down, hang, up;
	struct tg_webhook_config c[3];
	char id[32];
	int i;

	rx_up(&down);
	rx_down(&down);
	rx_up(&hang);
	hang.hang = true;
	rx_up(&up);
	hook_cfg(&c[0], "down", &down, "/");
	hook_cfg(&c[1], "hang", &hang, "/");
	hook_cfg(&c[2], "up", &up, "/");
	for (i = 0; i < 3; i++)
		c[i].timeout_ms = 20000;
	start(c, 3, 0);
	for (i = 0; i < 40; i++) {
		snprintf(id, sizeof(id), "evt_%d", i);
		cr_assert(eq(int, send_event(id, 1), 3));
	}
	WAIT_STAT(2, sent, 40);
	cr_assert(eq(u64, stats(0).sent, 0));
	cr_assert(ge(u64, stats(0).failures, 1));
	/* The hanging one has its window full and nothing answered. */
	cr_assert(eq(u64, stats(1).sent, 0));
	cr_assert(eq(u64, stats(1).failures, 0));
	cr_assert(eq(u64, stats(1).in_flight, TG_HOOK_MAX_IN_FLIGHT));
	cr_assert(eq(u64, stats(1).queued, 40));
	rx_free(&down);
	rx_free(&hang);
	rx_free(&up);
}

Test(webhook, spooled_events_are_replayed_by_the_next_run)
{
	static struct rx rx;
	struct tg_webhook_config c;
	char id[32];
	int i;

	rx_up(&rx);
	rx_down(&rx);
	hook_cfg(&c, "replay", &rx, "/");
	start(&c, 1, 0);
	for (i = 0; i < 5; i++) {
		snprintf(id, sizeof(id), "evt_%d", i);
		send_event(id, 1);
	}
	WAIT_STAT(0, failures, 1);
	cr_assert(eq(u64, stats(0).queued, 5));
	stop();

	rx_up(&rx);
	start(&c, 1, 0);
	cr_assert(eq(u64, stats(0).replayed, 5));
	wait_requests(&rx, 5);
	WAIT_STAT(0, sent, 5);
	for (i = 0; i < 5; i++) {
		snprintf(id, sizeof(id), "evt_%d", i);
		cr_assert(got_id(&rx, id) || rx.n == 5, "%s", id);
	}
	cr_assert(eq(u64, stats(0).queued, 0));
	rx_free(&rx);
}

Test(webhook, spool_bound_drops_low_severity_first)
{
	static struct rx rx;
	struct tg_webhook_config c;
	struct tg_hook_stats st;
	int i;

	rx_up(&rx);
	rx_down(&rx);
	hook_cfg(&c, "bound", &rx, "/");
	strcpy(c.secret, "s");
	c.secret_len = 1;
	start(&c, 1, 3);
	/* evt_i1 is in flight when the bound drops it. */
	send_event("evt_i1", 0);
	send_event("evt_w1", 1);
	send_event("evt_i2", 0);
	send_event("evt_c1", 2); /* drops evt_i1 */
	send_event("evt_i3", 0); /* drops evt_i2 */
	st = stats(0);
	cr_assert(eq(u64, st.spool_dropped, 2));
	cr_assert(eq(u64, st.queued, 3));
	WAIT_STAT(0, failures, 1);
	rx_up(&rx);
	WAIT_STAT(0, sent, 3);
	run_for(200);
	cr_assert(eq(int, rx.n, 3));
	cr_assert(got_id(&rx, "evt_w1"));
	cr_assert(got_id(&rx, "evt_c1"));
	cr_assert(got_id(&rx, "evt_i3"));
	for (i = 0; i < rx.n; i++)
		cr_assert(ne(str, rx.reqs[i].webhook_id, "evt_i1"));
	rx_free(&rx);
}

Test(webhook, openai_answer_becomes_a_triage_event)
{
	static struct rx ai, gen;
	struct tg_webhook_config c[2];

	rx_up(&ai);
	ai.answer = "{\"id\":\"chatcmpl-1\",\"object\":\"chat.completion\","
		    "\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\","
		    "\"content\":\"Looks like a scraper.\"},\"finish_reason\":\"stop\"}]}";
	rx_up(&gen);
	hook_cfg(&c[0], "ai", &ai, "/v1/chat/completions");
	c[0].format = TG_FMT_OPENAI;
	strcpy(c[0].model, "test-model");
	strcpy(c[0].api_key, "sk-test");
	hook_cfg(&c[1], "gen", &gen, "/");
	start(c, 2, 0);
	cr_assert(eq(int, send_event("evt_ai", 2), 2));
	WAIT_STAT(0, sent, 1);
	cr_assert(eq(int, triage_calls, 1));
	wait_requests(&gen, 2);
	run_for(100);
	cr_assert(eq(int, ai.n, 1)); /* the triage event went to gen only */
	cr_assert(eq(str, ai.reqs[0].authorization, "Bearer sk-test"));
	cr_assert(eq(str, gen.reqs[0].authorization, ""));
	cr_assert(eq(u64, stats(0).triage_failures, 0));
	rx_free(&ai);
	rx_free(&gen);
}

Test(webhook, openai_bad_answer_is_a_triage_failure_only)
{
	static struct rx ai;
	struct tg_webhook_config c;

	rx_up(&ai);
	ai.answer = "<html>not json</html>";
	hook_cfg(&c, "ai", &ai, "/");
	c.format = TG_FMT_OPENAI;
	strcpy(c.model, "test-model");
	start(&c, 1, 0);
	send_event("evt_x", 2);
	WAIT_STAT(0, triage_failures, 1);
	run_for(TG_RETRY_BASE_MS + 100);
	cr_assert(eq(int, ai.n, 1));
	cr_assert(eq(u64, stats(0).sent, 1));
	cr_assert(eq(u64, stats(0).failures, 0));
	cr_assert(eq(int, triage_calls, 0));
	rx_free(&ai);
}

Test(webhook, reconfigure_keeps_adds_and_removes_by_name)
{
	static struct rx rx;
	struct tg_webhook_config c[2], n[2];
	char err[256] = "", path[512];
	struct stat st;

	rx_up(&rx);
	hook_cfg(&c[0], "keep", &rx, "/keep");
	hook_cfg(&c[1], "gone", &rx, "/gone");
	c[1].min_severity = 2;
	start(c, 2, 0);
	send_event("evt_1", 1);
	WAIT_STAT(0, sent, 1);

	n[0] = c[0];
	n[0].n_headers = 1;
	strcpy(n[0].headers[0].name, "X-Custom");
	strcpy(n[0].headers[0].value, "v2");
	hook_cfg(&n[1], "new", &rx, "/new");
	cr_assert(eq(int, tg_deliver_reconfigure(D, n, 2, err, sizeof(err)), 0), "%s", err);
	cr_assert(eq(sz, tg_deliver_count(D), 2));
	cr_assert(eq(str, (char *)tg_deliver_name(D, 0), "keep"));
	cr_assert(eq(str, (char *)tg_deliver_name(D, 1), "new"));
	cr_assert(eq(u64, stats(0).sent, 1)); /* figures kept */
	send_event("evt_2", 1);
	WAIT_STAT(0, sent, 2);
	WAIT_STAT(1, sent, 1);
	cr_assert(strcmp(rx.reqs[rx.n - 1].custom, "v2") == 0 ||
		  strcmp(rx.reqs[rx.n - 2].custom, "v2") == 0);
	snprintf(path, sizeof(path), "%s/test/spool/gone", tmpdir);
	cr_assert(eq(int, stat(path, &st), 0));

	/* Two webhooks of one name: refused, nothing changes. */
	n[1] = n[0];
	cr_assert(lt(int, tg_deliver_reconfigure(D, n, 2, err, sizeof(err)), 0));
	cr_assert(eq(sz, tg_deliver_count(D), 2));
	rx_free(&rx);
}

Test(webhook, invalid_settings_are_refused)
{
	struct tg_deliver_opts o = { .loop = &loop, .state_dir = tmpdir, .instance = "test" };
	struct tg_webhook_config c;
	static struct rx rx;
	char err[256] = "";

	hook_cfg(&c, "bad", &rx, "/");
	strcpy(c.secret, "whsec_!!!");
	c.secret_len = strlen(c.secret);
	cr_assert(lt(int, tg_deliver_new(&o, &c, 1, &D, err, sizeof(err)), 0));
	cr_assert(not(eq(ptr, strstr(err, "bad"), NULL)), "%s", err);
	cr_assert(eq(ptr, D, NULL));

	hook_cfg(&c, "noplugin", &rx, "/");
	c.format = TG_FMT_PLUGIN;
	strcpy(c.plugin, "/nonexistent/plugin.so");
	cr_assert(lt(int, tg_deliver_new(&o, &c, 1, &D, err, sizeof(err)), 0));
	cr_assert(eq(ptr, D, NULL));

	o.state_dir = "/proc/definitely/not/writable";
	hook_cfg(&c, "nodir", &rx, "/");
	cr_assert(lt(int, tg_deliver_new(&o, &c, 1, &D, err, sizeof(err)), 0));
	cr_assert(eq(ptr, D, NULL));
}

Test(webhook, timeout_is_retried)
{
	static struct rx rx;
	struct tg_webhook_config c;

	rx_up(&rx);
	rx.hang = true;
	hook_cfg(&c, "timeout", &rx, "/");
	c.timeout_ms = 200;
	start(&c, 1, 0);
	send_event("evt_t", 1);
	WAIT_STAT(0, failures, 1);
	cr_assert(eq(u64, stats(0).sent, 0));
	rx.hang = false;
	WAIT_STAT(0, sent, 1);
	cr_assert(ge(int, rx.n, 2));
	rx_free(&rx);
}

/* Stopping abandons requests in flight; their events stay spooled and the
 * next run sends them. */
Test(webhook, events_in_flight_at_stop_stay_spooled)
{
	static struct rx rx;
	struct tg_webhook_config c;

	rx_up(&rx);
	rx.hang = true;
	hook_cfg(&c, "inflight", &rx, "/");
	start(&c, 1, 0);
	send_event("evt_1", 1);
	send_event("evt_2", 2);
	send_event("evt_3", 0);
	wait_requests(&rx, 3);
	cr_assert(eq(u64, stats(0).in_flight, 3));
	stop();

	rx.hang = false;
	start(&c, 1, 0);
	cr_assert(eq(u64, stats(0).replayed, 3));
	WAIT_STAT(0, sent, 3);
	cr_assert(eq(u64, stats(0).queued, 0));
	rx_free(&rx);
}

/* Long answers are cut at the cap: the delivery stands; for openai the
 * triage fails, counted, without a retry. */
Test(webhook, oversized_answers_are_cut)
{
	static struct rx ai, gen;
	struct tg_webhook_config c[2];
	size_t n = TG_HOOK_RESP_KEEP_MAX + 10;
	char *big = malloc(n + 1);

	cr_assert(not(eq(ptr, big, NULL)));
	memset(big, 'x', n);
	big[n] = '\0';
	rx_up(&ai);
	ai.answer = big;
	rx_up(&gen);
	gen.answer = big;
	hook_cfg(&c[0], "ai", &ai, "/");
	c[0].format = TG_FMT_OPENAI;
	strcpy(c[0].model, "test-model");
	hook_cfg(&c[1], "gen", &gen, "/");
	start(c, 2, 0);
	send_event("evt_big", 2);
	WAIT_STAT(0, sent, 1);
	WAIT_STAT(1, sent, 1);
	cr_assert(eq(u64, stats(0).triage_failures, 1));
	cr_assert(eq(u64, stats(0).failures, 0));
	cr_assert(eq(u64, stats(1).failures, 0));
	cr_assert(eq(int, triage_calls, 0));
	rx_free(&ai);
	rx_free(&gen);
	free(big);
}

Test(webhook, header_values_cannot_inject_headers)
{
	static struct rx rx;
	struct tg_webhook_config c;

	rx_up(&rx);
	hook_cfg(&c, "inject", &rx, "/");
	c.n_headers = 2;
	strcpy(c.headers[0].name, "X-Custom");
	strcpy(c.headers[0].value, "a\r\nAuthorization: Bearer stolen");
	strcpy(c.headers[1].name, "webhook-id");
	strcpy(c.headers[1].value, "forged");
	start(&c, 1, 0);
	send_event("evt_h", 1);
	wait_requests(&rx, 1);
	cr_assert(eq(str, rx.reqs[0].custom, ""));
	cr_assert(eq(str, rx.reqs[0].authorization, ""));
	cr_assert(eq(str, rx.reqs[0].webhook_id, "evt_h"), "not the forged one");
	rx_free(&rx);
}
