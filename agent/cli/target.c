/* The operator commands' view of a running agent: its address and token
 * from a light read of its config (tg_config_peek), or from --api and
 * --token-env; and, for detach, which instance answers there. */
#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cli/target.h"
#include "lib/addr.h"

const char *tg_cli_check_api(const char *api)
{
	const char *colon, *host_end, *p;
	long port = 0;

	if (api[0] == '[') {
		host_end = strchr(api, ']');
		if (!host_end || host_end == api + 1)
			return "an IPv6 address goes in brackets: [::1]:9470";
		colon = host_end + 1;
		if (*colon != ':')
			return "needs a port: HOST:PORT";
	} else {
		colon = strrchr(api, ':');
		if (!colon)
			return "needs a port: HOST:PORT";
		if (colon == api)
			return "needs a host: HOST:PORT";
		if (memchr(api, ':', (size_t)(colon - api)))
			return "an IPv6 address goes in brackets: [::1]:9470";
		for (p = api; p < colon; p++)
			if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
			      (*p >= '0' && *p <= '9') || *p == '.' || *p == '-'))
				return "the host must be a name, an IPv4 address or [IPv6]";
	}
	if (!colon[1])
		return "needs a port: HOST:PORT";
	for (p = colon + 1; *p; p++) {
		if (*p < '0' || *p > '9' || port > 65535)
			return "the port must be a number in 1..65535";
		port = port * 10 + (*p - '0');
	}
	if (port < 1 || port > 65535)
		return "the port must be a number in 1..65535";
	return NULL;
}

int tg_cli_target_resolve(const char *cmd, struct tg_cli_target *t)
{
	struct tg_config_errors errs;
	const char *token = NULL, *var = NULL, *why;
	bool bad = false;
	int err;

	if (t->config && t->api) {
		fprintf(stderr, "tollgate %s: --config and --api both name the agent: give one\n", cmd);
		return 2;
	}
	if (t->api && (why = tg_cli_check_api(t->api))) {
		fprintf(stderr, "tollgate %s: --api %s: %s\n", cmd, t->api, why);
		return 2;
	}
	err = t->config ? tg_config_peek_load(t->config, &t->peek, &errs)
			: tg_config_peek_parse(tg_default_config_json, strlen(tg_default_config_json),
					       &t->peek, &errs);
	if (err) {
		tg_config_errors_print(stderr, t->config ? t->config : "(default)", &errs);
		return 2;
	}
	memset(&t->cli, 0, sizeof(t->cli));
	t->cli.listen = t->api ? t->api : t->peek.api_listen;
	if (t->token_env) {
		/* named on the command line: that variable, and only it */
		token = tg_api_client_token_env(t->token_env, &bad);
		if (!token && !bad) {
			fprintf(stderr, "tollgate %s: environment variable %s is not set (--token-env)\n",
				cmd, t->token_env);
			return 2;
		}
		var = t->token_env;
	} else {
		/* the config's variable (--api: none), else TOLLGATE_API_TOKEN */
		if (!t->api && t->peek.api_token_env[0]) {
			var = t->peek.api_token_env;
			token = tg_api_client_token_env(var, &bad);
			if (!token && !bad)
				t->cli.token_unset = var;
		}
		if (!token && !bad) {
			var = TG_API_TOKEN_ENV_DEFAULT;
			token = tg_api_client_token_env(var, &bad);
		}
	}
	if (bad) {
		fprintf(stderr, "tollgate %s: the API token in %s must be 1..256 visible ASCII "
			"characters\n", cmd, var);
		return 2;
	}
	/* The token would go to whatever --api names: another host, or one a
	 * user was talked into typing. Only loopback, or when asked for. */
	if (token && !tg_api_client_may_send_token(t->api, t->token_env != NULL)) {
		fprintf(stderr, "tollgate %s: not sending the API token to %s (not loopback): "
			"name its variable with --token-env to send it\n", cmd, t->api);
		token = NULL;
	}
	t->cli.token = token;
	t->cli.token_var = token ? var : NULL;
	return -1;
}

void tg_cli_health_read(struct tg_cli_target *t, long timeout_ms, struct tg_cli_health *h)
{
	char err[CURL_ERROR_SIZE] = "";
	const cJSON *inst;
	struct tg_buf body;
	cJSON *j;

	memset(h, 0, sizeof(*h));
	tg_buf_init(&body);
	t->cli.timeout_ms = timeout_ms;
	h->code = tg_api_client_get(&t->cli, "/healthz", &body, err, sizeof(err));
	if (h->code == 200) {
		j = cJSON_ParseWithLength(body.data ? body.data : "", body.len);
		inst = cJSON_GetObjectItemCaseSensitive(j, "instance");
		if (cJSON_IsString(inst))
			snprintf(h->instance, sizeof(h->instance), "%s", inst->valuestring);
		cJSON_Delete(j);
	} else {
		tg_api_client_explain(NULL, &t->cli, h->code, &body, err, h->line, sizeof(h->line));
	}
	tg_buf_free(&body);
}

int tg_cli_detach_guard(const char *listen, const char *instance, bool force,
			const struct tg_cli_health *h)
{
	const char *advice = "stop it";
	char fact[640];

	if (h->code < 0)
		return 0; /* nothing answers: no agent there */
	if (h->code == 200 && h->instance[0] && strcmp(h->instance, instance)) {
		printf("the agent answering on %s is instance %s, not %s: going on\n", listen,
		       h->instance, instance);
		return 0;
	}
	if (h->code == 200 && h->instance[0]) {
		snprintf(fact, sizeof(fact), "instance %s is running: its agent answers on %s",
			 instance, listen);
		advice = "stop it (it detaches itself on SIGTERM)";
	} else if (h->code == 200) {
		snprintf(fact, sizeof(fact), "something answers on %s without naming its instance "
			 "(not a tollgate agent?)", listen);
	} else if (h->code == 401) {
		snprintf(fact, sizeof(fact), "an agent answers on %s, but which instance it is "
			 "cannot be read: %s", listen, h->line);
		advice = "give the token or stop the agent";
	} else {
		snprintf(fact, sizeof(fact), "something answers on %s, not as a tollgate agent "
			 "would: %s", listen, h->line);
	}
	if (!force) {
		fprintf(stderr, "tollgate detach: %s; %s, or pass --force to detach under it\n",
			fact, advice);
		return 1;
	}
	printf("%s: detaching anyway (--force)\n", fact);
	return 0;
}
