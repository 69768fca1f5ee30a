/* `tollgate reload`: asks a running agent to reload its config file
 * (POST /v1/reload, the SIGHUP path) and prints what came of it. */
#ifndef TG_RELOAD_H
#define TG_RELOAD_H

#include "cli/target.h"

/* Returns the exit code: 0 reloaded, 2 the agent rejected the config (its
 * errors printed as FILE: $.path: reason), 1 anything else. */
int tg_reload_main(struct tg_cli_target *t);

#endif
