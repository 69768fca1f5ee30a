/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* Maps shared by every attach point. Defined __weak so each *.bpf.c can
 * include this header and `bpftool gen object` links them into one map. */
#ifndef TG_MAPS_BPF_H
#define TG_MAPS_BPF_H

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include "shared.h"

/* Possible CPUs, set by the agent before load; bounds per-CPU broadcasts. */
const volatile __u32 tg_nr_cpus __weak = 1;

/* Gateway ports: index = TCP port (host order), value 1 = count it. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 65536);
	__type(key, __u32);
	__type(value, __u8);
} tg_ports SEC(".maps") __weak;

/* Per-client counters; max_entries is set from gateway.max_clients plus
 * headroom before load. LRU: when full, the stalest client is evicted and
 * counting of new clients goes on. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_PERCPU_HASH);
	__uint(max_entries, 262144);
	__type(key, struct tg_addr);
	__type(value, struct tg_client);
} tg_clients SEC(".maps") __weak;

/* Per-connection request tracking, keyed by the client's 4-tuple. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 262144);
	__type(key, struct tg_flow);
	__type(value, struct tg_conn);
} tg_conns SEC(".maps") __weak;

/* Whole-agent counters of rare events. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct tg_global);
} tg_global SEC(".maps") __weak;

/* Run-time settings written by the agent (mode, IPv6 prefix, generation). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct tg_settings);
} tg_settings SEC(".maps") __weak;

static __always_inline struct tg_global *global_get(void)
{
	__u32 zero = 0;

	return bpf_map_lookup_elem(&tg_global, &zero);
}

static __always_inline struct tg_settings *settings_get(void)
{
	__u32 zero = 0;

	return bpf_map_lookup_elem(&tg_settings, &zero);
}

static __always_inline int port_is_gateway(__u16 port_be)
{
	__u32 port = bpf_ntohs(port_be);
	__u8 *on = bpf_map_lookup_elem(&tg_ports, &port);

	return on && *on;
}

#endif /* TG_MAPS_BPF_H */
