/* The pure part of a layout-version migration: which pin directories are
 * layouts, which maps of an old layout can be copied into the current one,
 * and the one log line that says what happened. No BPF here: unit-tested. */
#ifndef TG_MIGRATE_PLAN_H
#define TG_MIGRATE_PLAN_H

#include <stddef.h>
#include <stdint.h>

/* What the kernel says about a map (struct bpf_map_info's fields). */
struct tg_map_shape {
	uint32_t type; /* enum bpf_map_type */
	uint32_t key_size;
	uint32_t value_size;
	uint32_t max_entries;
};

enum tg_mig_action {
	TG_MIG_COPY = 0,  /* same shape: its entries are copied */
	TG_MIG_RECREATE,  /* shape changed: the current map starts empty */
	TG_MIG_SKIP,      /* a type without copyable entries (ring buffer, socket storage) */
	TG_MIG_GONE,      /* no map of that name in the current layout */
	TG_MIG_CONVERT,   /* shape changed, meaning kept: each entry converted */
};

/* The version of a layout directory's name ("v0" -> 0), -1 when the name
 * is not v<decimal> (leading zeros, signs and overflow refused). */
int tg_layout_dir_version(const char *name);

/* Decides for an old map and the current map of the same name (cur NULL
 * when there is none). For TG_MIG_RECREATE, why says what changed, e.g.
 * "value size 24 -> 32"; otherwise why is "". */
enum tg_mig_action tg_migrate_decide(const struct tg_map_shape *old, const struct tg_map_shape *cur,
				     char *why, size_t len);

/* A known change of a map between layouts that keeps its entries'
 * meaning: per-CPU copies folded into one shared value (v2 -> v3
 * tg_clients, tg_responses), a value grown by fields at its end (v2 -> v3
 * buckets: drops). */
struct tg_mig_conv {
	const char *name;
	uint32_t from_type, from_key, from_value;
	uint32_t to_type, to_value;
	/* old: the old value, ncpus copies `stride` bytes apart for a per-CPU
	 * map (1 copy otherwise); writes to_value bytes into out. */
	void (*fn)(void *out, const void *old, size_t stride, int ncpus);
};

/* The conversion for this map of an old layout into the current one, NULL
 * when there is none (then tg_migrate_decide's answer stands). Also NULL
 * when the current map is smaller than the old (some entries would not
 * fit). */
const struct tg_mig_conv *tg_migrate_converter(const char *name, const struct tg_map_shape *old,
					       const struct tg_map_shape *cur);

/* The folds themselves, exposed for the unit tests. */
void tg_mig_fold_client(void *out, const void *old, size_t stride, int ncpus);
void tg_mig_fold_resp(void *out, const void *old, size_t stride, int ncpus);
void tg_mig_widen_bucket(void *out, const void *old, size_t stride, int ncpus);

/* One map's outcome, for the summary line. */
struct tg_mig_result {
	char name[32];
	enum tg_mig_action action;
	char why[64];  /* RECREATE, CONVERT: what changed; COPY: "" or a copy failure */
	int failed;    /* COPY or CONVERT attempted and failed part way (why says how) */
	uint64_t entries; /* COPY, CONVERT: entries copied */
};

/* "layout v0 found, migrated to v1: a, b copied; c recreated (value size
 * 24 -> 32); f converted (type lru_percpu_hash -> lru_hash); d not in v1,
 * dropped; e skipped (no copyable entries)",
 * results in the order given. Returns snprintf's count (truncated when
 * it does not fit). */
int tg_migrate_summary(char *buf, size_t len, int old_version, int cur_version,
		       const struct tg_mig_result *r, int n);

#endif
