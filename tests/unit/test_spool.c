/* The spool on disk: round trips, replay order, the bound, dead letters,
 * foreign and corrupt files. Each test works in its own directory under
 * /tmp and removes it. */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "deliver/spool.h"

static char tmpdir[64];

static void setup(void)
{
	strcpy(tmpdir, "/tmp/tg_spool_XXXXXX");
	cr_assert(not(eq(ptr, mkdtemp(tmpdir), NULL)));
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	return remove(path);
}

static void teardown(void)
{
	nftw(tmpdir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

TestSuite(spool, .init = setup, .fini = teardown, .timeout = 30);

static void open_spool(struct tg_spool *s, size_t max)
{
	char err[256] = "";
	int rc = tg_spool_open(s, tmpdir, "inst", "hook", max, err, sizeof(err));

	cr_assert(eq(int, rc, 0), "open: %s", err);
}

static struct tg_spool_item *put(struct tg_spool *s, const char *id, int sev, const char *body)
{
	struct tg_spool_item *victim = NULL, *it;

	it = tg_spool_put(s, id, sev, "application/json", body, strlen(body), &victim);
	cr_assert(not(eq(ptr, it, NULL)), "put %s: %s", id, strerror(errno));
	cr_assert(eq(ptr, victim, NULL));
	return it;
}

/* Spool entries (*.ev) in dir. */
static int count_files(const char *dir)
{
	char cmd[256];
	FILE *p;
	int n = -1;

	snprintf(cmd, sizeof(cmd), "ls -A '%s' | grep -c '\\.ev$'", dir);
	p = popen(cmd, "r");
	cr_assert(not(eq(ptr, p, NULL)));
	cr_assert(eq(int, fscanf(p, "%d", &n), 1));
	pclose(p);
	return n;
}

static void write_file(const char *dir, const char *name, const void *data, size_t len)
{
	char path[600];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "w");
	cr_assert(not(eq(ptr, f, NULL)));
	cr_assert(eq(sz, fwrite(data, 1, len, f), len));
	fclose(f);
}

/* The dead-letter file's lines, parsed. */
static int read_dead(const struct tg_spool *s, cJSON **lines, int max)
{
	char buf[4096];
	FILE *f = fopen(s->dead_path, "r");
	int n = 0;

	if (!f)
		return 0;
	while (n < max && fgets(buf, sizeof(buf), f)) {
		lines[n] = cJSON_Parse(buf);
		cr_assert(not(eq(ptr, lines[n], NULL)), "not JSON: %s", buf);
		n++;
	}
	fclose(f);
	return n;
}

static const char *jstr(const cJSON *o, const char *k)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);

	return cJSON_IsString(v) ? v->valuestring : "";
}

Test(spool, put_read_done_round_trip)
{
	struct tg_spool s;
	struct tg_spool_item *it;
	char *body, ct[64];
	size_t len;

	open_spool(&s, 0);
	cr_assert(eq(sz, s.max_items, TG_SPOOL_DEFAULT_MAX));
	it = tg_spool_put(&s, "evt_1", 2, "text/plain; charset=\"utf-8\"", "hello\nworld", 11,
			  NULL);
	cr_assert(not(eq(ptr, it, NULL)));
	cr_assert(eq(sz, s.n_items, 1));
	cr_assert(eq(u64, s.bytes, it->size));
	cr_assert(gt(sz, it->size, 11));
	cr_assert(gt(u64, it->created_ns, 0));
	cr_assert(eq(int, count_files(s.dir), 1));

	cr_assert(eq(int, tg_spool_read(&s, it, &body, &len, ct, sizeof(ct)), 0));
	cr_assert(eq(sz, len, 11));
	cr_assert(eq(str, body, "hello\nworld"));
	cr_assert(eq(str, ct, "text/plain; charset=\"utf-8\""));
	free(body);

	cr_assert(eq(int, tg_spool_done(&s, it), 0));
	cr_assert(eq(sz, s.n_items, 0));
	cr_assert(eq(u64, s.bytes, 0));
	cr_assert(eq(ptr, s.head, NULL));
	cr_assert(eq(int, count_files(s.dir), 0));
	tg_spool_item_free(it);
	tg_spool_close(&s);
}

static int count_pool(const char *dir)
{
	char cmd[256];
	FILE *p;
	int n = -1;

	snprintf(cmd, sizeof(cmd), "ls -A '%s' | grep -c '^\\.free-'", dir);
	p = popen(cmd, "r");
	cr_assert(not(eq(ptr, p, NULL)));
	cr_assert(eq(int, fscanf(p, "%d", &n), 1));
	pclose(p);
	return n;
}

Test(spool, files_are_recycled_and_a_longer_old_content_is_ignored)
{
	struct tg_spool s;
	struct tg_spool_item *a, *b;
	char big[3000], *body, ct[64];
	size_t len;

	memset(big, 'B', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	open_spool(&s, 0);
	a = put(&s, "big", 1, big);
	cr_assert(eq(int, tg_spool_done(&s, a), 0));
	tg_spool_item_free(a);
	cr_assert(eq(int, count_pool(s.dir), 1));
	cr_assert(eq(sz, s.n_pool, 1));

	b = tg_spool_put(&s, "small", 2, "text/plain", "tiny", 4, NULL);
	cr_assert(not(eq(ptr, b, NULL)));
	cr_assert(eq(int, count_pool(s.dir), 0));
	cr_assert(eq(int, count_files(s.dir), 1));
	cr_assert(eq(int, tg_spool_read(&s, b, &body, &len, ct, sizeof(ct)), 0));
	cr_assert(eq(sz, len, 4));
	cr_assert(eq(str, body, "tiny"));
	cr_assert(eq(str, ct, "text/plain"));
	free(body);
	tg_spool_close(&s);

	/* The next run reads it back the same way, and keeps the pool. */
	open_spool(&s, 0);
	cr_assert(eq(sz, s.n_items, 1));
	cr_assert(eq(int, tg_spool_read(&s, s.head, &body, &len, NULL, 0), 0));
	cr_assert(eq(str, body, "tiny"));
	free(body);
	b = s.head;
	cr_assert(eq(int, tg_spool_done(&s, b), 0));
	tg_spool_item_free(b);
	tg_spool_close(&s);
	open_spool(&s, 0);
	cr_assert(eq(sz, s.n_items, 0));
	cr_assert(eq(sz, s.n_pool, 1));
	a = put(&s, "again", 0, "x");
	cr_assert(eq(sz, s.n_pool, 0));
	cr_assert(eq(int, count_pool(s.dir), 0));
	tg_spool_close(&s);
}

Test(spool, empty_body_and_binary_body)
{
	static const char bin[] = { 0, 1, '\n', (char)0xff, 0 };
	struct tg_spool s;
	struct tg_spool_item *a, *b;
	char *body;
	size_t len;

	open_spool(&s, 0);
	a = tg_spool_put(&s, "a", 0, "", NULL, 0, NULL);
	b = tg_spool_put(&s, "b", 0, "application/octet-stream", bin, sizeof(bin), NULL);
	cr_assert(not(eq(ptr, a, NULL)));
	cr_assert(not(eq(ptr, b, NULL)));
	cr_assert(eq(int, tg_spool_read(&s, a, &body, &len, NULL, 0), 0));
	cr_assert(eq(sz, len, 0));
	free(body);
	cr_assert(eq(int, tg_spool_read(&s, b, &body, &len, NULL, 0), 0));
	cr_assert(eq(sz, len, sizeof(bin)));
	cr_assert(eq(int, memcmp(body, bin, sizeof(bin)), 0));
	free(body);
	tg_spool_close(&s);
}

Test(spool, replay_in_arrival_order)
{
	static const char *ids[] = { "e1", "e2", "e3", "e4",  "e5", "e6",
				     "e7", "e8", "e9", "e10", "e11" };
	static const int sevs[] = { 2, 0, 1, 0, 2, 1, 0, 0, 2, 1, 0 };
	struct tg_spool s;
	struct tg_spool_item *it;
	uint64_t next;
	int i;

	open_spool(&s, 0);
	for (i = 0; i < 11; i++)
		put(&s, ids[i], sevs[i], ids[i]);
	next = s.next_seq;
	tg_spool_close(&s);

	open_spool(&s, 0);
	cr_assert(eq(sz, s.n_items, 11));
	cr_assert(eq(u64, s.next_seq, next));
	for (i = 0, it = s.head; it; it = it->next, i++) {
		char *body;
		size_t len;

		cr_assert(eq(str, it->id, (char *)ids[i]));
		cr_assert(eq(int, it->severity, sevs[i]));
		cr_assert(eq(int, tg_spool_read(&s, it, &body, &len, NULL, 0), 0));
		cr_assert(eq(str, body, (char *)ids[i]));
		free(body);
		if (it->prev)
			cr_assert(lt(u64, it->prev->seq, it->seq));
	}
	cr_assert(eq(int, i, 11));
	cr_assert(eq(str, s.tail->id, "e11"));
	/* New events follow the replayed ones. */
	it = put(&s, "e12", 1, "x");
	cr_assert(eq(u64, it->seq, next));
	cr_assert(eq(ptr, s.tail, it));
	tg_spool_close(&s);
}

Test(spool, foreign_files_stay_and_temporaries_go)
{
	struct tg_spool s;
	char path[600];
	struct stat st;

	open_spool(&s, 0);
	put(&s, "kept", 1, "{}");
	write_file(s.dir, "README", "mine\n", 5);
	write_file(s.dir, "notes.ev", "x", 1);
	write_file(s.dir, "12-x-abc.ev", "x", 1);
	write_file(s.dir, ".tmp-00000000000000000009", "{\"v\":1", 6);
	snprintf(path, sizeof(path), "%s/00000000000000000077-1-adir.ev", s.dir);
	cr_assert(eq(int, mkdir(path, 0700), 0));
	tg_spool_close(&s);

	open_spool(&s, 0);
	cr_assert(eq(sz, s.n_items, 1));
	cr_assert(eq(str, s.head->id, "kept"));
	snprintf(path, sizeof(path), "%s/README", s.dir);
	cr_assert(eq(int, stat(path, &st), 0));
	snprintf(path, sizeof(path), "%s/notes.ev", s.dir);
	cr_assert(eq(int, stat(path, &st), 0));
	snprintf(path, sizeof(path), "%s/12-x-abc.ev", s.dir);
	cr_assert(eq(int, stat(path, &st), 0));
	snprintf(path, sizeof(path), "%s/.tmp-00000000000000000009", s.dir);
	cr_assert(eq(int, stat(path, &st), -1));
	cr_assert(eq(u64, s.dead, 0));
	tg_spool_close(&s);
}

Test(spool, corrupt_files_become_dead_letters)
{
	static const char garbage[] = { 'x', 0, (char)0xc3, '\n', (char)0xff, 'z' };
	static const char mismatch[] = "{\"v\":1,\"id\":\"other\",\"severity\":1,"
				       "\"content_type\":\"\",\"created_ns\":1,\"len\":4}\nbody";
	static const char truncated[] = "{\"v\":1,\"id\":\"short\",\"severity\":1,"
					"\"content_type\":\"\",\"created_ns\":1,\"len\":400}\nbody";
	struct tg_spool s;
	cJSON *lines[8];
	int n, i, seen = 0;

	open_spool(&s, 0);
	put(&s, "good", 1, "{\"ok\":true}");
	write_file(s.dir, "00000000000000000100-1-empty.ev", "", 0);
	write_file(s.dir, "00000000000000000101-2-garbage.ev", garbage, sizeof(garbage));
	write_file(s.dir, "00000000000000000102-1-mismatch.ev", mismatch, strlen(mismatch));
	write_file(s.dir, "00000000000000000103-7-badsev.ev", "{}\n", 3);
	write_file(s.dir, "00000000000000000104-1-nonl.ev", "{\"v\":1", 6);
	write_file(s.dir, "00000000000000000105-1-short.ev", truncated, strlen(truncated));
	tg_spool_close(&s);

	open_spool(&s, 0);
	cr_assert(eq(sz, s.n_items, 1));
	cr_assert(eq(str, s.head->id, "good"));
	cr_assert(eq(u64, s.dead, 6));
	cr_assert(eq(int, count_files(s.dir), 1));
	cr_assert(eq(u64, s.next_seq, 2));

	n = read_dead(&s, lines, 8);
	cr_assert(eq(int, n, 6));
	for (i = 0; i < n; i++) {
		const char *id = jstr(lines[i], "id");

		cr_assert(eq(str, (char *)jstr(lines[i], "reason"), "corrupt spool file"));
		cr_assert(not(eq(str, (char *)jstr(lines[i], "time"), "")));
		if (strcmp(id, "mismatch") == 0) {
			cr_assert(not(eq(ptr, strstr(jstr(lines[i], "body"), "body"), NULL)));
			seen++;
		}
		if (strcmp(id, "garbage") == 0) {
			/* invalid UTF-8 and NUL replaced, the line still JSON */
			cr_assert(eq(int, (int)jstr(lines[i], "body")[0], 'x'));
			seen++;
		}
		cJSON_Delete(lines[i]);
	}
	cr_assert(eq(int, seen, 2));
	tg_spool_close(&s);
}

Test(spool, dead_letter_line_and_file_removed)
{
	struct tg_spool s;
	struct tg_spool_item *it;
	cJSON *lines[4];
	const cJSON *st;
	int n;

	open_spool(&s, 0);
	it = put(&s, "evt_dead", 1, "{\"x\":\"\\u00e9\"}");
	cr_assert(eq(int, tg_spool_dead(&s, it, 400, "HTTP 400"), 0));
	cr_assert(eq(sz, s.n_items, 0));
	cr_assert(eq(int, count_files(s.dir), 0));
	cr_assert(eq(u64, s.dead, 1));
	tg_spool_item_free(it);

	cr_assert(eq(int, tg_spool_dead_event(&s, "evt_fmt", 0, "format failed", "{}", 2), 0));
	cr_assert(eq(u64, s.dead, 2));

	n = read_dead(&s, lines, 4);
	cr_assert(eq(int, n, 2));
	cr_assert(eq(str, (char *)jstr(lines[0], "id"), "evt_dead"));
	cr_assert(eq(str, (char *)jstr(lines[0], "reason"), "HTTP 400"));
	cr_assert(eq(str, (char *)jstr(lines[0], "body"), "{\"x\":\"\\u00e9\"}"));
	st = cJSON_GetObjectItemCaseSensitive(lines[0], "status");
	cr_assert(eq(dbl, st->valuedouble, 400));
	cr_assert(eq(str, (char *)jstr(lines[1], "id"), "evt_fmt"));
	cJSON_Delete(lines[0]);
	cJSON_Delete(lines[1]);
	tg_spool_close(&s);
}

Test(spool, bound_drops_oldest_of_lowest_severity)
{
	struct tg_spool s;
	struct tg_spool_item *victim, *it;
	char path[600];
	struct stat st;

	open_spool(&s, 4);
	put(&s, "c1", 2, "c1");
	put(&s, "w1", 1, "w1");
	put(&s, "i1", 0, "i1");
	put(&s, "i2", 0, "i2");

	/* Full: a warning pushes out the oldest info. */
	it = tg_spool_put(&s, "w2", 1, "", "w2", 2, &victim);
	cr_assert(not(eq(ptr, it, NULL)));
	cr_assert(not(eq(ptr, victim, NULL)));
	cr_assert(eq(str, victim->id, "i1"));
	snprintf(path, sizeof(path), "%s/%020llu-0-i1.ev", s.dir, (unsigned long long)victim->seq);
	cr_assert(eq(int, stat(path, &st), -1));
	tg_spool_item_free(victim);

	/* Then the other info; then the oldest warning. */
	it = tg_spool_put(&s, "c2", 2, "", "c2", 2, &victim);
	cr_assert(eq(str, victim->id, "i2"));
	tg_spool_item_free(victim);
	it = tg_spool_put(&s, "c3", 2, "", "c3", 2, &victim);
	cr_assert(eq(str, victim->id, "w1"));
	tg_spool_item_free(victim);

	/* An info now is below everything present: it is the one dropped. */
	errno = 0;
	it = tg_spool_put(&s, "i3", 0, "", "i3", 2, &victim);
	cr_assert(eq(ptr, it, NULL));
	cr_assert(eq(int, errno, ENOSPC));
	cr_assert(eq(ptr, victim, NULL));

	cr_assert(eq(u64, s.dropped[0], 3));
	cr_assert(eq(u64, s.dropped[1], 1));
	cr_assert(eq(u64, s.dropped[2], 0));
	cr_assert(eq(sz, s.n_items, 4));
	cr_assert(eq(int, count_files(s.dir), 4));
	cr_assert(eq(str, s.head->id, "c1"));
	cr_assert(eq(str, s.head->next->id, "w2"));
	tg_spool_close(&s);
}

Test(spool, smaller_bound_at_open_applies_the_policy)
{
	struct tg_spool s;

	open_spool(&s, 0);
	put(&s, "i1", 0, "x");
	put(&s, "c1", 2, "x");
	put(&s, "w1", 1, "x");
	put(&s, "i2", 0, "x");
	tg_spool_close(&s);

	open_spool(&s, 2);
	cr_assert(eq(sz, s.n_items, 2));
	cr_assert(eq(str, s.head->id, "c1"));
	cr_assert(eq(str, s.tail->id, "w1"));
	cr_assert(eq(u64, s.dropped[0], 2));
	cr_assert(eq(int, count_files(s.dir), 2));
	tg_spool_close(&s);
}

Test(spool, invalid_input_refused)
{
	struct tg_spool s;
	struct tg_spool_item *v;
	char err[128];
	char longct[80], longid[41];

	open_spool(&s, 0);
	errno = 0;
	cr_assert(eq(ptr, tg_spool_put(&s, "../escape", 1, "", "x", 1, &v), NULL));
	cr_assert(eq(int, errno, EINVAL));
	cr_assert(eq(ptr, tg_spool_put(&s, "a/b", 1, "", "x", 1, &v), NULL));
	cr_assert(eq(ptr, tg_spool_put(&s, "", 1, "", "x", 1, &v), NULL));
	memset(longid, 'a', sizeof(longid) - 1);
	longid[sizeof(longid) - 1] = '\0'; /* 40 characters: one too many */
	cr_assert(eq(ptr, tg_spool_put(&s, longid, 1, "", "x", 1, &v), NULL));
	cr_assert(eq(ptr, tg_spool_put(&s, "ok", 3, "", "x", 1, &v), NULL));
	cr_assert(eq(ptr, tg_spool_put(&s, "ok", -1, "", "x", 1, &v), NULL));
	memset(longct, 'a', sizeof(longct) - 1);
	longct[sizeof(longct) - 1] = '\0';
	cr_assert(eq(ptr, tg_spool_put(&s, "ok", 1, longct, "x", 1, &v), NULL));
	cr_assert(eq(sz, s.n_items, 0));
	tg_spool_close(&s);

	cr_assert(lt(int, tg_spool_open(&s, tmpdir, "..", "hook", 0, err, sizeof(err)), 0));
	cr_assert(lt(int, tg_spool_open(&s, tmpdir, "inst", "a/b", 0, err, sizeof(err)), 0));
	cr_assert(lt(int, tg_spool_open(&s, "", "inst", "hook", 0, err, sizeof(err)), 0));
}

Test(spool, unusable_state_dir_is_an_error)
{
	struct tg_spool s;
	char file[600], err[256] = "";
	int rc;

	snprintf(file, sizeof(file), "%s/plainfile", tmpdir);
	write_file(tmpdir, "plainfile", "x", 1);
	rc = tg_spool_open(&s, file, "inst", "hook", 0, err, sizeof(err));
	cr_assert(eq(int, rc, -ENOTDIR));
	cr_assert(not(eq(ptr, strstr(err, "plainfile"), NULL)), "%s", err);
}

Test(spool, read_of_a_file_changed_underneath)
{
	struct tg_spool s;
	struct tg_spool_item *it;
	char path[600], *body;
	size_t len;

	open_spool(&s, 0);
	it = put(&s, "evt", 1, "{}");
	snprintf(path, sizeof(path), "%s/%020llu-1-evt.ev", s.dir, (unsigned long long)it->seq);
	write_file(s.dir, strrchr(path, '/') + 1, "junk", 4);
	cr_assert(eq(int, tg_spool_read(&s, it, &body, &len, NULL, 0), -EBADMSG));
	cr_assert(eq(int, tg_spool_dead(&s, it, 0, "corrupt spool file"), 0));
	cr_assert(eq(sz, s.n_items, 0));
	tg_spool_item_free(it);
	unlink(path);
	it = put(&s, "gone", 1, "{}");
	snprintf(path, sizeof(path), "%s/%020llu-1-gone.ev", s.dir, (unsigned long long)it->seq);
	cr_assert(eq(int, unlink(path), 0));
	cr_assert(eq(int, tg_spool_read(&s, it, &body, &len, NULL, 0), -ENOENT));
	tg_spool_close(&s);
}

/* ---- a state tree someone else prepared --------------------------------
 * With `user`, the tree under state_dir was that user's during the last
 * run: a compromised agent could leave anything there for the next start.
 * The attack this guards against: deadletter/<hook>.jsonl made a symlink
 * to a file of root's (/etc/ld.so.preload), and a junk file named like a
 * spool entry, so that loading it appends a dead letter, text of the
 * attacker's choosing, to that file. Here the "file of root's" is one of
 * the test's own outside the tree: it must stay byte for byte as it was. */

#define ORIGINAL "the target's own content\n"
#define PAYLOAD "/tmp/evil.so"

static char target[700];

static void make_dir(const char *rel)
{
	char path[700];

	snprintf(path, sizeof(path), "%s/%s", tmpdir, rel);
	cr_assert(eq(int, mkdir(path, 0700), 0), "%s: %s", path, strerror(errno));
}

/* A file outside the state tree, as root's /etc/ld.so.preload would be. */
static void make_target(const char *dir_rel, const char *name)
{
	char dir[300];

	snprintf(dir, sizeof(dir), "%s/%s", tmpdir, dir_rel);
	write_file(dir, name, ORIGINAL, strlen(ORIGINAL));
	snprintf(target, sizeof(target), "%s/%s", dir, name);
}

static void target_unchanged(void)
{
	char buf[256] = "";
	FILE *f = fopen(target, "r");
	size_t n;

	cr_assert(not(eq(ptr, f, NULL)), "%s is gone", target);
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	cr_assert(eq(sz, n, strlen(ORIGINAL)), "%s changed: \"%s\"", target, buf);
	cr_assert(eq(int, memcmp(buf, ORIGINAL, n), 0), "%s changed: \"%s\"", target, buf);
}

/* The junk spool entry whose "corrupt" content would be dead-lettered. */
static void plant_junk(void)
{
	char dir[700];

	snprintf(dir, sizeof(dir), "%s/inst/spool/hook", tmpdir);
	write_file(dir, "00000000000000000001-1-evt.ev", PAYLOAD "\n", strlen(PAYLOAD) + 1);
}

static void open_refused(const char *want)
{
	struct tg_spool s;
	char err[512] = "";
	int rc = tg_spool_open(&s, tmpdir, "inst", "hook", 0, err, sizeof(err));

	cr_assert(lt(int, rc, 0), "opened: the attack was not refused");
	cr_assert(not(eq(ptr, strstr(err, want), NULL)), "\"%s\" lacks \"%s\"", err, want);
	tg_spool_close(&s); /* a failed open leaves nothing open */
}

/* The directory rel (under tmpdir) made a symlink to the directory to:
 * the open must refuse it, naming it, and leave the target alone. */
static void swapped_dir_refused(const char *rel, const char *to)
{
	char link[300], dir[300], want[700];

	snprintf(link, sizeof(link), "%s/%s", tmpdir, rel);
	snprintf(dir, sizeof(dir), "%s/%s", tmpdir, to);
	cr_assert(eq(int, symlink(dir, link), 0));
	snprintf(want, sizeof(want), "%s is a symbolic link: refused", link);
	open_refused(want);
	target_unchanged();
}

Test(spool, dead_letter_symlink_to_a_root_file_is_refused)
{
	char link[700], want[800];

	make_dir("inst");
	make_dir("inst/spool");
	make_dir("inst/spool/hook");
	make_dir("inst/deadletter");
	make_dir("elsewhere");
	make_target("elsewhere", "ld.so.preload");
	snprintf(link, sizeof(link), "%s/inst/deadletter/hook.jsonl", tmpdir);
	cr_assert(eq(int, symlink(target, link), 0));
	plant_junk();

	snprintf(want, sizeof(want), "%s: a symbolic link: refused", link);
	open_refused(want);
	target_unchanged();
	/* the junk stays, for a person to look at */
	snprintf(link, sizeof(link), "%s/inst/spool/hook/00000000000000000001-1-evt.ev", tmpdir);
	cr_assert(eq(int, access(link, F_OK), 0), "the junk entry was consumed");
}

/* Planted while the agent runs: a dead letter written then must not
 * follow it either (each append opens the file again, O_NOFOLLOW). */
Test(spool, dead_letter_symlink_planted_at_run_time_is_not_followed)
{
	struct tg_spool s;
	struct tg_spool_item *it;
	char link[700];

	open_spool(&s, 0);
	it = put(&s, "evt", 1, PAYLOAD);
	make_dir("elsewhere");
	make_target("elsewhere", "ld.so.preload");
	snprintf(link, sizeof(link), "%s/inst/deadletter/hook.jsonl", tmpdir);
	cr_assert(eq(int, symlink(target, link), 0));
	cr_assert(eq(int, tg_spool_dead(&s, it, 400, "HTTP 400"), -ELOOP));
	cr_assert(eq(int, tg_spool_dead_event(&s, "x", 0, "render", PAYLOAD, 12), -ELOOP));
	target_unchanged();
	tg_spool_item_free(it);
	tg_spool_close(&s);
}

/* The same through a directory: deadletter/ itself a symlink to a
 * directory holding a hook.jsonl of someone else's. */
Test(spool, dead_letter_directory_swapped_for_a_symlink_is_refused)
{
	make_dir("inst");
	make_dir("inst/spool");
	make_dir("inst/spool/hook");
	make_dir("etc");
	make_target("etc", "hook.jsonl");
	plant_junk();
	swapped_dir_refused("inst/deadletter", "etc");
}

/* spool/<hook> a symlink to a directory with files named like the
 * spool's own: opening would remove .tmp- files and write over .free-
 * files there. */
Test(spool, spool_directory_swapped_for_a_symlink_is_refused)
{
	char dir[300], tmp[700];

	make_dir("inst");
	make_dir("inst/spool");
	make_dir("inst/deadletter");
	make_dir("etc");
	make_target("etc", ".free-1");
	snprintf(dir, sizeof(dir), "%s/etc", tmpdir);
	write_file(dir, ".tmp-00000000000000000001", ORIGINAL, strlen(ORIGINAL));
	swapped_dir_refused("inst/spool/hook", "etc");
	snprintf(tmp, sizeof(tmp), "%s/.tmp-00000000000000000001", dir);
	cr_assert(eq(int, access(tmp, F_OK), 0), "a file beyond the link was removed");
}

/* And the instance directory itself. */
Test(spool, instance_directory_swapped_for_a_symlink_is_refused)
{
	make_dir("other");
	make_dir("other/deadletter");
	make_target("other/deadletter", "hook.jsonl");
	swapped_dir_refused("inst", "other");
}

/* A hard link is a file of someone else's too (where the kernel lets a
 * user make one: fs.protected_hardlinks=0), and a FIFO would hang the
 * open: both refused. */
Test(spool, dead_letter_hard_link_or_fifo_is_refused)
{
	char path[700];

	make_dir("inst");
	make_dir("inst/deadletter");
	make_target("inst", "root-file");
	snprintf(path, sizeof(path), "%s/inst/deadletter/hook.jsonl", tmpdir);
	cr_assert(eq(int, link(target, path), 0));
	open_refused("has other hard links: refused");
	target_unchanged();
	cr_assert(eq(int, unlink(path), 0));
	cr_assert(eq(int, mkfifo(path, 0600), 0));
	open_refused("not a regular file: refused");
}

/* Directories others may write are refused: state_dir, or any directory
 * under it (someone else could swap what is inside). */
Test(spool, directories_others_may_write_are_refused)
{
	struct tg_spool s;
	char path[700], want[800];

	cr_assert(eq(int, chmod(tmpdir, 0777), 0));
	snprintf(want, sizeof(want), "%s is writable by group or others (mode 0777)", tmpdir);
	open_refused(want);
	cr_assert(eq(int, chmod(tmpdir, 0700), 0));

	open_spool(&s, 0);
	tg_spool_close(&s);
	snprintf(path, sizeof(path), "%s/inst/spool", tmpdir);
	cr_assert(eq(int, chmod(path, 0770), 0));
	snprintf(want, sizeof(want), "%s is writable by group or others (mode 0770)", path);
	open_refused(want);
}

/* A directory of another user's (needs root to make one). */
Test(spool, directories_of_another_user_are_refused)
{
	struct tg_spool s;
	char path[700], want[800];

	if (geteuid() != 0)
		cr_skip_test("needs root to give a directory to another user");
	open_spool(&s, 0);
	tg_spool_close(&s);
	snprintf(path, sizeof(path), "%s/inst", tmpdir);
	cr_assert(eq(int, chown(path, 65534, 65534), 0));
	snprintf(want, sizeof(want), "%s is owned by uid 65534, not uid 0", path);
	open_refused(want);
}
