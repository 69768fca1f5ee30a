#include <errno.h>
#include <net/if.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/pkt_sched.h>
#include <bpf/libbpf.h>
#include "shared.h"
#include "lib/log.h"
#include "bpf/tc.h"

#ifndef TC_H_CLSACT
#define TC_H_CLSACT TC_H_INGRESS
#endif
#ifndef TC_H_MIN_INGRESS
#define TC_H_MIN_INGRESS 0xFFF2U
#define TC_H_MIN_EGRESS 0xFFF3U
#endif

int tg_tc_attach(struct tg_tc_link *l, const char *ifname, int prog_fd, int egress_fd)
{
	int ifindex = (int)if_nametoindex(ifname);
	int err;

	memset(l, 0, sizeof(*l));
	snprintf(l->ifname, sizeof(l->ifname), "%s", ifname);
	if (!ifindex)
		return -ENODEV;
	l->ifindex = ifindex;

	DECLARE_LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ifindex,
			    .attach_point = BPF_TC_INGRESS);
	err = bpf_tc_hook_create(&hook);
	if (err == 0)
		l->created_qdisc = true;
	else if (err != -EEXIST)
		return err;

	/* BPF_TC_F_REPLACE: a filter with our handle and priority can only be
	 * our own leftover from a previous run. */
	DECLARE_LIBBPF_OPTS(bpf_tc_opts, opts, .handle = TG_TC_HANDLE,
			    .priority = TG_TC_PRIORITY, .prog_fd = prog_fd,
			    .flags = BPF_TC_F_REPLACE);
	err = bpf_tc_attach(&hook, &opts);
	if (!err && egress_fd >= 0) {
		DECLARE_LIBBPF_OPTS(bpf_tc_hook, ehook, .ifindex = ifindex,
				    .attach_point = BPF_TC_EGRESS);
		DECLARE_LIBBPF_OPTS(bpf_tc_opts, eopts, .handle = TG_TC_HANDLE,
				    .priority = TG_TC_PRIORITY, .prog_fd = egress_fd,
				    .flags = BPF_TC_F_REPLACE);
		err = bpf_tc_attach(&ehook, &eopts);
		if (err) {
			opts.prog_fd = 0;
			opts.flags = 0;
			opts.prog_id = 0;
			bpf_tc_detach(&hook, &opts);
		} else {
			l->egress = true;
		}
	}
	if (err) {
		if (l->created_qdisc) {
			hook.attach_point = BPF_TC_INGRESS | BPF_TC_EGRESS;
			bpf_tc_hook_destroy(&hook);
			l->created_qdisc = false;
		}
		return err;
	}
	l->attached = true;
	return 0;
}

int tg_tc_detach(struct tg_tc_link *l)
{
	int err = 0, left;

	if (!l->attached)
		return 0;
	DECLARE_LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = l->ifindex,
			    .attach_point = BPF_TC_INGRESS);
	DECLARE_LIBBPF_OPTS(bpf_tc_opts, opts, .handle = TG_TC_HANDLE,
			    .priority = TG_TC_PRIORITY);
	err = bpf_tc_detach(&hook, &opts);
	if (err && err != -ENOENT && err != -ENODEV && err != -EINVAL)
		pr_warn("tc detach failed", "interface=%s err=\"%s\"", l->ifname,
			strerror(-err));
	if (l->egress) {
		int e;

		hook.attach_point = BPF_TC_EGRESS;
		e = bpf_tc_detach(&hook, &opts);
		if (e && e != -ENOENT && e != -ENODEV && e != -EINVAL)
			pr_warn("tc egress detach failed", "interface=%s err=\"%s\"", l->ifname,
				strerror(-e));
		hook.attach_point = BPF_TC_INGRESS;
		l->egress = false;
	}
	l->attached = false;
	if (!l->created_qdisc)
		return err;
	/* Destroying the hook removes the whole clsact qdisc, other tools'
	 * filters included: only when nothing is left on it. */
	left = tg_tc_filter_count(l->ifindex);
	if (left == 0) {
		hook.attach_point = BPF_TC_INGRESS | BPF_TC_EGRESS;
		bpf_tc_hook_destroy(&hook);
	} else if (left > 0) {
		pr_info("clsact qdisc kept: other filters use it", "interface=%s filters=%d",
			l->ifname, left);
	}
	l->created_qdisc = false;
	return err;
}

/* libbpf has no filter enumeration, so this dumps the filters of one
 * clsact hook over rtnetlink. Any message counts: even an empty priority
 * would belong to someone else. */
static int dump_filters(int fd, int ifindex, unsigned int parent, unsigned int seq)
{
	struct {
		struct nlmsghdr nh;
		struct tcmsg tc;
	} req = {
		.nh = {
			.nlmsg_len = NLMSG_LENGTH(sizeof(struct tcmsg)),
			.nlmsg_type = RTM_GETTFILTER,
			.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP,
			.nlmsg_seq = seq,
		},
		.tc = {
			.tcm_family = AF_UNSPEC,
			.tcm_ifindex = ifindex,
			.tcm_parent = TC_H_MAKE(TC_H_CLSACT, parent),
		},
	};
	char buf[16384];
	int count = 0;

	if (send(fd, &req, req.nh.nlmsg_len, 0) < 0)
		return -errno;
	for (;;) {
		ssize_t n = recv(fd, buf, sizeof(buf), 0);
		struct nlmsghdr *nh;

		if (n < 0)
			return -errno;
		for (nh = (struct nlmsghdr *)buf; NLMSG_OK(nh, (size_t)n);
		     nh = NLMSG_NEXT(nh, n)) {
			if (nh->nlmsg_seq != seq)
				continue;
			if (nh->nlmsg_type == NLMSG_DONE)
				return count;
			if (nh->nlmsg_type == NLMSG_ERROR) {
				struct nlmsgerr *e = NLMSG_DATA(nh);

				return e->error ? e->error : count;
			}
			if (nh->nlmsg_type == RTM_NEWTFILTER)
				count++;
		}
	}
}

int tg_tc_filter_count(int ifindex)
{
	struct timeval tv = { .tv_sec = 2 };
	int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
	int in, eg;

	if (fd < 0)
		return -errno;
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	in = dump_filters(fd, ifindex, TC_H_MIN_INGRESS, 1);
	eg = in < 0 ? in : dump_filters(fd, ifindex, TC_H_MIN_EGRESS, 2);
	close(fd);
	if (in < 0)
		return in;
	if (eg < 0)
		return eg;
	return in + eg;
}
