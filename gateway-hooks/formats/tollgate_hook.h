/* SPDX-License-Identifier: BSD-2-Clause */
/* The webhook format interface, version 1.
 *
 * A format turns an event (tollgate.anomaly.v1 or tollgate.triage.v1, as
 * JSON text) into the body of one HTTP POST. The built-in formats
 * (generic, alertmanager, slack, openai) implement it, and so does a
 * plugin: a shared object that exports
 *
 *     const struct tollgate_hook *tollgate_hook_v1(void);
 *
 * and is named by a webhook's "plugin" path (format "plugin"). The agent
 * refuses a plugin whose abi_version it does not know. Calls come from the
 * agent's one event-loop thread: a format must not block (no I/O). */
#ifndef TOLLGATE_HOOK_H
#define TOLLGATE_HOOK_H

#include <stddef.h>
#include <stdint.h>

#define TOLLGATE_HOOK_ABI_VERSION 1
#define TOLLGATE_HOOK_SYMBOL "tollgate_hook_v1"

enum tollgate_hook_severity {
	TOLLGATE_SEV_INFO = 0,
	TOLLGATE_SEV_WARNING = 1,
	TOLLGATE_SEV_CRITICAL = 2,
};

struct tollgate_hook_event {
	const char *schema;   /* "tollgate.anomaly.v1" | "tollgate.triage.v1" */
	const char *id;       /* the event id (also the webhook-id header) */
	int severity;         /* enum tollgate_hook_severity */
	const char *json;     /* the event, NUL-terminated */
	size_t json_len;
};

struct tollgate_hook_output {
	char *body;              /* malloc()ed by the format; the agent free()s it */
	size_t body_len;
	char content_type[64];   /* "" means application/json */
};

struct tollgate_hook {
	uint32_t abi_version;    /* TOLLGATE_HOOK_ABI_VERSION */
	const char *name;
	/* Once per webhook. options_json is the webhook's config object
	 * (name, url, min_severity, model, ...; secrets left out). Returns the
	 * webhook's state (may be NULL on success), sets *err to a static
	 * reason and returns NULL with it on failure. */
	void *(*init)(const char *webhook_name, const char *options_json, const char **err);
	/* Returns 0 with *out filled; 1 to skip the event (nothing is sent,
	 * not an error: e.g. a format that ignores triage events); < 0 when
	 * the event cannot be rendered (it goes to the dead-letter file). */
	int (*format)(void *state, const struct tollgate_hook_event *ev,
		      struct tollgate_hook_output *out);
	void (*fini)(void *state);
};

typedef const struct tollgate_hook *(*tollgate_hook_entry_fn)(void);

#endif
