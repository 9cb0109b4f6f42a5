/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * Idle bits for `kvmheat idle` and for the live commands with an aging
 * driver: instead of a hash entry per aged gfn (about 100 bytes each), an
 * "aged" and a "young" bit per page of every VM with an open driver (clears
 * and tests alike: kvmheat.h KH_IDLE_W_*), in an array per VM that userspace maps and
 * reads-and-clears once per scan: 64 KiB per GiB of guest memory.  Each slot descriptor names its VM
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

/*
 * One array of words per scanned VM, created by userspace at the size the
 * VM needs and put in idle_bits[desc.map]: BPF_F_INNER_MAP lets arrays of
 * any size share the outer map (5.10: "bpf: Allow for map-in-map with
 * dynamic inner array map entries"), so nothing is sized for VMs that
 * may start later.  The template's one entry is never used.
 */
struct kh_idle_words {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(map_flags, BPF_F_MMAPABLE | BPF_F_INNER_MAP);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, KH_IDLE_SLOTS);
	__type(key, __u32);
	__array(values, struct kh_idle_words);
} idle_bits SEC(".maps");

const volatile __u32 idle_bits_on = 0;	/* userspace gives VMs arrays in idle_bits */
__u32 nr_idle_slots = 0;		/* idle_slots entries in use (free ones: npages 0) */

/* Set bit @m of word @idx of @words unless set (a plain OR: no BPF atomics before 5.12). */
static __always_inline void kh_idle_set(void *words, __u32 idx, __u64 m)
{
	__u64 *w = bpf_map_lookup_elem(words, &idx);

	if (w && !(*w & m))
		*w |= m;
}

/*
 * Pages [start, end) of VM @pid were aged (@aged) and found young (@young),
 * by a test (@test: kvm_test_age_gfn, the accessed bit left as it was) or
 * a clear.  Returns true when they were recorded here, so the caller need
 * not make per-gfn hash entries for them.
 */
static __always_inline bool kh_idle_mark(__u32 pid, __u64 start, __u64 end, bool aged,
					 bool young)
{
	void *words;
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
		k = d->map;
		words = bpf_map_lookup_elem(&idle_bits, &k);
		if (!words)
			return false;	/* described before its array was put in: hash entries */
		for (j = 0; j < KH_AGE_GFN_MAX; j++) {
			__u64 off = start + j - d->base_gfn;
			__u32 w = (__u32)(d->word_off + (off / 64) * KH_IDLE_WORDS);

			if (start + j >= end || off >= d->npages)
				break;
			if (aged)
				kh_idle_set(words, w + KH_IDLE_W_AGED, 1ULL << (off & 63));
			if (young)
				kh_idle_set(words, w + KH_IDLE_W_YOUNG, 1ULL << (off & 63));
		}
		return true;
	}
	return false;
}

#endif /* KVMHEAT_IDLEBITS_BPF_H */
