/* stand-in until the formats change lands: generic and openai only, no plugins */
#include <stdio.h>

#include "formats.h"
#include "config.h"

const struct tollgate_hook *tg_format_builtin(int format)
{
	switch (format) {
	case TG_FMT_GENERIC:
		return &tg_format_generic;
	case TG_FMT_OPENAI:
		return &tg_format_openai;
	default:
		return NULL;
	}
}

int tg_format_plugin_open(const char *path, const struct tollgate_hook **hook, void **handle,
			  char *err, size_t errlen)
{
	snprintf(err, errlen, "%s: plugins are not supported by this stand-in", path);
	return -1;
}

void tg_format_plugin_close(void *handle)
{
}
