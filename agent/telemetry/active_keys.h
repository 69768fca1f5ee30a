/* The keys a scan looks up in tg_clients: those drained from the active
 * set, behind the ones an earlier scan drained but had no time to read.
 * Pure logic, unit-tested. */
#ifndef TG_ACTIVE_KEYS_H
#define TG_ACTIVE_KEYS_H

#include <stddef.h>
#include "shared.h"

/* k[0..n_carry) are the keys carried over (sorted, no duplicates), then
 * k[n_carry..n) the keys just drained, in any order. Drops duplicates
 * among the drained keys and those already carried; the drained ones
 * come out sorted by address from the first one >= *from round to the
 * ones before it (where the last scan stopped: under a backlog no part
 * of the address space is always last). Returns the keys left in all,
 * the carried first: a scan reads them before the newer ones. */
size_t tg_active_keys_plan(struct tg_addr *k, size_t n_carry, size_t n,
			   const struct tg_addr *from);

/* After a scan read k[0..done) of k[0..n): moves up to max of the unread
 * ones to the front, sorted (as the next plan wants the carried keys),
 * to be carried to the next scan. Returns their count; the unread ones
 * beyond max (k[done + max..n), in plan order) are let go. */
size_t tg_active_keys_carry(struct tg_addr *k, size_t done, size_t n, size_t max);

#endif
