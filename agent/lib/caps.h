/* Capability sets as 64-bit masks (bit n = capability n, as in
 * /proc/<pid>/status), their names, and the set the running agent keeps
 * after start. Pure: no process state is read or changed here. */
#ifndef TG_CAPS_H
#define TG_CAPS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define TG_CAP_BIT(c) (1ull << (c))

/* What `tollgate run` keeps once its programs are loaded and attached,
 * measured on 6.18 (README, SECURITY.md): CAP_NET_ADMIN only. Without it,
 * attaching TC filters on a reload that adds an interface, removing them
 * on a reload that drops one or on a clean stop (rtnetlink), and creating
 * cgroup links on a reload that moves gateway.cgroup all fail with EPERM;
 * CAP_BPF alone does not do the cgroup links. Everything else works with
 * no capability at all: map reads and writes (quotas on reload), the ring
 * buffer, the /v1/check test run, closing cgroup links, unpinning, the
 * spool and the API socket, all through fds and files the agent already
 * holds or owns. tg_privs_needed() adds CAP_BPF where the kernel still
 * gates every bpf() command on it. */
#define TG_CAPS_KEEP TG_CAP_BIT(12) /* CAP_NET_ADMIN */

/* What loading and attaching needs without root, measured on 6.18:
 * CAP_BPF (programs, maps), CAP_PERFMON (the verifier allows the parser's
 * pointer comparisons only to privileged loaders), CAP_NET_ADMIN (TC and
 * cgroup attachment). */
#define TG_CAPS_LOAD (TG_CAP_BIT(39) | TG_CAP_BIT(38) | TG_CAP_BIT(12))

/* Parses "cap_net_admin,cap_bpf" (names as libcap spells them, any case,
 * separated by commas or spaces; "" is the empty set). Returns 0, or
 * -EINVAL with *bad pointing at the first unknown name (NUL-terminated
 * copy in badbuf). */
int tg_caps_parse(const char *list, uint64_t *mask, char *badbuf, size_t badlen);

/* "cap_net_admin,cap_bpf" in capability number order; "none" for 0;
 * a bit libcap has no name for prints as its number. */
void tg_caps_format(uint64_t mask, char *buf, size_t len);

/* The hex mask of one "Name:\t%016llx" line (CapEff, CapPrm, CapBnd, ...)
 * of /proc/<pid>/status text. Returns 0 or -ENOENT / -EINVAL. */
int tg_caps_from_status(const char *status, const char *field, uint64_t *mask);

/* May a user (uid, in groups[0..ng)) search a directory of this mode,
 * owner and group? The kernel's order: owner bits, else group bits, else
 * other bits (no ACLs). */
bool tg_caps_dir_searchable(mode_t mode, uid_t owner, gid_t group, uid_t uid,
		       const gid_t *groups, int ng);
/* ... and add and remove its entries (write and search)? */
bool tg_caps_dir_writable(mode_t mode, uid_t owner, gid_t group, uid_t uid,
			  const gid_t *groups, int ng);

/* The effective set of the calling thread as a mask. */
uint64_t tg_caps_effective(void);

/* The process's capability state, from /proc/self/status, for the log. */
int tg_caps_current(uint64_t *eff, uint64_t *prm, uint64_t *bnd, int *no_new_privs);

#endif
