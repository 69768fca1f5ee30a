#include <inttypes.h>
#include "api/route_json.h"

/* ,"<field>":{...}: n ids, names[id * stride] each. */
static void counts_json(struct tg_buf *b, const char *field, const char *names, size_t stride,
			int n, const bool *live, const struct tg_route_count *c, bool nonzero_only)
{
	int first = 1;

	tg_buf_printf(b, ",\"%s\":{", field);
	for (int id = 0; id < n; id++) {
		const char *name = names + (size_t)id * stride;

		if (!live[id] || !name[0] || (nonzero_only && !c[id].requests))
			continue;
		tg_buf_printf(b, "%s", first ? "" : ",");
		first = 0;
		tg_buf_json_str(b, name);
		tg_buf_printf(b, ":{\"requests\":%" PRIu64 ",\"dropped\":%" PRIu64 "}",
			      (uint64_t)c[id].requests, (uint64_t)c[id].dropped);
	}
	tg_buf_printf(b, "}");
}

void tg_route_counts_json(struct tg_buf *b, const char (*names)[TG_ROUTE_NAME_LEN],
			  const bool *live, const struct tg_route_count *c, bool nonzero_only)
{
	counts_json(b, "routes", names[0], sizeof(names[0]), TG_ROUTE_IDS, live, c, nonzero_only);
}

void tg_model_counts_json(struct tg_buf *b, const char (*names)[TG_MODEL_NAME_LEN],
			  const bool *live, const struct tg_route_count *c)
{
	counts_json(b, "models", names[0], sizeof(names[0]), TG_MODEL_IDS, live, c, false);
}
