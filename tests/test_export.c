// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * `kvmheat export`: rendering of hand-built snapshots (escaping, the two
 * formats' rules, histogram buckets), folding intervals, content
 * negotiation and the textfile writer's atomicity without BPF; then live
 * against khguest: HTTP behaviour (landing page, 405, 404, negotiation,
 * promtool on both formats, bad clients that must not stop it), the
 * one-line errors, and a real Prometheus (Debian's 2.42) scraping it in
 * both formats while the guest runs and after it exits.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <poll.h>
#include <time.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include "khtest.h"
#include "khlive.h"
#include "export.h"
#include "../tools/khdial.h"

#define ARRAY_SIZE(a)	(sizeof(a) / sizeof((a)[0]))

/* ---- helpers ---- */

static struct kh_slot slots16[] = { { .base_gfn = 0x40000, .npages = 4096 } };

static struct kh_exp_snap *snap_new(size_t n)
{
	struct kh_exp_snap *s = calloc(1, sizeof(*s));

	assert_non_null(s);
	snprintf(s->version, sizeof(s->version), "0.1.0");
	snprintf(s->kernel, sizeof(s->kernel), "6.18.0");
	s->up = true;
	s->interval = 1;
	s->n = n;
	s->vms = calloc(n ? n : 1, sizeof(*s->vms));
	assert_non_null(s->vms);
	for (size_t i = 0; i < n; i++) {
		s->vms[i].pid = 100 + i;
		snprintf(s->vms[i].domain, sizeof(s->vms[i].domain), "pid-%zu", 100 + i);
		snprintf(s->vms[i].comm, sizeof(s->vms[i].comm), "qemu");
		s->vms[i].tot.accesses = 1000 * (i + 1);
	}
	for (int src = 0; src < KH_SRC_MAX; src++) {
		s->src[src].requested = true;
		snprintf(s->src[src].method, sizeof(s->src[src].method), "tp_btf");
		snprintf(s->src[src].hooks, sizeof(s->src[src].hooks), "tp_btf:x");
	}
	return s;
}

static void snap_drop(struct kh_exp_snap *s)
{
	kh_exp_snap_free(s);
	free(s);
}

static char *render(const struct kh_exp_snap *s, enum kh_exp_fmt fmt)
{
	char *out;
	size_t len;

	assert_int_equal(kh_exp_render(s, fmt, &out, &len), 0);
	assert_int_equal(strlen(out), len);
	return out;
}

/* The value of the sample line that starts with @prefix (name and labels). */
static bool sample(const char *text, const char *prefix, double *v)
{
	size_t pl = strlen(prefix);

	for (const char *l = text; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL) {
		if (!strncmp(l, prefix, pl) && l[pl] == ' ') {
			*v = strtod(l + pl + 1, NULL);
			return true;
		}
	}
	return false;
}

static bool have_promtool(void)
{
	return !access("/usr/bin/promtool", X_OK);
}

/* promtool check metrics on @text: its exit code, its output in *out. */
static int promtool(const char *text, char **out)
{
	char in[] = "/tmp/kh-export-prom-XXXXXX", res[] = "/tmp/kh-export-promout-XXXXXX", cmd[256];
	FILE *f;
	int rc;

	temp_file(in);
	temp_file(res);
	f = fopen(in, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
	snprintf(cmd, sizeof(cmd), "promtool check metrics < %s > %s 2>&1", in, res);
	rc = system(cmd);
	*out = slurp(res);
	unlink(in);
	unlink(res);
	return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

/*
 * promtool 2.42 reads OpenMetrics with the 0.0.4 parser, so a counter
 * family "x" (TYPE without _total, as OpenMetrics names it) leaves its
 * "x_total" samples looking HELP-less.  That, and only that, is accepted.
 */
static void promtool_ok_om(const char *om)
{
	char *out, *save = NULL, *dup;
	int rc = promtool(om, &out);

	if (rc == 3) {
		dup = strdup(out);
		for (char *l = strtok_r(dup, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
			static const char tail[] = "_total no help text";
			size_t ll = strlen(l), fl = ll - (sizeof(tail) - 1);
			char fam[128], type[160];

			if (ll <= sizeof(tail) - 1 || fl >= sizeof(fam) || strcmp(l + fl, tail)) {
				print_lines(out);
				fail_msg("promtool on OpenMetrics: '%s'", l);
			}
			snprintf(fam, sizeof(fam), "%.*s", (int)fl, l);
			snprintf(type, sizeof(type), "# TYPE %s counter\n", fam);
			if (!strstr(om, type))
				fail_msg("promtool: %s_total has no counter family %s", fam, fam);
		}
		free(dup);
	} else if (rc != 0) {
		print_lines(out);
		fail_msg("promtool check metrics on OpenMetrics: exit %d", rc);
	}
	free(out);
}

/*
 * promtool on a text-format document (must be clean) and on an OpenMetrics
 * one (either may be NULL).  false: promtool is missing, nothing linted.
 */
static bool lint(const char *text, const char *om)
{
	char *o;
	int rc;

	if (!have_promtool())
		return false;
	if (text) {
		rc = promtool(text, &o);
		if (rc)
			print_lines(o);
		assert_int_equal(rc, 0);
		free(o);
	}
	if (om)
		promtool_ok_om(om);
	return true;
}

#define NO_PROMTOOL "promtool missing (Debian package prometheus; make deps): not linted"

/* ---- rendering ---- */

static void test_label_escaping(void **state)
{
	struct kh_exp_snap *s = snap_new(1);
	bool linted;
	char *t, *o;

	/* what a VM name from a command line could hold */
	snprintf(s->vms[0].domain, sizeof(s->vms[0].domain), "a\"b\\c\nd");
	snprintf(s->vms[0].comm, sizeof(s->vms[0].comm), "q\xff\xc3\xa9");
	for (int f = 0; f < 2; f++) {
		t = render(s, f);
		assert_non_null(strstr(t, "kvmheat_page_accesses_total{domain=\"a\\\"b\\\\c\\nd\"} 1000\n"));
		/* invalid UTF-8 becomes '?', valid multi-byte text stays */
		assert_non_null(strstr(t, "comm=\"q?\xc3\xa9\""));
		/* no raw newline inside any label set */
		for (char *l = t; *l; l = strchr(l, '\n') + 1) {
			char *nl = strchr(l, '\n'), *br = strchr(l, '{');

			assert_non_null(nl);
			if (br && br < nl && l[0] != '#')
				assert_non_null(memchr(br, '}', nl - br));
		}
		free(t);
	}
	t = render(s, KH_EXP_TEXT);
	o = render(s, KH_EXP_OPENMETRICS);
	linted = lint(t, o);
	free(o);
	free(t);
	snap_drop(s);
	if (!linted)
		KH_SKIP(NO_PROMTOOL);
}

static void test_formats_eof_and_total(void **state)
{
	struct kh_exp_snap *s = snap_new(2);
	char *t = render(s, KH_EXP_TEXT), *om = render(s, KH_EXP_OPENMETRICS);
	size_t ol = strlen(om);
	bool linted;

	/* OpenMetrics ends with # EOF, once; the text format has none */
	assert_true(ol > 6 && !strcmp(om + ol - 6, "# EOF\n"));
	assert_ptr_equal(strstr(om, "# EOF"), om + ol - 6);
	assert_null(strstr(t, "# EOF"));
	/* counter families: 0.0.4 names them with _total, OpenMetrics without */
	assert_non_null(strstr(t, "# TYPE kvmheat_page_accesses_total counter\n"));
	assert_non_null(strstr(om, "# TYPE kvmheat_page_accesses counter\n"));
	assert_null(strstr(om, "_total counter\n"));
	assert_non_null(strstr(om, "\nkvmheat_page_accesses_total{domain=\"pid-100\"} 1000\n"));
	assert_non_null(strstr(om, "\nkvmheat_page_accesses_total{domain=\"pid-101\"} 2000\n"));
	/* every counter sample ends in _total in both */
	for (int f = 0; f < 2; f++) {
		const char *x = f ? om : t, *p = x;

		while ((p = strstr(p, " counter\n"))) {
			const char *name = p, *nl;
			char fam[128], want[140];

			while (name > x && name[-1] != ' ')
				name--;
			snprintf(fam, sizeof(fam), "%.*s", (int)(p - name), name);
			nl = p + 9;
			snprintf(want, sizeof(want), "%s%s", fam, f ? "_total" : "");
			assert_true(!strncmp(nl, want, strlen(want)) || !strncmp(nl, "# HELP", 6));
			p = nl;
		}
	}
	/* info metrics are gauges in both (promtool's parser has no info type) */
	assert_non_null(strstr(om, "# TYPE kvmheat_build_info gauge\n"));
	/* bpf run time only where the kernel counts it */
	assert_null(strstr(t, "kvmheat_bpf_run_seconds"));
	s->cost_on = true;
	s->bpf_ns = 1500000000;
	free(t);
	t = render(s, KH_EXP_TEXT);
	assert_non_null(strstr(t, "\nkvmheat_bpf_run_seconds_total 1.5\n"));
	/* no VMs: still valid, no per-VM samples */
	free(om);
	kh_exp_snap_free(s);
	om = render(s, KH_EXP_OPENMETRICS);
	assert_null(strstr(om, "domain="));
	assert_non_null(strstr(om, "kvmheat_domains 0\n# HELP"));
	linted = lint(t, om);
	free(t);
	free(om);
	snap_drop(s);
	if (!linted)
		KH_SKIP(NO_PROMTOOL);
}

/*
 * Idle ages (--age-driver): series only for VMs a driver scanned, none of
 * the families without any, the fixed min_age set, the ratio from the
 * summary; both formats still lint.
 */
static void test_idle_metrics(void **state)
{
	struct kh_exp_snap *s = snap_new(3);
	char *t = render(s, KH_EXP_TEXT), *om;
	bool linted;

	(void)state;
	/* no driver: absent, not zero */
	assert_null(strstr(t, "kvmheat_idle"));
	assert_null(strstr(t, "kvmheat_cold_bytes"));
	free(t);
	s->scan_interval = 5;
	/* VM 100: scanned 4 times, 1000 pages known, 250 idle; VM 101 scanned, no known age */
	s->vms[0].idle = (struct kh_idle_sum){ .valid = true, .driver = KH_AD_MGLRU, .scans = 4,
		.known_pages = 1000, .idle_pages = 250,
		.cold_bytes = { 250 * 4096, 100 * 4096, 10 * 4096, 0 }, .ws_scans = 2,
		.ws_pages = 900 };
	s->vms[1].idle = (struct kh_idle_sum){ .valid = true, .driver = KH_AD_DAMON, .scans = 1 };
	t = render(s, KH_EXP_TEXT);
	om = render(s, KH_EXP_OPENMETRICS);
	assert_non_null(strstr(t, "\nkvmheat_idle_scan_interval_seconds 5\n"));
	assert_non_null(strstr(t, "\nkvmheat_idle_ratio{domain=\"pid-100\"} 0.25\n"));
	/* no known age: no ratio, but its scans and driver are there */
	assert_null(strstr(t, "kvmheat_idle_ratio{domain=\"pid-101\"}"));
	assert_non_null(strstr(t, "\nkvmheat_idle_scans_total{domain=\"pid-101\"} 1\n"));
	assert_non_null(strstr(t, "\nkvmheat_idle_driver_info{domain=\"pid-101\",driver=\"damon\"} 1\n"));
	assert_non_null(strstr(t, "\nkvmheat_idle_driver_info{domain=\"pid-100\",driver=\"mglru\"} 1\n"));
	assert_non_null(strstr(t, "\nkvmheat_idle_scans_total{domain=\"pid-100\"} 4\n"));
	assert_non_null(strstr(t, "\nkvmheat_cold_bytes{domain=\"pid-100\",min_age=\"1\"} 1024000\n"));
	assert_non_null(strstr(t, "\nkvmheat_cold_bytes{domain=\"pid-100\",min_age=\"2\"} 409600\n"));
	assert_non_null(strstr(t, "\nkvmheat_cold_bytes{domain=\"pid-100\",min_age=\"4\"} 40960\n"));
	assert_non_null(strstr(t, "\nkvmheat_cold_bytes{domain=\"pid-100\",min_age=\"8\"} 0\n"));
	assert_null(strstr(t, "min_age=\"16\""));
	assert_non_null(strstr(t, "\nkvmheat_idle_working_set_bytes{domain=\"pid-100\","
			       "within_scans=\"2\"} 3686400\n"));
	/* the passive VM 102 has no idle series at all */
	assert_null(strstr(t, "kvmheat_idle_scans_total{domain=\"pid-102\"}"));
	assert_null(strstr(t, "kvmheat_cold_bytes{domain=\"pid-102\""));
	/* HELP says the window */
	assert_non_null(strstr(t, "# HELP kvmheat_cold_bytes Bytes of guest pages not accessed for "
			       "at least min_age consecutive scans (window: min_age times "
			       "kvmheat_idle_scan_interval_seconds).\n"));
	assert_non_null(strstr(om, "# TYPE kvmheat_idle_scans counter\n"));
	linted = lint(t, om);
	free(t);
	free(om);
	snap_drop(s);
	if (!linted)
		KH_SKIP(NO_PROMTOOL);
}

static void test_bucket_bounds(void **state)
{
	/* bucket i holds counts in (2^(i-1), 2^i] */
	assert_int_equal(kh_exp_bucket(1), 0);
	assert_int_equal(kh_exp_bucket(2), 1);
	assert_int_equal(kh_exp_bucket(3), 2);
	assert_int_equal(kh_exp_bucket(4), 2);
	assert_int_equal(kh_exp_bucket(5), 3);
	assert_int_equal(kh_exp_bucket(1024), 10);
	assert_int_equal(kh_exp_bucket(1025), 11);
	assert_int_equal(kh_exp_bucket(1ULL << (KH_EXP_BUCKETS - 1)), KH_EXP_BUCKETS - 1);
	assert_int_equal(kh_exp_bucket((1ULL << (KH_EXP_BUCKETS - 1)) + 1), KH_EXP_BUCKETS);
	assert_int_equal(kh_exp_bucket(UINT64_MAX), KH_EXP_BUCKETS);
}

/* One VM, one interval of per-gfn counts; the histogram of the rendering. */
static void test_histogram_cumulative(void **state)
{
	static const uint64_t acc[] = { 1, 1, 2, 3, 4, 5, 1000, 70000, 0 };
	struct kh_vm vm = { .pid = 7, .kvm = 0xabc, .comm = "g", .nr_slots = 1, .slots = slots16 };
	struct kh_vmset set = { .n = 1, .vms = &vm };
	struct kh_key gk[ARRAY_SIZE(acc) + 1];
	struct kh_counts gv[ARRAY_SIZE(acc) + 1];
	struct kh_exp_snap a = {}, b = {};
	double v, prev = 0, sum = 0;
	char *t, *om, name[160];
	bool linted;

	memset(gv, 0, sizeof(gv));
	for (size_t i = 0; i < ARRAY_SIZE(acc); i++) {
		gk[i] = (struct kh_key){ .pid = 7, .idx = 0x40000 + i };
		gv[i].accesses = acc[i];
	}
	gk[ARRAY_SIZE(acc)] = (struct kh_key){ .pid = 8, .idx = 1 };	/* a VM not watched */
	gv[ARRAY_SIZE(acc)].accesses = 9;
	assert_int_equal(kh_exp_fold(&a, NULL, &set, 0, NULL, NULL, 0, gk, gv, ARRAY_SIZE(gk)), 0);
	/* a second interval: the histogram is a counter over intervals */
	assert_int_equal(kh_exp_fold(&b, &a, &set, 0, NULL, NULL, 0, gk, gv, ARRAY_SIZE(gk)), 0);
	a.interval = b.interval = 1;
	t = render(&b, KH_EXP_TEXT);
	om = render(&b, KH_EXP_OPENMETRICS);
	for (int i = 0; i <= KH_EXP_BUCKETS; i++) {
		double want = 0;

		if (i < KH_EXP_BUCKETS)
			snprintf(name, sizeof(name), "kvmheat_page_interval_accesses_bucket"
				 "{domain=\"pid-7\",le=\"%llu\"}", 1ULL << i);
		else
			snprintf(name, sizeof(name), "kvmheat_page_interval_accesses_bucket"
				 "{domain=\"pid-7\",le=\"+Inf\"}");
		assert_true(sample(t, name, &v));
		for (size_t k = 0; k < ARRAY_SIZE(acc); k++)
			want += acc[k] && (i == KH_EXP_BUCKETS || acc[k] <= (1ULL << i));
		assert_true(v == 2 * want);
		assert_true(v >= prev);
		prev = v;
		/* OpenMetrics: the same buckets with canonical float bounds */
		if (i < KH_EXP_BUCKETS) {
			snprintf(name, sizeof(name), "kvmheat_page_interval_accesses_bucket"
				 "{domain=\"pid-7\",le=\"%llu.0\"}", 1ULL << i);
			assert_true(sample(om, name, &v));
			assert_true(v == 2 * want);
		}
	}
	assert_true(prev == 16);	/* 8 pages accessed, twice; the 0 is not observed */
	assert_true(sample(t, "kvmheat_page_interval_accesses_count{domain=\"pid-7\"}", &v));
	assert_true(v == prev);
	for (size_t k = 0; k < ARRAY_SIZE(acc); k++)
		sum += acc[k];
	assert_true(sample(t, "kvmheat_page_interval_accesses_sum{domain=\"pid-7\"}", &v));
	assert_true(v == 2 * sum);
	assert_true(sample(om, "kvmheat_page_interval_accesses_bucket{domain=\"pid-7\",le=\"+Inf\"}",
			   &v));
	linted = lint(t, om);
	free(t);
	free(om);
	kh_exp_snap_free(&a);
	kh_exp_snap_free(&b);
	if (!linted)
		KH_SKIP(NO_PROMTOOL);
}

/* Totals carry over per VM; an exited VM vanishes; a reused pid starts again. */
static void test_fold_carry_vanish(void **state)
{
	struct kh_vm vms[] = {
		{ .pid = 20, .kvm = 0x2000, .comm = "b", .nr_vcpus = 2, .nr_slots = 1, .slots = slots16 },
		{ .pid = 10, .kvm = 0x1000, .comm = "a", .nr_vcpus = 1, .nr_slots = 1, .slots = slots16 },
	};
	struct kh_vmset set = { .n = 2, .vms = vms };
	struct kh_key rk[] = { { .pid = 10, .idx = 0x200 }, { .pid = 20, .idx = 0x200 } };
	struct kh_region rv[2];
	struct kh_exp_snap s1 = {}, s2 = {}, s3 = {}, s4 = {};
	char *t;

	memset(rv, 0, sizeof(rv));
	rv[0].c.accesses = 5;
	rv[0].c.writes = 2;
	rv[0].touched[0] = 0x7;
	rv[1].c.accesses = 50;
	rv[1].c.tracked = 4;
	assert_int_equal(kh_exp_fold(&s1, NULL, &set, 0, rk, rv, 2, NULL, NULL, 0), 0);
	assert_int_equal(s1.n, 2);
	assert_int_equal(s1.vms[0].pid, 10);		/* sorted by pid */
	assert_string_equal(s1.vms[0].domain, "pid-10");
	assert_int_equal(s1.vms[0].wset_pages, 3);
	assert_int_equal(s1.vms[0].mem_bytes, 4096 * 4096);
	assert_int_equal(s1.vms[1].tot.tracked, 4);
	assert_int_equal(kh_exp_fold(&s2, &s1, &set, 0, rk, rv, 2, NULL, NULL, 0), 0);
	assert_int_equal(s2.vms[0].tot.accesses, 10);
	assert_int_equal(s2.vms[0].tot.writes, 4);
	assert_int_equal(s2.vms[1].tot.accesses, 100);
	/* pid 10 exits: gone from the next snapshot and its scrape */
	set.vms = &vms[0];
	set.n = 1;
	assert_int_equal(kh_exp_fold(&s3, &s2, &set, 0, rk, rv, 2, NULL, NULL, 0), 0);
	assert_int_equal(s3.n, 1);
	assert_int_equal(s3.vms[0].pid, 20);
	assert_int_equal(s3.vms[0].tot.accesses, 150);
	t = render(&s3, KH_EXP_TEXT);
	assert_null(strstr(t, "pid-10"));
	assert_non_null(strstr(t, "kvmheat_page_accesses_total{domain=\"pid-20\"} 150\n"));
	free(t);
	/* the same pid now runs another VM (other struct kvm): counters restart */
	vms[0].kvm = 0x3000;
	assert_int_equal(kh_exp_fold(&s4, &s3, &set, 0, rk, rv, 2, NULL, NULL, 0), 0);
	assert_int_equal(s4.vms[0].tot.accesses, 50);
	kh_exp_snap_free(&s1);
	kh_exp_snap_free(&s2);
	kh_exp_snap_free(&s3);
	kh_exp_snap_free(&s4);
}

static void test_negotiate(void **state)
{
	/* what Prometheus 2.42 sends */
	assert_int_equal(kh_exp_negotiate("application/openmetrics-text;version=1.0.0,"
					  "application/openmetrics-text;version=0.0.1;q=0.75,"
					  "text/plain;version=0.0.4;q=0.5,*/*;q=0.1"),
			 KH_EXP_OPENMETRICS);
	assert_int_equal(kh_exp_negotiate(NULL), KH_EXP_TEXT);
	assert_int_equal(kh_exp_negotiate(""), KH_EXP_TEXT);
	assert_int_equal(kh_exp_negotiate("*/*"), KH_EXP_TEXT);
	assert_int_equal(kh_exp_negotiate("text/plain; version=0.0.4"), KH_EXP_TEXT);
	assert_int_equal(kh_exp_negotiate("application/openmetrics-text"), KH_EXP_OPENMETRICS);
	assert_int_equal(kh_exp_negotiate("Application/OpenMetrics-Text; Version=\"1.0.0\""),
			 KH_EXP_OPENMETRICS);
	/* only 1.0.0 is served */
	assert_int_equal(kh_exp_negotiate("application/openmetrics-text; version=0.0.1"),
			 KH_EXP_TEXT);
	/* q decides; a tie goes to the first listed */
	assert_int_equal(kh_exp_negotiate("application/openmetrics-text;q=0.2, text/plain;q=0.5"),
			 KH_EXP_TEXT);
	assert_int_equal(kh_exp_negotiate("text/plain, application/openmetrics-text"),
			 KH_EXP_TEXT);
	assert_int_equal(kh_exp_negotiate("text/plain;q=0, application/openmetrics-text;q=0.1"),
			 KH_EXP_OPENMETRICS);
	assert_int_equal(kh_exp_negotiate("application/json"), KH_EXP_TEXT);
	assert_int_equal(kh_exp_negotiate(",,;;=,"), KH_EXP_TEXT);
}

static void test_domain_label(void **state)
{
	struct kh_vm vm = { .pid = 4242, .comm = "qemu-system-x86" };
	char d[64];

	kh_exp_domain(&vm, d, sizeof(d));
	assert_string_equal(d, "pid-4242");
}

/*
 * The textfile writer replaces the file atomically: a reader polling it
 * sees one of the complete renderings, never a part, and no temp file is
 * left behind.  Snapshots of 0..40 VMs make the file size change.
 */
static void test_textfile_atomic(void **state)
{
	enum { NSNAP = 5 };
	struct kh_exp_snap *s[NSNAP];
	char *want[NSNAP], path[256], why[256], cmd[300];
	size_t reads = 0, writes = 0;
	pid_t child;
	int st;

	for (int i = 0; i < NSNAP; i++) {
		s[i] = snap_new(i * 10);
		want[i] = render(s[i], KH_EXP_TEXT);
	}
	tpath(path, sizeof(path), "kvmheat.prom");
	assert_int_equal(kh_exp_write_textfile(path, s[0], why, sizeof(why)), 0);
	child = fork();
	assert_true(child >= 0);
	if (!child) {
		double end = kh_now() + 2;

		for (int i = 0; kh_now() < end; i++)
			if (kh_exp_write_textfile(path, s[i % NSNAP], why, sizeof(why)))
				_exit(1);
		_exit(0);
	}
	for (double end = kh_now() + 2.2; kh_now() < end; reads++) {
		char *got = slurp(path);
		bool ok = false;

		for (int i = 0; i < NSNAP && !ok; i++)
			ok = !strcmp(got, want[i]);
		if (!ok)
			fail_msg("read %zu: a partial or unknown file of %zu bytes", reads,
				 strlen(got));
		free(got);
	}
	assert_int_equal(waitpid(child, &st, 0), child);
	assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	{
		struct stat sb;

		assert_int_equal(stat(path, &sb), 0);
		assert_int_equal(sb.st_mode & 0777, 0644);
	}
	snprintf(cmd, sizeof(cmd), "test $(ls '%s' | wc -l) -eq 1", tmpdir);
	assert_int_equal(system(cmd), 0);
	/* an unwritable place: one error, -errno */
	writes = kh_exp_write_textfile("/nonexistent/dir/x.prom", s[0], why, sizeof(why));
	assert_true((int)writes < 0);
	assert_non_null(strstr(why, "/nonexistent/dir/x.prom"));
	printf("# %zu complete reads while the file was rewritten\n", reads);
	for (int i = 0; i < NSNAP; i++) {
		free(want[i]);
		snap_drop(s[i]);
	}
}

/* ---- live: HTTP ---- */

static uint16_t free_port(void)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t sl = sizeof(sa);
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	assert_true(fd >= 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &sl), 0);
	close(fd);
	return ntohs(sa.sin_port);
}

static int connect_lo(uint16_t port)
{
	return kh_dial_loopback(port, 5);
}

struct resp {
	int status;
	char *head, *body;
};

static void resp_free(struct resp *r)
{
	free(r->head);
	r->head = r->body = NULL;
}

/* Send @req as is, read to EOF; status 0 if the server closed without an answer. */
static int http_raw(uint16_t port, const char *req, size_t len, struct resp *r)
{
	size_t cap = 65536, n = 0;
	int fd = connect_lo(port);
	char *buf = malloc(cap + 1), *sep;

	memset(r, 0, sizeof(*r));
	if (fd < 0 || !buf) {
		free(buf);
		return -1;
	}
	for (size_t off = 0; off < len;) {
		ssize_t w = send(fd, req + off, len - off, MSG_NOSIGNAL);

		if (w <= 0)
			break;	/* the server may refuse a huge request mid-way */
		off += w;
	}
	for (;;) {
		ssize_t got;

		if (n == cap) {
			cap *= 2;
			buf = realloc(buf, cap + 1);
			assert_non_null(buf);
		}
		got = recv(fd, buf + n, cap - n, 0);
		if (got <= 0)
			break;
		n += got;
	}
	close(fd);
	buf[n] = 0;
	r->head = buf;
	sep = strstr(buf, "\r\n\r\n");
	r->body = sep ? sep + 4 : buf + n;
	if (sep)
		*sep = 0;
	if (sscanf(buf, "HTTP/1.%*d %d", &r->status) != 1)
		r->status = 0;
	return 0;
}

/* HTTP/1.1, as Prometheus scrapes; @v10: HTTP/1.0, so Prometheus' API never answers chunked */
static int http_get_v(uint16_t port, const char *path, const char *extra, struct resp *r,
		      bool v10)
{
	char req[2048];
	int n = snprintf(req, sizeof(req), "GET %s HTTP/1.%d\r\nHost: 127.0.0.1\r\n%s"
			 "Connection: close\r\n\r\n", path, v10 ? 0 : 1, extra ? extra : "");

	return http_raw(port, req, n, r);
}

static int http_get(uint16_t port, const char *path, const char *extra, struct resp *r)
{
	return http_get_v(port, path, extra, r, false);
}

struct exp_live {
	struct proc g, k;
	uint16_t port;
	char domain[32];
};

/* khguest (small, long-running) and kvmheat export watching only it. */
static void start_guest(void **state, struct proc *g)
{
	char guest[256];
	char *gv[] = { guest, "--mem", "16", "--hot", "64", "--cold", "64", "--rounds", "4000000",
		       NULL };

	path_of(guest, sizeof(guest), "khguest");
	spawn(g, gv);
	live_track(state, g->pid);
	if (!wait_for(g->err, "ready", 10)) {
		show("khguest stderr", g->err);
		fail_msg("khguest did not get ready");
	}
}

static void start_export(void **state, struct exp_live *x, const char *interval)
{
	char kvmheat[256], lsn[64], pid[16];
	char *kv[] = { kvmheat, "export", "-l", lsn, "-i", (char *)interval, "-p", pid, NULL };

	need_kvm();
	start_guest(state, &x->g);
	x->port = free_port();
	snprintf(lsn, sizeof(lsn), "127.0.0.1:%u", x->port);
	snprintf(pid, sizeof(pid), "%d", x->g.pid);
	snprintf(x->domain, sizeof(x->domain), "pid-%d", x->g.pid);
	path_of(kvmheat, sizeof(kvmheat), "kvmheat");
	spawn(&x->k, kv);
	live_track(state, x->k.pid);
	if (!wait_for(x->k.err, "serving http://", 30)) {
		show("kvmheat stderr", x->k.err);
		fail_msg("kvmheat export did not start serving");
	}
}

static void stop_live(struct exp_live *x)
{
	kill(x->k.pid, SIGTERM);
	assert_int_equal(wait_exit(x->k.pid, 10), 0);
	kill(x->g.pid, SIGKILL);
	wait_exit(x->g.pid, 5);
	proc_cleanup(&x->k);
	proc_cleanup(&x->g);
}

/* Lines of @text that carry this domain's label: the series per VM. */
static int series_of(const char *text, const char *domain)
{
	char needle[64];
	int n = 0;

	snprintf(needle, sizeof(needle), "domain=\"%s\"", domain);
	for (const char *l = text; *l; l = strchr(l, '\n') + 1) {
		const char *nl = strchr(l, '\n');

		if (!nl)
			break;
		if (l[0] != '#') {
			const char *hit = strstr(l, needle);

			n += hit && hit < nl;
		}
	}
	return n;
}

static void test_http_endpoints(void **state)
{
	struct exp_live x = {};
	struct resp r;
	char name[128];
	double v = 0;
	bool linted;
	int series;

	start_export(state, &x, "0.5");
	usleep(1500000);
	/* landing page, wrong paths and methods */
	assert_int_equal(http_get(x.port, "/", NULL, &r), 0);
	assert_int_equal(r.status, 200);
	assert_non_null(strstr(r.body, "/metrics"));
	resp_free(&r);
	assert_int_equal(http_get(x.port, "/nothing", NULL, &r), 0);
	assert_int_equal(r.status, 404);
	resp_free(&r);
	for (int m = 0; m < 3; m++) {
		static const char *const req[] = {
			("POST /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nConnection: "
			 "close\r\n\r\nabc"),
			"DELETE / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
			"BREW /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
		};

		assert_int_equal(http_raw(x.port, req[m], strlen(req[m]), &r), 0);
		assert_int_equal(r.status, 405);
		assert_non_null(strcasestr(r.head, "\r\nAllow: GET, HEAD"));
		resp_free(&r);
	}
	/* text by default, and what promtool reads without a complaint */
	assert_int_equal(http_get(x.port, "/metrics", NULL, &r), 0);
	assert_int_equal(r.status, 200);
	assert_non_null(strcasestr(r.head, "Content-Type: " KH_EXP_CT_TEXT));
	assert_null(strstr(r.body, "# EOF"));
	snprintf(name, sizeof(name), "kvmheat_page_accesses_total{domain=\"%s\"}", x.domain);
	assert_true(sample(r.body, name, &v));
	assert_true(v > 0);
	series = series_of(r.body, x.domain);
	printf("# series per VM: %d (text scrape of %zu bytes)\n", series, strlen(r.body));
	assert_true(series > 10 && series <= 40);
	linted = lint(r.body, NULL);
	resp_free(&r);
	/* OpenMetrics by Accept header, and by ?format= */
	assert_int_equal(http_get(x.port, "/metrics", "Accept: application/openmetrics-text; "
				  "version=1.0.0\r\n", &r), 0);
	assert_int_equal(r.status, 200);
	assert_non_null(strcasestr(r.head, "Content-Type: " KH_EXP_CT_OM));
	assert_non_null(strstr(r.body, "\n# EOF\n"));
	lint(NULL, r.body);
	resp_free(&r);
	assert_int_equal(http_get(x.port, "/metrics?format=openmetrics", NULL, &r), 0);
	assert_non_null(strcasestr(r.head, "Content-Type: " KH_EXP_CT_OM));
	resp_free(&r);
	assert_int_equal(http_get(x.port, "/metrics?format=prometheus", "Accept: application/"
				  "openmetrics-text\r\n", &r), 0);
	assert_non_null(strcasestr(r.head, "Content-Type: " KH_EXP_CT_TEXT));
	resp_free(&r);
	assert_int_equal(http_get(x.port, "/metrics?format=xml", NULL, &r), 0);
	assert_int_equal(r.status, 400);
	resp_free(&r);
	/* HEAD: headers only */
	{
		static const char head[] = "HEAD /metrics HTTP/1.1\r\nHost: x\r\nConnection: "
					   "close\r\n\r\n";

		assert_int_equal(http_raw(x.port, head, sizeof(head) - 1, &r), 0);
	}
	assert_int_equal(r.status, 200);
	assert_string_equal(r.body, "");
	resp_free(&r);

	/* the guest exits: its series are gone from the next scrapes */
	kill(x.g.pid, SIGKILL);
	wait_exit(x.g.pid, 5);
	usleep(1500000);
	assert_int_equal(http_get(x.port, "/metrics", NULL, &r), 0);
	assert_int_equal(r.status, 200);
	assert_int_equal(series_of(r.body, x.domain), 0);
	assert_true(sample(r.body, "kvmheat_domains", &v));
	assert_true(v == 0);
	resp_free(&r);
	stop_live(&x);
	if (!linted)
		KH_SKIP(NO_PROMTOOL);
}

/* One normal scrape: 200 with this VM's samples, within @secs. */
static void scrape_ok(uint16_t port, const char *domain, double secs)
{
	double t0 = kh_now();
	struct resp r;

	assert_int_equal(http_get(port, "/metrics", NULL, &r), 0);
	assert_int_equal(r.status, 200);
	assert_true(series_of(r.body, domain) > 0);
	resp_free(&r);
	assert_true(kh_now() - t0 < secs);
}

/*
 * Bad clients, bounded in count and time, all on 127.0.0.1: half-sent
 * requests left hanging, 1 MiB headers, and clients that ask and never
 * read.  Between and after them, normal scrapes keep working.
 */
static void test_http_bad_clients(void **state)
{
	enum { HALF = 40, HUGE = 4, DEAF = 20 };
	int half[HALF], deaf[DEAF];
	size_t big = (1 << 20) + 64;
	struct exp_live x = {};
	struct resp r;
	char *req;
	int n;

	start_export(state, &x, "0.5");	/* may skip: nothing allocated before it */
	req = malloc(big + 128);
	assert_non_null(req);
	usleep(800000);
	for (int i = 0; i < HALF; i++) {
		static const char part[] = "GET /metr";

		half[i] = connect_lo(x.port);
		assert_true(half[i] >= 0);
		assert_int_equal(send(half[i], part, sizeof(part) - 1, MSG_NOSIGNAL),
				 (ssize_t)sizeof(part) - 1);
	}
	scrape_ok(x.port, x.domain, 5);
	/* a 1 MiB header: refused (431/413 or closed), never served */
	n = snprintf(req, 128, "GET /metrics HTTP/1.1\r\nHost: x\r\nX-Big: ");
	memset(req + n, 'a', big - n);
	memcpy(req + big, "\r\n\r\n", 5);
	for (int i = 0; i < HUGE; i++) {
		assert_int_equal(http_raw(x.port, req, big + 4, &r), 0);
		printf("# 1 MiB header: status %d\n", r.status);
		assert_true(r.status != 200);
		resp_free(&r);
		scrape_ok(x.port, x.domain, 5);
	}
	/* pipelined requests from clients that never read the answers */
	for (int i = 0; i < DEAF; i++) {
		int small = 4096;

		deaf[i] = connect_lo(x.port);
		assert_true(deaf[i] >= 0);
		setsockopt(deaf[i], SOL_SOCKET, SO_RCVBUF, &small, sizeof(small));
		for (int k = 0; k < 20; k++) {
			static const char get[] = "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n";

			if (send(deaf[i], get, sizeof(get) - 1, MSG_NOSIGNAL | MSG_DONTWAIT) < 0)
				break;
		}
	}
	for (int i = 0; i < 20; i++)
		scrape_ok(x.port, x.domain, 5);
	for (int i = 0; i < HALF; i++)
		close(half[i]);
	for (int i = 0; i < DEAF; i++)
		close(deaf[i]);
	scrape_ok(x.port, x.domain, 5);
	/* still the same process, serving */
	assert_int_equal(waitpid(x.k.pid, NULL, WNOHANG), 0);
	free(req);
	stop_live(&x);
}

/* ---- live: one-line errors ---- */

static int one_line(const char *s)
{
	const char *nl = strchr(s, '\n');

	return nl && !nl[1];
}

static void test_errors(void **state)
{
	char *kvmheat, lsn[64], pid[16], *out, *err;
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t sl = sizeof(sa);
	int fd, rc;

	if (!kh_is_root())
		KH_SKIP("export checks privileges first: needs root");
	kvmheat = bin("kvmheat");
	{
		char *bad[][6] = {
			{ kvmheat, "export", "-l", "localhost:80", NULL },
			{ kvmheat, "export", "-l", "127.0.0.1:0", NULL },
			{ kvmheat, "export", "-l", "127.0.0.1", NULL },
			{ kvmheat, "export", "-i", "0", NULL },
			{ kvmheat, "export", "-p", "1,x", NULL },
			{ kvmheat, "export", "--textfile", "", NULL },
		};

		for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
			rc = run(&out, &err, 10, bad[i]);
			assert_int_equal(rc, KH_EXIT_USAGE);
			assert_true(one_line(err));
			free(out);
			free(err);
		}
	}
	/* a port in use */
	fd = socket(AF_INET, SOCK_STREAM, 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(fd, 1), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &sl), 0);
	snprintf(lsn, sizeof(lsn), "127.0.0.1:%u", ntohs(sa.sin_port));
	{
		char *args[] = { kvmheat, "export", "-l", lsn, NULL };

		rc = run(&out, &err, 20, args);
		printf("# port in use: exit %d: %s", rc, err);
		assert_int_equal(rc, KH_EXIT_ERROR);
		assert_true(one_line(err));
		assert_non_null(strstr(err, "in use"));
		free(out);
		free(err);
	}
	close(fd);
	/* -p PID that is not a VM (this test process) */
	if (access("/dev/kvm", R_OK | W_OK)) {
		free(kvmheat);
		KH_SKIP("no usable /dev/kvm: the not-a-VM case needs VM discovery");
	}
	snprintf(pid, sizeof(pid), "%d", getpid());
	snprintf(lsn, sizeof(lsn), "127.0.0.1:%u", free_port());
	{
		char *args[] = { kvmheat, "export", "-l", lsn, "-p", pid, "-e", "walk", NULL };
		char *args2[] = { kvmheat, "export", "-l", lsn, "-p", "1,2", "-e", "walk", NULL };

		rc = run(&out, &err, 30, args);
		printf("# not a VM: exit %d: %s", rc, err);
		assert_int_equal(rc, KH_EXIT_NO_VM);
		assert_true(one_line(err));
		free(out);
		free(err);
		rc = run(&out, &err, 30, args2);
		assert_int_equal(rc, KH_EXIT_NO_VM);
		assert_true(one_line(err));
		free(out);
		free(err);
	}
	free(kvmheat);
}

/* --textfile without -l: the file follows the VM, and nothing is served. */
static void test_textfile_command(void **state)
{
	char kvmheat[256], pid[16], file[256], needle[64];
	struct proc g, k;
	char *kv[] = { kvmheat, "export", "--textfile", file, "-i", "0.3", "-p", pid, NULL };
	bool linted;
	char *t;

	need_kvm();
	start_guest(state, &g);
	snprintf(pid, sizeof(pid), "%d", g.pid);
	snprintf(needle, sizeof(needle), "domain=\"pid-%d\"", g.pid);
	tpath(file, sizeof(file), "node.prom");
	path_of(kvmheat, sizeof(kvmheat), "kvmheat");
	spawn(&k, kv);
	live_track(state, k.pid);
	if (!wait_for(k.err, "writing", 30)) {
		show("kvmheat stderr", k.err);
		fail_msg("kvmheat export --textfile did not start");
	}
	assert_null(strstr(t = slurp(k.err), "serving"));
	free(t);
	assert_true(wait_for(file, needle, 5));
	t = slurp(file);
	assert_null(strstr(t, "# EOF"));
	linted = lint(t, NULL);
	free(t);
	/* the VM exits: it leaves the file at the next interval */
	kill(g.pid, SIGKILL);
	wait_exit(g.pid, 5);
	usleep(1200000);
	t = slurp(file);
	assert_null(strstr(t, needle));
	assert_non_null(strstr(t, "kvmheat_domains 0\n"));
	free(t);
	kill(k.pid, SIGTERM);
	assert_int_equal(wait_exit(k.pid, 10), 0);
	proc_cleanup(&k);
	proc_cleanup(&g);
	if (!linted)
		KH_SKIP(NO_PROMTOOL);
}

/* ---- live: a real Prometheus ---- */

static void urlenc(const char *s, char *out, size_t len)
{
	size_t o = 0;

	for (; *s && o + 4 < len; s++) {
		if ((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
		    strchr("-_.~", *s))
			out[o++] = *s;
		else
			o += snprintf(out + o, len - o, "%%%02X", (unsigned char)*s);
	}
	out[o] = 0;
}

/* An instant query: how many series came back, and the first one's value. */
static int prom_query(uint16_t port, const char *q, double *first)
{
	char path[1024], enc[900];
	json_t *root, *res;
	struct resp r;
	int n = -1;

	urlenc(q, enc, sizeof(enc));
	snprintf(path, sizeof(path), "/api/v1/query?query=%s", enc);
	if (http_get_v(port, path, NULL, &r, true) || r.status != 200) {
		printf("# query %s: HTTP %d %s\n", q, r.status, r.body ? r.body : "");
		resp_free(&r);
		return -1;
	}
	root = json_loads(r.body, 0, NULL);
	res = json_object_get(json_object_get(root, "data"), "result");
	if (json_is_array(res)) {
		n = json_array_size(res);
		if (n && first)
			*first = strtod(json_string_value(json_array_get(json_object_get(
					json_array_get(res, 0), "value"), 1)), NULL);
	}
	json_decref(root);
	resp_free(&r);
	return n;
}

/* Poll @q until it returns @want series (-1: at least one with a value > 0). */
static bool prom_wait(uint16_t port, const char *q, int want, double secs)
{
	for (double end = kh_now() + secs; kh_now() < end; usleep(250000)) {
		double v = 0;
		int n = prom_query(port, q, &v);

		if (want < 0 ? n > 0 && v > 0 : n == want)
			return true;
	}
	return false;
}

static void start_prometheus(void **state, struct proc *p, uint16_t *port, uint16_t target)
{
	char conf[256], data[256], flag_conf[300], flag_data[300], flag_web[64];
	char *av[] = { "/usr/bin/prometheus", flag_conf, flag_data, flag_web, "--log.level=warn",
		       NULL };
	FILE *f;
	struct resp r;

	tpath(conf, sizeof(conf), "prometheus.yml");
	tpath(data, sizeof(data), "prom-data");
	f = fopen(conf, "w");
	assert_non_null(f);
	/* two jobs on one exporter: Prometheus' default Accept (OpenMetrics), and
	 * the text format through ?format= (2.42 cannot choose its Accept) */
	fprintf(f, "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n"
		"scrape_configs:\n"
		"  - job_name: kh_om\n    static_configs: [{targets: ['127.0.0.1:%u']}]\n"
		"  - job_name: kh_text\n    params: {format: [prometheus]}\n"
		"    static_configs: [{targets: ['127.0.0.1:%u']}]\n", target, target);
	fclose(f);
	*port = free_port();
	snprintf(flag_conf, sizeof(flag_conf), "--config.file=%s", conf);
	snprintf(flag_data, sizeof(flag_data), "--storage.tsdb.path=%s", data);
	snprintf(flag_web, sizeof(flag_web), "--web.listen-address=127.0.0.1:%u", *port);
	spawn(p, av);
	live_track(state, p->pid);
	for (int i = 0; i < 120; i++, usleep(250000)) {
		if (!http_get(*port, "/-/ready", NULL, &r) && r.status == 200) {
			resp_free(&r);
			return;
		}
		resp_free(&r);
	}
	show("prometheus stderr", p->err);
	fail_msg("prometheus did not get ready");
}

/* @s with every @from replaced by @to, into @out. */
static void subst(char *out, size_t len, const char *s, const char *from, const char *to)
{
	size_t o = 0, fl = strlen(from);

	while (*s && o + 1 < len) {
		if (!strncmp(s, from, fl)) {
			o += snprintf(out + o, len - o, "%s", to);
			s += fl;
		} else {
			out[o++] = *s++;
		}
	}
	out[o < len ? o : len - 1] = 0;
}

/*
 * Every query of the Grafana dashboard, run against the Prometheus that
 * scrapes the exporter: it must parse, and return series unless it asks
 * for what this exporter does not serve yet (cold/idle memory) or what
 * only exists with kernel.bpf_stats_enabled=1.
 */
static void check_dashboard(uint16_t pport)
{
	json_t *d = json_load_file("contrib/grafana/kvmheat-dashboard.json", 0, NULL);
	json_t *panels = json_object_get(d, "panels");
	int checked = 0;

	if (!d)
		fail_msg("cannot read contrib/grafana/kvmheat-dashboard.json (run from the repository "
			 "root)");
	assert_string_equal(json_string_value(json_object_get(d, "uid")), "kvmheat-fleet");
	for (size_t i = 0; i < json_array_size(panels); i++) {
		json_t *targets = json_object_get(json_array_get(panels, i), "targets");

		for (size_t k = 0; k < json_array_size(targets); k++) {
			const char *e = json_string_value(json_object_get(json_array_get(targets, k),
									  "expr"));
			char a[1024], b[1024], q[1024];
			bool optional;
			int n;

			assert_non_null(e);
			subst(a, sizeof(a), e, "$__rate_interval", "5s");
			subst(b, sizeof(b), a, "$instance", ".*");
			subst(q, sizeof(q), b, "$domain", ".*");
			optional = strstr(q, "kvmheat_cold_bytes") || strstr(q, "kvmheat_idle_ratio") ||
				   strstr(q, "kvmheat_bpf_run_seconds_total");
			/* a scrape that is late under load can leave a 5 s window short */
			n = prom_query(pport, q, NULL);
			for (double end = kh_now() + 8; !optional && n == 0 && kh_now() < end;
			     usleep(250000))
				n = prom_query(pport, q, NULL);
			if (n < 0 || (!optional && n == 0))
				fail_msg("dashboard query gave %d series: %s", n, q);
			checked++;
		}
	}
	printf("# %d dashboard queries parse and (where served) return series\n", checked);
	json_decref(d);
}

static void test_prometheus_scrapes(void **state)
{
	struct exp_live x = {};
	struct proc prom;
	uint16_t pport;
	char q[256];

	if (access("/usr/bin/prometheus", X_OK))
		KH_SKIP("no /usr/bin/prometheus (Debian package prometheus; make deps)");
	start_export(state, &x, "1");
	start_prometheus(state, &prom, &pport, x.port);
	for (int j = 0; j < 2; j++) {
		const char *job = j ? "kh_text" : "kh_om";
		/* OpenMetrics le bounds are "1.0", the text format's "1": which parser ran */
		const char *le = j ? "1" : "1.0";
		bool ok;

		snprintf(q, sizeof(q), "up{job=\"%s\"} == 1", job);
		ok = prom_wait(pport, q, 1, 20);
		printf("# %s: up %s\n", job, ok ? "1" : "not 1");
		assert_true(ok);
		snprintf(q, sizeof(q), "rate(kvmheat_page_accesses_total{job=\"%s\",domain=\"%s\"}"
			 "[5s])", job, x.domain);
		ok = prom_wait(pport, q, -1, 30);
		printf("# %s: %s > 0: %s\n", job, q, ok ? "yes" : "no");
		assert_true(ok);
		snprintf(q, sizeof(q), "kvmheat_page_interval_accesses_bucket{job=\"%s\","
			 "domain=\"%s\",le=\"%s\"}", job, x.domain, le);
		assert_true(prom_wait(pport, q, 1, 5));
	}
	check_dashboard(pport);
	/* the guest exits: after a scrape without it, the series is stale (gone) */
	kill(x.g.pid, SIGKILL);
	wait_exit(x.g.pid, 5);
	snprintf(q, sizeof(q), "kvmheat_page_accesses_total{domain=\"%s\"}", x.domain);
	{
		double t0 = kh_now();
		bool gone = prom_wait(pport, q, 0, 20);

		printf("# series gone from an instant query %.1f s after the guest was killed\n",
		       kh_now() - t0);
		assert_true(gone);
	}
	/* the exporter itself is still up in both formats */
	assert_true(prom_wait(pport, "count(up{job=~\"kh_.*\"} == 1) == 2", 1, 5));
	kill(prom.pid, SIGTERM);
	wait_exit(prom.pid, 15);
	proc_cleanup(&prom);
	stop_live(&x);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_label_escaping),
		cmocka_unit_test(test_formats_eof_and_total),
		cmocka_unit_test(test_idle_metrics),
		cmocka_unit_test(test_bucket_bounds),
		cmocka_unit_test(test_histogram_cumulative),
		cmocka_unit_test(test_fold_carry_vanish),
		cmocka_unit_test(test_negotiate),
		cmocka_unit_test(test_domain_label),
		cmocka_unit_test(test_textfile_atomic),
		cmocka_unit_test(test_errors),
		LIVE_TEST(test_http_endpoints),
		LIVE_TEST(test_http_bad_clients),
		LIVE_TEST(test_textfile_command),
		LIVE_TEST(test_prometheus_scrapes),
	};

	return cmocka_run_group_tests(tests, tmpdir_setup, tmpdir_teardown);
}
