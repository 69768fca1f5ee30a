/* The API server's listening sockets: TCP ("host:port") or a Unix socket
 * ("unix:/path"), bound before the loop uses them. Internal to the API
 * server (api.c).
 *
 * A Unix socket's file is access control: it is made 0600 and only then
 * given its owner, group and mode, so nobody else can connect in between.
 * A socket file left by an agent that was killed is replaced; one that
 * something still listens on, or a path that is not a socket, is not. */
#ifndef TG_API_LISTEN_H
#define TG_API_LISTEN_H

#include <stdbool.h>
#include <sys/types.h>

#define TG_API_UNIX_PREFIX "unix:"
#define TG_API_UNIX_PATH_MAX 108 /* sun_path, with its NUL */

/* How to make a Unix socket's file. */
struct tg_api_unix_opts {
	int uid, gid; /* owner and group; -1 leaves the one it was made with */
	mode_t mode;  /* e.g. 0660 */
};

struct tg_api_bound {
	int fd;          /* listening, non-blocking, close-on-exec */
	int port;        /* TCP: the bound port */
	bool is_unix;
	char path[TG_API_UNIX_PATH_MAX]; /* Unix: the socket's file */
	dev_t dev;       /* ... and which file that is, so that stop */
	ino_t ino;       /* removes only its own */
};

/* true for "unix:/absolute/path". */
bool tg_api_listen_is_unix(const char *spec);

/* Binds and listens. Returns 0 or a negative errno: -EINVAL (malformed),
 * -EADDRINUSE (something listens there), -EEXIST (the path is not a
 * socket), or what a syscall said. Unix: a missing directory is made
 * (0755, with its parents). */
int tg_api_listen(const char *spec, const struct tg_api_unix_opts *uo, int backlog,
		  struct tg_api_bound *out);

/* Removes a Unix socket's file if it is still the one bound (a later
 * agent may have replaced it). 0, or a negative errno. */
int tg_api_listen_unlink(const struct tg_api_bound *b);

#endif
