// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * `kvmheat top`: live per-VM view.  An ncurses table of VMs with their
 * interval rates, a drill-down into one VM (hot gfn ranges, heat strip,
 * sub-page write masks), and a batch mode (-b) that prints the same
 * figures as text or one JSON object per line per interval.
 *
 * Per-interval counts and constant memory: the BPF maps are cumulative
 * (they serve `heat`, which reports a whole run), so top drains them at
 * the end of every interval with BPF_MAP_LOOKUP_AND_DELETE_BATCH: each
 * bucket is copied out and emptied under its lock, so an entry is either
 * in this interval or the next, never in both and never grown across
 * intervals.  We chose this over two map sets swapped by a bss index:
 * swapping doubles the map memory, needs every handler to pick a map set
 * (the BPF side is shared with heat/record), and the inactive set must
 * still be emptied, i.e. the same delete pass only later.  The price of
 * draining is a race of a few nanoseconds: a handler that looked an entry
 * up just before its bucket was drained adds its count to the drained
 * (or recycled) element, and that count is lost.  Kernels without batch
 * ops (before 5.6) fall back to key-by-key lookup and delete.  The
 * userspace buffers grow to the largest interval seen and are capped by
 * the map sizes, so a long run has a bounded footprint.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <locale.h>
#include <regex.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/utsname.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <curses.h>
#include <jansson.h>
#include "cli.h"
#include "kvmheat.skel.h"

/* Smallest terminal the table fits in. */
#define KH_TOP_MIN_COLS	80
#define KH_TOP_MIN_ROWS	12

enum kh_top_view { KH_VIEW_TABLE, KH_VIEW_DETAIL, KH_VIEW_HELP };

struct kh_top {
	const struct kh_opts *o;
	struct kh_session s;
	struct kh_session_opts so;
	bool batch, quiet_exit;
	uint64_t iters;			/* 0: until q / Ctrl-C */
	double delay;
	uint32_t pid;
	char host[65], kernel[65];
	char src_desc[KH_SRC_MAX][256];

	/* this interval's drained maps */
	struct kh_interval iv;		/* this interval's drained maps */
	struct kh_gfn_stat *g;		/* gd as kh_gfn_stat, for the drill-down */
	size_t ng, gcap;
	struct kh_top_row *rows;
	size_t nrows, rcap;
	struct kh_scan scan;		/* --age-driver: idle ages per VM (scan.h) */
	double t_last, dt;
	uint64_t stats_prev[KH_NR_STATS], stats_d[KH_NR_STATS];
	uint64_t runs_prev, ns_prev, druns, dns;
	bool cost_on;
	uint64_t events_total, lost_total;	/* since start or the last reset */
	uint64_t samples, resets;

	/* interactive state */
	enum kh_top_view view, help_from;
	int sort_col;
	bool sort_rev;
	uint32_t sel_pid;
	int slot_sel;			/* drill-down: index into vm->slots, -1: all */
	char pid_filter[128];
	char re_str[128];
	regex_t re;
	bool re_set;
	char msg[160];
	bool colors;
};

/* ---- sampling ---- */

/*
 * With --age-driver: fold the interval into the idle ages, follow new and
 * gone VMs, and let the rows' idle share come from the ages (pages of age
 * >= 1 among pages with a known age); a VM without ages shows n/a.
 */
static int kh_top_idle(struct kh_top *t)
{
	int err;

	if (!kh_scan_on(&t->scan))
		return 0;
	err = kh_scan_fold(&t->scan, t->iv.gd.keys, t->iv.gd.vals, t->iv.gd.n, t->iv.rd.keys,
			   t->iv.rd.vals, t->iv.rd.n);
	if (!err)
		err = kh_scan_follow(&t->scan, &t->s.vms);
	if (err)
		return err;
	for (size_t i = 0; i < t->nrows; i++) {
		const struct kh_idle_sum *sum = kh_scan_sum(&t->scan, t->rows[i].pid);

		uint64_t aged, young, wset;

		t->rows[i].aged_gfns = sum ? sum->known_pages : 0;
		t->rows[i].idle_gfns = sum ? sum->idle_pages : 0;
		/* checks kept in idle bits made no region entry: count them as those would */
		if (kh_scan_bits_counts(&t->scan, t->rows[i].pid, &aged, &young, &wset)) {
			t->rows[i].wset += wset;
			t->rows[i].c.aged += aged;
			t->rows[i].c.young += young;
			t->rows[i].c.accesses += young;
		}
	}
	return 0;
}

/* Close the current interval: drain, diff the counters, rediscover VMs. */
static int kh_top_sample(struct kh_top *t)
{
	uint64_t stats[KH_NR_STATS], runs, ns;
	double now;
	int err;

	/* a due scan runs just before the drain that collects its results */
	kh_scan_tick(&t->scan, &t->s.vms, kh_now());
	err = kh_drain_session(&t->s, &t->iv);
	if (err)
		return err;
	now = kh_now();
	t->dt = now - t->t_last;
	t->t_last = now;

	kh_read_stats(&t->s, stats);
	for (int i = 0; i < KH_NR_STATS; i++) {
		t->stats_d[i] = stats[i] - t->stats_prev[i];
		t->stats_prev[i] = stats[i];
	}
	for (int src = 0; src < KH_SRC_MAX; src++) {
		const uint64_t *d = &t->stats_d[src * KH_STAT_MAX];

		t->events_total += d[KH_STAT_EVENTS];
		t->lost_total += d[KH_STAT_MAP_FULL] + d[KH_STAT_WALK_LOST] + d[KH_STAT_LOST];
	}
	kh_session_cost(&t->s, &runs, &ns, &t->cost_on);
	t->druns = runs - t->runs_prev;
	t->dns = ns - t->ns_prev;
	t->runs_prev = runs;
	t->ns_prev = ns;

	if (kh_grow(&t->g, &t->gcap, t->iv.gd.n, sizeof(*t->g)))
		return -ENOMEM;
	t->ng = t->iv.gd.n;
	for (size_t i = 0; i < t->ng; i++) {
		const struct kh_key *k = (const struct kh_key *)t->iv.gd.keys + i;

		memset(&t->g[i], 0, sizeof(t->g[i]));
		t->g[i].pid = k->pid;
		t->g[i].gfn = k->idx;
		t->g[i].c = ((const struct kh_counts *)t->iv.gd.vals)[i];
	}

	/* A failed rediscovery keeps the last VM list (kh_cli_refresh warns). */
	kh_cli_refresh(&t->s, t->o);
	if (kh_grow(&t->rows, &t->rcap, t->s.vms.n, sizeof(*t->rows)))
		return -ENOMEM;
	t->nrows = kh_top_rows(&t->s.vms, t->pid, t->iv.rd.keys, t->iv.rd.vals, t->iv.rd.n, t->g, t->ng,
			       t->rows);
	err = kh_top_idle(t);
	if (err)
		return err;
	kh_top_sort(t->rows, t->nrows, t->sort_col, t->sort_rev);
	t->samples++;
	return 0;
}

/* Start a fresh interval and zero the since-reset totals ('r'). */
static int kh_top_reset(struct kh_top *t)
{
	int err = kh_top_sample(t);

	t->events_total = t->lost_total = 0;
	return err;
}

/* ---- formatting shared by the TUI and batch text ---- */

/* 1234 -> "1234", 12345 -> "12.3k", ... */
static const char *kh_fmt_num(double v, char *buf, size_t len)
{
	static const char sfx[] = " kMGTP";
	int u = 0;

	while (v >= 9999.5 && u < 5) {
		v /= 1000;
		u++;
	}
	if (!u)
		snprintf(buf, len, "%.0f", v);
	else
		snprintf(buf, len, "%.1f%c", v, sfx[u]);
	return buf;
}

static void kh_fmt_header(char *buf, size_t len)
{
	snprintf(buf, len, "%7s %-10s %4s %10s %7s %7s %7s %5s %7s %6s %s",
		 kh_top_col_name(KH_TOP_PID), kh_top_col_name(KH_TOP_COMM),
		 kh_top_col_name(KH_TOP_VCPUS), kh_top_col_name(KH_TOP_MEM),
		 kh_top_col_name(KH_TOP_ACC), kh_top_col_name(KH_TOP_WR),
		 kh_top_col_name(KH_TOP_WSET), kh_top_col_name(KH_TOP_IDLE),
		 kh_top_col_name(KH_TOP_TRACK), kh_top_col_name(KH_TOP_SPP),
		 kh_top_col_name(KH_TOP_NAME));
}

/* Column start offsets in kh_fmt_header's layout, for highlighting the sort key. */
static const int kh_col_pos[KH_TOP_NR_COLS + 1] = { 0, 8, 19, 24, 35, 43, 51, 59, 65, 73, 80,
						     101 };

static void kh_fmt_row(const struct kh_top_row *r, double dt, char *buf, size_t len)
{
	char mem[32], acc[16], wr[16], ws[16], idle[16], tr[16], spp[16];
	double idle_pct = kh_row_idle(r);

	if (dt <= 0)
		dt = 1;
	if (idle_pct < 0)
		snprintf(idle, sizeof(idle), "n/a");
	else
		snprintf(idle, sizeof(idle), "%.0f", idle_pct);
	snprintf(buf, len, "%7u %-10.10s %4u %10s %7s %7s %7s %5s %7s %6s %s", r->pid, r->comm,
		 r->nr_vcpus, kh_fmt_bytes(r->mem_bytes, mem, sizeof(mem)),
		 kh_fmt_num(r->c.accesses / dt, acc, sizeof(acc)),
		 kh_fmt_num(r->c.writes / dt, wr, sizeof(wr)),
		 kh_fmt_num(r->wset, ws, sizeof(ws)), idle,
		 kh_fmt_num(r->c.tracked / dt, tr, sizeof(tr)),
		 kh_fmt_num(r->c.spp / dt, spp, sizeof(spp)), r->name);
}

static void kh_fmt_totals(const struct kh_top *t, char *buf, size_t len)
{
	double dt = t->dt > 0 ? t->dt : 1;
	uint64_t ev = 0, lost = 0;
	char a[16], b[16], c[64];
	int off;

	for (int src = 0; src < KH_SRC_MAX; src++) {
		const uint64_t *d = &t->stats_d[src * KH_STAT_MAX];

		ev += d[KH_STAT_EVENTS];
		lost += d[KH_STAT_MAP_FULL] + d[KH_STAT_WALK_LOST] + d[KH_STAT_LOST];
	}
	if (t->cost_on && t->druns)
		snprintf(c, sizeof(c), "%.2f ms/s, %.0f ns/run", t->dns / dt / 1e6,
			 (double)t->dns / t->druns);
	else if (t->cost_on)
		snprintf(c, sizeof(c), "0 ms/s");
	else
		snprintf(c, sizeof(c), "off (sysctl kernel.bpf_stats_enabled=1)");
	off = snprintf(buf, len, "events %s/s, lost %s/s (%" PRIu64 " since %s), BPF %s",
		       kh_fmt_num(ev / dt, a, sizeof(a)), kh_fmt_num(lost / dt, b, sizeof(b)),
		       t->lost_total, t->resets ? "reset" : "start", c);
	if (off > 0 && (size_t)off < len)
		snprintf(buf + off, len - off, ", VMs %zu", t->nrows);
}

/* ---- batch output ---- */

static json_t *kh_row_json(const struct kh_top_row *r, double dt)
{
	double idle = kh_row_idle(r);

	return json_pack("{s:i, s:s, s:s, s:i, s:I, s:f, s:f, s:I, s:I, s:I, s:o, s:f, s:f, s:I,"
			 " s:I, s:I, s:o}",
			 "pid", r->pid, "comm", r->comm, "name", r->name, "vcpus", r->nr_vcpus,
			 "memory_bytes",
			 (json_int_t)r->mem_bytes, "accesses_per_s", r->c.accesses / dt,
			 "writes_per_s", r->c.writes / dt, "working_set_gfns", (json_int_t)r->wset,
			 "accesses", (json_int_t)r->c.accesses, "writes", (json_int_t)r->c.writes,
			 "idle_pct", idle < 0 ? json_null() : json_real(idle),
			 "tracked_per_s", r->c.tracked / dt, "spp_per_s", r->c.spp / dt,
			 "aged_gfns", (json_int_t)r->aged_gfns, "faults", (json_int_t)r->c.faults,
			 "tracked", (json_int_t)r->c.tracked,
			 "aging_granularity", kh_coarse_json(&r->coarse));
}

/* Seconds between scans: --scan-interval, or every interval. */
static double kh_top_scan_s(const struct kh_top *t)
{
	return t->scan.interval > t->delay ? t->scan.interval : t->delay;
}

static int kh_top_print_batch(struct kh_top *t)
{
	double dt = t->dt > 0 ? t->dt : 1;
	char line[256];
	time_t now = time(NULL);
	struct tm tm;

	localtime_r(&now, &tm);
	if (t->o->json) {
		json_t *srcs = json_array(), *vms = json_array(), *root;
		uint64_t ev = 0, lost = 0;

		for (int src = 0; src < KH_SRC_MAX; src++) {
			const uint64_t *d = &t->stats_d[src * KH_STAT_MAX];

			ev += d[KH_STAT_EVENTS];
			lost += d[KH_STAT_MAP_FULL] + d[KH_STAT_WALK_LOST] + d[KH_STAT_LOST];
			json_array_append_new(srcs, json_pack("{s:s, s:b, s:s, s:I}", "source",
				kh_source_name(src), "available",
				kh_source_available(&t->s.probe, src), "hooks", t->src_desc[src],
				"events", (json_int_t)d[KH_STAT_EVENTS]));
		}
		for (size_t i = 0; i < t->nrows; i++) {
			json_t *row = kh_row_json(&t->rows[i], dt);
			const struct kh_idle_sum *sum = kh_scan_sum(&t->scan, t->rows[i].pid);

			/* only asked for (--age-driver); null: no ages for this VM yet */
			if (kh_scan_on(&t->scan))
				json_object_set_new(row, "idle", sum ? kh_idle_sum_json(sum,
						    kh_top_scan_s(t)) : json_null());
			json_array_append_new(vms, row);
		}
		root = json_pack("{s:I, s:f, s:I, s:s, s:s, s:o, s:f, s:I, s:I, s:{s:b, s:I, s:I},"
				 " s:o}",
				 "time", (json_int_t)now, "interval_s", t->dt, "iteration",
				 (json_int_t)t->samples, "host", t->host, "kernel", t->kernel,
				 "sources", srcs, "events_per_s", ev / dt, "lost",
				 (json_int_t)lost, "lost_total", (json_int_t)t->lost_total,
				 "bpf_cost", "stats_enabled", t->cost_on, "runs",
				 (json_int_t)t->druns, "run_time_ns", (json_int_t)t->dns,
				 "vms", vms);
		kh_json_print(root, JSON_COMPACT);
	} else {
		strftime(line, sizeof(line), "%H:%M:%S", &tm);
		printf("kvmheat top - %s - host %s, kernel %s, interval %.2f s\n", line, t->host,
		       t->kernel, t->dt);
		for (int src = 0; src < KH_SRC_MAX; src++)
			printf("  %-6s %s\n", kh_source_name(src), t->src_desc[src]);
		kh_fmt_totals(t, line, sizeof(line));
		printf("%s\n", line);
		kh_fmt_header(line, sizeof(line));
		printf("%s\n", line);
		for (size_t i = 0; i < t->nrows; i++) {
			kh_fmt_row(&t->rows[i], dt, line, sizeof(line));
			printf("%s\n", line);
		}
		for (size_t i = 0; i < t->nrows; i++)
			if (t->rows[i].coarse.regions) {
				printf("VM %u", t->rows[i].pid);
				kh_coarse_print(stdout, &t->rows[i].coarse, t->rows[i].mem_bytes);
			}
		for (size_t i = 0; i < t->nrows; i++) {
			const struct kh_idle_sum *sum = kh_scan_sum(&t->scan, t->rows[i].pid);

			if (sum)
				kh_idle_sum_print(stdout, t->rows[i].pid, sum, kh_top_scan_s(t));
		}
		putchar('\n');
	}
	/* a reader that went away (top -b | head) ends the run quietly */
	if (fflush(stdout) == EOF || ferror(stdout)) {
		t->quiet_exit = true;
		return -EPIPE;
	}
	return 0;
}

/* ---- TUI ---- */

enum { KH_CP_SEL = 1, KH_CP_HDR, KH_CP_MSG, KH_CP_HEAT0 };
#define KH_HEAT_LEVELS	9
static const char kh_heat_chars[] = " .:-=+*#%@";

static void kh_tui_init_colors(struct kh_top *t)
{
	/* black -> red -> yellow -> white in 256 colours, or the 8 basic ones */
	static const short ramp256[KH_HEAT_LEVELS] = { 52, 88, 124, 160, 196, 202, 214, 226, 231 };
	static const short ramp8[KH_HEAT_LEVELS] = { COLOR_RED, COLOR_RED, COLOR_RED, COLOR_RED,
		COLOR_YELLOW, COLOR_YELLOW, COLOR_YELLOW, COLOR_WHITE, COLOR_WHITE };

	t->colors = has_colors();
	if (!t->colors)
		return;
	start_color();
	use_default_colors();
	init_pair(KH_CP_SEL, COLOR_BLACK, COLOR_CYAN);
	init_pair(KH_CP_HDR, COLOR_BLACK, COLOR_GREEN);
	init_pair(KH_CP_MSG, COLOR_YELLOW, -1);
	for (int i = 0; i < KH_HEAT_LEVELS; i++)
		init_pair(KH_CP_HEAT0 + i, COLOR_BLACK, COLORS >= 256 ? ramp256[i] : ramp8[i]);
}

static bool kh_row_visible(const struct kh_top *t, const struct kh_top_row *r)
{
	if (t->pid_filter[0]) {
		uint64_t v;

		if (!kh_parse_u64(t->pid_filter, &v)) {
			if (r->pid != v)
				return false;
		} else if (!strstr(r->comm, t->pid_filter) && !strstr(r->name, t->pid_filter)) {
			return false;
		}
	}
	if (t->re_set) {
		char s[16 + sizeof(r->comm) + sizeof(r->name)];

		/* "PID COMM NAME": a pattern can pick any of the three */
		snprintf(s, sizeof(s), "%u %s %s", r->pid, r->comm, r->name);
		if (regexec(&t->re, s, 0, NULL, 0))
			return false;
	}
	return true;
}

static void kh_tui_line(int y, const char *s, attr_t attr)
{
	attron(attr);
	mvaddnstr(y, 0, s, COLS);
	attroff(attr);
}

static void kh_tui_footer(const struct kh_top *t, const char *keys)
{
	if (t->msg[0]) {
		attron(COLOR_PAIR(KH_CP_MSG) | A_BOLD);
		mvaddnstr(LINES - 1, 0, t->msg, COLS);
		attroff(COLOR_PAIR(KH_CP_MSG) | A_BOLD);
	} else {
		kh_tui_line(LINES - 1, keys, A_DIM);
	}
}

/* Title, sources and totals: the lines every view starts with. */
static int kh_tui_header(const struct kh_top *t)
{
	char line[512], tm_s[16];
	time_t now = time(NULL);
	struct tm tm;
	int y = 0;

	localtime_r(&now, &tm);
	strftime(tm_s, sizeof(tm_s), "%H:%M:%S", &tm);
	snprintf(line, sizeof(line), "kvmheat top - %s - host %s - kernel %s - every %.1f s",
		 tm_s, t->host, t->kernel, t->delay);
	kh_tui_line(y++, line, A_BOLD);
	for (int src = 0; src < KH_SRC_MAX; src++) {
		snprintf(line, sizeof(line), "  %-6s %s", kh_source_name(src), t->src_desc[src]);
		kh_tui_line(y++, line, kh_source_available(&t->s.probe, src) ? A_NORMAL : A_DIM);
	}
	if (t->samples) {
		kh_fmt_totals(t, line, sizeof(line));
	} else {
		snprintf(line, sizeof(line), "attached; first figures in %.1f s", t->delay);
	}
	kh_tui_line(y++, line, A_NORMAL);
	return y;
}

static void kh_tui_table(struct kh_top *t)
{
	char line[512], filt[300] = "";
	int y = kh_tui_header(t), first_row, rows_fit, sel = -1, shown = 0;
	size_t vis[t->nrows ? t->nrows : 1];

	if (t->pid_filter[0] || t->re_set)
		snprintf(filt, sizeof(filt), "filter:%s%s%s%s", t->pid_filter[0] ? " p=" : "",
			 t->pid_filter, t->re_set ? " f=" : "", t->re_set ? t->re_str : "");
	for (size_t i = 0; i < t->nrows; i++)
		if (kh_row_visible(t, &t->rows[i]))
			vis[shown++] = i;
	for (int i = 0; i < shown; i++)
		if (t->rows[vis[i]].pid == t->sel_pid)
			sel = i;
	if (sel < 0 && shown) {
		sel = 0;
		t->sel_pid = t->rows[vis[0]].pid;
	}
	snprintf(line, sizeof(line), "%d of %zu VMs shown, sorted by %s%s  %s", shown,
		 t->nrows, kh_top_col_name(t->sort_col), t->sort_rev ? " (reversed)" : "", filt);
	kh_tui_line(y++, line, A_NORMAL);
	kh_fmt_header(line, sizeof(line));
	attron(t->colors ? COLOR_PAIR(KH_CP_HDR) : A_REVERSE);
	mvhline(y, 0, ' ', COLS);
	mvaddnstr(y, 0, line, COLS);
	attroff(t->colors ? COLOR_PAIR(KH_CP_HDR) : A_REVERSE);
	/* the sort key's title in bold and underlined */
	mvchgat(y, kh_col_pos[t->sort_col], kh_col_pos[t->sort_col + 1] -
		kh_col_pos[t->sort_col] - 1, A_BOLD | A_UNDERLINE,
		t->colors ? KH_CP_HDR : 0, NULL);
	y++;
	first_row = y;
	rows_fit = LINES - 1 - first_row;
	for (int i = sel >= rows_fit ? sel - rows_fit + 1 : 0; i < shown && y < LINES - 1;
	     i++, y++) {
		attr_t a = i == sel ? (t->colors ? COLOR_PAIR(KH_CP_SEL) : A_REVERSE) : A_NORMAL;

		kh_fmt_row(&t->rows[vis[i]], t->dt, line, sizeof(line));
		attron(a);
		if (i == sel)
			mvhline(y, 0, ' ', COLS);
		mvaddnstr(y, 0, line, COLS);
		attroff(a);
	}
	if (!shown && t->samples)
		kh_tui_line(first_row, t->nrows ? "  no VM matches the filter (p or f to change)"
				       : "  no KVM VM is running", A_DIM);
	kh_tui_footer(t, "Up/Down select  Enter details  p pid/name  f regex  o/s sort  "
			 "d delay  r reset  h help  q quit");
}

static const struct kh_subpages *kh_top_subpages(const struct kh_top *t, uint32_t pid,
						 uint64_t gfn)
{
	const struct kh_key *k = t->iv.sd.keys;

	for (size_t i = 0; i < t->iv.sd.n; i++)
		if (k[i].pid == pid && k[i].idx == gfn)
			return (const struct kh_subpages *)t->iv.sd.vals + i;
	return NULL;
}

/* The drill-down's working set: one VM's gfns (of one memslot with m). */
struct kh_detail {
	const struct kh_top_row *r;
	const struct kh_vm *vm;
	struct kh_gfn_stat *g;
	size_t n;
	int nw;			/* most-written rows to show */
	int y;			/* next screen line */
};

static void kh_detail_head(struct kh_top *t, struct kh_detail *d)
{
	const struct kh_top_row *r = d->r;
	double dt = t->dt > 0 ? t->dt : 1;
	char line[512], a[16], b[16], c[16], e[16], m[32];

	snprintf(line, sizeof(line), "VM %u (%s): %u vCPU%s, %s in %zu memslot%s, last %.1f s",
		 r->pid, r->name[0] ? r->name : r->comm, r->nr_vcpus, r->nr_vcpus == 1 ? "" : "s",
		 kh_fmt_bytes(r->mem_bytes, m, sizeof(m)), d->vm->nr_slots,
		 d->vm->nr_slots == 1 ? "" : "s", t->dt);
	kh_tui_line(d->y++, line, A_BOLD);
	snprintf(line, sizeof(line), "accesses %s/s, writes %s/s, working set %" PRIu64
		 " gfns, idle %s, tracked writes %s/s, spp %s/s",
		 kh_fmt_num(r->c.accesses / dt, a, sizeof(a)),
		 kh_fmt_num(r->c.writes / dt, b, sizeof(b)), r->wset,
		 r->aged_gfns ? (snprintf(m, sizeof(m), "%.0f%%", kh_row_idle(r)), m) : "n/a",
		 kh_fmt_num(r->c.tracked / dt, c, sizeof(c)),
		 kh_fmt_num(r->c.spp / dt, e, sizeof(e)));
	kh_tui_line(d->y++, line, A_NORMAL);
	if (r->coarse.regions) {
		char *buf = NULL;
		size_t blen = 0;
		FILE *mf = open_memstream(&buf, &blen);

		if (mf) {
			kh_coarse_print(mf, &r->coarse, r->mem_bytes);
			fclose(mf);
			if (buf)
				buf[strcspn(buf, "\n")] = 0;
			kh_tui_line(d->y++, buf ? buf : "", A_NORMAL);
			free(buf);
		}
	}
}

static void kh_detail_caption(struct kh_top *t, struct kh_detail *d)
{
	char line[256], m[32];

	if (t->slot_sel < 0) {
		snprintf(line, sizeof(line), "ranges in all memslots (m: one memslot at a time)");
	} else {
		const struct kh_slot *sl = &d->vm->slots[t->slot_sel];

		snprintf(line, sizeof(line), "ranges in memslot %u: gpa 0x%" PRIx64 ", %s "
			 "(m: next memslot)", sl->id, sl->base_gfn << KH_PAGE_SHIFT,
			 kh_fmt_bytes(sl->npages << KH_PAGE_SHIFT, m, sizeof(m)));
	}
	kh_tui_line(d->y++, line, A_DIM);
	kh_tui_line(d->y++, "GFN RANGE               SLOT   PAGES   ACCESSES     WRITES  ACC/PAGE  "
		    "HEAT (log2)", A_BOLD | A_UNDERLINE);
}

/* The hottest ranges that fit above the strip and the most-written list. */
static void kh_detail_ranges(struct kh_top *t, struct kh_detail *d, struct kh_range *rg)
{
	/* left: caption and title (2), blank, strip and its caption (3), written list */
	int range_rows = (LINES - 1 - d->y) - 2 - 3 - (d->nw ? d->nw + 1 : 0);
	uint64_t maxpp = 1;
	size_t nr;

	nr = kh_hot_ranges(d->g, d->n, range_rows < 1 ? 1 : range_rows, rg);
	for (size_t i = 0; i < nr; i++)
		if (rg[i].accesses / rg[i].npages > maxpp)
			maxpp = rg[i].accesses / rg[i].npages;
	kh_detail_caption(t, d);
	if (!nr)
		kh_tui_line(d->y++, "  no accesses in the last interval", A_DIM);
	for (size_t i = 0; i < nr && d->y < LINES - 4; i++) {
		char line[512], rs[40], bar[64], slot[8] = "-";
		uint64_t pp = rg[i].accesses / rg[i].npages;
		/* log scale, like the strip: the code page of a guest can be 1000x hotter */
		int len = (int)((kh_log2_slot(pp) + 1) * 20 / (kh_log2_slot(maxpp) + 1));
		int si = kh_vm_slot_of(d->vm, rg[i].gfn_start);

		if (rg[i].npages == 1)
			snprintf(rs, sizeof(rs), "0x%" PRIx64, rg[i].gfn_start);
		else
			snprintf(rs, sizeof(rs), "0x%" PRIx64 "-0x%" PRIx64, rg[i].gfn_start,
				 rg[i].gfn_start + rg[i].npages - 1);
		if (si >= 0)
			snprintf(slot, sizeof(slot), "%u", d->vm->slots[si].id);
		memset(bar, '#', len);
		bar[len] = 0;
		snprintf(line, sizeof(line), "%-23s %4s %7" PRIu64 " %10" PRIu64 " %10" PRIu64
			 " %9" PRIu64 "  %s", rs, slot, rg[i].npages, rg[i].accesses,
			 rg[i].writes, pp, bar);
		kh_tui_line(d->y++, line, A_NORMAL);
	}
}

/* Heat strip over the VM's memory (all memslots, whatever m chose), holes squeezed. */
static void kh_detail_strip(struct kh_top *t, struct kh_detail *d, uint64_t *cols, int width)
{
	uint64_t max = 0;
	char line[256], m[32], a[32];

	d->y++;
	kh_strip(d->vm, t->g, t->ng, cols, width);
	for (int i = 0; i < width; i++)
		if (cols[i] > max)
			max = cols[i];
	mvaddstr(d->y, 0, "heat |");
	for (int i = 0; i < width; i++) {
		int lv = kh_heat_level(cols[i], max, KH_HEAT_LEVELS);

		if (t->colors && lv)
			attron(COLOR_PAIR(KH_CP_HEAT0 + lv - 1));
		addch(kh_heat_chars[lv]);
		if (t->colors && lv)
			attroff(COLOR_PAIR(KH_CP_HEAT0 + lv - 1));
	}
	addch('|');
	d->y++;
	snprintf(line, sizeof(line), "     %s over %d columns, %s each, memslot holes squeezed out",
		 kh_fmt_bytes(d->r->mem_bytes, m, sizeof(m)), width,
		 kh_fmt_bytes(d->r->mem_bytes / width, a, sizeof(a)));
	kh_tui_line(d->y++, line, A_DIM);
}

/* Hottest written pages with their sub-page write masks. */
static void kh_detail_written(struct kh_top *t, struct kh_detail *d)
{
	qsort(d->g, d->n, sizeof(*d->g), kh_gfn_writes_cmp);
	if (!d->nw || d->y >= LINES - 2)
		return;
	kh_tui_line(d->y++, "MOST WRITTEN GFN     WRITES  SUB-PAGES (128 B each, low offsets "
		    "left)  COUNTS", A_BOLD | A_UNDERLINE);
	for (int i = 0; i < d->nw && d->y < LINES - 1; i++) {
		const struct kh_gfn_stat *g = &d->g[i];
		const struct kh_subpages *sp = kh_top_subpages(t, d->r->pid, g->gfn);
		char line[512], mask[KH_SUBPAGES + 1];
		int off;

		kh_mask_str(g->c.subpage_mask, mask);
		off = snprintf(line, sizeof(line), "0x%-16" PRIx64 " %8" PRIu64 "  %s ", g->gfn,
			       (uint64_t)g->c.writes, mask);
		for (int s = 0; sp && s < KH_SUBPAGES && off < (int)sizeof(line) - 16; s++)
			if (sp->cnt[s])
				off += snprintf(line + off, sizeof(line) - off, " %d=%u", s,
						sp->cnt[s]);
		kh_tui_line(d->y++, line, A_NORMAL);
	}
}

static void kh_tui_detail(struct kh_top *t)
{
	struct kh_detail d = {
		.r = kh_row_of(t->rows, t->nrows, t->sel_pid),
		.vm = kh_vms_find(&t->s.vms, t->sel_pid),
		.y = kh_tui_header(t) + 1,
	};
	int width = COLS - 10 > 8 ? COLS - 10 : 8;
	struct kh_range *rg = malloc((t->ng ? t->ng : 1) * sizeof(*rg));
	uint64_t *cols = calloc(width, sizeof(*cols));
	char line[128];

	d.g = malloc((t->ng ? t->ng : 1) * sizeof(*d.g));
	kh_tui_footer(t, "Esc back  m memslot  r reset  d delay  h help  q quit");
	if (!d.r || !d.vm) {
		snprintf(line, sizeof(line), "VM %u has exited (Esc to go back)", t->sel_pid);
		kh_tui_line(d.y, line, A_BOLD);
		goto out;
	}
	kh_detail_head(t, &d);
	if (!d.g || !rg || !cols)
		goto out;
	if (t->slot_sel >= (int)d.vm->nr_slots)
		t->slot_sel = -1;
	for (size_t i = 0; i < t->ng; i++)
		if (t->g[i].pid == d.r->pid &&
		    (t->slot_sel < 0 || kh_vm_slot_of(d.vm, t->g[i].gfn) == t->slot_sel))
			d.g[d.n++] = t->g[i];
	for (size_t i = 0; i < d.n; i++)
		d.nw += d.g[i].c.writes > 0;
	if (d.nw > 6)
		d.nw = 6;
	kh_detail_ranges(t, &d, rg);
	kh_detail_strip(t, &d, cols, width);
	kh_detail_written(t, &d);
out:
	free(d.g);
	free(rg);
	free(cols);
}

static void kh_tui_help(const struct kh_top *t)
{
	static const char *const lines[] = {
		"kvmheat top: keys",
		"",
		"  Up/Down, j/k  select a VM (PgUp/PgDn, Home/End)",
		"  Enter         details of the selected VM: hottest gfn ranges, heat strip,",
		"                sub-page write masks of the most written pages",
		"  m             details: show one memslot's ranges at a time",
		"  Esc           back to the table",
		"  p             filter by pid or name (empty clears)",
		"  f             filter by regular expression on \"PID COMM\" (empty clears)",
		"  o, s          sort by the next column (O, S: reverse the order)",
		"  d             set the refresh delay in seconds",
		"  r             reset: start a new interval, zero the since-reset totals",
		"  h, ?          this help",
		"  q             quit",
		"",
		"Rates are per second over the last interval; WSET is the number of gfns",
		"touched in it; IDLE% is the share of aged gfns with no access (- when no",
		"aging was seen).  Press any key to go back.",
	};
	int y = 0;

	erase();
	for (size_t i = 0; i < sizeof(lines) / sizeof(lines[0]) && y < LINES; i++)
		kh_tui_line(y++, lines[i], i ? A_NORMAL : A_BOLD);
}

static void kh_tui_draw(struct kh_top *t)
{
	erase();
	if (LINES < KH_TOP_MIN_ROWS || COLS < KH_TOP_MIN_COLS) {
		char l1[64], l2[64];

		/* short lines: the terminal may be very narrow */
		snprintf(l1, sizeof(l1), "terminal too small: %dx%d", COLS, LINES);
		snprintf(l2, sizeof(l2), "kvmheat top needs %dx%d", KH_TOP_MIN_COLS,
			 KH_TOP_MIN_ROWS);
		mvaddnstr(LINES > 3 ? LINES / 2 - 1 : 0, 0, l1, COLS);
		mvaddnstr(LINES > 3 ? LINES / 2 : 1, 0, l2, COLS);
		mvaddnstr(LINES > 3 ? LINES / 2 + 1 : 2, 0, "q quits", COLS);
	} else if (t->view == KH_VIEW_HELP) {
		kh_tui_help(t);
	} else if (t->view == KH_VIEW_DETAIL) {
		kh_tui_detail(t);
	} else {
		kh_tui_table(t);
	}
	refresh();
}

/*
 * Read a line on the bottom row; Enter accepts, Esc cancels (returns
 * false).  Refreshes pause meanwhile: the next interval is then longer,
 * and its rates are still per second.
 */
static bool kh_tui_prompt(const char *what, char *buf, size_t len)
{
	size_t n = 0;
	int ch;

	buf[0] = 0;
	timeout(-1);
	curs_set(1);
	for (;;) {
		move(LINES - 1, 0);
		clrtoeol();
		attron(A_BOLD);
		addnstr(what, COLS);
		attroff(A_BOLD);
		addnstr(buf, COLS - (int)strlen(what) > 0 ? COLS - (int)strlen(what) : 0);
		refresh();
		ch = getch();
		if (ch == '\n' || ch == KEY_ENTER || ch == '\r')
			break;
		if (ch == 27 || kh_exiting) {
			curs_set(0);
			return false;
		}
		if ((ch == KEY_BACKSPACE || ch == 127 || ch == 8) && n)
			buf[--n] = 0;
		else if (ch >= 32 && ch < 127 && n + 1 < len) {
			buf[n++] = (char)ch;
			buf[n] = 0;
		}
	}
	curs_set(0);
	return true;
}

static void kh_tui_move(struct kh_top *t, int delta)
{
	int shown = 0, sel = -1;
	size_t vis[t->nrows ? t->nrows : 1];

	for (size_t i = 0; i < t->nrows; i++)
		if (kh_row_visible(t, &t->rows[i]))
			vis[shown++] = i;
	if (!shown)
		return;
	for (int i = 0; i < shown; i++)
		if (t->rows[vis[i]].pid == t->sel_pid)
			sel = i;
	sel = sel < 0 ? 0 : sel + delta;
	if (sel < 0)
		sel = 0;
	if (sel >= shown)
		sel = shown - 1;
	t->sel_pid = t->rows[vis[sel]].pid;
}

/* One key; returns false to quit. */
/* Cursor and sort keys; false if @ch is none of them. */
static bool kh_tui_key_nav(struct kh_top *t, int ch)
{
	switch (ch) {
	case KEY_UP:
	case 'k':
		kh_tui_move(t, -1);
		break;
	case KEY_DOWN:
	case 'j':
		kh_tui_move(t, 1);
		break;
	case KEY_PPAGE:
		kh_tui_move(t, -(LINES / 2));
		break;
	case KEY_NPAGE:
		kh_tui_move(t, LINES / 2);
		break;
	case KEY_HOME:
		kh_tui_move(t, -(int)t->nrows);
		break;
	case KEY_END:
		kh_tui_move(t, (int)t->nrows);
		break;
	case 'o':
	case 's':
		t->sort_col = (t->sort_col + 1) % KH_TOP_NR_COLS;
		kh_top_sort(t->rows, t->nrows, t->sort_col, t->sort_rev);
		break;
	case 'O':
	case 'S':
		t->sort_rev = !t->sort_rev;
		kh_top_sort(t->rows, t->nrows, t->sort_col, t->sort_rev);
		break;
	default:
		return false;
	}
	return true;
}

/* f: a regex on "PID COMM"; empty clears it. */
static void kh_tui_filter(struct kh_top *t)
{
	char buf[128];

	if (!kh_tui_prompt("regex on \"PID COMM NAME\" (empty: none): ", buf, sizeof(buf)))
		return;
	if (t->re_set)
		regfree(&t->re);
	t->re_set = false;
	t->re_str[0] = 0;
	if (!buf[0])
		return;
	if (regcomp(&t->re, buf, REG_EXTENDED | REG_NOSUB | REG_ICASE)) {
		snprintf(t->msg, sizeof(t->msg), "bad regular expression '%s'", buf);
		return;
	}
	t->re_set = true;
	snprintf(t->re_str, sizeof(t->re_str), "%s", buf);
}

/* d: a new interval length. */
static void kh_tui_delay(struct kh_top *t)
{
	char buf[128];
	double d;

	snprintf(t->msg, sizeof(t->msg), "delay (s, now %.1f): ", t->delay);
	if (!kh_tui_prompt(t->msg, buf, sizeof(buf))) {
		t->msg[0] = 0;
		return;
	}
	t->msg[0] = 0;
	if (kh_parse_seconds(buf, &d) || d < 0.1 || d > 3600)
		snprintf(t->msg, sizeof(t->msg), "bad delay '%.32s' (0.1 to 3600 seconds)", buf);
	else
		t->delay = d;
}

/* m: all memslots, then each memslot of address space 0, then all again. */
static void kh_tui_next_slot(struct kh_top *t)
{
	struct kh_vm *vm = kh_vms_find(&t->s.vms, t->sel_pid);

	do {
		t->slot_sel++;
	} while (vm && t->slot_sel < (int)vm->nr_slots && vm->slots[t->slot_sel].as_id != 0);
	if (!vm || t->slot_sel >= (int)vm->nr_slots)
		t->slot_sel = -1;
}

static bool kh_tui_key(struct kh_top *t, int ch)
{
	char buf[128];

	t->msg[0] = 0;
	if (t->view == KH_VIEW_HELP) {
		t->view = t->help_from;
		return true;
	}
	if (kh_tui_key_nav(t, ch))
		return true;
	switch (ch) {
	case 'q':
	case 'Q':
		return false;
	case 'h':
	case '?':
		t->help_from = t->view;
		t->view = KH_VIEW_HELP;
		break;
	case 27:
		t->view = KH_VIEW_TABLE;
		break;
	case '\n':
	case '\r':
	case KEY_ENTER:
		if (t->view == KH_VIEW_TABLE && kh_row_of(t->rows, t->nrows, t->sel_pid)) {
			t->view = KH_VIEW_DETAIL;
			t->slot_sel = -1;
		}
		break;
	case 'm':
		if (t->view == KH_VIEW_DETAIL)
			kh_tui_next_slot(t);
		break;
	case 'p':
		if (kh_tui_prompt("pid or name (empty: all): ", buf, sizeof(buf)))
			snprintf(t->pid_filter, sizeof(t->pid_filter), "%s", buf);
		break;
	case 'f':
		kh_tui_filter(t);
		break;
	case 'd':
		kh_tui_delay(t);
		break;
	case 'r':
		t->resets++;
		snprintf(t->msg, sizeof(t->msg), kh_top_reset(t) ? "reset: reading maps failed" :
			 "counters reset");
		break;
	}
	return true;
}

static int kh_top_tui(struct kh_top *t)
{
	double next = t->t_last + t->delay;
	int rc = KH_EXIT_OK;

	setlocale(LC_ALL, "");
	if (!initscr())
		return kh_err(t->o, KH_EXIT_ERROR, "top: cannot initialise the terminal");
	cbreak();
	noecho();
	nonl();
	keypad(stdscr, TRUE);
	curs_set(0);
	set_escdelay(25);
	kh_tui_init_colors(t);
	kh_tui_draw(t);
	while (!kh_exiting) {
		double left = next - kh_now();
		int ch;

		timeout(left > 0 ? (int)(left * 1000) + 1 : 0);
		ch = getch();
		if (kh_exiting)
			break;
		if (ch != ERR && !kh_tui_key(t, ch))
			break;
		if (kh_now() >= next) {
			if (kh_top_sample(t)) {
				rc = KH_EXIT_ERROR;
				break;
			}
			next = kh_now() + t->delay;
			if (t->iters && t->samples >= t->iters) {
				kh_tui_draw(t);
				break;
			}
		} else if (ch == 'r' || ch == 'd') {
			next = t->t_last + t->delay;
		}
		kh_tui_draw(t);
	}
	endwin();
	if (rc)
		return kh_err(t->o, rc, "top: reading BPF maps failed");
	return rc;
}

static int kh_top_batch(struct kh_top *t)
{
	fprintf(stderr, "kvmheat: top: watching %s every %.1f s\n",
		t->pid ? "one VM" : "all VMs", t->delay);
	while (!kh_exiting && (!t->iters || t->samples < t->iters)) {
		char eb[128];
		int err;

		kh_sleep_until(t->t_last + t->delay, 0.1);
		if (kh_exiting)
			break;
		err = kh_top_sample(t);
		if (err)
			return kh_err(t->o, KH_EXIT_ERROR, "top: reading BPF maps: %s",
				      kh_errstr(err, eb, sizeof(eb)));
		if (kh_top_print_batch(t))
			break;
	}
	return KH_EXIT_OK;
}

static const char kh_top_help[] =
	"Usage: kvmheat top [-b] [-n ITERATIONS] [-d SECONDS] [-p PID] [-j]\n"
	"                   [-e SOURCES] [-m SOURCE=METHOD]\n"
	"                   [--age-driver auto|page_idle|mglru|damon|none] [--scan-interval S]\n"
	"                   [--ws-scans N]\n"
	"Live per-VM view: accesses, writes, working set, idle share and page-track\n"
	"and SPP rates per interval; Enter on a VM shows its hottest gfn ranges, a heat\n"
	"strip over its memory and sub-page write masks.  h inside shows the keys.\n"
	"  -b, --batch          plain text (or JSON with -j) per interval, no terminal UI\n"
	"  -n, --iterations N   stop after N intervals\n"
	"  -d, --delay S        interval length (default 1)\n"
	"  -p, --pid PID        only this VM (pid, name or uuid; filtered in BPF)\n"
	"  -e, --sources LIST   aging,track,spp,walk (default all; --events LIST too)\n"
	"  -m, --method S=M     force source S to attach method M\n"
	"  -j, --json           one JSON object per line per interval (implies -b)\n"
	"      --age-driver D   make the kernel age each VM's memory (auto: the best one\n"
	"                       kvmheat probe lists); IDLE%% then comes from idle ages.\n"
	"                       Default none: only aging something else does.  auto with\n"
	"                       no usable driver warns and carries on passively\n"
	"      --scan-interval S  seconds between scans (default: every interval)\n"
	"      --ws-scans N     the working set of the idle view: pages young within the\n"
	"                       last N scans (default 1)\n"
	"\n"
	"Examples:\n"
	"  kvmheat top\n"
	"  kvmheat top -b -j -n 8 --age-driver auto --scan-interval 5\n"
	"  kvmheat top -b -n 5 -d 2\n";

/* What `top` was asked: kh_top_parse() fills it, kh_top_run() takes it. */
struct kh_top_args {
	bool batch;
	uint64_t iters;			/* 0: until q / Ctrl-C */
	double delay;
	uint32_t pid;
	struct kh_session_opts so;
	struct kh_scan scan;		/* want and interval only */
};

/* Options into @a; a return >= 0 is the exit code (help, bad usage). */
static int kh_top_parse(int argc, char **argv, struct kh_opts *o, struct kh_top_args *a)
{
	static const struct option longopts[] = {
		{ "batch", no_argument, NULL, 'b' },
		{ "iterations", required_argument, NULL, 'n' },
		{ "delay", required_argument, NULL, 'd' },
		{ "pid", required_argument, NULL, 'p' },
		KH_LONGOPT_SOURCES, KH_LONGOPT_EVENTS_ALIAS,
		{ "method", required_argument, NULL, 'm' },
		KH_LONGOPTS_AGING, KH_LONGOPT_WS_SCANS,
		KH_LONGOPTS_END,
	};
	/* -d is the interval here, not a duration: top parses it */
	struct kh_cmdline cl = {
		.cmd = "top", .o = o, .help = kh_top_help, .shortopts = "bn:d:p:e:m:jvh",
		.longopts = longopts, .pid = &a->pid, .sources = &a->so.sources,
		.force = a->so.force, .scan = &a->scan,
		.ws_scans = &a->scan.ws_scans,
	};
	uint64_t v;
	int opt;

	while ((opt = kh_getopt(&cl, argc, argv)) > 0) {
		switch (opt) {
		case 'b':
			a->batch = true;
			break;
		case 'n':
			if (kh_parse_u64(optarg, &v) || !v)
				return kh_err(o, KH_EXIT_USAGE, "top: bad iteration count '%s'",
					      optarg);
			a->iters = v;
			break;
		case 'd':
			if (kh_parse_seconds(optarg, &a->delay) || a->delay < 0.1 ||
			    a->delay > 3600)
				return kh_err(o, KH_EXIT_USAGE, "top: bad delay '%s' (0.1 to 3600 "
					      "seconds)", optarg);
			break;
		}
	}
	if (opt == KH_OPT_STOP)
		return cl.rc;
	if (o->json)
		a->batch = true;
	if (!a->batch && (!isatty(STDIN_FILENO) || !isatty(STDOUT_FILENO)))
		return kh_err(o, KH_EXIT_USAGE, "top: the live view needs a terminal; use -b for "
			      "batch output");
	a->so.pid = a->pid;
	return -1;
}

static void kh_top_note(void *ctx, const char *msg)
{
	struct kh_top *t = ctx;

	snprintf(t->msg, sizeof(t->msg), "%s", msg);
}

/* Open and attach, then start the first interval empty. */
static int kh_top_start(struct kh_top *t)
{
	struct utsname un;
	char eb[128];
	int err;

	if (uname(&un)) {
		snprintf(t->host, sizeof(t->host), "?");
		snprintf(t->kernel, sizeof(t->kernel), "?");
	} else {
		snprintf(t->host, sizeof(t->host), "%s", un.nodename);
		snprintf(t->kernel, sizeof(t->kernel), "%s", un.release);
	}
	/* with a driver, aging results go to each VM's idle bits (scan.h) */
	t->so.idle_bits = kh_scan_on(&t->scan);
	err = kh_cli_start(&t->s, &t->so, t->o);
	if (err)
		return err;
	kh_cli_scan_bits(&t->scan, &t->s, "top", t->o);
	for (int src = 0; src < KH_SRC_MAX; src++)
		kh_source_desc(&t->s.probe, src, t->src_desc[src], sizeof(t->src_desc[src]));
	if (!t->batch) {	/* stderr is under the screen: notes go to the message line */
		t->scan.note = kh_top_note;
		t->scan.note_ctx = t;
	}
	err = kh_cli_scan_start(&t->scan, &t->s.vms, "top", t->o);
	if (err)
		return err;
	kh_install_signals();
	/* a closed pipe must not kill us mid-print: fflush reports it instead */
	signal(SIGPIPE, SIG_IGN);
	/* the first interval starts now: empty the maps of what attaching saw */
	err = kh_top_reset(t);
	t->samples = 0;
	if (err)
		return kh_err(t->o, KH_EXIT_ERROR, "top: reading BPF maps: %s",
			      kh_errstr(err, eb, sizeof(eb)));
	return KH_EXIT_OK;
}

static int kh_top_run(const struct kh_top_args *a, struct kh_opts *o)
{
	struct kh_top *t = calloc(1, sizeof(*t));
	int err;

	if (!t)
		return kh_err(o, KH_EXIT_ERROR, "out of memory");
	t->o = o;
	t->sort_col = KH_TOP_ACC;
	t->batch = a->batch;
	t->iters = a->iters;
	t->delay = a->delay;
	t->pid = a->pid;
	t->so = a->so;
	t->scan = a->scan;
	t->scan.pid = a->pid;
	err = kh_top_start(t);
	if (!err)
		err = t->batch ? kh_top_batch(t) : kh_top_tui(t);
	kh_scan_free(&t->scan);	/* kernel state (a kdamond) first */
	kh_session_close(&t->s);
	if (t->re_set)
		regfree(&t->re);
	kh_interval_free(&t->iv);
	free(t->g);
	free(t->rows);
	free(t);
	return err;
}

int kh_cmd_top(int argc, char **argv, struct kh_opts *o)
{
	struct kh_top_args a = { .delay = 1, .so = { .sources = KH_ALL_SOURCES },
				 .scan = { .want = KH_SCAN_NONE } };
	int rc = kh_top_parse(argc, argv, o, &a);

	return rc >= 0 ? rc : kh_top_run(&a, o);
}
