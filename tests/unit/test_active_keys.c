/* The keys a scan reads: carried ones first, drained ones deduplicated. */
#include <criterion/criterion.h>
#include <string.h>
#include "telemetry/active_keys.h"
#include "telemetry/rates.h"

static struct tg_addr A(unsigned v)
{
	struct tg_addr a;

	memset(&a, 0, sizeof(a));
	a.w[3] = v << 24; /* memcmp order: the first byte of the last word */
	return a;
}

static unsigned V(const struct tg_addr *a)
{
	return a->w[3] >> 24;
}

Test(active_keys, drained_sorted_and_unique)
{
	struct tg_addr k[6] = { A(5), A(1), A(5), A(3), A(1), A(9) };
	size_t n = tg_active_keys_plan(k, 0, 6, NULL);

	cr_assert_eq(n, 4);
	cr_assert_eq(V(&k[0]), 1);
	cr_assert_eq(V(&k[1]), 3);
	cr_assert_eq(V(&k[2]), 5);
	cr_assert_eq(V(&k[3]), 9);
}

Test(active_keys, carried_first_and_not_read_twice)
{
	/* carried 4, 7 (sorted); drained 7, 2, 8, 4, 2 */
	struct tg_addr k[7] = { A(4), A(7), A(7), A(2), A(8), A(4), A(2) };
	size_t n = tg_active_keys_plan(k, 2, 7, NULL);
	unsigned want[] = { 4, 7, 2, 8 };

	cr_assert_eq(n, 4);
	for (size_t i = 0; i < n; i++)
		cr_assert_eq(V(&k[i]), want[i], "k[%zu] = %u", i, V(&k[i]));
}

Test(active_keys, nothing_drained_or_nothing_carried)
{
	struct tg_addr k[2] = { A(3), A(6) };

	cr_assert_eq(tg_active_keys_plan(k, 2, 2, NULL), 2);
	cr_assert_eq(tg_active_keys_plan(k, 0, 0, NULL), 0);
	cr_assert_eq(tg_active_keys_plan(k, 0, 1, NULL), 1);
	cr_assert_eq(V(&k[0]), 3);
}

Test(active_keys, unread_carried_sorted)
{
	/* the plan's order: carried 4, 7, then drained 2, 8; read 4 only */
	struct tg_addr k[4] = { A(4), A(7), A(2), A(8) };
	size_t left = tg_active_keys_carry(k, 1, 4, 64);

	cr_assert_eq(left, 3);
	cr_assert_eq(V(&k[0]), 2);
	cr_assert_eq(V(&k[1]), 7);
	cr_assert_eq(V(&k[2]), 8);
	cr_assert_eq(tg_active_keys_carry(k, 3, 3, 64), 0, "all read: nothing carried");
	cr_assert_eq(tg_active_keys_carry(k, 5, 3, 64), 0, "done beyond n is all read");
}

Test(active_keys, a_backlog_drains_in_order_of_age)
{
	/* 3 reads per scan; each scan drains 2 new keys: the first keys
	 * drained are read before the later ones, none is lost */
	struct tg_addr k[64];
	size_t carry = 0, n, read = 0;
	unsigned seen[32] = { 0 }, next = 20;

	for (unsigned v = 0; v < 10; v++)
		k[v] = A(10 + v); /* a burst of 10 drained at once */
	n = tg_active_keys_plan(k, 0, 10, NULL);
	for (int scan = 0; scan < 20 && n; scan++) {
		size_t done = n < 3 ? n : 3;

		for (size_t i = 0; i < done; i++) {
			cr_assert(V(&k[i]) < 32);
			seen[V(&k[i])]++;
			read++;
			/* the burst (10..19) is read before anything drained later */
			if (V(&k[i]) >= 20)
				for (unsigned b = 10; b < 20; b++)
					cr_assert_eq(seen[b], 1, "burst key %u read first", b);
		}
		carry = tg_active_keys_carry(k, done, n, 64);
		n = carry;
		if (next < 26) { /* a new one, and a carried key drained again */
			k[n++] = A(next++);
			if (carry)
				k[n++] = A(V(&k[0]));
		}
		n = tg_active_keys_plan(k, carry, n, NULL);
	}
	cr_assert_eq(n, 0);
	cr_assert_eq(read, 16);
	for (unsigned v = 10; v < 26; v++)
		cr_assert_eq(seen[v], 1, "key %u read once", v);
}

Test(active_keys, drained_start_where_the_last_scan_stopped)
{
	/* carried 6; drained 9, 2, 5, 7; the last scan stopped at 5 */
	struct tg_addr k[5] = { A(6), A(9), A(2), A(5), A(7) }, from = A(5);
	size_t n = tg_active_keys_plan(k, 1, 5, &from);
	unsigned want[] = { 6, 5, 7, 9, 2 };

	cr_assert_eq(n, 5);
	for (size_t i = 0; i < n; i++)
		cr_assert_eq(V(&k[i]), want[i], "k[%zu] = %u", i, V(&k[i]));
	/* past every key: from the start */
	from = A(200);
	struct tg_addr j[3] = { A(3), A(1), A(2) };

	cr_assert_eq(tg_active_keys_plan(j, 0, 3, &from), 3);
	cr_assert_eq(V(&j[0]), 1);
	cr_assert_eq(V(&j[2]), 3);
}

Test(active_keys, carry_bounded_rest_let_go)
{
	/* read 1 of 6; room to carry 2: the next two in plan order */
	struct tg_addr k[6] = { A(1), A(8), A(3), A(4), A(5), A(6) };
	size_t left = tg_active_keys_carry(k, 1, 6, 2);

	cr_assert_eq(left, 2);
	cr_assert_eq(V(&k[0]), 3);
	cr_assert_eq(V(&k[1]), 8);
	cr_assert_eq(tg_active_keys_carry(k, 0, 2, 0), 0, "no room: all let go");
}
