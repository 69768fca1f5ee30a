/* A blocking client of the agent's local API, for the CLI. */
#ifndef TG_API_CLIENT_H
#define TG_API_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include "lib/buf.h"

/* A blocking client of the local API; the connection is kept between
 * requests. */
struct tg_api_client {
	const char *listen;  /* "host:port" */
	const char *token;   /* sent as X-Tollgate-Token; NULL for none */
	long timeout_ms;
	void *curl;          /* CURL *, made on first use */
	void *hdrs;          /* struct curl_slist * */
};

/* GETs http://listen/path into body (reset first). Returns the HTTP status,
 * or -1 with err filled in. */
int tg_api_client_get(struct tg_api_client *c, const char *path, struct tg_buf *body,
		      char *err, size_t errlen);
void tg_api_client_free(struct tg_api_client *c);

/* The API token for status and top: from the variable `name` (--token-env,
 * else the config's api.token_env, else TOLLGATE_API_TOKEN), falling back
 * to TOLLGATE_API_TOKEN. NULL when neither is set. *bad is set when the
 * value cannot go into a header. */
const char *tg_api_client_token_from_env(const char *name, bool *bad);

#define TG_API_TOKEN_ENV_DEFAULT "TOLLGATE_API_TOKEN"

/* Whether status and top send the token to api (the --api address, NULL
 * when the address is the config's api.listen): always for the config's
 * address or when the user named the variable (--token-env); for an
 * --api address only when it is loopback. A token in the environment is
 * not handed to whatever host a command line names. */
bool tg_api_client_may_send_token(const char *api, bool token_env_given);

/* The error line for a failed answer ("cannot reach ...", "the agent asks
 * for an API token ...", "the agent answered 500: ..."), after "cmd: "
 * unless cmd is NULL. */
void tg_api_client_explain(const char *cmd, const char *listen, int code,
			   const struct tg_buf *body, const char *err, char *out, size_t len);

#endif
