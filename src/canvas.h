/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * One drawing, two outputs.  The heatmap and chart layouts (src/draw.c,
 * src/chart.c) draw once onto a struct kh_canvas; the canvas is either
 * kvmheat's own SVG writer (it keeps hover <title> details, which cairo's
 * SVG surface cannot emit) or a cairo image surface encoded as PNG by
 * libpng (so the PNG can carry tEXt chunks describing its geometry).
 * A build without cairo (the rig's static binary) has the SVG side only.
 */
#ifndef KH_CANVAS_H
#define KH_CANVAS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

enum kh_anchor { KH_AN_START, KH_AN_MIDDLE, KH_AN_END };

/* Text attributes: size in px, anchor, rotated -90 degrees (reads upwards), bold. */
struct kh_font {
	double size;
	enum kh_anchor anchor;
	bool up, bold;
};

struct kh_canvas;

struct kh_canvas_ops {
	void (*rect)(struct kh_canvas *c, double x, double y, double w, double h,
		     const uint8_t rgb[3], const char *tip);
	void (*line)(struct kh_canvas *c, const double *xy, size_t n, const uint8_t rgb[3],
		     double width, bool dashed, const char *tip);
	void (*text)(struct kh_canvas *c, double x, double y, const struct kh_font *ft,
		     const uint8_t rgb[3], const char *s);
};

struct kh_canvas {
	const struct kh_canvas_ops *ops;
	unsigned int w, h;
	FILE *f;		/* SVG: where it is written */
	void *cr, *surface;	/* PNG: cairo context and image surface */
	int err;		/* first error, negative errno; sticky */
};

/* The SVG document starts here; @bare: no XML prolog and namespace (inline in HTML). */
int kh_canvas_svg(struct kh_canvas *c, FILE *f, unsigned int w, unsigned int h,
		  const char *title, bool bare);
/* -ENOTSUP when built without cairo. */
int kh_canvas_png(struct kh_canvas *c, unsigned int w, unsigned int h);
bool kh_canvas_png_supported(void);

/* PNG tEXt chunk (key, text, compressed). */
struct kh_png_text {
	const char *key, *text;
	bool z;
};

/* Ends the drawing: SVG closes the document, PNG is encoded to @f.  Frees the canvas. */
int kh_canvas_end(struct kh_canvas *c, FILE *f, const struct kh_png_text *txt, size_t ntxt);

static inline void kh_cv_rect(struct kh_canvas *c, double x, double y, double w, double h,
			      const uint8_t rgb[3], const char *tip)
{
	c->ops->rect(c, x, y, w, h, rgb, tip);
}

static inline void kh_cv_line(struct kh_canvas *c, double x1, double y1, double x2, double y2,
			      const uint8_t rgb[3], double width, bool dashed)
{
	double xy[4] = { x1, y1, x2, y2 };

	c->ops->line(c, xy, 2, rgb, width, dashed, NULL);
}

static inline void kh_cv_text(struct kh_canvas *c, double x, double y, const struct kh_font *ft,
			      const uint8_t rgb[3], const char *s)
{
	c->ops->text(c, x, y, ft, rgb, s);
}

void kh_xml_text(FILE *f, const char *s);

#endif /* KH_CANVAS_H */
