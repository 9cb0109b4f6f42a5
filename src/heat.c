// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * `kvmheat heat`: attach, let the guests run, then show per VM the hottest
 * gfn ranges with their sub-page write masks and a heat strip across guest
 * memory.  The table logic (ranking, range merging, strip binning) is
 * pure and unit-tested in tests/test_heat.c.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <jansson.h>
#include "kh.h"
#include "coarse.h"
#include "kvmheat.skel.h"

int kh_read_gfns(int gfn_fd, int sub_fd, uint32_t pid, struct kh_gfn_stat **out, size_t *n)
{
	struct kh_gfn_stat *v = NULL;
	struct kh_key key, next;
	size_t len = 0, cap = 0;
	int r;

	for (r = bpf_map_get_next_key(gfn_fd, NULL, &next); !r;
	     r = bpf_map_get_next_key(gfn_fd, &key, &next)) {
		struct kh_gfn_stat *g;

		key = next;
		if (pid && key.pid != pid)
			continue;
		if (len == cap) {
			struct kh_gfn_stat *nv = realloc(v, (cap ? cap * 2 : 1024) * sizeof(*nv));

			if (!nv) {
				free(v);
				return -ENOMEM;
			}
			v = nv;
			cap = cap ? cap * 2 : 1024;
		}
		g = &v[len];
		memset(g, 0, sizeof(*g));
		if (bpf_map_lookup_elem(gfn_fd, &key, &g->c))
			continue;	/* evicted between next_key and lookup */
		g->pid = key.pid;
		g->gfn = key.idx;
		if (sub_fd >= 0 && g->c.writes)
			g->has_subpages = !bpf_map_lookup_elem(sub_fd, &key, &g->sp);
		len++;
	}
	*out = v;
	*n = len;
	return 0;
}

int kh_read_regions(int fd, uint32_t pid, struct kh_key **keys, struct kh_region **vals,
		    size_t *n)
{
	struct kh_key key, next, *k = NULL;
	struct kh_region *v = NULL;
	size_t len = 0, cap = 0;
	int r;

	for (r = bpf_map_get_next_key(fd, NULL, &next); !r;
	     r = bpf_map_get_next_key(fd, &key, &next)) {
		key = next;
		if (pid && key.pid != pid)
			continue;
		if (len == cap) {
			size_t nc = cap ? cap * 2 : 256;
			struct kh_key *nk = realloc(k, nc * sizeof(*nk));
			struct kh_region *nv;

			if (nk)
				k = nk;
			nv = nk ? realloc(v, nc * sizeof(*nv)) : NULL;
			if (!nv) {
				free(k);
				free(v);
				return -ENOMEM;
			}
			v = nv;
			cap = nc;
		}
		if (bpf_map_lookup_elem(fd, &key, &v[len]))
			continue;
		k[len++] = key;
	}
	*keys = k;
	*vals = v;
	*n = len;
	return 0;
}

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
	qsort(g, n, sizeof(*g), kh_gfn_heat_cmp);
}

static int kh_gfn_addr_cmp(const void *a, const void *b)
{
	const struct kh_gfn_stat *x = a, *y = b;

	if (x->pid != y->pid)
		return x->pid < y->pid ? -1 : 1;
	return x->gfn < y->gfn ? -1 : x->gfn > y->gfn;
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
	qsort(s, n, sizeof(*s), kh_gfn_addr_cmp);
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

/* ---- output ---- */

struct kh_heat_args {
	uint32_t pid;
	double duration;
	size_t top;
	size_t width;
	int color;		/* -1 auto, 0 never, 1 always */
	struct kh_session_opts so;
};

static uint64_t kh_touched(const struct kh_region *v, const struct kh_key *k, size_t n,
			   uint32_t pid)
{
	uint64_t t = 0;

	for (size_t i = 0; i < n; i++) {
		if (k[i].pid != pid)
			continue;
		for (unsigned int w = 0; w < KH_REGION_GFNS / 64; w++)
			t += __builtin_popcountll(v[i].touched[w]);
	}
	return t;
}

static void kh_vm_totals(const struct kh_gfn_stat *g, size_t n, uint32_t pid,
			 struct kh_counts *t)
{
	memset(t, 0, sizeof(*t));
	for (size_t i = 0; i < n; i++) {
		if (g[i].pid != pid)
			continue;
		t->accesses += g[i].c.accesses;
		t->writes += g[i].c.writes;
		t->faults += g[i].c.faults;
		t->aged += g[i].c.aged;
		t->young += g[i].c.young;
		t->tracked += g[i].c.tracked;
		t->spp += g[i].c.spp;
	}
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

static json_t *kh_vm_heat_json(const struct kh_vm *vm, const struct kh_gfn_stat *g, size_t n,
			       const struct kh_range *rg, size_t nr, uint64_t touched,
			       const uint64_t *cols, size_t width)
{
	json_t *gj = json_array(), *rj = json_array(), *sj = json_array(), *slots = json_array();
	struct kh_counts t;

	kh_vm_totals(g, n, vm->pid, &t);
	for (size_t i = 0; i < n; i++)
		if (g[i].pid == vm->pid)
			json_array_append_new(gj, kh_gfn_json(&g[i]));
	for (size_t i = 0; i < nr; i++)
		if (rg[i].pid == vm->pid)
			json_array_append_new(rj, kh_range_json(&rg[i]));
	for (size_t c = 0; c < width; c++)
		json_array_append_new(sj, json_integer((json_int_t)cols[c]));
	for (size_t i = 0; i < vm->nr_slots; i++)
		json_array_append_new(slots, json_pack("{s:i, s:I, s:I}", "slot", vm->slots[i].id,
			"gpa", (json_int_t)(vm->slots[i].base_gfn << KH_PAGE_SHIFT),
			"size", (json_int_t)(vm->slots[i].npages << KH_PAGE_SHIFT)));
	return json_pack("{s:i, s:s, s:s, s:o, s:s, s:i, s:I, s:o, s:o, s:I, s:o, s:o, s:o}",
			 "pid", vm->pid, "comm", vm->comm, "name", vm->ident.name,
			 "uuid", vm->ident.uuid[0] ? json_string(vm->ident.uuid) : json_null(),
			 "name_source", kh_name_source_str(vm->ident.source), "vcpus", vm->nr_vcpus, "memory_bytes",
			 (json_int_t)(kh_vm_pages(vm) << KH_PAGE_SHIFT), "memslots", slots,
			 "totals", kh_counts_json(&t), "gfns_touched", (json_int_t)touched,
			 "ranges", rj, "gfns", gj, "strip", sj);
}

/* Heat ramp: black -> dark red -> red -> orange -> yellow -> white. */
static const int kh_ramp[] = { 236, 52, 88, 124, 160, 196, 202, 208, 214, 220, 226, 229, 231 };
#define KH_RAMP_N (int)(sizeof(kh_ramp) / sizeof(kh_ramp[0]))

static void kh_print_strip(const struct kh_vm *vm, const uint64_t *cols, size_t width,
			   bool color)
{
	static const char plain[] = " .:-=+*#%@";
	uint64_t max = 0;
	char b[32];

	for (size_t c = 0; c < width; c++)
		if (cols[c] > max)
			max = cols[c];
	printf("  heat |");
	for (size_t c = 0; c < width; c++) {
		/* log scale: one step per doubling, relative to the hottest column */
		int lvl = 0;

		if (cols[c] && max) {
			double f = (double)kh_log2_slot(cols[c]) + 1;
			double m = (double)kh_log2_slot(max) + 1;

			lvl = 1 + (int)((f / m) * (color ? KH_RAMP_N - 2 : 8));
		}
		if (color)
			printf("\033[48;5;%dm \033[0m", kh_ramp[lvl < KH_RAMP_N ? lvl : KH_RAMP_N - 1]);
		else
			putchar(plain[lvl < 10 ? lvl : 9]);
	}
	printf("| %s, %s per column, memslot holes squeezed out\n",
	       kh_fmt_bytes(kh_vm_pages(vm) << KH_PAGE_SHIFT, b, sizeof(b)),
	       kh_fmt_bytes((kh_vm_pages(vm) << KH_PAGE_SHIFT) / (width ? width : 1), b + 16, 16));
}

static int kh_writes_cmp(const void *a, const void *b)
{
	const struct kh_gfn_stat *x = *(const struct kh_gfn_stat *const *)a;
	const struct kh_gfn_stat *y = *(const struct kh_gfn_stat *const *)b;

	if (x->c.writes != y->c.writes)
		return x->c.writes > y->c.writes ? -1 : 1;
	return x->gfn < y->gfn ? -1 : x->gfn > y->gfn;
}

/* The most-written gfns with their per-sub-page write counts. */
static void kh_print_written(const struct kh_vm *vm, const struct kh_gfn_stat *g, size_t n)
{
	const struct kh_gfn_stat **w = calloc(n ? n : 1, sizeof(*w));
	size_t nw = 0;

	if (!w)
		return;
	for (size_t i = 0; i < n; i++)
		if (g[i].pid == vm->pid && g[i].c.writes)
			w[nw++] = &g[i];
	qsort(w, nw, sizeof(*w), kh_writes_cmp);
	if (nw)
		printf("  %-27s %10s  %s\n", "MOST WRITTEN GFN", "WRITES",
		       "SUB-PAGE WRITES (sub-page index=count)");
	for (size_t i = 0; i < nw && i < 8; i++) {
		char mask[KH_SUBPAGES + 1];

		kh_mask_str(w[i]->c.subpage_mask, mask);
		printf("  0x%-25llx %10llu  %s", (unsigned long long)w[i]->gfn,
		       (unsigned long long)w[i]->c.writes, mask);
		for (int s = 0; s < KH_SUBPAGES && w[i]->has_subpages; s++)
			if (w[i]->sp.cnt[s])
				printf(" %d=%u", s, w[i]->sp.cnt[s]);
		putchar('\n');
	}
	free(w);
}

static void kh_print_vm(const struct kh_vm *vm, const struct kh_gfn_stat *g, size_t n,
			const struct kh_range *rg, size_t nr, uint64_t touched,
			const uint64_t *cols, size_t width, bool color)
{
	struct kh_counts t;
	char b1[32], b2[32], mask[KH_SUBPAGES + 1];

	kh_vm_totals(g, n, vm->pid, &t);
	printf("\nVM %u (%s): %u vCPU%s, %s in %zu memslot%s\n", vm->pid,
	       vm->ident.name[0] ? vm->ident.name : vm->comm, vm->nr_vcpus,
	       vm->nr_vcpus == 1 ? "" : "s",
	       kh_fmt_bytes(kh_vm_pages(vm) << KH_PAGE_SHIFT, b1, sizeof(b1)), vm->nr_slots,
	       vm->nr_slots == 1 ? "" : "s");
	printf("  accesses %llu, writes %llu, faults %llu, aged %llu, young %llu, "
	       "tracked writes %llu, spp %llu\n", t.accesses, t.writes, t.faults, t.aged,
	       t.young, t.tracked, t.spp);
	printf("  working set: %" PRIu64 " gfns touched (%s)\n", touched,
	       kh_fmt_bytes(touched << KH_PAGE_SHIFT, b2, sizeof(b2)));
	printf("  %-27s %6s %10s %10s %9s  %s\n", "GFN RANGE", "PAGES", "ACCESSES", "WRITES",
	       "ACC/PAGE", "SUB-PAGE WRITES (128 B each, low offsets left)");
	for (size_t i = 0; i < nr; i++) {
		char r[40];

		if (rg[i].pid != vm->pid)
			continue;
		if (rg[i].npages == 1)
			snprintf(r, sizeof(r), "0x%" PRIx64, rg[i].gfn_start);
		else
			snprintf(r, sizeof(r), "0x%" PRIx64 "-0x%" PRIx64, rg[i].gfn_start,
				 rg[i].gfn_start + rg[i].npages - 1);
		kh_mask_str(rg[i].subpage_mask, mask);
		printf("  %-27s %6" PRIu64 " %10" PRIu64 " %10" PRIu64 " %9" PRIu64 "  %s\n", r,
		       rg[i].npages, rg[i].accesses, rg[i].writes, rg[i].accesses / rg[i].npages,
		       rg[i].writes ? mask : "-");
	}
	kh_print_written(vm, g, n);
	kh_print_strip(vm, cols, width, color);
}

/*
 * A VM that started and exited between two discoveries still has counts
 * (walks and faults are attributed by tgid in BPF): report it, without
 * memslots, rather than drop what was seen.
 */
static void kh_vms_add_undiscovered(struct kh_vmset *seen, const struct kh_gfn_stat *g, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		struct kh_vm *nv, *vm;

		if (kh_vms_find(seen, g[i].pid))
			continue;
		nv = realloc(seen->vms, (seen->n + 1) * sizeof(*nv));
		if (!nv)
			return;
		seen->vms = nv;
		vm = &seen->vms[seen->n++];
		memset(vm, 0, sizeof(*vm));
		vm->pid = g[i].pid;
		snprintf(vm->comm, sizeof(vm->comm), "exited");
		kh_proc_comm(vm->pid, vm->comm, sizeof(vm->comm));
		kh_ident_learn(vm->pid, vm->comm, &vm->ident);
	}
}

static int kh_heat_report(struct kh_session *s, const struct kh_heat_args *a,
			  struct kh_vmset *seen, double elapsed, const struct kh_opts *o)
{
	struct kh_gfn_stat *g = NULL;
	struct kh_key *rk = NULL;
	struct kh_region *rv = NULL;
	struct kh_range *rg = NULL, *rg_vm = NULL;
	uint64_t stats[KH_NR_STATS], *cols;
	size_t n = 0, nrv = 0, nr_all;
	uint64_t runs, run_ns;
	bool cost_on;
	json_t *root = NULL, *vms = NULL;
	bool color = kh_color_wanted(a->color);
	char eb[128];
	int err;

	err = kh_read_gfns(bpf_map__fd(s->skel->maps.gfns), bpf_map__fd(s->skel->maps.subpages),
			   a->pid, &g, &n);
	if (!err)
		err = kh_read_regions(bpf_map__fd(s->skel->maps.regions), a->pid, &rk, &rv, &nrv);
	if (err)
		return kh_err(o, KH_EXIT_ERROR, "reading maps: %s", kh_errstr(err, eb, sizeof(eb)));
	kh_read_stats(s, stats);
	kh_session_cost(s, &runs, &run_ns, &cost_on);
	kh_sort_gfns_by_heat(g, n);
	rg = calloc(n ? n : 1, sizeof(*rg));
	rg_vm = calloc(n ? n : 1, sizeof(*rg_vm));
	cols = calloc(a->width, sizeof(*cols));
	if (!rg || !rg_vm || !cols) {
		err = kh_err(o, KH_EXIT_ERROR, "out of memory");
		goto out;
	}

	if (o->json) {
		json_t *srcs = json_array(), *st = json_object();

		for (int src = 0; src < KH_SRC_MAX; src++) {
			char d[256];

			kh_source_desc(&s->probe, src, d, sizeof(d));
			json_array_append_new(srcs, json_pack("{s:s, s:b, s:s}", "source",
				kh_source_name(src), "available",
				kh_source_available(&s->probe, src), "hooks", d));
			json_object_set_new(st, kh_source_name(src),
					    kh_stats_json(&stats[src * KH_STAT_MAX]));
		}
		vms = json_array();
		root = json_pack("{s:f, s:o, s:o, s:{s:I, s:I, s:I, s:I}, s:{s:b, s:I, s:I}}",
				 "duration_s", elapsed, "sources", srcs, "stats", st, "maps",
				 "gfn_entries", (json_int_t)s->gfn_entries, "region_entries",
				 (json_int_t)s->region_entries, "subpage_entries",
				 (json_int_t)s->subpage_entries, "memlock_bytes",
				 (json_int_t)kh_session_map_bytes(s), "bpf_cost", "stats_enabled",
				 cost_on, "runs", (json_int_t)runs, "run_time_ns", (json_int_t)run_ns);
	} else {
		printf("kvmheat heat: %.1f s; sources:", elapsed);
		for (int src = 0; src < KH_SRC_MAX; src++) {
			char d[256];

			kh_source_desc(&s->probe, src, d, sizeof(d));
			printf(" %s=%s", kh_source_name(src), d);
		}
		putchar('\n');
	}

	kh_vms_add_undiscovered(seen, g, n);
	/* Ranges once over all VMs; each VM then takes its best @top. */
	nr_all = kh_hot_ranges(g, n, SIZE_MAX, rg);
	for (size_t i = 0; i < seen->n; i++) {
		const struct kh_vm *vm = &seen->vms[i];
		struct kh_coarse coarse = {};
		size_t nr = 0, vn = 0;
		uint64_t touched;

		if (a->pid && vm->pid != a->pid)
			continue;	/* -p: discovery still sees every VM */
		for (size_t j = 0; j < n; j++)
			vn += g[j].pid == vm->pid;
		kh_coarse_sum(rk, rv, nrv, vm->pid, &coarse);
		if (!vn && !coarse.regions && !a->pid)
			continue;	/* idle VM in all-VM mode */
		for (size_t j = 0; j < nr_all && nr < a->top; j++)
			if (rg[j].pid == vm->pid)
				rg_vm[nr++] = rg[j];
		touched = kh_touched(rv, rk, nrv, vm->pid);
		kh_strip(vm, g, n, cols, a->width);
		if (o->json) {
			json_t *vj = kh_vm_heat_json(vm, g, n, rg_vm, nr, touched, cols, a->width);

			json_object_set_new(vj, "aging_granularity", kh_coarse_json(&coarse));
			json_object_set_new(vj, "coarse_cells",
					    kh_coarse_cells_json(rk, rv, nrv, vm->pid));
			json_array_append_new(vms, vj);
		} else {
			kh_print_vm(vm, g, n, rg_vm, nr, touched, cols, a->width, color);
			kh_coarse_print(stdout, &coarse, kh_vm_pages(vm) << KH_PAGE_SHIFT);
		}
	}
	if (o->json) {
		json_object_set_new(root, "vms", vms);
		kh_json_print(root, JSON_INDENT(1));
		root = NULL;
	} else {
		uint64_t lost = 0;

		for (int src = 0; src < KH_SRC_MAX; src++)
			lost += stats[src * KH_STAT_MAX + KH_STAT_MAP_FULL] +
				stats[src * KH_STAT_MAX + KH_STAT_WALK_LOST];
		if (lost)
			printf("\nnote: %" PRIu64 " events could not be counted (table full or "
			       "walk interleaved); see -j stats\n", lost);
		if (cost_on && runs)
			printf("\nBPF cost: %" PRIu64 " program runs, %.0f ns per run, %.3f s in "
			       "total\n", runs, (double)run_ns / runs, run_ns / 1e9);
		else
			printf("\nBPF cost: not measured (sysctl kernel.bpf_stats_enabled=1 to "
			       "measure)\n");
	}
	err = KH_EXIT_OK;
out:
	json_decref(root);
	free(cols);
	free(rg);
	free(rg_vm);
	free(g);
	free(rk);
	free(rv);
	return err;
}

/* Keep every VM seen during the run (one that exits stays reportable). */
static void kh_vms_remember(struct kh_vmset *seen, const struct kh_vmset *now)
{
	/* best effort: a VM that cannot be copied is reported without its slots */
	for (size_t i = 0; i < now->n; i++)
		kh_vms_put(seen, &now->vms[i]);
}

static const char kh_heat_help[] =
	"Usage: kvmheat heat [-p PID] [-d SECONDS] [-n TOP] [-e SOURCES] [-j]\n"
	"                    [--method SOURCE=METHOD] [--width N] [--color WHEN]\n"
	"                    [--max-gfns N]\n"
	"Trace guest memory accesses for SECONDS (default 5; ends early when the VM\n"
	"given by -p exits or on Ctrl-C), then print per VM the hottest gfn ranges\n"
	"with sub-page write masks and a heat strip across guest memory.\n"
	"  -p, --pid PID        only this VM (its VMM's pid, or its name or uuid)\n"
	"  -d, --duration S     how long to trace\n"
	"  -n, --top N          ranges to show per VM (default 20)\n"
	"  -e, --events LIST    sources: aging,track,spp,walk (default all)\n"
	"  -m, --method S=M     force source S to method M (fentry, kprobe, tp_btf,\n"
	"                       raw_tp, tracepoint), e.g. -m aging=raw_tp\n"
	"  -j, --json           JSON output\n"
	"      --width N        heat strip columns (default 64)\n"
	"      --color WHEN     auto, always or never\n"
	"      --max-gfns N     per-gfn table entries (default: 4096 per GiB)\n";

int kh_parse_sources(const char *s, uint32_t *mask)
{
	char *dup = strdup(s), *tok, *save = NULL;
	int err = 0;

	if (!dup)
		return -ENOMEM;
	*mask = 0;
	for (tok = strtok_r(dup, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		enum kh_source src;

		if (kh_source_parse(tok, &src)) {
			err = -EINVAL;
			break;
		}
		*mask |= 1U << src;
	}
	free(dup);
	return err ? err : (*mask ? 0 : -EINVAL);
}

int kh_parse_force(const char *s, enum kh_method force[KH_SRC_MAX])
{
	char buf[64], *eq;
	enum kh_source src;
	enum kh_method m;

	snprintf(buf, sizeof(buf), "%s", s);
	eq = strchr(buf, '=');
	if (!eq)
		return -EINVAL;
	*eq = 0;
	if (kh_source_parse(buf, &src) || kh_method_parse(eq + 1, &m))
		return -EINVAL;
	force[src] = m;
	return 0;
}

int kh_cmd_heat(int argc, char **argv, struct kh_opts *o)
{
	static const struct option longopts[] = {
		{ "pid", required_argument, NULL, 'p' },
		{ "duration", required_argument, NULL, 'd' },
		{ "top", required_argument, NULL, 'n' },
		{ "events", required_argument, NULL, 'e' },
		{ "method", required_argument, NULL, 'm' },
		{ "width", required_argument, NULL, 'W' },
		{ "color", required_argument, NULL, KH_OPT_COLOR },
		{ "max-gfns", required_argument, NULL, 'G' },
		KH_LONGOPTS_END,
	};
	struct kh_heat_args a = {
		.duration = 5, .top = 20, .width = 64, .color = -1,
		.so = { .sources = (1U << KH_SRC_MAX) - 1 },
	};
	struct kh_cmdline cl = {
		.cmd = "heat", .o = o, .help = kh_heat_help, .shortopts = "p:d:n:e:m:jvh",
		.longopts = longopts, .pid = &a.pid, .duration = &a.duration,
		.sources = &a.so.sources, .force = a.so.force, .color = &a.color,
	};
	struct kh_session s = {};
	struct kh_vmset seen = {};
	double start, deadline, next_refresh;
	uint64_t v;
	int opt, err;

	for (int i = 0; i < KH_SRC_MAX; i++)
		a.so.force[i] = KH_M_MAX;
	while ((opt = kh_getopt(&cl, argc, argv)) > 0) {
		switch (opt) {
		case 'n':
			if (kh_parse_u64(optarg, &v) || !v || v > 100000)
				return kh_err(o, KH_EXIT_USAGE, "heat: bad --top '%s'", optarg);
			a.top = v;
			break;
		case 'W':
			if (kh_parse_u64(optarg, &v) || v < 8 || v > 1000)
				return kh_err(o, KH_EXIT_USAGE, "heat: bad --width '%s' (8..1000)",
					      optarg);
			a.width = v;
			break;
		case 'G':
			if (kh_parse_u64(optarg, &v) || v < 16 || v > (1ULL << 26))
				return kh_err(o, KH_EXIT_USAGE, "heat: bad --max-gfns '%s'", optarg);
			a.so.max_gfns = v;
			break;
		}
	}
	if (opt == KH_OPT_STOP)
		return cl.rc;
	a.so.pid = a.pid;

	err = kh_session_open(&s, &a.so, o);
	if (!err)
		err = kh_session_attach(&s, o);
	if (err)
		goto out;
	kh_vms_remember(&seen, &s.vms);
	kh_install_signals();
	fprintf(stderr, "kvmheat: tracing %s for %.1f s; Ctrl-C to stop early\n",
		a.pid ? "one VM" : "all VMs", a.duration);
	start = kh_now();
	deadline = start + a.duration;
	next_refresh = start + 1;
	while (!kh_exiting && kh_now() < deadline) {
		kh_sleep_until(next_refresh < deadline ? next_refresh : deadline, 0.1);
		if (kh_exiting || kh_now() >= deadline)
			break;
		next_refresh += 1;
		if (kh_session_refresh(&s, o))
			continue;
		kh_vms_remember(&seen, &s.vms);
		if (a.pid && !kh_vms_find(&s.vms, a.pid)) {
			fprintf(stderr, "kvmheat: VM %u exited; reporting what was seen\n", a.pid);
			break;
		}
	}
	err = kh_heat_report(&s, &a, &seen, kh_now() - start, o);
	/* all-VM mode with nothing to show: say so, with its own exit code */
	if (!err && !seen.n)
		err = kh_err(o, KH_EXIT_NO_VM, "no KVM VM ran while tracing (%.1f s)",
			     kh_now() - start);
out:
	kh_vms_free(&seen);
	kh_session_close(&s);
	return err;
}
