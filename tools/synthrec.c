// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * synthrec: write a synthetic recording of a big guest, to measure how
 * fast report and heatmap are on recordings no test machine can make.
 *
 *   synthrec -o FILE [--gib N] [--epochs E] [--gfns G] [--working-set W]
 *            [--events K] [--seed S]
 *
 * One VM with N GiB in two memslots (below 3 GiB and from 4 GiB, the x86
 * PCI hole between them); every epoch touches G gfns: a quarter in hot
 * bands that drift with time, the rest drawn from W pages spread evenly
 * over memory, a tenth of them written at one sub-page.  K events are
 * spread over the epochs.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include "datafile.h"
#include "idle.h"
#include "agedrv.h"

static uint64_t kh_rng(uint64_t *s)
{
	/* xorshift64*: fast, deterministic for a given seed */
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 0x2545f4914f6cdd1dULL;
}

static int kh_gfn_cmp(const void *a, const void *b)
{
	const struct kh_df_gfn *x = a, *y = b;

	return x->gfn < y->gfn ? -1 : x->gfn > y->gfn;
}

/* --idle: one scan per epoch that ages every page; this epoch's gfns were young. */
static int synth_scan(struct kh_dw *w, struct kh_idle *st, const struct kh_df_gfn *g, size_t n,
		      uint64_t t)
{
	for (size_t k = 0; k < st->nslots; k++)
		for (uint64_t i = 0; i < st->slots[k].npages; i++) {
			uint8_t *a = &st->slots[k].age[i];

			*a = *a == KH_IDLE_UNKNOWN ? 1 : *a < KH_IDLE_MAX ? *a + 1 : *a;
		}
	for (size_t i = 0; i < n; i++)
		for (size_t k = 0; k < st->nslots; k++)
			if (g[i].d.accesses && g[i].gfn >= st->slots[k].base_gfn &&
			    g[i].gfn - st->slots[k].base_gfn < st->slots[k].npages)
				st->slots[k].age[g[i].gfn - st->slots[k].base_gfn] = 0;
	st->scans++;
	return kh_dw_idle(w, t, st, KH_AD_MGLRU, 0, 1000);
}

int main(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "output", required_argument, NULL, 'o' },
		{ "gib", required_argument, NULL, 'g' },
		{ "epochs", required_argument, NULL, 'e' },
		{ "gfns", required_argument, NULL, 'n' },
		{ "events", required_argument, NULL, 'k' },
		{ "seed", required_argument, NULL, 's' },
		{ "working-set", required_argument, NULL, 'w' },
		{ "idle", no_argument, NULL, 'I' },
		{},
	};
	uint64_t gib = 1024, epochs = 60, per = 200000, events = 0, seed = 1, ws = 2000000, v;
	const char *out = NULL;
	struct kh_slot slots[2];
	struct kh_df_gfn *g;
	struct kh_df_subpage *sp;
	uint64_t pages, t0 = 1000000000ULL, ivl = 1000000000ULL, st[KH_NR_STATS] = {};
	struct kh_dw w;
	struct kh_idle ages = {};
	bool idle = false;
	json_t *h;
	int opt, err;

	while ((opt = getopt_long(argc, argv, "o:", lo, NULL)) != -1) {
		if (opt == 'o' || opt == 'I') {
			if (opt == 'o')
				out = optarg;
			else
				idle = true;
			continue;
		}
		if (kh_parse_u64(optarg, &v) || !v) {
			fprintf(stderr, "synthrec: bad value '%s'\n", optarg);
			return 2;
		}
		switch (opt) {
		case 'g': gib = v; break;
		case 'e': epochs = v; break;
		case 'n': per = v; break;
		case 'k': events = v; break;
		case 's': seed = v; break;
		case 'w': ws = v; break;
		default: return 2;
		}
	}
	if (!out || gib < 4 || ws > (gib << (30 - KH_PAGE_SHIFT))) {
		fprintf(stderr, "usage: synthrec -o FILE [--gib N>=4] [--epochs E] [--gfns G] "
			"[--working-set W<=pages] [--events K] [--seed S] [--idle]\n");
		return 2;
	}
	pages = gib << (30 - KH_PAGE_SHIFT);
	slots[0] = (struct kh_slot){ .base_gfn = 0, .npages = 3ULL << 18, .id = 0 };
	slots[1] = (struct kh_slot){ .base_gfn = 4ULL << 18, .npages = pages - (3ULL << 18),
				     .id = 1 };
	g = calloc(per, sizeof(*g));
	sp = calloc(per, sizeof(*sp));
	if (!g || !sp)
		return 1;
	if (idle && kh_idle_init(&ages, &(struct kh_vm){ .pid = 4242, .nr_slots = 2,
							  .slots = slots }))
		return 1;
	err = kh_dw_create(&w, out);
	if (err) {
		fprintf(stderr, "synthrec: %s: %s\n", out, strerror(-err));
		return 1;
	}
	h = json_pack("{s:s, s:s, s:s, s:I, s:i, s:s}", "format", "kvmheat recording",
		      "format_version", "1.0", "host", "synthrec", "start_ns", (json_int_t)t0,
		      "interval_ms", 1000, "clock", "CLOCK_MONOTONIC");
	err = kh_dw_header(&w, h);
	json_decref(h);
	if (!err)
		err = kh_dw_source(&w, KH_SRC_WALK, KH_DFS_REQUESTED | KH_DFS_AVAILABLE,
				   "synthetic");
	if (!err)
		err = kh_dw_vm(&w, t0, 1, 4242, 64, "bigguest", slots, 2, KH_DFV_INITIAL);
	for (uint64_t e = 0; e < epochs && !err; e++) {
		size_t ns = 0;

		for (uint64_t i = 0; i < per; i++) {
			uint64_t r = kh_rng(&seed), idx;

			if (i < per / 4) {
				/* eight hot bands of 64 MiB that drift by 16 MiB per epoch */
				uint64_t band = (r % 8) * (pages / 8) + e * 4096;

				idx = (band + (r >> 8) % 16384) % pages;
			} else {
				/* the rest from a working set of ws pages spread over memory */
				idx = ((r >> 3) % ws) * (pages / ws);
			}
			g[i] = (struct kh_df_gfn){ .gfn = idx < slots[0].npages ? idx :
						   slots[1].base_gfn + idx - slots[0].npages };
			g[i].d.accesses = i < per / 4 ? 50 + r % 50 : 1 + r % 3;
			if (r % 10 == 0) {
				g[i].d.writes = 1 + r % 7;
				g[i].d.subpage_mask = 1U << ((r >> 20) % KH_SUBPAGES);
			}
		}
		qsort(g, per, sizeof(*g), kh_gfn_cmp);
		for (uint64_t i = 0; i < per; i++) {
			/* a gfn drawn twice in one epoch is one entry */
			if (i && g[i].gfn == g[i - 1].gfn) {
				g[i - 1].d.accesses += g[i].d.accesses;
				g[i].d.accesses = 0;
			}
			if (g[i].d.writes) {
				memset(&sp[ns], 0, sizeof(sp[ns]));
				sp[ns].gfn = g[i].gfn;
				sp[ns++].cnt[__builtin_ctz(g[i].d.subpage_mask)] = g[i].d.writes;
			}
		}
		err = kh_dw_epoch(&w, e, t0 + e * ivl, t0 + (e + 1) * ivl, per, ns);
		if (!err)
			err = kh_dw_gfns(&w, 4242, g, per);
		if (!err && idle)
			err = synth_scan(&w, &ages, g, per, t0 + (e + 1) * ivl);
		if (!err)
			err = kh_dw_subpages(&w, 4242, sp, ns);
		for (uint64_t k = 0; k < events / epochs && !err; k++) {
			uint64_t r = kh_rng(&seed);
			struct kh_event ev = {
				.ts_ns = t0 + e * ivl + k * (ivl / (events / epochs + 1)),
				.gpa = (g[r % per].gfn << KH_PAGE_SHIFT) | (r >> 52), .pid = 4242,
				.tid = 4243, .vcpu = KH_VCPU_UNKNOWN, .bytes = 1,
				.source = KH_SRC_WALK, .kind = r % 10 ? KH_EV_READ : KH_EV_WRITE,
				.flags = r % 10 ? 0 : KH_EVF_WRITE,
			};

			err = kh_dw_event(&w, &ev);
		}
		st[KH_SRC_WALK * KH_STAT_MAX + KH_STAT_EVENTS] += per * 10;
		if (!err)
			err = kh_dw_stats(&w, t0 + (e + 1) * ivl, st);
		if (!err)
			err = kh_dw_flush(&w);
	}
	if (!err)
		err = kh_dw_footer(&w, t0 + epochs * ivl, -1, KH_END_DURATION);
	if (err) {
		fprintf(stderr, "synthrec: writing %s: %s\n", out, strerror(-err));
		kh_dw_abort(&w);
		return 1;
	}
	err = kh_dw_close(&w);
	if (err) {
		fprintf(stderr, "synthrec: closing %s: %s\n", out, strerror(-err));
		return 1;
	}
	printf("synthrec: %s: %" PRIu64 " GiB guest, %" PRIu64 " epochs x %" PRIu64
	       " gfn entries, %" PRIu64 " events\n", out, gib, epochs, per,
	       events / epochs * epochs);
	kh_idle_free(&ages);
	free(g);
	free(sp);
	return 0;
}
