/* gateway.tls: the uprobes on the gateway's libssl (kern/tls.bpf.c).
 *
 * With a cgroup, each probe is attached once to the library for every
 * process (pid -1) and the programs return at once for a task outside the
 * cgroup (bpf_current_task_under_cgroup: descendants included, processes
 * started later included). With pids, one attachment per process: the
 * kernel installs the breakpoints in those processes only. The library is
 * gateway.tls.libssl, else the one the gateway maps (a process of the
 * cgroup, or the first pid), else the one the dynamic linker gives this
 * agent (libcurl links it). */
#include "bpf/uprobes.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "tollgate.skel.h"
#include "lib/log.h"
#include "shared.h"

/* One probe: the function, entry or return, and its program. */
struct tls_probe {
	const char *func;
	bool ret;
	size_t prog_off; /* of the program pointer in the skeleton's progs */
};

#define PROG(p) offsetof(struct tollgate_bpf, progs.p)

static const struct tls_probe probes[] = {
	{ "SSL_read", false, PROG(tg_ssl_read) },
	{ "SSL_read", true, PROG(tg_ssl_read_ret) },
	{ "SSL_read_ex", false, PROG(tg_ssl_read_ex) },
	{ "SSL_read_ex", true, PROG(tg_ssl_read_ex_ret) },
	{ "SSL_write", true, PROG(tg_ssl_write_ret) },
	{ "SSL_write_ex", false, PROG(tg_ssl_write_ex) },
	{ "SSL_write_ex", true, PROG(tg_ssl_write_ex_ret) },
};

#define N_PROBES (sizeof(probes) / sizeof(probes[0]))

static struct bpf_program *probe_prog(struct tg_kern *k, const struct tls_probe *p)
{
	return *(struct bpf_program **)((char *)k->skel + p->prog_off);
}

void tg_tls_autoload(struct tg_kern *k, const struct tg_config *cfg)
{
	for (size_t i = 0; i < N_PROBES; i++)
		bpf_program__set_autoload(probe_prog(k, &probes[i]), cfg->tls.on);
	bpf_program__set_autoload(k->skel->progs.tg_tls_recvmsg, cfg->tls.on);
	if (cfg->tls.on) {
		bpf_map__set_max_entries(k->skel->maps.tg_tls_calls, TG_TLS_THREADS);
		bpf_map__set_max_entries(k->skel->maps.tg_tls_conns, TG_TLS_CONNS);
	}
}

int tg_tls_libssl_of(int pid, char *out, size_t len)
{
	char path[64], line[512];
	FILE *f;
	int err = -ENOENT;

	snprintf(path, sizeof(path), "/proc/%d/maps", pid);
	f = fopen(path, "re");
	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f)) {
		char *p = strchr(line, '/'), *base;

		if (!p)
			continue;
		p[strcspn(p, "\n")] = '\0';
		base = strrchr(p, '/') + 1;
		if (strncmp(base, "libssl.so", 9))
			continue;
		if (pid == getpid())
			snprintf(out, len, "%s", p);
		else
			snprintf(out, len, "/proc/%d/root%s", pid, p);
		err = 0;
		break;
	}
	fclose(f);
	return err;
}

/* The first process of the cgroup (or of a descendant) that maps libssl. */
static int libssl_of_cgroup(const char *cg, char *out, size_t len, int depth)
{
	char path[512], line[32];
	struct dirent *de;
	FILE *f;
	DIR *d;

	/* a path too long to hold is not looked in (cgroup paths are short) */
	if ((size_t)snprintf(path, sizeof(path), "%s/cgroup.procs", cg) >= sizeof(path))
		return -ENAMETOOLONG;
	f = fopen(path, "re");
	if (f) {
		while (fgets(line, sizeof(line), f))
			if (tg_tls_libssl_of(atoi(line), out, len) == 0) {
				fclose(f);
				return 0;
			}
		fclose(f);
	}
	if (depth >= 4 || !(d = opendir(cg)))
		return -ENOENT;
	while ((de = readdir(d))) {
		if (de->d_type != DT_DIR || de->d_name[0] == '.')
			continue;
		if ((size_t)snprintf(path, sizeof(path), "%s/%s", cg, de->d_name) >= sizeof(path))
			continue;
		if (libssl_of_cgroup(path, out, len, depth + 1) == 0) {
			closedir(d);
			return 0;
		}
	}
	closedir(d);
	return -ENOENT;
}

static int find_libssl(const struct tg_tls_config *t, char *out, size_t len)
{
	if (t->libssl[0]) {
		snprintf(out, len, "%s", t->libssl);
		return access(out, R_OK) ? -errno : 0;
	}
	if (t->cgroup[0] && libssl_of_cgroup(t->cgroup, out, len, 0) == 0)
		return 0;
	for (int i = 0; i < t->n_pids; i++)
		if (tg_tls_libssl_of((int)t->pids[i], out, len) == 0)
			return 0;
	return tg_tls_libssl_of(getpid(), out, len);
}

static int add_link(struct tg_kern *k, struct bpf_link *l, size_t cap)
{
	if (!l)
		return -errno ? -errno : -EINVAL;
	if ((size_t)k->n_tls_links >= cap) {
		bpf_link__destroy(l);
		return -ENOSPC;
	}
	k->tls_links[k->n_tls_links++] = l;
	return 0;
}

/* The probes for one process (pid > 0) or for every process (-1). */
static int attach_pid(struct tg_kern *k, int pid, size_t cap)
{
	for (size_t i = 0; i < N_PROBES; i++) {
		LIBBPF_OPTS(bpf_uprobe_opts, o, .func_name = probes[i].func,
			    .retprobe = probes[i].ret);
		struct bpf_link *l = bpf_program__attach_uprobe_opts(probe_prog(k, &probes[i]), pid,
								     k->tls_libssl, 0, &o);
		int err = add_link(k, l, cap);

		if (err)
			return err;
	}
	return 0;
}

int tg_tls_attach(struct tg_kern *k, const struct tg_config *cfg, const char **bad)
{
	static char what[320];
	const struct tg_tls_config *t = &cfg->tls;
	size_t cap = N_PROBES * (t->n_pids ? (size_t)t->n_pids : 1) + 1;
	__u32 zero = 0;
	int err, fd;

	*bad = what;
	if (!t->on || k->tls_links)
		return 0; /* gateway.tls is a restart key: attached once */
	err = find_libssl(t, k->tls_libssl, sizeof(k->tls_libssl));
	if (err) {
		snprintf(what, sizeof(what), "libssl %s",
			 t->libssl[0] ? t->libssl : "(not found in the gateway's maps)");
		return err;
	}
	k->tls_links = calloc(cap, sizeof(*k->tls_links));
	if (!k->tls_links)
		return -ENOMEM;
	if (t->cgroup[0]) {
		snprintf(what, sizeof(what), "cgroup %s", t->cgroup);
		fd = open(t->cgroup, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (fd < 0) {
			err = -errno;
			goto fail;
		}
		err = bpf_map_update_elem(bpf_map__fd(k->skel->maps.tg_tls_cgroup), &zero, &fd, BPF_ANY) ? -errno : 0;
		close(fd);
		if (err)
			goto fail;
		k->skel->bss->tg_tls_by_cgroup = 1;
		snprintf(what, sizeof(what), "%s", k->tls_libssl);
		err = attach_pid(k, -1, cap);
		if (err)
			goto fail;
	} else {
		k->skel->bss->tg_tls_by_cgroup = 0;
		for (int i = 0; i < t->n_pids; i++) {
			snprintf(what, sizeof(what), "process %u (%s)", t->pids[i], k->tls_libssl);
			err = attach_pid(k, (int)t->pids[i], cap);
			if (err)
				goto fail;
		}
	}
	snprintf(what, sizeof(what), "tracepoint sock_recv_length");
	err = add_link(k, bpf_program__attach(k->skel->progs.tg_tls_recvmsg), cap);
	if (err)
		goto fail;
	pr_info("attached", "tls=%s libssl=%s probes=%d", t->cgroup[0] ? t->cgroup : "pids",
		k->tls_libssl, k->n_tls_links);
	return 0;
fail:
	tg_tls_detach(k);
	return err;
}

void tg_tls_detach(struct tg_kern *k)
{
	if (!k || !k->tls_links)
		return;
	for (int i = 0; i < k->n_tls_links; i++)
		bpf_link__destroy(k->tls_links[i]);
	if (k->n_tls_links)
		pr_info("detached", "tls libssl=%s probes=%d", k->tls_libssl, k->n_tls_links);
	free(k->tls_links);
	k->tls_links = NULL;
	k->n_tls_links = 0;
}
