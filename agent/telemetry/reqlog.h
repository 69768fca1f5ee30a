/* The request log (log.requests): records from the kernel's tg_requests
 * ring buffer, read on the loop, written as JSON lines to a file (O_APPEND,
 * reopened for logrotate) or stdout. */
#ifndef TG_REQLOG_H
#define TG_REQLOG_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>
#include "config/config.h"
#include "shared.h"

struct ring_buffer;
struct tg_kern;

#define TG_REQLOG_BUF_MAX (1u << 20) /* lines held while the file is slow */

struct tg_reqlog {
	struct ring_buffer *rb;
	uv_poll_t poll;
	const struct tg_kern *kern;
	int started;
	int fd;                 /* -1: off (records are read and dropped) */
	bool own_fd;            /* fd is ours to close (not stdout) */
	char path[TG_PATH_LEN]; /* what fd is open on */
	char *buf;              /* lines not written yet */
	size_t len;
	uint64_t wall_off_ns;   /* wall - monotonic, taken once per batch */
	/* counters, exported in /metrics */
	uint64_t lines;         /* lines written */
	uint64_t dropped;       /* lines dropped: the buffer was full or a write failed */
	uint64_t write_errors;
	uint64_t reopens;
};

/* Kernel-side counters (struct tg_reqlog_stats summed over the CPUs). */
struct tg_reqlog_kstats {
	uint64_t sampled, capped, lost, pending_lost, records;
};

/* Polls the ring buffer and opens c's destination (when on). 0 or -errno. */
int tg_reqlog_start(struct tg_reqlog *rl, uv_loop_t *loop, const struct tg_kern *k,
		    int ringbuf_fd, const struct tg_reqlog_config *c);
/* Writes what is held and opens c's destination again (a rotated file is
 * replaced by a new one, a changed path taken): SIGHUP, SIGUSR1, reload.
 * On failure the old destination is kept. 0 or -errno. */
int tg_reqlog_reopen(struct tg_reqlog *rl, const struct tg_reqlog_config *c);
/* Writes what is held and closes everything. */
void tg_reqlog_stop(struct tg_reqlog *rl);
/* The kernel's counters. 0 or -errno. */
int tg_reqlog_kstats(const struct tg_kern *k, struct tg_reqlog_kstats *out);

#endif
