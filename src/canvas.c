// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * The two canvases of canvas.h: kvmheat's SVG writer and a cairo image
 * surface written out as PNG by libpng.  Cairo (Debian's libcairo2) does
 * the rasterising and the text (through fontconfig/freetype), so no pixel
 * is placed by hand; libpng writes the file because cairo's own PNG writer
 * cannot add the tEXt chunks that tell tools where the plot area is.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <png.h>
#ifndef KH_NO_CAIRO
#include <cairo.h>
#include <fontconfig/fontconfig.h>
#endif
#include "canvas.h"

#define KH_FONT_FAMILY	"DejaVu Sans"

void kh_xml_text(FILE *f, const char *s)
{
	for (; *s; s++) {
		if (*s == '<')
			fputs("&lt;", f);
		else if (*s == '>')
			fputs("&gt;", f);
		else if (*s == '&')
			fputs("&amp;", f);
		else if (*s == '"')
			fputs("&quot;", f);
		else
			fputc(*s, f);
	}
}

/* ---- SVG ---- */

static void kh_svg_tip(FILE *f, const char *tip)
{
	fputs("<title>", f);
	kh_xml_text(f, tip);
	fputs("</title>", f);
}

static void kh_svg_rect(struct kh_canvas *c, double x, double y, double w, double h,
			const uint8_t rgb[3], const char *tip)
{
	fprintf(c->f, "<rect x=\"%g\" y=\"%g\" width=\"%g\" height=\"%g\" fill=\"#%02x%02x%02x\"",
		x, y, w, h, rgb[0], rgb[1], rgb[2]);
	if (!tip) {
		fputs("/>\n", c->f);
		return;
	}
	fputs(">", c->f);
	kh_svg_tip(c->f, tip);
	fputs("</rect>\n", c->f);
}

static void kh_svg_line(struct kh_canvas *c, const double *xy, size_t n, const uint8_t rgb[3],
			double width, bool dashed, const char *tip)
{
	fprintf(c->f, "<polyline shape-rendering=\"geometricPrecision\" fill=\"none\" "
		"stroke=\"#%02x%02x%02x\" stroke-width=\"%g\"%s points=\"", rgb[0], rgb[1], rgb[2], width,
		dashed ? " stroke-dasharray=\"4 3\"" : "");
	for (size_t i = 0; i < n; i++)
		fprintf(c->f, "%s%.1f,%.1f", i ? " " : "", xy[2 * i], xy[2 * i + 1]);
	fputs("\"", c->f);
	if (!tip) {
		fputs("/>\n", c->f);
		return;
	}
	fputs(">", c->f);
	kh_svg_tip(c->f, tip);
	fputs("</polyline>\n", c->f);
}

static void kh_svg_text(struct kh_canvas *c, double x, double y, const struct kh_font *ft,
			const uint8_t rgb[3], const char *s)
{
	static const char *anchor[] = { "start", "middle", "end" };

	fprintf(c->f, "<text x=\"%g\" y=\"%g\" font-size=\"%g\" text-anchor=\"%s\" "
		"fill=\"#%02x%02x%02x\"%s", x, y, ft->size, anchor[ft->anchor], rgb[0], rgb[1],
		rgb[2], ft->bold ? " font-weight=\"bold\"" : "");
	if (ft->up)
		fprintf(c->f, " transform=\"rotate(-90 %g %g)\"", x, y);
	fputs(">", c->f);
	kh_xml_text(c->f, s);
	fputs("</text>\n", c->f);
}

static const struct kh_canvas_ops kh_svg_ops = {
	.rect = kh_svg_rect, .line = kh_svg_line, .text = kh_svg_text,
};

int kh_canvas_svg(struct kh_canvas *c, FILE *f, unsigned int w, unsigned int h,
		  const char *title, bool bare)
{
	*c = (struct kh_canvas){ .ops = &kh_svg_ops, .w = w, .h = h, .f = f };
	if (!bare)
		fputs("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n", f);
	fprintf(f, "<svg%s width=\"%u\" height=\"%u\" viewBox=\"0 0 %u %u\" "
		"font-family=\"" KH_FONT_FAMILY ", sans-serif\" shape-rendering=\"crispEdges\">\n",
		bare ? "" : " xmlns=\"http://www.w3.org/2000/svg\"", w, h, w, h);
	if (title)
		kh_svg_tip(f, title);
	fputs("\n", f);
	return ferror(f) ? -EIO : 0;
}

/* ---- PNG through cairo ---- */

#ifndef KH_NO_CAIRO
static void kh_cr_rgb(cairo_t *cr, const uint8_t rgb[3])
{
	cairo_set_source_rgb(cr, rgb[0] / 255.0, rgb[1] / 255.0, rgb[2] / 255.0);
}

static void kh_cr_rect(struct kh_canvas *c, double x, double y, double w, double h,
		       const uint8_t rgb[3], const char *tip)
{
	kh_cr_rgb(c->cr, rgb);
	cairo_rectangle(c->cr, x, y, w, h);
	cairo_fill(c->cr);
}

static void kh_cr_line(struct kh_canvas *c, const double *xy, size_t n, const uint8_t rgb[3],
		       double width, bool dashed, const char *tip)
{
	static const double dash[] = { 4, 3 };
	cairo_t *cr = c->cr;

	if (!n)
		return;
	kh_cr_rgb(cr, rgb);
	cairo_set_line_width(cr, width);
	cairo_set_dash(cr, dash, dashed ? 2 : 0, 0);
	cairo_move_to(cr, xy[0], xy[1]);
	for (size_t i = 1; i < n; i++)
		cairo_line_to(cr, xy[2 * i], xy[2 * i + 1]);
	cairo_stroke(cr);
	cairo_set_dash(cr, NULL, 0, 0);
}

static void kh_cr_text(struct kh_canvas *c, double x, double y, const struct kh_font *ft,
		       const uint8_t rgb[3], const char *s)
{
	cairo_t *cr = c->cr;
	cairo_text_extents_t ext;
	double dx;

	cairo_select_font_face(cr, KH_FONT_FAMILY, CAIRO_FONT_SLANT_NORMAL,
			       ft->bold ? CAIRO_FONT_WEIGHT_BOLD : CAIRO_FONT_WEIGHT_NORMAL);
	cairo_set_font_size(cr, ft->size);
	cairo_text_extents(cr, s, &ext);
	dx = ft->anchor == KH_AN_MIDDLE ? -ext.x_advance / 2 :
	     ft->anchor == KH_AN_END ? -ext.x_advance : 0;
	kh_cr_rgb(cr, rgb);
	cairo_save(cr);
	cairo_translate(cr, x, y);
	if (ft->up)
		cairo_rotate(cr, -M_PI / 2);
	cairo_move_to(cr, dx, 0);
	cairo_show_text(cr, s);
	cairo_restore(cr);
}

static const struct kh_canvas_ops kh_cr_ops = {
	.rect = kh_cr_rect, .line = kh_cr_line, .text = kh_cr_text,
};

bool kh_canvas_png_supported(void)
{
	return true;
}

int kh_canvas_png(struct kh_canvas *c, unsigned int w, unsigned int h)
{
	cairo_surface_t *s = cairo_image_surface_create(CAIRO_FORMAT_RGB24, w, h);

	*c = (struct kh_canvas){ .ops = &kh_cr_ops, .w = w, .h = h };
	if (cairo_surface_status(s) != CAIRO_STATUS_SUCCESS) {
		cairo_surface_destroy(s);
		return -ENOMEM;
	}
	c->surface = s;
	c->cr = cairo_create(s);
	cairo_set_source_rgb(c->cr, 1, 1, 1);
	cairo_paint(c->cr);
	return 0;
}

static void kh_png_error(png_structp png, png_const_charp msg)
{
	(void)msg;
	png_longjmp(png, 1);
}

/* The surface's 0x00RRGGBB words as 8-bit RGB rows, with the tEXt chunks. */
static int kh_png_encode(struct kh_canvas *c, FILE *f, const struct kh_png_text *kt, size_t nt)
{
	cairo_surface_t *s = c->surface;
	int stride = cairo_image_surface_get_stride(s);
	const uint8_t *data = cairo_image_surface_get_data(s);
	uint8_t *row = malloc((size_t)c->w * 3);
	png_text txt[8];
	png_structp png;
	png_infop info;

	if (!row || nt > 8) {
		free(row);
		return -ENOMEM;
	}
	png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, kh_png_error, NULL);
	info = png ? png_create_info_struct(png) : NULL;
	if (!info || setjmp(png_jmpbuf(png))) {
		png_destroy_write_struct(&png, &info);
		free(row);
		return -EIO;
	}
	png_init_io(png, f);
	png_set_IHDR(png, info, c->w, c->h, 8, PNG_COLOR_TYPE_RGB, PNG_INTERLACE_NONE,
		     PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
	memset(txt, 0, sizeof(txt));
	for (size_t i = 0; i < nt; i++)
		txt[i] = (png_text){ .compression = kt[i].z ? PNG_TEXT_COMPRESSION_zTXt :
				     PNG_TEXT_COMPRESSION_NONE, .key = (char *)kt[i].key,
				     .text = (char *)kt[i].text };
	png_set_text(png, info, txt, nt);
	png_write_info(png, info);
	for (unsigned int y = 0; y < c->h; y++) {
		const uint32_t *px = (const uint32_t *)(data + (size_t)y * stride);

		for (unsigned int x = 0; x < c->w; x++) {
			row[3 * x] = px[x] >> 16;
			row[3 * x + 1] = px[x] >> 8;
			row[3 * x + 2] = px[x];
		}
		png_write_row(png, row);
	}
	png_write_end(png, NULL);
	png_destroy_write_struct(&png, &info);
	free(row);
	return 0;
}

static int kh_canvas_png_end(struct kh_canvas *c, FILE *f, const struct kh_png_text *txt,
			     size_t ntxt)
{
	int err;

	cairo_surface_flush(c->surface);
	err = cairo_status(c->cr) != CAIRO_STATUS_SUCCESS ? -ENOMEM :
	      f ? kh_png_encode(c, f, txt, ntxt) : 0;
	cairo_destroy(c->cr);
	cairo_surface_destroy(c->surface);
	c->cr = c->surface = NULL;
	/*
	 * Drop cairo's font caches and fontconfig's configuration, so a leak
	 * checker (make test-san) sees a clean exit; both are built again on
	 * the next drawing.
	 */
	cairo_debug_reset_static_data();
	FcFini();
	return err;
}
#else
bool kh_canvas_png_supported(void)
{
	return false;
}

int kh_canvas_png(struct kh_canvas *c, unsigned int w, unsigned int h)
{
	memset(c, 0, sizeof(*c));
	return -ENOTSUP;
}

static int kh_canvas_png_end(struct kh_canvas *c, FILE *f, const struct kh_png_text *txt,
			     size_t ntxt)
{
	return -ENOTSUP;
}
#endif

int kh_canvas_end(struct kh_canvas *c, FILE *f, const struct kh_png_text *txt, size_t ntxt)
{
	int err = c->err;

	if (c->ops == &kh_svg_ops) {
		fputs("</svg>\n", c->f);
		return err ? err : ferror(c->f) ? -EIO : 0;
	}
	if (!c->ops)
		return -EINVAL;
	if (err) {
		kh_canvas_png_end(c, NULL, NULL, 0);
		return err;
	}
	return kh_canvas_png_end(c, f, txt, ntxt);
}
