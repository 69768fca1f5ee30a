/* From config quotas to what the kernel maps hold (agent/quota_plan.c):
 * quota ids stable by name, struct tg_quota values, settings words, LPM
 * keys. */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include "bpf/quota_plan.h"
#include "lib/addr.h"

/* ~300 KB: never on the stack. */
static struct tg_config cfg;
static char old[TG_MAX_QUOTAS][32];
static char names[TG_MAX_QUOTAS + 1][TG_NAME_LEN];
static int ids[TG_MAX_QUOTAS + 1];

#define NSLOTS (TG_MAX_QUOTAS - 1) /* ids 1..1023 */

static void set_names(int n, const char *const *list)
{
	memset(names, 0, sizeof(names));
	for (int i = 0; i < n; i++)
		snprintf(names[i], TG_NAME_LEN, "%s", list[i]);
}

static int assign(int n)
{
	memset(ids, 0x7f, sizeof(ids));
	return tg_quota_assign_ids((const char (*)[32])old, (const char (*)[TG_NAME_LEN])names, n, ids);
}

/* ids in 1..1023 and pairwise distinct */
static void check_unique(int n)
{
	static unsigned char seen[TG_MAX_QUOTAS];

	memset(seen, 0, sizeof(seen));
	for (int i = 0; i < n; i++) {
		cr_assert(ids[i] >= 1 && ids[i] < TG_MAX_QUOTAS, "ids[%d] = %d", i, ids[i]);
		cr_assert_not(seen[ids[i]], "id %d given twice", ids[i]);
		seen[ids[i]] = 1;
	}
}

/* ---- ids ----------------------------------------------------------------- */

Test(quota_plan, fresh_names_take_ids_in_order)
{
	static const char *const l[] = { "a", "b", "c" };

	memset(old, 0, sizeof(old));
	set_names(3, l);
	cr_assert_eq(assign(3), 0);
	cr_assert_eq(ids[0], 1);
	cr_assert_eq(ids[1], 2);
	cr_assert_eq(ids[2], 3);
	cr_assert_eq(assign(0), 0);
	/* slot 0 is quotas.default's, whatever old[0] says */
	strcpy(old[0], "b");
	cr_assert_eq(assign(3), 0);
	cr_assert_eq(ids[1], 2);
	check_unique(3);
}

Test(quota_plan, staying_names_keep_their_ids)
{
	static const char *const l[] = { "c", "a", "b", "d" };

	memset(old, 0, sizeof(old));
	strcpy(old[3], "a");
	strcpy(old[7], "b");
	set_names(4, l);
	cr_assert_eq(assign(4), 0);
	cr_assert_eq(ids[1], 3); /* a */
	cr_assert_eq(ids[2], 7); /* b */
	cr_assert_eq(ids[0], 1); /* c: the first free slot */
	cr_assert_eq(ids[3], 2); /* d */
	check_unique(4);
}

Test(quota_plan, names_match_exactly)
{
	static const char *const l[] = { "a", "abc", "AB", "ab " };

	memset(old, 0, sizeof(old));
	strcpy(old[1], "ab");
	set_names(4, l);
	cr_assert_eq(assign(4), 0);
	/* none is "ab": slot 1 is a removed entry's, the new ones go elsewhere */
	cr_assert_eq(ids[0], 2);
	cr_assert_eq(ids[1], 3);
	cr_assert_eq(ids[2], 4);
	cr_assert_eq(ids[3], 5);
}

Test(quota_plan, longest_name_keeps_its_id)
{
	const char *n31 = "abcdefghijklmnopqrstuvwxyz01234";
	const char *l[] = { "abcdefghijklmnopqrstuvwxyz01235", n31 };

	cr_assert_eq(strlen(n31), TG_NAME_LEN - 1);
	memset(old, 0, sizeof(old));
	strcpy(old[9], n31);
	set_names(2, l);
	cr_assert_eq(assign(2), 0);
	cr_assert_eq(ids[1], 9);
	cr_assert_eq(ids[0], 1);
}

Test(quota_plan, new_names_prefer_never_used_slots)
{
	static const char *const l[] = { "n1", "keep", "n2", "n3" };

	memset(old, 0, sizeof(old));
	strcpy(old[1], "gone1");
	strcpy(old[2], "keep");
	strcpy(old[3], "gone2");
	strcpy(old[5], "gone3");
	set_names(4, l);
	cr_assert_eq(assign(4), 0);
	cr_assert_eq(ids[1], 2);
	cr_assert_eq(ids[0], 4);
	cr_assert_eq(ids[2], 6);
	cr_assert_eq(ids[3], 7);
}

Test(quota_plan, removed_slots_are_reused_only_when_none_is_free)
{
	memset(old, 0, sizeof(old));
	for (int id = 1; id <= 1020; id++)
		snprintf(old[id], 32, "o%d", id);
	/* o10 stays; five new names: 1021..1023, then the removed 1 and 2 */
	memset(names, 0, sizeof(names));
	strcpy(names[0], "n1");
	strcpy(names[1], "o10");
	strcpy(names[2], "n2");
	strcpy(names[3], "n3");
	strcpy(names[4], "n4");
	strcpy(names[5], "n5");
	cr_assert_eq(assign(6), 0);
	cr_assert_eq(ids[1], 10);
	cr_assert_eq(ids[0], 1021);
	cr_assert_eq(ids[2], 1022);
	cr_assert_eq(ids[3], 1023);
	cr_assert_eq(ids[4], 1);
	cr_assert_eq(ids[5], 2);
	check_unique(6);
}

Test(quota_plan, full_table)
{
	memset(old, 0, sizeof(old));
	memset(names, 0, sizeof(names));
	for (int i = 0; i < NSLOTS + 1; i++)
		snprintf(names[i], TG_NAME_LEN, "q%d", i);
	/* 1023 entries fit, in slot order */
	cr_assert_eq(assign(NSLOTS), 0);
	for (int i = 0; i < NSLOTS; i++)
		cr_assert_eq(ids[i], i + 1);
	/* 1024 do not */
	cr_assert_eq(assign(NSLOTS + 1), -ENOSPC);

	/* every slot held by a removed name: 1023 new names still fit */
	for (int id = 1; id < TG_MAX_QUOTAS; id++)
		snprintf(old[id], 32, "old%d", id);
	cr_assert_eq(assign(NSLOTS), 0);
	check_unique(NSLOTS);
	cr_assert_eq(assign(NSLOTS + 1), -ENOSPC);

	/* half of them staying, half new */
	for (int i = 0; i < NSLOTS; i += 2)
		snprintf(names[i], TG_NAME_LEN, "old%d", NSLOTS - i);
	cr_assert_eq(assign(NSLOTS), 0);
	check_unique(NSLOTS);
	for (int i = 0; i < NSLOTS; i += 2)
		cr_assert_eq(ids[i], NSLOTS - i);
	cr_assert_eq(assign(NSLOTS + 1), -ENOSPC);
}

static unsigned long long rng = 88172645463325252ULL;

static unsigned rnd(unsigned n)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (unsigned)(rng % n);
}

/* Reload after reload with random name sets, the way quotas.c uses it:
 * old holds the names the last assignment wrote (removed slots cleared). */
Test(quota_plan, random_reloads_keep_ids_and_prefer_free_slots)
{
	static char prev[TG_MAX_QUOTAS][32];
	static unsigned char taken[TG_MAX_QUOTAS];
	static int pool_pick[4000];

	memset(old, 0, sizeof(old));
	for (int round = 0; round < 120; round++) {
		int n = round % 10 == 9 ? NSLOTS - (int)rnd(5) : (int)rnd(NSLOTS + 1);
		int pool = n + 1 + (int)rnd(1500);

		/* n distinct names out of pool */
		for (int i = 0; i < pool; i++)
			pool_pick[i] = i;
		for (int i = 0; i < n; i++) {
			int j = i + (int)rnd((unsigned)(pool - i)), t = pool_pick[i];

			pool_pick[i] = pool_pick[j];
			pool_pick[j] = t;
			snprintf(names[i], TG_NAME_LEN, "name-%d", pool_pick[i]);
		}
		memcpy(prev, old, sizeof(old));
		cr_assert_eq(assign(n), 0, "round %d, %d names", round, n);
		check_unique(n);

		memset(taken, 0, sizeof(taken));
		int reused_removed = 0;
		for (int i = 0; i < n; i++) {
			int kept_at = 0;

			taken[ids[i]] = 1;
			for (int id = 1; id < TG_MAX_QUOTAS; id++)
				if (!strcmp(prev[id], names[i]))
					kept_at = id;
			if (kept_at)
				cr_assert_eq(ids[i], kept_at, "round %d: %s moved from %d to %d", round,
					     names[i], kept_at, ids[i]);
			else if (prev[ids[i]][0])
				reused_removed = 1;
		}
		/* a removed entry's slot only once every never-used one is taken */
		if (reused_removed)
			for (int id = 1; id < TG_MAX_QUOTAS; id++)
				cr_assert(prev[id][0] || taken[id],
					  "round %d: slot %d left free, a removed slot reused", round, id);

		memset(old, 0, sizeof(old));
		for (int i = 0; i < n; i++)
			memcpy(old[ids[i]], names[i], 32);
	}
}

/* ---- quota values --------------------------------------------------------- */

static struct tg_quota_entry *add_entry(const char *name, int match, int share, int action)
{
	struct tg_quota_entry *e = &cfg.quotas[cfg.n_quotas++];

	memset(e, 0, sizeof(*e));
	snprintf(e->name, sizeof(e->name), "%s", name);
	e->match = match;
	e->share = share;
	e->action = action;
	return e;
}

Test(quota_plan, default_quota_from_defaults)
{
	struct tg_quota q;

	tg_config_defaults(&cfg);
	memset(&q, 0xff, sizeof(q));
	tg_quota_build(&q, &cfg, NULL);
	cr_assert_eq(q.req_interval, 0);
	cr_assert_eq(q.req_tolerance, 0);
	cr_assert_eq(q.byte_interval_fp, 0);
	cr_assert_eq(q.byte_tolerance, 0);
	cr_assert_eq(q.conn_interval, 0);
	cr_assert_eq(q.conn_tolerance, 0);
	cr_assert_eq(q.action, TG_ACTION_DROP);
	cr_assert_eq(q.flags, TG_QUOTA_SET);
	cr_assert_str_eq(q.name, "default");
	for (size_t i = strlen("default"); i < sizeof(q.name); i++)
		cr_assert_eq(q.name[i], 0, "name byte %zu", i);
}

Test(quota_plan, default_quota_limits_and_action)
{
	struct tg_quota q;

	tg_config_defaults(&cfg);
	cfg.default_limits = (struct tg_limits){ .requests_per_sec = 50, .burst = 100,
						 .bytes_per_sec = 1000000, .bytes_burst = 2000000,
						 .connections_per_sec = 20 };
	cfg.default_action = TG_ACTION_MONITOR;
	/* an entry's limits must not leak into the default */
	add_entry("other", TG_MATCH_CIDR, TG_SHARE_PER_ADDRESS, TG_ACTION_DENY)->limits.requests_per_sec = 7;
	tg_quota_build(&q, &cfg, NULL);
	cr_assert_eq(q.req_interval, 20000000ULL);
	cr_assert_eq(q.req_tolerance, 99 * 20000000ULL);
	cr_assert_eq(q.byte_interval_fp, 1000ULL << TG_FP_SHIFT);
	cr_assert_eq(q.byte_tolerance, 2ULL * 1000000000ULL);
	cr_assert_eq(q.conn_interval, 50000000ULL);
	cr_assert_eq(q.conn_tolerance, 19 * 50000000ULL);
	cr_assert_eq(q.action, TG_ACTION_MONITOR);
	cr_assert_eq(q.flags, TG_QUOTA_SET);
	cr_assert_str_eq(q.name, "default");
}

Test(quota_plan, entry_quota)
{
	const char *n31 = "team-a.batch_jobs-0123456789xyz";
	struct tg_quota_entry *e;
	struct tg_quota q;

	tg_config_defaults(&cfg);
	cfg.default_limits.requests_per_sec = 1;
	cfg.default_action = TG_ACTION_MONITOR;
	cr_assert_eq(strlen(n31), TG_NAME_LEN - 1);
	e = add_entry(n31, TG_MATCH_CIDR, TG_SHARE_PER_ADDRESS, TG_ACTION_DENY);
	e->limits = (struct tg_limits){ .requests_per_sec = 1000, .burst = 0, .bytes_per_sec = 64,
					.bytes_burst = 640, .connections_per_sec = 0 };
	memset(&q, 0xff, sizeof(q));
	tg_quota_build(&q, &cfg, e);
	cr_assert_eq(q.req_interval, 1000000ULL);
	cr_assert_eq(q.req_tolerance, 0); /* burst 0: one */
	cr_assert_eq(q.byte_interval_fp, 15625000ULL << TG_FP_SHIFT);
	cr_assert_eq(q.byte_tolerance, 10ULL * 1000000000ULL);
	cr_assert_eq(q.conn_interval, 0);
	cr_assert_eq(q.conn_tolerance, 0);
	cr_assert_eq(q.action, TG_ACTION_DENY);
	cr_assert_eq(q.flags, TG_QUOTA_SET | TG_QUOTA_PER_ADDRESS);
	cr_assert_str_eq(q.name, n31);
	cr_assert_eq(q.name[31], 0);
}

Test(quota_plan, per_address_flag_only_for_per_address_cidr)
{
	static const struct {
		int match, share, action;
		__u32 flags;
	} cases[] = {
		{ TG_MATCH_CIDR, TG_SHARE_PER_ADDRESS, TG_ACTION_DROP, TG_QUOTA_SET | TG_QUOTA_PER_ADDRESS },
		{ TG_MATCH_CIDR, TG_SHARE_SHARED, TG_ACTION_MONITOR, TG_QUOTA_SET },
		{ TG_MATCH_API_KEY, TG_SHARE_SHARED, TG_ACTION_EXEMPT, TG_QUOTA_SET },
		/* share is for cidr entries only */
		{ TG_MATCH_API_KEY, TG_SHARE_PER_ADDRESS, TG_ACTION_GATEWAY, TG_QUOTA_SET },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct tg_quota_entry *e;
		struct tg_quota q;

		tg_config_defaults(&cfg);
		e = add_entry("e", cases[i].match, cases[i].share, cases[i].action);
		tg_quota_build(&q, &cfg, e);
		cr_assert_eq(q.flags, cases[i].flags, "case %zu", i);
		cr_assert_eq(q.action, (__u32)cases[i].action, "case %zu", i);
		cr_assert_str_eq(q.name, "e");
	}
}

/* ---- settings ------------------------------------------------------------ */

/* "name:" packed by hand, little-endian, with its byte masks. */
static __u32 pack(const char *name, __u64 w[2], __u64 m[2])
{
	char line[TG_KEY_HEADER_LEN + 2];
	size_t n = (size_t)snprintf(line, sizeof(line), "%s:", name);

	w[0] = w[1] = m[0] = m[1] = 0;
	for (size_t i = 0; i < n; i++) {
		w[i / 8] |= (__u64)(unsigned char)line[i] << (8 * (i % 8));
		m[i / 8] |= 0xffULL << (8 * (i % 8));
	}
	return (__u32)n;
}

static void check_header(const struct tg_settings *s, __u32 slot, const char *name)
{
	__u64 w[2], m[2];
	__u32 len = pack(name, w, m);

	cr_assert_eq(s->hdr_len[slot], len, "%s: hdr_len %u", name, s->hdr_len[slot]);
	cr_assert_eq(s->hdr_w[slot][0], w[0], "%s: w0 %#llx want %#llx", name, s->hdr_w[slot][0], w[0]);
	cr_assert_eq(s->hdr_w[slot][1], w[1], "%s: w1 %#llx want %#llx", name, s->hdr_w[slot][1], w[1]);
	cr_assert_eq(s->hdr_m[slot][0], m[0], "%s: m0 %#llx want %#llx", name, s->hdr_m[slot][0], m[0]);
	cr_assert_eq(s->hdr_m[slot][1], m[1], "%s: m1 %#llx want %#llx", name, s->hdr_m[slot][1], m[1]);
}

Test(quota_plan, settings_from_defaults)
{
	struct tg_settings s;

	tg_config_defaults(&cfg);
	memset(&s, 0xff, sizeof(s));
	tg_settings_build(&s, &cfg, 7);
	cr_assert_eq(s.mode, TG_MODE_MONITOR);
	cr_assert_eq(s.ipv6_prefix, 64);
	cr_assert_eq(s.generation, 7);
	cr_assert_eq(s.scan_bytes, 1024);
	/* the key detectors are on by default, and the default routes;
	 * models are off */
	cr_assert_eq(s.flags, TG_SET_KEY_USE | TG_SET_ROUTES);
	cr_assert_eq(s.event_interval_ns, 1000000000ULL);
	cr_assert_eq(s.n_quota_keys, 0);
	cr_assert_eq(s.n_headers, 3);
	/* "authorization:" and "x-api-key:", spelled out */
	cr_assert_eq(s.hdr_len[0], 14);
	cr_assert_eq(s.hdr_w[0][0], 0x7a69726f68747561ULL); /* "authoriz" */
	cr_assert_eq(s.hdr_w[0][1], 0x00003a6e6f697461ULL); /* "ation:" */
	cr_assert_eq(s.hdr_m[0][0], ~0ULL);
	cr_assert_eq(s.hdr_m[0][1], 0x0000ffffffffffffULL);
	cr_assert_eq(s.hdr_len[1], 10);
	cr_assert_eq(s.hdr_w[1][0], 0x656b2d6970612d78ULL); /* "x-api-ke" */
	cr_assert_eq(s.hdr_w[1][1], 0x3a79ULL);             /* "y:" */
	cr_assert_eq(s.hdr_m[1][0], ~0ULL);
	cr_assert_eq(s.hdr_m[1][1], 0xffffULL);
	check_header(&s, 0, "authorization");
	check_header(&s, 1, "x-api-key");
	check_header(&s, 2, "api-key");
	/* the unused slot is zero */
	cr_assert_eq(s.hdr_len[3], 0);
	cr_assert_eq(s.hdr_w[3][0] | s.hdr_w[3][1] | s.hdr_m[3][0] | s.hdr_m[3][1], 0);
	/* no models by default: the body is not read */
	cr_assert_eq(s.body_scan_bytes, 512);
}

Test(quota_plan, settings_from_a_config)
{
	static const char *const hdrs[] = { "x-api-key", "abcdefghijklmno", "a", "authorization" };
	struct tg_settings s;

	tg_config_defaults(&cfg);
	cfg.mode = TG_MODE_ENFORCE;
	cfg.ipv6_prefix = 48;
	cfg.header_scan_bytes = 2048;
	cfg.proxy_protocol = true;
	for (int i = 0; i < 4; i++)
		strcpy(cfg.key_headers[i], hdrs[i]);
	cfg.n_key_headers = 4;
	add_entry("k1", TG_MATCH_API_KEY, TG_SHARE_SHARED, TG_ACTION_DROP);
	add_entry("c1", TG_MATCH_CIDR, TG_SHARE_SHARED, TG_ACTION_DROP);
	add_entry("k2", TG_MATCH_API_KEY, TG_SHARE_SHARED, TG_ACTION_DROP);
	add_entry("c2", TG_MATCH_CIDR, TG_SHARE_PER_ADDRESS, TG_ACTION_DROP);
	add_entry("k3", TG_MATCH_API_KEY, TG_SHARE_SHARED, TG_ACTION_EXEMPT);
	memset(&s, 0xff, sizeof(s));
	tg_settings_build(&s, &cfg, 0xfffffffeu);
	cr_assert_eq(s.mode, TG_MODE_ENFORCE);
	cr_assert_eq(s.ipv6_prefix, 48);
	cr_assert_eq(s.generation, 0xfffffffeu);
	cr_assert_eq(s.scan_bytes, 2048);
	cr_assert_eq(s.flags, TG_SET_PROXY_PROTOCOL | TG_SET_KEY_USE | TG_SET_ROUTES);
	cr_assert_eq(s.n_quota_keys, 3);
	cr_assert_eq(s.n_headers, 4);
	for (int i = 0; i < 4; i++)
		check_header(&s, (__u32)i, hdrs[i]);
	/* 15 letters and ':' fill both words */
	cr_assert_eq(s.hdr_len[1], 16);
	cr_assert_eq(s.hdr_m[1][0], ~0ULL);
	cr_assert_eq(s.hdr_m[1][1], ~0ULL);
	cr_assert_eq(s.hdr_w[1][1], 0x3a6f6e6d6c6b6a69ULL); /* "ijklmno:" */
	/* "a:" */
	cr_assert_eq(s.hdr_len[2], 2);
	cr_assert_eq(s.hdr_w[2][0], 0x3a61ULL);
	cr_assert_eq(s.hdr_m[2][0], 0xffffULL);
	cr_assert_eq(s.hdr_m[2][1], 0);

	/* no API-key entries and the key detectors off: the kernel skips
	 * the header scan */
	cfg.n_quotas = 0;
	add_entry("c1", TG_MATCH_CIDR, TG_SHARE_SHARED, TG_ACTION_DROP);
	cfg.proxy_protocol = false;
	cfg.anomaly.det[TG_AN_KEY_SHARED].enabled = false;
	cfg.n_routes = 0; /* routes make the scan copy the request line */
	tg_settings_build(&s, &cfg, 1);
	cr_assert_eq(s.flags, TG_SET_KEY_USE, "key_rotation alone still needs the pairs");
	cfg.anomaly.det[TG_AN_KEY_ROTATION].enabled = false;
	tg_settings_build(&s, &cfg, 1);
	cr_assert_eq(s.n_quota_keys, 0);
	cr_assert_eq(s.flags, 0);
}

Test(quota_plan, settings_skip_a_header_that_does_not_pack)
{
	struct tg_settings s;

	tg_config_defaults(&cfg);
	strcpy(cfg.key_headers[0], "authorization");
	cfg.key_headers[1][0] = '\0';
	strcpy(cfg.key_headers[2], "x-api-key");
	cfg.n_key_headers = 3;
	memset(&s, 0xff, sizeof(s));
	tg_settings_build(&s, &cfg, 1);
	/* the next header takes the empty one's slot; no hole */
	cr_assert_eq(s.n_headers, 2);
	check_header(&s, 0, "authorization");
	check_header(&s, 1, "x-api-key");
	cr_assert_eq(s.hdr_len[2], 0);
	cr_assert_eq(s.hdr_w[2][0] | s.hdr_m[2][0], 0);
}

/* ---- LPM keys ------------------------------------------------------------- */

Test(quota_plan, lpm_key_of_cidr_entries)
{
	static const struct {
		const char *cidr, *net;
		__u32 prefixlen;
	} cases[] = {
		{ "198.18.0.0/16", "::ffff:198.18.0.0", 112 },
		{ "10.1.2.3", "::ffff:10.1.2.3", 128 },
		{ "0.0.0.0/0", "::ffff:0.0.0.0", 96 },
		{ "fd00:198:18::/48", "fd00:198:18::", 48 },
		{ "2001:db8::1", "2001:db8::1", 128 },
		{ "::/0", "::", 0 },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct tg_quota_entry e;
		struct tg_lpm_key k, want;

		memset(&e, 0, sizeof(e));
		cr_assert_eq(tg_cidr_parse(cases[i].cidr, e.cidr, &e.prefix_len), 0, "%s", cases[i].cidr);
		memset(&want, 0, sizeof(want));
		want.prefixlen = cases[i].prefixlen;
		cr_assert_eq(inet_pton(AF_INET6, cases[i].net, want.addr.w), 1);
		memset(&k, 0xff, sizeof(k));
		tg_quota_lpm_key(&k, &e);
		cr_assert_eq(k.prefixlen, cases[i].prefixlen, "%s: /%u", cases[i].cidr, k.prefixlen);
		cr_assert(memcmp(&k, &want, sizeof(k)) == 0, "%s", cases[i].cidr);
	}
}
