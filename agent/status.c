/* `tollgate status`: reads a running agent's /v1/clients and prints a
 * table, or the JSON as is. A blocking libcurl call is fine here: this is
 * a one-shot command, not the agent's loop. */
#include <curl/curl.h>
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "buf.h"
#include "status.h"

static size_t on_body(char *p, size_t size, size_t n, void *ud)
{
	struct tg_buf *b = ud;

	if (b->len + size * n > (64u << 20))
		return 0; /* refuse absurd answers */
	return tg_buf_append(b, p, size * n) == 0 ? size * n : 0;
}

/* GETs http://listen/path into body. Returns the HTTP status or -1. */
int tg_http_get(const char *listen, const char *path, struct tg_buf *body, char *err, size_t errlen)
{
	char url[256];
	long code = 0;
	CURLcode rc;
	CURL *h;

	snprintf(url, sizeof(url), "http://%s%s", listen, path);
	h = curl_easy_init();
	if (!h) {
		snprintf(err, errlen, "curl init failed");
		return -1;
	}
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, body);
	curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, 5000L);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_NOPROXY, "*");
	rc = curl_easy_perform(h);
	if (rc == CURLE_OK)
		curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code);
	else
		snprintf(err, errlen, "%s", curl_easy_strerror(rc));
	curl_easy_cleanup(h);
	return rc == CURLE_OK ? (int)code : -1;
}

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
	printf("%-40s %10s %9s %10s %10s %8s  %s\n", "CLIENT", "REQUESTS", "REQ/S",
	       "BYTES", "BYTES/S", "CONNS", "LAST SEEN");
	cJSON_ArrayForEach(c, clients) {
		const cJSON *addr = cJSON_GetObjectItemCaseSensitive(c, "address");
		const cJSON *last = cJSON_GetObjectItemCaseSensitive(c, "last_seen");
		char who[64], req[16], bytes[16], bps[16];

		snprintf(who, sizeof(who), "%s/%d",
			 cJSON_IsString(addr) ? addr->valuestring : "?", (int)num(c, "prefix"));
		human(num(c, "requests"), req, sizeof(req));
		human(num(c, "bytes"), bytes, sizeof(bytes));
		human(num(c, "bytes_per_sec"), bps, sizeof(bps));
		printf("%-40s %10s %9.1f %10s %10s %8.0f  %s\n", who, req,
		       num(c, "requests_per_sec"), bytes, bps, num(c, "syns"),
		       cJSON_IsString(last) ? last->valuestring : "-");
	}
	printf("%d of %.0f clients\n", cJSON_GetArraySize(clients), num(root, "total_clients"));
	cJSON_Delete(root);
	return 0;
}

int tg_status_main(const char *listen, bool json, int limit, const char *sort)
{
	struct tg_buf body;
	char path[128], err[CURL_ERROR_SIZE] = "";
	int code, rc = 1;

	curl_global_init(CURL_GLOBAL_DEFAULT);
	tg_buf_init(&body);
	snprintf(path, sizeof(path), "/v1/clients?limit=%d&sort=%s", limit, sort);
	code = tg_http_get(listen, path, &body, err, sizeof(err));
	if (code < 0) {
		fprintf(stderr, "tollgate status: cannot reach the agent at %s: %s (is "
				"'tollgate run' running? api.listen sets the address)\n", listen, err);
	} else if (code != 200) {
		fprintf(stderr, "tollgate status: the agent answered %d: %.*s\n", code,
			(int)body.len, body.data ? body.data : "");
	} else if (json) {
		fwrite(body.data, 1, body.len, stdout);
		rc = 0;
	} else {
		tg_buf_append(&body, "", 1);
		rc = print_table(body.data);
	}
	tg_buf_free(&body);
	curl_global_cleanup();
	return rc;
}
