// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * The bash completion (completion/kvmheat), sourced in a clean bash and
 * called as bash calls it on Tab: verbs, values of -e/-m/--color/-f/-s,
 * *.data files for -i, images for heatmap -o, a command after record --,
 * and running VMs for -p: a live khguest found by pid and by name, through
 * `kvmheat list -j` and through the /proc fallback.  The option lists per
 * verb are test_docs's.
 */
#define _GNU_SOURCE
#include <sys/stat.h>
#include "khlive.h"
#include "khrun.h"

static char script[512];

static char *comp(int cword, char *const words[])
{
	return kh_complete(script, cword, words);
}

/* @got (one word a line) is exactly the words of @want (space-separated). */
static void assert_offers(const char *got, const char *want)
{
	char *dup = strdup(want), *save = NULL;
	int n = 0, lines = 0;

	for (char *w = strtok_r(dup, " ", &save); w; w = strtok_r(NULL, " ", &save), n++)
		if (!kh_has_line(got, w))
			fail_msg("completion lacks '%s'; it offered:\n%s", w, got);
	for (const char *p = got; *p; p++)
		lines += *p == '\n';
	if (lines != n)
		fail_msg("completion offered %d words, want %d (%s):\n%s", lines, n, want, got);
	free(dup);
}

static void check(int cword, char *const words[], const char *want)
{
	char *got = comp(cword, words);

	assert_offers(got, want);
	free(got);
}

static void test_verbs_and_globals(void **state)
{
	check(1, (char *[]){ "kvmheat", "", NULL },
	      "heat idle list probe record report heatmap top trace export help version");
	check(1, (char *[]){ "kvmheat", "he", NULL }, "heat heatmap help");
	check(1, (char *[]){ "kvmheat", "-", NULL },
	      "-j --json -v --verbose -h --help -V --version");
	/* after global options, and with the verb abbreviated as kvmheat allows */
	check(3, (char *[]){ "kvmheat", "-j", "li", "-", NULL }, "-p --pid -j --json -h --help "
	      "-v --verbose");
	/* an ambiguous or unknown verb: nothing */
	check(2, (char *[]){ "kvmheat", "h", "-", NULL }, "");
	check(2, (char *[]){ "kvmheat", "frobnicate", "", NULL }, "");
}

static void test_values(void **state)
{
	check(3, (char *[]){ "kvmheat", "heat", "-e", "", NULL }, "aging track spp walk");
	check(3, (char *[]){ "kvmheat", "trace", "--events", "walk,a", NULL }, "walk,aging");
	check(3, (char *[]){ "kvmheat", "record", "--sources", "s", NULL }, "spp");
	check(3, (char *[]){ "kvmheat", "heat", "-m", "", NULL }, "aging= track= spp= walk=");
	check(3, (char *[]){ "kvmheat", "top", "--method", "walk=", NULL },
	      "walk=fentry walk=kprobe walk=tp_btf walk=raw_tp walk=tracepoint");
	check(3, (char *[]){ "kvmheat", "heat", "-m", "aging=t", NULL },
	      "aging=tp_btf aging=tracepoint");
	check(3, (char *[]){ "kvmheat", "trace", "--color", "", NULL }, "auto always never");
	check(3, (char *[]){ "kvmheat", "report", "-f", "", NULL }, "text json csv html");
	check(3, (char *[]){ "kvmheat", "report", "--sort", "w", NULL }, "writes");
	/* numbers: nothing to offer */
	check(3, (char *[]){ "kvmheat", "heat", "-d", "", NULL }, "");
	/* record's and report's --events is a flag: options follow it */
	check(3, (char *[]){ "kvmheat", "record", "--events", "--f", NULL }, "--fsync");
	check(3, (char *[]){ "kvmheat", "report", "--events", "--s", NULL },
	      "--sort --subpages");
}

static void test_files(void **state)
{
	char dir[] = "/tmp/kh-completion-XXXXXX", p[256], want[1024];
	static const char *const files[] = { "a.data", "b.data", "c.svg", "d.png", "e.txt" };

	assert_non_null(mkdtemp(dir));
	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		snprintf(p, sizeof(p), "%s/%s", dir, files[i]);
		fclose(fopen(p, "w"));
	}
	snprintf(p, sizeof(p), "%s/sub", dir);
	assert_int_equal(mkdir(p, 0755), 0);
	snprintf(p, sizeof(p), "%s/", dir);
	snprintf(want, sizeof(want), "%s/a.data %s/b.data %s/sub", dir, dir, dir);
	check(3, (char *[]){ "kvmheat", "report", "-i", p, NULL }, want);
	check(3, (char *[]){ "kvmheat", "heatmap", "--input", p, NULL }, want);
	check(3, (char *[]){ "kvmheat", "record", "-o", p, NULL }, want);
	snprintf(want, sizeof(want), "%s/c.svg %s/d.png %s/sub", dir, dir, dir);
	check(3, (char *[]){ "kvmheat", "heatmap", "-o", p, NULL }, want);
	/* the terminal */
	check(3, (char *[]){ "kvmheat", "heatmap", "-o", "-", NULL }, "-");
	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		snprintf(p, sizeof(p), "%s/%s", dir, files[i]);
		unlink(p);
	}
	snprintf(p, sizeof(p), "%s/sub", dir);
	rmdir(p);
	rmdir(dir);
}

static void test_record_command(void **state)
{
	char *got = comp(3, (char *[]){ "kvmheat", "record", "--", "bas", NULL });

	/* a command from PATH, not an option of record */
	assert_true(kh_has_line(got, "bash"));
	assert_false(kh_has_line(got, "--fsync"));
	free(got);
}

/* -p offers @pid: by its digits, by its name, and in record's pid list. */
static void check_vm_offered(char *const env[], const char *bin, pid_t pid, const char *name)
{
	char pidstr[16], pre[8], list[24], *got;

	snprintf(pidstr, sizeof(pidstr), "%d", pid);
	snprintf(pre, sizeof(pre), "%.2s", pidstr);
	snprintf(list, sizeof(list), "1,%d", pid);
	got = kh_complete_env(script, env, 3, (char *[]){ (char *)bin, "heat", "-p", "", NULL });
	printf("# %s heat -p offers:\n", bin);
	print_lines(got);
	assert_true(kh_has_line(got, pidstr));
	/* only VMs: the test itself holds no kvm-vm file */
	snprintf(pre, sizeof(pre), "%d", getpid());
	assert_false(kh_has_line(got, pre));
	free(got);
	snprintf(pre, sizeof(pre), "%.2s", pidstr);
	got = kh_complete_env(script, env, 3, (char *[]){ (char *)bin, "top", "--pid", pre, NULL });
	assert_true(kh_has_line(got, pidstr));
	free(got);
	got = kh_complete_env(script, env, 3, (char *[]){ (char *)bin, "trace", "-p",
							(char *)name, NULL });
	assert_true(kh_has_line(got, pidstr));
	free(got);
	got = kh_complete_env(script, env, 3, (char *[]){ (char *)bin, "record", "-p", "1,",
							NULL });
	assert_true(kh_has_line(got, list));
	free(got);
}

/* `kvmheat list -j` as jansson prints it is what -p offers first: a canned
 * answer with a pid no /proc scan could find. */
static void test_pids_from_list_json(void **state)
{
	char dir[] = "/tmp/kh-completion-XXXXXX", fake[256], *got;
	FILE *f;

	assert_non_null(mkdtemp(dir));
	snprintf(fake, sizeof(fake), "%s/kvmheat", dir);
	f = fopen(fake, "w");
	assert_non_null(f);
	fputs("#!/bin/sh\n[ \"$1 $2\" = \"list -j\" ] || exit 2\ncat <<'EOF'\n"
	      "{\n  \"vms\": [\n    {\n      \"pid\": 4242,\n      \"comm\": \"qemu-system-x86\",\n"
	      "      \"vcpus\": 2,\n      \"memory_bytes\": 1073741824,\n"
	      "      \"memslots\": [\n        {\n          \"slot\": 0,\n          \"pid\": 7\n"
	      "        }\n      ]\n    },\n    {\n      \"pid\": 4343,\n"
	      "      \"comm\": \"khguest\",\n      \"memslots\": []\n    }\n  ]\n}\nEOF\n", f);
	fclose(f);
	assert_int_equal(chmod(fake, 0755), 0);
	got = comp(3, (char *[]){ fake, "heat", "-p", "", NULL });
	assert_offers(got, "4242 4343");
	free(got);
	got = comp(3, (char *[]){ fake, "heat", "-p", "qemu", NULL });
	assert_offers(got, "4242");
	free(got);
	got = comp(3, (char *[]){ fake, "heat", "-p", "43", NULL });
	assert_offers(got, "4343");
	free(got);
	unlink(fake);
	rmdir(dir);
}

/*
 * As nobody (`sudo kvmheat ... -p <Tab>` completes as the user): neither
 * list -j nor the fd scan can see root's guest; its VMM-like name can.
 */
static void check_unprivileged(pid_t pid)
{
	static const char *const nobody[] = {
		"setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", NULL,
	};
	char kvmheat[256], pidstr[16], copy[64], cmd[700], *got;

	kh_kvmheat_path(kvmheat, sizeof(kvmheat));
	snprintf(pidstr, sizeof(pidstr), "%d", pid);
	/* the script must be readable by nobody: a copy in /tmp */
	snprintf(copy, sizeof(copy), "/tmp/kh-completion-%d.bash", getpid());
	snprintf(cmd, sizeof(cmd), "cp '%s' %s && chmod 0644 %s", script, copy, copy);
	assert_int_equal(system(cmd), 0);
	got = kh_complete_as(copy, NULL, nobody, 3, (char *[]){ kvmheat, "heat", "-p", "", NULL });
	printf("# as nobody, heat -p offers:\n");
	print_lines(got);
	assert_true(kh_has_line(got, pidstr));
	free(got);
	unlink(copy);
}

static void test_pids_of_running_vms(void **state)
{
	char guest[256], kvmheat[256];
	struct proc g;

	need_kvm();
	path_of(guest, sizeof(guest), "khguest");
	spawn(&g, (char *[]){ guest, "--mem", "8", "--wait-signal", NULL });
	live_track(state, g.pid);
	if (!wait_for(g.err, "ready", 10)) {
		show("khguest stderr", g.err);
		fail_msg("khguest did not get ready");
	}
	/* through `kvmheat list -j`: the kvmheat typed is a path, so it is the one run */
	kh_kvmheat_path(kvmheat, sizeof(kvmheat));
	check_vm_offered(NULL, kvmheat, g.pid, "khgu");
	/* no kvmheat to ask (none at that path, none in PATH): the /proc scan */
	check_vm_offered((char *[]){ "PATH=/usr/bin:/bin", NULL }, "/nonexistent/kvmheat", g.pid,
			 "khgu");
	check_unprivileged(g.pid);
	kill(g.pid, SIGKILL);
	waitpid(g.pid, NULL, 0);
	proc_cleanup(&g);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_verbs_and_globals),
		cmocka_unit_test(test_values),
		cmocka_unit_test(test_files),
		cmocka_unit_test(test_record_command),
		cmocka_unit_test(test_pids_from_list_json),
		LIVE_TEST(test_pids_of_running_vms),
	};

	snprintf(script, sizeof(script), "%s/completion/kvmheat", kh_src_dir());
	return cmocka_run_group_tests_name("bash completion", tests, NULL, NULL);
}
