/* Prometheus text exposition (format 0.0.4): the one place that writes
 * it. api/metrics.c renders every tollgate_* family of /metrics from the
 * figures the subsystems expose. */
#ifndef TG_METRICS_H
#define TG_METRICS_H

#include <stddef.h>
#include "lib/buf.h"

/* "# HELP tollgate_<name> <help>" and "# TYPE tollgate_<name> <type>". */
void tg_metric_family(struct tg_buf *b, const char *name, const char *type, const char *help);

/* One sample: tollgate_<name>{instance="<inst>"<labels>} <value>, the value
 * printed with vfmt. labels is "" or ",k=\"v\"..." (tg_metric_label). */
__attribute__((format(printf, 5, 6)))
void tg_metric_sample(struct tg_buf *b, const char *name, const char *inst, const char *labels,
		      const char *vfmt, ...);

/* A family of one sample with the instance label only (%.17g). */
void tg_metric_one(struct tg_buf *b, const char *name, const char *type, const char *help,
		   const char *inst, double v);

/* Appends ,key="value" to buf (value escaped: \\, \" and \n), NUL-terminated
 * and truncated to len. Returns buf. */
char *tg_metric_label(char *buf, size_t len, const char *key, const char *value);

#endif
