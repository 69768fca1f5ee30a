/* The openai format: asks an OpenAI-compatible /v1/chat/completions
 * endpoint (often the very LLM gateway tollgate watches) to triage an
 * anomaly event. The answer comes back as a tollgate.triage.v1 event of its
 * own (tg_openai_triage_event), so the anomaly event is never held back
 * waiting for a model. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "formats/fmt_util.h"
#include "formats/formats.h"

#define OPENAI_MAX_TOKENS 300
/* A triage asked for 120 words; a model that rambles past this is cut at
 * a character boundary rather than filling the receivers' logs. */
#define OPENAI_TRIAGE_MAX 8192

static const char openai_system_prompt[] =
	"You are an SRE assistant triaging tollgate anomaly events for an LLM API gateway. "
	"tollgate is an eBPF agent beside the gateway: it counts per-client traffic "
	"(requests, bytes, connections, responses) and enforces per-client and per-API-key "
	"quotas. The user message is one tollgate.anomaly.v1 event as JSON. Answer in plain "
	"text with the likely cause, the risk, and the recommended action, in under 120 "
	"words.";

struct openai_state {
	char *model;
};

static void *openai_init(const char *webhook_name, const char *options_json, const char **err)
{
	struct openai_state *st;
	const char *model, *unused;
	cJSON *opts;

	if (!err)
		err = &unused;
	*err = NULL;
	opts = options_json ? tg_fmt_parse_text(options_json, strlen(options_json)) : NULL;
	if (!cJSON_IsObject(opts)) {
		*err = "format openai: the webhook options are not a JSON object";
		goto fail;
	}
	model = tg_fmt_str(opts, "model");
	if (!model || !*model) {
		*err = "format openai needs \"model\": the model the endpoint should run";
		goto fail;
	}
	st = calloc(1, sizeof(*st));
	if (st)
		st->model = strdup(model);
	if (!st || !st->model) {
		free(st);
		*err = "format openai: out of memory";
		goto fail;
	}
	cJSON_Delete(opts);
	return st;
fail:
	cJSON_Delete(opts);
	return NULL;
}

static cJSON *openai_message(cJSON *messages, const char *role, const char *content)
{
	cJSON *m = cJSON_CreateObject();

	if (!m || !cJSON_AddItemToArray(messages, m)) {
		cJSON_Delete(m);
		return NULL;
	}
	if (!cJSON_AddStringToObject(m, "role", role) ||
	    !cJSON_AddStringToObject(m, "content", content))
		return NULL;
	return m;
}

static int openai_format(void *state, const struct tollgate_hook_event *ev,
			 struct tollgate_hook_output *out)
{
	struct openai_state *st = state;
	cJSON *doc, *req = NULL, *messages;
	char *event = NULL;
	int kind, err;

	tg_fmt_out_clear(out);
	if (!st || !st->model)
		return -EINVAL;
	kind = tg_fmt_parse_event(ev, &doc);
	if (kind < 0)
		return kind;
	err = 1; /* a triage is the answer, never a question */
	if (kind != TG_FMT_ANOMALY)
		goto out;
	err = -ENOMEM;
	/* compact: every byte of the prompt is a token paid for */
	event = cJSON_PrintUnformatted(doc);
	req = cJSON_CreateObject();
	if (!event || !req || !cJSON_AddStringToObject(req, "model", st->model))
		goto out;
	messages = cJSON_AddArrayToObject(req, "messages");
	if (!messages || !openai_message(messages, "system", openai_system_prompt) ||
	    !openai_message(messages, "user", event))
		goto out;
	/* deterministic: the same anomaly should read the same way twice */
	if (!cJSON_AddNumberToObject(req, "temperature", 0) ||
	    !cJSON_AddNumberToObject(req, "max_tokens", OPENAI_MAX_TOKENS))
		goto out;
	err = tg_fmt_out_json(out, req);
out:
	cJSON_Delete(req);
	free(event);
	cJSON_Delete(doc);
	return err;
}

static void openai_fini(void *state)
{
	struct openai_state *st = state;

	if (!st)
		return;
	free(st->model);
	free(st);
}

const struct tollgate_hook tg_format_openai = {
	.abi_version = TOLLGATE_HOOK_ABI_VERSION,
	.name = "openai",
	.init = openai_init,
	.format = openai_format,
	.fini = openai_fini,
};

/* ---- the reply ---------------------------------------------------------- */

static int new_event_id(char id[40])
{
	static const char hex[] = "0123456789abcdef";
	unsigned char r[16];
	size_t got = 0;
	ssize_t n;

	while (got < sizeof(r)) {
		n = getrandom(r + got, sizeof(r) - got, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		got += (size_t)n;
	}
	memcpy(id, "evt_", 4);
	for (size_t i = 0; i < sizeof(r); i++) {
		id[4 + 2 * i] = hex[r[i] >> 4];
		id[5 + 2 * i] = hex[r[i] & 0xF];
	}
	id[4 + 2 * sizeof(r)] = '\0';
	return 0;
}

static int now_rfc3339(char buf[TG_TIME_LEN])
{
	tg_format_time(tg_now_wall_ns(), buf, TG_TIME_LEN);
	return 0;
}

static const char *is_space_str(const char *s)
{
	for (; *s; s++)
		if (*s != ' ' && *s != '\t' && *s != '\n' && *s != '\r')
			return NULL;
	return s;
}

/* choices[0].message.content without its surrounding whitespace (models
 * like to end on a newline); NULL with the reason in err. */
static char *reply_content(const cJSON *reply, char *err, size_t errlen)
{
	const cJSON *choices = cJSON_GetObjectItemCaseSensitive(reply, "choices");
	const cJSON *e = cJSON_GetObjectItemCaseSensitive(reply, "error");
	const cJSON *first;
	const char *c, *msg;
	size_t len;
	char *out;

	/* An endpoint that answered 200 with an error object says why */
	if (e && !cJSON_IsNull(e) && !choices) {
		msg = cJSON_IsString(e) ? e->valuestring : tg_fmt_str(e, "message");
		snprintf(err, errlen, "reply is an error: %.200s", msg ? msg : "(no message)");
		return NULL;
	}
	first = cJSON_IsArray(choices) ? cJSON_GetArrayItem(choices, 0) : NULL;
	c = tg_fmt_str(cJSON_GetObjectItemCaseSensitive(first, "message"), "content");
	if (!c) {
		snprintf(err, errlen, "reply has no choices[0].message.content");
		return NULL;
	}
	while (*c == ' ' || *c == '\t' || *c == '\n' || *c == '\r')
		c++;
	if (is_space_str(c)) {
		snprintf(err, errlen, "reply's choices[0].message.content is empty");
		return NULL;
	}
	len = strlen(c);
	while (len && (c[len - 1] == ' ' || c[len - 1] == '\t' || c[len - 1] == '\n' ||
		       c[len - 1] == '\r'))
		len--;
	len = tg_fmt_utf8_cut(c, len, OPENAI_TRIAGE_MAX);
	out = strndup(c, len);
	if (!out)
		snprintf(err, errlen, "out of memory");
	return out;
}

char *tg_openai_triage_event(const char *reply, size_t len, const char *event_id,
			     int severity, const char *instance, const char *host,
			     const char *agent_version, const char *model,
			     char id_out[40], char *err, size_t errlen)
{
	char id[40], now[TG_TIME_LEN], *content = NULL, *json = NULL;
	const char *sev = tg_fmt_severity_name(severity), *reply_model;
	cJSON *doc = NULL, *ev = NULL;
	int rc;

	if (!event_id || !*event_id || !sev) {
		snprintf(err, errlen, "%s", !sev ? "severity out of range" : "no event_id");
		return NULL;
	}
	doc = tg_fmt_parse_text(reply, len);
	if (!doc) {
		snprintf(err, errlen, "reply is not JSON");
		return NULL;
	}
	if (!cJSON_IsObject(doc)) {
		snprintf(err, errlen, "reply is not a JSON object");
		goto out;
	}
	content = reply_content(doc, err, errlen);
	if (!content)
		goto out;
	rc = new_event_id(id);
	if (!rc)
		rc = now_rfc3339(now);
	if (rc) {
		snprintf(err, errlen, "cannot make an event id: %s", strerror(-rc));
		goto out;
	}
	/* the model that answered ("gpt-4o-mini-2024-07-18"), more precise
	 * than the alias configured */
	reply_model = tg_fmt_str(doc, "model");
	if (reply_model && *reply_model)
		model = reply_model;
	ev = cJSON_CreateObject();
	if (!ev || !cJSON_AddStringToObject(ev, "schema", TG_SCHEMA_TRIAGE) ||
	    !cJSON_AddStringToObject(ev, "id", id) ||
	    !cJSON_AddStringToObject(ev, "event_id", event_id) ||
	    !cJSON_AddStringToObject(ev, "instance", instance ? instance : "") ||
	    !cJSON_AddStringToObject(ev, "host", host ? host : "") ||
	    !cJSON_AddStringToObject(ev, "agent_version", agent_version ? agent_version : "") ||
	    !cJSON_AddStringToObject(ev, "time", now) ||
	    !cJSON_AddStringToObject(ev, "severity", sev) ||
	    !(model ? cJSON_AddStringToObject(ev, "model", model)
		    : cJSON_AddNullToObject(ev, "model")) ||
	    !cJSON_AddStringToObject(ev, "triage", content)) {
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	json = cJSON_PrintUnformatted(ev);
	if (!json) {
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	memcpy(id_out, id, sizeof(id));
out:
	cJSON_Delete(ev);
	cJSON_Delete(doc);
	free(content);
	return json;
}
