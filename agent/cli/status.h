/* `tollgate status`: the per-client counters of a running agent. */
#ifndef TG_STATUS_H
#define TG_STATUS_H

#include <stdbool.h>
#include <stddef.h>

/* Returns the exit code. */
int tg_status_main(const char *listen, const char *token, bool json, int limit, const char *sort);

#endif
