/* Handlers and helpers shared by the API's route files. */
#ifndef TG_ROUTES_H
#define TG_ROUTES_H

#include <stdint.h>
#include "daemon/agent.h"
#include "api/api.h"
#include "lib/buf.h"
#include "bpf/quotas.h"

/* Replaces the body with {"error": msg} and sets the status. */
void tg_json_error(struct tg_api_resp *resp, int status, const char *msg);
const char *tg_action_name(unsigned int a);
int tg_key_state(struct tg_agent *a, int qid, struct tg_bucket *sum, uint64_t *addresses);
void tg_bucket_levels_json(struct tg_buf *b, const struct tg_quota *q, const struct tg_bucket *bk);
void tg_bucket_counts_json(struct tg_buf *b, const struct tg_bucket *bk);
void tg_keys_metrics(struct tg_agent *a, struct tg_buf *b);
/* routes_check.c */
void tg_check_reindex(struct tg_agent *a);
void tg_h_check(void *ctx, const struct tg_api_req *req, struct tg_api_resp *resp);
void tg_check_metrics(struct tg_agent *a, struct tg_buf *b);
/* routes_alerts.c */
void tg_alerts_metrics(struct tg_agent *a, struct tg_buf *b);
void tg_h_webhooks(void *ctx, const struct tg_api_req *req, struct tg_api_resp *resp);
void tg_h_keys(void *ctx, const struct tg_api_req *req, struct tg_api_resp *resp);
void tg_h_key(void *ctx, const struct tg_api_req *req, struct tg_api_resp *resp);

#endif
