/* cluster: the Redis that global quotas are shared through, and the rules
 * between it and quotas.clients[].global. The password comes from the
 * environment and never reaches the printed config or an error. */
#include "config/config.h"
#include "config/config_int.h"

#include <cjson/cJSON.h>
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define PATH_LEN sizeof(((struct tg_config_error *)0)->path)
#define ENV_CHARS "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_"
#define ID_CHARS ENV_CHARS ".:-"

static const char *const fallbacks[] = { "local_share", "open", "closed", NULL };

/* redis://host:port (port optional, 6379), host a name, IPv4 or [IPv6]. */
static const char *parse_url(struct tg_cluster_config *c, const char *s)
{
	const char *h, *end, *colon;
	size_t n;
	long port = 6379;
	char *e;

	if (!strncmp(s, "rediss://", 9))
		return "rediss:// is not supported yet (hiredis 0.14 has no TLS): use redis:// "
		       "through a TLS tunnel such as stunnel";
	if (strncmp(s, "redis://", 8))
		return "must be redis://host:port";
	h = s + 8;
	if (strchr(h, '@'))
		return "no credentials in the URL: put the password in an environment "
		       "variable named by cluster.password_env";
	end = h + strcspn(h, "/?#");
	if (*end && strcmp(end, "/"))
		return "must be redis://host:port (no database, path or query)";
	if (*h == '[') {
		const char *rb = memchr(h, ']', (size_t)(end - h));

		if (!rb)
			return "must be redis://host:port ([IPv6] in brackets)";
		n = (size_t)(rb - h - 1);
		if (!n || n >= sizeof(c->host) || strspn(h + 1, "0123456789abcdefABCDEF:.") < n)
			return "bad IPv6 address";
		memcpy(c->host, h + 1, n);
		c->host[n] = '\0';
		colon = rb + 1 < end ? rb + 1 : NULL;
		if (colon && *colon != ':')
			return "must be redis://host:port";
	} else {
		colon = memchr(h, ':', (size_t)(end - h));
		n = (size_t)((colon ? colon : end) - h);
		if (!n || n >= sizeof(c->host))
			return "missing host";
		memcpy(c->host, h, n);
		c->host[n] = '\0';
		if (c->host[strspn(c->host, "abcdefghijklmnopqrstuvwxyz"
					    "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-_")])
			return "bad host name";
	}
	if (colon) {
		if (colon + 1 == end || !isdigit((unsigned char)colon[1]))
			return "port must be 1..65535";
		errno = 0;
		port = strtol(colon + 1, &e, 10);
		if (errno || e != end || port < 1 || port > 65535)
			return "port must be 1..65535";
	}
	c->port = (uint16_t)port;
	return NULL;
}

static void parse_password_env(struct tg_cluster_config *c, const cJSON *v, const char *path,
			       struct tg_config_errors *errs)
{
	const char *name = cJSON_IsString(v) ? v->valuestring : NULL, *val;
	size_t n;

	if (cJSON_IsNull(v))
		return;
	if (!name || !tg_cfg_env_name_ok(name)) {
		tg_config_errf(errs, path, TG_CFG_ENV_NAME_BAD);
		return;
	}
	strcpy(c->password_env, name); /* shorter than TG_ENV_NAME_LEN: checked */
	if (!(val = getenv(name)) || !*val) {
		tg_config_errf(errs, path, "environment variable %s is not set", name);
		return;
	}
	if ((n = strlen(val)) > TG_SECRET_MAX) {
		tg_config_errf(errs, path, "environment variable %s: at most %d bytes", name,
			       TG_SECRET_MAX);
		return;
	}
	memcpy(c->password, val, n + 1);
}

void tg_config_cluster_parse(struct tg_config *cfg, const cJSON *v, const char *path,
			     struct tg_config_errors *errs)
{
	struct tg_cluster_config *c = &cfg->cluster;
	char kpath[PATH_LEN];
	long long n;
	const cJSON *it;
	const char *reason;
	bool redis = false;
	int i;

	memset(c, 0, sizeof(*c));
	if (cJSON_IsNull(v))
		return;
	if (!cJSON_IsObject(v)) {
		tg_config_errf(errs, path, "expected null or an object");
		return;
	}
	c->enabled = true;
	c->sync_interval_ms = 100;
	c->expected_nodes = 1;
	c->fallback = TG_FALLBACK_LOCAL_SHARE;
	cJSON_ArrayForEach(it, v) {
		const char *s = cJSON_IsString(it) ? it->valuestring : NULL;

		tg_config_path_key(kpath, sizeof(kpath), path, it->string);
		reason = NULL;
		if (!strcmp(it->string, "redis")) {
			redis = true;
			reason = s ? parse_url(c, s) : "expected a string: redis://host:port";
		} else if (!strcmp(it->string, "node_id")) {
			if (!s || !*s || strlen(s) >= TG_NODE_ID_LEN || s[strspn(s, ID_CHARS)])
				reason = "must be 1..63 characters of A-Z a-z 0-9 _ . : -";
			else
				strcpy(c->node_id, s);
		} else if (!strcmp(it->string, "sync_interval_ms")) {
			if (!tg_config_json_int(it, 10, 60000, &n))
				reason = "must be an integer in 10..60000";
			else
				c->sync_interval_ms = (uint32_t)n;
		} else if (!strcmp(it->string, "password_env")) {
			parse_password_env(c, it, kpath, errs);
		} else if (!strcmp(it->string, "fallback")) {
			for (i = 0; s && fallbacks[i] && strcmp(s, fallbacks[i]); i++)
				;
			if (!s || !fallbacks[i])
				reason = "must be one of local_share|open|closed";
			else
				c->fallback = i;
		} else if (!strcmp(it->string, "expected_nodes")) {
			if (!tg_config_json_int(it, 1, 1024, &n))
				reason = "must be an integer in 1..1024";
			else
				c->expected_nodes = (uint32_t)n;
		} else {
			reason = "unknown key";
		}
		if (reason)
			tg_config_errf(errs, kpath, "%s", reason);
	}
	if (!redis)
		tg_config_errf(errs, path, "missing redis (redis://host:port)");
}

void tg_config_cluster_check(struct tg_config *cfg, struct tg_config_errors *errs)
{
	struct tg_cluster_config *c = &cfg->cluster;
	char path[64], host[TG_NODE_ID_LEN];

	for (int i = 0; i < cfg->n_quotas; i++) {
		const struct tg_quota_entry *q = &cfg->quotas[i];

		if (!q->global)
			continue;
		snprintf(path, sizeof(path), "$.quotas.clients[%d].global", i);
		if (!c->enabled)
			tg_config_errf(errs, path, "needs cluster (the Redis it is shared through)");
		else if (q->action == TG_ACTION_DENY || q->action == TG_ACTION_EXEMPT)
			tg_config_errf(errs, path, "makes no sense with action %s",
				       q->action == TG_ACTION_DENY ? "deny" : "exempt");
		else if (!q->limits.requests_per_sec)
			tg_config_errf(errs, path, "needs requests_per_sec (the fleet-wide rate)");
		else if (q->limits.bytes_per_sec || q->limits.connections_per_sec ||
			 q->limits.max_connections)
			tg_config_errf(errs, path, "not supported yet with bytes_per_sec, "
				       "connections_per_sec or max_connections (only requests are "
				       "counted fleet-wide)");
		else if (q->match == TG_MATCH_CIDR && q->share == TG_SHARE_PER_ADDRESS)
			tg_config_errf(errs, path, "not supported yet with share per_address");
	}
	if (!c->enabled || c->node_id[0])
		return;
	/* Two agents on one host differ by instance. */
	if (gethostname(host, sizeof(host)) || !host[0])
		strcpy(host, "node");
	host[sizeof(host) - 1] = '\0';
	for (char *p = host; *p; p++)
		if (!strchr(ID_CHARS, *p))
			*p = '_';
	snprintf(c->node_id, sizeof(c->node_id), "%.*s-%s",
		 (int)(sizeof(c->node_id) - strlen(cfg->instance) - 2), host, cfg->instance);
}

/* The settings, the password's variable name but never its value. */
cJSON *tg_config_cluster_json(const struct tg_config *cfg, unsigned flags)
{
	const struct tg_cluster_config *c = &cfg->cluster;
	char url[TG_HOST_LEN + 24];
	cJSON *o;

	(void)flags;
	if (!c->enabled)
		return cJSON_CreateNull();
	if (c->fallback < 0 || c->fallback > TG_FALLBACK_CLOSED || !(o = cJSON_CreateObject()))
		return NULL;
	snprintf(url, sizeof(url), strchr(c->host, ':') ? "redis://[%s]:%u" : "redis://%s:%u",
		 c->host, c->port);
	if (!cJSON_AddStringToObject(o, "redis", url) ||
	    !cJSON_AddStringToObject(o, "node_id", c->node_id) ||
	    !cJSON_AddNumberToObject(o, "sync_interval_ms", c->sync_interval_ms) ||
	    !(c->password_env[0] ? cJSON_AddStringToObject(o, "password_env", c->password_env)
				 : cJSON_AddNullToObject(o, "password_env")) ||
	    !cJSON_AddStringToObject(o, "fallback", fallbacks[c->fallback]) ||
	    !cJSON_AddNumberToObject(o, "expected_nodes", c->expected_nodes)) {
		cJSON_Delete(o);
		return NULL;
	}
	return o;
}
