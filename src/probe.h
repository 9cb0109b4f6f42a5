/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/* Probe layer: which hooks this kernel has, and how to attach them (probe.c). */
#ifndef KH_PROBE_H
#define KH_PROBE_H

#include "base.h"

#define KH_MAX_CANDS 10

struct kh_cand {
	enum kh_method method;
	const char *target;		/* kernel function or tracepoint */
	const char *progs[3];		/* kvmheat.bpf.c programs it enables */
};

struct kh_hook_def {
	const char *name;
	enum kh_source src;
	bool young_fallback;		/* only when "age" gives no result */
	struct kh_cand cands[KH_MAX_CANDS];
};

struct kh_cand_result {
	bool tried;
	bool ok;
	int err;			/* negative errno when !ok */
	char why[160];
};

struct kh_hook_state {
	int chosen;			/* index into cands, -1: unavailable */
	bool skipped;			/* not needed (e.g. young fallback) */
	char skip_why[120];
	struct kh_cand_result res[KH_MAX_CANDS];
};

struct kh_env {
	char release[65];
	bool has_btf;
	bool has_kprobes;
	bool tdp;			/* EPT/NPT in use: fault addresses are gpas */
	char vendor[16];		/* kvm_intel, kvm_amd, kvm_pvm, ... */
	bool spp;			/* kernel carries the SPP series */
	uint32_t page_fault_nargs;
	uint64_t accessed_mask;
	/* kvm_gfn_range.lockless: TDP-MMU aging without mmu_lock (6.15+). */
	bool lockless_aging;
};

extern const struct kh_hook_def kh_hooks[];
extern const size_t kh_nr_hooks;

struct kh_probe {
	struct kh_env env;
	struct kh_hook_state *hooks;	/* kh_nr_hooks entries */
	enum kh_method force[KH_SRC_MAX];	/* KH_M_AUTO (zero): not forced */
};

/* 5.17+ keeps memslots in trees (see bpf/vms.bpf.c). */
bool kh_memslots_tree(void);
/* 0 or -errno; per-hook results and reasons in @p (free with kh_probe_free). */
int kh_probe_run(struct kh_probe *p, const struct kh_opts *o, uint32_t wanted_srcs);
void kh_probe_free(struct kh_probe *p);
bool kh_source_available(const struct kh_probe *p, enum kh_source src);
/* Short "fexit:kvm_age_gfn, ..." description of a source's chosen hooks. */
void kh_source_desc(const struct kh_probe *p, enum kh_source src, char *buf, size_t len);
struct kvmheat_bpf;
void kh_probe_apply(const struct kh_probe *p, struct kvmheat_bpf *skel);
void kh_set_rodata(const struct kh_env *env, struct kvmheat_bpf *skel, uint32_t targ_pid);

#endif /* KH_PROBE_H */
