/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * Faults and guest page walks.
 *
 * kvmmmu:kvm_mmu_pagetable_walk(addr, pferr) starts a walk of the guest's
 * own page tables (shadow paging faults, emulated accesses, nested); one
 * kvmmmu:kvm_mmu_paging_element(pte, level) follows per level read.  The
 * leaf (level 1, or a present PS entry at level 2/3) plus the low bits of
 * the address give the gpa of the access; pferr says read/write/fetch.
 * Assumes 64-bit (4/5-level) guest paging: 2-level 32-bit PSE walks are
 * counted at the wrong size.
 *
 * kvm:kvm_page_fault gives the gpa directly under TDP (EPT/NPT); under
 * shadow paging its address is a gva, and the walk that follows is what
 * gets counted.
 */
#ifndef KVMHEAT_WALK_BPF_H
#define KVMHEAT_WALK_BPF_H

#include "common.bpf.h"

static __always_inline void kh_walk_begin(__u64 addr, __u32 pferr)
{
	struct kh_walk_state *w;
	__u32 zero = 0;

	w = bpf_map_lookup_elem(&walk_state, &zero);
	if (!w)
		return;
	w->addr = addr;
	w->pferr = pferr;
	w->tid = (__u32)bpf_get_current_pid_tgid();
}

static __always_inline void kh_walk_element(__u64 pte, int level)
{
	struct kh_counts d = { .accesses = 1 };
	struct kh_walk_state *w;
	__u64 page_mask, gpa;
	__u32 zero = 0, tid;
	__u32 pid;
	int subpage = -1;

	/* Non-leaf levels are the common case: leave before any accounting. */
	if (level > 1 && !(pte & KH_PTE_PS))
		return;
	w = bpf_map_lookup_elem(&walk_state, &zero);
	if (!w)
		return;
	kh_stat(KH_SRC_WALK, KH_STAT_EVENTS);
	tid = (__u32)bpf_get_current_pid_tgid();
	if (w->tid != tid) {
		/* Migrated or preempted mid-walk: the stash is someone else's. */
		kh_stat(KH_SRC_WALK, KH_STAT_WALK_LOST);
		return;
	}
	w->tid = 0;
	if (!(pte & 1) || level < 1 || level > 3)
		return;	/* not present: the walk fails, no access happens */

	pid = kh_current_tgid();
	if (!kh_pid_wanted(KH_SRC_WALK, pid))
		return;
	page_mask = (1ULL << (KH_PAGE_SHIFT + 9 * (level - 1))) - 1;
	gpa = (pte & KH_PTE_ADDR_MASK & ~page_mask) | (w->addr & page_mask);
	if (w->pferr & KH_PFERR_WRITE) {
		d.writes = 1;
		d.subpage_mask = kh_subpage_mask(gpa, 1);
		subpage = kh_subpage_of(gpa);
	}
	kh_account(KH_SRC_WALK, pid, gpa >> KH_PAGE_SHIFT, &d, subpage, true);
	/* The walk tracepoints carry no vCPU: the event's tid names the thread. */
	kh_emit(KH_SRC_WALK, d.writes ? KH_EV_WRITE :
		(w->pferr & KH_PFERR_FETCH) ? KH_EV_FETCH : KH_EV_READ,
		pid, gpa, 1, KH_VCPU_UNKNOWN, d.writes);
}

static __always_inline void kh_page_fault(__u32 pid, __u32 vcpu, __u64 addr, __u64 error_code)
{
	struct kh_counts d = { .accesses = 1, .faults = 1 };
	int subpage = -1;

	kh_stat(KH_SRC_WALK, KH_STAT_EVENTS);
	if (!kh_pid_wanted(KH_SRC_WALK, pid))
		return;
	if (!fault_addr_is_gpa) {
		kh_stat(KH_SRC_WALK, KH_STAT_NO_GFN);
		kh_emit(KH_SRC_WALK, KH_EV_FAULT, pid, KH_GPA_UNKNOWN, 0, vcpu,
			error_code & KH_PFERR_WRITE);
		return;
	}
	/* Bit 1 is "write" both in PFERR (SVM) and EPT exit qualifications. */
	if (error_code & KH_PFERR_WRITE) {
		d.writes = 1;
		d.subpage_mask = kh_subpage_mask(addr, 1);
		subpage = kh_subpage_of(addr);
	}
	kh_account(KH_SRC_WALK, pid, addr >> KH_PAGE_SHIFT, &d, subpage, true);
	kh_emit(KH_SRC_WALK, KH_EV_FAULT, pid, addr, 0, vcpu, d.writes);
}

#endif /* KVMHEAT_WALK_BPF_H */
