/* A growable byte buffer for building responses and JSON text. */
#ifndef TG_BUF_H
#define TG_BUF_H

#include <stdbool.h>
#include <stddef.h>

struct tg_buf {
	char *data;
	size_t len;
	size_t cap;
	bool oom; /* an allocation failed; further appends are no-ops */
};

void tg_buf_init(struct tg_buf *b);
void tg_buf_free(struct tg_buf *b);
void tg_buf_reset(struct tg_buf *b);  /* len = 0, clears oom, keeps memory */
int tg_buf_append(struct tg_buf *b, const void *p, size_t n);
int tg_buf_printf(struct tg_buf *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* Appends s as a JSON string literal, quotes included. */
int tg_buf_json_str(struct tg_buf *b, const char *s);

/* The agent's one growth rule for arrays of elem-byte elements: room for
 * at least need, doubling from first (first elements at least while p is
 * NULL, even for a need of 0). Returns the array (moved or not), or NULL
 * with p and *cap left as they were: only out of memory, or a size that
 * would overflow. */
void *tg_grow(void *p, size_t *cap, size_t need, size_t elem, size_t first);

#endif
