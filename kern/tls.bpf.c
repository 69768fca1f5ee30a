// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Inside TLS (gateway.tls): uprobes on the gateway's libssl read the
 * plaintext of SSL_read / SSL_read_ex as it returns, and a request start
 * found there runs the plain path's request-start logic on it: the API key
 * from the headers, the route, and the counts per (client, route), per
 * (key, route) and in the key's bucket. Counts only: a uprobe runs after
 * the gateway has the bytes and cannot refuse them. SSL_write /
 * SSL_write_ex are counted (calls, bytes).
 *
 * Only the gateway's processes: with gateway.tls.cgroup the probes are
 * attached to the library (every process that maps it hits them) and a
 * task outside the cgroup (descendants included) returns at once; with
 * gateway.tls.pids the agent attaches one probe per process, so no other
 * process hits them at all.
 *
 * The SSL* is tied to its socket by the sock_recv_length tracepoint (every
 * socket read, with its struct sock): an SSL_read that has to read from the
 * socket reads it on the same thread while the entry probe's record
 * (thread -> SSL*) is live, and the struct sock gives the 4-tuple, kept per
 * (process, SSL*). Why not SSL_set_fd: it runs once, at the connection's
 * start, so connections open before the agent attached would never be
 * tied; OpenSSL's structs (the BIO's fd) are private and change between
 * versions. A read served from OpenSSL's buffer alone uses the tie made by
 * an earlier one. A raw tracepoint, not a kprobe or an fentry on
 * tcp_recvmsg: this kernel (6.18, a Firecracker VM) has no kprobe PMU and
 * refuses fentry programs (EPERM, no BPF trampolines); the tracepoint
 * (since 6.4) needs neither, and is cheap where nothing is attached. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>
#include "shared.h"
#include "maps.bpf.h"
#include "scan.bpf.h"
#include "route.bpf.h"
#include "count.bpf.h"

#define AF_INET_ 2
#define AF_INET6_ 10

/* With gateway.tls.cgroup: 1, and the cgroup is slot 0 of tg_tls_cgroup.
 * In .bss, written by the agent through the skeleton's mmap. */
volatile __u32 tg_tls_by_cgroup __weak;

/* gateway.tls.cgroup, for bpf_current_task_under_cgroup. */
struct {
	__uint(type, BPF_MAP_TYPE_CGROUP_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} tg_tls_cgroup SEC(".maps") __weak;

/* An SSL call in flight on a thread (pid_tgid): its arguments, and the
 * socket tcp_recvmsg saw under it. LRU: a thread that dies inside a call
 * leaves an entry that ages out. */
struct tg_tls_call {
	__u64 ssl;
	__u64 buf;
	__u64 count_ptr; /* SSL_read_ex's readbytes / SSL_write_ex's written */
	struct tg_flow flow;
	__u32 bound;     /* flow is set */
	__u32 pad;
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 1); /* TG_TLS_THREADS with gateway.tls (the agent) */
	__type(key, __u64);
	__type(value, struct tg_tls_call);
} tg_tls_calls SEC(".maps") __weak;

/* SSL* -> its connection, per process (an SSL* is an address in it). */
struct tg_tls_conn_key {
	__u64 ssl;
	__u32 tgid;
	__u32 pad;
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 1); /* TG_TLS_CONNS with gateway.tls (the agent) */
	__type(key, struct tg_tls_conn_key);
	__type(value, struct tg_flow);
} tg_tls_conns SEC(".maps") __weak;

/* Whole-agent TLS counters. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct tg_tls_stats);
} tg_tls_stats SEC(".maps") __weak;

/* Lookup keys and values of a counted request, per CPU (uprobe programs
 * never nest on a CPU: the kernel skips a tracing program while another
 * runs there). */
struct tg_tls_state {
	struct tg_lpm_key lpm;
	struct tg_route_key rkey;
	struct tg_route_count fresh;
	struct tg_bucket_key bkey;
	struct tg_addr ckey;
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct tg_tls_state);
} tg_tls_state SEC(".maps") __weak;

static const struct tg_bucket tls_bucket_zero;

static __always_inline struct tg_tls_stats *tls_stats(void)
{
	__u32 zero = 0;

	return bpf_map_lookup_elem(&tg_tls_stats, &zero);
}

/* Is the current task one of the gateway's? With pids, the attachment
 * already chose the processes. */
static __always_inline int tls_wanted(void)
{
	if (!tg_tls_by_cgroup)
		return 1;
	return bpf_current_task_under_cgroup(&tg_tls_cgroup, 0) == 1;
}

static __always_inline int tls_enter(void *ssl, void *buf, void *count_ptr)
{
	__u64 id = bpf_get_current_pid_tgid();
	struct tg_tls_call c = {
		.ssl = (__u64)ssl, .buf = (__u64)buf, .count_ptr = (__u64)count_ptr,
	};

	if (!tls_wanted())
		return 0;
	bpf_map_update_elem(&tg_tls_calls, &id, &c, BPF_ANY);
	return 0;
}

/* sock_recv_length(sk, ret, flags): every socket read, after it. */
SEC("raw_tracepoint/sock_recv_length")
int tg_tls_recvmsg(struct bpf_raw_tracepoint_args *ctx)
{
	struct sock *sk = (struct sock *)ctx->args[0];
	__u64 id = bpf_get_current_pid_tgid();
	struct tg_tls_call *c = bpf_map_lookup_elem(&tg_tls_calls, &id);
	struct tg_tls_conn_key k = { .tgid = (__u32)(id >> 32) };
	struct tg_flow *f;
	__u16 family;

	if (!c || c->bound || !sk)
		return 0;
	f = &c->flow;
	family = BPF_CORE_READ(sk, __sk_common.skc_family);
	__builtin_memset(f, 0, sizeof(*f));
	if (family == AF_INET_) {
		f->saddr.w[2] = bpf_htonl(0xffff);
		f->saddr.w[3] = BPF_CORE_READ(sk, __sk_common.skc_daddr);
		f->daddr.w[2] = bpf_htonl(0xffff);
		f->daddr.w[3] = BPF_CORE_READ(sk, __sk_common.skc_rcv_saddr);
	} else if (family == AF_INET6_) {
		BPF_CORE_READ_INTO(&f->saddr, sk, __sk_common.skc_v6_daddr);
		BPF_CORE_READ_INTO(&f->daddr, sk, __sk_common.skc_v6_rcv_saddr);
	} else {
		return 0;
	}
	f->sport = BPF_CORE_READ(sk, __sk_common.skc_dport);
	f->dport = bpf_htons(BPF_CORE_READ(sk, __sk_common.skc_num));
	c->bound = 1;
	k.ssl = c->ssl;
	bpf_map_update_elem(&tg_tls_conns, &k, f, BPF_ANY);
	return 0;
}

/* The decrypted bytes at buf (n of them) into the scratch, the route and
 * the key's hash from them; 0, or -1 when a packet program's request start
 * overwrote the scratch meanwhile (tg_scratch.gen). */
static __always_inline int tls_scan(__u64 buf, __u32 n, __u32 *route, __u64 *hash)
{
	__u32 zero = 0, len = n, gen;
	struct tg_scratch *sc = bpf_map_lookup_elem(&tg_scratch, &zero);
	struct tg_settings *s = settings_get();
	struct tg_route_state *rs;

	*route = TG_ROUTE_OTHER;
	*hash = 0;
	if (!sc || !s)
		return 0;
	gen = sc->gen;
	if (len > s->scan_bytes)
		len = s->scan_bytes;
	if (len > TG_SCAN_MAX)
		len = TG_SCAN_MAX;
	sc->len = len;
	if ((s->flags & TG_SET_ROUTES) && len < TG_ROUTE_WINDOW)
		len = n < TG_ROUTE_WINDOW ? n : TG_ROUTE_WINDOW;
	asm volatile("" : "+r"(len));
	len &= (TG_SCAN_MAX * 2 - 1);
	if (len < 1 || len > TG_SCAN_MAX)
		return 0;
	if (bpf_probe_read_user(sc->buf, len, (const void *)buf))
		return 0;
	s = settings_get();
	if (!s)
		return 0;
	if ((s->flags & TG_SET_ROUTES) && tg_route_path(len)) {
		tg_route_match();
		rs = bpf_map_lookup_elem(&tg_route_state, &zero);
		if (rs)
			*route = rs->route;
	}
	if (s->n_quota_keys || (s->flags & TG_SET_KEY_USE))
		*hash = tg_scan_pick();
	sc = bpf_map_lookup_elem(&tg_scratch, &zero);
	return sc && sc->gen == gen ? 0 : -1;
}

/* The quota id of a request from client with the key hash: a deny CIDR,
 * the API key's entry, the client's CIDR entry, else quotas.default (0).
 * *keyed: the API key's entry applies. */
static __always_inline __u32 tls_qid(struct tg_tls_state *st, const struct tg_addr *client,
				     __u64 hash, int *keyed)
{
	__u32 *qid;

	*keyed = 0;
	st->lpm.prefixlen = 128;
	st->lpm.addr = *client;
	qid = bpf_map_lookup_elem(&tg_deny_cidrs, &st->lpm);
	if (qid)
		return *qid;
	if (hash) {
		qid = bpf_map_lookup_elem(&tg_apikeys, &hash);
		if (qid) {
			*keyed = 1;
			return *qid;
		}
	}
	qid = bpf_map_lookup_elem(&tg_cidrs, &st->lpm);
	return qid ? *qid : 0;
}

static __always_inline void tls_route_add(struct tg_route_count *c)
{
	__sync_fetch_and_add(&c->requests, 1);
}

/* A decrypted request start on the connection flow: counted per (client,
 * route), per (quota id, route), in an API key's bucket (allowed), and the
 * (key, client) pair for the key detectors. */
static __always_inline void tls_count(const struct tg_flow *flow, __u32 route, __u64 hash,
				      struct tg_tls_stats *ts)
{
	__u32 zero = 0, qid, idx;
	struct tg_tls_state *st = bpf_map_lookup_elem(&tg_tls_state, &zero);
	struct tg_settings *s = settings_get();
	struct tg_route_count *rc;
	struct tg_bucket *b;
	int keyed;

	if (!st || !s)
		return;
	if (route > TG_MAX_ROUTES)
		route = TG_ROUTE_OTHER;
	addr_key(&st->ckey, &flow->saddr);
	qid = tls_qid(st, &flow->saddr, hash, &keyed);
	ts->requests++;
	if (keyed)
		ts->keyed++;
	if (s->flags & TG_SET_ROUTES) {
		st->rkey.addr = st->ckey;
		st->rkey.route = route;
		st->rkey.pad = 0;
		rc = bpf_map_lookup_elem(&tg_route_clients, &st->rkey);
		if (!rc) {
			st->fresh.requests = 1;
			st->fresh.dropped = 0;
			if (bpf_map_update_elem(&tg_route_clients, &st->rkey, &st->fresh,
						BPF_NOEXIST) == 0)
				goto keys;
			rc = bpf_map_lookup_elem(&tg_route_clients, &st->rkey);
		}
		if (rc)
			tls_route_add(rc);
keys:
		if (qid < TG_MAX_QUOTAS) {
			idx = qid * TG_ROUTE_IDS + route;
			rc = bpf_map_lookup_elem(&tg_route_keys, &idx);
			if (rc)
				tls_route_add(rc);
		}
	}
	if (keyed) {
		/* The key's shared bucket: TC saw only ciphertext and counted
		 * the connection's first payload under the address. */
		__builtin_memset(&st->bkey, 0, sizeof(st->bkey));
		st->bkey.qid = qid;
		b = bpf_map_lookup_elem(&tg_buckets, &st->bkey);
		if (!b) {
			bpf_map_update_elem(&tg_buckets, &st->bkey, &tls_bucket_zero, BPF_NOEXIST);
			b = bpf_map_lookup_elem(&tg_buckets, &st->bkey);
		}
		if (b)
			__sync_fetch_and_add(&b->allowed, 1);
	}
	if (hash && (s->flags & TG_SET_KEY_USE))
		tg_key_use_note(hash, &st->ckey, bpf_ktime_get_ns());
}

/* SSL_read or SSL_read_ex returned n > 0 bytes of plaintext into the
 * buffer its entry probe recorded. */
static __always_inline int tls_read_done(__u64 id, struct tg_tls_call *c, __u32 n)
{
	struct tg_tls_stats *ts = tls_stats();
	struct tg_tls_conn_key k = { .ssl = c->ssl, .tgid = (__u32)(id >> 32) };
	struct tg_flow flow, *f;
	__u64 w = 0, hash;
	__u32 route, hl;

	if (!ts)
		return 0;
	ts->reads++;
	ts->read_bytes += n;
	hl = n < 8 ? n : 8;
	asm volatile("" : "+r"(hl)); /* clang 14 drops the bound otherwise */
	hl &= 15;
	if (hl < 1 || hl > 8 || bpf_probe_read_user(&w, hl, (const void *)c->buf) ||
	    !tg_is_request_start(w, hl))
		return 0;
	if (c->bound) {
		flow = c->flow;
	} else {
		f = bpf_map_lookup_elem(&tg_tls_conns, &k);
		if (!f) {
			ts->unbound++;
			return 0;
		}
		flow = *f;
	}
	if (!port_is_gateway(flow.dport)) {
		ts->other_port++;
		return 0;
	}
	if (tls_scan(c->buf, n, &route, &hash) && tls_scan(c->buf, n, &route, &hash)) {
		ts->lost++;
		return 0;
	}
	tls_count(&flow, route, hash, ts);
	return 0;
}

SEC("uprobe")
int BPF_KPROBE(tg_ssl_read, void *ssl, void *buf, int num)
{
	return tls_enter(ssl, buf, NULL);
}

SEC("uretprobe")
int BPF_KRETPROBE(tg_ssl_read_ret, int ret)
{
	__u64 id = bpf_get_current_pid_tgid();
	struct tg_tls_call *c = bpf_map_lookup_elem(&tg_tls_calls, &id);

	if (!c)
		return 0;
	if (ret > 0)
		tls_read_done(id, c, (__u32)ret);
	bpf_map_delete_elem(&tg_tls_calls, &id);
	return 0;
}

SEC("uprobe")
int BPF_KPROBE(tg_ssl_read_ex, void *ssl, void *buf, __u64 num, __u64 *readbytes)
{
	return tls_enter(ssl, buf, readbytes);
}

SEC("uretprobe")
int BPF_KRETPROBE(tg_ssl_read_ex_ret, int ret)
{
	__u64 id = bpf_get_current_pid_tgid(), n = 0;
	struct tg_tls_call *c = bpf_map_lookup_elem(&tg_tls_calls, &id);

	if (!c)
		return 0;
	if (ret == 1 && !bpf_probe_read_user(&n, sizeof(n), (const void *)c->count_ptr) && n &&
	    n < 0x80000000ULL)
		tls_read_done(id, c, (__u32)n);
	bpf_map_delete_elem(&tg_tls_calls, &id);
	return 0;
}

static __always_inline void tls_wrote(__u64 n)
{
	struct tg_tls_stats *ts = tls_stats();

	if (ts) {
		ts->writes++;
		ts->write_bytes += n;
	}
}

SEC("uretprobe")
int BPF_KRETPROBE(tg_ssl_write_ret, int ret)
{
	if (ret > 0 && tls_wanted())
		tls_wrote((__u64)ret);
	return 0;
}

SEC("uprobe")
int BPF_KPROBE(tg_ssl_write_ex, void *ssl, void *buf, __u64 num, __u64 *written)
{
	return tls_enter(ssl, buf, written);
}

SEC("uretprobe")
int BPF_KRETPROBE(tg_ssl_write_ex_ret, int ret)
{
	__u64 id = bpf_get_current_pid_tgid(), n = 0;
	struct tg_tls_call *c = bpf_map_lookup_elem(&tg_tls_calls, &id);

	if (!c)
		return 0;
	if (ret == 1 && !bpf_probe_read_user(&n, sizeof(n), (const void *)c->count_ptr))
		tls_wrote(n);
	bpf_map_delete_elem(&tg_tls_calls, &id);
	return 0;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
