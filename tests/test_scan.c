// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * Active aging for live commands (scan.c) without a driver or BPF: the
 * per-VM summary against hand-built ages, the scan schedule, folding a
 * scan versus an interval between scans, and the JSON top -j prints.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <jansson.h>
#include "khtest.h"
#include "kh.h"
#include "khidle.h"

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
/*
 * heat reports VMs that exited during the run (keep_gone): a gone VM's last
 * summary stays; top and export, whose rows go with the VM, keep none.
 */
static void test_gone_vm_summary(void **state)
{
	struct kh_scan_vm v[2] = { { .pid = 42, .sum = { .valid = true, .scans = 5,
							 .idle_pages = 7 } },
				   { .pid = 43 } };	/* never scanned */
	struct kh_scan sc = { .want = KH_SCAN_AUTO, .n = 2, .cap = 2, .vms = v,
			      .keep_gone = true };
	struct kh_vmset none = {};
	const struct kh_idle_sum *s;
	char why[64];

	(void)state;
	assert_int_equal(kh_scan_sync(&sc, &none, why, sizeof(why)), 0);
	assert_int_equal(sc.n, 0);
	s = kh_scan_sum(&sc, 42);
	assert_non_null(s);
	assert_true(s->valid && s->scans == 5 && s->idle_pages == 7);
	assert_null(kh_scan_sum(&sc, 43));	/* no summary to keep */
	/* the pid comes back and goes again: one entry, the latest summary */
	v[0] = (struct kh_scan_vm){ .pid = 42, .sum = { .valid = true, .scans = 9 } };
	sc.vms = v;
	sc.n = 1;
	assert_int_equal(kh_scan_sync(&sc, &none, why, sizeof(why)), 0);
	assert_int_equal(sc.ngone, 1);
	assert_true(kh_scan_sum(&sc, 42)->scans == 9);
	free(sc.gone);
	v[0] = (struct kh_scan_vm){ .pid = 42, .sum = { .valid = true, .scans = 5 } };
	sc = (struct kh_scan){ .want = KH_SCAN_AUTO, .n = 1, .cap = 1, .vms = v };
	assert_int_equal(kh_scan_sync(&sc, &none, why, sizeof(why)), 0);
	assert_null(kh_scan_sum(&sc, 42));
}

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

struct fake_pub {
	int calls;
	uint32_t nr;
	struct kh_idle_slot_desc last;
	bool refuse;			/* the kernel refuses the next array */
	int maps, unmaps;
	uint32_t unmapped_at;
};

static int fake_publish(void *ctx, uint32_t i, const struct kh_idle_slot_desc *d, uint32_t nr)
{
	struct fake_pub *p = ctx;

	(void)i;
	p->calls++;
	p->nr = nr;
	p->last = *d;
	return 0;
}

static int fake_map(void *ctx, uint32_t i, uint64_t nwords, struct kh_idle_map *m)
{
	struct fake_pub *p = ctx;

	(void)i;
	if (p->refuse)
		return -ENOMEM;
	p->maps++;
	*m = (struct kh_idle_map){ .words = calloc(nwords, sizeof(uint64_t)), .nwords = nwords,
				   .fd = 99 };
	return m->words ? 0 : -ENOMEM;
}

static void fake_unmap(void *ctx, uint32_t i, struct kh_idle_map *m)
{
	struct fake_pub *p = ctx;

	p->unmaps++;
	p->unmapped_at = i;
	free(m->words);
	*m = (struct kh_idle_map){ .fd = -1 };
}

/*
 * top/export: every VM with a driver gets an array of its own, exactly
 * its size; a refused array or too few descriptors is said and falls back
 * to hash entries; a gone VM's array goes and its descriptors are reused;
 * a fold reads the VM's bits (ages, and the aged/young counts the rows need).
 */
static void test_bits_share(void **state)
{
	static struct kh_slot sa[] = { { .base_gfn = 0x100, .npages = 1024 },
				       { .base_gfn = 0x1000, .npages = 8 } };
	static struct kh_slot sb[] = { { .base_gfn = 0x100, .npages = 128 } };
	const struct kh_vm va = { .pid = 42, .nr_slots = 2, .slots = sa };
	const struct kh_vm vb = { .pid = 43, .nr_slots = 1, .slots = sb };
	struct kh_scan_vm v[3] = { { .pid = 42, .open = true }, { .pid = 43, .open = true },
				   { .pid = 44, .open = true } };
	struct kh_scan sc = { .want = KH_SCAN_AUTO, .n = 3, .cap = 3, .vms = v };
	struct fake_pub pub = {};
	uint64_t aged, young, wset, *wa;
	struct kh_key rk = { .pid = 42, .idx = 0 };
	struct kh_region rv = { .touched = { [4] = 1ULL << 1 } };	/* gfn 0x101: walked */
	char m[256];

	(void)state;
	sc.bits = (struct kh_scan_bits){ .on = true, .publish = fake_publish, .map = fake_map,
					 .unmap = fake_unmap, .ctx = &pub };
	assert_int_equal(kh_idle_init(&v[0].st, &va), 0);
	assert_int_equal(kh_idle_init(&v[1].st, &vb), 0);
	v[2].pid = 43;
	assert_int_equal(kh_idle_init(&v[2].st, &vb), 0);
	v[2].pid = 44;
	v[2].st.pid = 44;
	/* A: 26 + 1 words of pages (KH_IDLE_PPW a word), 1 + 1 of regions, idle_bits[0] */
	assert_int_equal(kh_scan_bits_get(&sc, &v[0], m, sizeof(m)), 1);
	assert_true(v[0].bits.nwords == 29 && v[0].bits_at == 0);
	assert_true(sc.bits.desc[1].map == 0 && sc.bits.desc[1].word_off == 27);
	/* B: 4 + 1 words, its own array at its first descriptor's index */
	assert_int_equal(kh_scan_bits_get(&sc, &v[1], m, sizeof(m)), 1);
	assert_true(sc.bits.desc[2].pid == 43 && sc.bits.desc[2].word_off == 0 &&
		    sc.bits.desc[2].map == 2 && v[1].bits.nwords == 5);
	assert_int_equal(pub.nr, 3);
	/* the kernel refuses an array: said, and the VM keeps hash entries */
	pub.refuse = true;
	assert_int_equal(kh_scan_bits_get(&sc, &v[2], m, sizeof(m)), 0);
	assert_non_null(strstr(m, "refused"));
	assert_false(v[2].st.slots[0].has_bits);
	kh_scan_bits_put(&sc, &v[2]);
	pub.refuse = false;
	/* no descriptor free: the same */
	for (int i = 3; i < KH_IDLE_SLOTS; i++)
		sc.bits.desc[i].npages = 1;
	assert_int_equal(kh_scan_bits_get(&sc, &v[2], m, sizeof(m)), 0);
	assert_non_null(strstr(m, "idle bits full"));
	kh_scan_bits_put(&sc, &v[2]);
	for (int i = 3; i < KH_IDLE_SLOTS; i++)
		sc.bits.desc[i].npages = 0;
	assert_int_equal(pub.maps, 2);
	/* a scan of A: pages 0 and 1 aged, 0 young; B's words untouched */
	wa = v[0].bits.words;
	kh_t_raise(v[1].bits.words, 0, 0, KH_IDLE_S_AGED);
	sc.pending = true;
	v[2].open = false;
	/* pages 0 and 1 young; 1 also walked (its region's touched bit) */
	kh_t_raise(wa, 0, 0, KH_IDLE_S_YOUNG);
	kh_t_raise(wa, 0, 1, KH_IDLE_S_YOUNG);
	assert_int_equal(kh_scan_fold(&sc, NULL, NULL, 0, &rk, &rv, 1), 0);
	assert_true(kh_scan_bits_counts(&sc, 42, &aged, &young, &wset));
	/* first clears of ours: young only primes (idle.c), so no young result yet */
	assert_true(aged == 2 && young == 0 && wset == 1);
	kh_t_raise(wa, 0, 0, KH_IDLE_S_YOUNG);
	kh_t_raise(wa, 0, 1, KH_IDLE_S_AGED);
	sc.pending = true;
	assert_int_equal(kh_scan_fold(&sc, NULL, NULL, 0, NULL, NULL, 0), 0);
	assert_true(kh_scan_bits_counts(&sc, 42, &aged, &young, &wset));
	assert_true(aged == 2 && young == 1 && wset == 1);
	assert_true(wa[0] == 0 && wa[1] == 0);
	assert_int_equal(kh_idle_age(&v[0].st, 0x101), 1);
	assert_int_equal(kh_idle_age(&v[0].st, 0x100), 0);
	/* between scans: a young state resets the age, an aged one (someone's reclaim) adds none */
	kh_t_raise(wa, 0, 2, KH_IDLE_S_AGED);
	kh_t_raise(wa, 0, 1, KH_IDLE_S_YOUNG);
	assert_int_equal(kh_scan_fold(&sc, NULL, NULL, 0, NULL, NULL, 0), 0);
	assert_int_equal(kh_idle_age(&v[0].st, 0x101), 0);
	assert_int_equal(kh_idle_age(&v[0].st, 0x102), KH_IDLE_UNKNOWN);
	/* aged counts every page with a state: a young one was aged too */
	assert_true(kh_scan_bits_counts(&sc, 42, &aged, &young, &wset) && aged == 2 &&
		    young == 1 && wset == 1);
	/* A goes: its array goes and the third VM takes descriptor 0 and array 0 */
	kh_scan_bits_put(&sc, &v[0]);
	assert_true(pub.unmaps == 1 && pub.unmapped_at == 0 && !v[0].bits.words && !v[0].bit_descs);
	assert_false(kh_scan_bits_counts(&sc, 42, &aged, &young, &wset));
	v[2].open = true;
	assert_int_equal(kh_scan_bits_get(&sc, &v[2], m, sizeof(m)), 1);
	assert_true(sc.bits.desc[0].pid == 44 && sc.bits.desc[0].map == 0 &&
		    sc.bits.desc[0].word_off == 0);
	assert_true(sc.bits.desc[2].pid == 43 && sc.bits.desc[2].map == 2);
	assert_true(v[2].st.slots[0].has_bits && v[2].st.slots[0].word_off == 0);
	for (int i = 0; i < 3; i++) {
		kh_scan_bits_put(&sc, &v[i]);
		kh_idle_free(&v[i].st);
	}
	assert_int_equal(pub.unmaps, 3);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_summary),
		cmocka_unit_test(test_summary_json),
		cmocka_unit_test(test_schedule),
		cmocka_unit_test(test_gone_vm_summary),
		cmocka_unit_test(test_fold),
		cmocka_unit_test(test_fold_totals),
		cmocka_unit_test(test_bits_share),
	};

	return cmocka_run_group_tests_name("active aging in live commands (scan.c)", tests, NULL,
					   NULL);
}
