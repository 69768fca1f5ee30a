/* The agent's configuration: parsing, validation and printing of the JSON
 * config described in the README's config reference. */
#ifndef TG_CONFIG_H
#define TG_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define TG_MAX_INTERFACES 32
#define TG_MAX_PORTS 64
#define TG_IFNAME_LEN 16 /* IFNAMSIZ */
#define TG_INSTANCE_LEN 32

enum tg_log_level { TG_LOG_ERROR = 0, TG_LOG_WARN, TG_LOG_INFO, TG_LOG_DEBUG };
enum tg_log_format { TG_LOG_LOGFMT = 0, TG_LOG_JSON };

struct tg_config {
	char instance[TG_INSTANCE_LEN];     /* [A-Za-z0-9_-]{1,31} */
	char interfaces[TG_MAX_INTERFACES][TG_IFNAME_LEN];
	int n_interfaces;
	uint16_t ports[TG_MAX_PORTS];       /* sorted, unique, 1..65535 */
	int n_ports;
	uint32_t max_clients;               /* 1024 .. 16777216 */
	int mode;                           /* enum tg_mode (kern/shared.h) */
	uint32_t ipv6_prefix;               /* 1..128 */
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
 * Caller frees. */
char *tg_config_to_json(const struct tg_config *cfg);

/* Names of keys that differ between a and b and take effect only after a
 * restart, comma separated into buf ("" when none). */
void tg_config_restart_keys(const struct tg_config *a, const struct tg_config *b,
			    char *buf, size_t len);

/* Prints one "FILE: $.path: reason" line per error, then
 * "FILE: ... N more errors" when some did not fit. */
void tg_config_errors_print(FILE *f, const char *file,
			    const struct tg_config_errors *errs);

#endif
