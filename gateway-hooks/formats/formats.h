/* The built-in webhook formats and the plugin loader. */
#ifndef TG_FORMATS_H
#define TG_FORMATS_H

#include <stddef.h>
#include <sys/types.h>
#include "formats/tollgate_hook.h"

#define TG_SCHEMA_ANOMALY "tollgate.anomaly.v1"
#define TG_SCHEMA_TRIAGE "tollgate.triage.v1"

/* enum tg_hook_format (config.h) -> the built-in format, NULL for
 * TG_FMT_PLUGIN. */
const struct tollgate_hook *tg_format_builtin(int format);

extern const struct tollgate_hook tg_format_generic;
extern const struct tollgate_hook tg_format_alertmanager;
extern const struct tollgate_hook tg_format_slack;
extern const struct tollgate_hook tg_format_openai;

/* dlopen()s a plugin and checks its ABI version. The plugin and every
 * directory above it must be owned by root (or by owner: tests pass their
 * own uid, the agent 0) and writable by neither group nor others
 * (tg_fs_trusted_file). Returns 0 with *hook and *handle (for
 * tg_format_plugin_close), or -1 with a reason naming path in err. */
int tg_format_plugin_open(const char *path, uid_t owner, const struct tollgate_hook **hook,
			  void **handle, char *err, size_t errlen);
void tg_format_plugin_close(void *handle);

/* The openai format's follow-up: the reply of /v1/chat/completions
 * (choices[0].message.content) as a tollgate.triage.v1 event naming
 * event_id. Returns the event JSON (malloc'd) and its new id in id_out, or
 * NULL with a reason in err (a reply that is not a chat completion). */
char *tg_openai_triage_event(const char *reply, size_t len, const char *event_id,
			     int severity, const char *instance, const char *host,
			     const char *agent_version, const char *model,
			     char id_out[40], char *err, size_t errlen);

#endif
