/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * Heatmap geometry (src/hmap.c) and its drawings (src/draw.c): a view of
 * a recording above the reader (datafile.h), below the commands.
 */
#ifndef KH_HMAP_H
#define KH_HMAP_H

#include <stdio.h>
#include "datafile.h"
#include "canvas.h"
#include "view.h"

struct kh_seg {
	uint64_t base;		/* first gfn */
	uint64_t npages;
	uint64_t start;		/* squeezed index of base */
};

struct kh_hmap {
	uint32_t pid;
	bool writes;
	bool idle;		/* --metric idle: cell = 1 + mean idle age at the column's last scan */
	bool gfn_axis;		/* address labels in gfns, not MiB/GiB */
	struct kh_seg *seg;
	size_t nseg;
	uint64_t lo, hi;	/* squeezed indices shown, inclusive */
	size_t rows, cols;
	uint64_t *cell;		/* rows x cols counts */
	uint64_t max;
	size_t nep;		/* wanted epochs */
	double *ct0, *ct1;	/* time span of each column, seconds */
};

/* Colours shared by every drawing: empty cell, PNG gutter, hole marker. */
extern const uint8_t kh_bg[3], kh_gutter[3], kh_hole[3];

/* -ENODATA: nothing of the metric to draw for h->pid in the selection. */
int kh_hm_build(struct kh_hmap *h, const struct kh_recording *r, const struct kh_rd_filter *f,
		size_t want_rows, size_t want_cols);
void kh_hm_free(struct kh_hmap *h);
/*
 * --metric idle: time x address, each column the VM's idle ages at the
 * last scan in it; -ENODATA when the selection holds no scan of h->pid.
 */
int kh_hm_build_idle(struct kh_hmap *h, const struct kh_recording *r, const struct kh_rd_filter *f,
		     size_t want_rows, size_t want_cols);
/* The VM with the most of the metric in the selection; 0 if none has any. */
int kh_hm_pick_vm(const struct kh_recording *r, const struct kh_rd_filter *f, bool writes,
		  uint32_t *pid);
uint64_t kh_hm_metric(const struct kh_hmap *h, const struct kh_counts *c);
/* "accesses", "writes" or "idle" (ages) */
const char *kh_hm_metric_name(const struct kh_hmap *h);
/* What a cell shows: its count, or for idle the mean age (cell - 1). */
uint64_t kh_hm_shown(const struct kh_hmap *h, uint64_t v);
/* Where non-zero cell @v sits on the ramp, 0..1: log of counts, linear for ages. */
double kh_hm_pos(const struct kh_hmap *h, uint64_t v);
/* This map's ramp at @t: heat (dark red .. white), or idle (yellow .. deep blue). */
void kh_hm_ramp(const struct kh_hmap *h, double t, uint8_t rgb[3]);
uint64_t kh_hm_gfn(const struct kh_hmap *h, uint64_t idx);
uint64_t kh_hm_row_first(const struct kh_hmap *h, size_t r);
/* The heat ramp at 0 <= t <= 1 (log of count / log of max). */
void kh_ramp_rgb(double t, uint8_t rgb[3]);
void kh_hm_rgb(const struct kh_hmap *h, uint64_t v, uint8_t rgb[3]);
size_t kh_hm_holes(const struct kh_hmap *h, size_t *rows, uint64_t *gap_lo, uint64_t *gap_hi,
		   size_t max);
const char *kh_hm_label(const struct kh_hmap *h, uint64_t gfn, char *buf, size_t len);

/* @bare: no XML prolog or namespace, for inline use in HTML. */
int kh_hm_svg(const struct kh_hmap *h, const struct kh_rd_vm *vm, FILE *f, bool bare);
/* -ENOTSUP in a build without cairo. */
int kh_hm_png(const struct kh_hmap *h, const struct kh_rd_vm *vm, FILE *f);
/* @color: ANSI 256-colour blocks, else a character ramp. */
void kh_hm_term(const struct kh_hmap *h, const struct kh_rd_vm *vm, FILE *f, bool color);

#endif /* KH_HMAP_H */
