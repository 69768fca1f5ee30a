/* The instance lock: one holder at a time, the holder named from
 * /proc/locks, released when the holder dies, and a directory removed
 * under a waiter not taken for the live one. */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "bpf/instance_lock.h"

static char dir[64];

static void mkdirs(void)
{
	snprintf(dir, sizeof(dir), "/tmp/tg-lock-%d", (int)getpid());
	cr_assert(eq(int, mkdir(dir, 0700), 0));
}

static void rmdirs(void)
{
	rmdir(dir);
}

Test(instance_lock, parse_proc_locks)
{
	const char *t = "1: POSIX  ADVISORY  WRITE 77 fe:00:42 0 EOF\n"
			"2: FLOCK  ADVISORY  WRITE 12199 fe:00:10969359 0 EOF\n"
			"2: -> FLOCK  ADVISORY  WRITE 555 fe:00:10969359 0 EOF\n"
			"3: FLOCK  ADVISORY  WRITE 31 00:1f:42 0 EOF\n";

	cr_assert(eq(int, tg_instance_lock_holder_parse(t, 0xfe, 0, 10969359), 12199));
	cr_assert(eq(int, tg_instance_lock_holder_parse(t, 0, 0x1f, 42), 31));
	/* a POSIX lock on the same inode, another device: not ours */
	cr_assert(eq(int, tg_instance_lock_holder_parse(t, 0xfe, 0, 42), 0));
	cr_assert(eq(int, tg_instance_lock_holder_parse("", 0xfe, 0, 42), 0));
	cr_assert(eq(int, tg_instance_lock_holder_parse("garbage\n\n1: FLOCK", 0xfe, 0, 42), 0));
}

Test(instance_lock, second_holder_refused_and_named, .init = mkdirs, .fini = rmdirs)
{
	int p[2], fd;
	pid_t child, holder = -1;
	char c, who[320];

	cr_assert(eq(int, pipe(p), 0));
	child = fork();
	cr_assert(child >= 0);
	if (child == 0) {
		pid_t h;

		if (tg_instance_lock(dir, &h) < 0)
			_exit(1);
		if (write(p[1], "x", 1) != 1)
			_exit(1);
		pause();
		_exit(0);
	}
	cr_assert(eq(int, (int)read(p[0], &c, 1), 1));
	cr_assert(eq(int, tg_instance_lock(dir, &holder), -EBUSY));
	cr_assert(eq(int, holder, child));
	tg_instance_lock_describe(holder, who, sizeof(who));
	cr_assert(strstr(who, "pid ") == who, "%s", who);
	/* the holder killed (kill -9): the lock is free at once */
	kill(child, SIGKILL);
	waitpid(child, NULL, 0);
	fd = tg_instance_lock(dir, &holder);
	cr_assert(fd >= 0, "%d", fd);
	close(fd);
	close(p[0]);
	close(p[1]);
}

Test(instance_lock, removed_directory_is_made_anew, .init = mkdirs, .fini = rmdirs)
{
	struct stat before, after;
	pid_t holder;
	int fd;

	cr_assert(eq(int, stat(dir, &before), 0));
	fd = tg_instance_lock(dir, &holder);
	cr_assert(fd >= 0);
	/* the holder exits and removes the directory (no keep) */
	close(fd);
	cr_assert(eq(int, rmdir(dir), 0));
	cr_assert(eq(int, tg_instance_lock(dir, &holder), -ENOENT));
	cr_assert(eq(int, mkdir(dir, 0700), 0));
	fd = tg_instance_lock(dir, &holder);
	cr_assert(fd >= 0);
	cr_assert(eq(int, stat(dir, &after), 0));
	close(fd);
}
