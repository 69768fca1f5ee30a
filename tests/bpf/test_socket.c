/* The egress and cgroup_skb programs on crafted packets: responses per
 * client (status classes, bytes, time to first byte), cgroup_skb counting
 * from the IP header with the same code as TC, and no double counting
 * with TC. (sockops cannot be run with BPF_PROG_TEST_RUN: the end-to-end
 * tier covers it.) */
#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "config/config.h"
#include "harness.h"
#include "http_token.h"
#include "bpf/quota_plan.h"
#include "lib/addr.h"

static int run_prog(struct bpf_program *prog, const struct pkt_opts *o, __u32 ingress_ifindex)
{
	uint8_t buf[PKT_MAX];
	size_t n = pkt_build(buf, sizeof(buf), o);
	struct __sk_buff ctx = { .ingress_ifindex = ingress_ifindex };

	DECLARE_LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = buf, .data_size_in = (__u32)n,
			    .repeat = 1, .ctx_in = &ctx, .ctx_size_in = sizeof(ctx));
	cr_assert_eq(bpf_prog_test_run_opts(bpf_program__fd(prog), &opts), 0,
		     "test run: %s", strerror(errno));
	return (int)opts.retval;
}

/* A response segment from the gateway (198.18.0.1:8080) to the client. */
static int response(const char *payload, uint16_t client_port)
{
	struct pkt_opts o = { .saddr = "198.18.0.1", .daddr = "198.18.0.2", .sport = 8080,
			      .dport = client_port, .seq = 5000, .flags = F_ACK | F_PSH,
			      .payload = payload, .len = strlen(payload) };

	return run_prog(skel->progs.tg_tc_egress, &o, 0);
}

static struct tg_resp resp_of(const char *addr)
{
	struct tg_resp vals[TG_MAX_CPUS], sum;
	struct tg_addr key;

	memset(&sum, 0, sizeof(sum));
	cr_assert_eq(tg_addr_parse(addr, &key), 0);
	if (bpf_map_lookup_elem(h_map_fd("tg_responses"), &key, vals) == 0)
		tg_resp_aggregate(&sum, vals, sizeof(vals[0]), 1);
	return sum;
}

TestSuite(socket, .init = h_setup, .fini = h_teardown, .timeout = 30);

static const char ok_resp[] = "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nok\n";

Test(socket, status_classes_and_response_bytes)
{
	static const char *const segs[] = {
		ok_resp, "HTTP/1.1 301 Moved\r\n\r\n", "HTTP/1.1 404 Not Found\r\n\r\n",
		"HTTP/1.1 429 Too Many Requests\r\n\r\n", "HTTP/1.0 502 Bad Gateway\r\n\r\n",
		"HTTP/1.1 100 Continue\r\n\r\n", "body bytes, not a status line",
	};
	uint64_t bytes = 0;
	struct tg_resp r;

	for (size_t i = 0; i < sizeof(segs) / sizeof(segs[0]); i++) {
		cr_assert_eq(response(segs[i], 40000), -1);
		bytes += strlen(segs[i]);
	}
	r = resp_of("198.18.0.2");
	cr_assert_eq(r.status[TG_ST_2XX], 1);
	cr_assert_eq(r.status[TG_ST_3XX], 1);
	cr_assert_eq(r.status[TG_ST_4XX], 1, "404 only: 429 has its own class");
	cr_assert_eq(r.status[TG_ST_429], 1);
	cr_assert_eq(r.status[TG_ST_5XX], 1);
	cr_assert_eq(r.responses, 5, "1xx is interim, body bytes are no response");
	cr_assert_eq(r.bytes, bytes);
	cr_assert_eq(r.packets, 7);
}

Test(socket, time_to_first_byte_after_a_request)
{
	static const char req[] = "GET / HTTP/1.1\r\nHost: gw\r\n\r\n";
	struct pkt_opts o = { .seq = 100, .flags = F_SYN };
	struct tg_resp r;
	__u32 total = 0;

	cr_assert_eq(h_run(&o, 0), TC_PASS);
	o.seq = 101;
	o.flags = F_ACK;
	o.payload = req;
	o.len = strlen(req);
	cr_assert_eq(h_run(&o, 0), TC_PASS);
	cr_assert_eq(response(ok_resp, 40000), -1);
	cr_assert_eq(response(ok_resp, 40000), -1); /* a second status line: no request pending */
	r = resp_of("198.18.0.2");
	for (int i = 0; i < TG_LAT_BUCKETS; i++)
		total += r.lat_hist[i];
	cr_assert_eq(total, 1, "one request, one time to first byte");
	cr_assert_eq(r.responses, 1, "a status line again (a retransmission) is no second response");
	cr_assert_eq(r.status[TG_ST_2XX], 1);
	cr_assert_eq(r.bytes, 2 * strlen(ok_resp), "bytes are wire bytes: both segments");
	cr_assert_eq(r.lat_hist[0], 1, "answered at once: under a millisecond");
}

/* The gateway's SYN-ACK to o's SYN through cgroup egress; o's next
 * segments acknowledge it, as a real client's do. */
static void synack_at_cgroup(struct pkt_opts *o)
{
	struct pkt_opts sa = { .saddr = "198.18.0.1", .daddr = "198.18.0.2", .sport = 8080,
			       .dport = o->sport ? o->sport : 40000, .seq = H_SRV_ISN,
			       .ack = o->seq + 1, .flags = F_SYN | F_ACK };

	cr_assert_eq(run_prog(skel->progs.tg_cgroup_egress, &sa, 7), 1);
	o->ack = H_SRV_ISN + 1;
}

Test(socket, cgroup_ingress_counts_from_the_ip_header_and_drops_beyond_quota)
{
	static const char req[] = "GET / HTTP/1.1\r\nHost: gw\r\n\r\n";
	struct pkt_opts o = { .seq = 100, .flags = F_SYN };
	static struct tg_config cfg;
	struct tg_client_view v;
	struct tg_settings s;
	struct tg_quota q;
	__u32 zero = 0;

	tg_config_defaults(&cfg);
	cfg.mode = TG_MODE_ENFORCE;
	cfg.default_limits.requests_per_sec = 1;
	cfg.default_limits.burst = 1;
	tg_quota_build(&q, &cfg, NULL);
	tg_settings_build(&s, &cfg, 1);
	cr_assert_eq(bpf_map_update_elem(h_map_fd("tg_quotas"), &zero, &q, 0), 0);
	cr_assert_eq(bpf_map_update_elem(h_map_fd("tg_settings"), &zero, &s, 0), 0);

	cr_assert_eq(run_prog(skel->progs.tg_cgroup_ingress, &o, 7), 1);
	synack_at_cgroup(&o);
	o.seq = 101;
	o.flags = F_ACK;
	o.payload = req;
	o.len = strlen(req);
	cr_assert_eq(run_prog(skel->progs.tg_cgroup_ingress, &o, 7), 1);
	o.sport = 40001;
	o.seq = 100;
	o.flags = F_SYN;
	o.payload = NULL;
	o.len = 0;
	cr_assert_eq(run_prog(skel->progs.tg_cgroup_ingress, &o, 7), 1);
	synack_at_cgroup(&o);
	o.seq = 101;
	o.flags = F_ACK;
	o.payload = req;
	o.len = strlen(req);
	cr_assert_eq(run_prog(skel->progs.tg_cgroup_ingress, &o, 7), 0, "beyond quota: 0 drops");
	cr_assert_eq(h_client("198.18.0.2", &v), 0);
	cr_assert_eq(v.requests, 2);
	cr_assert_eq(v.syns, 2);
	cr_assert_eq(v.bytes, 4 * 40 + 2 * strlen(req), "L3 bytes, as TC counts them");
}

Test(socket, cgroup_skb_leaves_tc_interfaces_to_tc)
{
	static const char req[] = "GET / HTTP/1.1\r\nHost: gw\r\n\r\n";
	struct pkt_opts o = { .seq = 101, .payload = req, .len = strlen(req) };
	__u32 ifx = 9;
	__u8 on = 1;

	cr_assert_eq(bpf_map_update_elem(h_map_fd("tg_tc_ifaces"), &ifx, &on, 0), 0);
	cr_assert_eq(run_prog(skel->progs.tg_cgroup_ingress, &o, 9), 1);
	cr_assert_eq(h_n_clients(), 0, "TC counts packets of its interfaces");
	cr_assert_eq(run_prog(skel->progs.tg_cgroup_ingress, &o, 8), 1);
	cr_assert_eq(h_n_clients(), 1);
}
