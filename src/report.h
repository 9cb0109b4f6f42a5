/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * The writers of `kvmheat report` (src/report.c: text, JSON, CSV and the
 * subset export; src/report_html.c: the one-file HTML page), a view of a
 * recording above the reader and the heatmap geometry.  The command line
 * is src/cmd_report.c.
 */
#ifndef KH_REPORT_H
#define KH_REPORT_H

#include "hmap.h"
#include "chart.h"
#include "scan.h"

enum kh_sort { KH_SORT_ACCESSES, KH_SORT_WRITES, KH_SORT_GFN };
enum kh_fmt { KH_FMT_TEXT, KH_FMT_JSON, KH_FMT_CSV, KH_FMT_HTML };

/* What to show: the parsed command line. */
struct kh_report_args {
	const char *in;
	const char *out;		/* subset export (HTML: the page) */
	enum kh_sort sort;
	enum kh_fmt fmt;
	size_t top;
	bool subpages;
	bool events;
	size_t max_trace;
	struct kh_rd_filter f;
	const char *pid_name;		/* -p NAME: matched against the recording */
	unsigned int ws_scans;		/* --ws-scans: working set of the idle view */
};

/* A recording read for reporting, with its per (pid, gfn) totals. */
struct kh_report {
	const struct kh_report_args *a;
	const struct kh_opts *o;
	struct kh_recording rec;
	struct kh_gfn_stat *g;		/* totals, sorted by pid and gfn */
	size_t n;
};

/* One VM of the report: totals, hottest ranges. */
struct kh_vm_view {
	uint32_t pid;
	const struct kh_rd_vm *vm;	/* NULL: counts only */
	struct kh_gfn_stat *g;		/* this VM's totals (a slice of rp->g) */
	size_t n;
	struct kh_counts t;
	uint64_t touched, aged_gfns, idle_gfns, mem_pages;
	struct kh_range *rg;
	size_t nr;
};

/* Totals of the selection, then the VMs to show (recorded ones, plus pids with counts only). */
int kh_report_load(struct kh_report *rp, uint32_t **pids, size_t *np);
void kh_report_free(struct kh_report *rp);
void kh_view_init(struct kh_report *rp, uint32_t pid, struct kh_vm_view *v);
void kh_epoch_ws(const struct kh_report *rp, size_t e, uint32_t pid, uint64_t *gfns,
		 uint64_t *acc, uint64_t *wr);
size_t kh_most_written(const struct kh_vm_view *v, size_t top, struct kh_gfn_stat **out);
void kh_subpage_row(const uint32_t cnt[KH_SUBPAGES], char out[KH_SUBPAGES + 1]);
void kh_gfn_subpage_row(const struct kh_gfn_stat *g, char out[KH_SUBPAGES + 1]);
double kh_rd_duration(const struct kh_recording *r);
/*
 * The idle ages of @pid at its last recorded scan in the selection (gfn
 * range clipped): false when the recording has none (no --age-driver).
 */
bool kh_report_idle(const struct kh_report *rp, uint32_t pid, struct kh_idle_sum *s,
		    const struct kh_rd_idle **scan);

void kh_report_text(struct kh_report *rp, const uint32_t *pids, size_t np);
void kh_report_json(struct kh_report *rp, const uint32_t *pids, size_t np);
void kh_report_csv(struct kh_report *rp);
/* The one-file HTML page (src/report_html.c). */
int kh_report_html(struct kh_report *rp, const uint32_t *pids, size_t np, FILE *f);
/* A new recording of the selected part, to rp->a->out. */
int kh_report_export(struct kh_report *rp, uint64_t *ngfn, uint64_t *nev);

#endif /* KH_REPORT_H */
