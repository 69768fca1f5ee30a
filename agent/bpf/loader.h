/* Loading the BPF object: preflight checks, map sizing, pins, run-time
 * settings, and attachment to the configured interfaces. */
#ifndef TG_LOADER_H
#define TG_LOADER_H

#include <stdbool.h>
#include "config/config.h"
#include "shared.h"
#include "bpf/kern.h"
#include "tollgate.skel.h"


/* Checks privileges and BTF, mounts bpffs when missing, opens and loads the
 * object with maps sized from cfg and pinned under the instance's pin
 * directory. Prints what to do on failure. Returns 0 or a negative errno. */
int tg_kern_open(struct tg_kern *k, const struct tg_config *cfg);

/* Writes ports and settings (mode, IPv6 prefix, generation) in place. */
int tg_kern_apply(struct tg_kern *k, const struct tg_config *cfg, unsigned int generation);

/* Attaches to cfg's interfaces and detaches from ones no longer listed.
 * On a missing interface returns -ENODEV with *bad naming it. */
int tg_kern_attach(struct tg_kern *k, const struct tg_config *cfg, const char **bad);

/* Attaches the socket-level programs to cfg->cgroup ("root": the cgroup2
 * mount), moving them when it changed; detaches when it is null. On
 * failure returns -errno with *bad naming the path. */
int tg_kern_attach_cgroup(struct tg_kern *k, const struct tg_config *cfg, const char **bad);

/* The cgroup2 mount point from /proc/mounts into buf, or -ENOENT. */
int tg_cgroup2_mount(char *buf, size_t len);

/* After attaching: removes what is left of older layout versions (their
 * filters on interfaces no longer configured, their pins). Logged; returns
 * 0 or -1 when something stayed. */
int tg_kern_migrate_finish(struct tg_kern *k);

/* Detaches, unpins (unless keep) and frees. NULL-safe, idempotent. */
void tg_kern_close(struct tg_kern *k, bool keep);

/* A map's fd by the skeleton's typed handle (tg_kern_fd(k, tg_fleet)): a
 * misspelt map does not compile. */
#define tg_kern_fd(k, map) bpf_map__fd((k)->skel->maps.map)

/* The kernel's scan epoch (tg_scan_epoch in .bss, mmapped), or NULL. */
volatile __u32 *tg_kern_epoch(const struct tg_kern *k);
/* The /v1/check program (run with BPF_PROG_TEST_RUN, never attached). */
int tg_kern_check_fd(const struct tg_kern *k);

#endif
