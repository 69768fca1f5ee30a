/* stand-in until the formats change lands: the body is the event */
#include <stdlib.h>
#include <string.h>

#include "formats.h"

static void *generic_init(const char *name, const char *options, const char **err)
{
	return NULL;
}

static int generic_format(void *state, const struct tollgate_hook_event *ev,
			  struct tollgate_hook_output *out)
{
	out->body = malloc(ev->json_len + 1);
	if (!out->body)
		return -1;
	memcpy(out->body, ev->json, ev->json_len + 1);
	out->body_len = ev->json_len;
	strcpy(out->content_type, "application/json");
	return 0;
}

static void generic_fini(void *state)
{
}

const struct tollgate_hook tg_format_generic = {
	.abi_version = TOLLGATE_HOOK_ABI_VERSION,
	.name = "generic",
	.init = generic_init,
	.format = generic_format,
	.fini = generic_fini,
};
