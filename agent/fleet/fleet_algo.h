/* The pure parts of fleet mode (fleet.c does the I/O): the Redis script,
 * key names, the credit a node gives its kernel from the fleet's state,
 * local shares, backoff, and checking what Redis answered. */
#ifndef TG_FLEET_ALGO_H
#define TG_FLEET_ALGO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "config/config.h"

struct redisReply;
struct redisReader;

/* The shared bucket, run atomically by EVALSHA. KEYS[1]: the bucket (hash:
 * tokens, ts), KEYS[2]: the nodes heard from lately (zset, score = last
 * report in ms), KEYS[3]: each node's lease (hash). ARGV: node_id,
 * requests admitted since the last report, rate per second, burst, node
 * ttl in ms. Returns {the caller's new lease, live nodes (the caller
 * included), tokens left unleased × 1000 (negative: a debt)}.
 * Time is Redis's (TIME), so the nodes' clocks do not matter. */
extern const char tg_fleet_script[];

/* What one EVALSHA answered. */
struct tg_fleet_result {
	int64_t lease;
	int64_t tokens_milli;
	uint32_t nodes;
};

/* "tollgate:{<name>}:bucket", ":nodes" and ":leases": one hash tag, so the
 * keys of a quota land in one Redis Cluster slot. Returns 0, or
 * -ENAMETOOLONG. */
int tg_fleet_keys(const char *name, char *bucket, char *nodes, char *leases, size_t len);

/* Checks an EVALSHA reply (NULL: the connection went away). Returns 0 and
 * fills r, -ENOENT for NOSCRIPT (load the script again), -EPROTO for
 * anything else (an error reply, nil, wrong types or counts, values out of
 * range), with a short reason in why. */
int tg_fleet_parse_reply(const struct redisReply *reply, struct tg_fleet_result *r,
			 const char **why);

/* Checks a SCRIPT LOAD reply: a 40-hex-digit SHA1 into sha[41]. */
int tg_fleet_parse_sha(const struct redisReply *reply, char sha[41], const char **why);

/* A hostile or broken Redis could answer with an array of 2^31 elements,
 * a bulk string of 512 MB or a tree of millions of small objects; hiredis
 * 0.14 would allocate for all of it. The agent's replies are small (a
 * 40-byte SHA, three integers, OK, an error line): tg_fleet_reader_guard
 * makes a reader refuse (as an out-of-memory error, which drops the
 * connection into the fallback) any array of more than
 * TG_FLEET_REPLY_ELEMENTS, any string of more than TG_FLEET_REPLY_BULK
 * bytes, and any reply of more than TG_FLEET_REPLY_OBJECTS objects.
 * hiredis buffers a bulk string whole before it builds it:
 * tg_fleet_reader_overflow says a reader holds more than
 * TG_FLEET_READER_MAX bytes not parsed yet (fleet.c checks after each
 * read and drops the connection). tg_fleet_reader_why: what the guard
 * last refused, NULL after a reset. One guard for the process: the agent
 * has one Redis connection at a time. */
#define TG_FLEET_REPLY_ELEMENTS 16
#define TG_FLEET_REPLY_BULK 4096
#define TG_FLEET_REPLY_OBJECTS 64
#define TG_FLEET_READER_MAX (64u * 1024)
void tg_fleet_reader_guard(struct redisReader *r);
bool tg_fleet_reader_overflow(const struct redisReader *r);
const char *tg_fleet_reader_why(void);
void tg_fleet_reader_why_reset(void);

/* The kernel credit of one node: its new lease, less what it admitted
 * (from its last credit) while the answer was on its way: those are in
 * its next report. Negative: nothing passes until the next lease. */
int64_t tg_fleet_credit(int64_t lease, uint64_t since_sent);

/* What a node's first report after a fallback charges the fleet for the
 * requests it admitted on its own (used_since_report of them). While every
 * node is in fallback, the local shares are the fleet's bucket, split in
 * parts: so the fleet bucket's honest state on reconnecting is what the
 * local buckets have left, and a node owes what its local bucket is below
 * full (local_deficit), never more than it admitted. Charging all it
 * admitted would count the refill of the outage twice: after a Redis
 * restart each node would bury the fresh bucket under up to a burst of
 * debt. The open and closed fallbacks keep no bucket: at most the node's
 * share of the burst (local_burst). */
uint64_t tg_fleet_fallback_charge(uint64_t used_since_report, uint32_t mode,
				  uint64_t local_deficit, uint64_t local_burst);

/* enum tg_fleet_mode (kern/shared.h) for a cluster.fallback. */
uint32_t tg_fleet_fallback_mode(int fallback);

/* The next reconnect delay: doubles from TG_FLEET_BACKOFF_MIN_MS up to
 * TG_FLEET_BACKOFF_MAX_MS. */
#define TG_FLEET_BACKOFF_MIN_MS 100u
#define TG_FLEET_BACKOFF_MAX_MS 5000u
uint32_t tg_fleet_backoff(uint32_t prev_ms);

/* How long a round (or a connect) may take before Redis counts as out of
 * reach: twice the sync interval, within 200 ms .. 2 s. */
uint32_t tg_fleet_timeout_ms(uint32_t sync_interval_ms);

/* How long a node stays counted after its last report: 10 sync
 * intervals, at least 1 s. */
uint32_t tg_fleet_node_ttl_ms(uint32_t sync_interval_ms);

#endif
