/* The per-webhook spool on disk.
 *
 * One file per event, <dir>/<seq>-<severity>-<id>.ev (seq zero-padded to
 * 20 digits so a directory listing reads in order):
 *
 *     {"v":1,"id":"<id>","severity":2,"content_type":"application/json",
 *      "created_ns":<ns>,"len":<body bytes>}\n           (one line)
 *     <the HTTP body: len bytes, what is POSTed byte for byte>
 *     <anything: ignored>
 *
 * The metadata line is JSON so a person can read a spool with head(1).
 *
 * An event is written under another name and renamed into place, so a
 * crash leaves a whole event or none. There is no fsync per event: it
 * would cap the event rate at the disk's flush rate, and it protects
 * against a power loss, not a crash of the agent (a killed process loses
 * nothing write() returned from: the page cache belongs to the kernel).
 *
 * Files are recycled. The file of a delivered event is renamed to
 * .free-<n> and the next event is written over it, without truncation
 * (hence "len" and the ignored tail), then renamed into place. Creating
 * and unlinking a file per event was the bottleneck: after such churn
 * ext4's inode allocator skips recently deleted inodes one by one (100 to
 * 500 us per create measured here, 60% of the deliverer's time), and a
 * truncating rewrite makes ext4 flush the file on close (auto_da_alloc).
 * Only a spool that grows beyond its pool creates files (.tmp-<seq>, then
 * renamed). A .tmp- file found at open is a write that never completed
 * and is removed; .free- files join the pool.
 *
 * Names that do not parse as spool entries are someone else's and are left
 * alone. A file that has our name but not our content goes to the dead
 * letter file ("corrupt spool file") instead of being replayed or lost.
 *
 * Everything is reached from directory fds opened once, one component at a
 * time with O_NOFOLLOW, and every file is opened relative to them with
 * O_NOFOLLOW: a symlink, or a directory swapped for one, is refused, never
 * followed. The directories must be the running user's and writable by
 * nobody else (lib/fs.h); the agent opens its spools only after it has
 * dropped its privileges, so whatever a previous run left here is
 * handled with the rights of the user who could have planted it. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "deliver/spool.h"
#include "lib/clock.h"
#include "lib/fs.h"

#define SPOOL_DIR_MODE 0700

#define SPOOL_SUFFIX ".ev"
#define SPOOL_TMP ".tmp-"
#define SPOOL_FREE ".free-"
#define SPOOL_META_MAX 1024
#define SPOOL_FILE_MAX (64u << 20)  /* bigger is not one of our events */
#define DEAD_BODY_MAX (1u << 20)    /* body bytes kept in a dead letter */
#define SEV_N 3
#define CORRUPT_REASON "corrupt spool file"

/* Ids become file names: a conservative alphabet, no leading dot. */
static bool valid_id(const char *id)
{
	size_t n = 0;

	if (!id || id[0] == '.' || id[0] == '\0')
		return false;
	for (; id[n]; n++) {
		char c = id[n];

		if (n >= sizeof(((struct tg_spool_item *)0)->id) - 1)
			return false;
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '-' || c == '_' || c == '.' || c == ':'))
			return false;
	}
	return true;
}

static bool valid_component(const char *s)
{
	return s && s[0] && strchr(s, '/') == NULL && strcmp(s, ".") != 0 && strcmp(s, "..") != 0;
}

/* An item's file name in the spool directory. */
static int item_name(const struct tg_spool_item *it, char *buf, size_t len)
{
	int n = snprintf(buf, len, "%020" PRIu64 "-%d-%s" SPOOL_SUFFIX, it->seq, it->severity,
			 it->id);

	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

/* "<seq>-<sev>-<id>.ev" -> fields; false for any other name. */
static bool parse_name(const char *name, uint64_t *seq, int *sev, char *id, size_t idlen)
{
	const char *p = name;
	size_t n = strlen(name), idn;
	uint64_t v = 0;
	int digits = 0;

	if (n < sizeof(SPOOL_SUFFIX) || strcmp(name + n - (sizeof(SPOOL_SUFFIX) - 1), SPOOL_SUFFIX))
		return false;
	for (; *p >= '0' && *p <= '9'; p++, digits++) {
		if (digits >= 20 || v > (UINT64_MAX - 9) / 10)
			return false;
		v = v * 10 + (uint64_t)(*p - '0');
	}
	if (digits == 0 || p[0] != '-' || p[1] < '0' || p[1] > '9' || p[2] != '-')
		return false;
	*sev = p[1] - '0';
	p += 3;
	idn = (size_t)(name + n - (sizeof(SPOOL_SUFFIX) - 1) - p);
	if (idn == 0 || idn >= idlen)
		return false;
	memcpy(id, p, idn);
	id[idn] = '\0';
	*seq = v;
	return true;
}

/* The metadata line of a file's content. Returns the body's offset, its
 * length in *body_len, or -EBADMSG when the line is not ours or does not
 * match the name. */
static long parse_meta(const char *buf, size_t len, const char *id, int sev, char *ct,
		       size_t ct_len, uint64_t *created_ns, size_t *body_len)
{
	const char *nl = memchr(buf, '\n', len < SPOOL_META_MAX ? len : SPOOL_META_MAX);
	const cJSON *v, *jid, *jsev, *jct, *jcr, *jlen;
	cJSON *meta;
	long off = -EBADMSG;

	if (!nl)
		return -EBADMSG;
	meta = cJSON_ParseWithLength(buf, (size_t)(nl - buf));
	v = cJSON_GetObjectItemCaseSensitive(meta, "v");
	jid = cJSON_GetObjectItemCaseSensitive(meta, "id");
	jsev = cJSON_GetObjectItemCaseSensitive(meta, "severity");
	jct = cJSON_GetObjectItemCaseSensitive(meta, "content_type");
	jcr = cJSON_GetObjectItemCaseSensitive(meta, "created_ns");
	jlen = cJSON_GetObjectItemCaseSensitive(meta, "len");
	if (cJSON_IsNumber(v) && v->valuedouble == 1 && cJSON_IsString(jid) &&
	    strcmp(jid->valuestring, id) == 0 && cJSON_IsNumber(jsev) && jsev->valuedouble == sev &&
	    cJSON_IsString(jct) && strlen(jct->valuestring) < ct_len && cJSON_IsNumber(jcr) &&
	    jcr->valuedouble >= 0 && cJSON_IsNumber(jlen) && jlen->valuedouble >= 0 &&
	    jlen->valuedouble <= SPOOL_FILE_MAX) {
		strcpy(ct, jct->valuestring);
		if (created_ns)
			*created_ns = (uint64_t)jcr->valuedouble;
		*body_len = (size_t)jlen->valuedouble;
		off = (long)(nl - buf) + 1;
	}
	cJSON_Delete(meta);
	return off;
}

/* A JSON string needs valid UTF-8; a body is usually JSON text already,
 * but a corrupt file may hold anything. Invalid bytes and NULs become
 * U+FFFD so the dead-letter line stays one valid JSON line. */
static char *utf8_clean(const unsigned char *p, size_t len)
{
	char *out = malloc(len * 3 + 1), *o = out;
	size_t i = 0;

	if (!out)
		return NULL;
	while (i < len) {
		unsigned char c = p[i];
		size_t n = c < 0x80 ? 1 : (c & 0xe0) == 0xc0 ? 2 : (c & 0xf0) == 0xe0 ? 3 :
					 (c & 0xf8) == 0xf0 ? 4 : 0;
		bool ok = n > 0 && c != 0 && i + n <= len && !(c == 0xc0 || c == 0xc1 || c > 0xf4);
		size_t k;

		for (k = 1; ok && k < n; k++)
			ok = (p[i + k] & 0xc0) == 0x80;
		/* Overlong 3/4-byte forms, surrogates and > U+10FFFF. */
		if (ok && n == 3)
			ok = !(c == 0xe0 && p[i + 1] < 0xa0) && !(c == 0xed && p[i + 1] >= 0xa0);
		if (ok && n == 4)
			ok = !(c == 0xf0 && p[i + 1] < 0x90) && !(c == 0xf4 && p[i + 1] >= 0x90);
		if (ok) {
			memcpy(o, p + i, n);
			o += n;
			i += n;
		} else {
			memcpy(o, "\xef\xbf\xbd", 3);
			o += 3;
			i++;
		}
	}
	*o = '\0';
	return out;
}

static int dead_append(struct tg_spool *s, const char *id, long status, const char *reason,
		       const void *body, size_t len)
{
	char when[32], *text = NULL, *clean = NULL;
	struct tm tm;
	time_t t = time(NULL);
	cJSON *o = cJSON_CreateObject();
	size_t n;
	int fd, err = 0;

	gmtime_r(&t, &tm);
	strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
	if (body)
		clean = utf8_clean(body, len < DEAD_BODY_MAX ? len : DEAD_BODY_MAX);
	if (!o || (body && !clean) || !cJSON_AddStringToObject(o, "id", id ? id : "") ||
	    !cJSON_AddStringToObject(o, "time", when) ||
	    !cJSON_AddNumberToObject(o, "status", (double)status) ||
	    !cJSON_AddStringToObject(o, "reason", reason ? reason : "") ||
	    !(clean ? cJSON_AddStringToObject(o, "body", clean)
		    : cJSON_AddNullToObject(o, "body")) ||
	    (len > DEAD_BODY_MAX && !cJSON_AddTrueToObject(o, "truncated")) ||
	    !(text = cJSON_PrintUnformatted(o))) {
		err = -ENOMEM;
		goto out;
	}
	n = strlen(text);
	text[n++] = '\n'; /* replaces the NUL: the length is known */
	fd = tg_fs_open_file_at(s->dead_dfd, s->dead_name, O_WRONLY | O_CREAT | O_APPEND, 0600);
	if (fd < 0) {
		err = fd;
		goto out;
	}
	/* One write() of an O_APPEND file: concurrent lines do not mix. */
	errno = 0;
	if (write(fd, text, n) != (ssize_t)n)
		err = errno ? -errno : -EIO;
	if (close(fd) < 0 && !err)
		err = -errno;
	if (!err)
		s->dead++;
out:
	cJSON_Delete(o);
	free(text);
	free(clean);
	return err;
}

static void list_unlink(struct tg_spool *s, struct tg_spool_item *it)
{
	if (!(it->prev || it->next || s->head == it))
		return; /* not queued (already done, or a victim) */
	if (it->prev)
		it->prev->next = it->next;
	else
		s->head = it->next;
	if (it->next)
		it->next->prev = it->prev;
	else
		s->tail = it->prev;
	it->prev = it->next = NULL;
	s->n_items--;
	s->bytes -= it->size;
}

static void list_append(struct tg_spool *s, struct tg_spool_item *it)
{
	it->prev = s->tail;
	it->next = NULL;
	if (s->tail)
		s->tail->next = it;
	else
		s->head = it;
	s->tail = it;
	s->n_items++;
	s->bytes += it->size;
}

/* The bound's victim: the oldest of the lowest severity present, or NULL
 * when the incoming event (sev) is itself below everything present. */
static struct tg_spool_item *pick_victim(struct tg_spool *s, int sev)
{
	struct tg_spool_item *it, *best = NULL;

	for (it = s->head; it; it = it->next) {
		if (it->severity == 0) /* nothing is lower */
			return it;
		if (!best || it->severity < best->severity)
			best = it;
	}
	return best && best->severity <= sev ? best : NULL;
}

static void pool_name(uint64_t n, char *buf, size_t len)
{
	snprintf(buf, len, SPOOL_FREE "%" PRIu64, n);
}

/* An event's file is no longer needed: into the pool, or away when the
 * pool is full. */
static int release_file(struct tg_spool *s, const char *name)
{
	char to[32];

	if (s->n_pool < TG_SPOOL_POOL) {
		pool_name(s->next_pool, to, sizeof(to));
		if (renameat(s->dfd, name, s->dfd, to) == 0) {
			s->pool[s->n_pool++] = s->next_pool++;
			return 0;
		}
		if (errno == ENOENT)
			return 0;
	}
	if (unlinkat(s->dfd, name, 0) < 0 && errno != ENOENT)
		return -errno;
	return 0;
}

static void drop_item(struct tg_spool *s, struct tg_spool_item *it)
{
	char name[96];

	list_unlink(s, it);
	if (item_name(it, name, sizeof(name)) == 0)
		release_file(s, name);
	if (it->severity >= 0 && it->severity < SEV_N)
		s->dropped[it->severity]++;
}

/* A file with our name that cannot be loaded: into the dead-letter file
 * with whatever it holds, then away. */
static void load_corrupt(struct tg_spool *s, const char *name, const char *id)
{
	char *raw = NULL;
	size_t len = 0;

	if (tg_fs_read_at(s->dfd, name, SPOOL_FILE_MAX, &raw, &len) < 0) {
		raw = NULL;
		len = 0;
	}
	if (dead_append(s, id, 0, CORRUPT_REASON, raw ? raw : "", len) == 0)
		unlinkat(s->dfd, name, 0);
	free(raw);
}

static int load_entry(struct tg_spool *s, const char *name, struct tg_spool_item **out)
{
	char ct[64], head[SPOOL_META_MAX];
	struct tg_spool_item *it;
	uint64_t seq, created = 0;
	struct stat st;
	size_t blen = 0;
	long off = -1;
	ssize_t r;
	int sev, fd;
	char id[sizeof(it->id)];

	*out = NULL;
	if (!parse_name(name, &seq, &sev, id, sizeof(id)))
		return 0; /* not ours */
	/* A symlink, a FIFO or a hard link is not an event we wrote: left
	 * where it is, for a person to look at, as an unreadable file is. */
	fd = tg_fs_open_file_at(s->dfd, name, O_RDONLY, 0);
	if (fd < 0)
		return 0;
	r = fstat(fd, &st) < 0 ? -1 : read(fd, head, sizeof(head));
	close(fd);
	if (r < 0)
		return 0;
	if (sev >= 0 && sev < SEV_N && valid_id(id))
		off = parse_meta(head, (size_t)r, id, sev, ct, sizeof(ct), &created, &blen);
	if (off < 0 || (uint64_t)off + blen > (uint64_t)st.st_size) {
		load_corrupt(s, name, id);
		return 0;
	}
	it = calloc(1, sizeof(*it));
	if (!it)
		return -ENOMEM;
	it->seq = seq;
	it->severity = sev;
	strcpy(it->id, id);
	it->size = (size_t)off + blen;
	it->created_ns = created;
	*out = it;
	return 0;
}

/* A pool file of the last run: reused, or removed when the pool is full
 * (or when its name is not one we would make). */
static void load_free(struct tg_spool *s, int dfd, const char *name)
{
	const char *p = name + sizeof(SPOOL_FREE) - 1;
	char *end;
	unsigned long long n;
	struct stat st;

	errno = 0;
	n = strtoull(p, &end, 10);
	if (*p < '0' || *p > '9' || *end || errno ||
	    fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISREG(st.st_mode))
		return; /* not ours */
	if (n >= s->next_pool)
		s->next_pool = n + 1;
	if (s->n_pool < TG_SPOOL_POOL)
		s->pool[s->n_pool++] = n;
	else
		unlinkat(dfd, name, 0);
}

static int cmp_seq(const void *a, const void *b)
{
	const struct tg_spool_item *x = *(struct tg_spool_item *const *)a;
	const struct tg_spool_item *y = *(struct tg_spool_item *const *)b;

	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

static int load_dir(struct tg_spool *s, char *err, size_t errlen)
{
	struct tg_spool_item **items = NULL, *it;
	size_t n = 0, cap = 0, i;
	struct dirent *de;
	DIR *dir;
	int rc = 0;

	rc = fcntl(s->dfd, F_DUPFD_CLOEXEC, 0);
	dir = rc < 0 ? NULL : fdopendir(rc);
	if (!dir) {
		rc = -errno;
		snprintf(err, errlen, "%s: %s", s->dir, strerror(-rc));
		return rc;
	}
	rc = 0;
	while ((de = readdir(dir))) {
		if (strncmp(de->d_name, SPOOL_TMP, sizeof(SPOOL_TMP) - 1) == 0) {
			unlinkat(dirfd(dir), de->d_name, 0);
			continue;
		}
		if (strncmp(de->d_name, SPOOL_FREE, sizeof(SPOOL_FREE) - 1) == 0) {
			load_free(s, dirfd(dir), de->d_name);
			continue;
		}
		rc = load_entry(s, de->d_name, &it);
		if (rc < 0) {
			snprintf(err, errlen, "%s/%s: %s", s->dir, de->d_name, strerror(-rc));
			break;
		}
		if (!it)
			continue;
		if (n == cap) {
			struct tg_spool_item **grown;

			cap = cap ? cap * 2 : 64;
			grown = realloc(items, cap * sizeof(*items));
			if (!grown) {
				free(it);
				rc = -ENOMEM;
				snprintf(err, errlen, "out of memory loading %s", s->dir);
				break;
			}
			items = grown;
		}
		items[n++] = it;
	}
	closedir(dir);
	if (rc < 0) {
		for (i = 0; i < n; i++)
			free(items[i]);
		free(items);
		return rc;
	}
	if (n > 1)
		qsort(items, n, sizeof(*items), cmp_seq);
	for (i = 0; i < n; i++) {
		list_append(s, items[i]);
		if (items[i]->seq >= s->next_seq)
			s->next_seq = items[i]->seq + 1;
	}
	free(items);
	return 0;
}

/* The dead-letter file, if there is one already, must be a regular file
 * of ours: anything else (a symlink to a file of root's, a FIFO) refuses
 * the spool at open, so the start says so instead of a delivery failing
 * later. */
static int dead_check(struct tg_spool *s, char *err, size_t errlen)
{
	int fd = tg_fs_open_file_at(s->dead_dfd, s->dead_name, O_RDONLY, 0);
	struct stat st;

	if (fd == -ENOENT)
		return 0;
	if (fd < 0) {
		snprintf(err, errlen, "%s: %s: refused", s->dead_path,
			 fd == -ELOOP ? "a symbolic link" : fd == -EINVAL ? "not a regular file"
			 : fd == -EMLINK ? "has other hard links" : strerror(-fd));
		return fd;
	}
	if (fstat(fd, &st) < 0) {
		int rc = -errno;

		snprintf(err, errlen, "%s: %s", s->dead_path, strerror(-rc));
		close(fd);
		return rc;
	}
	close(fd);
	if (st.st_uid != geteuid()) {
		snprintf(err, errlen, "%s: owned by uid %u, not uid %u: refused", s->dead_path,
			 (unsigned)st.st_uid, (unsigned)geteuid());
		return -EPERM;
	}
	return 0;
}

/* state_dir itself is the operator's path (followed); what is under it is
 * the agent's: <instance>/spool/<webhook> and <instance>/deadletter. */
static int open_dirs(struct tg_spool *s, const char *state_dir, const char *instance,
		     const char *webhook, char *err, size_t errlen)
{
	char rel[256];
	uid_t me = geteuid();
	int sfd, rc;

	sfd = open(state_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (sfd < 0 && errno == ENOENT) {
		if ((rc = tg_mkdir_p(state_dir, SPOOL_DIR_MODE)) < 0) {
			snprintf(err, errlen, "%s: %s", state_dir, strerror(-rc));
			return rc;
		}
		sfd = open(state_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	}
	if (sfd < 0) {
		struct stat st;

		rc = -errno;
		/* the agent keeps no capability to read other users' files:
		 * a state_dir of someone else's says who */
		if (rc == -EACCES && stat(state_dir, &st) == 0 && st.st_uid != me && st.st_uid != 0)
			snprintf(err, errlen, "%s is owned by uid %u, not uid %u (the user the agent "
				 "runs as) or root", state_dir, (unsigned)st.st_uid, (unsigned)me);
		else
			snprintf(err, errlen, "%s: %s", state_dir, strerror(-rc));
		return rc;
	}
	/* root's (/var/lib/tollgate made by a package) or the agent's user's */
	rc = tg_fs_dir_check(sfd, state_dir, me, true, err, errlen);
	if (rc == 0) {
		snprintf(rel, sizeof(rel), "%s/spool/%s", instance, webhook);
		rc = s->dfd = tg_fs_open_dirs(sfd, state_dir, rel, SPOOL_DIR_MODE, me, err, errlen);
	}
	if (rc >= 0) {
		snprintf(rel, sizeof(rel), "%s/deadletter", instance);
		rc = s->dead_dfd = tg_fs_open_dirs(sfd, state_dir, rel, SPOOL_DIR_MODE, me, err,
						   errlen);
	}
	close(sfd);
	return rc < 0 ? rc : 0;
}

int tg_spool_open(struct tg_spool *s, const char *state_dir, const char *instance,
		  const char *webhook, size_t max_items, char *err, size_t errlen)
{
	int n, rc;

	memset(s, 0, sizeof(*s));
	s->dfd = s->dead_dfd = -1;
	s->max_items = max_items ? max_items : TG_SPOOL_DEFAULT_MAX;
	s->next_seq = 1;
	if (!state_dir || !state_dir[0] || !valid_component(instance) ||
	    !valid_component(webhook)) {
		snprintf(err, errlen, "invalid spool location");
		return -EINVAL;
	}
	n = snprintf(s->dir, sizeof(s->dir), "%s/%s/spool/%s", state_dir, instance, webhook);
	if (n < 0 || (size_t)n >= sizeof(s->dir) || strlen(instance) > 200 ||
	    strlen(webhook) > 40) {
		snprintf(err, errlen, "state_dir, instance or webhook name too long");
		return -ENAMETOOLONG;
	}
	snprintf(s->dead_name, sizeof(s->dead_name), "%.40s.jsonl", webhook);
	n = snprintf(s->dead_path, sizeof(s->dead_path), "%s/%s/deadletter/%s", state_dir,
		     instance, s->dead_name);
	if (n < 0 || (size_t)n >= sizeof(s->dead_path)) {
		snprintf(err, errlen, "state_dir too long");
		return -ENAMETOOLONG;
	}
	s->opened = true;
	if ((rc = open_dirs(s, state_dir, instance, webhook, err, errlen)) < 0 ||
	    (rc = dead_check(s, err, errlen)) < 0 || (rc = load_dir(s, err, errlen)) < 0) {
		tg_spool_close(s);
		return rc;
	}
	/* A smaller bound than last run's: the same policy as for new events. */
	while (s->n_items > s->max_items) {
		struct tg_spool_item *v = pick_victim(s, SEV_N - 1);

		drop_item(s, v);
		free(v);
	}
	return 0;
}

void tg_spool_close(struct tg_spool *s)
{
	struct tg_spool_item *it = s->head, *next;

	for (; it; it = next) {
		next = it->next;
		free(it);
	}
	s->head = s->tail = NULL;
	s->n_items = 0;
	s->bytes = 0;
	if (!s->opened)
		return; /* never opened: its fds are not fds */
	if (s->dfd >= 0)
		close(s->dfd);
	if (s->dead_dfd >= 0)
		close(s->dead_dfd);
	s->dfd = s->dead_dfd = -1;
	s->opened = false;
}

static size_t json_escape(char *out, size_t cap, const char *s)
{
	size_t o = 0;

	for (; *s && o + 7 < cap; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\')
			o += (size_t)snprintf(out + o, cap - o, "\\%c", c);
		else if (c < 0x20)
			o += (size_t)snprintf(out + o, cap - o, "\\u%04x", c);
		else
			out[o++] = (char)c;
	}
	out[o] = '\0';
	return o;
}

static int write_fd(int fd, const char *meta, size_t mlen, const void *body, size_t len)
{
	struct iovec iov[2] = { { (void *)meta, mlen }, { (void *)body, len } };
	int err = 0, idx = 0;

	while (idx < 2) {
		ssize_t w = writev(fd, iov + idx, 2 - idx);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			err = w < 0 ? -errno : -EIO;
			break;
		}
		while (idx < 2 && (size_t)w >= iov[idx].iov_len) {
			w -= (ssize_t)iov[idx].iov_len;
			idx++;
		}
		if (idx < 2) {
			iov[idx].iov_base = (char *)iov[idx].iov_base + w;
			iov[idx].iov_len -= (size_t)w;
		}
	}
	if (close(fd) < 0 && !err)
		err = -errno;
	return err;
}

/* Writes the event over a pool file, or into a new one, then renames it
 * into place. */
static int write_event(struct tg_spool *s, uint64_t seq, const char *final, const char *meta,
		       size_t mlen, const void *body, size_t len)
{
	char src[48];
	int fd = -1, err;

	while (fd < 0 && s->n_pool > 0) {
		uint64_t n = s->pool[--s->n_pool];

		pool_name(n, src, sizeof(src));
		fd = tg_fs_open_file_at(s->dfd, src, O_WRONLY, 0);
		if (fd >= 0) {
			err = write_fd(fd, meta, mlen, body, len);
			if (!err && renameat(s->dfd, src, s->dfd, final) < 0)
				err = -errno;
			if (err)
				s->pool[s->n_pool++] = n; /* still a pool file */
			return err;
		}
	}
	snprintf(src, sizeof(src), SPOOL_TMP "%020" PRIu64, seq);
	fd = tg_fs_open_file_at(s->dfd, src, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (fd < 0)
		return fd;
	err = write_fd(fd, meta, mlen, body, len);
	if (!err && renameat(s->dfd, src, s->dfd, final) < 0)
		err = -errno;
	if (err)
		unlinkat(s->dfd, src, 0);
	return err;
}

struct tg_spool_item *tg_spool_put(struct tg_spool *s, const char *id, int severity,
				   const char *content_type, const void *body, size_t len,
				   struct tg_spool_item **victim)
{
	char name[96], ct[400];
	char meta[sizeof(ct) + 200];
	struct tg_spool_item *it, *v = NULL;
	int mlen, err;

	if (victim)
		*victim = NULL;
	if (!valid_id(id) || severity < 0 || severity >= SEV_N || (!body && len > 0) ||
	    (content_type && strlen(content_type) >= 64)) {
		errno = EINVAL;
		return NULL;
	}
	if (s->n_items >= s->max_items) {
		v = pick_victim(s, severity);
		if (!v) {
			s->dropped[severity]++;
			errno = ENOSPC;
			return NULL;
		}
	}
	it = calloc(1, sizeof(*it));
	if (!it)
		return NULL;
	it->seq = s->next_seq;
	it->severity = severity;
	strcpy(it->id, id);
	it->created_ns = tg_now_wall_ns();
	json_escape(ct, sizeof(ct), content_type ? content_type : "");
	mlen = snprintf(meta, sizeof(meta),
			"{\"v\":1,\"id\":\"%s\",\"severity\":%d,\"content_type\":\"%s\","
			"\"created_ns\":%" PRIu64 ",\"len\":%zu}\n",
			id, severity, ct, it->created_ns, len);
	if (mlen < 0 || (size_t)mlen >= sizeof(meta) || item_name(it, name, sizeof(name)) < 0) {
		free(it);
		errno = ENAMETOOLONG;
		return NULL;
	}
	/* Written before the victim goes: a failed write loses nothing. */
	err = len > SPOOL_FILE_MAX ? -EFBIG
				   : write_event(s, it->seq, name, meta, (size_t)mlen, body, len);
	if (err < 0) {
		free(it);
		errno = -err;
		return NULL;
	}
	it->size = (size_t)mlen + len;
	s->next_seq++;
	if (v) {
		drop_item(s, v);
		if (victim)
			*victim = v;
		else
			free(v);
	}
	list_append(s, it);
	return it;
}

int tg_spool_read(const struct tg_spool *s, const struct tg_spool_item *it, char **body,
		  size_t *len, char *content_type, size_t ct_len)
{
	char name[96], ct[64];
	char *buf;
	size_t n, blen = 0;
	long off;
	int rc;

	if ((rc = item_name(it, name, sizeof(name))) < 0)
		return rc;
	if ((rc = tg_fs_read_at(s->dfd, name, SPOOL_FILE_MAX + SPOOL_META_MAX, &buf, &n)) < 0)
		return rc;
	off = parse_meta(buf, n, it->id, it->severity, ct, sizeof(ct), NULL, &blen);
	if (off < 0 || (size_t)off + blen > n) {
		free(buf);
		return -EBADMSG;
	}
	if (content_type && ct_len > 0)
		snprintf(content_type, ct_len, "%s", ct);
	n = blen;
	memmove(buf, buf + off, n);
	buf[n] = '\0';
	*body = buf;
	*len = n;
	return 0;
}

int tg_spool_done(struct tg_spool *s, struct tg_spool_item *it)
{
	char name[96];
	int rc;

	list_unlink(s, it);
	if ((rc = item_name(it, name, sizeof(name))) < 0)
		return rc;
	return release_file(s, name);
}

int tg_spool_dead(struct tg_spool *s, struct tg_spool_item *it, long status,
		  const char *reason)
{
	char name[96];
	char *body = NULL;
	size_t len = 0;
	int rc;

	if (tg_spool_read(s, it, &body, &len, NULL, 0) < 0 &&
	    (item_name(it, name, sizeof(name)) < 0 ||
	     tg_fs_read_at(s->dfd, name, SPOOL_FILE_MAX, &body, &len) < 0)) {
		body = NULL;
		len = 0;
	}
	rc = dead_append(s, it->id, status, reason, body, len);
	free(body);
	if (rc < 0) {
		/* Out of the queue, but the file stays for the next run:
		 * better a second try then than a silent loss now. */
		list_unlink(s, it);
		return rc;
	}
	return tg_spool_done(s, it);
}

int tg_spool_dead_event(struct tg_spool *s, const char *id, long status, const char *reason,
			const void *body, size_t len)
{
	return dead_append(s, id, status, reason, body, len);
}

void tg_spool_item_free(struct tg_spool_item *it)
{
	free(it);
}
