// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * `kvmheat trace`: option and histogram helpers, then live against
 * khguest's ground truth: a gfn filter lets only that range through,
 * --writes gives exactly the guest's writes at the sub-page it wrote,
 * the filters drop events in the kernel (ring-buffer counts with and
 * without), and output to a closed pipe ends quietly.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <inttypes.h>
#include "khtest.h"
#include "khlive.h"
#include "kh.h"

#define ARRAY_SIZE(a)	(sizeof(a) / sizeof((a)[0]))

/* ---- pure helpers ---- */

static void test_parse_gfn_range(void **state)
{
	uint64_t lo, hi;

	assert_int_equal(kh_parse_gfn_range("0x40000-0x400ff", &lo, &hi), 0);
	assert_int_equal(lo, 0x40000);
	assert_int_equal(hi, 0x400ff);
	assert_int_equal(kh_parse_gfn_range("4096", &lo, &hi), 0);
	assert_int_equal(lo, 4096);
	assert_int_equal(hi, 4096);
	assert_int_equal(kh_parse_gfn_range("10-10", &lo, &hi), 0);
	/* gfn 0 is a gfn like any other (the filter has its own "set" flag) */
	assert_int_equal(kh_parse_gfn_range("0", &lo, &hi), 0);
	assert_int_equal(lo, 0);
	assert_int_equal(hi, 0);
	/* "A-": from A to the end (report's and heatmap's syntax, now trace's too) */
	assert_int_equal(kh_parse_gfn_range("10-", &lo, &hi), 0);
	assert_int_equal(lo, 10);
	assert_true(hi == UINT64_MAX);
	assert_int_equal(kh_parse_gfn_range("0xfffffffffffff", &lo, &hi), 0);
	assert_true(lo == KH_GFN_MAX && hi == KH_GFN_MAX);
	assert_int_not_equal(kh_parse_gfn_range("20-10", &lo, &hi), 0);
	assert_int_not_equal(kh_parse_gfn_range("-10", &lo, &hi), 0);
	assert_int_not_equal(kh_parse_gfn_range("-", &lo, &hi), 0);
	assert_int_not_equal(kh_parse_gfn_range("0x10-0x20-0x30", &lo, &hi), 0);
	assert_int_not_equal(kh_parse_gfn_range(" 10", &lo, &hi), 0);
	assert_int_not_equal(kh_parse_gfn_range("10- 20", &lo, &hi), 0);
	assert_int_not_equal(kh_parse_gfn_range("0x10000000000000", &lo, &hi), 0);
	assert_int_not_equal(kh_parse_gfn_range("0x10000000000000-", &lo, &hi), 0);
	assert_int_not_equal(kh_parse_gfn_range("", &lo, &hi), 0);
	assert_int_not_equal(kh_parse_gfn_range(NULL, &lo, &hi), 0);
}

static void test_log2_slots(void **state)
{
	assert_int_equal(kh_log2_slot(0), 0);
	assert_int_equal(kh_log2_slot(1), 0);
	assert_int_equal(kh_log2_slot(2), 1);
	assert_int_equal(kh_log2_slot(3), 1);
	assert_int_equal(kh_log2_slot(4), 2);
	assert_int_equal(kh_log2_slot(1023), 9);
	assert_int_equal(kh_log2_slot(1024), 10);
	assert_int_equal(kh_log2_slot(~0ULL), 63);
}

/* The bcc layout: "low -> high : count |stars|", stars scaled to the biggest. */
static void test_log2_hist_layout(void **state)
{
	uint64_t slots[64] = { [0] = 1, [1] = 3, [3] = 1 };
	char buf[2048];
	FILE *f = fmemopen(buf, sizeof(buf), "w");
	const char *want =
		"                  writes : count    distribution\n"
		"         0 -> 1          : 1        |*************                           |\n"
		"         2 -> 3          : 3        |****************************************|\n"
		"         4 -> 7          : 0        |                                        |\n"
		"         8 -> 15         : 1        |*************                           |\n";

	assert_non_null(f);
	kh_print_log2_hist(f, slots, 64, "writes");
	fclose(f);
	assert_string_equal(buf, want);

	memset(slots, 0, sizeof(slots));
	f = fmemopen(buf, sizeof(buf), "w");
	kh_print_log2_hist(f, slots, 64, "events");
	fclose(f);
	assert_non_null(strstr(buf, "(none)"));
}

/* ---- live ---- */

struct traced {
	json_t *truth;
	json_t **ev;		/* event objects, in order */
	size_t nev;
	json_t *summary;
	json_t *hist;
	char *err;		/* trace's stderr */
	pid_t guest;
	int rc;
};

/*
 * khguest --wait-signal GARGS; kvmheat trace -j -p PID TARGS; release the
 * guest once trace is attached; trace ends when the guest exits.
 */
static void run_trace(void **state, struct traced *r, const char *const gargs[],
		      const char *const targs[])
{
	struct traced_guest t;
	char *out, *save = NULL;
	json_error_t je;
	size_t cap = 0;

	memset(r, 0, sizeof(*r));
	start_traced(state, &t, "trace", "90", gargs, targs);
	r->guest = t.g.pid;
	assert_int_equal(wait_exit(t.g.pid, 120), 0);
	r->rc = wait_exit(t.k.pid, 30);
	r->err = slurp(t.k.err);
	if (r->rc)
		show("kvmheat stderr", t.k.err);
	assert_int_equal(r->rc, 0);
	r->truth = json_load_file(t.truth, 0, &je);
	assert_non_null(r->truth);
	out = slurp(t.k.out);
	for (char *l = strtok_r(out, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
		json_t *j = json_loads(l, 0, &je);
		const char *type;

		if (!j)
			printf("# bad JSON line: %.200s\n", l);
		assert_non_null(j);
		type = json_string_value(json_object_get(j, "type"));
		assert_non_null(type);
		if (!strcmp(type, "event")) {
			if (r->nev == cap) {
				cap = cap ? cap * 2 : 4096;
				r->ev = realloc(r->ev, cap * sizeof(*r->ev));
				assert_non_null(r->ev);
			}
			r->ev[r->nev++] = j;
		} else if (!strcmp(type, "summary")) {
			r->summary = j;
		} else if (!strcmp(type, "histogram")) {
			r->hist = j;
		} else {
			json_decref(j);		/* "lost" notes */
		}
	}
	free(out);
	assert_non_null(r->summary);
	unlink(t.truth);
	proc_cleanup(&t.g);
	proc_cleanup(&t.k);
}

static void traced_free(struct traced *r)
{
	for (size_t i = 0; i < r->nev; i++)
		json_decref(r->ev[i]);
	free(r->ev);
	json_decref(r->summary);
	json_decref(r->hist);
	json_decref(r->truth);
	free(r->err);
}

static json_t *truth_page(json_t *truth, uint64_t gfn)
{
	json_t *pages = json_object_get(truth, "pages");

	for (size_t i = 0; i < json_array_size(pages); i++)
		if ((uint64_t)jint(json_array_get(pages, i), "gfn") == gfn)
			return json_array_get(pages, i);
	return NULL;
}

/* Events per data-slot page, [0] reads+fetches, [1] writes. */
static int64_t (*per_page(struct traced *r, uint64_t base, uint64_t npages))[2]
{
	int64_t (*c)[2] = calloc(npages, sizeof(*c));

	assert_non_null(c);
	for (size_t i = 0; i < r->nev; i++) {
		json_t *e = r->ev[i];
		uint64_t gfn;

		if (json_is_null(json_object_get(e, "gfn")))
			continue;
		gfn = jint(e, "gfn");
		if (gfn < base || gfn >= base + npages)
			continue;
		c[gfn - base][json_is_true(json_object_get(e, "write"))]++;
	}
	return c;
}

/* Only gfns in the range come out, and every access the guest made there does. */
static void test_trace_gfn_filter(void **state)
{
	const char *g[] = { "--mem", "4", "--hot", "200", "--cold", "400", "--rounds", "6",
			    "--write-frac", "0.3", "--seed", "5", NULL };
	char range[64];
	const char *k[] = { "--gfn", range, NULL };
	uint64_t base = 0x40000, lo = base + 0x80, hi = base + 0xff;
	size_t in_truth = 0, exact = 0;
	int64_t (*c)[2];
	struct traced r;

	need_kvm();
	snprintf(range, sizeof(range), "0x%" PRIx64 "-0x%" PRIx64, lo, hi);
	run_trace(state, &r, g, k);
	assert_int_equal(jint(r.truth, "data_gpa") >> KH_PAGE_SHIFT, base);
	printf("# %zu events for gfns %s\n", r.nev, range);
	assert_true(r.nev > 0);
	for (size_t i = 0; i < r.nev; i++) {
		json_t *e = r.ev[i];

		assert_int_equal(jint(e, "pid"), r.guest);
		assert_false(json_is_null(json_object_get(e, "gfn")));
		assert_true((uint64_t)jint(e, "gfn") >= lo && (uint64_t)jint(e, "gfn") <= hi);
	}
	/* every truth page in the range: its reads and writes, one event each */
	c = per_page(&r, lo, hi - lo + 1);
	for (uint64_t gfn = lo; gfn <= hi; gfn++) {
		json_t *p = truth_page(r.truth, gfn);

		if (!p) {
			assert_int_equal(c[gfn - lo][0] + c[gfn - lo][1], 0);
			continue;
		}
		in_truth++;
		exact += c[gfn - lo][0] == jint(p, "reads") && c[gfn - lo][1] == jint(p, "writes");
	}
	printf("# %zu truth pages in range, %zu with exact read and write counts\n", in_truth,
	       exact);
	assert_true(in_truth > 10);
	assert_true(exact >= 0.99 * in_truth);
	free(c);
	traced_free(&r);
}

/* --writes: only writes, at the guest's pages and at the sub-page it wrote. */
static void test_trace_writes_at_subpage(void **state)
{
	const char *g[] = { "--mem", "4", "--hot", "150", "--cold", "300", "--rounds", "5",
			    "--write-frac", "0.4", "--cold-write-frac", "0.2", "--offset", "random",
			    "--seed", "9", NULL };
	const char *k[] = { "--writes", NULL };
	uint64_t base, npages;
	size_t written = 0, exact = 0, data_events = 0, sub_ok = 0;
	json_t *pages;
	int64_t (*c)[2];
	struct traced r;

	need_kvm();
	run_trace(state, &r, g, k);
	base = jint(r.truth, "data_gpa") >> KH_PAGE_SHIFT;
	npages = jint(r.truth, "data_pages");
	for (size_t i = 0; i < r.nev; i++) {
		json_t *e = r.ev[i], *p;
		uint64_t gfn;

		assert_true(json_is_true(json_object_get(e, "write")));
		if (json_is_null(json_object_get(e, "gfn")))
			continue;
		gfn = jint(e, "gfn");
		if (gfn < base || gfn >= base + npages)
			continue;	/* the guest's own stack and page tables */
		data_events++;
		p = truth_page(r.truth, gfn);
		assert_non_null(p);
		assert_true(jint(p, "writes") > 0);
		/* the byte offset and its 128-byte sub-page are the guest's */
		sub_ok += jint(e, "offset") == jint(p, "offset") &&
			  jint(e, "subpage") == jint(p, "offset") >> KH_SUBPAGE_SHIFT;
	}
	c = per_page(&r, base, npages);
	pages = json_object_get(r.truth, "pages");
	for (size_t i = 0; i < json_array_size(pages); i++) {
		json_t *p = json_array_get(pages, i);
		uint64_t gfn = jint(p, "gfn");

		assert_int_equal(c[gfn - base][0], 0);	/* no reads at all */
		if (!jint(p, "writes"))
			continue;
		written++;
		exact += c[gfn - base][1] == jint(p, "writes");
	}
	printf("# %zu write events in the data slot (%zu at the right sub-page); %zu written "
	       "pages, %zu with exact counts\n", data_events, sub_ok, written, exact);
	assert_true(written > 50);
	assert_true(data_events > 0);
	assert_int_equal(sub_ok, data_events);
	assert_true(exact >= 0.99 * written);
	free(c);
	traced_free(&r);
}

static int64_t src_stat(json_t *summary, const char *stat)
{
	return jint(json_object_get(json_object_get(summary, "sources"), "walk"), stat);
}

/*
 * The same workload twice, with and without a one-page filter: with it
 * the kernel emits only that page's events and counts the rest as
 * event_filtered, and userspace receives exactly what was emitted.
 */
static void test_trace_filter_drops_in_kernel(void **state)
{
	const char *g[] = { "--mem", "4", "--hot", "100", "--cold", "200", "--rounds", "10",
			    "--layout", "contiguous", "--write-frac", "0", "--seed", "2", NULL };
	const char *all[] = { "--histogram", NULL };
	const char *one[] = { "--histogram", "--gfn", "0x40005", NULL };
	struct traced a, b;
	int64_t em_a, em_b, fl_a, fl_b, total_a, total_b;

	need_kvm();
	run_trace(state, &a, g, all);
	run_trace(state, &b, g, one);
	em_a = src_stat(a.summary, "emitted");
	fl_a = src_stat(a.summary, "event_filtered");
	em_b = src_stat(b.summary, "emitted");
	fl_b = src_stat(b.summary, "event_filtered");
	total_a = em_a + fl_a + src_stat(a.summary, "lost");
	total_b = em_b + fl_b + src_stat(b.summary, "lost");
	printf("# unfiltered: emitted %lld, filtered %lld, received %lld; one gfn: emitted "
	       "%lld, filtered %lld, received %lld\n", (long long)em_a, (long long)fl_a,
	       (long long)jint(a.summary, "received"), (long long)em_b, (long long)fl_b,
	       (long long)jint(b.summary, "received"));
	/* without a filter nothing is dropped; with it, all but one page's events */
	assert_int_equal(fl_a, 0);
	assert_true(em_a > 1000);
	assert_true(fl_b > 0);
	/* the hot page 5: one walk per round, and nothing else got through */
	assert_int_equal(em_b, 10);
	/* userspace got exactly what the kernel emitted: no filtering happened there */
	assert_int_equal(jint(a.summary, "received"), em_a);
	assert_int_equal(jint(b.summary, "received"), em_b);
	/* the same guest work both times: what was dropped is what was not emitted */
	assert_true(total_b > 0.95 * total_a && total_b < 1.05 * total_a);
	/* and the histogram saw one gfn, 10 events */
	assert_int_equal(jint(b.hist, "gfns"), 1);
	traced_free(&a);
	traced_free(&b);
}

/* trace | head: ends with status 0, no colour codes, no complaint. */
static void test_trace_to_closed_pipe(void **state)
{
	char guest[256], kvmheat[256], cmd[1024], out[] = "/tmp/kh-trace-pipe-XXXXXX";
	char errf[] = "/tmp/kh-trace-perr-XXXXXX";
	struct proc g;
	char *s, *e;
	int st, lines = 0;

	need_kvm();
	path_of(guest, sizeof(guest), "khguest");
	path_of(kvmheat, sizeof(kvmheat), "kvmheat");
	spawn(&g, (char *const[]){ guest, "--hot", "100", "--cold", "100", "--rounds", "100000",
				   NULL });
	live_track(state, g.pid);
	assert_true(wait_for(g.err, "ready", 10));
	temp_file(out);
	temp_file(errf);
	snprintf(cmd, sizeof(cmd), "bash -c '%s trace -p %d -d 60 2> %s | head -n 5 > %s; "
		 "exit ${PIPESTATUS[0]}'", kvmheat, g.pid, errf, out);
	st = system(cmd);
	kill(g.pid, SIGTERM);
	wait_exit(g.pid, 10);
	s = slurp(out);
	e = slurp(errf);
	printf("# status %d; stderr:\n%s", WEXITSTATUS(st), e);
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 0);
	for (char *p = s; *p; p++)
		lines += *p == '\n';
	assert_int_equal(lines, 5);
	assert_null(strchr(s, '\033'));
	assert_non_null(strstr(s, "TIME(s)"));
	assert_null(strstr(e, "error"));
	free(s);
	free(e);
	unlink(out);
	unlink(errf);
	proc_cleanup(&g);
}

/* --vcpu where the source has no vCPU: said clearly, not an empty trace. */
static void test_trace_vcpu_without_vcpu_source(void **state)
{
	char guest[256], kvmheat[256], pidstr[16];
	struct proc g, k;
	char *err;

	need_kvm();
	path_of(guest, sizeof(guest), "khguest");
	path_of(kvmheat, sizeof(kvmheat), "kvmheat");
	spawn(&g, (char *const[]){ guest, "--wait-signal", NULL });
	live_track(state, g.pid);
	assert_true(wait_for(g.err, "ready", 10));
	snprintf(pidstr, sizeof(pidstr), "%d", g.pid);
	spawn(&k, (char *const[]){ kvmheat, "trace", "-e", "aging", "--vcpu", "0", "-p", pidstr,
				   NULL });
	assert_int_equal(wait_exit(k.pid, 30), 2);
	err = slurp(k.err);
	printf("# %s", err);
	assert_non_null(strstr(err, "aging events carry no vCPU"));
	free(err);
	proc_cleanup(&k);
	spawn(&k, (char *const[]){ kvmheat, "trace", "-e", "walk", "--vcpu", "0", "-p", pidstr,
				   "-d", "0.5", NULL });
	assert_int_equal(wait_exit(k.pid, 30), 0);
	err = slurp(k.err);
	printf("# %s", err);
	assert_non_null(strstr(err, "page-walk events"));
	assert_non_null(strstr(err, "carry no vCPU"));
	free(err);
	proc_cleanup(&k);
	kill(g.pid, SIGTERM);
	wait_exit(g.pid, 10);
	proc_cleanup(&g);
}

static void test_trace_bad_options(void **state)
{
	const char *bad[][4] = {
		{ "--gfn", "0x20-0x10", NULL },
		{ "--gfn", "0x10000000000000", NULL },
		{ "-e", "walk,nope", NULL },
		{ "-c", "0", NULL },
		{ "--color", "sometimes", NULL },
	};
	char kvmheat[256];

	path_of(kvmheat, sizeof(kvmheat), "kvmheat");
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		char *argv[8] = { kvmheat, "trace" }, *err;
		struct proc k;
		int n = 2;

		for (int j = 0; bad[i][j]; j++)
			argv[n++] = (char *)bad[i][j];
		argv[n] = NULL;
		spawn(&k, argv);
		assert_int_equal(wait_exit(k.pid, 10), 2);
		err = slurp(k.err);
		assert_non_null(strstr(err, "kvmheat: error: trace: bad"));
		assert_null(strchr(strchr(err, '\n') + 1, '\n'));	/* one line */
		free(err);
		proc_cleanup(&k);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_gfn_range),
		cmocka_unit_test(test_log2_slots),
		cmocka_unit_test(test_log2_hist_layout),
		cmocka_unit_test(test_trace_bad_options),
		LIVE_TEST(test_trace_gfn_filter),
		LIVE_TEST(test_trace_writes_at_subpage),
		LIVE_TEST(test_trace_filter_drops_in_kernel),
		LIVE_TEST(test_trace_to_closed_pipe),
		LIVE_TEST(test_trace_vcpu_without_vcpu_source),
	};

	return cmocka_run_group_tests_name("trace (filters, histograms, pipes)", tests, NULL,
					   NULL);
}
