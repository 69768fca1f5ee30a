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
};

/* The version of a layout directory's name ("v0" -> 0), -1 when the name
 * is not v<decimal> (leading zeros, signs and overflow refused). */
int tg_layout_dir_version(const char *name);

/* Decides for an old map and the current map of the same name (cur NULL
 * when there is none). For TG_MIG_RECREATE, why says what changed, e.g.
 * "value size 24 -> 32"; otherwise why is "". */
enum tg_mig_action tg_migrate_decide(const struct tg_map_shape *old, const struct tg_map_shape *cur,
				     char *why, size_t len);

/* One map's outcome, for the summary line. */
struct tg_mig_result {
	char name[32];
	enum tg_mig_action action;
	char why[64];  /* RECREATE: what changed; COPY: "" or a copy failure */
	int failed;    /* COPY attempted and failed part way (why says how) */
	uint64_t entries; /* COPY: entries copied */
};

/* "layout v0 found, migrated to v1: a, b copied; c recreated (value size
 * 24 -> 32); d not in v1, dropped; e skipped (no copyable entries)",
 * results in the order given. Returns snprintf's count (truncated when
 * it does not fit). */
int tg_migrate_summary(char *buf, size_t len, int old_version, int cur_version,
		       const struct tg_mig_result *r, int n);

#endif
