/* The config file: JSON text checked against one table of options. Every
 * problem is collected with its JSON path, so one check-config run shows all
 * of them, and a bad reload leaves the running config untouched. */
#include "config/config.h"
#include "config/config_int.h"
#include "lib/addr.h"

#include <arpa/inet.h>
#include <cjson/cJSON.h>
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define TG_CONFIG_MAX_BYTES (1u << 20)

enum opt_type {
	OPT_SECTION, /* an object holding more options */
	OPT_STR,     /* char[] field, validated and normalized by str_check */
	OPT_U32,     /* uint32_t field, min..max */
	OPT_ENUM,    /* int field, index into choices */
	OPT_BOOL,    /* bool field */
	OPT_LIST,    /* an array field of min..max elements, see struct list */
	OPT_CUSTOM,  /* parsed and printed by its own functions */
	OPT_NULL,    /* a key whose only supported value so far is null */
	OPT_LATER,   /* its feature has not landed: rejected when present */
};

/* An array option: the field holds the elements, an int counts them. */
struct list {
	const char *what; /* in "at most 32 interfaces" */
	size_t count_off;
	size_t elem;      /* bytes per element */
	bool strings;     /* char[elem] elements, else uint16_t */
	/* Stores one element, or returns why not (formatted into buf). */
	const char *(*add)(struct tg_config *cfg, const cJSON *it, char *buf, size_t len);
};

struct opt {
	const char *name; /* dotted, as in the config reference */
	enum opt_type type;
	long long min, max;
	size_t off, size;
	long long def;       /* OPT_U32, OPT_ENUM, OPT_BOOL */
	const char *def_str; /* OPT_STR */
	const char *const *choices;
	/* Return a reason, or NULL after writing the normalized value. */
	const char *(*str_check)(const char *in, char *out, size_t len);
	const struct list *list;
	void (*parse)(struct tg_config *cfg, const cJSON *v, const char *path,
		      struct tg_config_errors *errs);
	cJSON *(*print)(const struct tg_config *cfg, unsigned flags);
	bool restart;
	bool null_ok; /* OPT_LATER: null means "off" and is accepted */
};

#define COUNT(m) offsetof(struct tg_config, m)
#define ELEM(m) sizeof(((struct tg_config *)0)->m[0])

static const struct list ifaces_list = {
	"interfaces", COUNT(n_interfaces), ELEM(interfaces), true, tg_cfg_add_iface
};
static const struct list ports_list = { "ports", COUNT(n_ports), ELEM(ports), false, tg_cfg_add_port };
static const struct list headers_list = {
	"headers", COUNT(n_key_headers), ELEM(key_headers), true, tg_cfg_add_header
};

#define FIELD(m) .off = offsetof(struct tg_config, m), \
		 .size = sizeof(((struct tg_config *)0)->m)
#define SECTION(n) { .name = n, .type = OPT_SECTION }
#define LATER(n) { .name = n, .type = OPT_LATER }
#define STR(n, m, d, chk, rs) \
	{ .name = n, .type = OPT_STR, FIELD(m), .def_str = d, .str_check = chk, .restart = rs }
#define U32(n, m, lo, hi, d, rs) \
	{ .name = n, .type = OPT_U32, FIELD(m), .min = lo, .max = hi, .def = d, .restart = rs }
#define ENUM(n, m, d, ch) { .name = n, .type = OPT_ENUM, FIELD(m), .def = d, .choices = ch }
#define BOOL(n, m, d) { .name = n, .type = OPT_BOOL, FIELD(m), .def = d }
#define LIST(n, m, l, lo, hi) \
	{ .name = n, .type = OPT_LIST, FIELD(m), .list = &l, .min = lo, .max = hi }
#define CUSTOM(n, p, pr) { .name = n, .type = OPT_CUSTOM, .parse = p, .print = pr }

static const char *const modes[] = { "monitor", "enforce", NULL };
static const char *const levels[] = { "error", "warn", "info", "debug", NULL };
static const char *const formats[] = { "logfmt", "json", NULL };
static const uint16_t default_ports[] = { 80, 443, 4000, 8000, 8080, 8099, 9080 };
static const char *const default_headers[] = { "authorization", "x-api-key", "api-key" };

/* Order is the order of tg_config_to_json; a section precedes its keys.
 * Landing a feature turns its LATER row into a typed one. */
static const struct opt opts[] = {
	STR("instance", instance, "default", tg_config_check_instance, true),
	SECTION("gateway"),
	LIST("gateway.interfaces", interfaces, ifaces_list, 0, TG_MAX_INTERFACES),
	LIST("gateway.ports", ports, ports_list, 1, TG_MAX_PORTS),
	U32("gateway.max_clients", max_clients, 1024, 16777216, 262144, true),
	CUSTOM("gateway.cgroup", tg_cfg_parse_cgroup, tg_cfg_cgroup_json),
	{ .name = "gateway.tls", .type = OPT_CUSTOM, FIELD(tls), .restart = true,
	  .parse = tg_config_tls_parse, .print = tg_config_tls_json },
	ENUM("mode", mode, TG_MODE_MONITOR, modes),
	SECTION("identity"),
	U32("identity.ipv6_prefix", ipv6_prefix, 1, 128, 64, false),
	LIST("identity.api_key_headers", key_headers, headers_list, 1, TG_MAX_KEY_HEADERS),
	U32("identity.header_scan_bytes", header_scan_bytes, 64, TG_SCAN_MAX, 1024, false),
	BOOL("identity.proxy_protocol", proxy_protocol, false),
	CUSTOM("identity.trusted_proxies", tg_cfg_parse_trusted, tg_cfg_trusted_json),
	U32("identity.body_scan_bytes", body_scan_bytes, TG_BODY_SCAN_MIN, TG_BODY_SCAN_MAX, 512,
	    false),
	CUSTOM("routes", tg_config_routes_parse, tg_config_routes_json),
	CUSTOM("models", tg_config_models_parse, tg_config_models_json),
	SECTION("quotas"),
	CUSTOM("quotas.default", tg_config_quotas_parse_default, tg_config_quotas_default_json),
	CUSTOM("quotas.clients", tg_config_quotas_parse_clients, tg_config_quotas_clients_json),
	CUSTOM("anomaly", tg_config_anomaly_parse, tg_config_anomaly_json),
	CUSTOM("webhooks", tg_config_webhooks_parse, tg_config_webhooks_json),
	SECTION("api"),
	STR("api.listen", api_listen, "127.0.0.1:9470", tg_cfg_check_listen, true),
	{ .name = "api.check_listen", .type = OPT_CUSTOM, FIELD(api_check_listen), .restart = true,
	  .parse = tg_cfg_parse_check_listen, .print = tg_cfg_check_listen_json },
	{ .name = "api.check_group", .type = OPT_CUSTOM, FIELD(api_check_group), .restart = true,
	  .parse = tg_cfg_parse_check_group, .print = tg_cfg_check_group_json },
	{ .name = "api.token_env", .type = OPT_CUSTOM, FIELD(api_token_env), .restart = true,
	  .parse = tg_cfg_parse_token_env, .print = tg_cfg_token_env_json },
	U32("api.check_deny_status", check_deny_status, 400, 499, 429, false),
	U32("api.check_deny_delay_ms", check_deny_delay_ms, 0, 1000, 0, false),
	U32("api.top_n", api_top_n, 1, 10000, 50, false),
	STR("state_dir", state_dir, "/var/lib/tollgate", tg_cfg_check_state_dir, true),
	BOOL("keep", keep, false),
	{ .name = "user", .type = OPT_CUSTOM, FIELD(user), .restart = true,
	  .parse = tg_cfg_parse_user, .print = tg_cfg_user_json },
	SECTION("log"),
	ENUM("log.level", log_level, TG_LOG_INFO, levels),
	ENUM("log.format", log_format, TG_LOG_LOGFMT, formats),
	CUSTOM("log.requests", tg_config_reqlog_parse, tg_config_reqlog_json),
	{ .name = "cluster", .type = OPT_CUSTOM, FIELD(cluster), .restart = true,
	  .parse = tg_config_cluster_parse, .print = tg_config_cluster_json },
};

#define N_OPTS (sizeof(opts) / sizeof(opts[0]))
_Static_assert(N_OPTS <= 64, "the seen-key mask in walk() is 64 bits");

struct ctx {
	struct tg_config *cfg;
	struct tg_config_errors *errs;
};

#define PATH_LEN sizeof(((struct tg_config_error *)0)->path)

#define errf(c, ...) tg_config_errf((c)->errs, __VA_ARGS__)

static void parse_list(struct ctx *c, const struct opt *o, const cJSON *v, const char *path)
{
	const struct list *l = o->list;
	int *count = (int *)((char *)c->cfg + l->count_off), i = 0;
	char ipath[PATH_LEN + 16], buf[64]; /* + "[index]" */
	const char *reason;
	const cJSON *it;

	if (!cJSON_IsArray(v)) {
		errf(c, path, "expected an array of %s", l->what);
		return;
	}
	memset((char *)c->cfg + o->off, 0, o->size);
	*count = 0;
	cJSON_ArrayForEach(it, v) {
		if (i >= o->max) {
			errf(c, path, "at most %lld %s", o->max, l->what);
			break;
		}
		snprintf(ipath, sizeof(ipath), "%s[%d]", path, i++);
		if ((reason = l->add(c->cfg, it, buf, sizeof(buf))))
			errf(c, ipath, "%s", reason);
	}
	if (i < o->min)
		errf(c, path, "must not be empty");
}

static void walk(struct ctx *c, const cJSON *obj, const char *prefix, const char *path);

static void apply(struct ctx *c, const struct opt *o, const cJSON *v, const char *path)
{
	char *field = (char *)c->cfg + o->off;
	const char *reason = NULL;
	char buf[128];
	size_t n = 0;
	long long i;

	switch (o->type) {
	case OPT_SECTION:
		if (cJSON_IsObject(v))
			walk(c, v, o->name, path);
		else
			reason = "expected an object";
		break;
	case OPT_STR:
		if (!cJSON_IsString(v))
			reason = "expected a string";
		else if (!(reason = o->str_check(v->valuestring, buf,
						  o->size < sizeof(buf) ? o->size : sizeof(buf))))
			strncpy(field, buf, o->size); /* zero-fills: configs compare with memcmp */
		break;
	case OPT_U32:
		if (tg_config_json_int(v, o->min, o->max, &i))
			*(uint32_t *)field = (uint32_t)i;
		else
			errf(c, path, "must be an integer in %lld..%lld", o->min, o->max);
		break;
	case OPT_ENUM:
		for (i = 0; o->choices[i]; i++)
			if (cJSON_IsString(v) && !strcmp(v->valuestring, o->choices[i]))
				break;
		if (!o->choices[i]) {
			for (int k = 0; o->choices[k] && n < sizeof(buf); k++)
				n += (size_t)snprintf(buf + n, sizeof(buf) - n, "%s%s", k ? "|" : "",
						      o->choices[k]);
			errf(c, path, "must be one of %s", buf);
		} else {
			*(int *)field = (int)i;
		}
		break;
	case OPT_BOOL:
		if (cJSON_IsBool(v))
			*(bool *)field = cJSON_IsTrue(v);
		else
			reason = "expected a boolean";
		break;
	case OPT_LIST:
		parse_list(c, o, v, path);
		break;
	case OPT_CUSTOM:
		o->parse(c->cfg, v, path, c->errs);
		break;
	case OPT_NULL:
	case OPT_LATER:
		if (!cJSON_IsNull(v) || (o->type == OPT_LATER && !o->null_ok))
			reason = "not supported yet";
		break;
	}
	if (reason)
		errf(c, path, "%s", reason);
}

static const struct opt *opt_find(const char *prefix, const char *key)
{
	char name[64];

	/* A dotted key must not reach a nested option from above. */
	if (strchr(key, '.') ||
	    snprintf(name, sizeof(name), "%s%s%s", prefix, *prefix ? "." : "", key) >=
		    (int)sizeof(name))
		return NULL;
	for (size_t i = 0; i < N_OPTS; i++)
		if (!strcmp(opts[i].name, name))
			return &opts[i];
	return NULL;
}

static void walk(struct ctx *c, const cJSON *obj, const char *prefix, const char *path)
{
	char kpath[PATH_LEN];
	uint64_t seen = 0, bit;
	const cJSON *it;

	cJSON_ArrayForEach(it, obj) {
		const struct opt *o = opt_find(prefix, it->string);

		tg_config_path_key(kpath, sizeof(kpath), path, it->string);
		if (!o) {
			errf(c, kpath, "unknown key");
			continue;
		}
		bit = 1ull << (o - opts);
		if (seen & bit) {
			errf(c, kpath, "duplicate key");
			continue;
		}
		seen |= bit;
		apply(c, o, it, kpath);
	}
}

/* Reports a problem at byte p of the text as line:column (1-based). */
static void err_at(struct ctx *c, const char *json, size_t len, const char *p,
		   const char *what)
{
	size_t off = (p && p >= json && p <= json + len) ? (size_t)(p - json) : 0;
	int line = 1, col = 1;

	for (size_t i = 0; i < off; i++, col++)
		if (json[i] == '\n')
			line++, col = 0;
	errf(c, "$", "%s at %d:%d", what, line, col);
}

/* JSON whitespace; memchr() looks at 4 bytes, so a NUL never matches. */
#define is_space(ch) (memchr(" \t\r\n", (ch), 4) != NULL)

/* What cJSON would let through silently: NUL bytes and \u0000 would cut a
 * string short, so "lo\u0000junk" would pass as "lo". */
static bool text_ok(struct ctx *c, const char *json, size_t len)
{
	size_t i;

	if (len > TG_CONFIG_MAX_BYTES) {
		errf(c, "$", "larger than 1 MiB");
		return false;
	}
	for (i = 0; i < len; i++) {
		if (json[i] == '\0') {
			err_at(c, json, len, json + i, "NUL byte");
			return false;
		}
		if (json[i] == '\\' && len - i >= 6 && !memcmp(json + i + 1, "u0000", 5)) {
			err_at(c, json, len, json + i, "\\u0000 is not allowed");
			return false;
		}
		if (json[i] == '\\') /* so that \\u0000 is not taken for \u0000 */
			i++;
	}
	for (i = 0; i < len && is_space(json[i]); i++)
		;
	if (i == len)
		errf(c, "$", "empty config");
	return i < len;
}

void tg_config_defaults(struct tg_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	for (size_t i = 0; i < N_OPTS; i++) {
		char *field = (char *)cfg + opts[i].off;

		if (opts[i].type == OPT_STR)
			strncpy(field, opts[i].def_str, opts[i].size - 1);
		else if (opts[i].type == OPT_U32)
			*(uint32_t *)field = (uint32_t)opts[i].def;
		else if (opts[i].type == OPT_ENUM)
			*(int *)field = (int)opts[i].def;
		else if (opts[i].type == OPT_BOOL)
			*(bool *)field = opts[i].def;
	}
	strcpy(cfg->interfaces[0], "lo");
	cfg->n_interfaces = 1;
	memcpy(cfg->ports, default_ports, sizeof(default_ports));
	cfg->n_ports = (int)(sizeof(default_ports) / sizeof(default_ports[0]));
	for (size_t i = 0; i < sizeof(default_headers) / sizeof(default_headers[0]); i++)
		strcpy(cfg->key_headers[cfg->n_key_headers++], default_headers[i]);
	/* quotas: none, and quotas.default unlimited with action drop (0). */
	tg_config_anomaly_defaults(&cfg->anomaly);
	tg_config_routes_defaults(cfg);
}

/* Rules between keys: max_connections is counted by the socket-level
 * programs, which attach only with gateway.cgroup; an API reachable from
 * other hosts must ask for a token. */
static void cross_check(struct ctx *c)
{
	char path[64];

	tg_config_cluster_check(c->cfg, c->errs);
	tg_config_sublimits_check(c->cfg, c->errs);
	if (!c->cfg->api_token_env[0] && !tg_addr_listen_is_loopback(c->cfg->api_listen))
		errf(c, "$.api.listen", "a non-loopback address needs api.token_env (a bearer token)");
	tg_cfg_check_listen_cross(c->cfg, c->errs);
	if (c->cfg->cgroup[0])
		return;
	if (c->cfg->default_limits.max_connections)
		errf(c, "$.quotas.default.max_connections", "needs gateway.cgroup (socket-level tracking)");
	for (int i = 0; i < c->cfg->n_quotas; i++) {
		if (!c->cfg->quotas[i].limits.max_connections)
			continue;
		snprintf(path, sizeof(path), "$.quotas.clients[%d].max_connections", i);
		errf(c, path, "needs gateway.cgroup (socket-level tracking)");
	}
}

cJSON *tg_config_json_root(const char *json, size_t len, struct tg_config_errors *errs)
{
	struct ctx c = { .errs = errs };
	const char *end = NULL;
	cJSON *root;

	while (json && len > 0 && json[len - 1] == '\0') /* a C string's terminator */
		len--;
	if (!text_ok(&c, json, json ? len : 0))
		return NULL;
	/* The parse end pointer is cJSON_GetErrorPtr() without its global. */
	root = cJSON_ParseWithLengthOpts(json, len, &end, false);
	if (!root) {
		err_at(&c, json, len, end ? end : cJSON_GetErrorPtr(), "invalid JSON");
		return NULL;
	}
	/* cJSON stops after the first value; only space may follow it. */
	while (end && end < json + len && is_space(*end))
		end++;
	if (end && end < json + len)
		err_at(&c, json, len, end, "invalid JSON");
	else if (!cJSON_IsObject(root))
		errf(&c, "$", "expected an object");
	else
		return root;
	cJSON_Delete(root);
	return NULL;
}

int tg_config_parse(const char *json, size_t len, struct tg_config *cfg,
		    struct tg_config_errors *errs)
{
	struct tg_config_errors scratch;
	struct ctx c = { .errs = errs ? errs : &scratch };
	int err = -EINVAL;
	cJSON *root;

	memset(c.errs, 0, sizeof(*c.errs));
	if (!(root = tg_config_json_root(json, len, c.errs)))
		return -EINVAL;
	/* Filled aside, so a bad reload leaves cfg alone; too big (the quota
	 * table) for the stack. */
	if (!(c.cfg = malloc(sizeof(*c.cfg)))) {
		errf(&c, "$", "out of memory");
		cJSON_Delete(root);
		return -ENOMEM;
	}
	tg_config_defaults(c.cfg);
	walk(&c, root, "", "$");
	cJSON_Delete(root);
	cross_check(&c);
	if (!c.errs->n && !c.errs->dropped) {
		memcpy(cfg, c.cfg, sizeof(*cfg));
		err = 0;
	}
	free(c.cfg);
	return err;
}

int tg_config_read(const char *file, char **text, size_t *len, struct tg_config_errors *errs)
{
	FILE *f = NULL;
	char *buf = NULL;
	struct stat st;
	int err = 0;

	*text = NULL;
	*len = 0;
	/* stat first: opening a FIFO would block. */
	if (stat(file, &st) < 0) {
		err = -errno;
	} else if (!S_ISREG(st.st_mode)) {
		err = -EINVAL;
	} else if (!(f = fopen(file, "re"))) {
		err = -errno;
	} else if (!(buf = malloc(TG_CONFIG_MAX_BYTES + 1))) {
		err = -ENOMEM;
	} else {
		/* One byte over the limit tells "too large" from "exactly 1 MiB"
		 * (the parser says so); st_size is not trusted, the file may
		 * change under us. */
		*len = fread(buf, 1, TG_CONFIG_MAX_BYTES + 1, f);
		if (ferror(f))
			err = -(errno ? errno : EIO);
	}
	if (f)
		fclose(f);
	if (err) {
		free(buf);
		*len = 0;
		tg_config_errf(errs, "$", "cannot read: %s",
			       err == -EINVAL ? "not a regular file" : strerror(-err));
		return err;
	}
	*text = buf;
	return 0;
}

int tg_config_load(const char *file, struct tg_config *cfg,
		   struct tg_config_errors *errs)
{
	struct tg_config_errors scratch;
	size_t len;
	char *buf;
	int err;

	if (!errs)
		errs = &scratch;
	memset(errs, 0, sizeof(*errs));
	err = tg_config_read(file, &buf, &len, errs);
	if (!err)
		err = tg_config_parse(buf, len, cfg, errs);
	free(buf);
	return err;
}

/* NULL when the count is out of range (a config not made by the parser). */
static cJSON *list_json(const struct tg_config *cfg, const struct opt *o)
{
	const struct list *l = o->list;
	const char *field = (const char *)cfg + o->off;
	int n = *(const int *)((const char *)cfg + l->count_off);
	cJSON *a, *v;

	if (n < 0 || n > o->max || !(a = cJSON_CreateArray()))
		return NULL;
	for (int j = 0; j < n; j++) {
		v = l->strings ? cJSON_CreateString(field + (size_t)j * l->elem)
			       : cJSON_CreateNumber(((const uint16_t *)field)[j]);
		if (!cJSON_AddItemToArray(a, v)) {
			cJSON_Delete(v);
			cJSON_Delete(a);
			return NULL;
		}
	}
	return a;
}

char *tg_config_to_json_flags(const struct tg_config *cfg, unsigned flags)
{
	cJSON *root = cJSON_CreateObject();
	char *out = NULL, sect[32];

	for (size_t i = 0; root && i < N_OPTS; i++) {
		const struct opt *o = &opts[i];
		const char *field = (const char *)cfg + o->off, *dot = strchr(o->name, '.');
		cJSON *parent = root, *v = NULL;
		int e = 0;

		switch (o->type) {
		case OPT_SECTION: v = cJSON_CreateObject(); break;
		case OPT_STR: v = cJSON_CreateString(field); break;
		case OPT_U32: v = cJSON_CreateNumber(*(const uint32_t *)field); break;
		case OPT_ENUM:
			while (o->choices[e] && e < *(const int *)field)
				e++;
			if (o->choices[e] && e == *(const int *)field)
				v = cJSON_CreateString(o->choices[e]);
			break;
		case OPT_BOOL: v = cJSON_CreateBool(*(const bool *)field); break;
		case OPT_LIST: v = list_json(cfg, o); break;
		case OPT_CUSTOM: v = o->print(cfg, flags); break;
		case OPT_NULL: v = cJSON_CreateNull(); break;
		case OPT_LATER: continue;
		}
		if (dot) {
			snprintf(sect, sizeof(sect), "%.*s", (int)(dot - o->name), o->name);
			parent = cJSON_GetObjectItemCaseSensitive(root, sect);
		}
		if (!v || !parent || !cJSON_AddItemToObject(parent, dot ? dot + 1 : o->name, v)) {
			cJSON_Delete(v);
			goto out;
		}
	}
	out = root ? cJSON_Print(root) : NULL;
out:
	cJSON_Delete(root);
	return out;
}

char *tg_config_to_json(const struct tg_config *cfg)
{
	return tg_config_to_json_flags(cfg, 0);
}

void tg_config_restart_keys(const struct tg_config *a, const struct tg_config *b,
			    char *buf, size_t len)
{
	size_t o = 0;

	if (!len)
		return;
	buf[0] = '\0';
	for (size_t i = 0; i < N_OPTS; i++) {
		const struct opt *op = &opts[i];
		const char *fa = (const char *)a + op->off, *fb = (const char *)b + op->off;
		bool same = op->type == OPT_STR ? !strncmp(fa, fb, op->size)
						: !memcmp(fa, fb, op->size);

		if (op->restart && !same && o < len)
			o += (size_t)snprintf(buf + o, len - o, "%s%s", o ? "," : "", op->name);
	}
}

void tg_config_errors_print(FILE *f, const char *file,
			    const struct tg_config_errors *errs)
{
	if (!file)
		file = "config";
	for (int i = 0; i < errs->n && i < TG_CONFIG_MAX_ERRORS; i++)
		fprintf(f, "%s: %s: %s\n", file, errs->e[i].path, errs->e[i].reason);
	if (errs->dropped > 0)
		fprintf(f, "%s: ... %d more error%s\n", file, errs->dropped,
			errs->dropped == 1 ? "" : "s");
}
