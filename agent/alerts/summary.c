#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>
#include "telemetry/rates.h"
#include "alerts/summary.h"
#include "lib/clock.h"
#include "lib/addr.h"

#define DEFAULT_WINDOW_MS 10000
#define DEFAULT_MAX_ENTRIES 1024
#define SUMMARY_LINE_MAX 1024
#define SUMMARY_LINE_ITEMS 5 /* anomalies spelled out in the summary line */

struct entry {
	struct tg_anomaly a; /* the latest figures, the highest severity */
	uint64_t count, first_ns, last_ns;
	uint64_t sent_count; /* count when it went out at once; 0 = not sent */
	uint64_t order;      /* arrival, for a stable order */
	int next;            /* hash chain, -1 ends it */
};

struct tg_summary {
	uint64_t window_ns, start_ns;
	size_t max;
	struct entry *e;
	size_t n, alloc;
	int *head; /* chains by identity hash */
	size_t nhead;
	uint64_t dropped; /* in this window */
	uint64_t order;
	struct tg_summary_stats st;
};

static uint64_t ms_to_ns(uint32_t ms)
{
	return (uint64_t)(ms ? ms : DEFAULT_WINDOW_MS) * 1000000ull;
}

struct tg_summary *tg_summary_new(uint32_t window_ms, size_t max_entries, uint64_t now_wall_ns)
{
	struct tg_summary *s = calloc(1, sizeof(*s));

	if (!s)
		return NULL;
	s->window_ns = ms_to_ns(window_ms);
	s->start_ns = now_wall_ns;
	s->max = max_entries ? max_entries : DEFAULT_MAX_ENTRIES;
	if (s->max > INT32_MAX / 2)
		s->max = INT32_MAX / 2;
	return s;
}

void tg_summary_set_window(struct tg_summary *s, uint32_t window_ms)
{
	if (s)
		s->window_ns = ms_to_ns(window_ms);
}

void tg_summary_free(struct tg_summary *s)
{
	if (!s)
		return;
	free(s->e);
	free(s->head);
	free(s);
}

uint64_t tg_summary_window_end(const struct tg_summary *s)
{
	return s ? s->start_ns + s->window_ns : 0;
}

void tg_summary_stats(const struct tg_summary *s, struct tg_summary_stats *st)
{
	memset(st, 0, sizeof(*st));
	if (!s)
		return;
	*st = s->st;
	st->entries = s->n;
}

/* ---- identity index ---------------------------------------------------- */

static size_t ident_hash(const struct tg_anomaly *a)
{
	uint64_t h = 0xcbf29ce484222325ull;
	const unsigned char *p;

#define FNV(byte) (h = (h ^ (unsigned char)(byte)) * 0x100000001b3ull)
	FNV(a->type);
	FNV(a->has_addr);
	p = (const unsigned char *)&a->addr;
	for (size_t i = 0; a->has_addr && i < sizeof(a->addr); i++)
		FNV(p[i]);
	for (size_t i = 0; i < sizeof(a->key) && a->key[i]; i++)
		FNV(a->key[i]);
	for (size_t i = 0; i < sizeof(a->model) && a->model[i]; i++)
		FNV(a->model[i]);
#undef FNV
	return (size_t)(h ^ (h >> 32));
}

static void link_entry(struct tg_summary *s, size_t i)
{
	size_t b = ident_hash(&s->e[i].a) & (s->nhead - 1);

	s->e[i].next = s->head[b];
	s->head[b] = (int)i;
}

static void unlink_entry(struct tg_summary *s, size_t i)
{
	int *p = &s->head[ident_hash(&s->e[i].a) & (s->nhead - 1)];

	while (*p >= 0 && (size_t)*p != i)
		p = &s->e[*p].next;
	if (*p >= 0)
		*p = s->e[i].next;
}

/* Chains stay about one entry long: the head array grows with the
 * entries. */
static int ensure_room(struct tg_summary *s)
{
	if (s->n == s->alloc) {
		size_t alloc = s->alloc ? s->alloc * 2 : 16;
		struct entry *e;

		if (alloc > s->max)
			alloc = s->max;
		e = realloc(s->e, alloc * sizeof(*e));
		if (!e)
			return -ENOMEM;
		s->e = e;
		s->alloc = alloc;
	}
	if (s->n + 1 > s->nhead) {
		size_t nhead = s->nhead ? s->nhead * 2 : 32;
		int *head = malloc(nhead * sizeof(*head));

		if (!head)
			return -ENOMEM;
		free(s->head);
		s->head = head;
		s->nhead = nhead;
		for (size_t b = 0; b < nhead; b++)
			head[b] = -1;
		for (size_t i = 0; i < s->n; i++)
			link_entry(s, i);
	}
	return 0;
}

static struct entry *find(const struct tg_summary *s, const struct tg_anomaly *a)
{
	if (!s->nhead)
		return NULL;
	for (int i = s->head[ident_hash(a) & (s->nhead - 1)]; i >= 0; i = s->e[i].next)
		if (tg_anomaly_same(&s->e[i].a, a))
			return &s->e[i];
	return NULL;
}

/* The entry the bound gives up first: lowest severity, then fewest
 * repeats, then the one quiet longest. */
static size_t victim(const struct tg_summary *s)
{
	size_t v = 0;

	for (size_t i = 1; i < s->n; i++) {
		const struct entry *a = &s->e[i], *b = &s->e[v];

		if (a->a.severity != b->a.severity ? a->a.severity < b->a.severity
		    : a->count != b->count ? a->count < b->count : a->last_ns < b->last_ns)
			v = i;
	}
	return v;
}

bool tg_summary_add(struct tg_summary *s, const struct tg_anomaly *a)
{
	struct entry *e;
	uint64_t ts;

	if (!s || !a || !tg_anomaly_type_name(a->type) || !tg_severity_name(a->severity))
		return false;
	s->st.anomalies++;
	ts = a->ts_ns ? a->ts_ns : s->start_ns;
	e = find(s, a);
	if (e) {
		int sev = a->severity > e->a.severity ? a->severity : e->a.severity;

		s->st.deduplicated++;
		e->a = *a;
		e->a.severity = sev;
		e->count++;
		if (ts > e->last_ns)
			e->last_ns = ts;
		if (ts < e->first_ns)
			e->first_ns = ts;
	} else {
		size_t i;

		if (s->n >= s->max) {
			i = victim(s);
			s->dropped++;
			s->st.dropped++;
			if (a->severity <= s->e[i].a.severity)
				return false;
			unlink_entry(s, i);
		} else {
			if (ensure_room(s) < 0) {
				s->dropped++;
				s->st.dropped++;
				return false;
			}
			i = s->n++;
		}
		e = &s->e[i];
		memset(e, 0, sizeof(*e));
		e->a = *a;
		e->count = 1;
		e->first_ns = e->last_ns = ts;
		e->order = s->order++;
		link_entry(s, i);
	}
	return e->a.severity == TG_SEV_CRITICAL && !e->sent_count;
}

/* ---- rendering --------------------------------------------------------- */

/* A figure for people: 412, 12.5, 0.02. */
static void fmt_num(double v, char *buf, size_t len)
{
	if (fabs(v) < 1e15 && (fabs(v) >= 100 || v == floor(v)))
		snprintf(buf, len, "%.0f", v);
	else
		snprintf(buf, len, "%.3g", v);
}

static void fmt_client(const struct tg_anomaly *a, char *buf, size_t len)
{
	char addr[64];

	tg_addr_format(&a->addr, addr, sizeof(addr));
	if (tg_addr_is_v4(&a->addr))
		snprintf(buf, len, "%s", addr);
	else
		snprintf(buf, len, "%s/%u", addr, a->prefix);
}

struct line {
	char buf[SUMMARY_LINE_MAX];
	size_t len;
};

__attribute__((format(printf, 2, 3)))
static void line_add(struct line *l, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (l->len >= sizeof(l->buf) - 1)
		return;
	va_start(ap, fmt);
	n = vsnprintf(l->buf + l->len, sizeof(l->buf) - l->len, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	l->len += (size_t)n;
	if (l->len >= sizeof(l->buf))
		l->len = sizeof(l->buf) - 1;
}

static bool value(const struct tg_an_value *v, int n, const char *name, char *buf, size_t len)
{
	for (int i = 0; i < n && i < TG_AN_MAX_VALUES; i++)
		if (strcmp(v[i].name, name) == 0) {
			fmt_num(v[i].v, buf, len);
			return true;
		}
	return false;
}

/* The headline figure of an anomaly, by type. */
static void line_figure(struct line *l, const struct tg_anomaly *a)
{
	const struct tg_an_value *o = a->observed, *r = a->reference;
	int no = a->n_observed, nr = a->n_reference;
	char x[48], y[48];

	switch (a->type) {
	case TG_AN_RATE_SPIKE:
	case TG_AN_GLOBAL_RATE_SPIKE:
		if (a->model[0])
			line_add(l, " on model %.*s", (int)strnlen(a->model, sizeof(a->model)), a->model);
		if (value(o, no, "requests_per_sec", x, sizeof(x)) &&
		    value(r, nr, "mean_requests_per_sec", y, sizeof(y)))
			line_add(l, " %s req/s (baseline %s)", x, y);
		break;
	case TG_AN_PAYLOAD_OUTLIER:
		if (value(o, no, "mean_request_bytes", x, sizeof(x)) &&
		    value(r, nr, "mean_request_bytes", y, sizeof(y)))
			line_add(l, " %s B per request (baseline %s)", x, y);
		break;
	case TG_AN_QUOTA_NEAR:
		if (value(o, no, "percent_of_quota", x, sizeof(x)))
			line_add(l, " at %s%% of quota", x);
		break;
	case TG_AN_NEW_CLIENT_SURGE:
		if (value(o, no, "new_clients", x, sizeof(x)) &&
		    value(r, nr, "mean_new_clients", y, sizeof(y)))
			line_add(l, " %s new clients (baseline %s)", x, y);
		break;
	case TG_AN_CONNECTION_CHURN:
		if (value(o, no, "syns_per_sec", x, sizeof(x)) &&
		    value(o, no, "requests_per_syn", y, sizeof(y)))
			line_add(l, " %s SYN/s, %s requests per SYN", x, y);
		break;
	case TG_AN_ERROR_SURGE:
		if (value(o, no, "errors_per_sec", x, sizeof(x)))
			line_add(l, " %s errors/s", x);
		break;
	case TG_AN_KEY_SHARED:
		if (value(o, no, "addresses", x, sizeof(x)))
			line_add(l, " from %s addresses", x);
		break;
	case TG_AN_KEY_ROTATION:
		if (value(o, no, "keys", x, sizeof(x)))
			line_add(l, " with %s keys", x);
		break;
	case TG_AN_ROUTE_SCAN:
		if (value(o, no, "distinct_paths", x, sizeof(x)))
			line_add(l, " %s distinct unmatched paths", x);
		break;
	default:
		break;
	}
}

static void summary_line(struct line *l, const struct tg_summary_ctx *ctx,
			 const struct entry *const *list, size_t n, uint64_t span_ns,
			 uint64_t dropped)
{
	const char *host = ctx && ctx->host && *ctx->host ? ctx->host
			   : ctx && ctx->instance ? ctx->instance : "";
	char span[48];

	fmt_num((double)span_ns / 1e9, span, sizeof(span));
	line_add(l, "%zu %s on %s:", n, n == 1 ? "anomaly" : "anomalies", host);
	for (size_t i = 0; i < n && i < SUMMARY_LINE_ITEMS; i++) {
		const struct entry *e = list[i];
		char client[96];

		line_add(l, "%s %s", i ? ";" : "", tg_anomaly_type_name(e->a.type));
		if (e->a.has_addr) {
			fmt_client(&e->a, client, sizeof(client));
			line_add(l, " %s", client);
		}
		if (e->a.key[0])
			line_add(l, e->a.has_addr ? " (key %.*s)" : " %.*s", (int)sizeof(e->a.key),
				 e->a.key);
		line_figure(l, &e->a);
		if (e->count > 1)
			line_add(l, " %llu times in %s s", (unsigned long long)e->count, span);
	}
	if (n > SUMMARY_LINE_ITEMS)
		line_add(l, "; and %zu more", n - SUMMARY_LINE_ITEMS);
	if (dropped)
		line_add(l, "; %llu more dropped (too many distinct anomalies)",
			 (unsigned long long)dropped);
}

/* cJSON reports allocation failures by NULL returns; one flag gathers them. */
struct jb {
	bool oom;
};

static cJSON *jb_check(struct jb *b, cJSON *it)
{
	if (!it)
		b->oom = true;
	return it;
}

static void jb_str(struct jb *b, cJSON *o, const char *k, const char *v)
{
	jb_check(b, cJSON_AddStringToObject(o, k, v ? v : ""));
}

static void jb_num(struct jb *b, cJSON *o, const char *k, double v)
{
	jb_check(b, cJSON_AddNumberToObject(o, k, isfinite(v) ? v : 0));
}

static void jb_time(struct jb *b, cJSON *o, const char *k, uint64_t ns)
{
	char t[40];

	tg_format_time(ns, t, sizeof(t));
	jb_str(b, o, k, t);
}

static void jb_values(struct jb *b, cJSON *o, const char *k, const struct tg_an_value *v, int n)
{
	cJSON *obj = jb_check(b, cJSON_AddObjectToObject(o, k));

	for (int i = 0; obj && i < n && i < TG_AN_MAX_VALUES; i++)
		jb_num(b, obj, v[i].name, v[i].v);
}

static void jb_anomaly(struct jb *b, cJSON *arr, const struct entry *e)
{
	cJSON *o = jb_check(b, cJSON_CreateObject()), *c;
	char addr[64];

	if (!o)
		return;
	cJSON_AddItemToArray(arr, o);
	jb_str(b, o, "type", tg_anomaly_type_name(e->a.type));
	jb_str(b, o, "severity", tg_severity_name(e->a.severity));
	c = jb_check(b, cJSON_AddObjectToObject(o, "client"));
	if (c && e->a.has_addr) {
		tg_addr_format(&e->a.addr, addr, sizeof(addr));
		jb_str(b, c, "address", addr);
		jb_num(b, c, "prefix", e->a.prefix);
	} else if (c) {
		jb_check(b, cJSON_AddNullToObject(c, "address"));
		jb_check(b, cJSON_AddNullToObject(c, "prefix"));
	}
	if (c && e->a.key[0]) {
		char key[TG_AN_KEY_LEN + 1];

		snprintf(key, sizeof(key), "%.*s", (int)sizeof(e->a.key), e->a.key);
		jb_str(b, c, "key", key);
	} else if (c) {
		jb_check(b, cJSON_AddNullToObject(c, "key"));
	}
	if (e->a.model[0]) {
		char model[TG_AN_MODEL_LEN + 1];

		snprintf(model, sizeof(model), "%.*s", (int)sizeof(e->a.model), e->a.model);
		jb_str(b, o, "model", model);
	}
	jb_values(b, o, "observed", e->a.observed, e->a.n_observed);
	jb_values(b, o, e->a.is_quota ? "quota" : "baseline", e->a.reference, e->a.n_reference);
	jb_num(b, o, "count", (double)e->count);
	jb_time(b, o, "first_seen", e->first_ns);
	jb_time(b, o, "last_seen", e->last_ns);
}

static void jb_top(struct jb *b, cJSON *root, const struct tg_summary_ctx *ctx)
{
	cJSON *arr = jb_check(b, cJSON_AddArrayToObject(root, "top_clients"));

	for (size_t i = 0; arr && ctx && ctx->top && i < ctx->n_top; i++) {
		const struct tg_top_client *t = &ctx->top[i];
		cJSON *o = jb_check(b, cJSON_CreateObject());
		char addr[64];

		if (!o)
			return;
		cJSON_AddItemToArray(arr, o);
		tg_addr_format(&t->addr, addr, sizeof(addr));
		jb_str(b, o, "address", addr);
		if (t->key[0]) {
			char key[TG_AN_KEY_LEN + 1];

			snprintf(key, sizeof(key), "%.*s", (int)sizeof(t->key), t->key);
			jb_str(b, o, "key", key);
		} else {
			jb_check(b, cJSON_AddNullToObject(o, "key"));
		}
		jb_num(b, o, "requests_per_sec", t->requests_per_sec);
		jb_num(b, o, "bytes_per_sec", t->bytes_per_sec);
		jb_num(b, o, "denied", (double)t->denied);
	}
}

/* Severity first, then the order they came in. */
static int entry_cmp(const void *pa, const void *pb)
{
	const struct entry *a = *(const struct entry *const *)pa;
	const struct entry *b = *(const struct entry *const *)pb;

	if (a->a.severity != b->a.severity)
		return a->a.severity > b->a.severity ? -1 : 1;
	if (a->first_ns != b->first_ns)
		return a->first_ns < b->first_ns ? -1 : 1;
	return a->order < b->order ? -1 : a->order > b->order;
}

static int render(const struct tg_summary_ctx *ctx, uint64_t start, uint64_t end,
		  const struct entry **list, size_t n, uint64_t dropped, struct tg_event_out *out)
{
	struct jb b = { false };
	cJSON *root, *w, *arr, *tot;
	struct line *l;
	int sev = TG_SEV_INFO;

	qsort(list, n, sizeof(*list), entry_cmp);
	for (size_t i = 0; i < n; i++)
		if (list[i]->a.severity > sev)
			sev = list[i]->a.severity;
	l = calloc(1, sizeof(*l));
	root = cJSON_CreateObject();
	if (!l || !root) {
		free(l);
		cJSON_Delete(root);
		return -ENOMEM;
	}
	summary_line(l, ctx, list, n, end - start, dropped);
	tg_event_id_new(out->id);
	out->severity = sev;
	jb_str(&b, root, "schema", "tollgate.anomaly.v1");
	jb_str(&b, root, "id", out->id);
	jb_str(&b, root, "instance", ctx ? ctx->instance : "");
	jb_str(&b, root, "host", ctx ? ctx->host : "");
	jb_str(&b, root, "agent_version", ctx ? ctx->agent_version : "");
	if ((w = jb_check(&b, cJSON_AddObjectToObject(root, "window")))) {
		jb_time(&b, w, "start", start);
		jb_time(&b, w, "end", end);
	}
	jb_str(&b, root, "severity", tg_severity_name(sev));
	jb_str(&b, root, "summary", l->buf);
	arr = jb_check(&b, cJSON_AddArrayToObject(root, "anomalies"));
	for (size_t i = 0; arr && i < n; i++)
		jb_anomaly(&b, arr, list[i]);
	jb_top(&b, root, ctx);
	if ((tot = jb_check(&b, cJSON_AddObjectToObject(root, "totals")))) {
		jb_num(&b, tot, "requests", ctx ? (double)ctx->requests : 0);
		jb_num(&b, tot, "bytes", ctx ? (double)ctx->bytes : 0);
		jb_num(&b, tot, "denied", ctx ? (double)ctx->denied : 0);
		jb_num(&b, tot, "clients", ctx ? (double)ctx->clients : 0);
	}
	free(l);
	out->json = b.oom ? NULL : cJSON_PrintUnformatted(root);
	cJSON_Delete(root);
	if (!out->json)
		return -ENOMEM;
	out->len = strlen(out->json);
	return 0;
}

int tg_summary_urgent(struct tg_summary *s, const struct tg_summary_ctx *ctx,
		      uint64_t now_wall_ns, struct tg_event_out *out)
{
	const struct entry **list;
	size_t n = 0;
	int rc;

	if (!s || !out)
		return -EINVAL;
	memset(out, 0, sizeof(*out));
	list = malloc((s->n ? s->n : 1) * sizeof(*list));
	if (!list)
		return -ENOMEM;
	for (size_t i = 0; i < s->n; i++)
		if (s->e[i].a.severity == TG_SEV_CRITICAL && !s->e[i].sent_count)
			list[n++] = &s->e[i];
	if (!n) {
		free(list);
		return -ENOENT;
	}
	rc = render(ctx, s->start_ns, now_wall_ns > s->start_ns ? now_wall_ns : s->start_ns,
		    list, n, 0, out);
	if (rc == 0) {
		for (size_t i = 0; i < n; i++)
			((struct entry *)list[i])->sent_count = list[i]->count;
		s->st.events++;
	}
	free(list);
	return rc;
}

int tg_summary_close(struct tg_summary *s, const struct tg_summary_ctx *ctx,
		     uint64_t now_wall_ns, struct tg_event_out *out)
{
	const struct entry **list;
	uint64_t end;
	size_t n = 0;
	int rc = -ENOENT;

	if (!s || !out)
		return -EINVAL;
	memset(out, 0, sizeof(*out));
	end = now_wall_ns > s->start_ns ? now_wall_ns : s->start_ns;
	list = malloc((s->n ? s->n : 1) * sizeof(*list));
	if (!list)
		return -ENOMEM;
	for (size_t i = 0; i < s->n; i++)
		if (!s->e[i].sent_count || s->e[i].count > s->e[i].sent_count)
			list[n++] = &s->e[i];
	if (n)
		rc = render(ctx, s->start_ns, end, list, n, s->dropped, out);
	free(list);
	/* Out of memory keeps the window, so a later close can try again. */
	if (rc == -ENOMEM)
		return rc;
	if (rc == 0)
		s->st.events++;
	s->n = 0;
	for (size_t b = 0; b < s->nhead; b++)
		s->head[b] = -1;
	s->dropped = 0;
	s->start_ns = end;
	return rc;
}

void tg_event_id_new(char id[TG_EVENT_ID_LEN])
{
	static const char hex[] = "0123456789abcdef";
	static uint64_t counter;
	unsigned char r[16];
	size_t got = 0;

	while (got < sizeof(r)) {
		ssize_t n = getrandom(r + got, sizeof(r) - got, 0);

		if (n > 0)
			got += (size_t)n;
		else if (n < 0 && errno != EINTR)
			break;
	}
	if (got < sizeof(r)) {
		/* No getrandom (an old kernel or a seccomp filter): still
		 * unique per process run, which is what an id needs. */
		uint64_t a = tg_now_wall_ns(), b;

		b = ((uint64_t)getpid() << 32) ^ ++counter ^ (uint64_t)(uintptr_t)&counter;
		memcpy(r, &a, 8);
		memcpy(r + 8, &b, 8);
	}
	memcpy(id, "evt_", 4);
	for (size_t i = 0; i < sizeof(r); i++) {
		id[4 + 2 * i] = hex[r[i] >> 4];
		id[5 + 2 * i] = hex[r[i] & 15];
	}
	id[4 + 2 * sizeof(r)] = '\0';
}
