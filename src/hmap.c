// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * Heatmap geometry (a view of a recording, no drawing): a recording as
 * time (epochs, x) against guest physical address (y), counts binned into
 * rows x columns.
 *
 * The address axis is the VM's memslots laid end to end, holes between
 * them squeezed out (and marked), cropped to the touched extent so there
 * is always something to see.  Gfns are binned into rows on the way in:
 * the cost is one binary search per recorded entry, and memory is rows x
 * columns, whatever the guest's size.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "hmap.h"

/* Gfns outside every memslot further apart than this start a new segment. */
#define KH_HM_GAP	1024

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

uint64_t kh_hm_gfn(const struct kh_hmap *h, uint64_t idx)
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
uint64_t kh_hm_row_first(const struct kh_hmap *h, size_t r)
{
	return h->lo + ((unsigned __int128)r * kh_hm_span(h) + h->rows - 1) / h->rows;
}

static int kh_hm_columns(struct kh_hmap *h, const struct kh_recording *r,
			 const struct kh_rd_filter *f, size_t **ecolp);
static void kh_stops_rgb(const uint8_t (*stops)[3], size_t n, double t, uint8_t rgb[3]);

static size_t kh_hm_row(const struct kh_hmap *h, uint64_t idx)
{
	return (unsigned __int128)(idx - h->lo) * h->rows / kh_hm_span(h);
}

uint64_t kh_hm_metric(const struct kh_hmap *h, const struct kh_counts *c)
{
	if (h->idle)
		return 0;	/* ages come from idle scans, not from counts */
	return h->writes ? c->writes : c->accesses;
}

const char *kh_hm_metric_name(const struct kh_hmap *h)
{
	return h->idle ? "idle" : h->writes ? "writes" : "accesses";
}

uint64_t kh_hm_shown(const struct kh_hmap *h, uint64_t v)
{
	return h->idle && v ? v - 1 : v;
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

			if (g->pid != h->pid || !kh_hm_metric(h, &g->d) ||
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

int kh_hm_build(struct kh_hmap *h, const struct kh_recording *r, const struct kh_rd_filter *f,
		       size_t want_rows, size_t want_cols)
{
	size_t *ecol;
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

			if (g->pid != h->pid || !kh_hm_metric(h, &g->d) ||
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
	if (!h->cell)
		return -ENOMEM;
	err = kh_hm_columns(h, r, f, &ecol);
	if (err)
		return err;
	for (size_t e = 0; e < r->nr_epochs; e++) {
		const struct kh_rd_epoch *ep = &r->epochs[e];

		if (ecol[e] == SIZE_MAX)
			continue;
		for (size_t i = ep->first_gfn; i < ep->first_gfn + ep->nr_gfns; i++) {
			const struct kh_rd_gfn *g = &r->gfns[i];
			uint64_t v = kh_hm_metric(h, &g->d), *cell;

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

/* Columns of the wanted epochs: @ecol[e] (SIZE_MAX: not wanted) and their times. */
static int kh_hm_columns(struct kh_hmap *h, const struct kh_recording *r,
			 const struct kh_rd_filter *f, size_t **ecolp)
{
	size_t *ecol = calloc(r->nr_epochs ? r->nr_epochs : 1, sizeof(*ecol)), k = 0;

	h->ct0 = calloc(h->cols, sizeof(double));
	h->ct1 = calloc(h->cols, sizeof(double));
	if (!ecol || !h->ct0 || !h->ct1) {
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
	*ecolp = ecol;
	return 0;
}

/* Pages [idx, idx + n) of age @age into column @c's per-row sums. */
static void kh_hm_idle_add(struct kh_hmap *h, uint64_t *sum, uint64_t *cnt, size_t c,
			   uint64_t idx, uint64_t n, unsigned int age)
{
	uint64_t a = idx < h->lo ? h->lo : idx, b = idx + n - 1 > h->hi ? h->hi : idx + n - 1;

	for (size_t row = a <= b ? kh_hm_row(h, a) : h->rows; row < h->rows; row++) {
		uint64_t lo = kh_hm_row_first(h, row), hi = kh_hm_row_first(h, row + 1) - 1;
		uint64_t k;

		if (lo > b)
			break;
		k = (hi < b ? hi : b) - (lo > a ? lo : a) + 1;
		sum[row * h->cols + c] += k * age;
		cnt[row * h->cols + c] += k;
	}
}

/* The extent of @pid's idle runs in the selection; false if it has none. */
static bool kh_hm_idle_extent(struct kh_hmap *h, const struct kh_recording *r,
			      const struct kh_rd_filter *f)
{
	h->lo = UINT64_MAX;
	h->hi = 0;
	for (size_t i = 0; i < r->nr_idle; i++) {
		const struct kh_rd_idle *s = &r->idle[i];

		if (s->pid != h->pid || !kh_rd_epoch_wanted(r, f, s->epoch))
			continue;
		for (size_t k = 0; k < s->nr_runs; k++) {
			uint64_t g, n = kh_rd_idle_clip(r, f, s, k, &g), idx = kh_hm_index(h, g);

			if (!n || idx == UINT64_MAX)
				continue;	/* outside every memslot the file names */
			h->lo = idx < h->lo ? idx : h->lo;
			h->hi = idx + n - 1 > h->hi ? idx + n - 1 : h->hi;
		}
	}
	return h->lo <= h->hi;
}

int kh_hm_build_idle(struct kh_hmap *h, const struct kh_recording *r, const struct kh_rd_filter *f,
		     size_t want_rows, size_t want_cols)
{
	uint64_t *sum = NULL, *cnt = NULL;
	size_t *ecol = NULL, *last = NULL;
	int err;

	h->idle = true;
	err = kh_hm_segments(h, r, f);
	if (err)
		return err;
	if (!kh_hm_idle_extent(h, r, f))
		return -ENODATA;
	for (size_t e = 0; e < r->nr_epochs; e++)
		h->nep += kh_rd_epoch_wanted(r, f, e);
	h->rows = kh_hm_span(h) < want_rows ? kh_hm_span(h) : want_rows;
	h->cols = h->nep < want_cols ? h->nep : want_cols;
	h->cell = calloc(h->rows * h->cols, sizeof(*h->cell));
	sum = calloc(h->rows * h->cols, sizeof(*sum));
	cnt = calloc(h->rows * h->cols, sizeof(*cnt));
	last = calloc(h->cols, sizeof(*last));
	err = h->cell && sum && cnt && last ? kh_hm_columns(h, r, f, &ecol) : -ENOMEM;
	/* each column shows its last scan: a later scan in the column starts it again */
	for (size_t i = 0; !err && i < r->nr_idle; i++) {
		const struct kh_rd_idle *s = &r->idle[i];
		size_t c = s->pid == h->pid ? ecol[s->epoch] : SIZE_MAX;

		if (c == SIZE_MAX)
			continue;
		for (size_t row = 0; last[c] && row < h->rows; row++)
			sum[row * h->cols + c] = cnt[row * h->cols + c] = 0;
		last[c] = i + 1;
		for (size_t k = 0; k < s->nr_runs; k++) {
			uint64_t g, n = kh_rd_idle_clip(r, f, s, k, &g), idx = kh_hm_index(h, g);

			if (n && idx != UINT64_MAX)
				kh_hm_idle_add(h, sum, cnt, c, idx, n,
					       r->idle_runs[s->first_run + k].age);
		}
	}
	for (size_t i = 0; !err && i < h->rows * h->cols; i++) {
		/* +1: a known age of 0 is drawn, unlike a cell nothing aged */
		h->cell[i] = cnt[i] ? (sum[i] + cnt[i] / 2) / cnt[i] + 1 : 0;
		h->max = h->cell[i] > h->max ? h->cell[i] : h->max;
	}
	free(sum);
	free(cnt);
	free(last);
	free(ecol);
	return err;
}

void kh_hm_free(struct kh_hmap *h)
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
const uint8_t kh_bg[3] = { 20, 20, 30 };
const uint8_t kh_gutter[3] = { 60, 60, 60 };
const uint8_t kh_hole[3] = { 0, 200, 255 };
static const uint8_t kh_stops[][3] = {
	{ 80, 0, 0 }, { 170, 0, 0 }, { 235, 70, 0 }, { 255, 165, 0 }, { 255, 235, 70 },
	{ 255, 255, 255 },
};
#define KH_NSTOPS (sizeof(kh_stops) / sizeof(kh_stops[0]))

void kh_ramp_rgb(double t, uint8_t rgb[3])
{
	kh_stops_rgb(kh_stops, KH_NSTOPS, t, rgb);
}

/*
 * Idle ramp (linear in age, 0 up to the oldest cell): pale yellow for
 * pages young at the scan, through green and teal, to deep blue for the
 * coldest.  R+G+B falls along it, so darker is colder; distinct from the
 * heat ramp, so an idle map is never read as a heat map.
 */
static const uint8_t kh_idle_stops[][3] = {
	{ 255, 250, 200 }, { 160, 220, 120 }, { 40, 170, 150 }, { 30, 100, 180 }, { 20, 30, 120 },
};
#define KH_NIDLE_STOPS (sizeof(kh_idle_stops) / sizeof(kh_idle_stops[0]))

static void kh_stops_rgb(const uint8_t (*stops)[3], size_t n, double t, uint8_t rgb[3])
{
	double x = (t < 0 ? 0 : t) * (n - 1);
	size_t i = (size_t)x;

	if (i >= n - 1) {
		memcpy(rgb, stops[n - 1], 3);
		return;
	}
	x -= i;
	for (int c = 0; c < 3; c++)
		rgb[c] = (uint8_t)(stops[i][c] + (stops[i + 1][c] - stops[i][c]) * x + 0.5);
}

void kh_hm_ramp(const struct kh_hmap *h, double t, uint8_t rgb[3])
{
	if (h->idle)
		kh_stops_rgb(kh_idle_stops, KH_NIDLE_STOPS, t, rgb);
	else
		kh_ramp_rgb(t, rgb);
}

double kh_hm_pos(const struct kh_hmap *h, uint64_t v)
{
	if (h->idle)
		return h->max > 1 ? (double)(v - 1) / (double)(h->max - 1) : 0;
	return h->max > 1 ? log((double)v) / log((double)h->max) : 1;
}

void kh_hm_rgb(const struct kh_hmap *h, uint64_t v, uint8_t rgb[3])
{
	if (!v) {
		memcpy(rgb, kh_bg, 3);
		return;
	}
	kh_hm_ramp(h, kh_hm_pos(h, v), rgb);
}

/* Rows at which a squeezed hole lies (the first row of the next segment). */
size_t kh_hm_holes(const struct kh_hmap *h, size_t *rows, uint64_t *gap_lo,
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
 * drawn range is large, MiB with one otherwise, so neighbouring ticks differ;
 * the gfn in hex when asked (heatmap --axis gfn).
 */
const char *kh_hm_label(const struct kh_hmap *h, uint64_t gfn, char *buf, size_t len)
{
	uint64_t span = kh_hm_gfn(h, h->hi) - kh_hm_gfn(h, h->lo) + 1;
	double gpa = (double)(gfn << KH_PAGE_SHIFT);

	if (h->gfn_axis)
		snprintf(buf, len, "0x%" PRIx64, gfn);
	else if (span << KH_PAGE_SHIFT >= (4ULL << 30))
		snprintf(buf, len, "%.2f GiB", gpa / (1ULL << 30));
	else
		snprintf(buf, len, "%.1f MiB", gpa / (1ULL << 20));
	return buf;
}

/* ---- SVG ---- */


int kh_hm_pick_vm(const struct kh_recording *r, const struct kh_rd_filter *f, bool writes,
		  uint32_t *pid)
{
	struct kh_hmap h = { .writes = writes };
	struct kh_gfn_stat *g = NULL;
	uint64_t best = 0, cur = 0;
	size_t n = 0;
	int err;

	*pid = 0;
	err = kh_rd_totals(r, f, &g, &n);
	if (err)
		return err;
	/* totals are sorted by pid: sum each pid's run */
	for (size_t i = 0; i < n; i++) {
		cur = (i && g[i - 1].pid == g[i].pid ? cur : 0) + kh_hm_metric(&h, &g[i].c);
		if (cur > best) {
			best = cur;
			*pid = g[i].pid;
		}
	}
	free(g);
	return 0;
}
