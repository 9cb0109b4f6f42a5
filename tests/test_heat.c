// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* Pure table logic of `kvmheat heat`: hot ranges, heat order, strip, masks. */
#include "khtest.h"
#include <inttypes.h>
#include "kh.h"

#define ARRAY_SIZE(a)	(sizeof(a) / sizeof((a)[0]))

static struct kh_gfn_stat gs(uint32_t pid, uint64_t gfn, uint64_t acc, uint64_t wr,
			     uint32_t mask)
{
	struct kh_gfn_stat g;

	memset(&g, 0, sizeof(g));
	g.pid = pid;
	g.gfn = gfn;
	g.c.accesses = acc;
	g.c.writes = wr;
	g.c.subpage_mask = mask;
	return g;
}

static void assert_range(const struct kh_range *r, uint32_t pid, uint64_t start,
			 uint64_t npages, uint64_t acc, uint64_t wr, uint32_t mask)
{
	assert_int_equal(r->pid, pid);
	assert_int_equal(r->gfn_start, start);
	assert_int_equal(r->npages, npages);
	assert_int_equal(r->accesses, acc);
	assert_int_equal(r->writes, wr);
	assert_int_equal(r->subpage_mask, mask);
}

/* Adjacent gfns in one log2 bucket (8..15) merge; 16 starts a new bucket. */
static void test_ranges_merge_alike(void **state)
{
	struct kh_gfn_stat g[] = {
		gs(100, 12, 15, 0, 0),	/* given out of address order */
		gs(100, 10, 8, 0, 0),
		gs(100, 13, 16, 0, 0),
		gs(100, 11, 9, 0, 0),
	};
	struct kh_gfn_stat copy[ARRAY_SIZE(g)];
	struct kh_range out[ARRAY_SIZE(g)];
	size_t n;

	memcpy(copy, g, sizeof(g));
	n = kh_hot_ranges(g, ARRAY_SIZE(g), SIZE_MAX, out);
	assert_int_equal(n, 2);
	/* 16 per page ranks above 32 / 3 = 10 per page */
	assert_range(&out[0], 100, 13, 1, 16, 0, 0);
	assert_range(&out[1], 100, 10, 3, 32, 0, 0);
	assert_memory_equal(g, copy, sizeof(g));	/* input is const */
}

static void test_ranges_written_vs_readonly(void **state)
{
	struct kh_gfn_stat g[] = {
		gs(1, 20, 8, 0, 0),
		gs(1, 21, 8, 1, 0x4),
		gs(1, 22, 9, 3, 0x8),
	};
	struct kh_range out[ARRAY_SIZE(g)];
	size_t n = kh_hot_ranges(g, ARRAY_SIZE(g), SIZE_MAX, out);

	assert_int_equal(n, 2);
	/* both 8 per page: more total accesses first */
	assert_range(&out[0], 1, 21, 2, 17, 4, 0xc);
	assert_range(&out[1], 1, 20, 1, 8, 0, 0);
}

static void test_ranges_hot_next_to_cold(void **state)
{
	struct kh_gfn_stat g[] = {
		gs(1, 30, 100, 0, 0),
		gs(1, 31, 1, 0, 0),
		gs(1, 32, 1, 0, 0),
	};
	struct kh_range out[ARRAY_SIZE(g)];
	size_t n = kh_hot_ranges(g, ARRAY_SIZE(g), SIZE_MAX, out);

	assert_int_equal(n, 2);
	assert_range(&out[0], 1, 30, 1, 100, 0, 0);
	assert_range(&out[1], 1, 31, 2, 2, 0, 0);
}

static void test_ranges_pids_never_merge(void **state)
{
	struct kh_gfn_stat g[] = {
		gs(2, 6, 4, 0, 0),
		gs(1, 5, 4, 0, 0),
		gs(2, 5, 4, 0, 0),	/* pid 1's gfn 5 is followed by pid 2's gfn 5 */
	};
	struct kh_range out[ARRAY_SIZE(g)];
	size_t n = kh_hot_ranges(g, ARRAY_SIZE(g), SIZE_MAX, out);

	assert_int_equal(n, 2);
	assert_range(&out[0], 2, 5, 2, 8, 0, 0);
	assert_range(&out[1], 1, 5, 1, 4, 0, 0);

	/* Pid 1 ends at gfn 5, pid 2 starts at gfn 6: adjacent gfns, other VM. */
	struct kh_gfn_stat h[] = {
		gs(1, 5, 4, 0, 0),
		gs(2, 6, 4, 0, 0),
	};
	n = kh_hot_ranges(h, ARRAY_SIZE(h), SIZE_MAX, out);
	assert_int_equal(n, 2);
	assert_range(&out[0], 1, 5, 1, 4, 0, 0);
	assert_range(&out[1], 2, 6, 1, 4, 0, 0);
}

/* Per-page heat first, then total accesses, then gfn. */
static void test_ranges_ranking(void **state)
{
	struct kh_gfn_stat g[] = {
		gs(7, 100, 100, 0, 0),				/* A: 100/page, 100 */
		gs(7, 200, 100, 0, 0), gs(7, 201, 100, 0, 0),
		gs(7, 202, 100, 0, 0), gs(7, 203, 100, 0, 0),	/* B: 100/page, 400 */
		gs(7, 300, 200, 0, 0), gs(7, 301, 200, 0, 0),	/* C: 200/page, 400 */
		gs(7, 50, 100, 0, 0),				/* D: ties A, lower gfn */
		gs(7, 400, 3, 0, 0),				/* E: 3/page */
	};
	struct kh_range out[ARRAY_SIZE(g)];
	size_t n = kh_hot_ranges(g, ARRAY_SIZE(g), SIZE_MAX, out);

	assert_int_equal(n, 5);
	assert_range(&out[0], 7, 300, 2, 400, 0, 0);
	assert_range(&out[1], 7, 200, 4, 400, 0, 0);
	assert_range(&out[2], 7, 50, 1, 100, 0, 0);
	assert_range(&out[3], 7, 100, 1, 100, 0, 0);
	assert_range(&out[4], 7, 400, 1, 3, 0, 0);
}

static void test_ranges_top(void **state)
{
	struct kh_gfn_stat g[] = {
		gs(1, 10, 1, 0, 0), gs(1, 20, 50, 0, 0), gs(1, 30, 7, 0, 0),
		gs(1, 40, 1000, 0, 0),
	};
	struct kh_range out[ARRAY_SIZE(g)];

	assert_int_equal(kh_hot_ranges(g, ARRAY_SIZE(g), 2, out), 2);
	assert_int_equal(out[0].gfn_start, 40);
	assert_int_equal(out[1].gfn_start, 20);
	assert_int_equal(kh_hot_ranges(g, ARRAY_SIZE(g), 4, out), 4);
	assert_int_equal(kh_hot_ranges(g, ARRAY_SIZE(g), 100, out), 4);
	assert_int_equal(kh_hot_ranges(g, ARRAY_SIZE(g), 1, out), 1);
	assert_int_equal(out[0].gfn_start, 40);
	assert_int_equal(kh_hot_ranges(g, ARRAY_SIZE(g), 0, out), 0);
	assert_int_equal(kh_hot_ranges(g, 0, 10, out), 0);
}

static void test_ranges_subpage_or(void **state)
{
	struct kh_gfn_stat g[] = {
		gs(3, 40, 4, 4, 0x00000001),
		gs(3, 41, 4, 2, 0x80000000),
		gs(3, 42, 5, 1, 0x00000101),
	};
	struct kh_range out[ARRAY_SIZE(g)];

	assert_int_equal(kh_hot_ranges(g, ARRAY_SIZE(g), SIZE_MAX, out), 1);
	assert_range(&out[0], 3, 40, 3, 13, 7, 0x80000101);
}

static void test_ranges_zero_access_ignored(void **state)
{
	struct kh_gfn_stat g[] = {
		gs(1, 60, 4, 1, 0x1),
		gs(1, 61, 0, 0, 0xf0),	/* no accesses: ignored, mask too */
		gs(1, 62, 4, 1, 0x2),
		gs(1, 63, 0, 0, 0),
	};
	struct kh_gfn_stat z[] = { gs(1, 1, 0, 0, 0), gs(1, 2, 0, 0, 0) };
	struct kh_range out[ARRAY_SIZE(g)];

	/* 60 and 62 are not adjacent once 61 is dropped */
	assert_int_equal(kh_hot_ranges(g, ARRAY_SIZE(g), SIZE_MAX, out), 2);
	assert_range(&out[0], 1, 60, 1, 4, 1, 0x1);
	assert_range(&out[1], 1, 62, 1, 4, 1, 0x2);
	assert_int_equal(kh_hot_ranges(z, ARRAY_SIZE(z), SIZE_MAX, out), 0);
}

static void test_sort_by_heat(void **state)
{
	struct kh_gfn_stat g[] = {
		gs(2, 9, 5, 0, 0),
		gs(1, 1, 10, 1, 0),
		gs(1, 2, 10, 3, 0),
		gs(2, 4, 5, 0, 0),
		gs(1, 8, 5, 0, 0),
		gs(9, 0, 0, 0, 0),
		gs(1, 3, 99, 0, 0),
	};
	static const struct {
		uint32_t pid;
		uint64_t gfn;
	} want[] = {
		{ 1, 3 },	/* most accesses */
		{ 1, 2 },	/* 10 accesses, more writes */
		{ 1, 1 },
		{ 1, 8 },	/* 5 accesses, 0 writes: lower pid */
		{ 2, 4 },	/* same pid: lower gfn */
		{ 2, 9 },
		{ 9, 0 },
	};

	kh_sort_gfns_by_heat(g, ARRAY_SIZE(g));
	for (size_t i = 0; i < ARRAY_SIZE(want); i++) {
		if (g[i].pid != want[i].pid || g[i].gfn != want[i].gfn)
			fail_msg("position %zu: pid %u gfn %" PRIu64 ", want pid %u gfn %" PRIu64,
				 i, g[i].pid, g[i].gfn, want[i].pid, want[i].gfn);
	}
	kh_sort_gfns_by_heat(g, 0);	/* no-op, no crash */
}

/*
 * Slot 1: gfns [0, 100); a hole; slot 2: gfns [1000, 1060).  An SMM
 * (as_id 1) slot sits between them in the array and must not count.
 * 160 pages over 16 columns: 10 pages a column.
 */
static void test_strip_squeezes_holes(void **state)
{
	struct kh_slot slots[] = {
		{ .base_gfn = 0, .npages = 100, .id = 1, .as_id = 0 },
		{ .base_gfn = 0, .npages = 50, .id = 1, .as_id = 1 },
		{ .base_gfn = 1000, .npages = 60, .id = 2, .as_id = 0 },
	};
	struct kh_vm vm = { .pid = 100, .nr_slots = ARRAY_SIZE(slots), .slots = slots };
	struct kh_gfn_stat g[] = {
		gs(100, 0, 1, 0, 0),		/* col 0 */
		gs(100, 9, 2, 0, 0),		/* col 0 */
		gs(100, 10, 4, 0, 0),		/* col 1 */
		gs(100, 99, 8, 0, 0),		/* col 9 */
		gs(100, 500, 1000, 0, 0),	/* hole: ignored */
		gs(100, 1000, 16, 0, 0),	/* page 100: col 10 */
		gs(100, 1035, 32, 0, 0),	/* page 135: col 13 */
		gs(100, 1059, 64, 0, 0),	/* page 159: col 15 */
		gs(100, 1060, 2000, 0, 0),	/* past the last slot */
		gs(101, 5, 4000, 0, 0),		/* another VM */
	};
	uint64_t want[16] = { [0] = 3, [1] = 4, [9] = 8, [10] = 16, [13] = 32, [15] = 64 };
	uint64_t cols[16];

	memset(cols, 0xa5, sizeof(cols));
	assert_int_equal(kh_vm_pages(&vm), 160);
	kh_strip(&vm, g, ARRAY_SIZE(g), cols, ARRAY_SIZE(cols));
	assert_memory_equal(cols, want, sizeof(want));
}

static void test_strip_wider_than_vm(void **state)
{
	struct kh_slot slots[] = { { .base_gfn = 0x100, .npages = 4, .as_id = 0 } };
	struct kh_vm vm = { .pid = 5, .nr_slots = 1, .slots = slots };
	struct kh_gfn_stat g[] = {
		gs(5, 0x100, 1, 0, 0), gs(5, 0x101, 2, 0, 0),
		gs(5, 0x102, 3, 0, 0), gs(5, 0x103, 4, 0, 0),
	};
	/* page p lands in column p * 10 / 4 */
	uint64_t want[10] = { [0] = 1, [2] = 2, [5] = 3, [7] = 4 };
	uint64_t cols[10];

	memset(cols, 0xff, sizeof(cols));
	kh_strip(&vm, g, ARRAY_SIZE(g), cols, ARRAY_SIZE(cols));
	assert_memory_equal(cols, want, sizeof(want));
}

static void test_strip_empty_vm(void **state)
{
	struct kh_vm vm = { .pid = 5 };
	struct kh_gfn_stat g[] = { gs(5, 0, 1, 0, 0) };
	uint64_t want[4] = { 0 };
	uint64_t cols[4];

	memset(cols, 0xff, sizeof(cols));
	kh_strip(&vm, g, ARRAY_SIZE(g), cols, ARRAY_SIZE(cols));
	assert_memory_equal(cols, want, sizeof(want));
}

static void test_mask_str(void **state)
{
	char s[KH_SUBPAGES + 1];

	kh_mask_str(0, s);
	assert_string_equal(s, "................................");
	kh_mask_str(1, s);
	assert_string_equal(s, "#...............................");
	kh_mask_str(0x80000000u, s);
	assert_string_equal(s, "...............................#");
	kh_mask_str(0x0000000fu, s);
	assert_string_equal(s, "####............................");
	kh_mask_str(0x00010002u, s);
	assert_string_equal(s, ".#..............#...............");
	kh_mask_str(0xffffffffu, s);
	assert_string_equal(s, "################################");
	assert_int_equal(strlen(s), KH_SUBPAGES);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ranges_merge_alike),
		cmocka_unit_test(test_ranges_written_vs_readonly),
		cmocka_unit_test(test_ranges_hot_next_to_cold),
		cmocka_unit_test(test_ranges_pids_never_merge),
		cmocka_unit_test(test_ranges_ranking),
		cmocka_unit_test(test_ranges_top),
		cmocka_unit_test(test_ranges_subpage_or),
		cmocka_unit_test(test_ranges_zero_access_ignored),
		cmocka_unit_test(test_sort_by_heat),
		cmocka_unit_test(test_strip_squeezes_holes),
		cmocka_unit_test(test_strip_wider_than_vm),
		cmocka_unit_test(test_strip_empty_vm),
		cmocka_unit_test(test_mask_str),
	};

	return cmocka_run_group_tests_name("heat", tests, NULL, NULL);
}
