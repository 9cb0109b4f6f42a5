// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * `kvmheat trace`: one line per event as it happens, from the `events`
 * ring buffer.  Filtering (source, pid, gfn range, writes, vCPU) happens
 * in BPF before bpf_ringbuf_reserve(), so uninteresting events never
 * reach userspace; the per-gfn maps are not updated at all (no_aggregate).
 * --histogram keeps the events in userspace and prints log2 histograms at
 * exit instead of lines.
 *
 * vCPU: the guest page-walk tracepoints (kvmmmu:kvm_mmu_pagetable_walk and
 * kvm_mmu_paging_element) carry no vCPU, and neither do the aging hooks,
 * so their events print "-".  Mapping the thread to its vCPU would need a
 * second program on every VM entry or emulated instruction; on this
 * project's PVM host kvm_entry never fires and kvm_emulate_insn fires for
 * three of every four walks, so it would add a program run to most guest
 * accesses.  We leave it out: the tid column names the vCPU thread, and
 * --vcpu says up front which events it cannot match.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <search.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <curses.h>
#include <term.h>
#include <jansson.h>
#include "cli.h"
#include "kvmheat.skel.h"

/* Histogram slots: counts up to 2^63. */
#define KH_HIST_SLOTS	64

/* Per-gfn tallies for --histogram (a tsearch tree, one node per gfn seen). */
struct kh_hist_gfn {
	uint32_t pid;
	uint64_t gfn;
	uint64_t events;
	uint32_t sub[KH_SUBPAGES];	/* writes per 128-byte sub-page */
};

/* What `trace` was asked: kh_trace_parse() fills it, kh_trace_run() takes it. */
struct kh_trace_args {
	struct kh_session_opts so;
	uint32_t pid;
	double duration;		/* 0: until Ctrl-C */
	uint64_t count;			/* 0: no limit */
	bool histogram;
	int color;			/* -1 auto, 0 never, 1 always */
};

struct kh_trace {
	const struct kh_opts *o;
	struct kh_session s;
	struct kh_trace_args a;
	char c_write[32], c_fault[32], c_age[32], c_reset[32];
	bool colored;
	uint64_t t0_ns;
	uint64_t received, bad;
	bool stop, epipe;
	uint64_t lost_seen[KH_SRC_MAX];
	/* --histogram */
	void *tree;
	uint64_t nodes, no_gpa;
	uint64_t by_subpage[KH_SUBPAGES];
};

static const char *const kh_kind_names[] = {
	[KH_EV_READ] = "read", [KH_EV_WRITE] = "write", [KH_EV_FETCH] = "fetch",
	[KH_EV_FAULT] = "fault", [KH_EV_TRACK] = "track", [KH_EV_SPP] = "spp",
	[KH_EV_AGED] = "aged", [KH_EV_YOUNG] = "young",
};

static const char *kh_kind_name(unsigned int k)
{
	return k < sizeof(kh_kind_names) / sizeof(kh_kind_names[0]) && kh_kind_names[k] ?
	       kh_kind_names[k] : "?";
}

static bool kh_ev_is_aging(const struct kh_event *e)
{
	return e->kind == KH_EV_AGED || e->kind == KH_EV_YOUNG;
}

/* Access width where the hook knows it: walks and faults do not (walks carry 1). */
static uint32_t kh_ev_bytes(const struct kh_event *e)
{
	if (e->kind == KH_EV_READ || e->kind == KH_EV_WRITE || e->kind == KH_EV_FETCH ||
	    e->kind == KH_EV_FAULT)
		return 0;
	return e->bytes;
}

static int kh_hist_cmp(const void *a, const void *b)
{
	const struct kh_hist_gfn *x = a, *y = b;

	if (x->pid != y->pid)
		return x->pid < y->pid ? -1 : 1;
	return x->gfn < y->gfn ? -1 : x->gfn > y->gfn;
}

static void kh_hist_add(struct kh_trace *t, const struct kh_event *e)
{
	struct kh_hist_gfn key = { .pid = e->pid, .gfn = e->gpa >> KH_PAGE_SHIFT }, *n, **slot;

	if (e->gpa == KH_GPA_UNKNOWN) {
		t->no_gpa++;
		return;
	}
	slot = tfind(&key, &t->tree, kh_hist_cmp);
	if (!slot) {
		n = calloc(1, sizeof(*n));
		if (!n)
			return;
		*n = key;
		slot = tsearch(n, &t->tree, kh_hist_cmp);
		if (!slot) {
			free(n);
			return;
		}
		t->nodes++;
	}
	n = *slot;
	n->events++;	/* an aging range counts once, on its first gfn */
	if ((e->flags & KH_EVF_WRITE) && !kh_ev_is_aging(e)) {
		uint32_t off = e->gpa & (KH_PAGE_SIZE - 1);
		uint32_t end = off + (kh_ev_bytes(e) ? kh_ev_bytes(e) : 1) - 1;

		if (end > KH_PAGE_SIZE - 1)
			end = KH_PAGE_SIZE - 1;
		for (uint32_t s = off >> KH_SUBPAGE_SHIFT; s <= end >> KH_SUBPAGE_SHIFT; s++) {
			n->sub[s]++;
			t->by_subpage[s]++;
		}
	}
}

struct kh_hist_walk {
	struct kh_hist_gfn **v;
	size_t n;
};

static void kh_hist_collect(const void *node, VISIT which, void *arg)
{
	struct kh_hist_walk *w = arg;

	if (which == postorder || which == leaf)
		w->v[w->n++] = *(struct kh_hist_gfn *const *)node;
}

static void kh_hist_report(struct kh_trace *t)
{
	uint64_t gfn_slots[KH_HIST_SLOTS] = {}, sub_slots[KH_HIST_SLOTS] = {}, nsub = 0;
	struct kh_hist_walk w = { .v = calloc(t->nodes ? t->nodes : 1, sizeof(*w.v)) };

	if (!w.v)
		return;
	twalk_r(t->tree, kh_hist_collect, &w);
	for (size_t i = 0; i < w.n; i++) {
		gfn_slots[kh_log2_slot(w.v[i]->events)]++;
		for (int s = 0; s < KH_SUBPAGES; s++) {
			if (!w.v[i]->sub[s])
				continue;
			sub_slots[kh_log2_slot(w.v[i]->sub[s])]++;
			nsub++;
		}
	}
	if (t->o->json) {
		json_t *g = json_array(), *sp = json_array(), *idx = json_array(), *root;

		for (int i = 0; i < KH_HIST_SLOTS; i++) {
			uint64_t low = i ? 1ULL << i : 0, high = i < 63 ? (2ULL << i) - 1 : ~0ULL;

			if (gfn_slots[i])
				json_array_append_new(g, json_pack("{s:I, s:I, s:I}", "low",
					(json_int_t)low, "high", (json_int_t)high, "count",
					(json_int_t)gfn_slots[i]));
			if (sub_slots[i])
				json_array_append_new(sp, json_pack("{s:I, s:I, s:I}", "low",
					(json_int_t)low, "high", (json_int_t)high, "count",
					(json_int_t)sub_slots[i]));
		}
		for (int s = 0; s < KH_SUBPAGES; s++)
			json_array_append_new(idx, json_integer((json_int_t)t->by_subpage[s]));
		root = json_pack("{s:s, s:I, s:I, s:I, s:o, s:o, s:o}", "type", "histogram",
				 "gfns", (json_int_t)w.n, "subpages_written", (json_int_t)nsub,
				 "events_without_gpa", (json_int_t)t->no_gpa,
				 "events_per_gfn", g, "writes_per_subpage", sp,
				 "writes_by_subpage_index", idx);
		kh_json_print(root, JSON_COMPACT);
	} else {
		printf("Writes per written sub-page (%" PRIu64 " sub-pages of 128 B):\n", nsub);
		kh_print_log2_hist(stdout, sub_slots, KH_HIST_SLOTS, "writes");
		printf("\nEvents per gfn (%zu gfns):\n", w.n);
		kh_print_log2_hist(stdout, gfn_slots, KH_HIST_SLOTS, "events");
		printf("\nWrites by sub-page index (offset in the page / 128):\n");
		kh_print_linear_hist(stdout, t->by_subpage, KH_SUBPAGES, "sub-page");
		if (t->no_gpa)
			printf("\n%" PRIu64 " events had no guest physical address\n", t->no_gpa);
	}
	free(w.v);
}

/* ---- lines ---- */

/* Colour strings from terminfo, only for a terminal that has them. */
static void kh_trace_colors(struct kh_trace *t)
{
	const char *setaf, *sgr0, *s;
	int err;

	t->colored = false;
	if (t->o->json || t->a.histogram || !kh_color_wanted(t->a.color))
		return;
	if (setupterm(NULL, STDOUT_FILENO, &err) != OK)
		return;
	setaf = tigetstr("setaf");
	sgr0 = tigetstr("sgr0");
	if (!setaf || setaf == (char *)-1 || !sgr0 || sgr0 == (char *)-1)
		return;
	s = tiparm(setaf, COLOR_RED);
	snprintf(t->c_write, sizeof(t->c_write), "%s", s ? s : "");
	s = tiparm(setaf, COLOR_YELLOW);
	snprintf(t->c_fault, sizeof(t->c_fault), "%s", s ? s : "");
	s = tiparm(setaf, COLOR_CYAN);
	snprintf(t->c_age, sizeof(t->c_age), "%s", s ? s : "");
	snprintf(t->c_reset, sizeof(t->c_reset), "%s", sgr0);
	t->colored = true;
}

static void kh_trace_header(const struct kh_trace *t)
{
	printf("%-12s %7s %7s %4s %-6s %-5s %-22s %6s %3s %s\n", "TIME(s)", "PID", "TID",
	       "VCPU", "SOURCE", "KIND", "GFN+OFFSET", "BYTES", "SUB", "NAME");
}

/* The VM's name as discovery learned it ("?" for a VM not yet discovered). */
static const char *kh_trace_name(struct kh_trace *t, uint32_t pid)
{
	struct kh_vm *vm = kh_vms_find(&t->s.vms, pid);

	return vm ? vm->ident.name : "?";
}

static void kh_trace_print(struct kh_trace *t, const struct kh_event *e)
{
	double ts = (double)(int64_t)(e->ts_ns - t->t0_ns) / 1e9;
	bool known = e->gpa != KH_GPA_UNKNOWN, write = e->flags & KH_EVF_WRITE;
	bool aging = kh_ev_is_aging(e);
	uint64_t gfn = e->gpa >> KH_PAGE_SHIFT, off = e->gpa & (KH_PAGE_SIZE - 1);
	int sub = known && write && !aging ? (int)(off >> KH_SUBPAGE_SHIFT) : -1;

	if (t->o->json) {
		json_t *j = json_pack("{s:s, s:f, s:I, s:i, s:i, s:s, s:s, s:b}", "type", "event",
				      "time", ts, "ts_ns", (json_int_t)e->ts_ns, "pid", e->pid,
				      "tid", e->tid, "source", kh_source_name(e->source), "kind",
				      kh_kind_name(e->kind), "write", write);

		json_object_set_new(j, "name", json_string(kh_trace_name(t, e->pid)));
		json_object_set_new(j, "vcpu", e->vcpu == KH_VCPU_UNKNOWN ? json_null() :
				    json_integer(e->vcpu));
		json_object_set_new(j, "gpa", known ? json_integer((json_int_t)e->gpa) :
				    json_null());
		json_object_set_new(j, "gfn", known ? json_integer((json_int_t)gfn) : json_null());
		json_object_set_new(j, "offset", known && !aging ? json_integer((json_int_t)off) :
				    json_null());
		if (aging)
			json_object_set_new(j, "pages", json_integer(e->bytes));
		else
			json_object_set_new(j, "bytes", kh_ev_bytes(e) ?
					    json_integer(kh_ev_bytes(e)) : json_null());
		json_object_set_new(j, "subpage", sub >= 0 ? json_integer(sub) : json_null());
		kh_json_print(j, JSON_COMPACT);
		return;
	}
	{
		char vcpu[16] = "-", where[40] = "-", size[24] = "-", sp[8] = "-";
		const char *c = "";

		if (e->vcpu != KH_VCPU_UNKNOWN)
			snprintf(vcpu, sizeof(vcpu), "%u", e->vcpu);
		if (known && aging)
			snprintf(where, sizeof(where), "0x%" PRIx64, gfn);
		else if (known)
			snprintf(where, sizeof(where), "0x%" PRIx64 "+0x%03" PRIx64, gfn, off);
		if (aging)
			snprintf(size, sizeof(size), "%up", e->bytes);
		else if (kh_ev_bytes(e))
			snprintf(size, sizeof(size), "%u", kh_ev_bytes(e));
		if (sub >= 0)
			snprintf(sp, sizeof(sp), "%d", sub);
		if (t->colored)
			c = write ? t->c_write : e->kind == KH_EV_FAULT ? t->c_fault :
			    aging ? t->c_age : "";
		printf("%s%-12.6f %7u %7u %4s %-6s %-5s %-22s %6s %3s %s%s\n", c, ts, e->pid,
		       e->tid, vcpu, kh_source_name(e->source), kh_kind_name(e->kind), where, size,
		       sp, kh_trace_name(t, e->pid), *c ? t->c_reset : "");
	}
}

static int kh_trace_event(void *ctx, void *data, size_t len)
{
	struct kh_trace *t = ctx;
	const struct kh_event *e = data;

	if (len < sizeof(*e) || e->hdr.type != KH_REC_EVENT || e->hdr.size < sizeof(*e)) {
		t->bad++;
		return 0;
	}
	t->received++;
	if (t->a.histogram)
		kh_hist_add(t, e);
	else
		kh_trace_print(t, e);
	if (t->a.count && t->received >= t->a.count) {
		t->stop = true;
		return -ECANCELED;	/* leave the rest in the ring */
	}
	return 0;
}

/* Report ring-buffer losses as they happen (each poll round). */
static void kh_trace_check_lost(struct kh_trace *t)
{
	for (int src = 0; src < KH_SRC_MAX; src++) {
		uint64_t v;

		if (kh_read_stat(&t->s, src * KH_STAT_MAX + KH_STAT_LOST, &v) ||
		    v == t->lost_seen[src])
			continue;
		if (t->o->json) {
			json_t *j = json_pack("{s:s, s:s, s:I, s:I}", "type", "lost", "source",
					      kh_source_name(src), "lost", (json_int_t)(v -
					      t->lost_seen[src]), "lost_total", (json_int_t)v);

			kh_json_print(j, JSON_COMPACT);
		} else {
			fprintf(stderr, "kvmheat: trace: %" PRIu64 " %s events lost (ring buffer "
				"full; narrow the filter or raise --ringbuf)\n",
				v - t->lost_seen[src], kh_source_name(src));
		}
		t->lost_seen[src] = v;
	}
}

static void kh_trace_summary(struct kh_trace *t, double elapsed)
{
	uint64_t st[KH_NR_STATS], emitted = 0, evf = 0, pidf = 0, lost = 0, runs, ns;
	bool cost_on;

	if (kh_read_stats(&t->s, st))
		memset(st, 0, sizeof(st));
	kh_session_cost(&t->s, &runs, &ns, &cost_on);
	for (int src = 0; src < KH_SRC_MAX; src++) {
		emitted += st[src * KH_STAT_MAX + KH_STAT_EMITTED];
		evf += st[src * KH_STAT_MAX + KH_STAT_EV_FILTERED];
		pidf += st[src * KH_STAT_MAX + KH_STAT_FILTERED];
		lost += st[src * KH_STAT_MAX + KH_STAT_LOST];
	}
	if (t->o->json) {
		json_t *srcs = json_object(), *root;

		for (int src = 0; src < KH_SRC_MAX; src++) {
			const uint64_t *s = &st[src * KH_STAT_MAX];

			if (!(t->a.so.sources & (1U << src)))
				continue;
			json_object_set_new(srcs, kh_source_name(src), json_pack(
				"{s:I, s:I, s:I, s:I, s:I, s:I}", "events",
				(json_int_t)s[KH_STAT_EVENTS], "emitted",
				(json_int_t)s[KH_STAT_EMITTED], "event_filtered",
				(json_int_t)s[KH_STAT_EV_FILTERED], "filtered",
				(json_int_t)s[KH_STAT_FILTERED], "lost",
				(json_int_t)s[KH_STAT_LOST],
				"no_vm", (json_int_t)s[KH_STAT_NO_VM]));
		}
		root = json_pack("{s:s, s:f, s:I, s:I, s:I, s:I, s:I, s:I, s:o, s:{s:b, s:I, s:I}}",
				 "type", "summary", "duration_s", elapsed, "received",
				 (json_int_t)t->received, "emitted", (json_int_t)emitted,
				 "event_filtered", (json_int_t)evf, "filtered", (json_int_t)pidf,
				 "lost", (json_int_t)lost, "malformed", (json_int_t)t->bad,
				 "sources", srcs, "bpf_cost", "stats_enabled", cost_on, "runs",
				 (json_int_t)runs, "run_time_ns", (json_int_t)ns);
		kh_json_print(root, JSON_COMPACT);
	} else {
		fprintf(stderr, "kvmheat: trace: %" PRIu64 " events in %.1f s; in the kernel: %"
			PRIu64 " emitted, %" PRIu64 " dropped by the event filter, %" PRIu64
			" by the pid filter, %" PRIu64 " lost\n", t->received, elapsed, emitted,
			evf, pidf, lost);
	}
	if (t->a.so.filter.vcpu_set && !t->received)
		fprintf(stderr, "kvmheat: trace: note: nothing matched --vcpu %u; guest page-walk "
			"and aging events carry no vCPU and never match it\n", t->a.so.filter.vcpu);
}

enum {
	KH_TRACE_OPT_GFN = 256, KH_TRACE_OPT_VCPU, KH_TRACE_OPT_WRITES, KH_TRACE_OPT_HIST,
	KH_TRACE_OPT_RINGBUF, KH_TRACE_OPT_WAKEUP,
};

static const char kh_trace_help[] =
	"Usage: kvmheat trace [-e SOURCE[,SOURCE]] [-p PID] [--gfn START-END] [--vcpu N]\n"
	"                     [--writes] [-d SECONDS] [-c COUNT] [--histogram] [-j]\n"
	"Print guest memory events as they happen, one line each: time since start,\n"
	"VMM pid, thread, vCPU, source, kind, gfn+offset, bytes (pages for aging),\n"
	"and, for writes, the 128-byte sub-page index.\n"
	"Filters run in the kernel: events that do not match never reach kvmheat.\n"
	"  -e, --sources LIST   aging,track,spp,walk (default all; --events LIST too)\n"
	"  -p, --pid PID        only this VM (pid, name or uuid); ends when it exits\n"
	"      --gfn A-B        only gfns A..B (inclusive; one gfn: A; from A on: A-)\n"
	"      --vcpu N         only vCPU N (walk and aging events carry no vCPU)\n"
	"      --writes         only writes\n"
	"  -d, --duration S     stop after S seconds (default: Ctrl-C)\n"
	"  -c, --count N        stop after N events\n"
	"      --histogram      no lines: print write and per-gfn histograms at exit\n"
	"  -m, --method S=M     force source S to attach method M\n"
	"      --ringbuf SIZE   ring buffer bytes, k/m/g suffixes (default 4m)\n"
	"      --wakeup BYTES   wake kvmheat when this much is waiting (default 65536;\n"
	"                       0: every event, lowest latency, most BPF time)\n"
	"      --color WHEN     auto (default: only on a terminal), always, never\n"
	"  -j, --json           JSON lines: events, then a summary object\n"
	"\n"
	"Examples:\n"
	"  kvmheat trace -p $(pidof qemu-system-x86_64) --writes -c 100\n"
	"  kvmheat trace -e walk --gfn 0x40000-0x400ff -d 5\n"
	"  kvmheat trace --histogram -d 10\n";

static int kh_trace_loop(struct kh_trace *t)
{
	struct ring_buffer *rb;
	double start, deadline, next_refresh;
	char eb[128];
	int err = 0, rc = KH_EXIT_OK;

	rb = ring_buffer__new(bpf_map__fd(t->s.skel->maps.events), kh_trace_event, t, NULL);
	if (!rb)
		return kh_err(t->o, KH_EXIT_ERROR, "trace: opening the ring buffer: %s",
			      kh_errstr(-errno, eb, sizeof(eb)));
	kh_install_signals();
	/* a reader that went away (trace | head) ends the trace quietly */
	signal(SIGPIPE, SIG_IGN);
	kh_trace_colors(t);
	start = kh_now();
	deadline = t->a.duration ? start + t->a.duration : 0;
	next_refresh = start + 1;
	fprintf(stderr, "kvmheat: tracing %s%s; Ctrl-C to stop\n",
		t->a.pid ? "one VM" : "all VMs", t->a.histogram ? " for histograms" : "");
	if (!t->o->json && !t->a.histogram)
		kh_trace_header(t);
	while (!kh_exiting && !t->stop) {
		double now;

		err = ring_buffer__poll(rb, 100);
		if (err == -EINTR)
			break;		/* a signal: a clean stop */
		/* events below the wakeup threshold: poll() does not read them */
		if (err >= 0 && !t->stop)
			err = ring_buffer__consume(rb);
		if (err < 0 && err != -ECANCELED) {
			rc = kh_err(t->o, KH_EXIT_ERROR, "trace: polling the ring buffer: %s",
				    kh_errstr(err, eb, sizeof(eb)));
			break;
		}
		kh_trace_check_lost(t);
		if (fflush(stdout) == EOF || ferror(stdout)) {
			t->epipe = true;
			break;
		}
		now = kh_now();
		if (deadline && now >= deadline) {
			/* what was emitted before the deadline still belongs to the trace */
			if (!t->stop)
				ring_buffer__consume(rb);
			break;
		}
		if (now >= next_refresh) {
			next_refresh = now + 1;
			if (kh_cli_refresh(&t->s, t->o))
				continue;
			if (t->a.pid && !kh_vms_find(&t->s.vms, t->a.pid)) {
				ring_buffer__consume(rb);
				fprintf(stderr, "kvmheat: trace: VM %u exited\n", t->a.pid);
				break;
			}
		}
	}
	ring_buffer__free(rb);
	if (!t->epipe && !rc) {
		kh_trace_check_lost(t);
		if (t->a.histogram)
			kh_hist_report(t);
		kh_trace_summary(t, kh_now() - start);
		if (fflush(stdout) == EOF)
			t->epipe = true;
	}
	return t->epipe ? KH_EXIT_OK : rc;
}

/* trace's own options; KH_EXIT_USAGE (reported) or -1 to go on. */
static int kh_trace_opt(struct kh_trace_args *a, int opt, struct kh_opts *o)
{
	struct kh_ev_filter *f = &a->so.filter;
	uint64_t v;

	switch (opt) {
	case KH_TRACE_OPT_GFN:
		if (kh_parse_gfn_range(optarg, &f->gfn_lo, &f->gfn_hi))
			return kh_err(o, KH_EXIT_USAGE, "trace: bad --gfn '%s' (want START-END "
				      "with START <= END, START- or one gfn, e.g. 0x40000-0x400ff)",
				      optarg);
		f->gfn_set = true;
		break;
	case KH_TRACE_OPT_VCPU:
		if (kh_parse_u64(optarg, &v) || v >= KH_VCPU_UNKNOWN)
			return kh_err(o, KH_EXIT_USAGE, "trace: bad --vcpu '%s'", optarg);
		f->vcpu_set = true;
		f->vcpu = (uint32_t)v;
		break;
	case KH_TRACE_OPT_WRITES:
		f->writes_only = true;
		break;
	case 'c':
		if (kh_parse_u64(optarg, &a->count) || !a->count)
			return kh_err(o, KH_EXIT_USAGE, "trace: bad count '%s'", optarg);
		break;
	case KH_TRACE_OPT_HIST:
		a->histogram = true;
		break;
	case KH_TRACE_OPT_RINGBUF:
		if (kh_parse_size(optarg, &v) || v < KH_RINGBUF_MIN || v > KH_RINGBUF_MAX)
			return kh_err(o, KH_EXIT_USAGE, "trace: bad --ringbuf '%s' (4k to 1g bytes)",
				      optarg);
		a->so.ringbuf_bytes = (uint32_t)v;
		break;
	case KH_TRACE_OPT_WAKEUP:
		if (kh_parse_u64(optarg, &v) || v > (1U << 30))
			return kh_err(o, KH_EXIT_USAGE, "trace: bad --wakeup '%s' (bytes, 0 for "
				      "every event)", optarg);
		a->so.wakeup_bytes = (uint32_t)v;
		break;
	}
	return -1;
}

/* --vcpu with sources whose events carry no vCPU: refuse or warn, never match silently. */
static int kh_trace_check_vcpu(const struct kh_trace_args *a, struct kh_opts *o)
{
	uint32_t with_vcpu = (1U << KH_SRC_TRACK) | (1U << KH_SRC_SPP) | (1U << KH_SRC_WALK);
	uint32_t src = a->so.sources, vcpu = a->so.filter.vcpu;

	if (!a->so.filter.vcpu_set)
		return -1;
	if (!(src & with_vcpu))
		return kh_err(o, KH_EXIT_USAGE, "trace: --vcpu: aging events carry no vCPU, so "
			      "nothing could match; add -e track,spp,walk");
	if (src & (1U << KH_SRC_WALK))
		kh_warn(o, "--vcpu %u: guest page-walk events (kvm_mmu_pagetable_walk) carry no "
			"vCPU and are all dropped%s; only faults, page-track writes and SPP "
			"violations can match", vcpu,
			src & (1U << KH_SRC_AGING) ? ", and so are aging events" : "");
	else if (src & (1U << KH_SRC_AGING))
		kh_warn(o, "--vcpu %u: aging events carry no vCPU and are all dropped", vcpu);
	return -1;
}

/* Options into @a; a return >= 0 is the exit code (help, bad usage). */
static int kh_trace_parse(int argc, char **argv, struct kh_opts *o, struct kh_trace_args *a)
{
	static const struct option longopts[] = {
		KH_LONGOPT_SOURCES, KH_LONGOPT_EVENTS_ALIAS,
		{ "pid", required_argument, NULL, 'p' },
		{ "gfn", required_argument, NULL, KH_TRACE_OPT_GFN },
		{ "vcpu", required_argument, NULL, KH_TRACE_OPT_VCPU },
		{ "writes", no_argument, NULL, KH_TRACE_OPT_WRITES },
		{ "duration", required_argument, NULL, 'd' },
		{ "count", required_argument, NULL, 'c' },
		{ "histogram", no_argument, NULL, KH_TRACE_OPT_HIST },
		{ "method", required_argument, NULL, 'm' },
		{ "ringbuf", required_argument, NULL, KH_TRACE_OPT_RINGBUF },
		{ "color", required_argument, NULL, KH_OPT_COLOR },
		{ "wakeup", required_argument, NULL, KH_TRACE_OPT_WAKEUP },
		KH_LONGOPTS_END,
	};
	struct kh_cmdline cl = {
		.cmd = "trace", .o = o, .help = kh_trace_help, .shortopts = "e:p:d:c:m:jvh",
		.longopts = longopts, .pid = &a->pid, .duration = &a->duration,
		.sources = &a->so.sources, .force = a->so.force, .color = &a->color,
	};
	int opt, rc;

	while ((opt = kh_getopt(&cl, argc, argv)) > 0)
		if ((rc = kh_trace_opt(a, opt, o)) >= 0)
			return rc;
	if (opt == KH_OPT_STOP)
		return cl.rc;
	a->so.filter.sources = a->so.sources;
	a->so.pid = a->pid;
	return kh_trace_check_vcpu(a, o);
}

static int kh_trace_run(const struct kh_trace_args *a, struct kh_opts *o)
{
	struct kh_trace *t = calloc(1, sizeof(*t));
	int err;

	if (!t)
		return kh_err(o, KH_EXIT_ERROR, "out of memory");
	t->o = o;
	t->a = *a;
	err = kh_cli_open(&t->s, &t->a.so, o);
	if (!err) {
		/* time 0 before attaching: no event can print a negative time */
		t->t0_ns = kh_now_ns();
		err = kh_cli_attach(&t->s, o);
	}
	if (!err)
		err = kh_trace_loop(t);
	kh_session_close(&t->s);
	tdestroy(t->tree, free);
	free(t);
	return err;
}

int kh_cmd_trace(int argc, char **argv, struct kh_opts *o)
{
	struct kh_trace_args a = {
		.color = -1,
		.so = {
			.sources = KH_ALL_SOURCES, .events = true, .no_aggregate = true,
			.max_gfns = 16,	/* the per-gfn maps go unused: keep them tiny */
			/*
			 * Wake up for every 64 KiB (about a thousand events), not for
			 * each event: per-event wakeups cost ~2 us of BPF time each on
			 * a host where irq_work is a self-IPI (tools/live-cost.sh).  The
			 * poll timeout collects the rest, so a quiet trace still prints
			 * within 100 ms.
			 */
			.wakeup_bytes = 64 << 10,
		},
	};
	int rc = kh_trace_parse(argc, argv, o, &a);

	return rc >= 0 ? rc : kh_trace_run(&a, o);
}
