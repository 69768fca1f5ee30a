/* The format table, the plugin loader, and the helpers the built-in formats
 * share: strict parsing of an event, the one-line description of an
 * anomaly, RFC 3339 times. */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "config/config.h"
#include "formats/fmt_util.h"
#include "formats/formats.h"
#include "lib/fs.h"

const struct tollgate_hook *tg_format_builtin(int format)
{
	switch (format) {
	case TG_FMT_GENERIC: return &tg_format_generic;
	case TG_FMT_ALERTMANAGER: return &tg_format_alertmanager;
	case TG_FMT_SLACK: return &tg_format_slack;
	case TG_FMT_OPENAI: return &tg_format_openai;
	default: return NULL;
	}
}

/* ---- plugins ------------------------------------------------------------ */

/* The handle owns a copy of the plugin's table so that a plugin may leave
 * init and fini NULL (a stateless format) and callers still call them
 * unconditionally. */
struct tg_plugin {
	void *dl;
	struct tollgate_hook hook;
};

static void *plugin_init_none(const char *webhook_name, const char *options_json,
			      const char **err)
{
	if (err)
		*err = NULL;
	return NULL;
}

static void plugin_fini_none(void *state)
{
}

/* A plugin runs inside the agent, which loads it as root at start: a
 * file anyone but root could replace, or that sits in a directory anyone
 * but root could change, would be root's code execution for them. Then
 * dlopen's own message for a file that is not an ELF object ("invalid ELF
 * header", "file too short") reads like a bug; look first. real: the
 * resolved path, the one to load. */
static int plugin_check_file(const char *path, uid_t owner, char *real, char *err,
			     size_t errlen)
{
	unsigned char hdr[18];
	char why[PATH_MAX + 200];
	struct stat st;
	ssize_t n;
	int fd;

	if (tg_fs_trusted_file(path, owner, real, why, sizeof(why)) < 0) {
		snprintf(err, errlen, "%s", why);
		return -1;
	}
	if (stat(real, &st) < 0) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	if (!S_ISREG(st.st_mode)) {
		snprintf(err, errlen, "%s: not a regular file", path);
		return -1;
	}
	fd = open(real, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	n = read(fd, hdr, sizeof(hdr));
	close(fd);
	if (n < (ssize_t)sizeof(hdr) || memcmp(hdr, "\177ELF", 4) != 0) {
		snprintf(err, errlen, "%s: not a shared object (no ELF header)", path);
		return -1;
	}
	/* e_type, in the file's byte order (EI_DATA: 1 little, 2 big) */
	if ((hdr[5] == 1 ? hdr[16] | hdr[17] << 8 : hdr[17] | hdr[16] << 8) != 3 /* ET_DYN */) {
		snprintf(err, errlen, "%s: not a shared object (ELF type is not ET_DYN)", path);
		return -1;
	}
	return 0;
}

int tg_format_plugin_open(const char *path, uid_t owner, const struct tollgate_hook **hook,
			  void **handle, char *err, size_t errlen)
{
	char real[PATH_MAX];
	const struct tollgate_hook *h;
	tollgate_hook_entry_fn entry;
	struct tg_plugin *p;
	const char *dlerr;
	void *dl;

	*hook = NULL;
	*handle = NULL;
	if (!path || !*path) {
		snprintf(err, errlen, "no plugin path");
		return -1;
	}
	if (plugin_check_file(path, owner, real, err, errlen) < 0)
		return -1;
	/* RTLD_NOW: an unresolved symbol fails here, not in the middle of
	 * formatting; RTLD_LOCAL: two plugins never see each other's symbols */
	dl = dlopen(real, RTLD_NOW | RTLD_LOCAL);
	if (!dl) {
		dlerr = dlerror();
		snprintf(err, errlen, "%s: cannot load: %s", path, dlerr ? dlerr : "dlopen failed");
		return -1;
	}
	dlerror();
	*(void **)&entry = dlsym(dl, TOLLGATE_HOOK_SYMBOL);
	if (!entry) {
		snprintf(err, errlen, "%s: no symbol %s: not a tollgate format plugin", path,
			 TOLLGATE_HOOK_SYMBOL);
		goto fail;
	}
	h = entry();
	if (!h) {
		snprintf(err, errlen, "%s: %s() returned NULL", path, TOLLGATE_HOOK_SYMBOL);
		goto fail;
	}
	/* Read nothing else before the version: a plugin of another ABI may
	 * lay its struct out differently. */
	if (h->abi_version != TOLLGATE_HOOK_ABI_VERSION) {
		snprintf(err, errlen,
			 "%s: ABI version %u not supported (this agent loads version %d)", path,
			 h->abi_version, TOLLGATE_HOOK_ABI_VERSION);
		goto fail;
	}
	if (!h->format) {
		snprintf(err, errlen, "%s: the hook has no format function", path);
		goto fail;
	}
	p = calloc(1, sizeof(*p));
	if (!p) {
		snprintf(err, errlen, "%s: out of memory", path);
		goto fail;
	}
	p->dl = dl;
	p->hook = *h;
	if (!p->hook.name)
		p->hook.name = "plugin";
	if (!p->hook.init)
		p->hook.init = plugin_init_none;
	if (!p->hook.fini)
		p->hook.fini = plugin_fini_none;
	*hook = &p->hook;
	*handle = p;
	return 0;
fail:
	dlclose(dl);
	return -1;
}

void tg_format_plugin_close(void *handle)
{
	struct tg_plugin *p = handle;

	if (!p)
		return;
	dlclose(p->dl);
	free(p);
}

/* ---- parsing ------------------------------------------------------------ */

cJSON *tg_fmt_parse_text(const char *s, size_t len)
{
	const char *end = NULL;
	cJSON *doc;

	if (!s || !len)
		return NULL;
	/* Not cJSON's require_null_terminated: it reads s[len], which the
	 * caller may not own. A length that counts the terminating NUL is
	 * fine: the text ends there. */
	doc = cJSON_ParseWithLengthOpts(s, len, &end, false);
	if (!doc)
		return NULL;
	for (; end && end < s + len && *end; end++) {
		if (*end != ' ' && *end != '\t' && *end != '\n' && *end != '\r') {
			cJSON_Delete(doc);
			return NULL;
		}
	}
	return doc;
}

const char *tg_fmt_str(const cJSON *obj, const char *name)
{
	const cJSON *it = cJSON_GetObjectItemCaseSensitive(obj, name);

	return cJSON_IsString(it) ? it->valuestring : NULL;
}

static bool is_severity(const char *s)
{
	return s && (!strcmp(s, "info") || !strcmp(s, "warning") || !strcmp(s, "critical"));
}

static bool is_time(const char *s)
{
	int64_t ms;

	return s && tg_parse_time(s, &ms) == 0;
}

/* Null or absent is allowed wherever the schema says "may be null". */
static bool is_object_or_null(const cJSON *it)
{
	return !it || cJSON_IsNull(it) || cJSON_IsObject(it);
}

static bool anomaly_ok(const cJSON *an)
{
	static const char *const objects[] = { "client", "observed", "baseline", "quota" };
	const char *type = tg_fmt_str(an, "type");
	const cJSON *it;

	if (!cJSON_IsObject(an) || !type || !*type || !is_severity(tg_fmt_str(an, "severity")))
		return false;
	for (size_t i = 0; i < sizeof(objects) / sizeof(objects[0]); i++)
		if (!is_object_or_null(cJSON_GetObjectItemCaseSensitive(an, objects[i])))
			return false;
	it = cJSON_GetObjectItemCaseSensitive(an, "count");
	if (it && !cJSON_IsNull(it) && !cJSON_IsNumber(it))
		return false;
	it = cJSON_GetObjectItemCaseSensitive(an, "first_seen");
	if (it && !cJSON_IsNull(it) && !is_time(cJSON_GetStringValue(it)))
		return false;
	return true;
}

int tg_fmt_parse_event(const struct tollgate_hook_event *ev, cJSON **root)
{
	const cJSON *window, *anomalies, *an;
	const char *schema;
	size_t len;
	cJSON *doc;
	int kind;

	*root = NULL;
	if (!ev || !ev->json)
		return -EINVAL;
	len = ev->json_len ? ev->json_len : strlen(ev->json);
	doc = tg_fmt_parse_text(ev->json, len);
	if (!cJSON_IsObject(doc))
		goto bad;
	schema = tg_fmt_str(doc, "schema");
	if (!schema)
		goto bad;
	if (!tg_fmt_str(doc, "id") || !tg_fmt_str(doc, "instance") || !tg_fmt_str(doc, "host") ||
	    !is_severity(tg_fmt_str(doc, "severity")))
		goto bad;
	if (!strcmp(schema, TG_SCHEMA_ANOMALY)) {
		kind = TG_FMT_ANOMALY;
		window = cJSON_GetObjectItemCaseSensitive(doc, "window");
		anomalies = cJSON_GetObjectItemCaseSensitive(doc, "anomalies");
		if (!tg_fmt_str(doc, "summary") || !cJSON_IsArray(anomalies) ||
		    !is_time(tg_fmt_str(window, "start")) || !is_time(tg_fmt_str(window, "end")))
			goto bad;
		cJSON_ArrayForEach(an, anomalies)
			if (!anomaly_ok(an))
				goto bad;
	} else if (!strcmp(schema, TG_SCHEMA_TRIAGE)) {
		kind = TG_FMT_TRIAGE;
		if (!tg_fmt_str(doc, "event_id") || !tg_fmt_str(doc, "triage"))
			goto bad;
	} else {
		goto bad;
	}
	*root = doc;
	return kind;
bad:
	cJSON_Delete(doc);
	return -EINVAL;
}

/* ---- output ------------------------------------------------------------- */

void tg_fmt_out_clear(struct tollgate_hook_output *out)
{
	out->body = NULL;
	out->body_len = 0;
	out->content_type[0] = '\0';
}

int tg_fmt_out_json(struct tollgate_hook_output *out, const cJSON *doc)
{
	char *s = cJSON_PrintUnformatted(doc);

	if (!s)
		return -ENOMEM;
	out->body = s;
	out->body_len = strlen(s);
	snprintf(out->content_type, sizeof(out->content_type), "application/json");
	return 0;
}

/* ---- text --------------------------------------------------------------- */

void tg_fmt_number(double v, char *buf, size_t len)
{
	size_t n;

	if (v == 0) {
		snprintf(buf, len, "0");
		return;
	}
	if (fabs(v) < 1e15 && (double)(long long)v == v) {
		snprintf(buf, len, "%lld", (long long)v);
		return;
	}
	if (fabs(v) < 0.01 || fabs(v) >= 1e15) {
		snprintf(buf, len, "%.3g", v);
		return;
	}
	snprintf(buf, len, "%.2f", v);
	n = strlen(buf);
	while (n > 0 && buf[n - 1] == '0')
		buf[--n] = '\0';
	if (n > 0 && buf[n - 1] == '.')
		buf[--n] = '\0';
}

int tg_fmt_client(const cJSON *client, struct tg_buf *b)
{
	const char *addr = tg_fmt_str(client, "address");
	const cJSON *prefix = cJSON_GetObjectItemCaseSensitive(client, "prefix");
	double full;

	if (!addr || !*addr)
		return 0;
	tg_buf_append(b, addr, strlen(addr));
	full = strchr(addr, ':') ? 128 : 32;
	if (cJSON_IsNumber(prefix) && prefix->valuedouble >= 0 && prefix->valuedouble < full)
		tg_buf_printf(b, "/%d", (int)prefix->valuedouble);
	return b->oom ? -ENOMEM : 1;
}

static void value_text(const cJSON *v, char *buf, size_t len)
{
	if (cJSON_IsNumber(v))
		tg_fmt_number(v->valuedouble, buf, len);
	else if (cJSON_IsString(v))
		snprintf(buf, len, "%s", v->valuestring);
	else if (cJSON_IsBool(v))
		snprintf(buf, len, "%s", cJSON_IsTrue(v) ? "true" : "false");
	else
		buf[0] = '\0';
}

/* Each observed figure with the reference of the same name beside it,
 * then the reference figures nothing was observed for. */
static void describe_figures(const cJSON *observed, const cJSON *ref, const char *ref_name,
			     struct tg_buf *b, const char **sep)
{
	const cJSON *obs = cJSON_IsObject(observed) ? observed : NULL;
	const cJSON *refs = cJSON_IsObject(ref) ? ref : NULL;
	const cJSON *o, *r;
	char v[64];

	cJSON_ArrayForEach(o, obs) {
		value_text(o, v, sizeof(v));
		if (!o->string || !*v)
			continue;
		tg_buf_printf(b, "%s%s %s", *sep, o->string, v);
		*sep = "; ";
		r = cJSON_GetObjectItemCaseSensitive(ref, o->string);
		value_text(r, v, sizeof(v));
		if (r && *v)
			tg_buf_printf(b, " vs %s %s", ref_name, v);
	}
	cJSON_ArrayForEach(r, refs) {
		value_text(r, v, sizeof(v));
		if (!r->string || !*v || cJSON_GetObjectItemCaseSensitive(observed, r->string))
			continue;
		tg_buf_printf(b, "%s%s %s %s", *sep, ref_name, r->string, v);
		*sep = "; ";
	}
}

int tg_fmt_describe(const cJSON *an, struct tg_buf *b)
{
	const cJSON *client = cJSON_GetObjectItemCaseSensitive(an, "client");
	const cJSON *count = cJSON_GetObjectItemCaseSensitive(an, "count");
	const cJSON *ref = cJSON_GetObjectItemCaseSensitive(an, "quota");
	const char *type = tg_fmt_str(an, "type");
	const char *key = tg_fmt_str(client, "key");
	const char *ref_name = "quota", *sep = ": ";
	char n[64];

	tg_buf_printf(b, "%s", type ? type : "anomaly");
	if (tg_fmt_str(client, "address") && *tg_fmt_str(client, "address")) {
		tg_buf_printf(b, ", client ");
		tg_fmt_client(client, b);
	}
	if (key && *key)
		tg_buf_printf(b, ", key %s", key);
	if (cJSON_IsNumber(count)) {
		if (count->valuedouble == 1) {
			tg_buf_printf(b, "%sonce", sep);
		} else {
			tg_fmt_number(count->valuedouble, n, sizeof(n));
			tg_buf_printf(b, "%s%s times", sep, n);
		}
		sep = "; ";
	}
	if (!cJSON_IsObject(ref)) {
		ref = cJSON_GetObjectItemCaseSensitive(an, "baseline");
		ref_name = "baseline";
	}
	describe_figures(cJSON_GetObjectItemCaseSensitive(an, "observed"), ref, ref_name, b, &sep);
	return b->oom ? -ENOMEM : 0;
}

size_t tg_fmt_utf8_cut(const char *s, size_t len, size_t max)
{
	size_t n;

	if (len <= max)
		return len;
	/* s[n] is the first byte left out: back up to the lead byte of the
	 * sequence it belongs to, so that whole sequence is left out */
	n = max;
	while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80)
		n--;
	return n;
}

const char *tg_fmt_severity_name(int sev)
{
	switch (sev) {
	case TOLLGATE_SEV_INFO: return "info";
	case TOLLGATE_SEV_WARNING: return "warning";
	case TOLLGATE_SEV_CRITICAL: return "critical";
	default: return NULL;
	}
}

