#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "telemetry/reqlog.h"
#include "telemetry/reqlog_fmt.h"
#include "bpf/loader.h"
#include "lib/clock.h"
#include "lib/log.h"

#define LINE_MAX_BYTES 512

/* What is held goes out. A regular file takes it at once (the page
 * cache); what a slow stdout leaves is kept for the next batch. */
static void flush(struct tg_reqlog *rl)
{
	size_t off = 0;

	while (rl->fd >= 0 && off < rl->len) {
		ssize_t n = write(rl->fd, rl->buf + off, rl->len - off);

		if (n > 0) {
			off += (size_t)n;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			break;
		rl->write_errors++;
		if (rl->write_errors == 1 || rl->write_errors % 1000 == 0)
			pr_err("request log: write failed, lines dropped", "file=%s err=\"%s\" errors=%llu",
			       rl->path, strerror(errno), (unsigned long long)rl->write_errors);
		/* the lines held are lost: count each */
		for (size_t i = off; i < rl->len; i++)
			if (rl->buf[i] == '\n')
				rl->dropped++;
		off = rl->len;
	}
	if (off >= rl->len) {
		rl->len = 0;
	} else if (off) {
		memmove(rl->buf, rl->buf + off, rl->len - off);
		rl->len -= off;
	}
}

static const char *key_name(const struct tg_kern *k, uint32_t qid)
{
	if (!k || qid == 0 || qid >= TG_MAX_QUOTAS || !k->qnames[qid][0])
		return "other";
	return k->qnames[qid];
}

static const char *route_name(const struct tg_kern *k, uint32_t route)
{
	if (!k || route == TG_ROUTE_OTHER || route > TG_MAX_ROUTES || !k->rnames[route][0])
		return "other";
	return k->rnames[route];
}

/* NULL (no model), "other", or the configured name of the id */
static const char *model_name(const struct tg_kern *k, uint32_t model)
{
	if (model == TG_MODEL_NONE)
		return NULL;
	if (!k || model == TG_MODEL_OTHER || model >= TG_MODEL_IDS || !k->mnames[model][0])
		return "other";
	return k->mnames[model];
}

static int on_record(void *ctx, void *data, size_t size)
{
	struct tg_reqlog *rl = ctx;
	const struct tg_reqlog_rec *r = data;
	struct tg_reqlog_names n;
	int w;

	if (size < sizeof(*r) || rl->fd < 0)
		return 0;
	if (rl->len + LINE_MAX_BYTES > TG_REQLOG_BUF_MAX) {
		flush(rl);
		if (rl->len + LINE_MAX_BYTES > TG_REQLOG_BUF_MAX) {
			rl->dropped++;
			return 0;
		}
	}
	n.key = key_name(rl->kern, r->qid);
	n.route = route_name(rl->kern, r->route);
	n.model = model_name(rl->kern, r->model);
	w = tg_reqlog_format(r, r->start_ns + rl->wall_off_ns, &n, rl->buf + rl->len,
			     TG_REQLOG_BUF_MAX - rl->len);
	if (w < 0) {
		rl->dropped++;
		return 0;
	}
	rl->len += (size_t)w;
	rl->lines++;
	return 0;
}

static void on_readable(uv_poll_t *p, int status, int events)
{
	struct tg_reqlog *rl = p->data;
	int n;

	rl->wall_off_ns = tg_now_wall_ns() - tg_now_mono_ns();
	n = ring_buffer__consume(rl->rb);
	if (n < 0)
		pr_warn("request log: ring buffer read failed", "err=%d", n);
	flush(rl);
}

/* c's destination as a new fd (stdout: 1, not ours). */
static int open_dest(const struct tg_reqlog_config *c, bool *own)
{
	int fd;

	*own = false;
	if (!strcmp(c->file, "stdout"))
		return STDOUT_FILENO;
	fd = open(c->file, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOCTTY, 0640);
	if (fd < 0)
		return -errno;
	*own = true;
	return fd;
}

static void close_dest(struct tg_reqlog *rl)
{
	if (rl->own_fd && rl->fd >= 0)
		close(rl->fd);
	rl->fd = -1;
	rl->own_fd = false;
	rl->path[0] = '\0';
}

int tg_reqlog_reopen(struct tg_reqlog *rl, const struct tg_reqlog_config *c)
{
	bool own;
	int fd;

	flush(rl);
	if (!c->enabled) {
		if (rl->fd >= 0)
			pr_info("request log off", NULL);
		close_dest(rl);
		rl->len = 0;
		return 0;
	}
	fd = open_dest(c, &own);
	if (fd < 0) {
		pr_err("request log: cannot open, the old destination is kept", "file=%s err=\"%s\"",
		       c->file, strerror(-fd));
		return fd;
	}
	close_dest(rl);
	rl->fd = fd;
	rl->own_fd = own;
	snprintf(rl->path, sizeof(rl->path), "%s", c->file);
	rl->reopens++;
	pr_info("request log open", "file=%s sample=%g max_per_sec=%u", c->file, c->sample,
		c->max_per_sec);
	return 0;
}

int tg_reqlog_start(struct tg_reqlog *rl, uv_loop_t *loop, const struct tg_kern *k,
		    int ringbuf_fd, const struct tg_reqlog_config *c)
{
	int err;

	memset(rl, 0, sizeof(*rl));
	rl->fd = -1;
	rl->kern = k;
	rl->buf = malloc(TG_REQLOG_BUF_MAX);
	if (!rl->buf)
		return -ENOMEM;
	err = tg_reqlog_reopen(rl, c);
	if (err)
		goto fail;
	rl->reopens = 0;
	rl->rb = ring_buffer__new(ringbuf_fd, on_record, rl, NULL);
	if (!rl->rb) {
		err = -errno;
		goto fail;
	}
	err = uv_poll_init(loop, &rl->poll, ring_buffer__epoll_fd(rl->rb));
	if (err) {
		ring_buffer__free(rl->rb);
		rl->rb = NULL;
		goto fail;
	}
	rl->poll.data = rl;
	rl->started = 1;
	return uv_poll_start(&rl->poll, UV_READABLE, on_readable);
fail:
	close_dest(rl);
	free(rl->buf);
	rl->buf = NULL;
	return err;
}

static void on_closed(uv_handle_t *h)
{
	struct tg_reqlog *rl = h->data;

	ring_buffer__free(rl->rb);
	rl->rb = NULL;
}

void tg_reqlog_stop(struct tg_reqlog *rl)
{
	if (!rl->started)
		return;
	rl->started = 0;
	/* what the kernel handed over already, then what is held */
	rl->wall_off_ns = tg_now_wall_ns() - tg_now_mono_ns();
	if (rl->rb)
		ring_buffer__consume(rl->rb);
	flush(rl);
	close_dest(rl);
	free(rl->buf);
	rl->buf = NULL;
	rl->len = 0;
	if (!uv_is_closing((uv_handle_t *)&rl->poll))
		uv_close((uv_handle_t *)&rl->poll, on_closed);
}

int tg_reqlog_kstats(const struct tg_kern *k, struct tg_reqlog_kstats *out)
{
	struct tg_reqlog_stats *v;
	__u32 zero = 0;
	int fd = tg_kern_fd(k, tg_reqlog_stats), n = k->ncpus > 0 ? k->ncpus : 1;

	memset(out, 0, sizeof(*out));
	v = calloc((size_t)n, sizeof(*v));
	if (!v)
		return -ENOMEM;
	if (bpf_map_lookup_elem(fd, &zero, v)) {
		free(v);
		return -errno;
	}
	for (int i = 0; i < n; i++) {
		out->sampled += v[i].sampled;
		out->capped += v[i].capped;
		out->lost += v[i].lost;
		out->pending_lost += v[i].pending_lost;
		out->records += v[i].records;
	}
	free(v);
	return 0;
}
