/* `tollgate detach`. A filter is removed only when it sits at tollgate's
 * handle and priority, runs tg_tc_ingress or tg_tc_egress, and does not
 * use only maps another instance pinned. The clsact qdisc stays: another
 * tool may hang filters on it. Only the current network namespace is
 * walked: another one is reached with `nsenter --net=... tollgate detach`.
 * Cgroup programs need nothing here: the agent attaches them through
 * bpf_links it never pins, so they die with its process. */
#include "bpf/detach.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <linux/magic.h>
#include <net/if.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>
#include "shared.h"
#include "lib/fs.h"

#define BPFFS "/sys/fs/bpf"
#define PIN_ROOT BPFFS "/tollgate"
#define MAX_PINNED 4096

/* Map ids pinned under the directory being cleaned ("ours": an instance's,
 * or one layout version of it) and under the rest of the tree: the program
 * name says a filter is tollgate's, its maps say whose. */
struct pinned {
	char own[192]; /* the directory whose pins are ours, under PIN_ROOT */
	bool strict;   /* remove only filters using our maps, not orphans */
	__u32 ours[MAX_PINNED], others[MAX_PINNED];
	char other_name[MAX_PINNED][32];
	int n_ours, n_others;
};

/* One line per action: to stdout/stderr for the command, to the log for
 * the agent's migration. */
struct say {
	void (*fn)(void *arg, bool error, const char *line);
	void *arg;
};

static void say(const struct say *s, bool error, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void say(const struct say *s, bool error, const char *fmt, ...)
{
	char line[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	s->fn(s->arg, error, line);
}

static struct pinned *g_pinned; /* nftw has no user pointer */

static int collect_pin(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
	struct bpf_map_info info = { 0 };
	__u32 len = sizeof(info);
	const char *rel = path + strlen(PIN_ROOT) + 1;
	struct pinned *p = g_pinned;
	size_t own = strlen(p->own);
	int fd;

	(void)st;
	if (type != FTW_F || ftw->level < 2)
		return 0;
	fd = bpf_obj_get(path);
	if (fd < 0)
		return 0;
	if (bpf_obj_get_info_by_fd(fd, &info, &len) == 0) {
		if (!strncmp(path, p->own, own) && path[own] == '/') {
			if (p->n_ours < MAX_PINNED)
				p->ours[p->n_ours++] = info.id;
		} else if (p->n_others < MAX_PINNED) {
			size_t n = strcspn(rel, "/"); /* the instance */

			snprintf(p->other_name[p->n_others], sizeof(p->other_name[0]), "%.*s",
				 (int)n, rel);
			p->others[p->n_others++] = info.id;
		}
	}
	close(fd);
	return 0;
}

static void collect_pinned(struct pinned *p)
{
	struct statfs sf;

	if (statfs(BPFFS, &sf) != 0 || sf.f_type != BPF_FS_MAGIC)
		return;
	g_pinned = p;
	nftw(PIN_ROOT, collect_pin, 16, FTW_PHYS);
	g_pinned = NULL;
}

enum owner { OWNER_OURS, OWNER_ORPHAN, OWNER_OTHER };

/* One using a map of ours is ours; one using only maps pinned elsewhere
 * is theirs (*other names them); one using no pinned map is an orphan. */
static enum owner owner_of(const struct pinned *p, int prog_fd, const char **other)
{
	struct bpf_prog_info info = { 0 };
	__u32 len = sizeof(info), ids[64];
	__u32 n;

	*other = NULL;
	if (bpf_obj_get_info_by_fd(prog_fd, &info, &len))
		return OWNER_ORPHAN;
	n = info.nr_map_ids < 64 ? info.nr_map_ids : 64;
	memset(&info, 0, sizeof(info));
	info.nr_map_ids = n;
	info.map_ids = (__u64)(unsigned long)ids;
	len = sizeof(info);
	if (bpf_obj_get_info_by_fd(prog_fd, &info, &len))
		return OWNER_ORPHAN;
	for (__u32 i = 0; i < n; i++) {
		for (int j = 0; j < p->n_ours; j++)
			if (ids[i] == p->ours[j])
				return OWNER_OURS;
		for (int j = 0; j < p->n_others && !*other; j++)
			if (ids[i] == p->others[j])
				*other = p->other_name[j];
	}
	return *other ? OWNER_OTHER : OWNER_ORPHAN;
}

/* The name the kernel keeps for a program (BPF_OBJ_NAME_LEN, so
 * truncated at 15 characters: ours are shorter), and the instance owning
 * it when that is another one. */
static int prog_name(const struct pinned *p, __u32 id, char *out, size_t len,
		     enum owner *owner, const char **other)
{
	struct bpf_prog_info info = { 0 };
	__u32 info_len = sizeof(info);
	int fd = bpf_prog_get_fd_by_id(id);
	int err;

	if (fd < 0)
		return -errno;
	err = bpf_obj_get_info_by_fd(fd, &info, &info_len);
	if (!err)
		*owner = owner_of(p, fd, other);
	close(fd);
	if (err)
		return err;
	snprintf(out, len, "%s", info.name);
	return 0;
}

/* Returns 1 when a filter was removed, 0 when there was none of ours,
 * -1 on a failure (reported). */
static int detach_hook(const struct pinned *p, const struct say *out, const char *ifname,
		       int ifindex, bool egress)
{
	const char *dir = egress ? "egress" : "ingress";
	const char *want = egress ? "tg_tc_egress" : "tg_tc_ingress";
	DECLARE_LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ifindex,
			    .attach_point = egress ? BPF_TC_EGRESS : BPF_TC_INGRESS);
	DECLARE_LIBBPF_OPTS(bpf_tc_opts, opts, .handle = TG_TC_HANDLE,
			    .priority = TG_TC_PRIORITY);
	char name[BPF_OBJ_NAME_LEN];
	enum owner owner = OWNER_ORPHAN;
	const char *other = NULL;
	int err;

	err = bpf_tc_query(&hook, &opts);
	/* no clsact qdisc shows as EINVAL, no filter as ENOENT */
	if (err == -ENOENT || err == -EINVAL || err == -ENODEV)
		return 0;
	if (err) {
		say(out, true, "cannot query %s on %s: %s", dir, ifname, strerror(-err));
		return -1;
	}
	err = prog_name(p, opts.prog_id, name, sizeof(name), &owner, &other);
	if (err) {
		say(out, true, "cannot read program %u of the %s filter on %s: %s", opts.prog_id,
		    dir, ifname, strerror(-err));
		return -1;
	}
	if (strcmp(name, want) != 0) {
		if (!p->strict)
			say(out, false, "kept filter %s on %s: program %s is not tollgate's", dir,
			    ifname, name);
		return 0;
	}
	if (owner == OWNER_OTHER || (p->strict && owner != OWNER_OURS)) {
		if (!p->strict)
			say(out, false, "kept filter %s on %s: it belongs to instance %s", dir,
			    ifname, other);
		return 0;
	}
	/* bpf_tc_detach refuses options with prog_id/flags set */
	DECLARE_LIBBPF_OPTS(bpf_tc_opts, del, .handle = TG_TC_HANDLE,
			    .priority = TG_TC_PRIORITY);
	err = bpf_tc_detach(&hook, &del);
	if (err) {
		say(out, true, "cannot remove filter %s on %s: %s", dir, ifname, strerror(-err));
		return -1;
	}
	say(out, false, "removed filter %s on %s (program %s, id %u)", dir, ifname, name,
	    opts.prog_id);
	return 1;
}

/* Both hooks of every interface of the current namespace; counts removals
 * and failures. */
static int detach_all(const struct pinned *p, const struct say *out, int *done, int *failed)
{
	struct if_nameindex *ifs, *i;
	int r;

	ifs = if_nameindex();
	if (!ifs) {
		say(out, true, "cannot list interfaces: %s", strerror(errno));
		return -1;
	}
	for (i = ifs; i->if_index; i++) {
		for (int eg = 0; eg < 2; eg++) {
			r = detach_hook(p, out, i->if_name, (int)i->if_index, eg);
			if (r > 0)
				(*done)++;
			else if (r < 0)
				(*failed)++;
		}
	}
	if_freenameindex(ifs);
	return 0;
}

static struct pinned *pinned_for(const char *own, bool strict)
{
	static struct pinned pinned; /* ~160 KB: not on the stack */

	memset(&pinned, 0, sizeof(pinned));
	snprintf(pinned.own, sizeof(pinned.own), "%s", own);
	pinned.strict = strict;
	collect_pinned(&pinned);
	return &pinned;
}

int tg_detach_dir_filters(const char *dir, void (*fn)(void *arg, bool error, const char *line),
			  void *arg)
{
	struct say out = { fn, arg };
	const struct pinned *p = pinned_for(dir, true);
	libbpf_print_fn_t prev;
	int done = 0, failed = 0, err;

	if (!p->n_ours)
		return 0;
	/* a hook without clsact is not news (see tg_detach_main) */
	prev = libbpf_set_print(NULL);
	err = detach_all(p, &out, &done, &failed);
	libbpf_set_print(prev);
	if (err)
		return -1;
	return failed ? -1 : done;
}

/* Returns 1 when pins were removed, 0 when there were none, -1 on failure. */
static int remove_pins(const char *instance)
{
	char dir[128], why[320];
	struct statfs sf;
	struct stat st;
	int rc;

	/* bpffs not mounted: nothing was ever pinned here (and it is not
	 * ours to mount) */
	if (statfs(BPFFS, &sf) != 0 || sf.f_type != BPF_FS_MAGIC)
		return 0;
	snprintf(dir, sizeof(dir), PIN_ROOT "/%s", instance);
	if (lstat(dir, &st) != 0)
		return errno == ENOENT ? 0 : -1;
	/* The directory is the agent's user's (with `user`): it may have put
	 * symlinks there, or swap a directory for one while this runs. From
	 * held fds, never following one, only what is under dir goes. */
	rc = tg_fs_remove_tree(AT_FDCWD, dir, why, sizeof(why));
	if (rc && rc != -ENOENT) {
		fprintf(stderr, "tollgate detach: %s\n", why);
		return -1;
	}
	printf("removed pins under %s\n", dir);
	/* another instance's directory keeps the parent */
	if (rmdir(PIN_ROOT) == 0)
		printf("removed empty %s\n", PIN_ROOT);
	return 1;
}

static void say_cli(void *arg, bool error, const char *line)
{
	(void)arg;
	if (error)
		fprintf(stderr, "tollgate detach: %s\n", line);
	else
		printf("%s\n", line);
}

int tg_detach_main(const struct tg_detach_opts *o)
{
	struct say out = { say_cli, NULL };
	const struct pinned *p;
	char own[192];
	int done = 0, failed = 0, r;

	if (geteuid() != 0) {
		fprintf(stderr, "tollgate detach: must run as root (removing TC filters and "
			"bpffs pins needs CAP_NET_ADMIN and CAP_BPF)\n");
		return 1;
	}
	/* every hook without clsact makes libbpf print the kernel's complaint;
	 * the failures that matter are reported here */
	libbpf_set_print(NULL);
	snprintf(own, sizeof(own), PIN_ROOT "/%s", o->instance);
	p = pinned_for(own, false);
	if (detach_all(p, &out, &done, &failed))
		return 1;
	r = remove_pins(o->instance);
	if (r > 0)
		done++;
	else if (r < 0)
		failed++;
	if (failed)
		return 1;
	if (!done)
		printf("nothing attached for instance %s\n", o->instance);
	return 0;
}
