// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * The command line as a user meets it: help, version -j, probe -j, list -j
 * (a live khguest found with its memslots), and what version -j says about
 * the build checked against the tree and the binary's own ELF headers.
 * KH_KVMHEAT runs all of it against another kvmheat: test_install does so
 * for the packaged /usr/sbin/kvmheat.
 */
#define _GNU_SOURCE
#include <elf.h>
#include <bpf/libbpf.h>
#include "khlive.h"
#include "khrun.h"
#include "kh.h"

static json_t *run_json(char *const args[], int want_rc)
{
	json_error_t jerr;
	struct kh_run r;
	json_t *j;

	kh_run_kvmheat(&r, args);
	if (r.rc != want_rc)
		printf("# kvmheat %s -> %d: %s\n", args[0], r.rc, r.err);
	assert_int_equal(r.rc, want_rc);
	j = json_loads(r.out, 0, &jerr);
	if (!j)
		printf("# not JSON (%s): %.200s\n", jerr.text, r.out);
	assert_non_null(j);
	kh_run_free(&r);
	return j;
}

static void test_help(void **state)
{
	static const char *const verbs[] = {
		"heat", "list", "probe", "record", "report", "heatmap", "top", "trace", "version",
	};
	struct kh_run r;

	kh_run_kvmheat(&r, (char *[]){ "help", NULL });
	assert_int_equal(r.rc, 0);
	assert_true(!strncmp(r.out, "Usage: kvmheat ", 15));
	for (size_t i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++) {
		char line[32];

		snprintf(line, sizeof(line), "\n  %-8s ", verbs[i]);
		assert_non_null(strstr(r.out, line));
	}
	kh_run_free(&r);
	/* no command: the usage on stderr, exit 2 */
	kh_run_kvmheat(&r, (char *[]){ NULL });
	assert_int_equal(r.rc, 2);
	assert_non_null(strstr(r.err, "Usage: kvmheat "));
	kh_run_free(&r);
	for (size_t i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++) {
		kh_run_kvmheat(&r, (char *[]){ (char *)verbs[i], "--help", NULL });
		assert_int_equal(r.rc, 0);
		assert_non_null(strstr(r.out, "\nExamples:\n  kvmheat "));
		kh_run_free(&r);
	}
}

/* Static means no PT_INTERP, read from the file itself. */
static bool elf_is_static(const char *path)
{
	Elf64_Ehdr eh;
	Elf64_Phdr ph;
	bool interp = false;
	FILE *f = fopen(path, "rb");

	assert_non_null(f);
	assert_int_equal(fread(&eh, sizeof(eh), 1, f), 1);
	assert_int_equal(memcmp(eh.e_ident, ELFMAG, SELFMAG), 0);
	for (int i = 0; i < eh.e_phnum; i++) {
		assert_int_equal(fseek(f, eh.e_phoff + (long)i * eh.e_phentsize, SEEK_SET), 0);
		assert_int_equal(fread(&ph, sizeof(ph), 1, f), 1);
		interp |= ph.p_type == PT_INTERP;
	}
	fclose(f);
	return !interp;
}

/* "kernel: X" of vmlinux/SOURCE. */
static char *source_kernel(void)
{
	char path[512], *s, *k, *nl;

	snprintf(path, sizeof(path), "%s/vmlinux/SOURCE", kh_src_dir());
	s = kh_read_file(path);
	assert_non_null(s);
	k = strstr(s, "kernel: ");
	assert_non_null(k);
	k = strdup(k + 8);
	nl = strchr(k, '\n');
	if (nl)
		*nl = 0;
	free(s);
	return k;
}

static bool src_is_git(void)
{
	char cmd[600];

	snprintf(cmd, sizeof(cmd), "test -e '%s/.git' && git -C '%s' rev-parse HEAD >/dev/null 2>&1",
		 kh_src_dir(), kh_src_dir());
	return system(cmd) == 0;
}

static void test_version_json(void **state)
{
	json_t *j = run_json((char *[]){ "version", "-j", NULL }, 0), *rev;
	char want[32], path[512], *kernel = source_kernel();

	assert_string_equal(json_string_value(json_object_get(j, "version")), KH_VERSION);
	/* the libbpf this test links is the system's: the one kvmheat loads too */
	snprintf(want, sizeof(want), "%u.%u", libbpf_major_version(), libbpf_minor_version());
	assert_string_equal(json_string_value(json_object_get(j, "libbpf")), want);
	assert_non_null(json_string_value(json_object_get(j, "libbpf_built")));
	assert_string_equal(json_string_value(json_object_get(json_object_get(j, "vmlinux"),
							      "kernel")), kernel);
	kh_kvmheat_path(path, sizeof(path));
	assert_true(json_is_boolean(json_object_get(j, "static")));
	assert_int_equal(json_is_true(json_object_get(j, "static")), elf_is_static(path));
	rev = json_object_get(j, "git_revision");
	printf("# %s: git_revision %s, static %d\n", path, rev ? json_string_value(rev) : "absent",
	       elf_is_static(path));
	if (src_is_git()) {
		char cmd[700];

		/* a revision of this repository (HEAD may have moved on since the build) */
		assert_non_null(rev);
		snprintf(cmd, sizeof(cmd), "git -C '%s' cat-file -e '%.12s^{commit}'", kh_src_dir(),
			 json_string_value(rev));
		assert_int_equal(system(cmd), 0);
	} else {
		printf("# %s is not a git checkout git will read: the revision is not checked\n",
		       kh_src_dir());
	}
	/* text and JSON, with -j before the verb too */
	json_decref(j);
	j = run_json((char *[]){ "-j", "version", NULL }, 0);
	assert_string_equal(json_string_value(json_object_get(j, "version")), KH_VERSION);
	json_decref(j);
	free(kernel);
}

/*
 * A build from a tarball (no .git) bakes no revision: tools/gen-buildinfo.sh
 * run in a copy of the two files it reads, without and with a repository.
 */
static void test_buildinfo_without_git(void **state)
{
	char dir[] = "/tmp/kh-buildinfo-XXXXXX", cmd[2048], hdr[600], *h;

	assert_non_null(mkdtemp(dir));
	snprintf(cmd, sizeof(cmd), "mkdir -p %s/tools %s/vmlinux && cp '%s/tools/gen-buildinfo.sh' "
		 "%s/tools/ && cp '%s/vmlinux/SOURCE' %s/vmlinux/ && %s/tools/gen-buildinfo.sh "
		 "%s/bi.h", dir, dir, kh_src_dir(), dir, kh_src_dir(), dir, dir, dir);
	assert_int_equal(system(cmd), 0);
	snprintf(hdr, sizeof(hdr), "%s/bi.h", dir);
	h = kh_read_file(hdr);
	assert_non_null(h);
	assert_null(strstr(h, "KH_GIT_REVISION"));
	assert_non_null(strstr(h, "#define KH_VMLINUX_KERNEL \""));
	free(h);
	snprintf(cmd, sizeof(cmd), "cd %s && git init -q && git -c user.name=t -c user.email=t@t "
		 "add -A && git -c user.name=t -c user.email=t@t commit -qm t && "
		 "tools/gen-buildinfo.sh bi.h", dir);
	if (system(cmd) == 0) {
		h = kh_read_file(hdr);
		assert_non_null(strstr(h, "#define KH_GIT_REVISION \""));
		free(h);
	} else {
		printf("# git is not usable here: only the tarball half was checked\n");
	}
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	assert_int_equal(system(cmd), 0);
}

static void test_probe_json(void **state)
{
	json_t *j, *srcs;
	struct kh_run r;

	if (!kh_is_root())
		KH_SKIP("probe loads BPF: needs root");
	kh_run_kvmheat(&r, (char *[]){ "probe", "-j", NULL });
	kh_run_free(&r);
	/* 0 when a source attaches, 4 when none can: both are answers */
	j = run_json((char *[]){ "probe", "-j", NULL }, r.rc == 4 ? 4 : 0);
	assert_non_null(json_string_value(json_object_get(j, "kernel")));
	assert_true(json_is_true(json_object_get(j, "btf")));
	srcs = json_object_get(j, "sources");
	assert_int_equal(json_array_size(srcs), KH_SRC_MAX);
	for (size_t i = 0; i < json_array_size(srcs); i++) {
		json_t *s = json_array_get(srcs, i);

		assert_non_null(json_string_value(json_object_get(s, "source")));
		assert_true(json_is_boolean(json_object_get(s, "available")));
		assert_true(json_array_size(json_object_get(s, "hooks")) > 0);
	}
	json_decref(j);
}

/* list -j finds a guest this test started, with its memslots; -p of a non-VM is exit 3. */
static void test_list_json(void **state)
{
	char guest[256], pidstr[16];
	json_t *j, *vms, *vm;
	struct proc g;

	need_kvm();
	j = run_json((char *[]){ "list", "-j", NULL }, 0);
	assert_true(json_is_array(json_object_get(j, "vms")));
	json_decref(j);
	path_of(guest, sizeof(guest), "khguest");
	spawn(&g, (char *[]){ guest, "--mem", "8", "--wait-signal", NULL });
	live_track(state, g.pid);
	if (!wait_for(g.err, "ready", 10)) {
		show("khguest stderr", g.err);
		fail_msg("khguest did not get ready");
	}
	snprintf(pidstr, sizeof(pidstr), "%d", g.pid);
	j = run_json((char *[]){ "list", "-j", "-p", pidstr, NULL }, 0);
	vms = json_object_get(j, "vms");
	assert_int_equal(json_array_size(vms), 1);
	vm = json_array_get(vms, 0);
	assert_int_equal(jint(vm, "pid"), g.pid);
	assert_string_equal(json_string_value(json_object_get(vm, "comm")), "khguest");
	assert_true(jint(vm, "memory_bytes") >= 8 << 20);
	assert_true(json_array_size(json_object_get(vm, "memslots")) >= 1);
	json_decref(j);
	kill(g.pid, SIGKILL);
	waitpid(g.pid, NULL, 0);
	proc_cleanup(&g);
	/* this test process holds no kvm-vm file */
	snprintf(pidstr, sizeof(pidstr), "%d", getpid());
	json_decref(run_json((char *[]){ "-j", "list", "-p", pidstr, NULL }, 3));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_help),
		cmocka_unit_test(test_version_json),
		cmocka_unit_test(test_buildinfo_without_git),
		cmocka_unit_test(test_probe_json),
		LIVE_TEST(test_list_json),
	};

	return cmocka_run_group_tests_name("command line", tests, NULL, NULL);
}
