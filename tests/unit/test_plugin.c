/* Format plugins: the loader's checks, each refusal with its reason, and
 * the example PagerDuty plugin's exact output. */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <cjson/cJSON.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

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
	char err[2600] = "";

	cr_assert(eq(int, tg_format_plugin_open(path, getuid(), &h, &hd, err, sizeof(err)), -1), "%s", path);
	cr_assert(eq(ptr, (void *)h, NULL));
	cr_assert(eq(ptr, hd, NULL));
	cr_assert(strstr(err, want) != NULL, "%s: \"%s\" lacks \"%s\"", path, err, want);
}

static void load_example(const char *options)
{
	const char *err = "unset";
	char why[512] = "";

	cr_assert(eq(int, tg_format_plugin_open(TG_EXAMPLE_PLUGIN, getuid(), &hook, &handle, why, sizeof(why)), 0),
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
	cr_assert(eq(int, tg_format_plugin_open(TG_EXAMPLE_PLUGIN, getuid(), &h2, &hd2, err, sizeof(err)), 0));
	cr_assert(eq(ptr, (void *)h2->format, (void *)hook->format));
	tg_format_plugin_close(hd2);
	tg_format_plugin_close(NULL);
	expect_pd("ROUTING_KEY_NOT_CONFIGURED"); /* the first stays loaded */
}

/* ---- who could replace the plugin ------------------------------------ */

/* A plugin runs inside the agent, which loads it as root: a file, or a
 * directory above it, that anyone but root could change is root's code
 * for them. The tests copy plugins into a directory of their own beside
 * the build's plugins (owned by the test's user, which these tests pass
 * as the expected owner: the agent passes root). */
static char trust_dir[1024];

static void copy_file(const char *from, const char *to)
{
	char buf[65536];
	int in = open(from, O_RDONLY), out = open(to, O_WRONLY | O_CREAT | O_TRUNC, 0755);
	ssize_t n;

	cr_assert(in >= 0 && out >= 0, "%s -> %s: %s", from, to, strerror(errno));
	while ((n = read(in, buf, sizeof(buf))) > 0)
		cr_assert(eq(sz, (size_t)write(out, buf, (size_t)n), (size_t)n));
	close(in);
	close(out);
}

static void trust_setup(void)
{
	char plugin[] = TG_EXAMPLE_PLUGIN;

	snprintf(trust_dir, sizeof(trust_dir), "%s/plugin-trust-XXXXXX", dirname(plugin));
	cr_assert(mkdtemp(trust_dir) != NULL, "%s", strerror(errno));
	cr_assert(eq(int, chmod(trust_dir, 0755), 0));
}

static void trust_teardown(void)
{
	char cmd[1100];

	teardown();
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", trust_dir);
	cr_assert(eq(int, system(cmd), 0));
}

static void planted(const char *from, char *path, size_t len)
{
	snprintf(path, len, "%s/%s", trust_dir, strrchr(from, '/') + 1);
	copy_file(from, path);
}

/* The attack: a plugin in a directory anyone may write, that a user
 * could have replaced with their own. Its constructor, which runs at
 * dlopen before the agent calls anything, leaves a file: it must not
 * run. */
Test(plugin, refuses_a_world_writable_plugin_directory, .init = trust_setup,
     .fini = trust_teardown)
{
	char path[1200], marker[1100], want[2600];

	planted(TG_MARKER_PLUGIN, path, sizeof(path));
	snprintf(marker, sizeof(marker), "%s.loaded", trust_dir);
	setenv("TG_PLUGIN_MARKER", marker, 1);
	cr_assert(eq(int, chmod(trust_dir, 0777), 0));
	snprintf(want, sizeof(want), "%s: %s is writable by group or others (mode 0777)", path,
		 trust_dir);
	refused(path, want);
	cr_assert(eq(int, access(marker, F_OK), -1), "the plugin's code ran");

	/* control: the same file once only its owner can write there loads
	 * (and runs: the marker appears, then its ABI is refused) */
	cr_assert(eq(int, chmod(trust_dir, 0755), 0));
	refused(path, "ABI version 99 not supported");
	cr_assert(eq(int, access(marker, F_OK), 0), "the control did not load the plugin");
	unlink(marker);
	unsetenv("TG_PLUGIN_MARKER");
}

Test(plugin, refuses_a_plugin_file_others_may_write, .init = trust_setup,
     .fini = trust_teardown)
{
	char path[1200], want[2600];

	planted(TG_EXAMPLE_PLUGIN, path, sizeof(path));
	cr_assert(eq(int, chmod(path, 0664), 0));
	snprintf(want, sizeof(want), "%s: %s is writable by group or others (mode 0664)", path,
		 path);
	refused(path, want);
	cr_assert(eq(int, chmod(path, 0646), 0));
	refused(path, "writable by group or others (mode 0646)");
	cr_assert(eq(int, chmod(path, 0755), 0));
	load_example(NULL); /* the build's own copy still loads */
}

/* Root is the only owner the agent accepts: a plugin (or directory) of
 * another user's is theirs to replace. Needs root to make one. */
Test(plugin, refuses_a_plugin_owned_by_another_user, .init = trust_setup,
     .fini = trust_teardown)
{
	const struct tollgate_hook *h;
	char path[1200], err[2600] = "";
	void *hd;

	if (geteuid() != 0)
		cr_skip_test("needs root to give a file to another user");
	planted(TG_EXAMPLE_PLUGIN, path, sizeof(path));
	cr_assert(eq(int, chown(path, 65534, 65534), 0));
	cr_assert(eq(int, tg_format_plugin_open(path, 0, &h, &hd, err, sizeof(err)), -1));
	cr_assert(strstr(err, "is owned by uid 65534, not root") != NULL, "%s", err);
	cr_assert(eq(int, chown(path, 0, 0), 0));
	cr_assert(eq(int, chown(trust_dir, 65534, 65534), 0));
	cr_assert(eq(int, tg_format_plugin_open(path, 0, &h, &hd, err, sizeof(err)), -1));
	cr_assert(strstr(err, trust_dir) && strstr(err, "owned by uid 65534"), "%s", err);
}

/* A symlink on the way is resolved once, checked, and the resolved file
 * is what is loaded: a link in a directory anyone may write, pointing at
 * a trusted plugin, cannot be repointed between the check and dlopen. */
Test(plugin, a_symlink_is_resolved_before_the_check, .init = trust_setup,
     .fini = trust_teardown)
{
	char link[1100], want[2600];

	cr_assert(eq(int, chmod(trust_dir, 0777), 0));
	snprintf(link, sizeof(link), "%s/link.so", trust_dir);
	cr_assert(eq(int, symlink(TG_EXAMPLE_PLUGIN, link), 0));
	cr_assert(eq(int, tg_format_plugin_open(link, getuid(), &hook, &handle, want, sizeof(want)), 0),
		  "%s", want);
	cr_assert(eq(str, (char *)hook->name, "pagerduty"));
}
