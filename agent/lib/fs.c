#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include "lib/fs.h"

/* Deeper trees are not ours: the state tree is 3 levels, the pins 2. */
#define TG_FS_MAX_DEPTH 16

int tg_mkdir_p(const char *path, mode_t mode)
{
	char buf[PATH_MAX];
	size_t n = strlen(path), i;

	if (n == 0 || n >= sizeof(buf))
		return -ENAMETOOLONG;
	memcpy(buf, path, n + 1);
	for (i = 1; i <= n; i++) {
		if (buf[i] != '/' && buf[i] != '\0')
			continue;
		buf[i] = '\0';
		if (mkdir(buf, mode) < 0 && errno != EEXIST)
			return -errno;
		buf[i] = path[i];
	}
	return 0;
}

int tg_fs_open_dir_at(int dirfd, const char *name)
{
	struct stat st;
	int fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

	if (fd >= 0)
		return fd;
	/* O_DIRECTORY wins over O_NOFOLLOW: a symlink says ENOTDIR */
	if (errno == ENOTDIR && fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
	    S_ISLNK(st.st_mode))
		return -ELOOP;
	return -errno;
}

static int st_check(const struct stat *st, const char *shown, uid_t owner, bool root_ok,
		    char *why, size_t whylen)
{
	if (!S_ISDIR(st->st_mode)) {
		snprintf(why, whylen, "%s is not a directory", shown);
		return -ENOTDIR;
	}
	if (st->st_uid != owner && !(root_ok && st->st_uid == 0)) {
		snprintf(why, whylen, "%s is owned by uid %u, not uid %u (the user the agent "
			 "runs as)%s", shown, (unsigned)st->st_uid, (unsigned)owner,
			 root_ok && owner ? " or root" : "");
		return -EPERM;
	}
	if (st->st_mode & (S_IWGRP | S_IWOTH)) {
		snprintf(why, whylen, "%s is writable by group or others (mode %04o)", shown,
			 (unsigned)(st->st_mode & 07777));
		return -EACCES;
	}
	return 0;
}

int tg_fs_dir_check(int fd, const char *shown, uid_t owner, bool root_ok, char *why,
		    size_t whylen)
{
	struct stat st;

	if (fstat(fd, &st) < 0) {
		int rc = -errno;

		snprintf(why, whylen, "%s: %s", shown, strerror(-rc));
		return rc;
	}
	return st_check(&st, shown, owner, root_ok, why, whylen);
}

int tg_fs_open_dirs(int dirfd, const char *shown, const char *rel, mode_t mode, uid_t owner,
		    char *why, size_t whylen)
{
	char comp[NAME_MAX + 1], path[PATH_MAX];
	const char *p = rel;
	int fd = dirfd, rc;

	snprintf(path, sizeof(path), "%s", shown);
	while (*p) {
		size_t n = strcspn(p, "/");
		int next;

		if (n == 0) {
			p++;
			continue;
		}
		if (n >= sizeof(comp) || (n == 2 && !strncmp(p, "..", 2)) ||
		    (n == 1 && p[0] == '.')) {
			snprintf(why, whylen, "%s: bad path component in %s", shown, rel);
			rc = -EINVAL;
			goto fail;
		}
		memcpy(comp, p, n);
		comp[n] = '\0';
		p += n;
		if (strlen(path) + n + 2 < sizeof(path))
			strcat(strcat(path, "/"), comp);
		next = tg_fs_open_dir_at(fd, comp);
		if (next == -ENOENT && mode) {
			if (mkdirat(fd, comp, mode) < 0 && errno != EEXIST) {
				rc = -errno;
				snprintf(why, whylen, "cannot make %s: %s", path, strerror(-rc));
				goto fail;
			}
			next = tg_fs_open_dir_at(fd, comp);
		}
		if (next < 0) {
			rc = next;
			if (rc == -ELOOP)
				snprintf(why, whylen, "%s is a symbolic link: refused", path);
			else if (rc == -ENOTDIR)
				snprintf(why, whylen, "%s is not a directory", path);
			else
				snprintf(why, whylen, "%s: %s", path, strerror(-rc));
			goto fail;
		}
		if (fd != dirfd)
			close(fd);
		fd = next;
		if ((rc = tg_fs_dir_check(fd, path, owner, false, why, whylen)) < 0)
			goto fail;
	}
	if (fd == dirfd) { /* rel named nothing: the fd itself, our own copy */
		fd = fcntl(dirfd, F_DUPFD_CLOEXEC, 0);
		if (fd < 0) {
			rc = -errno;
			snprintf(why, whylen, "%s: %s", shown, strerror(-rc));
			return rc;
		}
	}
	return fd;
fail:
	if (fd != dirfd)
		close(fd);
	return rc;
}

int tg_fs_open_file_at(int dirfd, const char *name, int flags, mode_t mode)
{
	struct stat st;
	int fd, rc;

	/* Looked at first, so a device or FIFO is not even opened. */
	if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0) {
		if (S_ISLNK(st.st_mode))
			return -ELOOP;
		if (!S_ISREG(st.st_mode))
			return -EINVAL;
	} else if (errno != ENOENT || !(flags & O_CREAT)) {
		return -errno;
	}
	fd = openat(dirfd, name, flags | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC, mode);
	if (fd < 0)
		return -errno;
	rc = fstat(fd, &st) < 0 ? -errno : !S_ISREG(st.st_mode) ? -EINVAL
					   : st.st_nlink > 1 ? -EMLINK : 0;
	if (!rc && fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK) < 0)
		rc = -errno;
	if (rc) {
		close(fd);
		return rc;
	}
	return fd;
}

int tg_fs_read_at(int dirfd, const char *name, size_t max, char **out, size_t *len)
{
	struct stat st;
	size_t got = 0;
	char *buf;
	int fd, err = 0;

	fd = tg_fs_open_file_at(dirfd, name, O_RDONLY, 0);
	if (fd < 0)
		return fd;
	if (fstat(fd, &st) < 0) {
		err = -errno;
		close(fd);
		return err;
	}
	if ((uint64_t)st.st_size > max) {
		close(fd);
		return -EFBIG;
	}
	buf = malloc((size_t)st.st_size + 1);
	if (!buf) {
		close(fd);
		return -ENOMEM;
	}
	while (got < (size_t)st.st_size) {
		ssize_t r = read(fd, buf + got, (size_t)st.st_size - got);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			err = -errno;
			break;
		}
		if (r == 0)
			break;
		got += (size_t)r;
	}
	close(fd);
	if (err) {
		free(buf);
		return err;
	}
	buf[got] = '\0';
	*out = buf;
	*len = got;
	return 0;
}

/* The entries of a held directory fd; the fd stays the caller's. */
static DIR *dir_of(int fd)
{
	int dup = fcntl(fd, F_DUPFD_CLOEXEC, 0);
	DIR *d;

	if (dup < 0)
		return NULL;
	d = fdopendir(dup);
	if (!d)
		close(dup);
	else
		rewinddir(d);
	return d;
}

static int chown_walk(int fd, char *path, size_t cap, uid_t uid, gid_t gid, int depth,
		      char *why, size_t whylen)
{
	size_t plen = strlen(path);
	struct dirent *de;
	int rc = 0;
	DIR *d;

	if (depth > TG_FS_MAX_DEPTH) {
		snprintf(why, whylen, "%s: deeper than %d levels", path, TG_FS_MAX_DEPTH);
		return -ELOOP;
	}
	if (fchown(fd, uid, gid) < 0) {
		rc = -errno;
		snprintf(why, whylen, "%s: %s", path, strerror(-rc));
		return rc;
	}
	if (!(d = dir_of(fd))) {
		rc = -errno;
		snprintf(why, whylen, "%s: %s", path, strerror(-rc));
		return rc;
	}
	while (!rc && (de = readdir(d))) {
		struct stat st;
		int sub;

		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		snprintf(path + plen, cap - plen, "/%s", de->d_name);
		if (fstatat(fd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
			if (errno != ENOENT) {
				rc = -errno;
				snprintf(why, whylen, "%s: %s", path, strerror(-rc));
			}
			continue;
		}
		if (S_ISDIR(st.st_mode)) {
			sub = tg_fs_open_dir_at(fd, de->d_name);
			if (sub < 0) {
				/* gone or swapped for a symlink since: not ours to follow */
				if (sub != -ENOENT && sub != -ELOOP && sub != -ENOTDIR) {
					rc = sub;
					snprintf(why, whylen, "%s: %s", path, strerror(-rc));
				}
				continue;
			}
			rc = chown_walk(sub, path, cap, uid, gid, depth + 1, why, whylen);
			close(sub);
			continue;
		}
		if (S_ISLNK(st.st_mode) || (st.st_uid == uid && st.st_gid == gid) ||
		    (!S_ISDIR(st.st_mode) && st.st_nlink > 1))
			continue;
		if (fchownat(fd, de->d_name, uid, gid, AT_SYMLINK_NOFOLLOW) < 0 && errno != ENOENT) {
			rc = -errno;
			snprintf(why, whylen, "%s: %s", path, strerror(-rc));
		}
	}
	closedir(d);
	path[plen] = '\0';
	return rc;
}

int tg_fs_chown_tree(int fd, const char *shown, uid_t uid, gid_t gid, char *why,
		     size_t whylen)
{
	char path[PATH_MAX];

	snprintf(path, sizeof(path), "%s", shown);
	return chown_walk(fd, path, sizeof(path), uid, gid, 0, why, whylen);
}

static int remove_walk(int dirfd, const char *name, char *path, size_t cap, int depth,
		       char *why, size_t whylen)
{
	size_t plen = strlen(path);
	struct dirent *de;
	int fd, rc = 0;
	DIR *d;

	snprintf(path + plen, cap - plen, "%s%s", plen && path[plen - 1] != '/' ? "/" : "",
		 name);
	fd = tg_fs_open_dir_at(dirfd, name);
	if (fd < 0) {
		rc = fd;
		if (rc == -ELOOP || rc == -ENOTDIR) /* a symlink or a file: itself */
			rc = unlinkat(dirfd, name, 0) < 0 ? -errno : 0;
		if (rc)
			snprintf(why, whylen, "cannot remove %s: %s", path, strerror(-rc));
		path[plen] = '\0';
		return rc;
	}
	if (depth > TG_FS_MAX_DEPTH) {
		snprintf(why, whylen, "%s: deeper than %d levels", path, TG_FS_MAX_DEPTH);
		close(fd);
		path[plen] = '\0';
		return -ELOOP;
	}
	if (!(d = dir_of(fd))) {
		rc = -errno;
		snprintf(why, whylen, "%s: %s", path, strerror(-rc));
		close(fd);
		path[plen] = '\0';
		return rc;
	}
	while (!rc && (de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		rc = remove_walk(fd, de->d_name, path, cap, depth + 1, why, whylen);
		if (rc == -ENOENT)
			rc = 0; /* went while we looked */
	}
	closedir(d);
	close(fd);
	if (!rc && unlinkat(dirfd, name, AT_REMOVEDIR) < 0) {
		rc = -errno;
		snprintf(why, whylen, "cannot remove %s: %s", path, strerror(-rc));
	}
	path[plen] = '\0';
	return rc;
}

int tg_fs_remove_tree(int dirfd, const char *name, char *why, size_t whylen)
{
	char path[PATH_MAX] = "";

	return remove_walk(dirfd, name, path, sizeof(path), 0, why, whylen);
}

/* depth: 0 the file, 1 its directory, 2 and more the directories above.
 * Above its own directory, a root-owned sticky directory (/tmp) may be
 * writable by all: nobody else can rename or remove what is in it, and
 * what is in it is checked in turn. The file's own directory may not be:
 * anyone could add files beside it (a library it loads from $ORIGIN). */
static int trusted_one(const char *path, const char *at, int depth, uid_t owner, char *why,
		       size_t whylen)
{
	bool last = depth == 0;
	struct stat st;
	int rc;

	if (lstat(at, &st) < 0) {
		rc = -errno;
		snprintf(why, whylen, "%s: %s: %s", path, at, strerror(-rc));
		return rc;
	}
	if (last && !S_ISREG(st.st_mode)) {
		snprintf(why, whylen, "%s: not a regular file", path);
		return -EINVAL;
	}
	if (st.st_uid != 0 && st.st_uid != owner) {
		snprintf(why, whylen, "%s: %s is owned by uid %u, not root", path, at,
			 (unsigned)st.st_uid);
		return -EPERM;
	}
	if ((st.st_mode & (S_IWGRP | S_IWOTH)) &&
	    !(depth >= 2 && st.st_uid == 0 && (st.st_mode & S_ISVTX))) {
		snprintf(why, whylen, "%s: %s is writable by group or others (mode %04o)", path,
			 at, (unsigned)(st.st_mode & 07777));
		return -EACCES;
	}
	return 0;
}

int tg_fs_trusted_file(const char *path, uid_t owner, char *resolved, char *why, size_t whylen)
{
	char real[PATH_MAX], at[PATH_MAX];
	size_t n;
	int rc, depth;

	if (!realpath(path, real)) {
		rc = -errno;
		snprintf(why, whylen, "%s: %s", path, strerror(-rc));
		return rc;
	}
	/* "/", then each directory below it, then the file itself; depth
	 * counts the components left below the one checked */
	n = strlen(real);
	depth = 0;
	for (size_t i = 1; i < n; i++)
		depth += real[i] == '/';
	if ((rc = trusted_one(path, "/", real[1] ? depth + 1 : 0, owner, why, whylen)))
		return rc;
	for (size_t i = 1; i <= n && real[1]; i++) {
		if (i < n && real[i] != '/')
			continue;
		memcpy(at, real, i);
		at[i] = '\0';
		if ((rc = trusted_one(path, at, depth--, owner, why, whylen)))
			return rc;
	}
	if (resolved)
		memcpy(resolved, real, n + 1);
	return 0;
}
