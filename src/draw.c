// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * Drawing a heatmap (src/hmap.c builds it): SVG, PNG (libpng) or ANSI
 * colour blocks.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <png.h>
#include "hmap.h"


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

int kh_hm_svg(const struct kh_hmap *h, const struct kh_rd_vm *vm, FILE *f)
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
int kh_hm_png(const struct kh_hmap *h, FILE *f)
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
void kh_hm_term(const struct kh_hmap *h, const struct kh_rd_vm *vm, FILE *f)
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
