/* curl multi on libuv, after curl's docs/examples/multi-uv.c: curl tells
 * which sockets to watch (CURLMOPT_SOCKETFUNCTION) and when to call it
 * back (CURLMOPT_TIMERFUNCTION); libuv tells curl what happened through
 * curl_multi_socket_action(). */
#include <stdbool.h>
#include <stdlib.h>

#include "deliver/curl_uv.h"

struct sock {
	uv_poll_t poll;
	curl_socket_t fd;
	struct tg_curl_uv *cu;
	struct sock *prev, *next;
};

struct tg_curl_uv {
	uv_timer_t timer;
	uv_loop_t *loop;
	CURLM *multi;
	tg_curl_done_fn done;
	void *arg;
	struct sock *socks;
	int open_handles;
	bool in_timer_cb, closing;
	void (*closed)(void *arg);
	void *closed_arg;
};

static void handle_closed(struct tg_curl_uv *cu)
{
	void (*closed)(void *) = cu->closed;
	void *arg = cu->closed_arg;

	if (--cu->open_handles > 0)
		return;
	free(cu);
	if (closed)
		closed(arg);
}

static void check_done(struct tg_curl_uv *cu)
{
	CURLMsg *m;
	int left;

	while (!cu->closing && (m = curl_multi_info_read(cu->multi, &left))) {
		CURL *e = m->easy_handle;
		CURLcode res = m->data.result;

		if (m->msg != CURLMSG_DONE)
			continue;
		curl_multi_remove_handle(cu->multi, e);
		cu->done(cu->arg, e, res);
	}
}

static void on_sock_closed(uv_handle_t *h)
{
	struct sock *s = h->data;
	struct tg_curl_uv *cu = s->cu;

	free(s);
	handle_closed(cu);
}

static void sock_close(struct tg_curl_uv *cu, struct sock *s)
{
	if (s->prev)
		s->prev->next = s->next;
	else
		cu->socks = s->next;
	if (s->next)
		s->next->prev = s->prev;
	uv_poll_stop(&s->poll);
	uv_close((uv_handle_t *)&s->poll, on_sock_closed);
}

static void on_poll(uv_poll_t *p, int status, int events)
{
	struct sock *s = p->data;
	struct tg_curl_uv *cu = s->cu;
	int flags = 0, running;

	if (status < 0)
		flags = CURL_CSELECT_ERR;
	if (events & UV_READABLE)
		flags |= CURL_CSELECT_IN;
	if (events & UV_WRITABLE)
		flags |= CURL_CSELECT_OUT;
	curl_multi_socket_action(cu->multi, s->fd, flags, &running);
	check_done(cu);
}

static int on_socket(CURL *e, curl_socket_t fd, int what, void *userp, void *sockp)
{
	struct tg_curl_uv *cu = userp;
	struct sock *s = sockp;
	int events = 0;

	if (cu->closing)
		return 0;
	if (what == CURL_POLL_REMOVE) {
		if (s) {
			sock_close(cu, s);
			curl_multi_assign(cu->multi, fd, NULL);
		}
		return 0;
	}
	if (!s) {
		s = calloc(1, sizeof(*s));
		if (!s)
			return -1;
		if (uv_poll_init_socket(cu->loop, &s->poll, fd) < 0) {
			free(s);
			return -1;
		}
		s->poll.data = s;
		s->fd = fd;
		s->cu = cu;
		s->next = cu->socks;
		if (cu->socks)
			cu->socks->prev = s;
		cu->socks = s;
		cu->open_handles++;
		curl_multi_assign(cu->multi, fd, s);
	}
	if (what & CURL_POLL_IN)
		events |= UV_READABLE;
	if (what & CURL_POLL_OUT)
		events |= UV_WRITABLE;
	uv_poll_start(&s->poll, events, on_poll);
	return 0;
}

static void on_timeout(uv_timer_t *t)
{
	struct tg_curl_uv *cu = t->data;
	int running;

	cu->in_timer_cb = true;
	curl_multi_socket_action(cu->multi, CURL_SOCKET_TIMEOUT, 0, &running);
	check_done(cu);
	cu->in_timer_cb = false;
}

static int on_timer(CURLM *m, long timeout_ms, void *userp)
{
	struct tg_curl_uv *cu = userp;

	if (cu->closing)
		return 0;
	if (timeout_ms < 0) {
		uv_timer_stop(&cu->timer);
		return 0;
	}
	/* Never socket_action from here (curl is on the stack). A timer of 0
	 * runs on the next pass of the loop, but libuv 1.44 would run one
	 * re-armed at 0 from its own callback again in the same pass, without
	 * end: 1 ms there. */
	if (timeout_ms == 0 && cu->in_timer_cb)
		timeout_ms = 1;
	uv_timer_start(&cu->timer, on_timeout, (uint64_t)timeout_ms, 0);
	return 0;
}

struct tg_curl_uv *tg_curl_uv_new(uv_loop_t *loop, tg_curl_done_fn done, void *arg)
{
	struct tg_curl_uv *cu = calloc(1, sizeof(*cu));

	if (!cu)
		return NULL;
	cu->multi = curl_multi_init();
	if (!cu->multi) {
		free(cu);
		return NULL;
	}
	cu->loop = loop;
	cu->done = done;
	cu->arg = arg;
	curl_multi_setopt(cu->multi, CURLMOPT_SOCKETFUNCTION, on_socket);
	curl_multi_setopt(cu->multi, CURLMOPT_SOCKETDATA, cu);
	curl_multi_setopt(cu->multi, CURLMOPT_TIMERFUNCTION, on_timer);
	curl_multi_setopt(cu->multi, CURLMOPT_TIMERDATA, cu);
	uv_timer_init(loop, &cu->timer);
	cu->timer.data = cu;
	cu->open_handles = 1;
	return cu;
}

CURLM *tg_curl_uv_multi(struct tg_curl_uv *cu)
{
	return cu->multi;
}

int tg_curl_uv_add(struct tg_curl_uv *cu, CURL *easy)
{
	if (cu->closing)
		return -1;
	return curl_multi_add_handle(cu->multi, easy) == CURLM_OK ? 0 : -1;
}

void tg_curl_uv_remove(struct tg_curl_uv *cu, CURL *easy)
{
	curl_multi_remove_handle(cu->multi, easy);
}

static void on_timer_closed(uv_handle_t *h)
{
	handle_closed(h->data);
}

void tg_curl_uv_close(struct tg_curl_uv *cu, void (*closed)(void *arg), void *arg)
{
	if (!cu || cu->closing)
		return;
	/* From here curl's callbacks find closing set and do nothing: the
	 * polls go first, while their sockets are still open. */
	cu->closing = true;
	cu->closed = closed;
	cu->closed_arg = arg;
	while (cu->socks) {
		curl_multi_assign(cu->multi, cu->socks->fd, NULL);
		sock_close(cu, cu->socks);
	}
	curl_multi_cleanup(cu->multi);
	cu->multi = NULL;
	uv_timer_stop(&cu->timer);
	uv_close((uv_handle_t *)&cu->timer, on_timer_closed);
}
