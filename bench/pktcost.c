/* Per-packet cost of the TC program tg_tc_ingress, in ns, against the trivial
 * program trivial_tc (one per-CPU array increment) measured in the same run,
 * with 1k, 100k and 1M clients pre-populated in tg_clients. Needs root.
 *
 * Every table size is loaded at once (one skeleton each) and the rounds of
 * a measurement go through the sizes in turn, so that a slow spell of the
 * machine weighs on all sizes alike instead of on whichever came first.
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
 *    repeat figure of its control (the same path with a repeated packet)
 *    plus what the path costs over the control in the loop, taken from the
 *    kernel's own per-run durations (steadier than the wall clock, which
 *    adds syscall noise).
 *
 *   pktcost [--json] [--json-out FILE] [--sizes 1000,100000,1000000] [--cpu N]
 *
 * Markdown on stdout (--json: JSON instead; --json-out: JSON to FILE too).
 * A client table holds zeroed clients: 198.18.1.0 up through 198.19.255.255
 * first, then fd00:198:18::1:0:0/96 with identity.ipv6_prefix 128, and the
 * bench's own 198.18.0.2-4 and fd00:198:18::2.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
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
#define BLOCK 50         /* LOOP_N / BLOCK block pairs per round */
#define CONNS_MAX 262144 /* tg_conns, the default gateway.max_clients */
#define TIME_LIMIT_S 175 /* the whole run, a watchdog */
#define MAX_SIZES 4
#define MAX_ROUNDS (ROUNDS > LOOP_ROUNDS ? ROUNDS : LOOP_ROUNDS)
#define TRIV_MAX 512
#define V4_SYNTH_BASE 0xC6120100u /* 198.18.1.0; 198.18.0.0/24 is the bench's */
#define V4_SYNTH_MAX (131072u - 256u)

_Static_assert(2000 + LOOP_N * LOOP_ROUNDS < 60000, "syn_new's source ports");
_Static_assert(LOOP_N % BLOCK == 0, "whole blocks");

struct pkt {
	size_t len;
	uint8_t buf[1536];
};

/* One client-table size, loaded for the whole run. */
struct table {
	struct tollgate_bpf *skel;
	int fd; /* tg_tc_ingress */
	unsigned n, n_synth, resident;
	double populate_s;
};

enum method { REPEATED, LOOP, DERIVED };

struct path {
	const char *name;
	enum method method;
	void (*make)(const struct table *t, int round, int i, struct pkt *p);
	int rep_ctl, loop_ctl, loop_path; /* DERIVED: the rows it comes from */
};

struct result {
	double ns;
	double extra_ns;        /* LOOP: over the trivial program; DERIVED: over rep_ctl (kernel-timed) */
	double kernel_extra_ns; /* LOOP: the same from the kernel's own durations */
	double samples[MAX_ROUNDS];
	int nsamples;
};

static struct table tables[MAX_SIZES];
static int ntables, ncpus, triv_fd;
static struct trivial_bpf *triv;
static double triv_samples[TRIV_MAX];
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
	double s[TRIV_MAX];

	if (n <= 0 || n > TRIV_MAX)
		return 0;
	memcpy(s, v, (size_t)n * sizeof(*v));
	qsort(s, (size_t)n, sizeof(*s), cmp_d);
	return n % 2 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
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

/* ---- packets: make(table, round, i, pkt) builds a round's i-th packet ---- */

static void passthru(const struct table *t, int round, int i, struct pkt *p)
{
	(void)t, (void)round, (void)i;
	mk(p, (struct pkt_opts){ .dport = 9999, .seq = 2000, .payload = xs, .len = sizeof(xs) });
}

/* 198.18.0.2: its connection has sent its request (see table_load). */
static void plain_same(const struct table *t, int round, int i, struct pkt *p)
{
	(void)t, (void)round, (void)i;
	mk(p, (struct pkt_opts){ .seq = 2000, .payload = xs, .len = sizeof(xs) });
}

static void plain6_same(const struct table *t, int round, int i, struct pkt *p)
{
	(void)t, (void)round, (void)i;
	mk(p, (struct pkt_opts){ .v6 = 1, .seq = 2000, .payload = xs, .len = sizeof(xs) });
}

/* Synthetic client k (see synth_key): 198.18.1.0 + k, then
 * fd00:198:18::1:0:0 + (k - V4_SYNTH_MAX) as IPv6 packets. */
static void plain_other_client(const struct table *t, int round, int i, struct pkt *p)
{
	uint32_t k = (uint32_t)(round * LOOP_N + i) * 2654435761u % t->n_synth;
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

/* 198.18.0.3:60000, a port syn_new never uses. */
static void syn_same(const struct table *t, int round, int i, struct pkt *p)
{
	(void)t, (void)round, (void)i;
	mk(p, (struct pkt_opts){ .saddr = "198.18.0.3", .sport = 60000, .seq = 5000, .flags = F_SYN });
}

static void syn_new(const struct table *t, int round, int i, struct pkt *p)
{
	(void)t;
	mk(p, (struct pkt_opts){ .saddr = "198.18.0.3", .sport = (uint16_t)(2000 + round * LOOP_N + i),
				 .seq = 5000u + (uint32_t)i, .flags = F_SYN });
}

/* 198.18.0.4:40000: its request start at 7001 was seen (see table_load). */
static void req_same(const struct table *t, int round, int i, struct pkt *p)
{
	(void)t, (void)round, (void)i;
	mk(p, (struct pkt_opts){ .saddr = "198.18.0.4", .seq = 7001, .flags = F_ACK | F_PSH,
				 .payload = get_req, .len = strlen(get_req) });
}

static void req_new(const struct table *t, int round, int i, struct pkt *p)
{
	uint32_t k = 1u + (uint32_t)(round * LOOP_N + i);

	(void)t;
	mk(p, (struct pkt_opts){ .saddr = "198.18.0.4", .seq = 7001u + 100u * k,
				 .flags = F_ACK | F_PSH, .payload = get_req, .len = strlen(get_req) });
}

enum {
	P_PASS, P_PLAIN, P_PLAIN6, P_SYN, P_REQ,                           /* repeat */
	P_PLAIN_L, P_OTHER_L, P_SYN_L, P_SYN_NEW_L, P_REQ_L, P_REQ_NEW_L, /* loop */
	P_OTHER_D, P_SYN_NEW_D, P_REQ_NEW_D,                               /* derived */
	N_PATHS
};

static const struct path paths[N_PATHS] = {
	[P_PASS] = { "pass-through (non-gateway port)", REPEATED, passthru },
	[P_PLAIN] = { "plain segment (1400 B)", REPEATED, plain_same },
	[P_PLAIN6] = { "plain segment (1400 B), IPv6", REPEATED, plain6_same },
	[P_SYN] = { "SYN, retransmitted", REPEATED, syn_same },
	[P_REQ] = { "request start, retransmitted", REPEATED, req_same },
	[P_PLAIN_L] = { "plain segment (1400 B)", LOOP, plain_same },
	[P_OTHER_L] = { "plain segment (1400 B), another client each packet", LOOP,
			plain_other_client },
	[P_SYN_L] = { "SYN, retransmitted", LOOP, syn_same },
	[P_SYN_NEW_L] = { "SYN of a new connection", LOOP, syn_new },
	[P_REQ_L] = { "request start, retransmitted", LOOP, req_same },
	[P_REQ_NEW_L] = { "request start (new)", LOOP, req_new },
	[P_OTHER_D] = { "plain segment (1400 B), another client each packet", DERIVED, NULL,
			P_PLAIN, P_PLAIN_L, P_OTHER_L },
	[P_SYN_NEW_D] = { "SYN of a new connection", DERIVED, NULL, P_SYN, P_SYN_L, P_SYN_NEW_L },
	[P_REQ_NEW_D] = { "request start (new)", DERIVED, NULL, P_REQ, P_REQ_L, P_REQ_NEW_L },
};

/* The order rows are printed in: each path with its controls. */
static const int row_order[N_PATHS] = {
	P_PASS, P_PLAIN, P_PLAIN6, P_PLAIN_L, P_OTHER_L, P_OTHER_D,
	P_SYN, P_SYN_L, P_SYN_NEW_L, P_SYN_NEW_D,
	P_REQ, P_REQ_L, P_REQ_NEW_L, P_REQ_NEW_D,
};

static struct result res[N_PATHS][MAX_SIZES];

/* ---- measuring ----------------------------------------------------------- */

static void bench_repeat(int pi)
{
	struct pkt p;

	paths[pi].make(&tables[0], 0, 0, &p);
	for (int t = 0; t < ntables; t++)
		run(tables[t].fd, &p, 1000); /* warm-up */
	for (int round = 0; round < ROUNDS; round++) {
		for (int k = 0; k < ntables; k++) {
			int t = (k + round) % ntables;
			struct result *r = &res[pi][t];

			if (ntriv < TRIV_MAX)
				triv_samples[ntriv++] = run(triv_fd, &p, REPEAT);
			r->samples[r->nsamples++] = run(tables[t].fd, &p, REPEAT);
		}
	}
	for (int t = 0; t < ntables; t++)
		res[pi][t].ns = median(res[pi][t].samples, res[pi][t].nsamples);
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

/* Blocks of BLOCK packets go through the trivial program and through
 * tg_tc_ingress in turn, so that whatever else the machine does weighs on
 * both alike; a block pair that was interrupted falls in the trimmed tenths. */
static void bench_loop(int pi)
{
	double d[LOOP_N / BLOCK], kd[LOOP_N / BLOCK], kround[MAX_SIZES][LOOP_ROUNDS];
	double tt, tw, kt, kw;

	for (int round = 0; round < LOOP_ROUNDS; round++) {
		for (int k = 0; k < ntables; k++) {
			int t = (k + round) % ntables, fd = tables[t].fd;
			struct result *r = &res[pi][t];

			for (int i = 0; i < LOOP_N; i++)
				paths[pi].make(&tables[t], round, i, &loop_pkts[i]);
			for (int b = 0; b < LOOP_N / BLOCK; b++) {
				if ((b + round) % 2) {
					tw = block(triv_fd, b * BLOCK, &kw);
					tt = block(fd, b * BLOCK, &kt);
				} else {
					tt = block(fd, b * BLOCK, &kt);
					tw = block(triv_fd, b * BLOCK, &kw);
				}
				d[b] = (tt - tw) / BLOCK;
				kd[b] = (kt - kw) / BLOCK;
			}
			r->samples[r->nsamples++] = trimmed_mean(d, LOOP_N / BLOCK);
			kround[t][round] = trimmed_mean(kd, LOOP_N / BLOCK);
		}
	}
	for (int t = 0; t < ntables; t++) {
		res[pi][t].extra_ns = median(res[pi][t].samples, res[pi][t].nsamples);
		res[pi][t].kernel_extra_ns = median(kround[t], LOOP_ROUNDS);
	}
}

/* ---- the client tables --------------------------------------------------- */

static const char *const bench_clients[] = {
	"198.18.0.2", "198.18.0.3", "198.18.0.4", "fd00:198:18::2",
};
#define N_BENCH ((unsigned)(sizeof(bench_clients) / sizeof(bench_clients[0])))

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
static unsigned populate(const struct table *t)
{
	const unsigned chunk = 16384, n = t->n;
	size_t stride = (bpf_map__value_size(t->skel->maps.tg_clients) + 7) & ~(size_t)7;
	int fd = bpf_map__fd(t->skel->maps.tg_clients);
	struct tg_addr *keys = calloc(chunk, sizeof(*keys));
	void *vals = calloc(chunk, stride * (size_t)ncpus);
	unsigned done = 0, resident = 0;
	__u64 token = 0; /* the kernel reads in_batch before it writes out_batch */
	void *in = NULL;
	__u32 cnt;

	if (!keys || !vals)
		die("calloc");
	while (done < n) {
		for (cnt = 0; cnt < chunk && done < n; cnt++, done++) {
			if (done >= n - N_BENCH)
				tg_addr_parse(bench_clients[done - (n - N_BENCH)], &keys[cnt]);
			else
				synth_key(done, &keys[cnt]);
		}
		if (bpf_map_update_batch(fd, keys, vals, &cnt, NULL))
			die("bpf_map_update_batch");
	}
	for (;;) { /* count what stayed */
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

/* The sum over CPUs of one __u64 field of a client; -1 if it is absent. */
static __u64 client_sum(const struct table *t, const char *addr, size_t field_off)
{
	static struct tg_client v[TG_MAX_CPUS];
	struct tg_addr k;
	__u64 s = 0;

	tg_addr_parse(addr, &k);
	if (bpf_map_lookup_elem(bpf_map__fd(t->skel->maps.tg_clients), &k, v))
		return (__u64)-1;
	for (int c = 0; c < ncpus; c++)
		s += *(__u64 *)((char *)&v[c] + field_off);
	return s;
}

static __u64 new_clients(const struct table *t)
{
	static struct tg_global g[TG_MAX_CPUS];
	__u32 zero = 0;
	__u64 s = 0;

	if (bpf_map_lookup_elem(bpf_map__fd(t->skel->maps.tg_global), &zero, g))
		die("tg_global");
	for (int c = 0; c < ncpus; c++)
		s += g[c].new_clients;
	return s;
}

static void table_load(struct table *t, unsigned n)
{
	struct tg_settings set = { .mode = TG_MODE_MONITOR, .ipv6_prefix = 128 };
	__u32 zero = 0, port = 8080;
	__u8 on = 1;
	struct pkt p;
	double t0;

	t->n = n;
	t->n_synth = n - N_BENCH;
	t->skel = tollgate_bpf__open();
	if (!t->skel)
		die("open tollgate_bpf");
	t->skel->rodata->tg_nr_cpus = (__u32)ncpus;
	bpf_map__set_max_entries(t->skel->maps.tg_clients, n + n / 8);
	bpf_map__set_max_entries(t->skel->maps.tg_conns, CONNS_MAX);
	if (tollgate_bpf__load(t->skel))
		die("load tollgate_bpf (root needed)");
	t->fd = bpf_program__fd(t->skel->progs.tg_tc_ingress);
	if (bpf_map_update_elem(bpf_map__fd(t->skel->maps.tg_ports), &port, &on, 0) ||
	    bpf_map_update_elem(bpf_map__fd(t->skel->maps.tg_settings), &zero, &set, 0))
		die("map setup");
	t0 = now_ns();
	t->resident = populate(t);
	t->populate_s = (now_ns() - t0) / 1e9;
	for (unsigned i = 0; i < N_BENCH; i++)
		if (client_sum(t, bench_clients[i], 0) == (__u64)-1) {
			fprintf(stderr, "pktcost: client %s evicted while populating\n", bench_clients[i]);
			exit(1);
		}
	/* The plain segments' connection: SYN, then its request start. */
	mk(&p, (struct pkt_opts){ .seq = 1000, .flags = F_SYN });
	run(t->fd, &p, 1);
	mk(&p, (struct pkt_opts){ .seq = 1001, .flags = F_ACK | F_PSH, .payload = get_req,
				  .len = strlen(get_req) });
	run(t->fd, &p, 1);
	/* The request starts' connection. */
	mk(&p, (struct pkt_opts){ .saddr = "198.18.0.4", .seq = 7000, .flags = F_SYN });
	run(t->fd, &p, 1);
	req_same(t, 0, 0, &p);
	run(t->fd, &p, 1);
}

/* The timed paths were the ones named: every new SYN and request start was
 * counted, no retransmission was, no client was created. */
static int table_check(const struct table *t)
{
	const __u64 want = 1 + (__u64)LOOP_N * LOOP_ROUNDS;
	__u64 syns = client_sum(t, "198.18.0.3", offsetof(struct tg_client, syns));
	__u64 reqs = client_sum(t, "198.18.0.4", offsetof(struct tg_client, requests));
	__u64 plain_reqs = client_sum(t, "198.18.0.2", offsetof(struct tg_client, requests));
	int bad = 0;

	if (syns != want || reqs != want) {
		fprintf(stderr, "pktcost: %u clients: %llu SYNs and %llu requests counted, not %llu\n",
			t->n, (unsigned long long)syns, (unsigned long long)reqs,
			(unsigned long long)want);
		bad = 1;
	}
	if (plain_reqs != 1) {
		fprintf(stderr, "pktcost: %u clients: plain segments were counted as requests\n", t->n);
		bad = 1;
	}
	if (new_clients(t) != 0) {
		fprintf(stderr, "pktcost: %u clients: %llu clients were created\n", t->n,
			(unsigned long long)new_clients(t));
		bad = 1;
	}
	return bad;
}

/* ---- output -------------------------------------------------------------- */

static const char *method_name(enum method m)
{
	return m == REPEATED ? "repeat" : m == LOOP ? "loop" : "derived";
}

static const char *method_label(enum method m)
{
	return m == REPEATED ? "repeat: warm" : m == LOOP ? "loop: cold, one packet per run"
							  : "derived: warm estimate";
}

static void print_markdown(double trivial, double tmin, double tmax)
{
	printf("| path | clients | ns/packet | × trivial | method |\n");
	printf("|---|---:|---:|---:|---|\n");
	printf("| trivial program (baseline) | – | %.1f | 1.00 | repeat: warm |\n", trivial);
	for (int j = 0; j < N_PATHS; j++) {
		int pi = row_order[j];

		for (int t = 0; t < ntables; t++)
			printf("| %s | %u | %.1f | %.2f | %s |\n", paths[pi].name, tables[t].n,
			       res[pi][t].ns, res[pi][t].ns / trivial, method_label(paths[pi].method));
	}
	printf("\nTrivial program: median %.1f ns of %d runs (%.1f–%.1f).\n", trivial, ntriv,
	       tmin, tmax);
	printf("Client tables:");
	for (int t = 0; t < ntables; t++)
		printf(" %u clients (%u resident, populated in %.2f s)%s", tables[t].n,
		       tables[t].resident, tables[t].populate_s, t + 1 < ntables ? ";" : ".\n");
}

static void print_json(FILE *f, double trivial, double tmin, double tmax, int cpu)
{
	int first = 1;

	fprintf(f, "{\"repeat\":%d,\"rounds\":%d,\"loop_n\":%d,\"loop_rounds\":%d,\"block\":%d,"
		"\"cpu\":%d,\"possible_cpus\":%d,\"trivial_ns\":%.2f,\"trivial_min_ns\":%.2f,"
		"\"trivial_max_ns\":%.2f,\"tables\":[",
		REPEAT, ROUNDS, LOOP_N, LOOP_ROUNDS, BLOCK, cpu, ncpus, trivial, tmin, tmax);
	for (int t = 0; t < ntables; t++)
		fprintf(f, "%s{\"clients\":%u,\"resident\":%u,\"populate_s\":%.3f}", t ? "," : "",
			tables[t].n, tables[t].resident, tables[t].populate_s);
	fprintf(f, "],\"results\":[");
	for (int j = 0; j < N_PATHS; j++) {
		int pi = row_order[j];
		const struct path *p = &paths[pi];

		for (int t = 0; t < ntables; t++) {
			const struct result *r = &res[pi][t];

			fprintf(f, "%s{\"path\":\"%s\",\"clients\":%u,\"method\":\"%s\",\"ns\":%.2f,"
				"\"ratio\":%.3f", first ? "" : ",", p->name, tables[t].n,
				method_name(p->method), r->ns, r->ns / trivial);
			first = 0;
			if (p->method == DERIVED)
				fprintf(f, ",\"repeat_of\":\"%s\",\"kernel_loop_over_control_ns\":%.2f",
					paths[p->rep_ctl].name, r->extra_ns);
			if (p->method == LOOP)
				fprintf(f, ",\"kernel_over_trivial_ns\":%.2f", r->kernel_extra_ns);
			if (r->nsamples) {
				/* repeat: ns per round; loop: ns over the trivial program */
				fprintf(f, ",\"%s\":[", p->method == LOOP ? "over_trivial_samples"
									  : "samples");
				for (int s = 0; s < r->nsamples; s++)
					fprintf(f, "%s%.2f", s ? "," : "", r->samples[s]);
				fprintf(f, "]");
			}
			fprintf(f, "}");
		}
	}
	fprintf(f, "]}\n");
}

int main(int argc, char **argv)
{
	unsigned sizes[MAX_SIZES] = { 1000, 100000, 1000000 };
	int nsizes = 3, json = 0, cpu, bad = 0;
	const char *json_out = NULL;
	double trivial, tmin, tmax;
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

			for (nsizes = 0; *s; s = *end ? end + 1 : end) {
				unsigned long v = strtoul(s, &end, 10);

				if (nsizes == MAX_SIZES || end == s || v < 64 || v > 4000000 ||
				    (*end && *end != ','))
					goto usage;
				sizes[nsizes++] = (unsigned)v;
			}
			if (!nsizes)
				goto usage;
		} else {
usage:
			fprintf(stderr, "usage: pktcost [--json] [--json-out FILE] [--sizes N,...] [--cpu N]\n"
				"  up to %d sizes, 64..4000000 clients each; default 1000,100000,1000000\n",
				MAX_SIZES);
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

	for (ntables = 0; ntables < nsizes; ntables++) {
		fprintf(stderr, "pktcost: loading a table of %u clients\n", sizes[ntables]);
		table_load(&tables[ntables], sizes[ntables]);
	}
	for (int pi = 0; pi < N_PATHS; pi++) {
		if (paths[pi].method == DERIVED)
			continue;
		fprintf(stderr, "pktcost: %s (%s)\n", paths[pi].name, method_name(paths[pi].method));
		if (paths[pi].method == REPEATED)
			bench_repeat(pi);
		else
			bench_loop(pi);
	}
	for (int t = 0; t < ntables; t++)
		bad |= table_check(&tables[t]);

	trivial = median(triv_samples, ntriv);
	qsort(triv_samples, (size_t)ntriv, sizeof(double), cmp_d);
	tmin = triv_samples[0];
	tmax = triv_samples[ntriv - 1];
	for (int pi = 0; pi < N_PATHS; pi++)
		for (int t = 0; t < ntables; t++)
			if (paths[pi].method == LOOP)
				res[pi][t].ns = trivial + res[pi][t].extra_ns;
	for (int pi = 0; pi < N_PATHS; pi++) {
		const struct path *p = &paths[pi];

		for (int t = 0; t < ntables && p->method == DERIVED; t++) {
			res[pi][t].extra_ns = res[p->loop_path][t].kernel_extra_ns -
					      res[p->loop_ctl][t].kernel_extra_ns;
			res[pi][t].ns = res[p->rep_ctl][t].ns + res[pi][t].extra_ns;
		}
	}
	if (json_out) {
		FILE *f = fopen(json_out, "w");

		if (!f)
			die(json_out);
		print_json(f, trivial, tmin, tmax, cpu);
		if (fclose(f))
			die(json_out);
	}
	if (json)
		print_json(stdout, trivial, tmin, tmax, cpu);
	else
		print_markdown(trivial, tmin, tmax);
	for (int t = 0; t < ntables; t++)
		tollgate_bpf__destroy(tables[t].skel);
	trivial_bpf__destroy(triv);
	free(loop_pkts);
	return bad;
}
