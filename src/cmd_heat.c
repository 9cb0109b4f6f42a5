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
#include "cli.h"
#include "kvmheat.skel.h"

/* What `heat` was asked: kh_heat_parse() fills it, kh_heat_run() takes it. */
struct kh_heat_args {
	uint32_t pid;
	double duration;
	size_t top;
	size_t width;
	int color;		/* -1 auto, 0 never, 1 always */
	struct kh_session_opts so;
	struct kh_scan scan;	/* --age-driver, --scan-interval, --ws-scans */
};

/* What the maps held at the end, read once for every view. */
struct kh_heat_data {
	struct kh_gfn_stat *g;
	size_t n;
	struct kh_key *rk;
	struct kh_region *rv;
	size_t nrv;
	struct kh_range *rg, *rg_vm;
	size_t nr_all;
	uint64_t *cols;
	uint64_t stats[KH_NR_STATS];
	uint64_t runs, run_ns;
	bool cost_on;
};

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
			 "name_source", kh_name_source_str(vm->ident.source), "vcpus",
			 vm->nr_vcpus, "memory_bytes",
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
		int lvl = kh_heat_level(cols[c], max, color ? KH_RAMP_N - 1 : 9);

		if (color)
			printf("\033[48;5;%dm \033[0m", kh_ramp[lvl < KH_RAMP_N ? lvl : KH_RAMP_N - 1]);
		else
			putchar(plain[lvl < 10 ? lvl : 9]);
	}
	printf("| %s, %s per column, memslot holes squeezed out\n",
	       kh_fmt_bytes(kh_vm_pages(vm) << KH_PAGE_SHIFT, b, sizeof(b)),
	       kh_fmt_bytes((kh_vm_pages(vm) << KH_PAGE_SHIFT) / (width ? width : 1), b + 16, 16));
}

/* The most-written gfns with their per-sub-page write counts. */
static void kh_print_written(const struct kh_vm *vm, const struct kh_gfn_stat *g, size_t n)
{
	struct kh_gfn_stat *w = calloc(n ? n : 1, sizeof(*w));
	size_t nw = 0;

	if (!w)
		return;
	for (size_t i = 0; i < n; i++)
		if (g[i].pid == vm->pid && g[i].c.writes)
			w[nw++] = g[i];
	qsort(w, nw, sizeof(*w), kh_gfn_writes_cmp);
	if (nw)
		printf("  %-27s %10s  %s\n", "MOST WRITTEN GFN", "WRITES",
		       "SUB-PAGE WRITES (sub-page index=count)");
	for (size_t i = 0; i < nw && i < 8; i++) {
		char mask[KH_SUBPAGES + 1];

		kh_mask_str(w[i].c.subpage_mask, mask);
		printf("  0x%-25llx %10llu  %s", (unsigned long long)w[i].gfn,
		       (unsigned long long)w[i].c.writes, mask);
		for (int s = 0; s < KH_SUBPAGES && w[i].has_subpages; s++)
			if (w[i].sp.cnt[s])
				printf(" %d=%u", s, w[i].sp.cnt[s]);
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
		struct kh_vm *vm;

		if (kh_vms_find(seen, g[i].pid))
			continue;
		if (kh_grow(&seen->vms, &seen->cap, seen->n + 1, sizeof(*seen->vms)))
			return;
		vm = &seen->vms[seen->n++];
		memset(vm, 0, sizeof(*vm));
		vm->pid = g[i].pid;
		snprintf(vm->comm, sizeof(vm->comm), "exited");
		kh_proc_comm(vm->pid, vm->comm, sizeof(vm->comm));
		kh_ident_learn(vm->pid, vm->comm, &vm->ident);
	}
}

static void kh_heat_data_free(struct kh_heat_data *d)
{
	free(d->cols);
	free(d->rg);
	free(d->rg_vm);
	free(d->g);
	free(d->rk);
	free(d->rv);
}

/* Read the maps, counters and cost once; rank gfns and merge hot ranges. */
static int kh_heat_read(struct kh_session *s, const struct kh_heat_args *a,
			struct kh_heat_data *d)
{
	int err;

	err = kh_read_gfns(bpf_map__fd(s->skel->maps.gfns), bpf_map__fd(s->skel->maps.subpages),
			   a->pid, &d->g, &d->n);
	if (!err)
		err = kh_read_regions(bpf_map__fd(s->skel->maps.regions), a->pid, &d->rk, &d->rv,
				      &d->nrv);
	if (err)
		return err;
	kh_read_stats(s, d->stats);
	kh_session_cost(s, &d->runs, &d->run_ns, &d->cost_on);
	kh_sort_gfns_by_heat(d->g, d->n);
	d->rg = calloc(d->n ? d->n : 1, sizeof(*d->rg));
	d->rg_vm = calloc(d->n ? d->n : 1, sizeof(*d->rg_vm));
	d->cols = calloc(a->width, sizeof(*d->cols));
	if (!d->rg || !d->rg_vm || !d->cols)
		return -ENOMEM;
	/* Ranges once over all VMs; each VM then takes its best @top. */
	d->nr_all = kh_hot_ranges(d->g, d->n, SIZE_MAX, d->rg);
	return 0;
}

static json_t *kh_heat_json_root(struct kh_session *s, const struct kh_heat_data *d,
				 double elapsed)
{
	json_t *srcs = json_array(), *st = json_object();

	for (int src = 0; src < KH_SRC_MAX; src++) {
		char desc[256];

		kh_source_desc(&s->probe, src, desc, sizeof(desc));
		json_array_append_new(srcs, json_pack("{s:s, s:b, s:s}", "source",
			kh_source_name(src), "available", kh_source_available(&s->probe, src),
			"hooks", desc));
		json_object_set_new(st, kh_source_name(src),
				    kh_stats_json(&d->stats[src * KH_STAT_MAX]));
	}
	return json_pack("{s:f, s:o, s:o, s:{s:I, s:I, s:I, s:I}, s:{s:b, s:I, s:I}, s:[]}",
			 "duration_s", elapsed, "sources", srcs, "stats", st, "maps",
			 "gfn_entries", (json_int_t)s->gfn_entries, "region_entries",
			 (json_int_t)s->region_entries, "subpage_entries",
			 (json_int_t)s->subpage_entries, "memlock_bytes",
			 (json_int_t)kh_session_map_bytes(s), "bpf_cost", "stats_enabled",
			 d->cost_on, "runs", (json_int_t)d->runs, "run_time_ns",
			 (json_int_t)d->run_ns, "vms");
}

static void kh_heat_text_head(struct kh_session *s, double elapsed)
{
	printf("kvmheat heat: %.1f s; sources:", elapsed);
	for (int src = 0; src < KH_SRC_MAX; src++) {
		char desc[256];

		kh_source_desc(&s->probe, src, desc, sizeof(desc));
		printf(" %s=%s", kh_source_name(src), desc);
	}
	putchar('\n');
}

static void kh_heat_text_tail(const struct kh_heat_data *d)
{
	uint64_t lost = 0;

	for (int src = 0; src < KH_SRC_MAX; src++)
		lost += d->stats[src * KH_STAT_MAX + KH_STAT_MAP_FULL] +
			d->stats[src * KH_STAT_MAX + KH_STAT_WALK_LOST];
	if (lost)
		printf("\nnote: %" PRIu64 " events could not be counted (table full or "
		       "walk interleaved); see -j stats\n", lost);
	if (d->cost_on && d->runs)
		printf("\nBPF cost: %" PRIu64 " program runs, %.0f ns per run, %.3f s in "
		       "total\n", d->runs, (double)d->run_ns / d->runs, d->run_ns / 1e9);
	else
		printf("\nBPF cost: not measured (sysctl kernel.bpf_stats_enabled=1 to "
		       "measure)\n");
}

/* One VM's section, text or JSON (appended to @vms); false if it is skipped. */
static bool kh_heat_vm(const struct kh_vm *vm, const struct kh_heat_args *a,
		       struct kh_heat_data *d, json_t *vms, bool color, const struct kh_scan *sc)
{
	const struct kh_idle_sum *sum = kh_scan_sum(sc, vm->pid);
	double ivl = sc->interval > 1 ? sc->interval : 1;	/* heat samples every second */
	struct kh_coarse coarse = {};
	size_t nr = 0, vn = 0;
	uint64_t touched;

	if (a->pid && vm->pid != a->pid)
		return false;	/* -p: discovery still sees every VM */
	for (size_t j = 0; j < d->n; j++)
		vn += d->g[j].pid == vm->pid;
	kh_coarse_sum(d->rk, d->rv, d->nrv, vm->pid, &coarse);
	if (!vn && !coarse.regions && !a->pid)
		return false;	/* idle VM in all-VM mode */
	for (size_t j = 0; j < d->nr_all && nr < a->top; j++)
		if (d->rg[j].pid == vm->pid)
			d->rg_vm[nr++] = d->rg[j];
	touched = kh_vm_touched(d->rv, d->rk, d->nrv, vm->pid);
	kh_strip(vm, d->g, d->n, d->cols, a->width);
	if (vms) {
		json_t *vj = kh_vm_heat_json(vm, d->g, d->n, d->rg_vm, nr, touched, d->cols,
					     a->width);

		json_object_set_new(vj, "aging_granularity", kh_coarse_json(&coarse));
		json_object_set_new(vj, "coarse_cells",
				    kh_coarse_cells_json(d->rk, d->rv, d->nrv, vm->pid));
		/* null: no --age-driver, or no scan of this VM */
		json_object_set_new(vj, "idle", sum ? kh_idle_sum_json(sum, ivl) : json_null());
		json_array_append_new(vms, vj);
	} else {
		kh_print_vm(vm, d->g, d->n, d->rg_vm, nr, touched, d->cols, a->width, color);
		kh_coarse_print(stdout, &coarse, kh_vm_pages(vm) << KH_PAGE_SHIFT);
		if (sum)
			kh_idle_sum_print(stdout, vm->pid, sum, ivl);
	}
	return true;
}

static int kh_heat_report(struct kh_session *s, const struct kh_heat_args *a,
			  struct kh_vmset *seen, double elapsed, const struct kh_opts *o,
			  const struct kh_scan *sc)
{
	struct kh_heat_data d = {};
	json_t *root = NULL;
	char eb[128];
	int err = kh_heat_read(s, a, &d);

	if (err) {
		kh_heat_data_free(&d);
		return kh_err(o, KH_EXIT_ERROR, "reading maps: %s", kh_errstr(err, eb, sizeof(eb)));
	}
	if (o->json)
		root = kh_heat_json_root(s, &d, elapsed);
	else
		kh_heat_text_head(s, elapsed);
	kh_vms_add_undiscovered(seen, d.g, d.n);
	for (size_t i = 0; i < seen->n; i++)
		kh_heat_vm(&seen->vms[i], a, &d, root ? json_object_get(root, "vms") : NULL,
			   kh_color_wanted(a->color), sc);
	if (root)
		kh_json_print(root, JSON_INDENT(1));
	else
		kh_heat_text_tail(&d);
	kh_heat_data_free(&d);
	return KH_EXIT_OK;
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
	"                    [--max-gfns N] [--age-driver auto|page_idle|mglru|damon|none]\n"
	"                    [--scan-interval S] [--ws-scans N]\n"
	"Trace guest memory accesses for SECONDS (default 5; ends early when the VM\n"
	"given by -p exits or on Ctrl-C), then print per VM the hottest gfn ranges\n"
	"with sub-page write masks and a heat strip across guest memory.\n"
	"  -p, --pid PID        only this VM (its VMM's pid, or its name or uuid)\n"
	"  -d, --duration S     how long to trace\n"
	"  -n, --top N          ranges to show per VM (default 20)\n"
	"  -e, --sources LIST   aging,track,spp,walk (default all; --events LIST too)\n"
	"  -m, --method S=M     force source S to method M (fentry, kprobe, tp_btf,\n"
	"                       raw_tp, tracepoint), e.g. -m aging=raw_tp\n"
	"  -j, --json           JSON output\n"
	"      --width N        heat strip columns (default 64)\n"
	"      --color WHEN     auto, always or never\n"
	"      --max-gfns N     per-gfn table entries (default: 4096 per GiB)\n"
	"      --age-driver D   make the kernel age each VM's memory (auto: the best one\n"
	"                       kvmheat probe lists) and show idle ages; default none\n"
	"      --scan-interval S  seconds between scans (default: every second)\n"
	"      --ws-scans N     idle view's working set: young within N scans (default 1)\n"
	"\n"
	"Examples:\n"
	"  kvmheat heat -d 10\n"
	"  kvmheat heat -p $(pidof qemu-system-x86_64) -e walk -n 5\n"
	"  kvmheat heat -m aging=raw_tp -j -d 3 > heat.json\n";

/* Options into @a; a return >= 0 is the exit code (help, bad usage). */
static int kh_heat_parse(int argc, char **argv, struct kh_opts *o, struct kh_heat_args *a)
{
	static const struct option longopts[] = {
		{ "pid", required_argument, NULL, 'p' },
		{ "duration", required_argument, NULL, 'd' },
		{ "top", required_argument, NULL, 'n' },
		KH_LONGOPT_SOURCES, KH_LONGOPT_EVENTS_ALIAS,
		{ "method", required_argument, NULL, 'm' },
		{ "width", required_argument, NULL, 'W' },
		{ "color", required_argument, NULL, KH_OPT_COLOR },
		{ "max-gfns", required_argument, NULL, 'G' },
		KH_LONGOPTS_AGING, KH_LONGOPT_WS_SCANS,
		KH_LONGOPTS_END,
	};
	struct kh_cmdline cl = {
		.cmd = "heat", .o = o, .help = kh_heat_help, .shortopts = "p:d:n:e:m:jvh",
		.longopts = longopts, .pid = &a->pid, .duration = &a->duration,
		.sources = &a->so.sources, .force = a->so.force, .color = &a->color,
		.scan = &a->scan, .ws_scans = &a->scan.ws_scans,
	};
	uint64_t v;
	int opt;

	while ((opt = kh_getopt(&cl, argc, argv)) > 0) {
		switch (opt) {
		case 'n':
			if (kh_parse_u64(optarg, &v) || !v || v > 100000)
				return kh_err(o, KH_EXIT_USAGE, "heat: bad --top '%s'", optarg);
			a->top = v;
			break;
		case 'W':
			if (kh_parse_u64(optarg, &v) || v < 8 || v > 1000)
				return kh_err(o, KH_EXIT_USAGE, "heat: bad --width '%s' (8..1000)",
					      optarg);
			a->width = v;
			break;
		case 'G':
			if (kh_parse_u64(optarg, &v) || v < 16 || v > (1ULL << 26))
				return kh_err(o, KH_EXIT_USAGE, "heat: bad --max-gfns '%s'", optarg);
			a->so.max_gfns = v;
			break;
		}
	}
	if (opt == KH_OPT_STOP)
		return cl.rc;
	a->so.pid = a->pid;
	return -1;
}

/*
 * --age-driver: a due scan, then the maps' change since the last one
 * folded into the ages (heat's maps stay cumulative for its report).
 */
static int kh_heat_idle(struct kh_session *s, struct kh_scan *sc)
{
	struct kh_gfn_stat *g = NULL;
	struct kh_key *rk = NULL;
	struct kh_region *rv = NULL;
	size_t n = 0, nr = 0;
	int err;

	kh_scan_tick(sc, &s->vms, kh_now());
	if (!sc->pending)
		return 0;
	err = kh_read_gfns(bpf_map__fd(s->skel->maps.gfns), -1, sc->pid, &g, &n);
	if (!err)
		err = kh_read_regions(bpf_map__fd(s->skel->maps.regions), sc->pid, &rk, &rv, &nr);
	if (!err)
		err = kh_scan_fold_totals(sc, g, n, rk, rv, nr);
	if (!err)
		err = kh_scan_follow(sc, &s->vms);
	free(g);
	free(rk);
	free(rv);
	return err;
}

/* Trace until the deadline, a signal or the -p VM's exit, rediscovering each second. */
static void kh_heat_trace(struct kh_session *s, const struct kh_heat_args *a,
			  struct kh_vmset *seen, const struct kh_opts *o, double start,
			  struct kh_scan *sc)
{
	double deadline = start + a->duration, next_refresh = start + 1;

	while (!kh_exiting && kh_now() < deadline) {
		kh_sleep_until(next_refresh < deadline ? next_refresh : deadline, 0.1);
		if (kh_exiting || kh_now() >= deadline)
			break;
		next_refresh += 1;
		if (kh_cli_refresh(s, o))
			continue;
		if (kh_scan_on(sc) && kh_heat_idle(s, sc))
			kh_warn(o, "reading maps for idle ages failed: ages stop here");
		kh_vms_remember(seen, &s->vms);
		if (a->pid && !kh_vms_find(&s->vms, a->pid)) {
			fprintf(stderr, "kvmheat: VM %u exited; reporting what was seen\n", a->pid);
			break;
		}
	}
}

static int kh_heat_run(struct kh_heat_args *a, struct kh_opts *o)
{
	struct kh_session s = {};
	struct kh_vmset seen = {};
	struct kh_scan sc = a->scan;
	double start;
	int err;

	err = kh_cli_start(&s, &a->so, o);
	if (!err) {
		sc.pid = a->pid;
		err = kh_cli_scan_start(&sc, &s.vms, "heat", o);
	}
	if (err)
		goto out;
	kh_vms_remember(&seen, &s.vms);
	kh_install_signals();
	fprintf(stderr, "kvmheat: tracing %s for %.1f s; Ctrl-C to stop early\n",
		a->pid ? "one VM" : "all VMs", a->duration);
	start = kh_now();
	kh_heat_trace(&s, a, &seen, o, start, &sc);
	err = kh_heat_report(&s, a, &seen, kh_now() - start, o, &sc);
	/* all-VM mode with nothing to show: say so, with its own exit code */
	if (!err && !seen.n)
		err = kh_err(o, KH_EXIT_NO_VM, "no KVM VM ran while tracing (%.1f s)",
			     kh_now() - start);
out:
	kh_vms_free(&seen);
	kh_scan_free(&sc);	/* kernel state (a kdamond) before the session */
	kh_session_close(&s);
	return err;
}

int kh_cmd_heat(int argc, char **argv, struct kh_opts *o)
{
	struct kh_heat_args a = {
		.duration = 5, .top = 20, .width = 64, .color = -1,
		.so = { .sources = KH_ALL_SOURCES },
		/* the report covers VMs that exited meanwhile, their idle view too */
		.scan = { .want = KH_SCAN_NONE, .keep_gone = true },
	};
	int rc = kh_heat_parse(argc, argv, o, &a);

	return rc >= 0 ? rc : kh_heat_run(&a, o);
}
