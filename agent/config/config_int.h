/* What the config's own files share: config.c walks the option table and
 * calls the section parsers (config_quotas.c, config_anomaly.c,
 * config_webhooks.c, config_cluster.c, config_routes.c, config_sublimits.c,
 * config_values.c); all of them
 * collect errors through config_util.c. Never included from outside
 * agent/config/. */
#ifndef TG_CONFIG_INT_H
#define TG_CONFIG_INT_H

#include <stdbool.h>
#include <stddef.h>
#include "config/config.h"

struct cJSON;

__attribute__((format(printf, 3, 4)))
void tg_config_errf(struct tg_config_errors *errs, const char *path, const char *fmt, ...);
/* An integral JSON number in min..max (any spelling: 5, 5.0, 5e0). */
bool tg_config_json_int(const struct cJSON *it, long long min, long long max, long long *out);
/* config.c: the text of a config as a JSON object (NUL bytes, \u0000,
 * size and trailing text checked); NULL after adding the error at "$".
 * The caller deletes it. */
struct cJSON *tg_config_json_root(const char *json, size_t len, struct tg_config_errors *errs);
/* config.c: a config file's bytes (a regular file, at most one byte over
 * the size limit, which the parser reports). Returns 0 with *text to free,
 * or -errno after adding "$: cannot read: ..." to errs. */
int tg_config_read(const char *file, char **text, size_t *len, struct tg_config_errors *errs);
/* base.key, or base["key"] escaped when key is not a plain name. */
void tg_config_path_key(char *out, size_t len, const char *base, const char *key);
void tg_config_quotas_parse_default(struct tg_config *cfg, const struct cJSON *v,
				    const char *path, struct tg_config_errors *errs);
void tg_config_quotas_parse_clients(struct tg_config *cfg, const struct cJSON *v,
				    const char *path, struct tg_config_errors *errs);
struct cJSON *tg_config_quotas_default_json(const struct tg_config *cfg, unsigned flags);
struct cJSON *tg_config_quotas_clients_json(const struct tg_config *cfg, unsigned flags);
void tg_config_anomaly_parse(struct tg_config *cfg, const struct cJSON *v, const char *path,
			     struct tg_config_errors *errs);
struct cJSON *tg_config_anomaly_json(const struct tg_config *cfg, unsigned flags);
void tg_config_webhooks_parse(struct tg_config *cfg, const struct cJSON *v, const char *path,
			      struct tg_config_errors *errs);
struct cJSON *tg_config_webhooks_json(const struct tg_config *cfg, unsigned flags);
/* One webhook's settings without its secrets (header values redacted
 * unless TG_CONFIG_JSON_SECRETS): also the options a format's init() gets. */
struct cJSON *tg_config_webhook_json(const struct tg_webhook_config *w, unsigned flags);
/* config_values.c: a reason, or NULL after storing the normalized value */
const char *tg_cfg_check_listen(const char *in, char *out, size_t len);
const char *tg_cfg_check_state_dir(const char *in, char *out, size_t len);
void tg_cfg_parse_trusted(struct tg_config *cfg, const struct cJSON *v, const char *path,
			  struct tg_config_errors *errs);
struct cJSON *tg_cfg_trusted_json(const struct tg_config *cfg, unsigned flags);
/* An environment variable's name, [A-Za-z_][A-Za-z0-9_]{0,62}; the reason
 * every *_env key gives for one that is not. */
bool tg_cfg_env_name_ok(const char *name);
#define TG_CFG_ENV_NAME_BAD "must be an environment variable name: [A-Za-z_][A-Za-z0-9_]{0,62}"
void tg_cfg_parse_token_env(struct tg_config *cfg, const struct cJSON *v, const char *path,
			    struct tg_config_errors *errs);
struct cJSON *tg_cfg_token_env_json(const struct tg_config *cfg, unsigned flags);
const char *tg_cfg_add_iface(struct tg_config *cfg, const struct cJSON *it, char *buf, size_t len);
const char *tg_cfg_add_port(struct tg_config *cfg, const struct cJSON *it, char *buf, size_t len);
const char *tg_cfg_add_header(struct tg_config *cfg, const struct cJSON *it, char *buf, size_t len);
/* api.check_listen: null, "host:port" or "unix:/path"; api.check_group:
 * null or a group name (resolved); and the rules between them and
 * api.listen. */
void tg_cfg_parse_check_listen(struct tg_config *cfg, const struct cJSON *v, const char *path,
			       struct tg_config_errors *errs);
struct cJSON *tg_cfg_check_listen_json(const struct tg_config *cfg, unsigned flags);
void tg_cfg_parse_check_group(struct tg_config *cfg, const struct cJSON *v, const char *path,
			      struct tg_config_errors *errs);
struct cJSON *tg_cfg_check_group_json(const struct tg_config *cfg, unsigned flags);
void tg_cfg_check_listen_cross(struct tg_config *cfg, struct tg_config_errors *errs);
void tg_cfg_parse_user(struct tg_config *cfg, const struct cJSON *v, const char *path,
		       struct tg_config_errors *errs);
struct cJSON *tg_cfg_user_json(const struct tg_config *cfg, unsigned flags);
void tg_cfg_parse_cgroup(struct tg_config *cfg, const struct cJSON *v, const char *path,
			 struct tg_config_errors *errs);
struct cJSON *tg_cfg_cgroup_json(const struct tg_config *cfg, unsigned flags);
/* config_reqlog.c: log.requests (null: off) */
void tg_config_reqlog_parse(struct tg_config *cfg, const struct cJSON *v, const char *path,
			    struct tg_config_errors *errs);
struct cJSON *tg_config_reqlog_json(const struct tg_config *cfg, unsigned flags);
/* config_routes.c: routes, and its default (the OpenAI/Anthropic routes) */
void tg_config_routes_defaults(struct tg_config *cfg);
void tg_config_routes_parse(struct tg_config *cfg, const struct cJSON *v, const char *path,
			    struct tg_config_errors *errs);
struct cJSON *tg_config_routes_json(const struct tg_config *cfg, unsigned flags);
/* config_tls.c: gateway.tls */
void tg_config_tls_parse(struct tg_config *cfg, const struct cJSON *v, const char *path,
			 struct tg_config_errors *errs);
struct cJSON *tg_config_tls_json(const struct tg_config *cfg, unsigned flags);
/* config_routes.c: models (the names counted per key; others are "other") */
void tg_config_models_parse(struct tg_config *cfg, const struct cJSON *v, const char *path,
			    struct tg_config_errors *errs);
struct cJSON *tg_config_models_json(const struct tg_config *cfg, unsigned flags);
/* config_sublimits.c: quotas.clients[qi]'s per_route and per_model (the
 * entry's own keys parsed first); the route names against routes; the
 * entry's sub-limits added to its printed object (false: out of memory). */
void tg_config_sublimits_parse(struct tg_config *cfg, int qi, const struct cJSON *entry,
			       const char *path, struct tg_config_errors *errs);
void tg_config_sublimits_check(const struct tg_config *cfg, struct tg_config_errors *errs);
bool tg_config_sublimits_json(const struct tg_config *cfg, int qi, struct cJSON *entry);
/* config_cluster.c */
void tg_config_cluster_parse(struct tg_config *cfg, const struct cJSON *v, const char *path,
			     struct tg_config_errors *errs);
struct cJSON *tg_config_cluster_json(const struct tg_config *cfg, unsigned flags);
/* The checks between cluster and quotas, and the node_id default. */
void tg_config_cluster_check(struct tg_config *cfg, struct tg_config_errors *errs);

#endif
