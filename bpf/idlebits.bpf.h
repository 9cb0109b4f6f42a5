/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * Idle bits for `kvmheat idle` and for the live commands with an aging
 * driver: instead of a hash entry per aged gfn (about 100 bytes each), an
 * "aged" and a "young" bit per page of every VM with an open driver, for
 * the aging results of the slot's kind (clears or tests: kvmheat.h
 * KH_IDLE_KIND_*), in an array userspace maps and reads-and-clears once per
 * scan: 64 KiB per GiB of guest memory.  Each slot descriptor names its VM
 * (pid), since top and export scan several; a VM without descriptors (no
 * driver, or the array was full) keeps hash entries.  Off (idle_bits_on 0)
 * for every other command.  Ranges longer than KH_AGE_GFN_MAX (huge
 * mappings) are not spread into bits: they stay one region entry
 * (aging.bpf.h).
 */
#ifndef KVMHEAT_IDLEBITS_BPF_H
#define KVMHEAT_IDLEBITS_BPF_H

#include "common.bpf.h"

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, KH_IDLE_SLOTS);
	__type(key, __u32);
	__type(value, struct kh_idle_slot_desc);
} idle_slots SEC(".maps");

/* Size set by userspace: KH_IDLE_WORDS words per 64 pages of every described slot. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(map_flags, BPF_F_MMAPABLE);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} idle_bits SEC(".maps");

const volatile __u32 idle_bits_on = 0;	/* idle_bits sized and mapped by userspace */
__u32 nr_idle_slots = 0;		/* idle_slots entries in use (free ones: npages 0) */

/* Set bit @m of word @idx unless set (a plain OR: no BPF atomics before 5.12). */
static __always_inline void kh_idle_set(__u32 idx, __u64 m)
{
	__u64 *w = bpf_map_lookup_elem(&idle_bits, &idx);

	if (w && !(*w & m))
		*w |= m;
}

/*
 * Pages [start, end) of VM @pid were aged (@aged) and found young (@young),
 * by a test (@test: kvm_test_age_gfn, the accessed bit left as it was) or
 * a clear.  Returns true when they were recorded here, or dropped as a
 * clear on a tests slot (DAMON's own pre-sample clears), so the caller
 * need not make per-gfn hash entries for them; false for a test on a
 * clears slot, which keeps its hash entry.
 */
static __always_inline bool kh_idle_mark(__u32 pid, __u64 start, __u64 end, bool aged,
					 bool young, bool test)
{
	__u32 i, j;

	if (!idle_bits_on || !pid || end <= start || end - start > KH_AGE_GFN_MAX)
		return false;
	for (i = 0; i < KH_IDLE_SLOTS; i++) {
		struct kh_idle_slot_desc *d;
		__u32 k = i;

		if (i >= nr_idle_slots)
			break;
		d = bpf_map_lookup_elem(&idle_slots, &k);
		if (!d)
			break;
		if (d->pid != pid || start < d->base_gfn || start - d->base_gfn >= d->npages)
			continue;
		if (test != (d->kind == KH_IDLE_KIND_TESTS))
			return !test;
		for (j = 0; j < KH_AGE_GFN_MAX; j++) {
			__u64 off = start + j - d->base_gfn;
			__u32 w = (__u32)(d->word_off + (off / 64) * KH_IDLE_WORDS);

			if (start + j >= end || off >= d->npages)
				break;
			if (aged)
				kh_idle_set(w + KH_IDLE_W_AGED, 1ULL << (off & 63));
			if (young)
				kh_idle_set(w + KH_IDLE_W_YOUNG, 1ULL << (off & 63));
		}
		return true;
	}
	return false;
}

#endif /* KVMHEAT_IDLEBITS_BPF_H */
