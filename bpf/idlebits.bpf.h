/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * Idle states for `kvmheat idle` and for the live commands with an aging
 * driver: instead of a hash entry per aged gfn (about 100 bytes each), a
 * base-3 digit per page of every VM with an open driver: none, aged, or
 * young (clears and tests alike: kvmheat.h KH_IDLE_S_*), 40 pages a word,
 * in an array per VM that userspace maps and reads-and-clears once per
 * scan: 51.2 KiB per GiB of guest memory.  Each slot descriptor names its
 * VM (pid), since top and export scan several; a VM without descriptors
 * (no driver, or the array was full) keeps hash entries.  Off
 * (idle_bits_on 0) for every other command.  Ranges longer than
 * KH_AGE_GFN_MAX (huge mappings) are not spread into pages: they take a
 * state per 2 MiB region, as the hash takes a region entry (aging.bpf.h).
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

/*
 * Regions a range may cover and still take states: a 2 MiB page covers 1
 * (2 unaligned); a 512-region loop here would cost the verifier a
 * million instructions.
 */
#define KH_IDLE_RANGE_REGIONS	4

const volatile __u32 idle_bits_on = 0;	/* userspace gives VMs arrays in idle_bits */
__u32 nr_idle_slots = 0;		/* idle_slots entries in use (free ones: npages 0) */

/*
 * Raise page @d of word @idx of @words to state @st (KH_IDLE_S_*) unless
 * it is there already.  One load and one store, no BPF atomics (none
 * before 5.12): a race with another CPU or with userspace's exchange can
 * lose or repeat one update, and the stored word is always the loaded one
 * plus one digit's rise, so no digit ever carries into the next.
 */
static __always_inline void kh_idle_set(void *words, __u32 idx, __u32 d, __u64 st)
{
	__u64 *w = bpf_map_lookup_elem(words, &idx);
	__u64 v, p, old;

	barrier_var(d);	/* keep the bound: the verifier cannot see that off % 40 < 40 */
	if (!w || d >= KH_IDLE_PPW)
		return;
	v = *(volatile __u64 *)w;
	p = kh_idle_pow3[d];
	old = v / p % 3;
	if (st > old)
		*w = v + (st - old) * p;
}

/*
 * The descriptor of VM @pid's slot that [@gfn, @end) overlaps (a page's
 * own slot when @end is @gfn + 1), with its array in *@words; NULL: none,
 * or described before its array was put in (hash entries either way).
 */
static __always_inline struct kh_idle_slot_desc *kh_idle_find(__u32 pid, __u64 gfn, __u64 end,
							      void **words)
{
	struct kh_idle_slot_desc *d, *found = NULL;
	__u32 k;

	/* only @found lives on past the loop, so the verifier sees one exit, not 64 */
	for (__u32 i = 0; i < KH_IDLE_SLOTS; i++) {
		k = i;
		if (i >= nr_idle_slots)
			break;
		d = bpf_map_lookup_elem(&idle_slots, &k);
		if (!d)
			break;
		if (d->pid == pid && d->npages && gfn < d->base_gfn + d->npages &&
		    end > d->base_gfn) {
			found = d;
			break;
		}
	}
	if (!found)
		return NULL;
	k = found->map;
	*words = bpf_map_lookup_elem(&idle_bits, &k);
	return *words ? found : NULL;
}

/* Pages [start, end) of @d's slot, at most KH_AGE_GFN_MAX, to state @st. */
static __always_inline void kh_idle_pages(struct kh_idle_slot_desc *d, void *words, __u64 start,
					  __u64 end, __u64 st)
{
	for (__u32 j = 0; j < KH_AGE_GFN_MAX; j++) {
		__u64 off = start + j - d->base_gfn;

		if (start + j >= end || off >= d->npages)
			break;
		kh_idle_set(words, (__u32)(d->word_off + off / KH_IDLE_PPW),
			    (__u32)(off % KH_IDLE_PPW), st);
	}
}

/*
 * A range aged as one (a huge mapping): a state for each 2 MiB region of
 * @d's slot it covers (at most KH_IDLE_RANGE_REGIONS), as the hash keeps
 * one region entry, and no page gets one (the range says nothing per
 * 4 KiB page).
 */
static __always_inline void kh_idle_regions(struct kh_idle_slot_desc *d, void *words,
					    __u64 start, __u64 end, __u64 st)
{
	__u64 r0 = d->base_gfn >> KH_REGION_SHIFT;
	__u64 nr = ((d->base_gfn + d->npages - 1) >> KH_REGION_SHIFT) - r0 + 1;

	for (__u32 i = 0; i < KH_IDLE_RANGE_REGIONS; i++) {
		__u64 r = (start >> KH_REGION_SHIFT) + i;

		if ((r << KH_REGION_SHIFT) >= end)
			break;
		if (r < r0)
			continue;	/* the range starts before the slot */
		if (r - r0 >= nr)
			break;
		kh_idle_set(words, (__u32)(d->region_off + (r - r0) / KH_IDLE_PPW),
			    (__u32)((r - r0) % KH_IDLE_PPW), st);
	}
}

/*
 * Pages [start, end) of VM @pid were aged (@aged: a clear or a test) or
 * found young (@young).  Returns true when they were recorded here, so
 * the caller need not make per-gfn or region hash entries for them.
 */
static __always_inline bool kh_idle_mark(__u32 pid, __u64 start, __u64 end, bool aged,
					 bool young)
{
	struct kh_idle_slot_desc *d;
	void *words = NULL;
	__u64 st = young ? KH_IDLE_S_YOUNG : KH_IDLE_S_AGED;

	if (!idle_bits_on || !pid || end <= start || !(aged || young))
		return false;
	if (end - start <= KH_AGE_GFN_MAX) {
		d = kh_idle_find(pid, start, start + 1, &words);
		if (!d)
			return false;
		kh_idle_pages(d, words, start, end, st);
	} else {
		/* longer (a 1 GiB page: DAMON on hugetlbfs) stays region entries */
		if (((end - 1) >> KH_REGION_SHIFT) - (start >> KH_REGION_SHIFT) >=
		    KH_IDLE_RANGE_REGIONS)
			return false;
		d = kh_idle_find(pid, start, end, &words);
		if (!d)
			return false;
		kh_idle_regions(d, words, start, end, st);
	}
	return true;
}

#endif /* KVMHEAT_IDLEBITS_BPF_H */
