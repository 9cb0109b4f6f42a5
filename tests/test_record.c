// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * Live tests of `kvmheat record` on real KVM: `record -- khguest ...`,
 * then `report` must find the guest's hot set, written pages and written
 * sub-pages exactly as khguest's ground truth says (the same comparison
 * as test_e2e); SIGKILL mid-run leaves a file report reads up to the cut;
 * SIGINT finishes the file; the output file is created safely; the
 * heatmap's hot rows are where the hot gfns are.
 *
 * KH_E2E_SEED=N replays the randomised workload of a failed run.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <inttypes.h>
#include <time.h>
#include <sys/stat.h>
#include <png.h>
#include "khtest.h"
#include "khlive.h"
#include "kvmheat.h"

/* CSV from `report --format csv` as heat-style JSON rows of one pid. */
static json_t *csv_gfns(const char *csv, uint32_t pid, size_t *rows)
{
	json_t *a = json_array();
	char *dup = strdup(csv), *save = NULL, *line;

	*rows = 0;
	line = strtok_r(dup, "\n", &save);
	assert_non_null(line);
	assert_true(!strncmp(line, "pid,gfn,accesses,writes,subpage_write_mask", 42));
	while ((line = strtok_r(NULL, "\n", &save))) {
		unsigned long long g, acc, wr;
		unsigned int p, mask;
		char m[16];

		assert_int_equal(sscanf(line, "%u,%llu,%llu,%llu,0x%x", &p, &g, &acc, &wr, &mask),
				 5);
		(*rows)++;
		if (p != pid)
			continue;
		snprintf(m, sizeof(m), "0x%08x", mask);
		json_array_append_new(a, json_pack("{s:I, s:I, s:I, s:s}", "gfn", (json_int_t)g,
						   "accesses", (json_int_t)acc, "writes",
						   (json_int_t)wr, "subpage_write_mask", m));
	}
	free(dup);
	return a;
}

struct rec_run {
	json_t *truth;
	pid_t guest;
	char data[256];
};

/* kvmheat record -o NAME [extra] -- khguest --truth T GARGS */
static void record_guest(struct rec_run *rr, const char *name, const char *const extra[],
			 const char *const gargs[])
{
	char truth[256], *argv[64], *out, *err, *kh = bin("kvmheat"), *kg = bin("khguest");
	json_error_t je;
	int n = 0, rc;

	tpath(truth, sizeof(truth), "truth.json");
	tpath(rr->data, sizeof(rr->data), name);
	argv[n++] = kh;
	argv[n++] = "record";
	argv[n++] = "-o";
	argv[n++] = rr->data;
	for (int i = 0; extra && extra[i]; i++)
		argv[n++] = (char *)extra[i];
	argv[n++] = "--";
	argv[n++] = kg;
	argv[n++] = "--truth";
	argv[n++] = truth;
	for (int i = 0; gargs[i]; i++)
		argv[n++] = (char *)gargs[i];
	argv[n] = NULL;
	rc = run(&out, &err, 120, argv);
	if (rc)
		printf("# record stderr:\n%s\n", err);
	assert_int_equal(rc, 0);
	assert_non_null(strstr(err, "command exited: wrote"));
	rr->truth = json_load_file(truth, 0, &je);
	assert_non_null(rr->truth);
	rr->guest = json_integer_value(json_object_get(rr->truth, "pid"));
	assert_true(rr->guest > 0);
	free(out);
	free(err);
	free(kh);
	free(kg);
}

static void report_vs_truth(struct rec_run *rr)
{
	char *out, *err, *kh = bin("kvmheat");
	json_t *gfns;
	size_t rows;

	assert_int_equal(run(&out, &err, 60, (char *[]){ kh, "report", "-i", rr->data, "--format",
							 "csv", NULL }), 0);
	assert_string_equal(err, "");	/* a complete file: no notes */
	gfns = csv_gfns(out, rr->guest, &rows);
	printf("# %zu CSV rows, %zu for the guest\n", rows, json_array_size(gfns));
	kh_check_truth(rr->truth, gfns);
	json_decref(gfns);
	free(out);
	free(err);
	free(kh);
}

static void test_record_command_matches_truth(void **state)
{
	const char *g[] = { "--mem", "64", "--hot", "200", "--cold", "600", "--rounds", "12",
			    "--write-frac", "0.3", "--seed", "7", NULL };
	const char *x[] = { "-F", "100", NULL };
	struct rec_run rr;

	need_kvm();
	record_guest(&rr, "cmd.data", x, g);
	report_vs_truth(&rr);
	json_decref(rr.truth);
}

/*
 * record -- sh -c 'khguest ...': the VMM is the shell's child, found by
 * following descendants (sched_process_fork), and held to the same truth.
 * A VM running beside it that is not in COMMAND's tree stays out.
 */
static void test_record_through_shell_matches_truth(void **state)
{
	char truth[256], script[1024], *out, *err, *kh, *kg;
	char *rep, *rerr;
	struct rec_run rr;
	struct proc other;
	json_error_t je;
	json_t *j;

	need_kvm();
	kh = bin("kvmheat");
	kg = bin("khguest");
	/* a VM outside COMMAND's tree, busy for the whole recording */
	spawn(&other, (char *[]){ kg, "--hot", "64", "--cold", "64", "--rounds", "40",
				  "--hot-phases", "7", "--pause-ms", "500", NULL });
	live_track(state, other.pid);
	assert_true(wait_for(other.err, "ready", 10));
	tpath(truth, sizeof(truth), "sh-truth.json");
	tpath(rr.data, sizeof(rr.data), "sh.data");
	/* "; exit $rc" keeps the shell alive as the parent: no exec shortcut */
	snprintf(script, sizeof(script), "'%s' --truth '%s' --mem 64 --hot 200 --cold 600 "
		 "--rounds 12 --write-frac 0.3 --seed 7; rc=$?; exit $rc", kg, truth);
	assert_int_equal(run(&out, &err, 120, (char *[]){ kh, "record", "-F", "100", "-o",
				rr.data, "--", "/bin/sh", "-c", script, NULL }), 0);
	assert_non_null(strstr(err, "command exited: wrote"));
	assert_null(strstr(err, "ran no KVM VM"));
	rr.truth = json_load_file(truth, 0, &je);
	assert_non_null(rr.truth);
	rr.guest = json_integer_value(json_object_get(rr.truth, "pid"));
	printf("# shell's child VMM pid %d, outside VM pid %d\n", rr.guest, other.pid);
	free(out);
	free(err);
	report_vs_truth(&rr);
	/* only the descendant is in the file */
	assert_int_equal(run(&rep, &rerr, 60, (char *[]){ kh, "report", "-i", rr.data, "--format",
							 "json", NULL }), 0);
	j = json_loads(rep, 0, &je);
	assert_non_null(j);
	assert_non_null(vm_of(j, rr.guest));
	assert_null(vm_of(j, other.pid));
	json_decref(j);
	free(rep);
	free(rerr);
	json_decref(rr.truth);
	free(kh);
	free(kg);
}

/* A COMMAND that runs no VM: a warning now, a note in the file that report shows. */
static void test_record_command_without_vm(void **state)
{
	char data[256], *out, *err, *kh;

	need_kvm();
	kh = bin("kvmheat");
	tpath(data, sizeof(data), "novm.data");
	assert_int_equal(run(&out, &err, 60, (char *[]){ kh, "record", "-F", "50", "-o", data,
				"--", "/bin/sh", "-c", "sleep 0.2; exit 0", NULL }), 0);
	assert_non_null(strstr(err, "warning: /bin/sh ran no KVM VM, nor did any process it started"));
	free(out);
	free(err);
	assert_int_equal(run(&out, &err, 60, (char *[]){ kh, "report", "-i", data, NULL }), 0);
	assert_non_null(strstr(err, "note: "));
	assert_non_null(strstr(err, "recorder: /bin/sh ran no KVM VM"));
	free(out);
	free(err);
	free(kh);
}

static void test_record_randomised_with_events(void **state)
{
	const char *x[] = { "-F", "50", "--events", NULL };
	char *out, *err, *kh;
	struct workload wl;
	struct rec_run rr;
	json_t *rep, *vm, *tr, *pages, *want;
	size_t checked = 0, nw = 0;

	need_kvm();
	record_guest(&rr, "ev.data", x, random_workload(&wl));
	report_vs_truth(&rr);

	/* the write trace: every written page's writes at its truth offset, and as many */
	kh = bin("kvmheat");
	assert_int_equal(run(&out, &err, 60, (char *[]){ kh, "report", "-i", rr.data, "-j",
							 "--subpages", "--events", NULL }), 0);
	rep = json_loads(out, 0, NULL);
	assert_non_null(rep);
	vm = vm_of(rep, rr.guest);
	assert_non_null(vm);
	tr = json_object_get(vm, "write_trace");
	pages = json_object_get(rr.truth, "pages");
	want = json_object();
	for (size_t i = 0; i < json_array_size(pages); i++) {
		json_t *p = json_array_get(pages, i);
		char k[32];

		if (!jint(p, "writes"))
			continue;
		snprintf(k, sizeof(k), "%lld", (long long)jint(p, "gfn"));
		json_object_set_new(want, k, json_pack("{s:I, s:I, s:I}", "offset",
			(json_int_t)jint(p, "offset"), "writes", (json_int_t)jint(p, "writes"),
			"seen", (json_int_t)0));
		nw++;
	}
	for (size_t i = 0; i < json_array_size(tr); i++) {
		json_t *e = json_array_get(tr, i), *w;
		char k[32];

		snprintf(k, sizeof(k), "%lld", (long long)(jint(e, "gpa") >> KH_PAGE_SHIFT));
		w = json_object_get(want, k);
		if (!w)
			continue;	/* control slot: page tables, stack */
		assert_int_equal(jint(e, "offset"), jint(w, "offset"));
		assert_int_equal(jint(e, "len"), 1);
		json_object_set_new(w, "seen", json_integer(jint(w, "seen") + 1));
		checked++;
	}
	{
		const char *k;
		json_t *w;

		json_object_foreach(want, k, w)
			assert_int_equal(jint(w, "seen"), jint(w, "writes"));
	}
	printf("# write trace: %zu writes at the truth offsets over %zu written pages\n", checked,
	       nw);
	assert_true(checked > 0);
	json_decref(want);
	json_decref(rep);
	json_decref(rr.truth);
	free(out);
	free(err);
	free(kh);
}

/* The file is killed mid-run: report reads it up to the cut and says so. */
static void test_sigkill_leaves_readable_file(void **state)
{
	char *kh, *kg, data[256], cwd[512], *out, *err;
	struct proc p;
	struct stat st;
	json_t *rep;
	pid_t guest;
	int rc;

	need_kvm();
	kh = bin("kvmheat");
	kg = bin("khguest");
	tpath(data, sizeof(data), "killed.data");
	assert_non_null(getcwd(cwd, sizeof(cwd)));
	assert_int_equal(chdir(tmpdir), 0);
	/* phase 1, a 4 s pause (recorded as idle epochs), phase 2 */
	spawn(&p, (char *[]){ kh, "record", "-F", "100", "-o", data, "--", kg, "--hot", "300",
			      "--rounds", "6", "--pause-ms", "4000", NULL });
	assert_int_equal(chdir(cwd), 0);
	assert_true(wait_for(p.err, "appeared", 30));
	usleep(1500000);
	kill(p.pid, SIGKILL);
	assert_int_equal(wait_exit(p.pid, 10), 128 + SIGKILL);
	{
		char *e = slurp(p.err), *s = strstr(e, "VM ");

		guest = s ? atoi(s + 3) : 0;
		free(e);
	}
	if (guest > 0)
		kill(guest, SIGKILL);
	proc_cleanup(&p);
	assert_int_equal(stat(data, &st), 0);
	printf("# %lld bytes when killed\n", (long long)st.st_size);

	rc = run(&out, &err, 60, (char *[]){ kh, "report", "-i", data, "-j", NULL });
	assert_int_equal(rc, 0);
	print_lines(err);
	assert_non_null(strstr(err, "did not finish cleanly"));
	rep = json_loads(out, 0, NULL);
	assert_non_null(rep);
	assert_false(json_is_true(json_object_get(rep, "complete")));
	assert_true(jint(rep, "epochs") >= 5);
	assert_int_equal(json_array_size(json_object_get(rep, "vms")), 1);
	assert_true(jint(json_object_get(json_array_get(json_object_get(rep, "vms"), 0),
					 "totals"), "accesses") > 300);
	json_decref(rep);
	free(out);
	free(err);

	/* a torn last chunk (power loss mid-write): the rest is still read */
	assert_int_equal(truncate(data, st.st_size - 7), 0);
	rc = run(&out, &err, 60, (char *[]){ kh, "report", "-i", data, "--format", "csv", NULL });
	assert_int_equal(rc, 0);
	print_lines(err);
	assert_non_null(strstr(err, "file cut at byte"));
	assert_non_null(strstr(out, "pid,gfn,accesses"));
	assert_non_null(strchr(strchr(out, '\n') + 1, '\n'));	/* rows survived */
	free(out);
	free(err);
	free(kh);
	free(kg);
}

/* SIGINT ends the recording cleanly; the file is 0600 and created safely. */
static void test_sigint_and_file_safety(void **state)
{
	char *kh, *kg, data[256], old[256], victim[256];
	char cwd[512], pidstr[16], *out, *err, *v;
	struct proc g, k;
	struct stat st;
	json_t *rep;
	FILE *f;

	need_kvm();
	kh = bin("kvmheat");
	kg = bin("khguest");
	tpath(data, sizeof(data), "int.data");
	tpath(old, sizeof(old), "int.data.old");
	tpath(victim, sizeof(victim), "victim");
	/* output path is a symlink to a file that must not be written through */
	f = fopen(victim, "w");
	fputs("precious\n", f);
	fclose(f);
	assert_int_equal(symlink(victim, data), 0);

	spawn(&g, (char *[]){ kg, "--wait-signal", "--hot", "100", "--rounds", "4", NULL });
	assert_true(wait_for(g.err, "ready", 10));
	snprintf(pidstr, sizeof(pidstr), "%d", g.pid);
	assert_non_null(getcwd(cwd, sizeof(cwd)));
	assert_int_equal(chdir(tmpdir), 0);
	spawn(&k, (char *[]){ kh, "record", "-p", pidstr, "-F", "100", "-o", data, NULL });
	assert_int_equal(chdir(cwd), 0);
	assert_true(wait_for(k.err, "recording", 30));
	kill(g.pid, SIGUSR1);
	assert_int_equal(wait_exit(g.pid, 60), 0);
	/* the VM exited, so record stops by itself; a SIGINT must be clean as well */
	kill(k.pid, SIGINT);
	assert_int_equal(wait_exit(k.pid, 30), 0);
	v = slurp(victim);
	assert_string_equal(v, "precious\n");
	free(v);
	assert_int_equal(lstat(data, &st), 0);
	assert_true(S_ISREG(st.st_mode));
	assert_int_equal(st.st_mode & 0777, 0600);
	assert_int_equal(lstat(old, &st), 0);
	assert_true(S_ISLNK(st.st_mode));	/* the symlink itself was moved aside */
	assert_int_equal(run(&out, &err, 60, (char *[]){ kh, "report", "-i", data, "-j", NULL }),
			 0);
	assert_string_equal(err, "");
	rep = json_loads(out, 0, NULL);
	assert_non_null(rep);
	assert_true(json_is_true(json_object_get(rep, "complete")));
	json_decref(rep);
	free(out);
	free(err);
	proc_cleanup(&g);
	proc_cleanup(&k);
	free(kh);
	free(kg);
}

static void test_record_bad_input(void **state)
{
	char *kh, *out, *err;

	need_kvm();
	kh = bin("kvmheat");
	assert_int_equal(run(&out, &err, 30, (char *[]){ kh, "record", "-p", "1", "-o", "x.data",
							 NULL }), 3);
	assert_non_null(strstr(err, "pid 1 is not a KVM VM"));
	assert_null(strchr(strchr(err, '\n') + 1, '\n'));
	free(out);
	free(err);
	assert_int_equal(run(&out, &err, 30, (char *[]){ kh, "record", "-o", "x.data", "--",
							 "/nonexistent/vmm", NULL }), 1);
	assert_non_null(strstr(err, "cannot run /nonexistent/vmm: No such file or directory"));
	free(out);
	free(err);
	assert_int_equal(run(&out, &err, 30, (char *[]){ kh, "record", "-F", "0", NULL }), 2);
	free(out);
	free(err);
	free(kh);
}

/*
 * The heatmap of a recording: hot gfns (contiguous, written in every round)
 * make bright rows exactly where the truth puts them.
 */
static void test_heatmap_hot_rows(void **state)
{
	const char *g[] = { "--hot", "512", "--cold", "1024", "--rounds", "20", "--layout",
			    "contiguous", "--seed", "5", NULL };
	const char *x[] = { "-F", "50", NULL };
	char *kh, *out, *err, png[256];
	unsigned int rows, cols, cw, ch, x0, y0, iw, ih;
	unsigned long long lo, hi, sb[8], sn[8];
	uint64_t *hot_rows, *any_rows;
	volatile size_t nseg = 0;	/* set after png's setjmp */
	struct rec_run rr;
	json_t *pages;
	FILE *f;
	png_structp ps;
	png_infop pi;
	png_textp txt;
	int ntxt;
	char geo[256] = "", segs[512] = "";
	uint8_t *px;
	png_bytep *rp;
	png_uint_32 w, h;

	need_kvm();
	kh = bin("kvmheat");
	record_guest(&rr, "hm.data", x, g);
	tpath(png, sizeof(png), "hm.png");
	assert_int_equal(run(&out, &err, 60, (char *[]){ kh, "heatmap", "-i", rr.data, "-o", png,
							 "--rows", "128", NULL }), 0);
	free(out);
	free(err);
	f = fopen(png, "rb");
	assert_non_null(f);
	ps = png_create_read_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
	pi = png_create_info_struct(ps);
	if (setjmp(png_jmpbuf(ps)))
		fail_msg("libpng could not read %s", png);
	png_init_io(ps, f);
	png_read_info(ps, pi);
	w = png_get_image_width(ps, pi);
	h = png_get_image_height(ps, pi);
	px = malloc((size_t)w * h * 3);
	rp = malloc(h * sizeof(*rp));
	for (png_uint_32 y = 0; y < h; y++)
		rp[y] = px + (size_t)y * w * 3;
	png_read_image(ps, rp);
	png_read_end(ps, pi);
	png_get_text(ps, pi, &txt, &ntxt);
	for (int i = 0; i < ntxt; i++) {
		if (!strcmp(txt[i].key, "kvmheat-geometry"))
			snprintf(geo, sizeof(geo), "%s", txt[i].text);
		if (!strcmp(txt[i].key, "kvmheat-segments"))
			snprintf(segs, sizeof(segs), "%s", txt[i].text);
	}
	png_destroy_read_struct(&ps, &pi, NULL);
	fclose(f);
	assert_int_equal(sscanf(strstr(geo, "rows="), "rows=%u cols=%u cell_w=%u cell_h=%u x0=%u "
				"lo=%llu hi=%llu y0=%u width=%u height=%u", &rows, &cols, &cw, &ch,
				&x0, &lo, &hi, &y0, &iw, &ih), 10);
	/* the plot area (rows x cols cells) sits inside the labelled image */
	assert_int_equal(rows, 128);
	assert_int_equal(w, iw);
	assert_int_equal(h, ih);
	assert_true(x0 + cols * cw < w && y0 + rows * ch < h);
	for (char *s = segs; *s && nseg < 8; nseg++) {
		assert_int_equal(sscanf(s, "%llu:%llu", &sb[nseg], &sn[nseg]), 2);
		s = strchr(s, ',') ? strchr(s, ',') + 1 : s + strlen(s);
	}
	/* khguest: control slot at 0, data slot at 1 GiB; squeezed end to end */
	assert_int_equal(nseg, 2);
	assert_int_equal(sb[1], jint(rr.truth, "data_gpa") >> KH_PAGE_SHIFT);
	hot_rows = calloc(rows, sizeof(*hot_rows));
	any_rows = calloc(rows, sizeof(*any_rows));
	pages = json_object_get(rr.truth, "pages");
	for (size_t i = 0; i < json_array_size(pages); i++) {
		json_t *p = json_array_get(pages, i);
		uint64_t idx = sn[0] + (jint(p, "gfn") - sb[1]);
		size_t r = (unsigned __int128)(idx - lo) * rows / (hi - lo + 1);

		assert_true(idx >= lo && idx <= hi);
		any_rows[r]++;
		hot_rows[r] += json_is_true(json_object_get(p, "hot"));
	}
	{
		/* rows of the data slot: the first row holding data slot index sn[0] on */
		size_t first = (unsigned __int128)(sn[0] - lo) * rows / (hi - lo + 1) + 1;
		unsigned long long hot_min = ~0ULL, cold_max = 0;
		size_t nhot = 0;

		for (size_t r = first; r < rows; r++) {
			unsigned long long sum = 0;
			bool empty = true;

			for (unsigned int c = 0; c < cols; c++) {
				uint8_t *q = px + ((size_t)(y0 + r * ch) * w + x0 + c * cw) * 3;
				bool bg = q[0] == 20 && q[1] == 20 && q[2] == 30;

				empty &= bg;
				sum += bg ? 0 : q[0] + q[1] + q[2];
			}
			/* a row is drawn exactly when the guest touched a page in it */
			if (empty != !any_rows[r])
				printf("# row %zu: drawn %d, truth pages %llu\n", r, !empty,
				       (unsigned long long)any_rows[r]);
			assert_int_equal(empty, !any_rows[r]);
			if (hot_rows[r] == any_rows[r] && hot_rows[r]) {
				nhot++;
				hot_min = sum < hot_min ? sum : hot_min;
			} else if (!hot_rows[r] && any_rows[r]) {
				cold_max = sum > cold_max ? sum : cold_max;
			}
		}
		printf("# %zu all-hot rows, dimmest %llu; brightest cold-only row %llu\n", nhot,
		       hot_min, cold_max);
		assert_true(nhot >= 4);
		assert_true(hot_min > cold_max);
	}
	free(hot_rows);
	free(any_rows);
	free(px);
	free(rp);
	json_decref(rr.truth);
	free(kh);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_record_command_matches_truth),
		LIVE_TEST(test_record_through_shell_matches_truth),
		LIVE_TEST(test_record_command_without_vm),
		cmocka_unit_test(test_record_randomised_with_events),
		cmocka_unit_test(test_sigkill_leaves_readable_file),
		cmocka_unit_test(test_sigint_and_file_safety),
		cmocka_unit_test(test_record_bad_input),
		cmocka_unit_test(test_heatmap_hot_rows),
	};

	return cmocka_run_group_tests_name("record, report and heatmap live (khguest)", tests,
					   tmpdir_setup, tmpdir_teardown);
}
