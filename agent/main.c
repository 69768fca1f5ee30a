/* tollgate: command-line entry. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "agent.h"
#include "config.h"
#include "status.h"

static const char usage[] =
	"usage: tollgate <command> [options]\n"
	"\n"
	"commands:\n"
	"  run [--config FILE]          run the agent in the foreground (without --config:\n"
	"                               the embedded default: monitor mode on lo)\n"
	"  check-config FILE            validate FILE and print the effective config\n"
	"  status [--json] [--limit N] [--sort KEY] [--config FILE | --api HOST:PORT]\n"
	"                               per-client counters of a running agent\n"
	"  top                          live view of the top clients\n"
	"  --version                    print the version\n"
	"\n"
	"exit codes: 0 ok, 1 runtime failure, 2 usage or config error\n"
	"\n"
	"examples:\n"
	"  sudo tollgate run\n"
	"  sudo tollgate run --config /etc/tollgate/tollgate.json\n"
	"  tollgate check-config config/example.json\n"
	"  tollgate status --sort requests_per_sec --limit 20\n";

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

static int cmd_status(int argc, char **argv)
{
	const char *config = NULL, *api = NULL, *sort = "requests";
	static struct tg_config cfg; /* ~300 KB: not on the stack */
	struct tg_config_errors errs = { 0 };
	bool json = false;
	long limit = 50;
	char *end;
	int c;

	while ((c = getopt_long(argc, argv, "c:ja:n:s:h", run_opts, NULL)) != -1) {
		switch (c) {
		case 'c': config = optarg; break;
		case 'j': json = true; break;
		case 'a': api = optarg; break;
		case 's': sort = optarg; break;
		case 'n':
			limit = strtol(optarg, &end, 10);
			if (*end || limit < 1 || limit > 100000) {
				fprintf(stderr, "tollgate status: --limit must be in 1..100000\n");
				return 2;
			}
			break;
		case 'h': fputs(usage, stdout); return 0;
		default: fputs(usage, stderr); return 2;
		}
	}
	if (!api) {
		int err = config ? tg_config_load(config, &cfg, &errs)
				 : tg_config_parse(tg_default_config_json,
						   strlen(tg_default_config_json), &cfg, &errs);
		if (err) {
			tg_config_errors_print(stderr, config ? config : "(default)", &errs);
			return 2;
		}
		api = cfg.api_listen;
	}
	return tg_status_main(api, json, (int)limit, sort);
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
	if (!strcmp(argv[1], "top")) {
		fprintf(stderr, "tollgate top: not supported yet (use tollgate status)\n");
		return 2;
	}
	fprintf(stderr, "tollgate: unknown command '%s'\n\n%s", argv[1], usage);
	return 2;
}
