/* Addresses in the kernel's key form (struct tg_addr: IPv6, IPv4 as
 * ::ffff:a.b.c.d, network order), CIDRs and listen addresses. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include "lib/addr.h"

int tg_addr_cmp(const void *a, const void *b)
{
	return memcmp(a, b, sizeof(struct tg_addr));
}

bool tg_addr_is_v4(const struct tg_addr *a)
{
	return a->w[0] == 0 && a->w[1] == 0 && a->w[2] == htonl(0xffff);
}

void tg_addr_mask(struct tg_addr *a, uint32_t prefix)
{
	for (int i = 0; i < 4; i++, prefix = prefix > 32 ? prefix - 32 : 0)
		if (prefix < 32)
			a->w[i] &= htonl(prefix ? ~0u << (32 - prefix) : 0);
}

void tg_addr_format(const struct tg_addr *a, char *buf, size_t len)
{
	if (tg_addr_is_v4(a))
		inet_ntop(AF_INET, &a->w[3], buf, len);
	else
		inet_ntop(AF_INET6, a->w, buf, len);
}

int tg_addr_parse(const char *s, struct tg_addr *a)
{
	memset(a, 0, sizeof(*a));
	if (inet_pton(AF_INET, s, &a->w[3]) == 1) {
		a->w[2] = htonl(0xffff);
		return 0;
	}
	if (inet_pton(AF_INET6, s, a->w) == 1)
		return 0;
	return -EINVAL;
}

int tg_cidr_parse(const char *s, uint32_t net[4], uint32_t *prefix_len)
{
	unsigned char a[16] = { 0 };
	const char *slash = strchr(s, '/'), *p;
	size_t n = slash ? (size_t)(slash - s) : strlen(s);
	char host[INET6_ADDRSTRLEN];
	unsigned bits, max;
	bool host_bits = false;

	if (n == 0 || n >= sizeof(host))
		return -EINVAL;
	memcpy(host, s, n);
	host[n] = '\0';
	if (inet_pton(AF_INET, host, a + 12) == 1) {
		a[10] = a[11] = 0xff;
		max = 32;
	} else if (inet_pton(AF_INET6, host, a) == 1) {
		max = 128;
	} else {
		return -EINVAL;
	}
	bits = max;
	if (slash) {
		/* 1..3 digits, no sign, space or leading zero. */
		p = slash + 1;
		n = strspn(p, "0123456789");
		if (n < 1 || n > 3 || p[n] || (p[0] == '0' && n > 1) ||
		    (bits = (unsigned)atoi(p)) > max)
			return -EINVAL;
	}
	bits += 128 - max;
	for (unsigned i = 0; i < 16; i++) {
		unsigned char mask = bits >= 8 * i + 8 ? 0xff
				     : bits <= 8 * i ? 0
				     : (unsigned char)(0xff << (8 * i + 8 - bits));

		host_bits |= (a[i] & ~mask) != 0;
		a[i] &= mask;
	}
	memcpy(net, a, sizeof(a));
	*prefix_len = bits;
	return host_bits ? -ERANGE : 0;
}

void tg_cidr_format(const uint32_t net[4], uint32_t prefix_len, char *buf, size_t len)
{
	static const unsigned char mapped[12] = { [10] = 0xff, [11] = 0xff };
	const unsigned char *a = (const unsigned char *)net;
	char host[INET6_ADDRSTRLEN];

	if (prefix_len >= 96 && !memcmp(a, mapped, sizeof(mapped))) {
		inet_ntop(AF_INET, a + 12, host, sizeof(host));
		prefix_len -= 96;
	} else {
		inet_ntop(AF_INET6, a, host, sizeof(host));
	}
	snprintf(buf, len, "%s/%u", host, prefix_len);
}

int tg_addr_parse_listen(const char *listen, struct sockaddr_storage *ss)
{
	char host[INET6_ADDRSTRLEN];
	const char *hs, *he, *ps;
	size_t hl, i;
	unsigned long port = 0;
	bool v6;

	if (!listen || !ss)
		return -EINVAL;
	memset(ss, 0, sizeof(*ss));
	v6 = listen[0] == '[';
	if (v6) {
		hs = listen + 1;
		he = strchr(hs, ']');
		if (!he || he[1] != ':')
			return -EINVAL;
		ps = he + 2;
	} else {
		hs = listen;
		he = strrchr(listen, ':');
		if (!he)
			return -EINVAL;
		ps = he + 1;
	}
	hl = (size_t)(he - hs);
	if (hl == 0 || hl >= sizeof(host))
		return -EINVAL;
	memcpy(host, hs, hl);
	host[hl] = '\0';
	if (ps[0] == '0' && ps[1]) /* no leading zeros: "09470" is a typo */
		return -EINVAL;
	for (i = 0; ps[i]; i++) {
		if (ps[i] < '0' || ps[i] > '9' || i >= 5)
			return -EINVAL;
		port = port * 10 + (unsigned long)(ps[i] - '0');
	}
	if (i == 0 || port > 65535)
		return -EINVAL;
	if (v6) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;

		if (inet_pton(AF_INET6, host, &s6->sin6_addr) != 1)
			return -EINVAL;
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons((uint16_t)port);
	} else {
		struct sockaddr_in *s4 = (struct sockaddr_in *)ss;

		if (strcmp(host, "localhost") == 0)
			strcpy(host, "127.0.0.1");
		if (inet_pton(AF_INET, host, &s4->sin_addr) != 1)
			return -EINVAL;
		s4->sin_family = AF_INET;
		s4->sin_port = htons((uint16_t)port);
	}
	return 0;
}

bool tg_addr_listen_is_loopback(const char *listen)
{
	struct sockaddr_storage ss;
	const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)&ss;
	const struct sockaddr_in *s4 = (const struct sockaddr_in *)&ss;

	if (tg_addr_parse_listen(listen, &ss))
		return false;
	if (ss.ss_family == AF_INET)
		return (ntohl(s4->sin_addr.s_addr) >> 24) == 127;
	return IN6_IS_ADDR_LOOPBACK(&s6->sin6_addr) ||
	       (IN6_IS_ADDR_V4MAPPED(&s6->sin6_addr) && s6->sin6_addr.s6_addr[12] == 127);
}
