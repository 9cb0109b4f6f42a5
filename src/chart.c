// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * Charts over time: per wanted epoch and VM, the working set (gfns with
 * accesses in the epoch, as MiB) or the access and write rates (per
 * second of the epoch).  Drawn once through the canvas, as SVG (each line
 * has a hover title) or PNG.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "canvas.h"
#include "chart.h"

static const uint8_t kh_ink[3] = { 34, 34, 34 };
static const uint8_t kh_grid[3] = { 225, 225, 225 };
static const uint8_t kh_white[3] = { 255, 255, 255 };
/* Distinct line colours (one per VM), dark enough on white. */
static const uint8_t kh_pal[][3] = {
	{ 31, 119, 180 }, { 214, 39, 40 }, { 44, 160, 44 }, { 148, 103, 189 },
	{ 255, 127, 14 }, { 140, 86, 75 }, { 227, 119, 194 }, { 23, 190, 207 },
};
#define KH_NPAL (sizeof(kh_pal) / sizeof(kh_pal[0]))

#define KH_CH_W		940
#define KH_CH_H		420
#define KH_CH_X0	80
#define KH_CH_Y0	44
#define KH_CH_PW	600
#define KH_CH_PH	300

int kh_chart_kind_parse(const char *s, enum kh_chart_kind *k)
{
	if (!strcmp(s, "wss"))
		*k = KH_CHART_WSS;
	else if (!strcmp(s, "rates"))
		*k = KH_CHART_RATES;
	else if (!strcmp(s, "cold"))
		*k = KH_CHART_COLD;
	else
		return -EINVAL;
	return 0;
}

void kh_chart_free(struct kh_chart *c)
{
	for (size_t i = 0; i < c->ns; i++)
		free(c->s[i].y);
	free(c->s);
	free(c->t);
	memset(c, 0, sizeof(*c));
}

/* The series of @pid (and its writes twin for rates), added on first sight. */
static struct kh_series *kh_chart_series(struct kh_chart *c, const struct kh_recording *r, uint32_t pid)
{
	size_t per = c->kind == KH_CHART_RATES ? 2 : 1;
	struct kh_series *s;

	for (size_t i = 0; i < c->ns; i += per)
		if (c->s[i].pid == pid)
			return &c->s[i];
	s = realloc(c->s, (c->ns + per) * sizeof(*s));
	if (!s)
		return NULL;
	c->s = s;
	for (size_t k = 0; k < per; k++) {
		const struct kh_rd_vm *vm = kh_rd_find_vm((struct kh_recording *)r, pid);

		s = &c->s[c->ns + k];
		memset(s, 0, sizeof(*s));
		s->pid = pid;
		snprintf(s->comm, sizeof(s->comm), "%s", vm ? vm->comm : "?");
		s->dashed = k == 1;
		s->y = calloc(c->n ? c->n : 1, sizeof(double));
		if (!s->y)
			return NULL;
		for (size_t p = 0; c->kind == KH_CHART_COLD && p < c->n; p++)
			s->y[p] = NAN;	/* no scan here yet: filled from the one before */
	}
	c->ns += per;
	return &c->s[c->ns - per];
}

/* The idle scans taken in epoch @e into point @p: MiB idle for >= 1 scan. */
static int kh_chart_cold(struct kh_chart *c, const struct kh_recording *r,
			 const struct kh_rd_filter *f, size_t e, size_t p)
{
	const struct kh_rd_epoch *ep = &r->epochs[e];

	for (size_t i = ep->first_idle; i < ep->first_idle + ep->nr_idle; i++) {
		const struct kh_rd_idle *sc = &r->idle[i];
		struct kh_series *s;
		uint64_t pages = 0;

		if (f->pid && sc->pid != f->pid)
			continue;
		for (size_t k = 0; k < sc->nr_runs; k++) {
			uint64_t first, n = kh_rd_idle_clip(r, f, sc, k, &first);

			if (r->idle_runs[sc->first_run + k].age >= 1)
				pages += n;
		}
		s = kh_chart_series(c, r, sc->pid);
		if (!s)
			return -ENOMEM;
		s->y[p] = (double)pages * KH_PAGE_SIZE / (1 << 20);	/* the epoch's last scan */
	}
	return 0;
}

/* Between scans a cold line holds its last value; before its first, 0. */
static void kh_chart_hold(struct kh_chart *c)
{
	for (size_t i = 0; c->kind == KH_CHART_COLD && i < c->ns; i++)
		for (size_t p = 0; p < c->n; p++)
			if (isnan(c->s[i].y[p]))
				c->s[i].y[p] = p ? c->s[i].y[p - 1] : 0;
}

/* Each wanted epoch's gfn entries into the series' point @p. */
static int kh_chart_fill(struct kh_chart *c, const struct kh_recording *r, const struct kh_rd_filter *f)
{
	for (size_t e = 0, p = 0; e < r->nr_epochs; e++) {
		const struct kh_rd_epoch *ep = &r->epochs[e];
		double secs = kh_rd_secs(r, ep->t1) - kh_rd_secs(r, ep->t0);

		if (!kh_rd_epoch_wanted(r, f, e))
			continue;
		c->t[p] = (kh_rd_secs(r, ep->t0) + kh_rd_secs(r, ep->t1)) / 2;
		if (!p)
			c->t0 = kh_rd_secs(r, ep->t0);
		c->t1 = kh_rd_secs(r, ep->t1);
		if (c->kind == KH_CHART_COLD && kh_chart_cold(c, r, f, e, p))
			return -ENOMEM;
		for (size_t i = ep->first_gfn; c->kind != KH_CHART_COLD && i < ep->first_gfn + ep->nr_gfns; i++) {
			const struct kh_rd_gfn *g = &r->gfns[i];
			struct kh_series *s;

			if (!kh_rd_gfn_wanted(f, g->pid, g->gfn) || !g->d.accesses)
				continue;
			s = kh_chart_series(c, r, g->pid);
			if (!s)
				return -ENOMEM;
			if (c->kind == KH_CHART_WSS) {
				s->y[p] += (double)KH_PAGE_SIZE / (1 << 20);
			} else if (secs > 0) {
				s[0].y[p] += g->d.accesses / secs;
				s[1].y[p] += g->d.writes / secs;
			}
		}
		p++;
	}
	return 0;
}

int kh_chart_build(struct kh_chart *c, const struct kh_recording *r, const struct kh_rd_filter *f,
		   enum kh_chart_kind kind, char *why, size_t whylen)
{
	int err;

	memset(c, 0, sizeof(*c));
	c->kind = kind;
	c->ylabel = kind == KH_CHART_WSS ? "working set (MiB touched per epoch)" :
		    kind == KH_CHART_COLD ? "MiB idle >= 1 scan (last scan)" :
		    "accesses/s (solid), writes/s (dashed)";
	for (size_t e = 0; e < r->nr_epochs; e++)
		c->n += kh_rd_epoch_wanted(r, f, e);
	c->t = calloc(c->n ? c->n : 1, sizeof(double));
	if (!c->t)
		return -ENOMEM;
	err = kh_chart_fill(c, r, f);
	if (err)
		return err;
	kh_chart_hold(c);
	if (kind == KH_CHART_COLD && !c->ns) {
		snprintf(why, whylen, "the selected part of the recording holds no idle ages "
			 "(record with --age-driver to get them)");
		return -ENODATA;
	}
	for (size_t i = 0; i < c->ns; i++)
		for (size_t p = 0; p < c->n; p++)
			c->ymax = c->s[i].y[p] > c->ymax ? c->s[i].y[p] : c->ymax;
	if (!c->n || !c->ns || c->ymax <= 0) {
		snprintf(why, whylen, "%s", !c->n ? "no epochs in the selected part of the "
			 "recording" : kind == KH_CHART_COLD ? "no idle memory in the selected "
			 "part of the recording" : "no accesses in the selected part of the "
			 "recording");
		return -ENODATA;
	}
	return 0;
}

/* A round step (1, 2 or 5 times a power of ten) giving about @n ticks up to @max. */
static double kh_nice_step(double max, int n)
{
	double raw = max / n, p = pow(10, floor(log10(raw))), m = raw / p;

	return (m <= 1 ? 1 : m <= 2 ? 2 : m <= 5 ? 5 : 10) * p;
}

static void kh_chart_axes(struct kh_canvas *cv, const struct kh_chart *c, double ytop)
{
	const struct kh_font tr = { .size = 11, .anchor = KH_AN_END }, tm = { .size = 11, .anchor = KH_AN_MIDDLE };
	const struct kh_font name = { .size = 12, .anchor = KH_AN_MIDDLE }, up = { .size = 12, .anchor = KH_AN_MIDDLE, .up = true };
	double ystep = kh_nice_step(ytop, 5), span = c->t1 - c->t0;
	double tstep = kh_nice_step(span > 0 ? span : 1, 6);
	char b[32];

	for (double v = 0; v <= ytop * 1.0001; v += ystep) {
		double y = KH_CH_Y0 + KH_CH_PH - v / ytop * KH_CH_PH;

		kh_cv_line(cv, KH_CH_X0, y, KH_CH_X0 + KH_CH_PW, y, kh_grid, 1, false);
		snprintf(b, sizeof(b), "%g", v);
		kh_cv_text(cv, KH_CH_X0 - 6, y + 4, &tr, kh_ink, b);
	}
	for (double t = ceil(c->t0 / tstep) * tstep; t <= c->t1 + 1e-9; t += tstep) {
		double x = KH_CH_X0 + (span > 0 ? (t - c->t0) / span : 0.5) * KH_CH_PW;

		kh_cv_line(cv, x, KH_CH_Y0 + KH_CH_PH, x, KH_CH_Y0 + KH_CH_PH + 4, kh_ink, 1, false);
		snprintf(b, sizeof(b), "%g s", t);
		kh_cv_text(cv, x, KH_CH_Y0 + KH_CH_PH + 16, &tm, kh_ink, b);
	}
	kh_cv_line(cv, KH_CH_X0, KH_CH_Y0, KH_CH_X0, KH_CH_Y0 + KH_CH_PH, kh_ink, 1, false);
	kh_cv_line(cv, KH_CH_X0, KH_CH_Y0 + KH_CH_PH, KH_CH_X0 + KH_CH_PW, KH_CH_Y0 + KH_CH_PH,
		   kh_ink, 1, false);
	kh_cv_text(cv, KH_CH_X0 + KH_CH_PW / 2, KH_CH_Y0 + KH_CH_PH + 36, &name, kh_ink,
		   "time since the start of the recording");
	kh_cv_text(cv, 16, KH_CH_Y0 + KH_CH_PH / 2, &up, kh_ink, c->ylabel);
}

/* One polyline per series, its legend entry at the right. */
static int kh_chart_lines(struct kh_canvas *cv, const struct kh_chart *c, double ytop)
{
	const struct kh_font lf = { .size = 11, .anchor = KH_AN_START };
	double span = c->t1 - c->t0, *xy = malloc(c->n * 2 * sizeof(double));
	char tip[96], name[64];

	if (!xy)
		return -ENOMEM;
	for (size_t i = 0; i < c->ns; i++) {
		const struct kh_series *s = &c->s[i];
		const uint8_t *rgb = kh_pal[(c->kind == KH_CHART_RATES ? i / 2 : i) % KH_NPAL];
		double peak = 0, ly = KH_CH_Y0 + 8 + 18 * i;

		for (size_t p = 0; p < c->n; p++) {
			xy[2 * p] = KH_CH_X0 + (span > 0 ? (c->t[p] - c->t0) / span : 0.5) * KH_CH_PW;
			xy[2 * p + 1] = KH_CH_Y0 + KH_CH_PH - s->y[p] / ytop * KH_CH_PH;
			peak = s->y[p] > peak ? s->y[p] : peak;
		}
		snprintf(tip, sizeof(tip), "VM %u (%s)%s: peak %.4g", s->pid, s->comm,
			 c->kind != KH_CHART_RATES ? "" : s->dashed ? " writes/s" : " accesses/s",
			 peak);
		snprintf(name, sizeof(name), "VM %u (%s)%s", s->pid, s->comm,
			 c->kind != KH_CHART_RATES ? "" : s->dashed ? " wr/s" : " acc/s");
		cv->ops->line(cv, xy, c->n, rgb, 2, s->dashed, tip);
		if (c->n == 1)	/* a single epoch: a dot, a line needs two points */
			kh_cv_rect(cv, xy[0] - 3, xy[1] - 3, 6, 6, rgb, tip);
		kh_cv_line(cv, KH_CH_X0 + KH_CH_PW + 16, ly, KH_CH_X0 + KH_CH_PW + 40, ly, rgb, 2,
			   s->dashed);
		kh_cv_text(cv, KH_CH_X0 + KH_CH_PW + 46, ly + 4, &lf, kh_ink, name);
	}
	free(xy);
	return 0;
}

static int kh_chart_draw(struct kh_canvas *cv, const struct kh_chart *c)
{
	static const char *what[] = { "working set", "access and write rates", "cold memory" };
	const struct kh_font title = { .size = 13, .anchor = KH_AN_START, .bold = true };
	double ytop = kh_nice_step(c->ymax, 5) * ceil(c->ymax / kh_nice_step(c->ymax, 5));
	char t[128];

	kh_cv_rect(cv, 0, 0, KH_CH_W, KH_CH_H, kh_white, NULL);
	snprintf(t, sizeof(t), "kvmheat: %s per epoch, %zu VM%s, %.2f-%.2f s", what[c->kind],
		 c->kind == KH_CHART_RATES ? c->ns / 2 : c->ns,
		 (c->kind == KH_CHART_RATES ? c->ns / 2 : c->ns) == 1 ? "" : "s", c->t0, c->t1);
	kh_cv_text(cv, 8, 20, &title, kh_ink, t);
	kh_chart_axes(cv, c, ytop);
	return kh_chart_lines(cv, c, ytop);
}

int kh_chart_svg(const struct kh_chart *c, FILE *f, bool bare)
{
	struct kh_canvas cv;
	int err = kh_canvas_svg(&cv, f, KH_CH_W, KH_CH_H, NULL, bare);

	if (err)
		return err;
	cv.err = kh_chart_draw(&cv, c);
	return kh_canvas_end(&cv, f, NULL, 0);
}

int kh_chart_png(const struct kh_chart *c, FILE *f)
{
	struct kh_canvas cv;
	char geo[128];
	int err = kh_canvas_png(&cv, KH_CH_W, KH_CH_H);

	if (err)
		return err;
	cv.err = kh_chart_draw(&cv, c);
	snprintf(geo, sizeof(geo), "plot=%u,%u,%u,%u series=%zu points=%zu", KH_CH_X0, KH_CH_Y0,
		 KH_CH_PW, KH_CH_PH, c->ns, c->n);
	return kh_canvas_end(&cv, f, (const struct kh_png_text[]){
		{ .key = "Software", .text = "kvmheat " KH_VERSION },
		{ .key = "kvmheat-chart", .text = geo } }, 2);
}
