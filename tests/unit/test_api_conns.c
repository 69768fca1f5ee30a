/* The API server's admission policy (api_conns.c): which connection makes
 * room for a newcomer, as tables. */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>

#include "api/api_conns.h"
#include "lib/addr.h"

#define MAXN 16

struct table {
	struct tg_conn_slot s[MAXN];
	const struct tg_conn_slot *p[MAXN];
	size_t n;
};

static struct tg_addr addr(const char *text)
{
	struct tg_addr a;

	cr_assert(eq(int, tg_addr_parse(text, &a), 0), "%s", text);
	return a;
}

/* add(t, phase, since, peer or NULL) */
static void add(struct table *t, enum tg_conn_phase ph, uint64_t since, const char *peer)
{
	struct tg_conn_slot *s = &t->s[t->n];

	memset(s, 0, sizeof(*s));
	s->phase = ph;
	s->since_ms = since;
	s->has_peer = peer != NULL;
	if (peer)
		s->peer = addr(peer);
	s->index = (unsigned int)t->n;
	t->p[t->n] = s;
	t->n++;
}

static int admit(const struct table *t, const char *peer, unsigned int max, unsigned int per_peer)
{
	struct tg_conn_limits lim = { .max = max, .per_peer = per_peer };
	struct tg_addr a;

	if (peer)
		a = addr(peer);
	return tg_conn_admit(t->p, t->n, peer ? &a : NULL, &lim);
}

Test(conns, room_left_admits)
{
	struct table t = { 0 };

	cr_assert(eq(int, admit(&t, NULL, 1, 0), TG_CONN_ADMIT));
	add(&t, TG_CONN_BUSY, 1, NULL);
	add(&t, TG_CONN_IDLE, 2, NULL);
	cr_assert(eq(int, admit(&t, NULL, 3, 0), TG_CONN_ADMIT));
	cr_assert(eq(int, admit(&t, "198.18.0.1", 3, 2), TG_CONN_ADMIT));
}

/* Full: closing ones first, then the oldest of the new and idle ones,
 * then the request arriving the longest; never one being answered. */
Test(conns, full_displaces_in_order)
{
	struct table t = { 0 };

	add(&t, TG_CONN_BUSY, 1, NULL);     /* 0 */
	add(&t, TG_CONN_REQUEST, 2, NULL);  /* 1 */
	add(&t, TG_CONN_IDLE, 30, NULL);    /* 2 */
	add(&t, TG_CONN_NEW, 20, NULL);     /* 3 */
	add(&t, TG_CONN_CLOSING, 50, NULL); /* 4 */
	add(&t, TG_CONN_REQUEST, 1, NULL);  /* 5 */
	cr_assert(eq(int, admit(&t, NULL, 6, 0), 4), "closing first");
	t.s[4].phase = TG_CONN_BUSY;
	cr_assert(eq(int, admit(&t, NULL, 6, 0), 3), "then the oldest new or idle");
	t.s[3].phase = TG_CONN_BUSY;
	cr_assert(eq(int, admit(&t, NULL, 6, 0), 2));
	t.s[2].phase = TG_CONN_BUSY;
	cr_assert(eq(int, admit(&t, NULL, 6, 0), 5), "then the oldest arriving request");
	t.s[5].phase = TG_CONN_BUSY;
	cr_assert(eq(int, admit(&t, NULL, 6, 0), 1));
	t.s[1].phase = TG_CONN_BUSY;
	cr_assert(eq(int, admit(&t, NULL, 6, 0), TG_CONN_REFUSE), "all being answered");
}

Test(conns, equal_ages_take_the_first)
{
	struct table t = { 0 };

	add(&t, TG_CONN_IDLE, 7, NULL);
	add(&t, TG_CONN_NEW, 7, NULL);
	cr_assert(eq(int, admit(&t, NULL, 2, 0), 0));
}

/* At its cap, a peer displaces only its own connections, even when the
 * server has room, and even when another's are older. */
Test(conns, per_peer_cap)
{
	struct table t = { 0 };

	add(&t, TG_CONN_IDLE, 1, "198.18.0.9");  /* 0: someone else's, oldest */
	add(&t, TG_CONN_IDLE, 5, "198.18.0.1");  /* 1 */
	add(&t, TG_CONN_IDLE, 3, "198.18.0.1");  /* 2 */
	add(&t, TG_CONN_REQUEST, 2, NULL);       /* 3: a Unix client, no peer */
	cr_assert(eq(int, admit(&t, "198.18.0.1", 64, 2), 2));
	cr_assert(eq(int, admit(&t, "198.18.0.1", 64, 3), TG_CONN_ADMIT));
	cr_assert(eq(int, admit(&t, "198.18.0.2", 64, 2), TG_CONN_ADMIT));
	/* its own are all being answered: refused, the others untouched */
	t.s[1].phase = t.s[2].phase = TG_CONN_BUSY;
	cr_assert(eq(int, admit(&t, "198.18.0.1", 64, 2), TG_CONN_REFUSE));
	/* under its cap on a full server: whoever idles the longest */
	cr_assert(eq(int, admit(&t, "198.18.0.2", 4, 2), 0));
	/* no cap, or no peer: only the total counts */
	cr_assert(eq(int, admit(&t, "198.18.0.1", 64, 0), TG_CONN_ADMIT));
	cr_assert(eq(int, admit(&t, NULL, 64, 2), TG_CONN_ADMIT));
}

static const char *key_of(int family, const char *text)
{
	static char out[64];
	struct sockaddr_storage ss;
	struct tg_addr k;

	memset(&ss, 0, sizeof(ss));
	ss.ss_family = (sa_family_t)family;
	if (family == AF_INET)
		cr_assert(eq(int, inet_pton(AF_INET, text, &((struct sockaddr_in *)&ss)->sin_addr), 1));
	else if (family == AF_INET6)
		cr_assert(eq(int, inet_pton(AF_INET6, text, &((struct sockaddr_in6 *)&ss)->sin6_addr), 1));
	if (!tg_conn_peer_key((struct sockaddr *)&ss, &k))
		return "none";
	tg_addr_format(&k, out, sizeof(out));
	return out;
}

Test(conns, peer_groups)
{
	cr_assert(eq(str, (char *)key_of(AF_INET, "198.18.0.7"), "198.18.0.7"));
	/* any local user can pick among the loopback addresses: one group */
	cr_assert(eq(str, (char *)key_of(AF_INET, "127.0.0.1"), "127.0.0.1"));
	cr_assert(eq(str, (char *)key_of(AF_INET, "127.45.3.2"), "127.0.0.1"));
	cr_assert(eq(str, (char *)key_of(AF_INET6, "::1"), "127.0.0.1"));
	cr_assert(eq(str, (char *)key_of(AF_INET6, "::ffff:127.9.9.9"), "127.0.0.1"));
	/* IPv6 by /64; mapped IPv4 as IPv4 */
	cr_assert(eq(str, (char *)key_of(AF_INET6, "fd00:198:18::1:2"), "fd00:198:18::"));
	cr_assert(eq(str, (char *)key_of(AF_INET6, "fd00:198:18:0:ffff::9"), "fd00:198:18::"));
	cr_assert(eq(str, (char *)key_of(AF_INET6, "fd00:198:18:1::9"), "fd00:198:18:1::"));
	cr_assert(eq(str, (char *)key_of(AF_INET6, "::ffff:198.18.0.7"), "198.18.0.7"));
	cr_assert(eq(str, (char *)key_of(AF_UNIX, NULL), "none"));
}
