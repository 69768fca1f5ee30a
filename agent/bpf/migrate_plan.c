#include "bpf/migrate_plan.h"

#include <ctype.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <linux/bpf.h>
#include "shared.h"

int tg_layout_dir_version(const char *name)
{
	long v = 0;

	if (name[0] != 'v' || !isdigit((unsigned char)name[1]))
		return -1;
	if (name[1] == '0' && name[2])
		return -1; /* "v01" is nobody's layout */
	for (const char *p = name + 1; *p; p++) {
		if (!isdigit((unsigned char)*p))
			return -1;
		v = v * 10 + (*p - '0');
		if (v > INT_MAX / 10)
			return -1;
	}
	return (int)v;
}

/* Types whose entries user space can walk and write back as they are.
 * Ring buffers, socket storage, program and map-of-map arrays, queues and
 * bloom filters hold either nothing walkable or references to objects of
 * the old object file. */
static bool copyable(uint32_t type)
{
	switch (type) {
	case BPF_MAP_TYPE_HASH:
	case BPF_MAP_TYPE_ARRAY:
	case BPF_MAP_TYPE_PERCPU_HASH:
	case BPF_MAP_TYPE_PERCPU_ARRAY:
	case BPF_MAP_TYPE_LRU_HASH:
	case BPF_MAP_TYPE_LRU_PERCPU_HASH:
	case BPF_MAP_TYPE_LPM_TRIE:
		return true;
	default:
		return false;
	}
}

static const char *type_name(uint32_t type, char *buf, size_t len)
{
	static const char *const names[] = {
		[BPF_MAP_TYPE_HASH] = "hash",
		[BPF_MAP_TYPE_ARRAY] = "array",
		[BPF_MAP_TYPE_PERCPU_HASH] = "percpu_hash",
		[BPF_MAP_TYPE_PERCPU_ARRAY] = "percpu_array",
		[BPF_MAP_TYPE_LRU_HASH] = "lru_hash",
		[BPF_MAP_TYPE_LRU_PERCPU_HASH] = "lru_percpu_hash",
		[BPF_MAP_TYPE_LPM_TRIE] = "lpm_trie",
		[BPF_MAP_TYPE_SK_STORAGE] = "sk_storage",
		[BPF_MAP_TYPE_RINGBUF] = "ringbuf",
	};

	if (type < sizeof(names) / sizeof(names[0]) && names[type])
		return names[type];
	snprintf(buf, len, "%u", type);
	return buf;
}

static void add_why(char *why, size_t len, const char *what, const char *from, const char *to)
{
	size_t used = strlen(why);

	if (used < len)
		snprintf(why + used, len - used, "%s%s %s -> %s", used ? ", " : "", what, from, to);
}

static void add_why_u(char *why, size_t len, const char *what, uint32_t from, uint32_t to)
{
	char a[16], b[16];

	snprintf(a, sizeof(a), "%u", from);
	snprintf(b, sizeof(b), "%u", to);
	add_why(why, len, what, a, b);
}

enum tg_mig_action tg_migrate_decide(const struct tg_map_shape *old, const struct tg_map_shape *cur,
				     char *why, size_t len)
{
	if (len)
		why[0] = '\0';
	if (!cur)
		return TG_MIG_GONE;
	if (old->type != cur->type) {
		char a[16], b[16];

		add_why(why, len, "type", type_name(old->type, a, sizeof(a)),
			type_name(cur->type, b, sizeof(b)));
	}
	if (old->key_size != cur->key_size)
		add_why_u(why, len, "key size", old->key_size, cur->key_size);
	if (old->value_size != cur->value_size)
		add_why_u(why, len, "value size", old->value_size, cur->value_size);
	/* A smaller map might hold the entries there are, but an LRU would
	 * evict to make them fit and a hash would refuse some: all or none. */
	if (old->max_entries > cur->max_entries)
		add_why_u(why, len, "max_entries", old->max_entries, cur->max_entries);
	if (len && why[0])
		return TG_MIG_RECREATE;
	return copyable(cur->type) ? TG_MIG_COPY : TG_MIG_SKIP;
}

/* Layout v2's tg_client, one copy per CPU (LRU_PERCPU_HASH). */
struct tg_client_v2 {
	__u64 packets, bytes, payload_bytes, syns, requests, first_seen_ns, last_seen_ns;
	__s32 pending;
	__u16 wasted, epoch;
	__u32 size_hist[TG_SIZE_BUCKETS];
};

/* Layout v2 kept tg_clients and tg_responses per CPU: the counters of
 * the copies add up (into the x* counters: CPU 0 owns the record, and
 * the sums are what any CPU added). pending was written on every CPU's
 * copy (each holds the whole count): the largest is kept. The epoch
 * starts at 0, which no scan epoch is, so the client is put into the
 * active set again. */
void tg_mig_fold_client(void *out, const void *old, size_t stride, int ncpus)
{
	struct tg_client *o = out;

	memset(o, 0, sizeof(*o));
	for (int cpu = 0; cpu < ncpus; cpu++) {
		const struct tg_client_v2 *c =
			(const void *)((const char *)old + (size_t)cpu * stride);

		o->xpackets += c->packets;
		o->xbytes += c->bytes;
		o->xpayload_bytes += c->payload_bytes;
		o->syns += c->syns;
		o->requests += c->requests;
		if (c->first_seen_ns && (!o->first_seen_ns || c->first_seen_ns < o->first_seen_ns))
			o->first_seen_ns = c->first_seen_ns;
		if (c->last_seen_ns > o->last_seen_ns)
			o->last_seen_ns = c->last_seen_ns;
		if (c->pending > o->pending)
			o->pending = c->pending;
		o->wasted = (__u16)(o->wasted + c->wasted);
		for (int b = 0; b < TG_SIZE_BUCKETS; b++)
			o->size_hist[b] += c->size_hist[b];
	}
}

void tg_mig_fold_resp(void *out, const void *old, size_t stride, int ncpus)
{
	struct tg_resp *o = out;

	memset(o, 0, sizeof(*o));
	for (int cpu = 0; cpu < ncpus; cpu++) {
		const struct tg_resp *r = (const void *)((const char *)old + (size_t)cpu * stride);

		o->packets += r->packets;
		o->bytes += r->bytes;
		o->responses += r->responses;
		for (int i = 0; i < TG_ST_MAX; i++)
			o->status[i] += r->status[i];
		for (int i = 0; i < TG_LAT_BUCKETS; i++)
			o->lat_hist[i] += r->lat_hist[i];
	}
}

/* v2's bucket is v3's without drops. v2's denied counted every drop;
 * which of them were retransmissions is not known any more, so both
 * figures start from it. */
#define TG_V2_BUCKET_SIZE offsetof(struct tg_bucket, drops)
void tg_mig_widen_bucket(void *out, const void *old, size_t stride, int ncpus)
{
	struct tg_bucket *o = out;

	(void)stride;
	(void)ncpus;
	memset(o, 0, sizeof(*o));
	memcpy(o, old, TG_V2_BUCKET_SIZE);
	o->drops = o->denied;
}

static const struct tg_mig_conv convs[] = {
	{ "tg_clients", BPF_MAP_TYPE_LRU_PERCPU_HASH, sizeof(struct tg_addr),
	  sizeof(struct tg_client_v2), BPF_MAP_TYPE_LRU_HASH, sizeof(struct tg_client),
	  tg_mig_fold_client },
	{ "tg_responses", BPF_MAP_TYPE_LRU_PERCPU_HASH, sizeof(struct tg_addr),
	  sizeof(struct tg_resp), BPF_MAP_TYPE_LRU_HASH, sizeof(struct tg_resp),
	  tg_mig_fold_resp },
	{ "tg_buckets", BPF_MAP_TYPE_HASH, sizeof(struct tg_bucket_key), TG_V2_BUCKET_SIZE,
	  BPF_MAP_TYPE_HASH, sizeof(struct tg_bucket), tg_mig_widen_bucket },
	{ "tg_addr_buckets", BPF_MAP_TYPE_LRU_HASH, sizeof(struct tg_bucket_key),
	  TG_V2_BUCKET_SIZE, BPF_MAP_TYPE_LRU_HASH, sizeof(struct tg_bucket),
	  tg_mig_widen_bucket },
};

const struct tg_mig_conv *tg_migrate_converter(const char *name, const struct tg_map_shape *old,
					       const struct tg_map_shape *cur)
{
	if (!cur || old->max_entries > cur->max_entries)
		return NULL;
	for (size_t i = 0; i < sizeof(convs) / sizeof(convs[0]); i++) {
		const struct tg_mig_conv *c = &convs[i];

		if (!strcmp(c->name, name) && c->from_type == old->type &&
		    c->from_key == old->key_size && c->from_value == old->value_size &&
		    c->to_type == cur->type && c->from_key == cur->key_size &&
		    c->to_value == cur->value_size)
			return c;
	}
	return NULL;
}

/* Appends "; " (unless first) and the names of the results with `action`,
 * then `tail`; with a reason (RECREATE, a failed copy) each name is
 * followed by `tail` and its reason in parentheses. */
static void list(char *buf, size_t len, size_t *used, bool *first, const struct tg_mig_result *r,
		 int n, enum tg_mig_action action, bool failed, const char *tail)
{
	bool any = false;

#define PUT(...)                                                                         \
	do {                                                                             \
		if (*used < len)                                                         \
			*used += (size_t)snprintf(buf + *used, len - *used, __VA_ARGS__); \
	} while (0)
	for (int i = 0; i < n; i++) {
		bool tried = action == TG_MIG_COPY || action == TG_MIG_CONVERT;

		if (r[i].action != action || (tried && !!r[i].failed != failed))
			continue;
		PUT("%s%s", any ? ", " : (*first ? "" : "; "), r[i].name);
		if (action == TG_MIG_RECREATE || action == TG_MIG_CONVERT || failed)
			PUT("%s (%s)", tail, r[i].why);
		any = true;
	}
	if (any) {
		if (action != TG_MIG_RECREATE && action != TG_MIG_CONVERT && !failed)
			PUT("%s", tail);
		*first = false;
	}
#undef PUT
}

int tg_migrate_summary(char *buf, size_t len, int old_version, int cur_version,
		       const struct tg_mig_result *r, int n)
{
	char gone[32];
	size_t used = 0;
	bool first = true;
	int w;

	if (!len)
		return 0;
	buf[0] = '\0';
	w = snprintf(buf, len, "layout v%d found, migrated to v%d: ", old_version, cur_version);
	used = w > 0 ? (size_t)w : 0;
	snprintf(gone, sizeof(gone), " not in v%d, dropped", cur_version);
	list(buf, len, &used, &first, r, n, TG_MIG_COPY, false, " copied");
	list(buf, len, &used, &first, r, n, TG_MIG_COPY, true, " copy failed");
	list(buf, len, &used, &first, r, n, TG_MIG_CONVERT, false, " converted");
	list(buf, len, &used, &first, r, n, TG_MIG_CONVERT, true, " conversion failed");
	list(buf, len, &used, &first, r, n, TG_MIG_RECREATE, false, " recreated");
	list(buf, len, &used, &first, r, n, TG_MIG_GONE, false, gone);
	list(buf, len, &used, &first, r, n, TG_MIG_SKIP, false, " skipped (no copyable entries)");
	if (first && used < len)
		used += (size_t)snprintf(buf + used, len - used, "no maps");
	return (int)used;
}
