/* log.requests: off by default, its defaults, valid values and their round
 * trip, every rejection, and the kernel's sampling threshold. */
#include <stdlib.h>

#include <cjson/cJSON.h>
#include "config_check.h"

#define RQ(s) "{\"log\": {\"requests\": " s "}}"

Test(config_reqlog, off_by_default)
{
	cr_assert(eq(int, parse("{}"), 0));
	cr_expect(not(cfg.reqlog.enabled));
	cr_assert(eq(int, parse(tg_default_config_json), 0));
	cr_expect(not(cfg.reqlog.enabled));
	ok(RQ("null"));
	cr_expect(not(cfg.reqlog.enabled));
}

Test(config_reqlog, defaults)
{
	ok(RQ("{}"));
	cr_expect(cfg.reqlog.enabled);
	cr_expect(eq(dbl, cfg.reqlog.sample, 1.0));
	cr_expect(eq(u32, cfg.reqlog.max_per_sec, 1000));
	cr_expect(eq(str, cfg.reqlog.file, "stdout"));
}

Test(config_reqlog, valid_and_round_trip)
{
	char *out;
	cJSON *root, *r;

	ok(RQ("{\"sample\": 0.25, \"max_per_sec\": 0, \"file\": \"/var/log/tollgate/requests.log\"}"));
	cr_expect(eq(dbl, cfg.reqlog.sample, 0.25));
	cr_expect(eq(u32, cfg.reqlog.max_per_sec, 0));
	cr_expect(eq(str, cfg.reqlog.file, "/var/log/tollgate/requests.log"));
	out = tg_config_to_json(&cfg);
	cr_assert(out != NULL);
	root = cJSON_Parse(out);
	r = cJSON_GetObjectItem(cJSON_GetObjectItem(root, "log"), "requests");
	cr_assert(cJSON_IsObject(r));
	cr_expect(eq(dbl, cJSON_GetObjectItem(r, "sample")->valuedouble, 0.25));
	cr_expect(eq(int, cJSON_GetObjectItem(r, "max_per_sec")->valueint, 0));
	cr_expect(eq(str, cJSON_GetObjectItem(r, "file")->valuestring,
		     "/var/log/tollgate/requests.log"));
	/* the printed config parses to the same */
	ok(out);
	cr_expect(eq(dbl, cfg.reqlog.sample, 0.25));
	cr_expect(eq(str, cfg.reqlog.file, "/var/log/tollgate/requests.log"));
	cJSON_Delete(root);
	free(out);
	ok(RQ("{\"sample\": 0, \"max_per_sec\": 1000000, \"file\": \"stdout\"}"));
	ok(RQ("{\"sample\": 1}"));
}

Test(config_reqlog, invalid)
{
	static const struct bad_case c[] = {
		{ RQ("true"), "$.log.requests", "expected an object {sample, max_per_sec, file} or null" },
		{ RQ("{\"sample\": 1.5}"), "$.log.requests.sample", "must be a number in 0..1" },
		{ RQ("{\"sample\": -0.1}"), "$.log.requests.sample", "must be a number in 0..1" },
		{ RQ("{\"sample\": \"1\"}"), "$.log.requests.sample", "must be a number in 0..1" },
		{ RQ("{\"max_per_sec\": -1}"), "$.log.requests.max_per_sec",
		  "must be an integer in 0..1000000 (0: no cap)" },
		{ RQ("{\"max_per_sec\": 1.5}"), "$.log.requests.max_per_sec",
		  "must be an integer in 0..1000000 (0: no cap)" },
		{ RQ("{\"max_per_sec\": 1000001}"), "$.log.requests.max_per_sec",
		  "must be an integer in 0..1000000 (0: no cap)" },
		{ RQ("{\"file\": \"requests.log\"}"), "$.log.requests.file",
		  "must be \"stdout\" or an absolute path" },
		{ RQ("{\"file\": \"/var/log/\"}"), "$.log.requests.file",
		  "must name a file, not a directory" },
		{ RQ("{\"file\": \"/tmp/a\\nb\"}"), "$.log.requests.file",
		  "must not hold control characters" },
		{ RQ("{\"file\": 1}"), "$.log.requests.file",
		  "expected a string: \"stdout\" or an absolute path" },
		{ RQ("{\"files\": \"stdout\"}"), "$.log.requests.files", "unknown key" },
	};

	BAD_ALL(c);
}

Test(config_reqlog, threshold)
{
	cr_expect(eq(u32, tg_reqlog_threshold(0), 0));
	cr_expect(eq(u32, tg_reqlog_threshold(0.5), 0x80000000u));
	cr_expect(eq(u32, tg_reqlog_threshold(0.25), 0x40000000u));
	cr_expect(eq(u32, tg_reqlog_threshold(1), 0xffffffffu));
	cr_expect(eq(u32, tg_reqlog_threshold(1e-12), 0));
}
