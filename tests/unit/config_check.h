/* Shared by the config unit tests: parse a JSON text into one static config
 * and assert it is accepted, or rejected with exactly one error. */
#ifndef TG_TEST_CONFIG_CHECK_H
#define TG_TEST_CONFIG_CHECK_H

#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <errno.h>
#include <string.h>

#include "config/config.h"

static struct tg_config cfg; /* ~300 KB: never on the stack */
static struct tg_config_errors errs;

static int parse(const char *json)
{
	return tg_config_parse(json, strlen(json), &cfg, &errs);
}

static void ok(const char *json)
{
	int rc = parse(json);

	cr_expect(eq(int, rc, 0), "%s -> %s: %s", json, errs.e[0].path, errs.e[0].reason);
}

/* json must give exactly one error, at path, with reason. */
static void bad(const char *json, const char *path, const char *reason)
{
	int rc = parse(json);

	cr_expect(eq(int, rc, -EINVAL), "%s", json);
	cr_expect(eq(int, errs.n, 1), "%s: %d errors (%s: %s)", json, errs.n, errs.e[0].path,
		  errs.e[0].reason);
	cr_expect(eq(str, errs.e[0].path, (char *)path), "%s", json);
	cr_expect(eq(str, errs.e[0].reason, (char *)reason), "%s", json);
}

/* A table of rejected configs, each with its one error. */
struct bad_case {
	const char *json, *path, *reason;
};

static inline void bad_all(const struct bad_case *c, size_t n)
{
	for (size_t i = 0; i < n; i++)
		bad(c[i].json, c[i].path, c[i].reason);
}

#define BAD_ALL(arr) bad_all(arr, sizeof(arr) / sizeof(arr[0]))

#endif
