/* A blocking client of the agent's local API, for the CLI. */
#ifndef TG_API_CLIENT_H
#define TG_API_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include "lib/buf.h"

/* A blocking client of the local API; the connection is kept between
 * requests. */
struct tg_api_client {
	const char *listen;     /* "host:port" */
	const char *token;      /* sent as X-Tollgate-Token; NULL for none */
	const char *token_var;  /* the variable token came from (for messages) */
	const char *token_unset; /* the config's api.token_env when it is not set
				  * in this environment (for messages), or NULL */
	long timeout_ms;
	void *curl;             /* CURL *, made on first use */
	void *hdrs;             /* struct curl_slist * */
};

/* method (GET, POST: an empty body) http://listen/path into body (reset
 * first). Returns the HTTP status, or -1 with err filled in. */
int tg_api_client_request(struct tg_api_client *c, const char *method, const char *path,
			  struct tg_buf *body, char *err, size_t errlen);
int tg_api_client_get(struct tg_api_client *c, const char *path, struct tg_buf *body,
		      char *err, size_t errlen);
void tg_api_client_free(struct tg_api_client *c);

#define TG_API_TOKEN_ENV_DEFAULT "TOLLGATE_API_TOKEN"

/* The value of the variable name: NULL when it is unset or empty. *bad is
 * set (and NULL returned) when the value cannot go into a header. */
const char *tg_api_client_token_env(const char *name, bool *bad);

/* Whether the CLI sends the token to api (the --api address, NULL when
 * the address is the config's api.listen): always for the config's
 * address or when the user named the variable (--token-env); for an
 * --api address only when it is loopback. A token in the environment is
 * not handed to whatever host a command line names. */
bool tg_api_client_may_send_token(const char *api, bool token_env_given);

/* The error line for a failed answer ("cannot reach ...", "the agent asks
 * for an API token ...", "the agent refused the API token from ...", "the
 * agent answered 500: ..."), after "cmd: " unless cmd is NULL. */
void tg_api_client_explain(const char *cmd, const struct tg_api_client *c, int code,
			   const struct tg_buf *body, const char *err, char *out, size_t len);

#endif
