#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <bpf/libbpf.h>
#include "telemetry/events.h"
#include "bpf/loader.h"
#include "lib/log.h"
#include "telemetry/rates.h"
#include "lib/addr.h"

static int on_event(void *ctx, void *data, size_t len)
{
	struct tg_events *ev = ctx;
	const struct tg_event *e = data;
	char addr[64];
	const char *name;

	if (len < sizeof(*e))
		return 0;
	ev->received++;
	if (e->type < sizeof(ev->by_type) / sizeof(ev->by_type[0]))
		ev->by_type[e->type]++;
	tg_addr_format(&e->client, addr, sizeof(addr));
	name = e->qid < TG_MAX_QUOTAS && ev->kern->qnames[e->qid][0]
		       ? ev->kern->qnames[e->qid] : "?";
	/* The kernel sends at most one per key per second: logging each is
	 * bounded. The API key itself is never logged, only its entry name. */
	pr_warn(e->enforced ? "quota exceeded: denied" : "quota exceeded: would deny (monitor)",
		"key=%s client=%s on=%s denied_total=%" PRIu64, name, addr,
		e->type == TG_EV_DENY_CONN ? "connection"
		: e->type == TG_EV_MAX_CONNS ? "max_connections" : "request",
		(uint64_t)e->denied);
	if (ev->on_denial)
		ev->on_denial(ev->denial_arg, e);
	return 0;
}

static void on_readable(uv_poll_t *p, int status, int events)
{
	struct tg_events *ev = p->data;
	int n = ring_buffer__consume(ev->rb);

	if (n < 0)
		pr_warn("ring buffer read failed", "err=%d", n);
}

int tg_events_start(struct tg_events *ev, uv_loop_t *loop, const struct tg_kern *k,
		    int ringbuf_fd)
{
	int err;

	ev->kern = k;
	ev->rb = ring_buffer__new(ringbuf_fd, on_event, ev, NULL);
	if (!ev->rb)
		return -errno;
	err = uv_poll_init(loop, &ev->poll, ring_buffer__epoll_fd(ev->rb));
	if (err) {
		ring_buffer__free(ev->rb);
		ev->rb = NULL;
		return err;
	}
	ev->poll.data = ev;
	ev->started = 1;
	return uv_poll_start(&ev->poll, UV_READABLE, on_readable);
}

static void on_closed(uv_handle_t *h)
{
	struct tg_events *ev = h->data;

	ring_buffer__free(ev->rb);
	ev->rb = NULL;
}

void tg_events_stop(struct tg_events *ev)
{
	if (!ev->started)
		return;
	ev->started = 0;
	if (!uv_is_closing((uv_handle_t *)&ev->poll))
		uv_close((uv_handle_t *)&ev->poll, on_closed);
}
