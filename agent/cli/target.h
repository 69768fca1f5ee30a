/* Where the operator commands (status, top, reload, detach) find a
 * running agent, and the API token they send. */
#ifndef TG_CLI_TARGET_H
#define TG_CLI_TARGET_H

#include <stdbool.h>
#include <stddef.h>
#include "cli/api_client.h"
#include "config/config.h"

struct tg_cli_target {
	/* from the command line */
	const char *config;    /* --config FILE, or NULL */
	const char *api;       /* --api HOST:PORT, or NULL */
	const char *token_env; /* --token-env NAME, or NULL */
	/* resolved */
	struct tg_config_peek peek; /* the config's keys: FILE's, else the embedded default's */
	struct tg_api_client cli;   /* listen, token and its variable */
};

/* Fills t->peek and t->cli from the options: the address is --api, else
 * the config's api.listen; the token comes from --token-env NAME (which
 * must be set), else from the variable the config's api.token_env names,
 * else from TOLLGATE_API_TOKEN; to an --api address that is not loopback
 * only when --token-env names it. Only instance, api.listen, api.token_env
 * and log.format of the config are read (tg_config_peek): the agent's
 * secrets need not be in this environment. Returns -1 when resolved, else
 * the exit code (2) after saying why on stderr. */
int tg_cli_target_resolve(const char *cmd, struct tg_cli_target *t);

/* An --api address: HOST:PORT, HOST a name, an IPv4 address or an [IPv6]
 * address, PORT 1..65535. NULL when good, else the reason. */
const char *tg_cli_check_api(const char *api);

/* What answers /healthz at the target. */
struct tg_cli_health {
	int code;              /* HTTP status; -1: nothing answers */
	char instance[64];     /* 200 with a tollgate answer: its instance, else "" */
	char line[512];        /* code != 200: the error line (tg_api_client_explain) */
};
void tg_cli_health_read(struct tg_cli_target *t, long timeout_ms, struct tg_cli_health *h);

/* `detach`'s guard: whether instance may be detached while h is what
 * answers on the API. Returns 0 to go on (a line says why when something
 * answered), else 1 after saying on stderr what answered and what to do. */
int tg_cli_detach_guard(const char *listen, const char *instance, bool force,
			const struct tg_cli_health *h);

#endif
