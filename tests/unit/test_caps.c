/* Capability masks: names both ways, the /proc status fields the e2e test
 * and the agent's log read, and the set the running agent keeps. */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <errno.h>
#include <linux/capability.h>
#include <string.h>

#include "lib/caps.h"

Test(caps, parse_names)
{
	uint64_t m = 1;
	char bad[32] = "";

	cr_assert(eq(int, tg_caps_parse("cap_net_admin", &m, bad, sizeof(bad)), 0));
	cr_assert(eq(u64, m, 1ull << CAP_NET_ADMIN));
	cr_assert(eq(int, tg_caps_parse("CAP_BPF, cap_perfmon cap_net_admin", &m, bad, sizeof(bad)), 0));
	cr_assert(eq(u64, m, (1ull << 39) | (1ull << 38) | (1ull << CAP_NET_ADMIN)));
	cr_assert(eq(int, tg_caps_parse("", &m, bad, sizeof(bad)), 0));
	cr_assert(eq(u64, m, 0));
	cr_assert(eq(int, tg_caps_parse(" ,, ", &m, bad, sizeof(bad)), 0));
	cr_assert(eq(u64, m, 0));
	cr_assert(eq(int, tg_caps_parse(NULL, &m, bad, sizeof(bad)), 0));
	cr_assert(eq(u64, m, 0));
}

Test(caps, parse_rejects_unknown_names)
{
	uint64_t m = 7;
	char bad[16] = "";
	char longname[200];

	cr_assert(eq(int, tg_caps_parse("cap_bpf,cap_flying", &m, bad, sizeof(bad)), -EINVAL));
	cr_assert(eq(str, bad, "cap_flying"));
	cr_assert(eq(u64, m, 7), "the mask is left alone on error");
	memset(longname, 'x', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	cr_assert(eq(int, tg_caps_parse(longname, &m, bad, sizeof(bad)), -EINVAL));
	cr_assert(eq(int, (int)strlen(bad), (int)sizeof(bad) - 1), "cut to the buffer");
	cr_assert(eq(int, tg_caps_parse("cap_net_admin;", &m, NULL, 0), -EINVAL));
}

Test(caps, format)
{
	char buf[256];

	tg_caps_format(0, buf, sizeof(buf));
	cr_assert(eq(str, buf, "none"));
	tg_caps_format(1ull << CAP_NET_ADMIN, buf, sizeof(buf));
	cr_assert(eq(str, buf, "cap_net_admin"));
	tg_caps_format((1ull << 39) | (1ull << CAP_NET_ADMIN) | (1ull << CAP_SETPCAP), buf, sizeof(buf));
	cr_assert(eq(str, buf, "cap_setpcap,cap_net_admin,cap_bpf"), "in number order");
	tg_caps_format(1ull << 62, buf, sizeof(buf));
	cr_assert(eq(str, buf, "62"), "a number libcap has no name for");
	tg_caps_format((1ull << 39) | (1ull << CAP_NET_ADMIN), buf, 8);
	cr_assert(eq(str, buf, "cap_net"), "truncated, terminated");
}

Test(caps, format_parse_round_trip)
{
	char buf[1024];
	uint64_t all = (1ull << (CAP_LAST_CAP + 1)) - 1, m = 0;

	tg_caps_format(all, buf, sizeof(buf));
	cr_assert(eq(int, tg_caps_parse(buf, &m, NULL, 0), 0), "%s", buf);
	cr_assert(eq(u64, m, all));
}

Test(caps, from_proc_status)
{
	static const char status[] =
		"Name:\ttollgate\nUid:\t65534\t65534\t65534\t65534\n"
		"CapInh:\t0000000000000000\nCapPrm:\t0000000000001000\n"
		"CapEff:\t0000000000001000\nCapBnd:\t000001ffffffffff\n"
		"CapAmb:\t0000000000000000\nNoNewPrivs:\t1\nSeccomp:\t0\n";
	uint64_t m = 0;

	cr_assert(eq(int, tg_caps_from_status(status, "CapEff", &m), 0));
	cr_assert(eq(u64, m, 0x1000));
	cr_assert(eq(int, tg_caps_from_status(status, "CapBnd", &m), 0));
	cr_assert(eq(u64, m, 0x1ffffffffffull));
	cr_assert(eq(int, tg_caps_from_status(status, "NoNewPrivs", &m), 0));
	cr_assert(eq(u64, m, 1));
	cr_assert(eq(int, tg_caps_from_status(status, "CapE", &m), -ENOENT), "whole names only");
	cr_assert(eq(int, tg_caps_from_status(status, "Cap", &m), -ENOENT));
	cr_assert(eq(int, tg_caps_from_status("CapEff:\tzz\n", "CapEff", &m), -EINVAL));
	cr_assert(eq(int, tg_caps_from_status("CapEff:\t12 34\n", "CapEff", &m), -EINVAL));
	cr_assert(eq(int, tg_caps_from_status("", "CapEff", &m), -ENOENT));
}

Test(caps, kept_set)
{
	char buf[128];

	tg_caps_format(TG_CAPS_KEEP, buf, sizeof(buf));
	cr_assert(eq(str, buf, "cap_net_admin"));
	tg_caps_format(TG_CAPS_LOAD, buf, sizeof(buf));
	cr_assert(eq(str, buf, "cap_net_admin,cap_perfmon,cap_bpf"));
	cr_assert(eq(u64, TG_CAPS_KEEP & ~TG_CAPS_LOAD, 0), "kept is a subset of what loading needs");
}

Test(caps, dir_searchable)
{
	const gid_t groups[] = { 100, 65534 };

	/* owner bits decide for the owner, even when others may */
	cr_assert(tg_caps_dir_searchable(0700, 65534, 0, 65534, groups, 2));
	cr_assert(not(tg_caps_dir_searchable(0611, 65534, 0, 65534, groups, 2)));
	/* root's 0700: not for anyone else */
	cr_assert(not(tg_caps_dir_searchable(0700, 0, 0, 65534, groups, 2)));
	cr_assert(tg_caps_dir_searchable(0711, 0, 0, 65534, groups, 2));
	cr_assert(tg_caps_dir_searchable(0755, 0, 0, 65534, NULL, 0));
	/* group bits for a member, other bits not consulted then */
	cr_assert(tg_caps_dir_searchable(0750, 0, 100, 65534, groups, 2));
	cr_assert(not(tg_caps_dir_searchable(0701, 0, 100, 65534, groups, 2)));
	/* not a member: other bits */
	cr_assert(not(tg_caps_dir_searchable(0750, 0, 5, 65534, groups, 2)));
	cr_assert(tg_caps_dir_searchable(0701, 0, 5, 65534, groups, 2));
}

/* Removing a file (a socket at exit) takes write and search. */
Test(caps, dir_writable)
{
	const gid_t groups[] = { 100, 65534 };

	cr_assert(tg_caps_dir_writable(0700, 65534, 0, 65534, groups, 2));
	cr_assert(tg_caps_dir_writable(0300, 65534, 0, 65534, groups, 2));
	cr_assert(not(tg_caps_dir_writable(0500, 65534, 0, 65534, groups, 2)), "no write");
	cr_assert(not(tg_caps_dir_writable(0600, 65534, 0, 65534, groups, 2)), "no search");
	/* root's /run: 0755 */
	cr_assert(not(tg_caps_dir_writable(0755, 0, 0, 65534, groups, 2)));
	cr_assert(tg_caps_dir_writable(0770, 0, 100, 65534, groups, 2));
	cr_assert(not(tg_caps_dir_writable(0757, 0, 100, 65534, groups, 2)), "the group's bits");
	cr_assert(tg_caps_dir_writable(01777, 0, 0, 65534, NULL, 0), "/tmp");
}
