/* Kernel memory of the agent's maps: how the agent sizes each map from the
 * config, and what the kernel charges for a map of a given definition at a
 * given number of possible CPUs. Pure (no BPF calls): the unit tests
 * evaluate the default config for 2, 64 and 192 CPUs from the compiled
 * object's own map definitions. */
#ifndef TG_MAPMEM_H
#define TG_MAPMEM_H

#include <stdint.h>

/* A map as the BPF object defines it (after the agent's sizing). */
struct tg_map_def {
	const char *name;
	uint32_t type; /* enum bpf_map_type */
	uint32_t key_size;
	uint32_t value_size;
	uint32_t max_entries;
	uint32_t flags; /* BPF_F_* */
};

/* Entries of a per-client map for gateway.max_clients: an LRU sized
 * exactly to its contents evicts early, so 1/8 headroom. */
unsigned int tg_clients_map_size(unsigned int max_clients);

/* The max_entries the agent gives the map `name` for gateway.max_clients,
 * or 0 when the compiled size stands. */
uint32_t tg_map_entries(const char *name, unsigned int max_clients);

/* Bytes the kernel charges for the map with ncpus possible CPUs, as
 * kernel/bpf's *_map_mem_usage() compute them (bpftool's bytes_memlock),
 * for a map just made: a map without preallocation counts its table only
 * (its elements come as they are used), and is_full then adds them all. */
uint64_t tg_map_mem(const struct tg_map_def *d, int ncpus, int is_full);

#endif
