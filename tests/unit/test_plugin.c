/* Format plugins: the loader's checks, each refusal with its reason, and
 * the example PagerDuty plugin's exact output. */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <cjson/cJSON.h>
#include <dlfcn.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "formats/formats.h"
#include "hook_events.h"

static char *kept[64];
static size_t n_kept;
static const struct tollgate_hook *hook;
static void *handle, *state;

static const char *J(const char *quoted)
{
	char *s = tg_test_json(quoted);

	cr_assert(s != NULL && n_kept < sizeof(kept) / sizeof(kept[0]));
	kept[n_kept++] = s;
	return s;
}

static void teardown(void)
{
	while (n_kept)
		free(kept[--n_kept]);
	if (hook && state)
		hook->fini(state);
	state = NULL;
	hook = NULL;
	tg_format_plugin_close(handle);
	handle = NULL;
}

TestSuite(plugin, .fini = teardown, .timeout = 30);

/* Opening must fail with a reason containing want, and leave nothing. */
static void refused(const char *path, const char *want)
{
	const struct tollgate_hook *h = (void *)1;
	void *hd = (void *)1;
	char err[512] = "";

	cr_assert(eq(int, tg_format_plugin_open(path, &h, &hd, err, sizeof(err)), -1), "%s", path);
	cr_assert(eq(ptr, (void *)h, NULL));
	cr_assert(eq(ptr, hd, NULL));
	cr_assert(strstr(err, want) != NULL, "%s: \"%s\" lacks \"%s\"", path, err, want);
}

static void load_example(const char *options)
{
	const char *err = "unset";
	char why[512] = "";

	cr_assert(eq(int, tg_format_plugin_open(TG_EXAMPLE_PLUGIN, &hook, &handle, why, sizeof(why)), 0),
		  "%s", why);
	cr_assert(hook != NULL && handle != NULL);
	state = hook->init("pd", options, &err);
	cr_assert(state != NULL, "init: %s", err);
	cr_assert(eq(ptr, (void *)err, NULL));
}

static int render_len(const char *json, size_t len, struct tollgate_hook_output *out)
{
	struct tollgate_hook_event ev = {
		.schema = TG_SCHEMA_ANOMALY,
		.id = TG_TEST_ANOMALY_ID,
		.severity = TOLLGATE_SEV_CRITICAL,
		.json = json,
		.json_len = len,
	};

	return hook->format(state, &ev, out);
}

static int render(const char *json, struct tollgate_hook_output *out)
{
	return render_len(json, strlen(json), out);
}

/* The PagerDuty event the sample should become, with the sample's
 * anomalies as custom details. */
static cJSON *expected_pd(const char *routing_key)
{
	cJSON *want = cJSON_Parse(J(
		"{'routing_key':'','event_action':'trigger',"
		"'dedup_key':'evt_0123456789abcdef0123456789abcdef',"
		"'payload':{'summary':'2 anomalies: quota_exhausted & rate_spike (2001:db8:1::/64 > quota)',"
		"'source':'gw-1','severity':'critical','component':'tollgate',"
		"'custom_details':{'instance':'edge','anomalies':null}}}"));
	cJSON *sample = cJSON_Parse(J(TG_TEST_ANOMALY));
	cJSON *details = cJSON_GetObjectItem(cJSON_GetObjectItem(want, "payload"), "custom_details");

	cr_assert(want && sample && details);
	cJSON_ReplaceItemInObject(want, "routing_key", cJSON_CreateString(routing_key));
	cJSON_ReplaceItemInObject(details, "anomalies",
				  cJSON_DetachItemFromObject(sample, "anomalies"));
	cJSON_Delete(sample);
	return want;
}

static void expect_pd(const char *routing_key)
{
	struct tollgate_hook_output out;
	cJSON *want = expected_pd(routing_key), *got;
	char *gs, *ws;

	cr_assert(eq(int, render(J(TG_TEST_ANOMALY), &out), 0));
	cr_assert(eq(sz, strlen(out.body), out.body_len));
	cr_assert(out.content_type[0] == '\0' || !strcmp(out.content_type, "application/json"));
	got = cJSON_Parse(out.body);
	gs = cJSON_PrintUnformatted(got);
	ws = cJSON_PrintUnformatted(want);
	cr_assert(cJSON_Compare(got, want, true), "\ngot  %s\nwant %s", gs, ws);
	free(gs);
	free(ws);
	cJSON_Delete(got);
	cJSON_Delete(want);
	free(out.body);
}

Test(plugin, example_loads)
{
	load_example(NULL);
	cr_assert(eq(u32, hook->abi_version, TOLLGATE_HOOK_ABI_VERSION));
	cr_assert(eq(str, (char *)hook->name, "pagerduty"));
	cr_assert(hook->init && hook->format && hook->fini);
}

Test(plugin, example_renders_a_pagerduty_trigger)
{
	load_example(J("{'name':'pd','url':'https://events.pagerduty.com/v2/enqueue',"
		       "'format':'plugin','plugin':'tollgate_hook_example.so','min_severity':'warning',"
		       "'options':{'routing_key':'R0UT1NGKEY'}}"));
	expect_pd("R0UT1NGKEY");
}

Test(plugin, example_without_a_routing_key_sends_the_placeholder)
{
	load_example(J("{'name':'pd','url':'https://events.pagerduty.com/v2/enqueue'}"));
	expect_pd("ROUTING_KEY_NOT_CONFIGURED");
}

Test(plugin, example_refuses_bad_options)
{
	const char *err = NULL;

	load_example(NULL);
	cr_assert(eq(ptr, hook->init("pd", "[1,", &err), NULL));
	cr_assert(err != NULL && strstr(err, "not a JSON object"));
}

Test(plugin, example_skips_triage)
{
	struct tollgate_hook_output out;

	load_example(NULL);
	cr_assert(eq(int, render(J(TG_TEST_TRIAGE), &out), 1));
	cr_assert(eq(ptr, out.body, NULL));
}

Test(plugin, example_refuses_malformed_events)
{
	const char *bad[] = {
		"", "{", "[]", "{}", "{'schema':'tollgate.anomaly.v2'}",
		"{'schema':'tollgate.anomaly.v1','id':'e','host':'h','instance':'i','summary':'s',"
		"'severity':'fatal','anomalies':[]}",
		"{'schema':'tollgate.anomaly.v1','id':'e','host':'h','instance':'i','summary':'s',"
		"'severity':'info','anomalies':{}}",
		"{'schema':'tollgate.anomaly.v1','id':5,'host':'h','instance':'i','summary':'s',"
		"'severity':'info','anomalies':[]}",
	};
	const char *sample;
	struct tollgate_hook_output out;
	size_t len;

	load_example(NULL);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		cr_assert(lt(int, render(J(bad[i]), &out), 0), "%s", bad[i]);
		cr_assert(eq(ptr, out.body, NULL));
	}
	sample = J(TG_TEST_ANOMALY);
	len = strlen(sample);
	for (size_t n = 1; n < len; n++) {
		char *cut = malloc(n);

		memcpy(cut, sample, n);
		cr_assert(lt(int, render_len(cut, n, &out), 0), "%zu bytes", n);
		free(cut);
	}
}

Test(plugin, refuses_a_missing_file)
{
	refused(TG_SOURCE_DIR "/no/such/plugin.so", "No such file or directory");
	refused("", "no plugin path");
	refused(NULL, "no plugin path");
}

Test(plugin, refuses_what_is_not_a_shared_object)
{
	refused(TG_SOURCE_DIR, "not a regular file");
	refused(TG_SOURCE_DIR "/CMakeLists.txt", "not a shared object");
	refused("/dev/null", "not a regular file");
}

Test(plugin, refuses_a_library_without_the_symbol)
{
	Dl_info info;

	/* a real shared object at hand: the cJSON library this test links */
	cr_assert(dladdr((void *)cJSON_Parse, &info) != 0 && info.dli_fname);
	refused(info.dli_fname, "no symbol tollgate_hook_v1");
}

Test(plugin, refuses_another_abi_version)
{
	refused(TG_BADABI_PLUGIN, "ABI version 99 not supported (this agent loads version 1)");
}

Test(plugin, two_handles_and_close)
{
	const struct tollgate_hook *h2;
	void *hd2;
	char err[256];

	load_example(NULL);
	cr_assert(eq(int, tg_format_plugin_open(TG_EXAMPLE_PLUGIN, &h2, &hd2, err, sizeof(err)), 0));
	cr_assert(eq(ptr, (void *)h2->format, (void *)hook->format));
	tg_format_plugin_close(hd2);
	tg_format_plugin_close(NULL);
	expect_pd("ROUTING_KEY_NOT_CONFIGURED"); /* the first stays loaded */
}
