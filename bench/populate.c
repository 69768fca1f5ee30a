// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Fills a running agent's pinned client table (tg_clients) and its
 * address-bucket table (tg_addr_buckets) with N zeroed synthetic clients,
 * so live-traffic benchmarks run against a table that tracks N clients.
 *
 *   populate PIN_DIR N
 *
 * PIN_DIR is the instance's pin directory (/sys/fs/bpf/tollgate/NAME/vX).
 * The clients are IPv4 100.64.0.0 + i (100.64.0.0/10 holds 4M, and no
 * bench traffic comes from there); their default-quota bucket keys are
 * made the way pktcost makes them. Entries already present are kept
 * (BPF_ANY on a zeroed value only resets synthetic ones). Prints the
 * entries resident in tg_clients afterwards. */
#include <arpa/inet.h>
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "shared.h"

#define SYNTH_BASE 0x64400000u /* 100.64.0.0 */
#define SYNTH_MAX (1u << 22)
#define CHUNK 16384u

static int open_map(const char *dir, const char *name, struct bpf_map_info *info)
{
	__u32 len = sizeof(*info);
	char path[512];
	int fd;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	fd = bpf_obj_get(path);
	if (fd < 0) {
		fprintf(stderr, "populate: %s: %s\n", path, strerror(errno));
		exit(1);
	}
	memset(info, 0, sizeof(*info));
	if (bpf_obj_get_info_by_fd(fd, info, &len)) {
		fprintf(stderr, "populate: %s: map info: %s\n", path, strerror(errno));
		exit(1);
	}
	return fd;
}

/* Writes n zeroed entries, the address at key_off within each key. */
static void fill(int fd, const struct bpf_map_info *info, unsigned n, size_t key_off, int ncpus)
{
	size_t vsz = info->value_size;
	unsigned char *keys, *vals;
	unsigned done = 0;

	/* per-CPU maps take one value (rounded to 8 bytes) per possible CPU */
	if (info->type == BPF_MAP_TYPE_LRU_PERCPU_HASH || info->type == BPF_MAP_TYPE_PERCPU_HASH)
		vsz = ((vsz + 7) & ~(size_t)7) * (size_t)ncpus;
	keys = calloc(CHUNK, info->key_size);
	vals = calloc(CHUNK, vsz);
	if (!keys || !vals) {
		fprintf(stderr, "populate: out of memory\n");
		exit(1);
	}
	while (done < n) {
		__u32 cnt;

		memset(keys, 0, (size_t)CHUNK * info->key_size);
		for (cnt = 0; cnt < CHUNK && done < n; cnt++, done++) {
			struct tg_addr *a = (struct tg_addr *)(keys + (size_t)cnt * info->key_size + key_off);

			a->w[2] = htonl(0xffff);
			a->w[3] = htonl(SYNTH_BASE + done);
		}
		if (bpf_map_update_batch(fd, keys, vals, &cnt, NULL)) {
			fprintf(stderr, "populate: batch update: %s\n", strerror(errno));
			exit(1);
		}
	}
	free(keys);
	free(vals);
}

static unsigned count(int fd, const struct bpf_map_info *info)
{
	__u32 key_size = info->key_size;
	unsigned char *k = calloc(2, key_size);
	unsigned n = 0;

	if (!k)
		exit(1);
	/* get_next_key walks the table without copying values */
	if (bpf_map_get_next_key(fd, NULL, k) == 0) {
		n = 1;
		while (bpf_map_get_next_key(fd, k, k + key_size) == 0) {
			memcpy(k, k + key_size, key_size);
			n++;
		}
	}
	free(k);
	return n;
}

int main(int argc, char **argv)
{
	struct bpf_map_info ci, bi;
	int ncpus, cfd, bfd;
	unsigned long n;
	char *end;

	if (argc != 3) {
		fprintf(stderr, "usage: populate PIN_DIR N\n");
		return 2;
	}
	errno = 0;
	n = strtoul(argv[2], &end, 10);
	if (errno || *end || n > SYNTH_MAX) {
		fprintf(stderr, "populate: N must be 0..%u\n", SYNTH_MAX);
		return 2;
	}
	ncpus = libbpf_num_possible_cpus();
	if (ncpus <= 0) {
		fprintf(stderr, "populate: cannot count CPUs\n");
		return 1;
	}
	cfd = open_map(argv[1], "tg_clients", &ci);
	bfd = open_map(argv[1], "tg_addr_buckets", &bi);
	if (ci.key_size != sizeof(struct tg_addr) || bi.key_size != sizeof(struct tg_bucket_key)) {
		fprintf(stderr, "populate: map layout differs from this build's shared.h\n");
		return 1;
	}
	fill(cfd, &ci, (unsigned)n, 0, ncpus);
	fill(bfd, &bi, (unsigned)n, offsetof(struct tg_bucket_key, addr), ncpus);
	printf("%u\n", count(cfd, &ci));
	return 0;
}
