// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* Parsing, formatting, map sizing, method/source names and error text. */
#include "khtest.h"
#include <errno.h>
#include <inttypes.h>
#include <bpf/libbpf.h>
#include "kh.h"

#define GIB_PAGES	(1ULL << (30 - KH_PAGE_SHIFT))

static void test_parse_u64_ok(void **state)
{
	uint64_t v;

	v = 7;
	assert_int_equal(kh_parse_u64("0", &v), 0);
	assert_int_equal(v, 0);
	assert_int_equal(kh_parse_u64("12345", &v), 0);
	assert_int_equal(v, 12345);
	assert_int_equal(kh_parse_u64("0x10", &v), 0);
	assert_int_equal(v, 16);
	assert_int_equal(kh_parse_u64("0XfFfF", &v), 0);
	assert_int_equal(v, 0xffff);
	assert_int_equal(kh_parse_u64("18446744073709551615", &v), 0);
	assert_true(v == UINT64_MAX);
	assert_int_equal(kh_parse_u64("0xffffffffffffffff", &v), 0);
	assert_true(v == UINT64_MAX);
}

static void test_parse_u64_rejects(void **state)
{
	static const char *const bad[] = {
		"", "-1", "-0", "12x", "x12", "0x", "1 ", "1.5",
		"18446744073709551616",		/* UINT64_MAX + 1 */
		"0x10000000000000000",		/* 2^64 */
		"99999999999999999999999",
	};
	uint64_t v = 42;

	assert_int_equal(kh_parse_u64(NULL, &v), -EINVAL);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (kh_parse_u64(bad[i], &v) != -EINVAL)
			fail_msg("kh_parse_u64 accepted '%s'", bad[i]);
	}
	assert_int_equal(v, 42);	/* untouched on error */
}

static void test_parse_pid(void **state)
{
	uint32_t pid = 99;

	assert_int_equal(kh_parse_pid("1", &pid), 0);
	assert_int_equal(pid, 1);
	assert_int_equal(kh_parse_pid("4194304", &pid), 0);
	assert_int_equal(pid, 4194304);
	assert_int_equal(kh_parse_pid("0x3fffffff", &pid), 0);
	assert_int_equal(pid, 0x3fffffff);

	pid = 99;
	assert_int_equal(kh_parse_pid("0", &pid), -EINVAL);
	assert_int_equal(kh_parse_pid("-1", &pid), -EINVAL);
	assert_int_equal(kh_parse_pid("-5", &pid), -EINVAL);
	assert_int_equal(kh_parse_pid("1073741824", &pid), -EINVAL);	/* 0x40000000 */
	assert_int_equal(kh_parse_pid("4294967297", &pid), -EINVAL);	/* 2^32 + 1 */
	assert_int_equal(kh_parse_pid("18446744073709551615", &pid), -EINVAL);
	assert_int_equal(kh_parse_pid("", &pid), -EINVAL);
	assert_int_equal(kh_parse_pid("12ab", &pid), -EINVAL);
	assert_int_equal(pid, 99);
}

static void test_parse_seconds(void **state)
{
	double v = 0;

	assert_int_equal(kh_parse_seconds("0.5", &v), 0);
	assert_true(v == 0.5);
	assert_int_equal(kh_parse_seconds("3", &v), 0);
	assert_true(v == 3.0);
	assert_int_equal(kh_parse_seconds("2.25", &v), 0);
	assert_true(v == 2.25);

	v = 9;
	assert_int_equal(kh_parse_seconds("0", &v), -EINVAL);
	assert_int_equal(kh_parse_seconds("0.0", &v), -EINVAL);
	assert_int_equal(kh_parse_seconds("-1", &v), -EINVAL);
	assert_int_equal(kh_parse_seconds("abc", &v), -EINVAL);
	assert_int_equal(kh_parse_seconds("1s", &v), -EINVAL);
	assert_int_equal(kh_parse_seconds("", &v), -EINVAL);
	assert_int_equal(kh_parse_seconds(NULL, &v), -EINVAL);
	assert_int_equal(kh_parse_seconds("nan", &v), -EINVAL);
	assert_int_equal(kh_parse_seconds("inf", &v), -EINVAL);
	assert_int_equal(kh_parse_seconds("1e300", &v), -EINVAL);
	assert_true(v == 9);
}

static void test_fmt_bytes(void **state)
{
	char b[32];

	assert_string_equal(kh_fmt_bytes(0, b, sizeof(b)), "0 B");
	assert_string_equal(kh_fmt_bytes(1023, b, sizeof(b)), "1023 B");
	assert_string_equal(kh_fmt_bytes(1024, b, sizeof(b)), "1.0 KiB");
	assert_string_equal(kh_fmt_bytes(1536, b, sizeof(b)), "1.5 KiB");
	assert_string_equal(kh_fmt_bytes(64ULL << 20, b, sizeof(b)), "64.0 MiB");
	assert_string_equal(kh_fmt_bytes(3ULL << 30, b, sizeof(b)), "3.0 GiB");
	assert_string_equal(kh_fmt_bytes(1ULL << 40, b, sizeof(b)), "1.0 TiB");
	assert_ptr_equal(kh_fmt_bytes(5, b, sizeof(b)), b);
}

struct sizes {
	uint64_t gfn, region, subpage;
};

static struct sizes map_sizes(uint64_t pages, uint64_t max_gfns)
{
	struct sizes s = { 0, 0, 0 };

	kh_map_sizes(pages, max_gfns, &s.gfn, &s.region, &s.subpage);
	return s;
}

static void test_map_sizes_floors(void **state)
{
	uint64_t pages = (16ULL << 20) >> KH_PAGE_SHIFT;	/* 16 MiB guest */
	struct sizes s = map_sizes(pages, 0);

	assert_int_equal(pages, 4096);
	assert_int_equal(s.region, 1024);
	assert_int_equal(s.gfn, 16384);
	assert_int_equal(s.subpage, 4096);
	assert_true(s.gfn >= pages);
	assert_true(s.subpage >= pages);
	assert_true(s.region >= pages / KH_REGION_GFNS);

	/* "The floors cover a guest of up to 64 MiB completely" (per-gfn table) */
	pages = (64ULL << 20) >> KH_PAGE_SHIFT;
	s = map_sizes(pages, 0);
	assert_int_equal(s.gfn, 16384);
	assert_true(s.gfn >= pages);
	assert_true(s.region >= pages / KH_REGION_GFNS);

	/* No memory known yet: the same floors. */
	s = map_sizes(0, 0);
	assert_int_equal(s.region, 1024);
	assert_int_equal(s.gfn, 16384);
	assert_int_equal(s.subpage, 4096);
}

/*
 * session.c: regions cover the memory plus a quarter (512 per GiB * 5/4),
 * 4096 gfn entries and 1024 sub-page rows per GiB, floors 1024/16384/4096.
 */
static void test_map_sizes_per_gib(void **state)
{
	static const struct {
		uint64_t gib, region, gfn, subpage;
	} t[] = {
		{ 1, 1024, 16384, 4096 },	/* every floor wins at 1 GiB */
		{ 3, 1920, 16384, 4096 },	/* gfn and sub-page floors still win */
		{ 16, 10240, 65536, 16384 },
		{ 256, 163840, 1048576, 262144 },
	};

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		struct sizes s = map_sizes(t[i].gib * GIB_PAGES, 0);

		if (s.region != t[i].region || s.gfn != t[i].gfn || s.subpage != t[i].subpage)
			fail_msg("%" PRIu64 " GiB: regions %" PRIu64 " gfns %" PRIu64
				 " subpages %" PRIu64, t[i].gib, s.region, s.gfn, s.subpage);
		/* regions hold the whole guest plus a quarter */
		assert_true(s.region >= t[i].gib * (GIB_PAGES / KH_REGION_GFNS) * 5 / 4);
	}
	/* A partial GiB rounds up: 16 GiB + 1 page sizes like 17 GiB. */
	struct sizes s = map_sizes(16 * GIB_PAGES + 1, 0);

	assert_int_equal(s.region, 17 * 512 * 5 / 4);
	assert_int_equal(s.gfn, 17 * 4096);
	assert_int_equal(s.subpage, 17 * 1024);
}

static void test_map_sizes_max_gfns(void **state)
{
	struct sizes s = map_sizes(16 * GIB_PAGES, 100000);

	assert_int_equal(s.gfn, 100000);
	assert_int_equal(s.region, 10240);	/* others unaffected */
	assert_int_equal(s.subpage, 16384);
}

static void test_method_names(void **state)
{
	static const char *const names[KH_M_MAX] = {
		[KH_M_FENTRY] = "fentry", [KH_M_FEXIT] = "fexit", [KH_M_KPROBE] = "kprobe",
		[KH_M_TP_BTF] = "tp_btf", [KH_M_RAW_TP] = "raw_tp",
		[KH_M_TRACEPOINT] = "tracepoint",
	};
	static const char *const bad[] = {
		"", "FENTRY", "fentry ", "kprobes", "raw", "tp", "?", "uprobe",
	};
	enum kh_method m;

	/* KH_M_AUTO (0) is "not forced", not a method a user can name */
	for (int i = KH_M_FIRST; i < KH_M_MAX; i++) {
		assert_string_equal(kh_method_name(i), names[i]);
		m = KH_M_MAX;
		assert_int_equal(kh_method_parse(kh_method_name(i), &m), 0);
		assert_int_equal(m, i);
	}
	m = KH_M_MAX;
	assert_int_equal(kh_method_parse("trampoline", &m), 0);
	assert_int_equal(m, KH_M_FENTRY);
	assert_string_equal(kh_method_name(KH_M_MAX), "?");

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		m = KH_M_MAX;
		assert_int_equal(kh_method_parse(bad[i], &m), -EINVAL);
		assert_int_equal(m, KH_M_MAX);
	}
}

static void test_source_names(void **state)
{
	static const char *const names[KH_SRC_MAX] = {
		[KH_SRC_AGING] = "aging", [KH_SRC_TRACK] = "track",
		[KH_SRC_SPP] = "spp", [KH_SRC_WALK] = "walk",
	};
	static const char *const bad[] = { "", "Aging", "age", "all", "spp,walk", "?" };
	enum kh_source src;

	for (int i = 0; i < KH_SRC_MAX; i++) {
		assert_string_equal(kh_source_name(i), names[i]);
		src = KH_SRC_MAX;
		assert_int_equal(kh_source_parse(kh_source_name(i), &src), 0);
		assert_int_equal(src, i);
	}
	assert_string_equal(kh_source_name(KH_SRC_MAX), "?");
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		src = KH_SRC_MAX;
		assert_int_equal(kh_source_parse(bad[i], &src), -EINVAL);
		assert_int_equal(src, KH_SRC_MAX);
	}
}

static void test_errstr(void **state)
{
	char b[128];

	assert_string_equal(kh_errstr(-ENOENT, b, sizeof(b)), strerror(ENOENT));
	assert_string_equal(kh_errstr(-ENOENT, b, sizeof(b)), "No such file or directory");
	assert_string_equal(kh_errstr(EPERM, b, sizeof(b)), strerror(EPERM));
	assert_ptr_equal(kh_errstr(-EPERM, b, sizeof(b)), b);
	assert_string_equal(kh_errstr(-LIBBPF_ERRNO__FORMAT, b, sizeof(b)),
			    "BPF object format invalid");
	assert_string_equal(kh_errstr(-LIBBPF_ERRNO__VERIFY, b, sizeof(b)),
			    "Kernel verifier blocks program loading");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_u64_ok),
		cmocka_unit_test(test_parse_u64_rejects),
		cmocka_unit_test(test_parse_pid),
		cmocka_unit_test(test_parse_seconds),
		cmocka_unit_test(test_fmt_bytes),
		cmocka_unit_test(test_map_sizes_floors),
		cmocka_unit_test(test_map_sizes_per_gib),
		cmocka_unit_test(test_map_sizes_max_gfns),
		cmocka_unit_test(test_method_names),
		cmocka_unit_test(test_source_names),
		cmocka_unit_test(test_errstr),
	};

	return cmocka_run_group_tests_name("util", tests, NULL, NULL);
}
