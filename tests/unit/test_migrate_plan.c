/* The decisions of a layout-version migration (agent/migrate_plan.c):
 * which directory names are layouts, which maps are copied and which are
 * recreated (and why), and the summary line. */
#include <criterion/criterion.h>
#include <linux/bpf.h>
#include <string.h>
#include "bpf/migrate_plan.h"
#include "shared.h"

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

/* Layout v2 -> v3: the per-CPU client and response maps became shared,
 * the buckets gained drops. Their entries are converted, not dropped. */
static const struct tg_map_shape v2_clients = { BPF_MAP_TYPE_LRU_PERCPU_HASH, 16, 128, 294912 };
static const struct tg_map_shape v3_clients = { BPF_MAP_TYPE_LRU_HASH, 16, sizeof(struct tg_client),
						   294912 };

Test(convert, v2_clients_are_folded)
{
	char why[64];

	cr_assert_eq(tg_migrate_decide(&v2_clients, &v3_clients, why, sizeof(why)),
		     TG_MIG_RECREATE);
	cr_assert_str_eq(why, "type lru_percpu_hash -> lru_hash, value size 128 -> 160");
	cr_assert(tg_migrate_converter("tg_clients", &v2_clients, &v3_clients));
	cr_assert_null(tg_migrate_converter("tg_other", &v2_clients, &v3_clients));
}

Test(convert, not_into_a_smaller_map)
{
	struct tg_map_shape small = v3_clients;

	small.max_entries = 1024;
	cr_assert_null(tg_migrate_converter("tg_clients", &v2_clients, &small));
}

Test(convert, not_from_an_unknown_shape)
{
	struct tg_map_shape odd = v2_clients;

	odd.value_size = 120;
	cr_assert_null(tg_migrate_converter("tg_clients", &odd, &v3_clients));
}

/* Layout v2's per-CPU client record, as the kernel laid it out. */
struct v2_client {
	__u64 packets, bytes, payload_bytes, syns, requests, first_seen_ns, last_seen_ns;
	__s32 pending;
	__u16 wasted, epoch;
	__u32 size_hist[TG_SIZE_BUCKETS];
};

Test(convert, client_counters_add_up)
{
	struct v2_client pc[3];
	struct tg_client out;

	cr_assert_eq(sizeof(pc[0]), 128);
	memset(pc, 0, sizeof(pc));
	pc[0].packets = 5;
	pc[1].packets = 7;
	pc[2].requests = 3;
	pc[0].requests = 1;
	pc[1].first_seen_ns = 200;
	pc[2].first_seen_ns = 100;
	pc[0].last_seen_ns = 900;
	pc[2].last_seen_ns = 950;
	/* v2 wrote the pending hint on every CPU's copy */
	pc[0].pending = pc[1].pending = pc[2].pending = 2;
	pc[0].epoch = 7;
	pc[1].size_hist[4] = 2;
	pc[2].size_hist[4] = 5;
	tg_mig_fold_client(&out, pc, sizeof(pc[0]), 3);
	cr_assert_eq(out.packets + out.xpackets, 12);
	cr_assert_eq(out.requests, 4);
	cr_assert_eq(out.first_seen_ns, 100);
	cr_assert_eq(out.last_seen_ns, 950);
	cr_assert_eq(out.pending, 2, "one count, not one per CPU");
	cr_assert_eq(out.epoch, 0, "0: put into the active set again");
	cr_assert_eq(out.size_hist[4], 7);
}

Test(convert, responses_add_up)
{
	struct tg_resp pc[2], out;

	memset(pc, 0, sizeof(pc));
	pc[0].bytes = 100;
	pc[1].bytes = 50;
	pc[1].responses = 2;
	pc[0].status[TG_ST_429] = 1;
	pc[1].status[TG_ST_429] = 2;
	pc[1].lat_hist[3] = 9;
	tg_mig_fold_resp(&out, pc, sizeof(pc[0]), 2);
	cr_assert_eq(out.bytes, 150);
	cr_assert_eq(out.responses, 2);
	cr_assert_eq(out.status[TG_ST_429], 3);
	cr_assert_eq(out.lat_hist[3], 9);
}

Test(convert, buckets_keep_their_state_and_gain_drops)
{
	const struct tg_map_shape v2 = { BPF_MAP_TYPE_LRU_HASH, 24, 104, 294912 };
	const struct tg_map_shape v3 = { BPF_MAP_TYPE_LRU_HASH, 24, sizeof(struct tg_bucket),
					 294912 };
	struct tg_bucket old = { .req_tat = 123, .allowed = 9, .denied = 4, .open = 2 }, out;

	cr_assert_eq(sizeof(struct tg_bucket), 112);
	cr_assert(tg_migrate_converter("tg_addr_buckets", &v2, &v3));
	tg_mig_widen_bucket(&out, &old, 104, 1);
	cr_assert_eq(out.req_tat, 123, "the bucket's level is kept");
	cr_assert_eq(out.allowed, 9);
	cr_assert_eq(out.denied, 4);
	cr_assert_eq(out.drops, 4, "v2 counted each drop in denied");
	cr_assert_eq(out.open, 2);
}

Test(summary, conversions)
{
	const struct tg_mig_result r[] = {
		{ .name = "tg_clients", .action = TG_MIG_CONVERT,
		  .why = "type lru_percpu_hash -> lru_hash" },
		{ .name = "tg_quotas", .action = TG_MIG_COPY },
	};
	char buf[256];

	tg_migrate_summary(buf, sizeof(buf), 2, 3, r, 2);
	cr_assert_str_eq(buf, "layout v2 found, migrated to v3: tg_quotas copied; "
			      "tg_clients converted (type lru_percpu_hash -> lru_hash)");
}
