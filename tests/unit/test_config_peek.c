/* The light read of a config the operator commands make: instance,
 * api.listen, api.token_env and log.format with the full parser's rules
 * and paths; every other key, and every secret, left alone. */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config/config.h"
#include "lib/log.h"

static struct tg_config_peek p;
static struct tg_config_errors errs;

static int peek(const char *json)
{
	return tg_config_peek_parse(json, strlen(json), &p, &errs);
}

/* json gives exactly one error, at path, starting with reason. */
static void bad(const char *json, const char *path, const char *reason)
{
	cr_expect(eq(int, peek(json), -EINVAL), "%s", json);
	cr_expect(eq(int, errs.n, 1), "%s: %d errors", json, errs.n);
	cr_expect(eq(str, errs.e[0].path, (char *)path), "%s", json);
	cr_expect(eq(int, strncmp(errs.e[0].reason, reason, strlen(reason)), 0), "%s: %s", json,
		  errs.e[0].reason);
}

Test(config_peek, defaults)
{
	cr_assert(eq(int, peek("{}"), 0));
	cr_assert(eq(str, p.instance, "default"));
	cr_assert(eq(str, p.api_listen, "127.0.0.1:9470"));
	cr_assert(eq(str, p.api_token_env, ""));
	cr_assert(eq(int, p.log_format, TG_LOG_LOGFMT));
	/* the embedded default reads the same */
	cr_assert(eq(int, tg_config_peek_parse(tg_default_config_json, strlen(tg_default_config_json),
					       &p, &errs), 0));
	cr_assert(eq(str, p.api_listen, "127.0.0.1:9470"));
}

/* What a systemd host has: secrets only in the unit's environment file,
 * and maybe keys this binary does not know. None of it matters here. */
Test(config_peek, other_keys_and_secrets_do_not_matter)
{
	unsetenv("TG_PEEK_UNSET");
	cr_assert(eq(int, peek("{\"instance\":\"edge\",\"api\":{\"listen\":\"localhost:19470\","
			       "\"token_env\":\"TG_PEEK_UNSET\",\"top_n\":\"x\",\"future\":1},"
			       "\"quotas\":{\"clients\":[{\"name\":\"a\",\"api_key_env\":\"TG_PEEK_UNSET\"}]},"
			       "\"webhooks\":[{\"secret_env\":\"TG_PEEK_UNSET\"}],\"mode\":\"nonsense\","
			       "\"log\":{\"format\":\"json\",\"level\":7},\"unknown\":[1]}"), 0),
		  "%s: %s", errs.e[0].path, errs.e[0].reason);
	cr_assert(eq(str, p.instance, "edge"));
	cr_assert(eq(str, p.api_listen, "127.0.0.1:19470"), "localhost is stored as 127.0.0.1");
	cr_assert(eq(str, p.api_token_env, "TG_PEEK_UNSET"));
	cr_assert(eq(int, p.log_format, TG_LOG_JSON));
	cr_assert(eq(int, peek("{\"api\":{\"token_env\":null}}"), 0));
	cr_assert(eq(str, p.api_token_env, ""));
}

Test(config_peek, the_keys_it_reads_are_checked)
{
	bad("[1]", "$", "expected an object");
	bad("{\"api\":", "$", "invalid JSON at 1:7");
	bad("{} x", "$", "invalid JSON");
	bad("", "$", "empty config");
	bad("{\"instance\":\"a/b\"}", "$.instance", "must be 1..31 characters");
	bad("{\"instance\":5}", "$.instance", "expected a string");
	bad("{\"api\":[]}", "$.api", "expected an object");
	bad("{\"api\":{\"listen\":\"127.0.0.1\"}}", "$.api.listen", "must be \"host:port\"");
	bad("{\"api\":{\"listen\":\"127.0.0.1:0\"}}", "$.api.listen", "must be \"host:port\"");
	bad("{\"api\":{\"listen\":\"127.0.0.1:65536\"}}", "$.api.listen", "must be \"host:port\"");
	bad("{\"api\":{\"token_env\":\"1X\"}}", "$.api.token_env", "must be an environment variable name");
	bad("{\"api\":{\"token_env\":3}}", "$.api.token_env", "expected null or a string");
	bad("{\"log\":{\"format\":\"xml\"}}", "$.log.format", "must be one of logfmt|json");
	bad("{\"log\":\"json\"}", "$.log", "expected an object");
	/* the good keys are kept beside a bad one */
	cr_assert(eq(int, peek("{\"instance\":\"x!\",\"log\":{\"format\":\"json\"}}"), -EINVAL));
	cr_assert(eq(int, p.log_format, TG_LOG_JSON));
}

Test(config_peek, files)
{
	char path[] = "/tmp/tg-peek-XXXXXX";
	int fd = mkstemp(path);

	cr_assert(ge(int, fd, 0));
	cr_assert(eq(int, (int)write(fd, "{\"instance\":\"f1\"}", 17), 17));
	close(fd);
	cr_assert(eq(int, tg_config_peek_load(path, &p, &errs), 0));
	cr_assert(eq(str, p.instance, "f1"));
	unlink(path);
	cr_assert(eq(int, tg_config_peek_load(path, &p, &errs), -ENOENT));
	cr_assert(eq(int, errs.n, 1));
	cr_assert(eq(str, errs.e[0].reason, "cannot read: No such file or directory"));
	cr_assert(eq(str, p.api_listen, "127.0.0.1:9470"));
	cr_assert(eq(int, tg_config_peek_load("/tmp", &p, &errs), -EINVAL));
	cr_assert(eq(str, errs.e[0].reason, "cannot read: not a regular file"));
}
