// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * libFuzzer target: the recording reader and the views report builds on
 * it, fed arbitrary bytes.  It must never crash, hang or leak; bad input
 * is an error return with a reason.
 */
#include <stdint.h>
#include <stdlib.h>
#include "kh.h"
#include "datafile.h"
#include "hmap.h"
#include "chart.h"

/* The views over idle runs: the idle heatmap's row arithmetic, the cold chart. */
static void kh_fuzz_idle(const struct kh_recording *r)
{
	const struct kh_rd_idle *last;
	struct kh_rd_filter f;
	struct kh_chart c;
	char why[256];

	kh_rd_filter_init(&f);
	last = kh_rd_idle_last(r, &f, 0);
	if (!last)
		return;
	{
		struct kh_hmap h = { .pid = last->pid };

		kh_hm_build_idle(&h, r, &f, 7, 5);
		kh_hm_free(&h);
	}
	kh_chart_build(&c, r, &f, KH_CHART_COLD, why, sizeof(why));
	kh_chart_free(&c);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct kh_gfn_stat *g = NULL;
	struct kh_rd_filter f;
	struct kh_recording r;
	char why[256];
	size_t n = 0;

	if (kh_df_read_mem(data, size, KH_RD_EVENTS, &r, why, sizeof(why)) == 0) {
		kh_rd_filter_init(&f);
		if (!kh_rd_totals(&r, &f, &g, &n) && n) {
			struct kh_range *rg = calloc(n, sizeof(*rg));

			if (rg)
				kh_hot_ranges(g, n, 20, rg);
			free(rg);
		}
		free(g);
		/* a filtered view as report --pid/--gfn/--time builds it */
		f.pid = r.nr_vms ? r.vms[0].pid : 1;
		f.gfn_lo = 0x40000;
		f.gfn_hi = 0x7ffff;
		f.time_set = true;
		f.t0 = 0;
		f.t1 = 1.5;
		g = NULL;
		if (!kh_rd_totals(&r, &f, &g, &n))
			free(g);
		kh_fuzz_idle(&r);
	}
	kh_rd_free(&r);
	return 0;
}
