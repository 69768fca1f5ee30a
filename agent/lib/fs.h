/* Files and directories: the one home of the agent's path helpers.
 *
 * What lives under a directory another user may write (the state tree of
 * an agent that ran as `user`, the pins under bpffs) is reached from a
 * directory fd, one component at a time, with O_NOFOLLOW: a symlink or a
 * directory swapped for one is refused, never followed. Functions that
 * take a `shown` path use it in their messages only. */
#ifndef TG_FS_H
#define TG_FS_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* mkdir -p: each missing component made with mode. Returns 0, or a
 * negative errno (-ENAMETOOLONG for a path of PATH_MAX or more). For
 * paths of the operator's (the config's): it follows symlinks. */
int tg_mkdir_p(const char *path, mode_t mode);

/* openat(name, O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC): the fd, or -ELOOP
 * for a symlink (which openat itself reports as ENOTDIR), -ENOTDIR, or
 * another negative errno. */
int tg_fs_open_dir_at(int dirfd, const char *name);

/* A directory fd is safe to work under for owner: a directory, owned by
 * owner (or by root when root_ok), not writable by group or others.
 * Returns 0, or -ENOTDIR, -EPERM (owner) or -EACCES (mode) with a
 * sentence naming shown in why. */
int tg_fs_dir_check(int fd, const char *shown, uid_t owner, bool root_ok, char *why,
		    size_t whylen);

/* Opens rel ("a/b/c", relative) under dirfd one component at a time with
 * O_NOFOLLOW, making missing components with mode when mode is not 0,
 * and checks each with tg_fs_dir_check (owner only). Returns the last
 * directory's fd (O_CLOEXEC), or a negative errno with why naming
 * shown/<the component>: -ELOOP for a symlink, -ENOTDIR, -EPERM, -EACCES,
 * -ENOENT. */
int tg_fs_open_dirs(int dirfd, const char *shown, const char *rel, mode_t mode, uid_t owner,
		    char *why, size_t whylen);

/* Opens name under dirfd with flags | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC
 * (mode for O_CREAT) and checks what was opened: a regular file with one
 * link (a hard link could be anyone's file). Returns the fd (blocking
 * again), or -ELOOP (a symlink), -EINVAL (not a regular file: a FIFO,
 * a device), -EMLINK (linked elsewhere) or another negative errno. A
 * missing name is -ENOENT unless flags has O_CREAT. */
int tg_fs_open_file_at(int dirfd, const char *name, int flags, mode_t mode);

/* A regular file of at most max bytes (tg_fs_open_file_at) into a
 * malloc'd, NUL-terminated buffer. Returns 0, -EFBIG (larger) or another
 * negative errno. */
int tg_fs_read_at(int dirfd, const char *name, size_t max, char **out, size_t *len);

/* Gives the directory fd's tree to uid:gid: the directory itself and what
 * is under it, depth-first from held fds, never following a symlink;
 * symlinks and files with more than one link are left as they are (a
 * hard link to a file elsewhere must not be given away). Returns 0, or a
 * negative errno with why naming shown/<the entry>. */
int tg_fs_chown_tree(int fd, const char *shown, uid_t uid, gid_t gid, char *why,
		     size_t whylen);

/* rm -r of the directory name under dirfd (AT_FDCWD and an absolute path
 * work), never following a symlink: a symlink is removed itself, not what
 * it points at. Returns 0, or a negative errno with why naming the entry.
 * A name that does not exist is -ENOENT. */
int tg_fs_remove_tree(int dirfd, const char *name, char *why, size_t whylen);

/* Code the agent loads (a format plugin) must be out of reach of anyone
 * but root: path (symlinks resolved) is a regular file, and it and every
 * directory above it are owned by root or by owner and writable by
 * neither group nor others; above the file's own directory, a root-owned
 * sticky directory (/tmp, mode 1777) is accepted, as nobody else can
 * rename or remove what is in it. Returns 0 with the resolved path in resolved
 * (PATH_MAX bytes, or NULL): load that one, since a symlink on the way
 * may sit in a directory nobody checked. Else a negative errno with a
 * sentence in why that names path and the offending component. The agent
 * passes owner 0; tests pass their own uid. */
int tg_fs_trusted_file(const char *path, uid_t owner, char *resolved, char *why, size_t whylen);

#endif
