/* `tollgate detach`: the emergency removal of an instance's TC filters and
 * pins when its agent can no longer do it (killed with SIGKILL, crashed). */
#ifndef TG_DETACH_H
#define TG_DETACH_H

#include <stdbool.h>

struct tg_detach_opts {
	const char *instance; /* validated: [A-Za-z0-9_-]{1,31} */
};

/* Prints one line per action. Returns the exit code: 0 done (or nothing
 * attached), 1 a failure. Whether the instance's agent still runs is the
 * caller's question (the CLI asks its API first). */
int tg_detach_main(const struct tg_detach_opts *o);

/* The same filter removal for one pin directory (a layout version the
 * agent migrated from): on every interface of the current namespace,
 * removes the filters at tollgate's handle and priority that run
 * tg_tc_ingress/tg_tc_egress using a map pinned under dir; nothing else,
 * orphans included. fn gets one line per removal or failure. Returns the
 * filters removed, or -1 after a failure. */
int tg_detach_dir_filters(const char *dir, void (*fn)(void *arg, bool error, const char *line),
			  void *arg);

#endif
