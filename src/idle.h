/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * Idle age per gfn (idle.c): the number of consecutive scans in which a
 * page was aged and found not young.  One byte per guest page, per
 * memslot; a range KVM aged as one (a huge mapping: the aging hooks count
 * it per 2 MiB region only) is one entry per region, never spread into
 * invented 4 KiB ages.
 */
#ifndef KH_IDLE_H
#define KH_IDLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "kvmheat.h"

struct kh_vm;
struct json_t;

#define KH_IDLE_UNKNOWN	0xff	/* never aged while we watched */
#define KH_IDLE_PRIMED	0xfe	/* first cleared by us, young: no age yet (idle.c) */
#define KH_IDLE_MAX	253	/* ages saturate here */

struct kh_idle_slot {
	uint64_t base_gfn, npages, hva;
	uint8_t *age;		/* per page */
	uint8_t *huge;		/* per 512-gfn region the slot overlaps: range-aged entries,
				 * made at the first (a VM without huge mappings has none) */
	uint64_t region0;	/* base_gfn >> KH_REGION_SHIFT */
	uint64_t nregions;
	uint64_t word_off;	/* kernel-side idle states: first word (kvmheat.h) */
	uint64_t region_off;	/* and its regions' first word */
	bool has_bits;		/* within the first KH_IDLE_SLOTS slots */
};

struct kh_idle {
	uint32_t pid;
	size_t nslots;
	struct kh_idle_slot *slots;
	uint64_t scans;
};

/* What one scan's results did. */
struct kh_idle_scan {
	uint64_t aged;		/* gfn entries aged */
	uint64_t young;		/* of which young (or otherwise accessed): age reset */
	uint64_t huge;		/* region entries (or states) aged as one range */
	uint64_t outside;	/* entries of this pid in no memslot we know */
};

struct kh_idle_range {
	uint64_t gfn_start, gfn_end;	/* inclusive */
	uint64_t hva_start, hva_end;	/* inclusive: last byte */
	unsigned int age;
};

/* One VM's kernel-side idle bits, mapped (kvmheat.h: idle_bits[map]). */
struct kh_idle_map {
	uint64_t *words;
	uint64_t nwords;
	size_t len;		/* of the mapping */
	uint64_t bytes;		/* kernel-accounted (memlock) */
	int fd;			/* the array; -1 or 0 words: none */
};

int kh_idle_init(struct kh_idle *st, const struct kh_vm *vm);
void kh_idle_free(struct kh_idle *st);
/* Fold one scan's drained gfn and region entries (any pid; others ignored) in. */
int kh_idle_update(struct kh_idle *st, const struct kh_key *gk, const struct kh_counts *gv,
		   size_t ng, const struct kh_key *rk, const struct kh_region *rv, size_t nr,
		   struct kh_idle_scan *out);
/* Between scans: reset the ages of accessed pages, count no scan. */
void kh_idle_touch(struct kh_idle *st, const struct kh_key *gk, const struct kh_counts *gv,
		   size_t ng);
/*
 * Kernel-side idle bits: lay the slots out (at most KH_IDLE_SLOTS, into @d)
 * and return the words the idle_bits map needs; *nd gets the slot count.
 */
uint64_t kh_idle_bits_layout(struct kh_idle *st, struct kh_idle_slot_desc *d, size_t *nd);
/*
 * The hash maps `idle` needs beside the states (after kh_idle_bits_layout):
 * entries for what the states do not cover, over fixed floors, so its
 * maps do not grow with the VM; aging writes no sub-pages.
 */
void kh_idle_hash_sizes(const struct kh_idle *st, uint64_t *gfns, uint64_t *regions,
			uint64_t *subpages);
/*
 * Calls @fn for every page @i of @s (@regions: every 2 MiB region @i,
 * counted from region0: ranges aged as one) with a state (KH_IDLE_S_AGED
 * or _YOUNG) in @words, the mapped idle_bits array of @nwords words;
 * @take exchanges each word with 0 first, else it is only read.
 */
typedef void (*kh_idle_state_fn)(void *ctx, uint64_t i, unsigned int state);
void kh_idle_slot_states(const struct kh_idle_slot *s, bool regions, uint64_t *words,
			 uint64_t nwords, bool take, kh_idle_state_fn fn, void *ctx);
/* Read and clear the scan's states (@words: the mapped idle_bits array), then age; -ENOMEM. */
int kh_idle_update_bits(struct kh_idle *st, uint64_t *words, uint64_t nwords,
			struct kh_idle_scan *out);
/* Region @i's range-aged entry in @s, its array made at the first; NULL: no memory. */
uint8_t *kh_idle_huge(struct kh_idle_slot *s, uint64_t i);
/* Age of @gfn (KH_IDLE_UNKNOWN when never aged or outside every slot). */
unsigned int kh_idle_age(const struct kh_idle *st, uint64_t gfn);
/*
 * Every run of known age in ascending gfn: neighbours of equal age in one
 * memslot (gfn and hva both contiguous) are one call.  @fn returns non-zero
 * to stop; kh_idle_walk returns that value.
 */
typedef int (*kh_idle_run_fn)(void *ctx, uint64_t gfn, uint64_t hva, uint64_t npages,
			      unsigned int age);
int kh_idle_walk(const struct kh_idle *st, kh_idle_run_fn fn, void *ctx);
/* Ranges of age >= @min_age, equal-age neighbours merged, ascending gfn. */
int kh_idle_ranges(const struct kh_idle *st, unsigned int min_age, struct kh_idle_range **out,
		   size_t *n);
/* Pages with a known age, and bytes idle for >= 1, 2, 4, ... scans (log2 buckets). */
void kh_idle_hist(const struct kh_idle *st, uint64_t *known, uint64_t hist[9]);
/* The contract's range object: gfn_start, gfn_end, hva_start, hva_end, idle_age, idle_seconds. */
struct json_t *kh_idle_range_json(const struct kh_idle_range *r, double interval_s);

#endif /* KH_IDLE_H */
