// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * `kvmheat report`: read a recording (src/datafile.c) and show per VM the
 * hottest gfn ranges, totals, working set per epoch, idle fraction and a
 * per-source summary with losses; as text, JSON or CSV; sub-page rows and
 * the write trace; or export a filtered subset as a smaller recording.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "report.h"


static int kh_cmp_u64_desc(uint64_t a, uint64_t b)
{
	return a > b ? -1 : a < b;
}

static int kh_sort_acc(const void *a, const void *b)
{
	const struct kh_gfn_stat *x = a, *y = b;
	int c = kh_cmp_u64_desc(x->c.accesses, y->c.accesses);

	if (!c)
		c = kh_cmp_u64_desc(x->c.writes, y->c.writes);
	if (!c)
		c = x->pid < y->pid ? -1 : x->pid > y->pid;
	return c ? c : (x->gfn < y->gfn ? -1 : x->gfn > y->gfn);
}

static int kh_sort_wr(const void *a, const void *b)
{
	const struct kh_gfn_stat *x = a, *y = b;
	int c = kh_cmp_u64_desc(x->c.writes, y->c.writes);

	if (!c)
		c = kh_cmp_u64_desc(x->c.accesses, y->c.accesses);
	if (!c)
		c = x->pid < y->pid ? -1 : x->pid > y->pid;
	return c ? c : (x->gfn < y->gfn ? -1 : x->gfn > y->gfn);
}

static int kh_sort_gfn(const void *a, const void *b)
{
	const struct kh_gfn_stat *x = a, *y = b;

	if (x->pid != y->pid)
		return x->pid < y->pid ? -1 : 1;
	return x->gfn < y->gfn ? -1 : x->gfn > y->gfn;
}

static void kh_sort_rows(struct kh_gfn_stat *g, size_t n, enum kh_sort s)
{
	qsort(g, n, sizeof(*g), s == KH_SORT_WRITES ? kh_sort_wr :
	      s == KH_SORT_GFN ? kh_sort_gfn : kh_sort_acc);
}

static int kh_rsort_wr(const void *a, const void *b)
{
	const struct kh_range *x = a, *y = b;
	int c = kh_cmp_u64_desc(x->writes, y->writes);

	return c ? c : (x->gfn_start < y->gfn_start ? -1 : x->gfn_start > y->gfn_start);
}

static int kh_rsort_gfn(const void *a, const void *b)
{
	const struct kh_range *x = a, *y = b;

	return x->gfn_start < y->gfn_start ? -1 : x->gfn_start > y->gfn_start;
}

static bool kh_nonzero(const struct kh_counts *c)
{
	return c->accesses || c->writes || c->faults || c->aged || c->young || c->tracked ||
	       c->spp;
}

/* The VMs to show: recorded ones, plus any pid that only has counts. */
static int kh_report_vms(struct kh_report *rp, uint32_t **pids, size_t *np)
{
	uint32_t *p = malloc((rp->rec.nr_vms + rp->n + 1) * sizeof(*p));
	size_t n = 0;

	if (!p)
		return -ENOMEM;
	for (size_t i = 0; i < rp->rec.nr_vms; i++)
		if (!rp->a->f.pid || rp->rec.vms[i].pid == rp->a->f.pid)
			p[n++] = rp->rec.vms[i].pid;
	for (size_t i = 0; i < rp->n; i++) {
		bool seen = false;

		if (i && rp->g[i - 1].pid == rp->g[i].pid)
			continue;
		for (size_t k = 0; k < n && !seen; k++)
			seen = p[k] == rp->g[i].pid;
		if (!seen)
			p[n++] = rp->g[i].pid;
	}
	*pids = p;
	*np = n;
	return 0;
}

int kh_report_load(struct kh_report *rp, uint32_t **pids, size_t *np)
{
	int err = kh_rd_totals(&rp->rec, &rp->a->f, &rp->g, &rp->n);

	return err ? err : kh_report_vms(rp, pids, np);
}

void kh_report_free(struct kh_report *rp)
{
	free(rp->g);
	rp->g = NULL;
	kh_rd_free(&rp->rec);
}

void kh_view_init(struct kh_report *rp, uint32_t pid, struct kh_vm_view *v)
{
	size_t i = 0;

	memset(v, 0, sizeof(*v));
	v->pid = pid;
	v->vm = kh_rd_find_vm(&rp->rec, pid);
	while (i < rp->n && rp->g[i].pid != pid)
		i++;
	v->g = rp->g + i;
	while (i < rp->n && rp->g[i].pid == pid) {
		const struct kh_counts *c = &rp->g[i].c;

		v->t.accesses += c->accesses;
		v->t.writes += c->writes;
		v->t.faults += c->faults;
		v->t.aged += c->aged;
		v->t.young += c->young;
		v->t.tracked += c->tracked;
		v->t.spp += c->spp;
		v->touched += c->accesses > 0;
		if (c->aged) {
			v->aged_gfns++;
			v->idle_gfns += !c->accesses;
		}
		v->n++;
		i++;
	}
	for (size_t s = 0; v->vm && s < v->vm->nr_slots; s++)
		if (v->vm->slots[s].as_id == 0)
			v->mem_pages += v->vm->slots[s].npages;
	v->rg = calloc(v->n ? v->n : 1, sizeof(*v->rg));
	if (!v->rg)
		return;
	v->nr = kh_hot_ranges(v->g, v->n, SIZE_MAX, v->rg);
	if (rp->a->sort == KH_SORT_WRITES)
		qsort(v->rg, v->nr, sizeof(*v->rg), kh_rsort_wr);
	else if (rp->a->sort == KH_SORT_GFN)
		qsort(v->rg, v->nr, sizeof(*v->rg), kh_rsort_gfn);
	if (v->nr > rp->a->top)
		v->nr = rp->a->top;
}

/* Per wanted epoch: gfns of @pid with accesses in it, and its totals. */
void kh_epoch_ws(const struct kh_report *rp, size_t e, uint32_t pid, uint64_t *gfns,
		 uint64_t *acc, uint64_t *wr)
{
	const struct kh_rd_epoch *ep = &rp->rec.epochs[e];

	*gfns = *acc = *wr = 0;
	for (size_t i = ep->first_gfn; i < ep->first_gfn + ep->nr_gfns; i++) {
		const struct kh_rd_gfn *s = &rp->rec.gfns[i];

		if (s->pid != pid || !kh_rd_gfn_wanted(&rp->a->f, s->pid, s->gfn))
			continue;
		*gfns += s->d.accesses > 0;
		*acc += s->d.accesses;
		*wr += s->d.writes;
	}
}

/* Most-written gfns first, at most @top. */
size_t kh_most_written(const struct kh_vm_view *v, size_t top, struct kh_gfn_stat **out)
{
	struct kh_gfn_stat *w = malloc((v->n ? v->n : 1) * sizeof(*w));
	size_t nw = 0;

	*out = w;
	if (!w)
		return 0;
	for (size_t i = 0; i < v->n; i++)
		if (v->g[i].c.writes)
			w[nw++] = v->g[i];
	qsort(w, nw, sizeof(*w), kh_sort_wr);
	return nw < top ? nw : top;
}

/* One glyph per sub-page: '.' none, digit d: 2^(d-1) <= count < 2^d, '+' more. */
void kh_subpage_row(const uint32_t cnt[KH_SUBPAGES], char out[KH_SUBPAGES + 1])
{
	for (int k = 0; k < KH_SUBPAGES; k++) {
		int d = cnt[k] ? 32 - __builtin_clz(cnt[k]) : 0;

		out[k] = !d ? '.' : d <= 9 ? '0' + d : '+';
	}
	out[KH_SUBPAGES] = 0;
}

/* A written gfn's sub-page row: counts where kept, else only the mask ('#'). */
void kh_gfn_subpage_row(const struct kh_gfn_stat *g, char out[KH_SUBPAGES + 1])
{
	if (g->has_subpages)
		kh_subpage_row(g->sp.cnt, out);
	else
		kh_mask_str(g->c.subpage_mask, out);
}

static bool kh_event_wanted(const struct kh_report *rp, const struct kh_event *e)
{
	double t = kh_rd_secs(&rp->rec, e->ts_ns);

	if (rp->a->f.pid && e->pid != rp->a->f.pid)
		return false;
	if (rp->a->f.time_set && (t < rp->a->f.t0 || t > rp->a->f.t1))
		return false;
	if (rp->a->f.gfn_lo || rp->a->f.gfn_hi != UINT64_MAX) {
		if (e->gpa == KH_GPA_UNKNOWN)
			return false;
		uint64_t gfn = e->gpa >> KH_PAGE_SHIFT;

		if (gfn < rp->a->f.gfn_lo || gfn > rp->a->f.gfn_hi)
			return false;
	}
	return true;
}

static bool kh_event_is_write(const struct kh_event *e)
{
	return (e->flags & KH_EVF_WRITE) && e->gpa != KH_GPA_UNKNOWN;
}

/* ---- text ---- */

static const char *kh_stat_short[] = { "EVENTS", "COUNTED", "EMITTED", "LOST", "MAP_FULL",
				       "WALK_LOST", "NO_VM" };
static const int kh_stat_cols[] = { KH_STAT_EVENTS, KH_STAT_COUNTED, KH_STAT_EMITTED,
				    KH_STAT_LOST, KH_STAT_MAP_FULL, KH_STAT_WALK_LOST,
				    KH_STAT_NO_VM };
#define KH_NR_COLS (sizeof(kh_stat_cols) / sizeof(kh_stat_cols[0]))

double kh_rd_duration(const struct kh_recording *r)
{
	uint64_t end = r->has_footer ? r->footer.t_ns :
		       r->nr_epochs ? r->epochs[r->nr_epochs - 1].t1 : r->t_start;

	return kh_rd_secs(r, end);
}

static void kh_text_head(struct kh_report *rp)
{
	const struct kh_recording *r = &rp->rec;
	json_t *h = r->header;
	const char *s;

	printf("kvmheat report: %s (format %u.%u", rp->a->in, r->major, r->minor);
	if ((s = json_string_value(json_object_get(h, "kvmheat_version"))))
		printf(", kvmheat %s", s);
	if ((s = json_string_value(json_object_get(h, "host"))))
		printf(", host %s", s);
	if ((s = json_string_value(json_object_get(h, "kernel"))))
		printf(", kernel %s", s);
	printf(")\n");
	printf("  recorded %s for %.2f s: %zu epochs of %lld ms, %zu events%s\n",
	       json_string_value(json_object_get(h, "start_time")) ?: "(start unknown)",
	       kh_rd_duration(r), r->nr_epochs,
	       (long long)json_integer_value(json_object_get(h, "interval_ms")), r->nr_events,
	       r->has_footer ? "" : " (did not finish cleanly; see notes)");
	if (json_is_array(json_object_get(h, "cmdline"))) {
		json_t *v;
		size_t i;

		printf("  command line:");
		json_array_foreach(json_object_get(h, "cmdline"), i, v)
			printf(" %s", json_string_value(v) ?: "?");
		putchar('\n');
	}
	printf("\n  %-6s %-40s", "SOURCE", "ATTACH");
	for (size_t k = 0; k < KH_NR_COLS; k++)
		printf(" %10s", kh_stat_short[k]);
	putchar('\n');
	for (int src = 0; src < KH_SRC_MAX; src++) {
		const struct kh_rd_source *rs = &r->sources[src];

		if (!rs->present)
			continue;
		printf("  %-6s %-40.40s", kh_source_name(src),
		       !(rs->flags & KH_DFS_REQUESTED) ? "(not requested)" :
		       !(rs->flags & KH_DFS_AVAILABLE) ? "unavailable on this kernel" : rs->desc);
		for (size_t k = 0; k < KH_NR_COLS; k++)
			printf(" %10" PRIu64, r->stats[src * KH_STAT_MAX + kh_stat_cols[k]]);
		putchar('\n');
	}
}

static void kh_text_losses(const struct kh_recording *r)
{
	uint64_t tot[KH_SRC_MAX][KH_STAT_MAX] = {};
	bool any = false;

	for (size_t i = 0; i < r->nr_lost; i++)
		if (r->lost[i].source < KH_SRC_MAX && r->lost[i].stat < KH_STAT_MAX)
			tot[r->lost[i].source][r->lost[i].stat] += r->lost[i].lost;
	for (int s = 0; s < KH_SRC_MAX; s++)
		for (int k = 0; k < KH_STAT_MAX; k++) {
			if (!tot[s][k])
				continue;
			printf("  LOST: source %s: %" PRIu64 " events (%s)\n", kh_source_name(s),
			       tot[s][k], k == KH_STAT_LOST ? "event ring buffer full" :
			       k == KH_STAT_MAP_FULL ? "per-gfn table full" :
			       k == KH_STAT_WALK_LOST ? "walk interleaved" : kh_stat_name(k));
			any = true;
		}
	if (!any)
		printf("  lost events: none recorded\n");
}

bool kh_report_idle(const struct kh_report *rp, uint32_t pid, struct kh_idle_sum *s,
		    const struct kh_rd_idle **scan)
{
	const struct kh_rd_idle *sc = kh_rd_idle_last(&rp->rec, &rp->a->f, pid);

	memset(s, 0, sizeof(*s));
	*scan = sc;
	if (!sc)
		return false;
	kh_idle_sum_reset(s, rp->a->ws_scans);
	s->valid = true;
	s->driver = sc->driver;
	s->scans = sc->scan;
	for (size_t i = 0; i < sc->nr_runs; i++) {
		uint64_t first, n = kh_rd_idle_clip(&rp->rec, &rp->a->f, sc, i, &first);

		if (n)
			kh_idle_sum_add(s, n, rp->rec.idle_runs[sc->first_run + i].age);
	}
	return true;
}

/* Active aging's view, when the recording has it: the VM's last scan. */
static void kh_text_idle(const struct kh_report *rp, uint32_t pid)
{
	const struct kh_rd_idle *sc;
	struct kh_idle_sum s;

	if (!kh_report_idle(rp, pid, &s, &sc))
		return;
	printf("  idle ages at %.2f s (scan %u%s):\n", kh_rd_secs(&rp->rec, sc->t_ns), sc->scan,
	       sc->flags & KH_DFI_SAMPLED ? ", sampled: not every page was aged" : "");
	kh_idle_sum_print(stdout, pid, &s, sc->interval_ms / 1e3);
}

static void kh_text_vm(struct kh_report *rp, const struct kh_vm_view *v)
{
	const struct kh_rd_vm *vm = v->vm;
	char b1[32], b2[32], mask[KH_SUBPAGES + 1];
	size_t ne = 0, step;

	printf("\nVM %u (%s): %u vCPU%s, %s in %zu memslot%s", v->pid,
	       vm ? (vm->ident.source ? vm->ident.name : vm->comm) : "?",
	       vm ? vm->nr_vcpus : 0, vm && vm->nr_vcpus == 1 ? "" : "s",
	       kh_fmt_bytes(v->mem_pages << KH_PAGE_SHIFT, b1, sizeof(b1)),
	       vm ? vm->nr_slots : 0, vm && vm->nr_slots == 1 ? "" : "s");
	if (vm && vm->ident.source > KH_NAME_COMM)
		printf(", comm %s, name from %s%s%s", vm->comm, kh_name_source_str(vm->ident.source),
		       vm->ident.uuid[0] ? ", uuid " : "", vm->ident.uuid);
	if (vm && !(vm->flags & KH_DFV_INITIAL) && vm->t_appear)
		printf(", appeared at %.2f s", kh_rd_secs(&rp->rec, vm->t_appear));
	if (vm && vm->t_exit)
		printf(", exited at %.2f s", kh_rd_secs(&rp->rec, vm->t_exit));
	if (!vm || (vm->flags & KH_DFV_UNDISCOVERED))
		printf(" (exited before discovery: memslots unknown)");
	printf("\n  accesses %llu, writes %llu, faults %llu, aged %llu, young %llu, tracked "
	       "writes %llu, spp %llu\n", v->t.accesses, v->t.writes, v->t.faults, v->t.aged,
	       v->t.young, v->t.tracked, v->t.spp);
	printf("  working set: %" PRIu64 " gfns touched (%s)\n", v->touched,
	       kh_fmt_bytes(v->touched << KH_PAGE_SHIFT, b2, sizeof(b2)));
	{
		struct kh_coarse co;

		kh_rd_coarse(&rp->rec, &rp->a->f, v->pid, &co);
		kh_coarse_print(stdout, &co, v->mem_pages << KH_PAGE_SHIFT);
	}
	if (v->aged_gfns)
		printf("  idle fraction: %.3f (%" PRIu64 " of %" PRIu64 " gfns aging checked "
		       "had no access)\n", (double)v->idle_gfns / v->aged_gfns, v->idle_gfns,
		       v->aged_gfns);
	else
		printf("  idle fraction: n/a (no aging data for this VM)\n");
	kh_text_idle(rp, v->pid);
	printf("  %-27s %6s %10s %10s %9s  %s\n", "GFN RANGE", "PAGES", "ACCESSES", "WRITES",
	       "ACC/PAGE", "SUB-PAGE WRITES (128 B each, low offsets left)");
	for (size_t i = 0; i < v->nr; i++) {
		const struct kh_range *r = &v->rg[i];
		char rs[40];

		if (r->npages == 1)
			snprintf(rs, sizeof(rs), "0x%" PRIx64, r->gfn_start);
		else
			snprintf(rs, sizeof(rs), "0x%" PRIx64 "-0x%" PRIx64, r->gfn_start,
				 r->gfn_start + r->npages - 1);
		kh_mask_str(r->subpage_mask, mask);
		printf("  %-27s %6" PRIu64 " %10" PRIu64 " %10" PRIu64 " %9" PRIu64 "  %s\n", rs,
		       r->npages, r->accesses, r->writes, r->accesses / r->npages,
		       r->writes ? mask : "-");
	}
	for (size_t e = 0; e < rp->rec.nr_epochs; e++)
		ne += kh_rd_epoch_wanted(&rp->rec, &rp->a->f, e);
	/* at most 30 lines: group neighbouring epochs */
	step = ne > 30 ? (ne + 29) / 30 : 1;
	printf("  %-15s %9s %10s %12s %10s\n", "EPOCHS", "TIME (s)", "GFNS", "ACCESSES",
	       "WRITES");
	for (size_t e = 0, shown = 0; e < rp->rec.nr_epochs;) {
		uint64_t gf = 0, ac = 0, wr = 0, mx = 0;
		size_t first = e, k = 0;
		char lbl[32];

		for (; e < rp->rec.nr_epochs && k < step; e++) {
			uint64_t a, b, c;

			if (!kh_rd_epoch_wanted(&rp->rec, &rp->a->f, e))
				continue;
			if (!k)
				first = e;
			kh_epoch_ws(rp, e, v->pid, &a, &b, &c);
			gf += a;
			mx = a > mx ? a : mx;
			ac += b;
			wr += c;
			k++;
		}
		if (!k)
			break;
		if (k == 1)
			snprintf(lbl, sizeof(lbl), "%u", rp->rec.epochs[first].index);
		else
			snprintf(lbl, sizeof(lbl), "%u-%u (max)", rp->rec.epochs[first].index,
				 rp->rec.epochs[e - 1].index);
		printf("  %-15s %9.2f %10" PRIu64 " %12" PRIu64 " %10" PRIu64 "\n", lbl,
		       kh_rd_secs(&rp->rec, rp->rec.epochs[first].t0), k == 1 ? gf : mx, ac, wr);
		shown++;
	}
}

static void kh_text_subpages(struct kh_report *rp, const struct kh_vm_view *v)
{
	struct kh_gfn_stat *w;
	size_t nw = kh_most_written(v, rp->a->top, &w);

	printf("  %-18s %10s  %-32s  %s\n", "MOST WRITTEN GFN", "WRITES", "SUB-PAGES 0..31",
	       "(digit d: 2^(d-1)..2^d-1 writes) sub-page=count");
	for (size_t i = 0; i < nw; i++) {
		char row[KH_SUBPAGES + 1];

		kh_gfn_subpage_row(&w[i], row);
		printf("  0x%-16" PRIx64 " %10llu  %s ", w[i].gfn, w[i].c.writes, row);
		if (!w[i].has_subpages)
			printf(" (counts evicted: mask only)");
		for (int k = 0; k < KH_SUBPAGES && w[i].has_subpages; k++)
			if (w[i].sp.cnt[k])
				printf(" %d=%u", k, w[i].sp.cnt[k]);
		putchar('\n');
	}
	free(w);
}

static void kh_text_trace(struct kh_report *rp, uint32_t pid)
{
	size_t shown = 0, more = 0;

	printf("  WRITE TRACE %10s %6s %8s %18s %6s %5s\n", "TIME (s)", "VCPU", "TID", "GPA",
	       "OFFSET", "LEN");
	for (size_t i = 0; i < rp->rec.nr_events; i++) {
		const struct kh_event *e = &rp->rec.events[i];
		char vc[16];

		if (e->pid != pid || !kh_event_is_write(e) || !kh_event_wanted(rp, e))
			continue;
		if (shown >= rp->a->max_trace) {
			more++;
			continue;
		}
		if (e->vcpu == KH_VCPU_UNKNOWN)
			snprintf(vc, sizeof(vc), "-");
		else
			snprintf(vc, sizeof(vc), "%u", e->vcpu);
		printf("  %22.6f %6s %8u 0x%016llx %6llu %5u\n",
		       kh_rd_secs(&rp->rec, e->ts_ns), vc, e->tid, e->gpa,
		       e->gpa & (KH_PAGE_SIZE - 1), e->bytes);
		shown++;
	}
	if (more)
		printf("  ... %zu more writes (--max-trace N shows more)\n", more);
}

void kh_report_text(struct kh_report *rp, const uint32_t *pids, size_t np)
{
	kh_text_head(rp);
	kh_text_losses(&rp->rec);
	for (size_t i = 0; i < np; i++) {
		struct kh_vm_view vv;

		kh_view_init(rp, pids[i], &vv);
		kh_text_vm(rp, &vv);
		if (rp->a->subpages)
			kh_text_subpages(rp, &vv);
		if (rp->a->events && rp->rec.nr_events)
			kh_text_trace(rp, vv.pid);
		free(vv.rg);
	}
	for (size_t i = 0; i < rp->rec.nr_notes; i++)
		printf("\nnote: %s", rp->rec.notes[i]);
	if (rp->rec.nr_notes)
		putchar('\n');
}

/* ---- JSON ---- */

/* A VM's summary; its per-gfn rows and write trace are streamed after it. */
static json_t *kh_json_vm(struct kh_report *rp, const struct kh_vm_view *v)
{
	const struct kh_rd_vm *vm = v->vm;
	json_t *j, *slots = json_array(), *rj = json_array(), *ws = json_array();

	for (size_t s = 0; vm && s < vm->nr_slots; s++)
		json_array_append_new(slots, json_pack("{s:i, s:i, s:I, s:I}", "slot",
			vm->slots[s].id, "as_id", vm->slots[s].as_id,
			"gpa", (json_int_t)(vm->slots[s].base_gfn << KH_PAGE_SHIFT),
			"size", (json_int_t)(vm->slots[s].npages << KH_PAGE_SHIFT)));
	for (size_t i = 0; i < v->nr; i++)
		json_array_append_new(rj, kh_range_json(&v->rg[i]));
	for (size_t e = 0; e < rp->rec.nr_epochs; e++) {
		uint64_t a, b, c;

		if (!kh_rd_epoch_wanted(&rp->rec, &rp->a->f, e))
			continue;
		kh_epoch_ws(rp, e, v->pid, &a, &b, &c);
		json_array_append_new(ws, json_pack("{s:i, s:f, s:f, s:I, s:I, s:I}",
			"epoch", (int)rp->rec.epochs[e].index,
			"t0_s", kh_rd_secs(&rp->rec, rp->rec.epochs[e].t0),
			"t1_s", kh_rd_secs(&rp->rec, rp->rec.epochs[e].t1),
			"gfns", (json_int_t)a, "accesses", (json_int_t)b, "writes", (json_int_t)c));
	}
	j = json_pack("{s:i, s:s, s:o, s:o, s:s, s:i, s:I, s:o, s:b, s:o, s:o, s:I, s:I, s:o, "
		      "s:o, s:o}",
		      "pid", (int)v->pid, "comm", vm ? vm->comm : "?",
		      "name", vm && vm->ident.source ? json_string(vm->ident.name) : json_null(),
		      "uuid", vm && vm->ident.uuid[0] ? json_string(vm->ident.uuid) : json_null(),
		      "name_source", kh_name_source_str(vm ? vm->ident.source : 0),
		      "vcpus", vm ? (int)vm->nr_vcpus : 0,
		      "memory_bytes", (json_int_t)(v->mem_pages << KH_PAGE_SHIFT),
		      "memslots", slots,
		      "discovered", vm && !(vm->flags & KH_DFV_UNDISCOVERED),
		      "appeared_s", vm && vm->t_appear ?
				    json_real(kh_rd_secs(&rp->rec, vm->t_appear)) : json_null(),
		      "exited_s", vm && vm->t_exit ?
				  json_real(kh_rd_secs(&rp->rec, vm->t_exit)) : json_null(),
		      "gfns_touched", (json_int_t)v->touched,
		      "aged_gfns", (json_int_t)v->aged_gfns,
		      "idle_fraction", v->aged_gfns ?
				       json_real((double)v->idle_gfns / v->aged_gfns) : json_null(),
		      "totals", kh_counts_json(&v->t), "ranges", rj);
	json_object_set_new(j, "working_set", ws);
	{
		struct kh_coarse co;

		kh_rd_coarse(&rp->rec, &rp->a->f, v->pid, &co);
		json_object_set_new(j, "aging_granularity", kh_coarse_json(&co));
	}
	{
		const struct kh_rd_idle *sc;
		struct kh_idle_sum is;
		json_t *ij = NULL;

		if (kh_report_idle(rp, v->pid, &is, &sc)) {
			ij = kh_idle_sum_json(&is, sc->interval_ms / 1e3);
			json_object_set_new(ij, "t_s", json_real(kh_rd_secs(&rp->rec, sc->t_ns)));
			json_object_set_new(ij, "sampled", json_boolean(sc->flags & KH_DFI_SAMPLED));
		}
		/* null: no idle ages recorded (record without --age-driver) */
		json_object_set_new(j, "idle", ij ? ij : json_null());
	}
	return j;
}

/*
 * JSON output is streamed: members of the small objects one per line, and
 * the per-gfn rows and write-trace entries one at a time, so a recording
 * of a big guest does not need all of its rows as JSON objects at once.
 */
static void kh_json_members(json_t *obj, const char *indent, bool more)
{
	size_t i = 0, n = json_object_size(obj);
	const char *key;
	json_t *v;

	json_object_foreach(obj, key, v) {
		json_t *k = json_string(key);
		char *ks = json_dumps(k, JSON_ENCODE_ANY);
		char *vs = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);

		printf("%s%s: %s%s\n", indent, ks, vs, ++i < n || more ? "," : "");
		free(ks);
		free(vs);
		json_decref(k);
	}
}

static void kh_json_row(json_t *row, bool *first)
{
	char *s = json_dumps(row, JSON_COMPACT);

	printf("%s    %s", *first ? "" : ",\n", s);
	*first = false;
	free(s);
	json_decref(row);
}

static void kh_json_vm_stream(struct kh_report *rp, const struct kh_vm_view *v, bool last)
{
	struct kh_gfn_stat *rows = malloc((v->n ? v->n : 1) * sizeof(*rows));
	json_t *head = kh_json_vm(rp, v);
	bool first = true;

	printf("  {\n");
	kh_json_members(head, "   ", true);
	json_decref(head);
	printf("   \"gfns\": [\n");
	if (rows) {
		memcpy(rows, v->g, v->n * sizeof(*rows));
		kh_sort_rows(rows, v->n, rp->a->sort);
		for (size_t i = 0; i < v->n; i++)
			if (kh_nonzero(&rows[i].c))
				kh_json_row(kh_gfn_json(&rows[i]), &first);
		free(rows);
	}
	printf("%s   ]", first ? "" : "\n");
	if (rp->a->subpages || rp->a->events) {
		first = true;
		printf(",\n   \"write_trace\": [\n");
		for (size_t i = 0; rp->a->events && i < rp->rec.nr_events; i++) {
			const struct kh_event *e = &rp->rec.events[i];

			if (e->pid != v->pid || !kh_event_is_write(e) || !kh_event_wanted(rp, e))
				continue;
			kh_json_row(json_pack("{s:f, s:o, s:i, s:I, s:I, s:i, s:s}",
				"t_s", kh_rd_secs(&rp->rec, e->ts_ns),
				"vcpu", e->vcpu == KH_VCPU_UNKNOWN ? json_null() :
					json_integer(e->vcpu),
				"tid", (int)e->tid, "gpa", (json_int_t)e->gpa,
				"offset", (json_int_t)(e->gpa & (KH_PAGE_SIZE - 1)),
				"len", (int)e->bytes, "source", kh_source_name(e->source)), &first);
		}
		printf("%s   ]", first ? "" : "\n");
	}
	printf("\n  }%s\n", last ? "" : ",");
}

static json_t *kh_json_head(struct kh_report *rp)
{
	const struct kh_recording *r = &rp->rec;
	json_t *notes = json_array(), *srcs = json_array(), *lost = json_array();
	char ver[16];

	for (size_t i = 0; i < r->nr_notes; i++)
		json_array_append_new(notes, json_string(r->notes[i]));
	for (int src = 0; src < KH_SRC_MAX; src++) {
		const struct kh_rd_source *rs = &r->sources[src];

		if (!rs->present)
			continue;
		json_array_append_new(srcs, json_pack("{s:s, s:b, s:b, s:s, s:o}",
			"source", kh_source_name(src),
			"requested", !!(rs->flags & KH_DFS_REQUESTED),
			"available", !!(rs->flags & KH_DFS_AVAILABLE), "attach", rs->desc,
			"stats", kh_stats_json(&r->stats[src * KH_STAT_MAX])));
	}
	for (size_t i = 0; i < r->nr_lost; i++)
		json_array_append_new(lost, json_pack("{s:f, s:s, s:s, s:I, s:I}",
			"t_s", kh_rd_secs(r, r->lost[i].t_ns),
			"source", r->lost[i].source < KH_SRC_MAX ?
				  kh_source_name(r->lost[i].source) : "?",
			"stat", kh_stat_name(r->lost[i].stat), "lost", (json_int_t)r->lost[i].lost,
			"total", (json_int_t)r->lost[i].total));
	snprintf(ver, sizeof(ver), "%u.%u", r->major, r->minor);
	return json_pack("{s:s, s:s, s:O, s:b, s:o, s:f, s:i, s:i, s:o, s:o}",
			 "file", rp->a->in, "format_version", ver,
			 "header", r->header ? r->header : json_null(),
			 "complete", r->has_footer && !r->cut && !r->chunks_bad, "notes", notes,
			 "duration_s", kh_rd_duration(r), "epochs", (int)r->nr_epochs,
			 "events", (int)r->nr_events, "sources", srcs, "lost", lost);
}

/* ---- CSV ---- */

void kh_report_csv(struct kh_report *rp)
{
	struct kh_gfn_stat *rows = malloc((rp->n ? rp->n : 1) * sizeof(*rows));
	struct kh_rd_vm *vm = NULL;

	printf("pid,gfn,accesses,writes,subpage_write_mask,faults,aged,young,tracked,spp,"
	       "subpage_writes,name\n");
	if (!rows)
		return;
	memcpy(rows, rp->g, rp->n * sizeof(*rows));
	kh_sort_rows(rows, rp->n, rp->a->sort);
	for (size_t i = 0; i < rp->n; i++) {
		const struct kh_counts *c = &rows[i].c;

		if (!kh_nonzero(c))
			continue;
		printf("%u,%" PRIu64 ",%llu,%llu,0x%08x,%llu,%llu,%llu,%llu,%llu,", rows[i].pid,
		       rows[i].gfn, c->accesses, c->writes, c->subpage_mask, c->faults, c->aged,
		       c->young, c->tracked, c->spp);
		/* 32 counts space-separated, so the row keeps a fixed column count */
		for (int k = 0; rows[i].has_subpages && k < KH_SUBPAGES; k++)
			printf("%s%u", k ? " " : "", rows[i].sp.cnt[k]);
		putchar(',');
		if (!vm || vm->pid != rows[i].pid)
			vm = kh_rd_find_vm(&rp->rec, rows[i].pid);
		kh_csv_field(stdout, vm && vm->ident.source ? vm->ident.name : "");
		putchar('\n');
	}
	free(rows);
}

void kh_report_json(struct kh_report *rp, const uint32_t *pids, size_t np)
{
	json_t *root = kh_json_head(rp);

	printf("{\n");
	kh_json_members(root, " ", true);
	json_decref(root);
	printf(" \"vms\": [\n");
	for (size_t i = 0; i < np; i++) {
		struct kh_vm_view vv;

		kh_view_init(rp, pids[i], &vv);
		kh_json_vm_stream(rp, &vv, i + 1 == np);
		free(vv.rg);
	}
	printf(" ]\n}\n");
}

/* ---- subset export ---- */

/* One wanted epoch of the subset: its record, then its gfn and sub-page batches. */
/* One idle scan, its runs clipped to the selected gfns. */
static int kh_export_idle(struct kh_report *rp, struct kh_dw *w, const struct kh_rd_idle *s)
{
	struct kh_df_idle_run *v = malloc((s->nr_runs ? s->nr_runs : 1) * sizeof(*v));
	size_t n = 0;
	int err;

	if (!v)
		return -ENOMEM;
	for (size_t i = 0; i < s->nr_runs; i++) {
		uint64_t first, k = kh_rd_idle_clip(&rp->rec, &rp->a->f, s, i, &first);

		if (!k)
			continue;
		v[n] = rp->rec.idle_runs[s->first_run + i];
		v[n].gfn = first;
		v[n++].npages = (uint32_t)k;
	}
	err = kh_dw_idle_scan(w, s, v, n);
	free(v);
	return err;
}

static int kh_export_epoch(struct kh_report *rp, struct kh_dw *w, const struct kh_rd_epoch *ep,
			   struct kh_df_gfn *dg, struct kh_df_subpage *ds, uint64_t *ngfn)
{
	const struct kh_recording *r = &rp->rec;
	size_t ng = 0, ns = 0;
	int err;

	for (size_t i = ep->first_gfn; i < ep->first_gfn + ep->nr_gfns; i++)
		ng += kh_rd_gfn_wanted(&rp->a->f, r->gfns[i].pid, r->gfns[i].gfn);
	for (size_t i = ep->first_sub; i < ep->first_sub + ep->nr_subs; i++)
		ns += kh_rd_gfn_wanted(&rp->a->f, r->subs[i].pid, r->subs[i].gfn);
	err = kh_dw_epoch(w, ep->index, ep->t0, ep->t1, ng, ns);
	/* in batches of one pid, as the reader stored them */
	for (size_t i = ep->first_gfn, k = 0, end = i + ep->nr_gfns; !err && i < end; i++) {
		const struct kh_rd_gfn *s = &r->gfns[i];

		if (kh_rd_gfn_wanted(&rp->a->f, s->pid, s->gfn))
			dg[k++] = (struct kh_df_gfn){ .gfn = s->gfn, .d = s->d };
		if (k && (i + 1 == end || r->gfns[i + 1].pid != s->pid || k == 65536)) {
			err = kh_dw_gfns(w, s->pid, dg, k);
			*ngfn += k;
			k = 0;
		}
	}
	for (size_t i = ep->first_sub, k = 0, end = i + ep->nr_subs; !err && i < end; i++) {
		const struct kh_rd_sub *s = &r->subs[i];

		if (kh_rd_gfn_wanted(&rp->a->f, s->pid, s->gfn)) {
			ds[k].gfn = s->gfn;
			memcpy(ds[k++].cnt, s->cnt, sizeof(s->cnt));
		}
		if (k && (i + 1 == end || r->subs[i + 1].pid != s->pid || k == 65536)) {
			err = kh_dw_subpages(w, s->pid, ds, k);
			k = 0;
		}
	}
	/* this epoch's coarse regions, one record each (they are few) */
	for (size_t i = ep->first_region; !err && i < ep->first_region + ep->nr_regions; i++)
		if (!rp->a->f.pid || r->regions[i].pid == rp->a->f.pid)
			err = kh_dw_regions(w, r->regions[i].pid, &r->regions[i].d, 1);
	for (size_t i = ep->first_idle; !err && i < ep->first_idle + ep->nr_idle; i++)
		if (!rp->a->f.pid || r->idle[i].pid == rp->a->f.pid)
			err = kh_export_idle(rp, w, &r->idle[i]);
	return err;
}

int kh_report_export(struct kh_report *rp, uint64_t *ngfn_out, uint64_t *nev_out)
{
	struct kh_recording *r = &rp->rec;
	json_t *hdr = r->header ? json_deep_copy(r->header) : json_object();
	struct kh_df_gfn *dg = malloc(65536 * sizeof(*dg));
	struct kh_df_subpage *ds = malloc(65536 * sizeof(*ds));
	size_t ev = 0;
	uint64_t ngfn = 0, nev = 0;
	struct kh_dw w;
	char sub[256];
	int err;

	if (!hdr || !dg || !ds) {
		err = -ENOMEM;
		goto out_free;
	}
	err = kh_dw_create(&w, rp->a->out);
	if (err)
		goto out_free;
	snprintf(sub, sizeof(sub), "pid %u, gfn 0x%" PRIx64 "-0x%" PRIx64 ", time %.3f-%.3f s",
		 rp->a->f.pid, rp->a->f.gfn_lo, rp->a->f.gfn_hi, rp->a->f.time_set ? rp->a->f.t0 : 0,
		 rp->a->f.time_set ? rp->a->f.t1 : 1e18);
	json_object_set_new(hdr, "subset_of", json_string(rp->a->in));
	json_object_set_new(hdr, "subset", json_string(sub));
	if (!json_object_get(hdr, "start_ns"))
		json_object_set_new(hdr, "start_ns", json_integer((json_int_t)r->t_start));
	err = kh_dw_header(&w, hdr);
	for (int s = 0; s < KH_SRC_MAX && !err; s++)
		if (r->sources[s].present)
			err = kh_dw_source(&w, s, r->sources[s].flags, r->sources[s].desc);
	for (size_t i = 0; i < r->nr_vms && !err; i++) {
		const struct kh_rd_vm *vm = &r->vms[i];

		if (rp->a->f.pid && vm->pid != rp->a->f.pid)
			continue;
		err = kh_dw_vm_id(&w, vm->t_appear, vm->kvm, vm->pid, vm->nr_vcpus, vm->comm,
				  vm->ident.source ? &vm->ident : NULL, vm->slots, vm->nr_slots,
				  vm->flags);
		if (!err && vm->t_exit)
			err = kh_dw_vm_exit(&w, vm->t_exit, vm->kvm, vm->pid);
	}
	for (size_t e = 0; e < r->nr_epochs && !err; e++) {
		const struct kh_rd_epoch *ep = &r->epochs[e];
		/* events up to this epoch's end go before it, keeping time order */
		for (; ev < r->nr_events && r->events[ev].ts_ns <= ep->t1 && !err; ev++)
			if (kh_event_wanted(rp, &r->events[ev])) {
				err = kh_dw_event(&w, &r->events[ev]);
				nev++;
			}
		if (err || !kh_rd_epoch_wanted(r, &rp->a->f, e))
			continue;
		err = kh_export_epoch(rp, &w, ep, dg, ds, &ngfn);
		if (!err)
			err = kh_dw_flush(&w);
	}
	for (; ev < r->nr_events && !err; ev++)
		if (kh_event_wanted(rp, &r->events[ev])) {
			err = kh_dw_event(&w, &r->events[ev]);
			nev++;
		}
	for (size_t i = 0; i < r->nr_lost && !err; i++) {
		double t = kh_rd_secs(r, r->lost[i].t_ns);

		if (!rp->a->f.time_set || (t >= rp->a->f.t0 && t <= rp->a->f.t1))
			err = kh_dw_lost(&w, r->lost[i].t_ns, r->lost[i].source, r->lost[i].stat,
					 r->lost[i].lost, r->lost[i].total);
	}
	if (!err && r->has_stats)
		err = kh_dw_stats(&w, r->has_footer ? r->footer.t_ns : 0, r->stats);
	if (!err && r->has_footer)
		err = kh_dw_footer(&w, r->footer.t_ns, r->footer.cmd_status, r->footer.reason);
	if (err) {
		kh_dw_abort(&w);
		goto out_free;
	}
	err = kh_dw_close(&w);
	*ngfn_out = ngfn;
	*nev_out = nev;
out_free:
	json_decref(hdr);
	free(dg);
	free(ds);
	return err;
}
