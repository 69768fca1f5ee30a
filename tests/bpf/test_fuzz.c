/* The TC ingress program (and cgroup_skb ingress on a share) run on a
 * seeded stream of well-formed flows, mutated frames and random bytes.
 * After every packet: an uncounted well-formed packet (another port, UDP,
 * a fragment) changes no client and passes, save a first fragment toward
 * the gateway port in enforce mode; a mutated or random frame is dropped
 * exactly when it is counted as a dropped malformed frame or fragment
 * (enforce) and never in monitor mode; a segment of an exempt or
 * high-limit client always passes. Every few thousand packets: no counter
 * goes down, requests and SYNs <= packets, payload <= bytes. At the end:
 * SYNs, requests, packets, bytes and every bucket equal the model of the
 * flows sent. TG_FUZZ_SEED reproduces a run; TG_FUZZ_PACKETS sets its
 * length. Needs root. */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "apikey.h"
#include "config/config.h"
#include "harness.h"
#include "bpf/quota_plan.h"
#include "lib/addr.h"
#include "lib/keyhash.h"

#define GW_PORT 8080
#define Q_EXEMPT 1
#define Q_TIGHT 2
#define Q_KEY 3
#define EXEMPT_KEY "sk-fuzz-exempt-0123456789"
#define N_PER_KIND 8 /* per kind: 4 IPv4, 4 IPv6 */

enum kind { K_EXEMPT, K_HIGH, K_TIGHT, K_COUNT };

struct client {
	char addr[48];
	char key[48]; /* its per-client key: the /64 of an IPv6 address */
	int v6, kind;
	uint16_t next_port;
	uint64_t syns, requests, packets, bytes, payload;
	uint64_t charged; /* request starts its address's quota was asked about */
	struct tg_client_view last;
	int seen;
};

static struct tg_config cfg;
static struct client clients[K_COUNT * N_PER_KIND];
static uint64_t rng_state;
static uint64_t tight_charged, exempt_charged, key_charged;
static long n_run, n_cgroup, n_flows, n_mut, n_rand, n_noise_wf, n_drop_ok, n_refused;
static int mode;

static uint64_t rnd(void)
{
	/* xorshift64*: fast, and the whole run follows from the seed */
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 0x2545F4914F6CDD1DULL;
}

static uint32_t below(uint32_t n)
{
	return n ? (uint32_t)(rnd() % n) : 0;
}

static int chance(uint32_t pct)
{
	return below(100) < pct;
}

static void hexdump(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		fprintf(stderr, "%02x%s", p[i], (i % 32 == 31) ? "\n" : "");
	fprintf(stderr, "\n");
}

static struct tg_global global_all(void)
{
	struct tg_global g[TG_MAX_CPUS], sum;
	__u32 zero = 0;

	memset(&sum, 0, sizeof(sum));
	cr_assert_eq(bpf_map_lookup_elem(h_map_fd("tg_global"), &zero, g), 0);
	for (int i = 0; i < ncpus; i++) {
		sum.malformed += g[i].malformed;
		sum.fragments += g[i].fragments;
		sum.fragments_dropped += g[i].fragments_dropped;
		sum.malformed_dropped += g[i].malformed_dropped;
		sum.new_clients += g[i].new_clients;
	}
	return sum;
}

#define REFUSED (-1000)

/* Runs a raw frame through a program; returns its verdict. The test run
 * itself refuses some short frames (EINVAL, an IP header it cannot read):
 * REFUSED when `may_refuse`, a failure otherwise. */
static int run_prog(int fd, const uint8_t *buf, size_t n, int may_refuse)
{
	DECLARE_LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = buf,
			    .data_size_in = (__u32)n, .repeat = 1);
	int rc = bpf_prog_test_run_opts(fd, &opts);

	if (rc && errno == EINVAL && may_refuse) {
		n_refused++;
		return REFUSED;
	}
	if (rc) {
		fprintf(stderr, "test run of %s failed (%s) on:\n",
			fd == bpf_program__fd(skel->progs.tg_tc_ingress) ? "tc" : "cgroup_skb",
			strerror(errno));
		hexdump(buf, n);
		cr_assert_fail("BPF_PROG_TEST_RUN of a %zu-byte frame", n);
	}
	n_run++;
	return (int)opts.retval;
}

static int run_tc(const uint8_t *buf, size_t n)
{
	return run_prog(bpf_program__fd(skel->progs.tg_tc_ingress), buf, n, 0);
}

static void apply_settings(void)
{
	struct tg_settings s;
	__u32 zero = 0;

	cfg.mode = mode;
	tg_settings_build(&s, &cfg, 1);
	cr_assert_eq(bpf_map_update_elem(h_map_fd("tg_settings"), &zero, &s, 0), 0);
}

static void quota(__u32 id, struct tg_limits l, int action)
{
	struct tg_quota_entry e;
	struct tg_quota q;

	memset(&e, 0, sizeof(e));
	e.limits = l;
	e.action = action;
	e.share = TG_SHARE_SHARED;
	snprintf(e.name, sizeof(e.name), "q%u", id);
	if (id == 0) {
		cfg.default_limits = l;
		cfg.default_action = action;
		tg_quota_build(&q, &cfg, NULL);
	} else {
		tg_quota_build(&q, &cfg, &e);
	}
	cr_assert_eq(bpf_map_update_elem(h_map_fd("tg_quotas"), &id, &q, 0), 0);
}

/* prefixlen in IPv6 bits: an IPv4 /24 is 96 + 24 */
static void cidr(const char *net, unsigned int prefixlen, __u32 id)
{
	struct tg_lpm_key k = { .prefixlen = prefixlen };

	cr_assert_eq(tg_addr_parse(net, &k.addr), 0);
	cr_assert_eq(bpf_map_update_elem(h_map_fd("tg_cidrs"), &k, &id, 0), 0);
}

static void configure(int m)
{
	__u32 id = Q_KEY;
	__u64 h;

	h_setup(); /* draws the key hash's key: hash after it */
	h = tg_apikey_hash(EXEMPT_KEY, strlen(EXEMPT_KEY));
	tg_config_defaults(&cfg);
	mode = m;
	/* quotas.default: limits no test traffic comes near */
	quota(0, (struct tg_limits){ 1000000, 1000000, 1ULL << 40, 1ULL << 40, 1000000, 0 },
	      TG_ACTION_DROP);
	quota(Q_EXEMPT, (struct tg_limits){ 1, 1, 1, 1, 1, 0 }, TG_ACTION_EXEMPT);
	quota(Q_TIGHT, (struct tg_limits){ 1, 2, 0, 0, 0, 0 }, TG_ACTION_DROP);
	quota(Q_KEY, (struct tg_limits){ 1, 1, 1, 1, 1, 0 }, TG_ACTION_EXEMPT);
	cidr("198.18.1.0", 96 + 24, Q_EXEMPT);
	cidr("fd00:1:1::", 48, Q_EXEMPT);
	cidr("198.18.2.0", 96 + 24, Q_TIGHT);
	cidr("fd00:2:2::", 48, Q_TIGHT);
	cr_assert_eq(bpf_map_update_elem(h_map_fd("tg_apikeys"), &h, &id, 0), 0);
	cfg.quotas[cfg.n_quotas].match = TG_MATCH_API_KEY; /* counted by settings */
	cfg.n_quotas++;
	apply_settings();

	for (int k = 0; k < K_COUNT; k++) {
		/* exempt, quotas.default, tight: one /24 and one /48 each */
		static const int net[] = { 1, 0, 2 };

		for (int i = 0; i < N_PER_KIND; i++) {
			struct client *c = &clients[k * N_PER_KIND + i];

			memset(c, 0, sizeof(*c));
			c->kind = k;
			c->v6 = i >= N_PER_KIND / 2;
			if (c->v6) {
				snprintf(c->addr, sizeof(c->addr), "fd00:%d:%d:%d::5", net[k], net[k], 10 + i);
				snprintf(c->key, sizeof(c->key), "fd00:%d:%d:%d::", net[k], net[k], 10 + i);
			} else {
				snprintf(c->addr, sizeof(c->addr), "198.18.%d.%d", net[k], 10 + i);
				memcpy(c->key, c->addr, sizeof(c->key));
			}
			c->next_port = 1024;
		}
	}
	tight_charged = exempt_charged = key_charged = 0;
	n_run = n_cgroup = n_flows = n_mut = n_rand = n_noise_wf = n_drop_ok = n_refused = 0;
}

static uint64_t seed_from_env(void)
{
	const char *s = getenv("TG_FUZZ_SEED");
	struct timespec ts;

	if (s && *s)
		return strtoull(s, NULL, 0);
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000003ULL ^ (uint64_t)ts.tv_nsec;
}

static long packets_from_env(long def)
{
	const char *s = getenv("TG_FUZZ_PACKETS");

	return s && *s ? strtol(s, NULL, 0) : def;
}

/* ---- invariants over the per-client map ---- */

static void check_view(const struct tg_client_view *v, const char *what)
{
	cr_assert(v->requests <= v->packets, "%s: requests %lu > packets %lu", what,
		  (unsigned long)v->requests, (unsigned long)v->packets);
	cr_assert(v->syns <= v->packets, "%s: syns > packets", what);
	cr_assert(v->payload_bytes <= v->bytes, "%s: payload_bytes > bytes", what);
}

static void check_monotonic(const struct tg_client_view *a, const struct tg_client_view *b,
			    const char *who)
{
	cr_assert(b->packets >= a->packets && b->bytes >= a->bytes &&
		  b->payload_bytes >= a->payload_bytes && b->syns >= a->syns &&
		  b->requests >= a->requests, "%s: a counter went down", who);
}

/* Every entry of the map, not only the modelled clients. */
static void check_all_clients(void)
{
	struct tg_client vals[TG_MAX_CPUS];
	struct tg_addr k, next;
	int fd = h_map_fd("tg_clients");
	void *prev = NULL;

	while (bpf_map_get_next_key(fd, prev, &next) == 0) {
		struct tg_client_view v;

		k = next;
		prev = &k;
		if (bpf_map_lookup_elem(fd, &k, vals))
			continue;
		tg_client_aggregate(&v, &k, vals, sizeof(vals[0]), ncpus);
		check_view(&v, "a client");
	}
}

static void sample(void)
{
	for (size_t i = 0; i < sizeof(clients) / sizeof(clients[0]); i++) {
		struct client *c = &clients[i];
		struct tg_client_view v;

		if (h_client(c->key, &v))
			continue;
		cr_assert(!c->seen || c->packets, "%s: present without packets", c->addr);
		check_view(&v, c->addr);
		if (c->seen)
			check_monotonic(&c->last, &v, c->addr);
		c->last = v;
		c->seen = 1;
	}
	check_all_clients();
}

/* ---- well-formed flows ---- */

struct flow {
	struct client *c;
	struct pkt_opts o;
	uint32_t isn;
};

static void flow_opts(struct flow *f)
{
	memset(&f->o, 0, sizeof(f->o));
	f->o.v6 = f->c->v6;
	f->o.saddr = f->c->addr;
	f->o.daddr = f->c->v6 ? "fd00:198:18::1" : "198.18.0.1";
	f->o.vlan_tags = (int)below(3);
	if (f->o.v6)
		f->o.v6_ext = (int)below(3);
	else
		f->o.ip_opt_words = chance(30) ? (int)below(11) : 0;
	f->o.dport = GW_PORT;
}

static void noise(void);

/* One segment of a modelled flow toward the gateway port. */
static int flow_seg(struct flow *f, uint32_t seq, uint8_t flags, const void *payload, size_t len)
{
	uint8_t buf[PKT_MAX];
	struct tg_global g0, g1;
	size_t n;
	int v;

	if (chance(40))
		noise();
	f->o.seq = seq;
	f->o.flags = flags;
	f->o.payload = payload;
	f->o.len = len;
	n = pkt_build(buf, sizeof(buf), &f->o);
	cr_assert(n > 0);
	g0 = global_all();
	v = run_tc(buf, n);
	g1 = global_all();
	cr_assert_eq(g1.malformed, g0.malformed, "a well-formed segment counted malformed");
	cr_assert_eq(g1.fragments, g0.fragments);
	f->c->packets++;
	f->c->bytes += n - 14 - 4 * (size_t)f->o.vlan_tags;
	f->c->payload += len;
	if (f->c->kind != K_TIGHT || mode == TG_MODE_MONITOR) {
		if (v != TC_PASS) {
			fprintf(stderr, "dropped (%s, kind %d):\n", f->c->addr, f->c->kind);
			hexdump(buf, n);
		}
		cr_assert_eq(v, TC_PASS, "a segment of %s dropped", f->c->addr);
	}
	return v;
}

static const char *methods[] = { "GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS" };
static const char *paths[] = { "/v1/chat/completions", "/v1/models", "/v1/embeddings", "/",
			       "/api/generate", "/v1/messages?beta=true" };

/* A request's head; *exempt set when it carries the exempt key. */
static size_t request_head(char *buf, size_t cap, int allow_key, int *exempt)
{
	size_t n;
	int k = (int)below(5);

	*exempt = 0;
	n = (size_t)snprintf(buf, cap, "%s %s%s HTTP/1.1\r\nHost: gw%u\r\n",
			     methods[below(sizeof(methods) / sizeof(methods[0]))],
			     paths[below(sizeof(paths) / sizeof(paths[0]))],
			     chance(30) ? "/x" : "", below(100));
	for (int i = 0; i < k && n < cap - 200; i++) {
		switch (below(5)) {
		case 0:
			n += (size_t)snprintf(buf + n, cap - n, "User-Agent: fuzz/%u\r\n", below(1000));
			break;
		case 1:
			if (allow_key && chance(50)) {
				n += (size_t)snprintf(buf + n, cap - n, "x-api-key: %s\r\n", EXEMPT_KEY);
				*exempt = 1;
			} else {
				n += (size_t)snprintf(buf + n, cap - n, "X-Api-Key: sk-unknown-%08x\r\n",
						      (unsigned)rnd());
			}
			break;
		case 2:
			n += (size_t)snprintf(buf + n, cap - n, "Authorization: Bearer sk-%016llx\r\n",
					      (unsigned long long)rnd());
			break;
		case 3:
			n += (size_t)snprintf(buf + n, cap - n, "Content-Type: application/json\r\n");
			break;
		default:
			n += (size_t)snprintf(buf + n, cap - n, "X-Pad: %.*s\r\n", (int)below(100),
					      "aaaaaaaaaabbbbbbbbbbccccccccccddddddddddeeeeeeeeee"
					      "ffffffffffgggggggggghhhhhhhhhhiiiiiiiiiijjjjjjjjjj");
			break;
		}
	}
	n += (size_t)snprintf(buf + n, cap - n, "\r\n");
	return n;
}

/* The gateway's SYN-ACK, through the egress program: its ISN is what the
 * client's segments acknowledge from now on (the kernel charges a request
 * start only on a connection whose client proved the handshake). */
static void syn_ack(struct flow *f)
{
	struct pkt_opts sa = { .v6 = f->o.v6, .saddr = f->o.daddr, .daddr = f->o.saddr,
			       .sport = GW_PORT, .dport = f->o.sport, .seq = (uint32_t)rnd(),
			       .ack = f->isn + 1, .flags = F_SYN | F_ACK };
	uint8_t buf[PKT_MAX];
	size_t n = pkt_build(buf, sizeof(buf), &sa);

	cr_assert(n > 0);
	run_prog(bpf_program__fd(skel->progs.tg_tc_egress), buf, n, 0);
	f->o.ack = sa.seq + 1;
}

static void run_flow(struct client *c)
{
	struct flow f = { .c = c, .isn = (uint32_t)rnd() };
	uint32_t seq;
	int v;
	int nreq = c->kind == K_TIGHT ? 1 : 1 + (int)below(3);
	char head[1024], body[1400];

	n_flows++;
	flow_opts(&f);
	f.o.sport = c->next_port++;
	if (c->next_port == 0)
		c->next_port = 1024;
	v = flow_seg(&f, f.isn, F_SYN, NULL, 0);
	c->syns++;
	if (chance(15))
		v = flow_seg(&f, f.isn, F_SYN, NULL, 0); /* retransmitted */
	if (v == TC_PASS)
		syn_ack(&f);
	seq = f.isn + 1;
	if (chance(50))
		flow_seg(&f, seq, F_ACK, NULL, 0);
	for (int r = 0; r < nreq; r++) {
		int exempt, nbody = (int)below(3);
		size_t hl = request_head(head, sizeof(head), 1, &exempt);

		v = flow_seg(&f, seq, F_ACK | F_PSH, head, hl);
		c->requests++;
		if (exempt)
			key_charged++;
		else if (c->kind == K_TIGHT)
			tight_charged++;
		else if (c->kind == K_EXEMPT)
			exempt_charged++;
		else
			c->charged++;
		if (exempt)
			cr_assert_eq(v, TC_PASS, "a request with the exempt key dropped (%s)", c->addr);
		if (c->kind != K_TIGHT && chance(15))
			flow_seg(&f, seq, F_ACK | F_PSH, head, hl); /* retransmitted */
		seq += (uint32_t)hl;
		for (int b = 0; b < nbody; b++) {
			size_t bl = 1 + below(sizeof(body) - 1);

			/* lower case: never a method token */
			for (size_t i = 0; i < bl; i++)
				body[i] = (char)('a' + below(26));
			body[0] = '{';
			flow_seg(&f, seq, F_ACK, body, bl);
			if (chance(10))
				flow_seg(&f, seq, F_ACK, body, bl); /* an old segment again */
			seq += (uint32_t)bl;
		}
	}
	if (chance(80))
		flow_seg(&f, seq, F_ACK | F_FIN, NULL, 0);
	else
		flow_seg(&f, seq, F_RST, NULL, 0);
}

/* ---- noise: packets that must not be counted ---- */

static struct client *any_client(void)
{
	return &clients[below(sizeof(clients) / sizeof(clients[0]))];
}

/* A well-formed packet the program must neither count nor drop: another
 * port, UDP, or a later fragment; or a first fragment, dropped in enforce
 * mode when toward the gateway port. */
static void noise_wellformed(void)
{
	struct client *c = any_client();
	struct tg_client_view a, b;
	struct tg_global g0, g1;
	struct pkt_opts o;
	uint8_t buf[PKT_MAX], payload[600];
	int had, n_before, v, expect_drop = 0, kind = (int)below(4);
	size_t n;

	memset(&o, 0, sizeof(o));
	o.v6 = c->v6;
	o.saddr = c->addr;
	o.vlan_tags = (int)below(3);
	if (o.v6)
		o.v6_ext = (int)below(3);
	else
		o.ip_opt_words = (int)below(11);
	o.sport = (uint16_t)(1024 + below(60000));
	o.dport = (uint16_t)(1 + below(65535));
	if (o.dport == GW_PORT)
		o.dport++;
	o.seq = (uint32_t)rnd();
	o.flags = (uint8_t)(rnd() & 0x3f);
	o.len = below(sizeof(payload));
	for (size_t i = 0; i < o.len; i++)
		payload[i] = (uint8_t)rnd();
	if (o.len >= 4 && chance(50))
		memcpy(payload, "GET ", 4);
	o.payload = payload;
	if (kind == 1) {
		o.udp = 1;
		if (chance(50))
			o.dport = GW_PORT;
	} else if (kind >= 2) {
		o.frag = kind == 2 ? 1 : 2;
		if (chance(50))
			o.dport = GW_PORT;
		expect_drop = mode == TG_MODE_ENFORCE && o.frag == 1 && o.dport == GW_PORT && !o.udp;
	}
	n = pkt_build(buf, sizeof(buf), &o);
	cr_assert(n > 0);
	had = h_client(c->key, &a) == 0;
	n_before = h_n_clients();
	g0 = global_all();
	v = run_tc(buf, n);
	g1 = global_all();
	n_noise_wf++;
	if (v != (expect_drop ? TC_DROP : TC_PASS)) {
		fprintf(stderr, "verdict %d on a well-formed uncounted packet:\n", v);
		hexdump(buf, n);
		cr_assert_fail("well-formed packet (kind %d, port %u): verdict %d", kind, o.dport, v);
	}
	cr_assert_eq(g1.malformed, g0.malformed, "well-formed packet counted malformed");
	cr_assert_eq(g1.fragments_dropped - g0.fragments_dropped, (uint64_t)expect_drop);
	cr_assert_eq(h_n_clients(), n_before, "an uncounted packet created a client");
	if (had) {
		cr_assert_eq(h_client(c->key, &b), 0);
		cr_assert(b.packets == a.packets && b.bytes == a.bytes && b.syns == a.syns &&
			  b.requests == a.requests, "an uncounted packet counted for %s", c->addr);
	}
}

/* Addresses of the mutated traffic: under quotas.default, apart from the
 * modelled clients. */
static const char *mut_v4[] = { "203.0.113.7", "203.0.113.8", "100.64.9.9" };
static const char *mut_v6[] = { "2001:db8:77::1", "2001:db8:78::1" };

/* Mutations that know the layout pkt_build writes: option bytes, the
 * extension header chain, the TCP data offset and flags. */
static void structured_mutation(uint8_t *buf, size_t n, const struct pkt_opts *o)
{
	size_t ip = 14 + 4 * (size_t)o->vlan_tags, l4 = ip + pkt_hdr_len(o) - (o->udp ? 8 : 20);

	if (l4 + 20 > n)
		return;
	switch (below(5)) {
	case 0: /* IPv4 options: random kinds and lengths */
		for (size_t i = ip + 20; !o->v6 && i < l4; i++)
			buf[i] = (uint8_t)(chance(50) ? below(8) : rnd());
		break;
	case 1: /* an IPv6 chain: random next headers and lengths */
		for (int i = 0; o->v6 && i < o->v6_ext; i++) {
			uint8_t *h = buf + ip + 40 + 8 * i;
			static const uint8_t nh[] = { 0, 43, 44, 50, 51, 59, 60, 135, 139, 140, 253, 6, 17 };

			h[0] = nh[below(sizeof(nh))];
			if (chance(30))
				h[1] = (uint8_t)below(4);
		}
		if (o->v6 && chance(50))
			buf[ip + 6] = (uint8_t)(chance(50) ? 0 : 60);
		break;
	case 2: /* TCP data offset */
		if (!o->udp)
			buf[l4 + 12] = (uint8_t)(below(16) << 4);
		break;
	case 3: /* TCP flags */
		if (!o->udp)
			buf[l4 + 13] = (uint8_t)rnd();
		break;
	default:
		break;
	}
}

static size_t mutated_frame(uint8_t *buf, size_t cap)
{
	struct pkt_opts o;
	char head[1024];
	uint8_t payload[1024];
	size_t n;
	int ex;

	memset(&o, 0, sizeof(o));
	o.v6 = chance(40);
	o.saddr = o.v6 ? mut_v6[below(2)] : mut_v4[below(3)];
	o.daddr = o.v6 ? "fd00:198:18::1" : "198.18.0.1";
	o.vlan_tags = (int)below(3);
	if (o.v6)
		o.v6_ext = (int)below(3);
	else
		o.ip_opt_words = (int)below(11);
	o.frag = chance(10) ? 1 + (int)below(2) : 0;
	o.udp = chance(5);
	o.sport = (uint16_t)(1024 + below(8));
	o.dport = chance(80) ? GW_PORT : (uint16_t)below(65536);
	o.seq = (uint32_t)below(4) * 1000;
	o.flags = chance(70) ? (uint8_t)(F_ACK | (chance(50) ? F_PSH : 0)) : (uint8_t)(rnd() & 0xff);
	if (chance(60)) {
		o.len = request_head(head, sizeof(head), 0, &ex);
		o.payload = head;
	} else {
		o.len = below(sizeof(payload));
		for (size_t i = 0; i < o.len; i++)
			payload[i] = (uint8_t)rnd();
		o.payload = payload;
	}
	o.bad_ihl = !o.v6 && chance(3);
	o.long_tot_len = chance(3);
	n = pkt_build(buf, cap, &o);
	cr_assert(n > 0);
	structured_mutation(buf, n, &o);
	/* then: bit flips, byte overwrites, inserts, deletes, truncation */
	for (int m = (int)below(6); m > 0; m--) {
		size_t at = below((uint32_t)n);

		switch (below(6)) {
		case 0:
			buf[at] ^= (uint8_t)(1u << below(8));
			break;
		case 1:
			buf[at] = (uint8_t)rnd();
			break;
		case 2: /* a header byte: the lengths, flags and offsets live there */
			at = 14 + below(80);
			if (at < n)
				buf[at] = (uint8_t)rnd();
			break;
		case 3:
			if (n < cap) {
				memmove(buf + at + 1, buf + at, n - at);
				buf[at] = (uint8_t)rnd();
				n++;
			}
			break;
		case 4:
			if (n > 15) {
				memmove(buf + at, buf + at + 1, n - at - 1);
				n--;
			}
			break;
		default:
			n = 14 + below((uint32_t)(n - 14) + 1);
			break;
		}
	}
	return n;
}

/* Runs a frame of the mutated or random kind; returns NULL when the
 * invariants hold, else what broke. Its sources are under quotas.default,
 * so the program may drop it only as malformed (enforce), as a first
 * fragment toward the gateway port (enforce), or as a request start on a
 * SYN its client cannot have proven yet (TCP Fast Open, enforce), and must
 * count each. */
static const char *raw_violation(const uint8_t *buf, size_t n, int *verdict)
{
	struct tg_integrity i0, i1;
	struct tg_global g0, g1;
	uint64_t dm, df, du, mal;
	int v;

	g0 = global_all();
	i0 = h_integrity();
	v = run_prog(bpf_program__fd(skel->progs.tg_tc_ingress), buf, n, 1);
	*verdict = v;
	if (v == REFUSED)
		return NULL;
	g1 = global_all();
	i1 = h_integrity();
	dm = g1.malformed_dropped - g0.malformed_dropped;
	df = g1.fragments_dropped - g0.fragments_dropped;
	du = i1.unproven_dropped - i0.unproven_dropped;
	mal = g1.malformed - g0.malformed;
	if (v != TC_DROP && v != TC_PASS)
		return "a verdict other than pass or drop";
	if (mode == TG_MODE_MONITOR && (dm || df || du || v == TC_DROP))
		return "a drop in monitor mode";
	if (mode == TG_MODE_ENFORCE && dm != mal)
		return "a malformed frame passed in enforce mode";
	if ((v == TC_DROP) != (dm + df + du == 1))
		return "the verdict does not match the drop counters";
	if ((mal || g1.fragments != g0.fragments) && g1.new_clients != g0.new_clients)
		return "a malformed frame or a fragment created a client";
	return NULL;
}

/* Shortens then zeroes bytes of a failing frame while it still fails, so
 * the report shows what matters. */
static size_t minimise(uint8_t *buf, size_t n)
{
	uint8_t save;
	int v;

	while (n > 14 && raw_violation(buf, n - 1, &v))
		n--;
	for (size_t i = 0; i < n; i++) {
		if (!buf[i])
			continue;
		save = buf[i];
		buf[i] = 0;
		if (!raw_violation(buf, n, &v))
			buf[i] = save;
	}
	return n;
}

static void noise_raw(int random)
{
	uint8_t buf[PKT_MAX];
	const char *why;
	size_t n;
	int v;

	if (random) {
		n = 14 + below(1600 - 14 + 1);
		for (size_t i = 0; i < n; i++)
			buf[i] = (uint8_t)rnd();
		if (chance(50)) { /* give the parser something to walk into */
			static const uint8_t et[][2] = { { 0x08, 0x00 }, { 0x86, 0xdd }, { 0x81, 0x00 },
							 { 0x88, 0xa8 } };
			memcpy(buf + 12, et[below(4)], 2);
		}
		n_rand++;
	} else {
		n = mutated_frame(buf, sizeof(buf));
		n_mut++;
	}
	why = raw_violation(buf, n, &v);
	if (why) {
		fprintf(stderr, "%s (verdict %d) on a %s frame:\n", why, v, random ? "random" : "mutated");
		hexdump(buf, n);
		n = minimise(buf, n);
		fprintf(stderr, "minimised to %zu bytes:\n", n);
		hexdump(buf, n);
		cr_assert_fail("%s", why);
	}
	if (v == REFUSED)
		return;
	if (v == TC_DROP)
		n_drop_ok++;
	if (chance(30)) {
		int r = run_prog(bpf_program__fd(skel->progs.tg_cgroup_ingress), buf, n, 1);

		n_cgroup += r != REFUSED;
		if (r != 1 && r != REFUSED) {
			hexdump(buf, n);
			cr_assert_fail("cgroup_skb ingress dropped a default-quota frame");
		}
	}
}

static void noise(void)
{
	uint32_t r = below(100);

	if (r < 25)
		noise_wellformed();
	else if (r < 75)
		noise_raw(0);
	else
		noise_raw(1);
}

/* ---- the exact model of the well-formed part ---- */

static struct tg_bucket shared_bucket(__u32 qid)
{
	struct tg_bucket_key k = { .qid = qid };
	struct tg_bucket b;

	memset(&b, 0, sizeof(b));
	cr_assert_eq(bpf_map_lookup_elem(h_map_fd("tg_buckets"), &k, &b), 0, "bucket of quota %u", qid);
	return b;
}

static void check_model(void)
{
	struct tg_bucket b;

	for (size_t i = 0; i < sizeof(clients) / sizeof(clients[0]); i++) {
		struct client *c = &clients[i];
		struct tg_client_view v;

		cr_assert_eq(h_client(c->key, &v), 0, "%s: no entry", c->addr);
		cr_assert_eq(v.syns, c->syns, "%s: syns %lu, sent %lu", c->addr,
			     (unsigned long)v.syns, (unsigned long)c->syns);
		cr_assert_eq(v.requests, c->requests, "%s: requests %lu, sent %lu", c->addr,
			     (unsigned long)v.requests, (unsigned long)c->requests);
		cr_assert_eq(v.packets, c->packets, "%s: packets %lu, sent %lu", c->addr,
			     (unsigned long)v.packets, (unsigned long)c->packets);
		cr_assert_eq(v.payload_bytes, c->payload, "%s: payload bytes", c->addr);
		cr_assert_eq(v.bytes, c->bytes, "%s: bytes %lu, sent %lu", c->addr,
			     (unsigned long)v.bytes, (unsigned long)c->bytes);
		if (c->kind == K_HIGH) {
			/* quotas.default: a bucket per address, never short */
			struct tg_bucket_key k = { .qid = 0 };

			memset(&b, 0, sizeof(b));
			cr_assert_eq(tg_addr_parse(c->key, &k.addr), 0);
			cr_assert_eq(bpf_map_lookup_elem(h_map_fd("tg_addr_buckets"), &k, &b), 0,
				     "%s: no bucket", c->addr);
			cr_assert_eq(b.allowed, c->charged, "%s: allowed %lu, charged %lu", c->addr,
				     (unsigned long)b.allowed, (unsigned long)c->charged);
			cr_assert_eq(b.denied + b.would_deny, 0, "%s: denied under a high limit", c->addr);
		}
	}
	b = shared_bucket(Q_TIGHT);
	cr_assert_eq(b.allowed + b.denied + b.would_deny, tight_charged,
		     "tight bucket: %lu + %lu + %lu != %lu starts charged", (unsigned long)b.allowed,
		     (unsigned long)b.denied, (unsigned long)b.would_deny,
		     (unsigned long)tight_charged);
	/* the limit did bite: the test would notice a quota that never applies */
	if (mode == TG_MODE_MONITOR)
		cr_assert(b.denied == 0 && b.would_deny > 0);
	else
		cr_assert(b.would_deny == 0 && b.denied > 0);
	b = shared_bucket(Q_EXEMPT);
	cr_assert_eq(b.allowed, exempt_charged, "exempt CIDR: allowed %lu, charged %lu",
		     (unsigned long)b.allowed, (unsigned long)exempt_charged);
	cr_assert_eq(b.denied + b.would_deny, 0);
	b = shared_bucket(Q_KEY);
	cr_assert_eq(b.allowed, key_charged, "exempt key: allowed %lu, charged %lu",
		     (unsigned long)b.allowed, (unsigned long)key_charged);
	cr_assert_eq(b.denied + b.would_deny, 0);
}

static void fuzz(int m, long target)
{
	uint64_t seed = seed_from_env();
	struct timespec t0, t1;

	configure(m);
	rng_state = seed ? seed : 1;
	fprintf(stderr, "fuzz %s: seed %llu (TG_FUZZ_SEED=%llu reproduces)\n",
		m == TG_MODE_ENFORCE ? "enforce" : "monitor", (unsigned long long)seed,
		(unsigned long long)seed);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	while (n_run < target) {
		long before = n_run / 2000;

		run_flow(any_client());
		if (n_run / 2000 != before)
			sample();
	}
	sample();
	check_model();
	clock_gettime(CLOCK_MONOTONIC, &t1);
	fprintf(stderr,
		"fuzz %s: %ld runs (%ld cgroup_skb) in %.1f s: %ld flows, %ld uncounted well-formed, "
		"%ld mutated, %ld random, %ld dropped as malformed or fragments, "
		"%ld frames the test run refused; %d client entries\n",
		m == TG_MODE_ENFORCE ? "enforce" : "monitor", n_run, n_cgroup,
		(double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9, n_flows,
		n_noise_wf, n_mut, n_rand, n_drop_ok, n_refused, h_n_clients());
	h_teardown();
}

Test(fuzz, enforce_mode, .timeout = 300)
{
	fuzz(TG_MODE_ENFORCE, packets_from_env(300000));
}

Test(fuzz, monitor_mode, .timeout = 300)
{
	fuzz(TG_MODE_MONITOR, packets_from_env(200000));
}
