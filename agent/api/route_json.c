#include <inttypes.h>
#include "api/route_json.h"

void tg_route_counts_json(struct tg_buf *b, const char (*names)[TG_ROUTE_NAME_LEN],
			  const bool *live, const struct tg_route_count *c, bool nonzero_only)
{
	int first = 1;

	tg_buf_printf(b, ",\"routes\":{");
	for (int id = 0; id < TG_ROUTE_IDS; id++) {
		if (!live[id] || !names[id][0] || (nonzero_only && !c[id].requests))
			continue;
		tg_buf_printf(b, "%s", first ? "" : ",");
		first = 0;
		tg_buf_json_str(b, names[id]);
		tg_buf_printf(b, ":{\"requests\":%" PRIu64 ",\"dropped\":%" PRIu64 "}",
			      (uint64_t)c[id].requests, (uint64_t)c[id].dropped);
	}
	tg_buf_printf(b, "}");
}
