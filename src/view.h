/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/* View layer: ranking, hot ranges, heat strips, per-VM rows and their JSON (view.c). */
#ifndef KH_VIEW_H
#define KH_VIEW_H

#include "vms.h"
#include "coarse.h"

struct kh_range {
	uint32_t pid;
	uint64_t gfn_start;
	uint64_t npages;
	uint64_t accesses, writes;
	uint32_t subpage_mask;		/* OR over the range */
};

void kh_sort_gfns_by_heat(struct kh_gfn_stat *g, size_t n);
int kh_gfn_writes_cmp(const void *a, const void *b);
size_t kh_hot_ranges(const struct kh_gfn_stat *g, size_t n, size_t top, struct kh_range *out);
void kh_strip(const struct kh_vm *vm, const struct kh_gfn_stat *g, size_t n, uint64_t *cols,
	      size_t width);
int kh_heat_level(uint64_t v, uint64_t max, int levels);
void kh_mask_str(uint32_t mask, char out[KH_SUBPAGES + 1]);
uint64_t kh_vm_touched(const struct kh_region *v, const struct kh_key *k, size_t n, uint32_t pid);
void kh_vm_totals(const struct kh_gfn_stat *g, size_t n, uint32_t pid, struct kh_counts *t);
/* JSON of the heat types, the same in heat and report. */
struct json_t;
struct json_t *kh_counts_json(const struct kh_counts *c);
struct json_t *kh_gfn_json(const struct kh_gfn_stat *g);
struct json_t *kh_range_json(const struct kh_range *r);

/* ---- per-VM rows: top's table, export's series ---- */
enum kh_top_col {
	KH_TOP_PID, KH_TOP_COMM, KH_TOP_VCPUS, KH_TOP_MEM, KH_TOP_ACC, KH_TOP_WR, KH_TOP_WSET,
	KH_TOP_IDLE, KH_TOP_TRACK, KH_TOP_SPP, KH_TOP_NAME, KH_TOP_NR_COLS
};

struct kh_top_row {
	uint32_t pid, nr_vcpus;
	char comm[17];
	char name[KH_NAME_MAX + 1];	/* vm->ident.name: last column, free width */
	uint64_t mem_bytes;
	struct kh_counts c;		/* the interval's counts, summed over regions */
	uint64_t wset;			/* gfns touched in the interval */
	uint64_t aged_gfns, idle_gfns;	/* idle: aged, and no access signal */
	struct kh_coarse coarse;	/* aging seen only in huge ranges (coarse.h) */
};

size_t kh_top_rows(const struct kh_vmset *vms, uint32_t pid, const struct kh_key *rk,
		   const struct kh_region *rv, size_t nr, const struct kh_gfn_stat *g, size_t ng,
		   struct kh_top_row *rows);
struct kh_top_row *kh_row_of(struct kh_top_row *rows, size_t n, uint32_t pid);
/* Idle percentage, or -1 where no aging was seen. */
double kh_row_idle(const struct kh_top_row *r);
void kh_top_sort(struct kh_top_row *rows, size_t n, int col, bool reverse);
const char *kh_top_col_name(int col);

#endif /* KH_VIEW_H */
