#include "bpf/mapmem.h"

#include <string.h>
#include <linux/bpf.h>

/* Kernel structure sizes (x86-64, kernel 6.x): struct htab_elem up to its
 * key, a hash bucket (list head + raw spinlock), and the map headers. */
#define HTAB_ELEM 48u
#define HTAB_BUCKET 16u
#define HTAB_HDR 768u
#define ARRAY_HDR 384u
#define LLIST_NODE 8u
#define PAGE 4096u

unsigned int tg_clients_map_size(unsigned int max_clients)
{
	return max_clients + max_clients / 8;
}

uint32_t tg_map_entries(const char *name, unsigned int max_clients)
{
	uint32_t n = tg_clients_map_size(max_clients);

	/* connections outnumber clients; an evicted connection's admitted
	 * request would be counted again if retransmitted */
	if (!strcmp(name, "tg_conns"))
		return 2 * n;
	/* (client, route) pairs: an LRU of the recently active ones (a client
	 * evicted from it counts its routes from zero again); a quarter of
	 * the clients keeps the default config within its memory ceiling */
	if (!strcmp(name, "tg_route_clients"))
		return max_clients / 4 > 1024 ? max_clients / 4 : 1024;
	if (!strcmp(name, "tg_clients") || !strcmp(name, "tg_addr_buckets") ||
	    !strcmp(name, "tg_responses") || !strcmp(name, "tg_socks") ||
	    !strcmp(name, "tg_active"))
		return n;
	return 0;
}

static uint64_t round8(uint64_t v)
{
	return (v + 7) & ~7ull;
}

static uint64_t pow2(uint64_t v)
{
	uint64_t p = 1;

	while (p < v)
		p <<= 1;
	return p;
}

static uint64_t htab_mem(const struct tg_map_def *d, int ncpus, int is_full)
{
	int percpu = d->type == BPF_MAP_TYPE_PERCPU_HASH || d->type == BPF_MAP_TYPE_LRU_PERCPU_HASH;
	int lru = d->type == BPF_MAP_TYPE_LRU_HASH || d->type == BPF_MAP_TYPE_LRU_PERCPU_HASH;
	int prealloc = !(d->flags & BPF_F_NO_PREALLOC);
	uint64_t value = round8(d->value_size);
	uint64_t elem = HTAB_ELEM + round8(d->key_size) + (percpu ? 8 : value);
	uint64_t n = d->max_entries, usage;

	usage = HTAB_HDR + HTAB_BUCKET * pow2(n);
	if (prealloc) {
		if (!percpu && !lru)
			n += (uint64_t)ncpus; /* the extra elements of a plain hash */
		usage += elem * n;
		if (percpu)
			usage += value * (uint64_t)ncpus * n;
		else if (!lru)
			usage += 8ull * (uint64_t)ncpus;
	} else if (is_full) {
		usage += (elem + LLIST_NODE) * n;
		if (percpu)
			usage += value * (uint64_t)ncpus * n;
	}
	return usage;
}

uint64_t tg_map_mem(const struct tg_map_def *d, int ncpus, int is_full)
{
	uint64_t value = round8(d->value_size), n = d->max_entries;

	switch (d->type) {
	case BPF_MAP_TYPE_HASH:
	case BPF_MAP_TYPE_LRU_HASH:
	case BPF_MAP_TYPE_PERCPU_HASH:
	case BPF_MAP_TYPE_LRU_PERCPU_HASH:
		return htab_mem(d, ncpus, is_full);
	case BPF_MAP_TYPE_ARRAY:
		if (d->flags & BPF_F_MMAPABLE)
			return ARRAY_HDR + ((value * n + PAGE - 1) / PAGE) * PAGE;
		return ARRAY_HDR + value * n;
	case BPF_MAP_TYPE_PERCPU_ARRAY:
		return ARRAY_HDR + 8 * n + value * n * (uint64_t)ncpus;
	case BPF_MAP_TYPE_RINGBUF:
		return n + 2 * PAGE;
	case BPF_MAP_TYPE_LPM_TRIE:
		/* no preallocation: a node per entry, when full */
		return is_full ? n * (48 + 16 + round8(d->key_size) + value) : 0;
	default:
		return 0; /* socket storage: with the sockets */
	}
}
