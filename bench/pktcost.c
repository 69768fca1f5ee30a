/* Per-packet cost of the TC program tg_tc_ingress, in ns, against the trivial
 * program trivial_tc (one per-CPU array increment) measured in the same run,
 * with 1k, 100k and 1M clients pre-populated in tg_clients. Needs root.
 *
 * Methods:
 *  - repeat: BPF_PROG_TEST_RUN with repeat = 1,000,000 on one packet; the
 *    kernel's average ns per run; median of ROUNDS rounds. Warm caches and
 *    branch predictors. A repeated packet is the same packet again, so a
 *    repeated SYN or request start measures the retransmission path.
 *  - loop: LOOP_N test runs of repeat = 1, each its own packet (a new source
 *    port per SYN, a new sequence number per request start, another client
 *    per plain segment), timed with clock_gettime in blocks of BLOCK runs
 *    that alternate with the same blocks through the trivial program; per
 *    round the trimmed mean of the block differences, median of LOOP_ROUNDS
 *    rounds; the trivial program's repeat figure is added back. Each packet
 *    then runs cold (one per syscall), as the identical-packet control rows
 *    show.
 *  - derived: a warm estimate for a path only the loop can measure: the
 *    repeat figure of its control plus what the path costs over the control
 *    in the loop.
 *
 *   pktcost [--json] [--json-out FILE] [--sizes 1000,100000,1000000] [--cpu N]
 *
 * Markdown on stdout (--json: JSON instead; --json-out: JSON to FILE too).
 * The client table holds zeroed clients: 198.18.1.0 up through 198.19.255.255
 * first, then fd00:198:18::1:0:0/96 with identity.ipv6_prefix 128, and the
 * bench's own 198.18.0.2-4 and fd00:198:18::2.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stddef.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sched.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "tollgate.skel.h"
#include "trivial.skel.h"
#include "shared.h"
#include "rates.h"
#include "pkt.h"

#define REPEAT 1000000
#define ROUNDS 9
#define LOOP_N 6000      /* LOOP_N * LOOP_ROUNDS new source ports per size */
#define LOOP_ROUNDS 9
#define BLOCK 50        /* LOOP_N / BLOCK block pairs per round */
#define CONNS_MAX 262144 /* tg_conns, the default gateway.max_clients */
#define TIME_LIMIT_S 175 /* the whole run, a watchdog */
#define MAX_SIZES 8
#define MAX_RESULTS 64
#define V4_SYNTH_BASE 0xC6120100u /* 198.18.1.0; 198.18.0.0/24 is the bench's */
#define V4_SYNTH_MAX (131072u - 256u)

_Static_assert(2000 + LOOP_N * LOOP_ROUNDS < 60000, "syn_new's source ports");
_Static_assert(LOOP_N % BLOCK == 0, "whole blocks");

struct pkt {
	size_t len;
	uint8_t buf[1536];
};

struct result {
	const char *path, *method;
	unsigned clients;
	double ns;
	double extra_ns;        /* loop: ns over the trivial program; derived: over ctl_repeat */
	double kernel_extra_ns; /* loop: the same from the kernel's own durations */
	const struct result *ctl_repeat;
	double samples[ROUNDS > LOOP_ROUNDS ? ROUNDS : LOOP_ROUNDS];
	int nsamples;
};

static struct tollgate_bpf *tg;
static struct trivial_bpf *triv;
static int tg_fd, triv_fd, ncpus;
static struct result results[MAX_RESULTS];
static int nresults;
static double triv_samples[MAX_RESULTS * ROUNDS];
static int ntriv;
static struct pkt *loop_pkts;
static char xs[1400];
static const char get_req[] = "GET /v1/models HTTP/1.1\r\nHost: gw\r\n\r\n";

static void die(const char *what)
{
	fprintf(stderr, "pktcost: %s: %s\n", what, strerror(errno));
	exit(1);
}

static void on_alarm(int sig)
{
	static const char msg[] = "pktcost: time limit exceeded\n";

	(void)sig;
	(void)!write(2, msg, sizeof(msg) - 1);
	_exit(1);
}

static double now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e9 + ts.tv_nsec;
}

static int cmp_d(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double median(const double *v, int n)
{
	double s[MAX_RESULTS * ROUNDS];

	memcpy(s, v, (size_t)n * sizeof(*v));
	qsort(s, (size_t)n, sizeof(*s), cmp_d);
	return n % 2 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
}

static void mk(struct pkt *p, struct pkt_opts o)
{
	p->len = pkt_build(p->buf, sizeof(p->buf), &o);
	if (!p->len) {
		fprintf(stderr, "pktcost: packet does not fit\n");
		exit(1);
	}
}

/* One BPF_PROG_TEST_RUN; returns the kernel's average ns per run. */
static double run(int fd, const struct pkt *p, int repeat)
{
	DECLARE_LIBBPF_OPTS(bpf_test_run_opts, o, .data_in = p->buf,
			    .data_size_in = (__u32)p->len, .repeat = repeat);

	if (bpf_prog_test_run_opts(fd, &o))
		die("BPF_PROG_TEST_RUN");
	if ((int)o.retval != -1) {
		fprintf(stderr, "pktcost: program returned %d, not TC_ACT_UNSPEC\n", (int)o.retval);
		exit(1);
	}
	return o.duration;
}

static struct result *add(const char *path, const char *method, unsigned clients)
{
	struct result *r = &results[nresults++];

	r->path = path;
	r->method = method;
	r->clients = clients;
	return r;
}

static const struct result *bench_repeat(const char *path, unsigned clients, const struct pkt *p)
{
	struct result *r = add(path, "repeat", clients);

	run(tg_fd, p, 1000); /* warm-up */
	for (int i = 0; i < ROUNDS; i++) {
		triv_samples[ntriv++] = run(triv_fd, p, REPEAT);
		r->samples[r->nsamples++] = run(tg_fd, p, REPEAT);
	}
	r->ns = median(r->samples, r->nsamples);
	return r;
}

/* Wall-clock ns of BLOCK single runs from packet `from`; *kns: the
 * kernel's own total for them. */
static double block(int fd, int from, double *kns)
{
	double t0 = now_ns();

	*kns = 0;
	for (int i = from; i < from + BLOCK; i++)
		*kns += run(fd, &loop_pkts[i], 1);
	return now_ns() - t0;
}

/* The mean of v without its lowest and highest tenth (sorts v). */
static double trimmed_mean(double *v, int n)
{
	int cut = n / 10;
	double sum = 0;

	qsort(v, (size_t)n, sizeof(*v), cmp_d);
	for (int i = cut; i < n - cut; i++)
		sum += v[i];
	return sum / (n - 2 * cut);
}

/* make(round, i, pkt) builds the i-th packet of a round. Blocks of BLOCK
 * packets go through the trivial program and through tg_tc_ingress in turn,
 * so that whatever else the machine does weighs on both alike; a block pair
 * that was interrupted falls in the trimmed tenths. */
static const struct result *bench_loop(const char *path, unsigned clients,
				       void (*make)(int, int, struct pkt *))
{
	struct result *r = add(path, "loop", clients);
	double d[LOOP_N / BLOCK], kd[LOOP_N / BLOCK], kround[LOOP_ROUNDS];
	double t, w, kt, kw;

	for (int round = 0; round < LOOP_ROUNDS; round++) {
		for (int i = 0; i < LOOP_N; i++)
			make(round, i, &loop_pkts[i]);
		for (int b = 0; b < LOOP_N / BLOCK; b++) {
			if ((b + round) % 2) {
				w = block(triv_fd, b * BLOCK, &kw);
				t = block(tg_fd, b * BLOCK, &kt);
			} else {
				t = block(tg_fd, b * BLOCK, &kt);
				w = block(triv_fd, b * BLOCK, &kw);
			}
			d[b] = (t - w) / BLOCK;
			kd[b] = (kt - kw) / BLOCK;
		}
		r->samples[r->nsamples++] = trimmed_mean(d, LOOP_N / BLOCK);
		kround[round] = trimmed_mean(kd, LOOP_N / BLOCK);
	}
	r->extra_ns = median(r->samples, r->nsamples);
	r->kernel_extra_ns = median(kround, LOOP_ROUNDS);
	return r;
}

/* A warm estimate for a loop-only path: the repeat figure of its control
 * plus what the path costs over the control, both measured by loop. */
static void derive(const char *path, const struct result *rep_ctl,
		   const struct result *loop_ctl, const struct result *loop_path)
{
	struct result *r = add(path, "derived", loop_path->clients);

	r->ctl_repeat = rep_ctl;
	r->extra_ns = loop_path->extra_ns - loop_ctl->extra_ns;
}

/* ---- packets ------------------------------------------------------------ */

static void syn_new(int round, int i, struct pkt *p)
{
	mk(p, (struct pkt_opts){ .saddr = "198.18.0.3", .sport = (uint16_t)(2000 + round * LOOP_N + i),
				 .seq = 5000u + (uint32_t)i, .flags = F_SYN });
}

static void req_new(int round, int i, struct pkt *p)
{
	uint32_t k = 1u + (uint32_t)(round * LOOP_N + i);

	mk(p, (struct pkt_opts){ .saddr = "198.18.0.4", .seq = 7001u + 100u * k,
				 .flags = F_ACK | F_PSH, .payload = get_req, .len = strlen(get_req) });
}

static void plain_same(int round, int i, struct pkt *p)
{
	(void)round;
	(void)i;
	mk(p, (struct pkt_opts){ .seq = 2000, .payload = xs, .len = sizeof(xs) });
}

/* 198.18.0.3:60000, a port syn_new never uses */
static void syn_same(int round, int i, struct pkt *p)
{
	(void)round;
	(void)i;
	mk(p, (struct pkt_opts){ .saddr = "198.18.0.3", .sport = 60000, .seq = 5000, .flags = F_SYN });
}

static void req_same(int round, int i, struct pkt *p)
{
	(void)round;
	(void)i;
	mk(p, (struct pkt_opts){ .saddr = "198.18.0.4", .seq = 7001, .flags = F_ACK | F_PSH,
				 .payload = get_req, .len = strlen(get_req) });
}

static unsigned n_synth;

/* Synthetic client k (see synth_key): 198.18.1.0 + k, then
 * fd00:198:18::1:0:0 + (k - V4_SYNTH_MAX) as IPv6 packets. */
static void plain_other_client(int round, int i, struct pkt *p)
{
	uint32_t k = (uint32_t)(round * LOOP_N + i) * 2654435761u % n_synth;
	uint32_t a = V4_SYNTH_BASE + k;
	char s[48];

	if (k < V4_SYNTH_MAX)
		snprintf(s, sizeof(s), "%u.%u.%u.%u", a >> 24, (a >> 16) & 255, (a >> 8) & 255,
			 a & 255);
	else
		snprintf(s, sizeof(s), "fd00:198:18::1:%x:%x", (k - V4_SYNTH_MAX) >> 16,
			 (k - V4_SYNTH_MAX) & 0xffff);
	mk(p, (struct pkt_opts){ .v6 = k >= V4_SYNTH_MAX, .saddr = s, .seq = 2000, .payload = xs,
				 .len = sizeof(xs) });
}

/* ---- the client table ---------------------------------------------------- */

static const char *const bench_clients[] = {
	"198.18.0.2", "198.18.0.3", "198.18.0.4", "fd00:198:18::2",
};
#define N_BENCH (sizeof(bench_clients) / sizeof(bench_clients[0]))

static void synth_key(unsigned i, struct tg_addr *k)
{
	memset(k, 0, sizeof(*k));
	if (i < V4_SYNTH_MAX) {
		k->w[2] = htonl(0xffff);
		k->w[3] = htonl(V4_SYNTH_BASE + i);
	} else { /* fd00:198:18::1:xxxx:xxxx, prefix 128 */
		k->w[0] = htonl(0xfd000198);
		k->w[1] = htonl(0x00180000);
		k->w[2] = htonl(1);
		k->w[3] = htonl(i - V4_SYNTH_MAX);
	}
}

/* Fills tg_clients with n zeroed clients, the bench's own last (an LRU
 * evicts the oldest first); returns the entries resident afterwards. */
static unsigned populate(unsigned n)
{
	const unsigned chunk = 16384;
	size_t stride = (bpf_map__value_size(tg->maps.tg_clients) + 7) & ~(size_t)7;
	int fd = bpf_map__fd(tg->maps.tg_clients);
	struct tg_addr *keys = calloc(chunk, sizeof(*keys));
	void *vals = calloc(chunk, stride * (size_t)ncpus);
	unsigned done = 0, resident = 0;
	__u32 cnt;
	__u64 token = 0; /* the kernel reads in_batch before it writes out_batch */
	void *in = NULL;

	if (!keys || !vals)
		die("calloc");
	while (done < n) {
		cnt = 0;
		for (; cnt < chunk && done < n; cnt++, done++) {
			if (done >= n - N_BENCH)
				tg_addr_parse(bench_clients[done - (n - N_BENCH)], &keys[cnt]);
			else
				synth_key(done, &keys[cnt]);
		}
		if (bpf_map_update_batch(fd, keys, vals, &cnt, NULL))
			die("bpf_map_update_batch");
	}
	/* Count what stayed. */
	for (;;) {
		int err;

		cnt = chunk;
		err = bpf_map_lookup_batch(fd, in, &token, keys, vals, &cnt, NULL);
		if (err && errno != ENOENT)
			die("bpf_map_lookup_batch");
		resident += cnt;
		if (err)
			break;
		in = &token;
	}
	free(keys);
	free(vals);
	return resident;
}

static __u64 client_sum(const char *addr, size_t field_off)
{
	struct tg_client v[TG_MAX_CPUS];
	struct tg_addr k;
	__u64 s = 0;

	tg_addr_parse(addr, &k);
	if (bpf_map_lookup_elem(bpf_map__fd(tg->maps.tg_clients), &k, v))
		return (__u64)-1;
	for (int c = 0; c < ncpus; c++)
		s += *(__u64 *)((char *)&v[c] + field_off);
	return s;
}

static __u64 new_clients(void)
{
	struct tg_global g[TG_MAX_CPUS];
	__u32 zero = 0;
	__u64 s = 0;

	if (bpf_map_lookup_elem(bpf_map__fd(tg->maps.tg_global), &zero, g))
		die("tg_global");
	for (int c = 0; c < ncpus; c++)
		s += g[c].new_clients;
	return s;
}

/* ---- one table size ------------------------------------------------------ */

struct size_info {
	unsigned clients, resident;
	double populate_s;
};

static int bench_size(unsigned n, struct size_info *si)
{
	struct tg_settings set = { .mode = TG_MODE_MONITOR, .ipv6_prefix = 128 };
	__u32 zero = 0, port = 8080;
	__u8 on = 1;
	const struct result *plain, *syn, *req, *plain_l, *other_l, *syn_l, *syn_new_l, *req_l, *req_new_l;
	struct pkt p;
	double t0;
	int bad = 0;

	tg = tollgate_bpf__open();
	if (!tg)
		die("open tollgate_bpf");
	tg->rodata->tg_nr_cpus = (__u32)ncpus;
	bpf_map__set_max_entries(tg->maps.tg_clients, n + n / 8);
	bpf_map__set_max_entries(tg->maps.tg_conns, CONNS_MAX);
	if (tollgate_bpf__load(tg))
		die("load tollgate_bpf (root needed)");
	tg_fd = bpf_program__fd(tg->progs.tg_tc_ingress);
	if (bpf_map_update_elem(bpf_map__fd(tg->maps.tg_ports), &port, &on, 0) ||
	    bpf_map_update_elem(bpf_map__fd(tg->maps.tg_settings), &zero, &set, 0))
		die("map setup");
	t0 = now_ns();
	si->clients = n;
	si->resident = populate(n);
	si->populate_s = (now_ns() - t0) / 1e9;
	n_synth = n - (unsigned)N_BENCH;
	for (size_t i = 0; i < N_BENCH; i++)
		if (client_sum(bench_clients[i], 0) == (__u64)-1) {
			fprintf(stderr, "pktcost: client %s evicted while populating\n", bench_clients[i]);
			return 1;
		}

	/* The plain segment's connection: SYN, then its request start. */
	mk(&p, (struct pkt_opts){ .seq = 1000, .flags = F_SYN });
	run(tg_fd, &p, 1);
	mk(&p, (struct pkt_opts){ .seq = 1001, .flags = F_ACK | F_PSH, .payload = get_req,
				  .len = strlen(get_req) });
	run(tg_fd, &p, 1);
	/* The request starts' connection. */
	mk(&p, (struct pkt_opts){ .saddr = "198.18.0.4", .seq = 7000, .flags = F_SYN });
	run(tg_fd, &p, 1);
	mk(&p, (struct pkt_opts){ .saddr = "198.18.0.4", .seq = 7001, .flags = F_ACK | F_PSH,
				  .payload = get_req, .len = strlen(get_req) });
	run(tg_fd, &p, 1);

	mk(&p, (struct pkt_opts){ .dport = 9999, .seq = 2000, .payload = xs, .len = sizeof(xs) });
	bench_repeat("pass-through (non-gateway port)", n, &p);
	mk(&p, (struct pkt_opts){ .seq = 2000, .payload = xs, .len = sizeof(xs) });
	plain = bench_repeat("plain segment (1400 B)", n, &p);
	mk(&p, (struct pkt_opts){ .v6 = 1, .seq = 2000, .payload = xs, .len = sizeof(xs) });
	bench_repeat("plain segment (1400 B), IPv6", n, &p);
	syn_same(0, 0, &p);
	syn = bench_repeat("SYN, retransmitted", n, &p);
	req_same(0, 0, &p);
	req = bench_repeat("request start, retransmitted", n, &p);

	plain_l = bench_loop("plain segment (1400 B)", n, plain_same);
	other_l = bench_loop("plain segment (1400 B), another client each packet", n,
			     plain_other_client);
	syn_l = bench_loop("SYN, retransmitted", n, syn_same);
	syn_new_l = bench_loop("SYN of a new connection", n, syn_new);
	req_l = bench_loop("request start, retransmitted", n, req_same);
	req_new_l = bench_loop("request start (new)", n, req_new);

	derive("plain segment (1400 B), another client each packet", plain, plain_l, other_l);
	derive("SYN of a new connection", syn, syn_l, syn_new_l);
	derive("request start (new)", req, req_l, req_new_l);

	/* The timed paths were the ones named: every new SYN and request start
	 * was counted, no retransmission was. */
	if (client_sum("198.18.0.3", offsetof(struct tg_client, syns)) != 1 + LOOP_N * LOOP_ROUNDS) {
		fprintf(stderr, "pktcost: SYN count is not 1 + %d\n", LOOP_N * LOOP_ROUNDS);
		bad = 1;
	}
	if (client_sum("198.18.0.4", offsetof(struct tg_client, requests)) != 1 + LOOP_N * LOOP_ROUNDS) {
		fprintf(stderr, "pktcost: request count is not 1 + %d\n", LOOP_N * LOOP_ROUNDS);
		bad = 1;
	}
	if (new_clients() != 0) {
		fprintf(stderr, "pktcost: %llu clients were created: the table was not what was meant\n",
			(unsigned long long)new_clients());
		bad = 1;
	}
	if (client_sum("198.18.0.2", offsetof(struct tg_client, requests)) != 1) {
		fprintf(stderr, "pktcost: plain segments were counted as requests\n");
		bad = 1;
	}
	tollgate_bpf__destroy(tg);
	tg = NULL;
	return bad;
}

/* ---- output -------------------------------------------------------------- */

static const char *method_label(const char *m)
{
	if (!strcmp(m, "repeat"))
		return "repeat: warm";
	if (!strcmp(m, "loop"))
		return "loop: cold, one packet per run";
	return "derived: warm estimate";
}

/* Rows grouped by path and method, table sizes side by side. */
static int same_row(const struct result *a, const struct result *b)
{
	return !strcmp(a->path, b->path) && !strcmp(a->method, b->method);
}

static void print_markdown(double trivial, double tmin, double tmax,
			   const struct size_info *si, int nsizes)
{
	printf("| path | clients | ns/packet | × trivial | method |\n");
	printf("|---|---:|---:|---:|---|\n");
	printf("| trivial program (baseline) | – | %.1f | 1.00 | repeat: warm |\n", trivial);
	for (int i = 0; i < nresults; i++) {
		int first = 1;

		for (int j = 0; j < i; j++)
			first &= !same_row(&results[j], &results[i]);
		for (int j = i; first && j < nresults; j++) {
			const struct result *r = &results[j];

			if (same_row(r, &results[i]))
				printf("| %s | %u | %.1f | %.2f | %s |\n", r->path, r->clients,
				       r->ns, r->ns / trivial, method_label(r->method));
		}
	}
	printf("\nTrivial program: median %.1f ns of %d runs (%.1f–%.1f).\n", trivial, ntriv,
	       tmin, tmax);
	printf("Client tables:");
	for (int i = 0; i < nsizes; i++)
		printf(" %u clients (%u resident, populated in %.2f s)%s", si[i].clients,
		       si[i].resident, si[i].populate_s, i + 1 < nsizes ? ";" : ".\n");
}

static void print_json(FILE *f, double trivial, double tmin, double tmax,
		       const struct size_info *si, int nsizes, int cpu)
{
	fprintf(f, "{\"repeat\":%d,\"rounds\":%d,\"loop_n\":%d,\"loop_rounds\":%d,\"cpu\":%d,"
	       "\"possible_cpus\":%d,\"trivial_ns\":%.2f,\"trivial_min_ns\":%.2f,"
	       "\"trivial_max_ns\":%.2f,\"tables\":[",
	       REPEAT, ROUNDS, LOOP_N, LOOP_ROUNDS, cpu, ncpus, trivial, tmin, tmax);
	for (int i = 0; i < nsizes; i++)
		fprintf(f, "%s{\"clients\":%u,\"resident\":%u,\"populate_s\":%.3f}", i ? "," : "",
		       si[i].clients, si[i].resident, si[i].populate_s);
	fprintf(f, "],\"results\":[");
	for (int i = 0; i < nresults; i++) {
		const struct result *r = &results[i];

		fprintf(f, "%s{\"path\":\"%s\",\"clients\":%u,\"method\":\"%s\",\"ns\":%.2f,"
		       "\"ratio\":%.3f", i ? "," : "", r->path, r->clients, r->method, r->ns,
		       r->ns / trivial);
		if (!strcmp(r->method, "derived"))
			fprintf(f, ",\"repeat_of\":\"%s\",\"loop_over_control_ns\":%.2f",
			       r->ctl_repeat->path, r->extra_ns);
		if (!strcmp(r->method, "loop"))
			fprintf(f, ",\"kernel_over_trivial_ns\":%.2f", r->kernel_extra_ns);
		if (r->nsamples) {
			/* repeat: ns per round; loop: ns over the trivial program */
			fprintf(f, ",\"%s\":[", strcmp(r->method, "loop") ? "samples" : "over_trivial_samples");
			for (int j = 0; j < r->nsamples; j++)
				fprintf(f, "%s%.2f", j ? "," : "", r->samples[j]);
			fprintf(f, "]");
		}
		fprintf(f, "}");
	}
	fprintf(f, "]}\n");
}

int main(int argc, char **argv)
{
	unsigned sizes[MAX_SIZES] = { 1000, 100000, 1000000 };
	struct size_info si[MAX_SIZES];
	int nsizes = 3, json = 0, cpu, bad = 0;
	const char *json_out = NULL;
	double trivial;
	cpu_set_t set;

	cpu = (int)sysconf(_SC_NPROCESSORS_ONLN) - 1;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--json")) {
			json = 1;
		} else if (!strcmp(argv[i], "--json-out") && i + 1 < argc) {
			json_out = argv[++i];
		} else if (!strcmp(argv[i], "--cpu") && i + 1 < argc) {
			cpu = atoi(argv[++i]);
		} else if (!strcmp(argv[i], "--sizes") && i + 1 < argc) {
			char *s = argv[++i], *end;

			for (nsizes = 0; *s && nsizes < MAX_SIZES; s = *end ? end + 1 : end) {
				unsigned long v = strtoul(s, &end, 10);

				if (end == s || v < 64 || v > 4000000 || (*end && *end != ','))
					goto usage;
				sizes[nsizes++] = (unsigned)v;
			}
		} else {
usage:
			fprintf(stderr, "usage: pktcost [--json] [--json-out FILE] [--sizes N,N,...] [--cpu N]\n"
				"  sizes 64..4000000, default 1000,100000,1000000\n");
			return 2;
		}
	}
	signal(SIGALRM, on_alarm);
	alarm(TIME_LIMIT_S);
	/* One CPU: BPF_PROG_TEST_RUN runs where the caller runs. */
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	if (sched_setaffinity(0, sizeof(set), &set))
		die("sched_setaffinity");
	memset(xs, 'x', sizeof(xs));
	ncpus = libbpf_num_possible_cpus();
	if (ncpus <= 0 || ncpus > TG_MAX_CPUS)
		die("possible CPUs");
	loop_pkts = calloc(LOOP_N, sizeof(*loop_pkts));
	if (!loop_pkts)
		die("calloc");
	triv = trivial_bpf__open_and_load();
	if (!triv)
		die("load trivial_bpf (root needed)");
	triv_fd = bpf_program__fd(triv->progs.trivial_tc);

	for (int i = 0; i < nsizes; i++) {
		fprintf(stderr, "pktcost: %u clients...\n", sizes[i]);
		bad |= bench_size(sizes[i], &si[i]);
	}
	trivial = median(triv_samples, ntriv);
	for (int i = 0; i < nresults; i++)
		if (!strcmp(results[i].method, "loop"))
			results[i].ns = trivial + results[i].extra_ns;
	for (int i = 0; i < nresults; i++)
		if (!strcmp(results[i].method, "derived"))
			results[i].ns = results[i].ctl_repeat->ns + results[i].extra_ns;
	qsort(triv_samples, (size_t)ntriv, sizeof(double), cmp_d);
	if (json_out) {
		FILE *f = fopen(json_out, "w");

		if (!f)
			die(json_out);
		print_json(f, trivial, triv_samples[0], triv_samples[ntriv - 1], si, nsizes, cpu);
		if (fclose(f))
			die(json_out);
	}
	if (json)
		print_json(stdout, trivial, triv_samples[0], triv_samples[ntriv - 1], si, nsizes, cpu);
	else
		print_markdown(trivial, triv_samples[0], triv_samples[ntriv - 1], si, nsizes);
	trivial_bpf__destroy(triv);
	free(loop_pkts);
	return bad;
}
