/* An open-addressing hash table of fixed-size entries, for the detectors'
 * per-client, per-bucket and per-key state: adding, finding and removing
 * are O(1), and a sweep over every entry is a walk of one dense array. */
#ifndef TG_HASHTAB_H
#define TG_HASHTAB_H

#include <stddef.h>
#include <stdint.h>

/* Entries live in one dense array (so a sweep is a plain walk) and an
 * open-addressing index of entry numbers finds them by key. The key is
 * the first ksz bytes of an entry. Entry pointers are valid until the
 * next add or remove. */
struct tg_tab {
	size_t esz, ksz;
	unsigned char *ent;
	size_t n, cap;
	uint32_t *slot; /* entry index + 1; 0 = empty */
	size_t nslot;   /* power of two, at least twice n */
};

void tg_tab_init(struct tg_tab *t, size_t esz, size_t ksz);
void tg_tab_free(struct tg_tab *t);
void *tg_tab_at(const struct tg_tab *t, size_t i);
void *tg_tab_find(const struct tg_tab *t, const void *key);
void *tg_tab_add(struct tg_tab *t, const void *key);
void tg_tab_remove(struct tg_tab *t, size_t i);
void tg_tab_shrink(struct tg_tab *t);

#endif
