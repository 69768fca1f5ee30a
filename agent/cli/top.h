/* `tollgate top`: a live table of the top clients of a running agent. */
#ifndef TG_TOP_H
#define TG_TOP_H

#include <stdbool.h>
#include "cli/target.h"

struct tg_top_opts {
	struct tg_cli_target *target; /* the agent, resolved */
	const char *sort;    /* a /v1/clients sort key */
	int rows;            /* clients shown; 0: as many as the terminal holds */
	bool once;           /* one plain frame, then exit */
};

/* Returns the exit code: 0, or 1 when a single frame (--once, or stdout
 * not a terminal) could not be read from the agent. */
int tg_top_main(const struct tg_top_opts *o);

#endif
