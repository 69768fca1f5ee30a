/* What comes back from, and goes out to, webhooks: a chat completion
 * reply turned into a triage event (tg_openai_triage_event), a
 * Retry-After value (tg_retry_after_ms), and the built-in formats
 * rendering arbitrary event JSON, the triage event included. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "config/config.h"
#include "formats/formats.h"
#include "deliver/retry.h"

static const int builtins[] = { TG_FMT_GENERIC, TG_FMT_ALERTMANAGER, TG_FMT_SLACK, TG_FMT_OPENAI };
static void *states[4];

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	const char *opts = "{\"name\":\"fz\",\"url\":\"http://127.0.0.1:9/\",\"format\":\"openai\","
			   "\"min_severity\":\"info\",\"model\":\"gpt-4o-mini\"}";

	(void)argc;
	(void)argv;
	for (int i = 0; i < 4; i++) {
		const struct tollgate_hook *h = tg_format_builtin(builtins[i]);
		const char *err = NULL;

		if (!h)
			abort();
		states[i] = h->init("fz", opts, &err);
		if (err) {
			fprintf(stderr, "%s: init: %s\n", h->name, err);
			abort();
		}
	}
	return 0;
}

static void render(const char *json, size_t len, const char *schema)
{
	for (int i = 0; i < 4; i++) {
		const struct tollgate_hook *h = tg_format_builtin(builtins[i]);
		struct tollgate_hook_event ev = {
			.schema = schema, .id = "evt_fuzz", .severity = (int)(len % 3),
			.json = json, .json_len = len,
		};
		struct tollgate_hook_output out;
		int rc;

		memset(&out, 0x5a, sizeof(out)); /* formats must not rely on a cleared out */
		rc = h->format(states[i], &ev, &out);
		if (rc == 0) {
			if (!out.body || memchr(out.content_type, '\0', sizeof(out.content_type)) == NULL)
				abort();
			free(out.body);
		}
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = malloc(size + 1), id[40], err[256];
	char *ev;
	int64_t ms;

	if (!text)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';

	ms = tg_retry_after_ms(text, 1700000000);
	if (ms < -1 || ms > 3600 * 1000)
		abort();

	err[0] = '\0';
	ev = tg_openai_triage_event(text, size, "evt_0123456789abcdef0123456789abcdef", 2, "edge",
				    "gw-1", "0.1.0", "gpt-4o-mini", id, err, sizeof(err));
	if (ev) {
		render(ev, strlen(ev), TG_SCHEMA_TRIAGE);
		free(ev);
	} else if (!err[0]) {
		abort(); /* a failure always says why */
	}

	render(text, size, memmem(text, size, "triage.v1", 9) ? TG_SCHEMA_TRIAGE : TG_SCHEMA_ANOMALY);
	free(text);
	return 0;
}
