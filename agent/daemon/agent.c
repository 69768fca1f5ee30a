/* `tollgate run`: load, attach, then a libuv loop of signals, a scan timer
 * and the local API. Nothing here blocks the loop for long: the scan is a
 * few batch syscalls, the API answers from the last snapshot. */
#include <errno.h>
#include <signal.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "daemon/agent.h"
#include "lib/caps.h"
#include "daemon/notify.h"
#include "daemon/privs.h"
#include "telemetry/events.h"
#include "lib/log.h"
#include "api/routes.h"
#include "fleet/fleet.h"
#include "lib/clock.h"
#include "lib/addr.h"
#include "bpf/loader.h"
#include "bpf/uprobes.h"
#include "bpf/mapmem.h"

static void log_top(struct tg_agent *a)
{
	struct tg_collector *c = &a->col;
	uint64_t now = tg_now_mono_ns();
	size_t idx[3], n = c->n_cur < 3 ? c->n_cur : 3;
	size_t *all;

	if (now - a->last_top_log_ns < (uint64_t)TG_TOP_LOG_INTERVAL_MS * 1000000ull)
		return;
	if (c->totals.requests == a->last_top_requests)
		return; /* nothing new: stay quiet */
	a->last_top_log_ns = now;
	a->last_top_requests = c->totals.requests;
	all = malloc((c->n_cur ? c->n_cur : 1) * sizeof(*all));
	if (!all)
		return;
	tg_sort_clients(c->cur, c->n_cur, TG_SORT_RPS, all);
	memcpy(idx, all, n * sizeof(*idx));
	free(all);
	for (size_t i = 0; i < n; i++) {
		const struct tg_client_view *v = &c->cur[idx[i]];
		char addr[64];

		tg_addr_format(&v->addr, addr, sizeof(addr));
		pr_info("top", "rank=%zu client=%s requests=%" PRIu64 " bytes=%" PRIu64
			" requests_per_sec=%.1f bytes_per_sec=%.0f", i + 1, addr,
			v->requests, v->bytes, v->requests_per_sec, v->bytes_per_sec);
	}
}

static void on_scan(uv_timer_t *t)
{
	struct tg_agent *a = t->data;
	int err = tg_collector_scan(&a->col);

	if (err)
		pr_warn("scan failed", "err=\"%s\"", strerror(-err));
	else
		pr_debug("scan", "clients=%" PRIu64 " active=%" PRIu64 " ms=%.2f read_ms=%.2f "
			 "slice_ms=%.2f backlog=%d", a->col.totals.clients, a->col.st.active,
			 a->col.scan_ms, a->col.st.read_ms, a->col.st.slice_ms, a->col.st.backlog);
	log_top(a);
	if (!err)
		tg_alerts_scan(&a->alerts);
}

static void on_denial(void *arg, const struct tg_event *e)
{
	tg_alerts_denial(arg, e);
}

/* The one reload: SIGHUP, a change to the file and POST /v1/reload run
 * it, and r says how it went (logged here either way). */
static void reload(struct tg_agent *a, struct tg_reload_result *r)
{
	static struct tg_config next; /* ~300 KB: not on the stack */
	char why[256];
	const char *bad = NULL;
	bool scan_changed;
	int err;

	memset(r, 0, sizeof(*r));
	r->file = a->config_path;
	r->generation = a->generation;
	if (!a->config_path) {
		pr_info("reload: running on the embedded default config, nothing to reload", NULL);
		r->err = -ENOENT;
		return;
	}
	err = tg_config_load(a->config_path, &next, &r->errs);
	if (err) {
		for (int i = 0; i < r->errs.n; i++)
			pr_err("reload rejected, old config kept", "file=%s path=%s reason=\"%s\"",
			       a->config_path, r->errs.e[i].path, r->errs.e[i].reason);
		r->err = -EINVAL;
		return;
	}
	tg_config_restart_keys(&a->cfg, &next, r->restart_keys, sizeof(r->restart_keys));
	if (r->restart_keys[0]) {
		pr_warn("reload: these keys take effect after a restart, old values kept",
			"keys=\"%s\"", r->restart_keys);
		snprintf(next.instance, sizeof(next.instance), "%s", a->cfg.instance);
		next.max_clients = a->cfg.max_clients;
		snprintf(next.api_listen, sizeof(next.api_listen), "%s", a->cfg.api_listen);
		memcpy(next.api_check_listen, a->cfg.api_check_listen, sizeof(next.api_check_listen));
		memcpy(next.api_check_group, a->cfg.api_check_group, sizeof(next.api_check_group));
		next.api_check_gid = a->cfg.api_check_gid;
		memcpy(next.api_token_env, a->cfg.api_token_env, sizeof(next.api_token_env));
		memcpy(next.api_token, a->cfg.api_token, sizeof(next.api_token));
		snprintf(next.state_dir, sizeof(next.state_dir), "%s", a->cfg.state_dir);
		memcpy(next.user, a->cfg.user, sizeof(next.user));
		next.user_uid = a->cfg.user_uid;
		next.user_gid = a->cfg.user_gid;
		next.cluster = a->cfg.cluster;
		next.tls = a->cfg.tls;
	}
	err = tg_kern_attach(&a->kern, &next, &bad);
	if (err) {
		snprintf(r->why, sizeof(r->why), "reload rejected, old config kept: interface %s: %s",
			 bad ? bad : "?", err == -ENODEV ? "interface not found" : strerror(-err));
		pr_err("reload rejected, old config kept", "interface=%s err=\"%s\"",
		       bad ? bad : "?", err == -ENODEV ? "interface not found" : strerror(-err));
		r->err = err;
		return;
	}
	err = tg_kern_attach_cgroup(&a->kern, &next, &bad);
	if (err) {
		snprintf(r->why, sizeof(r->why), "reload rejected, old config kept: cgroup %s: %s",
			 bad ? bad : "?", strerror(-err));
		pr_err("reload rejected, old config kept", "cgroup=%s err=\"%s\"",
		       bad ? bad : "?", strerror(-err));
		r->err = err;
		return;
	}
	err = tg_kern_apply(&a->kern, &next, a->generation + 1);
	if (err) {
		snprintf(r->why, sizeof(r->why), "reload: writing settings failed: %s",
			 strerror(-err));
		pr_err("reload: writing settings failed", "err=\"%s\"", strerror(-err));
		r->err = err;
		return;
	}
	scan_changed = next.anomaly.scan_interval_ms != a->cfg.anomaly.scan_interval_ms;
	a->cfg = next;
	a->generation++;
	r->generation = a->generation;
	tg_log_setup(a->cfg.log_level, a->cfg.log_format);
	tg_collector_set_interval(&a->col, a->cfg.anomaly.scan_interval_ms);
	if (scan_changed)
		uv_timer_start(&a->scan_timer, on_scan, a->cfg.anomaly.scan_interval_ms,
			       a->cfg.anomaly.scan_interval_ms);
	tg_routes_check_reindex(&a->api_ctx);
	tg_fleet_reload(a->fleet, &a->cfg);
	tg_reqlog_reopen(&a->reqlog, &a->cfg.reqlog);
	if (tg_alerts_reload(&a->alerts, why, sizeof(why)))
		pr_err("reload: webhooks not all started", "err=\"%s\"", why);
	pr_info("reloaded", "generation=%u", a->generation);
}

/* SIGHUP, a file change, POST /v1/reload: systemd hears of each. */
static void reload_notified(void *arg, struct tg_reload_result *r)
{
	tg_notify_reloading();
	reload(arg, r);
	tg_notify_ready();
}

/* A change to the config file reloads it like SIGHUP. Editors replace the
 * file rather than write it, so the directory is watched, and a burst of
 * events settles for 200 ms before the reload. */
static void on_config_settled(uv_timer_t *t)
{
	static struct tg_reload_result r;
	struct tg_agent *a = t->data;

	pr_info("config file changed", "file=%s", a->config_path);
	reload_notified(a, &r);
}

static void on_config_event(uv_fs_event_t *h, const char *name, int events, int status)
{
	struct tg_agent *a = h->data;

	if (status < 0 || !name || strcmp(name, a->config_base))
		return;
	uv_timer_start(&a->config_timer, on_config_settled, 200, 0);
}

static void watch_config(struct tg_agent *a)
{
	char dir[4096];
	const char *slash = strrchr(a->config_path, '/');
	int err;

	snprintf(a->config_base, sizeof(a->config_base), "%s", slash ? slash + 1 : a->config_path);
	if (slash)
		snprintf(dir, sizeof(dir), "%.*s", (int)(slash - a->config_path), a->config_path);
	else
		snprintf(dir, sizeof(dir), ".");
	if (!dir[0])
		snprintf(dir, sizeof(dir), "/");
	uv_timer_init(a->loop, &a->config_timer);
	a->config_timer.data = a;
	uv_fs_event_init(a->loop, &a->config_watch);
	a->config_watch.data = a;
	err = uv_fs_event_start(&a->config_watch, on_config_event, dir, 0);
	if (err)
		pr_warn("config file not watched: reload with SIGHUP", "dir=%s err=\"%s\"", dir,
			uv_strerror(err));
}

static void close_walk(uv_handle_t *h, void *arg)
{
	if (!uv_is_closing(h))
		uv_close(h, NULL);
}

static void on_signal(uv_signal_t *s, int signum)
{
	static struct tg_reload_result r;
	struct tg_agent *a = s->data;

	if (signum == SIGHUP) {
		/* a reload, and (whether it succeeds or not) the request log
		 * reopened, as logrotate's postrotate expects */
		reload_notified(a, &r);
		tg_reqlog_reopen(&a->reqlog, &a->cfg.reqlog);
		return;
	}
	if (signum == SIGUSR1) {
		tg_reqlog_reopen(&a->reqlog, &a->cfg.reqlog);
		return;
	}
	pr_info("shutting down", "signal=%s", signum == SIGINT ? "SIGINT" : "SIGTERM");
	tg_notify_stopping();
	uv_stop(a->loop);
}

/* What the privilege steps work on (privs.h). */
static void privs_plan(struct tg_agent *a, struct tg_privs_plan *p)
{
	*p = (struct tg_privs_plan){
		.user = a->cfg.user,
		.uid = (uid_t)a->cfg.user_uid,
		.gid = (gid_t)a->cfg.user_gid,
		.pin_dir = a->kern.pin_dir,
		.state_dir = a->cfg.state_dir,
		.check_listen = a->cfg.api_check_listen,
		.instance = a->cfg.instance,
		.keep = TG_CAPS_KEEP,
	};
}

/* Everything that needs privileges beyond what the running agent keeps is
 * done: the programs are loaded and attached, the maps pinned, the API
 * bound, the ring buffer mapped. The spool is not open yet: state_dir is
 * touched only after this, with the rights the agent keeps. */
static int drop_privileges(struct tg_agent *a)
{
	struct tg_privs_plan p;
	uint64_t eff = 0, prm = 0, bnd = 0;
	char why[320], caps[256];
	int nnp = 0, err;

	privs_plan(a, &p);
	p.keep = tg_privs_needed(tg_kern_fd(&a->kern, tg_settings));
	err = tg_privs_drop(&p, why, sizeof(why));
	if (err) {
		tg_log_fail("dropping privileges failed: %s", why);
		return err;
	}
	tg_caps_current(&eff, &prm, &bnd, &nnp);
	tg_caps_format(eff, caps, sizeof(caps));
	pr_info("privileges dropped", "user=%s uid=%u gid=%u caps=%s no_new_privs=%d",
		a->cfg.user[0] ? a->cfg.user : "(unchanged)", (unsigned)getuid(),
		(unsigned)getgid(), caps, nnp);
	return 0;
}

/* api.check_listen: the gateway's own listener. A Unix socket is made
 * 0660 for the agent's user (when it switches to one) and api.check_group,
 * so the gateway's workers can connect and nobody else; TCP follows
 * api.listen's token rule. */
static int start_check_api(struct tg_agent *a)
{
	const struct tg_config *c = &a->cfg;
	bool is_unix = !strncmp(c->api_check_listen, "unix:", 5);
	struct tg_api_opts o = {
		.listen = c->api_check_listen,
		.max_conns = TG_CHECK_MAX_CONNS,
		.max_per_peer = TG_CHECK_MAX_PER_PEER,
		.sock_uid = c->user[0] ? (int)c->user_uid : -1,
		.sock_gid = c->api_check_group[0] ? (int)c->api_check_gid
			    : c->user[0] ? (int)c->user_gid : -1,
		.sock_mode = 0660,
	};
	int err;

	if (!c->api_check_listen[0])
		return 0;
	err = tg_api_start_opts(a->loop, &o, tg_check_routes, tg_n_check_routes, &a->api_ctx,
				&a->check_api);
	if (err) {
		tg_log_fail("cannot listen on %s (api.check_listen): %s%s", c->api_check_listen,
			    strerror(-err),
			    err == -EEXIST ? ": the path is not a socket, and is left alone"
			    : err == -EADDRINUSE ? ": something listens there already" : "");
		return err;
	}
	a->api_ctx.check_api = a->check_api;
	err = is_unix ? 0 : tg_api_set_token(a->check_api, c->api_token);
	if (err) {
		tg_log_fail("cannot set the API token (api.token_env): %s", strerror(-err));
		return err;
	}
	if (is_unix)
		pr_info("check listening", "listen=%s mode=0660 group=%s token=none",
			c->api_check_listen, c->api_check_group[0] ? c->api_check_group : "(unchanged)");
	else
		pr_info("check listening", "listen=%s token=%s", c->api_check_listen,
			c->api_token_env[0] ? "required" : "none");
	return 0;
}

static int start_loop(struct tg_agent *a)
{
	int err;

	a->loop = uv_default_loop();
	/* A peer that closes while its answer is written (nginx dropping the
	 * auth subrequest of a client that went away) makes writev() fail with
	 * EPIPE, which libuv reports; the signal that comes with it would kill
	 * the agent. On a Unix socket the very first such write raises it. */
	signal(SIGPIPE, SIG_IGN);
	uv_signal_init(a->loop, &a->sig_int);
	uv_signal_init(a->loop, &a->sig_term);
	uv_signal_init(a->loop, &a->sig_hup);
	uv_signal_init(a->loop, &a->sig_usr1);
	a->sig_int.data = a->sig_term.data = a->sig_hup.data = a->sig_usr1.data = a;
	uv_signal_start(&a->sig_int, on_signal, SIGINT);
	uv_signal_start(&a->sig_term, on_signal, SIGTERM);
	uv_signal_start(&a->sig_hup, on_signal, SIGHUP);
	uv_signal_start(&a->sig_usr1, on_signal, SIGUSR1);

	uv_timer_init(a->loop, &a->scan_timer);
	a->scan_timer.data = a;
	uv_timer_start(&a->scan_timer, on_scan, 0, a->cfg.anomaly.scan_interval_ms);

	a->api_ctx = (struct tg_api_ctx){ .cfg = &a->cfg, .generation = &a->generation,
					  .kern = &a->kern, .col = &a->col, .events = &a->events,
					  .alerts = &a->alerts, .reqlog = &a->reqlog,
					  .reload = reload_notified,
					  .reload_arg = a };
	tg_routes_check_reindex(&a->api_ctx);
	err = tg_api_start(a->loop, a->cfg.api_listen, tg_routes, tg_n_routes, &a->api_ctx,
			   &a->api);
	if (err) {
		tg_log_fail("cannot listen on %s (api.listen): %s",
			a->cfg.api_listen, strerror(-err));
		return err;
	}
	err = tg_api_set_token(a->api, a->cfg.api_token);
	if (err) {
		tg_log_fail("cannot set the API token (api.token_env): %s",
			strerror(-err));
		return err;
	}
	a->api_ctx.api = a->api;
	pr_info("api listening", "listen=%s token=%s", a->cfg.api_listen,
		a->cfg.api_token_env[0] ? "required" : "none");
	err = start_check_api(a);
	if (err)
		return err;
	err = tg_events_start(&a->events, a->loop, &a->kern, tg_kern_fd(&a->kern, tg_events));
	if (err) {
		tg_log_fail("cannot read the kernel's event ring buffer: %s",
			strerror(-err));
		return err;
	}
	return 0;
}

/* After the privilege drop: the spools under state_dir (which the user,
 * with `user`, owned during the last run and may have filled with
 * anything) are opened with the user's rights, and so are the format
 * plugins. */
static int start_delivery(struct tg_agent *a)
{
	char why[256];
	int err;

	err = tg_alerts_start(&a->alerts, a->loop, &a->cfg, &a->kern, &a->col, why, sizeof(why));
	if (err) {
		tg_log_fail("cannot start webhook delivery: %s", why);
		return err;
	}
	a->events.on_denial = on_denial;
	a->events.denial_arg = &a->alerts;
	/* the request log's file, like the spools, with the user's rights */
	err = tg_reqlog_start(&a->reqlog, a->loop, &a->kern, tg_kern_fd(&a->kern, tg_requests),
			      &a->cfg.reqlog);
	if (err) {
		tg_log_fail("cannot start the request log (log.requests.file %s): %s",
			    a->cfg.reqlog.file, strerror(-err));
		return err;
	}
	if (a->config_path)
		watch_config(a);
	return 0;
}

static void stop_loop(struct tg_agent *a)
{
	if (!a->loop)
		return;
	if (a->api)
		tg_api_stop(a->api);
	a->api = NULL;
	tg_api_stop(a->check_api);
	a->check_api = NULL;
	a->api_ctx.api = a->api_ctx.check_api = NULL;
	tg_events_stop(&a->events);
	tg_reqlog_stop(&a->reqlog);
	tg_alerts_stop(&a->alerts);
	tg_fleet_stop(a->fleet);
	uv_walk(a->loop, close_walk, NULL);
	uv_run(a->loop, UV_RUN_DEFAULT);
	tg_alerts_free(&a->alerts);
	tg_fleet_free(a->fleet);
	a->fleet = NULL;
	a->api_ctx.fleet = NULL;
	uv_loop_close(a->loop);
	a->loop = NULL;
}

/* A config the agent cannot run on: its errors as check-config prints
 * them, "FILE: $.path: reason". log.format is known only once a config
 * parsed, so the light read decides: a file whose log.format reads as
 * "json" gets each error as a JSON log line, its msg that same text and
 * file, path and reason as members; any other file gets the plain lines. */
static void config_errors_out(const char *file, const struct tg_config_errors *errs)
{
	struct tg_config_peek p;
	char line[512], q[3][400];

	if (!file || (tg_config_peek_load(file, &p, NULL), p.log_format != TG_LOG_JSON)) {
		tg_config_errors_print(stderr, file ? file : "(default)", errs);
		return;
	}
	tg_log_setup(TG_LOG_ERROR, TG_LOG_JSON);
	for (int i = 0; i < errs->n && i < TG_CONFIG_MAX_ERRORS; i++) {
		snprintf(line, sizeof(line), "%s: %s: %s", file, errs->e[i].path, errs->e[i].reason);
		tg_log_emit(TG_LOG_ERROR, line, "file=%s path=%s reason=%s",
			    tg_log_quote(q[0], sizeof(q[0]), file),
			    tg_log_quote(q[1], sizeof(q[1]), errs->e[i].path),
			    tg_log_quote(q[2], sizeof(q[2]), errs->e[i].reason));
	}
	if (errs->dropped > 0) {
		snprintf(line, sizeof(line), "%s: ... %d more error%s", file, errs->dropped,
			 errs->dropped == 1 ? "" : "s");
		tg_log_emit(TG_LOG_ERROR, line, "file=%s more_errors=%d",
			    tg_log_quote(q[0], sizeof(q[0]), file), errs->dropped);
	}
}

int tg_agent_run(const char *config_path)
{
	static struct tg_agent agent; /* big: lives outside the stack */
	struct tg_agent *a = &agent;
	struct tg_config_errors errs = { 0 };
	struct tg_privs_plan plan;
	const char *bad = NULL;
	char why[320];
	bool keep;
	int err;

	memset(a, 0, sizeof(*a));
	a->config_path = config_path;
	a->exit_code = 1;
	if (config_path)
		err = tg_config_load(config_path, &a->cfg, &errs);
	else
		err = tg_config_parse(tg_default_config_json, strlen(tg_default_config_json),
				      &a->cfg, &errs);
	if (err) {
		config_errors_out(config_path, &errs);
		return 2;
	}
	tg_log_setup(a->cfg.log_level, a->cfg.log_format);
	pr_info("starting", "version=%s instance=%s config=%s mode=%s", TG_VERSION,
		a->cfg.instance, config_path ? config_path : "(default)",
		a->cfg.mode == TG_MODE_ENFORCE ? "enforce" : "monitor");

	err = tg_kern_open(&a->kern, &a->cfg);
	if (err)
		goto cleanup;
	a->generation = 1;
	err = tg_kern_apply(&a->kern, &a->cfg, a->generation);
	if (err) {
		tg_log_fail("writing settings into the maps failed: %s",
			strerror(-err));
		goto cleanup;
	}
	err = tg_kern_attach(&a->kern, &a->cfg, &bad);
	if (err) {
		if (err == -ENODEV)
			tg_log_fail("interface %s not found: fix gateway.interfaces "
					"(ip -br link lists the interfaces)", bad);
		else
			tg_log_fail("attaching to %s failed: %s", bad, strerror(-err));
		goto cleanup;
	}
	err = tg_kern_attach_cgroup(&a->kern, &a->cfg, &bad);
	if (err) {
		tg_log_fail("attaching to cgroup %s failed: %s: fix gateway.cgroup "
				"(a cgroup v2 directory, or \"root\")", bad, strerror(-err));
		goto cleanup;
	}
	err = tg_tls_attach(&a->kern, &a->cfg, &bad);
	if (err) {
		tg_log_fail("attaching the TLS uprobes failed: %s: %s: fix gateway.tls (the "
			    "gateway's libssl.so.3, its cgroup v2 directory or its process ids)",
			    bad, strerror(-err));
		goto cleanup;
	}
	/* the new programs run everywhere configured: the old layout's
	 * leftovers can go */
	tg_kern_migrate_finish(&a->kern);
	err = tg_collector_init(&a->col, tg_kern_fd(&a->kern, tg_clients),
				tg_kern_fd(&a->kern, tg_global),
				tg_kern_fd(&a->kern, tg_addr_buckets), a->kern.ncpus,
				tg_clients_map_size(a->cfg.max_clients));
	a->col.resp_fd = tg_kern_fd(&a->kern, tg_responses);
	a->col.socks_fd = tg_kern_fd(&a->kern, tg_socks);
	a->col.integrity_fd = tg_kern_fd(&a->kern, tg_integrity);
	tg_collector_use_active(&a->col, tg_kern_fd(&a->kern, tg_active),
				tg_kern_epoch(&a->kern));
	tg_collector_set_interval(&a->col, a->cfg.anomaly.scan_interval_ms);
	if (err)
		goto cleanup;
	privs_plan(a, &plan);
	err = tg_privs_prepare(&plan, why, sizeof(why));
	if (err) {
		tg_log_fail("%s", why);
		goto cleanup;
	}
	err = start_loop(a);
	if (err)
		goto cleanup;
	err = drop_privileges(a);
	if (err)
		goto cleanup;
	err = start_delivery(a);
	if (err)
		goto cleanup;
	/* After the drop: resolving the Redis host starts libuv's thread
	 * pool, and capabilities are dropped while the agent has one thread. */
	err = tg_fleet_start(a->loop, &a->cfg, &a->kern, &a->fleet);
	a->api_ctx.fleet = a->fleet;
	if (err) {
		tg_log_fail("cannot start fleet sync (cluster): %s", strerror(-err));
		goto cleanup;
	}
	pr_info("running", "interfaces=%d ports=%d pin_dir=%s", a->kern.n_links,
		a->cfg.n_ports, a->kern.pin_dir);
	tg_notify_ready();
	tg_notify_status("running: %d interfaces, %d ports, api %s", a->kern.n_links,
			 a->cfg.n_ports, a->cfg.api_listen);
	uv_run(a->loop, UV_RUN_DEFAULT);
	a->exit_code = 0;
	/* A second signal must not cut the detach short and leave pins. */
	signal(SIGINT, SIG_IGN);
	signal(SIGTERM, SIG_IGN);
cleanup:
	stop_loop(a);
	tg_collector_free(&a->col);
	/* keep: enforcement and counting go on without the agent; the next
	 * run adopts the pinned maps and replaces the filters. A failed start
	 * never keeps what it made. */
	keep = a->cfg.keep && a->exit_code == 0;
	tg_kern_close(&a->kern, keep);
	if (a->exit_code == 0 && keep)
		pr_info("stopped", "detached=false pin_dir=%s (keep: programs stay attached, "
			"maps pinned; tollgate detach removes them)", a->kern.pin_dir);
	else if (a->exit_code == 0)
		pr_info("stopped", "detached=true");
	return a->exit_code;
}
