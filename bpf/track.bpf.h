/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * Page-track writes: KVM write-protects guest page-table pages (shadow
 * paging) and pages external users track; an emulated write to one lands
 * in the write-tracking handler with the gpa and length.  Only the address
 * and length are used: the written bytes (@new) are never read.
 */
#ifndef KVMHEAT_TRACK_BPF_H
#define KVMHEAT_TRACK_BPF_H

#include "common.bpf.h"

static __always_inline void kh_track_write(__u32 pid, __u32 vcpu, __u64 gpa, __u32 bytes)
{
	struct kh_counts d = {
		.accesses = 1,
		.writes = 1,
		.tracked = 1,
		.subpage_mask = kh_subpage_mask(gpa, bytes),
	};

	kh_stat(KH_SRC_TRACK, KH_STAT_EVENTS);
	if (!kh_pid_wanted(KH_SRC_TRACK, pid))
		return;
	kh_account(KH_SRC_TRACK, pid, gpa >> KH_PAGE_SHIFT, &d, kh_subpage_of(gpa), true);
	kh_emit(KH_SRC_TRACK, KH_EV_TRACK, pid, gpa, bytes, vcpu, true);
}

#endif /* KVMHEAT_TRACK_BPF_H */
