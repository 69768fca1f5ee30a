/* Shared fixture of the BPF tests: the real object loaded with small maps,
 * packets run through BPF_PROG_TEST_RUN, counters read back. */
#ifndef TG_TEST_HARNESS_H
#define TG_TEST_HARNESS_H

#include <stdint.h>
#include "tollgate.skel.h"
#include "shared.h"
#include "telemetry/rates.h"
#include "pkt.h"

#define TC_PASS (-1) /* TC_ACT_UNSPEC */
#define TC_DROP 2    /* TC_ACT_SHOT */

extern struct tollgate_bpf *skel;
extern int ncpus;

/* Loads the object; gateway port 8080; monitor mode, /64. */
void h_setup(void);
void h_teardown(void);
/* Runs one packet; returns the program's verdict. gso_segs 0: none. */
int h_run(const struct pkt_opts *o, uint32_t gso_segs);
/* Runs a segment of the default flow (198.18.0.2:40000 -> :8080). */
int h_seg(uint32_t seq, uint8_t flags, const char *payload);
/* Aggregated counters of a client address; -1 when absent. */
int h_client(const char *addr, struct tg_client_view *v);
struct tg_global h_global(void);
int h_n_clients(void);
int h_map_fd(const char *name);

#endif
