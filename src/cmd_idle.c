// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * kvmheat idle: drive K scans of one VM's memory through an aging driver
 * (agedrv.c), S seconds apart, and print the ranges whose idle age is at
 * least N scans, for a tiering daemon to madvise or move.  The JSON is a
 * contract (docs/LIVE.md "kvmheat idle"):
 *   {"vms": [{"pid", "name", "age_driver", "scans", "interval_s",
 *             "ranges": [{"gfn_start", "gfn_end", "hva_start", "hva_end",
 *                         "idle_age", "idle_seconds"}]}]}
 * with gfn_end and hva_end inclusive and equal-age neighbours merged.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <jansson.h>
#include "cli.h"
#include "kvmheat.skel.h"

enum kh_idle_fmt { KH_IDLE_TEXT, KH_IDLE_JSON, KH_IDLE_CSV };

#define KH_IDLE_PASSIVE	KH_SCAN_NONE	/* --age-driver none: only aging something else does */

struct kh_idle_args {
	uint32_t pid;
	uint64_t scans;
	double interval;
	uint64_t min_age;
	int driver;			/* -1: the best usable; KH_IDLE_PASSIVE: none */
	enum kh_idle_fmt fmt;
};

/* What the run saw, for the output and the exit status. */
struct kh_idle_run {
	struct kh_session s;
	struct kh_agedrv_probe probe;
	struct kh_ager ager;
	bool ager_open;
	struct kh_idle st;
	struct kh_interval iv;		/* the scan's drained maps */
	struct kh_idle_slot_desc descs[KH_IDLE_SLOTS];
	size_t ndescs;
	uint64_t idle_words;		/* kernel-side bits: the words the VM's slots take */
	struct kh_idle_map bits;	/* its array, idle_bits[0] */
	bool no_bits;			/* the kernel cannot make it */
	char name[KH_NAME_MAX + 1];	/* the VM's name, else its comm */
	uint64_t scans_done, aged_total, young_total, huge_total, lost;
	double drv_cpu_s, drv_kernel_cpu_s;
	uint64_t bpf_ns0, bpf_ns1;
	char stop_why[400];
};

static const char kh_idle_help[] =
	"Usage: kvmheat idle -p PID [--scans K] [--interval S] [--min-age N]\n"
	"                    [--age-driver page_idle|mglru|damon|none] [-j|--format csv]\n"
	"Make the kernel age VM PID's memory K times (default 4), S seconds apart\n"
	"(default 1), through the best aging driver `kvmheat probe` lists (or the one\n"
	"named; none: only watch aging something else does), and print the ranges idle for at least N scans (default 1): pid,\n"
	"gfn and HVA range (inclusive), idle age in scans and seconds.  Never reclaims.\n"
	"Without a usable driver it only sees aging something else triggers (passive)\n"
	"and fails if that was nothing.\n"
	"  -p, --pid PID        the VM (its VMM's pid, or its name or uuid)\n"
	"      --scans K        scans to run (default 4)\n"
	"      --interval S     seconds between scans (default 1)\n"
	"      --min-age N      print ranges idle for at least N scans (default 1)\n"
	"      --age-driver D   page_idle, mglru, damon, or none (passive only)\n"
	"      --format F       text (default), json or csv\n"
	"  -j, --json           the same as --format json\n"
	"\n"
	"Examples:\n"
	"  kvmheat idle -p $(pidof qemu-system-x86_64)\n"
	"  kvmheat idle -p web-1 --scans 8 --interval 30 --min-age 4 -j\n"
	"  kvmheat idle -p web-1 --age-driver mglru --format csv > cold.csv\n";

static int kh_idle_parse(int argc, char **argv, struct kh_opts *o, struct kh_idle_args *a)
{
	static const struct option longopts[] = {
		{ "pid", required_argument, NULL, 'p' },
		{ "scans", required_argument, NULL, 'K' },
		{ "interval", required_argument, NULL, 'S' },
		{ "min-age", required_argument, NULL, 'N' },
		{ "age-driver", required_argument, NULL, 'A' },
		{ "format", required_argument, NULL, 'F' },
		KH_LONGOPTS_END,
	};
	struct kh_cmdline cl = {
		.cmd = "idle", .o = o, .help = kh_idle_help, .shortopts = "p:jvh",
		.longopts = longopts, .pid = &a->pid,
	};
	int opt;

	*a = (struct kh_idle_args){ .scans = 4, .interval = 1, .min_age = 1, .driver = -1 };
	while ((opt = kh_getopt(&cl, argc, argv)) > 0) {
		switch (opt) {
		case 'K':
			if (kh_parse_u64(optarg, &a->scans) || !a->scans || a->scans > 100000)
				return kh_err(o, KH_EXIT_USAGE, "idle: bad --scans '%s' (1..100000)",
					      optarg);
			break;
		case 'S':
			if (kh_parse_seconds(optarg, &a->interval) || a->interval <= 0)
				return kh_err(o, KH_EXIT_USAGE, "idle: bad --interval '%s'", optarg);
			break;
		case 'N':
			if (kh_parse_u64(optarg, &a->min_age) || a->min_age > KH_IDLE_MAX)
				return kh_err(o, KH_EXIT_USAGE, "idle: bad --min-age '%s' (0..%d)",
					      optarg, KH_IDLE_MAX);
			break;
		case 'A':
			if (!strcmp(optarg, "none"))
				a->driver = KH_IDLE_PASSIVE;
			else if (kh_agedrv_parse(optarg, &a->driver))
				return kh_err(o, KH_EXIT_USAGE, "idle: unknown --age-driver '%s' "
					      "(page_idle, mglru, damon or none)", optarg);
			break;
		case 'F':
			if (!strcmp(optarg, "csv"))
				a->fmt = KH_IDLE_CSV;
			else if (!strcmp(optarg, "json"))
				a->fmt = KH_IDLE_JSON;
			else if (!strcmp(optarg, "text"))
				a->fmt = KH_IDLE_TEXT;
			else
				return kh_err(o, KH_EXIT_USAGE, "idle: bad --format '%s' (text, json "
					      "or csv)", optarg);
			break;
		}
	}
	if (opt == KH_OPT_STOP)
		return cl.rc;
	if (o->json)
		a->fmt = KH_IDLE_JSON;
	o->json = a->fmt == KH_IDLE_JSON;
	if (!a->pid)
		return kh_err(o, KH_EXIT_USAGE, "idle: -p PID is required");
	return -1;	/* parsed: run */
}

/* Drain both maps and fold the scan's results into the ages. */
static int kh_idle_collect(struct kh_idle_run *r)
{
	struct kh_idle_scan sc;
	int err;

	err = kh_drain_session(&r->s, &r->iv);
	if (!err)
		err = kh_idle_update(&r->st, r->iv.gd.keys, r->iv.gd.vals, r->iv.gd.n, r->iv.rd.keys, r->iv.rd.vals,
				     r->iv.rd.n, &sc);
	if (err)
		return err;
	r->aged_total += sc.aged;
	r->young_total += sc.young;
	r->huge_total += sc.huge;
	if (r->bits.words) {
		/* st->scans counted this scan already: the bits only add ages */
		err = kh_idle_update_bits(&r->st, r->bits.words, r->bits.nwords, &sc);
		if (err)
			return err;
		r->aged_total += sc.aged;
		r->young_total += sc.young;
		r->huge_total += sc.huge;
	}
	return 0;
}

static double kh_self_cpu(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return ru.ru_utime.tv_sec + ru.ru_stime.tv_sec +
	       (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

static uint64_t kh_bpf_ns(struct kh_session *s)
{
	uint64_t runs, ns;
	bool on;

	kh_session_cost(s, &runs, &ns, &on);
	return on ? ns : 0;
}

/*
 * The scan loop.  page_idle and MGLRU age synchronously inside our write(),
 * so a scan's results are in the maps when it returns; DAMON and passive
 * aging happen on their own, so their scan i is the interval that ends then.
 */
static void kh_idle_loop(struct kh_idle_run *r, const struct kh_idle_args *a,
			 const struct kh_opts *o)
{
	bool sync = r->ager_open && r->ager.id != KH_AD_DAMON;
	double start = kh_now();
	char why[320];
	const struct kh_vm *vm = kh_vms_find(&r->s.vms, a->pid);

	r->bpf_ns0 = kh_bpf_ns(&r->s);
	for (uint64_t i = 0; i < a->scans && !kh_exiting; i++) {
		kh_sleep_until(start + (i + !sync) * a->interval, 0.05);
		if (kh_exiting)
			break;
		if (kill((pid_t)a->pid, 0) && errno == ESRCH) {
			snprintf(r->stop_why, sizeof(r->stop_why), "VM %u exited after %" PRIu64
				 " scan(s)", a->pid, r->scans_done);
			break;
		}
		if (r->ager_open) {
			double c0 = kh_self_cpu();
			int err = kh_ager_scan(&r->ager, vm, why, sizeof(why));

			r->drv_cpu_s += kh_self_cpu() - c0;
			if (err) {
				snprintf(r->stop_why, sizeof(r->stop_why), "scan %" PRIu64 " failed: "
					 "%s", i + 1, why);
				break;
			}
		}
		if (kh_idle_collect(r)) {
			snprintf(r->stop_why, sizeof(r->stop_why), "reading the aging maps failed");
			break;
		}
		r->scans_done++;
	}
	if (kh_exiting && !r->stop_why[0])
		snprintf(r->stop_why, sizeof(r->stop_why), "stopped by a signal after %" PRIu64
			 " scan(s)", r->scans_done);
	r->bpf_ns1 = kh_bpf_ns(&r->s);
	if (r->ager_open)
		r->drv_kernel_cpu_s = kh_ager_kernel_cpu(&r->ager);
	(void)o;
}

static json_t *kh_idle_vm_json(const struct kh_idle_run *r, const struct kh_idle_args *a,
			       const struct kh_idle_range *rg, size_t n)
{
	json_t *ranges = json_array(), *vm;
	uint64_t known, hist[9];

	for (size_t i = 0; i < n; i++)
		json_array_append_new(ranges, kh_idle_range_json(&rg[i], a->interval));
	vm = json_pack("{s:I, s:s, s:s, s:I, s:f, s:o}", "pid", (json_int_t)a->pid, "name", r->name,
		       "age_driver", kh_agedrv_name(r->ager_open ? r->ager.id : -1), "scans",
		       (json_int_t)r->scans_done, "interval_s", a->interval, "ranges", ranges);
	/* beyond the contract's fields, for people: what the ages rest on */
	kh_idle_hist(&r->st, &known, hist);
	json_object_set_new(vm, "pages_aged", json_integer((json_int_t)known));
	json_object_set_new(vm, "sampled", json_boolean(r->ager_open && r->ager.id == KH_AD_DAMON));
	if (r->stop_why[0])
		json_object_set_new(vm, "stopped", json_string(r->stop_why));
	if (r->ager_open && r->ager.note[0])
		json_object_set_new(vm, "note", json_string(r->ager.note));
	return vm;
}

static void kh_idle_text(const struct kh_idle_run *r, const struct kh_idle_args *a,
			 const struct kh_idle_range *rg, size_t n)
{
	uint64_t known, hist[9];
	char b1[32];

	kh_idle_hist(&r->st, &known, hist);
	printf("VM %u (%s): driver %s, %" PRIu64 " scan(s) %.3g s apart, %" PRIu64
	       " pages with an idle age\n", a->pid, r->name,
	       kh_agedrv_name(r->ager_open ? r->ager.id : -1), r->scans_done, a->interval, known);
	for (int b = 0; b < 9 && hist[b]; b++)
		printf("  idle >= %3u scans (%6.1f s): %s\n", 1U << b, (1U << b) * a->interval,
		       kh_fmt_bytes(hist[b], b1, sizeof(b1)));
	printf("%-8s %-12s %-12s %-14s %-14s %5s %9s\n", "PID", "GFN_START", "GFN_END",
	       "HVA_START", "HVA_END", "AGE", "IDLE_S");
	for (size_t i = 0; i < n; i++)
		printf("%-8u 0x%-10" PRIx64 " 0x%-10" PRIx64 " 0x%-12" PRIx64 " 0x%-12" PRIx64
		       " %5u %9.1f\n", a->pid, rg[i].gfn_start, rg[i].gfn_end, rg[i].hva_start,
		       rg[i].hva_end, rg[i].age, rg[i].age * a->interval);
}

static int kh_idle_print(const struct kh_idle_run *r, const struct kh_idle_args *a)
{
	struct kh_idle_range *rg;
	size_t n;
	int err = kh_idle_ranges(&r->st, (unsigned int)a->min_age, &rg, &n);

	if (err)
		return err;
	if (a->fmt == KH_IDLE_JSON) {
		kh_json_print(json_pack("{s:[o]}", "vms", kh_idle_vm_json(r, a, rg, n)),
			      JSON_INDENT(2));
	} else if (a->fmt == KH_IDLE_CSV) {
		printf("pid,gfn_start,gfn_end,hva_start,hva_end,idle_age,idle_seconds\n");
		for (size_t i = 0; i < n; i++)
			printf("%u,%" PRIu64 ",%" PRIu64 ",%" PRIu64 ",%" PRIu64 ",%u,%g\n", a->pid,
			       rg[i].gfn_start, rg[i].gfn_end, rg[i].hva_start, rg[i].hva_end,
			       rg[i].age, rg[i].age * a->interval);
	} else {
		kh_idle_text(r, a, rg, n);
	}
	free(rg);
	return 0;
}

/*
 * The driver's cost per GiB per scan, on stderr (tools/bench-idle.sh reads
 * it).  The aging programs run inside the driver's time: in our write()
 * for MGLRU and page_idle, in the kdamond for DAMON, so BPF is a part of
 * it, not added to it; with no driver (passive) only BPF is ours.
 */
static void kh_idle_cost(const struct kh_idle_run *r, const struct kh_vm *vm)
{
	double gib = (double)kh_vm_pages(vm) * KH_PAGE_SIZE / (1 << 30);
	double scans = r->scans_done ? (double)r->scans_done : 1;
	double drv = (r->drv_cpu_s + r->drv_kernel_cpu_s) * 1e3 / scans;
	double bpf = (double)(r->bpf_ns1 - r->bpf_ns0) / 1e6 / scans;
	double ours = r->ager_open ? drv : bpf;

	fprintf(stderr, "kvmheat: idle cost: driver %s %.2f ms/scan (bpf %.2f ms/scan%s of it), "
		"%.4f GiB: %.1f ms per GiB per scan; %" PRIu64 " aged, %" PRIu64 " young, %"
		PRIu64 " range-aged regions, map bytes %" PRIu64 " (idle bits %" PRIu64 ")\n",
		kh_agedrv_name(r->ager_open ? r->ager.id : -1), drv, bpf,
		r->bpf_ns1 ? "" : " (kernel.bpf_stats_enabled=0: not counted)", gib,
		gib > 0 ? ours / gib : 0, r->aged_total, r->young_total, r->huge_total,
		kh_session_map_bytes((struct kh_session *)&r->s),
		r->bits.bytes);
}

/* Pick and open the driver; with none, carry on passively (or fail if forced). */
static int kh_idle_driver(struct kh_idle_run *r, const struct kh_idle_args *a,
			  const struct kh_opts *o)
{
	char why[1200];
	int rc;

	if (a->driver == KH_IDLE_PASSIVE) {
		kh_warn(o, "--age-driver none: only aging something else triggers is seen");
		return 0;
	}
	rc = kh_scan_driver_open(&r->ager, &r->probe, a->pid, a->driver, why, sizeof(why));
	if (r->probe.notes[0])
		kh_warn(o, "%s", r->probe.notes);
	if (rc < 0)
		return kh_err(o, rc == -ENODEV ? KH_EXIT_NO_SOURCE : KH_EXIT_ERROR, "idle: %s", why);
	if (!rc) {
		kh_warn(o, "%s", why);
		return 0;
	}
	r->ager_open = true;
	if (r->ager.note[0])
		kh_warn(o, "%s", r->ager.note);
	return 0;
}

/*
 * Before the session: the VM's memslots, laid out for the kernel-side idle
 * states (a base-3 digit per page and per 2 MiB region); hash entries
 * only for what the states do not cover (slots past KH_IDLE_SLOTS), since
 * one scan ages them all.
 */
static int kh_idle_plan(struct kh_idle_run *r, uint32_t pid, struct kh_session_opts *so)
{
	struct kh_vmset set = {};
	char why[256];
	struct kh_vm *vm;
	int err = 0;

	/* a failed discovery, or no such VM: kh_session_open says why */
	vm = kh_vms_discover(&set, why, sizeof(why)) ? NULL : kh_vms_find(&set, pid);
	if (vm)
		err = kh_idle_init(&r->st, vm);
	r->no_bits = !kh_session_bits_supported();
	if (vm && !err) {
		/* a kernel without arrays of any size (before 5.10): every page a hash entry */
		if (!r->no_bits)
			r->idle_words = kh_idle_bits_layout(&r->st, r->descs, &r->ndescs);
		so->idle_bits = r->idle_words > 0;
		kh_idle_hash_sizes(&r->st, &so->max_gfns, &so->max_regions, &so->max_subpages);
	}
	kh_vms_free(&set);
	return err;	/* -ENOMEM only */
}

/*
 * The VM's array of bits (idle_bits[0], which the layout's descriptors
 * name) and the descriptors, into BPF (after load).
 */
static int kh_idle_bits_open(struct kh_idle_run *r)
{
	struct kvmheat_bpf *sk = r->s.skel;
	int err;

	if (!r->idle_words)
		return 0;
	err = kh_session_bits_map(&r->s, 0, r->idle_words, &r->bits);
	for (uint32_t i = 0; !err && i < r->ndescs; i++)
		if (bpf_map_update_elem(bpf_map__fd(sk->maps.idle_slots), &i, &r->descs[i], BPF_ANY))
			err = -errno;
	if (err)
		return err;
	/* the slots are described before the count that publishes them */
	sk->bss->nr_idle_slots = (uint32_t)r->ndescs;
	return 0;
}

static int kh_idle_exec(struct kh_idle_run *r, const struct kh_idle_args *a, struct kh_opts *o)
{
	struct kh_session_opts so = { .pid = a->pid, .sources = 1U << KH_SRC_AGING };
	const struct kh_vm *vm;
	int err;

	if (kh_idle_plan(r, a->pid, &so))
		return kh_err(o, KH_EXIT_ERROR, "idle: out of memory for VM %u's ages", a->pid);
	err = kh_cli_open(&r->s, &so, o);
	if (err)
		return err;
	if (r->no_bits)
		kh_warn(o, "idle: this kernel makes no idle bits arrays (BPF_F_INNER_MAP, Linux 5.10): "
			"aging results take per-gfn hash entries");
	err = kh_idle_bits_open(r);
	if (err)
		return kh_err(o, KH_EXIT_ERROR, "idle: setting up the idle bits: %s", strerror(-err));
	err = kh_cli_attach(&r->s, o);
	if (err)
		return err;
	vm = kh_vms_find(&r->s.vms, a->pid);
	snprintf(r->name, sizeof(r->name), "%s", vm->ident.name[0] ? vm->ident.name : vm->comm);
	if (!r->st.slots)	/* the VM started between the plan and the session */
		return kh_err(o, KH_EXIT_NO_VM, "idle: VM %u was not there a moment ago", a->pid);
	kh_install_signals();
	/* loading BPF takes a while: a short-lived VM may be gone already */
	if (kill((pid_t)a->pid, 0) && errno == ESRCH)
		return kh_err(o, KH_EXIT_NO_VM, "idle: VM %u exited before the first scan", a->pid);
	err = kh_idle_driver(r, a, o);
	if (err)
		return err;
	/* what was counted before the first scan belongs to no scan */
	kh_drain_session(&r->s, &r->iv);
	if (r->bits.words)
		memset(r->bits.words, 0, r->bits.nwords * sizeof(*r->bits.words));
	fprintf(stderr, "kvmheat: idle: %" PRIu64 " scan(s) of VM %u, %.3g s apart, driver %s\n",
		a->scans, a->pid, a->interval, kh_agedrv_name(r->ager_open ? r->ager.id : -1));
	kh_idle_loop(r, a, o);
	/* kernel state goes first, whatever happens to the output */
	if (r->ager_open)
		kh_ager_close(&r->ager);
	if (r->stop_why[0])
		kh_warn(o, "%s", r->stop_why);
	kh_read_stat(&r->s, KH_SRC_AGING * KH_STAT_MAX + KH_STAT_MAP_FULL, &r->lost);
	if (r->lost)
		kh_warn(o, "%" PRIu64 " aging results were lost to full maps", r->lost);
	kh_idle_cost(r, vm);
	if (!r->ager_open && !r->aged_total && !r->huge_total)
		return kh_err(o, KH_EXIT_NO_SOURCE, "idle: no aging driver is usable and nothing "
			      "else aged VM %u in %" PRIu64 " scan(s) (see kvmheat probe)", a->pid,
			      r->scans_done);
	if (!r->ager_open)
		kh_warn(o, "passive only: %" PRIu64 " pages and %" PRIu64 " range-aged regions were "
			"aged by something else in %" PRIu64 " scan(s) of %" PRIu64 " pages", r->aged_total,
			r->huge_total, r->scans_done, kh_vm_pages(vm));
	if (kh_idle_print(r, a))
		return kh_err(o, KH_EXIT_ERROR, "idle: out of memory");
	return KH_EXIT_OK;
}

int kh_cmd_idle(int argc, char **argv, struct kh_opts *o)
{
	struct kh_idle_args a;
	struct kh_idle_run *r;
	int rc = kh_idle_parse(argc, argv, o, &a);

	if (rc >= 0)
		return rc;
	r = calloc(1, sizeof(*r));
	if (!r)
		return kh_err(o, KH_EXIT_ERROR, "idle: out of memory");
	rc = kh_idle_exec(r, &a, o);
	if (r->ager_open)
		kh_ager_close(&r->ager);
	kh_idle_free(&r->st);
	kh_interval_free(&r->iv);
	kh_session_bits_unmap(&r->s, 0, &r->bits);
	kh_session_close(&r->s);
	free(r);
	return rc;
}
