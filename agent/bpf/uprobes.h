/* gateway.tls: attaching the uprobes of kern/tls.bpf.c to the gateway's
 * libssl, for the gateway's processes only, and removing them. */
#ifndef TG_UPROBES_H
#define TG_UPROBES_H

#include <stddef.h>
#include "config/config.h"
#include "bpf/kern.h"

/* The TLS programs load only with gateway.tls: without it none of them is
 * in the kernel. Before load. */
void tg_tls_autoload(struct tg_kern *k, const struct tg_config *cfg);

/* Attaches the uprobes on SSL_read, SSL_read_ex, SSL_write and
 * SSL_write_ex (entry and return) and the sock_recv_length tracepoint, as
 * cfg->tls says; nothing when gateway.tls is null. On failure nothing
 * stays attached and *bad names what failed (the library, the cgroup, a
 * process). Returns 0 or a negative errno. */
int tg_tls_attach(struct tg_kern *k, const struct tg_config *cfg, const char **bad);

/* Destroys the links: the uprobes go whatever `keep` says (see the
 * README: a pinned uprobe would outlive the processes it was meant for,
 * and its cost would stay on every libssl call). NULL-safe. */
void tg_tls_detach(struct tg_kern *k);

/* The libssl a process maps, from /proc/<pid>/maps, as a path through
 * /proc/<pid>/root (so a gateway in a container is found too); -ENOENT
 * when it maps none. */
int tg_tls_libssl_of(int pid, char *out, size_t len);

#endif
