// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * Idle ages in recordings (format 1.2): IDLE_SCAN and IDLE_RUNS written
 * from real idle state (idle.h), read back and re-checked, summarised by
 * `report` (text and JSON, --time, --gfn, --ws-scans, -o subsets) and
 * drawn by `heatmap --metric idle` and `--chart cold`.  No driver or BPF:
 * the ages are set by hand, as a scan would leave them.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <sys/wait.h>
#include <jansson.h>
#include "khrun.h"
#include "kh.h"
#include "datafile.h"

#define BASE	0x40000ULL

static struct kh_slot slots[] = { { .base_gfn = BASE, .npages = 1024, .hva = 0x7f0000000000 } };
static const struct kh_vm vm = { .pid = 7, .nr_slots = 1, .slots = slots };
static char path[64];

/* Pages [lo, hi) of the one slot get @age. */
static void set_ages(struct kh_idle *st, uint64_t lo, uint64_t hi, uint8_t age)
{
	for (uint64_t i = lo; i < hi; i++)
		st->slots[0].age[i] = age;
}

/*
 * Epoch 0, scan 1: pages 0-99 age 0, 100-299 age 1, the rest never aged.
 * Epoch 1, scan 2: 0-99 age 0, 100-299 age 2, 300-349 age 1, 600-609 age 0.
 */
static void write_recording(bool with_idle)
{
	struct kh_vm_ident id = { "cold-vm", "", KH_NAME_CMDLINE };
	struct kh_df_gfn g = { .gfn = BASE + 5, .d = { .accesses = 3, .aged = 1 } };
	struct kh_idle st;
	struct kh_dw w;
	int fd;

	snprintf(path, sizeof(path), "/tmp/kh-recidle-XXXXXX");
	fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(kh_idle_init(&st, &vm), 0);
	assert_int_equal(kh_dw_fdopen(&w, fd), 0);
	assert_int_equal(kh_dw_vm_id(&w, 1000, 0xaa, 7, 1, "khguest", &id, slots, 1,
				     KH_DFV_INITIAL), 0);
	assert_int_equal(kh_dw_epoch(&w, 0, 1000, 1000001000, 1, 0), 0);
	assert_int_equal(kh_dw_gfns(&w, 7, &g, 1), 0);
	set_ages(&st, 0, 100, 0);
	set_ages(&st, 100, 300, 1);
	st.scans = 1;
	if (with_idle)
		assert_int_equal(kh_dw_idle(&w, 1000001000, &st, KH_AD_MGLRU, 0, 1000), 0);
	assert_int_equal(kh_dw_epoch(&w, 1, 1000001000, 2000001000, 0, 0), 0);
	set_ages(&st, 100, 300, 2);
	set_ages(&st, 300, 350, 1);
	set_ages(&st, 600, 610, 0);
	st.scans = 2;
	if (with_idle)
		assert_int_equal(kh_dw_idle(&w, 2000001000, &st, KH_AD_MGLRU, 0, 1000), 0);
	assert_int_equal(kh_dw_footer(&w, 2000001000, -1, KH_END_SIGNAL), 0);
	assert_int_equal(kh_dw_flush(&w), 0);
	close(fd);
	free(w.buf);
	free(w.zbuf);
	kh_idle_free(&st);
}

static void test_roundtrip(void **state)
{
	struct kh_recording r;
	struct kh_rd_filter f;
	const struct kh_rd_idle *s;
	char why[256];

	(void)state;
	write_recording(true);
	assert_int_equal(kh_df_read_file(path, 0, &r, why, sizeof(why)), 0);
	assert_int_equal(r.minor, 2);
	assert_int_equal(r.nr_idle, 2);
	assert_int_equal(r.nr_notes, 1);	/* only "the header record is missing" */
	/* scan 1: two runs; scan 2: four (unknown pages are not written) */
	assert_int_equal(r.idle[0].nr_runs, 2);
	assert_int_equal(r.idle[1].nr_runs, 4);
	assert_int_equal(r.idle[1].epoch, 1);
	assert_int_equal(r.idle[1].driver, KH_AD_MGLRU);
	assert_int_equal(r.idle_runs[r.idle[1].first_run + 1].gfn, BASE + 100);
	assert_int_equal(r.idle_runs[r.idle[1].first_run + 1].npages, 200);
	assert_int_equal(r.idle_runs[r.idle[1].first_run + 1].age, 2);
	assert_int_equal(r.idle_runs[r.idle[1].first_run + 3].gfn, BASE + 600);
	kh_rd_filter_init(&f);
	s = kh_rd_idle_last(&r, &f, 7);
	assert_ptr_equal(s, &r.idle[1]);
	/* the first second only: scan 1 */
	f.time_set = true;
	f.t0 = 0;
	f.t1 = 0.5;
	assert_ptr_equal(kh_rd_idle_last(&r, &f, 7), &r.idle[0]);
	assert_null(kh_rd_idle_last(&r, &f, 8));
	kh_rd_free(&r);
	unlink(path);
}

/* Raw records appended by hand: what a damaged or hostile file could hold. */
static void test_bad_records(void **state)
{
	struct kh_df_idle_scan sc = { .t_ns = 5, .pid = 9, .scan = 1, .nr_runs = 3 };
	struct {
		struct kh_df_batch b;
		struct kh_df_idle_run e[3];
	} runs = { .b = { .pid = 9, .n = 3, .ent_size = sizeof(struct kh_df_idle_run) },
		   .e = { { .gfn = 10, .npages = 5, .age = 1 },
			  { .gfn = 12, .npages = 5, .age = 2 },		/* overlaps */
			  { .gfn = 20, .npages = 1, .age = 254 } } };	/* impossible: 254 is the in-memory "primed" mark */
	struct kh_df_batch orphan = { .pid = 4, .n = 0, .ent_size = 16 };
	struct kh_recording r;
	struct kh_dw w;
	char why[256], p[] = "/tmp/kh-recidle-bad-XXXXXX";
	bool incomplete = false;
	int fd = mkstemp(p);

	(void)state;
	assert_true(fd >= 0);
	assert_int_equal(kh_dw_fdopen(&w, fd), 0);
	/* a scan before any epoch, and runs of a VM with no scan: both dropped */
	assert_int_equal(kh_dw_add(&w, KH_DF_IDLE_SCAN, &sc, sizeof(sc)), 0);
	assert_int_equal(kh_dw_epoch(&w, 0, 1, 10, 0, 0), 0);
	assert_int_equal(kh_dw_add(&w, KH_DF_IDLE_RUNS, &orphan, sizeof(orphan)), 0);
	assert_int_equal(kh_dw_add(&w, KH_DF_IDLE_SCAN, &sc, sizeof(sc)), 0);
	assert_int_equal(kh_dw_add(&w, KH_DF_IDLE_RUNS, &runs, sizeof(runs)), 0);
	assert_int_equal(kh_dw_footer(&w, 10, -1, KH_END_SIGNAL), 0);
	assert_int_equal(kh_dw_flush(&w), 0);
	close(fd);
	free(w.buf);
	free(w.zbuf);
	assert_int_equal(kh_df_read_file(p, 0, &r, why, sizeof(why)), 0);
	assert_int_equal(r.nr_idle, 1);
	assert_int_equal(r.idle[0].nr_runs, 1);		/* only the first run stands */
	for (size_t i = 0; i < r.nr_notes; i++)
		incomplete |= strstr(r.notes[i], "idle scan 1 of VM 9 is incomplete: 1 of 3") != NULL;
	assert_true(incomplete);
	kh_rd_free(&r);
	unlink(p);
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

/* report -j's "idle" object of the only VM, for extra arguments @more. */
static json_t *report_idle(const char *file, const char *const *more)
{
	char *args[16] = { "kvmheat", "report", "-i", (char *)file, "-j" }, *out;
	size_t n = 5;
	json_error_t je;
	json_t *j, *idle;
	int rc;

	for (; more && *more; more++)
		args[n++] = (char *)*more;
	out = run_kvmheat(args, &rc);
	assert_int_equal(rc, 0);
	j = json_loads(out, 0, &je);
	if (!j)
		printf("# %s: %s\n", je.text, out);
	assert_non_null(j);
	free(out);
	idle = json_incref(json_object_get(json_array_get(json_object_get(j, "vms"), 0), "idle"));
	json_decref(j);
	assert_non_null(idle);
	return idle;
}

static json_int_t jint(json_t *o, const char *k)
{
	return json_integer_value(json_object_get(o, k));
}

static void test_report(void **state)
{
	json_t *i;
	char *out;
	int rc;

	(void)state;
	write_recording(true);
	/* the last scan: 360 pages known, 250 idle, 200 of them for >= 2 scans */
	i = report_idle(path, NULL);
	assert_string_equal(json_string_value(json_object_get(i, "age_driver")), "mglru");
	assert_int_equal(jint(i, "scans"), 2);
	assert_int_equal(jint(i, "pages_aged"), 360);
	assert_int_equal(jint(json_object_get(i, "idle_bytes"), "1"), 250 * 4096);
	assert_int_equal(jint(json_object_get(i, "idle_bytes"), "2"), 200 * 4096);
	assert_int_equal(jint(json_object_get(i, "idle_bytes"), "4"), 0);
	assert_int_equal(jint(i, "working_set_bytes"), 110 * 4096);
	assert_int_equal(json_integer_value(json_array_get(json_object_get(i, "idle_age_hist"),
							   2)), 200);
	json_decref(i);
	/* young within the last 2 scans: age 0 or 1 */
	i = report_idle(path, (const char *[]){ "--ws-scans", "2", NULL });
	assert_int_equal(jint(i, "working_set_scans"), 2);
	assert_int_equal(jint(i, "working_set_bytes"), 160 * 4096);
	json_decref(i);
	/* the first second: scan 1 */
	i = report_idle(path, (const char *[]){ "--time", "0-0.5", NULL });
	assert_int_equal(jint(i, "scans"), 1);
	assert_int_equal(jint(i, "pages_aged"), 300);
	json_decref(i);
	/* a gfn window clips the runs */
	i = report_idle(path, (const char *[]){ "--gfn", "0x40000-0x40095", NULL });
	assert_int_equal(jint(i, "pages_aged"), 150);
	assert_int_equal(jint(json_object_get(i, "idle_bytes"), "1"), 50 * 4096);
	json_decref(i);
	out = run_kvmheat((char *[]){ "kvmheat", "report", "-i", path, NULL }, &rc);
	assert_int_equal(rc, 0);
	assert_non_null(strstr(out, "idle ages at 2.00 s (scan 2)"));
	assert_non_null(strstr(out, "working set (young within the last 1 scan, 1 s): 440.0 KiB"));
	free(out);
	out = run_kvmheat((char *[]){ "kvmheat", "report", "-i", path, "--ws-scans", "0", NULL },
			  &rc);
	assert_int_equal(rc, 2);
	free(out);
	unlink(path);
	/* no --age-driver: null, not zeros */
	write_recording(false);
	i = report_idle(path, NULL);
	assert_true(json_is_null(i));
	json_decref(i);
	unlink(path);
}

/* report -o keeps the idle scans of the selection, clipped. */
static void test_subset(void **state)
{
	char sub[] = "/tmp/kh-recidle-sub-XXXXXX", *out;
	json_t *i;
	int rc, fd;

	(void)state;
	write_recording(true);
	fd = mkstemp(sub);
	assert_true(fd >= 0);
	close(fd);
	out = run_kvmheat((char *[]){ "kvmheat", "report", "-i", path, "--gfn", "0x40000-0x40095",
				      "-o", sub, NULL }, &rc);
	assert_int_equal(rc, 0);
	free(out);
	i = report_idle(sub, NULL);
	assert_int_equal(jint(i, "scans"), 2);
	assert_int_equal(jint(i, "pages_aged"), 150);
	json_decref(i);
	unlink(sub);
	unlink(path);
}

static size_t count(const char *hay, const char *needle)
{
	size_t n = 0;

	for (const char *p = hay; (p = strstr(p, needle)); p += strlen(needle))
		n++;
	return n;
}

/*
 * heatmap --metric idle: 610 pages drawn (0-609, the extent of the ages) in
 * 61 rows of 10 pages; column 0 is scan 1, column 1 scan 2.  Each cell's
 * hover title carries its mean age.
 */
static void test_heatmap_idle(void **state)
{
	char svg[] = "/tmp/kh-recidle-svg-XXXXXX.svg", *out, *pic;
	json_error_t je;
	json_t *j;
	int rc, fd;

	(void)state;
	write_recording(true);
	fd = mkstemps(svg, 4);
	assert_true(fd >= 0);
	close(fd);
	out = run_kvmheat((char *[]){ "kvmheat", "heatmap", "-i", path, "--metric", "idle",
				      "--rows", "61", "--cols", "2", "-o", svg, "-j", NULL }, &rc);
	assert_int_equal(rc, 0);
	j = json_loads(out, 0, &je);
	assert_non_null(j);
	assert_string_equal(json_string_value(json_object_get(j, "metric")), "idle");
	assert_int_equal(jint(j, "rows"), 61);
	assert_int_equal(jint(j, "max"), 2);
	assert_int_equal(jint(j, "gfn_lo"), BASE);
	assert_int_equal(jint(j, "gfn_hi"), BASE + 609);
	json_decref(j);
	free(out);
	pic = kh_slurp(svg);
	assert_non_null(pic);
	assert_int_equal(count(pic, ", idle 0<"), 10 + 10 + 1);
	assert_int_equal(count(pic, ", idle 1<"), 20 + 5);
	assert_int_equal(count(pic, ", idle 2<"), 20);
	assert_non_null(strstr(pic, "mean idle age per cell (scans)"));
	free(pic);
	/* cold memory over time: one line, two points */
	out = run_kvmheat((char *[]){ "kvmheat", "heatmap", "-i", path, "--chart", "cold", "-o",
				      svg, "-j", NULL }, &rc);
	assert_int_equal(rc, 0);
	j = json_loads(out, 0, &je);
	assert_non_null(j);
	assert_int_equal(jint(j, "series"), 1);
	assert_int_equal(jint(j, "points"), 2);
	json_decref(j);
	free(out);
	/* the HTML report draws both */
	out = run_kvmheat((char *[]){ "kvmheat", "report", "-i", path, "--format", "html", "-o",
				      svg, NULL }, &rc);
	assert_int_equal(rc, 0);
	free(out);
	pic = kh_slurp(svg);
	assert_non_null(pic);
	assert_non_null(strstr(pic, "<h3>Idle ages</h3>\n<svg"));
	assert_null(strstr(pic, "no chart"));	/* cold memory drawn too */
	free(pic);
	unlink(path);
	/* without idle ages: one line saying how to get them, exit 1 */
	write_recording(false);
	out = run_kvmheat((char *[]){ "kvmheat", "heatmap", "-i", path, "--metric", "idle",
				      "-o", svg, NULL }, &rc);
	assert_int_equal(rc, 1);
	free(out);
	out = run_kvmheat((char *[]){ "kvmheat", "heatmap", "-i", path, "--metric", "hot",
				      "-o", svg, NULL }, &rc);
	assert_int_equal(rc, 2);
	free(out);
	unlink(svg);
	unlink(path);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_roundtrip),
		cmocka_unit_test(test_bad_records),
		cmocka_unit_test(test_report),
		cmocka_unit_test(test_subset),
		cmocka_unit_test(test_heatmap_idle),
	};

	return cmocka_run_group_tests_name("idle ages in recordings", tests, NULL, NULL);
}
