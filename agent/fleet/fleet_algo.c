/* Fleet mode's arithmetic and reply checks; see fleet_algo.h and the
 * README's "Fleet" section for the algorithm and its error bound. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <hiredis/hiredis.h>
#include "fleet/fleet_algo.h"
#include "shared.h"

/* A token bucket with leases. The caller's last lease comes back less what
 * it used (more than its lease: a debt). The bucket refills by Redis's
 * clock up to burst less the leases idle nodes hold (a node that used all
 * of its last lease is busy: its lease is as good as spent, and counting
 * it would starve the refill). The caller then leases its fair share,
 * (tokens + others' leases) / live nodes, or what it had left if that is
 * more, up to burst / nodes (an idle node keeps its part of the burst, no
 * node sits on more), and never more than the bucket holds: counting the
 * leases just handed to nodes that synced a moment before keeps the last
 * of them from getting crumbs. Tokens are
 * handed out once, so the fleet admits no more than the bucket allows but
 * for what a node admits while its report is on the way, and a busy node's
 * lease it leaves unused (see the README). Nodes not heard from within
 * the ttl are gone, and their leases with them. Every key expires once the
 * bucket would have refilled to full anyway. The 1e-6 keeps 0.1 + 0.9
 * from flooring to 0. */
const char tg_fleet_script[] =
	"local t = redis.call('TIME')\n"
	"local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)\n"
	"local node, used = ARGV[1], tonumber(ARGV[2])\n"
	"local rate, burst, ttl = tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])\n"
	"local b = redis.call('HMGET', KEYS[1], 'tokens', 'ts')\n"
	"local tokens, ts = tonumber(b[1]), tonumber(b[2])\n"
	"if not tokens or not ts then tokens, ts = burst, now end\n"
	"for _, d in ipairs(redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', now - ttl)) do\n"
	"  redis.call('HDEL', KEYS[3], d, 'busy:' .. d)\n"
	"end\n"
	"redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now - ttl)\n"
	"redis.call('ZADD', KEYS[2], now, node)\n"
	"local n = redis.call('ZCARD', KEYS[2])\n"
	"local left = (tonumber(redis.call('HGET', KEYS[3], node)) or 0) - used\n"
	"tokens = tokens + left\n"
	"local all, busy, idle, others = redis.call('HGETALL', KEYS[3]), {}, 0, 0\n"
	"for i = 1, #all, 2 do\n"
	"  if string.sub(all[i], 1, 5) == 'busy:' then busy[string.sub(all[i], 6)] = all[i + 1] end\n"
	"end\n"
	"for i = 1, #all, 2 do\n"
	"  local f = all[i]\n"
	"  if f ~= node and string.sub(f, 1, 5) ~= 'busy:' then\n"
	"    others = others + (tonumber(all[i + 1]) or 0)\n"
	"    if busy[f] ~= '1' then idle = idle + (tonumber(all[i + 1]) or 0) end\n"
	"  end\n"
	"end\n"
	"if now > ts then\n"
	"  tokens = math.max(tokens, math.min(burst - idle, tokens + (now - ts) * rate / 1000))\n"
	"  ts = now\n"
	"end\n"
	"local grant = 0\n"
	"if tokens >= 1 then\n"
	"  local keep = math.min(left, burst / n)\n"
	"  grant = math.floor(math.min(tokens, math.max(keep, (tokens + others) / n)) + 1e-6)\n"
	"end\n"
	"tokens = tokens - grant\n"
	"redis.call('HSET', KEYS[3], node, grant, 'busy:' .. node, left <= 0 and '1' or '0')\n"
	"redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'ts', ts)\n"
	"local exp = ttl + math.ceil((burst - tokens) * 1000 / rate)\n"
	"redis.call('PEXPIRE', KEYS[1], exp)\n"
	"redis.call('PEXPIRE', KEYS[2], exp)\n"
	"redis.call('PEXPIRE', KEYS[3], exp)\n"
	"return {grant, n, math.floor(tokens * 1000)}\n";

int tg_fleet_keys(const char *name, char *bucket, char *nodes, char *leases, size_t len)
{
	int a = snprintf(bucket, len, "tollgate:{%s}:bucket", name);
	int b = snprintf(nodes, len, "tollgate:{%s}:nodes", name);
	int c = snprintf(leases, len, "tollgate:{%s}:leases", name);

	return a < 0 || b < 0 || c < 0 || (size_t)a >= len || (size_t)b >= len ||
			       (size_t)c >= len
		       ? -ENAMETOOLONG
		       : 0;
}

/* ±2^53: beyond it the script's doubles are no longer exact. */
#define MILLI_MAX (1LL << 53)
#define NODES_MAX 1000000

static int bad(const char **why, const char *reason, int err)
{
	*why = reason;
	return err;
}

int tg_fleet_parse_reply(const struct redisReply *reply, struct tg_fleet_result *r,
			 const char **why)
{
	const redisReply *g, *t, *n;

	*why = NULL;
	if (!reply)
		return bad(why, "no reply (connection lost)", -EPROTO);
	if (reply->type == REDIS_REPLY_ERROR) {
		if (reply->str && !strncmp(reply->str, "NOSCRIPT", 8))
			return bad(why, "script not loaded", -ENOENT);
		return bad(why, "error reply", -EPROTO);
	}
	if (reply->type != REDIS_REPLY_ARRAY || reply->elements != 3 || !reply->element)
		return bad(why, "expected an array of 3", -EPROTO);
	g = reply->element[0];
	n = reply->element[1];
	t = reply->element[2];
	if (!g || !t || !n || g->type != REDIS_REPLY_INTEGER || t->type != REDIS_REPLY_INTEGER ||
	    n->type != REDIS_REPLY_INTEGER)
		return bad(why, "expected 3 integers", -EPROTO);
	if (g->integer < 0 || g->integer > MILLI_MAX / 1000)
		return bad(why, "lease out of range", -EPROTO);
	if (t->integer < -MILLI_MAX || t->integer > MILLI_MAX)
		return bad(why, "tokens out of range", -EPROTO);
	if (n->integer < 1 || n->integer > NODES_MAX)
		return bad(why, "node count out of range", -EPROTO);
	r->lease = g->integer;
	r->tokens_milli = t->integer;
	r->nodes = (uint32_t)n->integer;
	return 0;
}

/* ---- the reader guard ---------------------------------------------- */

static redisReplyObjectFunctions *guard_next; /* hiredis's own functions */
static unsigned guard_objects;                /* in the reply being built */
static const char *guard_why;

/* A top-level object starts a reply: the count starts again. */
static bool guard_take(const redisReadTask *task)
{
	if (!task->parent)
		guard_objects = 0;
	if (++guard_objects > TG_FLEET_REPLY_OBJECTS) {
		guard_why = "reply from redis has too many objects";
		return false;
	}
	return true;
}

static void *guard_string(const redisReadTask *task, char *str, size_t len)
{
	if (len > TG_FLEET_REPLY_BULK) {
		guard_why = "string reply from redis too long";
		return NULL;
	}
	if (!guard_take(task))
		return NULL;
	return guard_next->createString(task, str, len);
}

static void *guard_array(const redisReadTask *task, int elements)
{
	if (elements > TG_FLEET_REPLY_ELEMENTS) {
		guard_why = "array reply from redis too long";
		return NULL;
	}
	if (!guard_take(task))
		return NULL;
	return guard_next->createArray(task, elements);
}

static void *guard_integer(const redisReadTask *task, long long value)
{
	return guard_take(task) ? guard_next->createInteger(task, value) : NULL;
}

static void *guard_nil(const redisReadTask *task)
{
	return guard_take(task) ? guard_next->createNil(task) : NULL;
}

static void guard_free(void *obj)
{
	guard_next->freeObject(obj);
}

static redisReplyObjectFunctions guard_fns = {
	guard_string, guard_array, guard_integer, guard_nil, guard_free,
};

void tg_fleet_reader_guard(struct redisReader *r)
{
	if (!r || r->fn == &guard_fns)
		return;
	guard_next = r->fn; /* the same for every context: hiredis's defaults */
	r->fn = &guard_fns;
}

bool tg_fleet_reader_overflow(const struct redisReader *r)
{
	if (r && r->len > r->pos && r->len - r->pos > TG_FLEET_READER_MAX) {
		guard_why = "reply from redis too large";
		return true;
	}
	return false;
}

const char *tg_fleet_reader_why(void)
{
	return guard_why;
}

void tg_fleet_reader_why_reset(void)
{
	guard_why = NULL;
}

int tg_fleet_parse_sha(const struct redisReply *reply, char sha[41], const char **why)
{
	*why = NULL;
	if (!reply)
		return bad(why, "no reply (connection lost)", -EPROTO);
	if (reply->type == REDIS_REPLY_ERROR)
		return bad(why, "error reply", -EPROTO);
	if (reply->type != REDIS_REPLY_STRING || reply->len != 40 || !reply->str ||
	    strspn(reply->str, "0123456789abcdef") != 40)
		return bad(why, "expected a 40-digit SHA1", -EPROTO);
	memcpy(sha, reply->str, 40);
	sha[40] = '\0';
	return 0;
}

int64_t tg_fleet_credit(int64_t lease, uint64_t since_sent)
{
	if (since_sent > (uint64_t)MILLI_MAX)
		since_sent = (uint64_t)MILLI_MAX;
	return lease - (int64_t)since_sent;
}

uint64_t tg_fleet_fallback_charge(uint64_t used_since_report, uint32_t mode,
				  uint64_t local_deficit, uint64_t local_burst)
{
	uint64_t owed = mode == TG_FLEET_LOCAL ? local_deficit : local_burst;

	return used_since_report < owed ? used_since_report : owed;
}

uint32_t tg_fleet_fallback_mode(int fallback)
{
	switch (fallback) {
	case TG_FALLBACK_OPEN: return TG_FLEET_OPEN;
	case TG_FALLBACK_CLOSED: return TG_FLEET_CLOSED;
	default: return TG_FLEET_LOCAL;
	}
}

uint32_t tg_fleet_backoff(uint32_t prev_ms)
{
	if (prev_ms < TG_FLEET_BACKOFF_MIN_MS)
		return TG_FLEET_BACKOFF_MIN_MS;
	return prev_ms >= TG_FLEET_BACKOFF_MAX_MS / 2 ? TG_FLEET_BACKOFF_MAX_MS : prev_ms * 2;
}

uint32_t tg_fleet_timeout_ms(uint32_t sync_interval_ms)
{
	uint32_t t = sync_interval_ms * 2;

	return t < 200 ? 200 : t > 2000 ? 2000 : t;
}

uint32_t tg_fleet_node_ttl_ms(uint32_t sync_interval_ms)
{
	uint32_t t = sync_interval_ms * 10;

	return t < 1000 ? 1000 : t;
}
