/* `tollgate status`: the per-client counters of a running agent. */
#ifndef TG_STATUS_H
#define TG_STATUS_H

#include <stdbool.h>
#include "cli/target.h"

/* Returns the exit code. */
int tg_status_main(struct tg_cli_target *t, bool json, int limit, const char *sort);

#endif
