/* tgflood: runs crafted client segments through a running agent's TC
 * ingress program with BPF_PROG_TEST_RUN, so the agent's own maps count
 * many distinct clients fast (no sockets, no NIC). Used by the map
 * pressure test (tests/e2e/test_pressure.sh) and bench/footprint.sh.
 *
 *   tgflood --prog-id ID --count N [--first F] [--port P] [--prefix fd00:198:18::]
 *           [--v4 198.18.0.0] [--passes K] [--period-ms M] [--seconds S]
 *           [--payload BYTES] [--stamp]
 *
 * Client i (F <= i < F+N) is PREFIX with its low 32 bits = i (IPv6; use
 * identity.ipv6_prefix 128 so each is its own client), or, with --v4, the
 * IPv4 address BASE + i. Each pass sends one ACK segment per client to
 * port P (default 8080); passes start every M ms (0: back to back) until K
 * passes or S seconds. Prints "sent N in T s (R/s)" and exits 0, or 1 when
 * a run fails. --stamp first prints "at NS": the wall-clock time (Unix ns)
 * just before the first segment ran, the time of the traffic for
 * bench/freshness.py. */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <linux/bpf.h>
#include "pkt.h"

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static unsigned long num(const char *s, const char *what)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 0);
	if (errno || *end || end == s) {
		fprintf(stderr, "tgflood: bad %s '%s'\n", what, s);
		exit(2);
	}
	return v;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "prog-id", required_argument, NULL, 'i' },
		{ "count", required_argument, NULL, 'n' },
		{ "first", required_argument, NULL, 'f' },
		{ "port", required_argument, NULL, 'p' },
		{ "prefix", required_argument, NULL, 'x' },
		{ "v4", required_argument, NULL, '4' },
		{ "passes", required_argument, NULL, 'k' },
		{ "period-ms", required_argument, NULL, 'm' },
		{ "seconds", required_argument, NULL, 's' },
		{ "payload", required_argument, NULL, 'b' },
		{ "stamp", no_argument, NULL, 't' },
		{ NULL, 0, NULL, 0 },
	};
	unsigned long id = 0, count = 0, first = 0, port = 8080, passes = 1, period_ms = 0;
	unsigned long payload = 0;
	struct timespec stamp = { 0 };
	int want_stamp = 0;
	double seconds = 0, t0, t_end;
	const char *prefix = "fd00:198:18::", *v4 = NULL;
	static uint8_t buf[PKT_MAX], data[2048];
	struct pkt_opts o = { 0 };
	unsigned long sent = 0, errors = 0;
	size_t len, addr_off;
	uint32_t base = 0;
	int c, fd;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'i': id = num(optarg, "--prog-id"); break;
		case 'n': count = num(optarg, "--count"); break;
		case 'f': first = num(optarg, "--first"); break;
		case 'p': port = num(optarg, "--port"); break;
		case 'x': prefix = optarg; break;
		case '4': v4 = optarg; break;
		case 'k': passes = num(optarg, "--passes"); break;
		case 'm': period_ms = num(optarg, "--period-ms"); break;
		case 's': seconds = strtod(optarg, NULL); break;
		case 'b': payload = num(optarg, "--payload"); break;
		case 't': want_stamp = 1; break;
		default:
			fprintf(stderr, "usage: tgflood --prog-id ID --count N [--first F] [--port P] "
					"[--prefix IPV6] [--v4 IPV4] [--passes K] [--period-ms M] "
					"[--seconds S] [--payload BYTES] [--stamp]\n");
			return 2;
		}
	}
	if (!id || !count || port > 65535 || payload > sizeof(data)) {
		fprintf(stderr, "tgflood: --prog-id and --count are required (port <= 65535, "
				"payload <= %zu)\n", sizeof(data));
		return 2;
	}
	fd = bpf_prog_get_fd_by_id((__u32)id);
	if (fd < 0) {
		fprintf(stderr, "tgflood: program id %lu: %s\n", id, strerror(errno));
		return 1;
	}
	memset(data, 'a', sizeof(data));
	o.v6 = !v4;
	o.saddr = v4 ? v4 : prefix;
	o.daddr = v4 ? "198.18.0.1" : "fd00:198:18::1";
	o.dport = (uint16_t)port;
	o.flags = F_ACK;
	o.seq = 1000;
	o.payload = payload ? data : NULL;
	o.len = payload;
	len = pkt_build(buf, sizeof(buf), &o);
	if (!len) {
		fprintf(stderr, "tgflood: cannot build the packet (bad address?)\n");
		return 2;
	}
	/* the low 32 bits of the source address: Ethernet 14, then IPv4's
	 * saddr at 12 or IPv6's at 8 (16 bytes) */
	addr_off = v4 ? 14 + 12 : 14 + 8 + 12;
	memcpy(&base, buf + addr_off, 4);
	base = ntohl(base);

	clock_gettime(CLOCK_REALTIME, &stamp);
	t0 = now_s();
	t_end = seconds > 0 ? t0 + seconds : 0;
	for (unsigned long k = 0; k < passes; k++) {
		double start = now_s();

		for (unsigned long i = first; i < first + count; i++) {
			uint32_t a = htonl(base + (uint32_t)i);

			memcpy(buf + addr_off, &a, 4);
			LIBBPF_OPTS(bpf_test_run_opts, r, .data_in = buf, .data_size_in = (__u32)len,
				    .repeat = 1);
			if (bpf_prog_test_run_opts(fd, &r) != 0)
				errors++;
			else
				sent++;
		}
		if (t_end && now_s() >= t_end)
			break;
		if (period_ms && k + 1 < passes) {
			double wait = start + (double)period_ms / 1e3 - now_s();

			if (t_end && now_s() + (wait > 0 ? wait : 0) >= t_end)
				break;
			if (wait > 0)
				usleep((useconds_t)(wait * 1e6));
		}
	}
	t0 = now_s() - t0;
	if (want_stamp)
		printf("at %lld%09ld\n", (long long)stamp.tv_sec, stamp.tv_nsec);
	printf("sent %lu in %.2f s (%.0f/s), %lu failed\n", sent, t0, t0 > 0 ? (double)sent / t0 : 0,
	       errors);
	close(fd);
	return errors ? 1 : 0;
}
