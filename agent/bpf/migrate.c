#include "bpf/migrate.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include "tollgate.skel.h"
#include "bpf/detach.h"
#include "bpf/kern.h"
#include "lib/fs.h"
#include "lib/log.h"
#include "bpf/migrate_plan.h"
#include "shared.h"

#define MAX_MAPS 64

static int cmp_int(const void *a, const void *b)
{
	return *(const int *)a - *(const int *)b;
}

int tg_migrate_scan(const char *instance_dir, int *old, int *n_old, bool *adopt)
{
	const char *instance = strrchr(instance_dir, '/');
	int newest = -1;
	struct dirent *e;
	DIR *d;

	*n_old = 0;
	*adopt = false;
	d = opendir(instance_dir);
	if (!d)
		return 0; /* nothing pinned yet; the loader reports real failures */
	while ((e = readdir(d))) {
		int v = tg_layout_dir_version(e->d_name);

		if (v < 0)
			continue;
		if (v > TG_LAYOUT_VERSION) {
			if (v > newest)
				newest = v;
		} else if (v == TG_LAYOUT_VERSION) {
			char path[512];
			DIR *cur;

			snprintf(path, sizeof(path), "%s/%s", instance_dir, e->d_name);
			cur = opendir(path);
			if (cur) {
				struct dirent *f;

				while ((f = readdir(cur)))
					if (f->d_name[0] != '.')
						*adopt = true;
				closedir(cur);
			}
		} else if (*n_old < TG_MAX_OLD_LAYOUTS) {
			old[(*n_old)++] = v;
		}
	}
	closedir(d);
	if (newest >= 0) {
		/* The newer binary's maps may be in use by its programs (attached,
		 * with keep): copying them back or removing them would lose or
		 * corrupt its state. The operator decides. */
		tg_log_fail(
			"%s/v%d holds the maps of a newer tollgate (layout v%d; this "
			"binary uses v%d), left untouched: run the newer tollgate, or stop it and "
			"remove its state with 'tollgate detach --instance %s' (its counters and "
			"buckets are lost) before starting this one",
			instance_dir, newest, newest, TG_LAYOUT_VERSION, instance ? instance + 1 : "?");
		return -EEXIST;
	}
	qsort(old, (size_t)*n_old, sizeof(*old), cmp_int);
	return 0;
}

static bool percpu(__u32 type)
{
	return type == BPF_MAP_TYPE_PERCPU_HASH || type == BPF_MAP_TYPE_PERCPU_ARRAY ||
	       type == BPF_MAP_TYPE_LRU_PERCPU_HASH;
}

/* A value with a struct bpf_spin_lock member is read and written with
 * BPF_F_LOCK, so a copy never sees a half-updated value; the kernel
 * refuses the flag for a value without one. */
static bool has_spin_lock(const struct btf *btf, __u32 type_id)
{
	const struct btf_type *t;
	const struct btf_member *m;
	int id;

	if (!btf || !type_id)
		return false;
	id = btf__resolve_type(btf, type_id);
	t = id < 0 ? NULL : btf__type_by_id(btf, (__u32)id);
	if (!t || !btf_is_struct(t))
		return false;
	m = btf_members(t);
	for (__u16 i = 0; i < btf_vlen(t); i++) {
		const struct btf_type *mt;

		id = btf__resolve_type(btf, m[i].type);
		mt = id < 0 ? NULL : btf__type_by_id(btf, (__u32)id);
		if (mt && btf_is_struct(mt) &&
		    !strcmp(btf__name_by_offset(btf, mt->name_off), "bpf_spin_lock"))
			return true;
	}
	return false;
}

static bool old_has_spin_lock(const struct bpf_map_info *info)
{
	struct btf *btf;
	bool lock;

	if (!info->btf_id || !info->btf_value_type_id)
		return false;
	btf = btf__load_from_kernel_by_id(info->btf_id);
	if (!btf)
		return false;
	lock = has_spin_lock(btf, info->btf_value_type_id);
	btf__free(btf);
	return lock;
}

/* The value to write: the old one, or its conversion into out. */
static const void *convert(const struct tg_mig_conv *conv, void *out, const void *old,
			   size_t stride, int copies)
{
	if (!conv)
		return old;
	conv->fn(out, old, stride, copies);
	return out;
}

/* Copies every entry of `from` into `to` (same type, key and value size;
 * or, with conv, converted into the current shape). The old programs may
 * still be running on it: an entry evicted meanwhile is skipped, and the
 * walk is bounded even if the map churns under it. */
static int copy_entries(int from, int to, const struct tg_map_shape *s, int ncpus,
			const struct tg_mig_conv *conv, __u64 lock_from, __u64 lock_to,
			uint64_t *copied, char *why, size_t len)
{
	size_t stride = (s->value_size + 7) / 8 * 8;
	size_t vsz = percpu(s->type) ? stride * (size_t)ncpus : s->value_size;
	unsigned char *keys = malloc(2 * (size_t)s->key_size);
	unsigned char *val = malloc(vsz);
	unsigned char *conv_val = conv ? calloc(1, conv->to_value) : NULL;
	unsigned char *cur = keys, *next = keys ? keys + s->key_size : NULL;
	__u64 bound = 2 * (__u64)s->max_entries + 16;
	void *prev = NULL;
	int err = 0;

	*copied = 0;
	if (!keys || !val || (conv && !conv_val)) {
		snprintf(why, len, "out of memory");
		err = -ENOMEM;
		goto out;
	}
	for (__u64 i = 0; i < bound; i++) {
		unsigned char *tmp;

		if (bpf_map_get_next_key(from, prev, next)) {
			if (errno != ENOENT) {
				err = -errno;
				snprintf(why, len, "walk: %s", strerror(errno));
			}
			break;
		}
		if (bpf_map_lookup_elem_flags(from, next, val, lock_from)) {
			if (errno != ENOENT) {
				err = -errno;
				snprintf(why, len, "read: %s", strerror(errno));
				break;
			}
		} else if (bpf_map_update_elem(to, next, convert(conv, conv_val, val, stride,
							      percpu(s->type) ? ncpus : 1),
					       BPF_ANY | lock_to)) {
			err = -errno;
			snprintf(why, len, "write: %s", strerror(errno));
			break;
		} else {
			(*copied)++;
		}
		tmp = cur;
		cur = next;
		next = tmp;
		prev = cur;
	}
out:
	free(keys);
	free(val);
	free(conv_val);
	return err;
}

/* One old map into the current object: decides, then copies. */
static void migrate_map(struct tg_kern *k, const char *path, const char *name,
			struct tg_mig_result *r)
{
	struct bpf_map_info info = { 0 };
	__u32 info_len = sizeof(info);
	const struct tg_mig_conv *conv;
	struct tg_map_shape old, cur;
	struct bpf_map *map;
	int fd;

	memset(r, 0, sizeof(*r));
	snprintf(r->name, sizeof(r->name), "%.*s", (int)sizeof(r->name) - 1, name);
	map = bpf_object__find_map_by_name(k->skel->obj, name);
	if (!map || name[0] == '.' || strchr(name, '.')) {
		r->action = TG_MIG_GONE;
		return;
	}
	fd = bpf_obj_get(path);
	if (fd < 0 || bpf_obj_get_info_by_fd(fd, &info, &info_len)) {
		r->action = TG_MIG_COPY;
		r->failed = 1;
		snprintf(r->why, sizeof(r->why), "cannot open: %s", strerror(errno));
		if (fd >= 0)
			close(fd);
		return;
	}
	old = (struct tg_map_shape){ info.type, info.key_size, info.value_size, info.max_entries };
	cur = (struct tg_map_shape){ bpf_map__type(map), bpf_map__key_size(map),
				     bpf_map__value_size(map), bpf_map__max_entries(map) };
	r->action = tg_migrate_decide(&old, &cur, r->why, sizeof(r->why));
	conv = r->action == TG_MIG_RECREATE ? tg_migrate_converter(name, &old, &cur) : NULL;
	if (conv)
		r->action = TG_MIG_CONVERT; /* why keeps what changed */
	if (r->action == TG_MIG_COPY || r->action == TG_MIG_CONVERT) {
		__u64 lock_from = old_has_spin_lock(&info) ? BPF_F_LOCK : 0;
		__u64 lock_to = has_spin_lock(bpf_object__btf(k->skel->obj),
					      bpf_map__btf_value_type_id(map)) ? BPF_F_LOCK : 0;

		if (copy_entries(fd, bpf_map__fd(map), &old, k->ncpus, conv, lock_from, lock_to,
				 &r->entries, r->why, sizeof(r->why)))
			r->failed = 1;
		pr_debug("map migrated", "map=%s entries=%llu lock=%s", name,
			 (unsigned long long)r->entries, lock_to ? "yes" : "no");
	}
	close(fd);
}

static int cmp_result(const void *a, const void *b)
{
	return strcmp(((const struct tg_mig_result *)a)->name,
		      ((const struct tg_mig_result *)b)->name);
}

void tg_migrate_copy(struct tg_kern *k, const char *instance_dir, const int *old, int n_old,
		     bool adopt)
{
	static struct tg_mig_result res[MAX_MAPS];
	char dir[512], path[768], line[2048];

	for (int i = 0; i < n_old; i++) {
		struct dirent *e;
		DIR *d;
		int n = 0;

		snprintf(dir, sizeof(dir), "%s/v%d", instance_dir, old[i]);
		if (adopt) {
			pr_warn("old layout found, not migrated: the current layout's maps were "
				"already pinned, and are newer; the old layout is removed",
				"old=v%d current=v%d pin_dir=%s", old[i], TG_LAYOUT_VERSION, dir);
			continue;
		}
		d = opendir(dir);
		if (!d) {
			pr_warn("old layout not readable, not migrated", "pin_dir=%s err=\"%s\"", dir,
				strerror(errno));
			continue;
		}
		while ((e = readdir(d)) && n < MAX_MAPS) {
			if (e->d_name[0] == '.' || e->d_type != DT_REG)
				continue;
			snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
			migrate_map(k, path, e->d_name, &res[n++]);
		}
		closedir(d);
		qsort(res, (size_t)n, sizeof(res[0]), cmp_result);
		tg_migrate_summary(line, sizeof(line), old[i], TG_LAYOUT_VERSION, res, n);
		tg_log_emit(TG_LOG_INFO, line, "old_pin_dir=%s pin_dir=%s", dir, k->pin_dir);
	}
}

static void say_log(void *arg, bool error, const char *line)
{
	const char *dir = arg;

	if (error)
		pr_warn("old layout: filter not removed", "pin_dir=%s detail=\"%s\"", dir, line);
	else
		pr_info("old layout: filter removed", "pin_dir=%s detail=\"%s\"", dir, line);
}

/* The old layout's pins. The instance directory is the agent's user's
 * (with `user`), so from held fds, never following a symlink. */
static int remove_dir(const char *dir, char *why, size_t whylen)
{
	int err = tg_fs_remove_tree(AT_FDCWD, dir, why, whylen);

	return err == -ENOENT ? 0 : err;
}

int tg_migrate_finish(const char *instance_dir, const int *old, int n_old)
{
	char dir[512], why[320];
	int failed = 0;

	for (int i = 0; i < n_old; i++) {
		int removed, err;

		snprintf(dir, sizeof(dir), "%s/v%d", instance_dir, old[i]);
		removed = tg_detach_dir_filters(dir, say_log, dir);
		if (removed < 0) {
			/* its pins stay: they tell `tollgate detach` whose the
			 * filter is */
			pr_warn("old layout kept: a filter running its programs could not be "
				"removed (tollgate detach removes it)", "pin_dir=%s", dir);
			failed = 1;
			continue;
		}
		err = remove_dir(dir, why, sizeof(why));
		if (err) {
			pr_warn("old layout: pins not all removed", "pin_dir=%s err=\"%s\"", dir,
				why);
			failed = 1;
			continue;
		}
		pr_info("old layout removed", "pin_dir=%s filters_removed=%d", dir, removed);
	}
	return failed ? -1 : 0;
}
