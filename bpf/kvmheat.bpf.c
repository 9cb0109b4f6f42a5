// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * Thin per-attach-method wrappers around the handlers in *.bpf.h.
 * Userspace (src/probe.c) turns on exactly one candidate per hook with
 * bpf_program__set_autoload(); everything else stays unloaded.
 *
 * Wrapper naming: <method>_<hook target>.  The shim_* programs are raw_tp
 * programs with no attach target: tests drive them with BPF_PROG_TEST_RUN
 * and synthetic arguments to exercise handlers whose real hooks this
 * kernel cannot attach (fentry, kprobe, SPP).
 */
#include "common.bpf.h"
#include "aging.bpf.h"
#include "track.bpf.h"
#include "spp.bpf.h"
#include "walk.bpf.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* ---- following a command's descendants (record -- COMMAND) ------------ */

/*
 * sched_process_fork(parent, child) fires in the parent after the child is
 * made and before it is woken, so a child VMM is followed from its first
 * instruction.  New threads share the tgid and need nothing.
 */
SEC("tp_btf/sched_process_fork")
int BPF_PROG(tp_btf_sched_process_fork, struct task_struct *parent, struct task_struct *child)
{
	__u32 ptgid = parent->tgid, ctgid = child->tgid;
	__u8 one = 1;

	if (ptgid == ctgid || !bpf_map_lookup_elem(&follow_tgids, &ptgid))
		return 0;
	if (bpf_map_update_elem(&follow_tgids, &ctgid, &one, BPF_ANY))
		__sync_fetch_and_add(&follow_full, 1);
	return 0;
}

/* ---- aging ------------------------------------------------------------ */

/*
 * fexit kvm_age_gfn(kvm, range) -> bool young (5.13+).  The return value is
 * taken as the raw register and read by its low byte (kh_ret_bool).
 */
SEC("fexit/kvm_age_gfn")
int BPF_PROG(fexit_kvm_age_gfn, struct kvm *kvm, struct kvm_gfn_range *range, u64 ret)
{
	kh_age_gfn_range((__u64)kvm, range->start, range->end, kh_ret_bool(ret),
			 kh_range_as_id(range), false);
	return 0;
}

/* fexit kvm_test_age_gfn(kvm, range) -> bool young; test only, no clear. */
SEC("fexit/kvm_test_age_gfn")
int BPF_PROG(fexit_kvm_test_age_gfn, struct kvm *kvm, struct kvm_gfn_range *range, u64 ret)
{
	kh_age_gfn_range((__u64)kvm, range->start, range->end, kh_ret_bool(ret),
			 kh_range_as_id(range), true);
	return 0;
}

SEC("kprobe/kvm_age_gfn")
int BPF_KPROBE(kprobe_kvm_age_gfn, struct kvm *kvm, struct kvm_gfn_range *range)
{
	return kh_age_entry(kvm, range, false);
}

SEC("kretprobe/kvm_age_gfn")
int BPF_KRETPROBE(kretprobe_kvm_age_gfn, unsigned long rc)
{
	return kh_age_return(rc);
}

SEC("kprobe/kvm_test_age_gfn")
int BPF_KPROBE(kprobe_kvm_test_age_gfn, struct kvm *kvm, struct kvm_gfn_range *range)
{
	return kh_age_entry(kvm, range, true);
}

SEC("kretprobe/kvm_test_age_gfn")
int BPF_KRETPROBE(kretprobe_kvm_test_age_gfn, unsigned long rc)
{
	return kh_age_return(rc);
}

/* Before 5.13 x86 aged by HVA: kvm_age_hva(kvm, start, end) -> int young. */
SEC("fexit/kvm_age_hva")
int BPF_PROG(fexit_kvm_age_hva, struct kvm *kvm, unsigned long start, unsigned long end, int young)
{
	kh_age_hva((__u64)kvm, start, end, young, true);
	return 0;
}

/* Tracepoint kvm:kvm_age_hva(start, end): HVA only, no result. */
SEC("tp_btf/kvm_age_hva")
int BPF_PROG(tp_btf_kvm_age_hva, unsigned long start, unsigned long end)
{
	kh_age_hva(0, start, end, false, false);
	return 0;
}

SEC("raw_tp/kvm_age_hva")
int BPF_PROG(raw_tp_kvm_age_hva, unsigned long start, unsigned long end)
{
	kh_age_hva(0, start, end, false, false);
	return 0;
}

/* Tracepoint kvm:kvm_test_age_hva(hva). */
SEC("tp_btf/kvm_test_age_hva")
int BPF_PROG(tp_btf_kvm_test_age_hva, unsigned long hva)
{
	kh_age_hva(0, hva, hva + 1, false, false);
	return 0;
}

SEC("raw_tp/kvm_test_age_hva")
int BPF_PROG(raw_tp_kvm_test_age_hva, unsigned long hva)
{
	kh_age_hva(0, hva, hva + 1, false, false);
	return 0;
}

/* kvmmmu:kvm_tdp_mmu_spte_changed(as_id, gfn, level, old, new). */
SEC("tp_btf/kvm_tdp_mmu_spte_changed")
int BPF_PROG(tp_btf_kvm_tdp_mmu_spte_changed, int as_id, u64 gfn, int level, u64 old_spte,
	     u64 new_spte)
{
	kh_tdp_spte_changed(as_id, gfn, old_spte, new_spte);
	return 0;
}

SEC("raw_tp/kvm_tdp_mmu_spte_changed")
int BPF_PROG(raw_tp_kvm_tdp_mmu_spte_changed, int as_id, u64 gfn, int level, u64 old_spte,
	     u64 new_spte)
{
	kh_tdp_spte_changed(as_id, gfn, old_spte, new_spte);
	return 0;
}

/* ---- page-track writes ------------------------------------------------- */
/* All run in the vCPU thread that emulated the write: VM = current tgid. */

/* 6.6+: kvm_mmu_track_write(vcpu, gpa, new, bytes). */
SEC("fentry/kvm_mmu_track_write")
int BPF_PROG(fentry_kvm_mmu_track_write, struct kvm_vcpu *vcpu, u64 gpa, const u8 *new, int bytes)
{
	kh_track_write(kh_current_tgid(), kh_vcpu_id(vcpu), gpa, bytes);
	return 0;
}

SEC("kprobe/kvm_mmu_track_write")
int BPF_KPROBE(kprobe_kvm_mmu_track_write, struct kvm_vcpu *vcpu, u64 gpa, const u8 *new,
	       int bytes)
{
	kh_track_write(kh_current_tgid(), kh_vcpu_id(vcpu), gpa, bytes);
	return 0;
}

/* Up to 6.5: kvm_page_track_write(vcpu, gpa, new, bytes). */
SEC("fentry/kvm_page_track_write")
int BPF_PROG(fentry_kvm_page_track_write, struct kvm_vcpu *vcpu, u64 gpa, const u8 *new, int bytes)
{
	kh_track_write(kh_current_tgid(), kh_vcpu_id(vcpu), gpa, bytes);
	return 0;
}

SEC("kprobe/kvm_page_track_write")
int BPF_KPROBE(kprobe_kvm_page_track_write, struct kvm_vcpu *vcpu, u64 gpa, const u8 *new,
	       int bytes)
{
	kh_track_write(kh_current_tgid(), kh_vcpu_id(vcpu), gpa, bytes);
	return 0;
}

/* Up to 6.5, the MMU's own notifier: kvm_mmu_pte_write(vcpu, gpa, new, bytes, node). */
SEC("fentry/kvm_mmu_pte_write")
int BPF_PROG(fentry_kvm_mmu_pte_write, struct kvm_vcpu *vcpu, u64 gpa, const u8 *new, int bytes)
{
	kh_track_write(kh_current_tgid(), kh_vcpu_id(vcpu), gpa, bytes);
	return 0;
}

SEC("kprobe/kvm_mmu_pte_write")
int BPF_KPROBE(kprobe_kvm_mmu_pte_write, struct kvm_vcpu *vcpu, u64 gpa, const u8 *new, int bytes)
{
	kh_track_write(kh_current_tgid(), kh_vcpu_id(vcpu), gpa, bytes);
	return 0;
}

/* 6.6+: external-notifier writes, __kvm_page_track_write(kvm, gpa, new, bytes). */
SEC("fentry/__kvm_page_track_write")
int BPF_PROG(fentry___kvm_page_track_write, struct kvm *kvm, u64 gpa, const u8 *new, int bytes)
{
	kh_track_write(kh_current_tgid(), KH_VCPU_UNKNOWN, gpa, bytes);
	return 0;
}

SEC("kprobe/__kvm_page_track_write")
int BPF_KPROBE(kprobe___kvm_page_track_write, struct kvm *kvm, u64 gpa, const u8 *new, int bytes)
{
	kh_track_write(kh_current_tgid(), KH_VCPU_UNKNOWN, gpa, bytes);
	return 0;
}

/* ---- SPP ----------------------------------------------------------------- */

/* SPP series: kvm_spp_induced_exit(vcpu, gpa, exit_qualification). */
SEC("tp_btf/kvm_spp_induced_exit")
int BPF_PROG(tp_btf_kvm_spp_induced_exit, struct kvm_vcpu *vcpu, u64 gpa, u32 qual)
{
	/* maybe-NULL for the verifier on 6.12+: see tp_btf_kvm_page_fault */
	kh_spp_violation(kh_current_tgid(), kh_vcpu_id(vcpu), gpa);
	return 0;
}

SEC("raw_tp/kvm_spp_induced_exit")
int BPF_PROG(raw_tp_kvm_spp_induced_exit, struct kvm_vcpu *vcpu, u64 gpa, u32 qual)
{
	kh_spp_violation(kh_current_tgid(), kh_vcpu_id(vcpu), gpa);
	return 0;
}

/* SPP series: handle_spp(vcpu), the exit handler; the gpa is in the VMCS. */
SEC("fentry/handle_spp")
int BPF_PROG(fentry_handle_spp, struct kvm_vcpu *vcpu)
{
	kh_spp_violation(kh_current_tgid(), kh_vcpu_id(vcpu), KH_GPA_UNKNOWN);
	return 0;
}

SEC("kprobe/handle_spp")
int BPF_KPROBE(kprobe_handle_spp, struct kvm_vcpu *vcpu)
{
	kh_spp_violation(kh_current_tgid(), kh_vcpu_id(vcpu), KH_GPA_UNKNOWN);
	return 0;
}

/* kvm:kvm_exit: the classic event has exit_reason and isa as fields. */
SEC("tracepoint/kvm/kvm_exit")
int tracepoint_kvm_exit(struct trace_event_raw_kvm_exit *ctx)
{
	kh_spp_exit_reason(kh_current_tgid(), ctx->vcpu_id, ctx->isa, ctx->exit_reason);
	return 0;
}

/* ---- faults and guest walks -------------------------------------------- */

SEC("tp_btf/kvm_mmu_pagetable_walk")
int BPF_PROG(tp_btf_kvm_mmu_pagetable_walk, u64 addr, u32 pferr)
{
	kh_walk_begin(addr, pferr);
	return 0;
}

SEC("raw_tp/kvm_mmu_pagetable_walk")
int BPF_PROG(raw_tp_kvm_mmu_pagetable_walk, u64 addr, u32 pferr)
{
	kh_walk_begin(addr, pferr);
	return 0;
}

SEC("tp_btf/kvm_mmu_paging_element")
int BPF_PROG(tp_btf_kvm_mmu_paging_element, u64 pte, int level)
{
	kh_walk_element(pte, level);
	return 0;
}

SEC("raw_tp/kvm_mmu_paging_element")
int BPF_PROG(raw_tp_kvm_mmu_paging_element, u64 pte, int level)
{
	kh_walk_element(pte, level);
	return 0;
}

/*
 * 6.1+: kvm_page_fault(vcpu, fault_address, error_code); up to 6.0 it had no vcpu.
 * The NULL check is for the verifier, not the data: since "bpf: Augment raw_tp
 * arguments with PTR_MAYBE_NULL" (6.13, in 6.12.y stable: Debian 6.12 has it)
 * pointer arguments of tracepoints defined in modules (kvm.ko) are
 * maybe-NULL, and a bare vcpu->vcpu_id is refused ("Permission denied"): kh_vcpu_id() checks.
 * 6.1 accepts either form.
 */
SEC("tp_btf/kvm_page_fault")
int BPF_PROG(tp_btf_kvm_page_fault, struct kvm_vcpu *vcpu, u64 addr, u64 error_code)
{
	kh_page_fault(kh_current_tgid(), kh_vcpu_id(vcpu), addr, error_code);
	return 0;
}

/*
 * raw_tp serves both prototypes: without the vCPU argument the address
 * and error code are args 0 and 1 (page_fault_nargs from probe.c).
 */
SEC("raw_tp/kvm_page_fault")
int raw_tp_kvm_page_fault(u64 *ctx)
{
	if (page_fault_nargs == 2)
		kh_page_fault(kh_current_tgid(), KH_VCPU_UNKNOWN, ctx[0], ctx[1]);
	else
		kh_page_fault(kh_current_tgid(), kh_vcpu_id((void *)ctx[0]), ctx[1], ctx[2]);
	return 0;
}

/* ---- test-run shims (never attached) ----------------------------------- */
/* Arguments arrive as u64 ctx[]; each shim calls exactly one handler. */

SEC("raw_tp")
int shim_age_gfn(u64 *ctx)	/* kvm, start, end, young (a raw return register) */
{
	kh_age_gfn_range(ctx[0], ctx[1], ctx[2], kh_ret_bool(ctx[3]), 0, false);
	return 0;
}

SEC("raw_tp")
int shim_age_gfn_as(u64 *ctx)	/* kvm, start, end, young, as_id */
{
	kh_age_gfn_range(ctx[0], ctx[1], ctx[2], kh_ret_bool(ctx[3]), ctx[4], false);
	return 0;
}

SEC("raw_tp")
int shim_test_age_gfn(u64 *ctx)	/* kvm, start, end, young (raw register): kvm_test_age_gfn */
{
	kh_age_gfn_range(ctx[0], ctx[1], ctx[2], kh_ret_bool(ctx[3]), 0, true);
	return 0;
}

SEC("raw_tp")
int shim_age_hva(u64 *ctx)	/* kvm (0 = any), start, end, young, young_known */
{
	kh_age_hva(ctx[0], ctx[1], ctx[2], ctx[3], ctx[4]);
	return 0;
}

SEC("raw_tp")
int shim_tdp_spte_changed(u64 *ctx)	/* as_id, gfn, old, new */
{
	kh_tdp_spte_changed(ctx[0], ctx[1], ctx[2], ctx[3]);
	return 0;
}

SEC("raw_tp")
int shim_track_write(u64 *ctx)	/* pid, gpa, bytes, vcpu */
{
	kh_track_write(ctx[0], ctx[3], ctx[1], ctx[2]);
	return 0;
}

SEC("raw_tp")
int shim_spp(u64 *ctx)		/* pid, gpa (~0 = unknown) */
{
	kh_spp_violation(ctx[0], KH_VCPU_UNKNOWN, ctx[1]);
	return 0;
}

SEC("raw_tp")
int shim_spp_exit(u64 *ctx)	/* pid, isa, exit_reason */
{
	kh_spp_exit_reason(ctx[0], KH_VCPU_UNKNOWN, ctx[1], ctx[2]);
	return 0;
}

SEC("raw_tp")
int shim_page_fault(u64 *ctx)	/* pid, addr, error_code */
{
	kh_page_fault(ctx[0], KH_VCPU_UNKNOWN, ctx[1], ctx[2]);
	return 0;
}
