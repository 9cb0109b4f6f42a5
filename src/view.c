// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * Views of per-gfn counts, the same in heat, top, report and export:
 * ranking, hot-range merging, heat strips and levels, per-VM rows, and
 * their JSON.  Pure functions over arrays: unit-tested in test_heat and
 * test_top without BPF.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <jansson.h>
#include "view.h"

static int kh_gfn_heat_cmp(const void *a, const void *b)
{
	const struct kh_gfn_stat *x = a, *y = b;

	if (x->c.accesses != y->c.accesses)
		return x->c.accesses > y->c.accesses ? -1 : 1;
	if (x->c.writes != y->c.writes)
		return x->c.writes > y->c.writes ? -1 : 1;
	if (x->pid != y->pid)
		return x->pid < y->pid ? -1 : 1;
	return x->gfn < y->gfn ? -1 : x->gfn > y->gfn;
}

void kh_sort_gfns_by_heat(struct kh_gfn_stat *g, size_t n)
{
	if (n)	/* an empty read leaves @g NULL: qsort wants an array */
		qsort(g, n, sizeof(*g), kh_gfn_heat_cmp);
}

static int kh_range_cmp(const void *a, const void *b)
{
	const struct kh_range *x = a, *y = b;
	uint64_t px = x->accesses / x->npages, py = y->accesses / y->npages;

	if (px != py)
		return px > py ? -1 : 1;
	if (x->accesses != y->accesses)
		return x->accesses > y->accesses ? -1 : 1;
	if (x->pid != y->pid)
		return x->pid < y->pid ? -1 : 1;
	return x->gfn_start < y->gfn_start ? -1 : x->gfn_start > y->gfn_start;
}

/*
 * Hot ranges: runs of consecutive gfns of one VM with the same log2 heat
 * bucket and the same written/read-only nature, ranked by accesses per
 * page.  Merging only alike neighbours keeps a hot page from being averaged
 * into a cold neighbour.  @out must hold n entries; returns how many of
 * the best (at most @top) are at its front.
 */
size_t kh_hot_ranges(const struct kh_gfn_stat *g, size_t n, size_t top, struct kh_range *out)
{
	struct kh_gfn_stat *s;
	size_t nr = 0;

	if (!n)
		return 0;
	s = malloc(n * sizeof(*s));
	if (!s)
		return 0;
	memcpy(s, g, n * sizeof(*s));
	qsort(s, n, sizeof(*s), kh_pidgfn_cmp);
	for (size_t i = 0; i < n; i++) {
		struct kh_range *r = nr ? &out[nr - 1] : NULL;
		bool written = s[i].c.writes > 0;

		if (!s[i].c.accesses)
			continue;
		if (r && r->pid == s[i].pid && r->gfn_start + r->npages == s[i].gfn &&
		    kh_log2_slot(r->accesses / r->npages) == kh_log2_slot(s[i].c.accesses) &&
		    (r->writes > 0) == written) {
			r->npages++;
			r->accesses += s[i].c.accesses;
			r->writes += s[i].c.writes;
			r->subpage_mask |= s[i].c.subpage_mask;
			continue;
		}
		out[nr++] = (struct kh_range){
			.pid = s[i].pid, .gfn_start = s[i].gfn, .npages = 1,
			.accesses = s[i].c.accesses, .writes = s[i].c.writes,
			.subpage_mask = s[i].c.subpage_mask,
		};
	}
	free(s);
	qsort(out, nr, sizeof(*out), kh_range_cmp);
	return nr < top ? nr : top;
}

/*
 * Bin accesses into @width columns over the VM's memory with the holes
 * between memslots squeezed out: column c covers pages
 * [c * total / width, (c + 1) * total / width) of the concatenated slots.
 */
void kh_strip(const struct kh_vm *vm, const struct kh_gfn_stat *g, size_t n, uint64_t *cols,
	      size_t width)
{
	uint64_t total = kh_vm_pages(vm);

	memset(cols, 0, width * sizeof(*cols));
	if (!total || !width)
		return;
	for (size_t i = 0; i < n; i++) {
		int si = g[i].pid == vm->pid ? kh_vm_slot_of(vm, g[i].gfn) : -1;
		uint64_t before = 0, idx;

		if (si < 0)
			continue;
		for (int j = 0; j < si; j++)
			if (vm->slots[j].as_id == 0)
				before += vm->slots[j].npages;
		idx = before + (g[i].gfn - vm->slots[si].base_gfn);
		cols[(unsigned __int128)idx * width / total] += g[i].c.accesses;
	}
}

void kh_mask_str(uint32_t mask, char out[KH_SUBPAGES + 1])
{
	for (int i = 0; i < KH_SUBPAGES; i++)
		out[i] = (mask >> i) & 1 ? '#' : '.';
	out[KH_SUBPAGES] = 0;
}

/* Sort order of the most-written list: writes, then gfn. */
int kh_gfn_writes_cmp(const void *a, const void *b)
{
	const struct kh_gfn_stat *x = a, *y = b;

	if (x->c.writes != y->c.writes)
		return x->c.writes > y->c.writes ? -1 : 1;
	return x->gfn < y->gfn ? -1 : x->gfn > y->gfn;
}

/*
 * Heat level of @v against the hottest @max, on a log scale (one step per
 * doubling): 0 for nothing, else 1 .. @levels.  The code page of a guest
 * can be 1000x hotter than its data, so a linear scale would show one spot.
 */
int kh_heat_level(uint64_t v, uint64_t max, int levels)
{
	int lv, lm;

	if (!v || !max)
		return 0;
	lv = kh_log2_slot(v) + 1;
	lm = kh_log2_slot(max) + 1;
	return 1 + (lv * (levels - 1)) / lm;
}

/* Gfns of one region that were accessed: its touched bitmap's weight. */
static uint64_t kh_region_touched(const struct kh_region *r)
{
	uint64_t t = 0;

	for (unsigned int w = 0; w < KH_REGION_GFNS / 64; w++)
		t += __builtin_popcountll(r->touched[w]);
	return t;
}

/* Working set of @pid: gfns touched in its regions. */
uint64_t kh_vm_touched(const struct kh_region *v, const struct kh_key *k, size_t n, uint32_t pid)
{
	uint64_t t = 0;

	for (size_t i = 0; i < n; i++)
		if (k[i].pid == pid)
			t += kh_region_touched(&v[i]);
	return t;
}

/* Counters of @pid summed over its gfns (mask and flags not kept: per gfn only). */
void kh_vm_totals(const struct kh_gfn_stat *g, size_t n, uint32_t pid, struct kh_counts *t)
{
	memset(t, 0, sizeof(*t));
	for (size_t i = 0; i < n; i++)
		if (g[i].pid == pid)
			kh_counts_add(t, &g[i].c);
	t->subpage_mask = 0;
	t->flags = 0;
}

/* JSON of the heat types: heat and report use the same keys. */
json_t *kh_counts_json(const struct kh_counts *c)
{
	char m[16];

	snprintf(m, sizeof(m), "0x%08x", c->subpage_mask);
	return json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:s}",
			 "accesses", (json_int_t)c->accesses, "writes", (json_int_t)c->writes,
			 "faults", (json_int_t)c->faults, "aged", (json_int_t)c->aged,
			 "young", (json_int_t)c->young, "tracked", (json_int_t)c->tracked,
			 "spp", (json_int_t)c->spp, "subpage_write_mask", m);
}

json_t *kh_gfn_json(const struct kh_gfn_stat *g)
{
	json_t *e = kh_counts_json(&g->c);

	json_object_set_new(e, "gfn", json_integer((json_int_t)g->gfn));
	if (g->has_subpages) {
		json_t *a = json_array();

		for (int s = 0; s < KH_SUBPAGES; s++)
			json_array_append_new(a, json_integer(g->sp.cnt[s]));
		json_object_set_new(e, "subpage_writes", a);
	}
	return e;
}

json_t *kh_range_json(const struct kh_range *r)
{
	char m[16];

	snprintf(m, sizeof(m), "0x%08x", r->subpage_mask);
	return json_pack("{s:I, s:I, s:I, s:I, s:I, s:s}",
			 "gfn_start", (json_int_t)r->gfn_start,
			 "gfn_end", (json_int_t)(r->gfn_start + r->npages),
			 "pages", (json_int_t)r->npages, "accesses", (json_int_t)r->accesses,
			 "writes", (json_int_t)r->writes, "subpage_write_mask", m);
}

/* ---- per-VM rows (top, export) ---- */

struct kh_top_row *kh_row_of(struct kh_top_row *rows, size_t n, uint32_t pid)
{
	for (size_t i = 0; i < n; i++)
		if (rows[i].pid == pid)
			return &rows[i];
	return NULL;
}

/*
 * One row per VM in @vms (only @pid's when non-zero): totals from the
 * interval's region counters, which see everything including aging
 * ranges too long for per-gfn entries; working set from their touched
 * bitmaps; idle from per-gfn aging results (aged gfns, a result known,
 * no access signal).
 */
size_t kh_top_rows(const struct kh_vmset *vms, uint32_t pid, const struct kh_key *rk,
		   const struct kh_region *rv, size_t nr, const struct kh_gfn_stat *g, size_t ng,
		   struct kh_top_row *rows)
{
	size_t n = 0;

	for (size_t i = 0; i < vms->n; i++) {
		const struct kh_vm *vm = &vms->vms[i];
		struct kh_top_row *r;

		if ((pid && vm->pid != pid) || kh_row_of(rows, n, vm->pid))
			continue;
		r = &rows[n++];
		memset(r, 0, sizeof(*r));
		r->pid = vm->pid;
		r->nr_vcpus = vm->nr_vcpus;
		snprintf(r->comm, sizeof(r->comm), "%s", vm->comm);
		snprintf(r->name, sizeof(r->name), "%s", vm->ident.name);
		r->mem_bytes = kh_vm_pages(vm) << KH_PAGE_SHIFT;
	}
	for (size_t i = 0; i < nr; i++) {
		struct kh_top_row *r = kh_row_of(rows, n, rk[i].pid);
		const struct kh_counts *c = &rv[i].c;

		if (!r)
			continue;	/* exited during the interval */
		kh_counts_add(&r->c, c);
		r->wset += kh_region_touched(&rv[i]);
		kh_coarse_add(&r->coarse, c->aged, rv[i].coarse_aged, rv[i].coarse_young,
			      rv[i].coarse_pages);
	}
	for (size_t i = 0; i < ng; i++) {
		struct kh_top_row *r;

		/*
		 * Only aging that gave a result can call a page idle: the HVA
		 * tracepoints (KH_F_HVA_AGED) say a page was checked, not what
		 * was found, and counting those as idle showed 100 % for a VM
		 * nobody knew anything about.
		 */
		if (!g[i].c.aged || !(g[i].c.flags & KH_F_YOUNG_KNOWN))
			continue;
		r = kh_row_of(rows, n, g[i].pid);
		if (!r)
			continue;
		r->aged_gfns++;
		r->idle_gfns += !g[i].c.accesses;
	}
	return n;
}

static const char *const kh_top_col_names[KH_TOP_NR_COLS] = {
	[KH_TOP_PID] = "PID", [KH_TOP_COMM] = "COMM", [KH_TOP_VCPUS] = "VCPU",
	[KH_TOP_MEM] = "MEMORY", [KH_TOP_ACC] = "ACC/S", [KH_TOP_WR] = "WRITE/S",
	[KH_TOP_WSET] = "WSET", [KH_TOP_IDLE] = "IDLE%", [KH_TOP_TRACK] = "TRACK/S",
	[KH_TOP_SPP] = "SPP/S", [KH_TOP_NAME] = "NAME",
};

/* Idle percentage, or -1 where no aging was seen. */
double kh_row_idle(const struct kh_top_row *r)
{
	return r->aged_gfns ? 100.0 * r->idle_gfns / r->aged_gfns : -1;
}

static int kh_row_cmp(const void *a, const void *b, void *arg)
{
	const struct kh_top_row *x = a, *y = b;
	int col = *(const int *)arg;
	double vx = 0, vy = 0;
	int c;

	switch (col) {
	case KH_TOP_PID:
		return x->pid < y->pid ? -1 : x->pid > y->pid;
	case KH_TOP_COMM:
		c = strcmp(x->comm, y->comm);
		return c ? c : (x->pid < y->pid ? -1 : x->pid > y->pid);
	case KH_TOP_NAME:
		c = strcmp(x->name, y->name);
		return c ? c : (x->pid < y->pid ? -1 : x->pid > y->pid);
	case KH_TOP_VCPUS: vx = x->nr_vcpus; vy = y->nr_vcpus; break;
	case KH_TOP_MEM: vx = x->mem_bytes; vy = y->mem_bytes; break;
	case KH_TOP_ACC: vx = x->c.accesses; vy = y->c.accesses; break;
	case KH_TOP_WR: vx = x->c.writes; vy = y->c.writes; break;
	case KH_TOP_WSET: vx = x->wset; vy = y->wset; break;
	case KH_TOP_IDLE: vx = kh_row_idle(x); vy = kh_row_idle(y); break;
	case KH_TOP_TRACK: vx = x->c.tracked; vy = y->c.tracked; break;
	case KH_TOP_SPP: vx = x->c.spp; vy = y->c.spp; break;
	}
	/* numbers: biggest first; ties in pid order so rows do not jump */
	if (vx != vy)
		return vx > vy ? -1 : 1;
	return x->pid < y->pid ? -1 : x->pid > y->pid;
}

void kh_top_sort(struct kh_top_row *rows, size_t n, int col, bool reverse)
{
	qsort_r(rows, n, sizeof(*rows), kh_row_cmp, &col);
	for (size_t i = 0; reverse && i < n / 2; i++) {
		struct kh_top_row t = rows[i];

		rows[i] = rows[n - 1 - i];
		rows[n - 1 - i] = t;
	}
}

const char *kh_top_col_name(int col)
{
	return col >= 0 && col < KH_TOP_NR_COLS ? kh_top_col_names[col] : "?";
}
