/* `tollgate status`: reads a running agent's /v1/clients and prints a
 * table, or the JSON as is. A blocking libcurl call is fine here: this is
 * a one-shot command, not the agent's loop. */
#include <curl/curl.h>
#include <cjson/cJSON.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "lib/buf.h"
#include "cli/status.h"

#define TG_API_TOKEN_HDR_MAX 320 /* "X-Tollgate-Token: " and a 256-byte token */

static size_t on_body(char *p, size_t size, size_t n, void *ud)
{
	struct tg_buf *b = ud;

	if (b->len + size * n > (64u << 20))
		return 0; /* refuse absurd answers */
	return tg_buf_append(b, p, size * n) == 0 ? size * n : 0;
}

int tg_api_client_get(struct tg_api_client *c, const char *path, struct tg_buf *body,
		      char *err, size_t errlen)
{
	char url[256], hdr[TG_API_TOKEN_HDR_MAX];
	long code = 0;
	CURLcode rc;

	tg_buf_reset(body);
	if (!c->curl) {
		if (!(c->curl = curl_easy_init())) {
			snprintf(err, errlen, "curl init failed");
			return -1;
		}
		if (c->token) {
			snprintf(hdr, sizeof(hdr), "X-Tollgate-Token: %s", c->token);
			c->hdrs = curl_slist_append(NULL, hdr);
			OPENSSL_cleanse(hdr, sizeof(hdr));
			if (!c->hdrs) {
				snprintf(err, errlen, "out of memory");
				return -1;
			}
		}
	}
	snprintf(url, sizeof(url), "http://%s%s", c->listen, path);
	curl_easy_setopt(c->curl, CURLOPT_URL, url);
	curl_easy_setopt(c->curl, CURLOPT_HTTPHEADER, c->hdrs);
	curl_easy_setopt(c->curl, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(c->curl, CURLOPT_WRITEDATA, body);
	curl_easy_setopt(c->curl, CURLOPT_TIMEOUT_MS, c->timeout_ms > 0 ? c->timeout_ms : 5000L);
	curl_easy_setopt(c->curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c->curl, CURLOPT_NOPROXY, "*");
	rc = curl_easy_perform(c->curl);
	if (rc == CURLE_OK)
		curl_easy_getinfo(c->curl, CURLINFO_RESPONSE_CODE, &code);
	else
		snprintf(err, errlen, "%s", curl_easy_strerror(rc));
	return rc == CURLE_OK ? (int)code : -1;
}

void tg_api_client_free(struct tg_api_client *c)
{
	curl_slist_free_all(c->hdrs);
	curl_easy_cleanup(c->curl);
	c->hdrs = c->curl = NULL;
}

static bool token_ok(const char *t)
{
	size_t n = 0;

	for (; t[n]; n++)
		if ((unsigned char)t[n] < 0x21 || (unsigned char)t[n] > 0x7e)
			return false;
	return n >= 1 && n < TG_API_TOKEN_HDR_MAX - 32;
}

const char *tg_api_token_from_env(const char *name, bool *bad)
{
	const char *t = name ? getenv(name) : NULL;

	*bad = false;
	if (!t || !*t)
		t = getenv(TG_API_TOKEN_ENV_DEFAULT);
	if (!t || !*t)
		return NULL;
	*bad = !token_ok(t);
	return *bad ? NULL : t;
}

void tg_api_client_explain(const char *cmd, const char *listen, int code,
			   const struct tg_buf *body, const char *err, char *out, size_t len)
{
	const char *sep = cmd ? ": " : "";

	if (!cmd)
		cmd = "";
	if (code < 0)
		snprintf(out, len, "%s%scannot reach the agent at %s: %s (is 'tollgate run' "
			 "running? api.listen sets the address)", cmd, sep, listen, err);
	else if (code == 401)
		snprintf(out, len, "%s%sthe agent at %s asks for an API token: put it in "
			 TG_API_TOKEN_ENV_DEFAULT " or name its variable with --token-env", cmd, sep,
			 listen);
	else
		snprintf(out, len, "%s%sthe agent answered %d: %.*s", cmd, sep, code,
			 (int)(body->len > 200 ? 200 : body->len), body->data ? body->data : "");
	/* one line: a body's newline would end it */
	out[strcspn(out, "\r\n")] = '\0';
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

int tg_status_main(const char *listen, const char *token, bool json, int limit, const char *sort)
{
	struct tg_api_client cli = { .listen = listen, .token = token, .timeout_ms = 5000 };
	struct tg_buf body;
	char path[128], err[CURL_ERROR_SIZE] = "", msg[512];
	int code, rc = 1;

	curl_global_init(CURL_GLOBAL_DEFAULT);
	tg_buf_init(&body);
	snprintf(path, sizeof(path), "/v1/clients?limit=%d&sort=%s", limit, sort);
	code = tg_api_client_get(&cli, path, &body, err, sizeof(err));
	if (code != 200) {
		tg_api_client_explain("tollgate status", listen, code, &body, err, msg, sizeof(msg));
		fprintf(stderr, "%s\n", msg);
	} else if (json) {
		fwrite(body.data, 1, body.len, stdout);
		rc = 0;
	} else {
		tg_buf_append(&body, "", 1);
		rc = print_table(body.data);
	}
	tg_buf_free(&body);
	tg_api_client_free(&cli);
	curl_global_cleanup();
	return rc;
}
