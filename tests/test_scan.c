// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * Active aging for live commands (scan.c) without a driver or BPF: the
 * per-VM summary against hand-built ages, the scan schedule, folding a
 * scan versus an interval between scans, and the JSON top -j prints.
 */
#define _GNU_SOURCE
#include <jansson.h>
#include "khtest.h"
#include "kh.h"

static struct kh_slot slots[] = { { .base_gfn = 0, .npages = 1024 } };
static const struct kh_vm vm = { .pid = 42, .nr_slots = 1, .slots = slots };

/* 100 pages of age 0, 50 of 1, 30 of 2, 20 of 3, 10 of 5, 5 of 9, 1 of 200. */
static void hand_ages(struct kh_idle *st)
{
	static const struct { unsigned int age, n; } set[] = {
		{ 0, 100 }, { 1, 50 }, { 2, 30 }, { 3, 20 }, { 5, 10 }, { 9, 5 }, { 200, 1 },
	};
	uint64_t g = 0;

	assert_int_equal(kh_idle_init(st, &vm), 0);
	for (size_t k = 0; k < sizeof(set) / sizeof(set[0]); k++)
		for (unsigned int i = 0; i < set[k].n; i++)
			st->slots[0].age[g++] = (uint8_t)set[k].age;
	st->scans = 9;
}

static void test_summary(void **state)
{
	struct kh_idle st;
	struct kh_idle_sum s = { .valid = true, .driver = KH_AD_MGLRU };
	static const uint64_t hist[KH_IDLE_NHIST] = { 100, 50, 50, 10, 5, 0, 0, 0, 1 };

	(void)state;
	hand_ages(&st);
	assert_int_equal(kh_idle_summarize(&st, 0, &s), 0);
	assert_int_equal(s.known_pages, 216);
	/* working set, default N = 1: young in the last scan (age 0) */
	assert_int_equal(s.ws_scans, 1);
	assert_int_equal(s.ws_pages, 100);
	assert_int_equal(s.idle_pages, 116);
	assert_int_equal(s.scans, 9);
	assert_int_equal(s.cold_bytes[0], 116 * 4096);	/* age >= 1 */
	assert_int_equal(s.cold_bytes[1], 66 * 4096);	/* >= 2 */
	assert_int_equal(s.cold_bytes[2], 16 * 4096);	/* >= 4 */
	assert_int_equal(s.cold_bytes[3], 6 * 4096);	/* >= 8 */
	for (int b = 0; b < KH_IDLE_NHIST; b++)
		assert_int_equal(s.hist[b], hist[b]);
	assert_true(kh_idle_sum_pct(&s) > 53.70 && kh_idle_sum_pct(&s) < 53.71);
	/* bucket bounds as printed */
	assert_int_equal(kh_idle_hist_lo(0), 0);
	assert_int_equal(kh_idle_hist_lo(1), 1);
	assert_int_equal(kh_idle_hist_lo(2), 2);
	assert_int_equal(kh_idle_hist_lo(8), 128);
	/* N = 3: young within the last 3 scans is age 0, 1 or 2 */
	assert_int_equal(kh_idle_summarize(&st, 3, &s), 0);
	assert_int_equal(s.ws_pages, 180);
	assert_int_equal(s.known_pages, 216);	/* a second summary starts from zero */
	assert_int_equal(kh_idle_summarize(&st, 201, &s), 0);
	assert_int_equal(s.ws_pages, 216);
	/* no known age, or no driver: n/a */
	kh_idle_free(&st);
	assert_int_equal(kh_idle_init(&st, &vm), 0);
	kh_idle_summarize(&st, 1, &s);
	assert_int_equal(s.known_pages, 0);
	assert_true(kh_idle_sum_pct(&s) < 0);
	s.known_pages = 5;
	s.valid = false;
	assert_true(kh_idle_sum_pct(&s) < 0);
	assert_true(kh_idle_sum_pct(NULL) < 0);
	kh_idle_free(&st);
}

static void test_summary_json(void **state)
{
	struct kh_idle st;
	struct kh_idle_sum s = { .valid = true, .driver = KH_AD_DAMON };
	json_t *j, *h;

	(void)state;
	hand_ages(&st);
	kh_idle_summarize(&st, 2, &s);
	j = kh_idle_sum_json(&s, 2.5);
	assert_int_equal(json_integer_value(json_object_get(j, "working_set_scans")), 2);
	assert_int_equal(json_integer_value(json_object_get(j, "working_set_bytes")), 150 * 4096);
	assert_string_equal(json_string_value(json_object_get(j, "age_driver")), "damon");
	assert_int_equal(json_integer_value(json_object_get(j, "scans")), 9);
	assert_int_equal(json_integer_value(json_object_get(j, "pages_aged")), 216);
	assert_true(json_real_value(json_object_get(j, "scan_interval_s")) == 2.5);
	assert_int_equal(json_integer_value(json_object_get(json_object_get(j, "idle_bytes"), "4")),
			 16 * 4096);
	assert_int_equal(json_object_size(json_object_get(j, "idle_bytes")), KH_IDLE_NCOLD);
	h = json_object_get(j, "idle_age_hist");
	assert_int_equal(json_array_size(h), KH_IDLE_NHIST);
	assert_int_equal(json_integer_value(json_array_get(h, 8)), 1);
	json_decref(j);
	/* no known age: idle_pct null, not 0 */
	s.known_pages = 0;
	j = kh_idle_sum_json(&s, 1);
	assert_true(json_is_null(json_object_get(j, "idle_pct")));
	json_decref(j);
	kh_idle_free(&st);
}

/* Scans at the first sample at or after each interval; 0: every sample. */
static void test_schedule(void **state)
{
	struct kh_scan sc = { .want = KH_SCAN_AUTO, .interval = 5 };
	struct kh_vmset none = {};
	char why[64];

	(void)state;
	kh_scan_tick(&sc, &none, 10);
	assert_true(sc.pending);
	assert_true(sc.next == 15);
	sc.pending = false;
	kh_scan_tick(&sc, &none, 12);
	assert_false(sc.pending);
	kh_scan_tick(&sc, &none, 15.2);
	assert_true(sc.pending);
	assert_true(sc.next == 20);
	/* far behind (a paused TUI): the next one is an interval from now */
	kh_scan_tick(&sc, &none, 100);
	assert_true(sc.next == 105);
	sc.interval = 0;
	sc.pending = false;
	kh_scan_tick(&sc, &none, 106);
	assert_true(sc.pending);
	/* off: nothing runs, nothing is probed */
	sc = (struct kh_scan){ .want = KH_SCAN_NONE };
	kh_scan_tick(&sc, &none, 10);
	assert_false(sc.pending);
	assert_int_equal(kh_scan_start(&sc, why, sizeof(why)), 0);
	assert_int_equal(kh_scan_sync(&sc, &none, why, sizeof(why)), 0);
	assert_int_equal(sc.n, 0);
	/* -p: a VM not asked about is never probed nor given a driver */
	{
		struct kh_vm other = vm;
		struct kh_vmset one = { .n = 1, .cap = 1, .vms = &other };

		sc = (struct kh_scan){ .want = KH_SCAN_AUTO, .pid = 7 };
		assert_int_equal(kh_scan_sync(&sc, &one, why, sizeof(why)), 0);
		assert_int_equal(sc.n, 0);
		kh_scan_free(&sc);
	}
}

/*
 * A scan's drain ages what it checked; between scans only accesses reset
 * ages, and passive aging results (someone else's reclaim) add no age.
 */
static void test_fold(void **state)
{
	struct kh_scan_vm v = { .pid = 42, .open = true, .seen = true };
	struct kh_scan sc = { .want = KH_SCAN_AUTO, .n = 1, .cap = 1, .vms = &v };
	struct kh_key k[3] = { { .pid = 42, .idx = 1 }, { .pid = 42, .idx = 2 },
			       { .pid = 7, .idx = 3 } };
	struct kh_counts c[3] = { { .aged = 1 }, { .aged = 1, .young = 1, .accesses = 1 },
				  { .aged = 1 } };
	const struct kh_idle_sum *s;

	(void)state;
	assert_int_equal(kh_idle_init(&v.st, &vm), 0);
	/* an interval before any scan: no summary yet */
	assert_int_equal(kh_scan_fold(&sc, k, c, 3, NULL, NULL, 0), 0);
	assert_null(kh_scan_sum(&sc, 42));
	assert_int_equal(kh_idle_age(&v.st, 1), KH_IDLE_UNKNOWN);	/* passive aging: no age */
	assert_int_equal(kh_idle_age(&v.st, 2), 0);			/* an access: age 0 */
	sc.pending = true;
	for (int i = 0; i < 3; i++)	/* three scans: gfn 1 stays old, gfn 2 young */
		assert_int_equal((sc.pending = true, kh_scan_fold(&sc, k, c, 3, NULL, NULL, 0)), 0);
	assert_false(sc.pending);
	s = kh_scan_sum(&sc, 42);
	assert_non_null(s);
	assert_int_equal(s->scans, 3);
	assert_int_equal(s->known_pages, 2);
	assert_int_equal(s->idle_pages, 1);
	assert_int_equal(s->cold_bytes[1], 4096);	/* gfn 1: age 3 >= 2 */
	assert_int_equal(s->cold_bytes[2], 0);
	assert_null(kh_scan_sum(&sc, 7));
	/* between scans: gfn 1 accessed, back to 0; no scan counted */
	c[0].accesses = 1;
	assert_int_equal(kh_scan_fold(&sc, k, c, 1, NULL, NULL, 0), 0);
	assert_int_equal(kh_idle_age(&v.st, 1), 0);
	assert_int_equal(kh_scan_sum(&sc, 42)->scans, 3);
	assert_int_equal(kh_scan_sum(&sc, 42)->idle_pages, 0);
	kh_idle_free(&v.st);
}

/* Cumulative maps (heat): only what changed since the last fold is a scan's result. */
static void test_fold_totals(void **state)
{
	struct kh_scan_vm v = { .pid = 42, .open = true, .seen = true };
	struct kh_scan sc = { .want = KH_SCAN_AUTO, .n = 1, .cap = 1, .vms = &v };
	struct kh_gfn_stat g[3] = {
		{ .pid = 42, .gfn = 1, .c = { .aged = 1 } },
		{ .pid = 42, .gfn = 2, .c = { .aged = 1, .accesses = 1 } },
		{ .pid = 42, .gfn = 3, .c = { .aged = 5 } },
	};

	(void)state;
	assert_int_equal(kh_idle_init(&v.st, &vm), 0);
	sc.pending = true;
	assert_int_equal(kh_scan_fold_totals(&sc, g, 3, NULL, NULL, 0), 0);
	assert_int_equal(kh_idle_age(&v.st, 1), 1);
	assert_int_equal(kh_idle_age(&v.st, 2), 0);
	/* scan 2: gfn 1 not aged again (unchanged totals), gfn 2 aged, not accessed */
	g[1].c.aged = 2;
	g[2].c.aged = 1;	/* went down: evicted and counted again, so aged */
	sc.pending = true;
	assert_int_equal(kh_scan_fold_totals(&sc, g, 3, NULL, NULL, 0), 0);
	assert_int_equal(kh_idle_age(&v.st, 1), 1);
	assert_int_equal(kh_idle_age(&v.st, 2), 1);
	assert_int_equal(kh_idle_age(&v.st, 3), 2);
	assert_int_equal(v.st.scans, 2);
	kh_idle_free(&v.st);
	free(sc.pg);
	free(sc.pr);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_summary),
		cmocka_unit_test(test_summary_json),
		cmocka_unit_test(test_schedule),
		cmocka_unit_test(test_fold),
		cmocka_unit_test(test_fold_totals),
	};

	return cmocka_run_group_tests_name("active aging in live commands (scan.c)", tests, NULL,
					   NULL);
}
