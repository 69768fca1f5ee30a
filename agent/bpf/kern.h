/* struct tg_kern: what the bpf subsystem holds of the kernel (the loaded
 * object, its pins, TC and cgroup links, quota ids). Its own header, so the
 * bpf modules (loader, quotas, migrate) share it without including each
 * other. */
#ifndef TG_KERN_H
#define TG_KERN_H

#include "config/config.h"
#include "shared.h"
#include "bpf/tc.h"

#define TG_MAX_OLD_LAYOUTS 8 /* older layout versions adopted at start */

struct tollgate_bpf;
struct bpf_link;

struct tg_kern {
	struct tollgate_bpf *skel;
	char pin_dir[256];
	/* The pin directory and its parent, held open: unpinning goes through
	 * them, so it works after a switch to a user who cannot search the
	 * shared <bpffs>/tollgate (root's, 0700). -1 when not open. */
	int pin_dirfd, inst_dirfd;
	int lock_fd; /* holds the instance lock (instance_lock.h), -1 when none */
	char instance_dir[192]; /* pin_dir's parent: all layouts of the instance */
	int old_layouts[TG_MAX_OLD_LAYOUTS]; /* older layout versions found at start */
	int n_old_layouts;
	int ncpus;
	struct tg_tc_link links[TG_MAX_INTERFACES];
	int n_links;
	/* socket-level programs on gateway.cgroup */
	char cgroup[256];       /* the resolved path, "" when none */
	struct bpf_link *cg_links[3];
	/* gateway.tls: the uprobes and the tracepoint (bpf/uprobes.c) */
	struct bpf_link **tls_links;
	int n_tls_links;
	char tls_libssl[256]; /* the library they are attached to */
	/* quota id -> entry name ("" when free) and index in cfg->quotas */
	char qnames[TG_MAX_QUOTAS][32];
	int qentry[TG_MAX_QUOTAS];
	struct tg_quota qvals[TG_MAX_QUOTAS]; /* as written into tg_quotas */
	/* route id -> the name it holds or last held ("" never used), and
	 * whether a configured route holds it now */
	char rnames[TG_ROUTE_IDS][TG_ROUTE_NAME_LEN];
	bool rlive[TG_ROUTE_IDS];
	/* model id -> the name it holds or last held, and whether a
	 * configured model holds it now (id 0: "other") */
	char mnames[TG_MODEL_IDS][TG_MODEL_NAME_LEN];
	bool mlive[TG_MODEL_IDS];
	struct tg_route_table rtable; /* as written into tg_route_table */
	/* sub-limits: the tg_sub_limits slots written (one bit each) */
	unsigned char sub_set[(TG_MAX_QUOTAS * TG_SUB_SLOTS + 7) / 8];
	bool sub_known; /* sub_set says what the maps hold */
};

#endif
