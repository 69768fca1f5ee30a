#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include "bpf/instance_lock.h"

pid_t tg_instance_lock_holder_parse(const char *text, unsigned int major, unsigned int minor,
			   unsigned long long ino)
{
	const char *line = text;

	/* "1: FLOCK  ADVISORY  WRITE 12199 fe:00:10969359 0 EOF"; blocked
	 * waiters carry "->" before the type and are not holders. */
	while (line && *line) {
		const char *nl = strchr(line, '\n');
		char kind[16], type[16], rw[16];
		unsigned int ma, mi;
		unsigned long long in;
		long pid;

		if (sscanf(line, "%*[0-9]: %15s %15s %15s %ld %x:%x:%llu", kind, type, rw, &pid, &ma,
			   &mi, &in) == 7 &&
		    !strcmp(kind, "FLOCK") && ma == major && mi == minor && in == ino && pid > 0)
			return (pid_t)pid;
		line = nl ? nl + 1 : NULL;
	}
	return 0;
}

static pid_t find_holder(int fd)
{
	struct stat st;
	char *text = NULL;
	size_t cap = 0, n = 0;
	pid_t pid = 0;
	FILE *f;

	if (fstat(fd, &st))
		return 0;
	f = fopen("/proc/locks", "re");
	if (!f)
		return 0;
	for (;;) {
		char *t;

		if (n + 4096 + 1 > cap) {
			t = realloc(text, cap = cap ? cap * 2 : 16384);
			if (!t)
				break;
			text = t;
		}
		size_t r = fread(text + n, 1, cap - n - 1, f);

		if (!r)
			break;
		n += r;
	}
	fclose(f);
	if (text) {
		text[n] = '\0';
		pid = tg_instance_lock_holder_parse(text, major(st.st_dev), minor(st.st_dev),
					   (unsigned long long)st.st_ino);
	}
	free(text);
	return pid;
}

int tg_instance_lock(const char *dir, pid_t *holder)
{
	*holder = 0;
	for (int tries = 0; tries < 8; tries++) {
		struct stat a, b;
		int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);

		if (fd < 0)
			return -errno;
		if (flock(fd, LOCK_EX | LOCK_NB)) {
			int err = -errno;

			if (err == -EWOULDBLOCK)
				*holder = find_holder(fd);
			close(fd);
			return err == -EWOULDBLOCK ? -EBUSY : err;
		}
		/* The holder before us may have removed the directory after we
		 * opened it: a lock on a removed directory guards nothing. */
		if (!fstat(fd, &a) && !stat(dir, &b) && a.st_dev == b.st_dev && a.st_ino == b.st_ino)
			return fd;
		close(fd);
		if (mkdir(dir, 0700) && errno != EEXIST)
			return -errno;
	}
	return -EAGAIN;
}

void tg_instance_lock_describe(pid_t pid, char *buf, size_t len)
{
	char path[64], cmd[256];
	ssize_t n = 0;
	int fd;

	if (pid <= 0) {
		snprintf(buf, len, "another process");
		return;
	}
	snprintf(path, sizeof(path), "/proc/%d/cmdline", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd >= 0) {
		n = read(fd, cmd, sizeof(cmd) - 1);
		close(fd);
	}
	if (n <= 0) {
		snprintf(buf, len, "pid %d", (int)pid);
		return;
	}
	cmd[n] = '\0';
	for (ssize_t i = 0; i < n - 1; i++)
		if (cmd[i] == '\0')
			cmd[i] = ' ';
	snprintf(buf, len, "pid %d (%s)", (int)pid, cmd);
}
