// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * `kvmheat report --format html`: one self-contained page, openable
 * offline: no external script, style sheet, font or image, every picture
 * an inline SVG (the heatmap keeps its hover details).  A few lines of
 * inline script sort the tables by a column; without script the page
 * reads the same, in the report's own order.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include "canvas.h"
#include "chart.h"
#include "hmap.h"
#include "report.h"

#define KH_HTML_ROWS	160	/* heatmap rows and at most this many columns */
#define KH_HTML_COLS	240

static const char kh_html_style[] =
	"body{font:14px/1.4 'DejaVu Sans',sans-serif;margin:1.5em;color:#222;background:#fff}"
	"h1{font-size:1.5em}h2{border-bottom:1px solid #ccc;margin-top:1.6em}"
	"table{border-collapse:collapse;margin:.5em 0}"
	"td,th{border:1px solid #ccc;padding:2px 8px;text-align:right}"
	"th{background:#f2f2f2}th.s{cursor:pointer}td.l,th.l{text-align:left}"
	"code,.m{font-family:'DejaVu Sans Mono',monospace}"
	".why{color:#a33}.note{color:#555}svg{display:block;margin:.5em 0}";

/* Click a header to sort by it; numbers by their data-v value. */
static const char kh_html_script[] =
	"document.querySelectorAll('table.sortable th').forEach(function(th,i){\n"
	" th.className+=' s';th.title='click to sort';\n"
	" th.addEventListener('click',function(){\n"
	"  var tb=th.closest('table').tBodies[0],rows=Array.prototype.slice.call(tb.rows);\n"
	"  var up=th.dataset.dir=th.dataset.dir==='up'?'down':'up';\n"
	"  rows.sort(function(a,b){\n"
	"   var x=a.cells[i].dataset.v||a.cells[i].textContent,"
	"y=b.cells[i].dataset.v||b.cells[i].textContent;\n"
	"   var c=isNaN(x)||isNaN(y)?x.localeCompare(y):x-y;return up==='up'?c:-c;});\n"
	"  rows.forEach(function(r){tb.appendChild(r);});});});\n";

static void kh_h(FILE *f, const char *s)
{
	kh_xml_text(f, s ? s : "?");
}

static void kh_html_kv(FILE *f, const char *k, const char *v)
{
	fprintf(f, "<tr><th class=\"l\">%s</th><td class=\"l\">", k);
	kh_h(f, v);
	fputs("</td></tr>\n", f);
}

/* Host, kernel, command line, time span: the recording's header. */
static void kh_html_head(struct kh_report *rp, FILE *f)
{
	const struct kh_recording *r = &rp->rec;
	json_t *h = r->header, *v;
	char b[256], *cl = NULL;
	size_t len = 0, i;
	FILE *m = open_memstream(&cl, &len);

	fputs("<h1>kvmheat report: ", f);
	kh_h(f, rp->a->in);
	fputs("</h1>\n<table>\n", f);
	kh_html_kv(f, "host", json_string_value(json_object_get(h, "host")));
	kh_html_kv(f, "kernel", json_string_value(json_object_get(h, "kernel")));
	kh_html_kv(f, "kvmheat", json_string_value(json_object_get(h, "kvmheat_version")));
	if (m) {
		json_array_foreach(json_object_get(h, "cmdline"), i, v)
			fprintf(m, "%s%s", i ? " " : "", json_string_value(v) ?: "?");
		fclose(m);
	}
	kh_html_kv(f, "command line", cl && *cl ? cl : "(not recorded)");
	free(cl);
	kh_html_kv(f, "started", json_string_value(json_object_get(h, "start_time")));
	snprintf(b, sizeof(b), "%.2f s: %zu epochs of %lld ms, %zu events%s", kh_rd_duration(r),
		 r->nr_epochs, (long long)json_integer_value(json_object_get(h, "interval_ms")),
		 r->nr_events, r->has_footer ? "" : " (did not finish cleanly; see the notes)");
	kh_html_kv(f, "span", b);
	snprintf(b, sizeof(b), "%u.%u", r->major, r->minor);
	kh_html_kv(f, "format", b);
	fputs("</table>\n", f);
}

static void kh_html_sources(const struct kh_recording *r, FILE *f)
{
	static const int cols[] = { KH_STAT_EVENTS, KH_STAT_COUNTED, KH_STAT_EMITTED,
				    KH_STAT_LOST, KH_STAT_MAP_FULL, KH_STAT_WALK_LOST,
				    KH_STAT_NO_VM };

	fputs("<h2>Sources and attach methods</h2>\n<table class=\"sortable\"><thead><tr>"
	      "<th class=\"l\">source</th><th class=\"l\">attach</th>", f);
	for (size_t k = 0; k < sizeof(cols) / sizeof(cols[0]); k++)
		fprintf(f, "<th>%s</th>", kh_stat_name(cols[k]));
	fputs("</tr></thead><tbody>\n", f);
	for (int src = 0; src < KH_SRC_MAX; src++) {
		const struct kh_rd_source *rs = &r->sources[src];

		if (!rs->present)
			continue;
		fprintf(f, "<tr><td class=\"l\">%s</td><td class=\"l m\">", kh_source_name(src));
		kh_h(f, !(rs->flags & KH_DFS_REQUESTED) ? "(not requested)" :
		     !(rs->flags & KH_DFS_AVAILABLE) ? "unavailable on this kernel" : rs->desc);
		fputs("</td>", f);
		for (size_t k = 0; k < sizeof(cols) / sizeof(cols[0]); k++) {
			uint64_t v = r->stats[src * KH_STAT_MAX + cols[k]];

			fprintf(f, "<td data-v=\"%" PRIu64 "\">%" PRIu64 "</td>", v, v);
		}
		fputs("</tr>\n", f);
	}
	fputs("</tbody></table>\n", f);
}

static void kh_html_losses(const struct kh_recording *r, FILE *f)
{
	bool any = false;

	fputs("<h2>Losses</h2>\n", f);
	for (size_t i = 0; i < r->nr_lost; i++) {
		const struct kh_rd_lost *l = &r->lost[i];

		if (!any)
			fputs("<table><thead><tr><th>time (s)</th><th class=\"l\">source</th>"
			      "<th class=\"l\">what</th><th>lost</th><th>total</th></tr></thead>"
			      "<tbody>\n", f);
		any = true;
		fprintf(f, "<tr><td>%.2f</td><td class=\"l\">%s</td><td class=\"l\">%s</td>"
			"<td>%" PRIu64 "</td><td>%" PRIu64 "</td></tr>\n", kh_rd_secs(r, l->t_ns),
			l->source < KH_SRC_MAX ? kh_source_name(l->source) : "?",
			kh_stat_name(l->stat), l->lost, l->total);
	}
	fputs(any ? "</tbody></table>\n" : "<p>No lost events recorded.</p>\n", f);
	for (size_t i = 0; i < r->nr_notes; i++) {
		fputs("<p class=\"note\">note: ", f);
		kh_h(f, r->notes[i]);
		fputs("</p>\n", f);
	}
}

static void kh_html_totals(struct kh_report *rp, const struct kh_vm_view *v, FILE *f)
{
	const struct kh_rd_vm *vm = v->vm;
	char b1[32], b2[32];

	fprintf(f, "<section id=\"vm-%u\">\n<h2>VM %u (", v->pid, v->pid);
	kh_h(f, vm ? vm->comm : "?");
	fprintf(f, ")</h2>\n<p>%u vCPU%s, %s in %zu memslot%s", vm ? vm->nr_vcpus : 0,
		vm && vm->nr_vcpus == 1 ? "" : "s",
		kh_fmt_bytes(v->mem_pages << KH_PAGE_SHIFT, b1, sizeof(b1)),
		vm ? vm->nr_slots : 0, vm && vm->nr_slots == 1 ? "" : "s");
	if (vm && !(vm->flags & KH_DFV_INITIAL) && vm->t_appear)
		fprintf(f, ", appeared at %.2f s", kh_rd_secs(&rp->rec, vm->t_appear));
	if (vm && vm->t_exit)
		fprintf(f, ", exited at %.2f s", kh_rd_secs(&rp->rec, vm->t_exit));
	if (!vm || (vm->flags & KH_DFV_UNDISCOVERED))
		fputs(" (exited before discovery: memslots unknown)", f);
	fprintf(f, ".</p>\n<table class=\"totals\"><thead><tr><th>accesses</th><th>writes</th>"
		"<th>faults</th><th>aged</th><th>young</th><th>tracked writes</th><th>spp</th>"
		"<th>gfns touched</th><th>idle fraction</th></tr></thead><tbody><tr>"
		"<td>%llu</td><td>%llu</td><td>%llu</td><td>%llu</td><td>%llu</td><td>%llu</td>"
		"<td>%llu</td><td>%" PRIu64 " (%s)</td>", v->t.accesses, v->t.writes, v->t.faults,
		v->t.aged, v->t.young, v->t.tracked, v->t.spp, v->touched,
		kh_fmt_bytes(v->touched << KH_PAGE_SHIFT, b2, sizeof(b2)));
	if (v->aged_gfns)
		fprintf(f, "<td>%.3f</td>", (double)v->idle_gfns / v->aged_gfns);
	else
		fputs("<td>n/a (no aging data)</td>", f);
	fputs("</tr></tbody></table>\n", f);
}

static void kh_html_ranges(const struct kh_vm_view *v, FILE *f)
{
	char mask[KH_SUBPAGES + 1];

	fputs("<h3>Hottest gfn ranges</h3>\n<table class=\"sortable ranges\"><thead><tr>"
	      "<th class=\"l\">gfn range</th><th>pages</th><th>accesses</th><th>writes</th>"
	      "<th>accesses/page</th><th class=\"l\">sub-page writes (128 B each)</th></tr>"
	      "</thead><tbody>\n", f);
	for (size_t i = 0; i < v->nr; i++) {
		const struct kh_range *r = &v->rg[i];

		kh_mask_str(r->subpage_mask, mask);
		fprintf(f, "<tr class=\"range\"><td class=\"l m\" data-v=\"%" PRIu64 "\">0x%" PRIx64,
			r->gfn_start, r->gfn_start);
		if (r->npages > 1)
			fprintf(f, "-0x%" PRIx64, r->gfn_start + r->npages - 1);
		fprintf(f, "</td><td>%" PRIu64 "</td><td>%" PRIu64 "</td><td>%" PRIu64 "</td>"
			"<td>%" PRIu64 "</td><td class=\"l m\">%s</td></tr>\n", r->npages,
			r->accesses, r->writes, r->accesses / r->npages, r->writes ? mask : "-");
	}
	if (!v->nr)
		fputs("<tr><td class=\"l\" colspan=\"6\">no accesses in the selection</td></tr>\n", f);
	fputs("</tbody></table>\n", f);
}

static void kh_html_why(FILE *f, const char *what, const char *why)
{
	fprintf(f, "<p class=\"why\">%s: ", what);
	kh_h(f, why);
	fputs("</p>\n", f);
}

/* The heatmap, inline SVG with its hover details, or why there is none. */
static void kh_html_heatmap(struct kh_report *rp, const struct kh_vm_view *v, FILE *f)
{
	struct kh_hmap h = { .pid = v->pid };
	char why[128];
	int err;

	fputs("<h3>Heatmap</h3>\n", f);
	err = kh_hm_build(&h, &rp->rec, &rp->a->f, KH_HTML_ROWS, KH_HTML_COLS);
	if (err == -ENODATA)
		kh_html_why(f, "no heatmap", "no accesses in the selected part of the recording");
	else if (err)
		kh_html_why(f, "no heatmap", kh_errstr(err, why, sizeof(why)));
	else
		kh_hm_svg(&h, v->vm, f, true);
	kh_hm_free(&h);
}

/* Idle ages by time and address, where the recording has them (--age-driver). */
static void kh_html_idlemap(struct kh_report *rp, const struct kh_vm_view *v, FILE *f)
{
	struct kh_hmap h = { .pid = v->pid };

	if (!kh_rd_idle_last(&rp->rec, &rp->a->f, v->pid))
		return;	/* the cold-memory chart says why there are no ages */
	fputs("<h3>Idle ages</h3>\n", f);
	if (!kh_hm_build_idle(&h, &rp->rec, &rp->a->f, KH_HTML_ROWS, KH_HTML_COLS))
		kh_hm_svg(&h, v->vm, f, true);
	else
		kh_html_why(f, "no idle map", "no idle ages in the selected gfns");
	kh_hm_free(&h);
}

static void kh_html_chart(struct kh_report *rp, const struct kh_vm_view *v,
			  enum kh_chart_kind kind, const char *name, FILE *f)
{
	struct kh_rd_filter one = rp->a->f;
	struct kh_chart c;
	char why[256];
	int err;

	one.pid = v->pid;
	fprintf(f, "<h3>%s</h3>\n", name);
	err = kh_chart_build(&c, &rp->rec, &one, kind, why, sizeof(why));
	if (err && err != -ENODATA)
		kh_errstr(err, why, sizeof(why));
	if (err)
		kh_html_why(f, "no chart", why);
	else
		kh_chart_svg(&c, f, true);
	kh_chart_free(&c);
}

/* Most-written pages: one glyph per 128-byte sub-page, then the counts. */
static void kh_html_written(struct kh_report *rp, const struct kh_vm_view *v, FILE *f)
{
	struct kh_gfn_stat *w;
	size_t nw = kh_most_written(v, rp->a->top, &w);

	fputs("<h3>Most-written pages</h3>\n<p class=\"note\">Sub-pages 0..31, low offsets left: "
	      "'.' none, digit d: 2^(d-1)..2^d-1 writes, '+' more; '#' written (counts evicted, "
	      "mask only).</p>\n<table class=\"sortable\"><thead><tr><th class=\"l\">gfn</th>"
	      "<th>writes</th><th class=\"l\">sub-pages 0..31</th><th class=\"l\">sub-page=count"
	      "</th></tr></thead><tbody>\n", f);
	for (size_t i = 0; i < nw; i++) {
		char row[KH_SUBPAGES + 1];

		kh_gfn_subpage_row(&w[i], row);
		fprintf(f, "<tr><td class=\"l m\" data-v=\"%" PRIu64 "\">0x%" PRIx64 "</td>"
			"<td>%llu</td><td class=\"l m\">%s</td><td class=\"l m\">", w[i].gfn,
			w[i].gfn, w[i].c.writes, row);
		for (int k = 0; k < KH_SUBPAGES && w[i].has_subpages; k++)
			if (w[i].sp.cnt[k])
				fprintf(f, "%d=%u ", k, w[i].sp.cnt[k]);
		fputs(w[i].has_subpages ? "</td></tr>\n" : "(mask only)</td></tr>\n", f);
	}
	if (!nw)
		fputs("<tr><td class=\"l\" colspan=\"4\">no writes in the selection</td></tr>\n", f);
	fputs("</tbody></table>\n</section>\n", f);
	free(w);
}

int kh_report_html(struct kh_report *rp, const uint32_t *pids, size_t np, FILE *f)
{
	fputs("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n"
	      "<meta name=\"viewport\" content=\"width=device-width\">\n<title>kvmheat report: ", f);
	kh_h(f, rp->a->in);
	fprintf(f, "</title>\n<style>%s</style>\n</head><body>\n", kh_html_style);
	kh_html_head(rp, f);
	kh_html_sources(&rp->rec, f);
	kh_html_losses(&rp->rec, f);
	if (!np)
		fputs("<p class=\"why\">No VM in the selected part of the recording.</p>\n", f);
	for (size_t i = 0; i < np; i++) {
		struct kh_vm_view vv;

		kh_view_init(rp, pids[i], &vv);
		kh_html_totals(rp, &vv, f);
		kh_html_ranges(&vv, f);
		kh_html_heatmap(rp, &vv, f);
		kh_html_chart(rp, &vv, KH_CHART_WSS, "Working set", f);
		kh_html_idlemap(rp, &vv, f);
		kh_html_chart(rp, &vv, KH_CHART_COLD, "Cold memory", f);
		kh_html_written(rp, &vv, f);
		free(vv.rg);
	}
	fprintf(f, "<script>\n%s</script>\n</body></html>\n", kh_html_script);
	return ferror(f) ? -EIO : 0;
}
