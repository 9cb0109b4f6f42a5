// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * Live: a VMM whose command line carries QEMU's `-name guest=NAME,...` and
 * `-uuid` (khguest takes both word for word) is listed under that name on
 * this host, `-p NAME` picks it in list, heat and report, an ambiguous or
 * unknown name is a one-line error, and a recording carries the name.
 */
#define _GNU_SOURCE
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <jansson.h>
#include "khtest.h"
#include "khlive.h"

#define UUID	"5a1e0c0d-1111-4222-8333-944455556666"

/* khguest -name guest=NAME,debug-threads=on -uuid UUID, held until SIGUSR1. */
static pid_t start_named(void **state, struct proc *g, const char *name)
{
	char guest[256], arg[128];

	path_of(guest, sizeof(guest), "khguest");
	snprintf(arg, sizeof(arg), "guest=%s,debug-threads=on", name);
	spawn(g, (char *[]){ guest, "-name", arg, "-uuid", UUID, "--wait-signal", "--hot", "64",
			     "--cold", "64", "--rounds", "3", NULL });
	live_track(state, g->pid);
	if (!wait_for(g->err, "ready", 10)) {
		show("khguest stderr", g->err);
		fail_msg("khguest did not get ready");
	}
	return g->pid;
}

static void stop(struct proc *g)
{
	kill(g->pid, SIGKILL);
	waitpid(g->pid, NULL, 0);
	proc_cleanup(g);
}

static void test_list_shows_cmdline_name(void **state)
{
	char *out, *err, *kh, name[64], pidstr[16];
	json_error_t je;
	struct proc g;
	json_t *root, *vm;
	pid_t pid;

	need_kvm();
	kh = bin("kvmheat");
	/* unique per run: another helper's guest must not share it */
	snprintf(name, sizeof(name), "kh-name,,test-%d", getpid());
	pid = start_named(state, &g, name);
	snprintf(name, sizeof(name), "kh-name,test-%d", getpid());	/* ',,' is one ',' */
	snprintf(pidstr, sizeof(pidstr), "%d", pid);
	assert_int_equal(run(&out, &err, 30, (char *[]){ kh, "list", "-j", NULL }), 0);
	root = json_loads(out, 0, &je);
	assert_non_null(root);
	vm = vm_of(root, pid);
	assert_non_null(vm);
	assert_string_equal(json_string_value(json_object_get(vm, "name")), name);
	assert_string_equal(json_string_value(json_object_get(vm, "name_source")), "cmdline");
	assert_string_equal(json_string_value(json_object_get(vm, "uuid")), UUID);
	assert_string_equal(json_string_value(json_object_get(vm, "comm")), "khguest");
	json_decref(root);
	free(out);
	free(err);

	/* -p NAME and -p UUID pick that VM alone */
	for (int i = 0; i < 2; i++) {
		assert_int_equal(run(&out, &err, 30, (char *[]){ kh, "list", "-j", "-p",
					i ? UUID : name, NULL }), 0);
		root = json_loads(out, 0, &je);
		assert_non_null(root);
		assert_int_equal(json_array_size(json_object_get(root, "vms")), 1);
		assert_non_null(vm_of(root, pid));
		json_decref(root);
		free(out);
		free(err);
	}
	/* text: the name column */
	assert_int_equal(run(&out, &err, 30, (char *[]){ kh, "list", "-p", name, NULL }), 0);
	assert_non_null(strstr(out, "NAME"));
	assert_non_null(strstr(out, name));
	assert_non_null(strstr(out, pidstr));
	free(out);
	free(err);
	/* heat -p NAME: the VM's block carries the name */
	assert_int_equal(run(&out, &err, 60, (char *[]){ kh, "heat", "-j", "-p", name, "-d",
						       "0.5", NULL }), 0);
	root = json_loads(out, 0, &je);
	assert_non_null(root);
	vm = vm_of(root, pid);
	assert_non_null(vm);
	assert_string_equal(json_string_value(json_object_get(vm, "name")), name);
	json_decref(root);
	free(out);
	free(err);
	/* record -p takes a list, split at commas: this name has one, so its uuid */
	{
		char data[256];

		tpath(data, sizeof(data), "byname.data");
		assert_int_equal(run(&out, &err, 60, (char *[]){ kh, "record", "-o", data, "-p",
							       UUID, "-d", "0.5", NULL }), 0);
		free(out);
		free(err);
		assert_int_equal(run(&out, &err, 60, (char *[]){ kh, "report", "-i", data, "-p",
							       name, NULL }), 0);
		assert_non_null(strstr(out, pidstr));
		assert_non_null(strstr(out, "name from cmdline"));
		free(out);
		free(err);
	}
	/* an unknown name: one line, "no VM" exit code */
	assert_int_equal(run(&out, &err, 30, (char *[]){ kh, "list", "-p", "kh-no-such-vm-name",
						       NULL }), 3);
	assert_non_null(strstr(err, "no VM is named 'kh-no-such-vm-name'"));
	free(out);
	free(err);
	/* trace -p NAME: every event line names its VM; the guest runs now */
	{
		struct proc t;
		char *tout, *needle;
		size_t named = 0;

		spawn(&t, (char *[]){ kh, "trace", "-j", "-p", name, "-d", "3", "-e", "walk",
				      NULL });
		live_track(state, t.pid);
		assert_true(wait_for(t.err, "tracing", 30));
		kill(pid, SIGUSR1);
		assert_int_equal(wait_exit(t.pid, 30), 0);
		tout = slurp(t.out);
		assert_non_null(tout);
		assert_true(asprintf(&needle, "\"name\":\"%s\"", name) > 0);
		for (char *p = strstr(tout, needle); p; p = strstr(p + 1, needle))
			named++;
		printf("# trace: %zu events named %s\n", named, name);
		assert_true(named > 0);
		free(needle);
		free(tout);
		proc_cleanup(&t);
	}
	stop(&g);
	free(kh);
}

/* libvirt's run-state beats the command line: NAME.pid holds the pid, NAME.xml the domain. */
static void test_libvirt_name_wins(void **state)
{
	char *out, *err, *kh, dir[256], path[300], name[64];
	json_error_t je;
	json_t *root, *vm;
	struct proc g;
	pid_t pid;
	FILE *f;

	need_kvm();
	kh = bin("kvmheat");
	snprintf(name, sizeof(name), "kh-cmdline-%d", getpid());
	pid = start_named(state, &g, name);
	tpath(dir, sizeof(dir), "libvirt");
	assert_int_equal(mkdir(dir, 0700), 0);
	snprintf(path, sizeof(path), "%s/prod-db.pid", dir);
	f = fopen(path, "w");
	assert_non_null(f);
	fprintf(f, "%d\n", pid);
	fclose(f);
	snprintf(path, sizeof(path), "%s/prod-db.xml", dir);
	f = fopen(path, "w");
	assert_non_null(f);
	fprintf(f, "<domstatus state='running' pid='%d'><domain type='kvm'><name>prod-db"
		"</name><uuid>11111111-2222-4333-8444-555555555555</uuid></domain>"
		"</domstatus>\n", pid);
	fclose(f);
	setenv("KH_LIBVIRT_DIR", dir, 1);
	assert_int_equal(run(&out, &err, 30, (char *[]){ kh, "list", "-j", "-p", "prod-db",
						       NULL }), 0);
	unsetenv("KH_LIBVIRT_DIR");
	root = json_loads(out, 0, &je);
	assert_non_null(root);
	vm = vm_of(root, pid);
	assert_non_null(vm);
	assert_string_equal(json_string_value(json_object_get(vm, "name")), "prod-db");
	assert_string_equal(json_string_value(json_object_get(vm, "name_source")), "libvirt");
	assert_string_equal(json_string_value(json_object_get(vm, "uuid")),
			    "11111111-2222-4333-8444-555555555555");
	json_decref(root);
	free(out);
	free(err);
	stop(&g);
	free(kh);
}

static void test_ambiguous_name_refused(void **state)
{
	char *out, *err, *kh, name[64];
	struct proc a, b;

	need_kvm();
	kh = bin("kvmheat");
	snprintf(name, sizeof(name), "kh-twin-%d", getpid());
	start_named(state, &a, name);
	start_named(state, &b, name);
	assert_int_equal(run(&out, &err, 30, (char *[]){ kh, "list", "-p", name, NULL }), 3);
	assert_non_null(strstr(err, "2 VMs are named"));
	assert_non_null(strstr(err, "give the pid"));
	free(out);
	free(err);
	stop(&a);
	stop(&b);
	free(kh);
}

/* record -- khguest -name ...: the VM record carries it; report -p NAME finds it */
static void test_recording_carries_name(void **state)
{
	char *out, *err, *kh, *kg, data[256], name[64];
	char arg[96];
	json_error_t je;
	json_t *root, *vms, *vm;

	need_kvm();
	kh = bin("kvmheat");
	kg = bin("khguest");
	snprintf(name, sizeof(name), "kh-rec-%d", getpid());
	snprintf(arg, sizeof(arg), "guest=%s", name);
	tpath(data, sizeof(data), "named.data");
	assert_int_equal(run(&out, &err, 120, (char *[]){ kh, "record", "-F", "100", "-o", data,
				"--", kg, "-name", arg, "-uuid", UUID, "--hot", "64", "--cold",
				"64", "--rounds", "4", NULL }), 0);
	free(out);
	free(err);
	assert_int_equal(run(&out, &err, 60, (char *[]){ kh, "report", "-i", data, "--format",
						       "json", "-p", name, NULL }), 0);
	root = json_loads(out, 0, &je);
	assert_non_null(root);
	vms = json_object_get(root, "vms");
	assert_int_equal(json_array_size(vms), 1);
	vm = json_array_get(vms, 0);
	assert_string_equal(json_string_value(json_object_get(vm, "name")), name);
	assert_string_equal(json_string_value(json_object_get(vm, "uuid")), UUID);
	assert_string_equal(json_string_value(json_object_get(vm, "name_source")), "cmdline");
	json_decref(root);
	free(out);
	free(err);
	/* text report names it; CSV rows end with it */
	assert_int_equal(run(&out, &err, 60, (char *[]){ kh, "report", "-i", data, NULL }), 0);
	assert_non_null(strstr(out, name));
	assert_non_null(strstr(out, "name from cmdline, uuid " UUID));
	free(out);
	free(err);
	assert_int_equal(run(&out, &err, 60, (char *[]){ kh, "report", "-i", data, "--format",
						       "csv", NULL }), 0);
	assert_non_null(strstr(out, ",name\n"));
	assert_non_null(strstr(out, name));
	free(out);
	free(err);
	assert_int_equal(run(&out, &err, 60, (char *[]){ kh, "report", "-i", data, "-p",
						       "kh-not-recorded", NULL }), 3);
	free(out);
	free(err);
	free(kh);
	free(kg);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		LIVE_TEST(test_list_shows_cmdline_name),
		LIVE_TEST(test_libvirt_name_wins),
		LIVE_TEST(test_ambiguous_name_refused),
		LIVE_TEST(test_recording_carries_name),
	};

	return cmocka_run_group_tests_name("VM names live (khguest with QEMU's -name)", tests,
					   tmpdir_setup, tmpdir_teardown);
}
