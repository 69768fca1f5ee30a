/* Leveled logging, logfmt or JSON lines on stderr. */
#ifndef TG_LOG_H
#define TG_LOG_H

#include <stdarg.h>
#include <stddef.h>

enum tg_log_level { TG_LOG_ERROR = 0, TG_LOG_WARN, TG_LOG_INFO, TG_LOG_DEBUG };
enum tg_log_format { TG_LOG_LOGFMT = 0, TG_LOG_JSON };

extern int tg_log_level_cur;

void tg_log_setup(int level, int format);

/* "error".."debug" / "logfmt", "json" to the enum value, or -1. */
int tg_log_level_parse(const char *s);
int tg_log_format_parse(const char *s);

/* s itself when it needs no quoting as a logfmt value, else a double-quoted,
 * escaped copy of it in buf (truncated to fit, still quoted). */
const char *tg_log_quote(char *buf, size_t len, const char *s);

/* msg is a fixed message; the variadic part is a printf format producing
 * space-separated key=value pairs (values already quoted where needed with
 * tg_log_quote), or NULL. */
void tg_log_emit(int level, const char *msg, const char *kvfmt, ...)
	__attribute__((format(printf, 3, 4)));

/* A failure that stops the agent: one sentence that says what to do,
 * written as an error line in log.format (JSON or logfmt), like every
 * other line on stderr. */
void tg_log_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Arguments are not evaluated when the level is off. */
#define tg_log(lvl, msg, ...)                                                  \
	do {                                                                   \
		if ((lvl) <= tg_log_level_cur)                                 \
			tg_log_emit((lvl), (msg), __VA_ARGS__);                \
	} while (0)
#define pr_err(msg, ...) tg_log(TG_LOG_ERROR, msg, __VA_ARGS__)
#define pr_warn(msg, ...) tg_log(TG_LOG_WARN, msg, __VA_ARGS__)
#define pr_info(msg, ...) tg_log(TG_LOG_INFO, msg, __VA_ARGS__)
#define pr_debug(msg, ...) tg_log(TG_LOG_DEBUG, msg, __VA_ARGS__)

#endif
