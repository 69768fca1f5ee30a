/* One agent per instance: an exclusive flock(2) on the instance's pin
 * directory (<bpffs>/tollgate/<instance>), held for the agent's whole life
 * and dropped by the kernel when it exits, however it exits (kill -9
 * included), so a later agent adopts the pins as before. A lock, not a
 * check: two agents started at the same moment cannot both pass. */
#ifndef TG_INSTANCE_LOCK_H
#define TG_INSTANCE_LOCK_H

#include <stddef.h>
#include <sys/types.h>

/* Takes the lock on dir (which must exist). Returns an fd that holds it
 * (close it to let go), -EBUSY when another process holds it (*holder: its
 * pid, 0 when it cannot be found), or another negative errno. A directory
 * removed and made anew under us (an agent exiting) is retried. */
int tg_instance_lock(const char *dir, pid_t *holder);

/* The pid holding a FLOCK on (major:minor, inode) in the text of
 * /proc/locks, or 0. */
pid_t tg_instance_lock_holder_parse(const char *proc_locks, unsigned int major, unsigned int minor,
			   unsigned long long ino);

/* "pid 123 (tollgate run --config /etc/tollgate.json)" into buf: the
 * holder as the refusal names it. */
void tg_instance_lock_describe(pid_t pid, char *buf, size_t len);

#endif
