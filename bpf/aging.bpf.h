/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * Aging: the MMU-notifier path asks KVM whether guest pages were accessed
 * since the last check (clear_flush_young / test_young).  Three views:
 *  - kvm_age_gfn()/kvm_test_age_gfn() (5.13+): VM, gfn range and result;
 *  - kvm:kvm_age_hva / kvm:kvm_test_age_hva tracepoints: an HVA range only,
 *    attributed through the memslot table discovery fills, no result;
 *  - kvmmmu:kvm_tdp_mmu_spte_changed: per-gfn accessed-bit clears on
 *    TDP (EPT/NPT) hosts, the result the HVA tracepoints lack.
 */
#ifndef KVMHEAT_AGING_BPF_H
#define KVMHEAT_AGING_BPF_H

#include "common.bpf.h"
#include "idlebits.bpf.h"

/* Who is being aged on this CPU: set by the HVA tracepoint, read by the
 * spte-changed tracepoint, which carries no VM of its own. */
struct kh_age_ctx {
	__u32 pid;
	__u32 tid;
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct kh_age_ctx);
} age_ctx SEC(".maps");

/*
 * A bool return value read from the saved return register (fexit's last
 * argument, kretprobe's PT_REGS_RC).  x86-64's ABI defines only %al for a
 * bool; the rest of %rax may hold anything, and a cast of the whole u64 to
 * bool tests all 64 bits.  Seen on Debian 6.12.95: kvm_tdp_mmu_test_age_gfn
 * builds its result with `setne %dl; or %edx,%r12d` while %edx still holds
 * bits 8-31 of the SPTE it just read, and kvm_test_age_gfn passes that on:
 * every present SPTE read "young" to a hook that took the whole register,
 * which made DAMON's tests (and only they) report cold pages young.
 */
static __always_inline bool kh_ret_bool(__u64 rax)
{
	return (__u8)rax != 0;
}

/* One long-range aging check, for the region holding @gfn. */
static __always_inline void kh_account_coarse(__u32 pid, __u64 gfn, const struct kh_counts *d,
					      __u64 pages)
{
	struct kh_key key = { .pid = pid, .idx = gfn >> KH_REGION_SHIFT };
	struct kh_region *r;

	if (!aggregate)
		return;
	r = kh_get(&regions, &key, KH_SRC_AGING);
	if (!r)
		return;
	kh_add(&r->c, d);
	__sync_fetch_and_add(&r->coarse_aged, 1);
	if (d->young)
		__sync_fetch_and_add(&r->coarse_young, 1);
	if (r->coarse_pages < pages)
		r->coarse_pages = pages;
	kh_stat(KH_SRC_AGING, KH_STAT_COUNTED);
}

static __always_inline void kh_age_pages(__u32 pid, __u64 start, __u64 end, bool young,
					 bool young_known, bool test)
{
	struct kh_counts d = {
		.aged = 1,
		.flags = (young_known ? KH_F_YOUNG_KNOWN : KH_F_HVA_AGED) | (test ? KH_F_TESTED : 0),
	};
	__u64 i;

	if (young) {
		d.young = 1;
		d.accesses = 1;
	}
	kh_emit(KH_SRC_AGING, young ? KH_EV_YOUNG : KH_EV_AGED, pid, start << KH_PAGE_SHIFT,
		end - start, KH_VCPU_UNKNOWN, false);
	/* kvmheat idle: a state per page (or per region of a range) instead of hash entries */
	if (kh_idle_mark(pid, start, end, true, young)) {
		kh_stat(KH_SRC_AGING, end - start <= KH_AGE_GFN_MAX ? KH_STAT_COUNTED
								   : KH_STAT_TRUNCATED);
		return;
	}
	if (end - start <= KH_AGE_GFN_MAX) {
		for (i = 0; i < KH_AGE_GFN_MAX; i++) {
			if (start + i >= end)
				break;
			kh_account(KH_SRC_AGING, pid, start + i, &d, -1, true);
		}
		return;
	}

	/*
	 * A huge page or a sweep: one observation at the hook's granularity.
	 * Every region it covers counts it once, no gfn inside gets credit,
	 * and no touched bit is set (the range says nothing per 4 KiB page).
	 */
	kh_stat(KH_SRC_AGING, KH_STAT_TRUNCATED);
	d.flags |= KH_F_RANGE_AGED;	/* idle ages: one entry for the range */
	for (i = 0; i < KH_AGE_REGION_MAX; i++) {
		__u64 lo = ((start >> KH_REGION_SHIFT) + i) << KH_REGION_SHIFT;

		if (lo >= end)
			break;
		kh_account_coarse(pid, lo, &d, end - start);
	}
}

/*
 * kvm_age_gfn (@test false: the accessed bit is cleared) / kvm_test_age_gfn
 * (@test: only read): VM by struct kvm *, exact result.  Ranges of address
 * space 1 (SMM: an alias of the same RAM) are not counted, as the HVA and
 * TDP paths already skip them, so a page is aged once per pass.
 */
static __always_inline void kh_age_gfn_range(__u64 kvm, __u64 start, __u64 end, bool young,
					     __u16 as_id, bool test)
{
	__u32 pid;

	kh_stat(KH_SRC_AGING, KH_STAT_EVENTS);
	if (as_id != 0)
		return;
	pid = kh_pid_of_kvm(kvm);
	if (!pid) {
		kh_stat(KH_SRC_AGING, KH_STAT_NO_VM);
		return;
	}
	if (!kh_pid_wanted(KH_SRC_AGING, pid))
		return;
	kh_age_pages(pid, start, end, young, true, test);
}

/*
 * HVA range [start, end) of one VM (kvm != 0) or of whichever VM maps it.
 * Only the first matching memslot is used: memslots of one VM do not
 * overlap in HVA, and two VMs sharing host memory is not a case we split.
 */
static __always_inline void kh_age_hva(__u64 kvm, __u64 start, __u64 end, bool young,
				       bool young_known)
{
	struct kh_hva_slot *s = NULL;
	__u32 i, n = nr_hva_slots, zero = 0;
	struct kh_age_ctx *ac;
	__u64 lo, hi;

	kh_stat(KH_SRC_AGING, KH_STAT_EVENTS);
	for (i = 0; i < KH_MAX_HVA_SLOTS; i++) {
		struct kh_hva_slot *c;
		__u32 k = i;	/* own stack slot per iteration for the verifier */

		if (i >= n)
			break;
		c = bpf_map_lookup_elem(&hva_slots, &k);
		if (!c)
			break;
		if (kvm && c->kvm != kvm)
			continue;
		if (c->hva_end <= start || c->hva_start >= end)
			continue;
		s = c;
		break;
	}
	ac = bpf_map_lookup_elem(&age_ctx, &zero);
	if (ac) {
		ac->pid = s ? s->pid : 0;
		ac->tid = (__u32)bpf_get_current_pid_tgid();
	}
	if (!s) {
		kh_stat(KH_SRC_AGING, KH_STAT_NO_VM);
		return;
	}
	if (!kh_pid_wanted(KH_SRC_AGING, s->pid))
		return;
	lo = start > s->hva_start ? start : s->hva_start;
	hi = end < s->hva_end ? end : s->hva_end;
	kh_age_pages(s->pid, s->base_gfn + ((lo - s->hva_start) >> KH_PAGE_SHIFT),
		     s->base_gfn + ((hi - s->hva_start + KH_PAGE_SIZE - 1) >> KH_PAGE_SHIFT),
		     young, young_known, false);
}

/*
 * kvm_tdp_mmu_spte_changed during aging: the accessed bit going from set
 * to clear with nothing else changed is a young result for that gfn.  The
 * VM is the one the preceding kvm_age_hva on this thread resolved.
 */
static __always_inline void kh_tdp_spte_changed(int as_id, __u64 gfn, __u64 old_spte,
						__u64 new_spte)
{
	struct kh_counts d = { .accesses = 1, .young = 1, .flags = KH_F_YOUNG_KNOWN };
	__u64 mask = tdp_accessed_mask;
	struct kh_age_ctx *ac;
	__u32 zero = 0;

	if (!(old_spte & mask) || new_spte != (old_spte & ~mask))
		return;
	kh_stat(KH_SRC_AGING, KH_STAT_EVENTS);
	ac = bpf_map_lookup_elem(&age_ctx, &zero);
	if (!ac || !ac->pid || ac->tid != (__u32)bpf_get_current_pid_tgid()) {
		kh_stat(KH_SRC_AGING, KH_STAT_NO_VM);
		return;
	}
	if (as_id != 0 || !kh_pid_wanted(KH_SRC_AGING, ac->pid))
		return;
	if (!kh_idle_mark(ac->pid, gfn, gfn + 1, false, true))
		kh_account(KH_SRC_AGING, ac->pid, gfn, &d, -1, true);
	kh_emit(KH_SRC_AGING, KH_EV_YOUNG, ac->pid, gfn << KH_PAGE_SHIFT, 1, KH_VCPU_UNKNOWN,
		false);
}

/*
 * Address space of the range's memslot (5.11+ has kvm_memory_slot.as_id).
 * MMU notifiers age every address space that maps the HVA: with SMM, QEMU's
 * address space 1 aliases guest RAM, so the same gfns come once per space.
 * Heat is counted in address space 0 only (see kh_age_gfn_range).
 */
static __always_inline __u16 kh_range_as_id(struct kvm_gfn_range *range)
{
	struct kvm_memory_slot *slot = BPF_CORE_READ(range, slot);

	if (!slot || !bpf_core_field_exists(slot->as_id))
		return 0;
	return BPF_CORE_READ(slot, as_id);
}

/* kprobe + kretprobe pair: the entry stashes the range for the return. */
struct kh_age_stash {
	__u64 kvm;
	__u64 start;
	__u64 end;
	__u64 as_id;
	__u64 test;	/* kvm_test_age_gfn */
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, __u64);	/* pid_tgid */
	__type(value, struct kh_age_stash);
} age_stash SEC(".maps");

static __always_inline int kh_age_entry(struct kvm *kvm, struct kvm_gfn_range *range,
					bool test)
{
	struct kh_age_stash s = {
		.kvm = (__u64)kvm,
		.start = BPF_CORE_READ(range, start),
		.end = BPF_CORE_READ(range, end),
		.as_id = kh_range_as_id(range),
		.test = test,
	};
	__u64 id = bpf_get_current_pid_tgid();

	bpf_map_update_elem(&age_stash, &id, &s, BPF_ANY);
	return 0;
}

static __always_inline int kh_age_return(__u64 rc)
{
	bool young = kh_ret_bool(rc);
	__u64 id = bpf_get_current_pid_tgid();
	struct kh_age_stash *s = bpf_map_lookup_elem(&age_stash, &id);

	if (!s)
		return 0;
	kh_age_gfn_range(s->kvm, s->start, s->end, young, s->as_id, s->test);
	bpf_map_delete_elem(&age_stash, &id);
	return 0;
}

#endif /* KVMHEAT_AGING_BPF_H */
