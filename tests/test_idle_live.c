// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * kvmheat idle on this host, against a real khguest: with no usable aging
 * driver (the project's machine: no page_idle, no MGLRU, a DAMON that is
 * not ours) it carries on passively and says so, or fails with every
 * driver's reason when nothing aged the VM at all; a forced driver that
 * refuses fails with its reason; bad options get one-line errors.  top
 * and export with --age-driver auto carry on passively after one line.
 */
#define _GNU_SOURCE
#include "khlive.h"

/* What `kvmheat probe -j` chose as aging driver here ("passive": none). */
static char *chosen_driver(void)
{
	char *kh = bin("kvmheat"), *out, *err, *r = NULL;
	char *args[] = { kh, "probe", "-j", NULL };
	json_t *j;

	run(&out, &err, 60, args);
	j = json_loads(out, 0, NULL);
	if (j)
		r = strdup(json_string_value(json_object_get(json_object_get(j, "age_drivers"),
							     "chosen")) ?: "?");
	json_decref(j);
	free(out);
	free(err);
	free(kh);
	return r;
}

static void test_idle_passive(void **state)
{
	char guest[256], pidstr[16], *kh, *out, *err, *drv;
	char *gargs[] = { guest, "--mem", "4", "--hot", "64", "--cold", "64", "--rounds", "8",
			  "--hot-phases", "7", "--pause-ms", "700", NULL };
	struct proc g;
	json_t *j, *vm;
	int rc;

	need_kvm();
	drv = chosen_driver();
	assert_non_null(drv);
	path_of(guest, sizeof(guest), "khguest");
	spawn(&g, gargs);
	live_track(state, g.pid);
	assert_true(wait_for(g.err, "ready", 10));
	snprintf(pidstr, sizeof(pidstr), "%d", g.pid);
	kh = bin("kvmheat");
	{
		char *args[] = { kh, "idle", "-j", "-p", pidstr, "--scans", "3", "--interval",
				 "0.5", "--min-age", "0", NULL };

		rc = run(&out, &err, 60, args);
	}
	printf("# probe chose %s; idle exit %d\n", drv, rc);
	print_lines(err);
	j = json_loads(out, 0, NULL);
	assert_non_null(j);
	if (strcmp(drv, "passive")) {
		/* a host with a driver: it must have been used */
		assert_int_equal(rc, 0);
		vm = json_array_get(json_object_get(j, "vms"), 0);
		assert_string_equal(json_string_value(json_object_get(vm, "age_driver")), drv);
	} else if (rc == 0) {
		/* something else aged it: the ranges stand, and how little is said */
		vm = json_array_get(json_object_get(j, "vms"), 0);
		assert_string_equal(json_string_value(json_object_get(vm, "age_driver")), "passive");
		assert_non_null(strstr(err, "passive only"));
		assert_non_null(strstr(err, "no aging driver usable"));
	} else {
		/* nothing aged it: exit 4 with every driver's reason */
		assert_int_equal(rc, 4);
		assert_non_null(strstr(json_string_value(json_object_get(j, "error")),
				       "no aging driver is usable"));
		assert_non_null(strstr(err, "page_idle:"));
		assert_non_null(strstr(err, "damon:"));
	}
	json_decref(j);
	free(out);
	free(err);

	/* a forced driver that refuses: exit 4 and its reason, on this host */
	if (!strcmp(drv, "passive")) {
		char *args[] = { kh, "idle", "-p", pidstr, "--scans", "1", "--age-driver", "mglru",
				 NULL };

		rc = run(&out, &err, 60, args);
		printf("# forced mglru: exit %d: %s", rc, err);
		assert_int_equal(rc, 4);
		assert_non_null(strstr(err, "aging driver mglru refused"));
		free(out);
		free(err);
	}
	kill(g.pid, SIGTERM);
	wait_exit(g.pid, 10);
	free(kh);
	free(drv);
}

static void test_idle_bad_options(void **state)
{
	static const char *const bad[][4] = {
		{ "--scans", "0", NULL }, { "--interval", "-1", NULL }, { "--min-age", "300", NULL },
		{ "--age-driver", "clear_refs", NULL }, { "--format", "xml", NULL }, { NULL },
	};
	char *kh, *out, *err;

	(void)state;
	if (!kh_is_root())
		KH_SKIP("kvmheat idle checks privileges first: needs root");
	kh = bin("kvmheat");
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char *args[8] = { kh, "idle", "-p", "1" };
		int n = 4;

		for (int k = 0; bad[i][k]; k++)
			args[n++] = (char *)bad[i][k];
		if (!bad[i][0])
			n = 2;	/* no -p at all */
		args[n] = NULL;
		assert_int_equal(run(&out, &err, 30, args), 2);
		assert_non_null(strstr(err, "kvmheat: error: idle:"));
		/* one line: its only newline is the last character */
		assert_true(strchr(err, '\n') == err + strlen(err) - 1);
		free(out);
		free(err);
	}
	free(kh);
}

/* Occurrences of @needle in @s. */
static int count_of(const char *s, const char *needle)
{
	int n = 0;

	for (const char *p = s; (p = strstr(p, needle)); p += strlen(needle))
		n++;
	return n;
}

/*
 * A small khguest that runs for a while (40 rounds, @pause_ms apart) and
 * the driver probe says this host would pick ("passive": none).
 */
static bool views_guest(void **state, struct proc *g, const char *pause_ms, char pidstr[16],
			char **drv)
{
	char guest[256];
	char *gargs[] = { guest, "--mem", "4", "--hot", "64", "--cold", "64", "--rounds", "40",
			  "--hot-phases", "39", "--pause-ms", (char *)pause_ms, NULL };

	need_kvm();
	*drv = chosen_driver();
	assert_non_null(*drv);
	path_of(guest, sizeof(guest), "khguest");
	spawn(g, gargs);
	live_track(state, g->pid);
	assert_true(wait_for(g->err, "ready", 10));
	snprintf(pidstr, 16, "%d", g->pid);
	return !strcmp(*drv, "passive");
}

/*
 * top and export with --age-driver auto on a host where no driver works:
 * they carry on passively after one warning line naming every driver's
 * reason, and show no idle figures (top's rows get no "idle" object,
 * export no idle series); a named driver that refuses is exit 4.  On a
 * host with a driver, the driver must show up in both.
 */
static void test_views_auto(void **state)
{
	char pidstr[16], prom[512], *kh, *out, *err, *drv, *txt;
	struct proc g, e;
	bool passive = views_guest(state, &g, "500", pidstr, &drv);
	int rc;

	kh = bin("kvmheat");
	{
		char *args[] = { kh, "top", "-b", "-j", "-n", "3", "-d", "0.5", "-p", pidstr,
				 "--age-driver", "auto", NULL };
		char *save = NULL, *line;
		int rows = 0;

		rc = run(&out, &err, 60, args);
		printf("# top --age-driver auto (probe: %s): exit %d\n", drv, rc);
		print_lines(err);
		assert_int_equal(rc, 0);
		assert_int_equal(count_of(err, "no aging driver usable"), passive ? 1 : 0);
		for (line = strtok_r(out, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
			json_t *j = json_loads(line, 0, NULL), *vm;

			assert_non_null(j);
			vm = vm_of(j, g.pid);
			assert_non_null(vm);
			if (passive) {
				assert_null(json_object_get(vm, "idle"));
			} else {
				json_t *idle = json_object_get(vm, "idle");

				/* null until the first scan is folded, then the driver's */
				if (json_is_object(idle))
					assert_string_equal(json_string_value(json_object_get(idle,
							    "age_driver")), drv);
			}
			rows++;
			json_decref(j);
		}
		assert_int_equal(rows, 3);
		free(out);
		free(err);
	}
	if (passive) {
		char *args[] = { kh, "top", "-b", "-n", "1", "-p", pidstr, "--age-driver", "mglru",
				 NULL };

		rc = run(&out, &err, 60, args);
		printf("# top --age-driver mglru: exit %d: %s", rc, err);
		assert_int_equal(rc, 4);
		assert_non_null(strstr(err, "kvmheat: error: top: aging driver mglru refused"));
		free(out);
		free(err);
	}
	/* export: the textfile after a few intervals, then SIGTERM */
	tpath(prom, sizeof(prom), "idle.prom");
	{
		char *args[] = { kh, "export", "--textfile", prom, "-i", "0.5", "-p", pidstr,
				 "--age-driver", "auto", NULL };

		unlink(prom);
		spawn(&e, args);
		live_track(state, e.pid);
		assert_true(wait_for(e.err, "writing", 30));
		usleep(2000000);
		kill(e.pid, SIGTERM);
		rc = wait_exit(e.pid, 15);
		err = slurp(e.err);
		printf("# export --age-driver auto: exit %d\n", rc);
		print_lines(err);
		assert_int_equal(rc, 0);
		assert_int_equal(count_of(err, "no aging driver usable"), passive ? 1 : 0);
		txt = slurp(prom);
		assert_non_null(txt);
		assert_non_null(strstr(txt, "kvmheat_page_accesses_total{domain="));
		if (passive) {
			assert_null(strstr(txt, "kvmheat_idle"));
			assert_null(strstr(txt, "kvmheat_cold_bytes"));
		} else {
			assert_non_null(strstr(txt, "kvmheat_idle_scans_total{domain="));
		}
		free(txt);
		free(err);
		proc_cleanup(&e);
	}
	kill(g.pid, SIGTERM);
	wait_exit(g.pid, 10);
	free(kh);
	free(drv);
}

/*
 * heat and record with --age-driver: auto carries on passively after one
 * line on a host with no usable driver (heat's and report's "idle" are
 * null), and a named driver the host refuses is exit 4 before record
 * writes anything.  With a driver, its ages must show in both.
 */
static void test_heat_record_auto(void **state)
{
	char pidstr[16], data[512], *kh, *out, *err, *drv;
	json_t *j, *idle;
	struct proc g;
	bool passive = views_guest(state, &g, "300", pidstr, &drv);
	int rc;

	kh = bin("kvmheat");
	tpath(data, sizeof(data), "idle.data");
	{
		char *args[] = { kh, "heat", "-j", "-d", "2", "-p", pidstr, "--age-driver", "auto",
				 "--ws-scans", "2", NULL };

		rc = run(&out, &err, 60, args);
		printf("# heat --age-driver auto (probe: %s): exit %d\n", drv, rc);
		print_lines(err);
		assert_int_equal(rc, 0);
		assert_int_equal(count_of(err, "no aging driver usable"), passive ? 1 : 0);
		j = json_loads(out, 0, NULL);
		assert_non_null(j);
		idle = json_object_get(vm_of(j, g.pid), "idle");
		assert_true(passive ? json_is_null(idle) : json_is_object(idle));
		json_decref(j);
		free(out);
		free(err);
	}
	{
		char *args[] = { kh, "record", "-d", "2", "-F", "250", "-p", pidstr, "-o", data,
				 "--age-driver", "auto", NULL };
		char *rargs[] = { kh, "report", "-i", data, "-j", NULL };

		unlink(data);
		rc = run(&out, &err, 60, args);
		printf("# record --age-driver auto: exit %d\n", rc);
		print_lines(err);
		assert_int_equal(rc, 0);
		assert_int_equal(count_of(err, "no aging driver usable"), passive ? 1 : 0);
		free(out);
		free(err);
		rc = run(&out, &err, 60, rargs);
		assert_int_equal(rc, 0);
		j = json_loads(out, 0, NULL);
		assert_non_null(j);
		idle = json_object_get(vm_of(j, g.pid), "idle");
		assert_true(passive ? json_is_null(idle) : json_is_object(idle));
		json_decref(j);
		free(out);
		free(err);
	}
	if (passive) {
		char *hargs[] = { kh, "heat", "-d", "1", "-p", pidstr, "--age-driver", "mglru", NULL };
		char *args[] = { kh, "record", "-d", "1", "-p", pidstr, "-o", data, "--age-driver",
				 "mglru", NULL };

		rc = run(&out, &err, 60, hargs);
		assert_int_equal(rc, 4);
		assert_non_null(strstr(err, "kvmheat: error: heat: aging driver mglru refused"));
		free(out);
		free(err);
		unlink(data);
		rc = run(&out, &err, 60, args);
		printf("# record --age-driver mglru: exit %d: %s", rc, err);
		assert_int_equal(rc, 4);
		assert_non_null(strstr(err, "kvmheat: error: record: aging driver mglru refused"));
		assert_int_equal(access(data, F_OK), -1);	/* refused before any file */
		free(out);
		free(err);
	}
	kill(g.pid, SIGTERM);
	wait_exit(g.pid, 10);
	free(kh);
	free(drv);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		LIVE_TEST(test_idle_passive),
		LIVE_TEST(test_views_auto),
		LIVE_TEST(test_heat_record_auto),
		cmocka_unit_test(test_idle_bad_options),
	};

	return cmocka_run_group_tests_name("test_idle_live", tests, tmpdir_setup, tmpdir_teardown);
}
