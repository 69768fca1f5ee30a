/* Layout-version migration of the pinned maps. Pins live under
 * /sys/fs/bpf/tollgate/<instance>/v<layout>/; when TG_LAYOUT_VERSION
 * changes, the maps of an older layout that kept their shape are copied
 * into the new ones, the rest start empty, and the old layout's filters
 * and pins are removed. A newer layout than this binary's is never
 * touched: the agent refuses to start. */
#ifndef TG_MIGRATE_H
#define TG_MIGRATE_H

#include <stdbool.h>

struct tg_kern;

/* Before anything is created or loaded: lists the instance's layout
 * directories (instance_dir is /sys/fs/bpf/tollgate/<instance>). Older
 * ones go into old[] (ascending, at most TG_MAX_OLD_LAYOUTS), *adopt says
 * whether the current layout's directory already holds pins. Returns 0,
 * or -EEXIST after printing what to do when a newer layout is there. */
int tg_migrate_scan(const char *instance_dir, int *old, int *n_old, bool *adopt);

/* After the object is loaded (maps created or adopted), before settings
 * and quotas are written: copies the old layouts' maps into the current
 * ones, one log line per old layout. Not done when the current layout was
 * adopted: its maps are newer than any older layout's. Errors are logged;
 * a map that cannot be copied starts empty. */
void tg_migrate_copy(struct tg_kern *k, const char *instance_dir, const int *old, int n_old,
		     bool adopt);

/* After the new programs are attached: removes the filters still running
 * the old layouts' programs (on interfaces no longer configured; the others
 * were replaced in place) and the old pin directories. Returns 0, or -1
 * when something could not be removed (logged). */
int tg_migrate_finish(const char *instance_dir, const int *old, int n_old);

#endif
