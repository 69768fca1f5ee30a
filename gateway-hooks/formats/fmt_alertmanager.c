/* The alertmanager format: the body of Alertmanager's POST /api/v2/alerts,
 * one alert per anomaly. Alertmanager groups and deduplicates alerts by
 * their labels, so labels say only what the anomaly is about (type,
 * client, key, where) and never a count or a figure: the same anomaly
 * seen again in the next window must update the same alert, not open a
 * new one. Figures go in the annotations. */
#include <ctype.h>
#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include "lib/buf.h"
#include "formats/fmt_util.h"
#include "formats/formats.h"

static void *am_init(const char *webhook_name, const char *options_json, const char **err)
{
	if (err)
		*err = NULL;
	return NULL;
}

/* "quota_exhausted" -> "TollgateQuotaExhausted" */
static void am_alertname(const char *type, struct tg_buf *b)
{
	bool upper = true;
	char ch;

	tg_buf_printf(b, "Tollgate");
	for (; *type; type++) {
		if (!isalnum((unsigned char)*type)) {
			upper = true;
			continue;
		}
		ch = upper ? (char)toupper((unsigned char)*type) : *type;
		tg_buf_append(b, &ch, 1);
		upper = false;
	}
}

static int am_alert(const cJSON *doc, const cJSON *an, int64_t ends_ms, cJSON *alerts)
{
	const cJSON *client = cJSON_GetObjectItemCaseSensitive(an, "client");
	const char *type = tg_fmt_str(an, "type");
	const char *key = tg_fmt_str(client, "key");
	const char *starts = tg_fmt_str(an, "first_seen");
	cJSON *alert, *labels, *notes;
	char ends[TG_TIME_LEN];
	struct tg_buf b;
	int err = -ENOMEM;

	tg_buf_init(&b);
	alert = cJSON_CreateObject();
	if (!alert || !cJSON_AddItemToArray(alerts, alert)) {
		cJSON_Delete(alert);
		return -ENOMEM;
	}
	labels = cJSON_AddObjectToObject(alert, "labels");
	notes = cJSON_AddObjectToObject(alert, "annotations");
	if (!labels || !notes)
		goto out;

	am_alertname(type, &b);
	if (b.oom || !cJSON_AddStringToObject(labels, "alertname", b.data))
		goto out;
	if (!cJSON_AddStringToObject(labels, "severity", tg_fmt_str(an, "severity")) ||
	    !cJSON_AddStringToObject(labels, "type", type) ||
	    !cJSON_AddStringToObject(labels, "instance", tg_fmt_str(doc, "instance")) ||
	    !cJSON_AddStringToObject(labels, "host", tg_fmt_str(doc, "host")))
		goto out;
	tg_buf_reset(&b);
	err = tg_fmt_client(client, &b);
	if (err < 0 || (err > 0 && !cJSON_AddStringToObject(labels, "client", b.data)))
		goto out;
	err = -ENOMEM;
	if (key && *key && !cJSON_AddStringToObject(labels, "key", key))
		goto out;

	tg_buf_reset(&b);
	if (tg_fmt_describe(an, &b) < 0 || !cJSON_AddStringToObject(notes, "summary", b.data) ||
	    !cJSON_AddStringToObject(notes, "description", tg_fmt_str(doc, "summary")) ||
	    !cJSON_AddStringToObject(notes, "event_id", tg_fmt_str(doc, "id")))
		goto out;

	if (!starts)
		starts = tg_fmt_str(cJSON_GetObjectItemCaseSensitive(doc, "window"), "start");
	tg_format_time_ms(ends_ms, ends, sizeof(ends));
	if (!cJSON_AddStringToObject(alert, "startsAt", starts) ||
	    !cJSON_AddStringToObject(alert, "endsAt", ends))
		goto out;
	err = 0;
out:
	tg_buf_free(&b);
	return err;
}

static int am_format(void *state, const struct tollgate_hook_event *ev,
		     struct tollgate_hook_output *out)
{
	const cJSON *window, *anomalies, *an;
	int64_t start, end;
	cJSON *doc, *alerts = NULL;
	int kind, err;

	tg_fmt_out_clear(out);
	kind = tg_fmt_parse_event(ev, &doc);
	if (kind < 0)
		return kind;
	err = 1; /* triage text is no alert; nor is an event without anomalies */
	anomalies = cJSON_GetObjectItemCaseSensitive(doc, "anomalies");
	if (kind != TG_FMT_ANOMALY || !cJSON_GetArraySize(anomalies))
		goto out;
	window = cJSON_GetObjectItemCaseSensitive(doc, "window");
	tg_parse_time(tg_fmt_str(window, "start"), &start);
	tg_parse_time(tg_fmt_str(window, "end"), &end);
	err = -EINVAL;
	if (end < start)
		goto out;
	err = -ENOMEM;
	alerts = cJSON_CreateArray();
	if (!alerts)
		goto out;
	cJSON_ArrayForEach(an, anomalies) {
		/* An alert whose endsAt passes is resolved. Three windows on from
		 * this one: an anomaly that recurs is re-sent at every window
		 * close and pushes endsAt on, and one that stops recurring
		 * resolves by itself soon after, without the agent ever having to
		 * send a "resolved" (which it could not do reliably anyway: an
		 * event that is not sent cannot resolve anything). Three, not
		 * one: a late or retried delivery must not let it flap. */
		err = am_alert(doc, an, end + 3 * (end - start), alerts);
		if (err < 0)
			goto out;
	}
	err = tg_fmt_out_json(out, alerts);
out:
	cJSON_Delete(alerts);
	cJSON_Delete(doc);
	return err;
}

static void am_fini(void *state)
{
}

const struct tollgate_hook tg_format_alertmanager = {
	.abi_version = TOLLGATE_HOOK_ABI_VERSION,
	.name = "alertmanager",
	.init = am_init,
	.format = am_format,
	.fini = am_fini,
};
