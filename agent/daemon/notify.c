/* sd_notify(3) wrappers. A failed notification is logged, never fatal: the
 * agent works without a service manager, and systemd reports a missing
 * READY=1 itself (the start times out). */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <systemd/sd-daemon.h>
#include "lib/log.h"
#include "daemon/notify.h"
#include "lib/clock.h"

static void send_state(const char *state)
{
	int err;

	if (!getenv("NOTIFY_SOCKET"))
		return;
	/* unset_environment 0: later notifications need the variable too. */
	err = sd_notify(0, state);
	if (err < 0)
		pr_warn("service manager notification failed", "err=\"%s\"", strerror(-err));
}

void tg_notify_ready(void)
{
	send_state("READY=1");
}

void tg_notify_reloading(void)
{
	char msg[64];

	/* systemd 253+ (Type=notify-reload) wants the reload's start time;
	 * older versions ignore the field. */
	snprintf(msg, sizeof(msg), "RELOADING=1\nMONOTONIC_USEC=%llu",
		 (unsigned long long)(tg_now_mono_ns() / 1000));
	send_state(msg);
}

void tg_notify_stopping(void)
{
	send_state("STOPPING=1");
}

void tg_notify_status(const char *fmt, ...)
{
	char msg[256];
	va_list ap;
	int n;

	if (!getenv("NOTIFY_SOCKET"))
		return;
	memcpy(msg, "STATUS=", 7);
	va_start(ap, fmt);
	n = vsnprintf(msg + 7, sizeof(msg) - 7, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	/* One assignment per line: a newline would start another one. */
	for (char *p = msg + 7; *p; p++)
		if (*p == '\n')
			*p = ' ';
	send_state(msg);
}
