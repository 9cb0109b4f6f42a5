// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * Live end-to-end tests on this machine's real KVM: run the khguest
 * workload with a known pattern, trace it with the kvmheat binary, and
 * compare what kvmheat reports with the guest's ground truth.
 *
 * KH_E2E_SEED=N replays the randomised workload of a failed run.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <time.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <jansson.h>
#include "khtest.h"
#include "khlive.h"
#include "kvmheat.h"

struct run {
	json_t *truth;
	json_t *heat;
	json_t *vm;		/* heat's entry for the guest */
	int guest_rc, kh_rc;
};

/* The guest's truth and heat's JSON output (files the children wrote). */
static void run_load(struct run *r, const char *truth, const char *heat)
{
	json_error_t je;

	r->truth = json_load_file(truth, 0, &je);
	assert_non_null(r->truth);
	r->heat = json_load_file(heat, 0, &je);
	if (!r->heat)
		printf("# heat JSON: %s at line %d\n", je.text, je.line);
	assert_non_null(r->heat);
}

/*
 * khguest --wait-signal ARGS...; kvmheat heat -p PID -j; release the
 * guest once kvmheat is attached; kvmheat ends when the guest exits.
 */
static void run_traced(void **state, struct run *r, const char *const gargs[],
		       const char *const kargs[])
{
	struct traced_guest t;

	memset(r, 0, sizeof(*r));
	start_traced(state, &t, "heat", "60", gargs, kargs);
	r->guest_rc = wait_exit(t.g.pid, 120);
	r->kh_rc = wait_exit(t.k.pid, 30);
	if (r->guest_rc || r->kh_rc) {
		show("khguest stderr", t.g.err);
		show("kvmheat stderr", t.k.err);
	}
	assert_int_equal(r->guest_rc, 0);
	assert_int_equal(r->kh_rc, 0);
	run_load(r, t.truth, t.k.out);
	r->vm = vm_of(r->heat, t.g.pid);
	assert_non_null(r->vm);
	proc_cleanup(&t.g);
	proc_cleanup(&t.k);
	unlink(t.truth);
}

static void run_free(struct run *r)
{
	json_decref(r->truth);
	json_decref(r->heat);
}

/*
 * Compare kvmheat's per-gfn table for the data slot with the truth
 * (tests/khlive.h).
 */
static void check_against_truth(struct run *r)
{
	kh_check_truth(r->truth, json_object_get(r->vm, "gfns"));
}

static void test_list_shows_running_guest(void **state)
{
	char guest[256], kvmheat[256], pidstr[16];
	struct proc g, k;
	json_t *root, *vm, *slots;
	json_error_t je;
	int rc;

	need_kvm();
	path_of(guest, sizeof(guest), "khguest");
	path_of(kvmheat, sizeof(kvmheat), "kvmheat");
	spawn(&g, (char *const[]){ guest, "--wait-signal", "--mem", "32", NULL });
	assert_true(wait_for(g.err, "ready", 10));
	snprintf(pidstr, sizeof(pidstr), "%d", g.pid);
	spawn(&k, (char *const[]){ kvmheat, "list", "-j", "-p", pidstr, NULL });
	rc = wait_exit(k.pid, 30);
	kill(g.pid, SIGTERM);
	wait_exit(g.pid, 10);
	if (rc)
		show("kvmheat list stderr", k.err);
	assert_int_equal(rc, 0);
	root = json_load_file(k.out, 0, &je);
	assert_non_null(root);
	assert_int_equal(json_array_size(json_object_get(root, "vms")), 1);
	vm = json_array_get(json_object_get(root, "vms"), 0);
	assert_int_equal(jint(vm, "pid"), g.pid);
	assert_string_equal(json_string_value(json_object_get(vm, "comm")), "khguest");
	assert_int_equal(jint(vm, "vcpus"), 1);
	slots = json_object_get(vm, "memslots");
	assert_int_equal(json_array_size(slots), 2);
	/* the data slot: 32 MiB at 1 GiB (khguest defaults) */
	assert_int_equal(jint(json_array_get(slots, 1), "gpa"), 0x40000000);
	assert_int_equal(jint(json_array_get(slots, 1), "size"), 32 << 20);
	json_decref(root);
	proc_cleanup(&g);
	proc_cleanup(&k);
}

static void test_heat_matches_truth(void **state)
{
	const char *g[] = { "--mem", "64", "--hot", "200", "--cold", "600", "--rounds", "12",
			    "--write-frac", "0.3", "--seed", "7", NULL };
	struct run r;

	need_kvm();
	run_traced(state, &r, g, NULL);
	check_against_truth(&r);
	run_free(&r);
}

static void test_heat_matches_truth_randomised(void **state)
{
	struct workload w;
	struct run r;

	need_kvm();
	run_traced(state, &r, random_workload(&w), NULL);
	check_against_truth(&r);
	run_free(&r);
}

/* Same workload, walk source forced to raw_tp: the fallback must agree. */
static void test_heat_raw_tp_fallback(void **state)
{
	const char *g[] = { "--hot", "100", "--cold", "300", "--rounds", "8", "--seed", "3",
			    NULL };
	const char *k[] = { "-m", "walk=raw_tp", "-m", "aging=raw_tp", NULL };
	json_t *src;
	struct run r;

	need_kvm();
	run_traced(state, &r, g, k);
	src = json_array_get(json_object_get(r.heat, "sources"), KH_SRC_WALK);
	assert_non_null(strstr(json_string_value(json_object_get(src, "hooks")),
			       "raw_tp:kvm_mmu_pagetable_walk"));
	check_against_truth(&r);
	run_free(&r);
}

/*
 * Real aging: the guest's data is a file in a memory cgroup whose limit
 * is squeezed, so reclaim ages its pages through KVM's MMU notifier.
 * kvmheat must attribute the aging to this VM's memslots.
 */
static void test_aging_attributed_to_guest(void **state)
{
	const char *g[] = { "--mem", "64", "--hot", "1024", "--cold", "8192", "--rounds", "2",
			    "--file", "/var/tmp/kh-e2e-aging.img", "--cgroup", "kh-e2e-aging",
			    "--squeeze", "24", NULL };
	json_t *gfns, *stats;
	int64_t aged_gfns = 0, aged = 0, outside = 0;
	struct run r;

	need_kvm();
	if (access("/sys/fs/cgroup/memory", F_OK))
		KH_SKIP("no cgroup-v1 memory controller at /sys/fs/cgroup/memory");
	run_traced(state, &r, g, NULL);
	if (!json_is_true(json_object_get(json_object_get(r.truth, "squeeze"), "ok")))
		printf("# warning: khguest reports the squeeze did not complete\n");
	gfns = json_object_get(r.vm, "gfns");
	for (size_t i = 0; i < json_array_size(gfns); i++) {
		json_t *e = json_array_get(gfns, i);
		uint64_t gfn = jint(e, "gfn");
		bool in = false;
		json_t *slots = json_object_get(r.vm, "memslots");

		if (!jint(e, "aged"))
			continue;
		aged_gfns++;
		aged += jint(e, "aged");
		for (size_t s = 0; s < json_array_size(slots); s++) {
			json_t *sl = json_array_get(slots, s);
			uint64_t lo = jint(sl, "gpa") >> KH_PAGE_SHIFT;

			in |= gfn >= lo && gfn < lo + (jint(sl, "size") >> KH_PAGE_SHIFT);
		}
		outside += !in;
	}
	stats = json_object_get(json_object_get(r.heat, "stats"), "aging");
	printf("# aging: %lld checks over %lld gfns, %lld outside memslots; events %lld, "
	       "unattributed %lld\n", (long long)aged, (long long)aged_gfns, (long long)outside,
	       (long long)jint(stats, "events"), (long long)jint(stats, "no_vm"));
	assert_true(aged_gfns >= 100);
	assert_int_equal(outside, 0);
	run_free(&r);
}

/*
 * Default map sizes under an aging sweep of a VM twice the per-gfn table:
 * reclaim (squeezed after the last phase too, so after every hot access)
 * ages every resident page.  The hot pages must keep their entries and
 * counts; the sweep's old pages beyond the table are region-level only.
 */
static void sweep_keeps_hot_pages(void **state, const char *const kargs[])
{
	const char *g[] = { "--mem", "128", "--hot", "256", "--cold", "30000", "--rounds", "10",
			    "--file", "/var/tmp/kh-e2e-sweep.img", "--cgroup", "kh-e2e-sweep",
			    "--squeeze", "40", "--squeeze-last", NULL };
	json_t *pages, *gfns, *stats, *pat;
	int64_t entries, hot_ok = 0, nhot = 0, cold_hi = 0, thr2;
	uint64_t base, n;
	int64_t *acc;
	struct run r;

	need_kvm();
	if (access("/sys/fs/cgroup/memory", F_OK))
		KH_SKIP("no cgroup-v1 memory controller at /sys/fs/cgroup/memory");
	run_traced(state, &r, g, kargs);
	entries = jint(json_object_get(r.heat, "maps"), "gfn_entries");
	n = jint(r.truth, "data_pages");
	base = jint(r.truth, "data_gpa") >> KH_PAGE_SHIFT;
	pat = json_object_get(r.truth, "pattern");
	thr2 = jint(pat, "hot_accesses") + jint(pat, "cold_accesses");	/* 2 x threshold */
	stats = json_object_get(json_object_get(r.heat, "stats"), "aging");
	acc = calloc(n, sizeof(*acc));
	assert_non_null(acc);
	gfns = json_object_get(r.vm, "gfns");
	for (size_t i = 0; i < json_array_size(gfns); i++) {
		json_t *e = json_array_get(gfns, i);
		uint64_t gfn = jint(e, "gfn");

		if (gfn >= base && gfn < base + n)
			acc[gfn - base] = jint(e, "accesses");
	}
	pages = json_object_get(r.truth, "pages");
	for (size_t i = 0; i < json_array_size(pages); i++) {
		json_t *p = json_array_get(pages, i);
		int64_t a = acc[jint(p, "gfn") - base];

		if (json_is_true(json_object_get(p, "hot"))) {
			nhot++;
			hot_ok += 2 * a >= thr2;
		} else {
			cold_hi += 2 * a >= thr2;
		}
	}
	printf("# table %lld entries for %zu truth pages; aging events %lld, region-level only "
	       "%lld; hot pages kept with their counts %lld of %lld, cold above threshold %lld\n",
	       (long long)entries, json_array_size(pages), (long long)jint(stats, "events"),
	       (long long)jint(stats, "truncated"), (long long)hot_ok, (long long)nhot,
	       (long long)cold_hi);
	/* the sweep really was bigger than the table, and reached it */
	assert_true((size_t)entries < json_array_size(pages));
	assert_true(jint(stats, "truncated") > 0);
	assert_int_equal(hot_ok, nhot);
	assert_int_equal(cold_hi, 0);
	free(acc);
	run_free(&r);
}

/* The default table (16384 entries): the sweep is about twice its size. */
static void test_aging_sweep_keeps_hot_pages(void **state)
{
	sweep_keeps_hot_pages(state, NULL);
}

/*
 * A sweep seven times the table.  Measured 2026-12-02 on this host without
 * the rule (gfn_soft_cap 0): 1 of 256 hot pages kept its counts; with it 256.
 */
static void test_aging_sweep_keeps_hot_pages_small_table(void **state)
{
	sweep_keeps_hot_pages(state, (const char *const[]){ "--max-gfns", "4096", NULL });
}

/* A VM that starts after kvmheat attached (all-VM mode) is picked up. */
static void test_vm_started_later_is_found(void **state)
{
	char guest[256], kvmheat[256], truth[] = "/tmp/kh-e2e-truth-XXXXXX";
	struct proc g, k;
	struct run r = {};

	need_kvm();
	temp_file(truth);
	path_of(guest, sizeof(guest), "khguest");
	path_of(kvmheat, sizeof(kvmheat), "kvmheat");
	spawn(&k, (char *const[]){ kvmheat, "heat", "-j", "-d", "6", NULL });
	assert_true(wait_for(k.err, "tracing", 30));
	/* the pause keeps it alive across a rediscovery (once a second) */
	spawn(&g, (char *const[]){ guest, "--hot", "150", "--cold", "300", "--rounds", "9",
				   "--pause-ms", "1500", "--seed", "11", "--truth", truth, NULL });
	assert_int_equal(wait_exit(g.pid, 60), 0);
	assert_int_equal(wait_exit(k.pid, 30), 0);
	run_load(&r, truth, k.out);
	r.vm = vm_of(r.heat, g.pid);
	assert_non_null(r.vm);
	assert_int_equal(json_array_size(json_object_get(r.vm, "memslots")), 2);
	check_against_truth(&r);
	run_free(&r);
	unlink(truth);
	proc_cleanup(&g);
	proc_cleanup(&k);
}

/* Two kvmheat instances on one guest: each has its own maps, both are right. */
static void test_two_kvmheat_at_once(void **state)
{
	char guest[256], kvmheat[256], pidstr[16], truth[] = "/tmp/kh-e2e-truth-XXXXXX";
	struct proc g, by, k[2];

	need_kvm();
	temp_file(truth);
	path_of(guest, sizeof(guest), "khguest");
	path_of(kvmheat, sizeof(kvmheat), "kvmheat");
	/* an idle bystander VM that must not show up in -p output */
	spawn(&by, (char *const[]){ guest, "--wait-signal", "--mem", "16", NULL });
	assert_true(wait_for(by.err, "ready", 10));
	spawn(&g, (char *const[]){ guest, "--wait-signal", "--hot", "120", "--cold", "240",
				   "--rounds", "7", "--seed", "5", "--truth", truth, NULL });
	assert_true(wait_for(g.err, "ready", 10));
	snprintf(pidstr, sizeof(pidstr), "%d", g.pid);
	for (int i = 0; i < 2; i++) {
		spawn(&k[i], (char *const[]){ kvmheat, "heat", "-j", "-p", pidstr, "-d", "60",
					      NULL });
		assert_true(wait_for(k[i].err, "tracing", 30));
	}
	kill(g.pid, SIGUSR1);
	assert_int_equal(wait_exit(g.pid, 60), 0);
	for (int i = 0; i < 2; i++) {
		struct run r = {};

		assert_int_equal(wait_exit(k[i].pid, 30), 0);
		run_load(&r, truth, k[i].out);
		/* -p: exactly the one VM, even with others running on the host */
		assert_int_equal(json_array_size(json_object_get(r.heat, "vms")), 1);
		r.vm = json_array_get(json_object_get(r.heat, "vms"), 0);
		assert_int_equal(jint(r.vm, "pid"), g.pid);
		check_against_truth(&r);
		run_free(&r);
		proc_cleanup(&k[i]);
	}
	kill(by.pid, SIGTERM);
	wait_exit(by.pid, 10);
	proc_cleanup(&by);
	unlink(truth);
	proc_cleanup(&g);
}

static void test_bad_pid_is_one_line_error(void **state)
{
	char kvmheat[256];
	struct proc k;
	char *err;
	int rc;

	need_kvm();
	path_of(kvmheat, sizeof(kvmheat), "kvmheat");
	/* pid 1 exists and is not a VM */
	spawn(&k, (char *const[]){ kvmheat, "heat", "-p", "1", "-d", "1", NULL });
	rc = wait_exit(k.pid, 30);
	err = slurp(k.err);
	printf("# stderr: %s", err);
	assert_int_equal(rc, 3);
	assert_non_null(strstr(err, "pid 1 is not a KVM VM"));
	assert_non_null(strchr(err, '\n'));
	assert_null(strchr(strchr(err, '\n') + 1, '\n'));	/* exactly one line */
	free(err);
	proc_cleanup(&k);
}

static void test_probe_json_lists_four_sources(void **state)
{
	char kvmheat[256];
	struct proc k;
	json_t *root, *srcs;
	json_error_t je;
	const char *names[] = { "aging", "track", "spp", "walk" };

	need_kvm();
	path_of(kvmheat, sizeof(kvmheat), "kvmheat");
	spawn(&k, (char *const[]){ kvmheat, "probe", "-j", NULL });
	assert_int_equal(wait_exit(k.pid, 60), 0);
	root = json_load_file(k.out, 0, &je);
	assert_non_null(root);
	srcs = json_object_get(root, "sources");
	assert_int_equal(json_array_size(srcs), 4);
	for (int i = 0; i < 4; i++) {
		json_t *s = json_array_get(srcs, i);
		json_t *hooks = json_object_get(s, "hooks");

		assert_string_equal(json_string_value(json_object_get(s, "source")), names[i]);
		assert_true(json_is_boolean(json_object_get(s, "available")));
		assert_true(json_array_size(hooks) >= 1);
		for (size_t h = 0; h < json_array_size(hooks); h++) {
			json_t *hk = json_array_get(hooks, h);

			/* every hook says what it chose, or why not */
			if (json_is_null(json_object_get(hk, "chosen")) &&
			    !json_object_get(hk, "skipped")) {
				json_t *c = json_object_get(hk, "candidates");

				for (size_t j = 0; j < json_array_size(c); j++)
					assert_true(strlen(json_string_value(json_object_get(
						json_array_get(c, j), "reason"))) > 0);
			}
		}
	}
	json_decref(root);
	proc_cleanup(&k);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_probe_json_lists_four_sources),
		cmocka_unit_test(test_list_shows_running_guest),
		cmocka_unit_test(test_heat_matches_truth),
		cmocka_unit_test(test_heat_matches_truth_randomised),
		cmocka_unit_test(test_heat_raw_tp_fallback),
		cmocka_unit_test(test_aging_attributed_to_guest),
		cmocka_unit_test(test_aging_sweep_keeps_hot_pages),
		cmocka_unit_test(test_aging_sweep_keeps_hot_pages_small_table),
		cmocka_unit_test(test_vm_started_later_is_found),
		cmocka_unit_test(test_two_kvmheat_at_once),
		cmocka_unit_test(test_bad_pid_is_one_line_error),
	};

	return cmocka_run_group_tests_name("live end-to-end (khguest + kvmheat)", tests, NULL,
					   NULL);
}
