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
	}
	kh_rd_free(&r);
	return 0;
}
