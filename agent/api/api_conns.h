/* Who gets a connection slot when the API server is full: the admission
 * policy, apart from the I/O so that it is a table to test. Internal to
 * the API server (api.c).
 *
 * A full server does not refuse a newcomer while it holds connections
 * that are doing nothing: it closes the one that has been idle the
 * longest (or the request that has been arriving the longest) and takes
 * the newcomer. Clients that merely hold connections open therefore cannot
 * lock out the ones that ask something. A peer at its own cap only ever
 * displaces its own connections. */
#ifndef TG_API_CONNS_H
#define TG_API_CONNS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include "shared.h" /* struct tg_addr */

/* Where a connection is in its life, as far as making room goes. */
enum tg_conn_phase {
	TG_CONN_NEW,     /* accepted, no byte of a request yet */
	TG_CONN_IDLE,    /* kept alive between requests */
	TG_CONN_REQUEST, /* a request is arriving */
	TG_CONN_BUSY,    /* its answer is being written: never displaced */
	TG_CONN_CLOSING, /* lingering after a final answer */
};

struct tg_conn_slot {
	enum tg_conn_phase phase;
	uint64_t since_ms;   /* when it entered the phase (a request: its start) */
	bool has_peer;       /* a TCP peer: peer is its group */
	struct tg_addr peer; /* see tg_conn_peer_key */
	unsigned int index;  /* its place in the server's table */
};

struct tg_conn_limits {
	unsigned int max;      /* connections served at once, >= 1 */
	unsigned int per_peer; /* of them from one peer group; 0: no such cap */
};

#define TG_CONN_ADMIT (-1)  /* room enough */
#define TG_CONN_REFUSE (-2) /* full of connections that cannot be displaced */

/* A newcomer from peer (NULL: no peer to tell apart, a Unix socket)
 * against the n open connections: TG_CONN_ADMIT, TG_CONN_REFUSE, or the
 * index into slots of the connection to close for it. Displaced first:
 * closing ones, then new and idle ones, then arriving requests; among
 * equals the oldest (since_ms), then the lowest index. */
int tg_conn_admit(const struct tg_conn_slot *const *slots, size_t n, const struct tg_addr *peer,
		  const struct tg_conn_limits *lim);

/* The group a TCP peer counts in for the per-peer cap: its address, every
 * loopback address (127.0.0.0/8, ::1) as one (any local user can pick
 * among them), an IPv6 address by its /64 (one host's usual share).
 * IPv4-mapped IPv6 counts as IPv4. false for other families. */
bool tg_conn_peer_key(const struct sockaddr *sa, struct tg_addr *key);

#endif
