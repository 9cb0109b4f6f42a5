// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * Coarse aging summaries (coarse.h).  A region is "coarse only" when every
 * aging check it saw came as part of a long range: then kvmheat knows it as
 * one cell of that size and nothing about the 4 KiB pages inside, and says
 * so instead of showing them as idle or hot page by page.
 */
#include <inttypes.h>
#include <jansson.h>
#include "base.h"
#include "coarse.h"

void kh_coarse_add(struct kh_coarse *c, uint64_t aged, uint64_t coarse_aged,
		   uint64_t coarse_young, uint64_t coarse_pages)
{
	if (!coarse_aged)
		return;
	c->regions++;
	c->only += aged <= coarse_aged;
	c->aged += coarse_aged;
	c->young += coarse_young;
	if (coarse_pages > c->cell_pages)
		c->cell_pages = coarse_pages;
}

void kh_coarse_sum(const struct kh_key *k, const struct kh_region *v, size_t n, uint32_t pid,
		   struct kh_coarse *c)
{
	for (size_t i = 0; i < n; i++)
		if (!pid || k[i].pid == pid)
			kh_coarse_add(c, v[i].c.aged, v[i].coarse_aged, v[i].coarse_young,
				      v[i].coarse_pages);
}

json_t *kh_coarse_json(const struct kh_coarse *c)
{
	return json_pack("{s:I, s:I, s:I, s:I, s:I}",
			 "coarse_only_bytes", (json_int_t)(c->only << (KH_REGION_SHIFT + KH_PAGE_SHIFT)),
			 "coarse_regions", (json_int_t)c->regions,
			 "coarse_checks", (json_int_t)c->aged, "coarse_young", (json_int_t)c->young,
			 "largest_cell_bytes", (json_int_t)(c->cell_pages << KH_PAGE_SHIFT));
}

void kh_coarse_print(FILE *f, const struct kh_coarse *c, uint64_t mem_bytes)
{
	char a[32], b[32], d[32];

	if (!c->regions)
		return;
	fprintf(f, "  aging seen only at 2 MiB or coarser: %s of %s (%" PRIu64 " of %" PRIu64
		" checks young, largest cell %s); heat there is per cell, not per page\n",
		kh_fmt_bytes(c->only << (KH_REGION_SHIFT + KH_PAGE_SHIFT), a, sizeof(a)),
		kh_fmt_bytes(mem_bytes, b, sizeof(b)), c->young, c->aged,
		kh_fmt_bytes(c->cell_pages << KH_PAGE_SHIFT, d, sizeof(d)));
}

json_t *kh_coarse_cells_json(const struct kh_key *k, const struct kh_region *v, size_t n,
			     uint32_t pid)
{
	json_t *a = json_array();

	for (size_t i = 0; i < n; i++)
		if (k[i].pid == pid && v[i].coarse_aged)
			json_array_append_new(a, json_pack("{s:I, s:I, s:I, s:I, s:I}",
				"gfn", (json_int_t)(k[i].idx << KH_REGION_SHIFT),
				"cell_pages", (json_int_t)v[i].coarse_pages,
				"checks", (json_int_t)v[i].coarse_aged,
				"young", (json_int_t)v[i].coarse_young,
				"fine_checks", (json_int_t)(v[i].c.aged - v[i].coarse_aged)));
	return a;
}
