// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * The nested-kernel rig (docs/VMTEST.md): Debian's 6.1 and 6.12 kernels,
 * each booted twice under QEMU (kvm_amd npt=1 and npt=0), run kvmheat
 * against khguest with every attach method the kernel offers.  The group
 * setup runs tools/vmtest/vmtest.sh once; every check the guest reports on
 * its console is one test here, so each counts in the suite's final line.
 * If QEMU or the kernels cannot be had, every test is skipped with the
 * reason, never passed.
 *
 * KH_VMTEST_SKIP=1 skips the rig (counted as skipped); KH_VMTEST_OUT=DIR
 * reads the logs of an earlier run from DIR instead of booting.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include "khtest.h"

static const char *const boots[] = { "6.1-npt1", "6.1-npt0", "6.12-npt1", "6.12-npt0" };
#define NBOOTS (sizeof(boots) / sizeof(boots[0]))

/* Checks every boot reports; "npt1"/"npt0": only with that setting. */
static const struct {
	const char *check;
	const char *only;
} checks[] = {
	{ "boot", NULL },
	{ "probe", NULL },
	{ "probe_spp", NULL },
	{ "aging_fentry", NULL },
	{ "aging_kprobe", NULL },
	{ "aging_tracepoint", NULL },
	{ "aging_agree_kprobe", NULL },
	{ "aging_agree_tracepoint", NULL },
	{ "tdp_aging", "npt1" },
	{ "aging_thp", "npt1" },	/* THP-backed guest memory aged as 2 MiB cells */
	{ "faults", "npt1" },
	{ "track_fentry", "npt0" },
	{ "track_kprobe", "npt0" },
	{ "track_events", "npt0" },
	{ "exit_status", NULL },	/* host side: QEMU's status agrees with the lines */
};
#define NCHECKS (sizeof(checks) / sizeof(checks[0]))

/* The real-guest stage (tools/vmtest/qemu/): QEMU with an L2 Linux guest in
 * the 6.12 and the 6.1 L1 kernel (each also the L2 kernel); tags carry "qemu". */
static const char *const qboots[] = { "6.12-qemu-npt1", "6.12-qemu-npt0", "6.1-qemu-npt1",
				      "6.1-qemu-npt0" };
#define NQBOOTS (sizeof(qboots) / sizeof(qboots[0]))

static const struct {
	const char *check;
	const char *only;
} qchecks[] = {
	{ "boot", NULL },
	{ "l2_boot", NULL },	/* khl2 ready in L2; the stall watchdog's retry */
	{ "discovery", NULL },	/* list -j: pid, vCPUs, memslots of both address spaces */
	{ "aging", "npt1" },	/* hot set vs L2's pagemap under memory.reclaim */
	{ "aging_as0", "npt1" },	/* SMM's address space not mixed into the counts */
	{ "faults", "npt1" },	/* first touches as kvm_page_fault gfns */
	{ "track", "npt0" },	/* heat -e track: L2's page-table page and sub-page */
	{ "track_events", "npt0" },	/* each write to the byte, on a page-table page */
	{ "names", NULL },	/* -name guest=NAME in kvmheat's views */
	{ "exit_status", NULL },
};
#define NQCHECKS (sizeof(qchecks) / sizeof(qchecks[0]))

struct rig {
	char out[512];
	char skip[1024];	/* non-empty: why nothing ran */
};

struct one {
	struct rig *rig;
	const char *boot;
	const char *check;
	bool qemu;		/* a check of the real-guest stage */
	char name[96];
};


/* Copy @path into the TAP log as comments. */
static void show_file(const char *path, const char *prefix)
{
	char *s = kh_slurp(path), *save = NULL;

	if (!s)
		return;
	for (char *l = strtok_r(s, "\n", &save); l; l = strtok_r(NULL, "\n", &save))
		printf("# %s%s\n", prefix, l);
	free(s);
}

/* Boot the matrix once, before the tests look at its logs. */
static void run_rig(struct rig *rig)
{
	const char *b = kh_build_dir(), *prev = getenv("KH_VMTEST_OUT");
	char cmd[2048], path[600];
	char *s;
	int rc;

	if (getenv("KH_VMTEST_SKIP") && strcmp(getenv("KH_VMTEST_SKIP"), "0")) {
		snprintf(rig->skip, sizeof(rig->skip), "KH_VMTEST_SKIP is set");
		return;
	}
	if (prev && *prev) {
		snprintf(rig->out, sizeof(rig->out), "%s", prev);
	} else {
		if (!kh_is_root()) {
			snprintf(rig->skip, sizeof(rig->skip), "the nested-kernel rig needs root");
			return;
		}
		snprintf(rig->out, sizeof(rig->out), "%s/vmtest", b);
		printf("# running tools/vmtest/vmtest.sh %s (fetch kernels, static build, "
		       "4 QEMU boots, then the real-guest stage's 4)\n", rig->out);
		fflush(stdout);
		snprintf(cmd, sizeof(cmd), "mkdir -p '%s' && ./tools/vmtest/vmtest.sh '%s' "
			 "> '%s/vmtest.log' 2>&1", rig->out, rig->out, rig->out);
		rc = system(cmd);
		snprintf(path, sizeof(path), "%s/vmtest.log", rig->out);
		show_file(path, "");
		if (rc) {
			snprintf(rig->skip, sizeof(rig->skip), "tools/vmtest/vmtest.sh failed "
				 "(status %d) before reporting; see %s", rc, path);
			/* a broken rig is a failure, not a skip: see test_one */
			return;
		}
	}
	snprintf(path, sizeof(path), "%s/skip", rig->out);
	s = kh_slurp(path);
	if (s) {
		s[strcspn(s, "\n")] = 0;
		snprintf(rig->skip, sizeof(rig->skip), "%s", s);
		free(s);
	}
}

/* Why the real-guest stage of @boot's L1 kernel did not run ("" if it did):
 * tools/vmtest/qemu/stage.sh leaves <kernel>-qemu-skip. */
static void qemu_skip_reason(const struct rig *rig, const char *boot, char *why, size_t len)
{
	char path[700];
	char *s;
	int n = (int)(strstr(boot, "-qemu") ? strstr(boot, "-qemu") - boot : 0);

	why[0] = 0;
	snprintf(path, sizeof(path), "%s/%.*s-qemu-skip", rig->out, n, boot);
	s = kh_slurp(path);
	if (s) {
		s[strcspn(s, "\n")] = 0;
		snprintf(why, len, "real-guest stage: %s", s);
		free(s);
	}
}

/* The console line "KHVT result <boot> <check> <verdict> <figures>". */
static char *find_result(const char *log, const char *boot, const char *check)
{
	char key[160];
	const char *p, *e;

	snprintf(key, sizeof(key), "KHVT result %s %s ", boot, check);
	p = strstr(log, key);
	if (!p)
		return NULL;
	e = strchr(p, '\n');
	return strndup(p + strlen(key), e ? (size_t)(e - p) - strlen(key) : strlen(p));
}

/* The last @n lines of the console, for a guest that never got there. */
static void show_tail(const char *log, int n)
{
	const char *p = log + strlen(log);

	for (int seen = 0; p > log && seen <= n; p--)
		seen += *p == '\n';
	printf("# --- last lines of the console ---\n");
	for (; *p; ) {
		const char *e = strchr(p, '\n');
		int len = e ? (int)(e - p) : (int)strlen(p);

		if (len)
			printf("# %.*s\n", len, p);
		p += len + (e ? 1 : 0);
	}
}

static void show_logs(const char *log, const char *boot)
{
	char key[64];

	snprintf(key, sizeof(key), "KHVT log ");
	for (const char *p = strstr(log, key); p; p = strstr(p + 1, key)) {
		const char *e = strchr(p, '\n');

		printf("# %.*s\n", e ? (int)(e - p) : (int)strlen(p), p);
	}
	(void)boot;
}

static void check_exit_status(const struct rig *rig, const char *boot, const char *log)
{
	char path[700], *rcs, done[64];
	int rc;
	bool any_fail;

	snprintf(path, sizeof(path), "%s/%s.rc", rig->out, boot);
	rcs = kh_slurp(path);
	if (!rcs)
		fail_msg("no QEMU status for %s: the boot did not run", boot);
	rc = atoi(rcs);
	free(rcs);
	snprintf(done, sizeof(done), "KHVT done %s", boot);
	snprintf(path, sizeof(path), "KHVT result %s ", boot);
	any_fail = false;
	for (const char *p = strstr(log, path); p; p = strstr(p + 1, path)) {
		const char *v = p + strlen(path);

		v = strchr(v, ' ');
		any_fail |= v && !strncmp(v + 1, "fail", 4);
	}
	printf("# QEMU exit status %d (isa-debug-exit: 1 = all passed, 3 = a check failed; "
	       "124 = timeout; 0 = guest reset or panic); console %s \"KHVT done\"\n", rc,
	       strstr(log, done) ? "has" : "lacks");
	if (!strstr(log, done) || (rc != 1 && rc != 3)) {
		show_tail(log, 30);
		fail_msg("%s did not finish through the exit device (status %d)", boot, rc);
	}
	assert_int_equal(rc, any_fail ? 3 : 1);
}

static void test_one(void **state)
{
	const struct one *t = *state;
	const struct rig *rig = t->rig;
	char path[700], *log, *res;
	bool passed;

	if (rig->skip[0]) {
		if (strstr(rig->skip, "vmtest.sh failed"))
			fail_msg("%s", rig->skip);
		KH_SKIP("%s", rig->skip);
	}
	if (t->qemu) {
		char why[1100];

		qemu_skip_reason(rig, t->boot, why, sizeof(why));
		if (why[0])
			KH_SKIP("%s", why);
	}
	snprintf(path, sizeof(path), "%s/%s.log", rig->out, t->boot);
	log = kh_slurp(path);
	if (!log)
		fail_msg("no console log %s: the boot did not run", path);
	if (!strcmp(t->check, "exit_status")) {
		check_exit_status(rig, t->boot, log);
		free(log);
		return;
	}
	res = find_result(log, t->boot, t->check);
	if (!res) {
		show_logs(log, t->boot);
		show_tail(log, 30);
		free(log);
		fail_msg("%s: the guest reported no result for %s", t->boot, t->check);
		return;	/* cmocka's fail_msg is not marked noreturn */
	}
	printf("# %s %s: %s\n", t->boot, t->check, res);
	if (!strncmp(res, "skip", 4)) {
		char why[256];

		snprintf(why, sizeof(why), "%s", res);
		free(res);
		free(log);
		KH_SKIP("%s", why);
	}
	passed = !strncmp(res, "pass", 4);
	if (!passed)
		show_logs(log, t->boot);
	free(log);
	free(res);
	assert_true(passed);
}

int main(void)
{
	static struct one ones[NBOOTS * NCHECKS + NQBOOTS * NQCHECKS];
	struct CMUnitTest tests[NBOOTS * NCHECKS + NQBOOTS * NQCHECKS];
	static struct rig rig;
	size_t n = 0;

	run_rig(&rig);
	for (size_t b = 0; b < NBOOTS; b++) {
		for (size_t c = 0; c < NCHECKS; c++) {
			struct one *o = &ones[n];

			if (checks[c].only && !strstr(boots[b], checks[c].only))
				continue;
			o->rig = &rig;
			o->boot = boots[b];
			o->check = checks[c].check;
			snprintf(o->name, sizeof(o->name), "%s %s", boots[b], checks[c].check);
			tests[n] = (struct CMUnitTest){
				.name = o->name, .test_func = test_one, .initial_state = o,
			};
			n++;
		}
	}
	for (size_t b = 0; b < NQBOOTS; b++) {
		for (size_t c = 0; c < NQCHECKS; c++) {
			struct one *o = &ones[n];

			if (qchecks[c].only && !strstr(qboots[b], qchecks[c].only))
				continue;
			*o = (struct one){ .rig = &rig, .boot = qboots[b], .check = qchecks[c].check,
					   .qemu = true };
			snprintf(o->name, sizeof(o->name), "%s %s", qboots[b], qchecks[c].check);
			tests[n] = (struct CMUnitTest){
				.name = o->name, .test_func = test_one, .initial_state = o,
			};
			n++;
		}
	}
	return _cmocka_run_group_tests("nested kernels (Debian 6.1, 6.12 under QEMU; QEMU with a "
				       "Linux guest in both)", tests, n, NULL, NULL);
}
