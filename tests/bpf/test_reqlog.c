/* The request log (kern/reqlog.bpf.h) through the real TC programs on
 * crafted packets: a record at the response's status line, at once for a
 * dropped start, abandoned at FIN or RST, without a status when the next
 * request comes first; would_deny in monitor; none when off or sampled
 * out; the per-second cap. Records are read from the tg_requests ring. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "config/config.h"
#include "harness.h"
#include "bpf/quota_plan.h"
#include "lib/addr.h"

#define CLIENT "198.18.0.2"
#define GW "198.18.0.1"
#define REQ "POST /v1/chat/completions HTTP/1.1\r\nHost: gw\r\nContent-Length: 5\r\n\r\nhello"

static struct tg_config cfg;
static int ids[TG_MAX_ROUTES];
static struct tg_reqlog_rec recs[64];
static int nrecs;

static int on_rec(void *ctx, void *data, size_t size)
{
	cr_assert_eq(size, sizeof(struct tg_reqlog_rec));
	if (nrecs < 64)
		memcpy(&recs[nrecs], data, sizeof(recs[0]));
	nrecs++;
	return 0;
}

/* Reads what the ring holds into recs; returns how many records. */
static int collect(void)
{
	struct ring_buffer *rb = ring_buffer__new(h_map_fd("tg_requests"), on_rec, NULL, NULL);

	cr_assert_not_null(rb);
	nrecs = 0;
	ring_buffer__consume(rb);
	ring_buffer__free(rb);
	return nrecs;
}

static void apply(void)
{
	static const char none[TG_ROUTE_IDS][TG_ROUTE_NAME_LEN];
	static struct tg_route_table rt;
	struct tg_reqlog_conf rc;
	struct tg_settings s;
	__u32 zero = 0;

	tg_route_assign_ids(none, &cfg, ids);
	tg_routes_build(&rt, &cfg, ids);
	cr_assert_eq(bpf_map_update_elem(h_map_fd("tg_route_table"), &zero, &rt, 0), 0);
	tg_reqlog_conf_build(&rc, &cfg);
	cr_assert_eq(bpf_map_update_elem(h_map_fd("tg_reqlog_conf"), &zero, &rc, 0), 0);
	tg_settings_build(&s, &cfg, 1);
	cr_assert_eq(bpf_map_update_elem(h_map_fd("tg_settings"), &zero, &s, 0), 0);
}

/* quotas.default: rps/burst with action drop (0: unlimited). */
static void default_quota(__u64 rps, __u64 burst)
{
	struct tg_quota q;
	__u32 id = 0;

	cfg.default_limits.requests_per_sec = rps;
	cfg.default_limits.burst = burst;
	tg_quota_build(&q, &cfg, NULL);
	cr_assert_eq(bpf_map_update_elem(h_map_fd("tg_quotas"), &id, &q, 0), 0);
}

static void setup(void)
{
	h_setup();
	tg_config_defaults(&cfg);
	cfg.mode = TG_MODE_MONITOR;
	cfg.reqlog.enabled = true;
	cfg.reqlog.sample = 1;
	cfg.reqlog.max_per_sec = 0;
	snprintf(cfg.reqlog.file, sizeof(cfg.reqlog.file), "stdout");
	default_quota(0, 0);
	apply();
}

static __u32 route_id(const char *name)
{
	for (int i = 0; i < cfg.n_routes; i++)
		if (!strcmp(cfg.routes[i].name, name))
			return (__u32)ids[i];
	cr_assert_fail("no route %s", name);
	return 0;
}

/* The gateway's status line to client:port, acknowledging `ack`. */
static void respond(uint16_t port, uint32_t ack, const char *status_line)
{
	static char resp[256];
	struct pkt_opts o = { .saddr = GW, .daddr = CLIENT, .sport = 8080, .dport = port,
			      .seq = H_SRV_ISN + 1, .ack = ack, .flags = F_ACK };

	snprintf(resp, sizeof(resp), "%s\r\nContent-Length: 0\r\n\r\n", status_line);
	o.payload = resp;
	o.len = strlen(resp);
	h_run_egress(&o);
}

/* A client segment on connection `port` (seq relative to its ISN 100). */
static int client_seg(uint16_t port, uint32_t seq, uint8_t flags, const char *payload)
{
	struct pkt_opts o = { .saddr = CLIENT, .sport = port, .seq = seq, .flags = flags,
			      .payload = payload, .len = payload ? strlen(payload) : 0 };

	return h_run(&o, 0);
}

static struct tg_reqlog_stats stats(void)
{
	struct tg_reqlog_stats *v = calloc((size_t)ncpus, sizeof(*v)), t = { 0 };
	__u32 zero = 0;

	cr_assert_eq(bpf_map_lookup_elem(h_map_fd("tg_reqlog_stats"), &zero, v), 0);
	for (int i = 0; i < ncpus; i++) {
		t.sampled += v[i].sampled;
		t.capped += v[i].capped;
		t.lost += v[i].lost;
		t.records += v[i].records;
	}
	free(v);
	return t;
}

TestSuite(reqlog, .init = setup, .fini = h_teardown, .timeout = 60);

Test(reqlog, record_at_the_status_line)
{
	struct tg_addr a;
	size_t len = strlen(REQ);

	cr_assert_eq(h_first_payload(CLIENT, 30001, REQ, len), TC_PASS);
	cr_assert_eq(collect(), 0, "no record before the response starts");
	respond(30001, 101 + (uint32_t)len, "HTTP/1.1 201 Created");
	cr_assert_eq(collect(), 1);
	cr_assert_eq(tg_addr_parse(CLIENT, &a), 0);
	cr_expect_eq(memcmp(&recs[0].client, &a, sizeof(a)), 0);
	cr_expect_eq(recs[0].client_port, 30001);
	cr_expect_eq(recs[0].status, 201);
	cr_expect_eq(recs[0].verdict, TG_RV_ALLOWED);
	cr_expect_eq(recs[0].method, TG_METHOD_POST);
	cr_expect_eq(recs[0].route, route_id("chat"));
	cr_expect_eq(recs[0].model, TG_MODEL_NONE);
	cr_expect_eq(recs[0].qid, 0);
	cr_expect_eq(recs[0].request_bytes, len);
	cr_expect_gt(recs[0].ttfb_ns, 0);
	cr_expect_gt(recs[0].start_ns, 0);
	/* a retransmitted status line is no second response */
	respond(30001, 101 + (uint32_t)len, "HTTP/1.1 201 Created");
	cr_expect_eq(collect(), 0);
	cr_expect_eq(stats().records, 1);
	cr_expect_eq(stats().sampled, 1);
}

Test(reqlog, request_bytes_count_a_body_in_a_later_segment)
{
	const char *hdr = "POST /v1/embeddings HTTP/1.1\r\nHost: gw\r\nContent-Length: 40\r\n\r\n";
	size_t len = strlen(hdr);

	cr_assert_eq(h_first_payload(CLIENT, 30002, hdr, len), TC_PASS);
	cr_assert_eq(client_seg(30002, 101 + (uint32_t)len, F_ACK,
				"{\"input\":\"0123456789012345678901234\"}  "), TC_PASS);
	respond(30002, 101 + (uint32_t)len + 40, "HTTP/1.1 200 OK");
	cr_assert_eq(collect(), 1);
	cr_expect_eq(recs[0].request_bytes, len + 40);
	cr_expect_eq(recs[0].route, route_id("embeddings"));
	cr_expect_eq(recs[0].status, 200);
}

Test(reqlog, dropped_start_recorded_at_once)
{
	cfg.mode = TG_MODE_ENFORCE;
	default_quota(1, 1);
	apply();
	cr_assert_eq(h_first_payload(CLIENT, 30003, REQ, strlen(REQ)), TC_PASS);
	cr_assert_eq(h_first_payload(CLIENT, 30004, REQ, strlen(REQ)), TC_DROP);
	cr_assert_eq(collect(), 1, "the refused one, at once");
	cr_expect_eq(recs[0].client_port, 30004);
	cr_expect_eq(recs[0].verdict, TG_RV_DENIED);
	cr_expect_eq(recs[0].status, 0);
	cr_expect_eq(recs[0].ttfb_ns, 0);
	cr_expect_eq(recs[0].request_bytes, strlen(REQ));
	/* its retransmission, dropped again, is the same request: no record */
	cr_assert_eq(client_seg(30004, 101, F_ACK, REQ), TC_DROP);
	cr_expect_eq(collect(), 0);
	/* the admitted one gets its record at its response */
	respond(30003, 101 + (uint32_t)strlen(REQ), "HTTP/1.1 200 OK");
	cr_assert_eq(collect(), 1);
	cr_expect_eq(recs[0].client_port, 30003);
	cr_expect_eq(recs[0].verdict, TG_RV_ALLOWED);
}

Test(reqlog, would_deny_in_monitor)
{
	default_quota(1, 1);
	cr_assert_eq(h_first_payload(CLIENT, 30005, REQ, strlen(REQ)), TC_PASS);
	cr_assert_eq(h_first_payload(CLIENT, 30006, REQ, strlen(REQ)), TC_PASS);
	respond(30005, 101 + (uint32_t)strlen(REQ), "HTTP/1.1 200 OK");
	respond(30006, 101 + (uint32_t)strlen(REQ), "HTTP/1.1 200 OK");
	cr_assert_eq(collect(), 2);
	cr_expect_eq(recs[0].verdict, TG_RV_ALLOWED);
	cr_expect_eq(recs[1].verdict, TG_RV_WOULD_DENY);
	cr_expect_eq(recs[1].status, 200);
}

Test(reqlog, fin_or_rst_with_the_request_open_is_abandoned)
{
	uint32_t end = 101 + (uint32_t)strlen(REQ);

	cr_assert_eq(h_first_payload(CLIENT, 30007, REQ, strlen(REQ)), TC_PASS);
	cr_assert_eq(client_seg(30007, end, F_FIN | F_ACK, NULL), TC_PASS);
	cr_assert_eq(collect(), 1);
	cr_expect_eq(recs[0].verdict, TG_RV_ABANDONED);
	cr_expect_eq(recs[0].status, 0);
	cr_expect_eq(recs[0].request_bytes, strlen(REQ));
	cr_assert_eq(h_first_payload(CLIENT, 30008, REQ, strlen(REQ)), TC_PASS);
	cr_assert_eq(client_seg(30008, end, F_RST, NULL), TC_PASS);
	cr_assert_eq(collect(), 1);
	cr_expect_eq(recs[0].verdict, TG_RV_ABANDONED);
	cr_expect_eq(recs[0].client_port, 30008);
	/* answered, then closed: one record, not abandoned */
	cr_assert_eq(h_first_payload(CLIENT, 30009, REQ, strlen(REQ)), TC_PASS);
	respond(30009, end, "HTTP/1.1 200 OK");
	cr_assert_eq(client_seg(30009, end, F_FIN | F_ACK, NULL), TC_PASS);
	cr_assert_eq(collect(), 1);
	cr_expect_eq(recs[0].verdict, TG_RV_ALLOWED);
}

Test(reqlog, next_request_first_sends_the_open_one)
{
	const char *get = "GET /v1/models HTTP/1.1\r\nHost: gw\r\n\r\n";
	uint32_t end = 101 + (uint32_t)strlen(REQ);

	cr_assert_eq(h_first_payload(CLIENT, 30010, REQ, strlen(REQ)), TC_PASS);
	cr_assert_eq(client_seg(30010, end, F_ACK, get), TC_PASS);
	cr_assert_eq(collect(), 1);
	cr_expect_eq(recs[0].method, TG_METHOD_POST);
	cr_expect_eq(recs[0].status, 0);
	respond(30010, end + (uint32_t)strlen(get), "HTTP/1.1 404 Not Found");
	cr_assert_eq(collect(), 1);
	cr_expect_eq(recs[0].method, TG_METHOD_GET);
	cr_expect_eq(recs[0].route, route_id("models"));
	cr_expect_eq(recs[0].status, 404);
}

Test(reqlog, off_or_sampled_out_costs_no_record)
{
	cfg.reqlog.enabled = false;
	apply();
	cr_assert_eq(h_first_payload(CLIENT, 30011, REQ, strlen(REQ)), TC_PASS);
	respond(30011, 101 + (uint32_t)strlen(REQ), "HTTP/1.1 200 OK");
	cr_expect_eq(collect(), 0);
	cr_expect_eq(stats().sampled, 0);
	cfg.reqlog.enabled = true;
	cfg.reqlog.sample = 0;
	apply();
	for (uint16_t p = 30012; p < 30022; p++) {
		cr_assert_eq(h_first_payload(CLIENT, p, REQ, strlen(REQ)), TC_PASS);
		respond(p, 101 + (uint32_t)strlen(REQ), "HTTP/1.1 200 OK");
	}
	cr_expect_eq(collect(), 0);
	cr_expect_eq(stats().sampled, 0);
}

static uint64_t mono_sec(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec;
}

Test(reqlog, cap_per_second)
{
	uint64_t before, after;
	int tries = 0;
	struct tg_reqlog_stats st;

	cfg.reqlog.max_per_sec = 3;
	/* 10 requests within one second (of the kernel's clock, the same
	 * CLOCK_MONOTONIC): tried again if a second boundary fell inside */
	do {
		h_teardown();
		setup();
		cfg.reqlog.max_per_sec = 3;
		apply();
		before = mono_sec();
		for (uint16_t p = 30100; p < 30110; p++) {
			cr_assert_eq(h_first_payload(CLIENT, p, REQ, strlen(REQ)), TC_PASS);
			respond(p, 101 + (uint32_t)strlen(REQ), "HTTP/1.1 200 OK");
		}
		after = mono_sec();
	} while (before != after && ++tries < 5);
	cr_assert_eq(before, after, "no run within one second");
	cr_expect_eq(collect(), 3);
	st = stats();
	cr_expect_eq(st.sampled, 10);
	cr_expect_eq(st.capped, 7);
	cr_expect_eq(st.records, 3);
}
