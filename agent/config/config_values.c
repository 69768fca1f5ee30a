/* Validators of single config values, for the option table in config.c:
 * names, addresses, list elements, the cgroup path. */
#include "config/config.h"
#include "config/config_int.h"
#include "lib/addr.h"

#include <arpa/inet.h>
#include <cjson/cJSON.h>
#include <ctype.h>
#include <errno.h>
#include <grp.h>
#include <netinet/in.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *tg_config_check_instance(const char *in, char *out, size_t len)
{
	size_t n = strspn(in, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-");

	if (n < 1 || n >= len || in[n])
		return "must be 1..31 characters of A-Z a-z 0-9 _ -";
	memcpy(out, in, n + 1);
	return NULL;
}

/* "host:port" with a dotted IPv4 host, a [bracketed] IPv6 host or
 * "localhost" (stored as 127.0.0.1, so the API never resolves names).
 * Whether a non-loopback host is allowed depends on api.token_env: a
 * cross-check in config.c. */
const char *tg_cfg_check_listen(const char *in, char *out, size_t len)
{
	struct sockaddr_storage ss;
	const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)&ss;
	const struct sockaddr_in *s4 = (const struct sockaddr_in *)&ss;

	if (tg_addr_parse_listen(in, &ss) ||
	    (ss.ss_family == AF_INET ? s4->sin_port : s6->sin6_port) == 0)
		return "must be \"host:port\" with an IPv4 address, [IPv6] or localhost, port 1..65535";
	if (!strncmp(in, "localhost:", 10))
		snprintf(out, len, "127.0.0.1:%s", in + 10);
	else
		snprintf(out, len, "%s", in);
	return NULL;
}

/* A user or group name as the config takes it: 1..32 of [A-Za-z0-9_.-],
 * not starting with '-' (an option to a tool), not all digits (an id). Its
 * length, or 0 when it is not one. */
static size_t account_name_len(const char *name)
{
	size_t n = strspn(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-");

	if (n < 1 || n >= TG_USER_LEN || name[n] || name[0] == '-' ||
	    strspn(name, "0123456789") == n)
		return 0;
	return n;
}

#define UNIX_PREFIX "unix:"

/* "unix:/path": absolute, a socket's name (no trailing '/'), visible
 * ASCII, short enough for sun_path. */
static bool unix_path_ok(const char *p)
{
	size_t n = strlen(p);

	if (p[0] != '/' || n < 2 || n + strlen(UNIX_PREFIX) >= TG_CHECK_LISTEN_LEN ||
	    p[n - 1] == '/')
		return false;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)p[i] <= 0x20 || (unsigned char)p[i] >= 0x7f)
			return false;
	return true;
}

void tg_cfg_parse_check_listen(struct tg_config *cfg, const struct cJSON *v, const char *path,
			       struct tg_config_errors *errs)
{
	const char *s = cJSON_IsString(v) ? v->valuestring : NULL;
	char buf[TG_CHECK_LISTEN_LEN];

	memset(cfg->api_check_listen, 0, sizeof(cfg->api_check_listen));
	if (cJSON_IsNull(v))
		return;
	if (!s) {
		tg_config_errf(errs, path, "expected null, \"unix:/path\" or \"host:port\"");
		return;
	}
	if (!strncmp(s, UNIX_PREFIX, strlen(UNIX_PREFIX))) {
		if (!unix_path_ok(s + strlen(UNIX_PREFIX)))
			tg_config_errf(errs, path, "must be \"unix:\" and an absolute path of a "
				       "socket, at most %zu characters, no spaces",
				       TG_CHECK_LISTEN_LEN - 1 - strlen(UNIX_PREFIX));
		else
			memcpy(cfg->api_check_listen, s, strlen(s) + 1);
		return;
	}
	if (strlen(s) >= sizeof(buf) || tg_cfg_check_listen(s, buf, sizeof(buf))) {
		tg_config_errf(errs, path, "must be \"unix:/path\" or \"host:port\" with an IPv4 "
			       "address, [IPv6] or localhost, port 1..65535");
		return;
	}
	memcpy(cfg->api_check_listen, buf, strlen(buf) + 1);
}

struct cJSON *tg_cfg_check_listen_json(const struct tg_config *cfg, unsigned flags)
{
	(void)flags;
	return cfg->api_check_listen[0] ? cJSON_CreateString(cfg->api_check_listen)
					: cJSON_CreateNull();
}

void tg_cfg_parse_check_group(struct tg_config *cfg, const struct cJSON *v, const char *path,
			      struct tg_config_errors *errs)
{
	const char *name = cJSON_IsString(v) ? v->valuestring : NULL;
	struct group gr, *res = NULL;
	char buf[4096];
	size_t n;
	int rc;

	memset(cfg->api_check_group, 0, sizeof(cfg->api_check_group));
	cfg->api_check_gid = 0;
	if (cJSON_IsNull(v))
		return;
	if (!name || !(n = account_name_len(name))) {
		tg_config_errf(errs, path, "must be null or a group name: 1..32 characters of "
			       "A-Z a-z 0-9 _ . -, not all digits");
		return;
	}
	rc = getgrnam_r(name, &gr, buf, sizeof(buf), &res);
	if (rc || !res) {
		tg_config_errf(errs, path, "no such group: %s%s%s", name, rc ? ": " : "",
			       rc ? strerror(rc) : "");
		return;
	}
	memcpy(cfg->api_check_group, name, n + 1);
	cfg->api_check_gid = (uint32_t)gr.gr_gid;
}

struct cJSON *tg_cfg_check_group_json(const struct tg_config *cfg, unsigned flags)
{
	(void)flags;
	return cfg->api_check_group[0] ? cJSON_CreateString(cfg->api_check_group)
				       : cJSON_CreateNull();
}

static int port_of(const char *listen)
{
	struct sockaddr_storage ss;

	if (tg_addr_parse_listen(listen, &ss))
		return -1;
	return ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
					      : ((struct sockaddr_in *)&ss)->sin_port);
}

/* A TCP check listener follows api.listen's token rule and needs a port of
 * its own; a group is a Unix socket's. */
void tg_cfg_check_listen_cross(struct tg_config *cfg, struct tg_config_errors *errs)
{
	const char *l = cfg->api_check_listen;
	bool is_unix = !strncmp(l, UNIX_PREFIX, strlen(UNIX_PREFIX));

	if (cfg->api_check_group[0] && !is_unix)
		tg_config_errf(errs, "$.api.check_group", "needs a Unix socket in api.check_listen "
			       "(\"unix:/path\")");
	if (!l[0] || is_unix)
		return;
	if (port_of(l) == port_of(cfg->api_listen))
		tg_config_errf(errs, "$.api.check_listen", "needs a port of its own (api.listen has "
			       "port %d)", port_of(cfg->api_listen));
	if (!cfg->api_token_env[0] && !tg_addr_listen_is_loopback(l))
		tg_config_errf(errs, "$.api.check_listen", "a non-loopback address needs "
			       "api.token_env (a bearer token)");
}

bool tg_cfg_env_name_ok(const char *name)
{
	size_t n = strspn(name, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_");

	return n >= 1 && n < TG_ENV_NAME_LEN && !name[n] && !isdigit((unsigned char)name[0]);
}

/* api.token_env: null, or the name of a variable holding the API's bearer
 * token, read once here like the other secrets. The token travels in a
 * header, hence visible ASCII only; it is all that stands between a local
 * user (or the network) and the API, hence at least 16 bytes. */
void tg_cfg_parse_token_env(struct tg_config *cfg, const struct cJSON *v, const char *path,
			    struct tg_config_errors *errs)
{
	const char *name = cJSON_IsString(v) ? v->valuestring : NULL, *val;
	size_t n;

	cfg->api_token_env[0] = cfg->api_token[0] = '\0';
	if (cJSON_IsNull(v))
		return;
	if (!name) {
		tg_config_errf(errs, path, "expected null or an environment variable name");
		return;
	}
	if (!tg_cfg_env_name_ok(name)) {
		tg_config_errf(errs, path, TG_CFG_ENV_NAME_BAD);
		return;
	}
	/* kept even when the value is bad: the listen rule sees a token asked for */
	memcpy(cfg->api_token_env, name, strlen(name) + 1);
	if (!(val = getenv(name)) || !*val) {
		tg_config_errf(errs, path, "environment variable %s is not set", name);
		return;
	}
	for (n = 0; val[n]; n++)
		if ((unsigned char)val[n] < 0x21 || (unsigned char)val[n] > 0x7e)
			break;
	if (val[n] || n > TG_SECRET_MAX || n < TG_API_TOKEN_MIN) {
		tg_config_errf(errs, path, "environment variable %s must hold %d..%d visible "
			       "ASCII characters (no spaces)%s", name, TG_API_TOKEN_MIN, TG_SECRET_MAX,
			       !val[n] && n < TG_API_TOKEN_MIN ? ": a shorter token is guessed" : "");
		return;
	}
	memcpy(cfg->api_token, val, n + 1);
}

/* The variable's name only: the token itself is never printed. */
struct cJSON *tg_cfg_token_env_json(const struct tg_config *cfg, unsigned flags)
{
	return cfg->api_token_env[0] ? cJSON_CreateString(cfg->api_token_env) : cJSON_CreateNull();
}

/* An absolute directory path: the spool and dead letters live under it. */
const char *tg_cfg_check_state_dir(const char *in, char *out, size_t len)
{
	size_t n = strlen(in);

	if (in[0] != '/' || n >= len || !strcmp(in, "/"))
		return "must be an absolute directory path (not /) of at most 255 bytes";
	for (const unsigned char *p = (const unsigned char *)in; *p; p++)
		if (*p < ' ' || *p == 0x7f)
			return "must not hold control characters";
	while (n > 1 && in[n - 1] == '/')
		n--;
	snprintf(out, len, "%.*s", (int)n, in);
	return NULL;
}

/* A user name as useradd accepts it (and nothing a log line or a path
 * could trip on), looked up now: a user that does not exist is a config
 * error naming it, not a failure after the programs are loaded. */
void tg_cfg_parse_user(struct tg_config *cfg, const struct cJSON *v, const char *path,
		       struct tg_config_errors *errs)
{
	const char *name = cJSON_IsString(v) ? v->valuestring : NULL;
	struct passwd pw, *res = NULL;
	char buf[4096];
	size_t n;
	int rc;

	cfg->user[0] = '\0';
	cfg->user_uid = cfg->user_gid = 0;
	if (cJSON_IsNull(v))
		return;
	if (!name) {
		tg_config_errf(errs, path, "expected a user name or null");
		return;
	}
	if (!(n = account_name_len(name))) {
		tg_config_errf(errs, path, "must be a user name: 1..32 characters of A-Z a-z "
			       "0-9 _ . -, not all digits");
		return;
	}
	rc = getpwnam_r(name, &pw, buf, sizeof(buf), &res);
	if (rc || !res) {
		tg_config_errf(errs, path, "no such user: %s%s%s", name, rc ? ": " : "",
			       rc ? strerror(rc) : "");
		return;
	}
	memcpy(cfg->user, name, n + 1);
	cfg->user_uid = (uint32_t)pw.pw_uid;
	cfg->user_gid = (uint32_t)pw.pw_gid;
}

struct cJSON *tg_cfg_user_json(const struct tg_config *cfg, unsigned flags)
{
	(void)flags;
	return cfg->user[0] ? cJSON_CreateString(cfg->user) : cJSON_CreateNull();
}

/* The kernel's dev_valid_name() rules, plus no control characters. */
static bool iface_valid(const char *s)
{
	size_t n = strlen(s);

	if (n < 1 || n >= TG_IFNAME_LEN || !strcmp(s, ".") || !strcmp(s, ".."))
		return false;
	for (const unsigned char *p = (const unsigned char *)s; *p; p++)
		if (*p <= ' ' || *p == 0x7f || *p == '/' || *p == ':')
			return false;
	return true;
}

/* Elements are added one by one; opt.max is checked before each call. */
const char *tg_cfg_add_iface(struct tg_config *cfg, const cJSON *it, char *buf, size_t len)
{
	if (!cJSON_IsString(it) || !iface_valid(it->valuestring))
		return "must be an interface name: 1..15 characters, no '/', ':' or whitespace";
	for (int j = 0; j < cfg->n_interfaces; j++)
		if (!strcmp(cfg->interfaces[j], it->valuestring)) {
			snprintf(buf, len, "duplicate interface %s", it->valuestring);
			return buf;
		}
	strcpy(cfg->interfaces[cfg->n_interfaces++], it->valuestring);
	return NULL;
}

/* Kept sorted as they come. */
const char *tg_cfg_add_port(struct tg_config *cfg, const cJSON *it, char *buf, size_t len)
{
	long long port;
	int j;

	if (!tg_config_json_int(it, 1, 65535, &port))
		return "must be an integer in 1..65535";
	for (j = 0; j < cfg->n_ports && cfg->ports[j] < port; j++)
		;
	if (j < cfg->n_ports && cfg->ports[j] == port) {
		snprintf(buf, len, "duplicate port %lld", port);
		return buf;
	}
	memmove(&cfg->ports[j + 1], &cfg->ports[j],
		(size_t)(cfg->n_ports - j) * sizeof(cfg->ports[0]));
	cfg->ports[j] = (uint16_t)port;
	cfg->n_ports++;
	return NULL;
}

/* The kernel compares lower case bytes (OR 0x20), hence the narrow set. */
const char *tg_cfg_add_header(struct tg_config *cfg, const cJSON *it, char *buf, size_t len)
{
	const char *s = cJSON_IsString(it) ? it->valuestring : "";
	size_t n = strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-");
	char name[TG_KEY_HEADER_LEN];

	if (n < 1 || n >= sizeof(name) || s[n])
		return "must be a header name: 1..15 characters of A-Z a-z 0-9 -";
	for (size_t k = 0; k <= n; k++)
		name[k] = (char)tolower((unsigned char)s[k]);
	for (int j = 0; j < cfg->n_key_headers; j++)
		if (!strcmp(cfg->key_headers[j], name)) {
			snprintf(buf, len, "duplicate header %s", name);
			return buf;
		}
	memcpy(cfg->key_headers[cfg->n_key_headers++], name, n + 1);
	return NULL;
}

/* gateway.cgroup: null, "root" (the cgroup2 mount) or an absolute path. */
void tg_cfg_parse_cgroup(struct tg_config *cfg, const struct cJSON *v, const char *path,
			 struct tg_config_errors *errs)
{
	const char *s = cJSON_IsString(v) ? v->valuestring : NULL;

	cfg->cgroup[0] = '\0';
	if (cJSON_IsNull(v))
		return;
	if (!s)
		tg_config_errf(errs, path, "expected null, \"root\" or an absolute path");
	else if (strcmp(s, "root") && (s[0] != '/' || strstr(s, "/../") ||
				       strlen(s) >= sizeof(cfg->cgroup) ||
				       (strlen(s) >= 3 && !strcmp(s + strlen(s) - 3, "/..")) ||
				       strspn(s, "\t\r\n") != 0))
		tg_config_errf(errs, path, "must be \"root\" or an absolute path without \"..\", "
			       "shorter than 256 bytes");
	else
		snprintf(cfg->cgroup, sizeof(cfg->cgroup), "%s", s);
}

struct cJSON *tg_cfg_cgroup_json(const struct tg_config *cfg, unsigned flags)
{
	return cfg->cgroup[0] ? cJSON_CreateString(cfg->cgroup) : cJSON_CreateNull();
}


/* identity.trusted_proxies: CIDRs whose X-Forwarded-For /v1/check
 * believes. */
void tg_cfg_parse_trusted(struct tg_config *cfg, const cJSON *v, const char *path,
			  struct tg_config_errors *errs)
{
	char ipath[160];
	const cJSON *it;
	int i = 0;

	cfg->n_trusted = 0;
	if (!cJSON_IsArray(v)) {
		tg_config_errf(errs, path, "expected an array of CIDRs");
		return;
	}
	cJSON_ArrayForEach(it, v) {
		struct tg_cidr *c;
		int rc;

		snprintf(ipath, sizeof(ipath), "%s[%d]", path, i++);
		if (cfg->n_trusted >= TG_MAX_TRUSTED) {
			tg_config_errf(errs, path, "at most %d CIDRs", TG_MAX_TRUSTED);
			return;
		}
		if (!cJSON_IsString(it)) {
			tg_config_errf(errs, ipath, "expected a CIDR string");
			continue;
		}
		c = &cfg->trusted[cfg->n_trusted];
		rc = tg_cidr_parse(it->valuestring, c->net, &c->prefix_len);
		if (rc == -ERANGE) {
			char want[TG_CIDR_STR_LEN];

			tg_cidr_format(c->net, c->prefix_len, want, sizeof(want));
			tg_config_errf(errs, ipath, "host bits set (did you mean %s?)", want);
		} else if (rc) {
			tg_config_errf(errs, ipath, "must be a CIDR (198.18.0.0/15, fd00::/8) or an address");
		} else {
			cfg->n_trusted++;
		}
	}
}

cJSON *tg_cfg_trusted_json(const struct tg_config *cfg, unsigned flags)
{
	cJSON *a = cJSON_CreateArray();
	char buf[TG_CIDR_STR_LEN];

	for (int i = 0; a && i < cfg->n_trusted && i < TG_MAX_TRUSTED; i++) {
		tg_cidr_format(cfg->trusted[i].net, cfg->trusted[i].prefix_len, buf, sizeof(buf));
		if (!cJSON_AddItemToArray(a, cJSON_CreateString(buf))) {
			cJSON_Delete(a);
			return NULL;
		}
	}
	return a;
}

bool tg_config_trusted(const struct tg_config *cfg, const uint32_t addr[4])
{
	for (int i = 0; i < cfg->n_trusted && i < TG_MAX_TRUSTED; i++) {
		struct tg_addr a;

		/* tg_cidr_parse stored the network with its host bits clear */
		memcpy(a.w, addr, sizeof(a.w));
		tg_addr_mask(&a, cfg->trusted[i].prefix_len);
		if (!memcmp(a.w, cfg->trusted[i].net, sizeof(a.w)))
			return true;
	}
	return false;
}
