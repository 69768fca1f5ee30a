/* See api_conns.h. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>

#include "api/api_conns.h"
#include "lib/addr.h"

/* Lower goes first; -1: never. */
static int rank(enum tg_conn_phase p)
{
	switch (p) {
	case TG_CONN_CLOSING: return 0;
	case TG_CONN_NEW:
	case TG_CONN_IDLE: return 1;
	case TG_CONN_REQUEST: return 2;
	case TG_CONN_BUSY: return -1;
	}
	return -1;
}

/* The connection to displace among those matching peer (NULL: all). */
static int victim(const struct tg_conn_slot *const *slots, size_t n, const struct tg_addr *peer)
{
	int best = TG_CONN_REFUSE, best_rank = 0;

	for (size_t i = 0; i < n; i++) {
		const struct tg_conn_slot *s = slots[i];
		int r = rank(s->phase);

		if (r < 0 || (peer && (!s->has_peer || memcmp(&s->peer, peer, sizeof(*peer)))))
			continue;
		if (best == TG_CONN_REFUSE || r < best_rank ||
		    (r == best_rank && s->since_ms < slots[best]->since_ms)) {
			best = (int)i;
			best_rank = r;
		}
	}
	return best;
}

int tg_conn_admit(const struct tg_conn_slot *const *slots, size_t n, const struct tg_addr *peer,
		  const struct tg_conn_limits *lim)
{
	if (peer && lim->per_peer) {
		size_t mine = 0;

		for (size_t i = 0; i < n; i++)
			mine += slots[i]->has_peer && !memcmp(&slots[i]->peer, peer, sizeof(*peer));
		if (mine >= lim->per_peer)
			return victim(slots, n, peer);
	}
	return n < lim->max ? TG_CONN_ADMIT : victim(slots, n, NULL);
}

bool tg_conn_peer_key(const struct sockaddr *sa, struct tg_addr *key)
{
	static const uint8_t mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };

	memset(key, 0, sizeof(*key));
	if (sa->sa_family == AF_INET) {
		key->w[2] = htonl(0xffff);
		key->w[3] = ((const struct sockaddr_in *)sa)->sin_addr.s_addr;
	} else if (sa->sa_family == AF_INET6) {
		const struct in6_addr *a = &((const struct sockaddr_in6 *)sa)->sin6_addr;

		memcpy(key->w, a, sizeof(key->w));
		if (IN6_IS_ADDR_LOOPBACK(a)) {
			tg_addr_parse("127.0.0.1", key);
			return true;
		}
		if (memcmp(a, mapped, sizeof(mapped)))
			tg_addr_mask(key, 64);
	} else {
		return false;
	}
	if (tg_addr_is_v4(key) && (ntohl(key->w[3]) >> 24) == 127)
		key->w[3] = htonl(0x7f000001);
	return true;
}
