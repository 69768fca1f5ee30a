/* The slack format: a Slack incoming-webhook message, {"text": ...} in
 * mrkdwn. A header line with the severity and the event's summary, then
 * one bullet per anomaly, capped so a storm of anomalies stays one
 * readable message. */
#include <errno.h>
#include <string.h>

#include "lib/buf.h"
#include "formats/fmt_util.h"
#include "formats/formats.h"

#define SLACK_MAX_LINES 10      /* bullets before "and N more" */
#define SLACK_SUMMARY_MAX 1000  /* bytes of the event summary */
#define SLACK_LINE_MAX 500      /* bytes of one bullet */
/* Slack folds longer text behind "show more" and section blocks stop at
 * 3000 characters: a triage is meant to be read at a glance. */
#define SLACK_TRIAGE_MAX 3000
#define SLACK_BULLET "\xE2\x80\xA2 " /* U+2022 */
#define SLACK_ELLIPSIS "\xE2\x80\xA6" /* U+2026 */

static void *slack_init(const char *webhook_name, const char *options_json, const char **err)
{
	if (err)
		*err = NULL;
	return NULL;
}

/* Slack reads &, < and > as markup (<@U123>, <!channel>, <url|label>):
 * escaped, text from an event can neither ping anyone nor forge a link. */
static void slack_text(struct tg_buf *b, const char *s, size_t max)
{
	size_t len = strlen(s), n = tg_fmt_utf8_cut(s, len, max), run;

	while (n) {
		for (run = 0; run < n && s[run] != '&' && s[run] != '<' && s[run] != '>'; run++)
			;
		tg_buf_append(b, s, run);
		s += run;
		n -= run;
		len -= run;
		if (!n)
			break;
		tg_buf_printf(b, "%s", *s == '&' ? "&amp;" : *s == '<' ? "&lt;" : "&gt;");
		s++;
		n--;
		len--;
	}
	if (len)
		tg_buf_printf(b, SLACK_ELLIPSIS);
}

static int slack_anomaly(const cJSON *doc, struct tg_buf *b)
{
	const char *instance = tg_fmt_str(doc, "instance");
	const char *sev = tg_fmt_str(doc, "severity");
	const cJSON *an;
	struct tg_buf line;
	int i = 0, n;

	/* [CRITICAL]: the severity in words, not colour or emoji, so it
	 * survives notifications, screen readers and plain-text clients */
	tg_buf_append(b, "[", 1);
	for (; *sev; sev++)
		tg_buf_printf(b, "%c", *sev >= 'a' && *sev <= 'z' ? *sev - 'a' + 'A' : *sev);
	tg_buf_printf(b, "] tollgate ");
	slack_text(b, tg_fmt_str(doc, "host"), SLACK_LINE_MAX);
	/* an agent's instance is worth naming only when there are several */
	if (strcmp(instance, "default") != 0) {
		tg_buf_append(b, "/", 1);
		slack_text(b, instance, SLACK_LINE_MAX);
	}
	tg_buf_printf(b, ": ");
	slack_text(b, tg_fmt_str(doc, "summary"), SLACK_SUMMARY_MAX);

	tg_buf_init(&line);
	n = cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(doc, "anomalies"));
	cJSON_ArrayForEach(an, cJSON_GetObjectItemCaseSensitive(doc, "anomalies")) {
		if (i++ == SLACK_MAX_LINES) {
			tg_buf_printf(b, "\n" SLACK_BULLET "and %d more", n - SLACK_MAX_LINES);
			break;
		}
		tg_buf_reset(&line);
		if (tg_fmt_describe(an, &line) < 0)
			break;
		tg_buf_printf(b, "\n" SLACK_BULLET);
		slack_text(b, line.data, SLACK_LINE_MAX);
	}
	if (line.oom)
		b->oom = true;
	tg_buf_free(&line);
	return b->oom ? -ENOMEM : 0;
}

static int slack_triage(const cJSON *doc, struct tg_buf *b)
{
	tg_buf_printf(b, "Triage of ");
	slack_text(b, tg_fmt_str(doc, "event_id"), SLACK_LINE_MAX);
	tg_buf_printf(b, ": ");
	slack_text(b, tg_fmt_str(doc, "triage"), SLACK_TRIAGE_MAX);
	return b->oom ? -ENOMEM : 0;
}

static int slack_format(void *state, const struct tollgate_hook_event *ev,
			struct tollgate_hook_output *out)
{
	cJSON *doc, *msg = NULL;
	struct tg_buf b;
	int kind, err;

	tg_fmt_out_clear(out);
	kind = tg_fmt_parse_event(ev, &doc);
	if (kind < 0)
		return kind;
	tg_buf_init(&b);
	err = kind == TG_FMT_ANOMALY ? slack_anomaly(doc, &b) : slack_triage(doc, &b);
	if (err < 0)
		goto out;
	err = -ENOMEM;
	msg = cJSON_CreateObject();
	if (!msg || !cJSON_AddStringToObject(msg, "text", b.data))
		goto out;
	err = tg_fmt_out_json(out, msg);
out:
	cJSON_Delete(msg);
	tg_buf_free(&b);
	cJSON_Delete(doc);
	return err;
}

static void slack_fini(void *state)
{
}

const struct tollgate_hook tg_format_slack = {
	.abi_version = TOLLGATE_HOOK_ABI_VERSION,
	.name = "slack",
	.init = slack_init,
	.format = slack_format,
	.fini = slack_fini,
};
