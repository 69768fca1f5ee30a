/* The stack each program needs: the deepest chain of calls (the main
 * program and its BPF-to-BPF calls, each frame rounded up to 16 bytes, as
 * the verifier does with a JIT) must stay within a budget below the
 * verifier's 512 bytes, so a feature that adds to the packet path finds
 * headroom instead of a program that no longer loads. The frames are those
 * of the loaded program: the verifier's own check runs before it inlines
 * bpf_loop (24 bytes more in the caller's frame), so where such a call is
 * on the chain this counts up to 16 bytes more than the verifier did. */
#include <criterion/criterion.h>
#include <criterion/logging.h>
#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include <linux/bpf.h>
#include <stdlib.h>
#include <string.h>
#include "harness.h"

#define STACK_BUDGET 400 /* bytes of the verifier's 512 any program may use */
#define MAX_SUBPROGS 64
#define LOG_SIZE (64 * 1024)

/* Subprogram i's own depth: the i-th number of the verifier's
 * "stack depth a+b+c" line. */
static int parse_depths(const char *log, int *d)
{
	const char *s = strstr(log, "stack depth ");
	int n = 0;

	if (!s)
		return 0;
	s += strlen("stack depth ");
	while (n < MAX_SUBPROGS) {
		d[n++] = atoi(s);
		s = strpbrk(s, "+\n");
		if (!s || *s != '+')
			break;
		s++;
	}
	return n;
}

static int frame(int depth)
{
	return (depth + 15) / 16 * 16;
}

/* The deepest chain from the main program, from the loaded program's
 * instructions (a BPF-to-BPF call's imm is the callee's subprogram index
 * once verified) and its function info (where each subprogram begins). */
static int combined_depth(int fd, const int *d, int nd, char *chain, size_t chainsz)
{
	static char calls[MAX_SUBPROGS][MAX_SUBPROGS];
	struct bpf_prog_info info = {};
	__u32 len = sizeof(info), nf, ni, rec;
	struct bpf_func_info *fi;
	struct bpf_insn *in;
	int best[MAX_SUBPROGS], next[MAX_SUBPROGS];
	struct btf *btf;
	size_t o = 0;

	cr_assert_eq(bpf_obj_get_info_by_fd(fd, &info, &len), 0);
	nf = info.nr_func_info;
	ni = info.xlated_prog_len / sizeof(struct bpf_insn);
	rec = info.func_info_rec_size;
	cr_assert(nf >= 1 && nf <= MAX_SUBPROGS && (int)nf == nd,
		  "%u subprograms, %d depths", nf, nd);
	fi = calloc(nf, rec);
	in = calloc(ni, sizeof(*in));
	cr_assert(fi && in);
	btf = btf__load_from_kernel_by_id(info.btf_id);
	memset(&info, 0, sizeof(info));
	info.nr_func_info = nf;
	info.func_info_rec_size = rec;
	info.func_info = (__u64)(unsigned long)fi;
	info.xlated_prog_len = ni * sizeof(*in);
	info.xlated_prog_insns = (__u64)(unsigned long)in;
	len = sizeof(info);
	cr_assert_eq(bpf_obj_get_info_by_fd(fd, &info, &len), 0);
	memset(calls, 0, sizeof(calls));
	for (__u32 k = 0; k < ni; k++) {
		__u32 from = 0;

		if (in[k].code != (BPF_JMP | BPF_CALL) || in[k].src_reg != BPF_PSEUDO_CALL)
			continue;
		for (__u32 f = 0; f < nf; f++)
			if (fi[f].insn_off <= k)
				from = f;
		cr_assert(in[k].imm > 0 && (__u32)in[k].imm < nf && (__u32)in[k].imm != from,
			  "call at %u: imm %d", k, in[k].imm);
		calls[from][in[k].imm] = 1;
	}
	/* no recursion in BPF: nf rounds settle every longest path */
	for (__u32 i = 0; i < nf; i++)
		best[i] = frame(d[i]);
	for (__u32 round = 0; round < nf; round++)
		for (__u32 i = 0; i < nf; i++) {
			int m = 0;

			next[i] = -1;
			for (__u32 j = 0; j < nf; j++)
				if (calls[i][j] && best[j] > m) {
					m = best[j];
					next[i] = (int)j;
				}
			best[i] = frame(d[i]) + m;
		}
	chain[0] = 0;
	for (int i = 0; i >= 0 && o + 80 < chainsz; i = next[i]) {
		const struct btf_type *t = btf ? btf__type_by_id(btf, fi[i].type_id) : NULL;

		o += (size_t)snprintf(chain + o, chainsz - o, "%s%s %d", o ? " > " : "",
				      t ? btf__name_by_offset(btf, t->name_off) : "?", d[i]);
	}
	btf__free(btf);
	free(fi);
	free(in);
	return best[0];
}

Test(stack, every_program_within_the_budget)
{
	struct tollgate_bpf *s = tollgate_bpf__open();
	struct bpf_program *p;
	char *logs[16] = {0};
	int n = 0, i = 0;

	cr_assert(s, "open failed");
	s->rodata->tg_nr_cpus = (__u32)libbpf_num_possible_cpus();
	bpf_object__for_each_program(p, s->obj) {
		cr_assert(n < 16);
		logs[n] = calloc(1, LOG_SIZE);
		cr_assert(logs[n]);
		/* statistics only: the line "stack depth ..." */
		bpf_program__set_log_buf(p, logs[n], LOG_SIZE);
		bpf_program__set_log_level(p, 4);
		n++;
	}
	cr_assert_eq(tollgate_bpf__load(s), 0, "load failed (root needed)");
	bpf_object__for_each_program(p, s->obj) {
		int d[MAX_SUBPROGS], nd = parse_depths(logs[i], d), c;
		char chain[1024];

		cr_assert(nd > 0, "%s: no stack depth in the verifier's log", bpf_program__name(p));
		c = combined_depth(bpf_program__fd(p), d, nd, chain, sizeof(chain));
		cr_log_info("%s: %d bytes (%s)", bpf_program__name(p), c, chain);
		cr_expect(c <= STACK_BUDGET, "%s: the deepest call chain needs %d bytes of stack, "
			  "over the budget of %d (%s)", bpf_program__name(p), c, STACK_BUDGET, chain);
		free(logs[i]);
		i++;
	}
	tollgate_bpf__destroy(s);
}
