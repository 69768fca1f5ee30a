/* PROXY protocol v1/v2 headers (kern/proxy.h): the kernel's own parser
 * compiled for user space. Addresses are compared with inet_pton's. */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "proxy.h"

static const __u8 v2sig[12] = { '\r', '\n', '\r', '\n', 0, '\r', '\n', 'Q', 'U', 'I', 'T', '\n' };

/* Parses the first n bytes of data from a zero-padded TG_PROXY_BUF buffer. */
static int parse_n(const void *data, size_t n, struct tg_proxy_state *st)
{
	__u8 buf[TG_PROXY_BUF];

	cr_assert_leq(n, TG_PROXY_BUF);
	memset(buf, 0, sizeof(buf));
	memcpy(buf, data, n);
	memset(st, 0, sizeof(*st));
	st->len = (__u32)n;
	return tg_proxy_parse(buf, st);
}

static int parse(const char *s, struct tg_proxy_state *st)
{
	return parse_n(s, strlen(s), st);
}

/* "a.b.c.d" as ::ffff:a.b.c.d, anything else as IPv6. */
static struct tg_addr addr_of(const char *text)
{
	struct tg_addr a;

	memset(&a, 0, sizeof(a));
	if (strchr(text, ':')) {
		cr_assert_eq(inet_pton(AF_INET6, text, a.w), 1, "%s", text);
	} else {
		a.w[2] = htonl(0xffff);
		cr_assert_eq(inet_pton(AF_INET, text, &a.w[3]), 1, "%s", text);
	}
	return a;
}

static const char *fmt_addr(const struct tg_addr *a, char *buf)
{
	return inet_ntop(AF_INET6, a->w, buf, INET6_ADDRSTRLEN);
}

static void expect_client(const struct tg_proxy_state *st, const char *text, const char *input)
{
	struct tg_addr want = addr_of(text);
	char got_s[INET6_ADDRSTRLEN], want_s[INET6_ADDRSTRLEN];

	cr_assert(memcmp(&st->client, &want, sizeof(want)) == 0, "%s: client %s, want %s", input,
		  fmt_addr(&st->client, got_s), fmt_addr(&want, want_s));
}

/* A v1 header with the given source address: ADDR, that client, and the
 * header's length, alone and followed by a request. */
static void v1_ok(const char *hdr, const char *client)
{
	static const char req[] = "POST /v1/chat/completions HTTP/1.1\r\nHost: gw\r\n\r\n";
	struct tg_proxy_state st;
	char both[TG_PROXY_BUF];
	size_t n = strlen(hdr);

	cr_assert_eq(parse(hdr, &st), TG_PROXY_ADDR, "%s", hdr);
	cr_assert_eq(st.hdr_len, n, "%s: hdr_len %u", hdr, st.hdr_len);
	expect_client(&st, client, hdr);

	size_t more = sizeof(req) - 1 < TG_PROXY_BUF - n ? sizeof(req) - 1 : TG_PROXY_BUF - n;

	memset(both, 0, sizeof(both));
	memcpy(both, hdr, n);
	memcpy(both + n, req, more);
	cr_assert_eq(parse_n(both, n + more, &st), TG_PROXY_ADDR, "%s + request", hdr);
	cr_assert_eq(st.hdr_len, n, "%s + request: hdr_len %u", hdr, st.hdr_len);
	expect_client(&st, client, hdr);
}

static void v1_bad(const char *hdr)
{
	struct tg_proxy_state st;

	cr_assert_eq(parse(hdr, &st), TG_PROXY_BAD, "%s", hdr);
}

/* ---- v1 ------------------------------------------------------------------ */

Test(proxy, v1_tcp4)
{
	v1_ok("PROXY TCP4 198.18.0.7 10.0.0.1 51234 80\r\n", "198.18.0.7");
	v1_ok("PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\n", "1.2.3.4");
	v1_ok("PROXY TCP4 0.0.0.0 0.0.0.0 0 0\r\n", "0.0.0.0");
	v1_ok("PROXY TCP4 255.255.255.255 255.255.255.255 65535 65535\r\n", "255.255.255.255");
	v1_ok("PROXY TCP4 10.20.30.40 192.168.100.200 443 8443\r\n", "10.20.30.40");
}

Test(proxy, v1_tcp6)
{
	static const char *addrs[] = {
		"2001:db8:85a3:0:0:8a2e:370:7334",
		"2001:0db8:85a3:0000:0000:8a2e:0370:7334",
		"ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
		"::1",
		"1::8",
		"1::",
		"::",
		"fd00:198:18::7",
		"FD00:ABCD::EF01",
		"Fd00:aBcD:0:0:0:0:0:eF01",
		"1:2:3:4:5:6:7:8",
		"1:2:3:4:5:6:7::",
		"::2:3:4:5:6:7:8",
		"1:2:3::6:7:8",
		"1:2:3:4:5:6::8",
		"1::3:4:5:6:7:8",
		"0:0:0:0:0:0:0:0",
		"::ffff:c612:7",
	};

	for (size_t i = 0; i < sizeof(addrs) / sizeof(addrs[0]); i++) {
		char hdr[TG_PROXY_BUF];

		snprintf(hdr, sizeof(hdr), "PROXY TCP6 %s ::1 51234 443\r\n", addrs[i]);
		v1_ok(hdr, addrs[i]);
	}
	/* the longest TCP6 line: 104 bytes */
	v1_ok("PROXY TCP6 ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe "
	      "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff 65535 65535\r\n",
	      "ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe");
}

Test(proxy, v1_unknown)
{
	struct tg_proxy_state st;
	/* the spec's longest line: 107 bytes */
	const char *longest = "PROXY UNKNOWN ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff "
			      "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff 65535 65535\r\n";

	cr_assert_eq(parse("PROXY UNKNOWN\r\n", &st), TG_PROXY_NOADDR);
	cr_assert_eq(st.hdr_len, 15);
	cr_assert_eq(parse("PROXY UNKNOWN\r\nGET / HTTP/1.1\r\n\r\n", &st), TG_PROXY_NOADDR);
	cr_assert_eq(st.hdr_len, 15);
	cr_assert_eq(strlen(longest), 107);
	cr_assert_eq(parse(longest, &st), TG_PROXY_NOADDR);
	cr_assert_eq(st.hdr_len, 107);
	/* UNKNOWN still needs its CRLF: without it, the header goes on in a
	 * later segment */
	cr_assert_eq(parse("PROXY UNKNOWN", &st), TG_PROXY_PARTIAL);
	cr_assert_eq(parse("PROXY UNKNOWN 1.2.3.4 5.6.7.8 1 2", &st), TG_PROXY_PARTIAL);
}

/* "PROXY UNKNOWN " padded with 'x' so that its CRLF ends at byte total. */
static void unknown_line(char *hdr, size_t total)
{
	memset(hdr, 0, TG_PROXY_BUF + 1);
	memcpy(hdr, "PROXY UNKNOWN ", 14);
	memset(hdr + 14, 'x', total - 2 - 14);
	memcpy(hdr + total - 2, "\r\n", 2);
}

/* "PROXY TCP4 1.2.3.4 5.6.7.8 1 2" padded with spaces, CRLF ending at total */
static void tcp4_line(char *hdr, size_t total)
{
	memset(hdr, 0, TG_PROXY_BUF + 1);
	strcpy(hdr, "PROXY TCP4 1.2.3.4 5.6.7.8 1 2");
	memset(hdr + strlen(hdr), ' ', total - 2 - strlen(hdr));
	memcpy(hdr + total - 2, "\r\n", 2);
}

Test(proxy, v1_crlf_within_107_bytes)
{
	struct tg_proxy_state st;
	char hdr[TG_PROXY_BUF + 1];

	unknown_line(hdr, 107);
	cr_assert_eq(parse(hdr, &st), TG_PROXY_NOADDR);
	cr_assert_eq(st.hdr_len, 107);
	tcp4_line(hdr, 107);
	cr_assert_eq(parse(hdr, &st), TG_PROXY_ADDR);
	cr_assert_eq(st.hdr_len, 107);
	expect_client(&st, "1.2.3.4", hdr);
	for (size_t total = 109; total <= TG_PROXY_BUF; total++) {
		unknown_line(hdr, total);
		cr_assert_eq(parse(hdr, &st), TG_PROXY_BAD, "UNKNOWN, CRLF ending at %zu", total);
		tcp4_line(hdr, total);
		cr_assert_eq(parse(hdr, &st), TG_PROXY_BAD, "TCP4, CRLF ending at %zu", total);
	}
	/* no CRLF in 128 bytes */
	memset(hdr, 'x', TG_PROXY_BUF);
	memcpy(hdr, "PROXY ", 6);
	cr_assert_eq(parse_n(hdr, TG_PROXY_BUF, &st), TG_PROXY_BAD);
}

/* A v1 line is at most 107 bytes, its CRLF included: 108 is malformed. */
Test(proxy, v1_line_of_108_bytes_is_bad)
{
	struct tg_proxy_state st;
	char hdr[TG_PROXY_BUF + 1];

	unknown_line(hdr, 108);
	cr_assert_eq(parse(hdr, &st), TG_PROXY_BAD, "got hdr_len %u", st.hdr_len);
	tcp4_line(hdr, 108);
	cr_assert_eq(parse(hdr, &st), TG_PROXY_BAD, "got hdr_len %u", st.hdr_len);
}

Test(proxy, v1_hdr_len_is_first_crlf)
{
	struct tg_proxy_state st;

	cr_assert_eq(parse("PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\n\r\nPROXY TCP4 9.9.9.9 5.6.7.8 1 2\r\n",
			   &st),
		     TG_PROXY_ADDR);
	cr_assert_eq(st.hdr_len, 32);
	expect_client(&st, "1.2.3.4", "two headers");
}

Test(proxy, v1_malformed_ipv4)
{
	static const char *srcs[] = {
		"256.0.0.1", "1.2.3.256", "1.2.3.999", "1.2.3", "1.2.3.4.5", "1..2.3", "1.2.3.",
		".1.2.3", "1.2.3.4a", "1.2.3.1000", "0001.2.3.4", "-1.2.3.4", "1.2.3.4\t", "a.b.c.d",
		"::1", "1.2.3.4:80", "", " 1.2.3.4",
	};

	for (size_t i = 0; i < sizeof(srcs) / sizeof(srcs[0]); i++) {
		char hdr[TG_PROXY_BUF];

		snprintf(hdr, sizeof(hdr), "PROXY TCP4 %s 5.6.7.8 1 2\r\n", srcs[i]);
		v1_bad(hdr);
	}
	/* no destination: the source ends at CR, not at a space */
	v1_bad("PROXY TCP4 1.2.3.4\r\n");
}

Test(proxy, v1_malformed_ipv6)
{
	static const char *srcs[] = {
		"12345::1",          /* five hex digits */
		"1:2:3:4:5:6:7:00008",
		"1::2::3",           /* two "::" */
		"::1::",
		":1::8",             /* a lone leading ':' */
		":1:2:3:4:5:6:7",
		"1:::8",             /* ":::" */
		":::",
		"1:2:3:4:5:6:7:8:9", /* nine groups */
		"1:2:3:4:5:6:7",     /* seven without "::" */
		"1:2:3:4:5:6:7:8:",  /* trailing ':' */
		"1:2:3:4:5:6:7:",
		"1::8:",
		"1:",
		":",
		"1::2:3:4:5:6:7:8",  /* "::" with eight groups */
		"1:2:3:4::5:6:7:8",
		"g::1",
		"1::g",
		"1.2.3.4",
		"fe80::1%eth0",
		"[::1]",
		"",
	};

	for (size_t i = 0; i < sizeof(srcs) / sizeof(srcs[0]); i++) {
		char hdr[TG_PROXY_BUF];

		snprintf(hdr, sizeof(hdr), "PROXY TCP6 %s ::1 1 2\r\n", srcs[i]);
		v1_bad(hdr);
	}
	v1_bad("PROXY TCP6 ::1\r\n");
}

Test(proxy, v1_malformed_lines)
{
	static const char *lines[] = {
		"PROXY TCP5 1.2.3.4 5.6.7.8 1 2\r\n",
		"PROXY TCP 1.2.3.4 5.6.7.8 1 2\r\n",
		"PROXY TCP41.2.3.4 5.6.7.8 1 2\r\n",
		"PROXY tcp4 1.2.3.4 5.6.7.8 1 2\r\n",
		"PROXY  TCP4 1.2.3.4 5.6.7.8 1 2\r\n",
		"PROXY UDP4 1.2.3.4 5.6.7.8 1 2\r\n",
		"PROXY \x01\x02\x03\xff garbage\r\n",
		"PROXY \r\n",
	};
	/* no CRLF yet: the line may end in a later segment */
	static const char *unended[] = {
		"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n",   /* LF only */
		"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r",   /* CR only */
		"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n\r",
		"PROXY TCP4 1.2.3.4 5.6",             /* truncated */
		"PROXY TCP4 1.2.3.4",
		"PROXY TCP4 ",
		"PROXY TCP4",
		"PROXY TCP",
		"PROXY ",
		"PROXY",
		"PROX",
		"P",
		"PROXY TCP6 ::1 ::1 1 2\r",
		"PROXY TCP6 ::1",
	};
	struct tg_proxy_state st;

	for (size_t i = 0; i < sizeof(lines) / sizeof(lines[0]); i++)
		v1_bad(lines[i]);
	for (size_t i = 0; i < sizeof(unended) / sizeof(unended[0]); i++)
		cr_assert_eq(parse(unended[i], &st), TG_PROXY_PARTIAL, "%s", unended[i]);
	/* not a prefix of "PROXY ": not a header at all */
	cr_assert_eq(parse("PROPFIND / HTTP/1.1\r\n\r\n", &st), TG_PROXY_NONE);
	cr_assert_eq(parse("PRI", &st), TG_PROXY_NONE);
}

Test(proxy, v1_truncated_at_every_length)
{
	const char *hdr = "PROXY TCP6 fd00:198:18::7 fd00::1 51234 443\r\n";
	struct tg_proxy_state st;
	size_t n = strlen(hdr);

	/* every prefix is a header that ends in a later segment */
	for (size_t k = 1; k < n; k++)
		cr_assert_eq(parse_n(hdr, k, &st), TG_PROXY_PARTIAL, "first %zu bytes", k);
	cr_assert_eq(parse_n(hdr, n, &st), TG_PROXY_ADDR);
	expect_client(&st, "fd00:198:18::7", hdr);
}

/* ---- v2 ------------------------------------------------------------------ */

/* Signature, version/command, family, length (big endian), then n bytes of
 * body; returns the bytes written. */
static size_t v2(__u8 *out, __u8 vc, __u8 fam, __u16 alen, const __u8 *body, size_t n)
{
	memcpy(out, v2sig, 12);
	out[12] = vc;
	out[13] = fam;
	out[14] = (__u8)(alen >> 8);
	out[15] = (__u8)alen;
	if (n)
		memcpy(out + 16, body, n);
	return 16 + n;
}

static size_t v2_tcp4(__u8 *out, const char *src, const char *dst, size_t tlv)
{
	__u8 body[12 + 64];

	cr_assert_leq(tlv, 64);
	cr_assert_eq(inet_pton(AF_INET, src, body), 1);
	cr_assert_eq(inet_pton(AF_INET, dst, body + 4), 1);
	body[8] = 0xc8; body[9] = 0x22; /* 51234 */
	body[10] = 0x01; body[11] = 0xbb; /* 443 */
	for (size_t i = 0; i < tlv; i++)
		body[12 + i] = (__u8)(0xe0 + i);
	return v2(out, 0x21, 0x11, (__u16)(12 + tlv), body, 12 + tlv);
}

static size_t v2_tcp6(__u8 *out, const char *src, const char *dst, size_t tlv)
{
	__u8 body[36 + 64];

	cr_assert_leq(tlv, 64);
	cr_assert_eq(inet_pton(AF_INET6, src, body), 1);
	cr_assert_eq(inet_pton(AF_INET6, dst, body + 16), 1);
	body[32] = 0xc8; body[33] = 0x22;
	body[34] = 0x01; body[35] = 0xbb;
	for (size_t i = 0; i < tlv; i++)
		body[36 + i] = (__u8)(0xe0 + i);
	return v2(out, 0x21, 0x21, (__u16)(36 + tlv), body, 36 + tlv);
}

Test(proxy, v2_tcp4)
{
	__u8 b[TG_PROXY_BUF];
	struct tg_proxy_state st;
	size_t n = v2_tcp4(b, "198.18.0.7", "10.0.0.1", 0);

	cr_assert_eq(parse_n(b, n, &st), TG_PROXY_ADDR);
	cr_assert_eq(st.hdr_len, 28);
	expect_client(&st, "198.18.0.7", "v2 tcp4");

	n = v2_tcp4(b, "255.1.128.254", "10.0.0.1", 0);
	memcpy(b + n, "GET / HTTP/1.1\r\n\r\n", 18);
	cr_assert_eq(parse_n(b, n + 18, &st), TG_PROXY_ADDR);
	cr_assert_eq(st.hdr_len, 28);
	expect_client(&st, "255.1.128.254", "v2 tcp4 + request");
}

Test(proxy, v2_tcp6)
{
	__u8 b[TG_PROXY_BUF];
	struct tg_proxy_state st;
	size_t n = v2_tcp6(b, "2001:db8:85a3::8a2e:370:7334", "fd00::1", 0);

	cr_assert_eq(parse_n(b, n, &st), TG_PROXY_ADDR);
	cr_assert_eq(st.hdr_len, 52);
	expect_client(&st, "2001:db8:85a3::8a2e:370:7334", "v2 tcp6");

	n = v2_tcp6(b, "ffff:fffe:fdfc::1", "::1", 0);
	memcpy(b + n, "GET / HTTP/1.1\r\n\r\n", 18);
	cr_assert_eq(parse_n(b, n + 18, &st), TG_PROXY_ADDR);
	cr_assert_eq(st.hdr_len, 52);
	expect_client(&st, "ffff:fffe:fdfc::1", "v2 tcp6 + request");
}

Test(proxy, v2_with_tlvs)
{
	__u8 b[TG_PROXY_BUF];
	struct tg_proxy_state st;
	size_t n;

	n = v2_tcp4(b, "203.0.113.9", "10.0.0.1", 20);
	cr_assert_eq(parse_n(b, n, &st), TG_PROXY_ADDR);
	cr_assert_eq(st.hdr_len, 16 + 32);
	expect_client(&st, "203.0.113.9", "v2 tcp4 tlv");

	n = v2_tcp6(b, "2001:db8::9", "::1", 40);
	cr_assert_eq(parse_n(b, n, &st), TG_PROXY_ADDR);
	cr_assert_eq(st.hdr_len, 16 + 76);
	expect_client(&st, "2001:db8::9", "v2 tcp6 tlv");

	/* TLVs beyond the bytes at hand: the length still comes from the header */
	n = v2_tcp4(b, "203.0.113.9", "10.0.0.1", 0);
	b[14] = 0x01;
	b[15] = 0x2c; /* 300 */
	cr_assert_eq(parse_n(b, n, &st), TG_PROXY_ADDR);
	cr_assert_eq(st.hdr_len, 316);
	expect_client(&st, "203.0.113.9", "v2 tcp4 long tlv");
	b[14] = 0xff;
	b[15] = 0xff;
	cr_assert_eq(parse_n(b, n, &st), TG_PROXY_ADDR);
	cr_assert_eq(st.hdr_len, 16 + 65535);
}

Test(proxy, v2_local)
{
	__u8 b[TG_PROXY_BUF];
	struct tg_proxy_state st;
	size_t n;

	n = v2(b, 0x20, 0x00, 0, NULL, 0);
	cr_assert_eq(parse_n(b, n, &st), TG_PROXY_NOADDR);
	cr_assert_eq(st.hdr_len, 16);
	/* LOCAL ignores any address block */
	n = v2_tcp4(b, "198.18.0.7", "10.0.0.1", 4);
	b[12] = 0x20;
	cr_assert_eq(parse_n(b, n, &st), TG_PROXY_NOADDR);
	cr_assert_eq(st.hdr_len, 32);
	/* ... even one too short for its family */
	n = v2(b, 0x20, 0x21, 4, (const __u8 *)"abcd", 4);
	cr_assert_eq(parse_n(b, n, &st), TG_PROXY_NOADDR);
	cr_assert_eq(st.hdr_len, 20);
}

Test(proxy, v2_families_without_client)
{
	static const struct {
		__u8 fam;
		__u16 alen;
	} cases[] = {
		{ 0x00, 0 },   /* UNSPEC */
		{ 0x00, 12 },
		{ 0x12, 12 },  /* UDP over IPv4 */
		{ 0x22, 36 },  /* UDP over IPv6 */
		{ 0x10, 12 },  /* AF_INET, unspecified protocol */
		{ 0x20, 36 },
		{ 0x31, 216 }, /* unix stream */
		{ 0x32, 216 },
	};
	__u8 body[TG_PROXY_BUF - 16];

	memset(body, 0x5a, sizeof(body));
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		__u8 b[TG_PROXY_BUF];
		struct tg_proxy_state st;
		size_t have = cases[i].alen < sizeof(body) ? cases[i].alen : sizeof(body);
		size_t n = v2(b, 0x21, cases[i].fam, cases[i].alen, body, have);

		cr_assert_eq(parse_n(b, n, &st), TG_PROXY_NOADDR, "family 0x%02x", cases[i].fam);
		cr_assert_eq(st.hdr_len, 16u + cases[i].alen, "family 0x%02x", cases[i].fam);
	}
}

Test(proxy, v2_too_short_for_family)
{
	__u8 b[TG_PROXY_BUF], body[64];
	struct tg_proxy_state st;
	size_t n;

	memset(body, 1, sizeof(body));
	/* address length below the family's */
	n = v2(b, 0x21, 0x11, 11, body, 11);
	cr_assert_eq(parse_n(b, n, &st), TG_PROXY_BAD);
	n = v2(b, 0x21, 0x11, 0, NULL, 0);
	cr_assert_eq(parse_n(b, n, &st), TG_PROXY_BAD);
	n = v2(b, 0x21, 0x21, 35, body, 35);
	cr_assert_eq(parse_n(b, n, &st), TG_PROXY_BAD);
	n = v2(b, 0x21, 0x21, 12, body, 12);
	cr_assert_eq(parse_n(b, n, &st), TG_PROXY_BAD);
	/* length fine, bytes missing: the rest comes in a later segment */
	n = v2_tcp4(b, "198.18.0.7", "10.0.0.1", 0);
	for (size_t k = 16; k < n; k++)
		cr_assert_eq(parse_n(b, k, &st), TG_PROXY_PARTIAL, "tcp4, %zu bytes", k);
	n = v2_tcp6(b, "2001:db8::1", "::1", 0);
	for (size_t k = 16; k < n; k++)
		cr_assert_eq(parse_n(b, k, &st), TG_PROXY_PARTIAL, "tcp6, %zu bytes", k);
	/* part of the signature, or of the fixed header */
	for (size_t k = 1; k < 16; k++)
		cr_assert_eq(parse_n(b, k, &st), TG_PROXY_PARTIAL, "%zu bytes", k);
}

Test(proxy, v2_bad_version_or_command)
{
	static const __u8 vcs[] = { 0x00, 0x01, 0x11, 0x10, 0x31, 0x30, 0xf1, 0x22, 0x2f, 0x23 };

	for (size_t i = 0; i < sizeof(vcs); i++) {
		__u8 b[TG_PROXY_BUF];
		struct tg_proxy_state st;
		size_t n = v2_tcp4(b, "198.18.0.7", "10.0.0.1", 0);

		b[12] = vcs[i];
		cr_assert_eq(parse_n(b, n, &st), TG_PROXY_BAD, "ver/cmd 0x%02x", vcs[i]);
	}
}

Test(proxy, v2_signature_must_match)
{
	for (int i = 0; i < 12; i++) {
		__u8 b[TG_PROXY_BUF];
		struct tg_proxy_state st;
		size_t n = v2_tcp4(b, "198.18.0.7", "10.0.0.1", 0);

		b[i] ^= 0x01;
		cr_assert_eq(parse_n(b, n, &st), TG_PROXY_NONE, "byte %d flipped", i);
	}
}

/* ---- neither ------------------------------------------------------------- */

Test(proxy, not_a_proxy_header)
{
	static const char *inputs[] = {
		"GET / HTTP/1.1\r\nHost: gw\r\n\r\n",
		"POST /v1/chat/completions HTTP/1.1\r\n",
		"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
		"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03",
		"proxy TCP4 1.2.3.4 5.6.7.8 1 2\r\n",
		"PROXYTCP4 1.2.3.4 5.6.7.8 1 2\r\n",
		"PROXZ TCP4 1.2.3.4 5.6.7.8 1 2\r\n",
		" PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\n",
		"\r\n\r\nGET",
	};
	struct tg_proxy_state st;

	for (size_t i = 0; i < sizeof(inputs) / sizeof(inputs[0]); i++) {
		cr_assert_eq(parse(inputs[i], &st), TG_PROXY_NONE, "%s", inputs[i]);
		cr_assert_eq(st.hdr_len, 0);
	}
	cr_assert_eq(parse_n("", 0, &st), TG_PROXY_NONE);
	cr_assert_eq(st.hdr_len, 0);
	/* the start of a v2 signature may be one still */
	cr_assert_eq(parse("\r\n\r\n", &st), TG_PROXY_PARTIAL);
	/* 128 zero bytes */
	{
		__u8 z[TG_PROXY_BUF] = { 0 };

		cr_assert_eq(parse_n(z, sizeof(z), &st), TG_PROXY_NONE);
	}
}

Test(proxy, state_is_reset_between_parses)
{
	__u8 buf[TG_PROXY_BUF] = { 0 };
	struct tg_proxy_state st;
	const char *a = "PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\n";
	const char *b = "GET / HTTP/1.1\r\n\r\n";

	memset(&st, 0, sizeof(st));
	memcpy(buf, a, strlen(a));
	st.len = (__u32)strlen(a);
	cr_assert_eq(tg_proxy_parse(buf, &st), TG_PROXY_ADDR);
	/* same state, new bytes: no hdr_len or error left over */
	memset(buf, 0, sizeof(buf));
	memcpy(buf, b, strlen(b));
	st.len = (__u32)strlen(b);
	cr_assert_eq(tg_proxy_parse(buf, &st), TG_PROXY_NONE);
	cr_assert_eq(st.hdr_len, 0);
	st.err = 1;
	memset(buf, 0, sizeof(buf));
	memcpy(buf, a, strlen(a));
	st.len = (__u32)strlen(a);
	cr_assert_eq(tg_proxy_parse(buf, &st), TG_PROXY_ADDR);
	cr_assert_eq(st.hdr_len, strlen(a));
}

/* ---- randomized --------------------------------------------------------- */

static __u64 rng = 0x2545f4914f6cdd1dULL;

static __u32 rnd(__u32 n)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return n ? (__u32)(rng % n) : 0;
}

/* A model of the spec, written apart from the parser: the expected code,
 * header length and client. */
struct want {
	int rc;
	__u32 hdr_len;
	struct tg_addr client;
};

/* The spec's longest v1 line is TG_PROXY_V1_MAX (107) bytes. */
#define MODEL_V1_MAX TG_PROXY_V1_MAX

static int ref_ipv4(const char *tok, struct tg_addr *a)
{
	__u32 addr = 0;
	int octets = 0;
	const char *p = tok;

	for (;;) {
		int digits = 0;
		__u32 v = 0;

		while (*p >= '0' && *p <= '9') {
			if (++digits > 3)
				return 0;
			v = v * 10 + (__u32)(*p++ - '0');
		}
		if (!digits || v > 255)
			return 0;
		addr = addr << 8 | v;
		octets++;
		if (*p == '\0')
			break;
		if (*p++ != '.' || octets == 4)
			return 0;
	}
	if (octets != 4)
		return 0;
	memset(a, 0, sizeof(*a));
	a->w[2] = htonl(0xffff);
	a->w[3] = htonl(addr);
	return 1;
}

static struct want ref_parse(const __u8 *b, __u32 len)
{
	struct want w;

	memset(&w, 0, sizeof(w));
	if (len && !memcmp(b, v2sig, len < 12 ? len : 12)) {
		__u32 alen;

		if (len < 16) {
			w.rc = TG_PROXY_PARTIAL;
			return w;
		}
		alen = (__u32)b[14] << 8 | b[15];
		if (b[12] >> 4 != 2 || (b[12] & 0xf) > 1) {
			w.rc = TG_PROXY_BAD;
			return w;
		}
		w.hdr_len = 16 + alen;
		if ((b[12] & 0xf) == 0) {
			w.rc = TG_PROXY_NOADDR;
		} else if (b[13] == 0x11) {
			w.rc = alen < 12 ? TG_PROXY_BAD : len >= 28 ? TG_PROXY_ADDR : TG_PROXY_PARTIAL;
			w.client.w[2] = htonl(0xffff);
			memcpy(&w.client.w[3], b + 16, 4);
		} else if (b[13] == 0x21) {
			w.rc = alen < 36 ? TG_PROXY_BAD : len >= 52 ? TG_PROXY_ADDR : TG_PROXY_PARTIAL;
			memcpy(w.client.w, b + 16, 16);
		} else {
			w.rc = TG_PROXY_NOADDR;
		}
		return w;
	}
	if (!len || memcmp(b, "PROXY ", len < 6 ? len : 6)) {
		w.rc = TG_PROXY_NONE;
		return w;
	}
	if (len < 6) {
		w.rc = TG_PROXY_PARTIAL;
		return w;
	}
	for (__u32 i = 6; i + 1 < len && i + 2 <= MODEL_V1_MAX; i++) {
		if (b[i] == '\r' && b[i + 1] == '\n') {
			w.hdr_len = i + 2;
			break;
		}
	}
	w.rc = TG_PROXY_BAD;
	if (!w.hdr_len) {
		if (len < MODEL_V1_MAX)
			w.rc = TG_PROXY_PARTIAL;
		return w;
	}
	/* "UNKNOWN": the parser looks at "UNK" only */
	if (len >= 14 && !memcmp(b + 6, "UNK", 3)) {
		w.rc = TG_PROXY_NOADDR;
		return w;
	}
	if (memcmp(b + 6, "TCP", 3) || (b[9] != '4' && b[9] != '6') || b[10] != ' ')
		return w;
	/* the source address: from byte 11 to the next space */
	char tok[TG_PROXY_BUF];
	__u32 n = 0;

	while (11 + n < len && b[11 + n] != ' ' && b[11 + n] != '\0')
		n++;
	if (11 + n >= len || b[11 + n] != ' ')
		return w;
	memcpy(tok, b + 11, n);
	tok[n] = '\0';
	if (b[9] == '4') {
		if (ref_ipv4(tok, &w.client))
			w.rc = TG_PROXY_ADDR;
	} else if (!strchr(tok, '.') && inet_pton(AF_INET6, tok, w.client.w) == 1) {
		w.rc = TG_PROXY_ADDR;
	}
	return w;
}

static const char alphabet[] = "0123456789abcdefABCDEF:. \r\nPROXYTCPUNK46g\t\0";

static void mutate(__u8 *b, size_t *n)
{
	size_t pos = rnd((__u32)*n + 1);

	switch (rnd(7)) {
	case 0: /* any byte */
		if (pos < TG_PROXY_BUF)
			b[pos] = (__u8)rnd(256);
		if (pos == *n && *n < TG_PROXY_BUF)
			(*n)++;
		break;
	case 1: /* a byte the grammar cares about */
		if (pos < TG_PROXY_BUF)
			b[pos] = (__u8)alphabet[rnd(sizeof(alphabet) - 1)];
		if (pos == *n && *n < TG_PROXY_BUF)
			(*n)++;
		break;
	case 2: /* delete */
		if (pos < *n) {
			memmove(b + pos, b + pos + 1, *n - pos - 1);
			(*n)--;
		}
		break;
	case 3: /* insert */
		if (*n < TG_PROXY_BUF) {
			memmove(b + pos + 1, b + pos, *n - pos);
			b[pos] = (__u8)alphabet[rnd(sizeof(alphabet) - 1)];
			(*n)++;
		}
		break;
	case 4: /* truncate */
		*n = rnd((__u32)*n + 1);
		break;
	case 5: /* the v2 version, family and length bytes */
		if (*n >= 16)
			b[12 + rnd(4)] = (__u8)rnd(256);
		break;
	default: /* swap two bytes */
		if (*n >= 2) {
			size_t q = rnd((__u32)*n);
			__u8 t = b[pos < *n ? pos : 0];

			b[pos < *n ? pos : 0] = b[q];
			b[q] = t;
		}
		break;
	}
}

Test(proxy, random_mutations_stay_in_bounds_and_match_the_model, .timeout = 120)
{
	static const char *v1[] = {
		"PROXY TCP4 198.18.0.7 10.0.0.1 51234 80\r\n",
		"PROXY TCP4 255.255.255.255 1.1.1.1 65535 65535\r\nGET / HTTP/1.1\r\n\r\n",
		"PROXY TCP4 0.0.0.0 0.0.0.0 0 0\r\n",
		"PROXY TCP6 2001:db8:85a3:0:0:8a2e:370:7334 ::1 1 443\r\n",
		"PROXY TCP6 ::1 ::1 1 2\r\nPOST /v1 HTTP/1.1\r\n",
		"PROXY TCP6 1::8 ::1 1 2\r\n",
		"PROXY TCP6 fd00:198:18::7 fd00::1 51234 443\r\n",
		"PROXY TCP6 FFFF:ffff:FFFF:ffff:FFFF:ffff:FFFF:ffff :: 65535 65535\r\n",
		"PROXY TCP6 :: :: 0 0\r\n",
		"PROXY TCP6 1:: 1:: 0 0\r\n",
		"PROXY UNKNOWN\r\n",
		"PROXY UNKNOWN ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff "
		"ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff 65535 65535\r\n",
	};
	__u8 seeds[24][TG_PROXY_BUF];
	size_t seed_len[24];
	int n_seeds = 0;
	int seen[5] = { 0 };

	for (size_t i = 0; i < sizeof(v1) / sizeof(v1[0]); i++) {
		memset(seeds[n_seeds], 0, TG_PROXY_BUF);
		seed_len[n_seeds] = strlen(v1[i]);
		memcpy(seeds[n_seeds++], v1[i], strlen(v1[i]));
	}
	seed_len[n_seeds] = v2_tcp4(seeds[n_seeds], "198.18.0.7", "10.0.0.1", 0);
	n_seeds++;
	seed_len[n_seeds] = v2_tcp4(seeds[n_seeds], "1.2.3.4", "10.0.0.1", 20);
	n_seeds++;
	seed_len[n_seeds] = v2_tcp6(seeds[n_seeds], "2001:db8::1", "fd00::1", 0);
	n_seeds++;
	seed_len[n_seeds] = v2_tcp6(seeds[n_seeds], "fd00:198:18::7", "::1", 40);
	n_seeds++;
	seed_len[n_seeds] = v2(seeds[n_seeds], 0x20, 0x00, 0, NULL, 0);
	n_seeds++;
	seed_len[n_seeds] = v2(seeds[n_seeds], 0x21, 0x00, 0, NULL, 0);
	n_seeds++;

	for (int iter = 0; iter < 20000; iter++) {
		int s = (int)rnd((__u32)n_seeds);
		__u8 work[TG_PROXY_BUF];
		size_t n = seed_len[s];
		int muts = 1 + (int)rnd(4);
		/* exactly TG_PROXY_BUF bytes on the heap: ASan sees any read past it */
		__u8 *buf = malloc(TG_PROXY_BUF);
		struct tg_proxy_state st, st0;
		struct want w;
		int rc, rc0;

		cr_assert_not_null(buf);
		memcpy(work, seeds[s], TG_PROXY_BUF);
		for (int m = 0; m < muts; m++)
			mutate(work, &n);
		cr_assert_leq(n, TG_PROXY_BUF);
		memset(work + n, 0, TG_PROXY_BUF - n);

		/* zero padding */
		memset(buf, 0, TG_PROXY_BUF);
		memcpy(buf, work, n);
		memset(&st0, 0, sizeof(st0));
		st0.len = (__u32)n;
		rc0 = tg_proxy_parse(buf, &st0);
		cr_assert(rc0 >= TG_PROXY_NONE && rc0 <= TG_PROXY_PARTIAL, "iteration %d: rc %d", iter,
			  rc0);
		seen[rc0]++;

		/* the bytes past len (stale in the kernel's scratch) change nothing */
		for (size_t i = n; i < TG_PROXY_BUF; i++)
			buf[i] = (i & 1) ? '\r' : (__u8)rnd(256);
		if (n < TG_PROXY_BUF && rnd(2))
			buf[n] = '\n';
		memset(&st, 0xee, sizeof(st));
		st.len = (__u32)n;
		rc = tg_proxy_parse(buf, &st);
		cr_assert_eq(rc, rc0, "iteration %d: %d with garbage past len, %d without", iter, rc, rc0);
		cr_assert_eq(st.hdr_len, st0.hdr_len, "iteration %d", iter);
		if (rc == TG_PROXY_ADDR)
			cr_assert(memcmp(&st.client, &st0.client, sizeof(st.client)) == 0, "iteration %d",
				  iter);

		/* against the model */
		w = ref_parse(work, (__u32)n);
		if (rc0 != w.rc || (rc0 != TG_PROXY_BAD && st0.hdr_len != w.hdr_len) ||
		    (rc0 == TG_PROXY_ADDR && memcmp(&st0.client, &w.client, sizeof(w.client)))) {
			char hex[TG_PROXY_BUF * 4 + 1], got_s[INET6_ADDRSTRLEN], want_s[INET6_ADDRSTRLEN];
			char *o = hex;

			for (size_t i = 0; i < n; i++) {
				if (work[i] >= 0x20 && work[i] < 0x7f && work[i] != '\\')
					*o++ = (char)work[i];
				else
					o += sprintf(o, "\\x%02x", work[i]);
			}
			*o = '\0';
			cr_assert_fail("iteration %d, len %zu \"%s\": rc %d hdr_len %u client %s; model "
				       "rc %d hdr_len %u client %s",
				       iter, n, hex, rc0, st0.hdr_len, fmt_addr(&st0.client, got_s), w.rc,
				       w.hdr_len, fmt_addr(&w.client, want_s));
		}
		/* invariants of each code */
		if (rc0 == TG_PROXY_NONE)
			cr_assert_eq(st0.hdr_len, 0);
		if ((rc0 == TG_PROXY_ADDR || rc0 == TG_PROXY_NOADDR) && st0.hdr_len <= MODEL_V1_MAX &&
		    work[0] == 'P') {
			cr_assert_leq(st0.hdr_len, n);
			cr_assert(work[st0.hdr_len - 2] == '\r' && work[st0.hdr_len - 1] == '\n');
		}
		free(buf);
	}
	cr_log_info("none %d, addr %d, noaddr %d, bad %d, partial %d", seen[0], seen[1], seen[2],
		    seen[3], seen[4]);
	/* the mutations reach every outcome */
	for (int i = 0; i < 5; i++)
		cr_assert_gt(seen[i], 100, "code %d seen %d times", i, seen[i]);
}

/* Random IPv6 text, valid and mutated, in a TCP6 line: the parser agrees
 * with inet_pton(AF_INET6) on every token without a '.' (dotted IPv4 tails
 * are not parsed). */
Test(proxy, random_ipv6_text_matches_inet_pton, .timeout = 120)
{
	static const char chars[] = "0123456789abcdefABCDEF:::::.x ";
	int agreed_ok = 0, agreed_bad = 0;

	for (int iter = 0; iter < 20000; iter++) {
		__u16 g[8];
		char tok[64], hdr[TG_PROXY_BUF];
		size_t tl;
		struct tg_addr want;
		struct tg_proxy_state st;
		int rc, ok;

		/* groups, many of them zero so that "::" has runs to take */
		for (int i = 0; i < 8; i++)
			g[i] = rnd(3) ? 0 : (__u16)(rnd(2) ? rnd(0x10000) : rnd(16));
		if (rnd(2)) {
			__u8 raw[16];

			for (int i = 0; i < 8; i++) {
				raw[2 * i] = (__u8)(g[i] >> 8);
				raw[2 * i + 1] = (__u8)g[i];
			}
			cr_assert_not_null(inet_ntop(AF_INET6, raw, tok, sizeof(tok)));
			if (strchr(tok, '.'))
				continue;
		} else {
			/* every group written out, padded or not */
			char *o = tok;

			for (int i = 0; i < 8; i++)
				o += sprintf(o, rnd(2) ? "%04x:" : "%x:", g[i]);
			o[-1] = '\0';
		}
		if (rnd(2)) /* upper case */
			for (char *c = tok; *c; c++)
				if (*c >= 'a' && *c <= 'f' && rnd(2))
					*c = (char)(*c - 'a' + 'A');
		tl = strlen(tok);
		for (int m = rnd(2) ? 1 + (int)rnd(3) : 0; m > 0; m--) {
			size_t pos = rnd((__u32)tl + 1);

			switch (rnd(3)) {
			case 0:
				if (pos < tl)
					tok[pos] = chars[rnd(sizeof(chars) - 1)];
				break;
			case 1:
				if (pos < tl) {
					memmove(tok + pos, tok + pos + 1, tl - pos);
					tl--;
				}
				break;
			default:
				if (tl < 50) {
					memmove(tok + pos + 1, tok + pos, tl - pos + 1);
					tok[pos] = chars[rnd(sizeof(chars) - 1)];
					tl++;
				}
				break;
			}
		}
		/* a space ends the token: what follows is the destination */
		char *sp = strchr(tok, ' ');
		if (sp)
			*sp = '\0';
		if (strchr(tok, '.'))
			continue;
		memset(&want, 0, sizeof(want));
		ok = inet_pton(AF_INET6, tok, want.w) == 1;
		snprintf(hdr, sizeof(hdr), "PROXY TCP6 %s ::1 1 2\r\n", tok);
		rc = parse(hdr, &st);
		if (ok) {
			char got_s[INET6_ADDRSTRLEN], want_s[INET6_ADDRSTRLEN];

			cr_assert_eq(rc, TG_PROXY_ADDR, "\"%s\": rc %d, inet_pton accepts it", tok, rc);
			cr_assert(memcmp(&st.client, &want, sizeof(want)) == 0, "\"%s\": %s, want %s", tok,
				  fmt_addr(&st.client, got_s), fmt_addr(&want, want_s));
			agreed_ok++;
		} else {
			cr_assert_eq(rc, TG_PROXY_BAD, "\"%s\": rc %d, inet_pton rejects it", tok, rc);
			agreed_bad++;
		}
	}
	cr_log_info("valid %d, invalid %d", agreed_ok, agreed_bad);
	cr_assert_gt(agreed_ok, 5000);
	cr_assert_gt(agreed_bad, 2000);
}

/* The same for dotted quads in a TCP4 line, against inet_pton(AF_INET)
 * (which, like the spec, refuses leading zeros: those are left out). */
Test(proxy, random_ipv4_text_matches_inet_pton)
{
	static const char chars[] = "0123456789...x: ";
	int agreed_ok = 0, agreed_bad = 0;

	for (int iter = 0; iter < 20000; iter++) {
		char tok[40], hdr[TG_PROXY_BUF];
		size_t tl;
		struct tg_addr want;
		struct tg_proxy_state st;
		int rc, ok, lead0 = 0;

		snprintf(tok, sizeof(tok), "%u.%u.%u.%u", rnd(2) ? rnd(256) : rnd(300), rnd(256),
			 rnd(10), rnd(2) ? rnd(256) : rnd(1200));
		tl = strlen(tok);
		for (int m = rnd(2) ? 1 + (int)rnd(2) : 0; m > 0; m--) {
			size_t pos = rnd((__u32)tl + 1);

			if (rnd(2) && pos < tl) {
				tok[pos] = chars[rnd(sizeof(chars) - 1)];
			} else if (pos < tl && rnd(2)) {
				memmove(tok + pos, tok + pos + 1, tl - pos);
				tl--;
			} else if (tl < 30) {
				memmove(tok + pos + 1, tok + pos, tl - pos + 1);
				tok[pos] = chars[rnd(sizeof(chars) - 1)];
				tl++;
			}
		}
		char *sp = strchr(tok, ' ');
		if (sp)
			*sp = '\0';
		for (size_t i = 0; tok[i]; i++)
			if (tok[i] == '0' && (i == 0 || tok[i - 1] == '.') && tok[i + 1] >= '0' &&
			    tok[i + 1] <= '9')
				lead0 = 1;
		if (lead0)
			continue;
		memset(&want, 0, sizeof(want));
		want.w[2] = htonl(0xffff);
		ok = inet_pton(AF_INET, tok, &want.w[3]) == 1;
		snprintf(hdr, sizeof(hdr), "PROXY TCP4 %s 10.0.0.1 1 2\r\n", tok);
		rc = parse(hdr, &st);
		if (ok) {
			cr_assert_eq(rc, TG_PROXY_ADDR, "\"%s\": rc %d, inet_pton accepts it", tok, rc);
			expect_client(&st, tok, hdr);
			agreed_ok++;
		} else {
			cr_assert_eq(rc, TG_PROXY_BAD, "\"%s\": rc %d, inet_pton rejects it", tok, rc);
			agreed_bad++;
		}
	}
	cr_log_info("valid %d, invalid %d", agreed_ok, agreed_bad);
	cr_assert_gt(agreed_ok, 5000);
	cr_assert_gt(agreed_bad, 2000);
}
