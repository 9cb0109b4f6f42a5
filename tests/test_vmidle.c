// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * kvmheat idle in the nested-kernel rig (docs/VMTEST.md "kvmheat idle"):
 * one boot of Debian 6.12 with kvm_amd npt=1 through tools/vmtest/run.sh,
 * running tools/vmtest/idle-rig.sh, which drives khguest (a hot set touched
 * every 400 ms, a cold set touched once, no memory pressure) and kvmheat
 * idle through the MGLRU and DAMON drivers, then the SIGINT, SIGKILL and
 * VM-exit cases.  The guest hands back files; the ages are judged here
 * against khguest's truth.
 *
 * KH_VMTEST_SKIP=1 skips it (counted as skipped); KH_VMIDLE_OUT=DIR reads
 * an earlier run's files from DIR instead of booting.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <sys/stat.h>
#include <jansson.h>
#include "khtest.h"
#include "kh.h"
#include "datafile.h"

struct rig {
	char out[512];
	char skip[1024];
	char fail[1024];	/* the rig ran but broke: every test fails with this */
	char *console;		/* the guest's output */
};

static struct rig rig;


static const char *const files[] = {
	"probe.json", "mglru.json", "mglru.err", "vmstat.before", "vmstat.after", "rss.before",
	"rss.after", "damon.json", "damon.err", "truth.json", "guest.err", "exit.json", "exit.err",
	"top.json", "top.err", "rec.data", "rec.json", "rec.err", "heat.json", "heat.err", "truth2.json",
	"thp.truth.json", "thp.json", "thp.err", "thp.smaps",
};

/* Cut each "KHIDLE file NAME" section out of the console and unpack it. */
static int unpack(const char *out)
{
	char cmd[2048];

	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		snprintf(cmd, sizeof(cmd), "sed -n '/^KHIDLE file %s$/,/^KHIDLE endfile %s$/p' "
			 "'%s/out.txt' | sed '1d;$d' | base64 -d 2>/dev/null | gunzip -c > '%s/%s' "
			 "2>/dev/null", files[i], files[i], out, out, files[i]);
		if (system(cmd))
			return -1;
	}
	return 0;
}

static int setup(void **state)
{
	const char *prev = getenv("KH_VMIDLE_OUT");
	char cmd[2048], path[700];
	int rc;

	(void)state;
	if (getenv("KH_VMTEST_SKIP") && strcmp(getenv("KH_VMTEST_SKIP"), "0")) {
		snprintf(rig.skip, sizeof(rig.skip), "KH_VMTEST_SKIP is set");
		return 0;
	}
	if (prev && *prev) {
		snprintf(rig.out, sizeof(rig.out), "%s", prev);
	} else {
		if (!kh_is_root()) {
			snprintf(rig.skip, sizeof(rig.skip), "the nested-kernel rig needs root");
			return 0;
		}
		snprintf(rig.out, sizeof(rig.out), "%s/vmidle", kh_build_dir());
		printf("# running tools/vmtest/run.sh -- sh idle-rig.sh (one 6.12 npt=1 boot)\n");
		fflush(stdout);
		snprintf(cmd, sizeof(cmd), "mkdir -p '%s' && ./tools/vmtest/run.sh --kernel 6.12 "
			 "--npt 1 --file tools/vmtest/idle-rig.sh -- sh idle-rig.sh > '%s/out.txt' "
			 "2> '%s/err.txt'", rig.out, rig.out, rig.out);
		rc = system(cmd);
		snprintf(path, sizeof(path), "%s/err.txt", rig.out);
		if (WIFEXITED(rc) && WEXITSTATUS(rc) == 125) {
			char *e = kh_slurp(path);

			/* the rig itself could not run (no QEMU, no kernels): a skip */
			snprintf(strstr(e ? e : "", "rig skipped") ? rig.skip : rig.fail,
				 sizeof(rig.skip), "run.sh: %s", e ? e : "?");
			free(e);
			return 0;
		}
	}
	snprintf(path, sizeof(path), "%s/out.txt", rig.out);
	rig.console = kh_slurp(path);
	if (!rig.console || !strstr(rig.console, "KHIDLE done"))
		snprintf(rig.fail, sizeof(rig.fail), "idle-rig.sh did not reach its end (see %s)",
			 path);
	else if (unpack(rig.out))
		snprintf(rig.fail, sizeof(rig.fail), "unpacking the rig's files failed");
	/* the cost lines, for people: this run's figures (tools/bench-idle.sh measures) */
	for (int i = 0; i < 2 && !rig.fail[0]; i++) {
		char *e;

		snprintf(path, sizeof(path), "%s/%s", rig.out, i ? "damon.err" : "mglru.err");
		e = kh_slurp(path);
		for (const char *p = e; p && (p = strstr(p, "kvmheat: idle cost:")); p++)
			printf("# %.*s\n", (int)strcspn(p, "\n"), p);
		free(e);
	}
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	free(rig.console);
	return 0;
}

static void need_rig(void)
{
	if (rig.skip[0])
		KH_SKIP("%s", rig.skip);
	if (rig.fail[0])
		fail_msg("%s", rig.fail);
}

static json_t *load(const char *name)
{
	char path[700];
	json_error_t e;
	json_t *j;

	snprintf(path, sizeof(path), "%s/%s", rig.out, name);
	j = json_load_file(path, 0, &e);
	if (!j)
		fail_msg("%s: %s", name, e.text);
	return j;
}

static long file_num(const char *name, const char *key)
{
	char path[700], *s, *p;
	long v = -1;

	snprintf(path, sizeof(path), "%s/%s", rig.out, name);
	s = kh_slurp(path);
	if (!s)
		return -1;
	for (p = s; (p = strstr(p, key)); p++)
		if ((p == s || p[-1] == '\n') && (p[strlen(key)] == ' ' || p[strlen(key)] == '\t')) {
			v = strtol(p + strlen(key), NULL, 10);
			break;
		}
	free(s);
	return v;
}

/* The data slot's pages: truth (hot or cold) and the age kvmheat gave (-1: none). */
struct pages {
	uint64_t base, n;
	signed char *hot;	/* 1 hot, 0 cold, -1 never touched */
	int *age;
	long scans;
	double interval;
	json_t *vm;
};

static void pages_free(struct pages *p)
{
	free(p->hot);
	free(p->age);
	json_decref(p->vm);
}

static void pages_load_from(struct pages *p, const char *truth, const char *idle_file)
{
	json_t *t = load(truth), *idle = load(idle_file), *pg, *rg, *r;
	size_t i;

	memset(p, 0, sizeof(*p));
	p->base = json_integer_value(json_object_get(t, "data_gpa")) >> 12;
	p->n = json_integer_value(json_object_get(t, "data_pages"));
	p->hot = malloc(p->n);
	p->age = malloc(p->n * sizeof(int));
	assert_non_null(p->hot);
	memset(p->hot, -1, p->n);
	for (i = 0; i < p->n; i++)
		p->age[i] = -1;
	json_array_foreach(json_object_get(t, "pages"), i, pg) {
		uint64_t g = json_integer_value(json_object_get(pg, "gfn")) - p->base;

		if (g < p->n)
			p->hot[g] = json_is_true(json_object_get(pg, "hot"));
	}
	p->vm = json_incref(json_array_get(json_object_get(idle, "vms"), 0));
	assert_non_null(p->vm);
	p->scans = json_integer_value(json_object_get(p->vm, "scans"));
	p->interval = json_number_value(json_object_get(p->vm, "interval_s"));
	rg = json_object_get(p->vm, "ranges");
	json_array_foreach(rg, i, r) {
		uint64_t a = json_integer_value(json_object_get(r, "gfn_start"));
		uint64_t b = json_integer_value(json_object_get(r, "gfn_end"));

		for (uint64_t g = a; g <= b; g++)
			if (g - p->base < p->n)
				p->age[g - p->base] = json_integer_value(json_object_get(r, "idle_age"));
	}
	json_decref(t);
	json_decref(idle);
}

static void pages_load(struct pages *p, const char *idle_file)
{
	pages_load_from(p, "truth.json", idle_file);
}

/* How many data pages the truth calls hot and cold. */
static void pages_sets(const struct pages *p, uint64_t *hot, uint64_t *cold)
{
	*hot = *cold = 0;
	for (uint64_t i = 0; i < p->n; i++) {
		*hot += p->hot[i] == 1;
		*cold += p->hot[i] == 0;
	}
}

/* Hot verdict (age 0) against the truth, over pages with an age. */
static void pages_pr(const struct pages *p, double *prec, double *rec, uint64_t *aged,
		     uint64_t *hot)
{
	uint64_t tp = 0, fp = 0, fn = 0;

	*aged = *hot = 0;
	for (uint64_t i = 0; i < p->n; i++) {
		if (p->hot[i] == 1)
			(*hot)++;
		if (p->age[i] < 0) {
			fn += p->hot[i] == 1;
			continue;
		}
		(*aged)++;
		if (p->age[i] == 0)
			p->hot[i] == 1 ? tp++ : fp++;
		else
			fn += p->hot[i] == 1;
	}
	*prec = tp + fp ? (double)tp / (tp + fp) : 0;
	*rec = tp + fn ? (double)tp / (tp + fn) : 0;
}

static void test_probe_drivers(void **state)
{
	json_t *j, *d, *x;
	const char *why;
	size_t i;
	int seen = 0;

	(void)state;
	need_rig();
	j = load("probe.json");
	d = json_object_get(j, "age_drivers");
	assert_non_null(d);
	printf("# chosen: %s\n", json_string_value(json_object_get(d, "chosen")));
	assert_string_equal(json_string_value(json_object_get(d, "chosen")), "mglru");
	json_array_foreach(json_object_get(d, "drivers"), i, x) {
		const char *n = json_string_value(json_object_get(x, "name"));

		why = json_string_value(json_object_get(x, "reason"));
		printf("# %s usable=%d: %s\n", n, json_is_true(json_object_get(x, "usable")), why);
		assert_true(why && *why);
		if (!strcmp(n, "page_idle")) {
			/* Debian's 6.12 has no CONFIG_IDLE_PAGE_TRACKING */
			assert_false(json_is_true(json_object_get(x, "usable")));
			assert_non_null(strstr(why, "CONFIG_IDLE_PAGE_TRACKING"));
			seen++;
		} else if (!strcmp(n, "damon") || !strcmp(n, "mglru")) {
			assert_true(json_is_true(json_object_get(x, "usable")));
			seen++;
		}
	}
	assert_int_equal(seen, 3);
	json_decref(j);
}

static void test_mglru_ages(void **state)
{
	uint64_t cold = 0, cold_ok = 0, hot = 0, hot_ok = 0, worst = 255;
	struct pages p;
	long k = file_num("mglru.err", "status");

	(void)state;
	need_rig();
	assert_int_equal(k, 0);
	pages_load(&p, "mglru.json");
	assert_string_equal(json_string_value(json_object_get(p.vm, "age_driver")), "mglru");
	for (uint64_t i = 0; i < p.n; i++) {
		if (p.hot[i] == 0) {
			cold++;
			cold_ok += p.age[i] >= p.scans - 1;
			if (p.age[i] >= 0 && (uint64_t)p.age[i] < worst)
				worst = p.age[i];
			if (p.age[i] < 0)
				worst = 0;
		} else if (p.hot[i] == 1) {
			hot++;
			hot_ok += p.age[i] == 0;
		}
	}
	printf("# K=%ld scans: %" PRIu64 " of %" PRIu64 " cold pages idle >= K-1 (lowest %" PRIu64
	       "), %" PRIu64 " of %" PRIu64 " hot pages at age 0\n", p.scans, cold_ok, cold, worst,
	       hot_ok, hot);
	assert_true(p.scans >= 3);
	assert_true(cold > 0 && hot > 0);
	assert_int_equal(cold_ok, cold);
	assert_int_equal(hot_ok, hot);
	pages_free(&p);
}

static void test_mglru_hot_pr(void **state)
{
	double prec, rec;
	uint64_t aged, hot;
	struct pages p;

	(void)state;
	need_rig();
	pages_load(&p, "mglru.json");
	pages_pr(&p, &prec, &rec, &aged, &hot);
	printf("# hot set per gfn: precision %.4f recall %.4f (%" PRIu64 " hot, %" PRIu64
	       " data pages aged)\n", prec, rec, hot, aged);
	assert_true(prec >= 0.99);
	assert_true(rec >= 0.99);
	pages_free(&p);
}

/*
 * A THP-backed guest: KVM ages each 2 MiB page as one range, which idle
 * keeps as one state per region (the pages get none of their own).  Every
 * hot page (whole hot regions) must read age 0 and every cold one K-1 or
 * more, with ranges aged as regions and no per-page aging claimed.
 */
static void test_mglru_thp(void **state)
{
	uint64_t cold = 0, cold_ok = 0, hot = 0, hot_ok = 0;
	long thp = file_num("thp.smaps", "AnonHugePages:"), regions;
	char path[700], *err, *p;
	struct pages pg;

	(void)state;
	need_rig();
	if (thp <= 0)
		KH_SKIP("khguest got no transparent huge pages (AnonHugePages %ld kB): "
			"nothing was aged at 2 MiB", thp);
	assert_int_equal(file_num("thp.err", "status"), 0);
	snprintf(path, sizeof(path), "%s/thp.err", rig.out);
	err = kh_slurp(path);
	assert_non_null(err);
	p = strstr(err, " range-aged regions");
	assert_non_null(p);
	while (p > err && p[-1] >= '0' && p[-1] <= '9')
		p--;
	regions = strtol(p, NULL, 10);
	pages_load_from(&pg, "thp.truth.json", "thp.json");
	for (uint64_t i = 0; i < pg.n; i++) {
		if (pg.hot[i] == 0) {
			cold++;
			cold_ok += pg.age[i] >= pg.scans - 1;
		} else if (pg.hot[i] == 1) {
			hot++;
			hot_ok += pg.age[i] == 0;
		}
	}
	printf("# THP (AnonHugePages %ld kB), K=%ld scans: %ld range-aged regions; %" PRIu64
	       " of %" PRIu64 " cold pages idle >= K-1, %" PRIu64 " of %" PRIu64 " hot at age 0\n",
	       thp, pg.scans, regions, cold_ok, cold, hot_ok, hot);
	assert_true(pg.scans >= 3 && regions > 0);
	assert_true(cold > 0 && hot > 0);
	assert_int_equal(cold_ok, cold);
	assert_int_equal(hot_ok, hot);
	free(err);
	pages_free(&pg);
}

/*
 * top -b -j --age-driver mglru on the same guest (after the idle runs): its
 * last row's summary counts every hot page of the data slot at age 0 and
 * every cold one at age >= 4 after >= 6 scans.  top prints no per-gfn ages,
 * so this is judged on counts: hot pages found idle, or cold pages found
 * young, would each break one of the two bounds.
 */
static void test_top_mglru(void **state)
{
	char path[700], *s, *line, *last = NULL, *save = NULL;
	uint64_t hot = 0, cold = 0, age0, idle4;
	struct pages p;
	json_t *j, *vm, *idle;

	(void)state;
	need_rig();
	assert_int_equal(file_num("top.err", "status"), 0);
	snprintf(path, sizeof(path), "%s/top.json", rig.out);
	s = kh_slurp(path);
	assert_non_null(s);
	for (line = strtok_r(s, "\n", &save); line; line = strtok_r(NULL, "\n", &save))
		last = line;
	assert_non_null(last);
	j = json_loads(last, 0, NULL);
	assert_non_null(j);
	vm = json_array_get(json_object_get(j, "vms"), 0);
	idle = json_object_get(vm, "idle");
	assert_true(json_is_object(idle));
	assert_string_equal(json_string_value(json_object_get(idle, "age_driver")), "mglru");
	pages_load(&p, "mglru.json");	/* for khguest's truth of the data slot */
	pages_sets(&p, &hot, &cold);
	age0 = json_integer_value(json_array_get(json_object_get(idle, "idle_age_hist"), 0));
	idle4 = json_integer_value(json_object_get(json_object_get(idle, "idle_bytes"), "4")) /
		4096;
	printf("# top: %" PRId64 " scans, %" PRId64 " pages aged, IDLE%% %.1f; %" PRIu64
	       " pages at age 0 (hot set %" PRIu64 "), %" PRIu64 " at age >= 4 (cold set %" PRIu64
	       ")\n", (int64_t)json_integer_value(json_object_get(idle, "scans")),
	       (int64_t)json_integer_value(json_object_get(idle, "pages_aged")),
	       json_real_value(json_object_get(vm, "idle_pct")), age0, hot, idle4, cold);
	assert_true(json_integer_value(json_object_get(idle, "scans")) >= 6);
	assert_true(hot > 0 && cold > 0);
	assert_true(age0 >= hot);
	assert_true(idle4 >= cold);
	pages_free(&p);
	json_decref(j);
	free(s);
}

/*
 * record --age-driver mglru on the same guest: the per-gfn ages of the
 * recording's last scan, read back from its IDLE_RUNS, judged like idle's
 * (every hot page at 0, every cold one at >= S-1 after S scans, hot-set
 * precision and recall), and report's summary of the same scan.
 */
static void test_record_mglru(void **state)
{
	uint64_t cold = 0, cold_ok = 0, hot = 0, hot_ok = 0, tp = 0, fp = 0, known = 0;
	const struct kh_rd_idle *last;
	struct kh_recording r;
	struct kh_rd_filter f;
	struct pages p;
	char path[700], why[256];
	json_t *j, *idle;

	(void)state;
	need_rig();
	assert_int_equal(file_num("rec.err", "status"), 0);
	/* the second guest's truth; idle's file only gives the shape */
	pages_load_from(&p, "truth2.json", "mglru.json");
	for (uint64_t i = 0; i < p.n; i++)
		p.age[i] = -1;
	snprintf(path, sizeof(path), "%s/rec.data", rig.out);
	assert_int_equal(kh_df_read_file(path, 0, &r, why, sizeof(why)), 0);
	kh_rd_filter_init(&f);
	last = kh_rd_idle_last(&r, &f, 0);
	assert_non_null(last);
	assert_int_equal(last->driver, KH_AD_MGLRU);
	for (size_t k = 0; k < last->nr_runs; k++) {
		const struct kh_df_idle_run *e = &r.idle_runs[last->first_run + k];

		known += e->npages;
		for (uint64_t g = e->gfn; g < e->gfn + e->npages; g++)
			if (g - p.base < p.n)
				p.age[g - p.base] = e->age;
	}
	for (uint64_t i = 0; i < p.n; i++) {
		if (p.hot[i] == 0) {
			cold++;
			cold_ok += p.age[i] >= (int)last->scan - 1;
			fp += p.age[i] == 0;
		} else if (p.hot[i] == 1) {
			hot++;
			hot_ok += p.age[i] == 0;
			tp += p.age[i] == 0;
		}
	}
	printf("# recording: %zu scans, the last (scan %u) %zu runs, %" PRIu64 " pages aged; %"
	       PRIu64 " of %" PRIu64 " cold pages >= S-1, %" PRIu64 " of %" PRIu64 " hot at 0; "
	       "hot set precision %.4f recall %.4f\n", r.nr_idle, last->scan, last->nr_runs, known,
	       cold_ok, cold, hot_ok, hot, tp + fp ? (double)tp / (tp + fp) : 0,
	       hot ? (double)tp / hot : 0);
	assert_true(last->scan >= 3);
	assert_true(cold > 0 && hot > 0);
	assert_int_equal(cold_ok, cold);
	assert_int_equal(hot_ok, hot);
	assert_true(tp + fp && (double)tp / (tp + fp) >= 0.99);
	/* report's view of the same scan */
	j = load("rec.json");
	idle = json_object_get(json_array_get(json_object_get(j, "vms"), 0), "idle");
	assert_true(json_is_object(idle));
	assert_int_equal(json_integer_value(json_object_get(idle, "pages_aged")), known);
	assert_int_equal(json_integer_value(json_object_get(idle, "scans")), last->scan);
	assert_true(json_integer_value(json_object_get(idle, "working_set_bytes")) >= (json_int_t)hot * 4096);
	json_decref(j);
	kh_rd_free(&r);
	pages_free(&p);
}

/* heat -j --age-driver mglru --ws-scans 2: counts, as for top. */
static void test_heat_mglru(void **state)
{
	uint64_t hot = 0, cold = 0, age0, idle2;
	struct pages p;
	json_t *j, *idle;

	(void)state;
	need_rig();
	assert_int_equal(file_num("heat.err", "status"), 0);
	j = load("heat.json");
	idle = json_object_get(json_array_get(json_object_get(j, "vms"), 0), "idle");
	assert_true(json_is_object(idle));
	assert_string_equal(json_string_value(json_object_get(idle, "age_driver")), "mglru");
	pages_load_from(&p, "truth2.json", "mglru.json");
	pages_sets(&p, &hot, &cold);
	age0 = json_integer_value(json_array_get(json_object_get(idle, "idle_age_hist"), 0));
	idle2 = json_integer_value(json_object_get(json_object_get(idle, "idle_bytes"), "2")) /
		4096;
	printf("# heat: %" PRId64 " scans; %" PRIu64 " pages at age 0 (hot set %" PRIu64 "), %"
	       PRIu64 " at age >= 2 (cold set %" PRIu64 "), working set within 2 scans %" PRId64
	       " pages\n", (int64_t)json_integer_value(json_object_get(idle, "scans")), age0, hot,
	       idle2, cold,
	       (int64_t)json_integer_value(json_object_get(idle, "working_set_bytes")) / 4096);
	assert_true(json_integer_value(json_object_get(idle, "scans")) >= 3);
	assert_int_equal(json_integer_value(json_object_get(idle, "working_set_scans")), 2);
	assert_true(age0 >= hot);
	assert_true(idle2 >= cold);
	pages_free(&p);
	json_decref(j);
}

/* Aging, not reclaim: nothing swapped, no refaults, nothing stolen, RSS kept. */
static void test_mglru_no_reclaim(void **state)
{
	static const char *const keys[] = {
		"pswpout", "pgsteal_anon", "pgsteal_file", "workingset_refault_anon",
		"workingset_refault_file", "workingset_activate_anon", "workingset_restore_anon",
		"workingset_nodereclaim",
	};
	long rb = file_num("rss.before", "VmRSS:"), ra = file_num("rss.after", "VmRSS:");
	int checked = 0;

	(void)state;
	need_rig();
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		long b = file_num("vmstat.before", keys[i]), a = file_num("vmstat.after", keys[i]);

		if (b < 0 && a < 0)
			continue;	/* not in this kernel's vmstat */
		printf("# %s %ld -> %ld\n", keys[i], b, a);
		assert_int_equal(a, b);
		checked++;
	}
	printf("# VmRSS %ld kB -> %ld kB\n", rb, ra);
	assert_true(checked >= 4);
	assert_true(rb > 0 && ra >= rb);
}

/* The contract: keys and types, inclusive ends, equal-age neighbours merged. */
static void check_contract(json_t *doc, double interval)
{
	static const char *const vkeys[] = { "pid", "name", "age_driver", "scans", "interval_s",
					     "ranges" };
	static const char *const rkeys[] = { "gfn_start", "gfn_end", "hva_start", "hva_end",
					     "idle_age", "idle_seconds" };
	json_t *vms = json_object_get(doc, "vms"), *vm, *r, *prev = NULL;
	size_t i, merged_ok = 0;

	assert_true(json_is_array(vms) && json_array_size(vms) == 1);
	vm = json_array_get(vms, 0);
	for (i = 0; i < 6; i++)
		assert_non_null(json_object_get(vm, vkeys[i]));
	assert_true(json_is_integer(json_object_get(vm, "pid")));
	assert_true(json_is_string(json_object_get(vm, "age_driver")));
	json_array_foreach(json_object_get(vm, "ranges"), i, r) {
		uint64_t gs, ge, hs, he;

		assert_int_equal(json_object_size(r), 6);
		for (size_t k = 0; k < 6; k++)
			assert_true(json_is_number(json_object_get(r, rkeys[k])));
		gs = json_integer_value(json_object_get(r, "gfn_start"));
		ge = json_integer_value(json_object_get(r, "gfn_end"));
		hs = json_integer_value(json_object_get(r, "hva_start"));
		he = json_integer_value(json_object_get(r, "hva_end"));
		assert_true(ge >= gs);
		assert_int_equal(he - hs + 1, (ge - gs + 1) * 4096);
		assert_true(json_number_value(json_object_get(r, "idle_seconds")) ==
			    json_integer_value(json_object_get(r, "idle_age")) * interval);
		if (prev) {
			uint64_t pe = json_integer_value(json_object_get(prev, "gfn_end"));
			uint64_t phe = json_integer_value(json_object_get(prev, "hva_end"));

			assert_true(gs > pe);
			/* touching and of equal age would have been one range */
			if (gs == pe + 1 && hs == phe + 1)
				assert_true(json_integer_value(json_object_get(r, "idle_age")) !=
					    json_integer_value(json_object_get(prev, "idle_age")));
			merged_ok++;
		}
		prev = r;
	}
	printf("# %zu ranges checked\n", merged_ok + (prev != NULL));
}

static void test_json_contract(void **state)
{
	json_t *j;

	(void)state;
	need_rig();
	j = load("mglru.json");
	check_contract(j, 1.0);
	json_decref(j);
}

/*
 * DAMON samples: its accuracy is measured and printed.  Asserted: it ran
 * every scan, aged pages, found most of the hot set (recall) and little
 * else (precision).  Recall varies with where DAMON's random samples land
 * and with tests its young check short-circuits (host pte young, folio not
 * idle): a hot page seen only by a first clear has no age yet.
 */
static void test_damon_accuracy(void **state)
{
	double prec, rec;
	uint64_t aged, hot;
	struct pages p;

	(void)state;
	need_rig();
	assert_int_equal(file_num("damon.err", "status"), 0);
	pages_load(&p, "damon.json");
	assert_string_equal(json_string_value(json_object_get(p.vm, "age_driver")), "damon");
	assert_true(json_is_true(json_object_get(p.vm, "sampled")));
	pages_pr(&p, &prec, &rec, &aged, &hot);
	printf("# DAMON, %ld scans of %.0f s: %" PRIu64 " of %" PRIu64 " data pages sampled at "
	       "least once; hot set (age 0) precision %.4f recall %.4f (%" PRIu64 " hot; the "
	       "hot share of touched pages is %.2f)\n", p.scans, p.interval, aged, p.n, prec, rec,
	       hot, 256.0 / 1280);
	assert_true(p.scans >= 5);
	assert_true(aged > 0);
	/* measured 0.8320 and 0.9883 in two runs since the fix below */
	assert_true(rec >= 0.7);
	/* measured 0.9961 once kvm_test_age_gfn's bool is read by its low byte
	 * (aging.bpf.h kh_ret_bool); 0.21-0.37 before, when every test read young */
	assert_true(prec >= 0.9);
	pages_free(&p);
}

static void result_line(const char *check)
{
	char key[128];
	const char *p;

	need_rig();
	snprintf(key, sizeof(key), "KHIDLE result %s ", check);
	p = strstr(rig.console, key);
	if (!p)
		fail_msg("no result line for %s", check);
	printf("# %.*s\n", (int)strcspn(p, "\n"), p);
	assert_true(!strncmp(p + strlen(key), "pass", 4));
}

static void test_damon_cleanup(void **state) { (void)state; result_line("damon_cleanup"); }
static void test_sigint_damon(void **state) { (void)state; result_line("sigint_damon"); }
static void test_sigint_mglru(void **state) { (void)state; result_line("sigint_mglru"); }
static void test_sigkill_damon(void **state) { (void)state; result_line("sigkill_damon"); }

/* A VM that exits mid-scan: exit 0, valid JSON, the reason said. */
static void test_vm_exit(void **state)
{
	json_t *j, *vm;
	const char *why;

	(void)state;
	need_rig();
	assert_int_equal(file_num("exit.err", "status"), 0);
	j = load("exit.json");
	check_contract(j, 1.0);
	vm = json_array_get(json_object_get(j, "vms"), 0);
	why = json_string_value(json_object_get(vm, "stopped"));
	printf("# stopped: %s\n", why ? why : "(none)");
	assert_non_null(why);
	assert_non_null(strstr(why, "exited"));
	assert_true(json_integer_value(json_object_get(vm, "scans")) < 100);
	json_decref(j);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_probe_drivers),
		cmocka_unit_test(test_mglru_ages),
		cmocka_unit_test(test_mglru_hot_pr),
		cmocka_unit_test(test_mglru_no_reclaim),
		cmocka_unit_test(test_mglru_thp),
		cmocka_unit_test(test_top_mglru),
		cmocka_unit_test(test_json_contract),
		cmocka_unit_test(test_record_mglru),
		cmocka_unit_test(test_heat_mglru),
		cmocka_unit_test(test_damon_accuracy),
		cmocka_unit_test(test_damon_cleanup),
		cmocka_unit_test(test_sigint_damon),
		cmocka_unit_test(test_sigint_mglru),
		cmocka_unit_test(test_sigkill_damon),
		cmocka_unit_test(test_vm_exit),
	};

	return cmocka_run_group_tests_name("test_vmidle", tests, setup, teardown);
}
