/* Least privilege for `tollgate run`: once the programs are loaded and
 * attached, the API bound and the spool open, the agent optionally becomes
 * an unprivileged user (config key `user`) and keeps only the
 * capabilities it still uses (caps.h), with no_new_privs set. */
#ifndef TG_PRIVS_H
#define TG_PRIVS_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

struct tg_privs_plan {
	const char *user;      /* "" or NULL: stay the current user */
	uid_t uid;
	gid_t gid;
	const char *pin_dir;   /* made the user's, with its pins */
	const char *state_dir; /* made the user's, and <state_dir>/<instance>/ */
	const char *check_listen; /* api.check_listen: a "unix:" socket's directory */
	const char *instance;
	uint64_t keep;         /* capabilities kept (effective and permitted) */
};

/* The capabilities the running agent keeps on this kernel: TG_CAPS_KEEP,
 * plus CAP_BPF when a bpf() command on an fd already held fails without
 * it (kernels before 6.5 with kernel.unprivileged_bpf_disabled set).
 * map_fd: any map of the agent's. Needs CAP_BPF in the permitted set to
 * tell (it is lowered and raised again in the effective set only). */
uint64_t tg_privs_needed(int map_fd);

/* Before anything writes into state_dir (the spool): a state_dir that does
 * not exist yet is made the user's, as nginx does with its temp paths. An
 * existing one is left alone (it could be any directory); the drop checks
 * that the user can search it. The same for a Unix check socket's
 * directory (before the API binds it): made the user's when missing, and
 * otherwise the user must be able to write it, or the socket could not be
 * removed at exit. 0 or a negative errno with err. */
int tg_privs_prepare(const struct tg_privs_plan *p, char *err, size_t errlen);

/* Does it, in this order: ownership of pins and state for the user;
 * supplementary groups, gid, uid (capabilities kept across the switch);
 * the bounding set narrowed to keep (needs CAP_SETPCAP, else a warning);
 * ambient and inheritable cleared; effective and permitted = keep;
 * no_new_privs. Must be called while the process has a single thread:
 * capabilities are per thread. Returns 0, or a negative errno with a
 * sentence in err. */
int tg_privs_drop(const struct tg_privs_plan *p, char *err, size_t errlen);


#endif
