/* The TC ingress program run on crafted packets with BPF_PROG_TEST_RUN:
 * telemetry. Every count is asserted exactly, and (monitor mode, no
 * quotas) every packet passes. Needs root (CAP_BPF + CAP_NET_ADMIN). */
#include <arpa/inet.h>
#include <errno.h>
#include <criterion/criterion.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <string.h>
#include "tollgate.skel.h"
#include "shared.h"
#include "http_token.h"
#include "telemetry/rates.h"
#include "pkt.h"
#include "harness.h"

#define setup h_setup
#define teardown h_teardown
#define run(o) do { cr_assert_eq(h_run((o), 0), TC_PASS); } while (0)
#define run_ctx(o, g) do { cr_assert_eq(h_run((o), (g)), TC_PASS); } while (0)
#define seg(q, f, p) do { cr_assert_eq(h_seg((q), (f), (p)), TC_PASS); } while (0)
#define client h_client
#define global h_global
#define n_clients h_n_clients

static const char get_req[] = "GET /v1/models HTTP/1.1\r\nHost: gw\r\n\r\n";

TestSuite(tc, .init = setup, .fini = teardown, .timeout = 30);

Test(tc, ipv4_syn_then_request)
{
	struct tg_client_view v;

	seg(1000, F_SYN, NULL);
	seg(1001, F_ACK, NULL);
	seg(1001, F_ACK | F_PSH, get_req);
	cr_assert_eq(client("198.18.0.2", &v), 0);
	cr_assert_eq(v.syns, 1);
	cr_assert_eq(v.requests, 1);
	cr_assert_eq(v.packets, 3);
	cr_assert_eq(v.payload_bytes, strlen(get_req));
	cr_assert_eq(v.bytes, 3 * 40 + strlen(get_req));
	cr_assert(v.first_seen_ns > 0 && v.last_seen_ns >= v.first_seen_ns);
}

Test(tc, retransmitted_syn_counts_once)
{
	struct tg_client_view v;

	seg(1000, F_SYN, NULL);
	seg(1000, F_SYN, NULL);
	cr_assert_eq(client("198.18.0.2", &v), 0);
	cr_assert_eq(v.syns, 1);
	cr_assert_eq(v.packets, 2);
}

Test(tc, ipv6_with_extension_headers_grouped_by_prefix)
{
	struct pkt_opts a = { .v6 = 1, .v6_ext = 2, .saddr = "fd00:198:18::2",
			      .seq = 5, .flags = F_ACK, .payload = get_req, .len = strlen(get_req) };
	struct pkt_opts b = a;
	struct tg_client_view v;

	b.saddr = "fd00:198:18::99"; /* same /64 */
	b.sport = 40001;
	run(&a);
	run(&b);
	cr_assert_eq(client("fd00:198:18::", &v), 0, "keyed by the /64 prefix");
	cr_assert_eq(v.requests, 2);
	cr_assert_eq(v.payload_bytes, 2 * strlen(get_req));
	cr_assert_eq(v.bytes, 2 * (pkt_hdr_len(&a) + strlen(get_req)));
	cr_assert_eq(n_clients(), 1);
}

Test(tc, ipv6_other_prefix_is_another_client)
{
	struct pkt_opts a = { .v6 = 1, .saddr = "fd00:198:18::2", .seq = 5,
			      .payload = get_req, .len = strlen(get_req) };
	struct pkt_opts b = a;

	b.saddr = "fd00:198:18:1::2";
	run(&a);
	run(&b);
	cr_assert_eq(n_clients(), 2);
}

Test(tc, vlan_single_and_double_tag)
{
	struct pkt_opts a = { .vlan_tags = 1, .seq = 5, .payload = get_req, .len = strlen(get_req) };
	struct pkt_opts b = a;
	struct tg_client_view v;

	b.vlan_tags = 2;
	b.sport = 40001;
	run(&a);
	run(&b);
	cr_assert_eq(client("198.18.0.2", &v), 0);
	cr_assert_eq(v.requests, 2);
	cr_assert_eq(v.bytes, 2 * (40 + strlen(get_req)), "L3 bytes exclude the tags");
}

Test(tc, ipv4_options)
{
	struct pkt_opts o = { .ip_opt_words = 10, .seq = 5, .payload = get_req, .len = strlen(get_req) };
	struct tg_client_view v;

	run(&o);
	cr_assert_eq(client("198.18.0.2", &v), 0);
	cr_assert_eq(v.requests, 1);
	cr_assert_eq(v.payload_bytes, strlen(get_req));
	cr_assert_eq(v.bytes, 60 + 20 + strlen(get_req));
}

Test(tc, non_gateway_port_untouched)
{
	struct pkt_opts o = { .dport = 22, .seq = 5, .flags = F_SYN };
	struct tg_client_view v;

	run(&o);
	o.flags = F_ACK;
	o.payload = get_req;
	o.len = strlen(get_req);
	run(&o);
	cr_assert_eq(client("198.18.0.2", &v), -1);
	cr_assert_eq(n_clients(), 0);
	cr_assert_eq(global().malformed, 0);
}

Test(tc, non_tcp_untouched)
{
	struct pkt_opts o = { .udp = 1, .payload = get_req, .len = strlen(get_req) };

	run(&o);
	o.v6 = 1;
	run(&o);
	cr_assert_eq(n_clients(), 0);
	cr_assert_eq(global().malformed, 0);
}

Test(tc, truncated_packets_pass_and_count_as_malformed)
{
	struct pkt_opts o = { .seq = 5, .payload = get_req, .len = strlen(get_req) };

	/* The kernel's test run wants at least a base IP header, so the cuts
	 * fall after it. */
	o.ip_opt_words = 10;
	o.truncate = 14 + 24;            /* inside the IPv4 options */
	run(&o);
	o.ip_opt_words = 0;
	o.truncate = 14 + 20 + 12;       /* inside the TCP header */
	run(&o);
	o.truncate = 14 + 20 + 20 + 4;   /* payload shorter than tot_len says */
	run(&o);
	o.truncate = 0;
	o.bad_ihl = 1;                   /* IHL below 5 */
	run(&o);
	o.bad_ihl = 0;
	o.v6 = 1;
	o.v6_ext = 2;
	o.truncate = 14 + 40 + 4;        /* inside an extension header */
	run(&o);
	o.v6_ext = 0;
	o.truncate = 0;
	o.long_tot_len = 1;              /* payload length past the end */
	run(&o);
	cr_assert_eq(n_clients(), 0);
	cr_assert_eq(global().malformed, 6);
}

Test(tc, fragments_pass_uncounted)
{
	struct pkt_opts o = { .frag = 1, .seq = 5, .payload = get_req, .len = strlen(get_req) };

	run(&o);
	o.frag = 2;
	run(&o);
	o.v6 = 1;
	o.frag = 1;
	run(&o);
	cr_assert_eq(n_clients(), 0);
	cr_assert_eq(global().fragments, 3);
}

Test(tc, method_split_over_two_segments)
{
	struct tg_client_view v;

	seg(1000, F_SYN, NULL);
	seg(1001, F_ACK, "PO");
	seg(1003, F_ACK, "ST /v1/chat/completions HTTP/1.1\r\nHost: gw\r\nContent-Length: 2\r\n\r\n{}");
	cr_assert_eq(client("198.18.0.2", &v), 0);
	cr_assert_eq(v.requests, 1);
}

Test(tc, one_byte_method_prefix_is_a_request_start)
{
	struct tg_client_view v;

	/* no SYN seen: the connection is picked up at its request start */
	seg(7000, F_ACK, "G");
	seg(7001, F_ACK, "ET / HTTP/1.1\r\n\r\n");
	cr_assert_eq(client("198.18.0.2", &v), 0);
	cr_assert_eq(v.requests, 1);
	cr_assert_eq(global().conns_missing, 1);
}

Test(tc, not_a_method)
{
	struct tg_client_view v;

	seg(1000, F_SYN, NULL);
	seg(1001, F_ACK, get_req);
	seg(1001 + sizeof(get_req) - 1, F_ACK, "GETTER / HTTP/1.1\r\n\r\n");
	seg(1100, F_ACK, "get / HTTP/1.1\r\n\r\n");
	cr_assert_eq(client("198.18.0.2", &v), 0);
	cr_assert_eq(v.requests, 1);
}

Test(tc, retransmitted_request_start_counts_once)
{
	struct tg_client_view v;

	seg(1000, F_SYN, NULL);
	seg(1001, F_ACK, get_req);
	seg(1001, F_ACK, get_req);
	cr_assert_eq(client("198.18.0.2", &v), 0);
	cr_assert_eq(v.requests, 1);
	cr_assert_eq(v.packets, 3);
	cr_assert_eq(v.payload_bytes, 2 * strlen(get_req), "payload bytes are wire bytes");
}

Test(tc, request_split_over_segments_and_size_from_sequence_numbers)
{
	static const char hdr[] = "POST /v1/chat/completions HTTP/1.1\r\nHost: gw\r\n"
				  "Content-Length: 3000\r\n\r\n";
	char body[1500];
	struct tg_client_view v;
	uint32_t seq = 1001, total = (uint32_t)strlen(hdr) + 3000;

	memset(body, 'x', sizeof(body) - 1);
	body[sizeof(body) - 1] = 0;
	seg(1000, F_SYN, NULL);
	seg(seq, F_ACK, hdr);
	seq += (uint32_t)strlen(hdr);
	seg(seq, F_ACK, body);
	seq += 1499;
	seg(seq, F_ACK, body);
	seq += 1499;
	seg(seq, F_ACK, "xx");
	seq += 2;
	seg(seq, F_FIN | F_ACK, NULL);
	cr_assert_eq(client("198.18.0.2", &v), 0);
	cr_assert_eq(v.requests, 1);
	cr_assert_eq(v.payload_bytes, total);
	/* one finished request of `total` bytes in the log2 histogram */
	for (int b = 0; b < TG_SIZE_BUCKETS; b++)
		cr_assert_eq(v.size_hist[b], b == (int)tg_size_bucket(total) ? 1u : 0u,
			     "bucket %d", b);
}

Test(tc, keep_alive_with_several_requests)
{
	struct tg_client_view v;
	uint32_t seq = 1001, n = (uint32_t)strlen(get_req);
	uint64_t sizes = 0;

	seg(1000, F_SYN, NULL);
	for (int i = 0; i < 5; i++) {
		seg(seq, F_ACK | F_PSH, get_req);
		seg(seq + n, F_ACK, NULL); /* a pure ACK in between */
		seq += n;
	}
	seg(seq, F_FIN | F_ACK, NULL);
	cr_assert_eq(client("198.18.0.2", &v), 0);
	cr_assert_eq(v.requests, 5);
	cr_assert_eq(v.syns, 1);
	cr_assert_eq(v.packets, 1 + 10 + 1);
	cr_assert_eq(v.payload_bytes, 5 * n);
	for (int b = 0; b < TG_SIZE_BUCKETS; b++)
		sizes += v.size_hist[b];
	cr_assert_eq(sizes, 5, "four ended by the next request start, one by the FIN");
	cr_assert_eq(v.size_hist[tg_size_bucket(n)], 5);
}

Test(tc, first_payload_of_a_connection_counts_whatever_it_holds)
{
	/* a TLS ClientHello record start */
	static const char tls[] = "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03";
	struct tg_client_view v;

	seg(1000, F_SYN, NULL);
	seg(1001, F_ACK, tls);
	seg(1001, F_ACK, tls);            /* retransmitted */
	seg(1012, F_ACK, "\x17\x03\x03"); /* application data: same request */
	cr_assert_eq(client("198.18.0.2", &v), 0);
	cr_assert_eq(v.requests, 1);
	cr_assert_eq(v.syns, 1);
}

Test(tc, h2c_preface_is_a_request_start)
{
	struct tg_client_view v;

	seg(1000, F_SYN, NULL);
	seg(1001, F_ACK, "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");
	cr_assert_eq(client("198.18.0.2", &v), 0);
	cr_assert_eq(v.requests, 1);
}

Test(tc, gso_super_packet_counts_its_segments)
{
	char body[3000];
	struct pkt_opts o = { .seq = 1, .payload = body, .len = sizeof(body) };
	struct tg_client_view v;

	memset(body, 'y', sizeof(body));
	run_ctx(&o, 3);
	cr_assert_eq(client("198.18.0.2", &v), 0);
	cr_assert_eq(v.packets, 3);
	cr_assert_eq(v.payload_bytes, 3000);
	cr_assert_eq(v.bytes, 3000 + 3 * 40);
}

Test(tc, two_clients_counted_separately)
{
	struct pkt_opts a = { .saddr = "198.18.0.2", .seq = 1, .payload = get_req, .len = strlen(get_req) };
	struct pkt_opts b = a;
	struct tg_client_view va, vb;

	b.saddr = "198.18.1.2";
	run(&a);
	run(&b);
	b.seq += (uint32_t)strlen(get_req);
	run(&b);
	cr_assert_eq(client("198.18.0.2", &va), 0);
	cr_assert_eq(client("198.18.1.2", &vb), 0);
	cr_assert_eq(va.requests, 1);
	cr_assert_eq(vb.requests, 2);
}

Test(tc, rst_ends_the_connection_without_a_size)
{
	struct tg_client_view v;
	uint64_t sizes = 0;

	seg(1000, F_SYN, NULL);
	seg(1001, F_ACK, get_req);
	seg(1001 + (uint32_t)strlen(get_req), F_RST, NULL);
	/* after the RST the connection is gone: the same request start again
	 * is picked up as a connection whose SYN was not seen */
	cr_assert_eq(client("198.18.0.2", &v), 0);
	for (int b = 0; b < TG_SIZE_BUCKETS; b++)
		sizes += v.size_hist[b];
	cr_assert_eq(sizes, 0);
	cr_assert_eq(v.requests, 1);
}

Test(tc, port_set_changes_at_run_time)
{
	struct pkt_opts o = { .dport = 9999, .seq = 1, .payload = get_req, .len = strlen(get_req) };
	__u32 port = 9999;
	__u8 on = 1;

	run(&o);
	cr_assert_eq(n_clients(), 0);
	cr_assert_eq(bpf_map_update_elem(bpf_map__fd(skel->maps.tg_ports), &port, &on, 0), 0);
	run(&o);
	cr_assert_eq(n_clients(), 1);
}
