/* See api_listen.h. Plain sockets first, the uv handle after: a bind
 * failure (EADDRINUSE) leaves no handle behind that would need a loop
 * iteration to close. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "api/api_listen.h"
#include "lib/addr.h"
#include "lib/fs.h"

bool tg_api_listen_is_unix(const char *spec)
{
	return spec && !strncmp(spec, TG_API_UNIX_PREFIX, strlen(TG_API_UNIX_PREFIX));
}

static int tcp_listen(const char *addr, int backlog, struct tg_api_bound *out)
{
	struct sockaddr_storage ss;
	socklen_t sl;
	int fd, err, one = 1;

	err = tg_addr_parse_listen(addr, &ss);
	if (err)
		return err;
	sl = ss.ss_family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) ||
	    bind(fd, (struct sockaddr *)&ss, sl) || listen(fd, backlog) ||
	    getsockname(fd, (struct sockaddr *)&ss, &sl)) {
		err = -errno;
		close(fd);
		return err;
	}
	out->fd = fd;
	out->port = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
						   : ((struct sockaddr_in *)&ss)->sin_port);
	return 0;
}

/* A socket file nothing listens on any more (its agent was killed) is
 * removed; a live one, or anything that is not a socket, is left alone. */
static int clear_stale(const struct sockaddr_un *sun)
{
	struct stat st;
	int fd, rc;

	if (lstat(sun->sun_path, &st))
		return errno == ENOENT ? 0 : -errno;
	if (!S_ISSOCK(st.st_mode))
		return -EEXIST;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	/* non-blocking: a live listener answers at once, or EAGAIN when its
	 * backlog is full; only a dead one refuses */
	rc = connect(fd, (const struct sockaddr *)sun, sizeof(*sun)) ? -errno : 0;
	close(fd);
	if (rc == 0 || rc == -EAGAIN)
		return -EADDRINUSE;
	if (rc != -ECONNREFUSED)
		return rc;
	return unlink(sun->sun_path) && errno != ENOENT ? -errno : 0;
}

static int unix_listen(const char *path, const struct tg_api_unix_opts *uo, int backlog,
		       struct tg_api_bound *out)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	char dir[TG_API_UNIX_PATH_MAX];
	const char *slash = strrchr(path, '/');
	struct stat st;
	mode_t old;
	int fd, err;

	if (path[0] != '/' || strlen(path) >= sizeof(sun.sun_path) || !slash || !slash[1])
		return -EINVAL;
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", path);
	snprintf(dir, sizeof(dir), "%.*s", (int)(slash - path), path);
	if (dir[0] && (err = tg_mkdir_p(dir, 0755)))
		return err;
	if ((err = clear_stale(&sun)))
		return err;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	/* 0600 from the start: the wanted group and mode come after the
	 * owner is right, so no one else can connect in between */
	old = umask(0177);
	err = bind(fd, (struct sockaddr *)&sun, sizeof(sun)) ? -errno : 0;
	umask(old);
	if (err) {
		close(fd);
		return err;
	}
	if ((uo && (uo->uid >= 0 || uo->gid >= 0) &&
	     lchown(path, (uid_t)uo->uid, (gid_t)uo->gid)) ||
	    (uo && chmod(path, uo->mode)) || listen(fd, backlog) || lstat(path, &st)) {
		err = -errno;
		close(fd);
		unlink(path);
		return err;
	}
	out->fd = fd;
	out->is_unix = true;
	snprintf(out->path, sizeof(out->path), "%s", path);
	out->dev = st.st_dev;
	out->ino = st.st_ino;
	return 0;
}

int tg_api_listen(const char *spec, const struct tg_api_unix_opts *uo, int backlog,
		  struct tg_api_bound *out)
{
	if (!spec || !out)
		return -EINVAL;
	memset(out, 0, sizeof(*out));
	out->fd = -1;
	if (tg_api_listen_is_unix(spec))
		return unix_listen(spec + strlen(TG_API_UNIX_PREFIX), uo, backlog, out);
	return tcp_listen(spec, backlog, out);
}

int tg_api_listen_unlink(const struct tg_api_bound *b)
{
	struct stat st;

	if (!b || !b->is_unix || !b->path[0])
		return 0;
	if (lstat(b->path, &st))
		return errno == ENOENT ? 0 : -errno;
	if (st.st_dev != b->dev || st.st_ino != b->ino)
		return 0; /* not ours any more */
	return unlink(b->path) ? -errno : 0;
}
