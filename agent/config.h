/* The agent's configuration: parsing, validation and printing of the JSON
 * config described in the README's config reference. */
#ifndef TG_CONFIG_H
#define TG_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "shared.h"

#define TG_MAX_INTERFACES 32
#define TG_MAX_PORTS 64
#define TG_IFNAME_LEN 16 /* IFNAMSIZ */
#define TG_INSTANCE_LEN 32

enum tg_log_level { TG_LOG_ERROR = 0, TG_LOG_WARN, TG_LOG_INFO, TG_LOG_DEBUG };
enum tg_log_format { TG_LOG_LOGFMT = 0, TG_LOG_JSON };

#define TG_NAME_LEN 32        /* a quota entry's name: [A-Za-z0-9_.-]{1,31} */
#define TG_ENV_NAME_LEN 64

enum tg_match { TG_MATCH_CIDR = 0, TG_MATCH_API_KEY = 1 };
enum tg_share { TG_SHARE_SHARED = 0, TG_SHARE_PER_ADDRESS = 1 };

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
};

struct tg_config {
	char instance[TG_INSTANCE_LEN];     /* [A-Za-z0-9_-]{1,31} */
	char interfaces[TG_MAX_INTERFACES][TG_IFNAME_LEN];
	int n_interfaces;
	uint16_t ports[TG_MAX_PORTS];       /* sorted, unique, 1..65535 */
	int n_ports;
	uint32_t max_clients;               /* 1024 .. 16777216 */
	char cgroup[256];                   /* "" (null), "root" or an absolute path */
	int mode;                           /* enum tg_mode (kern/shared.h) */
	uint32_t ipv6_prefix;               /* 1..128 */
	char key_headers[TG_MAX_KEY_HEADERS][TG_KEY_HEADER_LEN]; /* lower case */
	int n_key_headers;
	uint32_t header_scan_bytes;         /* 64..TG_SCAN_MAX */
	bool proxy_protocol;
	struct tg_limits default_limits;    /* quotas.default */
	int default_action;                 /* quotas.default.action */
	struct tg_quota_entry quotas[TG_MAX_QUOTAS - 1];
	int n_quotas;
	char api_listen[64];                /* "host:port", host IPv4 or [IPv6] */
	uint32_t api_top_n;                 /* 1..10000 */
	int log_level;                      /* enum tg_log_level */
	int log_format;                     /* enum tg_log_format */
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
 * their api_key_env name. Caller frees. */
char *tg_config_to_json(const struct tg_config *cfg);

/* Prints inline API keys in clear, so the output parses back to the same
 * config. Only for tests and in-process copies: never print or log it. */
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

#define TG_CIDR_STR_LEN 52 /* INET6_ADDRSTRLEN + "/128" */

/* "198.18.0.0/16", "fd00:198:18::/64", or a bare address (a /32 or /128)
 * into net (network order, IPv4 as ::ffff:a.b.c.d) and a prefix length in
 * IPv6 terms (an IPv4 /16 is 112). Returns 0; -EINVAL when malformed;
 * -ERANGE when host bits are set, with net and prefix_len filled in with
 * the network the text probably meant. */
int tg_cidr_parse(const char *s, uint32_t net[4], uint32_t *prefix_len);

/* The inverse: an IPv4-mapped network of 96 bits or more prints as IPv4.
 * len >= TG_CIDR_STR_LEN. */
void tg_cidr_format(const uint32_t net[4], uint32_t prefix_len, char *buf, size_t len);

/* Between config.c and config_quotas.c only. */
struct cJSON;

__attribute__((format(printf, 3, 4)))
void tg_config_errf(struct tg_config_errors *errs, const char *path, const char *fmt, ...);
/* An integral JSON number in min..max (any spelling: 5, 5.0, 5e0). */
bool tg_config_json_int(const struct cJSON *it, long long min, long long max, long long *out);
/* base.key, or base["key"] escaped when key is not a plain name. */
void tg_config_path_key(char *out, size_t len, const char *base, const char *key);
void tg_config_quotas_parse_default(struct tg_config *cfg, const struct cJSON *v,
				    const char *path, struct tg_config_errors *errs);
void tg_config_quotas_parse_clients(struct tg_config *cfg, const struct cJSON *v,
				    const char *path, struct tg_config_errors *errs);
struct cJSON *tg_config_quotas_default_json(const struct tg_config *cfg, unsigned flags);
struct cJSON *tg_config_quotas_clients_json(const struct tg_config *cfg, unsigned flags);
/* config_values.c: a reason, or NULL after storing the normalized value */
const char *tg_cfg_check_instance(const char *in, char *out, size_t len);
const char *tg_cfg_check_listen(const char *in, char *out, size_t len);
const char *tg_cfg_add_iface(struct tg_config *cfg, const struct cJSON *it, char *buf, size_t len);
const char *tg_cfg_add_port(struct tg_config *cfg, const struct cJSON *it, char *buf, size_t len);
const char *tg_cfg_add_header(struct tg_config *cfg, const struct cJSON *it, char *buf, size_t len);
void tg_cfg_parse_cgroup(struct tg_config *cfg, const struct cJSON *v, const char *path,
			 struct tg_config_errors *errs);
struct cJSON *tg_cfg_cgroup_json(const struct tg_config *cfg, unsigned flags);

#endif
