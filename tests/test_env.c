// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * A bad environment gets one clear line and a documented exit code:
 * no privileges, no kernel BTF, bad command lines.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/wait.h>
#include "khtest.h"

struct out {
	int rc;
	char err[4096];
	char out[4096];
};

enum env_mode { ENV_AS_IS, ENV_NOBODY, ENV_NO_BTF, ENV_NO_DEV };

static void read_all(int fd, char *buf, size_t len)
{
	size_t off = 0;
	ssize_t n;

	while (off + 1 < len && (n = read(fd, buf + off, len - 1 - off)) > 0)
		off += n;
	buf[off] = 0;
}

/* Run build/kvmheat ARGS in @mode; collect exit code, stdout and stderr. */
static void kvmheat(struct out *o, enum env_mode mode, char *const args[])
{
	char path[256], *argv[16];
	int po[2], pe[2], st, n = 0;
	pid_t pid;

	kh_kvmheat_path(path, sizeof(path));
	argv[n++] = path;
	for (int i = 0; args[i] && n < 15; i++)
		argv[n++] = args[i];
	argv[n] = NULL;
	assert_int_equal(pipe(po), 0);
	assert_int_equal(pipe(pe), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (!pid) {
		dup2(po[1], 1);
		dup2(pe[1], 2);
		close(po[0]);
		close(pe[0]);
		if (mode == ENV_NOBODY &&
		    (setgroups(0, NULL) || setresgid(65534, 65534, 65534) ||
		     setresuid(65534, 65534, 65534)))
			_exit(120);
		/* a private mount namespace where vmlinux BTF reads as empty */
		if (mode == ENV_NO_BTF &&
		    (unshare(CLONE_NEWNS) || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) ||
		     mount("/dev/null", "/sys/kernel/btf/vmlinux", NULL, MS_BIND, NULL)))
			_exit(121);
		/* an empty /dev: no /dev/kvm */
		if (mode == ENV_NO_DEV &&
		    (unshare(CLONE_NEWNS) || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) ||
		     mount("none", "/dev", "tmpfs", 0, NULL)))
			_exit(122);
		execv(path, argv);
		_exit(127);
	}
	close(po[1]);
	close(pe[1]);
	read_all(po[0], o->out, sizeof(o->out));
	read_all(pe[0], o->err, sizeof(o->err));
	close(po[0]);
	close(pe[0]);
	waitpid(pid, &st, 0);
	o->rc = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
	/* always a whole line: TAP's "ok N" must start one */
	printf("# kvmheat %s -> %d: %s%s", args[0], o->rc, o->err,
	       !o->err[0] || o->err[strlen(o->err) - 1] != '\n' ? "\n" : "");
}

static int lines(const char *s)
{
	int n = 0;

	for (; *s; s++)
		n += *s == '\n';
	return n;
}

static void test_unprivileged_names_the_capability(void **state)
{
	struct out o;

	if (!kh_is_root())
		KH_SKIP("needs root to drop to an unprivileged user");
	kvmheat(&o, ENV_NOBODY, (char *[]){ "probe", NULL });
	assert_int_equal(o.rc, 5);
	assert_non_null(strstr(o.err, "CAP_BPF"));
	assert_int_equal(lines(o.err), 1);
	kvmheat(&o, ENV_NOBODY, (char *[]){ "heat", "-d", "1", NULL });
	assert_int_equal(o.rc, 5);
	assert_non_null(strstr(o.err, "CAP_PERFMON"));
	/* -j: the error is JSON on stdout */
	kvmheat(&o, ENV_NOBODY, (char *[]){ "-j", "list", NULL });
	assert_int_equal(o.rc, 5);
	assert_non_null(strstr(o.out, "{\"error\":"));
	/* help needs no privileges */
	kvmheat(&o, ENV_NOBODY, (char *[]){ "heat", "-h", NULL });
	assert_int_equal(o.rc, 0);
}

static void test_no_btf_is_explained(void **state)
{
	struct out o;

	if (!kh_is_root())
		KH_SKIP("needs root for a private mount namespace");
	if (access("/sys/kernel/btf/vmlinux", R_OK))
		KH_SKIP("this kernel has no BTF to hide");
	kvmheat(&o, ENV_NO_BTF, (char *[]){ "probe", NULL });
	if (o.rc == 121)
		KH_SKIP("cannot bind-mount over /sys/kernel/btf/vmlinux here");
	assert_int_equal(o.rc, 5);
	assert_non_null(strstr(o.err, "no BTF"));
	assert_int_equal(lines(o.err), 1);
}

/* Only meaningful with no VM on the host; another one (a leaked test guest,
 * a real VM) makes the answer legitimately different. */
static bool no_vms_running(void)
{
	struct out o;

	kvmheat(&o, ENV_AS_IS, (char *[]){ "list", "-j", NULL });
	return o.rc == 0 && strstr(o.out, "\"vms\": []");
}

static void test_no_kvm_and_no_vms_are_explained(void **state)
{
	struct out o;

	if (!kh_is_root())
		KH_SKIP("needs root for a private mount namespace");
	if (!no_vms_running())
		KH_SKIP("another VM is running on this host: the no-VM answers do not apply");
	kvmheat(&o, ENV_AS_IS, (char *[]){ "heat", "-d", "1", NULL });
	if (access("/dev/kvm", F_OK)) {
		/* a host with no KVM at all (some machines of this kind): said as such */
		printf("# this host has no /dev/kvm: %s", o.err);
		assert_int_equal(o.rc, 5);
		assert_non_null(strstr(o.err, "no /dev/kvm"));
		assert_int_equal(lines(o.err), 1);
	} else {
		/* no VM ran during the trace: exit 3, one line */
		if (o.rc == 0 && strstr(o.out, "\nVM "))
			KH_SKIP("a VM started on this host during the check");
		assert_int_equal(o.rc, 3);
		assert_non_null(strstr(o.err, "no KVM VM ran while tracing"));
	}
	/* and no KVM at all, whatever the host has */
	kvmheat(&o, ENV_NO_DEV, (char *[]){ "heat", "-d", "1", NULL });
	if (o.rc == 122)
		KH_SKIP("cannot mount an empty /dev here");
	assert_int_equal(o.rc, 5);
	assert_non_null(strstr(o.err, "no /dev/kvm"));
	assert_int_equal(lines(o.err), 1);
}

static void test_bad_command_lines(void **state)
{
	static const char *const cases[][4] = {
		{ "nosuchcommand", NULL },
		{ "heat", "-d", "abc", NULL },
		{ "heat", "-d", "-5", NULL },
		{ "heat", "-p", "0", NULL },
		{ "heat", "-n", "0", NULL },
		{ "heat", "-e", "aging,bogus", NULL },
		{ "heat", "-m", "walk=teleport", NULL },
		{ "heat", "--width", "3", NULL },
		{ "list", "extra", NULL },
		{ "--bogus", NULL },
		{ "heat", "-x", NULL },
		{ "heat", "-d", NULL },
		{ "top", "-p", "0", NULL },
		{ "trace", "-m", "walk", NULL },
		{ "record", "-e", "nope", NULL },
		{ "report", "-p", "", NULL },	/* "x" could be a VM's name now */
		{ "report", "-p", "0x0", NULL },
		{ "heat", "-p", "bad\001name", NULL },
		{ "heatmap", "-p", NULL },
		{ "trace", "--color", "sometimes", NULL },
		{ "heat", "--color", "rarely", NULL },
		{ "export", "-l", "::1", NULL },
	};
	static const char *const cmds[] = {
		"heat", "list", "probe", "record", "report", "heatmap", "top", "trace", "export",
	};
	struct out o;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		kvmheat(&o, ENV_AS_IS, (char **)cases[i]);
		assert_int_equal(o.rc, 2);
		assert_non_null(strstr(o.err, "kvmheat: error: "));
		assert_int_equal(lines(o.err), 1);
	}
	/*
	 * The options every command shares are parsed in one place: an unknown
	 * one is named, an operand is refused, -h is the command's own help.
	 */
	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
		char want[64];

		kvmheat(&o, ENV_AS_IS, (char *[]){ (char *)cmds[i], "--no-such-option", NULL });
		assert_int_equal(o.rc, 2);
		snprintf(want, sizeof(want), "error: %s: unknown option", cmds[i]);
		assert_non_null(strstr(o.err, want));
		assert_non_null(strstr(o.err, "'--no-such-option'"));
		assert_int_equal(lines(o.err), 1);
		kvmheat(&o, ENV_AS_IS, (char *[]){ (char *)cmds[i], "-v", "-Q", NULL });
		assert_int_equal(o.rc, 2);
		assert_non_null(strstr(o.err, "'-Q'"));
		assert_int_equal(lines(o.err), 1);
		kvmheat(&o, ENV_AS_IS, (char *[]){ (char *)cmds[i], "-h", NULL });
		assert_int_equal(o.rc, 0);
		snprintf(want, sizeof(want), "Usage: kvmheat %s ", cmds[i]);
		assert_true(!strncmp(o.out, want, strlen(want)));
		/* record takes a COMMAND to run instead */
		if (!strcmp(cmds[i], "record"))
			continue;
		kvmheat(&o, ENV_AS_IS, (char *[]){ (char *)cmds[i], "-j", "extra", NULL });
		assert_int_equal(o.rc, 2);
		assert_non_null(strstr(o.out, "unexpected argument 'extra'"));
		assert_non_null(strstr(o.out, "{\"error\":"));
	}
	/* a unique prefix is a command, an ambiguous one is an error */
	kvmheat(&o, ENV_AS_IS, (char *[]){ "vers", NULL });
	assert_int_equal(o.rc, 0);
	kvmheat(&o, ENV_AS_IS, (char *[]){ "h", NULL });
	assert_int_equal(o.rc, 2);
	assert_non_null(strstr(o.err, "ambiguous"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_unprivileged_names_the_capability),
		cmocka_unit_test(test_no_btf_is_explained),
		cmocka_unit_test(test_bad_command_lines),
		cmocka_unit_test(test_no_kvm_and_no_vms_are_explained),
	};

	return cmocka_run_group_tests_name("bad environment and bad input", tests, NULL, NULL);
}
