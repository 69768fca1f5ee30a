/* stand-in until the formats change lands: a minimal chat request and
 * triage event */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "formats.h"

static void *openai_init(const char *name, const char *options, const char **err)
{
	return NULL;
}

static int openai_format(void *state, const struct tollgate_hook_event *ev,
			 struct tollgate_hook_output *out)
{
	cJSON *o = cJSON_CreateObject(), *msgs, *m;

	if (strcmp(ev->schema, TG_SCHEMA_TRIAGE) == 0) {
		cJSON_Delete(o);
		return 1;
	}
	cJSON_AddStringToObject(o, "model", "stand-in");
	msgs = cJSON_AddArrayToObject(o, "messages");
	m = cJSON_CreateObject();
	cJSON_AddStringToObject(m, "role", "user");
	cJSON_AddStringToObject(m, "content", ev->json);
	cJSON_AddItemToArray(msgs, m);
	out->body = cJSON_PrintUnformatted(o);
	cJSON_Delete(o);
	if (!out->body)
		return -1;
	out->body_len = strlen(out->body);
	out->content_type[0] = '\0';
	return 0;
}

static void openai_fini(void *state)
{
}

const struct tollgate_hook tg_format_openai = {
	.abi_version = TOLLGATE_HOOK_ABI_VERSION,
	.name = "openai",
	.init = openai_init,
	.format = openai_format,
	.fini = openai_fini,
};

char *tg_openai_triage_event(const char *reply, size_t len, const char *event_id,
			     int severity, const char *instance, const char *host,
			     const char *agent_version, const char *model,
			     char id_out[40], char *err, size_t errlen)
{
	cJSON *r = cJSON_ParseWithLength(reply, len), *o;
	const cJSON *c = cJSON_GetArrayItem(cJSON_GetObjectItem(r, "choices"), 0);
	const cJSON *content = cJSON_GetObjectItem(cJSON_GetObjectItem(c, "message"), "content");
	char *text;

	if (!cJSON_IsString(content)) {
		snprintf(err, errlen, "not a chat completion");
		cJSON_Delete(r);
		return NULL;
	}
	snprintf(id_out, 40, "trg_%.30s", event_id);
	o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "schema", TG_SCHEMA_TRIAGE);
	cJSON_AddStringToObject(o, "id", id_out);
	cJSON_AddStringToObject(o, "event_id", event_id);
	cJSON_AddStringToObject(o, "triage", content->valuestring);
	text = cJSON_PrintUnformatted(o);
	cJSON_Delete(o);
	cJSON_Delete(r);
	return text;
}
