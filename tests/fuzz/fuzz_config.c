/* tg_config_parse on arbitrary bytes. A config that parses must print
 * (secrets in clear) and parse back to the very same struct. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "config/config.h"

/* Big structs: static. tg_config_parse fills a cleared struct and copies
 * all of it, padding included, so memcmp compares like with like. */
static struct tg_config cfg, again;
static struct tg_config_errors errs;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *json;

	if (tg_config_parse((const char *)data, size, &cfg, &errs) != 0)
		return 0;
	json = tg_config_to_json_flags(&cfg, TG_CONFIG_JSON_SECRETS);
	if (!json) {
		fprintf(stderr, "tg_config_to_json failed on a valid config\n");
		abort();
	}
	if (tg_config_parse(json, strlen(json), &again, &errs) != 0) {
		fprintf(stderr, "printed config does not parse: %s: %s\n%s\n",
			errs.n ? errs.e[0].path : "?", errs.n ? errs.e[0].reason : "?", json);
		abort();
	}
	if (memcmp(&cfg, &again, sizeof(cfg)) != 0) {
		fprintf(stderr, "printed config parses to a different config:\n%s\n", json);
		abort();
	}
	free(json);
	return 0;
}
