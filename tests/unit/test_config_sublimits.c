/* quotas.clients[].per_route and per_model: valid sub-limits and their
 * defaults, the printed config read back, every rejection with its path. */
#include <stdlib.h>

#include <cjson/cJSON.h>
#include "config_check.h"

#define NSY "not supported yet"
#define E(s) "{\"models\": [\"gpt-4o\", \"meta-llama/Llama-3.1 8B\", \"x\"], \"quotas\": {\"clients\": [{\"name\": \"a\", \"api_key\": \"k1\", " s "}]}}"
#define C(s) "{\"quotas\": {\"clients\": [{\"name\": \"a\", \"cidr\": \"198.18.0.0/16\", " s "}]}}"

Test(config_sublimits, valid)
{
	ok(E("\"requests_per_sec\": 50, \"per_route\": {\"embeddings\": {\"requests_per_sec\": 200, "
	     "\"burst\": 400}, \"other\": {\"requests_per_sec\": 3}}, "
	     "\"per_model\": {\"gpt-4o\": {\"requests_per_sec\": 5}, \"other\": {\"requests_per_sec\": 1},"
	     "\"meta-llama/Llama-3.1 8B\": {\"requests_per_sec\": 2, \"burst\": 1}}"));
	cr_assert(eq(int, cfg.n_sublimits, 5));
	cr_expect(eq(str, cfg.sublimits[0].name, "embeddings"));
	cr_expect(eq(int, cfg.sublimits[0].kind, TG_SUB_ROUTE));
	cr_expect(eq(u64, cfg.sublimits[0].requests_per_sec, 200));
	cr_expect(eq(u64, cfg.sublimits[0].burst, 400));
	cr_expect(eq(u64, cfg.sublimits[1].burst, 3)); /* burst defaults to the rate */
	cr_expect(eq(int, cfg.sublimits[2].kind, TG_SUB_MODEL));
	cr_expect(eq(str, cfg.sublimits[2].name, "gpt-4o"));
	cr_expect(eq(str, cfg.sublimits[4].name, "meta-llama/Llama-3.1 8B"));
	cr_expect(eq(u64, cfg.sublimits[4].burst, 1));
	for (int i = 0; i < 5; i++)
		cr_expect(eq(int, cfg.sublimits[i].quota, 0));
	/* a shared CIDR entry, and an entry without limits of its own */
	ok(C("\"per_route\": {\"chat\": {\"requests_per_sec\": 1}}"));
	cr_expect(eq(int, cfg.n_sublimits, 1));
	/* sub-limits of the second entry name it */
	ok("{\"quotas\": {\"clients\": [{\"name\": \"a\", \"api_key\": \"k1\"}, {\"name\": \"b\", "
	   "\"api_key\": \"k2\", \"per_route\": {\"chat\": {\"requests_per_sec\": 1}}}]}}");
	cr_assert(eq(int, cfg.n_sublimits, 1));
	cr_expect(eq(int, cfg.sublimits[0].quota, 1));
	/* a custom route is a valid name */
	ok("{\"routes\": [{\"name\": \"gen\", \"prefix\": \"/gen\"}], \"quotas\": {\"clients\": "
	   "[{\"name\": \"a\", \"api_key\": \"k1\", \"per_route\": {\"gen\": {\"requests_per_sec\": 9}}}]}}");
	cr_expect(eq(int, cfg.n_sublimits, 1));
}

Test(config_sublimits, printed_and_read_back)
{
	char *out, *again;
	cJSON *root, *e, *l;

	ok(E("\"per_route\": {\"chat\": {\"requests_per_sec\": 7}}, "
	     "\"per_model\": {\"other\": {\"requests_per_sec\": 2, \"burst\": 4}}"));
	out = tg_config_to_json(&cfg);
	cr_assert(out != NULL);
	root = cJSON_Parse(out);
	cr_assert(root != NULL);
	e = cJSON_GetArrayItem(cJSON_GetObjectItem(cJSON_GetObjectItem(root, "quotas"), "clients"), 0);
	l = cJSON_GetObjectItem(cJSON_GetObjectItem(e, "per_route"), "chat");
	cr_expect(eq(int, cJSON_GetObjectItem(l, "requests_per_sec")->valueint, 7));
	cr_expect(eq(int, cJSON_GetObjectItem(l, "burst")->valueint, 7));
	l = cJSON_GetObjectItem(cJSON_GetObjectItem(e, "per_model"), "other");
	cr_expect(eq(int, cJSON_GetObjectItem(l, "burst")->valueint, 4));
	cJSON_Delete(root);
	/* the printed config (key redacted) is read again once the key is
	 * back: the same sub-limits */
	{
		char *p = strstr(out, "<redacted>");

		cr_assert(p != NULL);
		again = malloc(strlen(out) + 1);
		cr_assert(again != NULL);
		memcpy(again, out, (size_t)(p - out));
		strcpy(again + (p - out), "k1");
		strcat(again, p + strlen("<redacted>"));
	}
	ok(again);
	cr_expect(eq(int, cfg.n_sublimits, 2));
	free(again);
	free(out);
}

Test(config_sublimits, rejected)
{
	static const struct bad_case c[] = {
		{ E("\"per_route\": {\"nope\": {\"requests_per_sec\": 1}}"),
		  "$.quotas.clients[0].per_route.nope",
		  "not a configured route (routes[].name) or \"other\"" },
		{ E("\"per_route\": {\"Chat\": {\"requests_per_sec\": 1}}"),
		  "$.quotas.clients[0].per_route.Chat", "a route name is 1..31 characters of a-z 0-9 _ -" },
		{ E("\"per_model\": {\"a\\\"b\": {\"requests_per_sec\": 1}}"),
		  "$.quotas.clients[0].per_model[\"a\\\"b\"]",
		  "a model name is 1..63 bytes of printable ASCII without '\"' or '\\'" },
		{ E("\"per_model\": {\"gpt-5\": {\"requests_per_sec\": 1}}"),
		  "$.quotas.clients[0].per_model[\"gpt-5\"]",
		  "not a configured model (models[]) or \"other\"" },
		{ E("\"per_model\": {\"\": {\"requests_per_sec\": 1}}"),
		  "$.quotas.clients[0].per_model[\"\"]",
		  "a model name is 1..63 bytes of printable ASCII without '\"' or '\\'" },
		{ E("\"per_route\": []"), "$.quotas.clients[0].per_route",
		  "expected an object of {name: limits}" },
		{ E("\"per_route\": {\"chat\": 5}"), "$.quotas.clients[0].per_route.chat",
		  "expected an object: {requests_per_sec, burst}" },
		{ E("\"per_route\": {\"chat\": {}}"), "$.quotas.clients[0].per_route.chat",
		  "missing requests_per_sec" },
		{ E("\"per_route\": {\"chat\": {\"requests_per_sec\": 0}}"),
		  "$.quotas.clients[0].per_route.chat.requests_per_sec", "must be an integer in 1..1000000" },
		{ E("\"per_route\": {\"chat\": {\"requests_per_sec\": 1000001}}"),
		  "$.quotas.clients[0].per_route.chat.requests_per_sec", "must be an integer in 1..1000000" },
		{ E("\"per_route\": {\"chat\": {\"requests_per_sec\": 1, \"burst\": 0}}"),
		  "$.quotas.clients[0].per_route.chat.burst", "must be an integer in 1..1000000000" },
		{ E("\"per_route\": {\"chat\": {\"requests_per_sec\": 1, \"bytes_per_sec\": 100}}"),
		  "$.quotas.clients[0].per_route.chat.bytes_per_sec",
		  NSY " (a sub-limit limits requests)" },
		{ E("\"per_model\": {\"x\": {\"requests_per_sec\": 1, \"max_connections\": 1}}"),
		  "$.quotas.clients[0].per_model.x.max_connections", NSY " (a sub-limit limits requests)" },
		{ E("\"per_route\": {\"chat\": {\"requests_per_sec\": 1, \"rps\": 1}}"),
		  "$.quotas.clients[0].per_route.chat.rps", "unknown key" },
		{ E("\"per_route\": {\"chat\": {\"requests_per_sec\": 1}, \"chat\": {\"requests_per_sec\": 2}}"),
		  "$.quotas.clients[0].per_route.chat", "duplicate key" },
		{ C("\"share\": \"per_address\", \"per_route\": {\"chat\": {\"requests_per_sec\": 1}}"),
		  "$.quotas.clients[0].per_route", NSY " with share per_address" },
		{ E("\"action\": \"exempt\", \"per_model\": {\"x\": {\"requests_per_sec\": 1}}"),
		  "$.quotas.clients[0].per_model", "limits make no sense with action exempt" },
		{ E("\"action\": \"deny\", \"per_route\": {\"chat\": {\"requests_per_sec\": 1}}"),
		  "$.quotas.clients[0].per_route", "limits make no sense with action deny" },
		/* quotas.default has one bucket per address: no sub-limits */
		{ "{\"quotas\": {\"default\": {\"per_route\": {\"chat\": {\"requests_per_sec\": 1}}}}}",
		  "$.quotas.default.per_route", "unknown key" },
		/* routes turned off: only "other" is a route */
		{ "{\"routes\": [], \"quotas\": {\"clients\": [{\"name\": \"a\", \"api_key\": \"k1\", "
		  "\"per_route\": {\"chat\": {\"requests_per_sec\": 1}}}]}}",
		  "$.quotas.clients[0].per_route.chat",
		  "not a configured route (routes[].name) or \"other\"" },
	};

	BAD_ALL(c);
}

Test(config_sublimits, at_most_one_per_route_id)
{
	static char json[8192];
	size_t n = 0;

	n += (size_t)snprintf(json + n, sizeof(json) - n,
			      "{\"quotas\": {\"clients\": [{\"name\": \"a\", \"api_key\": \"k1\", \"per_model\": {");
	for (int i = 0; i < TG_MODEL_IDS + 1; i++)
		n += (size_t)snprintf(json + n, sizeof(json) - n, "%s\"m%d\": {\"requests_per_sec\": 1}",
				      i ? "," : "", i);
	snprintf(json + n, sizeof(json) - n, "}}]}}");
	bad(json, "$.quotas.clients[0].per_model", "at most 65 entries");
}
