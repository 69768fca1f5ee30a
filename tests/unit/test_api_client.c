/* The CLI's API client: which addresses get the API token. */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>

#include "cli/api_client.h"

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
