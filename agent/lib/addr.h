/* Addresses in the kernel's key form (struct tg_addr, kern/shared.h: IPv6,
 * IPv4 as ::ffff:a.b.c.d, network order), CIDRs and listen addresses: the
 * one home of each, for the config, the API, the collector and the CLI. */
#ifndef TG_ADDR_H
#define TG_ADDR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include "shared.h"

/* memcmp order: a qsort/bsearch comparator over struct tg_addr (or any
 * struct that starts with one). */
int tg_addr_cmp(const void *a, const void *b);
bool tg_addr_is_v4(const struct tg_addr *a);
/* Keeps the first `prefix` bits (IPv6 terms: an IPv4 /24 is 120). */
void tg_addr_mask(struct tg_addr *a, uint32_t prefix);
/* "198.18.0.2" or "fd00:198:18::" (the prefix is reported separately). */
void tg_addr_format(const struct tg_addr *a, char *buf, size_t len);
/* Parses an IPv4 or IPv6 address text. Returns 0 or -EINVAL. */
int tg_addr_parse(const char *s, struct tg_addr *a);

#define TG_CIDR_STR_LEN 52 /* INET6_ADDRSTRLEN + "/128" */

/* "198.18.0.0/16", "fd00:198:18::/64", or a bare address (a /32 or /128)
 * into net (network order, IPv4 as ::ffff:a.b.c.d) and a prefix length in
 * IPv6 terms (an IPv4 /16 is 112). Returns 0; -EINVAL when malformed;
 * -ERANGE when host bits are set, with net and prefix_len filled in with
 * the network the text probably meant. */
int tg_cidr_parse(const char *s, uint32_t net[4], uint32_t *prefix_len);

/* The inverse: an IPv4-mapped network of 96 bits or more prints as IPv4.
 * len >= TG_CIDR_STR_LEN. */
void tg_cidr_format(const uint32_t net[4], uint32_t prefix_len, char *buf, size_t len);

/* Parses "host:port" (IPv4, "localhost" or [IPv6]; a port in 0..65535 with
 * no leading zero) into a sockaddr. Returns 0 or -EINVAL. */
int tg_addr_parse_listen(const char *listen, struct sockaddr_storage *ss);

/* A listen address ("host:port" as above) on loopback: 127.0.0.0/8, ::1,
 * ::ffff:127.x, "localhost". false for anything else or malformed. */
bool tg_addr_listen_is_loopback(const char *listen);

#endif
