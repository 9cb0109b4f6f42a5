// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * kvmheat idle on this host, against a real khguest: with no usable aging
 * driver (the project's machine: no page_idle, no MGLRU, a DAMON that is
 * not ours) it carries on passively and says so, or fails with every
 * driver's reason when nothing aged the VM at all; a forced driver that
 * refuses fails with its reason; bad options get one-line errors.
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
	char *kh = bin("kvmheat"), *out, *err;

	(void)state;
	if (!kh_is_root())
		KH_SKIP("kvmheat idle checks privileges first: needs root");
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

int main(void)
{
	const struct CMUnitTest tests[] = {
		LIVE_TEST(test_idle_passive),
		cmocka_unit_test(test_idle_bad_options),
	};

	return cmocka_run_group_tests_name("test_idle_live", tests, tmpdir_setup, tmpdir_teardown);
}
