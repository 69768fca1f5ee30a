/* `tollgate status`: reads a running agent's /v1/clients and prints a
 * table, or the JSON as is. */
#include <curl/curl.h>
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "lib/buf.h"
#include "cli/api_client.h"
#include "cli/status.h"
#include "cli/top_fmt.h"

static void human(double v, char *buf, size_t len)
{
	const char *units[] = { "", "k", "M", "G", "T", "P" };
	int u = 0;

	while (v >= 1000 && u < 5) {
		v /= 1000;
		u++;
	}
	if (u == 0)
		snprintf(buf, len, "%.0f", v);
	else
		snprintf(buf, len, "%.1f%s", v, units[u]);
}

static double num(const cJSON *o, const char *k)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);

	return cJSON_IsNumber(v) ? v->valuedouble : 0;
}

static int print_table(const char *json)
{
	cJSON *root = cJSON_Parse(json);
	const cJSON *clients = cJSON_GetObjectItemCaseSensitive(root, "clients");
	const cJSON *c;

	if (!cJSON_IsArray(clients)) {
		fprintf(stderr, "tollgate status: unexpected answer from the agent\n");
		cJSON_Delete(root);
		return 1;
	}
	printf("%-43s %10s %9s %10s %10s %10s  %s\n", "CLIENT", "REQUESTS", "REQ/S",
	       "BYTES", "BYTES/S", "NEW CONNS", "LAST SEEN");
	cJSON_ArrayForEach(c, clients) {
		const cJSON *addr = cJSON_GetObjectItemCaseSensitive(c, "address");
		const cJSON *last = cJSON_GetObjectItemCaseSensitive(c, "last_seen");
		char who[TG_TOP_ADDR_MAX + 1], req[16], bytes[16], bps[16];

		tg_top_fmt_client(cJSON_IsString(addr) ? addr->valuestring : "?",
				  (int)num(c, "prefix"), who, sizeof(who));
		human(num(c, "requests"), req, sizeof(req));
		human(num(c, "bytes"), bytes, sizeof(bytes));
		human(num(c, "bytes_per_sec"), bps, sizeof(bps));
		printf("%-43s %10s %9.1f %10s %10s %10.0f  %s\n", who, req,
		       num(c, "requests_per_sec"), bytes, bps, num(c, "syns"),
		       cJSON_IsString(last) ? last->valuestring : "-");
	}
	printf("%d of %.0f clients\n", cJSON_GetArraySize(clients), num(root, "total_clients"));
	cJSON_Delete(root);
	return 0;
}

int tg_status_main(struct tg_cli_target *t, bool json, int limit, const char *sort)
{
	struct tg_api_client *cli = &t->cli;
	struct tg_buf body;
	char path[128], err[CURL_ERROR_SIZE] = "", msg[768];
	int code, rc = 1;

	curl_global_init(CURL_GLOBAL_DEFAULT);
	tg_buf_init(&body);
	cli->timeout_ms = 5000;
	snprintf(path, sizeof(path), "/v1/clients?limit=%d&sort=%s", limit, sort);
	code = tg_api_client_get(cli, path, &body, err, sizeof(err));
	if (code != 200) {
		tg_api_client_explain("tollgate status", cli, code, &body, err, msg, sizeof(msg));
		fprintf(stderr, "%s\n", msg);
	} else if (json) {
		fwrite(body.data, 1, body.len, stdout);
		rc = 0;
	} else {
		tg_buf_append(&body, "", 1);
		rc = print_table(body.data);
	}
	tg_buf_free(&body);
	tg_api_client_free(cli);
	curl_global_cleanup();
	return rc;
}
