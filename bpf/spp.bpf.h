/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * SPP (sub-page write protection) violations.  SPP never reached mainline;
 * the last posted series (v10/v11) adds handle_spp() for VMX exit reason 66
 * and the kvm_spp_induced_exit tracepoint carrying the faulting gpa.  Hooks
 * that give no gpa (handle_spp, kvm_exit) still count the violation per VM.
 */
#ifndef KVMHEAT_SPP_BPF_H
#define KVMHEAT_SPP_BPF_H

#include "common.bpf.h"

#define KH_EXIT_REASON_SPP	66
#define KH_ISA_VMX		1

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, __u32);	/* VMM tgid */
	__type(value, __u64);	/* violations without a gpa */
} spp_nogpa SEC(".maps");

static __always_inline void kh_spp_violation(__u32 pid, __u32 vcpu, __u64 gpa)
{
	struct kh_counts d = { .accesses = 1, .writes = 1, .spp = 1 };
	__u64 one = 1, *n;

	kh_stat(KH_SRC_SPP, KH_STAT_EVENTS);
	if (!kh_pid_wanted(KH_SRC_SPP, pid))
		return;
	kh_emit(KH_SRC_SPP, KH_EV_SPP, pid, gpa, 0, vcpu, true);
	if (gpa == KH_GPA_UNKNOWN) {
		kh_stat(KH_SRC_SPP, KH_STAT_NO_GFN);
		n = bpf_map_lookup_elem(&spp_nogpa, &pid);
		if (n)
			__sync_fetch_and_add(n, 1);
		else
			bpf_map_update_elem(&spp_nogpa, &pid, &one, BPF_NOEXIST);
		return;
	}
	d.subpage_mask = kh_subpage_mask(gpa, 1);
	kh_account(KH_SRC_SPP, pid, gpa >> KH_PAGE_SHIFT, &d, kh_subpage_of(gpa), true);
}

/* kvm:kvm_exit on VMX with the SPP exit reason (no gpa in the event). */
static __always_inline void kh_spp_exit_reason(__u32 pid, __u32 vcpu, __u32 isa, __u32 reason)
{
	if (isa != KH_ISA_VMX || (reason & 0xffff) != KH_EXIT_REASON_SPP)
		return;
	kh_spp_violation(pid, vcpu, KH_GPA_UNKNOWN);
}

#endif /* KVMHEAT_SPP_BPF_H */
