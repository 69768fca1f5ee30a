/* Quotas in the kernel: sequences of crafted packets through the real TC
 * program, with quota maps written as the agent writes them (the agent's
 * own tg_quota_build / tg_settings_build). Time-dependent cases use rates
 * far from the test's own duration. */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <string.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "apikey.h"
#include "bucket.h"
#include "config/config.h"
#include "harness.h"
#include "bpf/quota_plan.h"
#include "lib/addr.h"
#include "lib/keyhash.h"

static struct tg_config cfg;

static void apply_settings(int mode)
{
	struct tg_settings s;
	__u32 zero = 0;

	cfg.mode = mode;
	tg_settings_build(&s, &cfg, 1);
	cr_assert_eq(bpf_map_update_elem(h_map_fd("tg_settings"), &zero, &s, 0), 0);
}

static void setup(void)
{
	h_setup();
	tg_config_defaults(&cfg);
	apply_settings(TG_MODE_ENFORCE);
}

/* Writes quota id `id` (0: quotas.default) from limits and an action. */
static void quota(__u32 id, __u64 rps, __u64 burst, __u64 bps, __u64 bburst, __u64 cps,
		  int action, int per_address)
{
	struct tg_quota_entry e;
	struct tg_quota q;

	memset(&e, 0, sizeof(e));
	e.limits = (struct tg_limits){ rps, burst, bps, bburst, cps, 0 };
	e.action = action;
	e.share = per_address ? TG_SHARE_PER_ADDRESS : TG_SHARE_SHARED;
	snprintf(e.name, sizeof(e.name), "q%u", id);
	if (id == 0) {
		cfg.default_limits = e.limits;
		cfg.default_action = action;
		tg_quota_build(&q, &cfg, NULL);
	} else {
		tg_quota_build(&q, &cfg, &e);
	}
	cr_assert_eq(bpf_map_update_elem(h_map_fd("tg_quotas"), &id, &q, 0), 0);
}

static void cidr(const char *net, unsigned int v4prefix, __u32 id)
{
	struct tg_lpm_key k = { .prefixlen = 96 + v4prefix };

	cr_assert_eq(tg_addr_parse(net, &k.addr), 0);
	cr_assert_eq(bpf_map_update_elem(h_map_fd("tg_cidrs"), &k, &id, 0), 0);
}

/* A deny entry, as the agent writes it: into the deny trie. */
static void deny_cidr(const char *net, unsigned int v4prefix, __u32 id)
{
	struct tg_lpm_key k = { .prefixlen = 96 + v4prefix };

	cr_assert_eq(tg_addr_parse(net, &k.addr), 0);
	cr_assert_eq(bpf_map_update_elem(h_map_fd("tg_deny_cidrs"), &k, &id, 0), 0);
}

static void apikey(const char *key, __u32 id)
{
	__u64 h = tg_apikey_hash(key, strlen(key));

	cr_assert_eq(bpf_map_update_elem(h_map_fd("tg_apikeys"), &h, &id, 0), 0);
	cfg.quotas[cfg.n_quotas].match = TG_MATCH_API_KEY; /* counted by settings */
	cfg.n_quotas++;
	apply_settings(cfg.mode);
}

static struct tg_bucket bucket(__u32 qid, const char *addr)
{
	struct tg_bucket_key k = { .qid = qid };
	struct tg_bucket b;

	memset(&b, 0, sizeof(b));
	if (addr) {
		cr_assert_eq(tg_addr_parse(addr, &k.addr), 0);
		bpf_map_lookup_elem(h_map_fd("tg_addr_buckets"), &k, &b);
	} else {
		bpf_map_lookup_elem(h_map_fd("tg_buckets"), &k, &b);
	}
	return b;
}

static const char get_req[] = "GET /v1/models HTTP/1.1\r\nHost: gw\r\n\r\n";

/* A new connection from addr:sport with one request start; returns the
 * request start's verdict (the SYN's is asserted to pass). */
static int conn_request(const char *addr, uint16_t sport, const char *req)
{
	struct pkt_opts o = { .saddr = addr, .sport = sport, .seq = 100, .flags = F_SYN };

	cr_assert_eq(h_run(&o, 0), TC_PASS, "SYN from %s:%u", addr, sport);
	o.flags = F_ACK;
	o.seq = 101;
	o.payload = req;
	o.len = strlen(req);
	return h_run(&o, 0);
}

TestSuite(quota, .init = setup, .fini = h_teardown, .timeout = 30);

Test(quota, default_per_address_bucket_admits_the_burst_then_drops)
{
	struct tg_bucket b;

	quota(0, 1, 3, 0, 0, 0, TG_ACTION_DROP, 0);
	for (int i = 0; i < 3; i++)
		cr_assert_eq(conn_request("198.18.0.2", (uint16_t)(40000 + i), get_req), TC_PASS, "request %d", i);
	for (int i = 3; i < 5; i++)
		cr_assert_eq(conn_request("198.18.0.2", (uint16_t)(40000 + i), get_req), TC_DROP, "request %d", i);
	/* another address has a bucket of its own */
	cr_assert_eq(conn_request("198.18.0.3", 40000, get_req), TC_PASS);
	b = bucket(0, "198.18.0.2");
	cr_assert_eq(b.allowed, 3);
	cr_assert_eq(b.denied, 2);
	cr_assert_eq(b.denied_bytes, 2 * strlen(get_req));
}

Test(quota, monitor_mode_drops_nothing_and_counts_would_deny)
{
	struct tg_bucket b;

	apply_settings(TG_MODE_MONITOR);
	quota(0, 1, 2, 0, 0, 0, TG_ACTION_DROP, 0);
	for (int i = 0; i < 6; i++)
		cr_assert_eq(conn_request("198.18.0.2", (uint16_t)(40000 + i), get_req), TC_PASS);
	b = bucket(0, "198.18.0.2");
	cr_assert_eq(b.allowed, 2);
	cr_assert_eq(b.would_deny, 4);
	cr_assert_eq(b.denied, 0);
}

Test(quota, monitor_action_in_enforce_mode)
{
	quota(0, 1, 1, 0, 0, 0, TG_ACTION_MONITOR, 0);
	cr_assert_eq(conn_request("198.18.0.2", 40000, get_req), TC_PASS);
	cr_assert_eq(conn_request("198.18.0.2", 40001, get_req), TC_PASS);
	cr_assert_eq(bucket(0, "198.18.0.2").would_deny, 1);
}

Test(quota, retransmission_of_an_admitted_start_takes_no_token)
{
	struct tg_client_view v;

	quota(0, 1, 1, 0, 0, 0, TG_ACTION_DROP, 0);
	cr_assert_eq(conn_request("198.18.0.2", 40000, get_req), TC_PASS);
	cr_assert_eq(h_seg(101, F_ACK, get_req), TC_PASS, "retransmitted: passes");
	cr_assert_eq(h_seg(101, F_ACK, get_req), TC_PASS);
	cr_assert_eq(bucket(0, "198.18.0.2").allowed, 1);
	cr_assert_eq(h_client("198.18.0.2", &v), 0);
	cr_assert_eq(v.requests, 1);
}

Test(quota, retransmission_of_a_dropped_start_is_checked_again)
{
	struct tg_client_view v;
	struct tg_bucket b;

	/* 1000/s, burst 1: the bucket refills within 1 ms */
	quota(0, 1000, 1, 0, 0, 0, TG_ACTION_DROP, 0);
	cr_assert_eq(conn_request("198.18.0.2", 39999, get_req), TC_PASS);
	cr_assert_eq(conn_request("198.18.0.2", 40000, get_req), TC_DROP);
	cr_assert_eq(h_seg(101, F_ACK, get_req), TC_DROP, "no token yet");
	usleep(20000);
	cr_assert_eq(h_seg(101, F_ACK, get_req), TC_PASS, "refilled: admitted");
	cr_assert_eq(h_seg(101, F_ACK, get_req), TC_PASS, "admitted: no second token");
	b = bucket(0, "198.18.0.2");
	cr_assert_eq(b.allowed, 2);
	cr_assert_eq(b.denied, 1, "one request refused, however often it came");
	cr_assert_eq(b.drops, 2, "each dropped segment");
	cr_assert_eq(h_client("198.18.0.2", &v), 0);
	cr_assert_eq(v.requests, 2, "a dropped then admitted start is one request");
}

static struct tg_quota_stats quota_stats(__u32 qid)
{
	struct tg_quota_stats qs;

	memset(&qs, 0, sizeof(qs));
	bpf_map_lookup_elem(h_map_fd("tg_quota_stats"), &qid, &qs);
	return qs;
}


/* A client gives up on a request that is over its quota and closes: its
 * kernel keeps retransmitting the dropped start (an orphan socket), and
 * once the bucket refills it must not be admitted: nobody reads the
 * answer. A FIN at or after the start, or carried with it, abandons it. */
Test(quota, a_start_whose_client_closed_is_never_admitted)
{
	uint32_t end = 101 + (uint32_t)strlen(get_req);

	quota(0, 1000, 1, 0, 0, 0, TG_ACTION_DROP, 0);
	cr_assert_eq(conn_request("198.18.0.2", 39999, get_req), TC_PASS);
	cr_assert_eq(conn_request("198.18.0.2", 40000, get_req), TC_DROP);
	cr_assert_eq(h_seg(end, F_ACK | F_FIN, NULL), TC_PASS, "the FIN itself passes");
	usleep(20000); /* refilled */
	cr_assert_eq(h_seg(101, F_ACK, get_req), TC_DROP, "abandoned: dropped with tokens there");
	cr_assert_eq(h_seg(101, F_ACK | F_PSH, get_req), TC_DROP);
	cr_assert_eq(bucket(0, "198.18.0.2").allowed, 1, "no token taken");
	cr_assert_eq(quota_stats(0).abandoned, 1, "counted once, for its key");
	cr_assert_eq(h_integrity().abandoned, 1);
	cr_assert_eq(h_integrity().abandoned_drops, 2);

	/* the retransmission carries the FIN itself */
	cr_assert_eq(conn_request("198.18.0.2", 40001, get_req), TC_PASS, "refilled");
	cr_assert_eq(conn_request("198.18.0.2", 40002, get_req), TC_DROP);
	usleep(20000);
	cr_assert_eq(h_run(&(struct pkt_opts){ .saddr = "198.18.0.2", .sport = 40002, .seq = 101,
					      .flags = F_ACK | F_FIN, .payload = get_req,
					      .len = strlen(get_req) }, 0),
		     TC_DROP);
	cr_assert_eq(quota_stats(0).abandoned, 2);
	cr_assert_eq(bucket(0, "198.18.0.2").allowed, 2);
}

/* A client that sends its request and half-closes (the FIN with or after
 * an admitted start) has abandoned nothing. */
Test(quota, a_half_close_after_an_admitted_start_is_not_abandoned)
{
	quota(0, 1000, 5, 0, 0, 0, TG_ACTION_DROP, 0);
	cr_assert_eq(h_run(&(struct pkt_opts){ .saddr = "198.18.0.2", .sport = 40000, .seq = 100,
					      .flags = F_SYN }, 0), TC_PASS);
	cr_assert_eq(h_run(&(struct pkt_opts){ .saddr = "198.18.0.2", .sport = 40000, .seq = 101,
					      .flags = F_ACK | F_FIN, .payload = get_req,
					      .len = strlen(get_req) }, 0),
		     TC_PASS);
	cr_assert_eq(bucket(0, "198.18.0.2").allowed, 1);
	cr_assert_eq(quota_stats(0).abandoned, 0);
	cr_assert_eq(h_integrity().abandoned, 0);
}

Test(quota, a_segment_covering_a_dropped_start_is_dropped)
{
	static const char covering[] = "XGET /v1/models HTTP/1.1\r\nHost: gw\r\n\r\n";

	quota(0, 1, 1, 0, 0, 0, TG_ACTION_DROP, 0);
	cr_assert_eq(conn_request("198.18.0.2", 39999, get_req), TC_PASS);
	cr_assert_eq(conn_request("198.18.0.2", 40000, get_req), TC_DROP);
	/* one byte earlier, not a method: it still carries the start */
	cr_assert_eq(h_seg(100, F_ACK, covering), TC_DROP);
	/* data after the dropped start does not carry it */
	cr_assert_eq(h_seg(101 + (uint32_t)strlen(get_req), F_ACK, "body"), TC_PASS);
}

Test(quota, split_method_is_a_request_start)
{
	quota(0, 1, 1, 0, 0, 0, TG_ACTION_DROP, 0);
	cr_assert_eq(conn_request("198.18.0.2", 39999, get_req), TC_PASS);
	cr_assert_eq(conn_request("198.18.0.2", 40000, "PO"), TC_DROP);
	cr_assert_eq(conn_request("198.18.0.2", 40001, "\r\nGET / HTTP/1.1\r\n\r\n"), TC_DROP);
}

Test(quota, split_method_on_a_kept_alive_connection)
{
	uint32_t n = (uint32_t)strlen(get_req);

	quota(0, 1, 1, 0, 0, 0, TG_ACTION_DROP, 0);
	cr_assert_eq(conn_request("198.18.0.2", 40000, get_req), TC_PASS);
	/* the second request of the connection, its method split: "PO" is
	 * no first payload, only the method-prefix rule sees it */
	cr_assert_eq(h_seg(101 + n, F_ACK, "PO"), TC_DROP);
	cr_assert_eq(h_seg(101 + n + 2, F_ACK, "ST / HTTP/1.1\r\n\r\n"), TC_PASS,
		     "the rest waits behind the dropped start");
	cr_assert_eq(bucket(0, "198.18.0.2").denied, 1);
}

Test(quota, h2c_preface_is_limited)
{
	quota(0, 1, 1, 0, 0, 0, TG_ACTION_DROP, 0);
	cr_assert_eq(conn_request("198.18.0.2", 39999, "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"), TC_PASS);
	cr_assert_eq(conn_request("198.18.0.2", 40000, "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"), TC_DROP);
}

Test(quota, first_payload_of_any_kind_is_limited)
{
	static const char tls[] = "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03";

	quota(0, 1, 1, 0, 0, 0, TG_ACTION_DROP, 0);
	cr_assert_eq(conn_request("198.18.0.2", 39999, tls), TC_PASS);
	cr_assert_eq(conn_request("198.18.0.2", 40000, tls), TC_DROP);
}

Test(quota, cidr_longest_prefix_shared_and_per_address)
{
	quota(0, 1, 1, 0, 0, 0, TG_ACTION_DROP, 0);
	quota(1, 1, 2, 0, 0, 0, TG_ACTION_DROP, 0);  /* 198.18.0.0/16 shared, burst 2 */
	quota(2, 1, 2, 0, 0, 0, TG_ACTION_DROP, 1);  /* 198.18.5.0/24 per address */
	cidr("198.18.0.0", 16, 1);
	cidr("198.18.5.0", 24, 2);
	/* the /16 is shared: two requests in all from two addresses */
	cr_assert_eq(conn_request("198.18.1.1", 40000, get_req), TC_PASS);
	cr_assert_eq(conn_request("198.18.1.2", 40000, get_req), TC_PASS);
	cr_assert_eq(conn_request("198.18.1.3", 40000, get_req), TC_DROP);
	/* the /24 inside it wins, and is per address: two each */
	for (int a = 1; a <= 2; a++) {
		char addr[32];

		snprintf(addr, sizeof(addr), "198.18.5.%d", a);
		cr_assert_eq(conn_request(addr, 40000, get_req), TC_PASS);
		cr_assert_eq(conn_request(addr, 40001, get_req), TC_PASS);
		cr_assert_eq(conn_request(addr, 40002, get_req), TC_DROP);
	}
	cr_assert_eq(bucket(1, NULL).allowed, 2);
	cr_assert_eq(bucket(1, NULL).denied, 1);
	cr_assert_eq(bucket(2, "198.18.5.1").allowed, 2);
	/* outside every CIDR: the default, burst 1 */
	cr_assert_eq(conn_request("198.19.0.1", 40000, get_req), TC_PASS);
	cr_assert_eq(conn_request("198.19.0.1", 40001, get_req), TC_DROP);
}

Test(quota, deny_cidr_drops_syns)
{
	struct pkt_opts o = { .saddr = "198.18.9.9", .seq = 100, .flags = F_SYN };

	quota(3, 0, 0, 0, 0, 0, TG_ACTION_DENY, 0);
	deny_cidr("198.18.9.0", 24, 3);
	/* a more specific, generous entry inside the denied range */
	quota(8, 1000, 1000, 0, 0, 0, TG_ACTION_DROP, 0);
	cidr("198.18.9.128", 25, 8);
	cr_assert_eq(h_run(&o, 0), TC_DROP);
	cr_assert_eq(h_run(&o, 0), TC_DROP, "its retransmission too");
	cr_assert_eq(bucket(3, NULL).conns_denied, 2);
	o.saddr = "198.18.9.200";
	cr_assert_eq(h_run(&o, 0), TC_DROP, "the deny wins over the longer prefix inside it");
	o.saddr = "198.18.8.9";
	cr_assert_eq(h_run(&o, 0), TC_PASS);
}

Test(quota, exempt_cidr_is_never_limited_by_address)
{
	quota(0, 1, 1, 0, 0, 1, TG_ACTION_DROP, 0);
	quota(4, 0, 0, 0, 0, 0, TG_ACTION_EXEMPT, 0);
	cidr("198.18.7.0", 24, 4);
	for (int i = 0; i < 20; i++)
		cr_assert_eq(conn_request("198.18.7.7", (uint16_t)(40000 + i), get_req), TC_PASS);
}

static char keyed_req[2048];

static const char *with_key(const char *header, const char *value, int pad)
{
	char filler[1600];

	memset(filler, 'a', sizeof(filler));
	filler[pad] = 0;
	snprintf(keyed_req, sizeof(keyed_req),
		 "POST /v1/chat/completions HTTP/1.1\r\nHost: gw\r\nX-Pad: %s\r\n%s: %s\r\n"
		 "Content-Length: 2\r\n\r\n{}", filler, header, value);
	return keyed_req;
}

Test(quota, api_key_bucket_is_shared_across_addresses)
{
	quota(0, 0, 0, 0, 0, 0, TG_ACTION_DROP, 0);  /* addresses unlimited */
	quota(5, 1, 2, 0, 0, 0, TG_ACTION_DROP, 0);
	apikey("sk-team-a-0123456789", 5);
	cr_assert_eq(conn_request("198.18.0.2", 40000, with_key("Authorization", "Bearer sk-team-a-0123456789", 10)), TC_PASS);
	cr_assert_eq(conn_request("198.18.1.2", 40000, with_key("x-api-key", "sk-team-a-0123456789", 10)), TC_PASS);
	cr_assert_eq(conn_request("198.18.2.2", 40000, with_key("API-KEY", "sk-team-a-0123456789", 10)), TC_DROP,
		     "the key's burst is spent, whatever the address");
	/* an unknown key counts under the address: unlimited here */
	cr_assert_eq(conn_request("198.18.2.2", 40001, with_key("Authorization", "Bearer sk-other", 10)), TC_PASS);
	cr_assert_eq(bucket(5, NULL).allowed, 2);
	cr_assert_eq(bucket(5, NULL).denied, 1);
}

Test(quota, api_key_deep_in_the_headers_and_case_insensitive)
{
	quota(0, 0, 0, 0, 0, 0, TG_ACTION_DROP, 0);
	quota(6, 1, 1, 0, 0, 0, TG_ACTION_DROP, 0);
	apikey("k-900", 6);
	cr_assert_eq(conn_request("198.18.0.2", 40000, with_key("AUTHORIZATION", "bEaReR k-900", 850)), TC_PASS);
	cr_assert_eq(conn_request("198.18.0.2", 40001, with_key("authorization", "Bearer k-900", 850)), TC_DROP);
	cr_assert_eq(bucket(6, NULL).allowed, 1);
}

Test(quota, a_decoy_header_does_not_hide_the_key)
{
	static const char req[] = "POST /v1/chat/completions HTTP/1.1\r\nHost: gw\r\n"
				  "x-api-key: junk\r\nAuthorization: Bearer k-real\r\n\r\n";

	quota(0, 0, 0, 0, 0, 0, TG_ACTION_DROP, 0);
	quota(6, 1, 1, 0, 0, 0, TG_ACTION_DROP, 0);
	apikey("k-real", 6);
	cr_assert_eq(conn_request("198.18.0.2", 40000, req), TC_PASS);
	cr_assert_eq(conn_request("198.18.0.2", 40001, req), TC_DROP, "limited by its real key");
	cr_assert_eq(bucket(6, NULL).allowed, 1);
}

Test(quota, a_later_start_behind_a_dropped_one_waits)
{
	char two[256];
	uint32_t n = (uint32_t)strlen(get_req);

	quota(0, 1, 1, 0, 0, 0, TG_ACTION_DROP, 0);
	cr_assert_eq(conn_request("198.18.0.2", 40000, get_req), TC_PASS);
	/* on the same connection: the second start is dropped ... */
	cr_assert_eq(h_seg(101 + n, F_ACK, get_req), TC_DROP);
	/* ... and a third, pipelined behind it, does not slip through */
	cr_assert_eq(h_seg(101 + 2 * n, F_ACK, get_req), TC_DROP);
	/* nor the second's retransmission */
	cr_assert_eq(h_seg(101 + n, F_ACK, get_req), TC_DROP);
	snprintf(two, sizeof(two), "%s", get_req);
	cr_assert_eq(bucket(0, "198.18.0.2").allowed, 1);
}

Test(quota, api_key_beyond_the_scan_is_not_seen)
{
	quota(0, 0, 0, 0, 0, 0, TG_ACTION_DROP, 0);
	quota(6, 1, 1, 0, 0, 0, TG_ACTION_DROP, 0);
	cfg.header_scan_bytes = 256;
	apikey("k-far", 6);
	cr_assert_eq(conn_request("198.18.0.2", 40000, with_key("x-api-key", "k-far", 400)), TC_PASS);
	cr_assert_eq(conn_request("198.18.0.2", 40001, with_key("x-api-key", "k-far", 400)), TC_PASS);
	cr_assert_eq(bucket(6, NULL).allowed, 0, "the key was past header_scan_bytes");
}

Test(quota, deny_key_wins_over_an_exempt_address)
{
	quota(4, 0, 0, 0, 0, 0, TG_ACTION_EXEMPT, 0);
	cidr("198.18.0.0", 24, 4);
	quota(7, 0, 0, 0, 0, 0, TG_ACTION_DENY, 0);
	apikey("stolen", 7);
	cr_assert_eq(conn_request("198.18.0.2", 40000, with_key("x-api-key", "stolen", 1)), TC_DROP);
	cr_assert_eq(conn_request("198.18.0.2", 40001, get_req), TC_PASS);
}

Test(quota, bytes_are_a_debt_bucket)
{
	char body[1401];

	memset(body, 'x', sizeof(body) - 1);
	body[sizeof(body) - 1] = 0;
	/* 1000 bytes/s, 1000 bytes of burst */
	quota(0, 0, 0, 1000, 1000, 0, TG_ACTION_DROP, 0);
	cr_assert_eq(conn_request("198.18.0.2", 40000, get_req), TC_PASS);
	/* plain segments of the admitted request are charged as they arrive */
	cr_assert_eq(h_seg(101 + (uint32_t)strlen(get_req), F_ACK, body), TC_PASS);
	cr_assert(bucket(0, "198.18.0.2").byte_tat > 0);
	/* now in debt: the next request start is refused */
	cr_assert_eq(conn_request("198.18.0.2", 40001, get_req), TC_DROP);
}

Test(quota, connection_rate)
{
	struct pkt_opts o = { .saddr = "198.18.0.2", .seq = 100, .flags = F_SYN };

	quota(0, 0, 0, 0, 0, 2, TG_ACTION_DROP, 0); /* 2/s: burst 2 */
	for (int i = 0; i < 2; i++) {
		o.sport = (uint16_t)(40000 + i);
		cr_assert_eq(h_run(&o, 0), TC_PASS);
	}
	o.sport = 40002;
	cr_assert_eq(h_run(&o, 0), TC_DROP);
	cr_assert_eq(bucket(0, "198.18.0.2").conns_denied, 1);
	cr_assert_eq(bucket(0, "198.18.0.2").conns_allowed, 2);
}

Test(quota, fragments_dropped_in_enforce_mode_only)
{
	struct pkt_opts o = { .frag = 1, .seq = 5, .payload = get_req, .len = strlen(get_req) };

	cr_assert_eq(h_run(&o, 0), TC_DROP, "IPv4 first fragment to a gateway port");
	o.v6 = 1;
	cr_assert_eq(h_run(&o, 0), TC_DROP, "IPv6 first fragment");
	o.frag = 2;
	cr_assert_eq(h_run(&o, 0), TC_PASS, "a later fragment shows no ports");
	o.frag = 1;
	o.dport = 22;
	cr_assert_eq(h_run(&o, 0), TC_PASS, "not a gateway port");
	o.dport = 8080;
	o.udp = 1;
	cr_assert_eq(h_run(&o, 0), TC_PASS, "not TCP");
	o.udp = 0;
	apply_settings(TG_MODE_MONITOR);
	cr_assert_eq(h_run(&o, 0), TC_PASS, "monitor mode drops nothing");
	cr_assert_eq(h_global().fragments_dropped, 2);
}

static int events;

static int on_ev(void *ctx, void *data, size_t len)
{
	const struct tg_event *e = data;

	cr_assert_eq(e->type, TG_EV_DENY_REQUEST);
	cr_assert_eq(e->enforced, 1);
	events++;
	return 0;
}

Test(quota, denial_events_are_rate_limited_per_key)
{
	struct ring_buffer *rb;

	quota(0, 1, 1, 0, 0, 0, TG_ACTION_DROP, 0);
	rb = ring_buffer__new(h_map_fd("tg_events"), on_ev, NULL, NULL);
	cr_assert(rb);
	for (int i = 0; i < 10; i++)
		conn_request("198.18.0.2", (uint16_t)(40000 + i), get_req);
	ring_buffer__consume(rb);
	cr_assert_eq(events, 1, "nine denials, one event in the interval");
	ring_buffer__free(rb);
}

Test(quota, no_limit_no_bucket)
{
	/* telemetry only: a request start touches no bucket */
	cr_assert_eq(conn_request("198.18.0.2", 40000, get_req), TC_PASS);
	cr_assert_eq(bucket(0, "198.18.0.2").allowed, 0);
	cr_assert_eq(h_global().addr_buckets, 0);
}

Test(quota, within_quota_and_exempt_traffic_is_never_dropped)
{
	quota(0, 1000000, 1000000, 0, 0, 1000000, TG_ACTION_DROP, 0);
	for (int i = 0; i < 200; i++)
		cr_assert_eq(conn_request("198.18.0.2", (uint16_t)(30000 + i), get_req), TC_PASS);
}

/* --- PROXY protocol: the client a load balancer names ------------------- */

static void proxy_on(void)
{
	cfg.proxy_protocol = true;
	apply_settings(cfg.mode);
}

/* From src:sport, SYN then `first` as the first payload; returns the
 * verdict of `first`. */
static int via(const char *src, uint16_t sport, const void *first, size_t len)
{
	return h_first_payload(src, sport, first, len);
}

/* From the balancer 198.18.9.1. */
static int via_balancer(uint16_t sport, const void *first, size_t len)
{
	return via("198.18.9.1", sport, first, len);
}

static char proxied[512];

static size_t v1(const char *src)
{
	int n = snprintf(proxied, sizeof(proxied), "PROXY %s %s 198.18.0.1 5555 8080\r\n%s",
			 strchr(src, ':') ? "TCP6" : "TCP4", src, get_req);
	return (size_t)n;
}

Test(quota, proxy_v1_names_the_client)
{
	struct tg_client_view v;

	proxy_on();
	quota(0, 1, 1, 0, 0, 0, TG_ACTION_DROP, 0);
	cr_assert_eq(via_balancer(40000, proxied, v1("198.19.7.7")), TC_PASS);
	cr_assert_eq(via_balancer(40001, proxied, v1("198.19.7.7")), TC_DROP, "same client: its bucket is spent");
	cr_assert_eq(via_balancer(40002, proxied, v1("198.19.7.8")), TC_PASS, "another client, another bucket");
	cr_assert_eq(h_client("198.19.7.7", &v), 0);
	cr_assert_eq(v.requests, 2);
	cr_assert_eq(bucket(0, "198.19.7.7").allowed, 1);
	cr_assert_eq(bucket(0, "198.19.7.7").denied, 1);
	cr_assert_eq(bucket(0, "198.18.9.1").allowed, 0, "nothing charged to the balancer");
}

Test(quota, proxy_v1_ipv6_and_cidr_deny)
{
	proxy_on();
	quota(0, 1000, 1000, 0, 0, 0, TG_ACTION_DROP, 0);
	quota(3, 0, 0, 0, 0, 0, TG_ACTION_DENY, 0);
	deny_cidr("198.19.66.0", 24, 3);
	cr_assert_eq(via_balancer(40000, proxied, v1("198.19.66.6")), TC_DROP, "denied CIDR behind the balancer");
	cr_assert_eq(via_balancer(40001, proxied, v1("fd00:198:18::66")), TC_PASS);
	cr_assert_eq(bucket(0, "fd00:198:18::").allowed, 1, "IPv6 client keyed by its /64");
}

Test(quota, proxy_v2_and_header_alone)
{
	static const unsigned char v2[28] = { '\r', '\n', '\r', '\n', 0, '\r', '\n', 'Q', 'U', 'I', 'T', '\n',
					      0x21, 0x11, 0, 12, 198, 19, 7, 9, 198, 18, 0, 1, 0x15, 0xb3, 0x1f, 0x90 };
	struct pkt_opts o = { .saddr = "198.18.9.1", .sport = 40000, .seq = 101 + sizeof(v2), .flags = F_ACK,
			      .payload = get_req, .len = strlen(get_req) };

	proxy_on();
	quota(0, 1, 1, 0, 0, 0, TG_ACTION_DROP, 0);
	/* the header in a segment of its own, then the request */
	cr_assert_eq(via_balancer(40000, v2, sizeof(v2)), TC_PASS);
	cr_assert_eq(bucket(0, "198.19.7.9").allowed, 0, "no request yet");
	cr_assert_eq(h_run(&o, 0), TC_PASS);
	cr_assert_eq(bucket(0, "198.19.7.9").allowed, 1);
	/* next request on the same connection: same client */
	o.seq += (uint32_t)strlen(get_req);
	cr_assert_eq(h_run(&o, 0), TC_DROP);
	cr_assert_eq(bucket(0, "198.19.7.9").denied, 1);
}

/* A balancer's PROXY header and the request after it, cut into segments
 * anywhere: a segment that is only header, or ends inside it, is no
 * request start and charges nobody; the request is the named client's. */
static const unsigned char v2_hdr[28] = { '\r', '\n', '\r', '\n', 0, '\r', '\n', 'Q', 'U', 'I', 'T', '\n',
					  0x21, 0x11, 0, 12, 198, 19, 7, 9, 198, 18, 0, 1, 0x15, 0xb3, 0x1f, 0x90 };

/* From the balancer 198.18.9.1:sport, a SYN, then `n` bytes of `data` cut
 * at `cut` (0: one segment); the last segment's verdict, every earlier one
 * asserted to pass. */
static int via_cut(uint16_t sport, const unsigned char *data, size_t n, size_t cut)
{
	struct pkt_opts o = { .saddr = "198.18.9.1", .sport = sport, .seq = 100, .flags = F_SYN };

	cr_assert_eq(h_run(&o, 0), TC_PASS);
	o.flags = F_ACK;
	o.seq = 101;
	if (cut) {
		o.payload = data;
		o.len = cut;
		cr_assert_eq(h_run(&o, 0), TC_PASS, "first %zu bytes", cut);
		o.seq += (uint32_t)cut;
	}
	o.payload = data + cut;
	o.len = n - cut;
	return h_run(&o, 0);
}

static long requests_of(const char *addr)
{
	struct tg_client_view v;

	return h_client(addr, &v) ? 0 : (long)v.requests;
}

Test(quota, proxy_header_in_its_own_segment_or_with_the_request)
{
	unsigned char buf[256];
	size_t h1 = v1("198.19.7.7") - strlen(get_req), n;

	proxy_on();
	quota(0, 1, 1, 0, 0, 0, TG_ACTION_DROP, 0);
	/* v1: the header alone, then the request; then both in one segment */
	memcpy(buf, proxied, h1 + strlen(get_req));
	cr_assert_eq(via_cut(40000, buf, h1 + strlen(get_req), h1), TC_PASS);
	cr_assert_eq(bucket(0, "198.19.7.7").allowed, 1, "the named client's bucket");
	cr_assert_eq(via_cut(40001, buf, h1 + strlen(get_req), 0), TC_DROP, "its bucket, spent");
	cr_assert_eq(requests_of("198.19.7.7"), 2);
	/* v2 the same ways */
	memcpy(buf, v2_hdr, sizeof(v2_hdr));
	memcpy(buf + sizeof(v2_hdr), get_req, strlen(get_req));
	n = sizeof(v2_hdr) + strlen(get_req);
	cr_assert_eq(via_cut(40002, buf, n, sizeof(v2_hdr)), TC_PASS);
	cr_assert_eq(via_cut(40003, buf, n, 0), TC_DROP);
	cr_assert_eq(bucket(0, "198.19.7.9").allowed, 1);
	cr_assert_eq(bucket(0, "198.19.7.9").denied, 1);
	cr_assert_eq(requests_of("198.19.7.9"), 2);
	/* the balancer: nothing counted, nothing charged */
	cr_assert_eq(requests_of("198.18.9.1"), 0);
	cr_assert_eq(bucket(0, "198.18.9.1").allowed, 0);
	cr_assert_eq(bucket(0, "198.18.9.1").denied, 0);
}

/* The first segment ends inside the header, at every byte: v1 (IPv4 and
 * IPv6 text) and v2, the rest of the header alone or with the request. */
Test(quota, proxy_header_cut_at_every_byte)
{
	static const char *srcs[] = { "198.19.7.7", "fd00:198:18::77" };
	unsigned char buf[256];
	uint16_t sport = 41000;
	long want = 0, want6 = 0;

	proxy_on();
	quota(0, 1000000, 1000000, 0, 0, 0, TG_ACTION_DROP, 0);
	for (int alone = 0; alone < 2; alone++) {
		for (size_t s = 0; s < 2; s++) {
			size_t n = v1(srcs[s]), h = n - strlen(get_req);

			memcpy(buf, proxied, n);
			for (size_t cut = 1; cut < h; cut++) {
				cr_assert_eq(via_cut(sport, buf, alone ? h : n, cut), TC_PASS);
				if (alone) {
					struct pkt_opts o = { .saddr = "198.18.9.1", .sport = sport,
							      .seq = (uint32_t)(101 + h), .flags = F_ACK,
							      .payload = get_req, .len = strlen(get_req) };

					cr_assert_eq(h_run(&o, 0), TC_PASS);
				}
				sport++;
				*(s ? &want6 : &want) += 1;
			}
		}
		memcpy(buf, v2_hdr, sizeof(v2_hdr));
		memcpy(buf + sizeof(v2_hdr), get_req, strlen(get_req));
		for (size_t cut = 1; cut < sizeof(v2_hdr); cut++) {
			cr_assert_eq(via_cut(sport, buf, alone ? sizeof(v2_hdr) : sizeof(v2_hdr) + strlen(get_req),
					     cut),
				     TC_PASS);
			if (alone) {
				struct pkt_opts o = { .saddr = "198.18.9.1", .sport = sport,
						      .seq = (uint32_t)(101 + sizeof(v2_hdr)), .flags = F_ACK,
						      .payload = get_req, .len = strlen(get_req) };

				cr_assert_eq(h_run(&o, 0), TC_PASS);
			}
			sport++;
		}
		cr_assert_eq(requests_of("198.19.7.7"), want, "v1 IPv4, alone %d", alone);
		cr_assert_eq(requests_of("fd00:198:18::"), want6, "v1 IPv6, alone %d", alone);
		cr_assert_eq(requests_of("198.19.7.9"), (long)(sizeof(v2_hdr) - 1) * (alone + 1),
			     "v2, alone %d", alone);
		cr_assert_eq(requests_of("198.18.9.1"), 0, "the balancer, alone %d", alone);
		cr_assert_eq(bucket(0, "198.18.9.1").allowed, 0);
	}
	cr_assert_eq(bucket(0, "198.19.7.9").allowed, (sizeof(v2_hdr) - 1) * 2);
}

/* Cut in three, retransmitted, or with a segment missing. */
Test(quota, proxy_header_pieces_retransmitted_or_lost)
{
	struct pkt_opts o = { .saddr = "198.18.9.1", .sport = 42000, .seq = 100, .flags = F_SYN };
	size_t n = v1("198.19.7.7"), h = n - strlen(get_req);

	proxy_on();
	quota(0, 1000, 1000, 0, 0, 0, TG_ACTION_DROP, 0);
	cr_assert_eq(h_run(&o, 0), TC_PASS);
	o.flags = F_ACK;
	/* "PROXY TCP4 19" | retransmitted | "8.19.7." (overlapping) | the rest */
	o.seq = 101, o.payload = proxied, o.len = 13;
	cr_assert_eq(h_run(&o, 0), TC_PASS);
	cr_assert_eq(h_run(&o, 0), TC_PASS);
	o.seq = 101 + 10, o.payload = proxied + 10, o.len = 10;
	cr_assert_eq(h_run(&o, 0), TC_PASS);
	o.seq = 101 + 20, o.payload = proxied + 20, o.len = n - 20;
	cr_assert_eq(h_run(&o, 0), TC_PASS);
	cr_assert_eq(requests_of("198.19.7.7"), 1);
	cr_assert_eq(bucket(0, "198.19.7.7").allowed, 1);
	/* the whole header retransmitted, then the request again: neither new */
	o.seq = 101, o.payload = proxied, o.len = h;
	cr_assert_eq(h_run(&o, 0), TC_PASS);
	o.seq = (uint32_t)(101 + h), o.payload = get_req, o.len = strlen(get_req);
	cr_assert_eq(h_run(&o, 0), TC_PASS);
	cr_assert_eq(requests_of("198.19.7.7"), 1, "retransmissions count nothing");
	/* a segment missing after the first piece: the header cannot be read,
	 * and what comes counts as the balancer's own, as a malformed header */
	o.flags = F_SYN, o.sport = 42001, o.seq = 100, o.payload = NULL, o.len = 0;
	cr_assert_eq(h_run(&o, 0), TC_PASS);
	o.flags = F_ACK, o.seq = 101, o.payload = proxied, o.len = 13;
	cr_assert_eq(h_run(&o, 0), TC_PASS);
	cr_assert_eq(requests_of("198.18.9.1"), 0, "a piece of a header is no request");
	o.seq = 101 + 20, o.payload = proxied + 20, o.len = n - 20;
	cr_assert_eq(h_run(&o, 0), TC_PASS);
	cr_assert_eq(requests_of("198.18.9.1"), 1);
	cr_assert_eq(requests_of("198.19.7.7"), 1);
	/* a FIN ends a connection whose header never ended: its held bytes go */
	o.flags = F_SYN, o.sport = 42002, o.seq = 100, o.payload = NULL, o.len = 0;
	cr_assert_eq(h_run(&o, 0), TC_PASS);
	o.flags = F_ACK, o.seq = 101, o.payload = proxied, o.len = 13;
	cr_assert_eq(h_run(&o, 0), TC_PASS);
	{
		struct tg_flow f;
		__u32 next = 0;
		int held = 0;
		void *k = NULL;

		while (bpf_map_get_next_key(h_map_fd("tg_proxy_held"), k, &f) == 0) {
			held++;
			k = &f;
		}
		cr_assert_eq(held, 1, "one header held");
		o.flags = F_ACK | F_FIN, o.seq = 114, o.payload = NULL, o.len = 0;
		cr_assert_eq(h_run(&o, 0), TC_PASS);
		cr_assert_neq(bpf_map_get_next_key(h_map_fd("tg_proxy_held"), NULL, &f), 0, "none left");
		(void)next;
	}
	cr_assert_eq(requests_of("198.18.9.1"), 1);
}

Test(quota, proxy_off_or_malformed_counts_the_source)
{
	static const char bad[] = "PROXY TCP4 198.19.300.1 198.18.0.1 1 2\r\nGET / HTTP/1.1\r\n\r\n";

	quota(0, 1, 1, 0, 0, 0, TG_ACTION_DROP, 0);
	/* off: a PROXY header is just the first payload of the connection */
	cr_assert_eq(via_balancer(40000, proxied, v1("198.19.7.7")), TC_PASS);
	cr_assert_eq(bucket(0, "198.18.9.1").allowed, 1);
	proxy_on();
	cr_assert_eq(via_balancer(40001, bad, strlen(bad)), TC_DROP, "malformed: the source's quota, spent");
	cr_assert_eq(bucket(0, "198.18.9.1").denied, 1);
}

/* identity.trusted_proxies set: a PROXY header is believed only from a
 * source in it, as the agent writes the list (tg_trusted_lpm_key, the
 * settings flag). From anyone else, the header is the source's own first
 * payload: a client that reaches the gateway directly cannot name
 * another client (and spend its bucket) with a PROXY header. */
static void trust(const char *cidr)
{
	struct tg_lpm_key k;
	__u8 one = 1;

	cr_assert_eq(tg_cidr_parse(cidr, cfg.trusted[cfg.n_trusted].net,
				   &cfg.trusted[cfg.n_trusted].prefix_len), 0);
	tg_trusted_lpm_key(&k, &cfg.trusted[cfg.n_trusted++]);
	cr_assert_eq(bpf_map_update_elem(h_map_fd("tg_proxy_trusted"), &k, &one, 0), 0);
	apply_settings(cfg.mode);
}

Test(quota, proxy_believed_only_from_trusted_proxies)
{
	static const unsigned char v2[28] = { '\r', '\n', '\r', '\n', 0, '\r', '\n', 'Q', 'U', 'I', 'T', '\n',
					      0x21, 0x11, 0, 12, 198, 19, 7, 9, 198, 18, 0, 1, 0x15, 0xb3, 0x1f, 0x90 };

	proxy_on();
	trust("198.18.9.0/30");
	trust("fd00:198:18::9/128");
	quota(0, 1, 1, 0, 0, 0, TG_ACTION_DROP, 0);
	/* from the balancer: the header names the client */
	cr_assert_eq(via("198.18.9.1", 40000, proxied, v1("198.19.7.7")), TC_PASS);
	cr_assert_eq(bucket(0, "198.19.7.7").allowed, 1, "the trusted balancer names the client");
	cr_assert_eq(bucket(0, "198.18.9.1").allowed, 0);
	/* the attack: a client outside the list sends a PROXY header naming
	 * a victim; the victim's bucket is not touched, its own pays */
	cr_assert_eq(via("198.18.10.2", 40001, proxied, v1("198.19.8.8")), TC_PASS);
	cr_assert_eq(bucket(0, "198.19.8.8").allowed, 0, "an untrusted source named another client");
	cr_assert_eq(bucket(0, "198.19.8.8").denied, 0);
	cr_assert_eq(bucket(0, "198.18.10.2").allowed, 1, "the untrusted source pays itself");
	cr_assert_eq(via("198.18.10.2", 40002, proxied, v1("198.19.7.7")), TC_DROP,
		     "its own bucket, spent: dropped");
	cr_assert_eq(bucket(0, "198.19.7.7").denied, 0, "not charged to the victim");
	/* PROXY v2, and the same over IPv6: trusted /128, untrusted neighbour */
	cr_assert_eq(via("198.18.10.3", 40003, v2, sizeof(v2)), TC_PASS);
	cr_assert_eq(bucket(0, "198.19.7.9").allowed, 0);
	cr_assert_eq(bucket(0, "198.18.10.3").allowed, 1, "v2 from an untrusted source: the source");
	cr_assert_eq(via("fd00:198:18::9", 40004, proxied, v1("198.19.6.6")), TC_PASS);
	cr_assert_eq(bucket(0, "198.19.6.6").allowed, 1, "a trusted IPv6 balancer");
	cr_assert_eq(via("fd00:198:18::a", 40005, proxied, v1("198.19.5.5")), TC_PASS);
	cr_assert_eq(bucket(0, "198.19.5.5").allowed, 0, "an untrusted IPv6 source");
	cr_assert_eq(bucket(0, "fd00:198:18::").allowed, 1, "charged to its own /64");
	/* the list emptied (a reload): any source again, as without it */
	cfg.n_trusted = 0;
	apply_settings(cfg.mode);
	cr_assert_eq(via("198.18.10.4", 40006, proxied, v1("198.19.4.4")), TC_PASS);
	cr_assert_eq(bucket(0, "198.19.4.4").allowed, 1, "no list: the header is believed");
}

static struct tg_key_use key_use(const char *key, const char *addr)
{
	struct tg_key_use_key k = { .key_hash = tg_apikey_hash(key, strlen(key)) };
	struct tg_key_use u;

	memset(&u, 0, sizeof(u));
	cr_assert_eq(tg_addr_parse(addr, &k.addr), 0);
	bpf_map_lookup_elem(h_map_fd("tg_key_use"), &k, &u);
	return u;
}

static int n_key_use(void)
{
	struct tg_key_use_key k, next;
	int n = 0, fd = h_map_fd("tg_key_use");

	for (void *prev = NULL; !bpf_map_get_next_key(fd, prev, &next); prev = &k, n++)
		k = next;
	return n;
}

Test(quota, key_use_pairs_are_recorded_without_key_entries)
{
	/* Default config: no API-key entry, no limit; the key detectors on. */
	cfg.anomaly.det[TG_AN_KEY_SHARED].enabled = true;
	apply_settings(TG_MODE_MONITOR);
	cr_assert_eq(conn_request("198.18.0.2", 40000, with_key("Authorization", "Bearer sk-a", 10)), TC_PASS);
	cr_assert_eq(conn_request("198.18.0.2", 40001, with_key("x-api-key", "sk-a", 300)), TC_PASS);
	cr_assert_eq(conn_request("198.18.1.2", 40000, with_key("api-key", "sk-a", 10)), TC_PASS);
	cr_assert_eq(conn_request("198.18.1.2", 40001, with_key("Authorization", "Bearer sk-b", 10)), TC_PASS);
	cr_assert_eq(conn_request("198.18.1.2", 40002, get_req), TC_PASS); /* no key: no pair */
	cr_assert_eq(key_use("sk-a", "198.18.0.2").requests, 2);
	cr_assert_eq(key_use("sk-a", "198.18.1.2").requests, 1);
	cr_assert_eq(key_use("sk-b", "198.18.1.2").requests, 1);
	cr_assert(key_use("sk-b", "198.18.1.2").last_ns > 0);
	cr_assert_eq(n_key_use(), 3);
}

Test(quota, key_use_off_when_the_detectors_are_off)
{
	cfg.anomaly.det[TG_AN_KEY_SHARED].enabled = false;
	cfg.anomaly.det[TG_AN_KEY_ROTATION].enabled = false;
	apply_settings(TG_MODE_MONITOR);
	cr_assert_eq(conn_request("198.18.0.2", 40000, with_key("Authorization", "Bearer sk-a", 10)), TC_PASS);
	cr_assert_eq(n_key_use(), 0);
}

/* ---- /v1/check: the tg_check program ------------------------------------ */

static void put_addr(__u64 *lo, __u64 *hi, const char *text)
{
	struct tg_addr a;

	cr_assert_eq(tg_addr_parse(text, &a), 0, "%s", text);
	*lo = a.w[0] | (__u64)a.w[1] << 32;
	*hi = a.w[2] | (__u64)a.w[3] << 32;
}

/* Runs tg_check as the agent does. server NULL: no connection given. */
static __u32 check(const char *client, uint16_t cport, const char *server, uint16_t sport,
		   const char *key)
{
	__u64 args[TG_CK_NARGS] = { 0 };
	LIBBPF_OPTS(bpf_test_run_opts, o, .ctx_in = args, .ctx_size_in = sizeof(args));

	put_addr(&args[TG_CK_CLIENT_LO], &args[TG_CK_CLIENT_HI], client);
	if (server) {
		put_addr(&args[TG_CK_SERVER_LO], &args[TG_CK_SERVER_HI], server);
		args[TG_CK_PORTS] = (__u64)cport << 16 | sport;
	}
	if (key)
		args[TG_CK_KEY_HASH] = tg_apikey_hash(key, strlen(key));
	cr_assert_eq(bpf_prog_test_run_opts(bpf_program__fd(skel->progs.tg_check), &o), 0);
	return o.retval;
}

#define CK_QID(r) ((r) >> TG_CK_QID_SHIFT)

Test(quota, gateway_action_passes_and_records_the_verdict_for_the_check)
{
	quota(0, 0, 0, 0, 0, 0, TG_ACTION_DROP, 0);
	quota(3, 1, 2, 0, 0, 0, TG_ACTION_GATEWAY, 0);
	cidr("198.18.0.0", 24, 3);
	cr_assert_eq(conn_request("198.18.0.2", 40000, get_req), TC_PASS);
	cr_assert_eq(conn_request("198.18.0.2", 40001, get_req), TC_PASS);
	cr_assert_eq(conn_request("198.18.0.2", 40002, get_req), TC_PASS, "gateway: never dropped");
	cr_assert_eq(bucket(3, NULL).allowed, 2);
	cr_assert_eq(bucket(3, NULL).denied, 1, "counted as denied: the gateway answers it");

	/* The third connection's request start was over: the check says deny,
	 * from the kernel's verdict, with the key's bucket. */
	__u32 r = check("198.18.0.2", 40002, "198.18.0.1", 8080, NULL);
	cr_assert_eq(r & (TG_CK_DENY | TG_CK_KERNEL | TG_CK_BUCKET | TG_CK_ADDR),
		     TG_CK_DENY | TG_CK_KERNEL | TG_CK_BUCKET);
	cr_assert_eq(CK_QID(r), 3);
	/* The first one's was admitted: allow, and nothing charged again. */
	r = check("198.18.0.2", 40000, "198.18.0.1", 8080, NULL);
	cr_assert_eq(r & (TG_CK_DENY | TG_CK_KERNEL), TG_CK_KERNEL);
	cr_assert_eq(bucket(3, NULL).allowed, 2, "a request the kernel saw is not counted twice");
	/* A second check on the same request start is a request the kernel
	 * did not see (TLS, HTTP/2): it is charged, and the bucket is empty. */
	r = check("198.18.0.2", 40000, "198.18.0.1", 8080, NULL);
	cr_assert_eq(r & (TG_CK_DENY | TG_CK_KERNEL), TG_CK_DENY);
	cr_assert_eq(bucket(3, NULL).denied, 2);
}

Test(quota, gateway_action_in_monitor_mode_allows)
{
	apply_settings(TG_MODE_MONITOR);
	quota(0, 0, 0, 0, 0, 0, TG_ACTION_DROP, 0);
	quota(3, 1, 1, 0, 0, 0, TG_ACTION_GATEWAY, 0);
	cidr("198.18.0.0", 24, 3);
	cr_assert_eq(conn_request("198.18.0.2", 40000, get_req), TC_PASS);
	cr_assert_eq(conn_request("198.18.0.2", 40001, get_req), TC_PASS);
	cr_assert_eq(check("198.18.0.2", 40001, "198.18.0.1", 8080, NULL) & TG_CK_DENY, 0);
	cr_assert_eq(bucket(3, NULL).would_deny, 1);
}

Test(quota, check_charges_the_bucket_the_packets_use)
{
	quota(0, 0, 0, 0, 0, 0, TG_ACTION_DROP, 0);
	quota(5, 1, 3, 0, 0, 0, TG_ACTION_DROP, 0);
	apikey("sk-shared", 5);
	/* one request start on the wire, two checks without a connection
	 * (TLS at the gateway), then the bucket is empty for both paths */
	cr_assert_eq(conn_request("198.18.0.2", 40000, with_key("Authorization", "Bearer sk-shared", 10)), TC_PASS);
	__u32 r = check("198.18.7.7", 0, NULL, 0, "sk-shared");
	cr_assert_eq(r & (TG_CK_DENY | TG_CK_KERNEL | TG_CK_BUCKET | TG_CK_ADDR), TG_CK_BUCKET);
	cr_assert_eq(CK_QID(r), 5);
	cr_assert_eq(check("2001:db8::7", 0, NULL, 0, "sk-shared") & TG_CK_DENY, 0);
	cr_assert_eq(check("198.18.7.7", 0, NULL, 0, "sk-shared") & TG_CK_DENY, TG_CK_DENY);
	cr_assert_eq(conn_request("198.18.0.2", 40001, with_key("Authorization", "Bearer sk-shared", 10)), TC_DROP);
	cr_assert_eq(bucket(5, NULL).allowed, 3);
	cr_assert_eq(bucket(5, NULL).denied, 2);
}

Test(quota, check_of_an_address_uses_its_own_bucket)
{
	quota(0, 1, 1, 0, 0, 0, TG_ACTION_DROP, 0);
	__u32 r = check("198.18.9.9", 0, NULL, 0, NULL);
	cr_assert_eq(r & (TG_CK_DENY | TG_CK_BUCKET | TG_CK_ADDR), TG_CK_BUCKET | TG_CK_ADDR);
	cr_assert_eq(CK_QID(r), 0);
	cr_assert_eq(check("198.18.9.9", 0, NULL, 0, NULL) & TG_CK_DENY, TG_CK_DENY);
	cr_assert_eq(check("198.18.9.10", 0, NULL, 0, NULL) & TG_CK_DENY, 0, "another address");
	cr_assert_eq(bucket(0, "198.18.9.9").allowed, 1);
	/* an unknown connection falls back to charging */
	cr_assert_eq(check("198.18.9.11", 5555, "198.18.0.1", 8080, NULL) & (TG_CK_DENY | TG_CK_KERNEL), 0);
}

/* A TLS connection to the gateway: its first payload is a ClientHello,
 * which the kernel charges to the address (here: no limit, no bucket).
 * The gateway's check carries the key from the decrypted request: the
 * kernel's verdict is not about that key, so the check charges the key,
 * once per request; a key of 4 admits 4 such connections, not all. */
static const unsigned char client_hello[] = {
	0x16, 0x03, 0x01, 0x00, 0x40, 0x01, 0x00, 0x00, 0x3c, 0x03, 0x03, 0x11, 0x22, 0x33, 0x44,
	0x55, 0x66, 0x77, 0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff, 0x00, 0x01, 0x02, 0x03,
};

Test(quota, tls_first_payload_is_not_handed_over_as_a_keys_verdict)
{
	struct pkt_opts o = { .saddr = "198.18.0.2", .seq = 100 };
	int denied = 0;

	quota(0, 0, 0, 0, 0, 0, TG_ACTION_DROP, 0);
	quota(6, 1, 4, 0, 0, 0, TG_ACTION_GATEWAY, 0);
	apikey("sk-tls", 6);
	for (int i = 0; i < 8; i++) {
		o.sport = (uint16_t)(41000 + i);
		o.flags = F_SYN;
		o.seq = 100;
		o.payload = NULL;
		o.len = 0;
		cr_assert_eq(h_run(&o, 0), TC_PASS);
		o.flags = F_ACK;
		o.seq = 101;
		o.payload = client_hello;
		o.len = sizeof(client_hello);
		cr_assert_eq(h_run(&o, 0), TC_PASS);
		__u32 r = check("198.18.0.2", o.sport, "198.18.0.1", 8080, "sk-tls");
		cr_assert_eq(r & (TG_CK_KERNEL | TG_CK_BUCKET), TG_CK_BUCKET, "connection %d", i);
		cr_assert_eq(CK_QID(r), 6);
		denied += !!(r & TG_CK_DENY);
	}
	cr_assert_eq(bucket(6, NULL).allowed, 4, "the key's burst, one token a connection");
	cr_assert_eq(denied, 4);
}

/* The key lies beyond what the kernel scans (or is split across
 * segments): the kernel charges the request start to the address's
 * bucket; the check, which sees the key, charges the key, once. */
Test(quota, a_key_the_kernel_did_not_see_is_charged_by_the_check)
{
	quota(0, 100, 100, 0, 0, 0, TG_ACTION_DROP, 0);
	quota(7, 1, 2, 0, 0, 0, TG_ACTION_GATEWAY, 0);
	apikey("sk-deep", 7);
	for (int i = 0; i < 3; i++) {
		cr_assert_eq(conn_request("198.18.0.2", (uint16_t)(42000 + i),
					  with_key("Authorization", "Bearer sk-deep", 1500)), TC_PASS);
		__u32 r = check("198.18.0.2", (uint16_t)(42000 + i), "198.18.0.1", 8080, "sk-deep");
		cr_assert_eq(r & (TG_CK_KERNEL | TG_CK_BUCKET), TG_CK_BUCKET, "request %d", i);
		cr_assert_eq(CK_QID(r), 7);
		cr_assert_eq(!!(r & TG_CK_DENY), i >= 2, "request %d", i);
	}
	cr_assert_eq(bucket(7, NULL).allowed, 2);
	cr_assert_eq(bucket(7, NULL).denied, 1);
	cr_assert_eq(bucket(0, "198.18.0.2").allowed, 3, "the kernel's charge of the starts");
}

/* The kernel saw the key: the check takes its verdict and charges nothing
 * again, once per request start. */
Test(quota, a_key_the_kernel_saw_is_not_charged_twice)
{
	quota(0, 0, 0, 0, 0, 0, TG_ACTION_DROP, 0);
	quota(8, 1, 2, 0, 0, 0, TG_ACTION_GATEWAY, 0);
	apikey("sk-seen", 8);
	for (int i = 0; i < 3; i++) {
		cr_assert_eq(conn_request("198.18.0.2", (uint16_t)(43000 + i),
					  with_key("X-API-Key", "sk-seen", 10)), TC_PASS);
		__u32 r = check("198.18.0.2", (uint16_t)(43000 + i), "198.18.0.1", 8080, "sk-seen");
		cr_assert_eq(r & (TG_CK_KERNEL | TG_CK_BUCKET), TG_CK_KERNEL | TG_CK_BUCKET);
		cr_assert_eq(!!(r & TG_CK_DENY), i >= 2, "request %d", i);
	}
	cr_assert_eq(bucket(8, NULL).allowed, 2);
	cr_assert_eq(bucket(8, NULL).denied, 1, "each request charged once");
}

/* ---- spoofed request starts ------------------------------------------- */

/* A blind spoofer sends request starts from its victim's address: it never
 * sees the gateway's SYN-ACK, so it cannot acknowledge the server's ISN,
 * and no established socket has its 4-tuple. The victim's bucket is not
 * charged; the victim's own requests still pass. */
Test(quota, spoofed_request_starts_do_not_charge_the_victim)
{
	struct pkt_opts o = { .saddr = "198.18.0.9", .seq = 500, .payload = get_req,
			      .len = strlen(get_req) };
	struct tg_integrity before = h_integrity();

	quota(0, 1, 2, 0, 0, 0, TG_ACTION_DROP, 0);
	/* no SYN at all, a guessed ack */
	for (int i = 0; i < 20; i++) {
		o.sport = (uint16_t)(30000 + i);
		o.flags = F_ACK | F_PSH;
		o.ack = 0x12345678u + (uint32_t)i;
		cr_assert_eq(h_run(&o, 0), TC_DROP, "held uncharged: never admitted unproven");
	}
	/* a spoofed SYN (the SYN-ACK goes to the victim), then a guess */
	h_handshake = 1;
	for (int i = 0; i < 5; i++) {
		o.sport = (uint16_t)(31000 + i);
		o.flags = F_SYN;
		o.seq = 500;
		o.payload = NULL;
		o.len = 0;
		o.ack = 0;
		cr_assert_eq(h_run(&o, 0), TC_PASS);
		o.flags = F_ACK | F_PSH;
		o.seq = 501;
		o.payload = get_req;
		o.len = strlen(get_req);
		o.ack = H_SRV_ISN + 7;
		cr_assert_eq(h_run(&o, 0), TC_DROP);
	}
	cr_assert_eq(bucket(0, "198.18.0.9").allowed + bucket(0, "198.18.0.9").denied, 0,
		     "the victim's bucket untouched");
	cr_assert_eq(h_integrity().unverified - before.unverified, 25);
	/* the victim, with real handshakes: its burst is whole */
	cr_assert_eq(conn_request("198.18.0.9", 32000, get_req), TC_PASS);
	cr_assert_eq(conn_request("198.18.0.9", 32001, get_req), TC_PASS);
	cr_assert_eq(conn_request("198.18.0.9", 32002, get_req), TC_DROP);
	cr_assert_eq(bucket(0, "198.18.0.9").allowed, 2);
}

static int seg(const char *addr, uint16_t sport, uint32_t seq, uint32_t ack, uint8_t flags,
	       const char *payload)
{
	return h_run(&(struct pkt_opts){ .saddr = addr, .sport = sport, .seq = seq, .ack = ack,
					.flags = flags, .payload = payload,
					.len = payload ? strlen(payload) : 0 }, 0);
}

/* A client cannot make its own connection unproven to go free: a forged
 * first payload with a wrong ack (the gateway discards it) is held, and the
 * real request at the same place is proven and charged; later ones too. */
Test(quota, a_forged_first_payload_does_not_make_a_connection_free)
{
	uint32_t len = (uint32_t)strlen(get_req), seq = 101;
	struct tg_integrity before = h_integrity();
	int passed = 0;

	quota(0, 1, 1, 0, 0, 0, TG_ACTION_DROP, 0);
	cr_assert_eq(seg("198.18.0.21", 40000, 100, 0, F_SYN, NULL), TC_PASS);
	cr_assert_eq(seg("198.18.0.21", 40000, 101, H_SRV_ISN + 5000, F_ACK | F_PSH, get_req),
		     TC_DROP, "the forged first payload is held");
	cr_assert_eq(h_integrity().unproven_dropped - before.unproven_dropped, 1);
	for (int i = 0; i < 20; i++, seq += len)
		passed += seg("198.18.0.21", 40000, seq, H_SRV_ISN + 1 + 100 * (uint32_t)i,
			      F_ACK | F_PSH, get_req) == TC_PASS;
	cr_assert_eq(passed, 1, "the burst of 1, then the quota");
	cr_assert_eq(bucket(0, "198.18.0.21").allowed, 1);
}

/* A forged RST makes the kernel forget a connection; what comes after on
 * it is unproven (no handshake seen, no socket here) and held, not free. */
Test(quota, a_forgotten_connection_is_not_free)
{
	uint32_t len = (uint32_t)strlen(get_req), seq = 101 + len;

	quota(0, 1, 1, 0, 0, 0, TG_ACTION_DROP, 0);
	cr_assert_eq(conn_request("198.18.0.22", 40000, get_req), TC_PASS);
	cr_assert_eq(seg("198.18.0.22", 40000, seq, 0, F_ACK | F_PSH, get_req), TC_DROP);
	seg("198.18.0.22", 40000, 0x70000000u, 0, F_RST, NULL);
	for (int i = 0; i < 20; i++, seq += len)
		cr_assert_eq(seg("198.18.0.22", 40000, seq, 0, F_ACK | F_PSH, get_req), TC_DROP,
			     "request %d", i);
	cr_assert_eq(bucket(0, "198.18.0.22").allowed, 1);
}

/* TCP Fast Open: a request start on the SYN itself is not proven yet. Where
 * the kernel enforces, it is dropped and nothing is charged (a spoofer's
 * TFO SYNs cannot drain the victim); the client sends the SYN again without
 * data and the request after the handshake, which is proven and charged
 * once. A TFO client cannot walk around its quota. Under a gateway quota
 * the SYN passes: the check charges it. */
Test(quota, tcp_fast_open_start_is_dropped_uncharged_then_charged_once_proven)
{
	struct pkt_opts o = { .saddr = "198.18.0.11", .sport = 33000, .seq = 700,
			      .flags = F_SYN, .payload = get_req, .len = strlen(get_req) };
	struct tg_client_view v;
	struct tg_integrity before = h_integrity();

	quota(0, 1, 2, 0, 0, 0, TG_ACTION_DROP, 0);
	for (int i = 0; i < 3; i++) /* the SYN with data, and its copies from a spoofer */
		cr_assert_eq(h_run(&o, 0), TC_DROP, "TFO SYN %d", i);
	cr_assert_eq(bucket(0, "198.18.0.11").allowed + bucket(0, "198.18.0.11").denied, 0,
		     "nothing charged for an unproven start");
	cr_assert_eq(h_integrity().unproven_dropped - before.unproven_dropped, 3, "each drop counted");
	/* the client's stack: the SYN again without data, then the request */
	o.payload = NULL;
	o.len = 0;
	cr_assert_eq(h_run(&o, 0), TC_PASS, "the plain SYN passes");
	o.flags = F_ACK | F_PSH;
	o.seq = 701;
	o.payload = get_req;
	o.len = strlen(get_req);
	cr_assert_eq(h_run(&o, 0), TC_PASS, "the proven request passes");
	cr_assert_eq(bucket(0, "198.18.0.11").allowed, 1, "charged once");
	cr_assert_eq(h_client("198.18.0.11", &v), 0);
	cr_assert_eq(v.requests, 1, "counted once");
	/* a TFO client does not get past an empty bucket */
	cr_assert_eq(conn_request("198.18.0.11", 33001, get_req), TC_PASS);
	o.sport = 33002;
	o.seq = 900;
	o.flags = F_SYN;
	cr_assert_eq(h_run(&o, 0), TC_DROP, "TFO SYN over quota");
	o.payload = NULL;
	o.len = 0;
	cr_assert_eq(h_run(&o, 0), TC_PASS);
	o.flags = F_ACK | F_PSH;
	o.seq = 901;
	o.payload = get_req;
	o.len = strlen(get_req);
	cr_assert_eq(h_run(&o, 0), TC_DROP, "its request after the handshake: the bucket is empty");
	cr_assert_eq(bucket(0, "198.18.0.11").denied, 1);

	/* a gateway quota: the kernel never drops, the check charges it */
	quota(0, 1, 2, 0, 0, 0, TG_ACTION_GATEWAY, 0);
	o.saddr = "198.18.0.12";
	o.seq = 1000;
	o.flags = F_SYN;
	cr_assert_eq(h_run(&o, 0), TC_PASS, "TFO SYN under a gateway quota");
}

/* The SYN-ACK was not seen (the agent started after the handshake, or it
 * left the host another way): an established socket of the 4-tuple is
 * proof too. A real connection on loopback, and a request start crafted
 * with its 4-tuple. */
Test(quota, an_established_socket_proves_the_client)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t sl = sizeof(sa);
	int ls = socket(AF_INET, SOCK_STREAM, 0), cs = socket(AF_INET, SOCK_STREAM, 0), as;
	struct sockaddr_in local;
	struct tg_integrity before;
	__u32 port;
	__u8 on = 1;

	cr_assert(ls >= 0 && cs >= 0);
	cr_assert_eq(bind(ls, (struct sockaddr *)&sa, sizeof(sa)), 0);
	cr_assert_eq(listen(ls, 4), 0);
	cr_assert_eq(getsockname(ls, (struct sockaddr *)&sa, &sl), 0);
	cr_assert_eq(connect(cs, (struct sockaddr *)&sa, sizeof(sa)), 0);
	as = accept(ls, NULL, NULL);
	cr_assert(as >= 0);
	sl = sizeof(local);
	cr_assert_eq(getsockname(cs, (struct sockaddr *)&local, &sl), 0);
	port = ntohs(sa.sin_port);
	cr_assert_eq(bpf_map_update_elem(h_map_fd("tg_ports"), &port, &on, 0), 0);
	quota(0, 1, 5, 0, 0, 0, TG_ACTION_DROP, 0);
	before = h_integrity();
	cr_assert_eq(h_run(&(struct pkt_opts){ .saddr = "127.0.0.1", .daddr = "127.0.0.1",
					      .sport = ntohs(local.sin_port), .dport = (uint16_t)port,
					      .seq = 7, .ack = 99, .flags = F_ACK | F_PSH,
					      .payload = get_req, .len = strlen(get_req) }, 0),
		     TC_PASS);
	cr_assert_eq(bucket(0, "127.0.0.1").allowed, 1, "charged: the socket is there");
	cr_assert_eq(h_integrity().unverified, before.unverified);
	/* the same tuple but another client port: no socket, no charge */
	cr_assert_eq(h_run(&(struct pkt_opts){ .saddr = "127.0.0.1", .daddr = "127.0.0.1",
					      .sport = (uint16_t)(ntohs(local.sin_port) ^ 0x5a5a),
					      .dport = (uint16_t)port, .seq = 7, .ack = 99,
					      .flags = F_ACK | F_PSH, .payload = get_req,
					      .len = strlen(get_req) }, 0),
		     TC_DROP, "held: not proven");
	cr_assert_eq(bucket(0, "127.0.0.1").allowed, 1);
	cr_assert_eq(h_integrity().unverified, before.unverified + 1);
	close(as);
	close(cs);
	close(ls);
}

/* A global quota (fleet mode): the kernel takes from the slot's credit
 * while the agent is in sync, and in each fallback does what it says. */
static void fleet_slot(__u32 id, __u32 mode, __s64 credit)
{
	struct tg_fleet_slot s = { .credit = credit, .mode = mode };

	cr_assert_eq(bpf_map_update_elem(h_map_fd("tg_fleet"), &id, &s, 0), 0);
}

static struct tg_fleet_slot fleet_get(__u32 id)
{
	struct tg_fleet_slot s;

	cr_assert_eq(bpf_map_lookup_elem(h_map_fd("tg_fleet"), &id, &s), 0);
	return s;
}

static void global_quota(__u32 id, __u64 rps, __u64 burst, __u32 expected_nodes)
{
	struct tg_quota_entry e;
	struct tg_quota q;

	memset(&e, 0, sizeof(e));
	e.limits = (struct tg_limits){ .requests_per_sec = rps, .burst = burst };
	e.action = TG_ACTION_DROP;
	e.global = true;
	e.match = TG_MATCH_API_KEY;
	snprintf(e.name, sizeof(e.name), "g%u", id);
	cfg.cluster.expected_nodes = expected_nodes;
	tg_quota_build(&q, &cfg, &e);
	cr_assert_eq(bpf_map_update_elem(h_map_fd("tg_quotas"), &id, &q, 0), 0);
}

#define GKEY "sk-fleet-0123456789"

Test(quota, global_quota_takes_the_fleet_credit)
{
	uint16_t port = 41000;

	quota(0, 0, 0, 0, 0, 0, TG_ACTION_DROP, 0);
	global_quota(7, 1, 90, 3); /* local share: burst 30 */
	apikey(GKEY, 7);
	fleet_slot(7, TG_FLEET_SHARED, 2);
	for (int i = 0; i < 2; i++)
		cr_assert_eq(conn_request("198.18.0.2", port++, with_key("x-api-key", GKEY, 10)), TC_PASS);
	cr_assert_eq(conn_request("198.18.0.2", port++, with_key("x-api-key", GKEY, 10)), TC_DROP,
		     "the credit is spent, though the local bucket is full");
	cr_assert_eq(fleet_get(7).credit, 0);
	cr_assert_eq(fleet_get(7).used, 2);
	cr_assert_eq(fleet_get(7).denied, 1);
	/* a negative credit (a debt) refuses too */
	fleet_slot(7, TG_FLEET_SHARED, -3);
	cr_assert_eq(conn_request("198.18.0.2", port++, with_key("x-api-key", GKEY, 10)), TC_DROP);
	cr_assert_eq(fleet_get(7).credit, -3);
}

Test(quota, global_quota_fallbacks)
{
	uint16_t port = 42000;

	quota(0, 0, 0, 0, 0, 0, TG_ACTION_DROP, 0);
	global_quota(8, 1, 6, 3); /* local share: 1/s, burst 2 */
	apikey(GKEY, 8);
	fleet_slot(8, TG_FLEET_OPEN, 0);
	for (int i = 0; i < 5; i++)
		cr_assert_eq(conn_request("198.18.0.2", port++, with_key("x-api-key", GKEY, 10)), TC_PASS);
	fleet_slot(8, TG_FLEET_CLOSED, 100);
	cr_assert_eq(conn_request("198.18.0.2", port++, with_key("x-api-key", GKEY, 10)), TC_DROP);
	/* local share: the quota's own bucket, burst 6 / 3 */
	fleet_slot(8, TG_FLEET_LOCAL, 0);
	for (int i = 0; i < 2; i++)
		cr_assert_eq(conn_request("198.18.0.2", port++, with_key("x-api-key", GKEY, 10)), TC_PASS);
	cr_assert_eq(conn_request("198.18.0.2", port++, with_key("x-api-key", GKEY, 10)), TC_DROP);
	/* counted since the last write of the slot (which zeroes them) */
	cr_assert_eq(fleet_get(8).used, 2);
	cr_assert_eq(fleet_get(8).denied, 1);
}
