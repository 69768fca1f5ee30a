/* A format plugin of a future ABI (version 99): the agent must refuse it
 * before touching anything but abi_version. */
#include <stddef.h>

#include "formats/tollgate_hook.h"

static const struct tollgate_hook badabi_hook = {
	.abi_version = 99,
	.name = "badabi",
};

const struct tollgate_hook *tollgate_hook_v1(void)
{
	return &badabi_hook;
}
