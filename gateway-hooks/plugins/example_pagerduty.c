/* An example webhook format plugin: tollgate anomaly events as PagerDuty
 * Events API v2 "trigger" events (POST https://events.pagerduty.com/v2/enqueue).
 *
 * Copy this file to start a plugin of your own. It is self-contained: it
 * includes only tollgate_hook.h and cJSON, and builds with
 *
 *     cc -shared -fPIC -O2 -Wall -I/path/to/tollgate/gateway-hooks \
 *        -o tollgate_hook_pagerduty.so example_pagerduty.c -lcjson
 *
 * Then name it in a webhook of the agent's config:
 *
 *     {"name": "pd", "url": "https://events.pagerduty.com/v2/enqueue",
 *      "format": "plugin", "plugin": "/usr/lib/tollgate/tollgate_hook_pagerduty.so",
 *      "options": {"routing_key": "<your integration key>"}}
 *
 * init() gets the webhook's settings as JSON; "options" is the object a
 * plugin webhook may carry for the plugin alone.
 *
 * The rules a plugin lives by (tollgate_hook.h): export tollgate_hook_v1();
 * set abi_version to TOLLGATE_HOOK_ABI_VERSION; format() runs on the
 * agent's event loop, so it must not block (no I/O, no sleeping); the body
 * is malloc()ed and the agent free()s it; return 1 to skip an event and
 * < 0 when it cannot be rendered (the agent puts it in the dead-letter
 * file). Never crash on input you did not expect: check every type. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cjson/cJSON.h>

#include "formats/tollgate_hook.h"

/* PagerDuty's limit on payload.summary, in characters; bytes here, cut at
 * a UTF-8 boundary, which is never more characters. */
#define PD_SUMMARY_MAX 1024
/* Sent when the webhook names no routing key: PagerDuty refuses the event
 * with a 400 naming the field, which points the user at their config. */
#define PD_ROUTING_KEY_PLACEHOLDER "ROUTING_KEY_NOT_CONFIGURED"

/* Per-webhook state: what init() read from the webhook's config. */
struct pd_state {
	char *routing_key;
};

static const char *str_member(const cJSON *obj, const char *name)
{
	const cJSON *it = cJSON_GetObjectItemCaseSensitive(obj, name);

	return cJSON_IsString(it) ? it->valuestring : NULL;
}

static void *pd_init(const char *webhook_name, const char *options_json, const char **err)
{
	cJSON *opts = options_json ? cJSON_Parse(options_json) : NULL;
	const char *key = str_member(cJSON_GetObjectItemCaseSensitive(opts, "options"), "routing_key");
	struct pd_state *st;

	(void)webhook_name; /* a plugin may use it in its messages */
	*err = NULL;
	if (options_json && !cJSON_IsObject(opts)) {
		cJSON_Delete(opts);
		*err = "pagerduty: the webhook options are not a JSON object";
		return NULL;
	}
	st = calloc(1, sizeof(*st));
	if (st)
		st->routing_key = strdup(key && *key ? key : PD_ROUTING_KEY_PLACEHOLDER);
	cJSON_Delete(opts);
	if (!st || !st->routing_key) {
		free(st);
		*err = "pagerduty: out of memory";
		return NULL;
	}
	return st;
}

/* PagerDuty's severities are critical, error, warning and info: tollgate's
 * three map onto them by name. */
static const char *pd_severity(const char *sev)
{
	if (!sev)
		return NULL;
	if (!strcmp(sev, "critical") || !strcmp(sev, "warning") || !strcmp(sev, "info"))
		return sev;
	return NULL;
}

/* cJSON_CreateString on at most max bytes of s, not splitting a UTF-8
 * sequence. */
static cJSON *string_cut(const char *s, size_t max)
{
	size_t n = strlen(s);
	cJSON *item;
	char *copy;

	if (n <= max)
		return cJSON_CreateString(s);
	n = max;
	while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80)
		n--;
	copy = strndup(s, n);
	if (!copy)
		return NULL;
	item = cJSON_CreateString(copy);
	free(copy);
	return item;
}

static int pd_format(void *state, const struct tollgate_hook_event *ev,
		     struct tollgate_hook_output *out)
{
	struct pd_state *st = state;
	const char *schema, *id, *host, *summary, *sev, *instance;
	cJSON *doc, *msg = NULL, *payload, *details, *anomalies;
	size_t len;
	int err = -EINVAL;

	out->body = NULL;
	out->body_len = 0;
	out->content_type[0] = '\0';
	if (!st || !ev || !ev->json)
		return -EINVAL;
	len = ev->json_len ? ev->json_len : strlen(ev->json);
	doc = cJSON_ParseWithLength(ev->json, len);
	schema = str_member(doc, "schema");
	if (!cJSON_IsObject(doc) || !schema)
		goto out;
	/* Triage events carry an LLM's opinion about an anomaly already
	 * paged: not a reason to page again. */
	if (strcmp(schema, "tollgate.anomaly.v1") != 0) {
		err = strcmp(schema, "tollgate.triage.v1") == 0 ? 1 : -EINVAL;
		goto out;
	}
	id = str_member(doc, "id");
	host = str_member(doc, "host");
	instance = str_member(doc, "instance");
	summary = str_member(doc, "summary");
	sev = pd_severity(str_member(doc, "severity"));
	anomalies = cJSON_GetObjectItemCaseSensitive(doc, "anomalies");
	if (!id || !host || !instance || !summary || !sev || !cJSON_IsArray(anomalies))
		goto out;

	err = -ENOMEM;
	msg = cJSON_CreateObject();
	if (!msg || !cJSON_AddStringToObject(msg, "routing_key", st->routing_key) ||
	    !cJSON_AddStringToObject(msg, "event_action", "trigger") ||
	    /* one incident per event: retries of the same event (same id)
	     * land on the same incident */
	    !cJSON_AddStringToObject(msg, "dedup_key", id))
		goto out;
	payload = cJSON_AddObjectToObject(msg, "payload");
	if (!payload ||
	    !cJSON_AddItemToObject(payload, "summary", string_cut(summary, PD_SUMMARY_MAX)) ||
	    !cJSON_AddStringToObject(payload, "source", host) ||
	    !cJSON_AddStringToObject(payload, "severity", sev) ||
	    !cJSON_AddStringToObject(payload, "component", "tollgate"))
		goto out;
	details = cJSON_AddObjectToObject(payload, "custom_details");
	if (!details || !cJSON_AddStringToObject(details, "instance", instance) ||
	    !cJSON_AddItemToObject(details, "anomalies", cJSON_Duplicate(anomalies, 1)))
		goto out;
	out->body = cJSON_PrintUnformatted(msg);
	if (!out->body)
		goto out;
	out->body_len = strlen(out->body);
	snprintf(out->content_type, sizeof(out->content_type), "application/json");
	err = 0;
out:
	cJSON_Delete(msg);
	cJSON_Delete(doc);
	return err;
}

static void pd_fini(void *state)
{
	struct pd_state *st = state;

	if (!st)
		return;
	free(st->routing_key);
	free(st);
}

static const struct tollgate_hook pd_hook = {
	.abi_version = TOLLGATE_HOOK_ABI_VERSION,
	.name = "pagerduty",
	.init = pd_init,
	.format = pd_format,
	.fini = pd_fini,
};

/* The one symbol the agent looks up. Everything else stays static, so two
 * plugins never clash (the agent loads them RTLD_LOCAL anyway). */
__attribute__((visibility("default"))) const struct tollgate_hook *tollgate_hook_v1(void)
{
	return &pd_hook;
}
