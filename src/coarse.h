/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * Coarse aging: what a VM's memory looks like when KVM aged it only in
 * ranges longer than KH_AGE_GFN_MAX pages (huge pages: 2 MiB, 1 GiB).  The
 * same summary for heat, top and report, from regions (live) or from a
 * recording's REGIONS records.
 */
#ifndef KH_COARSE_H
#define KH_COARSE_H

#include <stdint.h>
#include <stdio.h>
#include "kvmheat.h"

struct kh_coarse {
	uint64_t regions;	/* 2 MiB regions with any coarse aging check */
	uint64_t only;		/* ... and no aging at 4 KiB granularity */
	uint64_t young;		/* coarse checks found young */
	uint64_t aged;		/* coarse checks */
	uint64_t cell_pages;	/* the largest range seen, in pages */
};

/* Add one region's counters: @aged is all its aging checks, coarse included. */
void kh_coarse_add(struct kh_coarse *c, uint64_t aged, uint64_t coarse_aged,
		   uint64_t coarse_young, uint64_t coarse_pages);
/* Sum @pid's regions (0: all) from a regions map read. */
void kh_coarse_sum(const struct kh_key *k, const struct kh_region *v, size_t n, uint32_t pid,
		   struct kh_coarse *c);
struct json_t;
struct json_t *kh_coarse_json(const struct kh_coarse *c);
/* @pid's regions with coarse aging, one object each ({gfn, cell_pages, checks, young, ...}). */
struct json_t *kh_coarse_cells_json(const struct kh_key *k, const struct kh_region *v, size_t n,
				    uint32_t pid);
/* "  aging seen only at 2 MiB or coarser: ..." when there was any; nothing otherwise. */
void kh_coarse_print(FILE *f, const struct kh_coarse *c, uint64_t mem_bytes);

#endif /* KH_COARSE_H */
