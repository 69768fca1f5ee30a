/* What the built-in formats share (formats.c): strict event parsing, the
 * one-line description of an anomaly, RFC 3339 times. Not part of the
 * plugin ABI: plugins carry their own copies of what they need. */
#ifndef TG_FMT_UTIL_H
#define TG_FMT_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <cjson/cJSON.h>

#include "lib/buf.h"
#include "formats/tollgate_hook.h"
#include "lib/clock.h"

enum tg_fmt_kind { TG_FMT_ANOMALY = 0, TG_FMT_TRIAGE = 1 };


/* The whole of s[0..len) as one JSON value (trailing whitespace allowed,
 * nothing else), or NULL. */
cJSON *tg_fmt_parse_text(const char *s, size_t len);

/* Parses and checks ev->json against the fields the formats rely on (see
 * formats.c). Returns enum tg_fmt_kind with *root (cJSON_Delete it), or
 * -EINVAL for a malformed event. */
int tg_fmt_parse_event(const struct tollgate_hook_event *ev, cJSON **root);

/* obj's member name when it is a string, else NULL. */
const char *tg_fmt_str(const cJSON *obj, const char *name);

/* Clears *out; formats call it first so a failure leaves nothing behind. */
void tg_fmt_out_clear(struct tollgate_hook_output *out);
/* out->body = doc printed compact, as application/json. 0 or -ENOMEM. */
int tg_fmt_out_json(struct tollgate_hook_output *out, const cJSON *doc);

/* "2001:db8:1::/64" for a client object (the prefix only when shorter
 * than the address family's full length), "" when it has no address. */
int tg_fmt_client(const cJSON *client, struct tg_buf *b);

/* One line for an anomaly: "quota_exhausted, client 2001:db8:1::/64, key
 * team-a: 12 times; requests_per_sec 412.5 vs quota 100". */
int tg_fmt_describe(const cJSON *anomaly, struct tg_buf *b);

/* A JSON number as people read it: integers whole, others to 2 decimals
 * (3 significant digits below 0.01). */
void tg_fmt_number(double v, char *buf, size_t len);

/* The longest prefix of s no longer than max bytes that does not split a
 * UTF-8 sequence. */
size_t tg_fmt_utf8_cut(const char *s, size_t len, size_t max);

/* "info" | "warning" | "critical"; NULL out of range. */
const char *tg_fmt_severity_name(int sev);

#endif
