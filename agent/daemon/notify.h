/* Readiness and state notifications to the service manager (systemd's
 * Type=notify). Each call is a no-op when NOTIFY_SOCKET is unset, so the
 * agent behaves the same in a shell, a container or a test. */
#ifndef TG_NOTIFY_H
#define TG_NOTIFY_H

/* The API listens and the programs are attached: systemd starts units
 * ordered after tollgate only now, not when the process is forked. */
void tg_notify_ready(void);

/* A reload begins; tg_notify_ready() ends it, whatever its outcome. */
void tg_notify_reloading(void);

/* Shutdown begins: detaching may take a moment, and systemd should not
 * mistake it for a hang. */
void tg_notify_stopping(void);

/* A one-line status for `systemctl status`; newlines become spaces. */
void tg_notify_status(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
