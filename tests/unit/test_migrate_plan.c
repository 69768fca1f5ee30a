/* The decisions of a layout-version migration (agent/migrate_plan.c):
 * which directory names are layouts, which maps are copied and which are
 * recreated (and why), and the summary line. */
#include <criterion/criterion.h>
#include <linux/bpf.h>
#include <string.h>
#include "bpf/migrate_plan.h"

Test(layout_dir, versions)
{
	cr_assert_eq(tg_layout_dir_version("v0"), 0);
	cr_assert_eq(tg_layout_dir_version("v1"), 1);
	cr_assert_eq(tg_layout_dir_version("v42"), 42);
	cr_assert_eq(tg_layout_dir_version("v"), -1);
	cr_assert_eq(tg_layout_dir_version("v01"), -1);
	cr_assert_eq(tg_layout_dir_version("v-1"), -1);
	cr_assert_eq(tg_layout_dir_version("v+1"), -1);
	cr_assert_eq(tg_layout_dir_version("v1x"), -1);
	cr_assert_eq(tg_layout_dir_version("x1"), -1);
	cr_assert_eq(tg_layout_dir_version("."), -1);
	cr_assert_eq(tg_layout_dir_version(""), -1);
	cr_assert_eq(tg_layout_dir_version("v99999999999"), -1);
}

static const struct tg_map_shape clients = { BPF_MAP_TYPE_LRU_PERCPU_HASH, 16, 128, 294912 };

Test(decide, same_shape_copies)
{
	char why[64] = "x";

	cr_assert_eq(tg_migrate_decide(&clients, &clients, why, sizeof(why)), TG_MIG_COPY);
	cr_assert_str_empty(why);
}

Test(decide, more_room_copies)
{
	struct tg_map_shape bigger = clients;
	char why[64];

	bigger.max_entries *= 2;
	cr_assert_eq(tg_migrate_decide(&clients, &bigger, why, sizeof(why)), TG_MIG_COPY);
}

Test(decide, value_size_recreates)
{
	struct tg_map_shape cur = clients;
	char why[64];

	cur.value_size = 136;
	cr_assert_eq(tg_migrate_decide(&clients, &cur, why, sizeof(why)), TG_MIG_RECREATE);
	cr_assert_str_eq(why, "value size 128 -> 136");
}

Test(decide, key_size_recreates)
{
	struct tg_map_shape cur = clients;
	char why[64];

	cur.key_size = 20;
	cr_assert_eq(tg_migrate_decide(&clients, &cur, why, sizeof(why)), TG_MIG_RECREATE);
	cr_assert_str_eq(why, "key size 16 -> 20");
}

Test(decide, type_recreates)
{
	struct tg_map_shape cur = clients;
	char why[64];

	cur.type = BPF_MAP_TYPE_LRU_HASH;
	cr_assert_eq(tg_migrate_decide(&clients, &cur, why, sizeof(why)), TG_MIG_RECREATE);
	cr_assert_str_eq(why, "type lru_percpu_hash -> lru_hash");
}

Test(decide, fewer_entries_recreates)
{
	struct tg_map_shape cur = clients;
	char why[64];

	cur.max_entries = 1152;
	cr_assert_eq(tg_migrate_decide(&clients, &cur, why, sizeof(why)), TG_MIG_RECREATE);
	cr_assert_str_eq(why, "max_entries 294912 -> 1152");
}

Test(decide, every_change_named)
{
	struct tg_map_shape cur = { BPF_MAP_TYPE_HASH, 8, 32, 10 };
	char why[128];

	cr_assert_eq(tg_migrate_decide(&clients, &cur, why, sizeof(why)), TG_MIG_RECREATE);
	cr_assert_str_eq(why, "type lru_percpu_hash -> hash, key size 16 -> 8, value size 128 -> 32, "
			      "max_entries 294912 -> 10");
}

Test(decide, short_reason_buffer_still_recreates)
{
	struct tg_map_shape cur = clients;
	char why[4];

	cur.value_size = 8;
	cr_assert_eq(tg_migrate_decide(&clients, &cur, why, sizeof(why)), TG_MIG_RECREATE);
	cr_assert_eq(strlen(why), 3);
}

Test(decide, unknown_type_named_by_number)
{
	struct tg_map_shape old = clients, cur = clients;
	char why[64];

	old.type = 200;
	cr_assert_eq(tg_migrate_decide(&old, &cur, why, sizeof(why)), TG_MIG_RECREATE);
	cr_assert_str_eq(why, "type 200 -> lru_percpu_hash");
}

Test(decide, not_in_current_layout)
{
	char why[64];

	cr_assert_eq(tg_migrate_decide(&clients, NULL, why, sizeof(why)), TG_MIG_GONE);
}

Test(decide, copyable_types)
{
	static const unsigned int yes[] = { BPF_MAP_TYPE_HASH, BPF_MAP_TYPE_ARRAY,
		BPF_MAP_TYPE_PERCPU_HASH, BPF_MAP_TYPE_PERCPU_ARRAY, BPF_MAP_TYPE_LRU_HASH,
		BPF_MAP_TYPE_LRU_PERCPU_HASH, BPF_MAP_TYPE_LPM_TRIE };
	static const unsigned int no[] = { BPF_MAP_TYPE_RINGBUF, BPF_MAP_TYPE_SK_STORAGE,
		BPF_MAP_TYPE_PROG_ARRAY, BPF_MAP_TYPE_HASH_OF_MAPS, BPF_MAP_TYPE_QUEUE,
		BPF_MAP_TYPE_BLOOM_FILTER, BPF_MAP_TYPE_PERF_EVENT_ARRAY };
	char why[64];

	for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
		struct tg_map_shape s = { yes[i], 4, 8, 16 };

		cr_assert_eq(tg_migrate_decide(&s, &s, why, sizeof(why)), TG_MIG_COPY, "type %u", yes[i]);
	}
	for (size_t i = 0; i < sizeof(no) / sizeof(no[0]); i++) {
		struct tg_map_shape s = { no[i], 4, 8, 16 };

		cr_assert_eq(tg_migrate_decide(&s, &s, why, sizeof(why)), TG_MIG_SKIP, "type %u", no[i]);
	}
}

Test(summary, all_kinds)
{
	const struct tg_mig_result r[] = {
		{ .name = "tg_buckets", .action = TG_MIG_COPY },
		{ .name = "tg_clients", .action = TG_MIG_COPY },
		{ .name = "tg_conns", .action = TG_MIG_COPY, .failed = 1, .why = "write: No space" },
		{ .name = "tg_events", .action = TG_MIG_SKIP },
		{ .name = "tg_foo", .action = TG_MIG_RECREATE, .why = "value size 24 -> 32" },
		{ .name = "tg_old", .action = TG_MIG_GONE },
		{ .name = "tg_bar", .action = TG_MIG_RECREATE, .why = "key size 4 -> 8" },
	};
	char buf[512];

	tg_migrate_summary(buf, sizeof(buf), 0, 1, r, 7);
	cr_assert_str_eq(buf, "layout v0 found, migrated to v1: tg_buckets, tg_clients copied; "
			      "tg_conns copy failed (write: No space); "
			      "tg_foo recreated (value size 24 -> 32), tg_bar recreated (key size 4 -> 8); "
			      "tg_old not in v1, dropped; tg_events skipped (no copyable entries)");
}

Test(summary, only_copies)
{
	const struct tg_mig_result r[] = { { .name = "tg_a", .action = TG_MIG_COPY } };
	char buf[128];

	tg_migrate_summary(buf, sizeof(buf), 3, 4, r, 1);
	cr_assert_str_eq(buf, "layout v3 found, migrated to v4: tg_a copied");
}

Test(summary, empty_layout)
{
	char buf[128];

	tg_migrate_summary(buf, sizeof(buf), 0, 1, NULL, 0);
	cr_assert_str_eq(buf, "layout v0 found, migrated to v1: no maps");
}

Test(summary, truncated_stays_terminated)
{
	const struct tg_mig_result r[] = {
		{ .name = "tg_buckets", .action = TG_MIG_COPY },
		{ .name = "tg_foo", .action = TG_MIG_RECREATE, .why = "value size 24 -> 32" },
	};
	char buf[40];

	tg_migrate_summary(buf, sizeof(buf), 0, 1, r, 2);
	cr_assert_eq(strlen(buf), sizeof(buf) - 1);
	cr_assert(!strncmp(buf, "layout v0 found, migrated to v1: tg_buc", sizeof(buf) - 1));
}
