/* `tollgate reload`: POST /v1/reload, then the new generation, the keys
 * that wait for a restart, or the agent's reasons for keeping its old
 * config, in the format check-config uses. */
#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <stdio.h>
#include <string.h>
#include "cli/reload.h"

static const char *str(const cJSON *o, const char *k, const char *absent)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);

	return cJSON_IsString(v) ? v->valuestring : absent;
}

static double num(const cJSON *o, const char *k)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);

	return cJSON_IsNumber(v) ? v->valuedouble : -1;
}

/* The answer as the command says it. */
static int report(const struct tg_cli_target *t, int code, const cJSON *j)
{
	const char *file = str(j, "file", "(config)");
	const cJSON *list, *it;
	int n = 0;

	if (code == 200) {
		printf("reloaded %s: generation %.0f\n", file, num(j, "generation"));
		list = cJSON_GetObjectItemCaseSensitive(j, "restart_required");
		cJSON_ArrayForEach(it, list)
			printf("%s%s", n++ ? ", " : "these keys take effect after a restart "
			       "(old values kept): ", cJSON_IsString(it) ? it->valuestring : "?");
		if (n)
			printf("\n");
		return 0;
	}
	if (code == 422) {
		list = cJSON_GetObjectItemCaseSensitive(j, "errors");
		cJSON_ArrayForEach(it, list)
			fprintf(stderr, "%s: %s: %s\n", file, str(it, "path", "$"),
				str(it, "reason", "?"));
		if (num(j, "more_errors") > 0)
			fprintf(stderr, "%s: ... %.0f more errors\n", file, num(j, "more_errors"));
		fprintf(stderr, "tollgate reload: the agent at %s kept its config (generation "
			"%.0f)\n", t->cli.listen, num(j, "generation"));
		return 2;
	}
	fprintf(stderr, "tollgate reload: %s (the agent at %s kept generation %.0f)\n",
		str(j, "error", "reload failed"), t->cli.listen, num(j, "generation"));
	return 1;
}

int tg_reload_main(struct tg_cli_target *t)
{
	char err[CURL_ERROR_SIZE] = "", msg[768];
	struct tg_buf body;
	cJSON *j = NULL;
	int code, rc = 1;

	curl_global_init(CURL_GLOBAL_DEFAULT);
	tg_buf_init(&body);
	/* a reload re-reads the file and may attach to new interfaces */
	t->cli.timeout_ms = 30000;
	code = tg_api_client_request(&t->cli, "POST", "/v1/reload", &body, err, sizeof(err));
	if (code == 200 || code == 409 || code == 422 || code == 500)
		j = cJSON_ParseWithLength(body.data ? body.data : "", body.len);
	if (j) {
		rc = report(t, code, j);
	} else {
		tg_api_client_explain("tollgate reload", &t->cli, code, &body, err, msg, sizeof(msg));
		fprintf(stderr, "%s%s\n", msg, code == 404 ? " (an agent older than this command: "
			"reload it with SIGHUP)" : "");
	}
	cJSON_Delete(j);
	tg_buf_free(&body);
	tg_api_client_free(&t->cli);
	curl_global_cleanup();
	return rc;
}
