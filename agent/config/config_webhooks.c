/* webhooks: an array of receivers. Each entry is checked on its own, then
 * against the others (names are unique: they name the spool directory).
 * Secrets (secret_env, secret_file, api_key_env) are read here, once, so a
 * reload that cannot read them is rejected before anything changes; their
 * values never reach an error message or the printed config. */
#include "config/config.h"
#include "config/config_int.h"
#include "lib/fs.h"

#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#define PATH_LEN sizeof(((struct tg_config_error *)0)->path)
#define REASON_LEN sizeof(((struct tg_config_error *)0)->reason)
#define REDACTED "<redacted>"
#define ALNUM "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
#define TOKEN ALNUM "!#$%&'*+-.^_`|~"

static const char *const format_names[] = {
	[TG_FMT_GENERIC] = "generic", [TG_FMT_ALERTMANAGER] = "alertmanager",
	[TG_FMT_SLACK] = "slack", [TG_FMT_OPENAI] = "openai", [TG_FMT_PLUGIN] = "plugin", NULL
};

enum wkey { W_NAME, W_URL, W_FORMAT, W_SECRET_ENV, W_SECRET_FILE, W_MIN_SEV, W_TIMEOUT,
	    W_RETRY_MAX, W_HEADERS, W_PLUGIN, W_OPTIONS, W_MODEL, W_API_KEY_ENV, W_REDACT_URL,
	    N_WKEYS };

static const char *const wkeys[N_WKEYS] = {
	"name", "url", "format", "secret_env", "secret_file", "min_severity", "timeout_ms",
	"retry_max_ms", "headers", "plugin", "options", "model", "api_key_env", "redact_url"
};

/* Headers the agent sets itself: a configured one would corrupt the
 * request or forge its signature. */
static const char *const reserved_headers[] = {
	"content-type", "content-length", "host", "transfer-encoding", "connection",
	"webhook-id", "webhook-timestamp", "webhook-signature", "expect", NULL
};

static bool chars_in(const char *s, const char *set, size_t min, size_t max)
{
	size_t n = strspn(s, set);

	return !s[n] && n >= min && n <= max;
}

/* An env variable's value into out. NULL, or a reason in buf. */
static const char *read_env(const char *name, char *out, size_t cap, size_t *len, char *buf)
{
	const char *val;
	size_t n;

	if (!tg_cfg_env_name_ok(name))
		return TG_CFG_ENV_NAME_BAD;
	if (!(val = getenv(name)) || !*val) {
		snprintf(buf, REASON_LEN, "environment variable %s is not set", name);
		return buf;
	}
	if ((n = strlen(val)) >= cap) {
		snprintf(buf, REASON_LEN, "environment variable %s is longer than %zu bytes",
			 name, cap - 1);
		return buf;
	}
	memcpy(out, val, n + 1);
	if (len)
		*len = n;
	return NULL;
}

/* A secret file: one line (its newline stripped), at most TG_SECRET_MAX
 * bytes. Opened with O_NONBLOCK so a FIFO cannot hang a reload. */
static const char *read_secret_file(const char *path, struct tg_webhook_config *w, char *buf)
{
	char tmp[TG_SECRET_MAX + 2];
	struct stat st;
	ssize_t n;
	int fd;

	if (path[0] != '/') {
		snprintf(buf, REASON_LEN, "must be an absolute path");
		return buf;
	}
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
	if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		snprintf(buf, REASON_LEN, "cannot read %s: %s", path,
			 fd < 0 ? strerror(errno) : "not a regular file");
		if (fd >= 0)
			close(fd);
		return buf;
	}
	n = read(fd, tmp, sizeof(tmp) - 1);
	close(fd);
	if (n < 0) {
		snprintf(buf, REASON_LEN, "cannot read %s: %s", path, strerror(errno));
		return buf;
	}
	while (n > 0 && (tmp[n - 1] == '\n' || tmp[n - 1] == '\r'))
		n--;
	if (n == 0 || n > TG_SECRET_MAX || memchr(tmp, '\0', (size_t)n)) {
		snprintf(buf, REASON_LEN, "%s must hold one line of 1..%d bytes", path, TG_SECRET_MAX);
		return buf;
	}
	memcpy(w->secret, tmp, (size_t)n);
	w->secret[n] = '\0';
	w->secret_len = (size_t)n;
	return NULL;
}

/* http:// or https:// with a host, as libcurl will parse it. */
static const char *check_url(const char *s)
{
	CURLU *u;
	char *scheme = NULL, *host = NULL;
	const char *reason = NULL;

	if (strlen(s) >= TG_URL_LEN)
		return "longer than 511 characters";
	if (strstr(s, REDACTED))
		return "holds " REDACTED ": put the real URL here (check-config prints it redacted)";
	for (const unsigned char *p = (const unsigned char *)s; *p; p++)
		if (*p <= ' ' || *p == 0x7f)
			return "must not hold spaces or control characters";
	if (!(u = curl_url()))
		return "out of memory";
	if (curl_url_set(u, CURLUPART_URL, s, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK || !host[0])
		reason = "must be an http:// or https:// URL with a host";
	else if (strcmp(scheme, "http") && strcmp(scheme, "https"))
		reason = "must be an http:// or https:// URL";
	curl_free(scheme);
	curl_free(host);
	curl_url_cleanup(u);
	return reason;
}

static void parse_headers(struct tg_webhook_config *w, const cJSON *v, const char *path,
			  struct tg_config_errors *errs)
{
	char kpath[PATH_LEN], lower[64];
	const cJSON *it;

	if (!cJSON_IsObject(v)) {
		tg_config_errf(errs, path, "expected an object of header names and values");
		return;
	}
	cJSON_ArrayForEach(it, v) {
		struct tg_hook_header *h;
		size_t n = strlen(it->string);
		bool bad = false;

		tg_config_path_key(kpath, sizeof(kpath), path, it->string);
		if (!chars_in(it->string, TOKEN, 1, sizeof(h->name) - 1)) {
			tg_config_errf(errs, kpath, "must be a header name (1..63 token characters)");
			continue;
		}
		for (size_t i = 0; i <= n; i++)
			lower[i] = (char)((it->string[i] >= 'A' && it->string[i] <= 'Z')
						  ? it->string[i] + 32 : it->string[i]);
		for (int r = 0; reserved_headers[r]; r++)
			bad |= !strcmp(lower, reserved_headers[r]);
		if (bad) {
			tg_config_errf(errs, kpath, "set by tollgate itself");
			continue;
		}
		for (int i = 0; i < w->n_headers; i++)
			bad |= !strcasecmp(w->headers[i].name, it->string);
		if (bad) {
			tg_config_errf(errs, kpath, "duplicate header");
			continue;
		}
		if (!cJSON_IsString(it) || strlen(it->valuestring) >= sizeof(h->value) ||
		    strpbrk(it->valuestring, "\r\n")) {
			tg_config_errf(errs, kpath, "must be a string of at most 255 bytes, no CR or LF");
			continue;
		}
		if (w->n_headers >= TG_MAX_HOOK_HEADERS) {
			tg_config_errf(errs, path, "at most %d headers", TG_MAX_HOOK_HEADERS);
			return;
		}
		h = &w->headers[w->n_headers++];
		memcpy(h->name, it->string, n + 1);
		strcpy(h->value, it->valuestring);
	}
}

static int choice(const cJSON *v, const char *const *choices)
{
	for (int i = 0; cJSON_IsString(v) && choices[i]; i++)
		if (!strcmp(v->valuestring, choices[i]))
			return i;
	return -1;
}

/* A string field that fits its buffer, else a reason. */
static const char *copy_str(const cJSON *v, char *out, size_t cap)
{
	if (!cJSON_IsString(v))
		return "expected a string";
	if (!v->valuestring[0] || strlen(v->valuestring) >= cap)
		return "must be a non-empty string that fits";
	strcpy(out, v->valuestring);
	return NULL;
}

static const char *parse_value(struct tg_webhook_config *w, int k, const cJSON *v,
			       const char *kpath, struct tg_config_errors *errs, char *buf)
{
	const char *reason;
	long long i;
	int c;

	switch (k) {
	case W_NAME:
		if (!cJSON_IsString(v) || !chars_in(v->valuestring, ALNUM "_.-", 1, TG_NAME_LEN - 1) ||
		    v->valuestring[0] == '.')
			return "must be 1..31 characters of A-Z a-z 0-9 _ . - (not starting with .)";
		strcpy(w->name, v->valuestring);
		return NULL;
	case W_URL:
		if (!cJSON_IsString(v))
			return "expected a string";
		if ((reason = check_url(v->valuestring)))
			return reason;
		strcpy(w->url, v->valuestring);
		return NULL;
	case W_FORMAT:
		if ((c = choice(v, format_names)) < 0)
			return "must be one of generic|alertmanager|slack|openai|plugin";
		w->format = c;
		return NULL;
	case W_SECRET_ENV:
		if (!cJSON_IsString(v))
			return "expected a string";
		if ((reason = read_env(v->valuestring, w->secret, sizeof(w->secret),
				       &w->secret_len, buf)))
			return reason;
		strcpy(w->secret_env, v->valuestring);
		return NULL;
	case W_SECRET_FILE:
		if (!cJSON_IsString(v) || strlen(v->valuestring) >= sizeof(w->secret_file))
			return "expected a path of at most 255 bytes";
		if (read_secret_file(v->valuestring, w, buf))
			return buf;
		strcpy(w->secret_file, v->valuestring);
		return NULL;
	case W_MIN_SEV:
		if ((c = cJSON_IsString(v) ? tg_severity_parse(v->valuestring) : -1) < 0)
			return "must be one of info|warning|critical";
		w->min_severity = c;
		return NULL;
	case W_TIMEOUT:
		if (!tg_config_json_int(v, 100, 120000, &i))
			return "must be an integer in 100..120000";
		w->timeout_ms = (uint32_t)i;
		return NULL;
	case W_RETRY_MAX:
		if (!tg_config_json_int(v, 1000, 3600000, &i))
			return "must be an integer in 1000..3600000";
		w->retry_max_ms = (uint32_t)i;
		return NULL;
	case W_HEADERS:
		parse_headers(w, v, kpath, errs);
		return NULL;
	case W_PLUGIN:
		if (!cJSON_IsString(v) || v->valuestring[0] != '/' ||
		    strlen(v->valuestring) >= sizeof(w->plugin))
			return "must be an absolute path of at most 255 bytes";
		strcpy(w->plugin, v->valuestring);
		return NULL;
	case W_OPTIONS: {
		char *txt;

		if (!cJSON_IsObject(v))
			return "expected an object (handed to the plugin's init)";
		if (!(txt = cJSON_PrintUnformatted(v)))
			return "out of memory";
		c = strlen(txt) < sizeof(w->options);
		if (c)
			strcpy(w->options, txt);
		cJSON_free(txt);
		return c ? NULL : "larger than 2047 bytes";
	}
	case W_MODEL:
		return copy_str(v, w->model, sizeof(w->model));
	case W_REDACT_URL:
		if (!cJSON_IsBool(v))
			return "expected true or false";
		w->redact_url = cJSON_IsTrue(v);
		return NULL;
	case W_API_KEY_ENV:
		if (!cJSON_IsString(v))
			return "expected a string";
		if ((reason = read_env(v->valuestring, w->api_key, sizeof(w->api_key), NULL, buf)))
			return reason;
		strcpy(w->api_key_env, v->valuestring);
		return NULL;
	}
	return "unknown key";
}

/* Keys that belong to one format only. */
static int key_format(int k)
{
	switch (k) {
	case W_PLUGIN: case W_OPTIONS: return TG_FMT_PLUGIN;
	case W_MODEL: case W_API_KEY_ENV: return TG_FMT_OPENAI;
	default: return -1;
	}
}

static void parse_entry(struct tg_webhook_config *w, const cJSON *obj, const char *path,
			struct tg_config_errors *errs)
{
	char kpath[PATH_LEN], buf[REASON_LEN];
	uint32_t seen = 0;
	const char *reason;
	const cJSON *it;
	int k;

	memset(w, 0, sizeof(*w));
	w->redact_url = true;
	w->timeout_ms = 5000;
	w->retry_max_ms = 60000;
	w->min_severity = TG_SEV_INFO;
	if (!cJSON_IsObject(obj)) {
		tg_config_errf(errs, path, "expected an object");
		return;
	}
	cJSON_ArrayForEach(it, obj) {
		tg_config_path_key(kpath, sizeof(kpath), path, it->string);
		for (k = 0; k < N_WKEYS && strcmp(wkeys[k], it->string); k++)
			;
		if (k == N_WKEYS) {
			tg_config_errf(errs, kpath, "unknown key");
			continue;
		}
		if (seen & (1u << k)) {
			tg_config_errf(errs, kpath, "duplicate key");
			continue;
		}
		seen |= 1u << k;
		buf[0] = '\0';
		if ((reason = parse_value(w, k, it, kpath, errs, buf)))
			tg_config_errf(errs, kpath, "%s", reason);
	}
	for (k = 0; k < N_WKEYS; k++) {
		if (!(seen & (1u << k)) || key_format(k) < 0 || key_format(k) == w->format)
			continue;
		tg_config_path_key(kpath, sizeof(kpath), path, wkeys[k]);
		tg_config_errf(errs, kpath, "only for format %s", format_names[key_format(k)]);
	}
	if (!(seen & (1u << W_NAME)))
		tg_config_errf(errs, path, "needs a name");
	if (!(seen & (1u << W_URL)))
		tg_config_errf(errs, path, "needs a url");
	if (!(seen & (1u << W_FORMAT)))
		tg_config_errf(errs, path, "needs a format (generic|alertmanager|slack|openai|plugin)");
	if ((seen & (1u << W_SECRET_ENV)) && (seen & (1u << W_SECRET_FILE)))
		tg_config_errf(errs, path, "secret_env and secret_file: at most one");
	if (w->format == TG_FMT_OPENAI && !(seen & (1u << W_MODEL)))
		tg_config_errf(errs, path, "format openai needs a model");
	if (w->format == TG_FMT_PLUGIN && !(seen & (1u << W_PLUGIN)))
		tg_config_errf(errs, path, "format plugin needs a plugin path");
	/* The agent loads a plugin as root at start: one that anyone but
	 * root could change is refused here, so check-config and run exit 2
	 * naming it (the loader checks again before dlopen). */
	if (w->format == TG_FMT_PLUGIN && w->plugin[0] &&
	    tg_fs_trusted_file(w->plugin, 0, NULL, buf, sizeof(buf)) < 0) {
		tg_config_path_key(kpath, sizeof(kpath), path, "plugin");
		tg_config_errf(errs, kpath, "%s", buf);
	}
}

void tg_config_webhooks_parse(struct tg_config *cfg, const cJSON *v, const char *path,
			      struct tg_config_errors *errs)
{
	char ipath[PATH_LEN];
	const cJSON *it;
	int i = 0;

	cfg->n_webhooks = 0;
	if (!cJSON_IsArray(v)) {
		tg_config_errf(errs, path, "expected an array of webhooks");
		return;
	}
	cJSON_ArrayForEach(it, v) {
		struct tg_webhook_config *w;

		if (i >= TG_MAX_WEBHOOKS) {
			tg_config_errf(errs, path, "at most %d webhooks", TG_MAX_WEBHOOKS);
			break;
		}
		snprintf(ipath, sizeof(ipath), "%s[%d]", path, i);
		w = &cfg->webhooks[i++];
		parse_entry(w, it, ipath, errs);
		for (int j = 0; j < i - 1 && w->name[0]; j++)
			if (!strcmp(cfg->webhooks[j].name, w->name))
				tg_config_errf(errs, ipath, "name \"%s\" is used by webhooks[%d]",
					       w->name, j);
	}
	cfg->n_webhooks = i;
}

/* Plugin options may hold credentials: printed with every string
 * redacted unless secrets are asked for. */
static void redact_strings(cJSON *o)
{
	cJSON *it;

	cJSON_ArrayForEach(it, o) {
		if (cJSON_IsString(it))
			cJSON_SetValuestring(it, REDACTED);
		else if (cJSON_IsObject(it) || cJSON_IsArray(it))
			redact_strings(it);
	}
}

static bool add_options(cJSON *o, const char *txt, unsigned flags)
{
	cJSON *v;

	if (!txt[0])
		return true;
	if (!(v = cJSON_Parse(txt)))
		return false;
	if (!(flags & TG_CONFIG_JSON_SECRETS))
		redact_strings(v);
	if (!cJSON_AddItemToObject(o, "options", v)) {
		cJSON_Delete(v);
		return false;
	}
	return true;
}

static bool add_str(cJSON *o, const char *k, const char *v)
{
	return !v[0] || cJSON_AddStringToObject(o, k, v);
}

/* Appends at most n bytes of s to out (len), keeping it terminated. */
static void cat_n(char *out, size_t len, const char *s, size_t n)
{
	size_t have = strlen(out);

	if (have + 1 >= len)
		return;
	if (n > len - have - 1)
		n = len - have - 1;
	memcpy(out + have, s, n);
	out[have + n] = '\0';
}

/* On a URL check_url accepted: scheme "://" [userinfo "@"] host[:port]
 * [path] ["?" query] ["#" fragment]. The userinfo ends at the authority's
 * last '@', so whatever a parser might take for userinfo is hidden. */
void tg_config_url_redacted(const char *url, char *out, size_t len)
{
	const char *auth = strstr(url, "://"), *end, *at = NULL, *p, *seg, *q;

	if (!len)
		return;
	out[0] = '\0';
	if (!auth) {
		cat_n(out, len, REDACTED, strlen(REDACTED));
		return;
	}
	auth += 3;
	cat_n(out, len, url, (size_t)(auth - url));
	end = auth + strcspn(auth, "/?#");
	for (p = auth; p < end; p++)
		if (*p == '@')
			at = p;
	if (at) {
		cat_n(out, len, REDACTED "@", strlen(REDACTED) + 1);
		auth = at + 1;
	}
	cat_n(out, len, auth, (size_t)(end - auth));
	q = end + strcspn(end, "?#"); /* the path ends here */
	if (*end == '/') {
		seg = end + 1 + strcspn(end + 1, "/?#");
		cat_n(out, len, end, (size_t)(seg - end));
		if (seg < q && *seg == '/') /* more path after the first segment */
			cat_n(out, len, seg + 1 < q ? "/" REDACTED : "/",
			      seg + 1 < q ? strlen(REDACTED) + 1 : 1);
	}
	if (*q == '?') {
		size_t n = strcspn(q + 1, "#");

		cat_n(out, len, n ? "?" REDACTED : "?", n ? strlen(REDACTED) + 1 : 1);
		q += 1 + n;
	}
	if (*q == '#' && q[1])
		cat_n(out, len, "#" REDACTED, strlen(REDACTED) + 1);
}

cJSON *tg_config_webhook_json(const struct tg_webhook_config *w, unsigned flags)
{
	cJSON *o = cJSON_CreateObject(), *h;
	const char *sev = tg_severity_name(w->min_severity);
	bool clear = !w->redact_url || (flags & TG_CONFIG_JSON_SECRETS);
	char url[TG_URL_LEN + 64];
	bool ok;

	if (clear)
		snprintf(url, sizeof(url), "%s", w->url);
	else
		tg_config_url_redacted(w->url, url, sizeof(url));
	ok = o && sev && w->format >= 0 && w->format <= TG_FMT_PLUGIN &&
		  add_str(o, "name", w->name) && add_str(o, "url", url) &&
		  (w->redact_url || cJSON_AddFalseToObject(o, "redact_url")) &&
		  add_str(o, "format", format_names[w->format]) &&
		  add_str(o, "secret_env", w->secret_env) && add_str(o, "secret_file", w->secret_file) &&
		  cJSON_AddStringToObject(o, "min_severity", sev) &&
		  cJSON_AddNumberToObject(o, "timeout_ms", w->timeout_ms) &&
		  cJSON_AddNumberToObject(o, "retry_max_ms", w->retry_max_ms) &&
		  add_str(o, "plugin", w->plugin) && add_options(o, w->options, flags) &&
		  add_str(o, "model", w->model) &&
		  add_str(o, "api_key_env", w->api_key_env);

	/* Header values often hold credentials (Authorization). */
	if (ok && w->n_headers > 0 && (ok = (h = cJSON_AddObjectToObject(o, "headers")) != NULL))
		for (int i = 0; ok && i < w->n_headers && i < TG_MAX_HOOK_HEADERS; i++)
			ok = cJSON_AddStringToObject(h, w->headers[i].name,
						     (flags & TG_CONFIG_JSON_SECRETS)
							     ? w->headers[i].value : REDACTED) != NULL;
	if (!ok) {
		cJSON_Delete(o);
		return NULL;
	}
	return o;
}

cJSON *tg_config_webhooks_json(const struct tg_config *cfg, unsigned flags)
{
	cJSON *a = cJSON_CreateArray(), *o;

	for (int i = 0; a && i < cfg->n_webhooks && i < TG_MAX_WEBHOOKS; i++) {
		if (!(o = tg_config_webhook_json(&cfg->webhooks[i], flags)) ||
		    !cJSON_AddItemToArray(a, o)) {
			cJSON_Delete(o);
			cJSON_Delete(a);
			return NULL;
		}
	}
	return a;
}
