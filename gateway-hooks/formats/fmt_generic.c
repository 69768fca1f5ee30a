/* The generic format: the event itself, byte for byte, so that a receiver
 * checking the Standard Webhooks signature sees exactly what was signed and
 * what the schema describes. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "formats/fmt_util.h"
#include "formats/formats.h"

static void *generic_init(const char *webhook_name, const char *options_json, const char **err)
{
	if (err)
		*err = NULL;
	return NULL;
}

static int generic_format(void *state, const struct tollgate_hook_event *ev,
			  struct tollgate_hook_output *out)
{
	cJSON *root;
	size_t len;
	int kind;

	tg_fmt_out_clear(out);
	/* Checked like every format's input, so a malformed event fails the
	 * same way whichever webhook it is for; but sent as it came. */
	kind = tg_fmt_parse_event(ev, &root);
	if (kind < 0)
		return kind;
	cJSON_Delete(root);
	/* a json_len that counts the NUL must not put a NUL in the body */
	len = ev->json_len ? strnlen(ev->json, ev->json_len) : strlen(ev->json);
	out->body = malloc(len + 1);
	if (!out->body)
		return -ENOMEM;
	memcpy(out->body, ev->json, len);
	out->body[len] = '\0';
	out->body_len = len;
	snprintf(out->content_type, sizeof(out->content_type), "application/json");
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
