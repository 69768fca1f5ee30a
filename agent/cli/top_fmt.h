/* The table of `tollgate top`: cells, columns and rows from the API's
 * JSON. Pure functions, no I/O (agent/top.c draws them). */
#ifndef TG_TOP_FMT_H
#define TG_TOP_FMT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct cJSON;

enum tg_top_col {
	TG_TOP_ADDR = 0,
	TG_TOP_RPS,
	TG_TOP_BPS,
	TG_TOP_REQS,
	TG_TOP_DENIED,
	TG_TOP_P50,
	TG_TOP_CONNS,
	TG_TOP_ROUTE, /* the client's most requested route */
	TG_TOP_NCOLS,
};

#define TG_TOP_ADDR_MIN 15  /* "255.255.255.255" */
#define TG_TOP_ADDR_MAX 43  /* a full IPv6 address and "/128" */
#define TG_TOP_GAP 2        /* spaces between columns */
#define TG_TOP_LINE_MAX 512 /* a line buffer that holds any layout */

/* Column widths for a terminal width; 0 hides a column. The address and
 * the request rate always show; the others go, least useful first, until
 * the address gets TG_TOP_ADDR_MIN. total: the line's width. */
struct tg_top_layout {
	int width[TG_TOP_NCOLS];
	int total;
};
void tg_top_layout(int term_width, struct tg_top_layout *l);

/* One client as top shows it. Negative figures print as "-". */
struct tg_top_row {
	char addr[TG_TOP_ADDR_MAX + 1];
	double rps, bps, requests;
	double denied;   /* quota.denied, or would_deny in monitor mode; -1: no quota */
	double p50_ms;   /* response latency p50; -1: no responses seen */
	double conns;    /* open connections; -1: not tracked */
	char route[32];  /* the route with the most requests; "" when none */
};

/* A client as every CLI table names it, and as /v1/clients/{client}
 * takes it back: the address for one host (IPv4, an IPv6 /128), the
 * network with its prefix for an IPv6 network (identity.ipv6_prefix):
 * "198.18.0.2", "fd00:198:18::/64". len >= TG_TOP_ADDR_MAX + 1. */
void tg_top_fmt_client(const char *address, int prefix, char *buf, size_t len);

/* One element of /v1/clients' "clients". Returns 0, or -EINVAL when it is
 * not a client object. */
int tg_top_row_from_json(const struct cJSON *client, bool monitor, struct tg_top_row *r);

/* The column titles and a row, as lines of l->total characters (no
 * newline). len >= TG_TOP_LINE_MAX holds any of them. */
void tg_top_header(const struct tg_top_layout *l, bool monitor, char *buf, size_t len);
void tg_top_line(const struct tg_top_layout *l, const struct tg_top_row *r, char *buf, size_t len);

/* The first line, from /healthz's answer (NULL: only the name and the
 * time); *monitor says whether the agent runs in monitor mode. */
void tg_top_title(const struct cJSON *health, const char *clock, char *buf, size_t len,
		  bool *monitor);

/* "0.5/s", "950/s", "1.2k/s", "34k/s", "1.2M/s". */
void tg_top_fmt_rate(double per_sec, char *buf, size_t len);
/* "0 B/s", "512 B/s", "3.4 kB/s", "3.4 MB/s" (powers of 1000). */
void tg_top_fmt_bytes_rate(double per_sec, char *buf, size_t len);
/* "950", "12.3k", "1.2M". */
void tg_top_fmt_count(double v, char *buf, size_t len);
/* "0.6ms", "12ms", "1.3s". */
void tg_top_fmt_ms(double ms, char *buf, size_t len);

/* Quantile q (0..1) in ms of a response latency histogram laid out as the
 * kernel fills it (tg_lat_bucket: bucket 0 below 2^20 ns, bucket i in
 * [2^(i-1), 2^i) * 2^20 ns, the last one open), interpolated linearly
 * inside the bucket; the open bucket gives its lower bound. -1 when empty. */
double tg_top_lat_quantile_ms(const uint64_t *hist, int n, double q);

#endif
