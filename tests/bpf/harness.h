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
/* The gateway's side of every handshake: h_run answers a client's SYN
 * with a SYN-ACK of this ISN through the egress program, and a client
 * segment with no ack given acknowledges it (ack H_SRV_ISN + 1), as a real
 * client does. A test that plays a spoofer gives another ack, or sends no
 * SYN. h_handshake = 0 turns the answer off. */
#define H_SRV_ISN 0x5eed0000u
extern int h_handshake;

/* Runs one packet; returns the program's verdict. gso_segs 0: none. */
int h_run(const struct pkt_opts *o, uint32_t gso_segs);
/* Runs one packet through the TC egress program (gateway to client). */
int h_run_egress(const struct pkt_opts *o);
/* A new connection from src:sport (IPv4 or IPv6): its SYN, which must
 * pass, then first as its first payload; returns the verdict of first. */
int h_first_payload(const char *src, uint16_t sport, const void *first, size_t len);
/* Runs a segment of the default flow (198.18.0.2:40000 -> :8080). */
int h_seg(uint32_t seq, uint8_t flags, const char *payload);
/* Aggregated counters of a client address; -1 when absent. */
int h_client(const char *addr, struct tg_client_view *v);
struct tg_global h_global(void);
/* tg_integrity summed over the CPUs */
struct tg_integrity h_integrity(void);
int h_n_clients(void);
int h_map_fd(const char *name);

#endif
