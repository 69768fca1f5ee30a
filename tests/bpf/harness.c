#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "harness.h"
#include "lib/addr.h"
#include "lib/keyhash.h"

struct tollgate_bpf *skel;
int ncpus;

void h_setup(void)
{
	struct tg_settings s = { .mode = TG_MODE_MONITOR, .ipv6_prefix = 64, .scan_bytes = 1024,
				 .event_interval_ns = 1000000000ULL };
	__u32 zero = 0, port = 8080;
	struct tg_hash_key hk;
	uint64_t k0, k1;
	__u8 on = 1;

	ncpus = libbpf_num_possible_cpus();
	skel = tollgate_bpf__open();
	cr_assert(skel, "open failed");
	skel->rodata->tg_nr_cpus = (__u32)ncpus;
	bpf_map__set_max_entries(skel->maps.tg_clients, 1024);
	bpf_map__set_max_entries(skel->maps.tg_conns, 1024);
	bpf_map__set_max_entries(skel->maps.tg_addr_buckets, 1024);
	bpf_map__set_max_entries(skel->maps.tg_route_clients, 1024);
	cr_assert_eq(tollgate_bpf__load(skel), 0, "load failed (root needed)");
	cr_assert_eq(bpf_map_update_elem(bpf_map__fd(skel->maps.tg_ports), &port, &on, 0), 0);
	cr_assert_eq(bpf_map_update_elem(bpf_map__fd(skel->maps.tg_settings), &zero, &s, 0), 0);
	/* the API-key hash key, as the loader draws it; the agent's side
	 * hashes with the same one */
	cr_assert_eq(tg_keyhash_random(&k0, &k1), 0);
	hk.k0 = k0;
	hk.k1 = k1;
	cr_assert_eq(bpf_map_update_elem(bpf_map__fd(skel->maps.tg_hash_key), &zero, &hk, 0), 0);
	tg_keyhash_set(k0, k1);
}

void h_teardown(void)
{
	tollgate_bpf__destroy(skel);
}

int h_handshake = 1;

static int run_prog(int prog, const struct pkt_opts *o, uint32_t gso_segs)
{
	uint8_t buf[PKT_MAX];
	size_t n = pkt_build(buf, sizeof(buf), o);
	struct __sk_buff ctx = { .gso_segs = gso_segs };

	cr_assert(n > 0);
	DECLARE_LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = buf,
			    .data_size_in = (__u32)n, .repeat = 1);
	if (gso_segs) {
		ctx.gso_size = 1000;
		opts.ctx_in = &ctx;
		opts.ctx_size_in = sizeof(ctx);
	}
	cr_assert_eq(bpf_prog_test_run_opts(prog, &opts), 0,
		     "test run of a %zu-byte packet: %s", n, strerror(errno));
	return (int)opts.retval;
}

int h_run_egress(const struct pkt_opts *o)
{
	return run_prog(bpf_program__fd(skel->progs.tg_tc_egress), o, 0);
}

int h_run(const struct pkt_opts *o, uint32_t gso_segs)
{
	struct pkt_opts q = *o;
	int v;

	if (!q.ack && !q.udp)
		q.ack = H_SRV_ISN + 1;
	v = run_prog(bpf_program__fd(skel->progs.tg_tc_ingress), &q, gso_segs);
	if (h_handshake && !q.udp && !q.frag && (q.flags & (F_SYN | F_ACK)) == F_SYN &&
	    v != 2 /* TC_ACT_SHOT */) {
		struct pkt_opts sa = { .v6 = q.v6, .saddr = q.daddr, .daddr = q.saddr,
				       .sport = q.dport ? q.dport : 8080,
				       .dport = q.sport ? q.sport : 40000, .seq = H_SRV_ISN,
				       .ack = q.seq + 1, .flags = F_SYN | F_ACK };

		if (q.v6) {
			sa.saddr = q.daddr ? q.daddr : "fd00:198:18::1";
			sa.daddr = q.saddr ? q.saddr : "fd00:198:18::2";
		} else {
			sa.saddr = q.daddr ? q.daddr : "198.18.0.1";
			sa.daddr = q.saddr ? q.saddr : "198.18.0.2";
		}
		h_run_egress(&sa);
	}
	return v;
}

int h_first_payload(const char *src, uint16_t sport, const void *first, size_t len)
{
	struct pkt_opts o = { .v6 = strchr(src, ':') != NULL, .saddr = src, .sport = sport,
			      .seq = 100, .flags = F_SYN };

	cr_assert_eq(h_run(&o, 0), TC_PASS);
	o.flags = F_ACK;
	o.seq = 101;
	o.payload = first;
	o.len = len;
	return h_run(&o, 0);
}

int h_seg(uint32_t seq, uint8_t flags, const char *payload)
{
	struct pkt_opts o = { .seq = seq, .flags = flags, .payload = payload,
			      .len = payload ? strlen(payload) : 0 };

	return h_run(&o, 0);
}

int h_client(const char *addr, struct tg_client_view *v)
{
	struct tg_client val;
	struct tg_addr key;

	cr_assert_eq(tg_addr_parse(addr, &key), 0);
	if (bpf_map_lookup_elem(bpf_map__fd(skel->maps.tg_clients), &key, &val))
		return -1;
	tg_client_aggregate(v, &key, &val, sizeof(val), 1); /* one shared record */
	return 0;
}

struct tg_integrity h_integrity(void)
{
	struct tg_integrity v[TG_MAX_CPUS], sum = { 0 };
	__u32 zero = 0;

	cr_assert_eq(bpf_map_lookup_elem(bpf_map__fd(skel->maps.tg_integrity), &zero, v), 0);
	for (int i = 0; i < ncpus; i++) {
		sum.abandoned += v[i].abandoned;
		sum.abandoned_drops += v[i].abandoned_drops;
		sum.unverified += v[i].unverified;
		sum.verified_handshake += v[i].verified_handshake;
		sum.verified_socket += v[i].verified_socket;
		sum.unproven_dropped += v[i].unproven_dropped;
		sum.behind_dropped += v[i].behind_dropped;
	}
	return sum;
}

struct tg_global h_global(void)
{
	struct tg_global g[TG_MAX_CPUS], sum = { 0 };
	__u32 zero = 0;

	cr_assert_eq(bpf_map_lookup_elem(bpf_map__fd(skel->maps.tg_global), &zero, g), 0);
	for (int i = 0; i < ncpus; i++) {
		sum.new_clients += g[i].new_clients;
		sum.malformed += g[i].malformed;
		sum.fragments += g[i].fragments;
		sum.conns_missing += g[i].conns_missing;
		sum.addr_buckets += g[i].addr_buckets;
		sum.fragments_dropped += g[i].fragments_dropped;
		sum.events_lost += g[i].events_lost;
	}
	return sum;
}

int h_n_clients(void)
{
	struct tg_addr k, next;
	int fd = bpf_map__fd(skel->maps.tg_clients), n = 0;
	void *prev = NULL;

	while (bpf_map_get_next_key(fd, prev, &next) == 0) {
		k = next;
		prev = &k;
		n++;
	}
	return n;
}

int h_map_fd(const char *name)
{
	return bpf_map__fd(bpf_object__find_map_by_name(skel->obj, name));
}
