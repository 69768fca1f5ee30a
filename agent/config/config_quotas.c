/* quotas.default and quotas.clients: one table of entry keys, the checks
 * within an entry, then the checks against the entries before it (names,
 * CIDRs and API keys are unique). An API key never reaches an error message
 * or the printed config. */
#include "config/config.h"
#include "config/config_int.h"
#include "lib/addr.h"

#include <arpa/inet.h>
#include <cjson/cJSON.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define PATH_LEN sizeof(((struct tg_config_error *)0)->path)
#define REASON_LEN sizeof(((struct tg_config_error *)0)->reason)
#define REDACTED "<redacted>"
#define MAX_ENTRIES (TG_MAX_QUOTAS - 1) /* one slot is quotas.default */

enum qtype { Q_NAME, Q_CIDR, Q_KEY, Q_KEY_ENV, Q_LIMIT, Q_ACTION, Q_SHARE, Q_GLOBAL, Q_SUB };

/* Rows of qopts[]; the limits are contiguous. */
enum {
	K_NAME, K_CIDR, K_KEY, K_KEY_ENV,
	K_RPS, K_BURST, K_BPS, K_BYTES_BURST, K_CPS, K_MAX_CONN,
	K_ACTION, K_SHARE, K_GLOBAL, K_PER_ROUTE, K_PER_MODEL, N_QOPTS
};

#define BIT(k) (1u << (k))
#define MATCH_BITS (BIT(K_CIDR) | BIT(K_KEY) | BIT(K_KEY_ENV))

struct qopt {
	const char *name;
	enum qtype type;
	long long min, max; /* Q_LIMIT; 0 (unlimited) is always accepted */
	size_t off;         /* Q_LIMIT: in struct tg_limits */
	bool entry_only;    /* not a key of quotas.default */
};

#define KEY(n, t) { .name = n, .type = t, .entry_only = true }
#define LIMIT(m, lo, hi) \
	{ .name = #m, .type = Q_LIMIT, .min = lo, .max = hi, .off = offsetof(struct tg_limits, m) }

static const struct qopt qopts[N_QOPTS] = {
	[K_NAME] = KEY("name", Q_NAME),
	[K_CIDR] = KEY("cidr", Q_CIDR),
	[K_KEY] = KEY("api_key", Q_KEY),
	[K_KEY_ENV] = KEY("api_key_env", Q_KEY_ENV),
	[K_RPS] = LIMIT(requests_per_sec, 0, 1000000),
	[K_BURST] = LIMIT(burst, 0, 1000000000),
	/* Below 64 B/s one request would empty the bucket for seconds. */
	[K_BPS] = LIMIT(bytes_per_sec, 64, 1000000000000),
	[K_BYTES_BURST] = LIMIT(bytes_burst, 0, 1000000000000),
	[K_CPS] = LIMIT(connections_per_sec, 0, 1000000),
	[K_MAX_CONN] = LIMIT(max_connections, 0, 1000000),
	[K_ACTION] = { .name = "action", .type = Q_ACTION },
	[K_SHARE] = KEY("share", Q_SHARE),
	[K_GLOBAL] = KEY("global", Q_GLOBAL),
	/* sub-limits: parsed after the entry's own keys (config_sublimits.c) */
	[K_PER_ROUTE] = KEY("per_route", Q_SUB),
	[K_PER_MODEL] = KEY("per_model", Q_SUB),
};

static const char *const actions[] = {
	[TG_ACTION_DROP] = "drop", [TG_ACTION_MONITOR] = "monitor",
	[TG_ACTION_GATEWAY] = "gateway", [TG_ACTION_DENY] = "deny",
	[TG_ACTION_EXEMPT] = "exempt", NULL
};
static const char *const shares[] = { "shared", "per_address", NULL };

#define KEY_BAD "1..128 printable ASCII characters, no spaces, ',' or ';'"

static bool chars_in(const char *s, const char *set, size_t min, size_t max)
{
	size_t n = strspn(s, set);

	return !s[n] && n >= min && n <= max;
}

#define ALNUM "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"

static bool key_valid(const char *s)
{
	size_t n = 0;

	/* The kernel ends a header value at ',' or ';' (tg_key_end): a key
	 * holding one could never match. */
	for (; s[n]; n++)
		if ((unsigned char)s[n] < 0x21 || (unsigned char)s[n] > 0x7e ||
		    s[n] == ',' || s[n] == ';')
			return false;
	return n >= 1 && n <= TG_APIKEY_MAX;
}

static const char *parse_key_env(struct tg_quota_entry *q, const char *name, char *buf)
{
	const char *val;

	if (!tg_cfg_env_name_ok(name))
		return TG_CFG_ENV_NAME_BAD;
	if (!(val = getenv(name)) || !*val)
		snprintf(buf, REASON_LEN, "environment variable %s is not set", name);
	else if (!key_valid(val))
		snprintf(buf, REASON_LEN, "environment variable %s must hold " KEY_BAD, name);
	else {
		strcpy(q->api_key_env, name);
		strcpy(q->api_key, val);
		q->match = TG_MATCH_API_KEY;
		return NULL;
	}
	return buf;
}

/* Index of v in choices (NULL-terminated), or -1. */
static int choice(const cJSON *v, const char *const *choices)
{
	for (int i = 0; cJSON_IsString(v) && choices[i]; i++)
		if (!strcmp(v->valuestring, choices[i]))
			return i;
	return -1;
}

/* One key's value into q: NULL, or why not (possibly formatted into buf). */
static const char *parse_value(struct tg_quota_entry *q, int k, const cJSON *v, bool entry,
			       char *buf)
{
	const struct qopt *o = &qopts[k];
	const char *s = cJSON_IsString(v) ? v->valuestring : NULL;
	long long n;
	int i;

	switch (o->type) {
	case Q_LIMIT:
		if (!tg_config_json_int(v, 0, o->max, &n) || (n && n < o->min)) {
			snprintf(buf, REASON_LEN, "must be %san integer in %lld..%lld",
				 o->min ? "0 or " : "", o->min, o->max);
			return buf;
		}
		*(uint64_t *)((char *)&q->limits + o->off) = (uint64_t)n;
		return NULL;
	case Q_NAME:
		if (!s || !chars_in(s, ALNUM "_.-", 1, TG_NAME_LEN - 1))
			return "must be 1..31 characters of A-Z a-z 0-9 _ . -";
		strcpy(q->name, s);
		return NULL;
	case Q_CIDR:
		if (!s)
			return "expected a string";
		switch (tg_cidr_parse(s, q->cidr, &q->prefix_len)) {
		case 0:
			q->match = TG_MATCH_CIDR;
			return NULL;
		case -ERANGE:
			i = snprintf(buf, REASON_LEN, "host bits set (did you mean ");
			tg_cidr_format(q->cidr, q->prefix_len, buf + i, REASON_LEN - (size_t)i);
			strcat(buf, "?)");
			return buf;
		default:
			return "must be an IPv4 or IPv6 address or prefix: a.b.c.d/n or x:y::/n";
		}
	case Q_KEY:
		if (!s)
			return "expected a string";
		/* What tg_config_to_json prints in its place. */
		if (!strcmp(s, REDACTED))
			return "\"" REDACTED "\" is a placeholder: put the key here or use api_key_env";
		if (!key_valid(s))
			return "must be " KEY_BAD;
		strcpy(q->api_key, s);
		q->match = TG_MATCH_API_KEY;
		return NULL;
	case Q_KEY_ENV:
		return s ? parse_key_env(q, s, buf) : "expected a string";
	case Q_ACTION:
		i = choice(v, actions);
		if (!entry && i != TG_ACTION_DROP && i != TG_ACTION_MONITOR)
			return "must be one of drop|monitor";
		if (i < 0)
			return "must be one of drop|monitor|gateway|deny|exempt";
		q->action = i;
		return NULL;
	case Q_SHARE:
		if ((i = choice(v, shares)) < 0)
			return "must be one of shared|per_address";
		q->share = i;
		return NULL;
	case Q_GLOBAL:
		if (!cJSON_IsBool(v))
			return "expected a boolean";
		q->global = cJSON_IsTrue(v);
		return NULL;
	case Q_SUB:
		return NULL;
	}
	return "unknown key";
}

static uint64_t limit(const struct tg_limits *l, int k)
{
	return *(const uint64_t *)((const char *)l + qopts[k].off);
}

static void errf_key(struct tg_config_errors *errs, const char *path, int k, const char *reason)
{
	char kpath[PATH_LEN + 24]; /* + ".connections_per_sec"; errf truncates */

	snprintf(kpath, sizeof(kpath), "%s.%s", path, qopts[k].name);
	tg_config_errf(errs, kpath, "%s", reason);
}

/* The checks between keys, and the burst defaults. */
static void entry_finish(struct tg_quota_entry *q, uint32_t seen, uint32_t ok, int match,
			 bool entry, const char *path, struct tg_config_errors *errs)
{
	char reason[64];

	if (entry && !(seen & BIT(K_NAME)))
		tg_config_errf(errs, path, "missing name");
	if (entry && match < 0)
		tg_config_errf(errs, path, "needs one of cidr, api_key, api_key_env");
	if ((seen & BIT(K_SHARE)) && match != K_CIDR)
		errf_key(errs, path, K_SHARE, "only for cidr entries");
	if ((ok & BIT(K_ACTION)) &&
	    (q->action == TG_ACTION_DENY || q->action == TG_ACTION_EXEMPT)) {
		snprintf(reason, sizeof(reason), "limits make no sense with action %s",
			 actions[q->action]);
		for (int k = K_RPS; k <= K_MAX_CONN; k++)
			if (limit(&q->limits, k))
				errf_key(errs, path, k, reason);
		return;
	}
	/* A rate left invalid has its own error already. */
	if (q->limits.burst && !q->limits.requests_per_sec && !(seen & ~ok & BIT(K_RPS)))
		errf_key(errs, path, K_BURST, "burst needs requests_per_sec");
	if (q->limits.bytes_burst && !q->limits.bytes_per_sec && !(seen & ~ok & BIT(K_BPS)))
		errf_key(errs, path, K_BYTES_BURST, "bytes_burst needs bytes_per_sec");
	if (!q->limits.burst)
		q->limits.burst = q->limits.requests_per_sec; /* max(1, rate) when limited */
	if (!q->limits.bytes_burst)
		q->limits.bytes_burst = q->limits.bytes_per_sec;
}

/* One object of quotas.clients (entry) or quotas.default into q. Returns
 * the keys present and valid. */
static uint32_t parse_entry(struct tg_quota_entry *q, const cJSON *obj, bool entry,
			    const char *path, struct tg_config_errors *errs)
{
	char kpath[PATH_LEN], buf[REASON_LEN];
	uint32_t seen = 0, ok = 0;
	const char *reason;
	const cJSON *it;
	int match = -1;

	cJSON_ArrayForEach(it, obj) {
		int k = N_QOPTS;

		while (--k >= 0 && (strcmp(qopts[k].name, it->string) ||
				    (!entry && qopts[k].entry_only)))
			;
		tg_config_path_key(kpath, sizeof(kpath), path, it->string);
		if (k < 0) {
			tg_config_errf(errs, kpath, "unknown key");
			continue;
		}
		if (seen & BIT(k)) {
			tg_config_errf(errs, kpath, "duplicate key");
			continue;
		}
		seen |= BIT(k);
		if (BIT(k) & MATCH_BITS) {
			if (match >= 0) {
				tg_config_errf(errs, kpath,
					       "only one of cidr, api_key, api_key_env");
				continue;
			}
			match = k;
		}
		if ((reason = parse_value(q, k, it, entry, buf)))
			tg_config_errf(errs, kpath, "%s", reason);
		else
			ok |= BIT(k);
	}
	entry_finish(q, seen, ok, match, entry, path, errs);
	return ok;
}

void tg_config_quotas_parse_default(struct tg_config *cfg, const cJSON *v, const char *path,
				    struct tg_config_errors *errs)
{
	struct tg_quota_entry q = { .action = TG_ACTION_DROP };

	if (!cJSON_IsObject(v)) {
		tg_config_errf(errs, path, "expected an object");
		return;
	}
	parse_entry(&q, v, false, path, errs);
	cfg->default_limits = q.limits;
	cfg->default_action = q.action;
}

/* Entry i against the ones before it; ok[] holds their valid keys. */
static void check_unique(const struct tg_config *cfg, int i, const uint32_t *ok,
			 const char *path, struct tg_config_errors *errs)
{
	const struct tg_quota_entry *q = &cfg->quotas[i], *p;
	bool name = ok[i] & BIT(K_NAME), cidr = ok[i] & BIT(K_CIDR);
	bool key = ok[i] & (BIT(K_KEY) | BIT(K_KEY_ENV));
	char reason[64];

	for (int j = 0; j < i; j++) {
		p = &cfg->quotas[j];
		if (name && (ok[j] & BIT(K_NAME)) && !strcmp(p->name, q->name)) {
			snprintf(reason, sizeof(reason), "duplicate name (same as quotas.clients[%d])",
				 j);
			errf_key(errs, path, K_NAME, reason);
			name = false;
		}
		if (cidr && (ok[j] & BIT(K_CIDR)) && p->prefix_len == q->prefix_len &&
		    !memcmp(p->cidr, q->cidr, sizeof(q->cidr))) {
			snprintf(reason, sizeof(reason), "duplicate of quotas.clients[%d]", j);
			errf_key(errs, path, K_CIDR, reason);
			cidr = false;
		}
		if (key && (ok[j] & (BIT(K_KEY) | BIT(K_KEY_ENV))) &&
		    !strcmp(p->api_key, q->api_key)) {
			/* The key itself is never printed. */
			snprintf(reason, sizeof(reason),
				 "duplicate api key (same as quotas.clients[%d])", j);
			errf_key(errs, path, q->api_key_env[0] ? K_KEY_ENV : K_KEY, reason);
			key = false;
		}
	}
}

void tg_config_quotas_parse_clients(struct tg_config *cfg, const cJSON *v, const char *path,
				    struct tg_config_errors *errs)
{
	char ipath[PATH_LEN];
	uint32_t ok[MAX_ENTRIES];
	const cJSON *it;
	int i = 0;

	if (!cJSON_IsArray(v)) {
		tg_config_errf(errs, path, "expected an array of entries");
		return;
	}
	memset(cfg->quotas, 0, sizeof(cfg->quotas));
	cfg->n_sublimits = 0;
	cJSON_ArrayForEach(it, v) {
		if (i >= MAX_ENTRIES) {
			tg_config_errf(errs, path, "at most %d entries", MAX_ENTRIES);
			break;
		}
		snprintf(ipath, sizeof(ipath), "%s[%d]", path, i);
		cfg->quotas[i].action = TG_ACTION_DROP;
		cfg->quotas[i].share = TG_SHARE_SHARED;
		if (cJSON_IsObject(it)) {
			ok[i] = parse_entry(&cfg->quotas[i], it, true, ipath, errs);
			check_unique(cfg, i, ok, ipath, errs);
			tg_config_sublimits_parse(cfg, i, it, ipath, errs);
		} else {
			ok[i] = 0;
			tg_config_errf(errs, ipath, "expected an object");
		}
		i++;
	}
	cfg->n_quotas = i;
}

/* Every limit, the computed bursts included, so the output says what runs. */
static bool limits_json(cJSON *o, const struct tg_limits *l)
{
	for (int k = K_RPS; k <= K_MAX_CONN; k++)
		if (!cJSON_AddNumberToObject(o, qopts[k].name, (double)limit(l, k)))
			return false;
	return true;
}

static bool action_valid(int a, int max)
{
	return a >= 0 && a <= max;
}

cJSON *tg_config_quotas_default_json(const struct tg_config *cfg, unsigned flags)
{
	cJSON *o = cJSON_CreateObject();

	if (!o || !action_valid(cfg->default_action, TG_ACTION_MONITOR) ||
	    !limits_json(o, &cfg->default_limits) ||
	    !cJSON_AddStringToObject(o, "action", actions[cfg->default_action])) {
		cJSON_Delete(o);
		return NULL;
	}
	return o;
}

static cJSON *entry_json(const struct tg_config *cfg, int qi, unsigned flags)
{
	const struct tg_quota_entry *q = &cfg->quotas[qi];
	cJSON *o = cJSON_CreateObject();
	char cidr[TG_CIDR_STR_LEN];
	bool good = o && action_valid(q->action, TG_ACTION_EXEMPT) &&
		    cJSON_AddStringToObject(o, "name", q->name);

	if (good && q->match == TG_MATCH_CIDR) {
		tg_cidr_format(q->cidr, q->prefix_len, cidr, sizeof(cidr));
		good = cJSON_AddStringToObject(o, "cidr", cidr) &&
		       cJSON_AddStringToObject(o, "share", shares[q->share ? 1 : 0]);
	} else if (good && q->api_key_env[0]) {
		good = cJSON_AddStringToObject(o, "api_key_env", q->api_key_env);
	} else if (good) {
		good = cJSON_AddStringToObject(o, "api_key", flags & TG_CONFIG_JSON_SECRETS
								     ? q->api_key : REDACTED);
	}
	good = good && cJSON_AddStringToObject(o, "action", actions[q->action]);
	if (good && q->global)
		good = cJSON_AddTrueToObject(o, "global");
	/* deny and exempt entries carry no limits. */
	if (good && q->action != TG_ACTION_DENY && q->action != TG_ACTION_EXEMPT)
		good = limits_json(o, &q->limits) && tg_config_sublimits_json(cfg, qi, o);
	if (!good) {
		cJSON_Delete(o);
		return NULL;
	}
	return o;
}

cJSON *tg_config_quotas_clients_json(const struct tg_config *cfg, unsigned flags)
{
	cJSON *a = cJSON_CreateArray(), *o;

	if (cfg->n_quotas < 0 || cfg->n_quotas > MAX_ENTRIES) {
		cJSON_Delete(a);
		return NULL;
	}
	for (int i = 0; a && i < cfg->n_quotas; i++)
		if (!(o = entry_json(cfg, i, flags)) || !cJSON_AddItemToArray(a, o)) {
			cJSON_Delete(o);
			cJSON_Delete(a);
			return NULL;
		}
	return a;
}
