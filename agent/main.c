/* tollgate: command-line entry. One row per command: its name, its help
 * (`tollgate CMD --help`, `tollgate help CMD`) and its function. */
#include <bpf/libbpf.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "daemon/agent.h"
#include "config/config.h"
#include "bpf/detach.h"
#include "telemetry/rates.h"
#include "cli/target.h"
#include "cli/reload.h"
#include "cli/status.h"
#include "cli/top.h"

#define SORT_KEYS "requests, bytes, requests_per_sec, bytes_per_sec, last_seen, address"

/* The options every command that reads a running agent takes. */
#define AGENT_OPTS                                                                       \
	"  --config FILE      find the agent through FILE: its api.listen, and its API\n"  \
	"                     token from the variable its api.token_env names. Only\n"     \
	"                     instance, api.listen, api.token_env and log.format are\n"   \
	"                     read: the agent's secrets need not be set here\n"           \
	"  --api HOST:PORT    ask the agent at this address instead (default: the\n"      \
	"                     embedded default config's, 127.0.0.1:9470); not with\n"     \
	"                     --config\n"                                                  \
	"  --token-env NAME   send the API token held in the variable NAME (it must be\n" \
	"                     set). Without it: the config's api.token_env, else\n"       \
	"                     TOLLGATE_API_TOKEN; to a non-loopback --api, only the\n"    \
	"                     token --token-env names\n"

static const char help_run[] =
	"usage: tollgate run [--config FILE]\n"
	"\n"
	"Runs the agent in the foreground: loads and attaches the eBPF programs,\n"
	"writes the quotas, serves the local API. Needs root, or CAP_BPF,\n"
	"CAP_PERFMON and CAP_NET_ADMIN to start.\n"
	"\n"
	"  --config FILE   the JSON config (without it: the embedded default, monitor\n"
	"                  mode on lo and the common gateway ports)\n"
	"\n"
	"SIGINT/SIGTERM: detach and exit 0. SIGHUP, a change to FILE, or\n"
	"`tollgate reload`: reload FILE.\n"
	"\n"
	"examples:\n"
	"  sudo tollgate run\n"
	"  sudo tollgate run --config /etc/tollgate/tollgate.json\n";

static const char help_check[] =
	"usage: tollgate check-config FILE\n"
	"\n"
	"Validates FILE as `run` would (secrets named by *_env keys included) and\n"
	"prints the effective config with every default filled in (exit 0), or one\n"
	"`FILE: $.json.path: reason` line per error (exit 2).\n"
	"\n"
	"example:\n"
	"  TOLLGATE_KEY_TEAM_A=sk-... tollgate check-config config/example-quotas.json\n";

static const char help_status[] =
	"usage: tollgate status [--json] [--sort KEY] [--limit N]\n"
	"                       [--config FILE | --api HOST:PORT] [--token-env NAME]\n"
	"\n"
	"The per-client counters of a running agent (GET /v1/clients): CLIENT (an\n"
	"address, or an IPv6 network with its prefix), REQUESTS, REQ/S, BYTES,\n"
	"BYTES/S, NEW CONNS (connections opened: SYNs), LAST SEEN.\n"
	"\n"
	"  --json             the API's JSON answer as it is\n"
	"  --sort KEY         " SORT_KEYS "\n"
	"                     (default requests)\n"
	"  --limit N          at most N clients, 1..1000 (default 50)\n"
	AGENT_OPTS
	"\n"
	"examples:\n"
	"  tollgate status --sort requests_per_sec --limit 20\n"
	"  tollgate status --config /etc/tollgate/tollgate.json --json\n";

static const char help_top[] =
	"usage: tollgate top [--sort KEY] [--limit N] [--once]\n"
	"                    [--config FILE | --api HOST:PORT] [--token-env NAME]\n"
	"\n"
	"A live table of the top clients, refreshed every second: CLIENT, REQ/S,\n"
	"BYTES/S, REQUESTS, DENIED (WOULD-DENY in monitor mode), P50 (response\n"
	"latency), OPEN (connections open now; needs gateway.cgroup). Narrow\n"
	"terminals drop columns from the right. q or Ctrl-C quits.\n"
	"\n"
	"  --sort KEY         " SORT_KEYS "\n"
	"                     (default requests_per_sec)\n"
	"  --limit N, --rows N  at most N clients, 1..1000 (default: as many as fit)\n"
	"  --once             one plain frame, then exit (also when stdout is not a\n"
	"                     terminal); exit 1 when the agent cannot be read\n"
	AGENT_OPTS
	"\n"
	"examples:\n"
	"  tollgate top\n"
	"  tollgate top --api 10.0.0.5:9470 --token-env TOLLGATE_API_TOKEN\n";

static const char help_reload[] =
	"usage: tollgate reload [--config FILE | --api HOST:PORT] [--token-env NAME]\n"
	"\n"
	"Asks a running agent to reload its config file (POST /v1/reload: what SIGHUP\n"
	"does) and prints the new generation, or the agent's reasons for keeping\n"
	"its config as `FILE: $.json.path: reason` lines (exit 2). Exit 1 when the\n"
	"agent cannot be reached or the reload fails to apply.\n"
	"\n"
	AGENT_OPTS
	"\n"
	"example:\n"
	"  tollgate reload --config /etc/tollgate/tollgate.json\n";

static const char help_detach[] =
	"usage: tollgate detach [--instance NAME] [--config FILE | --api HOST:PORT]\n"
	"                       [--token-env NAME] [--force]\n"
	"\n"
	"Emergency clean-up after an agent that could not detach itself (kill -9,\n"
	"a crash): removes the instance's TC filters from every interface of this\n"
	"network namespace and its pins under /sys/fs/bpf/tollgate/NAME/. Needs root.\n"
	"First it asks /healthz on the agent's address which instance answers: when\n"
	"it is NAME (or it cannot tell), it refuses (exit 1) unless --force.\n"
	"\n"
	"  --instance NAME    the instance (default: the config's instance)\n"
	"  --force            detach even while that instance's agent answers\n"
	AGENT_OPTS
	"\n"
	"examples:\n"
	"  sudo tollgate detach --config /etc/tollgate/tollgate.json\n"
	"  sudo nsenter --net=/run/netns/gw tollgate detach --instance edge\n";

static int cmd_run(int argc, char **argv);
static int cmd_check_config(int argc, char **argv);
static int cmd_status(int argc, char **argv);
static int cmd_top(int argc, char **argv);
static int cmd_reload(int argc, char **argv);
static int cmd_detach(int argc, char **argv);

static const struct command {
	const char *name;
	int (*fn)(int argc, char **argv);
	const char *help;
	const char *line; /* for the overview */
} commands[] = {
	{ "run", cmd_run, help_run, "run the agent in the foreground" },
	{ "check-config", cmd_check_config, help_check, "validate a config, print the effective one" },
	{ "status", cmd_status, help_status, "per-client counters of a running agent" },
	{ "top", cmd_top, help_top, "live table of the top clients" },
	{ "reload", cmd_reload, help_reload, "make a running agent reload its config" },
	{ "detach", cmd_detach, help_detach, "emergency: remove a dead agent's filters and pins" },
};
#define N_COMMANDS (sizeof(commands) / sizeof(commands[0]))

static void usage(FILE *f)
{
	fprintf(f, "usage: tollgate <command> [options]\n\ncommands:\n");
	for (size_t i = 0; i < N_COMMANDS; i++)
		fprintf(f, "  %-14s%s\n", commands[i].name, commands[i].line);
	fprintf(f, "  %-14s%s\n", "--version", "the version, pin layout and libbpf version");
	fprintf(f, "\n`tollgate COMMAND --help` (or `tollgate help COMMAND`) lists a command's\n"
		"options. Exit codes: 0 ok, 1 runtime failure, 2 usage or config error.\n");
}

/* A usage error: what was wrong, and where to read more. */
static int bad_usage(const char *cmd)
{
	fprintf(stderr, "see: tollgate %s --help\n", cmd);
	return 2;
}

static const struct option opts[] = {
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

/* What was wrong with the option getopt_long just returned c for: li is
 * its index in opts when it was given long (else -1), last is
 * argv[optind - 1] (the option, or the value of one given apart). */
static const char *opt_error(int c, int li, const char *last)
{
	static char msg[160];

	if (c == ':')
		snprintf(msg, sizeof(msg), "%s needs a value", last);
	else if (c != '?')
		snprintf(msg, sizeof(msg), "%s%s is not an option of this command",
			 li >= 0 ? "--" : "-", li >= 0 ? opts[li].name : (char[]){ (char)c, '\0' });
	else if (!strncmp(last, "--", 2) && strchr(last, '=') && optopt)
		snprintf(msg, sizeof(msg), "%.*s takes no value", (int)strcspn(last, "="), last);
	else if (!strncmp(last, "--", 2) || !optopt)
		snprintf(msg, sizeof(msg), "%.*s is not an option of this command",
			 (int)strcspn(last, "="), last);
	else
		snprintf(msg, sizeof(msg), "-%c is not an option of this command", optopt);
	return msg;
}

/* Parsed options; allowed: the short letters this command takes. */
struct args {
	struct tg_cli_target t;
	const char *sort, *instance;
	long limit;
	bool json, once, force, help;
};

static int parse(const char *cmd, const char *allowed, int argc, char **argv, struct args *a)
{
	char *end;
	int c, li = -1;

	opterr = 0; /* our own messages */
	optind = 1;
	while ((c = getopt_long(argc, argv, ":c:ja:n:s:h", opts, &li)) != -1) {
		if (c == '?' || c == ':' || !strchr(allowed, c)) {
			fprintf(stderr, "tollgate %s: %s\n", cmd, opt_error(c, li, argv[optind - 1]));
			return bad_usage(cmd);
		}
		li = -1;
		switch (c) {
		case 'c': a->t.config = optarg; break;
		case 'a': a->t.api = optarg; break;
		case 't': a->t.token_env = optarg; break;
		case 'j': a->json = true; break;
		case 'o': a->once = true; break;
		case 'f': a->force = true; break;
		case 'h': a->help = true; break;
		case 'i': a->instance = optarg; break;
		case 's':
			if (tg_sort_key_parse(optarg) < 0) {
				fprintf(stderr, "tollgate %s: --sort must be one of " SORT_KEYS "\n", cmd);
				return bad_usage(cmd);
			}
			a->sort = optarg;
			break;
		case 'n':
			a->limit = strtol(optarg, &end, 10);
			if (!*optarg || *end || a->limit < 1 || a->limit > 1000) {
				fprintf(stderr, "tollgate %s: --limit must be in 1..1000\n", cmd);
				return bad_usage(cmd);
			}
			break;
		}
	}
	return -1;
}

/* Options, then no operand. Returns -1 to go on, else the exit code. */
static int parse_all(const char *cmd, const char *allowed, const char *help, int argc,
		     char **argv, struct args *a)
{
	int rc = parse(cmd, allowed, argc, argv, a);

	if (rc >= 0)
		return rc;
	if (a->help) {
		fputs(help, stdout);
		return 0;
	}
	if (optind != argc) {
		fprintf(stderr, "tollgate %s: unexpected argument %s\n", cmd, argv[optind]);
		return bad_usage(cmd);
	}
	return -1;
}

static int cmd_run(int argc, char **argv)
{
	struct args a = { 0 };
	int rc = parse_all("run", "ch", help_run, argc, argv, &a);

	return rc >= 0 ? rc : tg_agent_run(a.t.config);
}

static int cmd_check_config(int argc, char **argv)
{
	static struct tg_config cfg; /* ~300 KB: not on the stack */
	struct tg_config_errors errs = { 0 };
	struct args a = { 0 };
	char *json;
	int rc = parse("check-config", "h", argc, argv, &a);

	if (rc >= 0)
		return rc;
	if (a.help) {
		fputs(help_check, stdout);
		return 0;
	}
	if (argc - optind != 1) {
		fprintf(stderr, "tollgate check-config: %s\n",
			optind == argc ? "name the config FILE" : "one FILE at a time");
		return bad_usage("check-config");
	}
	if (tg_config_load(argv[optind], &cfg, &errs)) {
		tg_config_errors_print(stderr, argv[optind], &errs);
		return 2;
	}
	json = tg_config_to_json(&cfg);
	if (!json)
		return 1;
	printf("%s\n", json);
	free(json);
	return 0;
}

static int cmd_status(int argc, char **argv)
{
	struct args a = { .sort = "requests", .limit = 50 };
	int rc = parse_all("status", "cjatsnh", help_status, argc, argv, &a);

	if (rc >= 0 || (rc = tg_cli_target_resolve("status", &a.t)) >= 0)
		return rc;
	return tg_status_main(&a.t, a.json, (int)a.limit, a.sort);
}

static int cmd_top(int argc, char **argv)
{
	struct args a = { .sort = "requests_per_sec" };
	struct tg_top_opts o;
	int rc = parse_all("top", "catsnoh", help_top, argc, argv, &a);

	if (rc >= 0 || (rc = tg_cli_target_resolve("top", &a.t)) >= 0)
		return rc;
	o = (struct tg_top_opts){ .target = &a.t, .sort = a.sort, .rows = (int)a.limit,
				  .once = a.once };
	return tg_top_main(&o);
}

static int cmd_reload(int argc, char **argv)
{
	struct args a = { 0 };
	int rc = parse_all("reload", "cath", help_reload, argc, argv, &a);

	if (rc >= 0 || (rc = tg_cli_target_resolve("reload", &a.t)) >= 0)
		return rc;
	return tg_reload_main(&a.t);
}

static int cmd_detach(int argc, char **argv)
{
	struct args a = { 0 };
	struct tg_detach_opts o = { 0 };
	struct tg_cli_health h;
	char name[TG_INSTANCE_LEN];
	const char *why;
	int rc = parse_all("detach", "caitfh", help_detach, argc, argv, &a);

	if (rc >= 0)
		return rc;
	if (a.instance && (why = tg_config_check_instance(a.instance, name, sizeof(name)))) {
		fprintf(stderr, "tollgate detach: --instance %s\n", why);
		return bad_usage("detach");
	}
	/* the config gives the instance, and the address to ask which
	 * instance answers there */
	if ((rc = tg_cli_target_resolve("detach", &a.t)) >= 0)
		return rc;
	o.instance = a.instance ? name : a.t.peek.instance;
	tg_cli_health_read(&a.t, 2000, &h);
	tg_api_client_free(&a.t.cli);
	if ((rc = tg_cli_detach_guard(a.t.cli.listen, o.instance, a.force, &h)))
		return rc;
	return tg_detach_main(&o);
}

int main(int argc, char **argv)
{
	const char *cmd = argc > 1 ? argv[1] : NULL;

	if (!cmd) {
		usage(stderr);
		return 2;
	}
	if (!strcmp(cmd, "--version") || !strcmp(cmd, "version")) {
		printf("tollgate %s\npin layout v%d\nlibbpf %u.%u\n", TG_VERSION, TG_LAYOUT_VERSION,
		       libbpf_major_version(), libbpf_minor_version());
		return 0;
	}
	if (!strcmp(cmd, "--help") || !strcmp(cmd, "-h") || !strcmp(cmd, "help")) {
		if (argc > 2) { /* help COMMAND */
			for (size_t i = 0; i < N_COMMANDS; i++)
				if (!strcmp(argv[2], commands[i].name)) {
					fputs(commands[i].help, stdout);
					return 0;
				}
			fprintf(stderr, "tollgate: unknown command '%s'\n\n", argv[2]);
			usage(stderr);
			return 2;
		}
		usage(stdout);
		return 0;
	}
	for (size_t i = 0; i < N_COMMANDS; i++)
		if (!strcmp(cmd, commands[i].name))
			return commands[i].fn(argc - 1, argv + 1);
	fprintf(stderr, "tollgate: unknown command '%s'\n\n", cmd);
	usage(stderr);
	return 2;
}
