// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * `kvmheat heatmap`: a recording as time (epochs, x) against guest
 * physical address (y), colour = accesses or writes, as SVG, PNG (libpng)
 * or ANSI colour blocks.
 *
 * The address axis is the VM's memslots laid end to end, holes between
 * them squeezed out (and marked), cropped to the touched extent so there
 * is always something to see.  Gfns are binned into rows on the way in:
 * the cost is one binary search per recorded entry, and memory is rows x
 * columns, whatever the guest's size.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <png.h>
#include "datafile.h"

/* Gfns outside every memslot further apart than this start a new segment. */
#define KH_HM_GAP	1024

struct kh_seg {
	uint64_t base;		/* first gfn */
	uint64_t npages;
	uint64_t start;		/* squeezed index of base */
};

struct kh_hmap {
	uint32_t pid;
	bool writes;
	struct kh_seg *seg;
	size_t nseg;
	uint64_t lo, hi;	/* squeezed indices shown, inclusive */
	size_t rows, cols;
	uint64_t *cell;		/* rows x cols counts */
	uint64_t max;
	size_t nep;		/* wanted epochs */
	double *ct0, *ct1;	/* time span of each column, seconds */
};

static int kh_seg_cmp(const void *a, const void *b)
{
	const struct kh_seg *x = a, *y = b;

	return x->base < y->base ? -1 : x->base > y->base;
}

static int kh_u64_cmp(const void *a, const void *b)
{
	const uint64_t *x = a, *y = b;

	return *x < *y ? -1 : *x > *y;
}

/* Squeezed index of @gfn, or UINT64_MAX when it lies in no segment. */
static uint64_t kh_hm_index(const struct kh_hmap *h, uint64_t gfn)
{
	size_t lo = 0, hi = h->nseg;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;

		if (gfn < h->seg[mid].base)
			hi = mid;
		else if (gfn >= h->seg[mid].base + h->seg[mid].npages)
			lo = mid + 1;
		else
			return h->seg[mid].start + gfn - h->seg[mid].base;
	}
	return UINT64_MAX;
}

static uint64_t kh_hm_gfn(const struct kh_hmap *h, uint64_t idx)
{
	size_t lo = 0, hi = h->nseg;

	while (hi - lo > 1) {
		size_t mid = (lo + hi) / 2;

		if (idx < h->seg[mid].start)
			hi = mid;
		else
			lo = mid;
	}
	return h->seg[lo].base + (idx - h->seg[lo].start);
}

static uint64_t kh_hm_span(const struct kh_hmap *h)
{
	return h->hi - h->lo + 1;
}

/* First squeezed index of row @r (r == rows: one past the last). */
static uint64_t kh_hm_row_first(const struct kh_hmap *h, size_t r)
{
	return h->lo + ((unsigned __int128)r * kh_hm_span(h) + h->rows - 1) / h->rows;
}

static size_t kh_hm_row(const struct kh_hmap *h, uint64_t idx)
{
	return (unsigned __int128)(idx - h->lo) * h->rows / kh_hm_span(h);
}

static uint64_t kh_metric(const struct kh_hmap *h, const struct kh_counts *c)
{
	return h->writes ? c->writes : c->accesses;
}

/*
 * Segments: the VM's address-space-0 memslots, merged where they touch,
 * plus clusters of recorded gfns no known memslot holds (a VM that exited
 * before discovery has no memslots at all).
 */
static int kh_hm_segments(struct kh_hmap *h, const struct kh_recording *r, const struct kh_rd_filter *f)
{
	const struct kh_rd_vm *vm = kh_rd_find_vm((struct kh_recording *)r, h->pid);
	size_t cap = (vm ? vm->nr_slots : 0) + 16, n = 0, nout = 0;
	uint64_t *out = NULL;
	struct kh_seg *s = malloc(cap * sizeof(*s));

	if (!s)
		return -ENOMEM;
	for (size_t i = 0; vm && i < vm->nr_slots; i++)
		if (vm->slots[i].as_id == 0 && vm->slots[i].npages)
			s[n++] = (struct kh_seg){ vm->slots[i].base_gfn, vm->slots[i].npages, 0 };
	qsort(s, n, sizeof(*s), kh_seg_cmp);
	for (size_t i = 1, k = 0; i <= n; i++) {
		if (i < n && s[i].base <= s[k].base + s[k].npages) {
			uint64_t end = s[i].base + s[i].npages;

			if (end > s[k].base + s[k].npages)
				s[k].npages = end - s[k].base;
			continue;
		}
		if (i < n)
			s[++k] = s[i];
		else
			n = k + (n ? 1 : 0);
	}
	h->seg = s;
	h->nseg = n;
	/* recorded gfns outside every memslot */
	for (size_t e = 0; e < r->nr_epochs; e++) {
		const struct kh_rd_epoch *ep = &r->epochs[e];

		if (!kh_rd_epoch_wanted(r, f, e))
			continue;
		for (size_t i = ep->first_gfn; i < ep->first_gfn + ep->nr_gfns; i++) {
			const struct kh_rd_gfn *g = &r->gfns[i];
			uint64_t *no;

			if (g->pid != h->pid || !kh_metric(h, &g->d) ||
			    !kh_rd_gfn_wanted(f, g->pid, g->gfn) ||
			    kh_hm_index(h, g->gfn) != UINT64_MAX)
				continue;
			if (!(nout & (nout + 1))) {
				no = realloc(out, (nout + 1) * 2 * sizeof(*no));
				if (!no) {
					free(out);
					return -ENOMEM;
				}
				out = no;
			}
			out[nout++] = g->gfn;
		}
	}
	if (nout) {
		size_t extra = 0;

		qsort(out, nout, sizeof(*out), kh_u64_cmp);
		for (size_t i = 0; i < nout; i++)
			extra += !i || out[i] - out[i - 1] > KH_HM_GAP;
		s = realloc(h->seg, (n + extra) * sizeof(*s));
		if (!s) {
			free(out);
			return -ENOMEM;
		}
		h->seg = s;
		for (size_t i = 0; i < nout; i++) {
			if (!i || out[i] - out[i - 1] > KH_HM_GAP)
				s[n++] = (struct kh_seg){ out[i], 1, 0 };
			else
				s[n - 1].npages = out[i] - s[n - 1].base + 1;
		}
		qsort(s, n, sizeof(*s), kh_seg_cmp);
		h->nseg = n;
		free(out);
	}
	for (size_t i = 0, at = 0; i < h->nseg; i++) {
		h->seg[i].start = at;
		at += h->seg[i].npages;
	}
	return 0;
}

static int kh_hm_build(struct kh_hmap *h, const struct kh_recording *r, const struct kh_rd_filter *f,
		       size_t want_rows, size_t want_cols)
{
	size_t *ecol, k = 0;
	bool any = false;
	int err;

	err = kh_hm_segments(h, r, f);
	if (err)
		return err;
	/* crop to the touched extent */
	h->lo = UINT64_MAX;
	h->hi = 0;
	for (size_t e = 0; e < r->nr_epochs; e++) {
		const struct kh_rd_epoch *ep = &r->epochs[e];

		if (!kh_rd_epoch_wanted(r, f, e))
			continue;
		h->nep++;
		for (size_t i = ep->first_gfn; i < ep->first_gfn + ep->nr_gfns; i++) {
			const struct kh_rd_gfn *g = &r->gfns[i];
			uint64_t idx;

			if (g->pid != h->pid || !kh_metric(h, &g->d) ||
			    !kh_rd_gfn_wanted(f, g->pid, g->gfn))
				continue;
			idx = kh_hm_index(h, g->gfn);
			if (idx < h->lo)
				h->lo = idx;
			if (idx > h->hi)
				h->hi = idx;
			any = true;
		}
	}
	if (!any)
		return -ENODATA;
	h->rows = kh_hm_span(h) < want_rows ? kh_hm_span(h) : want_rows;
	h->cols = h->nep < want_cols ? h->nep : want_cols;
	h->cell = calloc(h->rows * h->cols, sizeof(*h->cell));
	h->ct0 = calloc(h->cols, sizeof(double));
	h->ct1 = calloc(h->cols, sizeof(double));
	ecol = calloc(r->nr_epochs ? r->nr_epochs : 1, sizeof(*ecol));
	if (!h->cell || !h->ct0 || !h->ct1 || !ecol) {
		free(ecol);
		return -ENOMEM;
	}
	for (size_t e = 0; e < r->nr_epochs; e++) {
		size_t c;

		if (!kh_rd_epoch_wanted(r, f, e)) {
			ecol[e] = SIZE_MAX;
			continue;
		}
		c = k++ * h->cols / h->nep;
		ecol[e] = c;
		if (!h->ct1[c])
			h->ct0[c] = kh_rd_secs(r, r->epochs[e].t0);
		h->ct1[c] = kh_rd_secs(r, r->epochs[e].t1);
	}
	for (size_t e = 0; e < r->nr_epochs; e++) {
		const struct kh_rd_epoch *ep = &r->epochs[e];

		if (ecol[e] == SIZE_MAX)
			continue;
		for (size_t i = ep->first_gfn; i < ep->first_gfn + ep->nr_gfns; i++) {
			const struct kh_rd_gfn *g = &r->gfns[i];
			uint64_t v = kh_metric(h, &g->d), *cell;

			if (g->pid != h->pid || !v || !kh_rd_gfn_wanted(f, g->pid, g->gfn))
				continue;
			cell = &h->cell[kh_hm_row(h, kh_hm_index(h, g->gfn)) * h->cols + ecol[e]];
			*cell += v;
			if (*cell > h->max)
				h->max = *cell;
		}
	}
	free(ecol);
	return 0;
}

static void kh_hm_free(struct kh_hmap *h)
{
	free(h->seg);
	free(h->cell);
	free(h->ct0);
	free(h->ct1);
}

/*
 * Colour ramp (log scale, relative to the hottest cell): dark red, red,
 * orange, yellow, white.  R+G+B grows along it, so brightness orders heat;
 * empty cells are the background colour, which is not on the ramp.
 */
static const uint8_t kh_bg[3] = { 20, 20, 30 };
static const uint8_t kh_gutter[3] = { 60, 60, 60 };
static const uint8_t kh_hole[3] = { 0, 200, 255 };
static const uint8_t kh_stops[][3] = {
	{ 80, 0, 0 }, { 170, 0, 0 }, { 235, 70, 0 }, { 255, 165, 0 }, { 255, 235, 70 },
	{ 255, 255, 255 },
};
#define KH_NSTOPS (sizeof(kh_stops) / sizeof(kh_stops[0]))

static void kh_hm_rgb(const struct kh_hmap *h, uint64_t v, uint8_t rgb[3])
{
	double t, x;
	size_t i;

	if (!v) {
		memcpy(rgb, kh_bg, 3);
		return;
	}
	t = h->max > 1 ? log((double)v) / log((double)h->max) : 1;
	x = t * (KH_NSTOPS - 1);
	i = (size_t)x;
	if (i >= KH_NSTOPS - 1) {
		memcpy(rgb, kh_stops[KH_NSTOPS - 1], 3);
		return;
	}
	x -= i;
	for (int c = 0; c < 3; c++) {
		double a = kh_stops[i][c], b = kh_stops[i + 1][c];

		rgb[c] = (uint8_t)(a + (b - a) * x + 0.5);
	}
}

/* Rows at which a squeezed hole lies (the first row of the next segment). */
static size_t kh_hm_holes(const struct kh_hmap *h, size_t *rows, uint64_t *gap_lo,
			  uint64_t *gap_hi, size_t max)
{
	size_t n = 0;

	for (size_t i = 1; i < h->nseg && n < max; i++) {
		uint64_t b = h->seg[i].start;

		if (b <= h->lo || b > h->hi)
			continue;
		rows[n] = kh_hm_row(h, b);
		gap_lo[n] = h->seg[i - 1].base + h->seg[i - 1].npages;
		gap_hi[n] = h->seg[i].base;
		n++;
	}
	return n;
}

/*
 * Axis label of a guest physical address: GiB with two decimals when the
 * drawn range is large, MiB with one otherwise, so neighbouring ticks differ.
 */
static const char *kh_hm_label(const struct kh_hmap *h, uint64_t gfn, char *buf, size_t len)
{
	uint64_t span = kh_hm_gfn(h, h->hi) - kh_hm_gfn(h, h->lo) + 1;
	double gpa = (double)(gfn << KH_PAGE_SHIFT);

	if (span << KH_PAGE_SHIFT >= (4ULL << 30))
		snprintf(buf, len, "%.2f GiB", gpa / (1ULL << 30));
	else
		snprintf(buf, len, "%.1f MiB", gpa / (1ULL << 20));
	return buf;
}

/* ---- SVG ---- */

#define KH_SVG_L	96
#define KH_SVG_T	40
#define KH_SVG_R	24
#define KH_SVG_B	48

static void kh_cell_size(const struct kh_hmap *h, unsigned int *cw, unsigned int *rh)
{
	*cw = h->cols ? 960 / h->cols : 1;
	*cw = *cw < 2 ? 2 : *cw > 24 ? 24 : *cw;
	*rh = h->rows ? 512 / h->rows : 1;
	*rh = *rh < 2 ? 2 : *rh > 16 ? 16 : *rh;
}

static void kh_xml_text(FILE *f, const char *s)
{
	for (; *s; s++) {
		if (*s == '<')
			fputs("&lt;", f);
		else if (*s == '>')
			fputs("&gt;", f);
		else if (*s == '&')
			fputs("&amp;", f);
		else
			fputc(*s, f);
	}
}

static int kh_svg(const struct kh_hmap *h, const struct kh_rd_vm *vm, FILE *f)
{
	unsigned int cw, rh, w, ht;
	size_t hrows[64], nh;
	uint64_t glo[64], ghi[64];
	char b1[32], b2[32], title[128];

	kh_cell_size(h, &cw, &rh);
	w = KH_SVG_L + h->cols * cw + KH_SVG_R;
	ht = KH_SVG_T + h->rows * rh + KH_SVG_B;
	fprintf(f, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
		"<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%u\" height=\"%u\" "
		"viewBox=\"0 0 %u %u\" font-family=\"monospace\" font-size=\"11\">\n",
		w, ht, w, ht);
	snprintf(title, sizeof(title), "kvmheat heatmap: VM %u (%s), %s per %s", h->pid,
		 vm ? vm->comm : "?", h->writes ? "writes" : "accesses",
		 h->cols < h->nep ? "column of epochs" : "epoch");
	fprintf(f, "<title>");
	kh_xml_text(f, title);
	fprintf(f, "</title>\n<rect x=\"0\" y=\"0\" width=\"%u\" height=\"%u\" fill=\"#fff\"/>\n"
		"<text x=\"%u\" y=\"20\" font-size=\"13\">", w, ht, KH_SVG_L);
	kh_xml_text(f, title);
	fprintf(f, "</text>\n<rect x=\"%u\" y=\"%u\" width=\"%zu\" height=\"%zu\" "
		"fill=\"rgb(%u,%u,%u)\"/>\n<g shape-rendering=\"crispEdges\">\n",
		KH_SVG_L, KH_SVG_T, h->cols * cw, h->rows * rh, kh_bg[0], kh_bg[1], kh_bg[2]);
	for (size_t r = 0; r < h->rows; r++) {
		uint64_t g0 = kh_hm_gfn(h, kh_hm_row_first(h, r));
		uint64_t g1 = kh_hm_gfn(h, kh_hm_row_first(h, r + 1) - 1);

		for (size_t c = 0; c < h->cols; c++) {
			uint64_t v = h->cell[r * h->cols + c];
			uint8_t rgb[3];

			if (!v)
				continue;
			kh_hm_rgb(h, v, rgb);
			fprintf(f, "<rect x=\"%zu\" y=\"%zu\" width=\"%u\" height=\"%u\" "
				"fill=\"#%02x%02x%02x\"><title>gfn 0x%" PRIx64 "-0x%" PRIx64
				" (gpa %s-%s), %.2f-%.2f s, %s %" PRIu64 "</title></rect>\n",
				KH_SVG_L + c * cw, KH_SVG_T + r * rh, cw, rh,
				rgb[0], rgb[1], rgb[2], g0, g1,
				kh_fmt_bytes(g0 << KH_PAGE_SHIFT, b1, sizeof(b1)),
				kh_fmt_bytes((g1 + 1) << KH_PAGE_SHIFT, b2, sizeof(b2)),
				h->ct0[c], h->ct1[c], h->writes ? "writes" : "accesses", v);
		}
	}
	fprintf(f, "</g>\n");
	/* address axis: guest physical address of the row's first page */
	for (int t = 0; t <= 8; t++) {
		size_t r = t * (h->rows - 1) / 8;
		uint64_t g = kh_hm_gfn(h, kh_hm_row_first(h, r));

		fprintf(f, "<text x=\"%u\" y=\"%zu\" text-anchor=\"end\">%s</text>\n", KH_SVG_L - 6,
			KH_SVG_T + r * rh + rh / 2 + 4, kh_hm_label(h, g, b1, sizeof(b1)));
	}
	fprintf(f, "<text x=\"12\" y=\"%zu\" transform=\"rotate(-90 12 %zu)\" "
		"text-anchor=\"middle\">guest physical address</text>\n",
		KH_SVG_T + h->rows * rh / 2, KH_SVG_T + h->rows * rh / 2);
	nh = kh_hm_holes(h, hrows, glo, ghi, 64);
	for (size_t i = 0; i < nh; i++) {
		size_t y = KH_SVG_T + hrows[i] * rh;

		fprintf(f, "<g><title>hole gpa %s-%s squeezed out</title>"
			"<line x1=\"%u\" y1=\"%zu\" x2=\"%zu\" y2=\"%zu\" stroke=\"#0cf\" "
			"stroke-dasharray=\"4 3\"/><text x=\"%zu\" y=\"%zu\" fill=\"#08a\">&#8776;"
			"</text></g>\n", kh_fmt_bytes(glo[i] << KH_PAGE_SHIFT, b1, sizeof(b1)),
			kh_fmt_bytes(ghi[i] << KH_PAGE_SHIFT, b2, sizeof(b2)), KH_SVG_L - 4, y,
			KH_SVG_L + h->cols * cw, y, KH_SVG_L + h->cols * cw + 4, y + 4);
	}
	/* time axis */
	for (int t = 0; t <= 6 && h->cols; t++) {
		size_t c = t * (h->cols - 1) / 6;

		fprintf(f, "<text x=\"%zu\" y=\"%zu\" text-anchor=\"middle\">%.1f s</text>\n",
			KH_SVG_L + c * cw + cw / 2, KH_SVG_T + h->rows * rh + 16, h->ct0[c]);
	}
	fprintf(f, "<text x=\"%zu\" y=\"%zu\" text-anchor=\"middle\">time since the start of "
		"the recording</text>\n</svg>\n", KH_SVG_L + h->cols * cw / 2,
		KH_SVG_T + h->rows * rh + 36);
	return ferror(f) ? -EIO : 0;
}

/* ---- PNG ---- */

#define KH_PNG_GUTTER	6

static void kh_png_error(png_structp png, png_const_charp msg)
{
	(void)msg;
	png_longjmp(png, 1);
}

/*
 * Pixels: a KH_PNG_GUTTER-wide left gutter (hole markers in cyan), then
 * the grid, cell_w x cell_h pixels per cell, lowest address at the top.
 * tEXt chunks carry the geometry so tools can map pixels back to gfns.
 */
static int kh_png(const struct kh_hmap *h, FILE *f)
{
	unsigned int cw, rh, w, ht;
	size_t hrows[64], nh;
	uint64_t glo[64], ghi[64];
	png_structp png;
	png_infop info;
	uint8_t *img = NULL;
	png_bytep *rowp = NULL;
	char geo[256], *segs = NULL;
	size_t slen = 0;
	FILE *sf;
	png_text txt[3];

	kh_cell_size(h, &cw, &rh);
	w = KH_PNG_GUTTER + h->cols * cw;
	ht = h->rows * rh;
	img = calloc((size_t)w * ht, 3);
	rowp = calloc(ht, sizeof(*rowp));
	sf = open_memstream(&segs, &slen);
	if (!img || !rowp || !sf) {
		free(img);
		free(rowp);
		if (sf)
			fclose(sf);
		free(segs);
		return -ENOMEM;
	}
	for (size_t y = 0; y < ht; y++) {
		rowp[y] = img + y * w * 3;
		for (size_t x = 0; x < w; x++)
			memcpy(rowp[y] + x * 3, x < KH_PNG_GUTTER ? kh_gutter : kh_bg, 3);
	}
	for (size_t r = 0; r < h->rows; r++)
		for (size_t c = 0; c < h->cols; c++) {
			uint8_t rgb[3];

			if (!h->cell[r * h->cols + c])
				continue;
			kh_hm_rgb(h, h->cell[r * h->cols + c], rgb);
			for (size_t y = r * rh; y < (r + 1) * rh; y++)
				for (size_t x = 0; x < cw; x++)
					memcpy(rowp[y] + (KH_PNG_GUTTER + c * cw + x) * 3, rgb, 3);
		}
	nh = kh_hm_holes(h, hrows, glo, ghi, 64);
	for (size_t i = 0; i < nh; i++)
		for (size_t x = 0; x < KH_PNG_GUTTER; x++)
			memcpy(rowp[hrows[i] * rh] + x * 3, kh_hole, 3);
	snprintf(geo, sizeof(geo), "pid=%u metric=%s rows=%zu cols=%zu cell_w=%u cell_h=%u "
		 "x0=%u lo=%" PRIu64 " hi=%" PRIu64, h->pid, h->writes ? "writes" : "accesses",
		 h->rows, h->cols, cw, rh, KH_PNG_GUTTER, h->lo, h->hi);
	for (size_t i = 0; i < h->nseg; i++)
		fprintf(sf, "%s%" PRIu64 ":%" PRIu64, i ? "," : "", h->seg[i].base,
			h->seg[i].npages);
	fclose(sf);

	png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, kh_png_error, NULL);
	info = png ? png_create_info_struct(png) : NULL;
	if (!info || setjmp(png_jmpbuf(png))) {
		png_destroy_write_struct(&png, &info);
		free(img);
		free(rowp);
		free(segs);
		return -EIO;
	}
	png_init_io(png, f);
	png_set_IHDR(png, info, w, ht, 8, PNG_COLOR_TYPE_RGB, PNG_INTERLACE_NONE,
		     PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
	memset(txt, 0, sizeof(txt));
	txt[0] = (png_text){ .compression = PNG_TEXT_COMPRESSION_NONE, .key = "Software",
			     .text = "kvmheat " KH_VERSION };
	txt[1] = (png_text){ .compression = PNG_TEXT_COMPRESSION_NONE, .key = "kvmheat-geometry",
			     .text = geo };
	txt[2] = (png_text){ .compression = PNG_TEXT_COMPRESSION_zTXt, .key = "kvmheat-segments",
			     .text = segs };
	png_set_text(png, info, txt, 3);
	png_write_info(png, info);
	png_write_image(png, rowp);
	png_write_end(png, NULL);
	png_destroy_write_struct(&png, &info);
	free(img);
	free(rowp);
	free(segs);
	return ferror(f) ? -EIO : 0;
}

/* ---- terminal ---- */

static int kh_ansi256(const uint8_t rgb[3])
{
	return 16 + 36 * ((rgb[0] * 5 + 127) / 255) + 6 * ((rgb[1] * 5 + 127) / 255) +
	       (rgb[2] * 5 + 127) / 255;
}

/* Two rows per line: the upper half block takes the upper row's colour. */
static void kh_term(const struct kh_hmap *h, const struct kh_rd_vm *vm, FILE *f)
{
	size_t hrows[64], nh;
	uint64_t glo[64], ghi[64];
	char b1[32], b2[32];

	nh = kh_hm_holes(h, hrows, glo, ghi, 64);
	fprintf(f, "VM %u (%s): %s, %.2f-%.2f s, gpa %s-%s, %zu rows x %zu columns\n", h->pid,
		vm ? vm->comm : "?", h->writes ? "writes" : "accesses", h->ct0[0],
		h->ct1[h->cols - 1], kh_hm_label(h, kh_hm_gfn(h, h->lo), b1, sizeof(b1)),
		kh_hm_label(h, kh_hm_gfn(h, h->hi) + 1, b2, sizeof(b2)), h->rows, h->cols);
	for (size_t r = 0; r < h->rows; r += 2) {
		bool hole = false;

		for (size_t i = 0; i < nh; i++)
			hole |= hrows[i] == r || hrows[i] == r + 1;
		if (r % 8 == 0)
			fprintf(f, "%10s %c", kh_hm_label(h, kh_hm_gfn(h, kh_hm_row_first(h, r)),
							  b1, sizeof(b1)), hole ? '~' : '|');
		else
			fprintf(f, "%10s %c", "", hole ? '~' : '|');
		for (size_t c = 0; c < h->cols; c++) {
			uint8_t up[3], lo[3];

			kh_hm_rgb(h, h->cell[r * h->cols + c], up);
			kh_hm_rgb(h, r + 1 < h->rows ? h->cell[(r + 1) * h->cols + c] : 0, lo);
			fprintf(f, "\033[38;5;%dm\033[48;5;%dm\u2580", kh_ansi256(up),
				kh_ansi256(lo));
		}
		fprintf(f, "\033[0m\n");
	}
	fprintf(f, "%10s  %-*.1f%.1f s\n", "time", (int)(h->cols > 8 ? h->cols - 4 : 4), h->ct0[0],
		h->ct1[h->cols - 1]);
	for (size_t i = 0; i < nh; i++)
		fprintf(f, "  ~ hole gpa %s-%s squeezed out\n",
			kh_fmt_bytes(glo[i] << KH_PAGE_SHIFT, b1, sizeof(b1)),
			kh_fmt_bytes(ghi[i] << KH_PAGE_SHIFT, b2, sizeof(b2)));
	fprintf(f, "  colour: log scale of %s per cell, max %" PRIu64 "\n",
		h->writes ? "writes" : "accesses", h->max);
}

static const char kh_heatmap_help[] =
	"Usage: kvmheat heatmap [-i FILE] [-o OUT] [--pid P] [--writes] [--rows N]\n"
	"                       [--cols N] [--time T0-T1] [--gfn A-B]\n"
	"Draw a recording: x = time (epochs), y = guest physical address (memslot\n"
	"holes squeezed out, cropped to what was touched), colour = accesses.\n"
	"  -i, --input FILE  default kvmheat.data\n"
	"  -o, --output OUT  NAME.svg, NAME.png, or - for the terminal (default)\n"
	"  -p, --pid P       the VM to draw (default: the one with most accesses)\n"
	"  -w, --writes      colour by writes instead\n"
	"      --rows N      address rows (default 256; terminal: its height)\n"
	"      --cols N      time columns (default 480; terminal: its width)\n"
	"      --time T0-T1  only epochs overlapping T0..T1 s\n"
	"      --gfn A-B     only gfns A..B\n";

static const char *kh_ext(const char *p)
{
	const char *d = strrchr(p, '.');

	return d ? d + 1 : "";
}

int kh_cmd_heatmap(int argc, char **argv, struct kh_opts *o)
{
	static const struct option longopts[] = {
		{ "input", required_argument, NULL, 'i' },
		{ "output", required_argument, NULL, 'o' },
		{ "pid", required_argument, NULL, 'p' },
		{ "writes", no_argument, NULL, 'w' },
		{ "rows", required_argument, NULL, 'R' },
		{ "cols", required_argument, NULL, 'C' },
		{ "time", required_argument, NULL, 't' },
		{ "gfn", required_argument, NULL, 'g' },
		KH_LONGOPTS_END,
	};
	const char *in = "kvmheat.data", *out = "-";
	struct kh_rd_filter f;
	struct kh_cmdline cl = {
		.cmd = "heatmap", .o = o, .help = kh_heatmap_help, .shortopts = "i:o:p:wjvh",
		.longopts = longopts, .pid = &f.pid,
	};
	struct kh_hmap h = {};
	struct kh_recording rec;
	size_t rows = 0, cols = 0;
	struct kh_gfn_stat *g = NULL;
	size_t n = 0;
	char why[512], eb[128];
	uint64_t v;
	int opt, err, ret = KH_EXIT_OK;
	bool term;
	FILE *fo;

	kh_rd_filter_init(&f);
	while ((opt = kh_getopt(&cl, argc, argv)) > 0) {
		switch (opt) {
		case 'i':
			in = optarg;
			break;
		case 'o':
			out = optarg;
			break;
		case 'w':
			h.writes = true;
			break;
		case 'R':
		case 'C':
			if (kh_parse_u64(optarg, &v) || v < 2 || v > 4096)
				return kh_err(o, KH_EXIT_USAGE, "heatmap: bad --%s '%s' (2..4096)",
					      opt == 'R' ? "rows" : "cols", optarg);
			*(opt == 'R' ? &rows : &cols) = v;
			break;
		case 't':
			if (kh_parse_trange(optarg, &f.t0, &f.t1))
				return kh_err(o, KH_EXIT_USAGE, "heatmap: bad --time '%s'", optarg);
			f.time_set = true;
			break;
		case 'g':
			if (kh_parse_gfn_range(optarg, &f.gfn_lo, &f.gfn_hi))
				return kh_err(o, KH_EXIT_USAGE, "heatmap: bad --gfn '%s'", optarg);
			break;
		}
	}
	if (opt == KH_OPT_STOP)
		return cl.rc;
	term = !strcmp(out, "-");
	if (!term && strcmp(kh_ext(out), "svg") && strcmp(kh_ext(out), "png"))
		return kh_err(o, KH_EXIT_USAGE, "heatmap: -o wants NAME.svg, NAME.png or -");
	if (term && o->json)
		return kh_err(o, KH_EXIT_USAGE, "heatmap: -j needs -o NAME.svg or NAME.png");
	if (term) {
		struct winsize ws;
		bool tty = isatty(STDOUT_FILENO) && !ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws);

		if (!rows)
			rows = tty && ws.ws_row > 12 ? (ws.ws_row - 8) * 2u : 48;
		if (!cols)
			cols = tty && ws.ws_col > 30 ? ws.ws_col - 14u : 64;
	}
	if (!rows)
		rows = 256;
	if (!cols)
		cols = 480;

	err = kh_df_read_file(in, 0, &rec, why, sizeof(why));
	if (err)
		return kh_err(o, KH_EXIT_ERROR, "heatmap: %s: %s", in, why);
	for (size_t i = 0; i < rec.nr_notes; i++)
		fprintf(stderr, "kvmheat: note: %s: %s\n", in, rec.notes[i]);
	h.pid = f.pid;
	if (!h.pid) {
		/* the VM with the most of what is drawn */
		uint64_t best = 0, cur = 0;

		err = kh_rd_totals(&rec, &f, &g, &n);
		if (err) {
			ret = kh_err(o, KH_EXIT_ERROR,
				     "heatmap: %s", kh_errstr(err, eb, sizeof(eb)));
			goto out;
		}
		for (size_t i = 0; i < n; i++) {
			cur = (i && g[i - 1].pid == g[i].pid ? cur : 0) + kh_metric(&h, &g[i].c);
			if (cur > best) {
				best = cur;
				h.pid = g[i].pid;
			}
		}
		free(g);
		if (!h.pid) {
			ret = kh_err(o, KH_EXIT_ERROR, "heatmap: %s has no %s to draw", in,
				     h.writes ? "writes" : "accesses");
			goto out;
		}
		if (rec.nr_vms > 1)
			fprintf(stderr, "kvmheat: drawing VM %u, the one with most %s (--pid picks "
				"another)\n", h.pid, h.writes ? "writes" : "accesses");
	}
	err = kh_hm_build(&h, &rec, &f, rows, cols);
	if (err == -ENODATA) {
		ret = kh_err(o, KH_EXIT_ERROR,
			     "heatmap: VM %u has no %s in the selected part of %s",
			     h.pid, h.writes ? "writes" : "accesses", in);
		goto out;
	}
	if (err) {
		ret = kh_err(o, KH_EXIT_ERROR, "heatmap: %s", kh_errstr(err, eb, sizeof(eb)));
		goto out;
	}
	if (term) {
		kh_term(&h, kh_rd_find_vm(&rec, h.pid), stdout);
		goto out;
	}
	fo = fopen(out, "wb");
	if (!fo) {
		ret = kh_err(o, KH_EXIT_ERROR, "heatmap: cannot create %s: %s", out,
			     kh_errstr(-errno, eb, sizeof(eb)));
		goto out;
	}
	err = !strcmp(kh_ext(out), "svg") ? kh_svg(&h, kh_rd_find_vm(&rec, h.pid), fo) : kh_png(&h, fo);
	if (fclose(fo) && !err)
		err = -errno;
	if (err) {
		ret = kh_err(o, KH_EXIT_ERROR, "heatmap: writing %s: %s", out,
			     kh_errstr(err, eb, sizeof(eb)));
		goto out;
	}
	if (o->json) {
		json_t *j = json_pack("{s:s, s:i, s:s, s:I, s:I, s:I, s:I, s:I}", "output", out,
				      "pid", (int)h.pid, "metric", h.writes ? "writes" : "accesses",
				      "rows", (json_int_t)h.rows, "cols", (json_int_t)h.cols,
				      "gfn_lo", (json_int_t)kh_hm_gfn(&h, h.lo),
				      "gfn_hi", (json_int_t)kh_hm_gfn(&h, h.hi),
				      "max", (json_int_t)h.max);

		kh_json_print(j, JSON_INDENT(1));
	} else {
		fprintf(stderr, "kvmheat: wrote %s: VM %u, %zu rows x %zu columns\n", out, h.pid,
			h.rows, h.cols);
	}
out:
	kh_hm_free(&h);
	kh_rd_free(&rec);
	return ret;
}
