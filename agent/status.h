/* Commands that read a running agent through its local API. */
#ifndef TG_STATUS_H
#define TG_STATUS_H

#include <stdbool.h>
#include <stddef.h>
#include "buf.h"

int tg_http_get(const char *listen, const char *path, struct tg_buf *body,
		char *err, size_t errlen);
/* Returns the exit code. */
int tg_status_main(const char *listen, bool json, int limit, const char *sort);

#endif
