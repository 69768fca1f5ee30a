#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <linux/magic.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "tollgate.skel.h"
#include "shared.h"
#include "lib/log.h"
#include "bpf/loader.h"
#include "bpf/mapmem.h"
#include "bpf/migrate.h"
#include "bpf/quota_plan.h"
#include "bpf/quotas.h"
#include "bpf/uprobes.h"
#include "lib/caps.h"
#include "bpf/instance_lock.h"
#include "lib/fs.h"
#include "lib/keyhash.h"

#define TG_BPFFS "/sys/fs/bpf"
#define TG_BTF "/sys/kernel/btf/vmlinux"

/* libbpf's own messages go through the agent's log, in log.format, as
 * `libbpf` lines with the text in `detail`: its warnings as warnings, the
 * rest at debug. One it prints on every start that finds a clsact qdisc
 * already there ("Exclusivity flag on, cannot modify": tc.c then reuses
 * it) is expected, so debug too. */
static int libbpf_log(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	int lvl = level == LIBBPF_WARN ? TG_LOG_WARN : TG_LOG_DEBUG;
	char text[1024], q[1100];
	size_t n;

	if (lvl > tg_log_level_cur)
		return 0;
	vsnprintf(text, sizeof(text), fmt, ap);
	n = strlen(text);
	while (n && (text[n - 1] == '\n' || text[n - 1] == ' '))
		text[--n] = '\0';
	if (!n)
		return 0;
	if (strstr(text, "Exclusivity flag on, cannot modify"))
		lvl = TG_LOG_DEBUG;
	tg_log(lvl, "libbpf", "detail=%s", tg_log_quote(q, sizeof(q), text));
	return 0;
}

static int ensure_bpffs(void)
{
	struct statfs st;

	if (statfs(TG_BPFFS, &st) == 0 && st.f_type == BPF_FS_MAGIC)
		return 0;
	mkdir(TG_BPFFS, 0700);
	if (mount("bpf", TG_BPFFS, "bpf", 0, "mode=0700") != 0)
		return -errno;
	pr_info("mounted bpffs", "path=%s", TG_BPFFS);
	return 0;
}

static int preflight(void)
{
	int err;

	/* Not root: a service user given the loading capabilities (systemd
	 * User= with AmbientCapabilities=) will do. */
	if (geteuid() != 0 && (tg_caps_effective() & TG_CAPS_LOAD) != TG_CAPS_LOAD) {
		char missing[128];

		tg_caps_format(TG_CAPS_LOAD & ~tg_caps_effective(), missing, sizeof(missing));
		tg_log_fail("must run as root, or with the capabilities "
			    "CAP_BPF, CAP_PERFMON and CAP_NET_ADMIN (it loads eBPF programs "
			    "and attaches them to interfaces; missing: %s): run it with "
			    "sudo", missing);
		return -EPERM;
	}
	if (access(TG_BTF, R_OK) != 0) {
		tg_log_fail("kernel BTF not found at %s: tollgate needs a "
				"kernel built with CONFIG_DEBUG_INFO_BTF=y (Debian 12's "
				"kernels have it)", TG_BTF);
		return -ENOENT;
	}
	err = ensure_bpffs();
	if (err) {
		tg_log_fail("cannot mount bpffs at %s: %s: mount it with "
				"'mount -t bpf bpf %s'", TG_BPFFS, strerror(-err), TG_BPFFS);
		return err;
	}
	return 0;
}

static int set_pins(struct tg_kern *k)
{
	struct bpf_map *map;
	char path[512];
	int err;

	bpf_object__for_each_map(map, k->skel->obj) {
		const char *name = bpf_map__name(map);

		/* .rodata and friends are not state, nor are the TLS maps
		 * (their sizes follow gateway.tls: see shared.h) */
		if (name[0] == '.' || strchr(name, '.') || !strncmp(name, "tg_tls_", 7))
			continue;
		snprintf(path, sizeof(path), "%s/%s", k->pin_dir, name);
		err = bpf_map__set_pin_path(map, path);
		if (err)
			return err;
	}
	return 0;
}

static void close_pin_dirs(struct tg_kern *k)
{
	if (k->pin_dirfd >= 0)
		close(k->pin_dirfd);
	if (k->inst_dirfd >= 0)
		close(k->inst_dirfd);
	k->pin_dirfd = k->inst_dirfd = -1;
}

static int open_pin_dirs(struct tg_kern *k)
{
	char path[256];
	char *slash;

	close_pin_dirs(k);
	snprintf(path, sizeof(path), "%s", k->pin_dir);
	slash = strrchr(path, '/');
	if (!slash)
		return -EINVAL;
	*slash = 0;
	/* Both may be the agent's user's from a run with `user`: a symlink
	 * planted for them is refused (ELOOP), never followed. */
	k->pin_dirfd = open(k->pin_dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	k->inst_dirfd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	return k->pin_dirfd < 0 || k->inst_dirfd < 0 ? -errno : 0;
}

/* Removes the version and instance directories when they are empty. The
 * last two fail harmlessly for a user the agent switched to (`user`):
 * the empty instance directory, that user's, stays for the next run. */
static void remove_pin_dirs(const struct tg_kern *k)
{
	const char *ver = strrchr(k->pin_dir, '/');
	char path[256];
	char *slash;

	if (k->inst_dirfd >= 0 && ver)
		unlinkat(k->inst_dirfd, ver + 1, AT_REMOVEDIR);
	else
		rmdir(k->pin_dir);
	snprintf(path, sizeof(path), "%s", k->pin_dir);
	slash = strrchr(path, '/');
	if (slash) {
		*slash = 0;
		rmdir(path);
		rmdir(TG_BPFFS "/tollgate");
	}
}

static void unpin_all(struct tg_kern *k)
{
	struct bpf_map *map;
	char path[512];

	if (!k->skel)
		return;
	bpf_object__for_each_map(map, k->skel->obj) {
		const char *name = bpf_map__name(map);

		if (name[0] == '.' || strchr(name, '.'))
			continue;
		snprintf(path, sizeof(path), "%s/%s", k->pin_dir, name);
		if (k->pin_dirfd >= 0)
			unlinkat(k->pin_dirfd, name, 0);
		else
			unlink(path);
	}
	remove_pin_dirs(k);
}

static int open_and_load(struct tg_kern *k, const struct tg_config *cfg)
{
	struct bpf_map *map;
	int err;

	k->skel = tollgate_bpf__open();
	if (!k->skel)
		return -errno ? -errno : -EINVAL;
	k->skel->rodata->tg_nr_cpus = (unsigned int)k->ncpus;
	bpf_object__for_each_map(map, k->skel->obj) {
		uint32_t n = tg_map_entries(bpf_map__name(map), cfg->max_clients);

		if (n)
			bpf_map__set_max_entries(map, n);
	}
	tg_tls_autoload(k, cfg);
	err = set_pins(k);
	if (err)
		return err;
	return tollgate_bpf__load(k->skel);
}

/* The API-key hash key: the one the adopted maps hold (their keys keep
 * matching), else a fresh random one. Before tg_kern_apply, which hashes
 * the configured keys. */
static int hash_key_init(struct tg_kern *k)
{
	int fd = tg_kern_fd(k, tg_hash_key);
	struct tg_hash_key hk = { 0 };
	__u32 zero = 0;
	int err;

	if (bpf_map_lookup_elem(fd, &zero, &hk))
		return -errno;
	if (!hk.k0 && !hk.k1) {
		uint64_t k0, k1;

		err = tg_keyhash_random(&k0, &k1);
		if (err)
			return err;
		hk.k0 = k0;
		hk.k1 = k1;
		if (bpf_map_update_elem(fd, &zero, &hk, BPF_ANY))
			return -errno;
	}
	tg_keyhash_set(hk.k0, hk.k1);
	return 0;
}

/* Two agents of one instance would count, enforce and sync into the same
 * pinned maps and replace each other's TC filters: the second one stops
 * here, before it touches anything. */
static int lock_instance(struct tg_kern *k, const char *instance)
{
	char who[320];
	pid_t holder;
	int err = tg_mkdir_p(k->instance_dir, 0700);

	if (!err) {
		k->lock_fd = tg_instance_lock(k->instance_dir, &holder);
		err = k->lock_fd < 0 ? k->lock_fd : 0;
	}
	if (err == -EBUSY) {
		tg_instance_lock_describe(holder, who, sizeof(who));
		tg_log_fail("instance %s is already run by another agent, %s: "
				"give each agent on this host its own `instance` in its config "
				"(or stop that agent first)", instance, who);
	} else if (err) {
		tg_log_fail("cannot lock %s: %s", k->instance_dir, strerror(-err));
	}
	if (err)
		k->lock_fd = -1;
	return err;
}

int tg_kern_open(struct tg_kern *k, const struct tg_config *cfg)
{
	bool adopt;
	int err;

	memset(k, 0, sizeof(*k));
	k->pin_dirfd = k->inst_dirfd = k->lock_fd = -1;
	libbpf_set_print(libbpf_log);
	err = preflight();
	if (err)
		return err;
	k->ncpus = libbpf_num_possible_cpus();
	if (k->ncpus <= 0 || k->ncpus > TG_MAX_CPUS) {
		tg_log_fail("%d possible CPUs: at most %d are supported",
			k->ncpus, TG_MAX_CPUS);
		return -E2BIG;
	}
	snprintf(k->instance_dir, sizeof(k->instance_dir), TG_BPFFS "/tollgate/%s", cfg->instance);
	snprintf(k->pin_dir, sizeof(k->pin_dir), "%s/v%d", k->instance_dir, TG_LAYOUT_VERSION);
	err = lock_instance(k, cfg->instance);
	if (err)
		return err;
	/* before anything is made: a newer layout stops the start here */
	err = tg_migrate_scan(k->instance_dir, k->old_layouts, &k->n_old_layouts, &adopt);
	if (err)
		goto unlock;
	err = tg_mkdir_p(k->pin_dir, 0700);
	if (err) {
		tg_log_fail("cannot create %s: %s", k->pin_dir, strerror(-err));
		goto unlock;
	}
	err = open_pin_dirs(k);
	if (err) {
		tg_log_fail("cannot open %s: %s", k->pin_dir, strerror(-err));
		close_pin_dirs(k);
		goto unlock;
	}
	err = open_and_load(k, cfg);
	if (err) {
		/* Pinned maps of this layout version that no longer fit (for
		 * instance gateway.max_clients changed) are made anew. */
		pr_warn("pinned maps incompatible, recreating them", "pin_dir=%s err=\"%s\"",
			k->pin_dir, strerror(-err));
		unpin_all(k);
		tollgate_bpf__destroy(k->skel);
		k->skel = NULL;
		tg_mkdir_p(k->pin_dir, 0700);
		err = open_pin_dirs(k);
		if (!err)
			err = open_and_load(k, cfg);
	}
	if (err) {
		tg_log_fail("loading the eBPF programs failed: %s (run with "
				"log.level debug for the verifier log)", strerror(-err));
		tollgate_bpf__destroy(k->skel);
		k->skel = NULL;
		remove_pin_dirs(k);
		close_pin_dirs(k);
		goto unlock;
	}
	/* before tg_kern_apply: the config's quotas and settings are written
	 * over what was copied, and quota ids stay those the buckets use */
	tg_migrate_copy(k, k->instance_dir, k->old_layouts, k->n_old_layouts, adopt);
	err = hash_key_init(k);
	if (err) {
		tg_log_fail("cannot set the API-key hash key: %s", strerror(-err));
		goto unlock;
	}
	return 0;
unlock:
	close(k->lock_fd);
	k->lock_fd = -1;
	return err;
}

int tg_kern_migrate_finish(struct tg_kern *k)
{
	int err = tg_migrate_finish(k->instance_dir, k->old_layouts, k->n_old_layouts);

	k->n_old_layouts = 0;
	return err;
}

int tg_kern_apply(struct tg_kern *k, const struct tg_config *cfg, unsigned int generation)
{
	struct tg_settings s;
	struct tg_reqlog_conf rc;
	int ports_fd = bpf_map__fd(k->skel->maps.tg_ports);
	unsigned char want[65536 / 8] = { 0 };
	__u32 zero = 0;
	int err;

	/* Add the new ports before removing old ones: no moment where a port
	 * that stays is uncounted. */
	for (int i = 0; i < cfg->n_ports; i++) {
		__u32 port = cfg->ports[i];
		__u8 on = 1;

		want[port / 8] |= (unsigned char)(1u << (port % 8));
		err = bpf_map_update_elem(ports_fd, &port, &on, BPF_ANY);
		if (err)
			return -errno;
	}
	for (__u32 port = 0; port < 65536; port++) {
		__u8 on = 0;

		if (want[port / 8] & (1u << (port % 8)))
			continue;
		if (bpf_map_lookup_elem(ports_fd, &port, &on) == 0 && on) {
			on = 0;
			bpf_map_update_elem(ports_fd, &port, &on, BPF_ANY);
		}
	}
	/* Quotas before the settings: a mode switch to enforce finds them;
	 * so do the trusted proxies once the settings say to use them. */
	err = tg_quotas_apply(k, cfg);
	if (!err)
		err = tg_proxy_trusted_apply(k, cfg);
	if (!err)
		err = tg_routes_apply(k, cfg);
	if (!err)
		err = tg_models_apply(k, cfg);
	if (!err)
		err = tg_sublimits_apply(k, cfg);
	if (err)
		return err;
	/* log.requests' sample and cap before the flag that turns it on */
	tg_reqlog_conf_build(&rc, cfg);
	if (bpf_map_update_elem(bpf_map__fd(k->skel->maps.tg_reqlog_conf), &zero, &rc, BPF_ANY))
		return -errno;
	tg_settings_build(&s, cfg, generation);
	err = bpf_map_update_elem(bpf_map__fd(k->skel->maps.tg_settings), &zero, &s, BPF_ANY);
	return err ? -errno : 0;
}

static struct tg_tc_link *find_link(struct tg_kern *k, const char *ifname)
{
	for (int i = 0; i < k->n_links; i++)
		if (strcmp(k->links[i].ifname, ifname) == 0)
			return &k->links[i];
	return NULL;
}

/* Entries for interfaces without our filter, left in adopted or migrated
 * maps by an earlier run, would make cgroup_skb skip their packets. */
static void prune_ifaces(int fd, const struct tg_tc_link *links, int n)
{
	__u32 keys[64], key, *prev = NULL;
	int nk = 0;

	while (nk < 64 && bpf_map_get_next_key(fd, prev, &key) == 0) {
		keys[nk] = key;
		prev = &keys[nk++];
	}
	for (int i = 0; i < nk; i++) {
		bool ours = false;

		for (int j = 0; j < n && !ours; j++)
			ours = links[j].ifindex == (int)keys[i];
		if (!ours)
			bpf_map_delete_elem(fd, &keys[i]);
	}
}

int tg_kern_attach(struct tg_kern *k, const struct tg_config *cfg, const char **bad)
{
	int prog_fd = bpf_program__fd(k->skel->progs.tg_tc_ingress);
	int egress_fd = bpf_program__fd(k->skel->progs.tg_tc_egress);
	int ifaces_fd = bpf_map__fd(k->skel->maps.tg_tc_ifaces);
	struct tg_tc_link next[TG_MAX_INTERFACES];
	int n = 0, err;

	/* Attach new interfaces first, then detach the ones dropped. */
	for (int i = 0; i < cfg->n_interfaces; i++) {
		struct tg_tc_link *old = find_link(k, cfg->interfaces[i]);

		if (old) {
			next[n++] = *old;
			old->attached = false; /* moved */
			old->created_qdisc = false;
			continue;
		}
		err = tg_tc_attach(&next[n], cfg->interfaces[i], prog_fd, egress_fd);
		if (err) {
			*bad = cfg->interfaces[i];
			for (int j = 0; j < n; j++)
				if (!find_link(k, next[j].ifname))
					tg_tc_detach(&next[j]);
			/* restore what was moved */
			for (int j = 0; j < n; j++) {
				struct tg_tc_link *o = find_link(k, next[j].ifname);
				if (o)
					*o = next[j];
			}
			return err;
		}
		pr_info("attached", "interface=%s ifindex=%d qdisc=%s", next[n].ifname,
			next[n].ifindex, next[n].created_qdisc ? "created" : "existing");
		n++;
	}
	/* cgroup_skb leaves these interfaces' packets to TC */
	for (int i = 0; i < n; i++) {
		__u32 ifx = (__u32)next[i].ifindex;
		__u8 on = 1;

		bpf_map_update_elem(ifaces_fd, &ifx, &on, BPF_ANY);
	}
	for (int i = 0; i < k->n_links; i++) {
		__u32 ifx = (__u32)k->links[i].ifindex;

		if (!k->links[i].attached)
			continue;
		pr_info("detached", "interface=%s", k->links[i].ifname);
		tg_tc_detach(&k->links[i]);
		bpf_map_delete_elem(ifaces_fd, &ifx);
	}
	prune_ifaces(ifaces_fd, next, n);
	memcpy(k->links, next, sizeof(next[0]) * (size_t)n);
	k->n_links = n;
	return 0;
}

int tg_cgroup2_mount(char *buf, size_t len)
{
	char line[1024], dev[256], dir[512], type[64];
	FILE *f = fopen("/proc/mounts", "re");
	int found = -ENOENT;

	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "%255s %511s %63s", dev, dir, type) == 3 &&
		    !strcmp(type, "cgroup2")) {
			snprintf(buf, len, "%s", dir);
			found = 0;
			break;
		}
	}
	fclose(f);
	return found;
}

static void cgroup_detach(struct tg_kern *k)
{
	for (int i = 0; i < 3; i++) {
		bpf_link__destroy(k->cg_links[i]);
		k->cg_links[i] = NULL;
	}
	if (k->cgroup[0])
		pr_info("detached", "cgroup=%s", k->cgroup);
	k->cgroup[0] = '\0';
}

int tg_kern_attach_cgroup(struct tg_kern *k, const struct tg_config *cfg, const char **bad)
{
	static char path[256];
	struct bpf_program *progs[3] = {
		k->skel->progs.tg_sockops,
		k->skel->progs.tg_cgroup_ingress,
		k->skel->progs.tg_cgroup_egress,
	};
	struct bpf_link *links[3] = { NULL };
	int fd, err = 0;

	*bad = cfg->cgroup;
	if (!cfg->cgroup[0]) {
		cgroup_detach(k);
		return 0;
	}
	if (!strcmp(cfg->cgroup, "root")) {
		err = tg_cgroup2_mount(path, sizeof(path));
		if (err)
			return err;
	} else {
		snprintf(path, sizeof(path), "%s", cfg->cgroup);
	}
	*bad = path;
	if (!strcmp(path, k->cgroup))
		return 0; /* unchanged */
	fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	/* Attach the new ones before the old ones go: no gap. */
	for (int i = 0; i < 3 && !err; i++) {
		links[i] = bpf_program__attach_cgroup(progs[i], fd);
		if (!links[i])
			err = -errno;
	}
	close(fd);
	if (err) {
		for (int i = 0; i < 3; i++)
			bpf_link__destroy(links[i]);
		return err;
	}
	cgroup_detach(k);
	memcpy(k->cg_links, links, sizeof(links));
	snprintf(k->cgroup, sizeof(k->cgroup), "%s", path);
	pr_info("attached", "cgroup=%s programs=sockops,cgroup_skb", path);
	return 0;
}

void tg_kern_close(struct tg_kern *k, bool keep)
{
	if (!k)
		return;
	tg_tls_detach(k); /* whatever keep says: see uprobes.h */
	if (!keep)
		cgroup_detach(k);
	if (!keep)
		for (int i = 0; i < k->n_links; i++)
			tg_tc_detach(&k->links[i]);
	k->n_links = 0;
	if (!keep)
		unpin_all(k);
	close_pin_dirs(k);
	tollgate_bpf__destroy(k->skel);
	k->skel = NULL;
	/* last: the next agent of the instance may start from here */
	if (k->lock_fd >= 0)
		close(k->lock_fd);
	k->lock_fd = -1;
}

volatile __u32 *tg_kern_epoch(const struct tg_kern *k)
{
	return k->skel && k->skel->bss ? &k->skel->bss->tg_scan_epoch : NULL;
}

int tg_kern_check_fd(const struct tg_kern *k)
{
	return bpf_program__fd(k->skel->progs.tg_check);
}

