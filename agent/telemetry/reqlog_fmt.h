/* The request log's lines: one kernel record (struct tg_reqlog_rec) as one
 * JSON object (schema/tollgate.request.v1.schema.json). Pure: the unit
 * tests and the schema check render lines with it. */
#ifndef TG_REQLOG_FMT_H
#define TG_REQLOG_FMT_H

#include <stddef.h>
#include <stdint.h>
#include "shared.h"

/* What the record's ids name. key: the quota entry's name, "other" for a
 * request that fell to quotas.default or to no quota; route: "other" for
 * route id 0; model: NULL for none (TG_MODEL_NONE). */
struct tg_reqlog_names {
	const char *key;
	const char *route;
	const char *model;
};

const char *tg_method_name(unsigned int method);        /* "GET" .. , "other" */
const char *tg_reqlog_verdict_name(unsigned int verdict); /* "allowed" .. */

/* The line for r (its start at wall time wall_ns), newline included, into
 * buf. Returns its length, or -1 when it does not fit. */
int tg_reqlog_format(const struct tg_reqlog_rec *r, uint64_t wall_ns,
		     const struct tg_reqlog_names *n, char *buf, size_t len);

#endif
