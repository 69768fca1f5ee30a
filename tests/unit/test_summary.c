/* Summaries: deduplication, the urgent path for critical anomalies, the
 * window close, the entry bound, and the exact tollgate.anomaly.v1 JSON.
 * With TG_EVENT_DUMP_DIR set, every rendered event is also written there
 * so a later step can validate it against schema/. */
#include <cjson/cJSON.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <math.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "alerts/detect.h"
#include "telemetry/rates.h"
#include "alerts/summary.h"
#include "lib/addr.h"

#define SEC 1000000000ull
#define T0 (1800000000ull * SEC) /* 2027-01-15T08:00:00Z */

static void dump(const struct tg_event_out *ev)
{
	const char *dir = getenv("TG_EVENT_DUMP_DIR");
	char path[512];
	FILE *f;

	if (!dir || !*dir)
		return;
	snprintf(path, sizeof(path), "%s/%s.json", dir, ev->id);
	f = fopen(path, "w");
	cr_assert_not_null(f, "%s: %s", path, strerror(errno));
	fwrite(ev->json, 1, ev->len, f);
	fputc('\n', f);
	fclose(f);
}

/* Checks the rendered event's basics, dumps it, and returns it parsed. */
static cJSON *parse(const struct tg_event_out *ev)
{
	cJSON *root, *id;

	cr_assert_not_null(ev->json);
	cr_assert_eq(strlen(ev->json), ev->len);
	dump(ev);
	root = cJSON_ParseWithLength(ev->json, ev->len);
	cr_assert_not_null(root, "not JSON: %s", ev->json);
	id = cJSON_GetObjectItemCaseSensitive(root, "id");
	cr_assert(cJSON_IsString(id));
	cr_assert_str_eq(id->valuestring, ev->id);
	return root;
}

static cJSON *get(const cJSON *o, const char *path)
{
	char buf[128], *save = NULL;
	const cJSON *it = o;

	snprintf(buf, sizeof(buf), "%s", path);
	for (char *tok = strtok_r(buf, ".", &save); tok && it; tok = strtok_r(NULL, ".", &save)) {
		if (tok[0] >= '0' && tok[0] <= '9')
			it = cJSON_GetArrayItem(it, atoi(tok));
		else
			it = cJSON_GetObjectItemCaseSensitive(it, tok);
	}
	cr_assert_not_null(it, "no %s", path);
	return (cJSON *)it;
}

static const char *str(const cJSON *o, const char *path)
{
	const cJSON *it = get(o, path);

	cr_assert(cJSON_IsString(it), "%s is not a string", path);
	return it->valuestring;
}

static double num(const cJSON *o, const char *path)
{
	const cJSON *it = get(o, path);

	cr_assert(cJSON_IsNumber(it), "%s is not a number", path);
	return it->valuedouble;
}

static struct tg_anomaly an(int type, int sev, const char *address, const char *key, uint64_t ts)
{
	struct tg_anomaly a;

	memset(&a, 0, sizeof(a));
	a.type = type;
	a.severity = sev;
	if (address) {
		cr_assert_eq(tg_addr_parse(address, &a.addr), 0);
		a.has_addr = true;
		a.prefix = tg_addr_is_v4(&a.addr) ? 32 : 64;
	}
	if (key)
		snprintf(a.key, sizeof(a.key), "%s", key);
	a.ts_ns = ts;
	return a;
}

static const struct tg_summary_ctx ctx_basic = {
	.instance = "edge", .host = "gw-1", .agent_version = "0.1.0",
	.requests = 100, .bytes = 2000, .denied = 3, .clients = 2,
};

static void ev_free(struct tg_event_out *ev)
{
	free(ev->json);
	ev->json = NULL;
}

Test(summary, deduplicates_with_counts)
{
	struct tg_summary *s = tg_summary_new(10000, 64, T0);
	struct tg_summary_stats st;
	struct tg_event_out ev;
	cJSON *root;

	for (int i = 0; i < 12; i++) {
		struct tg_anomaly a = an(TG_AN_QUOTA_EXHAUSTED, TG_SEV_WARNING, "198.18.0.2", "gold",
					 T0 + SEC + (uint64_t)i * SEC / 2);

		a.is_quota = true;
		tg_an_observe(&a, "denied", 10.0 * (i + 1));
		cr_assert_not(tg_summary_add(s, &a));
	}
	/* the same client under another key is another entry */
	struct tg_anomaly other = an(TG_AN_QUOTA_EXHAUSTED, TG_SEV_WARNING, "198.18.0.2", "silver",
				     T0 + 2 * SEC);
	tg_summary_add(s, &other);
	tg_summary_stats(s, &st);
	cr_assert_eq(st.anomalies, 13);
	cr_assert_eq(st.deduplicated, 11);
	cr_assert_eq(st.entries, 2);

	cr_assert_eq(tg_summary_close(s, &ctx_basic, T0 + 10 * SEC, &ev), 0);
	root = parse(&ev);
	cr_assert_eq(cJSON_GetArraySize(get(root, "anomalies")), 2);
	cr_assert_str_eq(str(root, "anomalies.0.client.key"), "gold");
	cr_assert_float_eq(num(root, "anomalies.0.count"), 12, 1e-9);
	cr_assert_float_eq(num(root, "anomalies.0.observed.denied"), 120, 1e-9, "latest value");
	cr_assert_str_eq(str(root, "anomalies.0.first_seen"), "2027-01-15T08:00:01.000Z");
	cr_assert_str_eq(str(root, "anomalies.0.last_seen"), "2027-01-15T08:00:06.500Z");
	cr_assert_float_eq(num(root, "anomalies.1.count"), 1, 1e-9);
	cJSON_Delete(root);
	ev_free(&ev);
	tg_summary_stats(s, &st);
	cr_assert_eq(st.entries, 0);
	cr_assert_eq(st.events, 1);
	tg_summary_free(s);
}

Test(summary, severity_is_the_highest_seen)
{
	struct tg_summary *s = tg_summary_new(10000, 64, T0);
	struct tg_anomaly a = an(TG_AN_RATE_SPIKE, TG_SEV_WARNING, "198.18.0.3", NULL, T0 + SEC);
	struct tg_event_out ev;
	cJSON *root;

	cr_assert_not(tg_summary_add(s, &a));
	a.severity = TG_SEV_CRITICAL;
	cr_assert(tg_summary_add(s, &a), "critical now and not sent yet");
	a.severity = TG_SEV_INFO;
	cr_assert(tg_summary_add(s, &a), "still critical, still unsent");
	cr_assert_eq(tg_summary_urgent(s, &ctx_basic, T0 + 2 * SEC, &ev), 0);
	cr_assert_eq(ev.severity, TG_SEV_CRITICAL);
	root = parse(&ev);
	cr_assert_str_eq(str(root, "severity"), "critical");
	cr_assert_str_eq(str(root, "anomalies.0.severity"), "critical");
	cr_assert_float_eq(num(root, "anomalies.0.count"), 3, 1e-9);
	cJSON_Delete(root);
	ev_free(&ev);
	tg_summary_free(s);
}

Test(summary, urgent_sends_each_critical_once)
{
	struct tg_summary *s = tg_summary_new(10000, 64, T0);
	struct tg_anomaly crit = an(TG_AN_DENIED, TG_SEV_CRITICAL, "198.18.0.9", "blocked", T0 + SEC);
	struct tg_anomaly warn = an(TG_AN_RATE_SPIKE, TG_SEV_WARNING, "198.18.0.3", NULL, T0 + SEC);
	struct tg_anomaly crit2 = an(TG_AN_DENIED, TG_SEV_CRITICAL, "198.18.0.10", "blocked",
				     T0 + 3 * SEC);
	struct tg_event_out ev;
	cJSON *root;

	crit.is_quota = crit2.is_quota = true;
	cr_assert_eq(tg_summary_urgent(s, &ctx_basic, T0, &ev), -ENOENT, "nothing yet");
	cr_assert_not(tg_summary_add(s, &warn));
	cr_assert_eq(tg_summary_urgent(s, &ctx_basic, T0, &ev), -ENOENT, "warnings wait");
	cr_assert(tg_summary_add(s, &crit));
	cr_assert_eq(tg_summary_urgent(s, &ctx_basic, T0 + 2 * SEC, &ev), 0);
	root = parse(&ev);
	cr_assert_eq(cJSON_GetArraySize(get(root, "anomalies")), 1, "just the critical one");
	cr_assert_str_eq(str(root, "anomalies.0.type"), "denied");
	cr_assert_str_eq(str(root, "window.start"), "2027-01-15T08:00:00.000Z");
	cr_assert_str_eq(str(root, "window.end"), "2027-01-15T08:00:02.000Z");
	cJSON_Delete(root);
	ev_free(&ev);
	cr_assert_eq(tg_summary_urgent(s, &ctx_basic, T0 + 2 * SEC, &ev), -ENOENT, "already sent");
	cr_assert_not(tg_summary_add(s, &crit), "sent in this window: it waits for the close");
	cr_assert(tg_summary_add(s, &crit2), "another client is new");
	cr_assert_eq(tg_summary_urgent(s, &ctx_basic, T0 + 3 * SEC, &ev), 0);
	root = parse(&ev);
	cr_assert_eq(cJSON_GetArraySize(get(root, "anomalies")), 1);
	cr_assert_str_eq(str(root, "anomalies.0.client.address"), "198.18.0.10");
	cJSON_Delete(root);
	ev_free(&ev);
	tg_summary_free(s);
}

Test(summary, close_after_urgent)
{
	struct tg_summary *s = tg_summary_new(10000, 64, T0);
	struct tg_anomaly crit = an(TG_AN_DENIED, TG_SEV_CRITICAL, "198.18.0.9", "blocked", T0 + SEC);
	struct tg_anomaly crit2 = an(TG_AN_DENIED, TG_SEV_CRITICAL, "198.18.0.10", "blocked", T0 + SEC);
	struct tg_anomaly warn = an(TG_AN_RATE_SPIKE, TG_SEV_WARNING, "198.18.0.3", NULL, T0 + SEC);
	struct tg_event_out ev;
	cJSON *root;

	crit.is_quota = crit2.is_quota = true;
	/* sent at once and never again: the close has nothing to add */
	tg_summary_add(s, &crit);
	cr_assert_eq(tg_summary_urgent(s, &ctx_basic, T0 + SEC, &ev), 0);
	ev_free(&ev);
	cr_assert_eq(tg_summary_close(s, &ctx_basic, T0 + 10 * SEC, &ev), -ENOENT);
	cr_assert_null(ev.json);

	/* next window: one recurs after its urgent event, one does not */
	cr_assert_eq(tg_summary_window_end(s), T0 + 20 * SEC);
	crit.ts_ns = crit2.ts_ns = warn.ts_ns = T0 + 11 * SEC;
	cr_assert(tg_summary_add(s, &crit), "new in this window");
	tg_summary_add(s, &crit2);
	tg_summary_add(s, &warn);
	cr_assert_eq(tg_summary_urgent(s, &ctx_basic, T0 + 11 * SEC, &ev), 0);
	ev_free(&ev);
	crit.ts_ns = T0 + 15 * SEC;
	cr_assert_not(tg_summary_add(s, &crit));
	cr_assert_eq(tg_summary_close(s, &ctx_basic, T0 + 20 * SEC, &ev), 0);
	root = parse(&ev);
	cr_assert_eq(cJSON_GetArraySize(get(root, "anomalies")), 2);
	cr_assert_str_eq(str(root, "anomalies.0.client.address"), "198.18.0.9");
	cr_assert_float_eq(num(root, "anomalies.0.count"), 2, 1e-9, "the window's count");
	cr_assert_str_eq(str(root, "anomalies.1.type"), "rate_spike");
	cr_assert_str_eq(str(root, "severity"), "critical");
	cr_assert_str_eq(str(root, "window.start"), "2027-01-15T08:00:10.000Z");
	cr_assert_str_eq(str(root, "window.end"), "2027-01-15T08:00:20.000Z");
	cJSON_Delete(root);
	ev_free(&ev);
	tg_summary_free(s);
}

Test(summary, bounded_entries_drop_lowest_severity)
{
	struct tg_summary *s = tg_summary_new(10000, 3, T0);
	struct tg_summary_stats st;
	struct tg_event_out ev;
	char address[32];
	cJSON *root;

	for (int i = 0; i < 3; i++) {
		snprintf(address, sizeof(address), "198.18.1.%d", i);
		struct tg_anomaly a = an(TG_AN_CONNECTION_CHURN, TG_SEV_INFO, address, NULL,
					 T0 + (uint64_t)i * SEC);

		tg_summary_add(s, &a);
	}
	/* a repeat of a kept one still counts */
	struct tg_anomaly again = an(TG_AN_CONNECTION_CHURN, TG_SEV_INFO, "198.18.1.2", NULL, T0 + 4 * SEC);
	tg_summary_add(s, &again);
	struct tg_anomaly w = an(TG_AN_RATE_SPIKE, TG_SEV_WARNING, "198.18.0.3", NULL, T0 + 5 * SEC);
	tg_summary_add(s, &w);
	struct tg_anomaly c = an(TG_AN_ERROR_SURGE, TG_SEV_CRITICAL, "198.18.0.4", NULL, T0 + 6 * SEC);
	cr_assert(tg_summary_add(s, &c), "a critical one displaces an info one");
	struct tg_anomaly i2 = an(TG_AN_CONNECTION_CHURN, TG_SEV_INFO, "198.18.1.7", NULL, T0 + 7 * SEC);
	cr_assert_not(tg_summary_add(s, &i2));
	tg_summary_stats(s, &st);
	cr_assert_eq(st.entries, 3);
	cr_assert_eq(st.dropped, 3);

	cr_assert_eq(tg_summary_close(s, &ctx_basic, T0 + 10 * SEC, &ev), 0);
	root = parse(&ev);
	cr_assert_eq(cJSON_GetArraySize(get(root, "anomalies")), 3);
	cr_assert_str_eq(str(root, "anomalies.0.type"), "error_surge");
	cr_assert_str_eq(str(root, "anomalies.1.type"), "rate_spike");
	cr_assert_str_eq(str(root, "anomalies.2.client.address"), "198.18.1.2", "the repeated one stays");
	cr_assert_not_null(strstr(str(root, "summary"), "3 more dropped"), "%s", str(root, "summary"));
	cJSON_Delete(root);
	ev_free(&ev);
	tg_summary_free(s);
}

Test(summary, many_distinct_entries)
{
	struct tg_summary *s = tg_summary_new(10000, 5000, T0);
	struct tg_summary_stats st;
	struct tg_event_out ev;
	cJSON *root;

	for (int round = 0; round < 2; round++)
		for (uint32_t i = 0; i < 4000; i++) {
			struct tg_anomaly a = an(TG_AN_RATE_SPIKE, TG_SEV_WARNING, NULL, NULL, T0 + SEC);

			a.has_addr = true;
			a.addr.w[2] = 0xffff0000u;
			a.addr.w[3] = i;
			a.prefix = 32;
			tg_summary_add(s, &a);
		}
	tg_summary_stats(s, &st);
	cr_assert_eq(st.entries, 4000);
	cr_assert_eq(st.deduplicated, 4000);
	cr_assert_eq(tg_summary_close(s, &ctx_basic, T0 + 10 * SEC, &ev), 0);
	root = parse(&ev);
	cr_assert_eq(cJSON_GetArraySize(get(root, "anomalies")), 4000);
	cr_assert_not_null(strstr(str(root, "summary"), "; and 3995 more"));
	cJSON_Delete(root);
	ev_free(&ev);
	tg_summary_free(s);
}

Test(summary, summary_line)
{
	struct tg_summary *s = tg_summary_new(10000, 64, T0);
	struct tg_anomaly q = an(TG_AN_QUOTA_EXHAUSTED, TG_SEV_WARNING, "198.18.0.2", "gold", T0 + SEC);
	struct tg_anomaly r = an(TG_AN_RATE_SPIKE, TG_SEV_WARNING, "198.18.0.3", NULL, T0 + 2 * SEC);
	struct tg_event_out ev;
	cJSON *root;

	q.is_quota = true;
	for (int i = 0; i < 12; i++)
		tg_summary_add(s, &q);
	tg_an_observe(&r, "requests_per_sec", 412);
	tg_an_reference(&r, "mean_requests_per_sec", 20);
	tg_summary_add(s, &r);
	cr_assert_eq(tg_summary_close(s, &ctx_basic, T0 + 10 * SEC, &ev), 0);
	root = parse(&ev);
	cr_assert_str_eq(str(root, "summary"),
			 "2 anomalies on gw-1: quota_exhausted 198.18.0.2 (key gold) 12 times in 10 s; "
			 "rate_spike 198.18.0.3 412 req/s (baseline 20)");
	cJSON_Delete(root);
	ev_free(&ev);
	tg_summary_free(s);
}

/* The whole event, field by field, against the schema's shape. */
Test(summary, exact_json)
{
	static const char expected[] =
		"{\"schema\":\"tollgate.anomaly.v1\",\"id\":\"ID\",\"instance\":\"edge\","
		"\"host\":\"gw-1\",\"agent_version\":\"0.1.0\","
		"\"window\":{\"start\":\"2027-01-15T08:00:00.000Z\",\"end\":\"2027-01-15T08:00:10.000Z\"},"
		"\"severity\":\"warning\","
		"\"summary\":\"3 anomalies on gw-1: quota_exhausted 198.18.0.2 (key gold) 12 times in 10 s; "
		"rate_spike fd00:198:18::/64 412 req/s (baseline 20); key_shared key:000000000000abcd from 14 addresses\","
		"\"anomalies\":["
		"{\"type\":\"quota_exhausted\",\"severity\":\"warning\","
		"\"client\":{\"address\":\"198.18.0.2\",\"prefix\":32,\"key\":\"gold\"},"
		"\"observed\":{\"denied\":12,\"enforced\":1},\"quota\":{\"requests_per_sec\":10,\"burst\":20},"
		"\"count\":12,\"first_seen\":\"2027-01-15T08:00:02.500Z\",\"last_seen\":\"2027-01-15T08:00:09.250Z\"},"
		"{\"type\":\"rate_spike\",\"severity\":\"warning\","
		"\"client\":{\"address\":\"fd00:198:18::\",\"prefix\":64,\"key\":null},"
		"\"observed\":{\"requests_per_sec\":412,\"z_score\":19.6},"
		"\"baseline\":{\"mean_requests_per_sec\":20,\"stddev\":2},"
		"\"count\":1,\"first_seen\":\"2027-01-15T08:00:05.000Z\",\"last_seen\":\"2027-01-15T08:00:05.000Z\"},"
		"{\"type\":\"key_shared\",\"severity\":\"info\","
		"\"client\":{\"address\":null,\"prefix\":null,\"key\":\"key:000000000000abcd\"},"
		"\"observed\":{\"addresses\":14},\"baseline\":{\"max_addresses\":10},"
		"\"count\":1,\"first_seen\":\"2027-01-15T08:00:01.000Z\",\"last_seen\":\"2027-01-15T08:00:01.000Z\"}],"
		"\"top_clients\":["
		"{\"address\":\"198.18.0.3\",\"key\":null,\"requests_per_sec\":412.5,\"bytes_per_sec\":90000,\"denied\":0},"
		"{\"address\":\"fd00:198:18::\",\"key\":\"gold\",\"requests_per_sec\":10,\"bytes_per_sec\":1000,\"denied\":12}],"
		"\"totals\":{\"requests\":5000,\"bytes\":1200000,\"denied\":12,\"clients\":3}}";
	struct tg_top_client top[2];
	struct tg_summary_ctx ctx = {
		.instance = "edge", .host = "gw-1", .agent_version = "0.1.0",
		.top = top, .n_top = 2,
		.requests = 5000, .bytes = 1200000, .denied = 12, .clients = 3,
	};
	struct tg_summary *s = tg_summary_new(10000, 64, T0);
	struct tg_event_out ev;
	cJSON *root, *want;
	char *got_text;

	memset(top, 0, sizeof(top));
	tg_addr_parse("198.18.0.3", &top[0].addr);
	top[0].prefix = 32;
	top[0].requests_per_sec = 412.5;
	top[0].bytes_per_sec = 90000;
	tg_addr_parse("fd00:198:18::", &top[1].addr);
	top[1].prefix = 64;
	snprintf(top[1].key, sizeof(top[1].key), "gold");
	top[1].requests_per_sec = 10;
	top[1].bytes_per_sec = 1000;
	top[1].denied = 12;

	for (int i = 0; i < 12; i++) {
		struct tg_anomaly q = an(TG_AN_QUOTA_EXHAUSTED, TG_SEV_WARNING, "198.18.0.2", "gold",
					 i < 11 ? T0 + 2500 * 1000000ull : T0 + 9250 * 1000000ull);

		q.is_quota = true;
		tg_an_observe(&q, "denied", i + 1);
		tg_an_observe(&q, "enforced", 1);
		tg_an_reference(&q, "requests_per_sec", 10);
		tg_an_reference(&q, "burst", 20);
		tg_summary_add(s, &q);
	}
	struct tg_anomaly r = an(TG_AN_RATE_SPIKE, TG_SEV_WARNING, "fd00:198:18::", NULL, T0 + 5 * SEC);
	tg_an_observe(&r, "requests_per_sec", 412);
	tg_an_observe(&r, "z_score", 19.6);
	tg_an_reference(&r, "mean_requests_per_sec", 20);
	tg_an_reference(&r, "stddev", 2);
	tg_summary_add(s, &r);
	struct tg_anomaly k = an(TG_AN_KEY_SHARED, TG_SEV_INFO, NULL, NULL, T0 + SEC);
	tg_key_hash_name(0xabcd, k.key, sizeof(k.key));
	tg_an_observe(&k, "addresses", 14);
	tg_an_reference(&k, "max_addresses", 10);
	tg_summary_add(s, &k);

	cr_assert_eq(tg_summary_close(s, &ctx, T0 + 10 * SEC, &ev), 0);
	cr_assert_eq(ev.severity, TG_SEV_WARNING);
	root = parse(&ev);
	cJSON_ReplaceItemInObjectCaseSensitive(root, "id", cJSON_CreateString("ID"));
	want = cJSON_Parse(expected);
	cr_assert_not_null(want);
	got_text = cJSON_PrintUnformatted(root);
	cr_assert(cJSON_Compare(root, want, true), "got\n%s\nwant\n%s", got_text, expected);
	/* and field order as written */
	cr_assert_str_eq(got_text, expected);
	free(got_text);
	cJSON_Delete(want);
	cJSON_Delete(root);
	ev_free(&ev);
	tg_summary_free(s);
}

Test(summary, window_moves_on)
{
	struct tg_summary *s = tg_summary_new(10000, 64, T0);
	struct tg_event_out ev;

	cr_assert_eq(tg_summary_window_end(s), T0 + 10 * SEC);
	cr_assert_eq(tg_summary_close(s, &ctx_basic, T0 + 10 * SEC, &ev), -ENOENT, "nothing to say");
	cr_assert_eq(tg_summary_window_end(s), T0 + 20 * SEC);
	/* a late close: the next window starts where this one ended */
	cr_assert_eq(tg_summary_close(s, &ctx_basic, T0 + 25 * SEC, &ev), -ENOENT);
	cr_assert_eq(tg_summary_window_end(s), T0 + 35 * SEC);
	tg_summary_set_window(s, 60000);
	cr_assert_eq(tg_summary_window_end(s), T0 + 85 * SEC);
	tg_summary_free(s);
}

Test(summary, event_ids)
{
	char a[TG_EVENT_ID_LEN], b[TG_EVENT_ID_LEN];
	regex_t re;

	cr_assert_eq(regcomp(&re, "^evt_[0-9a-f]{32}$", REG_EXTENDED | REG_NOSUB), 0);
	tg_event_id_new(a);
	tg_event_id_new(b);
	cr_assert_eq(regexec(&re, a, 0, NULL, 0), 0, "%s", a);
	cr_assert_eq(regexec(&re, b, 0, NULL, 0), 0, "%s", b);
	cr_assert_str_neq(a, b);
	regfree(&re);
}

Test(summary, bad_input_is_refused)
{
	struct tg_summary *s = tg_summary_new(0, 0, T0);
	struct tg_anomaly a = an(TG_AN_MAX, TG_SEV_WARNING, NULL, NULL, T0);
	struct tg_event_out ev;
	struct tg_summary_stats st;

	cr_assert_not(tg_summary_add(s, &a), "unknown type");
	a.type = TG_AN_RATE_SPIKE;
	a.severity = 7;
	cr_assert_not(tg_summary_add(s, &a), "unknown severity");
	cr_assert_not(tg_summary_add(s, NULL));
	cr_assert_not(tg_summary_add(NULL, &a));
	cr_assert_eq(tg_summary_urgent(NULL, &ctx_basic, T0, &ev), -EINVAL);
	cr_assert_eq(tg_summary_close(NULL, &ctx_basic, T0, &ev), -EINVAL);
	tg_summary_stats(s, &st);
	cr_assert_eq(st.entries, 0);
	cr_assert_eq(tg_summary_window_end(s), T0 + 10 * SEC, "window 0: the default");
	/* a NULL context still renders a valid event */
	a.severity = TG_SEV_INFO;
	tg_an_observe(&a, "requests_per_sec", INFINITY); /* not finite: left out */
	cr_assert_eq(a.n_observed, 0);
	tg_summary_add(s, &a);
	cr_assert_eq(tg_summary_close(s, NULL, T0 - SEC, &ev), 0);
	cJSON *root = parse(&ev);
	cr_assert_str_eq(str(root, "host"), "");
	cr_assert_str_eq(str(root, "window.end"), str(root, "window.start"), "time never runs back");
	cJSON_Delete(root);
	ev_free(&ev);
	tg_summary_free(s);
	tg_summary_free(NULL);
}

Test(anomaly, same_identity)
{
	struct tg_anomaly a = an(TG_AN_RATE_SPIKE, TG_SEV_WARNING, "198.18.0.2", "gold", T0);
	struct tg_anomaly b = a;

	b.severity = TG_SEV_CRITICAL;
	b.ts_ns = T0 + SEC;
	tg_an_observe(&b, "requests_per_sec", 4);
	cr_assert(tg_anomaly_same(&a, &b));
	b.type = TG_AN_PAYLOAD_OUTLIER;
	cr_assert_not(tg_anomaly_same(&a, &b));
	b = a;
	b.key[0] = '\0';
	cr_assert_not(tg_anomaly_same(&a, &b));
	b = a;
	b.addr.w[3] ^= 1;
	cr_assert_not(tg_anomaly_same(&a, &b));
	b = a;
	b.has_addr = false;
	cr_assert_not(tg_anomaly_same(&a, &b));
	b = a;
	snprintf(b.model, sizeof(b.model), "gpt-4o");
	cr_assert_not(tg_anomaly_same(&a, &b), "another model is another anomaly");
	for (int i = 0; i < TG_AN_MAX_VALUES + 2; i++)
		tg_an_reference(&a, "v", i);
	cr_assert_eq(a.n_reference, TG_AN_MAX_VALUES, "values beyond the array are ignored");
}

/* A rate_spike of one key on one model: no client address, the key and
 * the model named, one entry per model. */
Test(summary, key_model_spike)
{
	struct tg_summary *s = tg_summary_new(10000, 64, T0);
	struct tg_anomaly a = an(TG_AN_RATE_SPIKE, TG_SEV_WARNING, NULL, "team-a", T0 + SEC);
	struct tg_anomaly b;
	struct tg_event_out ev;
	cJSON *root;

	snprintf(a.model, sizeof(a.model), "gpt-4o");
	tg_an_observe(&a, "requests_per_sec", 90);
	tg_an_reference(&a, "mean_requests_per_sec", 5);
	b = a;
	snprintf(b.model, sizeof(b.model), "other");
	tg_summary_add(s, &a);
	tg_summary_add(s, &a);
	tg_summary_add(s, &b);
	cr_assert_eq(tg_summary_close(s, &ctx_basic, T0 + 10 * SEC, &ev), 0);
	root = parse(&ev);
	cr_assert_eq(cJSON_GetArraySize(get(root, "anomalies")), 2);
	cr_assert_str_eq(str(root, "anomalies.0.model"), "gpt-4o");
	cr_assert_str_eq(str(root, "anomalies.0.client.key"), "team-a");
	cr_assert_float_eq(num(root, "anomalies.0.count"), 2, 1e-9);
	cr_assert_str_eq(str(root, "anomalies.1.model"), "other");
	cr_assert_null(get(root, "anomalies.1.client.address")->valuestring);
	cr_assert(strstr(str(root, "summary"), "on model gpt-4o 90 req/s (baseline 5)"), "%s",
		  str(root, "summary"));
	cJSON_Delete(root);
	ev_free(&ev);
	tg_summary_free(s);
}
