// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * Coarse (huge-page) aging in views and recordings: which regions count as
 * seen only at 2 MiB or coarser, REGIONS records summed over epochs and
 * re-checked on reading, and report's JSON and text saying so.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <sys/wait.h>
#include <jansson.h>
#include "khrun.h"
#include "kh.h"
#include "datafile.h"

static void test_coarse_add(void **state)
{
	struct kh_coarse c = {};

	kh_coarse_add(&c, 5, 0, 0, 0);		/* 4 KiB aging only: not coarse */
	kh_coarse_add(&c, 3, 3, 1, 512);	/* a THP region, only ever aged whole */
	kh_coarse_add(&c, 9, 2, 2, 512);	/* coarse, and 7 checks at 4 KiB too */
	kh_coarse_add(&c, 1, 1, 1, 262144);	/* part of a 1 GiB page */
	assert_int_equal(c.regions, 3);
	assert_int_equal(c.only, 2);
	assert_int_equal(c.aged, 6);
	assert_int_equal(c.young, 4);
	assert_int_equal(c.cell_pages, 262144);
}

static char path[64];

/* Two epochs of VM 7: region 0x200 aged whole twice, region 0x201 also at 4 KiB. */
static void write_recording(void)
{
	struct kh_slot sl = { .base_gfn = 0x40000, .npages = 2048, .hva = 0x7f0000000000 };
	struct kh_vm_ident id = { "thp-vm", "", KH_NAME_CMDLINE };
	struct kh_df_region e1[] = {
		{ .idx = 0x200, .aged = 1, .coarse_aged = 1, .coarse_young = 1, .coarse_pages = 512 },
		{ .idx = 0x201, .aged = 1, .coarse_aged = 1, .coarse_young = 0, .coarse_pages = 512 },
		/* impossible: young more often than aged; the reader drops it */
		{ .idx = 0x202, .aged = 1, .coarse_aged = 1, .coarse_young = 5, .coarse_pages = 512 },
	};
	struct kh_df_region e2[] = {
		{ .idx = 0x200, .aged = 1, .coarse_aged = 1, .coarse_young = 1, .coarse_pages = 512 },
		{ .idx = 0x201, .aged = 4, .coarse_aged = 0, .coarse_young = 0, .coarse_pages = 512 },
	};
	struct kh_df_gfn g = { .gfn = 0x40200, .d = { .accesses = 3, .aged = 4 } };
	struct kh_dw w;
	int fd;

	snprintf(path, sizeof(path), "/tmp/kh-coarse-XXXXXX");
	fd = mkstemp(path);

	assert_true(fd >= 0);
	assert_int_equal(kh_dw_fdopen(&w, fd), 0);
	assert_int_equal(kh_dw_vm_id(&w, 1000, 0xaa, 7, 1, "khguest", &id, &sl, 1,
				     KH_DFV_INITIAL), 0);
	assert_int_equal(kh_dw_epoch(&w, 0, 1000, 2000, 0, 0), 0);
	assert_int_equal(kh_dw_regions(&w, 7, e1, 3), 0);
	assert_int_equal(kh_dw_epoch(&w, 1, 2000, 3000, 1, 0), 0);
	assert_int_equal(kh_dw_gfns(&w, 7, &g, 1), 0);
	assert_int_equal(kh_dw_regions(&w, 7, e2, 2), 0);
	assert_int_equal(kh_dw_footer(&w, 3000, -1, KH_END_SIGNAL), 0);
	assert_int_equal(kh_dw_flush(&w), 0);
	close(fd);
	free(w.buf);
	free(w.zbuf);
}

static void test_recorded_regions(void **state)
{
	struct kh_rd_filter f;
	struct kh_coarse c;
	struct kh_recording r;
	char why[256];

	write_recording();
	assert_int_equal(kh_df_read_file(path, 0, &r, why, sizeof(why)), 0);
	assert_int_equal(r.nr_regions, 4);	/* the impossible entry is not one */
	kh_rd_filter_init(&f);
	kh_rd_coarse(&r, &f, 7, &c);
	assert_int_equal(c.regions, 2);
	assert_int_equal(c.only, 1);		/* 0x201 was aged at 4 KiB in epoch 1 */
	assert_int_equal(c.aged, 3);
	assert_int_equal(c.young, 2);
	assert_int_equal(c.cell_pages, 512);
	/* the first epoch alone: both regions only coarse so far */
	f.time_set = true;
	f.t0 = 0;
	f.t1 = 0.0000005;
	kh_rd_coarse(&r, &f, 7, &c);
	assert_int_equal(c.regions, 2);
	assert_int_equal(c.only, 2);
	kh_rd_coarse(&r, &f, 8, &c);
	assert_int_equal(c.regions, 0);
	kh_rd_free(&r);
	unlink(path);
}

/* kvmheat @args (args[0] is "kvmheat"): its stdout; stderr is dropped. */
static char *run_kvmheat(char *const args[], int *rc)
{
	struct kh_run r;

	kh_run_kvmheat(&r, args + 1);
	*rc = r.rc;
	free(r.err);
	return r.out;
}

static void test_report_says_coarse(void **state)
{
	char sub[] = "/tmp/kh-coarse-sub-XXXXXX", *out;
	json_error_t je;
	json_t *j, *ag;
	int rc, fd;

	write_recording();
	out = run_kvmheat((char *[]){ "kvmheat", "report", "-i", path, "--format", "json", NULL },
			  &rc);
	assert_int_equal(rc, 0);
	j = json_loads(out, 0, &je);
	assert_non_null(j);
	ag = json_object_get(json_array_get(json_object_get(j, "vms"), 0), "aging_granularity");
	assert_int_equal(json_integer_value(json_object_get(ag, "coarse_only_bytes")), 2 << 20);
	assert_int_equal(json_integer_value(json_object_get(ag, "largest_cell_bytes")), 2 << 20);
	assert_int_equal(json_integer_value(json_object_get(ag, "coarse_regions")), 2);
	json_decref(j);
	free(out);
	out = run_kvmheat((char *[]){ "kvmheat", "report", "-i", path, NULL }, &rc);
	assert_int_equal(rc, 0);
	assert_non_null(strstr(out, "aging seen only at 2 MiB or coarser: 2.0 MiB of 8.0 MiB "
				    "(2 of 3 checks young, largest cell 2.0 MiB)"));
	free(out);
	/* a subset keeps its coarse regions */
	fd = mkstemp(sub);
	assert_true(fd >= 0);
	close(fd);
	out = run_kvmheat((char *[]){ "kvmheat", "report", "-i", path, "-o", sub, NULL }, &rc);
	assert_int_equal(rc, 0);
	free(out);
	out = run_kvmheat((char *[]){ "kvmheat", "report", "-i", sub, NULL }, &rc);
	assert_int_equal(rc, 0);
	assert_non_null(strstr(out, "aging seen only at 2 MiB or coarser: 2.0 MiB"));
	free(out);
	unlink(sub);
	unlink(path);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_coarse_add),
		cmocka_unit_test(test_recorded_regions),
		cmocka_unit_test(test_report_says_coarse),
	};

	return cmocka_run_group_tests_name("coarse (huge-page) aging in views and recordings",
					   tests, NULL, NULL);
}
