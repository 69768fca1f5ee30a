/* The built-in webhook formats: the exact body each renders for a fixed
 * anomaly event and a fixed triage event, what each skips, and that
 * malformed events (truncated, garbage, wrong types) fail cleanly. Then
 * the openai format's reply parser. */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <cjson/cJSON.h>
#include <ctype.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "config/config.h"
#include "formats/fmt_util.h"
#include "formats/formats.h"
#include "hook_events.h"
#include "lib/clock.h"

#define BULLET "\xE2\x80\xA2 "

static const char prompt[] =
	"You are an SRE assistant triaging tollgate anomaly events for an LLM API gateway. "
	"tollgate is an eBPF agent beside the gateway: it counts per-client traffic "
	"(requests, bytes, connections, responses) and enforces per-client and per-API-key "
	"quotas. The user message is one tollgate.anomaly.v1 event as JSON. Answer in plain "
	"text with the likely cause, the risk, and the recommended action, in under 120 "
	"words.";

static const struct tollgate_hook *const builtins[] = {
	&tg_format_generic, &tg_format_alertmanager, &tg_format_slack, &tg_format_openai,
};
#define N_BUILTINS (sizeof(builtins) / sizeof(builtins[0]))

/* Strings made by a test, freed after it. */
static char *kept[512];
static size_t n_kept;
static void *openai_state;

static char *keep(char *s)
{
	cr_assert(s != NULL);
	cr_assert(n_kept < sizeof(kept) / sizeof(kept[0]));
	kept[n_kept++] = s;
	return s;
}

static char *keep_or_null(char *s)
{
	return s ? keep(s) : NULL;
}

static const char *J(const char *quoted)
{
	return keep(tg_test_json(quoted));
}

static void teardown(void)
{
	while (n_kept)
		free(kept[--n_kept]);
	tg_format_openai.fini(openai_state);
	openai_state = NULL;
}

TestSuite(formats, .fini = teardown, .timeout = 60);

/* The state each built-in needs: only openai has one. */
static void *state_of(const struct tollgate_hook *h)
{
	const char *err = "unset";

	if (h != &tg_format_openai)
		return NULL;
	if (!openai_state) {
		openai_state = h->init("llm", J("{'name':'llm','url':'http://127.0.0.1:4000/v1/chat/completions',"
						 "'format':'openai','min_severity':'warning','model':'gpt-4o-mini'}"),
				       &err);
		cr_assert(openai_state != NULL, "init: %s", err);
		cr_assert(eq(ptr, (void *)err, NULL));
	}
	return openai_state;
}

static int render_len(const struct tollgate_hook *h, const char *json, size_t len,
		      struct tollgate_hook_output *out)
{
	struct tollgate_hook_event ev = {
		.schema = memmem(json, len, "triage.v1", 9) ? TG_SCHEMA_TRIAGE : TG_SCHEMA_ANOMALY,
		.id = "evt_x",
		.severity = TOLLGATE_SEV_CRITICAL,
		.json = json,
		.json_len = len,
	};

	memset(out, 0x5a, sizeof(*out)); /* formats must not rely on a cleared out */
	return h->format(state_of(h), &ev, out);
}

static int render(const struct tollgate_hook *h, const char *json, struct tollgate_hook_output *out)
{
	return render_len(h, json, strlen(json), out);
}

static void assert_same_json(const char *got, size_t got_len, const cJSON *want)
{
	cJSON *g = cJSON_ParseWithLength(got, got_len);
	char *gs, *ws;

	cr_assert(g != NULL, "output is not JSON: %.*s", (int)got_len, got);
	gs = cJSON_PrintUnformatted(g);
	ws = cJSON_PrintUnformatted(want);
	cr_assert(cJSON_Compare(g, want, true), "\ngot  %s\nwant %s", gs, ws);
	free(gs);
	free(ws);
	cJSON_Delete(g);
}

/* Renders json with h and compares the whole body with want. */
static void expect_body(const struct tollgate_hook *h, const char *json, const char *want)
{
	struct tollgate_hook_output out;
	cJSON *w = cJSON_Parse(want);
	int rc;

	cr_assert(w != NULL, "expected text is not JSON: %s", want);
	rc = render(h, json, &out);
	cr_assert(eq(int, rc, 0), "%s: rc %d", h->name, rc);
	cr_assert(out.body != NULL);
	cr_assert(eq(sz, strlen(out.body), out.body_len));
	cr_assert(eq(str, out.content_type, "application/json"));
	assert_same_json(out.body, out.body_len, w);
	free(out.body);
	cJSON_Delete(w);
}

static void expect_rc(const struct tollgate_hook *h, const char *json, int want)
{
	struct tollgate_hook_output out;
	int rc = render(h, json, &out);

	cr_assert(eq(int, rc, want), "%s: rc %d for %s", h->name, rc, json);
	cr_assert(eq(ptr, out.body, NULL));
	cr_assert(eq(sz, out.body_len, 0));
}

/* base with the member at a dotted path ("anomalies.0.type") replaced by
 * the JSON value (' for "), or removed when value is NULL. */
static const char *with(const char *base, const char *path, const char *value)
{
	cJSON *root = cJSON_Parse(base), *parent = root, *v = NULL;
	char buf[128], *tok, *next, *save = NULL;

	cr_assert(root != NULL);
	snprintf(buf, sizeof(buf), "%s", path);
	tok = strtok_r(buf, ".", &save);
	while ((next = strtok_r(NULL, ".", &save))) {
		parent = isdigit((unsigned char)*tok) ? cJSON_GetArrayItem(parent, atoi(tok))
						      : cJSON_GetObjectItemCaseSensitive(parent, tok);
		cr_assert(parent != NULL, "no %s in the sample", path);
		tok = next;
	}
	if (value) {
		v = cJSON_Parse(J(value));
		cr_assert(v != NULL, "bad value %s", value);
	}
	if (cJSON_IsArray(parent)) {
		if (v)
			cJSON_ReplaceItemInArray(parent, atoi(tok), v);
		else
			cJSON_DeleteItemFromArray(parent, atoi(tok));
	} else if (!v) {
		cJSON_DeleteItemFromObjectCaseSensitive(parent, tok);
	} else if (cJSON_GetObjectItemCaseSensitive(parent, tok)) {
		cJSON_ReplaceItemInObjectCaseSensitive(parent, tok, v);
	} else {
		cJSON_AddItemToObject(parent, tok, v);
	}
	keep(cJSON_PrintUnformatted(root));
	cJSON_Delete(root);
	return kept[n_kept - 1];
}

/* ---- the table ---------------------------------------------------------- */

Test(formats, builtin_table)
{
	cr_assert(eq(ptr, (void *)tg_format_builtin(TG_FMT_GENERIC), (void *)&tg_format_generic));
	cr_assert(eq(ptr, (void *)tg_format_builtin(TG_FMT_ALERTMANAGER), (void *)&tg_format_alertmanager));
	cr_assert(eq(ptr, (void *)tg_format_builtin(TG_FMT_SLACK), (void *)&tg_format_slack));
	cr_assert(eq(ptr, (void *)tg_format_builtin(TG_FMT_OPENAI), (void *)&tg_format_openai));
	cr_assert(eq(ptr, (void *)tg_format_builtin(TG_FMT_PLUGIN), NULL));
	cr_assert(eq(ptr, (void *)tg_format_builtin(-1), NULL));
	cr_assert(eq(ptr, (void *)tg_format_builtin(99), NULL));
	for (size_t i = 0; i < N_BUILTINS; i++) {
		cr_assert(eq(u32, builtins[i]->abi_version, TOLLGATE_HOOK_ABI_VERSION));
		cr_assert(builtins[i]->name && builtins[i]->init && builtins[i]->format &&
			  builtins[i]->fini);
	}
	cr_assert(eq(str, (char *)tg_format_generic.name, "generic"));
	cr_assert(eq(str, (char *)tg_format_alertmanager.name, "alertmanager"));
	cr_assert(eq(str, (char *)tg_format_slack.name, "slack"));
	cr_assert(eq(str, (char *)tg_format_openai.name, "openai"));
}

Test(formats, sample_is_canonical)
{
	/* the openai body carries the event as cJSON prints it: the sample is
	 * written that way, so the expected body can quote it */
	const char *s = J(TG_TEST_ANOMALY);
	cJSON *doc = cJSON_Parse(s);
	char *p = cJSON_PrintUnformatted(doc);

	cr_assert(eq(str, p, (char *)s));
	free(p);
	cJSON_Delete(doc);
}

/* ---- generic ------------------------------------------------------------ */

Test(formats, generic_sends_the_event_unchanged)
{
	const char *events[] = { J(TG_TEST_ANOMALY), J(TG_TEST_TRIAGE),
				 /* spacing kept as it came: the signature covers these bytes */
				 keep(strdup(" {\"schema\": \"tollgate.triage.v1\", \"id\": \"evt_1\", "
					     "\"event_id\": \"evt_0\", \"instance\": \"i\", \"host\": "
					     "\"h\", \"severity\": \"info\", \"triage\": \"t\"}\n")) };
	struct tollgate_hook_output out;

	for (size_t i = 0; i < sizeof(events) / sizeof(events[0]); i++) {
		cr_assert(eq(int, render(&tg_format_generic, events[i], &out), 0));
		cr_assert(eq(sz, out.body_len, strlen(events[i])));
		cr_assert(eq(str, out.body, (char *)events[i]));
		cr_assert(eq(str, out.content_type, "application/json"));
		free(out.body);
	}
}

Test(formats, generic_honours_json_len)
{
	const char *ev = J(TG_TEST_TRIAGE);
	char *buf = keep(malloc(strlen(ev) + 16));
	struct tollgate_hook_output out;

	/* bytes past json_len are not the event's */
	sprintf(buf, "%s, \"x\": 1}", ev);
	cr_assert(eq(int, render_len(&tg_format_generic, buf, strlen(ev), &out), 0));
	cr_assert(eq(sz, out.body_len, strlen(ev)));
	cr_assert(eq(str, out.body, (char *)ev));
	free(out.body);
	cr_assert(lt(int, render(&tg_format_generic, buf, &out), 0));
	/* a length that counts the terminating NUL: the text ends there */
	ev = J(TG_TEST_ANOMALY);
	for (size_t f = 0; f < N_BUILTINS; f++) {
		cr_assert(eq(int, render_len(builtins[f], ev, strlen(ev) + 1, &out), 0));
		cr_assert(eq(sz, strlen(out.body), out.body_len));
		if (builtins[f] == &tg_format_generic)
			cr_assert(eq(str, out.body, (char *)ev));
		free(out.body);
	}
}

/* ---- alertmanager ------------------------------------------------------- */

Test(formats, alertmanager_exact)
{
	expect_body(&tg_format_alertmanager, J(TG_TEST_ANOMALY), J(
		"[{'labels':{'alertname':'TollgateQuotaExhausted','severity':'critical',"
		"'type':'quota_exhausted','instance':'edge','host':'gw-1','client':'2001:db8:1::/64'},"
		"'annotations':{'summary':'quota_exhausted, client 2001:db8:1::/64: 12 times; "
		"requests_per_sec 412.5 vs quota 100',"
		"'description':'2 anomalies: quota_exhausted & rate_spike (2001:db8:1::/64 > quota)',"
		"'event_id':'evt_0123456789abcdef0123456789abcdef'},"
		"'startsAt':'2026-11-28T06:40:01.250Z','endsAt':'2026-11-28T06:40:40.000Z'},"
		"{'labels':{'alertname':'TollgateRateSpike','severity':'warning','type':'rate_spike',"
		"'instance':'edge','host':'gw-1','key':'team-a'},"
		"'annotations':{'summary':'rate_spike, key team-a: 3 times; requests_per_sec 250 vs "
		"baseline 20.5; bytes_per_sec 81920',"
		"'description':'2 anomalies: quota_exhausted & rate_spike (2001:db8:1::/64 > quota)',"
		"'event_id':'evt_0123456789abcdef0123456789abcdef'},"
		"'startsAt':'2026-11-28T06:40:02.000Z','endsAt':'2026-11-28T06:40:40.000Z'}]"));
}

Test(formats, alertmanager_clients_and_fallbacks)
{
	/* An IPv4 address is a whole /32 and an IPv6 /128 a whole address:
	 * no suffix. A global anomaly has no client. Without first_seen the
	 * alert starts with the window; a minute's window ends three later. */
	const char *ev = J(
		"{'schema':'tollgate.anomaly.v1','id':'evt_1','instance':'default','host':'h',"
		"'window':{'start':'2026-11-28T06:39:00Z','end':'2026-11-28T07:40:00+01:00'},"
		"'severity':'warning','summary':'s','anomalies':["
		"{'type':'denied','severity':'info','client':{'address':'198.18.0.7','prefix':32,"
		"'key':'key:00ff00ff00ff00ff'},'observed':{'denied':40,'mode':'monitor'},'count':1},"
		"{'type':'payload_outlier','severity':'warning','client':{'address':'2001:db8::7',"
		"'prefix':128},'observed':{'bytes':1e6},'baseline':{'bytes':2048.126,'stddev':0.004}},"
		"{'type':'global_rate_spike','severity':'warning','client':null,"
		"'baseline':{'requests_per_sec':1200}}]}");

	expect_body(&tg_format_alertmanager, ev, J(
		"[{'labels':{'alertname':'TollgateDenied','severity':'info','type':'denied',"
		"'instance':'default','host':'h','client':'198.18.0.7','key':'key:00ff00ff00ff00ff'},"
		"'annotations':{'summary':'denied, client 198.18.0.7, key key:00ff00ff00ff00ff: once; "
		"denied 40; mode monitor','description':'s','event_id':'evt_1'},"
		"'startsAt':'2026-11-28T06:39:00Z','endsAt':'2026-11-28T06:43:00.000Z'},"
		"{'labels':{'alertname':'TollgatePayloadOutlier','severity':'warning',"
		"'type':'payload_outlier','instance':'default','host':'h','client':'2001:db8::7'},"
		"'annotations':{'summary':'payload_outlier, client 2001:db8::7: bytes 1000000 vs "
		"baseline 2048.13; baseline stddev 0.004','description':'s','event_id':'evt_1'},"
		"'startsAt':'2026-11-28T06:39:00Z','endsAt':'2026-11-28T06:43:00.000Z'},"
		"{'labels':{'alertname':'TollgateGlobalRateSpike','severity':'warning',"
		"'type':'global_rate_spike','instance':'default','host':'h'},"
		"'annotations':{'summary':'global_rate_spike: baseline requests_per_sec 1200',"
		"'description':'s','event_id':'evt_1'},"
		"'startsAt':'2026-11-28T06:39:00Z','endsAt':'2026-11-28T06:43:00.000Z'}]"));
}

Test(formats, alertmanager_labels_stable_across_repeats)
{
	/* the same anomaly in a later window, with other figures: Alertmanager
	 * dedupes by labels, so they must not move */
	const char *a = J(TG_TEST_ANOMALY);
	const char *b = with(with(with(with(with(a, "id", "'evt_ffff'"), "anomalies.0.count", "40"),
				     "anomalies.0.observed.requests_per_sec", "977"),
				"window", "{'start':'2026-11-28T06:40:10Z','end':'2026-11-28T06:40:20Z'}"),
			     "anomalies.0.first_seen", "'2026-11-28T06:40:11Z'");
	struct tollgate_hook_output oa, ob;
	cJSON *ja, *jb;

	cr_assert(eq(int, render(&tg_format_alertmanager, a, &oa), 0));
	cr_assert(eq(int, render(&tg_format_alertmanager, b, &ob), 0));
	ja = cJSON_Parse(oa.body);
	jb = cJSON_Parse(ob.body);
	for (int i = 0; i < 2; i++) {
		cJSON *la = cJSON_GetObjectItem(cJSON_GetArrayItem(ja, i), "labels");
		cJSON *lb = cJSON_GetObjectItem(cJSON_GetArrayItem(jb, i), "labels");

		cr_assert(la && lb && cJSON_Compare(la, lb, true));
	}
	cr_assert(not(cJSON_Compare(cJSON_GetArrayItem(ja, 0), cJSON_GetArrayItem(jb, 0), true)));
	cr_assert(eq(str, cJSON_GetObjectItem(cJSON_GetArrayItem(jb, 0), "endsAt")->valuestring,
		     "2026-11-28T06:40:50.000Z"));
	cJSON_Delete(ja);
	cJSON_Delete(jb);
	free(oa.body);
	free(ob.body);
}

Test(formats, alertmanager_skips)
{
	expect_rc(&tg_format_alertmanager, J(TG_TEST_TRIAGE), 1);
	expect_rc(&tg_format_alertmanager, with(J(TG_TEST_ANOMALY), "anomalies", "[]"), 1);
	/* a window that ends before it starts has no length to extend by */
	expect_rc(&tg_format_alertmanager,
		  with(J(TG_TEST_ANOMALY), "window.start", "'2026-11-28T06:41:00Z'"), -EINVAL);
}

/* ---- slack -------------------------------------------------------------- */

Test(formats, slack_exact)
{
	expect_body(&tg_format_slack, J(TG_TEST_ANOMALY), J(
		"{'text':'[CRITICAL] tollgate gw-1/edge: 2 anomalies: quota_exhausted &amp; "
		"rate_spike (2001:db8:1::/64 &gt; quota)\\n"
		BULLET "quota_exhausted, client 2001:db8:1::/64: 12 times; requests_per_sec 412.5 vs "
		"quota 100\\n"
		BULLET "rate_spike, key team-a: 3 times; requests_per_sec 250 vs baseline 20.5; "
		"bytes_per_sec 81920'}"));
}

Test(formats, slack_triage_exact)
{
	expect_body(&tg_format_slack, J(TG_TEST_TRIAGE), J(
		"{'text':'Triage of evt_0123456789abcdef0123456789abcdef: Likely cause: a batch job "
		"on 2001:db8:1::/64 retrying &lt;all&gt; requests &amp; ignoring 429s. Risk: low "
		"&gt; quota holds. Action: ask the owner to back off.'}"));
}

Test(formats, slack_caps_the_bullets)
{
	cJSON *doc = cJSON_Parse(J(TG_TEST_ANOMALY)), *arr, *an;
	char want[4096], line[256];
	struct tollgate_hook_output out;
	cJSON *w;
	int i;

	cr_assert(doc != NULL);
	cJSON_ReplaceItemInObject(doc, "instance", cJSON_CreateString("default"));
	cJSON_ReplaceItemInObject(doc, "severity", cJSON_CreateString("info"));
	arr = cJSON_CreateArray();
	for (i = 0; i < 13; i++) {
		snprintf(line, sizeof(line), "{\"type\":\"new_client_surge\",\"severity\":\"info\","
			 "\"observed\":{\"new_clients\":%d}}", 100 + i);
		an = cJSON_Parse(line);
		cJSON_AddItemToArray(arr, an);
	}
	cJSON_ReplaceItemInObject(doc, "anomalies", arr);
	keep(cJSON_PrintUnformatted(doc));
	cJSON_Delete(doc);

	/* instance "default" is not named; the severity is in capitals */
	snprintf(want, sizeof(want), "[INFO] tollgate gw-1: 2 anomalies: quota_exhausted &amp; "
		 "rate_spike (2001:db8:1::/64 &gt; quota)");
	for (i = 0; i < 10; i++) {
		snprintf(line, sizeof(line), "\n" BULLET "new_client_surge: new_clients %d", 100 + i);
		strcat(want, line);
	}
	strcat(want, "\n" BULLET "and 3 more");
	cr_assert(eq(int, render(&tg_format_slack, kept[n_kept - 1], &out), 0));
	w = cJSON_CreateObject();
	cJSON_AddStringToObject(w, "text", want);
	assert_same_json(out.body, out.body_len, w);
	cJSON_Delete(w);
	free(out.body);
}

Test(formats, slack_truncates_a_long_triage)
{
	/* 2000 x U+20AC (3 bytes) = 6000 bytes: cut to 3000 whole characters'
	 * bytes, never inside one, and marked with an ellipsis */
	char *text = keep(malloc(6000 + 1));
	struct tollgate_hook_output out;
	const char *s, *t;
	cJSON *doc, *msg;
	size_t n;

	for (int i = 0; i < 2000; i++)
		memcpy(text + 3 * i, "\xE2\x82\xAC", 3);
	text[6000] = '\0';
	doc = cJSON_Parse(J(TG_TEST_TRIAGE));
	cJSON_ReplaceItemInObject(doc, "triage", cJSON_CreateString(text));
	keep(cJSON_PrintUnformatted(doc));
	cJSON_Delete(doc);
	cr_assert(eq(int, render(&tg_format_slack, kept[n_kept - 1], &out), 0));
	msg = cJSON_Parse(out.body);
	s = cJSON_GetStringValue(cJSON_GetObjectItem(msg, "text"));
	cr_assert(s != NULL);
	t = strstr(s, ": ");
	cr_assert(t != NULL);
	t += 2;
	n = strlen(t);
	cr_assert(eq(sz, n, 3000 + 3), "triage part is %zu bytes", n);
	cr_assert(eq(int, memcmp(t, text, 3000), 0));
	cr_assert(eq(str, (char *)t + 3000, "\xE2\x80\xA6"));
	cJSON_Delete(msg);
	free(out.body);
}

/* ---- openai ------------------------------------------------------------- */

Test(formats, openai_exact)
{
	const char *ev = J(TG_TEST_ANOMALY);
	cJSON *want = cJSON_Parse(J("{'model':'gpt-4o-mini','messages':[{'role':'system','content':''},"
				    "{'role':'user','content':''}],'temperature':0,'max_tokens':300}"));
	cJSON *msgs = cJSON_GetObjectItem(want, "messages");
	struct tollgate_hook_output out;

	cJSON_ReplaceItemInObject(cJSON_GetArrayItem(msgs, 0), "content", cJSON_CreateString(prompt));
	cJSON_ReplaceItemInObject(cJSON_GetArrayItem(msgs, 1), "content", cJSON_CreateString(ev));
	cr_assert(eq(int, render(&tg_format_openai, ev, &out), 0));
	cr_assert(eq(str, out.content_type, "application/json"));
	assert_same_json(out.body, out.body_len, want);
	free(out.body);
	cJSON_Delete(want);
}

Test(formats, openai_skips_triage)
{
	expect_rc(&tg_format_openai, J(TG_TEST_TRIAGE), 1);
}

Test(formats, openai_init_needs_a_model)
{
	static const struct {
		const char *opts, *reason;
	} bad[] = {
		{ "{'name':'llm','url':'http://x/v1/chat/completions','format':'openai'}", "\"model\"" },
		{ "{'name':'llm','model':''}", "\"model\"" },
		{ "{'name':'llm','model':null}", "\"model\"" },
		{ "{'name':'llm','model':7}", "\"model\"" },
		{ "['gpt-4o-mini']", "not a JSON object" },
		{ "{'model':'gpt-4o-mini'", "not a JSON object" },
		{ "", "not a JSON object" },
	};
	const char *err;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err = NULL;
		cr_assert(eq(ptr, tg_format_openai.init("llm", J(bad[i].opts), &err), NULL));
		cr_assert(err != NULL);
		cr_assert(strstr(err, bad[i].reason) != NULL, "%s: %s", bad[i].opts, err);
	}
	err = NULL;
	cr_assert(eq(ptr, tg_format_openai.init("llm", NULL, &err), NULL));
	cr_assert(err != NULL);
	tg_format_openai.fini(NULL);
}

Test(formats, openai_without_state_fails)
{
	const char *ev = J(TG_TEST_ANOMALY);
	struct tollgate_hook_event e = { .json = ev, .json_len = strlen(ev) };
	struct tollgate_hook_output out;

	cr_assert(eq(int, tg_format_openai.format(NULL, &e, &out), -EINVAL));
	cr_assert(eq(ptr, out.body, NULL));
}

/* ---- malformed events --------------------------------------------------- */

Test(formats, malformed_text)
{
	const char *texts[] = {
		"", " ", "{", "}", "null", "[]", "42", "\"tollgate.anomaly.v1\"", "{}",
		"{\"schema\":\"tollgate.anomaly.v1\"}", "{\"schema\":null}",
		keep(strdup("\xff\xfe{}")),
	};
	const char *ev = J(TG_TEST_ANOMALY);
	char *trailing = keep(malloc(strlen(ev) + 8));

	sprintf(trailing, "%s x", ev);
	for (size_t f = 0; f < N_BUILTINS; f++) {
		for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++)
			expect_rc(builtins[f], texts[i], -EINVAL);
		expect_rc(builtins[f], trailing, -EINVAL);
	}
}

Test(formats, null_event)
{
	struct tollgate_hook_event e = { .json = NULL };
	struct tollgate_hook_output out;

	for (size_t f = 0; f < N_BUILTINS; f++) {
		cr_assert(lt(int, builtins[f]->format(state_of(builtins[f]), NULL, &out), 0));
		cr_assert(lt(int, builtins[f]->format(state_of(builtins[f]), &e, &out), 0));
	}
}

Test(formats, malformed_fields)
{
	static const struct {
		const char *path, *value; /* NULL value: the member removed */
	} anomaly[] = {
		{ "schema", "1" }, { "schema", "'tollgate.anomaly.v2'" }, { "schema", NULL },
		{ "id", "5" }, { "id", NULL }, { "instance", "null" }, { "host", NULL },
		{ "severity", "'fatal'" }, { "severity", NULL }, { "summary", "[]" }, { "summary", NULL },
		{ "window", "'x'" }, { "window", NULL }, { "window.start", "'yesterday'" },
		{ "window.start", NULL }, { "window.end", "'2026-13-01T00:00:00Z'" },
		{ "window.end", "'2026-02-29T00:00:00Z'" }, { "window.end", "'2026-11-28T06:40:10.000'" },
		{ "window.end", "'2026-11-28T06:40:10.000Zjunk'" }, { "window.end", "'2026-11-28 06:40:10Z'" },
		{ "window.end", "'2026-11-28T06:40:10.Z'" }, { "window.end", "'2026-11-28T06:40:10+1:00'" },
		{ "window.end", "1795675210" }, { "anomalies", "{}" }, { "anomalies", NULL },
		{ "anomalies", "[1]" }, { "anomalies", "[[]]" }, { "anomalies.0.type", "7" },
		{ "anomalies.0.type", "''" }, { "anomalies.0.type", NULL },
		{ "anomalies.1.severity", "'high'" }, { "anomalies.1.severity", NULL },
		{ "anomalies.0.client", "'2001:db8:1::'" }, { "anomalies.0.observed", "[412]" },
		{ "anomalies.0.quota", "3" }, { "anomalies.1.baseline", "'x'" },
		{ "anomalies.0.count", "'12'" }, { "anomalies.0.first_seen", "'soon'" },
		{ "anomalies.0.first_seen", "0" },
	}, triage[] = {
		{ "event_id", NULL }, { "event_id", "[]" }, { "triage", "5" }, { "triage", NULL },
		{ "severity", "'urgent'" }, { "schema", "'tollgate.triage.v2'" }, { "id", NULL },
	};
	const char *a = J(TG_TEST_ANOMALY), *t = J(TG_TEST_TRIAGE);

	for (size_t f = 0; f < N_BUILTINS; f++) {
		for (size_t i = 0; i < sizeof(anomaly) / sizeof(anomaly[0]); i++)
			expect_rc(builtins[f], with(a, anomaly[i].path, anomaly[i].value), -EINVAL);
		for (size_t i = 0; i < sizeof(triage) / sizeof(triage[0]); i++)
			expect_rc(builtins[f], with(t, triage[i].path, triage[i].value), -EINVAL);
		while (n_kept > 2) /* the two samples stay */
			free(kept[--n_kept]);
	}
}

Test(formats, accepts_what_may_be_null)
{
	/* the schema says client, its members, count and figures may be null */
	const char *a = with(with(with(with(J(TG_TEST_ANOMALY), "anomalies.0.client", "null"),
				       "anomalies.1.client", "{}"),
				  "anomalies.0.count", "null"),
			     "anomalies.1.observed", "null");

	for (size_t f = 0; f < N_BUILTINS; f++) {
		struct tollgate_hook_output out;

		cr_assert(eq(int, render(builtins[f], a, &out), 0), "%s", builtins[f]->name);
		free(out.body);
	}
	expect_body(&tg_format_slack, a, J(
		"{'text':'[CRITICAL] tollgate gw-1/edge: 2 anomalies: quota_exhausted &amp; "
		"rate_spike (2001:db8:1::/64 &gt; quota)\\n"
		BULLET "quota_exhausted: requests_per_sec 412.5 vs quota 100\\n"
		BULLET "rate_spike: 3 times; baseline requests_per_sec 20.5'}"));
}

Test(formats, every_truncation_fails)
{
	const char *samples[] = { J(TG_TEST_ANOMALY), J(TG_TEST_TRIAGE) };
	struct tollgate_hook_output out;

	for (size_t s = 0; s < 2; s++) {
		size_t len = strlen(samples[s]);

		/* a copy of exactly len bytes: ASan sees any read past the end */
		for (size_t n = 1; n < len; n++) {
			char *cut = malloc(n);

			cr_assert(cut != NULL);
			memcpy(cut, samples[s], n);
			for (size_t f = 0; f < N_BUILTINS; f++) {
				int rc = render_len(builtins[f], cut, n, &out);

				cr_assert(eq(int, rc, -EINVAL), "%s: %zu bytes: rc %d", builtins[f]->name,
					  n, rc);
			}
			free(cut);
		}
	}
}

static uint32_t rng_state = 12345;

static uint32_t rng(void)
{
	rng_state = rng_state * 1103515245u + 12345u;
	return rng_state >> 8;
}

Test(formats, garbage_fails)
{
	struct tollgate_hook_output out;
	unsigned char buf[300];

	for (int i = 0; i < 2000; i++) {
		size_t n = 1 + rng() % sizeof(buf);
		char *copy;

		for (size_t j = 0; j < n; j++)
			buf[j] = (unsigned char)rng();
		if (i % 2)
			buf[0] = '{'; /* reach further into the parser */
		copy = malloc(n);
		memcpy(copy, buf, n);
		for (size_t f = 0; f < N_BUILTINS; f++)
			cr_assert(lt(int, render_len(builtins[f], copy, n, &out), 0));
		free(copy);
	}
}

Test(formats, mutations_never_crash)
{
	/* Flip a few bytes of a valid event: whatever each format answers, it
	 * answers without a crash, a leak or a read out of bounds, and a 0
	 * comes with a JSON body. */
	const char *samples[] = { J(TG_TEST_ANOMALY), J(TG_TEST_TRIAGE) };
	static const char alphabet[] = "{}[]\":,0123456789.-eE nulltruefalse\\\x80\xff";
	struct tollgate_hook_output out;

	for (int i = 0; i < 3000; i++) {
		const char *s = samples[i % 2];
		size_t len = strlen(s);
		char *m = malloc(len);
		int flips = 1 + (int)(rng() % 3);

		memcpy(m, s, len);
		while (flips--)
			m[rng() % len] = alphabet[rng() % (sizeof(alphabet) - 1)];
		for (size_t f = 0; f < N_BUILTINS; f++) {
			int rc = render_len(builtins[f], m, len, &out);

			cr_assert(rc == 0 || rc == 1 || rc == -EINVAL, "rc %d", rc);
			if (rc == 0) {
				cJSON *doc = cJSON_ParseWithLength(out.body, out.body_len);

				cr_assert(doc != NULL, "%s: %s", builtins[f]->name, out.body);
				cJSON_Delete(doc);
				free(out.body);
			} else {
				cr_assert(eq(ptr, out.body, NULL));
			}
		}
		free(m);
	}
}

/* ---- helpers ------------------------------------------------------------ */

Test(formats, times)
{
	static const struct {
		const char *in;
		int64_t ms;
	} ok[] = {
		{ "1970-01-01T00:00:00Z", 0 },
		{ "2026-11-28T06:40:00.123Z", 1795848000123LL },
		{ "2026-11-28T06:40:00.1239999z", 1795848000123LL },
		{ "2026-11-28T07:40:00.5+01:00", 1795848000500LL },
		{ "2026-11-28T01:10:00-05:30", 1795848000000LL },
		{ "2024-02-29T00:00:00Z", 1709164800000LL },
		{ "1969-12-31T23:59:59.999Z", -1 },
	};
	char buf[TG_TIME_LEN];
	int64_t ms;

	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		cr_assert(eq(int, tg_parse_time(ok[i].in, &ms), 0), "%s", ok[i].in);
		cr_assert(eq(i64, ms, ok[i].ms), "%s", ok[i].in);
	}
	tg_format_time_ms(1795848000123LL, buf, sizeof(buf));
	cr_assert(eq(str, buf, "2026-11-28T06:40:00.123Z"));
	tg_format_time_ms(-1, buf, sizeof(buf));
	cr_assert(eq(str, buf, "1969-12-31T23:59:59.999Z"));
	tg_format_time_ms(INT64_MAX, buf, sizeof(buf));
	cr_assert(eq(str, buf, "9999-12-31T23:59:59.999Z"));
	cr_assert(eq(int, tg_parse_time(NULL, &ms), -EINVAL));
	cr_assert(eq(int, tg_parse_time("2026-11-28T06:40:00", &ms), -EINVAL));
	cr_assert(eq(int, tg_parse_time("2026-11-28T24:00:00Z", &ms), -EINVAL));
	cr_assert(eq(int, tg_parse_time("2026-11-28T06:40:00+", &ms), -EINVAL));
	cr_assert(eq(int, tg_parse_time("2026-11-28T06:40:00+01", &ms), -EINVAL));
	cr_assert(eq(int, tg_parse_time("2026-11-28T06:40:00+0100", &ms), -EINVAL));
	cr_assert(eq(int, tg_parse_time("+026-11-28T06:40:00Z", &ms), -EINVAL));
}

Test(formats, numbers)
{
	static const struct {
		double v;
		const char *want;
	} cases[] = {
		{ 0, "0" }, { -0.0, "0" }, { 100, "100" }, { 412.5, "412.5" }, { 20.126, "20.13" },
		{ 1.10, "1.1" }, { 0.5, "0.5" }, { 0.004, "0.004" }, { 0.0001234, "0.000123" },
		{ -3, "-3" }, { 1e6, "1000000" }, { 1e20, "1e+20" }, { 123456.789, "123456.79" },
	};
	char buf[64];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		tg_fmt_number(cases[i].v, buf, sizeof(buf));
		cr_assert(eq(str, buf, (char *)cases[i].want), "%g", cases[i].v);
	}
}

Test(formats, utf8_cut)
{
	const char *s = "a\xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80"; /* a é € 😀: 1+2+3+4 */

	cr_assert(eq(sz, tg_fmt_utf8_cut(s, 10, 20), 10));
	cr_assert(eq(sz, tg_fmt_utf8_cut(s, 10, 10), 10));
	cr_assert(eq(sz, tg_fmt_utf8_cut(s, 10, 9), 6));
	cr_assert(eq(sz, tg_fmt_utf8_cut(s, 10, 6), 6));
	cr_assert(eq(sz, tg_fmt_utf8_cut(s, 10, 5), 3));
	cr_assert(eq(sz, tg_fmt_utf8_cut(s, 10, 2), 1));
	cr_assert(eq(sz, tg_fmt_utf8_cut(s, 10, 0), 0));
}

/* ---- the openai reply --------------------------------------------------- */

#define REPLY                                                                                   \
	"{'id':'chatcmpl-9xK2','object':'chat.completion','created':1795761612,"                  \
	"'model':'gpt-4o-mini-2024-07-18','choices':[{'index':0,'message':{'role':'assistant',"  \
	"'content':'\\nLikely cause: a batch job retrying without backoff.\\nRisk: low.\\n"       \
	"Action: contact team-a.\\n'},'finish_reason':'stop'}],"                                  \
	"'usage':{'prompt_tokens':612,'completion_tokens':58,'total_tokens':670}}"

static char *triage(const char *reply, size_t len, const char *model, char id[40], char *err)
{
	return keep_or_null(tg_openai_triage_event(reply, len, TG_TEST_ANOMALY_ID, TOLLGATE_SEV_CRITICAL,
						   "edge", "gw-1", "0.1.0", model, id, err, 256));
}

static bool is_event_id(const char *id)
{
	if (strlen(id) != 36 || strncmp(id, "evt_", 4) != 0)
		return false;
	for (int i = 4; i < 36; i++)
		if (!isxdigit((unsigned char)id[i]) || isupper((unsigned char)id[i]))
			return false;
	return true;
}

Test(formats, triage_event_exact)
{
	char id[40] = "", err[256] = "";
	struct timespec before, after;
	int64_t t0, t1, t;
	const char *ev;
	cJSON *doc, *want;

	clock_gettime(CLOCK_REALTIME, &before);
	ev = triage(J(REPLY), strlen(J(REPLY)), "gpt-4o-mini", id, err);
	clock_gettime(CLOCK_REALTIME, &after);
	cr_assert(ev != NULL, "%s", err);
	cr_assert(is_event_id(id), "id %s", id);
	doc = cJSON_Parse(ev);
	cr_assert(doc != NULL);
	/* id and time are new each time: checked, then compared away */
	cr_assert(eq(str, cJSON_GetStringValue(cJSON_GetObjectItem(doc, "id")), id));
	const char *tm = cJSON_GetStringValue(cJSON_GetObjectItem(doc, "time"));
	cr_assert(tm && strlen(tm) == 24 && tm[19] == '.' && tm[23] == 'Z', "time %s", tm);
	cr_assert(eq(int, tg_parse_time(tm, &t), 0));
	t0 = (int64_t)before.tv_sec * 1000 + before.tv_nsec / 1000000;
	t1 = (int64_t)after.tv_sec * 1000 + after.tv_nsec / 1000000;
	cr_assert(t >= t0 && t <= t1, "time %s", tm);
	cJSON_DeleteItemFromObject(doc, "id");
	cJSON_DeleteItemFromObject(doc, "time");
	want = cJSON_Parse(J("{'schema':'tollgate.triage.v1','event_id':'" TG_TEST_ANOMALY_ID "',"
			     "'instance':'edge','host':'gw-1','agent_version':'0.1.0','severity':'critical',"
			     "'model':'gpt-4o-mini-2024-07-18','triage':'Likely cause: a batch job retrying "
			     "without backoff.\\nRisk: low.\\nAction: contact team-a.'}"));
	cr_assert(want != NULL);
	keep(cJSON_PrintUnformatted(doc));
	assert_same_json(kept[n_kept - 1], strlen(kept[n_kept - 1]), want);
	cJSON_Delete(doc);
	cJSON_Delete(want);
}

Test(formats, triage_event_goes_through_the_formats)
{
	char id[40], err[256];
	const char *ev = triage(J(REPLY), strlen(J(REPLY)), "gpt-4o-mini", id, err);
	struct tollgate_hook_output out;

	cr_assert(ev != NULL, "%s", err);
	expect_rc(&tg_format_alertmanager, ev, 1);
	expect_rc(&tg_format_openai, ev, 1);
	cr_assert(eq(int, render(&tg_format_generic, ev, &out), 0));
	free(out.body);
	expect_body(&tg_format_slack, ev, J("{'text':'Triage of " TG_TEST_ANOMALY_ID ": Likely cause: "
					    "a batch job retrying without backoff.\\nRisk: low.\\n"
					    "Action: contact team-a.'}"));
}

Test(formats, triage_event_model_and_ids)
{
	const char *reply = with(J(REPLY), "model", NULL);
	char id1[40], id2[40], err[256];
	const char *a, *b;
	cJSON *doc;

	/* no model in the reply: the configured one; neither: null */
	a = triage(reply, strlen(reply), "gpt-4o-mini", id1, err);
	cr_assert(a != NULL, "%s", err);
	doc = cJSON_Parse(a);
	cr_assert(eq(str, cJSON_GetStringValue(cJSON_GetObjectItem(doc, "model")), "gpt-4o-mini"));
	cJSON_Delete(doc);
	b = triage(reply, strlen(reply), NULL, id2, err);
	cr_assert(b != NULL, "%s", err);
	doc = cJSON_Parse(b);
	cr_assert(cJSON_IsNull(cJSON_GetObjectItem(doc, "model")));
	cJSON_Delete(doc);
	cr_assert(is_event_id(id1) && is_event_id(id2));
	cr_assert(strcmp(id1, id2) != 0);
}

Test(formats, triage_event_honours_len)
{
	const char *r = J(REPLY);
	char *buf = keep(malloc(strlen(r) + 8)), id[40], err[256];

	sprintf(buf, "%s junk", r);
	cr_assert(triage(buf, strlen(r), "m", id, err) != NULL, "%s", err);
	cr_assert(eq(ptr, triage(buf, strlen(buf), "m", id, err), NULL));
	cr_assert(eq(str, err, "reply is not JSON"));
}

Test(formats, triage_event_truncates_long_content)
{
	/* 3000 x U+20AC = 9000 bytes: 8 KiB holds 2730 whole characters */
	char *text = keep(malloc(9000 + 1)), id[40], err[256];
	const char *reply, *ev, *t;
	cJSON *doc;

	for (int i = 0; i < 3000; i++)
		memcpy(text + 3 * i, "\xE2\x82\xAC", 3);
	text[9000] = '\0';
	doc = cJSON_Parse(J(REPLY));
	cJSON_ReplaceItemInObject(cJSON_GetObjectItem(cJSON_GetArrayItem(cJSON_GetObjectItem(doc, "choices"), 0),
						      "message"),
				  "content", cJSON_CreateString(text));
	reply = keep(cJSON_PrintUnformatted(doc));
	cJSON_Delete(doc);
	ev = triage(reply, strlen(reply), "m", id, err);
	cr_assert(ev != NULL, "%s", err);
	doc = cJSON_Parse(ev);
	t = cJSON_GetStringValue(cJSON_GetObjectItem(doc, "triage"));
	cr_assert(t != NULL);
	cr_assert(eq(sz, strlen(t), 2730 * 3));
	cr_assert(eq(int, memcmp(t, text, 2730 * 3), 0));
	cJSON_Delete(doc);
}

Test(formats, triage_event_bad_replies)
{
	static const struct {
		const char *reply, *reason;
	} bad[] = {
		{ "", "reply is not JSON" },
		{ "<html>502 Bad Gateway</html>", "reply is not JSON" },
		{ "{'choices':[", "reply is not JSON" },
		{ "[]", "reply is not a JSON object" },
		{ "{}", "reply has no choices[0].message.content" },
		{ "{'choices':{}}", "reply has no choices[0].message.content" },
		{ "{'choices':[]}", "reply has no choices[0].message.content" },
		{ "{'choices':[{}]}", "reply has no choices[0].message.content" },
		{ "{'choices':[{'message':'hi'}]}", "reply has no choices[0].message.content" },
		{ "{'choices':[{'message':{'role':'assistant','content':null}}]}",
		  "reply has no choices[0].message.content" },
		{ "{'choices':[{'message':{'content':5}}]}", "reply has no choices[0].message.content" },
		{ "{'choices':[{'message':{'content':''}}]}", "reply's choices[0].message.content is empty" },
		{ "{'choices':[{'message':{'content':' \\n\\t '}}]}",
		  "reply's choices[0].message.content is empty" },
		{ "{'error':{'message':'The model gpt-5 does not exist','type':'invalid_request_error'}}",
		  "reply is an error: The model gpt-5 does not exist" },
		{ "{'error':'rate limited'}", "reply is an error: rate limited" },
		{ "{'error':{}}", "reply is an error: (no message)" },
	};
	char id[40] = "untouched", err[256];

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		const char *r = J(bad[i].reply);

		err[0] = '\0';
		cr_assert(eq(ptr, triage(r, strlen(r), "m", id, err), NULL), "%s", r);
		cr_assert(eq(str, err, (char *)bad[i].reason), "%s", r);
	}
	cr_assert(eq(str, id, "untouched"));
	cr_assert(eq(ptr, tg_openai_triage_event(J(REPLY), strlen(J(REPLY)), TG_TEST_ANOMALY_ID, 3,
						 "i", "h", "v", "m", id, err, sizeof(err)), NULL));
	cr_assert(eq(str, err, "severity out of range"));
	cr_assert(eq(ptr, tg_openai_triage_event(J(REPLY), strlen(J(REPLY)), NULL, 0, "i", "h", "v",
						 "m", id, err, sizeof(err)), NULL));
	cr_assert(eq(str, err, "no event_id"));
}

Test(formats, triage_event_every_truncation_fails)
{
	const char *r = J(REPLY);
	size_t len = strlen(r);
	char id[40], err[256];

	for (size_t n = 0; n < len; n++) {
		char *cut = malloc(n ? n : 1);

		memcpy(cut, r, n);
		err[0] = '\0';
		cr_assert(eq(ptr, tg_openai_triage_event(cut, n, TG_TEST_ANOMALY_ID, 1, "i", "h", "v", "m",
							 id, err, sizeof(err)), NULL));
		cr_assert(err[0] != '\0');
		free(cut);
	}
}
