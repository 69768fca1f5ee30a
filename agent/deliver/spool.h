/* The per-webhook spool: every event is a file in
 * <state_dir>/<instance>/spool/<webhook>/ before it is sent, and is
 * removed after a 2xx. It survives a restart: tg_spool_open() lists what a
 * previous run left, oldest first, for replay. Files are small and written
 * once (write to a temporary name, then rename), so a crash leaves either
 * a whole event or none.
 *
 * Bound: max_items events per webhook. When full, the oldest event of the
 * lowest severity present is dropped first (info, then warning, then
 * critical), and counted. Dead letters (a 4xx other than 408/429, or an
 * event no format can render) are appended to
 * <state_dir>/<instance>/deadletter/<webhook>.jsonl, one JSON line each. */
#ifndef TG_SPOOL_H
#define TG_SPOOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define TG_SPOOL_DEFAULT_MAX 10000
#define TG_SPOOL_POOL 128

struct tg_spool_item {
	uint64_t seq;          /* order of arrival; the file is <seq>-<sev>-<id>.ev */
	int severity;
	char id[40];
	size_t size;           /* bytes on disk */
	int attempts;          /* delivery attempts so far (this run) */
	uint64_t created_ns;   /* when it was spooled, Unix ns (kept in the file) */
	struct tg_spool_item *next, *prev; /* the spool's queue, oldest first */
	void *owner;           /* the delivery's per-item state */
};

struct tg_spool {
	char dir[512];         /* .../spool/<webhook> (for messages) */
	char dead_path[512];   /* .../deadletter/<webhook>.jsonl (for messages) */
	char dead_name[48];    /* <webhook>.jsonl */
	int dfd;               /* the spool directory */
	int dead_dfd;          /* the dead-letter directory */
	bool opened;           /* the fds are ours to close */
	size_t max_items;
	size_t n_items;
	uint64_t bytes;
	uint64_t next_seq;
	uint64_t dropped[3];   /* by severity, bound reached */
	uint64_t dead;         /* dead letters written */
	struct tg_spool_item *head, *tail;
	/* Files of delivered events kept for reuse (.free-<n>), see spool.c. */
	uint64_t pool[TG_SPOOL_POOL];
	size_t n_pool;
	uint64_t next_pool;
};

/* Creates the directories as needed and loads what is already there.
 * Returns 0 or -errno with a reason in err. Files that are not spool
 * entries are left alone. state_dir must be root's or the running user's
 * (geteuid()); everything under it the running user's, and none of it
 * writable by group or others; a symlink anywhere under state_dir (a
 * directory or the dead-letter file) is refused, never followed. */
int tg_spool_open(struct tg_spool *s, const char *state_dir, const char *instance,
		  const char *webhook, size_t max_items, char *err, size_t errlen);
/* Frees the list and closes the directories; files stay. Safe on a spool
 * that was zeroed and never opened, or whose open failed. */
void tg_spool_close(struct tg_spool *s);

/* Stores one event: its HTTP body and content type. Applies the bound
 * first; *victim is set to an item the caller must forget (it was dropped
 * from the queue and its file removed, but the struct stays valid until
 * tg_spool_item_free) or NULL. Returns the new item, or NULL with errno. */
struct tg_spool_item *tg_spool_put(struct tg_spool *s, const char *id, int severity,
				   const char *content_type, const void *body, size_t len,
				   struct tg_spool_item **victim);

/* Reads an item's body and content type back (malloc'd body). 0 or -errno. */
int tg_spool_read(const struct tg_spool *s, const struct tg_spool_item *it, char **body,
		  size_t *len, char *content_type, size_t ct_len);

/* Delivered: unlinks the file and unlinks the item from the queue. */
int tg_spool_done(struct tg_spool *s, struct tg_spool_item *it);
/* Appends {"id","time","status","reason","body"} to the dead-letter file,
 * then as tg_spool_done. status 0 when there was no HTTP answer. */
int tg_spool_dead(struct tg_spool *s, struct tg_spool_item *it, long status,
		  const char *reason);
void tg_spool_item_free(struct tg_spool_item *it);

/* A dead letter for an event that never became an item (no format could
 * render it): appends the line as tg_spool_dead does. 0 or -errno. */
int tg_spool_dead_event(struct tg_spool *s, const char *id, long status, const char *reason,
			const void *body, size_t len);

#endif
