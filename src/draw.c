// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * Drawing a heatmap (src/hmap.c builds it).  One layout, kh_hm_draw(),
 * draws onto a canvas (src/canvas.c): kvmheat's SVG writer, with hover
 * details per cell, or cairo for PNG.  Both get the title (VM, metric,
 * time span), the address axis with ticks, the time axis with ticks,
 * memslot-hole markers and the colour legend (log scale, the count at
 * each end).  The terminal drawing is ANSI colour blocks or, on a pipe,
 * a character ramp; both end with a one-line scale.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "canvas.h"
#include "hmap.h"

static const uint8_t kh_ink[3] = { 34, 34, 34 };
static const uint8_t kh_mark[3] = { 0, 136, 170 };
static const uint8_t kh_white[3] = { 255, 255, 255 };

/* Margins around the plot area (px); the legend sits in the right one. */
#define KH_M_LEFT	104
#define KH_M_TOP	44
#define KH_M_RIGHT	136
#define KH_M_BOTTOM	48
#define KH_GUTTER	6
/* The plot is at least this big, so the axis names and the legend fit beside it. */
#define KH_MIN_PW	320
#define KH_MIN_PH	220

/* Where everything goes; the PNG's tEXt geometry says the same. */
struct kh_hm_layout {
	unsigned int cw, rh;		/* cell size */
	unsigned int x0, y0, pw, ph;	/* plot area */
	unsigned int w, h;		/* image */
	unsigned int lx, ly, lw, lh;	/* legend bar */
	char title[160];
};

/* Text width estimate (DejaVu Sans averages ~0.6 em), for sizing only. */
static unsigned int kh_text_w(const char *s, double size)
{
	return (unsigned int)(strlen(s) * size * 0.6 + 1);
}

static void kh_hm_layout(const struct kh_hmap *h, const struct kh_rd_vm *vm,
			 struct kh_hm_layout *l)
{
	unsigned int cmax = (KH_MIN_PW + h->cols - 1) / h->cols;
	unsigned int rmax = (KH_MIN_PH + h->rows - 1) / h->rows;

	/* cells of 2..24 x 2..16 px, bigger when there are few of them */
	cmax = cmax > 24 ? cmax : 24;
	rmax = rmax > 16 ? rmax : 16;
	l->cw = 960 / h->cols;
	l->cw = l->cw < 2 ? 2 : l->cw > cmax ? cmax : l->cw;
	l->rh = 512 / h->rows;
	l->rh = l->rh < 2 ? 2 : l->rh > rmax ? rmax : l->rh;
	l->x0 = KH_M_LEFT;
	l->y0 = KH_M_TOP;
	l->pw = h->cols * l->cw;
	l->ph = h->rows * l->rh;
	snprintf(l->title, sizeof(l->title), "VM %u (%s): %s per %s, %.2f-%.2f s", h->pid,
		 vm ? vm->comm : "?", kh_hm_metric_name(h),
		 h->cols < h->nep ? "column of epochs" : "epoch", h->ct0[0], h->ct1[h->cols - 1]);
	l->lw = 14;
	l->lh = l->ph;
	l->lx = l->x0 + l->pw + 24;
	l->ly = l->y0;
	l->w = l->x0 + l->pw + KH_M_RIGHT;
	if (l->w < 16 + kh_text_w(l->title, 13))
		l->w = 16 + kh_text_w(l->title, 13);
	l->h = l->y0 + l->ph + KH_M_BOTTOM;
}

static void kh_hm_cells(struct kh_canvas *cv, const struct kh_hmap *h,
			const struct kh_hm_layout *l, bool tips)
{
	char tip[192], b1[32], b2[32];

	kh_cv_rect(cv, l->x0, l->y0, l->pw, l->ph, kh_bg, NULL);
	for (size_t r = 0; r < h->rows; r++) {
		uint64_t g0 = kh_hm_gfn(h, kh_hm_row_first(h, r));
		uint64_t g1 = kh_hm_gfn(h, kh_hm_row_first(h, r + 1) - 1);

		for (size_t c = 0; c < h->cols; c++) {
			uint64_t v = h->cell[r * h->cols + c];
			uint8_t rgb[3];

			if (!v)
				continue;
			kh_hm_rgb(h, v, rgb);
			if (tips)
				snprintf(tip, sizeof(tip), "gfn 0x%" PRIx64 "-0x%" PRIx64
					 " (gpa %s-%s), %.2f-%.2f s, %s %" PRIu64, g0, g1,
					 kh_fmt_bytes(g0 << KH_PAGE_SHIFT, b1, sizeof(b1)),
					 kh_fmt_bytes((g1 + 1) << KH_PAGE_SHIFT, b2, sizeof(b2)),
					 h->ct0[c], h->ct1[c], kh_hm_metric_name(h),
					 kh_hm_shown(h, v));
			kh_cv_rect(cv, l->x0 + c * l->cw, l->y0 + r * l->rh, l->cw, l->rh, rgb,
				   tips ? tip : NULL);
		}
	}
}

/* Address ticks (row's first page), time ticks (column's start), axis names. */
static void kh_hm_axes(struct kh_canvas *cv, const struct kh_hmap *h,
		       const struct kh_hm_layout *l)
{
	const struct kh_font tick_r = { .size = 11, .anchor = KH_AN_END }, tick_m = { .size = 11, .anchor = KH_AN_MIDDLE };
	const struct kh_font name = { .size = 12, .anchor = KH_AN_MIDDLE }, name_up = { .size = 12, .anchor = KH_AN_MIDDLE, .up = true };
	unsigned int ny = h->rows < 9 ? h->rows - 1 : 8, nx = h->cols < 7 ? h->cols - 1 : 6;
	char b[32];

	for (unsigned int t = 0; t <= ny; t++) {
		size_t r = ny ? t * (h->rows - 1) / ny : 0;
		double y = l->y0 + r * l->rh + l->rh / 2.0;

		kh_cv_line(cv, l->x0 - KH_GUTTER - 4, y, l->x0 - KH_GUTTER, y, kh_ink, 1, false);
		kh_cv_text(cv, l->x0 - KH_GUTTER - 6, y + 4, &tick_r, kh_ink,
			   kh_hm_label(h, kh_hm_gfn(h, kh_hm_row_first(h, r)), b, sizeof(b)));
	}
	kh_cv_text(cv, 14, l->y0 + l->ph / 2.0, &name_up, kh_ink,
		   h->gfn_axis ? "guest frame number" : "guest physical address");
	for (unsigned int t = 0; t <= nx; t++) {
		size_t c = nx ? t * (h->cols - 1) / nx : 0;
		double x = l->x0 + c * l->cw + l->cw / 2.0;

		kh_cv_line(cv, x, l->y0 + l->ph, x, l->y0 + l->ph + 4, kh_ink, 1, false);
		snprintf(b, sizeof(b), "%.1f s", h->ct0[c]);
		kh_cv_text(cv, x, l->y0 + l->ph + 16, &tick_m, kh_ink, b);
	}
	kh_cv_text(cv, l->x0 + l->pw / 2.0, l->y0 + l->ph + 36, &name, kh_ink,
		   "time since the start of the recording");
}

/* The gutter left of the plot, a cyan mark at each squeezed-out hole. */
static void kh_hm_hole_marks(struct kh_canvas *cv, const struct kh_hmap *h,
			     const struct kh_hm_layout *l)
{
	const struct kh_font mark = { .size = 12, .anchor = KH_AN_START };
	size_t hrows[64], nh;
	uint64_t glo[64], ghi[64];
	char tip[128], b1[32], b2[32];

	kh_cv_rect(cv, l->x0 - KH_GUTTER, l->y0, KH_GUTTER, l->ph, kh_gutter, NULL);
	nh = kh_hm_holes(h, hrows, glo, ghi, 64);
	for (size_t i = 0; i < nh; i++) {
		double y = l->y0 + hrows[i] * l->rh;

		snprintf(tip, sizeof(tip), "hole gpa %s-%s squeezed out",
			 kh_fmt_bytes(glo[i] << KH_PAGE_SHIFT, b1, sizeof(b1)),
			 kh_fmt_bytes(ghi[i] << KH_PAGE_SHIFT, b2, sizeof(b2)));
		kh_cv_rect(cv, l->x0 - KH_GUTTER, y > l->y0 ? y - 1 : y, KH_GUTTER, 2, kh_hole, tip);
		kh_cv_text(cv, l->x0 + l->pw + 4, y + 5, &mark, kh_mark, "\u2248");
	}
}

/* The colour bar: the hottest count at the top, 1 at the bottom, log scale. */
static void kh_hm_legend(struct kh_canvas *cv, const struct kh_hmap *h,
			 const struct kh_hm_layout *l)
{
	const struct kh_font num = { .size = 11, .anchor = KH_AN_START }, name_up = { .size = 12, .anchor = KH_AN_MIDDLE, .up = true };
	char b[48];

	for (unsigned int y = 0; y < l->lh; y++) {
		uint8_t rgb[3];

		kh_hm_ramp(h, 1.0 - (double)y / (l->lh - 1), rgb);
		kh_cv_rect(cv, l->lx, l->ly + y, l->lw, 1, rgb, NULL);
	}
	snprintf(b, sizeof(b), "%" PRIu64, kh_hm_shown(h, h->max));
	kh_cv_text(cv, l->lx + l->lw + 4, l->ly + 9, &num, kh_ink, b);
	kh_cv_text(cv, l->lx + l->lw + 4, l->ly + l->lh, &num, kh_ink, h->idle ? "0" : "1");
	if (h->idle)
		snprintf(b, sizeof(b), "mean idle age per cell (scans)");
	else
		snprintf(b, sizeof(b), "%s per cell (log scale)", kh_hm_metric_name(h));
	kh_cv_text(cv, l->lx + l->lw + 84, l->ly + l->lh / 2.0, &name_up, kh_ink, b);
}

static void kh_hm_draw(struct kh_canvas *cv, const struct kh_hmap *h,
		       const struct kh_hm_layout *l, bool tips)
{
	const struct kh_font title = { .size = 13, .anchor = KH_AN_START, .bold = true };

	kh_cv_rect(cv, 0, 0, l->w, l->h, kh_white, NULL);
	kh_cv_text(cv, 8, 20, &title, kh_ink, l->title);
	kh_hm_cells(cv, h, l, tips);
	kh_hm_hole_marks(cv, h, l);
	kh_hm_axes(cv, h, l);
	kh_hm_legend(cv, h, l);
}

int kh_hm_svg(const struct kh_hmap *h, const struct kh_rd_vm *vm, FILE *f, bool bare)
{
	struct kh_hm_layout l;
	struct kh_canvas cv;
	char title[192];
	int err;

	kh_hm_layout(h, vm, &l);
	snprintf(title, sizeof(title), "kvmheat heatmap: %s", l.title);
	err = kh_canvas_svg(&cv, f, l.w, l.h, title, bare);
	if (err)
		return err;
	kh_hm_draw(&cv, h, &l, true);
	return kh_canvas_end(&cv, f, NULL, 0);
}

/*
 * tEXt chunks carry the geometry, so tools (and the tests) can map pixels
 * back to gfns and know where the labels and the legend are: boxes are
 * x,y,w,h of the title, the address ticks, the time ticks and the legend.
 */
int kh_hm_png(const struct kh_hmap *h, const struct kh_rd_vm *vm, FILE *f)
{
	struct kh_hm_layout l;
	struct kh_canvas cv;
	char geo[512], *segs = NULL;
	size_t slen = 0;
	FILE *sf;
	int err;

	kh_hm_layout(h, vm, &l);
	err = kh_canvas_png(&cv, l.w, l.h);
	if (err)
		return err;
	kh_hm_draw(&cv, h, &l, false);
	snprintf(geo, sizeof(geo), "pid=%u metric=%s rows=%zu cols=%zu cell_w=%u cell_h=%u "
		 "x0=%u lo=%" PRIu64 " hi=%" PRIu64 " y0=%u width=%u height=%u "
		 "title=0,0,%u,%u yticks=0,%u,%u,%u xticks=%u,%u,%u,%u legend=%u,%u,%u,%u "
		 "gutter=%u,%u,%u,%u", h->pid, kh_hm_metric_name(h), h->rows,
		 h->cols, l.cw, l.rh, l.x0, h->lo, h->hi, l.y0, l.w, l.h, l.w, l.y0 - 12,
		 l.y0 - 8, l.x0 - KH_GUTTER, l.ph + 16, l.x0 - 40, l.y0 + l.ph, l.pw + 80,
		 KH_M_BOTTOM, l.x0 + l.pw + 20, l.y0 - 8, l.w - (l.x0 + l.pw + 20), l.lh + 16,
		 l.x0 - KH_GUTTER, l.y0, KH_GUTTER, l.ph);
	sf = open_memstream(&segs, &slen);
	if (!sf) {
		kh_canvas_end(&cv, NULL, NULL, 0);
		return -ENOMEM;
	}
	for (size_t i = 0; i < h->nseg; i++)
		fprintf(sf, "%s%" PRIu64 ":%" PRIu64, i ? "," : "", h->seg[i].base,
			h->seg[i].npages);
	fclose(sf);
	err = kh_canvas_end(&cv, f, (const struct kh_png_text[]){
		{ .key = "Software", .text = "kvmheat " KH_VERSION },
		{ .key = "Title", .text = l.title },
		{ .key = "kvmheat-geometry", .text = geo },
		{ .key = "kvmheat-segments", .text = segs, .z = true } }, 4);
	free(segs);
	return err ? err : ferror(f) ? -EIO : 0;
}

/* ---- terminal ---- */

/* The character ramp for pipes and dumb terminals, coolest to hottest. */
static const char kh_ramp_chars[] = ".:-=+*#%@";
#define KH_NRAMP (sizeof(kh_ramp_chars) - 1)

static int kh_ansi256(const uint8_t rgb[3])
{
	return 16 + 36 * ((rgb[0] * 5 + 127) / 255) + 6 * ((rgb[1] * 5 + 127) / 255) +
	       (rgb[2] * 5 + 127) / 255;
}

static char kh_ramp_char(const struct kh_hmap *h, uint64_t v)
{
	double t;

	if (!v)
		return ' ';
	t = kh_hm_pos(h, v);
	return kh_ramp_chars[t >= 1 ? KH_NRAMP - 1 : (size_t)(t * KH_NRAMP)];
}

/*
 * Two rows per line.  In colour the upper half block takes the upper
 * row's colour and the background the lower one's; without colour one
 * ramp character shows the hotter of the two.
 */
static void kh_term_line(const struct kh_hmap *h, size_t r, FILE *f, bool color)
{
	for (size_t c = 0; c < h->cols; c++) {
		uint64_t up = h->cell[r * h->cols + c];
		uint64_t lo = r + 1 < h->rows ? h->cell[(r + 1) * h->cols + c] : 0;
		uint8_t a[3], b[3];

		if (!color) {
			fputc(kh_ramp_char(h, up > lo ? up : lo), f);
			continue;
		}
		kh_hm_rgb(h, up, a);
		kh_hm_rgb(h, lo, b);
		fprintf(f, "\033[38;5;%dm\033[48;5;%dm\u2580", kh_ansi256(a), kh_ansi256(b));
	}
	if (color)
		fputs("\033[0m", f);
	fputc('\n', f);
}

/* The one-line scale: 1 .. max on the same log ramp as the cells. */
static void kh_term_scale(const struct kh_hmap *h, FILE *f, bool color)
{
	fprintf(f, "  scale (%s, %s per cell): %d ", h->idle ? "linear" : "log",
		kh_hm_metric_name(h), h->idle ? 0 : 1);
	for (size_t i = 0; i < KH_NRAMP; i++) {
		uint8_t rgb[3];

		if (!color) {
			fputc(kh_ramp_chars[i], f);
			continue;
		}
		kh_hm_ramp(h, (double)i / (KH_NRAMP - 1), rgb);
		fprintf(f, "\033[48;5;%dm  ", kh_ansi256(rgb));
	}
	fprintf(f, "%s %" PRIu64 "%s\n", color ? "\033[0m" : "", kh_hm_shown(h, h->max),
		color ? "" : ", blank: none");
}

void kh_hm_term(const struct kh_hmap *h, const struct kh_rd_vm *vm, FILE *f, bool color)
{
	size_t hrows[64], nh;
	uint64_t glo[64], ghi[64];
	char b1[32], b2[32];

	nh = kh_hm_holes(h, hrows, glo, ghi, 64);
	fprintf(f, "VM %u (%s): %s, %.2f-%.2f s, %s %s-%s, %zu rows x %zu columns\n", h->pid,
		vm ? vm->comm : "?", kh_hm_metric_name(h), h->ct0[0],
		h->ct1[h->cols - 1], h->gfn_axis ? "gfn" : "gpa",
		kh_hm_label(h, kh_hm_gfn(h, h->lo), b1, sizeof(b1)),
		kh_hm_label(h, kh_hm_gfn(h, h->hi) + 1, b2, sizeof(b2)), h->rows, h->cols);
	for (size_t r = 0; r < h->rows; r += 2) {
		bool hole = false;

		for (size_t i = 0; i < nh; i++)
			hole |= hrows[i] == r || hrows[i] == r + 1;
		fprintf(f, "%10s %c", r % 8 ? "" : kh_hm_label(h, kh_hm_gfn(h,
			kh_hm_row_first(h, r)), b1, sizeof(b1)), hole ? '~' : '|');
		kh_term_line(h, r, f, color);
	}
	fprintf(f, "%10s  %-*.1f%.1f s\n", "time", (int)(h->cols > 8 ? h->cols - 4 : 4), h->ct0[0],
		h->ct1[h->cols - 1]);
	for (size_t i = 0; i < nh; i++)
		fprintf(f, "  ~ hole gpa %s-%s squeezed out\n",
			kh_fmt_bytes(glo[i] << KH_PAGE_SHIFT, b1, sizeof(b1)),
			kh_fmt_bytes(ghi[i] << KH_PAGE_SHIFT, b2, sizeof(b2)));
	kh_term_scale(h, f, color);
}
