/* A format plugin that shows whether it was ever loaded: its constructor
 * runs at dlopen, before the agent calls anything, and creates the file
 * named by TG_PLUGIN_MARKER. What an attacker's plugin would do with that
 * moment is up to them; the tests that plant this one assert the file
 * never appears. */
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#include "formats/tollgate_hook.h"

__attribute__((constructor)) static void marker_loaded(void)
{
	const char *path = getenv("TG_PLUGIN_MARKER");
	int fd;

	if (!path || !*path)
		return;
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd >= 0) {
		(void)!write(fd, "loaded\n", 7);
		close(fd);
	}
}

static const struct tollgate_hook marker_hook = {
	.abi_version = 99, /* never used: refused before this, or after */
	.name = "marker",
};

const struct tollgate_hook *tollgate_hook_v1(void)
{
	return &marker_hook;
}
