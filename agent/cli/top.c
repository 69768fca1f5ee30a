/* `tollgate top`: /healthz and /v1/clients once a second, drawn full
 * screen with plain ANSI escapes (alternate screen, cursor home, erase).
 * Keys come in through a terminal in non-canonical mode; signals only set
 * flags, the loop restores the terminal on its way out. A blocking client
 * is fine here: this is a command, not the agent's loop. */
#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "lib/buf.h"
#include "cli/api_client.h"
#include "cli/status.h"
#include "cli/top.h"
#include "cli/top_fmt.h"
#include "lib/clock.h"

#define TOP_REFRESH_MS 1000
#define TOP_TIMEOUT_MS 900   /* an answer later than the next refresh is late */
#define TOP_HEAD_LINES 3     /* title, status line, column titles */
#define TOP_PLAIN_ROWS 20    /* clients in a frame for a pipe without -n */
#define TOP_PLAIN_COLS 200   /* wide enough for every column and address */
#define TOP_MAX_ROWS 1000  /* /v1/clients' limit */

#define ESC_ALT_ON "\x1b[?1049h\x1b[?25l\x1b[2J"
#define ESC_ALT_OFF "\x1b[?25h\x1b[?1049l"

static volatile sig_atomic_t quit_sig, resized;
static struct termios saved_tio;
static bool tio_saved, screen_on;

static void on_signal(int sig)
{
	if (sig == SIGWINCH)
		resized = 1;
	else
		quit_sig = sig;
}

static void write_all(const char *p, size_t n)
{
	ssize_t w;

	while (n) {
		w = write(STDOUT_FILENO, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return;
		p += w;
		n -= (size_t)w;
	}
}

/* Also from atexit: whatever way out, the shell gets its terminal back. */
static void term_restore(void)
{
	if (screen_on) {
		write_all(ESC_ALT_OFF, sizeof(ESC_ALT_OFF) - 1);
		screen_on = false;
	}
	if (tio_saved) {
		tcsetattr(STDIN_FILENO, TCSANOW, &saved_tio);
		tio_saved = false;
	}
}

/* Keys one by one without echo; ISIG stays, so Ctrl-C is a SIGINT. */
static void term_setup(void)
{
	struct termios t;
	struct sigaction sa = { .sa_handler = on_signal }; /* no SA_RESTART: poll wakes */

	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	sigaction(SIGWINCH, &sa, NULL);
	atexit(term_restore);
	if (isatty(STDIN_FILENO) && tcgetattr(STDIN_FILENO, &saved_tio) == 0) {
		tio_saved = true;
		t = saved_tio;
		t.c_lflag &= ~(tcflag_t)(ICANON | ECHO);
		t.c_cc[VMIN] = 0;
		t.c_cc[VTIME] = 0;
		tcsetattr(STDIN_FILENO, TCSANOW, &t);
	}
	screen_on = true;
	write_all(ESC_ALT_ON, sizeof(ESC_ALT_ON) - 1);
}

static void term_size(int *rows, int *cols)
{
	struct winsize ws;

	if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_row && ws.ws_col) {
		*rows = ws.ws_row;
		*cols = ws.ws_col;
	}
}

static long now_ms(void)
{
	return (long)(tg_now_mono_ns() / 1000000ull);
}

/* What the agent said for one frame. */
struct snapshot {
	cJSON *health, *clients;  /* NULL when not read */
	char err[768];            /* "" when both were read */
};

static cJSON *fetch(struct tg_api_client *cli, const char *path, struct tg_buf *body,
		    char *err, size_t errlen)
{
	char cerr[CURL_ERROR_SIZE] = "";
	int code = tg_api_client_get(cli, path, body, cerr, sizeof(cerr));
	cJSON *j;

	if (code != 200) {
		tg_api_client_explain(NULL, cli, code, body, cerr, err, errlen);
		return NULL;
	}
	j = cJSON_ParseWithLength(body->data ? body->data : "", body->len);
	if (!j)
		snprintf(err, errlen, "the answer of %s%s is not JSON", cli->listen, path);
	return j;
}

static void snapshot_read(struct tg_api_client *cli, const struct tg_top_opts *o, int limit,
			  struct snapshot *s)
{
	struct tg_buf body;
	char path[160];

	memset(s, 0, sizeof(*s));
	tg_buf_init(&body);
	s->health = fetch(cli, "/healthz", &body, s->err, sizeof(s->err));
	if (s->health) {
		snprintf(path, sizeof(path), "/v1/clients?sort=%s&limit=%d", o->sort, limit);
		s->clients = fetch(cli, path, &body, s->err, sizeof(s->err));
	}
	tg_buf_free(&body);
}

static void snapshot_free(struct snapshot *s)
{
	cJSON_Delete(s->health);
	cJSON_Delete(s->clients);
	s->health = s->clients = NULL;
}

/* A line as the terminal gets it: cut at its width, and nothing in it
 * (an agent's strings included) can be taken for an escape sequence. */
static void put_line(struct tg_buf *f, const char *s, int cols, const char *pre, const char *post,
		     bool pad)
{
	int n = 0;

	tg_buf_printf(f, "%s", pre);
	for (; s[n] && n < cols; n++)
		tg_buf_append(f, (unsigned char)s[n] >= 0x20 && (unsigned char)s[n] < 0x7f ? &s[n] : "?", 1);
	for (; pad && n < cols; n++)
		tg_buf_append(f, " ", 1);
	tg_buf_printf(f, "%s", post);
}

/* One frame into f; live: with escapes, for a screen of rows x cols. */
static void frame(struct tg_buf *f, const struct snapshot *s, const struct tg_top_opts *o,
		  bool live, int rows, int cols)
{
	const cJSON *list = cJSON_GetObjectItemCaseSensitive(s->clients, "clients");
	const cJSON *total = cJSON_GetObjectItemCaseSensitive(s->clients, "total_clients");
	const char *eol = live ? "\x1b[K\n" : "\n";
	struct tg_top_layout l;
	struct tg_top_row r;
	char line[TG_TOP_LINE_MAX], clock[16];
	const cJSON *c;
	bool monitor;
	int shown = 0, max_rows = live ? rows - TOP_HEAD_LINES : TOP_MAX_ROWS;
	time_t t = time(NULL);
	struct tm tm;

	strftime(clock, sizeof(clock), "%H:%M:%S", localtime_r(&t, &tm));
	tg_top_layout(cols, &l);
	tg_buf_reset(f);
	if (live)
		tg_buf_printf(f, "\x1b[H");
	tg_top_title(s->health, clock, line, sizeof(line), &monitor);
	put_line(f, line, cols, live ? "\x1b[1m" : "", live ? "\x1b[0m\x1b[K\n" : "\n", false);
	if (s->err[0])
		snprintf(line, sizeof(line), "retrying: %.480s", s->err);
	else
		snprintf(line, sizeof(line), "%d of %.0f clients by %s%s", cJSON_GetArraySize(list),
			 cJSON_IsNumber(total) ? total->valuedouble : 0, o->sort,
			 live ? "; q quits" : "");
	if (!live && s->err[0])
		line[0] = '\0'; /* a plain frame's error goes to stderr */
	put_line(f, line, cols, "", eol, false);
	tg_top_header(&l, monitor, line, sizeof(line));
	put_line(f, line, cols, live ? "\x1b[7m" : "", live ? "\x1b[0m\n" : "\n", live);
	cJSON_ArrayForEach(c, list) {
		if (shown >= max_rows || tg_top_row_from_json(c, monitor, &r))
			continue;
		tg_top_line(&l, &r, line, sizeof(line));
		shown++;
		/* the bottom line has no newline: it would scroll the screen */
		put_line(f, line, cols, "", live ? (shown < max_rows ? "\x1b[K\n" : "\x1b[K") : "\n",
			 false);
	}
	if (live)
		tg_buf_printf(f, "\x1b[J");
}

static int top_once(struct tg_api_client *cli, const struct tg_top_opts *o)
{
	struct snapshot s;
	struct tg_buf f;
	int rows = 0, cols = TOP_PLAIN_COLS, rc;
	const char *env = getenv("COLUMNS");

	if (isatty(STDOUT_FILENO))
		term_size(&rows, &cols);
	else if (env && atoi(env) > 0)
		cols = atoi(env);
	snapshot_read(cli, o, o->rows ? o->rows : TOP_PLAIN_ROWS, &s);
	rc = s.err[0] ? 1 : 0;
	if (rc) {
		fprintf(stderr, "tollgate top: %s\n", s.err);
	} else {
		tg_buf_init(&f);
		frame(&f, &s, o, false, rows, cols);
		fwrite(f.data, 1, f.len, stdout);
		tg_buf_free(&f);
	}
	snapshot_free(&s);
	return rc;
}

/* Waits until deadline (monotonic ms) for a key; true when it says quit. */
static bool wait_keys(long deadline)
{
	struct pollfd p = { .fd = STDIN_FILENO, .events = POLLIN };
	long left;
	char k[32];
	ssize_t n;

	while (!quit_sig && !resized && (left = deadline - now_ms()) > 0) {
		if (poll(&p, tio_saved ? 1 : 0, (int)left) <= 0)
			continue; /* timeout, or a signal: the loop condition decides */
		if (p.revents & (POLLHUP | POLLERR | POLLNVAL)) /* the terminal went away */
			return true;
		n = read(STDIN_FILENO, k, sizeof(k));
		for (ssize_t i = 0; i < n; i++)
			if (k[i] == 'q' || k[i] == 'Q' || k[i] == 3)
				return true;
	}
	return quit_sig != 0;
}

static int top_live(struct tg_api_client *cli, const struct tg_top_opts *o)
{
	struct snapshot s;
	struct tg_buf f;
	int rows = 24, cols = 80, limit;
	bool quit = false;

	tg_buf_init(&f);
	term_setup();
	while (!quit && !quit_sig) {
		long next = now_ms() + TOP_REFRESH_MS;

		if (resized) {
			resized = 0;
			write_all("\x1b[2J", 4);
		}
		term_size(&rows, &cols);
		limit = rows - TOP_HEAD_LINES;
		if (limit < 1)
			limit = 1;
		if (o->rows && o->rows < limit)
			limit = o->rows;
		snapshot_read(cli, o, limit, &s);
		frame(&f, &s, o, true, rows, cols);
		snapshot_free(&s);
		if (!f.oom)
			write_all(f.data, f.len);
		quit = wait_keys(next);
	}
	term_restore();
	tg_buf_free(&f);
	return 0;
}

int tg_top_main(const struct tg_top_opts *o)
{
	struct tg_api_client *cli = &o->target->cli;
	int rc;

	curl_global_init(CURL_GLOBAL_DEFAULT);
	if (o->once || !isatty(STDOUT_FILENO)) {
		cli->timeout_ms = 5000;
		rc = top_once(cli, o);
	} else {
		cli->timeout_ms = TOP_TIMEOUT_MS;
		rc = top_live(cli, o);
	}
	tg_api_client_free(cli);
	curl_global_cleanup();
	return rc;
}
