/* The agent's side of sub-limits: the route of a request-target as the
 * kernel matches it, model ids, the slot index of each sub-limit, and the
 * flags that switch the kernel's sub-limit path on. */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <string.h>

#include "bpf/quota_plan.h"
#include "config/config.h"

static struct tg_config cfg;

static void load(const char *json)
{
	struct tg_config_errors errs;

	cr_assert(eq(int, tg_config_parse(json, strlen(json), &cfg, &errs), 0), "%s: %s",
		  errs.e[0].path, errs.e[0].reason);
}

#define CFG "{\"models\": [\"o1\", \"gpt-4o\"], \"routes\": [{\"name\": \"v1\", \"prefix\": \"/v1/\"}, " \
	    "{\"name\": \"chat\", \"prefix\": \"/v1/chat/completions\"}], " \
	    "\"quotas\": {\"clients\": [{\"name\": \"a\", \"api_key\": \"k1\"}, " \
	    "{\"name\": \"b\", \"api_key\": \"k2\", \"requests_per_sec\": 9, " \
	    "\"per_route\": {\"chat\": {\"requests_per_sec\": 2}, \"other\": {\"requests_per_sec\": 1}}, " \
	    "\"per_model\": {\"gpt-4o\": {\"requests_per_sec\": 3}, \"o1\": {\"requests_per_sec\": 4}, " \
	    "\"other\": {\"requests_per_sec\": 5}}}, " \
	    "{\"name\": \"c\", \"api_key\": \"k3\", \"per_model\": {\"o1\": {\"requests_per_sec\": 6}}}]}}"

Test(sublimit_plan, route_of_a_target_is_the_kernels)
{
	static struct tg_route_table rt;
	int ids[TG_MAX_ROUTES] = { 1, 2 };

	load(CFG);
	tg_routes_build(&rt, &cfg, ids);
	cr_expect(eq(int, tg_route_table_match(&rt, "/v1/chat/completions"), 2));
	cr_expect(eq(int, tg_route_table_match(&rt, "/v1/chat/completions?stream=1"), 2));
	cr_expect(eq(int, tg_route_table_match(&rt, "/v1/chat/completionsX"), 2), "a prefix");
	cr_expect(eq(int, tg_route_table_match(&rt, "/v1/chat"), 1), "the shorter route");
	cr_expect(eq(int, tg_route_table_match(&rt, "/v1/chat?/completions"), 1),
		  "the query string is not the path");
	cr_expect(eq(int, tg_route_table_match(&rt, "/v2/x"), TG_ROUTE_OTHER));
	cr_expect(eq(int, tg_route_table_match(&rt, ""), TG_ROUTE_OTHER));
	cr_expect(eq(int, tg_route_table_match(&rt, "/V1/chat/completions"), TG_ROUTE_OTHER),
		  "case matters, as in the kernel");
}

Test(sublimit_plan, models_and_slots)
{
	/* model ids as the models plan gives them (by id: 0 "other"), with a
	 * name an id held before that is no longer configured */
	char models[TG_MODEL_IDS][TG_MODEL_NAME_LEN] = { "other", "gpt-4o", "gone", "o1" };
	bool live[TG_MODEL_IDS] = { true, true, false, true };
	const char (*m)[TG_MODEL_NAME_LEN] = (const char (*)[TG_MODEL_NAME_LEN])models;
	int qids[3] = { 7, 8, 9 }, rids[2] = { 4, 3 }, idx[16];
	struct tg_quota q;

	load(CFG);
	cr_expect(eq(int, tg_model_id(m, live, TG_MODEL_IDS, "o1"), 3));
	cr_expect(eq(int, tg_model_id(m, live, TG_MODEL_IDS, "gpt-4o"), 1));
	cr_expect(eq(int, tg_model_id(m, live, TG_MODEL_IDS, "gone"), TG_MODEL_OTHER),
		  "a name its id no longer holds");
	cr_expect(eq(int, tg_model_id(m, NULL, TG_MODEL_IDS, "gone"), 2), "live NULL: any name");
	cr_expect(eq(int, tg_model_id(m, live, TG_MODEL_IDS, "gpt-5"), TG_MODEL_OTHER));
	cr_expect(eq(int, tg_model_id(m, live, TG_MODEL_IDS, "other"), TG_MODEL_OTHER));
	cr_expect(eq(int, tg_model_id(m, live, TG_MODEL_IDS, ""), TG_MODEL_NONE));
	cr_expect(eq(int, tg_model_id(m, live, TG_MODEL_IDS, NULL), TG_MODEL_NONE));
	cr_assert(eq(int, cfg.n_sublimits, 6));
	for (int i = 0; i < cfg.n_sublimits; i++)
		idx[i] = tg_sublimit_index(&cfg, &cfg.sublimits[i], qids, rids, m, live,
					   TG_MODEL_IDS);
	cr_expect(eq(int, idx[0], 8 * TG_SUB_SLOTS + 3), "b's chat: route id 3");
	cr_expect(eq(int, idx[1], 8 * TG_SUB_SLOTS + TG_ROUTE_OTHER));
	cr_expect(eq(int, idx[2], 8 * TG_SUB_SLOTS + TG_SUB_MODEL_SLOT(1)));
	cr_expect(eq(int, idx[3], 8 * TG_SUB_SLOTS + TG_SUB_MODEL_SLOT(3)));
	cr_expect(eq(int, idx[4], 8 * TG_SUB_SLOTS + TG_SUB_MODEL_SLOT(TG_MODEL_OTHER)));
	cr_expect(eq(int, idx[5], 9 * TG_SUB_SLOTS + TG_SUB_MODEL_SLOT(3)), "c's o1");
	/* the flag on b and c only, and the settings' */
	tg_quota_build(&q, &cfg, &cfg.quotas[0]);
	cr_expect(eq(u32, q.flags & TG_QUOTA_SUBLIMITS, 0));
	tg_quota_build(&q, &cfg, &cfg.quotas[1]);
	cr_expect(eq(u32, q.flags & TG_QUOTA_SUBLIMITS, TG_QUOTA_SUBLIMITS));
	tg_quota_build(&q, &cfg, &cfg.quotas[2]);
	cr_expect(eq(u32, q.flags & TG_QUOTA_SUBLIMITS, TG_QUOTA_SUBLIMITS));
	{
		struct tg_settings s;

		tg_settings_build(&s, &cfg, 1);
		cr_expect(eq(u32, s.flags & TG_SET_SUBLIMITS, TG_SET_SUBLIMITS));
		load("{}");
		tg_settings_build(&s, &cfg, 1);
		cr_expect(eq(u32, s.flags & TG_SET_SUBLIMITS, 0), "no sub-limits: flag off");
	}
}
