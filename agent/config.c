/* The config file: JSON text checked against one table of options. Every
 * problem is collected with its JSON path, so one check-config run shows all
 * of them, and a bad reload leaves the running config untouched. */
#include "api.h"
#include "config.h"

#include <arpa/inet.h>
#include <cjson/cJSON.h>
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "shared.h"

#define TG_CONFIG_MAX_BYTES (1u << 20)

enum opt_type {
	OPT_SECTION, /* an object holding more options */
	OPT_STR,     /* char[] field, validated and normalized by str_check */
	OPT_U32,     /* uint32_t field, min..max */
	OPT_ENUM,    /* int field, index into choices */
	OPT_IFACES,  /* cfg->interfaces, at most max */
	OPT_PORTS,   /* cfg->ports, min..max entries */
	OPT_NULL,    /* a key whose only supported value so far is null */
	OPT_LATER,   /* its feature has not landed: rejected when present */
};

struct opt {
	const char *name; /* dotted, as in the config reference */
	enum opt_type type;
	long long min, max;
	size_t off, size;
	long long def;       /* OPT_U32, OPT_ENUM */
	const char *def_str; /* OPT_STR */
	const char *const *choices;
	/* Return a reason, or NULL after writing the normalized value. */
	const char *(*str_check)(const char *in, char *out, size_t len);
	const char *(*enum_check)(int v);
	bool restart;
	bool null_ok; /* OPT_LATER: null means "off" and is accepted */
};

static const char *check_instance(const char *in, char *out, size_t len)
{
	size_t n = strspn(in, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-");

	if (n < 1 || n >= len || in[n])
		return "must be 1..31 characters of A-Z a-z 0-9 _ -";
	memcpy(out, in, n + 1);
	return NULL;
}

/* "host:port" with a dotted IPv4 host, a [bracketed] IPv6 host or
 * "localhost" (stored as 127.0.0.1, so the API never resolves names). */
static const char *check_listen(const char *in, char *out, size_t len)
{
	struct sockaddr_storage ss;
	const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)&ss;
	const struct sockaddr_in *s4 = (const struct sockaddr_in *)&ss;
	bool lo;

	if (tg_api_parse_listen(in, &ss) ||
	    (ss.ss_family == AF_INET ? s4->sin_port : s6->sin6_port) == 0)
		return "must be \"host:port\" with an IPv4 address, [IPv6] or localhost, port 1..65535";
	if (ss.ss_family == AF_INET)
		lo = (ntohl(s4->sin_addr.s_addr) >> 24) == 127;
	else
		lo = IN6_IS_ADDR_LOOPBACK(&s6->sin6_addr) ||
		     (IN6_IS_ADDR_V4MAPPED(&s6->sin6_addr) && s6->sin6_addr.s6_addr[12] == 127);
	/* DESIGN: a bearer token is required for a non-loopback listener, and
	 * api.token_env has not landed, so only loopback is safe for now. */
	if (!lo)
		return "a non-loopback address needs api.token_env (not supported yet)";
	if (!strncmp(in, "localhost:", 10))
		snprintf(out, len, "127.0.0.1:%s", in + 10);
	else
		snprintf(out, len, "%s", in);
	return NULL;
}

static const char *check_mode(int v)
{
	return v == TG_MODE_ENFORCE ? "not supported yet" : NULL;
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

#define FIELD(m) .off = offsetof(struct tg_config, m), \
		 .size = sizeof(((struct tg_config *)0)->m)
#define SECTION(n) { .name = n, .type = OPT_SECTION }
#define LATER(n) { .name = n, .type = OPT_LATER }
#define STR(n, m, d, chk, rs) \
	{ .name = n, .type = OPT_STR, FIELD(m), .def_str = d, .str_check = chk, .restart = rs }
#define U32(n, m, lo, hi, d, rs) \
	{ .name = n, .type = OPT_U32, FIELD(m), .min = lo, .max = hi, .def = d, .restart = rs }
#define ENUM(n, m, d, ch, chk) \
	{ .name = n, .type = OPT_ENUM, FIELD(m), .def = d, .choices = ch, .enum_check = chk }

static const char *const modes[] = { "monitor", "enforce", NULL };
static const char *const levels[] = { "error", "warn", "info", "debug", NULL };
static const char *const formats[] = { "logfmt", "json", NULL };
static const uint16_t default_ports[] = { 80, 443, 4000, 8000, 8080, 8099, 9080 };

/* Order is the order of tg_config_to_json; a section precedes its keys.
 * Landing a feature turns its LATER row into a typed one. */
static const struct opt opts[] = {
	STR("instance", instance, "default", check_instance, true),
	SECTION("gateway"),
	{ .name = "gateway.interfaces", .type = OPT_IFACES, .max = TG_MAX_INTERFACES },
	{ .name = "gateway.ports", .type = OPT_PORTS, .min = 1 /* non-empty */, .max = TG_MAX_PORTS },
	U32("gateway.max_clients", max_clients, 1024, 16777216, 262144, true),
	{ .name = "gateway.cgroup", .type = OPT_NULL },
	ENUM("mode", mode, TG_MODE_MONITOR, modes, check_mode),
	SECTION("identity"),
	U32("identity.ipv6_prefix", ipv6_prefix, 1, 128, 64, false),
	LATER("identity.api_key_headers"),
	LATER("identity.header_scan_bytes"),
	LATER("identity.proxy_protocol"),
	LATER("identity.trusted_proxies"),
	LATER("quotas"),
	LATER("anomaly"),
	LATER("webhooks"),
	SECTION("api"),
	STR("api.listen", api_listen, "127.0.0.1:9470", check_listen, true),
	LATER("api.token_env"),
	LATER("api.check_deny_status"),
	U32("api.top_n", api_top_n, 1, 10000, 50, false),
	LATER("state_dir"),
	LATER("keep"),
	SECTION("log"),
	ENUM("log.level", log_level, TG_LOG_INFO, levels, NULL),
	ENUM("log.format", log_format, TG_LOG_LOGFMT, formats, NULL),
	{ .name = "cluster", .type = OPT_LATER, .null_ok = true },
};

#define N_OPTS (sizeof(opts) / sizeof(opts[0]))
_Static_assert(N_OPTS <= 64, "the seen-key mask in walk() is 64 bits");

struct ctx {
	struct tg_config *cfg;
	struct tg_config_errors *errs;
};

#define PATH_LEN sizeof(((struct tg_config_error *)0)->path)

static __attribute__((format(printf, 3, 4)))
void errf(struct ctx *c, const char *path, const char *fmt, ...)
{
	struct tg_config_error *e = &c->errs->e[c->errs->n];
	va_list ap;

	if (c->errs->n >= TG_CONFIG_MAX_ERRORS) {
		c->errs->dropped++;
		return;
	}
	c->errs->n++;
	snprintf(e->path, sizeof(e->path), "%s", path);
	va_start(ap, fmt);
	vsnprintf(e->reason, sizeof(e->reason), fmt, ap);
	va_end(ap);
}

/* base.key, or base["key"] escaped when the key is not a plain name, so a
 * hostile key cannot forge a second error line. Truncates to len. */
static void path_key(char *out, size_t len, const char *base, const char *key)
{
	const char *ident = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ_0123456789";
	size_t o;

	if (*key && !(*key >= '0' && *key <= '9') && !key[strspn(key, ident)]) {
		snprintf(out, len, "%s.%s", base, key);
		return;
	}
	o = (size_t)snprintf(out, len, "%s[\"", base);
	for (const unsigned char *k = (const unsigned char *)key; *k && o + 9 < len; k++) {
		if (*k == '"' || *k == '\\')
			o += (size_t)snprintf(out + o, len - o, "\\%c", *k);
		else if (*k < 0x20 || *k == 0x7f)
			o += (size_t)snprintf(out + o, len - o, "\\u%04x", *k);
		else
			out[o++] = (char)*k;
	}
	if (o + 3 <= len)
		memcpy(out + o, "\"]", 3);
	else
		out[len - 1] = '\0';
}

static bool json_int(const cJSON *it, long long min, long long max, long long *out)
{
	double d = cJSON_IsNumber(it) ? it->valuedouble : 0.5;

	/* False for NaN too; inf (1e400) fails the range. */
	if (!(d >= (double)min && d <= (double)max) || d != (double)(long long)d)
		return false;
	*out = (long long)d;
	return true;
}

/* One list element: NULL once stored, else why not (formatted into buf). */
static const char *add_iface(struct tg_config *cfg, const cJSON *it, char *buf, size_t len)
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

static const char *add_port(struct tg_config *cfg, const cJSON *it, char *buf, size_t len)
{
	long long port;

	if (!json_int(it, 1, 65535, &port))
		return "must be an integer in 1..65535";
	for (int j = 0; j < cfg->n_ports; j++)
		if (cfg->ports[j] == port) {
			snprintf(buf, len, "duplicate port %lld", port);
			return buf;
		}
	cfg->ports[cfg->n_ports++] = (uint16_t)port;
	return NULL;
}

static int cmp_u16(const void *a, const void *b)
{
	return (int)*(const uint16_t *)a - (int)*(const uint16_t *)b;
}

static void parse_list(struct ctx *c, const struct opt *o, const cJSON *v, const char *path)
{
	struct tg_config *cfg = c->cfg;
	bool ports = o->type == OPT_PORTS;
	const char *what = ports ? "ports" : "interfaces", *reason;
	char ipath[PATH_LEN + 16], buf[64]; /* + "[index]" */
	const cJSON *it;
	int i = 0;

	if (!cJSON_IsArray(v)) {
		errf(c, path, "expected an array of %s", what);
		return;
	}
	if (ports)
		memset(cfg->ports, 0, sizeof(cfg->ports)), cfg->n_ports = 0;
	else
		memset(cfg->interfaces, 0, sizeof(cfg->interfaces)), cfg->n_interfaces = 0;
	cJSON_ArrayForEach(it, v) {
		if (i >= o->max) {
			errf(c, path, "at most %lld %s", o->max, what);
			break;
		}
		snprintf(ipath, sizeof(ipath), "%s[%d]", path, i++);
		reason = (ports ? add_port : add_iface)(cfg, it, buf, sizeof(buf));
		if (reason)
			errf(c, ipath, "%s", reason);
	}
	if (i < o->min)
		errf(c, path, "must not be empty");
	qsort(cfg->ports, (size_t)cfg->n_ports, sizeof(cfg->ports[0]), cmp_u16);
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
		if (json_int(v, o->min, o->max, &i))
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
		} else if (!o->enum_check || !(reason = o->enum_check((int)i))) {
			*(int *)field = (int)i;
		}
		break;
	case OPT_IFACES:
	case OPT_PORTS:
		parse_list(c, o, v, path);
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

		path_key(kpath, sizeof(kpath), path, it->string);
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
	}
	strcpy(cfg->interfaces[0], "lo");
	cfg->n_interfaces = 1;
	memcpy(cfg->ports, default_ports, sizeof(default_ports));
	cfg->n_ports = (int)(sizeof(default_ports) / sizeof(default_ports[0]));
}

int tg_config_parse(const char *json, size_t len, struct tg_config *cfg,
		    struct tg_config_errors *errs)
{
	struct tg_config_errors scratch;
	struct tg_config tmp;
	struct ctx c = { .cfg = &tmp, .errs = errs ? errs : &scratch };
	const char *end = NULL;
	cJSON *root;

	memset(c.errs, 0, sizeof(*c.errs));
	tg_config_defaults(&tmp);
	while (json && len > 0 && json[len - 1] == '\0') /* a C string's terminator */
		len--;
	if (!text_ok(&c, json, json ? len : 0))
		return -EINVAL;
	/* The parse end pointer is cJSON_GetErrorPtr() without its global. */
	root = cJSON_ParseWithLengthOpts(json, len, &end, false);
	if (!root) {
		err_at(&c, json, len, end ? end : cJSON_GetErrorPtr(), "invalid JSON");
		return -EINVAL;
	}
	/* cJSON stops after the first value; only space may follow it. */
	while (end && end < json + len && is_space(*end))
		end++;
	if (end && end < json + len)
		err_at(&c, json, len, end, "invalid JSON");
	else if (!cJSON_IsObject(root))
		errf(&c, "$", "expected an object");
	else
		walk(&c, root, "", "$");
	cJSON_Delete(root);
	if (c.errs->n || c.errs->dropped)
		return -EINVAL;
	*cfg = tmp;
	return 0;
}

int tg_config_load(const char *file, struct tg_config *cfg,
		   struct tg_config_errors *errs)
{
	struct tg_config_errors scratch;
	struct ctx c = { .errs = errs ? errs : &scratch };
	FILE *f = NULL;
	char *buf = NULL;
	struct stat st;
	size_t len;
	int err;

	memset(c.errs, 0, sizeof(*c.errs));
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
		/* One byte over the limit tells "too large" from "exactly 1 MiB";
		 * st_size is not trusted, the file may change under us. */
		len = fread(buf, 1, TG_CONFIG_MAX_BYTES + 1, f);
		err = ferror(f) ? -(errno ? errno : EIO) : tg_config_parse(buf, len, cfg, c.errs);
	}
	if (err && !c.errs->n)
		errf(&c, "$", "cannot read: %s",
		     err == -EINVAL ? "not a regular file" : strerror(-err));
	free(buf);
	if (f)
		fclose(f);
	return err;
}

char *tg_config_to_json(const struct tg_config *cfg)
{
	int n_if = cfg->n_interfaces, n_p = cfg->n_ports, ports[TG_MAX_PORTS];
	const char *names[TG_MAX_INTERFACES];
	char *out = NULL, sect[32];
	cJSON *root;

	if (n_if < 0 || n_if > TG_MAX_INTERFACES || n_p < 0 || n_p > TG_MAX_PORTS)
		return NULL;
	root = cJSON_CreateObject();
	for (int j = 0; j < n_if; j++)
		names[j] = cfg->interfaces[j];
	for (int j = 0; j < n_p; j++)
		ports[j] = cfg->ports[j];
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
		case OPT_IFACES: v = cJSON_CreateStringArray(names, n_if); break;
		case OPT_PORTS: v = cJSON_CreateIntArray(ports, n_p); break;
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
