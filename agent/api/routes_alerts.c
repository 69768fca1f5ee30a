/* /v1/webhooks: delivery per webhook and the anomaly events sent, as JSON
 * (the same figures /metrics shows). */
#include <inttypes.h>
#include "alerts/alerts.h"
#include "api/routes.h"
#include "lib/buf.h"

void tg_h_webhooks(void *ctx, const struct tg_api_req *req, struct tg_api_resp *resp)
{
	struct tg_api_ctx *a = ctx;
	const struct tg_deliver *d = a->alerts->dl;
	struct tg_buf *b = &resp->body;
	size_t n = d ? tg_deliver_count(d) : 0;

	tg_buf_printf(b, "{\"webhooks\":[");
	for (size_t i = 0; i < n; i++) {
		struct tg_hook_stats st;

		tg_deliver_stats(d, i, &st);
		tg_buf_printf(b, "%s{\"name\":", i ? "," : "");
		tg_buf_json_str(b, tg_deliver_name(d, i));
		tg_buf_printf(b, ",\"queued\":%" PRIu64 ",\"in_flight\":%" PRIu64 ",\"enqueued\":%" PRIu64
			      ",\"filtered\":%" PRIu64 ",\"sent\":%" PRIu64 ",\"retries\":%" PRIu64
			      ",\"failures\":%" PRIu64 ",\"dead_letters\":%" PRIu64
			      ",\"spool_dropped\":%" PRIu64 ",\"replayed\":%" PRIu64
			      ",\"last_status\":%ld,\"delivery_ms_avg\":%.3f}",
			      st.queued, st.in_flight, st.enqueued, st.filtered, st.sent, st.retries,
			      st.failures, st.dead_letters, st.spool_dropped, st.replayed, st.last_status,
			      st.lat_count ? st.lat_sum_ms / (double)st.lat_count : 0.0);
	}
	tg_buf_printf(b, "],\"events\":%" PRIu64 ",\"events_critical\":%" PRIu64 "}\n",
		      a->alerts->events, a->alerts->urgent);
	if (b->oom)
		tg_api_error(resp, 503, "out of memory");
}
