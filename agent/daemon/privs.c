/* Dropping privileges after start. libcap rather than raw capset(2): it
 * knows the kernel's capability count and versioned ABI, gives the names
 * we log, and cap_setuid()/cap_setgroups() do the PR_SET_KEEPCAPS dance
 * (raise CAP_SETUID, keep caps across setuid, clear keepcaps) in one
 * audited place. Capabilities, uids and no_new_privs are per thread in the
 * kernel, and libcap without libpsx changes only the calling thread: so
 * this runs before the loop starts, while the agent has one thread (libuv
 * and libcurl start theirs later; they inherit the reduced state). */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <dirent.h>
#include <sys/capability.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <bpf/bpf.h>
#include "lib/caps.h"
#include "lib/fs.h"
#include "lib/log.h"
#include "daemon/privs.h"

#ifndef CAP_BPF
#define CAP_BPF 39
#endif

static int n_threads(void)
{
	DIR *d = opendir("/proc/self/task");
	struct dirent *e;
	int n = 0;

	if (!d)
		return -errno;
	while ((e = readdir(d)))
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n;
}

/* Lowers or raises caps in the effective set only (they stay permitted). */
static int set_effective(const cap_value_t *caps, int n, cap_flag_value_t v)
{
	cap_t c = cap_get_proc();
	int rc;

	if (!c)
		return -errno;
	rc = cap_set_flag(c, CAP_EFFECTIVE, n, caps, v) || cap_set_proc(c) ? -errno : 0;
	cap_free(c);
	return rc;
}

static bool permitted(cap_value_t cap)
{
	cap_t c = cap_get_proc();
	cap_flag_value_t v = CAP_CLEAR;

	if (c)
		cap_get_flag(c, cap, CAP_PERMITTED, &v);
	cap_free(c);
	return v == CAP_SET;
}

uint64_t tg_privs_needed(int map_fd)
{
	/* bpf_capable() is CAP_BPF or CAP_SYS_ADMIN: both go for the probe. */
	const cap_value_t bpf_caps[] = { CAP_BPF, CAP_SYS_ADMIN };
	struct bpf_map_info info;
	__u32 len = sizeof(info);
	uint64_t keep = TG_CAPS_KEEP;
	int rc;

	if (map_fd < 0 || !permitted(CAP_BPF))
		return keep;
	if (set_effective(bpf_caps, permitted(CAP_SYS_ADMIN) ? 2 : 1, CAP_CLEAR))
		return keep | TG_CAP_BIT(CAP_BPF); /* cannot tell: keep it */
	memset(&info, 0, sizeof(info));
	rc = bpf_obj_get_info_by_fd(map_fd, &info, &len) ? -errno : 0;
	set_effective(bpf_caps, permitted(CAP_SYS_ADMIN) ? 2 : 1, CAP_SET);
	if (rc == -EPERM) {
		pr_info("bpf() on held fds needs CAP_BPF on this kernel: keeping it", NULL);
		keep |= TG_CAP_BIT(CAP_BPF);
	}
	return keep;
}

static int mkdir_owned(const char *path, uid_t uid, gid_t gid)
{
	if (mkdir(path, 0700) && errno != EEXIST)
		return -errno;
	return lchown(path, uid, gid) ? -errno : 0;
}

/* dir (the instance's pin directory, or <state_dir>/<instance>) and what
 * is under it for the user, from held fds (lib/fs.h): a directory the
 * user swapped for a symlink since the last run is refused, a symlink or
 * hard link inside is left as it is. */
static int give_tree(int parent, const char *shown, const char *name, const struct tg_privs_plan *p,
		     bool make, char *err, size_t errlen)
{
	char path[512], why[320];
	int fd, rc;

	snprintf(path, sizeof(path), "%s/%s", shown, name);
	if (make && mkdirat(parent, name, 0700) < 0 && errno != EEXIST) {
		rc = -errno;
		snprintf(err, errlen, "cannot make %s for user %s: %s", path, p->user, strerror(-rc));
		return rc;
	}
	fd = tg_fs_open_dir_at(parent, name);
	if (fd < 0) {
		rc = fd;
		snprintf(err, errlen, "cannot give %s to user %s: %s", path, p->user,
			 rc == -ELOOP ? "a symbolic link, refused" : strerror(-rc));
		return rc;
	}
	rc = tg_fs_chown_tree(fd, path, p->uid, p->gid, why, sizeof(why));
	close(fd);
	if (rc)
		snprintf(err, errlen, "cannot give %s to user %s: %s", path, p->user, why);
	return rc;
}

/* The pins (unlinked on a clean stop, reopened by a later start as the
 * user) and the state (spool files made and removed at run time). The
 * instance's pin directory is removed on a clean stop, so its parent
 * <bpffs>/tollgate/<instance> is the user's too; <bpffs>/tollgate, shared
 * by every instance, is left as it is. Of state_dir, only what the agent
 * makes is given away: state_dir when it did not exist (as nginx does with
 * its temp paths), and always <state_dir>/<instance>. An existing
 * state_dir is never chowned (it could be any directory): the user must
 * be able to search it, and it must be root's or the user's and writable
 * by nobody else, or another user could swap what is under it. Nothing
 * here opens a file under these trees: the spool is opened after the
 * drop, as the user. */
static int give_files(const struct tg_privs_plan *p, const gid_t *groups, int ng,
		      char *err, size_t errlen)
{
	char path[512], why[320], *slash;
	struct stat st;
	int dfd, rc;

	snprintf(path, sizeof(path), "%s", p->pin_dir);
	slash = strrchr(path, '/');
	if (!slash || slash == path) {
		snprintf(err, errlen, "pin directory %s has no parent", p->pin_dir);
		return -EINVAL;
	}
	*slash = '\0';
	dfd = tg_fs_open_dir_at(AT_FDCWD, path);
	rc = dfd < 0 ? dfd : fchown(dfd, p->uid, p->gid) ? -errno : 0;
	if (rc) {
		snprintf(err, errlen, "cannot give %s to user %s: %s", path, p->user,
			 rc == -ELOOP ? "a symbolic link, refused" : strerror(-rc));
		if (dfd >= 0)
			close(dfd);
		return rc;
	}
	rc = give_tree(dfd, path, slash + 1, p, false, err, errlen);
	close(dfd);
	if (rc)
		return rc;
	if (stat(p->state_dir, &st) < 0) {
		rc = errno == ENOENT ? mkdir_owned(p->state_dir, p->uid, p->gid) : -errno;
		if (rc) {
			snprintf(err, errlen, "cannot make state_dir %s for user %s: %s",
				 p->state_dir, p->user, strerror(-rc));
			return rc;
		}
	} else if (!S_ISDIR(st.st_mode) || !tg_caps_dir_searchable(st.st_mode, st.st_uid, st.st_gid, p->uid, groups, ng)) {
		snprintf(err, errlen, "state_dir %s is not a directory user %s can search: "
			 "chown it to %s, or chmod o+x it", p->state_dir, p->user, p->user);
		return -EACCES;
	}
	dfd = open(p->state_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0) {
		rc = -errno;
		snprintf(err, errlen, "state_dir %s: %s", p->state_dir, strerror(-rc));
		return rc;
	}
	rc = tg_fs_dir_check(dfd, p->state_dir, p->uid, true, why, sizeof(why));
	if (rc)
		snprintf(err, errlen, "state_dir refused: %s: another user could replace what "
			 "the agent keeps there", why);
	else
		rc = give_tree(dfd, p->state_dir, p->instance, p, true, err, errlen);
	close(dfd);
	return rc;
}

/* The directory of a "unix:/dir/name" check socket: the socket goes at
 * exit, after the switch, so the user must be able to remove it. */
static int prepare_sock_dir(const struct tg_privs_plan *p, char *err, size_t errlen)
{
	char dir[256];
	const char *path, *slash;
	gid_t groups[64];
	int ng = 64, rc;
	struct stat st;

	if (!p->check_listen || strncmp(p->check_listen, "unix:", 5))
		return 0;
	path = p->check_listen + 5;
	slash = strrchr(path, '/');
	if (!slash || slash == path || (size_t)(slash - path) >= sizeof(dir))
		return 0; /* "/x.sock": the root directory, nothing to give */
	snprintf(dir, sizeof(dir), "%.*s", (int)(slash - path), path);
	if (stat(dir, &st) && errno == ENOENT) {
		/* the parents as root, the socket's own directory the user's */
		*strrchr(dir, '/') = '\0';
		rc = dir[0] ? tg_mkdir_p(dir, 0755) : 0;
		snprintf(dir, sizeof(dir), "%.*s", (int)(slash - path), path);
		if (!rc && (mkdir(dir, 0755) || lchown(dir, p->uid, p->gid)))
			rc = -errno;
		if (rc)
			snprintf(err, errlen, "cannot make %s (api.check_listen) for user %s: %s", dir,
				 p->user, strerror(-rc));
		return rc;
	}
	if (getgrouplist(p->user, p->gid, groups, &ng) < 0)
		ng = 0;
	if (stat(dir, &st) || !S_ISDIR(st.st_mode) ||
	    !tg_caps_dir_writable(st.st_mode, st.st_uid, st.st_gid, p->uid, groups, ng)) {
		snprintf(err, errlen, "user %s cannot write %s, so the check socket (api.check_listen) "
			 "could not be removed at exit: use a directory of its own that the agent "
			 "makes (e.g. /run/tollgate/), or chown %s to %s", p->user, dir, dir, p->user);
		return -EACCES;
	}
	return 0;
}

int tg_privs_prepare(const struct tg_privs_plan *p, char *err, size_t errlen)
{
	struct stat st;
	int rc;

	if (!p->user || !p->user[0] || geteuid() != 0 || p->uid == 0)
		return 0;
	if ((rc = prepare_sock_dir(p, err, errlen)))
		return rc;
	if (stat(p->state_dir, &st) == 0 || errno != ENOENT)
		return 0; /* an existing one is checked, never chowned */
	rc = mkdir_owned(p->state_dir, p->uid, p->gid);
	if (rc)
		snprintf(err, errlen, "cannot make state_dir %s for user %s: %s", p->state_dir,
			 p->user, strerror(-rc));
	return rc;
}

static int switch_user(const struct tg_privs_plan *p, char *err, size_t errlen)
{
	gid_t groups[64];
	int ng = 64, rc;

	if (getuid() == p->uid && geteuid() == p->uid && getgid() == p->gid)
		return 0; /* started as the user already (systemd User=) */
	if (geteuid() != 0) {
		snprintf(err, errlen, "switching to user %s needs root: start as root, or as "
			 "that user with the capabilities", p->user);
		return -EPERM;
	}
	if (getgrouplist(p->user, p->gid, groups, &ng) < 0) {
		snprintf(err, errlen, "user %s is in more than 64 groups", p->user);
		return -E2BIG;
	}
	if ((rc = give_files(p, groups, ng, err, errlen)))
		return rc;
	/* setgroups + setgid, then setuid with PR_SET_KEEPCAPS: the
	 * permitted set survives the uid change; effective is cleared by the
	 * kernel and set again below. */
	if (cap_setgroups(p->gid, (size_t)ng, groups) || cap_setuid(p->uid)) {
		rc = -errno;
		snprintf(err, errlen, "switching to user %s failed: %s", p->user, strerror(-rc));
		return rc;
	}
	return 0;
}

int tg_privs_drop(const struct tg_privs_plan *p, char *err, size_t errlen)
{
	cap_value_t kept[64];
	int nk = 0, rc, nt = n_threads();
	cap_t c;

	if (nt < 0) {
		snprintf(err, errlen, "cannot count the threads in /proc/self/task: %s",
			 strerror(-nt));
		return nt;
	}
	if (nt != 1) {
		snprintf(err, errlen, "the process has %d threads: capabilities are per thread, "
			 "so they are dropped before any other starts", nt);
		return -EBUSY;
	}
	if (p->user && p->user[0] && (rc = switch_user(p, err, errlen)))
		return rc;
	/* Bounding set first: narrowing it needs CAP_SETPCAP, which goes
	 * below. Without it (an unprivileged start that was not given it)
	 * the set stays what the caller bounded it to. */
	if (CAP_IS_SUPPORTED(CAP_SETPCAP) && permitted(CAP_SETPCAP)) {
		const cap_value_t setpcap = CAP_SETPCAP;

		set_effective(&setpcap, 1, CAP_SET);
		for (cap_value_t v = 0; v < 64; v++) {
			if (!CAP_IS_SUPPORTED(v) || (p->keep & TG_CAP_BIT(v)))
				continue;
			if (cap_drop_bound(v) && errno != EINVAL) {
				rc = -errno;
				snprintf(err, errlen, "cannot drop capability %d from the bounding "
					 "set: %s", v, strerror(-rc));
				return rc;
			}
		}
	} else {
		pr_warn("bounding set not narrowed: CAP_SETPCAP is not permitted", NULL);
	}
	if (cap_reset_ambient() && errno != EINVAL) {
		rc = -errno;
		snprintf(err, errlen, "cannot clear the ambient set: %s", strerror(-rc));
		return rc;
	}
	for (cap_value_t v = 0; v < 64; v++)
		if ((p->keep & TG_CAP_BIT(v)) && CAP_IS_SUPPORTED(v) && permitted(v))
			kept[nk++] = v;
	c = cap_init(); /* all clear: inheritable stays empty */
	if (!c || (nk && (cap_set_flag(c, CAP_EFFECTIVE, nk, kept, CAP_SET) ||
			  cap_set_flag(c, CAP_PERMITTED, nk, kept, CAP_SET))) ||
	    cap_set_proc(c)) {
		rc = -errno;
		cap_free(c);
		snprintf(err, errlen, "cannot set the capabilities: %s", strerror(-rc));
		return rc;
	}
	cap_free(c);
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)) {
		rc = -errno;
		snprintf(err, errlen, "cannot set no_new_privs: %s", strerror(-rc));
		return rc;
	}
	return 0;
}

