/* routes: the default, valid and invalid entries, and the LLM keys whose
 * features have not landed. */
#include <stdlib.h>

#include <cjson/cJSON.h>
#include "config_check.h"

#define NSY "not supported yet"
#define R(s) "{\"routes\": [" s "]}"
#define NAME_BAD "must be 1..31 characters of a-z 0-9 _ -"
#define PREFIX_CHARS "must be printable ASCII without spaces, '?' or '#'"

Test(config_routes, default_is_openai_and_anthropic)
{
	static const struct { const char *name, *prefix; bool llm; } want[] = {
		{ "chat", "/v1/chat/completions", true },
		{ "completions", "/v1/completions", true },
		{ "responses", "/v1/responses", true },
		{ "embeddings", "/v1/embeddings", true },
		{ "messages", "/v1/messages", true },
		{ "models", "/v1/models", false },
	};

	/* the key left out, and the embedded default config */
	for (int pass = 0; pass < 2; pass++) {
		const char *json = pass ? tg_default_config_json : "{}";

		cr_assert(eq(int, parse(json), 0));
		cr_assert(eq(int, cfg.n_routes, 6));
		for (int i = 0; i < 6; i++) {
			cr_expect(eq(str, cfg.routes[i].name, (char *)want[i].name));
			cr_expect(eq(str, cfg.routes[i].prefix, (char *)want[i].prefix));
			cr_expect(eq(int, cfg.routes[i].llm, want[i].llm));
		}
	}
}

Test(config_routes, valid)
{
	char *out;
	cJSON *root, *a;

	ok(R(""));
	cr_expect(eq(int, cfg.n_routes, 0));
	ok(R("{\"name\": \"chat\", \"prefix\": \"/v1/chat/completions\", \"llm\": true},"
	     "{\"name\": \"v1\", \"prefix\": \"/v1/\"},"
	     "{\"name\": \"root_-9\", \"prefix\": \"/\"}"));
	cr_assert(eq(int, cfg.n_routes, 3));
	cr_expect(eq(str, cfg.routes[1].name, "v1"));
	cr_expect(eq(str, cfg.routes[1].prefix, "/v1/"));
	cr_expect(eq(int, cfg.routes[1].llm, 0)); /* llm defaults to false */
	cr_expect(eq(str, cfg.routes[2].prefix, "/"));
	/* 64 bytes is the longest prefix */
	ok(R("{\"name\": \"long\", \"prefix\": "
	     "\"/123456789012345678901234567890123456789012345678901234567890123\"}"));
	cr_expect(eq(sz, strlen(cfg.routes[0].prefix), 64));
	/* printed back as given, and read again to the same */
	ok(R("{\"name\": \"a\", \"prefix\": \"/a\", \"llm\": true}, {\"name\": \"b\", \"prefix\": \"/b\"}"));
	out = tg_config_to_json(&cfg);
	cr_assert(out != NULL);
	root = cJSON_Parse(out);
	a = cJSON_GetObjectItem(root, "routes");
	cr_assert(eq(int, cJSON_GetArraySize(a), 2));
	cr_expect(eq(str, cJSON_GetObjectItem(cJSON_GetArrayItem(a, 0), "prefix")->valuestring, "/a"));
	cr_expect(cJSON_IsTrue(cJSON_GetObjectItem(cJSON_GetArrayItem(a, 0), "llm")));
	cr_expect(cJSON_IsFalse(cJSON_GetObjectItem(cJSON_GetArrayItem(a, 1), "llm")));
	cJSON_Delete(root);
	ok(out);
	cr_expect(eq(int, cfg.n_routes, 2));
	free(out);
}

Test(config_routes, invalid)
{
	static const struct bad_case c[] = {
		{ "{\"routes\": {}}", "$.routes", "expected an array of {name, prefix, llm}" },
		{ R("5"), "$.routes[0]", "expected an object {name, prefix, llm}" },
		{ R("{\"prefix\": \"/a\"}"), "$.routes[0]", "needs a name" },
		{ R("{\"name\": \"a\"}"), "$.routes[0]", "needs a prefix" },
		{ R("{\"name\": \"A\", \"prefix\": \"/a\"}"), "$.routes[0].name", NAME_BAD },
		{ R("{\"name\": \"a.b\", \"prefix\": \"/a\"}"), "$.routes[0].name", NAME_BAD },
		{ R("{\"name\": \"\", \"prefix\": \"/a\"}"), "$.routes[0].name", NAME_BAD },
		{ R("{\"name\": \"abcdefghijklmnopqrstuvwxyz012345\", \"prefix\": \"/a\"}"),
		  "$.routes[0].name", NAME_BAD },
		{ R("{\"name\": 1, \"prefix\": \"/a\"}"), "$.routes[0].name", "expected a string" },
		{ R("{\"name\": \"other\", \"prefix\": \"/a\"}"), "$.routes[0].name",
		  "\"other\" is reserved (the route of requests that match none)" },
		{ R("{\"name\": \"a\", \"prefix\": \"v1/a\"}"), "$.routes[0].prefix",
		  "must start with '/'" },
		{ R("{\"name\": \"a\", \"prefix\": \"\"}"), "$.routes[0].prefix", "must start with '/'" },
		{ R("{\"name\": \"a\", \"prefix\": \"/a b\"}"), "$.routes[0].prefix", PREFIX_CHARS },
		{ R("{\"name\": \"a\", \"prefix\": \"/a?b\"}"), "$.routes[0].prefix", PREFIX_CHARS },
		{ R("{\"name\": \"a\", \"prefix\": \"/a#b\"}"), "$.routes[0].prefix", PREFIX_CHARS },
		{ R("{\"name\": \"a\", \"prefix\": \"/a\\tb\"}"), "$.routes[0].prefix", PREFIX_CHARS },
		{ R("{\"name\": \"a\", \"prefix\": \"/\\u00e9\"}"), "$.routes[0].prefix", PREFIX_CHARS },
		{ R("{\"name\": \"a\", \"prefix\": "
		    "\"/1234567890123456789012345678901234567890123456789012345678901234\"}"),
		  "$.routes[0].prefix", "at most 64 bytes" },
		{ R("{\"name\": \"a\", \"prefix\": \"/a\", \"llm\": 1}"), "$.routes[0].llm",
		  "expected a boolean" },
		{ R("{\"name\": \"a\", \"prefix\": \"/a\", \"model\": \"x\"}"), "$.routes[0].model",
		  "unknown key" },
		{ R("{\"name\": \"a\", \"name\": \"b\", \"prefix\": \"/a\"}"), "$.routes[0].name",
		  "duplicate key" },
		{ R("{\"name\": \"a\", \"prefix\": \"/a\"}, {\"name\": \"a\", \"prefix\": \"/b\"}"),
		  "$.routes[1]", "name \"a\" is taken by an earlier route" },
		{ R("{\"name\": \"a\", \"prefix\": \"/a\"}, {\"name\": \"b\", \"prefix\": \"/a\"}"),
		  "$.routes[1]", "prefix \"/a\" is taken by route \"a\"" },
	};

	BAD_ALL(c);
}

Test(config_routes, at_most_32)
{
	char json[8192];
	size_t n = 0;

	n += (size_t)snprintf(json + n, sizeof(json) - n, "{\"routes\": [");
	for (int i = 0; i < 33; i++)
		n += (size_t)snprintf(json + n, sizeof(json) - n,
				      "%s{\"name\": \"r%d\", \"prefix\": \"/r%d\"}", i ? "," : "", i, i);
	snprintf(json + n, sizeof(json) - n, "]}");
	bad(json, "$.routes", "at most 32 routes");
	/* 32 are fine */
	n = (size_t)(strstr(json, ",{\"name\": \"r32\"") - json);
	snprintf(json + n, sizeof(json) - n, "]}");
	ok(json);
	cr_expect(eq(int, cfg.n_routes, 32));
}

/* The keys of the LLM issue whose features come later. */
Test(config_routes, later_keys_not_supported_yet)
{
	static const struct bad_case c[] = {
		{ "{\"log\": {\"requests\": {\"sample\": 1}}}", "$.log.requests", NSY },
		{ "{\"quotas\": {\"clients\": [{\"name\": \"a\", \"cidr\": \"198.18.0.0/16\", "
		  "\"per_route\": {\"chat\": {\"requests_per_sec\": 1}}}]}}",
		  "$.quotas.clients[0].per_route", NSY },
		{ "{\"quotas\": {\"clients\": [{\"name\": \"a\", \"cidr\": \"198.18.0.0/16\", "
		  "\"per_model\": {\"gpt-4o\": {\"requests_per_sec\": 1}}}]}}",
		  "$.quotas.clients[0].per_model", NSY },
	};

	BAD_ALL(c);
}

Test(config_models, defaults_and_valid)
{
	char *out;

	ok("{}");
	cr_expect(eq(int, cfg.n_models, 0));
	cr_expect(eq(u32, cfg.body_scan_bytes, 512));
	ok("{\"models\": [\"gpt-4o\", \"claude-3-5-sonnet-20241022\", \"meta/llama 3:70b\"],"
	   " \"identity\": {\"body_scan_bytes\": 64}}");
	cr_assert(eq(int, cfg.n_models, 3));
	cr_expect(eq(str, cfg.models[0], "gpt-4o"));
	cr_expect(eq(str, cfg.models[2], "meta/llama 3:70b"));
	cr_expect(eq(u32, cfg.body_scan_bytes, 64));
	ok("{\"identity\": {\"body_scan_bytes\": 2048}}");
	cr_expect(eq(u32, cfg.body_scan_bytes, 2048));
	/* 63 bytes is the longest name */
	ok("{\"models\": [\"123456789012345678901234567890123456789012345678901234567890123\"]}");
	cr_expect(eq(sz, strlen(cfg.models[0]), 63));
	/* printed back, and read again to the same */
	ok("{\"models\": [\"a\", \"b-2\"]}");
	out = tg_config_to_json(&cfg);
	cr_assert(out != NULL);
	cr_expect(strstr(out, "\"models\":\t[\"a\", \"b-2\"]") != NULL, "%s", out);
	ok(out);
	cr_expect(eq(int, cfg.n_models, 2));
	free(out);
}

Test(config_models, rejected)
{
	static const struct bad_case c[] = {
		{ "{\"models\": \"gpt-4o\"}", "$.models", "expected an array of model names" },
		{ "{\"models\": [1]}", "$.models[0]", "expected a string" },
		{ "{\"models\": [\"\"]}", "$.models[0]", "must be 1..63 bytes" },
		{ "{\"models\": [\"1234567890123456789012345678901234567890123456789012345678901234\"]}",
		  "$.models[0]", "must be 1..63 bytes" },
		{ "{\"models\": [\"a\\\"b\"]}", "$.models[0]", "must be printable ASCII without '\"' or '\\'" },
		{ "{\"models\": [\"a\\\\b\"]}", "$.models[0]", "must be printable ASCII without '\"' or '\\'" },
		{ "{\"models\": [\"a\\tb\"]}", "$.models[0]", "must be printable ASCII without '\"' or '\\'" },
		{ "{\"models\": [\"other\"]}", "$.models[0]",
		  "\"other\" is reserved (the model of requests that name none of these)" },
		{ "{\"models\": [\"x\", \"y\", \"x\"]}", "$.models[2]", "\"x\" is listed twice" },
		{ "{\"identity\": {\"body_scan_bytes\": 63}}", "$.identity.body_scan_bytes",
		  "must be an integer in 64..2048" },
		{ "{\"identity\": {\"body_scan_bytes\": 2049}}", "$.identity.body_scan_bytes",
		  "must be an integer in 64..2048" },
	};

	BAD_ALL(c);
}

Test(config_models, at_most_64)
{
	char json[2048];
	size_t n = (size_t)snprintf(json, sizeof(json), "{\"models\": [");

	for (int i = 0; i < 65; i++)
		n += (size_t)snprintf(json + n, sizeof(json) - n, "%s\"m%d\"", i ? "," : "", i);
	snprintf(json + n, sizeof(json) - n, "]}");
	bad(json, "$.models", "at most 64 models");
	n = (size_t)(strstr(json, ",\"m64\"") - json);
	snprintf(json + n, sizeof(json) - n, "]}");
	ok(json);
	cr_expect(eq(int, cfg.n_models, 64));
}
