/* Files and directories: the one home of the agent's path helpers. */
#ifndef TG_FS_H
#define TG_FS_H

#include <stddef.h>
#include <sys/types.h>

/* mkdir -p: each missing component made with mode. Returns 0, or a
 * negative errno (-ENAMETOOLONG for a path of PATH_MAX or more). */
int tg_mkdir_p(const char *path, mode_t mode);

/* A regular file of at most max bytes into a malloc'd, NUL-terminated
 * buffer. Returns 0, -EFBIG (larger, or not a regular file) or another
 * negative errno. */
int tg_read_file(const char *path, size_t max, char **out, size_t *len);

#endif
