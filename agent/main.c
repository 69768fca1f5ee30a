/* tollgate: command-line entry. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "daemon/agent.h"
#include "config/config.h"
#include "bpf/detach.h"
#include "telemetry/rates.h"
#include "cli/api_client.h"
#include "cli/status.h"
#include "cli/top.h"

static const char usage[] =
	"usage: tollgate <command> [options]\n"
	"\n"
	"commands:\n"
	"  run [--config FILE]          run the agent in the foreground (without --config:\n"
	"                               the embedded default: monitor mode on lo)\n"
	"  check-config FILE            validate FILE and print the effective config\n"
	"  status [--json] [--limit N] [--sort KEY] [--config FILE | --api HOST:PORT]\n"
	"         [--token-env NAME]    per-client counters of a running agent\n"
	"  top [--limit N] [--sort KEY] [--once] [--config FILE | --api HOST:PORT]\n"
	"      [--token-env NAME]       live table of the top clients (q quits); --once or\n"
	"                               a pipe: one plain frame\n"
	"  detach [--instance NAME] [--config FILE] [--force]\n"
	"                               emergency: remove the instance's TC filters and\n"
	"                               pins left by a dead agent (root; refuses while\n"
	"                               the agent answers on api.listen, unless --force)\n"
	"  --version                    print the version\n"
	"\n"
	"status and top send the API token (api.token_env) from the variable NAME\n"
	"(default: the config's api.token_env, else TOLLGATE_API_TOKEN), or from\n"
	"TOLLGATE_API_TOKEN when NAME is not set. To an --api address that is not\n"
	"loopback, only with --token-env: a token in the environment is not handed\n"
	"to whatever host a command line names.\n"
	"\n"
	"exit codes: 0 ok, 1 runtime failure, 2 usage or config error\n"
	"\n"
	"examples:\n"
	"  sudo tollgate run\n"
	"  sudo tollgate run --config /etc/tollgate/tollgate.json\n"
	"  tollgate check-config config/example.json\n"
	"  tollgate status --sort requests_per_sec --limit 20\n"
	"  tollgate top --api 10.0.0.5:9470 --token-env TOLLGATE_API_TOKEN\n"
	"  sudo tollgate detach --instance edge\n";

static int cmd_check_config(int argc, char **argv)
{
	static struct tg_config cfg; /* ~300 KB: not on the stack */
	struct tg_config_errors errs = { 0 };
	char *json;

	if (argc != 2) {
		fprintf(stderr, "usage: tollgate check-config FILE\n");
		return 2;
	}
	if (tg_config_load(argv[1], &cfg, &errs)) {
		tg_config_errors_print(stderr, argv[1], &errs);
		return 2;
	}
	json = tg_config_to_json(&cfg);
	if (!json)
		return 1;
	printf("%s\n", json);
	free(json);
	return 0;
}

static const struct option run_opts[] = {
	{ "config", required_argument, NULL, 'c' },
	{ "json", no_argument, NULL, 'j' },
	{ "api", required_argument, NULL, 'a' },
	{ "limit", required_argument, NULL, 'n' },
	{ "sort", required_argument, NULL, 's' },
	{ "rows", required_argument, NULL, 'n' },
	{ "once", no_argument, NULL, 'o' },
	{ "token-env", required_argument, NULL, 't' },
	{ "instance", required_argument, NULL, 'i' },
	{ "force", no_argument, NULL, 'f' },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

static int cmd_run(int argc, char **argv)
{
	const char *config = NULL;
	int c;

	while ((c = getopt_long(argc, argv, "c:h", run_opts, NULL)) != -1) {
		switch (c) {
		case 'c': config = optarg; break;
		case 'h': fputs(usage, stdout); return 0;
		default: fputs(usage, stderr); return 2;
		}
	}
	if (optind != argc) {
		fprintf(stderr, "tollgate run: unexpected argument %s\n", argv[optind]);
		return 2;
	}
	return tg_agent_run(config);
}

/* Where status and top find the agent, and the token they send. */
struct api_target {
	const char *config, *api, *token_env;
	const char *listen, *token;
};

/* Returns -1 when resolved, else the exit code. */
static int api_target_resolve(const char *cmd, struct api_target *t)
{
	static struct tg_config cfg; /* ~300 KB: not on the stack */
	struct tg_config_errors errs = { 0 };
	const char *name = t->token_env;
	bool bad;

	if (t->config || !t->api) {
		int err = t->config ? tg_config_load(t->config, &cfg, &errs)
				    : tg_config_parse(tg_default_config_json,
						      strlen(tg_default_config_json), &cfg, &errs);
		if (err) {
			tg_config_errors_print(stderr, t->config ? t->config : "(default)", &errs);
			return 2;
		}
		if (!name && cfg.api_token_env[0])
			name = cfg.api_token_env;
	}
	t->listen = t->api ? t->api : cfg.api_listen;
	t->token = tg_api_client_token_from_env(name ? name : TG_API_TOKEN_ENV_DEFAULT, &bad);
	if (bad) {
		fprintf(stderr, "tollgate %s: the API token must be 1..256 visible ASCII characters\n", cmd);
		return 2;
	}
	if (t->token_env && !t->token) {
		fprintf(stderr, "tollgate %s: environment variable %s is not set (--token-env)\n",
			cmd, t->token_env);
		return 2;
	}
	/* The token would go to whatever --api names: another host, or one a
	 * user was talked into typing. Only loopback, or when asked for. */
	if (t->token && !tg_api_client_may_send_token(t->api, t->token_env != NULL)) {
		fprintf(stderr, "tollgate %s: not sending the API token to %s (not loopback): "
			"name its variable with --token-env to send it\n", cmd, t->api);
		t->token = NULL;
	}
	return -1;
}

static bool parse_limit(const char *cmd, const char *s, long *out)
{
	char *end;

	*out = strtol(s, &end, 10);
	if (!*s || *end || *out < 1 || *out > 1000) {
		fprintf(stderr, "tollgate %s: --limit must be in 1..1000\n", cmd);
		return false;
	}
	return true;
}

static int cmd_status(int argc, char **argv)
{
	struct api_target t = { 0 };
	const char *sort = "requests";
	bool json = false;
	long limit = 50;
	int c, rc;

	while ((c = getopt_long(argc, argv, "c:ja:n:s:h", run_opts, NULL)) != -1) {
		switch (c) {
		case 'c': t.config = optarg; break;
		case 'j': json = true; break;
		case 'a': t.api = optarg; break;
		case 's': sort = optarg; break;
		case 't': t.token_env = optarg; break;
		case 'n':
			if (!parse_limit("status", optarg, &limit))
				return 2;
			break;
		case 'h': fputs(usage, stdout); return 0;
		default: fputs(usage, stderr); return 2;
		}
	}
	if ((rc = api_target_resolve("status", &t)) >= 0)
		return rc;
	return tg_status_main(t.listen, t.token, json, (int)limit, sort);
}

static int cmd_top(int argc, char **argv)
{
	struct api_target t = { 0 };
	struct tg_top_opts o = { .sort = "requests_per_sec" };
	long limit = 0;
	int c, rc;

	while ((c = getopt_long(argc, argv, "c:a:n:s:h", run_opts, NULL)) != -1) {
		switch (c) {
		case 'c': t.config = optarg; break;
		case 'a': t.api = optarg; break;
		case 's': o.sort = optarg; break;
		case 'o': o.once = true; break;
		case 't': t.token_env = optarg; break;
		case 'n':
			if (!parse_limit("top", optarg, &limit))
				return 2;
			break;
		case 'h': fputs(usage, stdout); return 0;
		default: fputs(usage, stderr); return 2;
		}
	}
	if (optind != argc) {
		fprintf(stderr, "tollgate top: unexpected argument %s\n", argv[optind]);
		return 2;
	}
	/* checked here: in the loop the mistake would show as a frame error */
	if (tg_sort_key_parse(o.sort) < 0) {
		fprintf(stderr, "tollgate top: --sort must be one of requests, bytes, "
			"requests_per_sec, bytes_per_sec, last_seen, address\n");
		return 2;
	}
	if ((rc = api_target_resolve("top", &t)) >= 0)
		return rc;
	o.listen = t.listen;
	o.token = t.token;
	o.rows = (int)limit;
	return tg_top_main(&o);
}

static int cmd_detach(int argc, char **argv)
{
	static struct tg_config cfg; /* ~300 KB: not on the stack */
	struct tg_config_errors errs = { 0 };
	struct tg_detach_opts o = { 0 };
	const char *config = NULL, *instance = NULL, *why;
	char name[TG_INSTANCE_LEN];
	int c, err;

	while ((c = getopt_long(argc, argv, "c:i:fh", run_opts, NULL)) != -1) {
		switch (c) {
		case 'c': config = optarg; break;
		case 'i': instance = optarg; break;
		case 'f': o.force = true; break;
		case 'h': fputs(usage, stdout); return 0;
		default: fputs(usage, stderr); return 2;
		}
	}
	if (optind != argc) {
		fprintf(stderr, "tollgate detach: unexpected argument %s\n", argv[optind]);
		return 2;
	}
	/* the config gives the instance and the API address to probe */
	err = config ? tg_config_load(config, &cfg, &errs)
		     : tg_config_parse(tg_default_config_json, strlen(tg_default_config_json),
				       &cfg, &errs);
	if (err) {
		tg_config_errors_print(stderr, config ? config : "(default)", &errs);
		return 2;
	}
	if (instance) {
		if ((why = tg_config_check_instance(instance, name, sizeof(name)))) {
			fprintf(stderr, "tollgate detach: --instance %s\n", why);
			return 2;
		}
		o.instance = name;
	} else {
		o.instance = cfg.instance;
	}
	o.listen = cfg.api_listen;
	return tg_detach_main(&o);
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		fputs(usage, stderr);
		return 2;
	}
	if (!strcmp(argv[1], "--version") || !strcmp(argv[1], "version")) {
		printf("tollgate %s\n", TG_VERSION);
		return 0;
	}
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
		fputs(usage, stdout);
		return 0;
	}
	if (!strcmp(argv[1], "run"))
		return cmd_run(argc - 1, argv + 1);
	if (!strcmp(argv[1], "check-config"))
		return cmd_check_config(argc - 1, argv + 1);
	if (!strcmp(argv[1], "status"))
		return cmd_status(argc - 1, argv + 1);
	if (!strcmp(argv[1], "top"))
		return cmd_top(argc - 1, argv + 1);
	if (!strcmp(argv[1], "detach"))
		return cmd_detach(argc - 1, argv + 1);
	fprintf(stderr, "tollgate: unknown command '%s'\n\n%s", argv[1], usage);
	return 2;
}
