/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * Lines per VM over a recording (`heatmap --chart`, the HTML report):
 * the working set, the access and write rates per epoch, or the memory idle
 * at each epoch's last idle scan.  A view of a
 * recording, drawn through the canvas (src/canvas.c) like the heatmap.
 */
#ifndef KH_CHART_H
#define KH_CHART_H

#include <stdio.h>
#include "datafile.h"
#include "canvas.h"
#include "view.h"

enum kh_chart_kind { KH_CHART_WSS, KH_CHART_RATES, KH_CHART_COLD };

struct kh_series {
	uint32_t pid;
	char comm[17];
	bool dashed;		/* rates: writes/s, beside accesses/s */
	double *y;		/* one value per point */
};

struct kh_chart {
	enum kh_chart_kind kind;
	size_t n;		/* points: the wanted epochs */
	double *t;		/* each point's time: the epoch's middle, seconds */
	double t0, t1;		/* the span drawn */
	struct kh_series *s;
	size_t ns;
	double ymax;
	const char *ylabel;
};

/* Parses wss, rates or cold. */
int kh_chart_kind_parse(const char *s, enum kh_chart_kind *k);
/*
 * -ENODATA when there is nothing to draw, @why says why in one line (a cold
 * chart of a recording made without --age-driver: no idle ages).
 */
int kh_chart_build(struct kh_chart *c, const struct kh_recording *r, const struct kh_rd_filter *f,
		   enum kh_chart_kind kind, char *why, size_t whylen);
void kh_chart_free(struct kh_chart *c);
int kh_chart_svg(const struct kh_chart *c, FILE *f, bool bare);
/* -ENOTSUP in a build without cairo. */
int kh_chart_png(const struct kh_chart *c, FILE *f);

#endif /* KH_CHART_H */
