// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* The per-packet cost baseline: one per-CPU array increment. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} trivial_count SEC(".maps");

SEC("tc")
int trivial_tc(struct __sk_buff *skb)
{
	__u32 zero = 0;
	__u64 *v = bpf_map_lookup_elem(&trivial_count, &zero);

	if (v)
		(*v)++;
	return -1;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
