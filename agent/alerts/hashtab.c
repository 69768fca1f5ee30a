/* See hashtab.h. */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include "alerts/hashtab.h"


#define TAB_MIN 64

static uint64_t mix64(uint64_t x)
{
	x ^= x >> 30;
	x *= 0xbf58476d1ce4e5b9ull;
	x ^= x >> 27;
	x *= 0x94d049bb133111ebull;
	return x ^ (x >> 31);
}

static uint64_t tg_tab_hash(const void *key, size_t len)
{
	const unsigned char *p = key;
	uint64_t h = len;

	for (size_t i = 0; i < len; i += 8) {
		uint64_t w = 0;

		memcpy(&w, p + i, len - i < 8 ? len - i : 8);
		h = mix64(h ^ w);
	}
	return h;
}

void tg_tab_init(struct tg_tab *t, size_t esz, size_t ksz)
{
	memset(t, 0, sizeof(*t));
	t->esz = esz;
	t->ksz = ksz;
}

void tg_tab_free(struct tg_tab *t)
{
	free(t->ent);
	free(t->slot);
	t->ent = NULL;
	t->slot = NULL;
	t->n = t->cap = t->nslot = 0;
}

void *tg_tab_at(const struct tg_tab *t, size_t i)
{
	return t->ent + i * t->esz;
}

static size_t tg_tab_home(const struct tg_tab *t, const void *key)
{
	return tg_tab_hash(key, t->ksz) & (t->nslot - 1);
}

static int tg_tab_rehash(struct tg_tab *t, size_t nslot)
{
	uint32_t *s = calloc(nslot, sizeof(*s));
	size_t mask = nslot - 1;

	if (!s)
		return -ENOMEM;
	for (size_t i = 0; i < t->n; i++) {
		size_t j = tg_tab_hash(tg_tab_at(t, i), t->ksz) & mask;

		while (s[j])
			j = (j + 1) & mask;
		s[j] = (uint32_t)(i + 1);
	}
	free(t->slot);
	t->slot = s;
	t->nslot = nslot;
	return 0;
}

void *tg_tab_find(const struct tg_tab *t, const void *key)
{
	if (!t->n)
		return NULL;
	for (size_t j = tg_tab_home(t, key);; j = (j + 1) & (t->nslot - 1)) {
		uint32_t s = t->slot[j];
		void *e;

		if (!s)
			return NULL;
		e = tg_tab_at(t, s - 1);
		if (memcmp(e, key, t->ksz) == 0)
			return e;
	}
}

/* A zeroed entry for a key known to be absent; NULL when out of memory. */
void *tg_tab_add(struct tg_tab *t, const void *key)
{
	void *e;
	size_t j;

	if (t->n >= UINT32_MAX / 2)
		return NULL;
	if ((t->n + 1) * 2 > t->nslot && tg_tab_rehash(t, t->nslot ? t->nslot * 2 : TAB_MIN))
		return NULL;
	if (t->n == t->cap) {
		size_t cap = t->cap ? t->cap * 2 : TAB_MIN;
		void *p = realloc(t->ent, cap * t->esz);

		if (!p)
			return NULL;
		t->ent = p;
		t->cap = cap;
	}
	e = tg_tab_at(t, t->n);
	memset(e, 0, t->esz);
	memcpy(e, key, t->ksz);
	for (j = tg_tab_home(t, key); t->slot[j]; j = (j + 1) & (t->nslot - 1))
		;
	t->slot[j] = (uint32_t)(t->n + 1);
	t->n++;
	return e;
}

static size_t tg_tab_slot_of(const struct tg_tab *t, size_t i)
{
	size_t j = tg_tab_home(t, tg_tab_at(t, i));

	while (t->slot[j] != i + 1)
		j = (j + 1) & (t->nslot - 1);
	return j;
}

/* Removes entry i; the last entry takes its place in the array. */
void tg_tab_remove(struct tg_tab *t, size_t i)
{
	size_t mask = t->nslot - 1, hole = tg_tab_slot_of(t, i), j = hole, last = t->n - 1;

	/* Backward-shift deletion: members of the probe run after the hole
	 * move up into it unless that would put them before their home, so
	 * no lookup stops early at the hole. */
	for (;;) {
		uint32_t s;
		size_t home;
		bool stays;

		j = (j + 1) & mask;
		s = t->slot[j];
		if (!s)
			break;
		home = tg_tab_home(t, tg_tab_at(t, s - 1));
		stays = hole <= j ? (home > hole && home <= j) : (home > hole || home <= j);
		if (stays)
			continue;
		t->slot[hole] = s;
		hole = j;
	}
	t->slot[hole] = 0;
	if (i != last) {
		size_t js = tg_tab_slot_of(t, last);

		memcpy(tg_tab_at(t, i), tg_tab_at(t, last), t->esz);
		t->slot[js] = (uint32_t)(i + 1);
	}
	t->n--;
}

/* After a sweep: memory follows the active set back down. A failure
 * keeps the larger allocation, which is still correct. */
void tg_tab_shrink(struct tg_tab *t)
{
	size_t ns = t->nslot;

	while (ns > TAB_MIN && t->n * 4 < ns)
		ns /= 2;
	if (ns < t->nslot)
		(void)tg_tab_rehash(t, ns);
	if (t->cap > TAB_MIN && t->n * 4 < t->cap) {
		size_t cap = t->n * 2 > TAB_MIN ? t->n * 2 : TAB_MIN;
		void *p = realloc(t->ent, cap * t->esz);

		if (p) {
			t->ent = p;
			t->cap = cap;
		}
	}
}
