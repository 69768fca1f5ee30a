/* The CLI's API client and target: which addresses get the API token,
 * --api checks, the token's fallback, the 401 messages. */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/api_client.h"
#include "cli/target.h"

/* `status --api HOST` with TOLLGATE_API_TOKEN in the environment: the
 * token goes to loopback only, unless --token-env asks for it. */
Test(api_client, token_only_to_loopback_unless_asked)
{
	static const char *const loop[] = { "127.0.0.1:9470", "127.9.9.9:1", "localhost:9470",
					    "[::1]:9470", "[::ffff:127.0.0.1]:9470" };
	static const char *const other[] = { "10.0.0.5:9470", "198.18.30.1:19480",
					     "[fd00:198:18::1]:9470", "evil.example:9470",
					     "127.0.0.1", "", "[::1]", "0.0.0.0:9470" };

	cr_assert(tg_api_client_may_send_token(NULL, false), "the config's own api.listen");
	for (size_t i = 0; i < sizeof(loop) / sizeof(loop[0]); i++)
		cr_assert(tg_api_client_may_send_token(loop[i], false), "%s", loop[i]);
	for (size_t i = 0; i < sizeof(other) / sizeof(other[0]); i++) {
		cr_assert(not(tg_api_client_may_send_token(other[i], false)), "%s", other[i]);
		cr_assert(tg_api_client_may_send_token(other[i], true), "%s with --token-env", other[i]);
	}
}

/* --api HOST:PORT: a port, in 1..65535, and a host. */
Test(api_client, api_address_checked)
{
	static const char *const good[] = { "127.0.0.1:9470", "localhost:1", "[::1]:65535",
					    "gw-1.example:9470", "10.0.0.5:80" };
	static const char *const bad[] = { "127.0.0.1", "127.0.0.1:", "127.0.0.1:0",
					   "127.0.0.1:65536", "127.0.0.1:99999999999", ":9470",
					   "::1:9470", "[::1]", "[]:1", "[::1]9470", "a b:1",
					   "127.0.0.1:94x0", "127.0.0.1:-1" };

	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		cr_assert(eq(ptr, (void *)tg_cli_check_api(good[i]), NULL), "%s", good[i]);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		cr_assert(not(eq(ptr, (void *)tg_cli_check_api(bad[i]), NULL)), "%s", bad[i]);
}

/* The config's api.token_env unset here: TOLLGATE_API_TOKEN is used,
 * and the config's secrets do not matter (only the light read). */
Test(api_client, token_falls_back_to_default_variable)
{
	char path[] = "/tmp/tg-api-client-XXXXXX";
	int fd = mkstemp(path);
	const char *cfg = "{\"instance\":\"edge\",\"api\":{\"listen\":\"127.0.0.1:19999\","
			  "\"token_env\":\"TG_UNIT_UNSET_TOKEN\"},\"quotas\":{\"clients\":[{\"name\":"
			  "\"k\",\"api_key_env\":\"TG_UNIT_UNSET_KEY\"}]},\"future\":{\"x\":1}}";
	struct tg_cli_target t = { .config = path };

	cr_assert(ge(int, fd, 0));
	cr_assert(eq(sz, (size_t)write(fd, cfg, strlen(cfg)), strlen(cfg)));
	close(fd);
	unsetenv("TG_UNIT_UNSET_TOKEN");
	unsetenv("TG_UNIT_UNSET_KEY");
	setenv(TG_API_TOKEN_ENV_DEFAULT, "fallback-token-0123456789", 1);
	cr_assert(eq(int, tg_cli_target_resolve("status", &t), -1));
	cr_assert(eq(str, (char *)t.cli.listen, "127.0.0.1:19999"));
	cr_assert(eq(str, (char *)t.cli.token, "fallback-token-0123456789"));
	cr_assert(eq(str, (char *)t.cli.token_var, TG_API_TOKEN_ENV_DEFAULT));
	cr_assert(eq(str, (char *)t.cli.token_unset, "TG_UNIT_UNSET_TOKEN"));
	cr_assert(eq(str, t.peek.instance, "edge"));
	/* --token-env names one variable: unset, it is a usage error */
	t = (struct tg_cli_target){ .config = path, .token_env = "TG_UNIT_UNSET_TOKEN" };
	cr_assert(eq(int, tg_cli_target_resolve("status", &t), 2));
	/* both ways of naming the agent */
	t = (struct tg_cli_target){ .config = path, .api = "127.0.0.1:9470" };
	cr_assert(eq(int, tg_cli_target_resolve("status", &t), 2));
	unsetenv(TG_API_TOKEN_ENV_DEFAULT);
	unlink(path);
}

/* A 401 after a token was sent is a wrong token, not a missing one. */
Test(api_client, wrong_token_is_not_missing)
{
	struct tg_api_client c = { .listen = "127.0.0.1:9470" };
	struct tg_buf body = { 0 };
	char out[512];

	tg_api_client_explain("tollgate status", &c, 401, &body, "", out, sizeof(out));
	cr_assert(not(eq(ptr, strstr(out, "asks for an API token"), NULL)), "%s", out);
	c.token_unset = "TG_X";
	tg_api_client_explain("tollgate status", &c, 401, &body, "", out, sizeof(out));
	cr_assert(not(eq(ptr, strstr(out, "api.token_env, TG_X, is not set here"), NULL)), "%s", out);
	c.token = "secret-secret-secret";
	c.token_var = "TG_VAR";
	tg_api_client_explain("tollgate status", &c, 401, &body, "", out, sizeof(out));
	cr_assert(not(eq(ptr, strstr(out, "refused the API token from TG_VAR"), NULL)), "%s", out);
	cr_assert(eq(ptr, strstr(out, "secret-secret"), NULL), "%s", out);
}
