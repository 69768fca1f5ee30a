/* The running agent: its loop, config, kernel objects and API. */
#ifndef TG_AGENT_H
#define TG_AGENT_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>
#include "alerts/alerts.h"
#include "api/api.h"
#include "api/routes.h"
#include "telemetry/collector.h"
#include "config/config.h"
#include "telemetry/events.h"
#include "telemetry/reqlog.h"
#include "bpf/loader.h"

#define TG_TOP_LOG_INTERVAL_MS 10000

struct tg_agent {
	uv_loop_t *loop;
	const char *config_path; /* NULL: the embedded default */
	struct tg_config cfg;
	unsigned int generation;
	uint64_t started_wall_ns;
	struct tg_kern kern;
	struct tg_collector col;
	struct tg_api *api;
	struct tg_api *check_api;  /* api.check_listen's, or NULL */
	uv_signal_t sig_int, sig_term, sig_hup, sig_usr1;
	uv_timer_t scan_timer;
	uv_fs_event_t config_watch;
	uv_timer_t config_timer;
	char config_base[256];
	struct tg_events events;
	struct tg_reqlog reqlog;   /* log.requests */
	struct tg_alerts alerts;
	struct tg_api_ctx api_ctx; /* what the API's handlers read */
	struct tg_fleet *fleet;   /* NULL without cluster */
	uint64_t last_top_log_ns, last_top_requests;
	int exit_code;
};

/* `tollgate run`. Returns the process exit code. */
int tg_agent_run(const char *config_path);

#endif
