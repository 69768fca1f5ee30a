/* Webhook delivery on the agent's loop, HTTP through curl_uv.c.
 *
 * Each webhook's queue is its spool's list. An item is in flight while its
 * owner points at its request; at most TG_HOOK_MAX_IN_FLIGHT are. A
 * retryable failure pauses that webhook alone (its own uv_timer) until the
 * backoff or Retry-After expires; requests already in flight finish.
 * Every uv handle counts in open_handles and its memory goes in its close
 * callback; the deliverer itself goes with the last one after
 * tg_deliver_free. */
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>
#include <curl/curl.h>

#include "deliver/curl_uv.h"
#include "formats/formats.h"
#include "lib/log.h"
#include "deliver/retry.h"
#include "deliver/sign.h"
#include "deliver/spool.h"
#include "deliver/deliver.h"
#include "deliver/hook_http.h"
#include "lib/clock.h"

/* What a reload may replace in a kept webhook: prepared aside, swapped in
 * only when every webhook of the new config prepared fine. */
struct settings {
	struct tg_webhook_config cfg;
	unsigned char key[TG_SECRET_MAX];
	int key_len; /* 0: unsigned */
	const struct tollgate_hook *fmt;
	void *fmt_state;
	void *plugin;
};

struct hook {
	uv_timer_t backoff; /* runs while paused */
	struct tg_deliver *d;
	struct settings set;
	struct tg_spool spool;
	struct tg_hook_stats st;
	unsigned attempt;   /* failed rounds in a row: the backoff exponent */
	unsigned in_flight;
	uint64_t resume_at; /* uv_now() ms, while paused */
	bool paused, closing;
};

struct req {
	struct hook *h;
	struct tg_spool_item *it;
	struct tg_hook_http http;
};

struct tg_deliver {
	uv_loop_t *loop;
	struct tg_curl_uv *cu;
	struct hook *hooks[TG_MAX_WEBHOOKS];
	size_t n;
	int open_handles; /* hooks' timers, and cu */
	bool stopped, free_pending;
	size_t spool_max;
	tg_triage_fn on_triage;
	void *triage_arg;
	char state_dir[TG_PATH_LEN], instance[64], host[256], version[32];
	char user_agent[48];
};

static const char *const format_names[] = { "generic", "alertmanager", "slack", "openai",
					    "plugin" };
static const char *const sev_names[] = { "info", "warning", "critical" };

static void hook_kick(struct hook *h);

static const char *sev_name(int sev)
{
	return sev >= 0 && sev < 3 ? sev_names[sev] : "unknown";
}

static void maybe_free(struct tg_deliver *d)
{
	if (d->free_pending && d->open_handles == 0) {
		free(d);
		curl_global_cleanup();
	}
}

/* ---- settings: format binding and signing key ------------------------ */

static char *options_json(const struct tg_webhook_config *c)
{
	cJSON *o = cJSON_CreateObject(), *hdrs;
	char *s = NULL;
	int i;

	if (!o)
		return NULL;
	cJSON_AddStringToObject(o, "name", c->name);
	cJSON_AddStringToObject(o, "url", c->url);
	if (c->format >= 0 && c->format <= TG_FMT_PLUGIN)
		cJSON_AddStringToObject(o, "format", format_names[c->format]);
	cJSON_AddStringToObject(o, "min_severity", sev_name(c->min_severity));
	cJSON_AddNumberToObject(o, "timeout_ms", c->timeout_ms);
	/* Names only: a header is how many receivers take their token. */
	hdrs = cJSON_AddArrayToObject(o, "headers");
	for (i = 0; hdrs && i < c->n_headers && i < TG_MAX_HOOK_HEADERS; i++)
		cJSON_AddItemToArray(hdrs, cJSON_CreateString(c->headers[i].name));
	if (c->model[0])
		cJSON_AddStringToObject(o, "model", c->model);
	if (c->plugin[0])
		cJSON_AddStringToObject(o, "plugin", c->plugin);
	/* The plugin's own settings, in clear: they are meant for it. */
	if (c->options[0]) {
		cJSON *opt = cJSON_Parse(c->options);

		if (!opt || !cJSON_AddItemToObject(o, "options", opt))
			cJSON_Delete(opt);
	}
	s = cJSON_PrintUnformatted(o);
	cJSON_Delete(o);
	return s;
}

static void settings_close(struct settings *s)
{
	if (s->fmt && s->fmt->fini)
		s->fmt->fini(s->fmt_state);
	if (s->plugin)
		tg_format_plugin_close(s->plugin);
	s->fmt = NULL;
	s->fmt_state = s->plugin = NULL;
	explicit_bzero(s->key, sizeof(s->key));
	explicit_bzero(s->cfg.secret, sizeof(s->cfg.secret));
	explicit_bzero(s->cfg.api_key, sizeof(s->cfg.api_key));
}

static int settings_open(struct settings *s, const struct tg_webhook_config *cfg, char *err,
			 size_t errlen)
{
	const char *ferr = NULL;
	char why[640];
	char *opts;

	memset(s, 0, sizeof(*s));
	s->cfg = *cfg;
	s->cfg.name[sizeof(s->cfg.name) - 1] = '\0';
	s->cfg.url[sizeof(s->cfg.url) - 1] = '\0';
	if (s->cfg.timeout_ms == 0) /* never "no timeout": a hung receiver would hold the window */
		s->cfg.timeout_ms = 5000;
	if (cfg->secret_len > 0) {
		s->key_len = tg_sign_key(cfg->secret, cfg->secret_len, s->key, sizeof(s->key));
		if (s->key_len <= 0) {
			snprintf(err, errlen,
				 "webhook %s: secret starts with whsec_ but is not base64",
				 s->cfg.name);
			return -EINVAL;
		}
	}
	if (cfg->format == TG_FMT_PLUGIN) {
		/* root's alone: the config check refused anything else already,
		 * this is the same check at load time */
		if (tg_format_plugin_open(cfg->plugin, 0, &s->fmt, &s->plugin, why, sizeof(why)) < 0) {
			snprintf(err, errlen, "webhook %s: %s", s->cfg.name, why);
			return -EINVAL;
		}
	} else {
		s->fmt = tg_format_builtin(cfg->format);
	}
	if (!s->fmt || !s->fmt->format) {
		snprintf(err, errlen, "webhook %s: unknown format %d", s->cfg.name, cfg->format);
		settings_close(s);
		return -EINVAL;
	}
	opts = options_json(&s->cfg);
	if (!opts) {
		snprintf(err, errlen, "webhook %s: out of memory", s->cfg.name);
		settings_close(s);
		return -ENOMEM;
	}
	if (s->fmt->init)
		s->fmt_state = s->fmt->init(s->cfg.name, opts, &ferr);
	free(opts);
	if (ferr) {
		snprintf(err, errlen, "webhook %s: format %s: %s", s->cfg.name,
			 s->fmt->name ? s->fmt->name : "?", ferr);
		s->fmt_state = NULL;
		s->fmt = NULL; /* init failed: no fini */
		settings_close(s);
		return -EINVAL;
	}
	return 0;
}

/* ---- requests --------------------------------------------------------- */

static void req_free(struct req *r)
{
	if (!r)
		return;
	tg_hook_http_free(&r->http);
	free(r);
}

/* Abandons an in-flight request; its item stays queued. */
static void req_abort(struct req *r)
{
	struct hook *h = r->h;

	tg_curl_uv_remove(h->d->cu, r->http.easy);
	r->it->owner = NULL;
	h->in_flight--;
	req_free(r);
}

/* ---- pause and resume -------------------------------------------------- */

static void on_resume(uv_timer_t *t)
{
	struct hook *h = t->data;

	h->paused = false;
	hook_kick(h);
}

/* A retryable failure: the webhook waits. Failures of requests that were
 * in flight together count as one round, so a receiver that is down does
 * not run the exponent up sixteen steps at once. */
static uint64_t hook_pause(struct hook *h, int64_t retry_after_ms)
{
	uint64_t now = uv_now(h->d->loop), delay;

	if (h->paused) {
		if (retry_after_ms >= 0 && now + (uint64_t)retry_after_ms > h->resume_at) {
			h->resume_at = now + (uint64_t)retry_after_ms;
			uv_timer_start(&h->backoff, on_resume, (uint64_t)retry_after_ms, 0);
		}
		return h->resume_at > now ? h->resume_at - now : 0;
	}
	/* A Retry-After of 0 (or a date gone by) is floored at the base: a
	 * receiver that keeps saying "now" must not get a hot loop. */
	if (retry_after_ms >= 0)
		delay = retry_after_ms > TG_RETRY_BASE_MS ? (uint64_t)retry_after_ms
							   : TG_RETRY_BASE_MS;
	else
		delay = tg_retry_backoff_ms(h->attempt, TG_RETRY_BASE_MS,
				      h->set.cfg.retry_max_ms ? h->set.cfg.retry_max_ms : TG_RETRY_CAP_MS,
				      arc4random());
	h->attempt++;
	h->paused = true;
	h->resume_at = now + delay;
	uv_timer_start(&h->backoff, on_resume, delay, 0);
	return delay;
}

/* ---- outcomes ------------------------------------------------------------ */

static void note_latency(struct tg_hook_stats *st, uint64_t created_ns)
{
	uint64_t now = tg_now_wall_ns(), bound = 1;
	double ms;
	int i = 0;

	ms = now > created_ns ? (double)(now - created_ns) / 1e6 : 0;
	while (i < TG_HOOK_LAT_BUCKETS - 1 && ms > (double)bound) {
		bound *= 2;
		i++;
	}
	st->lat_bucket[i]++;
	st->lat_sum_ms += ms;
	st->lat_count++;
}

static void triage(struct hook *h, struct req *r, const char *id, int sev)
{
	struct tg_deliver *d = h->d;
	char tid[40], err[160] = "", q[200];
	char *json = NULL;

	if (r->http.capped)
		snprintf(err, sizeof(err), "answer larger than %u bytes", TG_HOOK_RESP_KEEP_MAX);
	else
		json = tg_openai_triage_event(r->http.resp ? r->http.resp : "", r->http.resp_len,
					      id, sev, d->instance, d->host, d->version,
					      h->set.cfg.model, tid, err, sizeof(err));
	if (!json) {
		h->st.triage_failures++;
		pr_warn("openai triage failed", "webhook=%s id=%s reason=%s", h->set.cfg.name, id,
			tg_log_quote(q, sizeof(q), err[0] ? err : "unknown"));
		return;
	}
	tid[sizeof(tid) - 1] = '\0';
	d->on_triage(d->triage_arg, tid, sev, json, strlen(json));
	free(json);
}

static void req_done(struct req *r, CURLcode res)
{
	struct hook *h = r->h;
	struct tg_spool_item *it = r->it;
	struct tg_hook_result out;
	long status;
	char q[160];

	tg_hook_http_result(&r->http, res, &out);
	res = out.res;
	status = out.status;
	it->owner = NULL;
	h->in_flight--;
	h->st.last_status = status;

	if (res == CURLE_OK && status >= 200 && status <= 299) {
		char id[sizeof(it->id)];
		int sev = it->severity;

		note_latency(&h->st, it->created_ns);
		h->st.sent++;
		if (h->attempt > 0)
			pr_info("webhook delivering again", "webhook=%s", h->set.cfg.name);
		h->attempt = 0;
		pr_debug("webhook delivered", "webhook=%s id=%s status=%ld attempts=%d",
			 h->set.cfg.name, it->id, status, it->attempts);
		strcpy(id, it->id);
		if (tg_spool_done(&h->spool, it) < 0)
			pr_warn("spool file not removed: it will be sent again", "webhook=%s id=%s",
				h->set.cfg.name, it->id);
		tg_spool_item_free(it);
		if (r->http.keep_resp && h->set.cfg.format == TG_FMT_OPENAI && h->d->on_triage)
			triage(h, r, id, sev);
	} else if (res != CURLE_OK || tg_retry_status(status)) {
		bool first = !h->paused;
		uint64_t delay;

		h->st.failures++;
		h->st.retries++;
		delay = hook_pause(h, out.retry_after_ms);
		/* One warning per round; the rest of the window at debug. */
		tg_log(first ? TG_LOG_WARN : TG_LOG_DEBUG, "webhook attempt failed, will retry",
		       "webhook=%s id=%s status=%ld err=%s attempt=%d retry_in_ms=%" PRIu64,
		       h->set.cfg.name, it->id, status,
		       tg_log_quote(q, sizeof(q),
				    res != CURLE_OK ? curl_easy_strerror(res) : "none"),
		       it->attempts, delay);
	} else {
		char reason[32];
		int rc;

		h->st.failures++;
		snprintf(reason, sizeof(reason), "HTTP %ld", status);
		rc = tg_spool_dead(&h->spool, it, status, reason);
		pr_err("webhook refused event, moved to dead letters",
		       "webhook=%s id=%s status=%ld%s", h->set.cfg.name, it->id, status,
		       rc < 0 ? " dead_letter_write=failed" : "");
		tg_spool_item_free(it);
	}
	req_free(r);
	hook_kick(h);
}

static void on_transfer_done(void *arg, CURL *easy, CURLcode res)
{
	char *priv = NULL;

	curl_easy_getinfo(easy, CURLINFO_PRIVATE, &priv);
	if (priv)
		req_done((struct req *)priv, res);
}

/* ---- starting requests ---------------------------------------------------- */

/* 0: started or disposed of (go on); -1: the webhook paused. */
static int req_start(struct hook *h, struct tg_spool_item *it)
{
	struct tg_hook_http_opts o = {
		.cfg = &h->set.cfg,
		.key = h->set.key,
		.key_len = (size_t)h->set.key_len,
		.id = it->id,
		.user_agent = h->d->user_agent,
		.keep_resp = h->set.cfg.format == TG_FMT_OPENAI,
	};
	char ct[64], q[64], *body = NULL;
	struct req *r;
	size_t len = 0;
	int rc;

	rc = tg_spool_read(&h->spool, it, &body, &len, ct, sizeof(ct));
	if (rc == -EBADMSG || rc == -ENOENT || rc == -EFBIG) {
		pr_err("spool file unreadable, moved to dead letters", "webhook=%s id=%s err=%s",
		       h->set.cfg.name, it->id, tg_log_quote(q, sizeof(q), strerror(-rc)));
		tg_spool_dead(&h->spool, it, 0, "corrupt spool file");
		tg_spool_item_free(it);
		return 0;
	}
	r = rc < 0 ? NULL : calloc(1, sizeof(*r));
	if (!r) {
		free(body);
		goto fail;
	}
	r->h = h;
	r->it = it;
	o.content_type = ct;
	o.priv = r;
	if (tg_hook_http_init(&r->http, &o, body, len) < 0 ||
	    tg_curl_uv_add(h->d->cu, r->http.easy) < 0)
		goto fail;
	it->owner = r;
	it->attempts++;
	h->in_flight++;
	return 0;
fail:
	req_free(r);
	h->st.failures++;
	pr_warn("webhook request not started, will retry", "webhook=%s id=%s retry_in_ms=%" PRIu64,
		h->set.cfg.name, it->id, hook_pause(h, -1));
	return -1;
}

static void hook_kick(struct hook *h)
{
	struct tg_spool_item *it, *next;

	if (h->closing || h->d->stopped)
		return;
	it = h->spool.head;
	while (!h->paused && h->in_flight < TG_HOOK_MAX_IN_FLIGHT && it) {
		next = it->next; /* req_start may free a corrupt item */
		if (!it->owner && req_start(h, it) < 0)
			break;
		it = next;
	}
}

static void on_cu_closed(void *arg)
{
	struct tg_deliver *d = arg;

	d->open_handles--;
	maybe_free(d);
}

/* ---- webhooks ---------------------------------------------------------- */

static void hook_destroy(struct hook *h)
{
	settings_close(&h->set);
	tg_spool_close(&h->spool);
	free(h);
}

static void on_hook_closed(uv_handle_t *hd)
{
	struct hook *h = hd->data;
	struct tg_deliver *d = h->d;

	hook_destroy(h);
	d->open_handles--;
	maybe_free(d);
}

static void hook_abort_all(struct hook *h)
{
	struct tg_spool_item *it;

	for (it = h->spool.head; it; it = it->next)
		if (it->owner)
			req_abort(it->owner);
}

static void hook_close(struct hook *h)
{
	h->closing = true;
	hook_abort_all(h);
	uv_timer_stop(&h->backoff);
	uv_close((uv_handle_t *)&h->backoff, on_hook_closed);
}

/* Everything that can fail, before any uv handle exists. */
static int hook_prepare(struct tg_deliver *d, const struct tg_webhook_config *cfg,
			struct hook **out, char *err, size_t errlen)
{
	struct hook *h = calloc(1, sizeof(*h));
	int rc;

	if (!h) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	h->d = d;
	rc = settings_open(&h->set, cfg, err, errlen);
	if (rc == 0)
		rc = tg_spool_open(&h->spool, d->state_dir, d->instance, h->set.cfg.name,
				   d->spool_max, err, errlen);
	if (rc < 0) {
		hook_destroy(h);
		return rc;
	}
	h->st.replayed = h->spool.n_items;
	*out = h;
	return 0;
}

static void hook_start(struct hook *h)
{
	struct tg_deliver *d = h->d;

	uv_timer_init(d->loop, &h->backoff);
	h->backoff.data = h;
	d->open_handles++;
	if (h->spool.dead > 0)
		pr_warn("corrupt spool files moved to dead letters", "webhook=%s files=%" PRIu64,
			h->set.cfg.name, h->spool.dead);
	if (h->spool.n_items > 0)
		pr_info("replaying spooled events", "webhook=%s events=%zu", h->set.cfg.name,
			h->spool.n_items);
}

static int check_names(const struct tg_webhook_config *hooks, int n, char *err, size_t errlen)
{
	int i, j;

	if (n < 0 || n > TG_MAX_WEBHOOKS || (n > 0 && !hooks)) {
		snprintf(err, errlen, "between 0 and %d webhooks", TG_MAX_WEBHOOKS);
		return -EINVAL;
	}
	for (i = 0; i < n; i++)
		for (j = 0; j < i; j++)
			if (strncmp(hooks[i].name, hooks[j].name, TG_NAME_LEN) == 0) {
				snprintf(err, errlen, "webhook %.*s: name used twice", TG_NAME_LEN,
					 hooks[i].name);
				return -EINVAL;
			}
	return 0;
}

static void set_max_connects(struct tg_deliver *d)
{
	long n = (long)(d->n ? d->n : 1) * TG_HOOK_MAX_IN_FLIGHT;

	curl_multi_setopt(tg_curl_uv_multi(d->cu), CURLMOPT_MAXCONNECTS, n);
}

int tg_deliver_new(const struct tg_deliver_opts *o, const struct tg_webhook_config *hooks,
		   int n, struct tg_deliver **out, char *err, size_t errlen)
{
	struct tg_deliver *d;
	int i, rc;

	*out = NULL;
	if (!o || !o->loop || !o->state_dir || !o->instance) {
		snprintf(err, errlen, "loop, state_dir and instance are required");
		return -EINVAL;
	}
	if ((rc = check_names(hooks, n, err, errlen)) < 0)
		return rc;
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		snprintf(err, errlen, "libcurl initialisation failed");
		return -ENOMEM;
	}
	d = calloc(1, sizeof(*d));
	if (!d) {
		curl_global_cleanup();
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	d->loop = o->loop;
	d->spool_max = o->spool_max;
	d->on_triage = o->on_triage;
	d->triage_arg = o->triage_arg;
	snprintf(d->state_dir, sizeof(d->state_dir), "%s", o->state_dir);
	snprintf(d->instance, sizeof(d->instance), "%s", o->instance);
	snprintf(d->host, sizeof(d->host), "%s", o->host ? o->host : "");
	snprintf(d->version, sizeof(d->version), "%s",
		 o->agent_version ? o->agent_version : TG_VERSION);
	snprintf(d->user_agent, sizeof(d->user_agent), "tollgate/%s", d->version);
	for (i = 0; i < n; i++) {
		rc = hook_prepare(d, &hooks[i], &d->hooks[i], err, errlen);
		if (rc < 0) {
			while (i-- > 0)
				hook_destroy(d->hooks[i]);
			free(d);
			curl_global_cleanup();
			return rc;
		}
	}
	d->n = (size_t)n;
	/* The last step that can fail: from here on there are uv handles. */
	d->cu = tg_curl_uv_new(d->loop, on_transfer_done, d);
	if (!d->cu) {
		for (i = 0; i < n; i++)
			hook_destroy(d->hooks[i]);
		free(d);
		curl_global_cleanup();
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	d->open_handles++;
	/* A backstop only: each webhook's window already bounds its
	 * connections, and webhooks sharing a host must not queue behind
	 * each other. */
	curl_multi_setopt(tg_curl_uv_multi(d->cu), CURLMOPT_MAX_HOST_CONNECTIONS,
			  (long)TG_HOOK_MAX_IN_FLIGHT * TG_MAX_WEBHOOKS);
	set_max_connects(d);
	for (i = 0; i < n; i++)
		hook_start(d->hooks[i]);
	for (i = 0; i < n; i++)
		hook_kick(d->hooks[i]);
	*out = d;
	return 0;
}

static struct hook *find_hook(struct tg_deliver *d, const char *name)
{
	size_t i;

	for (i = 0; i < d->n; i++)
		if (strncmp(d->hooks[i]->set.cfg.name, name, TG_NAME_LEN) == 0)
			return d->hooks[i];
	return NULL;
}

int tg_deliver_reconfigure(struct tg_deliver *d, const struct tg_webhook_config *hooks,
			   int n, char *err, size_t errlen)
{
	struct hook *next[TG_MAX_WEBHOOKS] = { 0 };
	struct settings *kept[TG_MAX_WEBHOOKS] = { 0 };
	size_t i, j;
	int rc = 0, k;

	if (!d || d->stopped) {
		snprintf(err, errlen, "delivery stopped");
		return -EINVAL;
	}
	if ((rc = check_names(hooks, n, err, errlen)) < 0)
		return rc;
	for (k = 0; k < n && rc == 0; k++) {
		next[k] = find_hook(d, hooks[k].name);
		if (!next[k]) {
			rc = hook_prepare(d, &hooks[k], &next[k], err, errlen);
		} else if (!(kept[k] = malloc(sizeof(*kept[k])))) {
			snprintf(err, errlen, "out of memory");
			rc = -ENOMEM;
		} else if ((rc = settings_open(kept[k], &hooks[k], err, errlen)) < 0) {
			free(kept[k]);
			kept[k] = NULL;
		}
	}
	if (rc < 0) {
		for (k = 0; k < n; k++) {
			if (kept[k]) {
				settings_close(kept[k]);
				free(kept[k]);
			} else if (next[k] && !find_hook(d, next[k]->set.cfg.name)) {
				hook_destroy(next[k]);
			}
		}
		return rc;
	}
	for (i = 0; i < d->n; i++) {
		for (j = 0; j < (size_t)n; j++)
			if (next[j] == d->hooks[i])
				break;
		if (j == (size_t)n) {
			pr_info("webhook removed, its spool stays", "webhook=%s queued=%zu",
				d->hooks[i]->set.cfg.name, d->hooks[i]->spool.n_items);
			hook_close(d->hooks[i]);
		}
	}
	for (k = 0; k < n; k++) {
		if (kept[k]) {
			settings_close(&next[k]->set);
			next[k]->set = *kept[k];
			explicit_bzero(kept[k], sizeof(*kept[k]));
			free(kept[k]);
		} else {
			hook_start(next[k]);
		}
	}
	memcpy(d->hooks, next, sizeof(next));
	d->n = (size_t)n;
	set_max_connects(d);
	for (i = 0; i < d->n; i++)
		hook_kick(d->hooks[i]);
	return 0;
}

/* The event as a NUL-terminated string: the format interface promises
 * one, the caller's buffer may not be. */
static char *event_copy(const char *json, size_t len)
{
	char *c = malloc(len + 1);

	if (c) {
		memcpy(c, json, len);
		c[len] = '\0';
	}
	return c;
}

static void forget_victim(struct hook *h, struct tg_spool_item *v)
{
	pr_warn("spool full, event dropped", "webhook=%s id=%s severity=%s", h->set.cfg.name, v->id,
		sev_name(v->severity));
	if (v->owner)
		req_abort(v->owner);
	tg_spool_item_free(v);
}

static bool deliver_one(struct hook *h, const struct tollgate_hook_event *ev)
{
	struct tollgate_hook_output out;
	struct tg_spool_item *it, *victim = NULL;
	int rc;

	memset(&out, 0, sizeof(out));
	rc = h->set.fmt->format(h->set.fmt_state, ev, &out);
	out.content_type[sizeof(out.content_type) - 1] = '\0';
	if (rc == 1) {
		h->st.filtered++;
		free(out.body);
		return false;
	}
	if (rc < 0 || (!out.body && out.body_len > 0)) {
		rc = tg_spool_dead_event(&h->spool, ev->id, 0, "format failed", ev->json,
					 ev->json_len);
		pr_err("format could not render event, moved to dead letters",
		       "webhook=%s id=%s%s", h->set.cfg.name, ev->id,
		       rc < 0 ? " dead_letter_write=failed" : "");
		free(out.body);
		return false;
	}
	it = tg_spool_put(&h->spool, ev->id, ev->severity,
			  out.content_type[0] ? out.content_type : "application/json", out.body,
			  out.body_len, &victim);
	rc = errno;
	free(out.body);
	if (victim)
		forget_victim(h, victim);
	if (!it) {
		if (rc == ENOSPC)
			pr_warn("spool full, event dropped", "webhook=%s id=%s severity=%s",
				h->set.cfg.name, ev->id, sev_name(ev->severity));
		else
			pr_err("event not spooled", "webhook=%s id=%s err=\"%s\"", h->set.cfg.name,
			       ev->id, strerror(rc));
		return false;
	}
	h->st.enqueued++;
	hook_kick(h);
	return true;
}

int tg_deliver_event(struct tg_deliver *d, const char *schema, const char *id, int severity,
		     const char *json, size_t len)
{
	struct tollgate_hook_event ev;
	bool is_triage;
	char *copy = NULL;
	size_t i;
	int queued = 0;

	if (!d || d->stopped || !schema || !id || !json)
		return 0;
	is_triage = strcmp(schema, TG_SCHEMA_TRIAGE) == 0;
	for (i = 0; i < d->n; i++) {
		struct hook *h = d->hooks[i];

		if (is_triage && h->set.cfg.format == TG_FMT_OPENAI)
			continue;
		if (severity < h->set.cfg.min_severity) {
			h->st.filtered++;
			continue;
		}
		if (!copy && !(copy = event_copy(json, len))) {
			pr_err("event not spooled", "id=%s err=\"out of memory\"", id);
			return queued;
		}
		ev = (struct tollgate_hook_event){ schema, id, severity, copy, len };
		queued += deliver_one(h, &ev);
	}
	free(copy);
	return queued;
}

void tg_deliver_stop(struct tg_deliver *d)
{
	size_t i;

	if (!d || d->stopped)
		return;
	d->stopped = true;
	for (i = 0; i < d->n; i++)
		hook_close(d->hooks[i]);
	d->n = 0;
	tg_curl_uv_close(d->cu, on_cu_closed, d);
}

void tg_deliver_free(struct tg_deliver *d)
{
	if (!d)
		return;
	tg_deliver_stop(d);
	d->free_pending = true;
	maybe_free(d);
}

size_t tg_deliver_count(const struct tg_deliver *d)
{
	return d ? d->n : 0;
}

const char *tg_deliver_name(const struct tg_deliver *d, size_t i)
{
	return d && i < d->n ? d->hooks[i]->set.cfg.name : NULL;
}

void tg_deliver_stats(const struct tg_deliver *d, size_t i, struct tg_hook_stats *st)
{
	const struct hook *h;

	memset(st, 0, sizeof(*st));
	if (!d || i >= d->n)
		return;
	h = d->hooks[i];
	*st = h->st;
	st->queued = h->spool.n_items;
	st->in_flight = h->in_flight;
	st->dead_letters = h->spool.dead;
	st->spool_dropped = h->spool.dropped[0] + h->spool.dropped[1] + h->spool.dropped[2];
}
