/* TC attachment of the ingress program through libbpf's bpf_tc_* API
 * (clsact), with a fixed handle and priority. */
#ifndef TG_TC_H
#define TG_TC_H

#include <stdbool.h>
#include "config/config.h"

struct tg_tc_link {
	char ifname[TG_IFNAME_LEN];
	int ifindex;
	bool created_qdisc; /* we made the clsact qdisc, so we may remove it */
	bool attached;
	bool egress;        /* the egress program is attached too */
};

/* Attaches the ingress program (and the egress one, when egress_fd >= 0).
 * Returns 0, -ENODEV for a missing interface, or another negative errno. */
int tg_tc_attach(struct tg_tc_link *l, const char *ifname, int prog_fd, int egress_fd);
/* Removes our filters; removes the clsact qdisc only if we created it and
 * no filter is left on it. */
int tg_tc_detach(struct tg_tc_link *l);
/* Filters on the interface's clsact ingress and egress hooks, or -errno. */
int tg_tc_filter_count(int ifindex);

#endif
