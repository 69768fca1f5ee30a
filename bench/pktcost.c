/* Per-packet cost of the TC program tg_tc_ingress, in ns, against the trivial
 * program trivial_tc (one per-CPU array increment) measured in the same run,
 * with 1k, 100k and 1M clients pre-populated in tg_clients, in three
 * configurations of the same program:
 *  - telemetry: monitor mode, no quota entries (what the main table shows);
 *  - enforcement: enforce mode, quotas.default at 1,000,000 requests/s with
 *    a burst of 1,000,000 (nothing is dropped), one CIDR entry and one
 *    API-key entry (so new request starts are scanned for the key), written
 *    with the agent's own tg_quota_build / tg_settings_build;
 *  - enforcement-no-key: the same without the API-key entry (no scan), to
 *    split the extra cost between the quota bucket and the scan.
 * The paths that matter for enforcement (plain segment, request starts,
 * request starts carrying the configured API key at byte 100 and 900, and
 * the first request start of a connection, which pays the proof of its
 * handshake) run in all three; the rest in the telemetry configuration
 * only. Needs root.
 *
 * Every table (size x configuration) is loaded at once (one skeleton each)
 * and the rounds of a measurement go through the tables in turn, so that a
 * slow spell of the machine weighs on all of them alike instead of on
 * whichever came first.
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
 * The socket-level path, in the telemetry configuration: tg_cgroup_ingress
 * (cgroup_skb/ingress: the same counting code, the data starting at the IP
 * header; BPF_PROG_TEST_RUN hands it the IP header of the same Ethernet
 * frames, with an __sk_buff whose ingress_ifindex is not in tg_tc_ifaces)
 * on a plain segment and on request starts (repeat, and loop for new ones
 * on a connection of its own), next to tg_tc_ingress on the same packets;
 * and responses (a response start "HTTP/1.1 200 OK", a plain 1400-byte
 * response segment) through tg_tc_egress and tg_cgroup_egress.
 *
 *   pktcost [--json] [--json-out FILE] [--enforce-md FILE] [--socket-md FILE]
 *           [--sizes 1000,100000,1000000] [--cpu N] [--shared-client] [--routes]
 *           [--body] [--models]
 *
 * --routes: the default config's six routes written in every table (the
 * request start then copies its request line and matches it; run it
 * beside a run without to see what routes cost).
 * --body: the unkeyed request starts are an OpenAI SDK's chat completion
 * (POST, a 214-byte JSON body in the headers' segment, "model" after the
 * messages) instead of a GET without a body; run the tables below with it
 * to compare models on and off on the same bytes.
 * --models: three models configured (the body is read for the model,
 * max_tokens and stream).
 * --shared-client: only the same client's plain segment from two CPUs at
 * once (two threads pinned to CPUs 0 and 1, BPF_PROG_TEST_RUN each),
 * against one CPU alone and two clients on two CPUs: what sharing a
 * client's record between CPUs costs (layout v3's shared records).
 *
 * Markdown on stdout: the telemetry table, then the enforcement table
 * (--enforce-md: that one to FILE instead), then the socket-level tables
 * (--socket-md: to FILE instead). --json: JSON instead;
 * --json-out: JSON to FILE too. The enforcement table shows loop rows
 * kernel-timed (see enf_ns). Exits 1 when a check fails: every timed path
 * must have been the one named (counts asserted), and in the enforcement
 * configurations no packet may have been dropped, no request denied (or
 * would-be denied), no denial event sent, and each bucket (the API key's
 * with every keyed request start) charged exactly once per new request.
 *
 * A client table holds zeroed clients: 198.18.1.0 up through 198.19.255.255
 * first, then fd00:198:18::1:0:0/96 with identity.ipv6_prefix 128, and the
 * bench's own 198.18.0.2-5 and fd00:198:18::2; tg_addr_buckets (sized like
 * tg_clients, as the agent sizes it) holds a zeroed quotas.default bucket
 * for each of them, as a running agent's would after every client's first
 * request (it creates one per address in either mode).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <pthread.h>
#include <math.h>
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
#include "apikey.h"
#include "config/config.h"
#include "bpf/quota_plan.h"
#include "shared.h"
#include "telemetry/rates.h"
#include "pkt.h"
#include "lib/addr.h"
#include "lib/keyhash.h"

#define REPEAT 1000000
#define ROUNDS 9
#define LOOP_N 6000      /* LOOP_N * LOOP_ROUNDS new source ports per size */
#define LOOP_ROUNDS 9
#define BLOCK 50         /* LOOP_N / BLOCK block pairs per round */
#define CONNS_MAX 262144 /* tg_conns, the default gateway.max_clients */
#define TIME_LIMIT_S 280 /* the whole run, a watchdog */
#define MAX_SIZES 4
#define MAX_TABLES (3 * MAX_SIZES) /* each size in each configuration (enum conf) */
#define MAX_ROUNDS (ROUNDS > LOOP_ROUNDS ? ROUNDS : LOOP_ROUNDS)
#define TRIV_MAX 1024
#define V4_SYNTH_BASE 0xC6120100u /* 198.18.1.0; 198.18.0.0/24 is the bench's */
#define V4_SYNTH_MAX (131072u - 256u)
#define ENF_LIMIT 1000000u /* quotas.default and the entries: requests/s and burst */
#define CIDR_QID 1u
#define KEY_QID 2u
#define CIDR_NET "198.19.255.0" /* /24: holds none of the bench's own clients */
#define N_KEYED 2

_Static_assert(2000 + LOOP_N * LOOP_ROUNDS < 60000, "syn_new's and req_first's source ports");
_Static_assert(LOOP_N % BLOCK == 0, "whole blocks");

struct pkt {
	size_t len;
	uint8_t buf[1536];
};

/* Telemetry only; enforcement; enforcement without the API-key entry (no
 * header scan: what the bucket alone costs). */
enum conf { TELEMETRY, ENFORCEMENT, NOKEY, N_CONF };

static const char *const conf_name[N_CONF] = { "telemetry", "enforcement", "enforcement-no-key" };

/* The programs of the object a path runs through. */
enum prog { PG_TC_IN, PG_CG_IN, PG_TC_EG, PG_CG_EG, N_PROG };

static const char *const prog_name[N_PROG] = { "tg_tc_ingress", "tg_cgroup_ingress",
					       "tg_tc_egress", "tg_cgroup_egress" };
#define CG_IFINDEX 7 /* ingress_ifindex of the cgroup runs: not in tg_tc_ifaces */

/* One client-table size in one configuration, loaded for the whole run. */
struct table {
	struct tollgate_bpf *skel;
	int fd; /* tg_tc_ingress */
	int pfd[N_PROG];
	enum conf conf;
	unsigned n, n_synth, resident, buckets_resident;
	double populate_s;
};

enum method { REPEATED, LOOP, DERIVED };

#define PF_ENF (1u << 0)   /* measured in the enforcement configurations too */
#define PF_KEYED (1u << 1) /* shown in the enforcement table only */
#define PF_SCAN (1u << 2)  /* new request starts: scanned for the API key */
#define PF_SOCK (1u << 3)  /* shown in the socket-level tables only */

struct path {
	const char *name;
	enum method method;
	void (*make)(const struct table *t, int round, int i, struct pkt *p);
	int rep_ctl, loop_ctl, loop_path; /* DERIVED: the rows it comes from */
	unsigned flags;
	enum prog prog; /* tg_tc_ingress unless named */
};

struct result {
	double ns;
	double extra_ns;        /* LOOP: over the trivial program; DERIVED: over rep_ctl (kernel-timed) */
	double kernel_extra_ns; /* LOOP: the same from the kernel's own durations */
	double samples[MAX_ROUNDS];
	int nsamples;
};

static struct table tables[MAX_TABLES]; /* conf * nsizes + size index */
static int ntables, nsizes, ncpus, triv_fd;
static int bench_cpu; /* the CPU the bench runs on */
static struct trivial_bpf *triv;
static double triv_samples[TRIV_MAX];
static int ntriv;
static struct pkt *loop_pkts;
static char xs[1400];
static const char get_plain[] = "GET /v1/models HTTP/1.1\r\nHost: gw\r\n\r\n";
static const char post_chat[] =
	"POST /v1/chat/completions HTTP/1.1\r\nHost: gw\r\nContent-Type: application/json\r\n"
	"Content-Length: 214\r\n\r\n"
	"{\"messages\":[{\"role\":\"system\",\"content\":\"You are a helpful assistant.\"},"
	"{\"role\":\"user\",\"content\":\"Summarise the following paragraph in one sentence, "
	"please.\"}],\"model\":\"gpt-4o\",\"max_tokens\":256,\"stream\":true,\"n\":1}";
static const char *get_req = get_plain; /* --body: post_chat */
static const char ok_resp[] = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
			      "Content-Length: 1400\r\nConnection: keep-alive\r\n\r\n";
static const char bench_key[] = "sk-bench-0123456789abcdef";
/* Request starts that carry bench_key in an Authorization header whose
 * line begins at byte key_at[j] of the payload. */
static const unsigned key_at[N_KEYED] = { 100, 900 };
static char key_req[N_KEYED][1200];
static size_t key_len[N_KEYED];
static struct tg_config cfg; /* large: not on the stack */

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
	static double s[TRIV_MAX];

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

/* The gateway's ISN in the bench's SYN-ACKs. A request start is charged
 * only once its client proved the handshake by acknowledging it
 * (tg_conn_verify in kern/count.bpf.h), so every client packet acks it,
 * as a real client's would. */
#define SRV_ISN 0x5eed0000u

static void mk(struct pkt *p, struct pkt_opts o)
{
	if (!o.ack)
		o.ack = SRV_ISN + 1;
	p->len = pkt_build(p->buf, sizeof(p->buf), &o);
	if (!p->len) {
		fprintf(stderr, "pktcost: packet does not fit\n");
		exit(1);
	}
}

/* One BPF_PROG_TEST_RUN; returns the kernel's average ns per run. Every
 * packet the bench sends must pass: a drop (TC_ACT_SHOT; 0 from a cgroup_skb
 * program) ends the run. cg: a cgroup_skb program, run with an __sk_buff
 * whose ingress_ifindex is not in tg_tc_ifaces (the kernel hands it the
 * IP header of the frame). */
static double run_as(int fd, const struct pkt *p, int repeat, int cg)
{
	struct __sk_buff ctx = { .ingress_ifindex = CG_IFINDEX };
	DECLARE_LIBBPF_OPTS(bpf_test_run_opts, o, .data_in = p->buf,
			    .data_size_in = (__u32)p->len, .repeat = repeat);
	int want = cg ? 1 : -1;

	if (cg) {
		o.ctx_in = &ctx;
		o.ctx_size_in = sizeof(ctx);
	}
	if (bpf_prog_test_run_opts(fd, &o))
		die("BPF_PROG_TEST_RUN");
	if ((int)o.retval != want) {
		fprintf(stderr, "pktcost: program returned %d (%s), not %s\n", (int)o.retval,
			(int)o.retval == (cg ? 0 : 2) ? "dropped" : "?",
			cg ? "1 (pass)" : "TC_ACT_UNSPEC");
		exit(1);
	}
	return o.duration;
}

static double run(int fd, const struct pkt *p, int repeat)
{
	return run_as(fd, p, repeat, 0);
}

static int prog_is_cg(enum prog g)
{
	return g == PG_CG_IN || g == PG_CG_EG;
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

static void handshake(const struct table *t, int fd, int cg, const char *saddr, uint16_t sport,
		      uint32_t seq);

/* 198.18.0.6: each request start is the first of its connection (a new
 * source port each), whose handshake ran just before, untimed, as the
 * gateway completes it (SYN, then the SYN-ACK through tg_tc_egress): the
 * start pays the proof of the handshake (the tg_handshake record of the
 * server's ISN) on top of what a later start of a proven connection pays. */
static void req_first(const struct table *t, int round, int i, struct pkt *p)
{
	uint16_t sport = (uint16_t)(2000 + round * LOOP_N + i);

	handshake(t, t->fd, 0, "198.18.0.6", sport, 7000);
	mk(p, (struct pkt_opts){ .saddr = "198.18.0.6", .sport = sport, .seq = 7001,
				 .flags = F_ACK | F_PSH, .payload = get_req, .len = strlen(get_req) });
}

/* 198.18.0.7: the same, but the gateway's SYN-ACK was never seen (an
 * agent started on established connections): no ISN to prove the start
 * by, so the proof looks for an established socket (bpf_skc_lookup_tcp),
 * finds none here, and the start is counted unverified. Telemetry only:
 * where the kernel enforces, an unproven start is held (dropped). */
static void req_first_unseen(const struct table *t, int round, int i, struct pkt *p)
{
	uint16_t sport = (uint16_t)(2000 + round * LOOP_N + i);

	mk(p, (struct pkt_opts){ .saddr = "198.18.0.7", .sport = sport, .seq = 7000,
				 .flags = F_SYN });
	run(t->fd, p, 1);
	mk(p, (struct pkt_opts){ .saddr = "198.18.0.7", .sport = sport, .seq = 7001,
				 .flags = F_ACK | F_PSH, .payload = get_req, .len = strlen(get_req) });
}

/* 198.18.0.4:40003, the socket-level program's own connection: its
 * request start at 7001 was seen through tg_cgroup_ingress (telemetry
 * tables; see table_load). */
static void cg_req_same(const struct table *t, int round, int i, struct pkt *p)
{
	(void)t, (void)round, (void)i;
	mk(p, (struct pkt_opts){ .saddr = "198.18.0.4", .sport = 40003, .seq = 7001,
				 .flags = F_ACK | F_PSH, .payload = get_req, .len = strlen(get_req) });
}

static void cg_req_new(const struct table *t, int round, int i, struct pkt *p)
{
	uint32_t k = 1u + (uint32_t)(round * LOOP_N + i);

	(void)t;
	mk(p, (struct pkt_opts){ .saddr = "198.18.0.4", .sport = 40003, .seq = 7001u + 100u * k,
				 .flags = F_ACK | F_PSH, .payload = get_req, .len = strlen(get_req) });
}

/* Responses from the gateway (198.18.0.1:8080) to 198.18.0.2:40000, the
 * plain segments' connection. Its request was answered by the first
 * response start, so a repeated one is a status line whose connection is
 * looked up with no request pending. */
static void resp_start(const struct table *t, int round, int i, struct pkt *p)
{
	(void)t, (void)round, (void)i;
	mk(p, (struct pkt_opts){ .saddr = "198.18.0.1", .daddr = "198.18.0.2", .sport = 8080,
				 .dport = 40000, .seq = 50000, .flags = F_ACK | F_PSH,
				 .payload = ok_resp, .len = strlen(ok_resp) });
}

static void resp_plain(const struct table *t, int round, int i, struct pkt *p)
{
	(void)t, (void)round, (void)i;
	mk(p, (struct pkt_opts){ .saddr = "198.18.0.1", .daddr = "198.18.0.2", .sport = 8080,
				 .dport = 40000, .seq = 60000, .payload = xs, .len = sizeof(xs) });
}

/* 198.18.0.5:40001 (key at byte 100) and :40002 (key at byte 900): their
 * request starts at 9001 were seen (see table_load). New ones step the
 * sequence number by 2000, past the request before. */
static void key_pkt(int j, uint32_t k, struct pkt *p)
{
	mk(p, (struct pkt_opts){ .saddr = "198.18.0.5", .sport = (uint16_t)(40001 + j),
				 .seq = 9001u + 2000u * k, .flags = F_ACK | F_PSH,
				 .payload = key_req[j], .len = key_len[j] });
}

static void key100_same(const struct table *t, int round, int i, struct pkt *p)
{
	(void)t, (void)round, (void)i;
	key_pkt(0, 0, p);
}

static void key100_new(const struct table *t, int round, int i, struct pkt *p)
{
	(void)t;
	key_pkt(0, 1u + (uint32_t)(round * LOOP_N + i), p);
}

static void key900_same(const struct table *t, int round, int i, struct pkt *p)
{
	(void)t, (void)round, (void)i;
	key_pkt(1, 0, p);
}

static void key900_new(const struct table *t, int round, int i, struct pkt *p)
{
	(void)t;
	key_pkt(1, 1u + (uint32_t)(round * LOOP_N + i), p);
}

/* POST requests with the configured key in an Authorization header that
 * begins at byte key_at[j], after an X-Pad header that stands for whatever
 * headers come first; a 2-byte JSON body in the same segment. */
static void build_key_reqs(void)
{
	static const char head[] = "POST /v1/chat/completions HTTP/1.1\r\nHost: gw\r\n"
				   "Content-Type: application/json\r\nX-Pad: ";
	char pad[1024];

	memset(pad, 'a', sizeof(pad));
	for (int j = 0; j < N_KEYED; j++) {
		int w = (int)key_at[j] - (int)strlen(head) - 2, n;
		const char *at;

		n = snprintf(key_req[j], sizeof(key_req[j]),
			     "%s%.*s\r\nAuthorization: Bearer %s\r\nContent-Length: 2\r\n\r\n{}",
			     head, w, pad, bench_key);
		at = strstr(key_req[j], "\r\nAuthorization:");
		if (w < 1 || n <= 0 || (size_t)n >= sizeof(key_req[j]) || !at ||
		    at + 2 - key_req[j] != (long)key_at[j]) {
			fprintf(stderr, "pktcost: keyed request %d is not as meant\n", j);
			exit(1);
		}
		key_len[j] = (size_t)n;
	}
}

enum {
	P_PASS, P_PLAIN, P_PLAIN6, P_SYN, P_REQ, P_K100, P_K900,            /* repeat */
	P_PLAIN_L, P_OTHER_L, P_SYN_L, P_SYN_NEW_L, P_REQ_L, P_REQ_NEW_L,  /* loop */
	P_REQ_FIRST_L, P_REQ_UNSEEN_L,
	P_K100_L, P_K100_NEW_L, P_K900_L, P_K900_NEW_L,
	P_OTHER_D, P_SYN_NEW_D, P_REQ_NEW_D, P_K100_NEW_D, P_K900_NEW_D,    /* derived */
	P_REQ_FIRST_D,
	P_CG_PLAIN, P_CG_REQ, P_CG_REQ_L, P_CG_REQ_NEW_L, P_CG_REQ_NEW_D,  /* socket level */
	P_RESP_START, P_RESP_PLAIN, P_CG_RESP_START, P_CG_RESP_PLAIN,      /* responses */
	N_PATHS
};

#define K100 "request start, API key at byte 100"
#define K900 "request start, API key at byte 900"
#define REQ_FIRST "request start, first of its connection"

static const struct path paths[N_PATHS] = {
	[P_PASS] = { "pass-through (non-gateway port)", REPEATED, passthru },
	[P_PLAIN] = { "plain segment (1400 B)", REPEATED, plain_same, .flags = PF_ENF },
	[P_PLAIN6] = { "plain segment (1400 B), IPv6", REPEATED, plain6_same },
	[P_SYN] = { "SYN, retransmitted", REPEATED, syn_same },
	[P_REQ] = { "request start, retransmitted", REPEATED, req_same, .flags = PF_ENF },
	[P_K100] = { K100 ", retransmitted", REPEATED, key100_same, .flags = PF_ENF | PF_KEYED },
	[P_K900] = { K900 ", retransmitted", REPEATED, key900_same, .flags = PF_ENF | PF_KEYED },
	[P_PLAIN_L] = { "plain segment (1400 B)", LOOP, plain_same, .flags = PF_ENF },
	[P_OTHER_L] = { "plain segment (1400 B), another client each packet", LOOP,
			plain_other_client },
	[P_SYN_L] = { "SYN, retransmitted", LOOP, syn_same },
	[P_SYN_NEW_L] = { "SYN of a new connection", LOOP, syn_new },
	[P_REQ_L] = { "request start, retransmitted", LOOP, req_same, .flags = PF_ENF },
	[P_REQ_NEW_L] = { "request start (new)", LOOP, req_new, .flags = PF_ENF | PF_SCAN },
	[P_REQ_FIRST_L] = { REQ_FIRST, LOOP, req_first, .flags = PF_ENF | PF_SCAN },
	[P_REQ_UNSEEN_L] = { REQ_FIRST ", its handshake unseen (socket lookup)", LOOP,
			     req_first_unseen },
	[P_K100_L] = { K100 ", retransmitted", LOOP, key100_same, .flags = PF_ENF | PF_KEYED },
	[P_K100_NEW_L] = { K100 " (new)", LOOP, key100_new, .flags = PF_ENF | PF_KEYED | PF_SCAN },
	[P_K900_L] = { K900 ", retransmitted", LOOP, key900_same, .flags = PF_ENF | PF_KEYED },
	[P_K900_NEW_L] = { K900 " (new)", LOOP, key900_new, .flags = PF_ENF | PF_KEYED | PF_SCAN },
	[P_OTHER_D] = { "plain segment (1400 B), another client each packet", DERIVED, NULL,
			P_PLAIN, P_PLAIN_L, P_OTHER_L },
	[P_SYN_NEW_D] = { "SYN of a new connection", DERIVED, NULL, P_SYN, P_SYN_L, P_SYN_NEW_L },
	[P_REQ_NEW_D] = { "request start (new)", DERIVED, NULL, P_REQ, P_REQ_L, P_REQ_NEW_L,
			  PF_ENF | PF_SCAN },
	[P_REQ_FIRST_D] = { REQ_FIRST, DERIVED, NULL, P_REQ, P_REQ_L, P_REQ_FIRST_L,
			    PF_ENF | PF_SCAN },
	[P_K100_NEW_D] = { K100 " (new)", DERIVED, NULL, P_K100, P_K100_L, P_K100_NEW_L,
			   PF_ENF | PF_KEYED | PF_SCAN },
	[P_K900_NEW_D] = { K900 " (new)", DERIVED, NULL, P_K900, P_K900_L, P_K900_NEW_L,
			   PF_ENF | PF_KEYED | PF_SCAN },
	[P_CG_PLAIN] = { "plain segment (1400 B)", REPEATED, plain_same, .flags = PF_SOCK,
			 .prog = PG_CG_IN },
	[P_CG_REQ] = { "request start, retransmitted", REPEATED, cg_req_same, .flags = PF_SOCK,
		       .prog = PG_CG_IN },
	[P_CG_REQ_L] = { "request start, retransmitted", LOOP, cg_req_same, .flags = PF_SOCK,
			 .prog = PG_CG_IN },
	[P_CG_REQ_NEW_L] = { "request start (new)", LOOP, cg_req_new, .flags = PF_SOCK,
			     .prog = PG_CG_IN },
	[P_CG_REQ_NEW_D] = { "request start (new)", DERIVED, NULL, P_CG_REQ, P_CG_REQ_L,
			     P_CG_REQ_NEW_L, PF_SOCK, PG_CG_IN },
	[P_RESP_START] = { "response start (HTTP/1.1 200 OK)", REPEATED, resp_start,
			   .flags = PF_SOCK, .prog = PG_TC_EG },
	[P_RESP_PLAIN] = { "response segment (1400 B)", REPEATED, resp_plain, .flags = PF_SOCK,
			   .prog = PG_TC_EG },
	[P_CG_RESP_START] = { "response start (HTTP/1.1 200 OK)", REPEATED, resp_start,
			      .flags = PF_SOCK, .prog = PG_CG_EG },
	[P_CG_RESP_PLAIN] = { "response segment (1400 B)", REPEATED, resp_plain,
			      .flags = PF_SOCK, .prog = PG_CG_EG },
};

/* The order rows are printed in: each path with its controls. */
static const int row_order[N_PATHS] = {
	P_PASS, P_PLAIN, P_PLAIN6, P_PLAIN_L, P_OTHER_L, P_OTHER_D,
	P_SYN, P_SYN_L, P_SYN_NEW_L, P_SYN_NEW_D,
	P_REQ, P_REQ_L, P_REQ_NEW_L, P_REQ_NEW_D, P_REQ_FIRST_L, P_REQ_FIRST_D,
	P_REQ_UNSEEN_L,
	P_K100, P_K100_L, P_K100_NEW_L, P_K100_NEW_D,
	P_K900, P_K900_L, P_K900_NEW_L, P_K900_NEW_D,
	P_CG_PLAIN, P_CG_REQ, P_CG_REQ_L, P_CG_REQ_NEW_L, P_CG_REQ_NEW_D,
	P_RESP_START, P_RESP_PLAIN, P_CG_RESP_START, P_CG_RESP_PLAIN,
};

static struct result res[N_PATHS][MAX_TABLES];

/* The tables path pi runs on: the telemetry ones, and the enforcement ones
 * (with and without the key entry) for PF_ENF paths. */
static int path_tables(int pi, int *ix)
{
	int n = 0;

	for (int t = 0; t < ntables; t++)
		if (tables[t].conf == TELEMETRY || (paths[pi].flags & PF_ENF))
			ix[n++] = t;
	return n;
}

/* ---- measuring ----------------------------------------------------------- */

static void bench_repeat(int pi)
{
	int ix[MAX_TABLES], n = path_tables(pi, ix);
	enum prog g = paths[pi].prog;
	struct pkt p;

	paths[pi].make(&tables[0], 0, 0, &p);
	for (int k = 0; k < n; k++)
		run_as(tables[ix[k]].pfd[g], &p, 1000, prog_is_cg(g)); /* warm-up */
	for (int round = 0; round < ROUNDS; round++) {
		for (int k = 0; k < n; k++) {
			int t = ix[(k + round) % n];
			struct result *r = &res[pi][t];

			if (ntriv < TRIV_MAX)
				triv_samples[ntriv++] = run(triv_fd, &p, REPEAT);
			r->samples[r->nsamples++] = run_as(tables[t].pfd[g], &p, REPEAT,
							   prog_is_cg(g));
		}
	}
	for (int k = 0; k < n; k++)
		res[pi][ix[k]].ns = median(res[pi][ix[k]].samples, res[pi][ix[k]].nsamples);
}

/* Wall-clock ns of BLOCK single runs from packet `from`; *kns: the
 * kernel's own total for them. */
static double block(int fd, int cg, int from, double *kns)
{
	double t0 = now_ns();

	*kns = 0;
	for (int i = from; i < from + BLOCK; i++)
		*kns += run_as(fd, &loop_pkts[i], 1, cg);
	return now_ns() - t0;
}

/* Blocks of BLOCK packets go through the trivial program and through
 * tg_tc_ingress in turn, so that whatever else the machine does weighs on
 * both alike; a block pair that was interrupted falls in the trimmed tenths. */
static void bench_loop(int pi)
{
	double d[LOOP_N / BLOCK], kd[LOOP_N / BLOCK], kround[MAX_TABLES][LOOP_ROUNDS];
	int ix[MAX_TABLES], n = path_tables(pi, ix);
	double tt, tw, kt, kw;

	for (int round = 0; round < LOOP_ROUNDS; round++) {
		for (int k = 0; k < n; k++) {
			int t = ix[(k + round) % n], fd = tables[t].pfd[paths[pi].prog];
			int cg = prog_is_cg(paths[pi].prog);
			struct result *r = &res[pi][t];

			for (int i = 0; i < LOOP_N; i++)
				paths[pi].make(&tables[t], round, i, &loop_pkts[i]);
			for (int b = 0; b < LOOP_N / BLOCK; b++) {
				if ((b + round) % 2) {
					tw = block(triv_fd, 0, b * BLOCK, &kw);
					tt = block(fd, cg, b * BLOCK, &kt);
				} else {
					tt = block(fd, cg, b * BLOCK, &kt);
					tw = block(triv_fd, 0, b * BLOCK, &kw);
				}
				d[b] = (tt - tw) / BLOCK;
				kd[b] = (kt - kw) / BLOCK;
			}
			r->samples[r->nsamples++] = trimmed_mean(d, LOOP_N / BLOCK);
			kround[t][round] = trimmed_mean(kd, LOOP_N / BLOCK);
		}
	}
	for (int k = 0; k < n; k++) {
		int t = ix[k];

		res[pi][t].extra_ns = median(res[pi][t].samples, res[pi][t].nsamples);
		res[pi][t].kernel_extra_ns = median(kround[t], LOOP_ROUNDS);
	}
}

/* ---- the client tables --------------------------------------------------- */

static const char *const bench_clients[] = {
	"198.18.0.2", "198.18.0.3", "198.18.0.4", "198.18.0.5", "198.18.0.6", "198.18.0.7",
	"fd00:198:18::2",
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

/* The i-th of the n clients of a table: synthetic ones first, the bench's
 * own last (an LRU evicts the oldest first). */
static void client_key(unsigned i, unsigned n, struct tg_addr *k)
{
	if (i >= n - N_BENCH)
		tg_addr_parse(bench_clients[i - (n - N_BENCH)], k);
	else
		synth_key(i, k);
}

/* Fills map fd (an LRU hash) with a zeroed value for each of the n
 * clients, keyed by the client's address at key_off within a key of
 * key_size bytes (the rest zero); returns the entries resident afterwards.
 * owner >= 0: the values are layout v3 client records owned by that CPU,
 * as the kernel makes them on the CPU a client's packets arrive at. */
static unsigned populate(int fd, unsigned n, size_t key_size, size_t key_off, size_t val_size,
			 int owner)
{
	const unsigned chunk = 16384;
	unsigned char *keys = calloc(chunk, key_size);
	void *vals = calloc(chunk, val_size);
	unsigned done = 0, resident = 0;
	__u64 token = 0; /* the kernel reads in_batch before it writes out_batch */
	void *in = NULL;
	__u32 cnt;

	if (!keys || !vals)
		die("calloc");
#if TG_LAYOUT_VERSION >= 3
	for (unsigned i = 0; owner >= 0 && i < chunk; i++)
		((struct tg_client *)((char *)vals + (size_t)i * val_size))->owner = (__u32)owner;
#else
	(void)owner;
#endif
	while (done < n) {
		memset(keys, 0, chunk * key_size);
		for (cnt = 0; cnt < chunk && done < n; cnt++, done++)
			client_key(done, n, (struct tg_addr *)(keys + cnt * key_size + key_off));
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

/* Values per key of a map: ncpus for a per-CPU map (layout v2's client
 * and response maps), else 1 (v3). */
static int copies(const struct bpf_map *m)
{
	enum bpf_map_type ty = bpf_map__type(m);

	return ty == BPF_MAP_TYPE_LRU_PERCPU_HASH || ty == BPF_MAP_TYPE_PERCPU_HASH ? ncpus : 1;
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
	for (int c = 0; c < copies(t->skel->maps.tg_clients); c++)
		s += *(__u64 *)((char *)&v[c] + field_off);
	return s;
}

/* ---- the same client on two CPUs (--shared-client) ---------------------- */

struct sharer {
	int fd, cpu, rounds;
	const struct pkt *p;
	double ns[MAX_ROUNDS];
};

static pthread_barrier_t share_bar;

static void *share_run(void *arg)
{
	struct sharer *s = arg;
	cpu_set_t set;

	CPU_ZERO(&set);
	CPU_SET(s->cpu, &set);
	if (sched_setaffinity(0, sizeof(set), &set))
		die("sched_setaffinity");
	for (int r = 0; r < s->rounds; r++) {
		pthread_barrier_wait(&share_bar);
		s->ns[r] = run(s->fd, s->p, REPEAT);
	}
	return NULL;
}

/* Median ns per plain segment on each of n threads, thread i pinned to
 * cpus[i] and running BPF_PROG_TEST_RUN (repeat REPEAT) on pkts[i], all
 * at once. */
static void share_measure(int fd, const int *cpus, const struct pkt *const *pkts, int n,
			  double *out)
{
	struct sharer sh[2];
	pthread_t th[2];

	if (pthread_barrier_init(&share_bar, NULL, (unsigned)n))
		die("pthread_barrier_init");
	for (int i = 0; i < n; i++) {
		sh[i] = (struct sharer){ .fd = fd, .cpu = cpus[i], .rounds = ROUNDS, .p = pkts[i] };
		if (pthread_create(&th[i], NULL, share_run, &sh[i]))
			die("pthread_create");
	}
	for (int i = 0; i < n; i++) {
		pthread_join(th[i], NULL);
		out[i] = median(sh[i].ns, ROUNDS);
	}
	pthread_barrier_destroy(&share_bar);
}

/* A plain segment of one client from two CPUs at once: its record's line
 * moves between the CPUs on every packet. Against each CPU alone (the
 * CPU that made the record adds without atomics, the other with), and
 * two clients on two CPUs (both CPUs busy, nothing shared). */
static int bench_shared(const struct table *t)
{
	static struct pkt a, b;
	const int own = bench_cpu, other = bench_cpu ? 0 : 1;
	const int c_own[1] = { own }, c_other[1] = { other }, c_both[2] = { own, other };
	const struct pkt *pa[1] = { &a }, *same[2] = { &a, &a }, *diff[2] = { &a, &b };
	double tr[1], alone[1], foreign[1], sh[2], df[2];

	if (ncpus < 2) {
		fprintf(stderr, "pktcost: --shared-client needs two CPUs\n");
		return 1;
	}
	/* 198.18.0.2 was made by its SYN on bench_cpu (table_load); 198.18.0.4
	 * is a populated client (owned by bench_cpu too in layout v3) */
	plain_same(t, 0, 0, &a);
	mk(&b, (struct pkt_opts){ .saddr = "198.18.0.4", .seq = 2000, .payload = xs,
				 .len = sizeof(xs) });
	share_measure(triv_fd, c_own, pa, 1, tr);
	share_measure(t->fd, c_own, pa, 1, alone);
	share_measure(t->fd, c_other, pa, 1, foreign);
	share_measure(t->fd, c_both, same, 2, sh);
	share_measure(t->fd, c_both, diff, 2, df);
	printf("| case: plain 1400 B segment, repeat %d, median of %d | CPU %d ns | CPU %d ns | × trivial |\n",
	       REPEAT, ROUNDS, own, other);
	printf("|---|---:|---:|---:|\n");
	printf("| trivial program | %.1f | | 1.00 |\n", tr[0]);
	printf("| one client, its own CPU alone | %.1f | | %.2f |\n", alone[0], alone[0] / tr[0]);
	printf("| one client, the other CPU alone | | %.1f | %.2f |\n", foreign[0],
	       foreign[0] / tr[0]);
	printf("| one client, both CPUs at once | %.1f | %.1f | %.2f / %.2f |\n", sh[0], sh[1],
	       sh[0] / tr[0], sh[1] / tr[0]);
	printf("| two clients, both CPUs at once | %.1f | %.1f | %.2f / %.2f |\n", df[0], df[1],
	       df[0] / tr[0], df[1] / tr[0]);
	printf("\nlayout: tg_clients %s, %d possible CPUs\n",
	       copies(t->skel->maps.tg_clients) > 1 ? "per-CPU (v2)" : "shared (v3)", ncpus);
	return 0;
}

static struct tg_global global_sum(const struct table *t)
{
	static struct tg_global g[TG_MAX_CPUS];
	struct tg_global s;
	__u32 zero = 0;

	memset(&s, 0, sizeof(s));
	if (bpf_map_lookup_elem(bpf_map__fd(t->skel->maps.tg_global), &zero, g))
		die("tg_global");
	for (int c = 0; c < ncpus; c++) {
		s.new_clients += g[c].new_clients;
		s.addr_buckets += g[c].addr_buckets;
		s.fragments_dropped += g[c].fragments_dropped;
	}
	return s;
}

/* A bucket: the key's shared one (addr NULL) or an address's; zeroed
 * when absent. */
static struct tg_bucket bucket_get(const struct table *t, __u32 qid, const char *addr)
{
	struct tg_bucket_key k = { .qid = qid };
	struct tg_bucket b;
	int fd = addr ? bpf_map__fd(t->skel->maps.tg_addr_buckets)
		      : bpf_map__fd(t->skel->maps.tg_buckets);

	memset(&b, 0, sizeof(b));
	if (addr)
		tg_addr_parse(addr, &k.addr);
	bpf_map_lookup_elem(fd, &k, &b);
	return b;
}

/* --routes: the default config's six routes in every table */
static int with_routes;
/* --models: three models configured */
static int with_models;

/* The configuration, written as the agent writes it: settings, quota 0
 * (quotas.default) always; in enforcement, the two entries. */
static void configure(struct table *t)
{
	struct tg_quota_entry *ce = &cfg.quotas[0], *ke = &cfg.quotas[1];
	struct tg_settings set;
	struct tg_lpm_key lk;
	struct tg_quota q;
	__u32 zero = 0, id;
	__u64 h;

	tg_config_defaults(&cfg);
	cfg.ipv6_prefix = 128;
	/* The key detectors make every request start scan its headers (as an
	 * API-key entry does); the tables here measure counting and quotas,
	 * so the scan runs only where a key entry asks for it. */
	cfg.anomaly.det[TG_AN_KEY_SHARED].enabled = false;
	cfg.anomaly.det[TG_AN_KEY_ROTATION].enabled = false;
	/* no routes unless --routes (the default config's six make every
	 * request start copy its request line and match it) */
	if (!with_routes)
		cfg.n_routes = 0;
	if (with_models) {
		cfg.n_models = 3;
		strcpy(cfg.models[0], "gpt-4o");
		strcpy(cfg.models[1], "claude-3-5-haiku");
		strcpy(cfg.models[2], "o3-mini");
	}
	cfg.mode = t->conf == TELEMETRY ? TG_MODE_MONITOR : TG_MODE_ENFORCE;
	if (t->conf != TELEMETRY) {
		cfg.default_limits = (struct tg_limits){ .requests_per_sec = ENF_LIMIT,
							 .burst = ENF_LIMIT };
		cfg.default_action = TG_ACTION_DROP;
		memset(ce, 0, sizeof(*ce));
		snprintf(ce->name, sizeof(ce->name), "bench-cidr");
		ce->match = TG_MATCH_CIDR;
		if (tg_addr_parse(CIDR_NET, (struct tg_addr *)ce->cidr))
			die("CIDR");
		ce->prefix_len = 96 + 24;
		ce->limits = cfg.default_limits;
		ce->action = TG_ACTION_DROP;
		ce->share = TG_SHARE_SHARED;
		memset(ke, 0, sizeof(*ke));
		snprintf(ke->name, sizeof(ke->name), "bench-key");
		ke->match = TG_MATCH_API_KEY;
		snprintf(ke->api_key, sizeof(ke->api_key), "%s", bench_key);
		ke->limits = cfg.default_limits;
		ke->action = TG_ACTION_DROP;
		cfg.n_quotas = t->conf == NOKEY ? 1 : 2;
	}
	tg_settings_build(&set, &cfg, 1);
	if (bpf_map_update_elem(bpf_map__fd(t->skel->maps.tg_settings), &zero, &set, 0))
		die("tg_settings");
	if (with_routes) {
		static const char none[TG_ROUTE_IDS][TG_ROUTE_NAME_LEN];
		static struct tg_route_table rt;
		int rids[TG_MAX_ROUTES];

		tg_route_assign_ids(none, &cfg, rids);
		tg_routes_build(&rt, &cfg, rids);
		if (bpf_map_update_elem(bpf_map__fd(t->skel->maps.tg_route_table), &zero, &rt, 0))
			die("tg_route_table");
	}
	if (with_models) {
		static const char none[TG_MODEL_IDS][TG_MODEL_NAME_LEN];
		int mids[TG_MAX_MODELS];

		tg_model_assign_ids(none, &cfg, mids);
		for (int i = 0; i < cfg.n_models; i++) {
			struct tg_model_name mk;
			__u32 mid = (__u32)mids[i];

			tg_model_name_key(&mk, cfg.models[i]);
			if (bpf_map_update_elem(bpf_map__fd(t->skel->maps.tg_models), &mk, &mid, 0))
				die("tg_models");
		}
	}
	tg_quota_build(&q, &cfg, NULL);
	id = 0;
	if (bpf_map_update_elem(bpf_map__fd(t->skel->maps.tg_quotas), &id, &q, 0))
		die("tg_quotas");
	if (t->conf == TELEMETRY)
		return;
	tg_quota_build(&q, &cfg, ce);
	id = CIDR_QID;
	tg_quota_lpm_key(&lk, ce);
	if (bpf_map_update_elem(bpf_map__fd(t->skel->maps.tg_quotas), &id, &q, 0) ||
	    bpf_map_update_elem(bpf_map__fd(t->skel->maps.tg_cidrs), &lk, &id, 0))
		die("CIDR entry");
	if (t->conf == NOKEY)
		return;
	tg_quota_build(&q, &cfg, ke);
	id = KEY_QID;
	h = tg_apikey_hash(ke->api_key, strlen(ke->api_key));
	if (bpf_map_update_elem(bpf_map__fd(t->skel->maps.tg_quotas), &id, &q, 0) ||
	    bpf_map_update_elem(bpf_map__fd(t->skel->maps.tg_apikeys), &h, &id, 0))
		die("API-key entry");
}

/* A connection's handshake as the gateway completes it: the client's SYN
 * through the program fd (cg: a cgroup_skb one), the gateway's SYN-ACK
 * through tg_tc_egress, which records its ISN for the proof. */
static void handshake(const struct table *t, int fd, int cg, const char *saddr, uint16_t sport,
		      uint32_t seq)
{
	struct pkt p;

	mk(&p, (struct pkt_opts){ .saddr = saddr, .sport = sport, .seq = seq, .flags = F_SYN });
	run_as(fd, &p, 1, cg);
	mk(&p, (struct pkt_opts){ .saddr = "198.18.0.1", .daddr = saddr ? saddr : "198.18.0.2",
				  .sport = 8080, .dport = sport ? sport : 40000, .seq = SRV_ISN,
				  .ack = seq + 1, .flags = F_SYN | F_ACK });
	run(t->pfd[PG_TC_EG], &p, 1);
}

static void table_load(struct table *t, unsigned n, enum conf conf)
{
	__u32 port = 8080;
	__u8 on = 1;
	struct pkt p;
	double t0;

	t->n = n;
	t->n_synth = n - N_BENCH;
	t->conf = conf;
	t->skel = tollgate_bpf__open();
	if (!t->skel)
		die("open tollgate_bpf");
	t->skel->rodata->tg_nr_cpus = (__u32)ncpus;
	bpf_map__set_max_entries(t->skel->maps.tg_clients, n + n / 8);
	bpf_map__set_max_entries(t->skel->maps.tg_addr_buckets, n + n / 8);
	bpf_map__set_max_entries(t->skel->maps.tg_conns, CONNS_MAX);
	if (tollgate_bpf__load(t->skel))
		die("load tollgate_bpf (root needed)");
	t->fd = bpf_program__fd(t->skel->progs.tg_tc_ingress);
	t->pfd[PG_TC_IN] = t->fd;
	t->pfd[PG_CG_IN] = bpf_program__fd(t->skel->progs.tg_cgroup_ingress);
	t->pfd[PG_TC_EG] = bpf_program__fd(t->skel->progs.tg_tc_egress);
	t->pfd[PG_CG_EG] = bpf_program__fd(t->skel->progs.tg_cgroup_egress);
	if (bpf_map_update_elem(bpf_map__fd(t->skel->maps.tg_ports), &port, &on, 0))
		die("map setup");
	configure(t);
	t0 = now_ns();
	t->resident = populate(bpf_map__fd(t->skel->maps.tg_clients), n, sizeof(struct tg_addr), 0,
			       ((bpf_map__value_size(t->skel->maps.tg_clients) + 7) & ~(size_t)7) *
				       (size_t)copies(t->skel->maps.tg_clients),
			       copies(t->skel->maps.tg_clients) == 1 &&
					       bpf_map__value_size(t->skel->maps.tg_clients) ==
						       sizeof(struct tg_client) ? bench_cpu : -1);
	t->buckets_resident = populate(bpf_map__fd(t->skel->maps.tg_addr_buckets), n,
				       sizeof(struct tg_bucket_key),
				       offsetof(struct tg_bucket_key, addr), sizeof(struct tg_bucket), -1);
	t->populate_s = (now_ns() - t0) / 1e9;
	for (unsigned i = 0; i < N_BENCH; i++)
		if (client_sum(t, bench_clients[i], 0) == (__u64)-1) {
			fprintf(stderr, "pktcost: client %s evicted while populating\n", bench_clients[i]);
			exit(1);
		}
	/* The plain segments' connection: SYN, then its request start. */
	handshake(t, t->fd, 0, NULL, 0, 1000);
	mk(&p, (struct pkt_opts){ .seq = 1001, .flags = F_ACK | F_PSH, .payload = get_req,
				  .len = strlen(get_req) });
	run(t->fd, &p, 1);
	/* The request starts' connection. */
	handshake(t, t->fd, 0, "198.18.0.4", 0, 7000);
	req_same(t, 0, 0, &p);
	run(t->fd, &p, 1);
	/* The socket-level program's own request-start connection (the
	 * socket-level paths run in the telemetry configuration only). */
	if (conf == TELEMETRY) {
		handshake(t, t->pfd[PG_CG_IN], 1, "198.18.0.4", 40003, 7000);
		cg_req_same(t, 0, 0, &p);
		run_as(t->pfd[PG_CG_IN], &p, 1, 1);
	}
	/* The keyed request starts' connections. */
	for (int j = 0; j < N_KEYED; j++) {
		handshake(t, t->fd, 0, "198.18.0.5", (uint16_t)(40001 + j), 9000);
		key_pkt(j, 0, &p);
		run(t->fd, &p, 1);
	}
}

static int on_event(void *ctx, void *data, size_t len)
{
	(void)ctx, (void)data, (void)len;
	return 0;
}

/* Denial events the program sent (none expected). */
static int events_sent(const struct table *t)
{
	struct ring_buffer *rb = ring_buffer__new(bpf_map__fd(t->skel->maps.tg_events), on_event,
						  NULL, NULL);
	int n;

	if (!rb)
		die("ring_buffer__new");
	n = ring_buffer__consume(rb);
	ring_buffer__free(rb);
	return n;
}

static int bucket_check(const struct table *t, const char *what, const struct tg_bucket *b,
			__u64 want)
{
	if (b->allowed == want && !b->denied && !b->would_deny && !b->conns_denied)
		return 0;
	fprintf(stderr, "pktcost: %u clients, %s: %s bucket: %llu allowed (want %llu), "
		"%llu denied, %llu would-deny, %llu connections denied\n", t->n, conf_name[t->conf], what,
		(unsigned long long)b->allowed, (unsigned long long)want,
		(unsigned long long)b->denied, (unsigned long long)b->would_deny,
		(unsigned long long)b->conns_denied);
	return 1;
}

/* The timed paths were the ones named: every new SYN and request start was
 * counted, no retransmission was, no client was created. In enforcement,
 * nothing was dropped (run() checks every verdict as it goes), nothing
 * was denied, and each request start was charged to the bucket it belongs
 * to: keyed ones to the key's, the others to their address's. */
static int table_check(const struct table *t)
{
	const __u64 loops = (__u64)LOOP_N * LOOP_ROUNDS;
	const char *conf = conf_name[t->conf];
	__u64 syns = client_sum(t, "198.18.0.3", offsetof(struct tg_client, syns));
	__u64 reqs = client_sum(t, "198.18.0.4", offsetof(struct tg_client, requests));
	__u64 kreqs = client_sum(t, "198.18.0.5", offsetof(struct tg_client, requests));
	__u64 plain_reqs = client_sum(t, "198.18.0.2", offsetof(struct tg_client, requests));
	__u64 first_reqs = client_sum(t, "198.18.0.6", offsetof(struct tg_client, requests));
	__u64 first_syns = client_sum(t, "198.18.0.6", offsetof(struct tg_client, syns));
	__u64 unseen_reqs = client_sum(t, "198.18.0.7", offsetof(struct tg_client, requests));
	struct tg_global g = global_sum(t);
	struct tg_bucket b;
	int bad = 0, ev;

	/* SYNs are timed in the telemetry configuration only, and so are the
	 * socket-level request starts (their own connection, same client) */
	__u64 want_reqs = (t->conf == TELEMETRY ? 2 : 1) * (1 + loops);

	if (syns != (t->conf == TELEMETRY ? 1 + loops : 0) || reqs != want_reqs) {
		fprintf(stderr, "pktcost: %u clients, %s: %llu SYNs and %llu requests counted, "
			"not %llu and %llu\n", t->n, conf, (unsigned long long)syns,
			(unsigned long long)reqs,
			(unsigned long long)(t->conf == TELEMETRY ? 1 + loops : 0),
			(unsigned long long)want_reqs);
		bad = 1;
	}
	if (t->conf == TELEMETRY) {
		/* responses to 198.18.0.2: each egress program ran the
		 * response start and the plain segment 1000 + ROUNDS * REPEAT
		 * times. The connection had one request pending, so the first
		 * response start is its one response (2xx) and its one time to
		 * first byte; every repeat is a retransmitted status line, no
		 * second response. Every packet counts. */
		static struct tg_resp rv[TG_MAX_CPUS];
		const __u64 runs = 1000 + (__u64)ROUNDS * REPEAT;
		struct tg_resp r;
		struct tg_addr k;
		__u64 ttfb = 0;

		memset(&r, 0, sizeof(r));
		tg_addr_parse("198.18.0.2", &k);
		if (!bpf_map_lookup_elem(bpf_map__fd(t->skel->maps.tg_responses), &k, rv))
			tg_resp_aggregate(&r, rv, sizeof(rv[0]),
					  copies(t->skel->maps.tg_responses));
		for (int i = 0; i < TG_LAT_BUCKETS; i++)
			ttfb += r.lat_hist[i];
		if (r.responses != 1 || r.status[TG_ST_2XX] != 1 || r.packets != 4 * runs ||
		    ttfb != 1) {
			fprintf(stderr, "pktcost: %u clients, %s: %llu responses (%llu 2xx), %llu "
				"response packets, %llu times to first byte; want 1, 1, %llu, 1\n",
				t->n, conf, (unsigned long long)r.responses,
				(unsigned long long)r.status[TG_ST_2XX], (unsigned long long)r.packets,
				(unsigned long long)ttfb, (unsigned long long)(4 * runs));
			bad = 1;
		}
	}
	if (kreqs != N_KEYED * (1 + loops)) {
		fprintf(stderr, "pktcost: %u clients, %s: %llu keyed requests counted, not %llu\n",
			t->n, conf, (unsigned long long)kreqs,
			(unsigned long long)(N_KEYED * (1 + loops)));
		bad = 1;
	}
	/* each first start after its own handshake, in every configuration */
	if (first_reqs != loops || first_syns != loops) {
		fprintf(stderr, "pktcost: %u clients, %s: 198.18.0.6: %llu first request starts "
			"and %llu SYNs counted, not %llu each\n", t->n, conf,
			(unsigned long long)first_reqs, (unsigned long long)first_syns,
			(unsigned long long)loops);
		bad = 1;
	}
	/* unproven starts: timed in the telemetry configuration only, counted */
	if (unseen_reqs != (t->conf == TELEMETRY ? loops : 0)) {
		fprintf(stderr, "pktcost: %u clients, %s: 198.18.0.7: %llu unproven request starts "
			"counted, not %llu\n", t->n, conf, (unsigned long long)unseen_reqs,
			(unsigned long long)(t->conf == TELEMETRY ? loops : 0));
		bad = 1;
	}
	if (plain_reqs != 1) {
		fprintf(stderr, "pktcost: %u clients, %s: plain segments were counted as requests\n",
			t->n, conf);
		bad = 1;
	}
	if (g.new_clients != 0 || g.addr_buckets != 0) {
		fprintf(stderr, "pktcost: %u clients, %s: %llu clients and %llu address buckets were created\n",
			t->n, conf, (unsigned long long)g.new_clients,
			(unsigned long long)g.addr_buckets);
		bad = 1;
	}
	if (t->conf == TELEMETRY)
		return bad;
	/* keyed requests go to the key's bucket, or without the key entry
	 * to their address's */
	b = bucket_get(t, KEY_QID, NULL);
	bad |= bucket_check(t, "the API key's", &b, t->conf == ENFORCEMENT ? N_KEYED * (1 + loops) : 0);
	b = bucket_get(t, 0, "198.18.0.5");
	bad |= bucket_check(t, "198.18.0.5's quotas.default", &b,
			    t->conf == ENFORCEMENT ? 0 : N_KEYED * (1 + loops));
	b = bucket_get(t, 0, "198.18.0.4");
	bad |= bucket_check(t, "198.18.0.4's quotas.default", &b, 1 + loops);
	/* proven by its handshake, so charged (an unproven start would have
	 * been dropped, which ends the run) */
	b = bucket_get(t, 0, "198.18.0.6");
	bad |= bucket_check(t, "198.18.0.6's quotas.default", &b, loops);
	b = bucket_get(t, 0, "198.18.0.2");
	bad |= bucket_check(t, "198.18.0.2's quotas.default", &b, 1);
	b = bucket_get(t, CIDR_QID, NULL);
	bad |= bucket_check(t, "the CIDR entry's", &b, 0);
	ev = events_sent(t);
	if (g.fragments_dropped || ev) {
		fprintf(stderr, "pktcost: %u clients, %s: %llu fragments dropped, %d denial events\n",
			t->n, conf, (unsigned long long)g.fragments_dropped, ev);
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

static void print_markdown(FILE *f, double trivial, double tmin, double tmax)
{
	fprintf(f, "| path | clients | ns/packet | × trivial | method |\n");
	fprintf(f, "|---|---:|---:|---:|---|\n");
	fprintf(f, "| trivial program (baseline) | – | %.1f | 1.00 | repeat: warm |\n", trivial);
	for (int j = 0; j < N_PATHS; j++) {
		int pi = row_order[j];

		if (paths[pi].flags & (PF_KEYED | PF_SOCK))
			continue;
		for (int t = 0; t < nsizes; t++)
			fprintf(f, "| %s | %u | %.1f | %.2f | %s |\n", paths[pi].name, tables[t].n,
				res[pi][t].ns, res[pi][t].ns / trivial, method_label(paths[pi].method));
	}
	fprintf(f, "\nTrivial program: median %.1f ns of %d runs (%.1f–%.1f).\n", trivial, ntriv,
		tmin, tmax);
	fprintf(f, "Client tables:");
	for (int t = 0; t < nsizes; t++)
		fprintf(f, " %u clients (%u resident, %u address buckets, populated in %.2f s)%s",
			tables[t].n, tables[t].resident, tables[t].buckets_resident,
			tables[t].populate_s, t + 1 < nsizes ? ";" : ".\n");
}

static double triv_ns; /* the trivial program's warm figure */

/* The figure of path pi on table t in the enforcement table: loop rows
 * kernel-timed (the trivial program's warm figure plus the kernel's own
 * per-run durations over it), where the wall clock's syscall noise would
 * decide a ratio of two cold figures; the others as in the main table. */
static double enf_ns(int pi, int t)
{
	return paths[pi].method == LOOP ? triv_ns + res[pi][t].kernel_extra_ns : res[pi][t].ns;
}

static const char *enf_method_label(enum method m)
{
	return m == LOOP ? "loop: cold, kernel-timed" : method_label(m);
}

static double ratio2(double a, double b)
{
	return round(a / b * 100) / 100; /* judged as printed, to two decimals */
}

/* Lists the rows that missed the target in enforcement and are (scan = 1)
 * or are not (scan = 0) new request starts, and, when nokey, miss it without
 * the API-key entry as well. Returns how many. */
static int list_misses(FILE *f, double target, int scan, int nokey)
{
	int n = 0;

	for (int j = 0; j < N_PATHS; j++) {
		int pi = row_order[j];

		if (!(paths[pi].flags & PF_ENF) || !(paths[pi].flags & PF_SCAN) != !scan)
			continue;
		for (int s = 0; s < nsizes; s++) {
			double t = enf_ns(pi, s), e = enf_ns(pi, ENFORCEMENT * nsizes + s),
			       k = enf_ns(pi, NOKEY * nsizes + s);

			if (ratio2(e, t) <= target || (nokey && ratio2(k, t) <= target))
				continue;
			if (f)
				fprintf(f, "%s%s, %u clients, %s (%.2f×%s)", n ? "; " : "",
					paths[pi].name, tables[s].n, method_name(paths[pi].method),
					nokey ? k / t : e / t, nokey ? " without the key entry" : "");
			n++;
		}
	}
	return n;
}

/* Enforcement next to telemetry, path by path and size by size; then where
 * the extra cost of a new request start goes, from the derived rows, and
 * why rows missed the target. */
static void print_enforce_markdown(FILE *f, double trivial, double target)
{
	static const int news[] = { P_REQ_NEW_D, P_K100_NEW_D, P_K900_NEW_D };
	const size_t sizes[] = { strlen(get_req), key_len[0], key_len[1] };
	int miss = 0, rows = 0, scan_miss, scan_left, other_miss;
	double wmin = 1e9, wmax = 0;

	fprintf(f, "| path | clients | method | telemetry only: ns (× trivial) "
		"| enforcement: ns (× trivial) | enforcement ÷ telemetry | ≤ %.1f× "
		"| enforcement without the API-key entry: ns (÷ telemetry) |\n", target);
	fprintf(f, "|---|---:|---|---:|---:|---:|---|---:|\n");
	for (int j = 0; j < N_PATHS; j++) {
		int pi = row_order[j];

		if (!(paths[pi].flags & PF_ENF))
			continue;
		for (int s = 0; s < nsizes; s++) {
			double tn = enf_ns(pi, s), en = enf_ns(pi, ENFORCEMENT * nsizes + s),
			       nn = enf_ns(pi, NOKEY * nsizes + s), ratio = ratio2(en, tn);

			miss += ratio > target;
			rows++;
			if (paths[pi].method == REPEATED && !(paths[pi].flags & PF_SCAN)) {
				wmin = ratio < wmin ? ratio : wmin;
				wmax = ratio > wmax ? ratio : wmax;
			}
			fprintf(f, "| %s | %u | %s | %.1f (%.2f) | %.1f (%.2f) | %.2f | %s | %.1f (%.2f) |\n",
				paths[pi].name, tables[s].n, enf_method_label(paths[pi].method), tn,
				tn / trivial, en, en / trivial, ratio, ratio <= target ? "yes" : "**no**",
				nn, nn / tn);
		}
	}
	fprintf(f, "\nKeyed requests: `POST` with the configured key in `Authorization: Bearer …`, "
		"the header line beginning at byte %u (%zu B payload) and at byte %u (%zu B "
		"payload); `identity.header_scan_bytes` %u (the default).\n", key_at[0],
		key_len[0], key_at[1], key_len[1], cfg.header_scan_bytes);
	fprintf(f, "Tables of each configuration:");
	for (int s = 0; s < nsizes; s++)
		fprintf(f, " %u clients (%u resident, %u address buckets)%s", tables[s].n,
			tables[s].resident, tables[s].buckets_resident, s + 1 < nsizes ? ";" : ".\n");
	if (miss)
		fprintf(f, "\nTarget ≤ %.1f× **missed** on %d of %d rows.\n", target, miss, rows);
	else
		fprintf(f, "\nTarget ≤ %.1f× met on all %d rows.\n", target, rows);
	fprintf(f, "\nWhere a new request start's extra cost goes (derived: warm estimate, the "
		"mean over the %d client-table sizes):\n\n", nsizes);
	fprintf(f, "| new request start | payload | telemetry only | + quota bucket (CIDR lookup, "
		"GCRA compare-and-swap) | + API-key header scan | enforcement |\n");
	fprintf(f, "|---|---:|---:|---:|---:|---:|\n");
	for (int k = 0; k < 3; k++) {
		double tn = 0, en = 0, nn = 0;

		for (int s = 0; s < nsizes; s++) {
			tn += res[news[k]][s].ns / nsizes;
			en += res[news[k]][ENFORCEMENT * nsizes + s].ns / nsizes;
			nn += res[news[k]][NOKEY * nsizes + s].ns / nsizes;
		}
		fprintf(f, "| %s | %zu B | %.0f ns | %+.0f ns | %+.0f ns | %.0f ns (%.2f×) |\n",
			k == 0 ? "`GET /v1/models`, no key" : k == 1 ? "API key at byte 100"
							      : "API key at byte 900",
			sizes[k], tn, nn - tn, en - nn, en, en / tn);
	}
	fprintf(f, "\n");
	if (!miss)
		return;
	scan_miss = list_misses(NULL, target, 1, 0);
	scan_left = list_misses(NULL, target, 1, 1);
	other_miss = list_misses(NULL, target, 0, 0);
	fprintf(f, "Cause of the misses:");
	if (scan_miss) {
		fprintf(f, " %d of them are new request starts, and what they pay for is the "
			"API-key header scan (kern/scan.bpf.h), which runs on every new request start "
			"once any API-key entry is configured: it copies min(segment payload, "
			"`header_scan_bytes`) bytes, searches them for line ends 8 bytes at a time, "
			"matches each header line as it finds it and looks its value up among the "
			"configured keys, stopping at the first one. Without the API-key entry, %d of these "
			"%d rows are within %.1f× of telemetry", scan_miss, scan_miss - scan_left,
			scan_miss, target);
		if (scan_left) {
			fprintf(f, " (not: ");
			list_misses(f, target, 1, 1);
			fprintf(f, ")");
		}
		fprintf(f, ".");
	}
	if (other_miss) {
		fprintf(f, " %d %s on paths that never scan and run the same code in both "
			"configurations (", other_miss, other_miss == 1 ? "is" : "are");
		list_misses(f, target, 0, 0);
		fprintf(f, "): the cold loop's spread between tables, tens of ns on a figure of one "
			"or two hundred; the warm rows of the same paths are at %.2f–%.2f×.", wmin, wmax);
	}
	fprintf(f, "\n");
}

/* The socket-level path next to the TC path, same packets, same tables,
 * same run: ingress (tg_cgroup_ingress against tg_tc_ingress), then
 * responses (tg_tc_egress and tg_cgroup_egress against the trivial
 * program, and one against the other). Loop rows kernel-timed (enf_ns). */
static void print_socket_markdown(FILE *f, double trivial)
{
	static const int in[][2] = { { P_PLAIN, P_CG_PLAIN }, { P_REQ, P_CG_REQ },
				     { P_REQ_L, P_CG_REQ_L }, { P_REQ_NEW_L, P_CG_REQ_NEW_L },
				     { P_REQ_NEW_D, P_CG_REQ_NEW_D } };
	static const int out[][2] = { { P_RESP_START, P_CG_RESP_START },
				      { P_RESP_PLAIN, P_CG_RESP_PLAIN } };
	double lo = 1e9, hi = 0, wlo = 1e9, whi = 0;

	fprintf(f, "| path | clients | method | TC: `tg_tc_ingress` ns (× trivial) "
		"| socket level: `tg_cgroup_ingress` ns (× trivial) | socket ÷ TC |\n");
	fprintf(f, "|---|---:|---|---:|---:|---:|\n");
	for (size_t j = 0; j < sizeof(in) / sizeof(in[0]); j++) {
		const struct path *p = &paths[in[j][1]];

		for (int s = 0; s < nsizes; s++) {
			double tn = enf_ns(in[j][0], s), cn = enf_ns(in[j][1], s), r = cn / tn;

			lo = r < lo ? r : lo;
			hi = r > hi ? r : hi;
			if (p->method == REPEATED) {
				wlo = r < wlo ? r : wlo;
				whi = r > whi ? r : whi;
			}
			fprintf(f, "| %s | %u | %s | %.1f (%.2f) | %.1f (%.2f) | %.2f |\n", p->name,
				tables[s].n, enf_method_label(p->method), tn, tn / trivial, cn,
				cn / trivial, r);
		}
	}
	fprintf(f, "\nSocket level ÷ TC: %.2f–%.2f× over all rows, %.2f–%.2f× on the warm "
		"(repeat) rows.\n\n", lo, hi, wlo, whi);
	fprintf(f, "| response path | clients | `tg_tc_egress` ns (× trivial) "
		"| `tg_cgroup_egress` ns (× trivial) | cgroup ÷ TC egress |\n");
	fprintf(f, "|---|---:|---:|---:|---:|\n");
	fprintf(f, "| trivial program (baseline) | – | %.1f (1.00) | – | – |\n", trivial);
	for (size_t j = 0; j < sizeof(out) / sizeof(out[0]); j++)
		for (int s = 0; s < nsizes; s++) {
			double tn = res[out[j][0]][s].ns, cn = res[out[j][1]][s].ns;

			fprintf(f, "| %s | %u | %.1f (%.2f) | %.1f (%.2f) | %.2f |\n",
				paths[out[j][0]].name, tables[s].n, tn, tn / trivial, cn,
				cn / trivial, cn / tn);
		}
	fprintf(f, "\nResponse start: %zu B payload (`HTTP/1.1 200 OK` and three headers); "
		"response segment: 1400 B of body; both repeat: warm, from 198.18.0.1:8080 to "
		"a client whose request was already answered (the status line looks its "
		"connection up, no request pending).\n", strlen(ok_resp));
}

static void print_json(FILE *f, double trivial, double tmin, double tmax, int cpu)
{
	int first = 1;

	fprintf(f, "{\"repeat\":%d,\"rounds\":%d,\"loop_n\":%d,\"loop_rounds\":%d,\"block\":%d,"
		"\"cpu\":%d,\"possible_cpus\":%d,\"trivial_ns\":%.2f,\"trivial_min_ns\":%.2f,"
		"\"trivial_max_ns\":%.2f,\"enforcement\":{\"mode\":\"enforce\","
		"\"default\":{\"requests_per_sec\":%u,\"burst\":%u},\"cidr\":\"%s/24\","
		"\"api_key_entries\":1,\"header_scan_bytes\":%u,\"key_at\":[%u,%u],"
		"\"keyed_payload_bytes\":[%zu,%zu]},\"tables\":[",
		REPEAT, ROUNDS, LOOP_N, LOOP_ROUNDS, BLOCK, cpu, ncpus, trivial, tmin, tmax,
		ENF_LIMIT, ENF_LIMIT, CIDR_NET, cfg.header_scan_bytes, key_at[0], key_at[1],
		key_len[0], key_len[1]);
	for (int t = 0; t < ntables; t++)
		fprintf(f, "%s{\"clients\":%u,\"config\":\"%s\",\"resident\":%u,"
			"\"address_buckets\":%u,\"populate_s\":%.3f}", t ? "," : "", tables[t].n,
			conf_name[tables[t].conf], tables[t].resident, tables[t].buckets_resident, tables[t].populate_s);
	fprintf(f, "],\"results\":[");
	for (int j = 0; j < N_PATHS; j++) {
		int pi = row_order[j], ix[MAX_TABLES], n = path_tables(pi, ix);
		const struct path *p = &paths[pi];

		for (int k = 0; k < n; k++) {
			int t = ix[k];
			const struct result *r = &res[pi][t];

			fprintf(f, "%s{\"path\":\"%s\",\"program\":\"%s\",\"clients\":%u,"
				"\"config\":\"%s\",\"method\":\"%s\",\"ns\":%.2f,\"ratio\":%.3f",
				first ? "" : ",", p->name, prog_name[p->prog], tables[t].n,
				conf_name[tables[t].conf],
				method_name(p->method), r->ns, r->ns / trivial);
			first = 0;
			if (tables[t].conf != TELEMETRY)
				fprintf(f, ",\"over_telemetry\":%.3f", /* as the enforcement table */
					enf_ns(pi, t) / enf_ns(pi, t % nsizes));
			if (p->method == DERIVED)
				fprintf(f, ",\"repeat_of\":\"%s\",\"kernel_loop_over_control_ns\":%.2f",
					paths[p->rep_ctl].name, r->extra_ns);
			if (p->method == LOOP)
				fprintf(f, ",\"kernel_over_trivial_ns\":%.2f,\"kernel_timed_ns\":%.2f",
					r->kernel_extra_ns, trivial + r->kernel_extra_ns);
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
	int json = 0, cpu, bad = 0, shared = 0;
	const char *json_out = NULL, *enforce_md = NULL, *socket_md = NULL;
	double trivial, tmin, tmax;
	cpu_set_t set;

	nsizes = 3;
	cpu = (int)sysconf(_SC_NPROCESSORS_ONLN) - 1;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--json")) {
			json = 1;
		} else if (!strcmp(argv[i], "--json-out") && i + 1 < argc) {
			json_out = argv[++i];
		} else if (!strcmp(argv[i], "--enforce-md") && i + 1 < argc) {
			enforce_md = argv[++i];
		} else if (!strcmp(argv[i], "--socket-md") && i + 1 < argc) {
			socket_md = argv[++i];
		} else if (!strcmp(argv[i], "--shared-client")) {
			shared = 1;
		} else if (!strcmp(argv[i], "--routes")) {
			with_routes = 1;
		} else if (!strcmp(argv[i], "--models")) {
			with_models = 1;
		} else if (!strcmp(argv[i], "--body")) {
			get_req = post_chat;
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
			fprintf(stderr, "usage: pktcost [--json] [--json-out FILE] [--enforce-md FILE] "
				"[--socket-md FILE] [--sizes N,...] [--cpu N] [--shared-client] [--routes]\n"
				"               [--body] [--models]\n"
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
	bench_cpu = cpu;
	if (sched_setaffinity(0, sizeof(set), &set))
		die("sched_setaffinity");
	memset(xs, 'x', sizeof(xs));
	build_key_reqs();
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

	if (shared) {
		/* one telemetry table of the first size: what --shared-client needs */
		table_load(&tables[0], sizes[0], (enum conf)0);
		ntables = 1;
		return bench_shared(&tables[0]);
	}
	for (ntables = 0; ntables < N_CONF * nsizes; ntables++) {
		enum conf c = (enum conf)(ntables / nsizes);

		fprintf(stderr, "pktcost: loading a table of %u clients (%s)\n",
			sizes[ntables % nsizes], conf_name[c]);
		table_load(&tables[ntables], sizes[ntables % nsizes], c);
	}
	for (int pi = 0; pi < N_PATHS; pi++) {
		if (paths[pi].method == DERIVED)
			continue;
		fprintf(stderr, "pktcost: %s (%s%s, %s)\n", paths[pi].name, method_name(paths[pi].method),
			paths[pi].flags & PF_ENF ? ", both configurations" : "", prog_name[paths[pi].prog]);
		if (paths[pi].method == REPEATED)
			bench_repeat(pi);
		else
			bench_loop(pi);
	}
	for (int t = 0; t < ntables; t++)
		bad |= table_check(&tables[t]);

	trivial = median(triv_samples, ntriv);
	triv_ns = trivial;
	qsort(triv_samples, (size_t)ntriv, sizeof(double), cmp_d);
	tmin = triv_samples[0];
	tmax = triv_samples[ntriv - 1];
	for (int pi = 0; pi < N_PATHS; pi++)
		for (int t = 0; t < ntables; t++)
			if (paths[pi].method == LOOP)
				res[pi][t].ns = trivial + res[pi][t].extra_ns;
	for (int pi = 0; pi < N_PATHS; pi++) {
		const struct path *p = &paths[pi];
		int ix[MAX_TABLES], n = path_tables(pi, ix);

		for (int k = 0; k < n && p->method == DERIVED; k++) {
			int t = ix[k];

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
	if (json) {
		print_json(stdout, trivial, tmin, tmax, cpu);
	} else {
		print_markdown(stdout, trivial, tmin, tmax);
		if (!enforce_md)
			printf("\n");
	}
	if (enforce_md || !json) {
		FILE *f = enforce_md ? fopen(enforce_md, "w") : stdout;

		if (!f)
			die(enforce_md);
		print_enforce_markdown(f, trivial, 1.5);
		if (f != stdout && fclose(f))
			die(enforce_md);
	}
	if (socket_md || !json) {
		FILE *f = socket_md ? fopen(socket_md, "w") : stdout;

		if (!f)
			die(socket_md);
		if (f == stdout)
			printf("\n");
		print_socket_markdown(f, trivial);
		if (f != stdout && fclose(f))
			die(socket_md);
	}
	for (int t = 0; t < ntables; t++)
		tollgate_bpf__destroy(tables[t].skel);
	trivial_bpf__destroy(triv);
	free(loop_pkts);
	if (bad)
		fprintf(stderr, "pktcost: checks failed\n");
	return bad;
}
