/* Kernel memory of the default config, from the compiled BPF object's own
 * map definitions (libbpf opens it without loading: no privileges) sized
 * as the agent sizes them, at 2, 64 and 192 possible CPUs. */
#include <criterion/criterion.h>
#include <bpf/libbpf.h>
#include <linux/bpf.h>
#include <stdio.h>
#include <string.h>
#include "bpf/mapmem.h"
#include "config/config.h"

#define MIB (1024.0 * 1024.0)

/* The goal for the default config is 128 MiB; layout v3 made the
 * total independent of the CPU count but still holds one record per map
 * per client (see BENCHMARKS.md, "Kernel memory"). This ceiling is what
 * v3 reaches, so that a change that grows it fails here. route_scan's
 * 4,096-client sketch LRU added 0.5 MiB; models 1.6 MiB whatever the
 * clients: tg_model_keys (1024 keys x 65 models x 16 B, 1.02 MiB) and
 * tg_body_wait (4096 bodies awaited, 0.5 MiB). */
#define TG_KMEM_CEILING (388ull << 20)
/* Per tracked client, every map with per-client or per-connection entries
 * (the goal: 256 B; v3: see the ceiling above; routes added 26 B:
 * tg_route_clients, an LRU of (client, route) pairs a quarter of
 * max_clients long). */
#define TG_KMEM_PER_CLIENT_CEILING 1470u

struct total {
	uint64_t all, per_client, percpu_part;
};

static struct total kmem(int ncpus, unsigned int *max_clients)
{
	struct tg_config cfg;
	struct tg_config_errors errs = { 0 };
	struct total t = { 0 };
	struct bpf_object *obj;
	struct bpf_map *map;

	cr_assert_eq(tg_config_parse(tg_default_config_json, strlen(tg_default_config_json), &cfg,
				     &errs), 0);
	*max_clients = cfg.max_clients;
	obj = bpf_object__open_file(TG_BPF_OBJ, NULL);
	cr_assert(obj, "open %s", TG_BPF_OBJ);
	bpf_object__for_each_map(map, obj) {
		struct tg_map_def d = { bpf_map__name(map), bpf_map__type(map),
					bpf_map__key_size(map), bpf_map__value_size(map),
					bpf_map__max_entries(map), bpf_map__map_flags(map) };
		uint32_t n = tg_map_entries(d.name, cfg.max_clients);
		uint64_t m;

		if (n)
			d.max_entries = n;
		/* full: the no-prealloc maps as they are at their limit */
		m = tg_map_mem(&d, ncpus, 1);
		t.all += m;
		if (n)
			t.per_client += m;
		if (d.type == BPF_MAP_TYPE_PERCPU_ARRAY || d.type == BPF_MAP_TYPE_PERCPU_HASH ||
		    d.type == BPF_MAP_TYPE_LRU_PERCPU_HASH)
			t.percpu_part += m;
		if (ncpus == 192)
			cr_log_info("%-16s %-3u entries %8u: %10.2f MiB", d.name, d.type,
				    d.max_entries, (double)m / MIB);
	}
	bpf_object__close(obj);
	return t;
}

Test(kmem, formula_matches_measured_sizes)
{
	/* bytes_memlock of maps made with bpftool on this kernel (6.18) */
	struct tg_map_def lru = { "x", BPF_MAP_TYPE_LRU_HASH, 16, 128, 294912, 0 };
	struct tg_map_def lru64 = { "x", BPF_MAP_TYPE_LRU_HASH, 16, 64, 294912, 0 };
	struct tg_map_def pcpu = { "x", BPF_MAP_TYPE_LRU_PERCPU_HASH, 16, 128, 294912, 0 };
	struct tg_map_def conns = { "x", BPF_MAP_TYPE_LRU_HASH, 40, 64, 294912, 0 };

	cr_assert_lt(llabs((long long)tg_map_mem(&lru, 2, 0) - 65012608ll), 4096);
	cr_assert_lt(llabs((long long)tg_map_mem(&lru64, 2, 0) - 46138240ll), 4096);
	cr_assert_lt(llabs((long long)tg_map_mem(&pcpu, 2, 0) - 105120640ll), 4096);
	cr_assert_lt(llabs((long long)tg_map_mem(&conns, 2, 0) - 53216128ll), 4096);
	/* per CPU: the value again for each CPU */
	cr_assert_eq(tg_map_mem(&pcpu, 192, 0) - tg_map_mem(&pcpu, 2, 0), 190ull * 128 * 294912);
	cr_assert_eq(tg_map_mem(&lru, 192, 0), tg_map_mem(&lru, 2, 0));
}

Test(kmem, default_config_independent_of_cpus)
{
	unsigned int mc;
	struct total t2 = kmem(2, &mc), t64 = kmem(64, &mc), t192 = kmem(192, &mc);

	cr_log_info("default config (max_clients %u): 2 CPUs %.1f MiB, 64 CPUs %.1f MiB, "
		    "192 CPUs %.1f MiB; per client %.0f B",
		    mc, t2.all / MIB, t64.all / MIB, t192.all / MIB,
		    (double)t192.per_client / mc);
	/* what grows with the CPUs is the one-entry per-CPU arrays alone */
	cr_assert_lt(t192.all - t2.all, 2ull << 20, "192 CPUs cost %.1f MiB more than 2",
		     (t192.all - t2.all) / MIB);
	cr_assert_lt(t192.percpu_part, 2ull << 20);
	cr_assert_eq(t2.per_client, t192.per_client, "per-client maps grow with the CPUs");
	cr_assert_leq(t64.all, TG_KMEM_CEILING, "64 CPUs: %.1f MiB", t64.all / MIB);
	cr_assert_leq(t192.all, TG_KMEM_CEILING, "192 CPUs: %.1f MiB", t192.all / MIB);
	cr_assert_leq(t192.per_client / mc, TG_KMEM_PER_CLIENT_CEILING, "%.0f B per client",
		      (double)t192.per_client / mc);
}
