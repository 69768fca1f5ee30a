/* The local API's routes: the context every handler reads, and what the
 * route files share. The daemon fills the context with pointers into its
 * own state, so the API depends on the subsystems it shows and never on
 * the daemon. */
#ifndef TG_ROUTES_H
#define TG_ROUTES_H

#include <stdint.h>
#include "api/api.h"
#include "bpf/kern.h"
#include "config/config.h"
#include "lib/buf.h"
#include "telemetry/collector.h"
#include "telemetry/events.h"

struct tg_alerts;
struct tg_fleet;

/* /v1/check's state (routes_check.c). */
struct tg_check_state {
	int prog_fd, buckets_fd, abuckets_fd;
	uint64_t known[TG_MAX_QUOTAS]; /* configured API keys' hashes, sorted */
	size_t n_known;
	uint64_t checks, allowed, denied, bad, errors, from_kernel;
};

/* What a reload did, for POST /v1/reload: the daemon runs the reload the
 * SIGHUP path runs and fills this in. */
struct tg_reload_result {
	int err;                   /* 0 reloaded; -EINVAL the config was rejected
				    * (errs); -ENOENT no file (the embedded default);
				    * another: it failed to apply (why) */
	unsigned int generation;   /* the config generation after it */
	const char *file;          /* the config file, or NULL */
	char restart_keys[256];    /* changed keys that wait for a restart, comma separated */
	char why[320];
	struct tg_config_errors errs;
};
typedef void (*tg_reload_fn)(void *arg, struct tg_reload_result *r);

struct tg_api_ctx {
	const struct tg_config *cfg;
	const unsigned int *generation; /* the config generation */
	struct tg_kern *kern;
	struct tg_collector *col;
	struct tg_events *events;
	struct tg_alerts *alerts;
	struct tg_fleet *fleet; /* NULL without cluster (or until it runs) */
	struct tg_api *api;       /* the listeners, for their stats */
	struct tg_api *check_api; /* NULL without api.check_listen */
	struct tg_check_state check;
	tg_reload_fn reload;    /* POST /v1/reload; NULL: not offered */
	void *reload_arg;
};

/* The route table (routes.c). */
extern const struct tg_api_route tg_routes[];
extern const size_t tg_n_routes;

/* The check listener's (api.check_listen): /v1/check, /v1/check/... and
 * /healthz only, so a gateway's checks never share connection slots with
 * anyone else. Its slots: a gateway keeps a pool of connections (nginx:
 * upstream keepalive, per worker), one TCP peer at most half of them. */
extern const struct tg_api_route tg_check_routes[];
extern const size_t tg_n_check_routes;
#define TG_CHECK_MAX_CONNS 512
#define TG_CHECK_MAX_PER_PEER 256

/* routes.c: /healthz, /v1/clients, /v1/clients/{client}, /v1/config,
 * /v1/reload */
/* routes_keys.c: /v1/keys, /v1/keys/{name}, and the bucket fields of
 * /v1/clients */
void tg_h_keys(void *ctx, const struct tg_api_req *req, struct tg_api_resp *resp);
void tg_h_key(void *ctx, const struct tg_api_req *req, struct tg_api_resp *resp);
const char *tg_action_name(unsigned int a);
/* Sums a key's buckets into sum. Returns 1 for a per-address quota
 * (*addresses of them, no single level), 0 for a shared bucket. */
int tg_key_state(struct tg_api_ctx *a, int qid, struct tg_bucket *sum, uint64_t *addresses);
/* ,"routes":{...}: the key's request counts per configured route. */
void tg_key_routes_json(struct tg_api_ctx *a, struct tg_buf *b, int qid);
/* ,"models":{...} of quota id qid (nothing when no models are configured) */
void tg_key_models_json(struct tg_api_ctx *a, struct tg_buf *b, int qid);
/* Dropped request starts of the key whose client closed (never admitted). */
uint64_t tg_key_abandoned(struct tg_api_ctx *a, int qid);
void tg_bucket_levels_json(struct tg_buf *b, const struct tg_quota *q, const struct tg_bucket *bk);
void tg_bucket_counts_json(struct tg_buf *b, const struct tg_bucket *bk);
/* routes_alerts.c: /v1/webhooks */
void tg_h_webhooks(void *ctx, const struct tg_api_req *req, struct tg_api_resp *resp);
/* routes_check.c: /v1/check */
void tg_h_check(void *ctx, const struct tg_api_req *req, struct tg_api_resp *resp);
/* After a (re)load: the configured keys and the kernel's fds. */
void tg_routes_check_reindex(struct tg_api_ctx *a);
/* metrics.c: /metrics */
void tg_h_metrics(void *ctx, const struct tg_api_req *req, struct tg_api_resp *resp);

#endif
