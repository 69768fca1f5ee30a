/* The agent's configuration: parsing, validation and printing of the JSON
 * config described in the README's config reference. */
#ifndef TG_CONFIG_H
#define TG_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "lib/anomaly.h"
#include "lib/log.h"
#include "shared.h"

#define TG_MAX_INTERFACES 32
#define TG_MAX_PORTS 64
#define TG_IFNAME_LEN 16 /* IFNAMSIZ */
#define TG_INSTANCE_LEN 32
#define TG_USER_LEN 33 /* a user name: 1..32 characters */
#define TG_CHECK_LISTEN_LEN 113 /* "unix:" and a Unix socket path of up to 107 */


#define TG_NAME_LEN 32        /* a quota entry's name: [A-Za-z0-9_.-]{1,31} */
#define TG_ENV_NAME_LEN 64

#define TG_ROUTE_NAME_LEN 32  /* a route's name: [a-z0-9_-]{1,31} */
#define TG_MODEL_NAME_LEN 64  /* a model's name: 1..63 printable bytes, no '"' or '\\' */
#define TG_BODY_SCAN_MIN 64   /* identity.body_scan_bytes bounds */
#define TG_BODY_SCAN_MAX TG_SCAN_MAX

/* One entry of routes: requests whose path starts with prefix. */
struct tg_route_config {
	char name[TG_ROUTE_NAME_LEN];
	char prefix[TG_ROUTE_PREFIX_MAX + 1]; /* '/' and printable ASCII, no ' ', '?', '#' */
	bool llm;                             /* an LLM call (for models and tokens) */
};

#define TG_MODEL_NAME_LEN 64  /* a model's name: 1..63 printable bytes, no '"' or '\\' */
#define TG_MAX_SUBLIMITS 2048 /* per_route and per_model entries over all quota entries */

enum tg_sub_kind { TG_SUB_ROUTE = 0, TG_SUB_MODEL = 1 };

/* One sub-limit of a quota entry: per_route.<name> or per_model.<name>
 * ("other" for the requests of no configured route or model). */
struct tg_sublimit {
	int quota;                  /* its entry: index in quotas[] */
	int kind;                   /* enum tg_sub_kind */
	char name[TG_MODEL_NAME_LEN];
	uint64_t requests_per_sec;  /* 1..1000000 */
	uint64_t burst;             /* requests; default requests_per_sec */
};

enum tg_match { TG_MATCH_CIDR = 0, TG_MATCH_API_KEY = 1 };
enum tg_share { TG_SHARE_SHARED = 0, TG_SHARE_PER_ADDRESS = 1 };

/* One detector's settings (anomaly.<type>). Each detector reads the
 * fields its config keys map to (see config_anomaly.c); others stay 0. */
struct tg_detector_config {
	bool enabled;
	int severity;        /* enum tg_severity */
	double z;            /* z-score threshold over the EWMA baseline */
	double factor;       /* ... and ratio over the baseline mean; both must hold */
	double alpha;        /* EWMA weight of a new interval, 0 < alpha < 1 */
	uint32_t warmup;     /* intervals of baseline before it may fire */
	double min_value;    /* floor below which it never fires (per detector
			      * unit: req/s, bytes, SYN/s, errors/s, new clients) */
	double percent;      /* quota_near: share of the quota, 1..100 */
	uint32_t intervals;  /* quota_near: consecutive intervals at >= percent */
	double ratio;        /* connection_churn: requests per SYN below which;
			      * error_surge: error share of responses above which */
	uint32_t max_count;  /* key_shared: addresses per key; key_rotation:
			      * keys per address (within a window) */
};

struct tg_anomaly_config {
	uint32_t scan_interval_ms;                 /* 100..60000, default 1000 */
	uint32_t window_ms;                        /* 1000..3600000, default 10000 */
	struct tg_detector_config det[TG_AN_MAX];  /* by enum tg_anomaly_type */
};

enum tg_hook_format {
	TG_FMT_GENERIC = 0,
	TG_FMT_ALERTMANAGER,
	TG_FMT_SLACK,
	TG_FMT_OPENAI,
	TG_FMT_PLUGIN,
};

#define TG_MAX_WEBHOOKS 16
#define TG_MAX_TRUSTED 64
#define TG_MAX_HOOK_HEADERS 8
#define TG_URL_LEN 512
#define TG_API_TOKEN_MIN 16 /* api.token_env's value: shorter is refused */
#define TG_PATH_LEN 256
#define TG_SECRET_MAX 256

struct tg_hook_header {
	char name[64];
	char value[256];
};

struct tg_webhook_config {
	char name[TG_NAME_LEN];        /* [A-Za-z0-9_.-]{1,31}, unique */
	char url[TG_URL_LEN];          /* http:// or https:// */
	bool redact_url;               /* print it redacted (tg_config_url_redacted); default true */
	int format;                    /* enum tg_hook_format */
	char secret_env[TG_ENV_NAME_LEN];
	char secret_file[TG_PATH_LEN];
	/* The secret's bytes as configured (from env or file, trailing newline
	 * of a file stripped); a whsec_ secret is decoded when signing.
	 * secret_len 0: events go unsigned. Never printed or logged. */
	char secret[TG_SECRET_MAX + 1];
	size_t secret_len;
	int min_severity;              /* enum tg_severity */
	uint32_t timeout_ms;           /* 100..120000, default 5000 */
	uint32_t retry_max_ms;         /* backoff cap, 1000..3600000, default 60000 */
	struct tg_hook_header headers[TG_MAX_HOOK_HEADERS];
	int n_headers;
	char plugin[TG_PATH_LEN];      /* format plugin: the shared object */
	char options[2048];            /* format plugin: its "options" object, compact JSON */
	char model[128];               /* format openai */
	char api_key_env[TG_ENV_NAME_LEN]; /* format openai: bearer token's env */
	char api_key[TG_SECRET_MAX + 1];   /* its value; never printed */
};

/* 0 means unlimited for every field. */
struct tg_limits {
	uint64_t requests_per_sec; /* 0..1000000 */
	uint64_t burst;            /* requests; default max(1, requests_per_sec) */
	uint64_t bytes_per_sec;    /* request payload bytes; 0 or 64..10^12 */
	uint64_t bytes_burst;      /* default bytes_per_sec */
	uint64_t connections_per_sec; /* 0..1000000; burst = max(1, rate) */
	uint64_t max_connections;  /* open at once, 0..1000000; needs gateway.cgroup */
};

struct tg_quota_entry {
	char name[TG_NAME_LEN];
	int match;                     /* enum tg_match */
	uint32_t cidr[4];              /* network order, IPv4 as ::ffff:a.b.c.d */
	uint32_t prefix_len;           /* in IPv6 terms: an IPv4 /24 is 120 */
	char api_key[TG_APIKEY_MAX + 1];     /* from api_key, or the env value */
	char api_key_env[TG_ENV_NAME_LEN];   /* "" when given as api_key */
	struct tg_limits limits;
	int action;                    /* enum tg_action (kern/shared.h) */
	int share;                     /* enum tg_share, cidr entries only */
	bool global;                   /* requests counted fleet-wide (cluster) */
};

enum tg_fallback { TG_FALLBACK_LOCAL_SHARE = 0, TG_FALLBACK_OPEN, TG_FALLBACK_CLOSED };

#define TG_NODE_ID_LEN 64
#define TG_HOST_LEN 256

/* cluster: global quotas shared through Redis (fleet.c). */
/* log.requests: one JSON line per sampled request. */
#define TG_REQLOG_MAX_PER_SEC_DEFAULT 1000
#define TG_REQLOG_MAX_PER_SEC_MAX 1000000
struct tg_reqlog_config {
	bool enabled;         /* false: null, no request log */
	double sample;        /* 0..1, the fraction of requests logged */
	uint32_t max_per_sec; /* records per second at most, 0: no cap */
	char file[TG_PATH_LEN]; /* "stdout" or an absolute path */
};

/* The kernel's sampling threshold for a sample fraction: a request is
 * logged when a random u32 is below it (or always, at sample 1). */
uint32_t tg_reqlog_threshold(double sample);

struct tg_cluster_config {
	bool enabled;                    /* false: "cluster": null or absent */
	char host[TG_HOST_LEN];          /* from redis://host:port ([v6] unbracketed) */
	uint16_t port;
	char node_id[TG_NODE_ID_LEN];    /* default: hostname "-" instance */
	uint32_t sync_interval_ms;       /* 10..60000, default 100 */
	char password_env[TG_ENV_NAME_LEN];
	char password[TG_SECRET_MAX + 1]; /* its value at load; never printed */
	int fallback;                    /* enum tg_fallback */
	uint32_t expected_nodes;         /* 1..1024, default 1: the local share's divisor */
};

#define TG_TLS_MAX_PIDS 64

/* gateway.tls (restart): uprobes on the gateway's libssl. */
struct tg_tls_config {
	bool on;                      /* the key is set (not null) */
	char libssl[TG_PATH_LEN];     /* "": found from the gateway's maps, else the ld cache */
	char cgroup[256];             /* the gateway's cgroup v2 path, or "" with pids */
	uint32_t pids[TG_TLS_MAX_PIDS];
	int n_pids;
};

struct tg_config {
	char instance[TG_INSTANCE_LEN];     /* [A-Za-z0-9_-]{1,31} */
	char interfaces[TG_MAX_INTERFACES][TG_IFNAME_LEN];
	int n_interfaces;
	uint16_t ports[TG_MAX_PORTS];       /* sorted, unique, 1..65535 */
	int n_ports;
	uint32_t max_clients;               /* 1024 .. 16777216 */
	char cgroup[256];                   /* "" (null), "root" or an absolute path */
	struct tg_tls_config tls;           /* gateway.tls */
	int mode;                           /* enum tg_mode (kern/shared.h) */
	uint32_t ipv6_prefix;               /* 1..128 */
	char key_headers[TG_MAX_KEY_HEADERS][TG_KEY_HEADER_LEN]; /* lower case */
	int n_key_headers;
	uint32_t header_scan_bytes;         /* 64..TG_SCAN_MAX */
	bool proxy_protocol;
	struct tg_route_config routes[TG_MAX_ROUTES]; /* in config order; id = index + 1 */
	int n_routes;
	char models[TG_MAX_MODELS][TG_MODEL_NAME_LEN]; /* in config order */
	int n_models;
	uint32_t body_scan_bytes;           /* TG_BODY_SCAN_MIN..TG_BODY_SCAN_MAX */
	struct tg_limits default_limits;    /* quotas.default */
	int default_action;                 /* quotas.default.action */
	struct tg_quota_entry quotas[TG_MAX_QUOTAS - 1];
	int n_quotas;
	struct tg_sublimit sublimits[TG_MAX_SUBLIMITS]; /* grouped by entry, in config order */
	int n_sublimits;
	struct tg_anomaly_config anomaly;
	struct tg_webhook_config webhooks[TG_MAX_WEBHOOKS];
	int n_webhooks;
	char state_dir[TG_PATH_LEN];        /* default /var/lib/tollgate (restart) */
	bool keep;                          /* leave programs attached, maps pinned */
	char user[TG_USER_LEN];             /* "" (null): stay the starting user (restart) */
	uint32_t user_uid, user_gid;        /* user's, resolved when parsed */
	char api_listen[64];                /* "host:port", host IPv4 or [IPv6] */
	/* "" (null): none; "host:port", or "unix:/path" (a sun_path, < 108) */
	char api_check_listen[TG_CHECK_LISTEN_LEN];
	char api_check_group[TG_USER_LEN];  /* "" (null): the socket's group as made */
	uint32_t api_check_gid;             /* api_check_group's, resolved when parsed */
	uint32_t check_deny_status;         /* api.check_deny_status, 400..499 */
	uint32_t check_deny_delay_ms;       /* api.check_deny_delay_ms, 0..1000 */
	struct tg_cidr { uint32_t net[4]; uint32_t prefix_len; } trusted[TG_MAX_TRUSTED];
	int n_trusted;                      /* identity.trusted_proxies */
	char api_token_env[TG_ENV_NAME_LEN]; /* "" (null): the API asks for no token */
	char api_token[TG_SECRET_MAX + 1];  /* its value at load; never printed */
	uint32_t api_top_n;                 /* 1..10000 */
	int log_level;                      /* enum tg_log_level */
	int log_format;                     /* enum tg_log_format */
	struct tg_reqlog_config reqlog;     /* log.requests */
	struct tg_cluster_config cluster;   /* (restart) */
};

/* One error line: "$.json.path: reason". */
struct tg_config_error {
	char path[128];
	char reason[192];
};

#define TG_CONFIG_MAX_ERRORS 32

struct tg_config_errors {
	struct tg_config_error e[TG_CONFIG_MAX_ERRORS];
	int n;
	int dropped; /* errors beyond the array */
};

/* The config compiled into the binary (config/default.json). */
extern const char tg_default_config_json[];

void tg_config_defaults(struct tg_config *cfg);

/* Parses and validates JSON text. Fills cfg (defaults for absent keys) and
 * returns 0, or returns -EINVAL with every error found in errs. */
int tg_config_parse(const char *json, size_t len, struct tg_config *cfg,
		    struct tg_config_errors *errs);

/* Reads and parses a file. A read error is reported as one error with path
 * "$" (and returns -errno). */
int tg_config_load(const char *file, struct tg_config *cfg,
		   struct tg_config_errors *errs);

/* The effective config as JSON (every supported key, defaults filled in).
 * API keys given inline print as "<redacted>", keys from the environment as
 * their api_key_env name, webhook URLs redacted (tg_config_url_redacted)
 * unless the webhook says "redact_url": false. Caller frees. */
char *tg_config_to_json(const struct tg_config *cfg);

/* Prints inline API keys and webhook URLs in clear, so the output parses
 * back to the same config. Only for tests and in-process copies: never
 * print or log it. */
#define TG_CONFIG_JSON_SECRETS 1u

/* tg_config_to_json with TG_CONFIG_JSON_* flags. */
char *tg_config_to_json_flags(const struct tg_config *cfg, unsigned flags);

/* Names of keys that differ between a and b and take effect only after a
 * restart, comma separated into buf ("" when none). */
void tg_config_restart_keys(const struct tg_config *a, const struct tg_config *b,
			    char *buf, size_t len);

/* Prints one "FILE: $.path: reason" line per error, then
 * "FILE: ... N more errors" when some did not fit. */
void tg_config_errors_print(FILE *f, const char *file,
			    const struct tg_config_errors *errs);

/* The detectors' defaults (anomaly.*). */
void tg_config_anomaly_defaults(struct tg_anomaly_config *a);

/* A webhook URL as check-config, /v1/config and the logs show it: its
 * userinfo, query, fragment and any path after the first segment are
 * "<redacted>" (a Slack incoming-webhook URL, a user:password@ or a
 * ?token= is a bearer secret): "https://hooks.slack.com/services/<redacted>".
 * The scheme, host, port and first path segment stay, to tell receivers
 * apart. out: at least TG_URL_LEN + 32 bytes. */
void tg_config_url_redacted(const char *url, char *out, size_t len);

/* addr (network order, IPv4-mapped) is inside one of the trusted CIDRs
 * (identity.trusted_proxies). */
bool tg_config_trusted(const struct tg_config *cfg, const uint32_t addr[4]);
/* What the commands beside a running agent need from its config file
 * (status, top, reload, detach), and `run` before its config parsed: a
 * light read that looks at these keys only. Other keys, unknown ones and
 * secrets that are not in this shell's environment do not matter: under
 * systemd the secrets live in the unit's environment file alone. */
struct tg_config_peek {
	char instance[TG_INSTANCE_LEN];      /* default "default" */
	char api_listen[64];                 /* default "127.0.0.1:9470" */
	char api_token_env[TG_ENV_NAME_LEN]; /* "" for null or absent; its value is not read */
	int log_format;                      /* enum tg_log_format; default logfmt */
};

/* Reads instance, api.listen, api.token_env (the name) and log.format with
 * the full parser's rules. Returns 0, or -EINVAL (-errno when the file
 * cannot be read) with the errors in errs as "$.path: reason"; the keys
 * that were good are filled in either way. */
int tg_config_peek_parse(const char *json, size_t len, struct tg_config_peek *p,
			 struct tg_config_errors *errs);
int tg_config_peek_load(const char *file, struct tg_config_peek *p,
			struct tg_config_errors *errs);

/* An instance name as the config takes it ([A-Za-z0-9_-], 1..31): NULL
 * after storing it in out, or the reason it is refused. */
const char *tg_config_check_instance(const char *in, char *out, size_t len);

#endif
