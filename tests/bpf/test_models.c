/* Models (kern/model.bpf.h) through the real TC program on crafted
 * packets: the JSON body's top-level "model" (in the headers' segment or
 * in the next one), nested and quoted decoys, escaped quotes, the edge of
 * the scan window, unknown names, no model; max_tokens and stream; exact
 * counts per (key, model), once per request; the pending count balanced. */
#include <criterion/criterion.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include "apikey.h"
#include "config/config.h"
#include "harness.h"
#include "bpf/quota_plan.h"
#include "lib/addr.h"
#include "lib/keyhash.h"

#define CLIENT "198.18.0.2"
#define HDRS "POST /v1/chat/completions HTTP/1.1\r\nHost: gw\r\nContent-Type: application/json\r\n" \
	     "Content-Length: 100\r\n\r\n"

static struct tg_config cfg;
static uint16_t sport = 21000;
static const char *const names[] = { "gpt-4o", "claude-3-5-haiku", "o3-mini" };

static void apply_settings(void)
{
	struct tg_settings s;
	__u32 zero = 0;

	tg_settings_build(&s, &cfg, 1);
	cr_assert_eq(bpf_map_update_elem(h_map_fd("tg_settings"), &zero, &s, 0), 0);
}

/* Writes cfg's models into tg_models, as the agent does (ids 1..n). */
static void apply_models(void)
{
	static const char none[TG_MODEL_IDS][TG_MODEL_NAME_LEN];
	int ids[TG_MAX_MODELS];

	tg_model_assign_ids(none, &cfg, ids);
	for (int i = 0; i < cfg.n_models; i++) {
		struct tg_model_name k;
		__u32 id = (__u32)ids[i];

		cr_assert_eq(id, (__u32)i + 1);
		tg_model_name_key(&k, cfg.models[i]);
		cr_assert_eq(bpf_map_update_elem(h_map_fd("tg_models"), &k, &id, 0), 0);
	}
	apply_settings();
}

static void setup(void)
{
	struct tg_quota q;
	cpu_set_t one;
	__u32 zero = 0;

	/* tg_route_state is per CPU: runs and reads on one CPU */
	CPU_ZERO(&one);
	CPU_SET(0, &one);
	cr_assert_eq(sched_setaffinity(0, sizeof(one), &one), 0);
	h_setup();
	tg_config_defaults(&cfg);
	cfg.mode = TG_MODE_MONITOR;
	cfg.n_routes = 0;
	tg_quota_build(&q, &cfg, NULL);
	cr_assert_eq(bpf_map_update_elem(h_map_fd("tg_quotas"), &zero, &q, 0), 0);
	cfg.n_models = 3;
	for (int i = 0; i < 3; i++)
		strcpy(cfg.models[i], names[i]);
	apply_models();
}

TestSuite(models, .init = setup, .fini = h_teardown, .timeout = 60);

/* The request the last run on CPU 0 resolved: tg_route_state's req, found
 * by the struct's BTF (the state is kernel-only). */
static struct tg_req_info last_req(void)
{
	const struct btf *btf = bpf_object__btf(skel->obj);
	int tid = btf__find_by_name_kind(btf, "tg_route_state", BTF_KIND_STRUCT);
	const struct btf_type *t;
	const struct btf_member *m;
	struct tg_req_info r;
	size_t vs = bpf_map__value_size(skel->maps.tg_route_state);
	size_t stride = (vs + 7) / 8 * 8;
	unsigned char *v = calloc((size_t)ncpus, stride);
	__u32 zero = 0, off = 0;

	cr_assert(tid > 0 && v);
	t = btf__type_by_id(btf, (__u32)tid);
	m = btf_members(t);
	for (int i = 0; i < btf_vlen(t); i++, m++)
		if (!strcmp(btf__name_by_offset(btf, m->name_off), "req"))
			off = m->offset / 8;
	cr_assert(off > 0);
	cr_assert_eq(bpf_map_lookup_elem(h_map_fd("tg_route_state"), &zero, v), 0);
	memcpy(&r, v + off, sizeof(r)); /* CPU 0 */
	free(v);
	return r;
}

static __u64 count(__u32 qid, __u32 model, int dropped)
{
	struct tg_route_count c = { 0 };
	__u32 idx = qid * TG_MODEL_IDS + model;

	cr_assert_eq(bpf_map_lookup_elem(h_map_fd("tg_model_keys"), &idx, &c), 0);
	return dropped ? c.dropped : c.requests;
}

/* Every (default key, model) count, "other" first. */
static void counts(__u64 out[4])
{
	for (__u32 m = 0; m < 4; m++)
		out[m] = count(0, m, 0);
}

static int pending(const char *addr)
{
	struct tg_client c;
	struct tg_addr k;

	cr_assert_eq(tg_addr_parse(addr, &k), 0);
	cr_assert_eq(bpf_map_lookup_elem(h_map_fd("tg_clients"), &k, &c), 0);
	return c.pending;
}

/* A new connection whose first segment is the headers and `body`. */
static void one_segment(const char *body)
{
	char buf[4096];
	int n = snprintf(buf, sizeof(buf), "%s%s", HDRS, body);

	cr_assert_eq(h_first_payload(CLIENT, sport++, buf, (size_t)n), TC_PASS);
}

/* The model a body in the headers' segment resolves to, and the counts
 * that moved: exactly one, under that model, or none for no model. */
static __u16 model_of(const char *body)
{
	__u64 before[4], after[4];
	struct tg_req_info r;

	counts(before);
	one_segment(body);
	counts(after);
	r = last_req();
	for (__u32 m = 0; m < 4; m++)
		cr_expect_eq(after[m] - before[m], (__u64)(m == r.model), "model %u of %s", m, body);
	return r.model;
}

Test(models, in_the_headers_segment)
{
	struct tg_req_info r;

	cr_expect_eq(model_of("{\"model\":\"gpt-4o\",\"messages\":[]}"), 1);
	cr_expect_eq(model_of("{ \"messages\": [{\"role\": \"user\", \"content\": \"hi\"}],\n"
			      "  \"model\" : \"o3-mini\" }"),
		     3);
	cr_expect_eq(model_of("{\"model\": \"claude-3-5-haiku\", \"max_tokens\": 1024}"), 2);
	r = last_req();
	cr_expect_eq(r.max_tokens, 1024);
	cr_expect_eq(r.flags & TG_REQ_STREAM, 0);
	cr_expect_eq(count(0, 1, 0), 1);
	cr_expect_eq(count(0, 2, 0), 1);
	cr_expect_eq(count(0, 3, 0), 1);
}

Test(models, unknown_escaped_and_long_names_are_other)
{
	cr_expect_eq(model_of("{\"model\":\"gpt-5\"}"), TG_MODEL_OTHER);
	cr_expect_eq(model_of("{\"model\":\"GPT-4o\"}"), TG_MODEL_OTHER);
	cr_expect_eq(model_of("{\"model\":\"gpt-4o \"}"), TG_MODEL_OTHER);
	cr_expect_eq(model_of("{\"model\":\"gpt-4\\u006f\"}"), TG_MODEL_OTHER);
	cr_expect_eq(model_of("{\"model\":\"\"}"), TG_MODEL_OTHER);
	cr_expect_eq(model_of("{\"model\":\"1234567890123456789012345678901234567890123456789012345678901234\"}"),
		     TG_MODEL_OTHER);
	cr_expect_eq(count(0, 0, 0), 6);
}

Test(models, no_model_field_is_none)
{
	/* a GET without a body */
	{
		const char *get = "GET /v1/models HTTP/1.1\r\nHost: gw\r\n\r\n";
		__u64 before[4], after[4];

		counts(before);
		cr_assert_eq(h_first_payload(CLIENT, sport++, get, strlen(get)), TC_PASS);
		counts(after);
		cr_expect_eq(memcmp(before, after, sizeof(after)), 0);
		cr_expect_eq(last_req().model, TG_MODEL_NONE);
		cr_expect_eq(pending(CLIENT), 0);
	}
	cr_expect_eq(model_of("{\"messages\":[],\"max_tokens\":5}"), TG_MODEL_NONE);
	cr_expect_eq(model_of("{\"model\":null,\"x\":\"gpt-4o\"}"), TG_MODEL_NONE);
	cr_expect_eq(model_of("{\"model\":5}"), TG_MODEL_NONE);
	cr_expect_eq(model_of("[{\"model\":\"gpt-4o\"}]"), TG_MODEL_NONE);
	cr_expect_eq(model_of("not json \"model\":\"gpt-4o\""), TG_MODEL_NONE);
	cr_expect_eq(model_of(""), TG_MODEL_NONE);
}

Test(models, nested_model_key_does_not_count)
{
	/* only in a nested object: none */
	cr_expect_eq(model_of("{\"messages\":[{\"role\":\"user\",\"model\":\"gpt-4o\"}]}"), TG_MODEL_NONE);
	cr_expect_eq(model_of("{\"metadata\":{\"model\":\"gpt-4o\"},\"n\":1}"), TG_MODEL_NONE);
	/* nested first, then the real one */
	cr_expect_eq(model_of("{\"tools\":[{\"function\":{\"model\":\"gpt-4o\"}}],\"model\":\"o3-mini\"}"), 3);
	/* a "model" as a value, not a key */
	cr_expect_eq(model_of("{\"x\":\"model\",\"y\":\"gpt-4o\"}"), TG_MODEL_NONE);
	/* the model's value an object: its strings are not the model */
	cr_expect_eq(model_of("{\"model\":{\"name\":\"gpt-4o\"}}"), TG_MODEL_NONE);
}

Test(models, escaped_quotes_before_the_real_key)
{
	/* a string value holding a quoted "model" key, with escaped quotes */
	cr_expect_eq(model_of("{\"prompt\":\"say \\\"model\\\": \\\"gpt-4o\\\" now\",\"model\":\"o3-mini\"}"), 3);
	/* an escaped backslash before a closing quote ends the string */
	cr_expect_eq(model_of("{\"prompt\":\"a\\\\\",\"model\":\"claude-3-5-haiku\"}"), 2);
	/* an escaped quote does not end it: what looks like a key is text */
	cr_expect_eq(model_of("{\"prompt\":\"a\\\",\\\"model\\\":\\\"gpt-4o\"}"), TG_MODEL_NONE);
	/* in a message's content, nested and quoted */
	cr_expect_eq(model_of("{\"messages\":[{\"content\":\"{\\\"model\\\":\\\"gpt-4o\\\"}\"}],"
			      "\"model\":\"claude-3-5-haiku\"}"),
		     2);
}

/* body_scan_bytes 64: a model whose closing quote is the window's last
 * byte counts; one byte further does not. */
Test(models, edge_of_the_scan_window)
{
	char body[256];
	const char *tail = "\",\"model\":\"gpt-4o\"}";
	size_t tl = strlen(tail) - 1; /* up to the model's closing quote */

	cfg.body_scan_bytes = 64;
	apply_settings();
	/* {"p":"xxx...","model":"gpt-4o" : closing quote at byte 63 */
	snprintf(body, sizeof(body), "{\"p\":\"%.*s%s", (int)(64 - 6 - tl),
		 "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", tail);
	cr_assert_eq(strchr(body, '}') - body, 64);
	cr_expect_eq(model_of(body), 1, "%s", body);
	snprintf(body, sizeof(body), "{\"p\":\"%.*s%s", (int)(65 - 6 - tl),
		 "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", tail);
	cr_assert_eq(strchr(body, '}') - body, 65);
	cr_expect_eq(model_of(body), TG_MODEL_NONE, "%s", body);
	/* max_tokens cut by the window's end is not read */
	snprintf(body, sizeof(body), "{\"model\":\"gpt-4o\",\"p\":\"%.*s\",\"max_tokens\":12345}",
		 23, "xxxxxxxxxxxxxxxxxxxxxxxx");
	cr_assert_eq(strstr(body, "12345") - body, 61);
	cr_expect_eq(model_of(body), 1);
	cr_expect_eq(last_req().max_tokens, 0, "%s", body);
	cfg.body_scan_bytes = 512;
	apply_settings();
}

Test(models, max_tokens_and_stream)
{
	struct tg_req_info r;

	cr_expect_eq(model_of("{\"model\":\"gpt-4o\",\"max_tokens\":256,\"stream\":true}"), 1);
	r = last_req();
	cr_expect_eq(r.max_tokens, 256);
	cr_expect_eq(r.flags & TG_REQ_STREAM, TG_REQ_STREAM);
	model_of("{\"max_completion_tokens\": 4096, \"stream\": false, \"model\":\"o3-mini\"}");
	r = last_req();
	cr_expect_eq(r.max_tokens, 4096);
	cr_expect_eq(r.flags & TG_REQ_STREAM, 0);
	model_of("{\"model\":\"gpt-4o\",\"max_output_tokens\":\n 77 ,\"stream\" : true }");
	r = last_req();
	cr_expect_eq(r.max_tokens, 77);
	cr_expect_eq(r.flags & TG_REQ_STREAM, TG_REQ_STREAM);
	/* nested ones do not count */
	model_of("{\"model\":\"gpt-4o\",\"o\":{\"max_tokens\":9,\"stream\":true}}");
	r = last_req();
	cr_expect_eq(r.max_tokens, 0);
	cr_expect_eq(r.flags & TG_REQ_STREAM, 0);
	/* other keys of the same family are not read */
	model_of("{\"model\":\"gpt-4o\",\"max_tokens_x\":9,\"streams\":true}");
	r = last_req();
	cr_expect_eq(r.max_tokens, 0);
	cr_expect_eq(r.flags & TG_REQ_STREAM, 0);
}

/* Headers in one segment, the body in the next (SDKs write them apart):
 * the model is counted when the body comes, once; the connection holds
 * the client's pending count only while its body is awaited. */
Test(models, body_split_from_its_headers)
{
	const char *body = "{\"model\":\"claude-3-5-haiku\",\"max_tokens\":300,\"stream\":true}";
	struct pkt_opts o = { .saddr = CLIENT, .sport = 30000, .flags = F_ACK };
	struct tg_req_info r;
	__u64 before[4], after[4];

	counts(before);
	cr_assert_eq(h_first_payload(CLIENT, 30000, HDRS, strlen(HDRS)), TC_PASS);
	counts(after);
	cr_expect_eq(memcmp(before, after, sizeof(after)), 0, "nothing counted before the body");
	cr_expect_eq(pending(CLIENT), 1);
	/* the headers again (a retransmission): no count, still pending */
	cr_assert_eq(h_first_payload(CLIENT, 30000, HDRS, strlen(HDRS)), TC_PASS);
	o.seq = 101 + (uint32_t)strlen(HDRS);
	o.payload = body;
	o.len = strlen(body);
	cr_assert_eq(h_run(&o, 0), TC_PASS);
	counts(after);
	cr_expect_eq(after[2] - before[2], 1);
	cr_expect_eq(after[0] + after[1] + after[3], before[0] + before[1] + before[3]);
	r = last_req();
	cr_expect_eq(r.model, 2);
	cr_expect_eq(r.max_tokens, 300);
	cr_expect_eq(r.flags & TG_REQ_STREAM, TG_REQ_STREAM);
	cr_expect_eq(pending(CLIENT), 0);
	/* the body again: not counted again */
	cr_assert_eq(h_run(&o, 0), TC_PASS);
	cr_expect_eq(count(0, 2, 0), after[2]);
	/* the next request on the connection, headers alone again, then a
	 * FIN before its body: the pending count comes back to zero */
	o.seq += (uint32_t)o.len;
	o.payload = HDRS;
	o.len = strlen(HDRS);
	cr_assert_eq(h_run(&o, 0), TC_PASS);
	cr_expect_eq(pending(CLIENT), 1);
	o.seq += (uint32_t)o.len;
	o.payload = NULL;
	o.len = 0;
	o.flags = F_ACK | F_FIN;
	cr_assert_eq(h_run(&o, 0), TC_PASS);
	cr_expect_eq(pending(CLIENT), 0);
	cr_expect_eq(count(0, 2, 0), after[2]);
}

/* A body split from headers whose next segment is another request start
 * (a POST without a body): the start is counted as usual, nothing
 * by model for the first, and the count stays balanced. */
Test(models, pending_body_replaced_by_the_next_start)
{
	const char *next = "POST /v1/chat/completions HTTP/1.1\r\nHost: gw\r\n\r\n{\"model\":\"o3-mini\"}";
	struct pkt_opts o = { .saddr = CLIENT, .sport = 30001, .flags = F_ACK };

	cr_assert_eq(h_first_payload(CLIENT, 30001, HDRS, strlen(HDRS)), TC_PASS);
	cr_expect_eq(pending(CLIENT), 1);
	o.seq = 101 + (uint32_t)strlen(HDRS);
	o.payload = next;
	o.len = strlen(next);
	cr_assert_eq(h_run(&o, 0), TC_PASS);
	cr_expect_eq(pending(CLIENT), 0);
	cr_expect_eq(count(0, 3, 0), 1);
	cr_expect_eq(count(0, 0, 0) + count(0, 1, 0) + count(0, 2, 0), 0);
}

/* Without models the body is not read and a split body holds nothing. */
Test(models, off_without_models)
{
	struct tg_model_name k;

	cfg.n_models = 0;
	apply_settings();
	for (int i = 0; i < 3; i++) {
		tg_model_name_key(&k, names[i]);
		bpf_map_delete_elem(h_map_fd("tg_models"), &k);
	}
	one_segment("{\"model\":\"gpt-4o\"}");
	cr_assert_eq(h_first_payload(CLIENT, 30002, HDRS, strlen(HDRS)), TC_PASS);
	cr_expect_eq(pending(CLIENT), 0);
	for (__u32 m = 0; m < 4; m++)
		cr_expect_eq(count(0, m, 0), 0);
}

/* Counted per key: an API key's requests under its quota id. */
Test(models, per_key)
{
	const char *key = "sk-test-models-0001";
	__u64 h = tg_apikey_hash(key, strlen(key));
	struct tg_quota_entry e;
	struct tg_quota q;
	__u32 id = 5;
	char buf[1024];
	int n;

	memset(&e, 0, sizeof(e));
	e.action = TG_ACTION_DROP;
	snprintf(e.name, sizeof(e.name), "team");
	tg_quota_build(&q, &cfg, &e);
	cr_assert_eq(bpf_map_update_elem(h_map_fd("tg_quotas"), &id, &q, 0), 0);
	cr_assert_eq(bpf_map_update_elem(h_map_fd("tg_apikeys"), &h, &id, 0), 0);
	cfg.quotas[0].match = TG_MATCH_API_KEY;
	cfg.n_quotas = 1;
	apply_settings();
	for (int i = 0; i < 3; i++) {
		n = snprintf(buf, sizeof(buf),
			     "POST /v1/chat/completions HTTP/1.1\r\nHost: gw\r\nAuthorization: Bearer %s\r\n"
			     "Content-Length: 20\r\n\r\n{\"model\":\"%s\"}",
			     key, names[i % 2]);
		cr_assert_eq(h_first_payload(CLIENT, sport++, buf, (size_t)n), TC_PASS);
	}
	one_segment("{\"model\":\"o3-mini\"}");
	cr_expect_eq(count(5, 1, 0), 2);
	cr_expect_eq(count(5, 2, 0), 1);
	cr_expect_eq(count(5, 3, 0), 0);
	cr_expect_eq(count(0, 3, 0), 1);
	cr_expect_eq(count(0, 1, 0), 0);
}
