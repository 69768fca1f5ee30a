/* Routes from the config to the kernel's table (agent/bpf/quota_plan.c):
 * ids stable by name, the table sorted longest prefix first with words
 * and masks a byte-wise compare reads, the settings flag; and the
 * "routes" JSON of /v1/clients and /v1/keys (agent/api/route_json.c). */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <stdio.h>
#include <string.h>
#include "api/route_json.h"
#include "bpf/quota_plan.h"

static struct tg_config cfg;
static char old[TG_ROUTE_IDS][TG_ROUTE_NAME_LEN];
static int ids[TG_MAX_ROUTES];

static void routes(int n, const char *const *names, const char *const *prefixes)
{
	tg_config_defaults(&cfg);
	memset(cfg.routes, 0, sizeof(cfg.routes));
	cfg.n_routes = n;
	for (int i = 0; i < n; i++) {
		snprintf(cfg.routes[i].name, TG_ROUTE_NAME_LEN, "%s", names[i]);
		snprintf(cfg.routes[i].prefix, sizeof(cfg.routes[i].prefix), "%s", prefixes[i]);
	}
}

/* Remembers the ids as the agent does (the name an id last held). */
static void keep_ids(void)
{
	for (int i = 0; i < cfg.n_routes; i++)
		snprintf(old[ids[i]], TG_ROUTE_NAME_LEN, "%s", cfg.routes[i].name);
}

/* The prefix a table row encodes, from its words and masks. */
static void decode(const struct tg_route_prefix *r, char *out)
{
	size_t n = 0;

	for (int b = 0; b < TG_ROUTE_PREFIX_MAX; b++) {
		if (!((r->m[b / 8] >> (8 * (b % 8))) & 0xff))
			break;
		out[n++] = (char)((r->w[b / 8] >> (8 * (b % 8))) & 0xff);
	}
	out[n] = '\0';
}

Test(route_plan, ids_in_order_then_stable_by_name)
{
	static const char *const n1[] = { "chat", "embeddings", "models" };
	static const char *const p1[] = { "/v1/chat/completions", "/v1/embeddings", "/v1/models" };
	static const char *const n2[] = { "models", "responses", "chat" };
	static const char *const p2[] = { "/v1/models", "/v1/responses", "/v1/chat/completions" };

	memset(old, 0, sizeof(old));
	routes(3, n1, p1);
	tg_route_assign_ids((const char (*)[TG_ROUTE_NAME_LEN])old, &cfg, ids);
	cr_expect(eq(int, ids[0], 1));
	cr_expect(eq(int, ids[1], 2));
	cr_expect(eq(int, ids[2], 3));
	keep_ids();
	/* reordered, embeddings gone, responses new: it takes an id nobody
	 * held (4), not embeddings' (2) */
	routes(3, n2, p2);
	tg_route_assign_ids((const char (*)[TG_ROUTE_NAME_LEN])old, &cfg, ids);
	cr_expect(eq(int, ids[0], 3));
	cr_expect(eq(int, ids[1], 4));
	cr_expect(eq(int, ids[2], 1));
	keep_ids();
	/* embeddings back: its old id */
	routes(3, n1, p1);
	tg_route_assign_ids((const char (*)[TG_ROUTE_NAME_LEN])old, &cfg, ids);
	cr_expect(eq(int, ids[1], 2));
}

Test(route_plan, every_id_used_once_with_32_routes)
{
	static char nm[TG_MAX_ROUTES][8], px[TG_MAX_ROUTES][8];
	const char *n[TG_MAX_ROUTES], *p[TG_MAX_ROUTES];
	int seen[TG_ROUTE_IDS] = { 0 };

	memset(old, 0, sizeof(old));
	/* 16 ids held by names that are gone */
	for (int i = 0; i < 16; i++)
		snprintf(old[2 * i + 1], TG_ROUTE_NAME_LEN, "gone%d", i);
	for (int i = 0; i < TG_MAX_ROUTES; i++) {
		snprintf(nm[i], sizeof(nm[i]), "r%d", i);
		snprintf(px[i], sizeof(px[i]), "/r%d", i);
		n[i] = nm[i];
		p[i] = px[i];
	}
	routes(TG_MAX_ROUTES, n, p);
	tg_route_assign_ids((const char (*)[TG_ROUTE_NAME_LEN])old, &cfg, ids);
	for (int i = 0; i < TG_MAX_ROUTES; i++) {
		cr_assert(ids[i] >= 1 && ids[i] <= TG_MAX_ROUTES, "id %d", ids[i]);
		cr_expect(eq(int, seen[ids[i]]++, 0), "id %d twice", ids[i]);
	}
	/* the never-held ids went first */
	cr_expect(eq(int, ids[0], 2));
}

Test(route_plan, table_longest_first_words_and_masks)
{
	static const char *const n[] = { "v1", "chat", "root", "long", "models" };
	static const char *const p[] = {
		"/v1/", "/v1/chat/completions", "/",
		"/123456789/123456789/123456789/123456789/123456789/123456789/123", "/v1/models",
	};
	static struct tg_route_table rt;
	struct tg_settings s;
	char got[TG_ROUTE_PREFIX_MAX + 1];
	__u32 prev = TG_ROUTE_PREFIX_MAX + 1;

	memset(old, 0, sizeof(old));
	routes(5, n, p);
	tg_route_assign_ids((const char (*)[TG_ROUTE_NAME_LEN])old, &cfg, ids);
	tg_routes_build(&rt, &cfg, ids);
	cr_assert(eq(u32, rt.n, 5));
	for (__u32 i = 0; i < rt.n; i++) {
		int src = -1;

		cr_expect(rt.r[i].len <= prev, "row %u longer than the one before", i);
		prev = rt.r[i].len;
		decode(&rt.r[i], got);
		for (int j = 0; j < 5; j++)
			if (!strcmp(p[j], got))
				src = j;
		cr_assert(src >= 0, "row %u: %s", i, got);
		cr_expect(eq(u32, rt.r[i].id, (__u32)ids[src]));
		cr_expect(eq(u32, rt.r[i].len, (__u32)strlen(p[src])));
	}
	/* the 64-byte one fills all eight words; "/" one byte of word 0 */
	cr_expect(eq(u64, rt.r[0].m[TG_ROUTE_WORDS - 1], ~0ULL));
	cr_expect(eq(u64, rt.r[4].m[0], 0xffULL));
	cr_expect(eq(u64, rt.r[4].w[0], (__u64)'/'));
	cr_expect(eq(u64, rt.r[4].m[1], 0));
	tg_settings_build(&s, &cfg, 1);
	cr_expect(eq(u32, s.flags & TG_SET_ROUTES, TG_SET_ROUTES));
	cfg.n_routes = 0;
	tg_settings_build(&s, &cfg, 1);
	cr_expect(eq(u32, s.flags & TG_SET_ROUTES, 0));
}

Test(route_json, names_counts_and_nonzero_only)
{
	static char names[TG_ROUTE_IDS][TG_ROUTE_NAME_LEN];
	bool live[TG_ROUTE_IDS] = { false };
	struct tg_route_count c[TG_ROUTE_IDS];
	struct tg_buf b;

	memset(c, 0, sizeof(c));
	strcpy(names[0], "other");
	strcpy(names[1], "chat");
	strcpy(names[2], "gone"); /* held once, not configured now */
	strcpy(names[5], "models");
	live[0] = live[1] = live[5] = true;
	c[0].requests = 3;
	c[1].requests = 7;
	c[1].dropped = 2;
	c[2].requests = 9;
	tg_buf_init(&b);
	tg_route_counts_json(&b, (const char (*)[TG_ROUTE_NAME_LEN])names, live, c, false);
	cr_expect(eq(str, b.data,
		     ",\"routes\":{\"other\":{\"requests\":3,\"dropped\":0},"
		     "\"chat\":{\"requests\":7,\"dropped\":2},\"models\":{\"requests\":0,\"dropped\":0}}"));
	tg_buf_free(&b);
	tg_buf_init(&b);
	tg_route_counts_json(&b, (const char (*)[TG_ROUTE_NAME_LEN])names, live, c, true);
	cr_expect(eq(str, b.data,
		     ",\"routes\":{\"other\":{\"requests\":3,\"dropped\":0},"
		     "\"chat\":{\"requests\":7,\"dropped\":2}}"));
	tg_buf_free(&b);
}

/* Models: ids by the one id rule, the settings flag and window, the
 * kernel's key of a name. */
Test(model_plan, ids_flag_and_name_key)
{
	static char mold[TG_MODEL_IDS][TG_MODEL_NAME_LEN];
	static struct tg_config mc;
	struct tg_settings s;
	struct tg_model_name k;
	int mids[TG_MAX_MODELS];

	memset(mold, 0, sizeof(mold));
	tg_config_defaults(&mc);
	tg_settings_build(&s, &mc, 1);
	cr_expect(eq(u32, s.flags & TG_SET_MODELS, 0));
	mc.n_models = 3;
	strcpy(mc.models[0], "gpt-4o");
	strcpy(mc.models[1], "claude-3-5-haiku");
	strcpy(mc.models[2], "text-embedding-3-small");
	mc.body_scan_bytes = 700;
	tg_settings_build(&s, &mc, 1);
	cr_expect(eq(u32, s.flags & TG_SET_MODELS, TG_SET_MODELS));
	cr_expect(eq(u32, s.body_scan_bytes, 700));
	tg_model_assign_ids((const char (*)[TG_MODEL_NAME_LEN])mold, &mc, mids);
	cr_expect(eq(int, mids[0], 1));
	cr_expect(eq(int, mids[1], 2));
	cr_expect(eq(int, mids[2], 3));
	for (int i = 0; i < 3; i++)
		strcpy(mold[mids[i]], mc.models[i]);
	/* reordered, one removed, one new: names keep their mids, the new
	 * name takes an id nobody held */
	mc.n_models = 3;
	strcpy(mc.models[0], "text-embedding-3-small");
	strcpy(mc.models[1], "o3-mini");
	strcpy(mc.models[2], "gpt-4o");
	tg_model_assign_ids((const char (*)[TG_MODEL_NAME_LEN])mold, &mc, mids);
	cr_expect(eq(int, mids[0], 3));
	cr_expect(eq(int, mids[1], 4));
	cr_expect(eq(int, mids[2], 1));
	/* 64 models take mids 1..64 */
	mc.n_models = TG_MAX_MODELS;
	for (int i = 0; i < TG_MAX_MODELS; i++)
		snprintf(mc.models[i], sizeof(mc.models[i]), "m%d", i);
	memset(mold, 0, sizeof(mold));
	tg_model_assign_ids((const char (*)[TG_MODEL_NAME_LEN])mold, &mc, mids);
	for (int i = 0; i < TG_MAX_MODELS; i++)
		cr_expect(eq(int, mids[i], i + 1));
	/* the kernel's key: the bytes, zero-padded */
	memset(&k, 0xff, sizeof(k));
	tg_model_name_key(&k, "gpt-4o");
	cr_expect(eq(u64, k.w[0], 0x6f342d747067ULL));
	for (int i = 1; i < TG_MODEL_NAME_WORDS; i++)
		cr_expect(eq(u64, k.w[i], 0));
}

Test(model_plan, models_json)
{
	static char mnames[TG_MODEL_IDS][TG_MODEL_NAME_LEN];
	bool live[TG_MODEL_IDS] = { false };
	struct tg_route_count c[TG_MODEL_IDS];
	struct tg_buf b;

	memset(c, 0, sizeof(c));
	strcpy(mnames[0], "other");
	strcpy(mnames[1], "gpt-4o");
	strcpy(mnames[2], "gone");
	strcpy(mnames[64], "meta/llama 3:70b");
	live[0] = live[1] = live[64] = true;
	c[0].requests = 2;
	c[1].requests = 5;
	c[1].dropped = 1;
	c[2].requests = 9; /* a removed model: not shown */
	tg_buf_init(&b);
	tg_model_counts_json(&b, (const char (*)[TG_MODEL_NAME_LEN])mnames, live, c);
	cr_expect(eq(str, b.data,
		     ",\"models\":{\"other\":{\"requests\":2,\"dropped\":0},"
		     "\"gpt-4o\":{\"requests\":5,\"dropped\":1},"
		     "\"meta/llama 3:70b\":{\"requests\":0,\"dropped\":0}}"));
	tg_buf_free(&b);
}
