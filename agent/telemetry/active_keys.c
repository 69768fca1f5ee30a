#include <stdlib.h>
#include <string.h>
#include "telemetry/active_keys.h"
#include "telemetry/rates.h"
#include "lib/addr.h"

/* Sorted and unique in place; returns the count kept. */
static size_t sort_unique(struct tg_addr *k, size_t n)
{
	size_t w = 0;

	if (n < 2)
		return n;
	qsort(k, n, sizeof(*k), tg_addr_cmp);
	for (size_t r = 1; r < n; r++)
		if (tg_addr_cmp(&k[w], &k[r]) != 0)
			k[++w] = k[r];
	return w + 1;
}

static void reverse(struct tg_addr *a, size_t n)
{
	for (size_t i = 0; i < n / 2; i++) {
		struct tg_addr t = a[i];

		a[i] = a[n - 1 - i];
		a[n - 1 - i] = t;
	}
}

/* Rotates a[0..n) left by s: three reversals, no memory of its own. */
static void rotate(struct tg_addr *a, size_t n, size_t s)
{
	if (!s || s >= n)
		return;
	reverse(a, s);
	reverse(a + s, n - s);
	reverse(a, n);
}

size_t tg_active_keys_plan(struct tg_addr *k, size_t n_carry, size_t n,
			   const struct tg_addr *from)
{
	struct tg_addr *d = k + n_carry;
	size_t nd = sort_unique(d, n - n_carry), i = 0, w = 0, s = 0;

	/* both sorted: one walk drops the drained keys that are carried */
	for (size_t r = 0; r < nd; r++) {
		int cmp = 1;

		while (i < n_carry && (cmp = tg_addr_cmp(&k[i], &d[r])) < 0)
			i++;
		if (i < n_carry && cmp == 0)
			continue;
		d[w++] = d[r];
	}
	while (from && s < w && tg_addr_cmp(&d[s], from) < 0)
		s++;
	rotate(d, w, s);
	return n_carry + w;
}

size_t tg_active_keys_carry(struct tg_addr *k, size_t done, size_t n, size_t max)
{
	size_t left = done < n ? n - done : 0;

	if (left > max)
		left = max;
	if (left && done)
		memmove(k, k + done, left * sizeof(*k));
	/* the rest of the carried keys, then drained ones (rotated): the
	 * next plan wants one sorted run */
	if (left > 1)
		qsort(k, left, sizeof(*k), tg_addr_cmp);
	return left;
}
