/* Fleet mode's arithmetic and reply checks; see fleet_algo.h and the
 * README's "Fleet" section for the algorithm and its error bound. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <hiredis/hiredis.h>
#include "fleet_algo.h"
#include "shared.h"

/* Refill by Redis's clock, take what the caller reports (a debt may go
 * negative: it is paid back by the refill before anyone gets credit),
 * then count the nodes heard from within the ttl. Every node counts, busy
 * or idle: the credits handed out then never add up to more than the
 * fleet has (an idle node's share stays in the bucket, and the busy ones
 * get it over the next rounds). The bucket expires only once it would
 * have refilled to full anyway. */
const char tg_fleet_script[] =
	"local t = redis.call('TIME')\n"
	"local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)\n"
	"local rate, burst, ttl = tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])\n"
	"local b = redis.call('HMGET', KEYS[1], 'tokens', 'ts')\n"
	"local tokens, ts = tonumber(b[1]), tonumber(b[2])\n"
	"if not tokens or not ts then tokens, ts = burst, now end\n"
	"if now > ts then\n"
	"  tokens = math.min(burst, tokens + (now - ts) * rate / 1000)\n"
	"  ts = now\n"
	"end\n"
	"tokens = tokens - tonumber(ARGV[2])\n"
	"redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'ts', ts)\n"
	"redis.call('PEXPIRE', KEYS[1], ttl + math.ceil((burst - tokens) * 1000 / rate))\n"
	"redis.call('ZADD', KEYS[2], now, ARGV[1])\n"
	"redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now - ttl)\n"
	"redis.call('PEXPIRE', KEYS[2], ttl)\n"
	"local n = redis.call('ZCARD', KEYS[2])\n"
	"return {math.floor(tokens * 1000), n}\n";

int tg_fleet_keys(const char *name, char *bucket, char *nodes, size_t len)
{
	int a = snprintf(bucket, len, "tollgate:{%s}:bucket", name);
	int b = snprintf(nodes, len, "tollgate:{%s}:nodes", name);

	return a < 0 || b < 0 || (size_t)a >= len || (size_t)b >= len ? -ENAMETOOLONG : 0;
}

/* ±2^53: beyond it the script's doubles are no longer exact. */
#define MILLI_MAX (1LL << 53)
#define NODES_MAX 1000000

int tg_fleet_parse_reply(const struct redisReply *reply, struct tg_fleet_result *r,
			 const char **why)
{
	const redisReply *t, *n;

	*why = NULL;
	if (!reply)
		return *why = "no reply (connection lost)", -EPROTO;
	if (reply->type == REDIS_REPLY_ERROR) {
		if (reply->str && !strncmp(reply->str, "NOSCRIPT", 8))
			return *why = "script not loaded", -ENOENT;
		return *why = "error reply", -EPROTO;
	}
	if (reply->type != REDIS_REPLY_ARRAY || reply->elements != 2 || !reply->element)
		return *why = "expected an array of 2", -EPROTO;
	t = reply->element[0];
	n = reply->element[1];
	if (!t || !n || t->type != REDIS_REPLY_INTEGER || n->type != REDIS_REPLY_INTEGER)
		return *why = "expected 2 integers", -EPROTO;
	if (t->integer < -MILLI_MAX || t->integer > MILLI_MAX)
		return *why = "tokens out of range", -EPROTO;
	if (n->integer < 1 || n->integer > NODES_MAX)
		return *why = "node count out of range", -EPROTO;
	r->tokens_milli = t->integer;
	r->nodes = (uint32_t)n->integer;
	return 0;
}

int tg_fleet_parse_sha(const struct redisReply *reply, char sha[41], const char **why)
{
	*why = NULL;
	if (!reply)
		return *why = "no reply (connection lost)", -EPROTO;
	if (reply->type == REDIS_REPLY_ERROR)
		return *why = "error reply", -EPROTO;
	if (reply->type != REDIS_REPLY_STRING || reply->len != 40 || !reply->str ||
	    strspn(reply->str, "0123456789abcdef") != 40)
		return *why = "expected a 40-digit SHA1", -EPROTO;
	memcpy(sha, reply->str, 40);
	sha[40] = '\0';
	return 0;
}

int64_t tg_fleet_credit(int64_t tokens_milli, uint32_t nodes, uint64_t since_sent)
{
	int64_t share, q;

	if (!nodes)
		nodes = 1;
	if (since_sent > (uint64_t)MILLI_MAX)
		since_sent = (uint64_t)MILLI_MAX;
	q = (int64_t)nodes * 1000;
	/* Rounded toward minus infinity: a debt is never rounded away. */
	share = tokens_milli / q;
	if (tokens_milli % q && tokens_milli < 0)
		share--;
	return share - (int64_t)since_sent;
}

void tg_fleet_local_share(uint64_t rate, uint64_t burst, uint32_t nodes, uint64_t *lrate,
			  uint64_t *lburst)
{
	if (!nodes)
		nodes = 1;
	*lrate = rate ? (rate / nodes ? rate / nodes : 1) : 0;
	*lburst = burst ? (burst / nodes ? burst / nodes : 1) : 0;
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
