/* A blocking client of the agent's local API for the CLI (status, top,
 * reload, detach): libcurl, the connection kept between requests. Blocking is
 * fine here: these are one-shot commands, not the agent's loop. */
#include <curl/curl.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cli/api_client.h"
#include "lib/addr.h"
#include "lib/buf.h"

#define TG_API_TOKEN_HDR_MAX 320 /* "X-Tollgate-Token: " and a 256-byte token */

static size_t on_body(char *p, size_t size, size_t n, void *ud)
{
	struct tg_buf *b = ud;

	if (b->len + size * n > (64u << 20))
		return 0; /* refuse absurd answers */
	return tg_buf_append(b, p, size * n) == 0 ? size * n : 0;
}

int tg_api_client_request(struct tg_api_client *c, const char *method, const char *path,
			  struct tg_buf *body, char *err, size_t errlen)
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
	if (!strcmp(method, "POST")) {
		curl_easy_setopt(c->curl, CURLOPT_POSTFIELDS, "");
		curl_easy_setopt(c->curl, CURLOPT_POSTFIELDSIZE, 0L);
	} else {
		curl_easy_setopt(c->curl, CURLOPT_HTTPGET, 1L);
	}
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

int tg_api_client_get(struct tg_api_client *c, const char *path, struct tg_buf *body,
		      char *err, size_t errlen)
{
	return tg_api_client_request(c, "GET", path, body, err, errlen);
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

bool tg_api_client_may_send_token(const char *api, bool token_env_given)
{
	return !api || token_env_given || tg_addr_listen_is_loopback(api);
}

const char *tg_api_client_token_env(const char *name, bool *bad)
{
	const char *t = name ? getenv(name) : NULL;

	*bad = false;
	if (!t || !*t)
		return NULL;
	*bad = !token_ok(t);
	return *bad ? NULL : t;
}

void tg_api_client_explain(const char *cmd, const struct tg_api_client *c, int code,
			   const struct tg_buf *body, const char *err, char *out, size_t len)
{
	const char *sep = cmd ? ": " : "";
	char unset[160] = "";

	if (!cmd)
		cmd = "";
	if (c->token_unset)
		snprintf(unset, sizeof(unset), " (the config's api.token_env, %s, is not set here)",
			 c->token_unset);
	if (code < 0)
		snprintf(out, len, "%s%scannot reach the agent at %s: %s (is 'tollgate run' "
			 "running? api.listen sets the address)", cmd, sep, c->listen, err);
	else if (code == 401 && c->token)
		snprintf(out, len, "%s%sthe agent at %s refused the API token from %s (401): it is "
			 "not the token the agent was started with (the variable its api.token_env "
			 "names)", cmd, sep, c->listen, c->token_var ? c->token_var : "the environment");
	else if (code == 401)
		snprintf(out, len, "%s%sthe agent at %s asks for an API token%s: put it in "
			 TG_API_TOKEN_ENV_DEFAULT " or name its variable with --token-env", cmd, sep,
			 c->listen, unset);
	else
		snprintf(out, len, "%s%sthe agent answered %d: %.*s", cmd, sep, code,
			 (int)(body->len > 200 ? 200 : body->len), body->data ? body->data : "");
	/* one line: a body's newline would end it */
	out[strcspn(out, "\r\n")] = '\0';
}
