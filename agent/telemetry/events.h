/* Denial events from the kernel's ring buffer, read on the loop. */
#ifndef TG_EVENTS_H
#define TG_EVENTS_H

#include <stdint.h>
#include <uv.h>
#include "shared.h"

struct ring_buffer;
struct tg_kern;

struct tg_events {
	struct ring_buffer *rb;
	uv_poll_t poll;
	const struct tg_kern *kern;
	uint64_t received;
	uint64_t by_type[4]; /* by enum tg_event_type */
	int started;
	/* Each denial also goes here (the anomaly pipeline). */
	void (*on_denial)(void *arg, const struct tg_event *e);
	void *denial_arg;
};

/* Polls the ring buffer's epoll fd from the loop. Returns 0 or -errno. */
int tg_events_start(struct tg_events *ev, uv_loop_t *loop, const struct tg_kern *k,
		    int ringbuf_fd);
/* Closes the poll handle; the ring buffer is freed once it is closed. */
void tg_events_stop(struct tg_events *ev);

#endif
