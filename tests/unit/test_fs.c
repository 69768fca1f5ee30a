/* lib/fs: what the agent does as root in directories another user may
 * have prepared (the state tree, the pins under bpffs) never follows a
 * symlink out of them: removing a tree, giving it to the agent's user,
 * opening a path one component at a time. Each test works in its own
 * directory under /tmp; "outside" stands for a file of root's. */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/fs.h"

static char tmpdir[64], tree[128], outside[128], victim[160];

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	return remove(path);
}

static void put(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	cr_assert(f != NULL, "%s: %s", path, strerror(errno));
	fputs(text, f);
	fclose(f);
}

static void setup(void)
{
	strcpy(tmpdir, "/tmp/tg_fs_XXXXXX");
	cr_assert(mkdtemp(tmpdir) != NULL);
	snprintf(tree, sizeof(tree), "%s/tree", tmpdir);
	snprintf(outside, sizeof(outside), "%s/outside", tmpdir);
	snprintf(victim, sizeof(victim), "%s/victim", outside);
	cr_assert(eq(int, mkdir(tree, 0700), 0));
	cr_assert(eq(int, mkdir(outside, 0700), 0));
	put(victim, "root's\n");
}

static void teardown(void)
{
	nftw(tmpdir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

TestSuite(fs, .init = setup, .fini = teardown, .timeout = 30);

static void in_tree(char *buf, size_t len, const char *rel)
{
	snprintf(buf, len, "%s/%s", tree, rel);
}

Test(fs, remove_tree_does_not_follow_symlinks)
{
	char p[256], why[512] = "";

	in_tree(p, sizeof(p), "sub");
	cr_assert(eq(int, mkdir(p, 0700), 0));
	in_tree(p, sizeof(p), "sub/pin");
	put(p, "x");
	/* a link to a file, and a directory swapped for a link to one */
	in_tree(p, sizeof(p), "sub/link");
	cr_assert(eq(int, symlink(victim, p), 0));
	in_tree(p, sizeof(p), "dirlink");
	cr_assert(eq(int, symlink(outside, p), 0));
	cr_assert(eq(int, tg_fs_remove_tree(AT_FDCWD, tree, why, sizeof(why)), 0), "%s", why);
	cr_assert(eq(int, access(tree, F_OK), -1));
	cr_assert(eq(int, access(victim, F_OK), 0), "followed a link out of the tree");
	/* the tree root itself a symlink: the link goes, not its target */
	cr_assert(eq(int, symlink(outside, tree), 0));
	cr_assert(eq(int, tg_fs_remove_tree(AT_FDCWD, tree, why, sizeof(why)), 0), "%s", why);
	cr_assert(eq(int, access(victim, F_OK), 0));
	cr_assert(eq(int, tg_fs_remove_tree(AT_FDCWD, tree, why, sizeof(why)), -ENOENT));
}

Test(fs, open_dirs_refuses_symlinks_and_directories_others_may_write)
{
	char p[256], why[512] = "";
	int fd, top = open(tmpdir, O_RDONLY | O_DIRECTORY);

	cr_assert(top >= 0);
	fd = tg_fs_open_dirs(top, tmpdir, "tree/a/b", 0700, geteuid(), why, sizeof(why));
	cr_assert(fd >= 0, "%s", why);
	close(fd);
	in_tree(p, sizeof(p), "a/b");
	cr_assert(eq(int, rmdir(p), 0));
	cr_assert(eq(int, symlink(outside, p), 0));
	cr_assert(eq(int, tg_fs_open_dirs(top, tmpdir, "tree/a/b", 0700, geteuid(), why,
					  sizeof(why)), -ELOOP));
	cr_assert(strstr(why, "tree/a/b is a symbolic link: refused") != NULL, "%s", why);
	in_tree(p, sizeof(p), "a");
	cr_assert(eq(int, chmod(p, 0777), 0));
	cr_assert(eq(int, tg_fs_open_dirs(top, tmpdir, "tree/a", 0, geteuid(), why, sizeof(why)),
			 -EACCES));
	cr_assert(strstr(why, "tree/a is writable by group or others (mode 0777)") != NULL, "%s", why);
	cr_assert(eq(int, tg_fs_open_dirs(top, tmpdir, "tree/../tree", 0, geteuid(), why,
					  sizeof(why)), -EINVAL));
	close(top);
}

Test(fs, open_file_refuses_symlinks_fifos_and_hard_links)
{
	char p[256];
	int dfd = open(tree, O_RDONLY | O_DIRECTORY);

	cr_assert(dfd >= 0);
	in_tree(p, sizeof(p), "link");
	cr_assert(eq(int, symlink(victim, p), 0));
	cr_assert(eq(int, tg_fs_open_file_at(dfd, "link", O_WRONLY | O_APPEND | O_CREAT, 0600), -ELOOP));
	in_tree(p, sizeof(p), "fifo");
	cr_assert(eq(int, mkfifo(p, 0600), 0));
	cr_assert(eq(int, tg_fs_open_file_at(dfd, "fifo", O_WRONLY, 0), -EINVAL));
	in_tree(p, sizeof(p), "hard");
	cr_assert(eq(int, link(victim, p), 0));
	cr_assert(eq(int, tg_fs_open_file_at(dfd, "hard", O_WRONLY | O_APPEND, 0), -EMLINK));
	close(dfd);
}

/* Giving the tree away (root only): what is the tree's goes to the user;
 * a symlink in it, and a hard link to a file elsewhere, do not take their
 * targets along. */
Test(fs, chown_tree_skips_symlinks_and_hard_links)
{
	char p[256], why[512] = "";
	struct stat st;
	int fd;

	if (geteuid() != 0)
		cr_skip_test("needs root to give files to another user");
	in_tree(p, sizeof(p), "spool");
	cr_assert(eq(int, mkdir(p, 0700), 0));
	in_tree(p, sizeof(p), "spool/ev");
	put(p, "x");
	in_tree(p, sizeof(p), "spool/link");
	cr_assert(eq(int, symlink(victim, p), 0));
	in_tree(p, sizeof(p), "spool/hard");
	cr_assert(eq(int, link(victim, p), 0));
	in_tree(p, sizeof(p), "dirlink");
	cr_assert(eq(int, symlink(outside, p), 0));
	fd = open(tree, O_RDONLY | O_DIRECTORY);
	cr_assert(fd >= 0);
	cr_assert(eq(int, tg_fs_chown_tree(fd, tree, 65534, 65534, why, sizeof(why)), 0), "%s", why);
	close(fd);
	in_tree(p, sizeof(p), "spool/ev");
	cr_assert(eq(int, stat(p, &st), 0));
	cr_assert(eq(u32, (unsigned)st.st_uid, 65534), "the tree's own file");
	cr_assert(eq(int, stat(tree, &st), 0));
	cr_assert(eq(u32, (unsigned)st.st_uid, 65534), "the tree itself");
	cr_assert(eq(int, stat(victim, &st), 0));
	cr_assert(eq(u32, (unsigned)st.st_uid, 0), "a file outside the tree was given away");
	cr_assert(eq(int, stat(outside, &st), 0));
	cr_assert(eq(u32, (unsigned)st.st_uid, 0), "a directory outside the tree was given away");
}

/* Where code may be loaded from: every directory up to the file root's (or
 * the expected owner's) and writable by nobody else; above the file's own
 * directory, a sticky directory of root's (/tmp) may be open to all,
 * since nobody else can rename or remove what is in it. */
Test(fs, trusted_file_checks_every_directory_up)
{
	char path[200], why[512] = "", real[4096];

	snprintf(path, sizeof(path), "%s/lib.so", tree);
	put(path, "x");
	cr_assert(eq(int, chmod(tmpdir, 0755), 0));
	cr_assert(eq(int, tg_fs_trusted_file(path, geteuid(), real, why, sizeof(why)), 0), "%s", why);
	cr_assert(eq(str, real, path));
	cr_assert(eq(int, chmod(tree, 0770), 0));
	cr_assert(eq(int, tg_fs_trusted_file(path, geteuid(), NULL, why, sizeof(why)), -EACCES));
	cr_assert(strstr(why, "tree is writable by group or others (mode 0770)") != NULL, "%s", why);
	cr_assert(eq(int, chmod(tree, 01777), 0)); /* sticky, but its own directory */
	cr_assert(eq(int, tg_fs_trusted_file(path, geteuid(), NULL, why, sizeof(why)), -EACCES));
	cr_assert(eq(int, chmod(tree, 0700), 0));
	if (geteuid() == 0) { /* a sticky directory of root's above: fine */
		cr_assert(eq(int, chmod(tmpdir, 01777), 0));
		cr_assert(eq(int, tg_fs_trusted_file(path, 0, NULL, why, sizeof(why)), 0), "%s", why);
		cr_assert(eq(int, chmod(tmpdir, 0777), 0)); /* not sticky: no */
		cr_assert(eq(int, tg_fs_trusted_file(path, 0, NULL, why, sizeof(why)), -EACCES));
		cr_assert(strstr(why, "writable by group or others (mode 0777)") != NULL, "%s", why);
		cr_assert(eq(int, chown(path, 65534, 65534), 0));
		cr_assert(eq(int, chmod(tmpdir, 0700), 0));
		cr_assert(eq(int, tg_fs_trusted_file(path, 0, NULL, why, sizeof(why)), -EPERM));
		cr_assert(strstr(why, "is owned by uid 65534, not root") != NULL, "%s", why);
	}
	cr_assert(eq(int, tg_fs_trusted_file(tree, geteuid(), NULL, why, sizeof(why)), -EINVAL));
	cr_assert(eq(int, tg_fs_trusted_file("/nonexistent/x.so", 0, NULL, why, sizeof(why)), -ENOENT));
}
