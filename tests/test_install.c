// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * What ships: `make install DESTDIR=` puts down exactly README.md's file
 * list and `make uninstall` takes it all back; `make deb` gives a package
 * with the right Depends and only the lintian tags README explains, which
 * `dpkg -i` installs, the suite's command-line tests then pass against the
 * installed /usr/sbin/kvmheat, and `dpkg -r` leaves nothing of; `make
 * static` gives one binary ldd calls not dynamic, which runs probe and list.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <ftw.h>
#include <time.h>
#include <sys/stat.h>
#include "khrun.h"
#include "kh.h"

#define MAX_FILES 128

struct files {
	char *path[MAX_FILES];
	mode_t mode[MAX_FILES];
	int n;
};

static void files_add(struct files *f, const char *path, mode_t mode)
{
	assert_true(f->n < MAX_FILES);
	f->path[f->n] = strdup(path);
	f->mode[f->n++] = mode;
}

static void files_free(struct files *f)
{
	for (int i = 0; i < f->n; i++)
		free(f->path[i]);
	f->n = 0;
}

static int files_find(const struct files *f, const char *path)
{
	for (int i = 0; i < f->n; i++)
		if (!strcmp(f->path[i], path))
			return i;
	return -1;
}

/*
 * `make -C SRC ARGS` outside any make of ours; @pinned: with the build's
 * OUTPUT and its kvmheat taken as built (`-o`: build-san's flags are not ours
 * to know, and the binary under test is what `make` made).
 */
static int make_in(bool pinned, char *const args[])
{
	char out[600], bin[600], *argv[24];
	struct kh_run r;
	int n = 0;

	/* a jobserver of the make running the suite is not ours to join */
	for (const char *const *a = (const char *const[]){ "env", "-u", "MAKEFLAGS", "-u",
			"MFLAGS", "-u", "MAKELEVEL", "make", "-s", "--no-print-directory", "-C",
			NULL }; *a; a++)
		argv[n++] = (char *)*a;
	argv[n++] = (char *)kh_src_dir();
	if (pinned) {
		snprintf(out, sizeof(out), "OUTPUT=%s", kh_build_dir());
		snprintf(bin, sizeof(bin), "%s/kvmheat", kh_build_dir());
		argv[n++] = out;
		argv[n++] = "-o";
		argv[n++] = bin;
	}
	for (int i = 0; args[i] && n < 23; i++)
		argv[n++] = args[i];
	argv[n] = NULL;
	kh_runv(&r, NULL, argv);
	if (r.rc)
		printf("# make %s -> %d:\n# %s\n# %s\n", args[0], r.rc, r.out, r.err);
	n = r.rc;
	kh_run_free(&r);
	return n;
}

static int make(char *const args[])
{
	return make_in(true, args);
}

/* Every NAME of SRC/DIR/PREFIX*SUFFIX, for the list's VERB and NAME lines. */
static void expand(struct files *f, const char *tmpl, const char *word, const char *dir,
		   const char *prefix, const char *suffix, mode_t mode)
{
	const char *at = strstr(tmpl, word);
	char path[1024];
	struct dirent *e;
	DIR *d;

	snprintf(path, sizeof(path), "%s/%s", kh_src_dir(), dir);
	d = opendir(path);
	assert_non_null(d);
	while ((e = readdir(d))) {
		size_t n = strlen(e->d_name), lp = strlen(prefix), ls = strlen(suffix);

		if (n <= lp + ls || strncmp(e->d_name, prefix, lp) ||
		    strcmp(e->d_name + n - ls, suffix))
			continue;
		snprintf(path, sizeof(path), "%.*s%.*s%s", (int)(at - tmpl), tmpl,
			 (int)(n - lp - ls), e->d_name + lp, at + strlen(word));
		files_add(f, path, mode);
	}
	closedir(d);
}

/* README.md's install-files block, with PREFIX given and VERB/NAME expanded. */
static void documented_files(struct files *f, const char *prefix)
{
	char path[512], *readme, *p, *end;

	snprintf(path, sizeof(path), "%s/README.md", kh_src_dir());
	readme = kh_read_file(path);
	assert_non_null(readme);
	p = strstr(readme, "<!-- install-files");
	end = p ? strstr(p, "<!-- /install-files -->") : NULL;
	assert_true(p && end);
	*end = 0;
	for (p = strstr(p, "\n```\n") + 5; *p && strncmp(p, "```", 3); p = strchr(p, '\n') + 1) {
		char tmpl[256], full[512];
		unsigned mode;

		assert_int_equal(sscanf(p, "PREFIX%255s %o", tmpl, &mode), 2);
		snprintf(full, sizeof(full), "%s%s", prefix, tmpl);
		if (strstr(full, "VERB"))
			expand(f, full, "VERB", "man", "kvmheat-", ".8.scd", mode);
		else if (strstr(full, "NAME"))
			expand(f, full, "NAME", "docs", "", ".md", mode);
		else
			files_add(f, full, mode);
	}
	free(readme);
	assert_true(f->n >= 15);
}

static struct files *walk_out;
static size_t walk_skip;

static int walk_one(const char *p, const struct stat *st, int type, struct FTW *ftw)
{
	if (type == FTW_F || type == FTW_SL)
		files_add(walk_out, p + walk_skip, st->st_mode & 07777);
	return 0;
}

/* Every file under @root, as a path below it. */
static void installed_files(struct files *f, const char *root)
{
	walk_out = f;
	walk_skip = strlen(root);
	assert_int_equal(nftw(root, walk_one, 16, FTW_PHYS), 0);
}

/* @got is exactly @want, modes included; differences printed. */
static void assert_same_files(struct files *want, struct files *got)
{
	int bad = 0;

	for (int i = 0; i < want->n; i++) {
		int k = files_find(got, want->path[i]);

		if (k < 0)
			printf("# documented, not installed: %s\n", want->path[i]);
		else if (got->mode[k] != want->mode[i])
			printf("# %s: mode %o, documented %o\n", want->path[i], got->mode[k],
			       want->mode[i]);
		bad += k < 0 || got->mode[k] != want->mode[i];
	}
	for (int i = 0; i < got->n; i++)
		if (files_find(want, got->path[i]) < 0) {
			printf("# installed, not documented: %s\n", got->path[i]);
			bad++;
		}
	printf("# %d files documented, %d installed\n", want->n, got->n);
	assert_int_equal(bad, 0);
}

static void rm_rf(const char *dir)
{
	char cmd[600];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	assert_int_equal(system(cmd), 0);
}

static void check_destdir(const char *prefix, char *const prefix_arg)
{
	char dir[] = "/tmp/kh-install-XXXXXX", dest[600], docdir[700];
	struct files want = {}, got = {};

	assert_non_null(mkdtemp(dir));
	snprintf(dest, sizeof(dest), "DESTDIR=%s", dir);
	documented_files(&want, prefix);
	assert_int_equal(make((char *[]){ "install", dest, prefix_arg, NULL }), 0);
	installed_files(&got, dir);
	assert_same_files(&want, &got);
	files_free(&got);
	/* uninstall: no file left, and kvmheat's own doc directory gone */
	assert_int_equal(make((char *[]){ "uninstall", dest, prefix_arg, NULL }), 0);
	installed_files(&got, dir);
	for (int i = 0; i < got.n; i++)
		printf("# left after uninstall: %s\n", got.path[i]);
	assert_int_equal(got.n, 0);
	snprintf(docdir, sizeof(docdir), "%s%s/share/doc/kvmheat", dir, prefix);
	assert_int_not_equal(access(docdir, F_OK), 0);
	files_free(&want);
	rm_rf(dir);
}

static void test_destdir_install(void **state)
{
	/* the default PREFIX, and another one */
	check_destdir("/usr/local", NULL);
	check_destdir("/opt/kh", "PREFIX=/opt/kh");
}

static char deb[700];

/* `dpkg ARGS`, waiting out another dpkg or apt holding the lock (shared machine). */
static int dpkg(char *const args[])
{
	char *argv[8] = { "dpkg" };
	struct kh_run r;
	int n = 1, rc;

	for (int i = 0; args[i] && n < 7; i++)
		argv[n++] = args[i];
	argv[n] = NULL;
	for (int tries = 0;; tries++) {
		kh_runv(&r, NULL, argv);
		rc = r.rc;
		if (!rc || !strstr(r.err, "lock") || tries >= 120)
			break;
		kh_run_free(&r);
		sleep(1);
	}
	if (rc)
		printf("# dpkg %s -> %d: %s\n", args[0], rc, r.err);
	kh_run_free(&r);
	return rc;
}

/* "install ok installed 0.1.0", or "" when dpkg knows no kvmheat. */
static void pkg_status(char *buf, size_t len)
{
	struct kh_run r;

	kh_runv(&r, NULL, (char *[]){ "dpkg-query", "-W", "-f=${Status} ${Version}", "kvmheat",
				      NULL });
	snprintf(buf, len, "%s", r.rc ? "" : r.out);
	kh_run_free(&r);
}

static bool pkg_installed(void)
{
	char st[128];

	pkg_status(st, sizeof(st));
	return strstr(st, " installed ") != NULL;
}

static int deb_setup(void **state)
{
	struct kh_run r;

	kh_runv(&r, NULL, (char *[]){ "dpkg", "--print-architecture", NULL });
	r.out[strcspn(r.out, "\n")] = 0;
	snprintf(deb, sizeof(deb), "%s/kvmheat_%s_%s.deb", kh_build_dir(), KH_VERSION, r.out);
	kh_run_free(&r);
	return 0;
}

/* The files of the package as `dpkg-deb -c` lists them: "/usr/..." and modes. */
static void deb_files(struct files *f)
{
	struct kh_run r;
	char *save = NULL;

	kh_runv(&r, NULL, (char *[]){ "dpkg-deb", "-c", deb, NULL });
	assert_int_equal(r.rc, 0);
	for (char *l = strtok_r(r.out, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
		char perm[16], *path = strstr(l, " ./");
		mode_t m = 0;

		if (l[0] != '-' || !path || sscanf(l, "%15s", perm) != 1)
			continue;
		for (int i = 1; i <= 9; i++)
			m = m << 1 | (perm[i] != '-');
		files_add(f, path + 2, m);
	}
	kh_run_free(&r);
}

/* The deb holds README's list for PREFIX=/usr, man pages gzipped, plus Debian's two. */
static void test_deb_contents(void **state)
{
	struct files want = {}, got = {};
	struct timespec t0, t1;

	/* with -o, make would take a deb older than the binary for current */
	unlink(deb);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	assert_int_equal(make((char *[]){ "deb", NULL }), 0);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	printf("# make deb: %.1f s\n", t1.tv_sec - t0.tv_sec + (t1.tv_nsec - t0.tv_nsec) / 1e9);
	documented_files(&want, "/usr");
	for (int i = 0; i < want.n; i++)
		if (strstr(want.path[i], "/man8/")) {
			char gz[600];

			snprintf(gz, sizeof(gz), "%s.gz", want.path[i]);
			free(want.path[i]);
			want.path[i] = strdup(gz);
		}
	files_add(&want, "/usr/share/doc/kvmheat/copyright", 0644);
	files_add(&want, "/usr/share/doc/kvmheat/changelog.gz", 0644);
	deb_files(&got);
	assert_same_files(&want, &got);
	files_free(&want);
	files_free(&got);
}

/*
 * Depends names the package of every library the binary needs, found
 * independently of dpkg-shlibdeps: readelf's NEEDED, then `dpkg -S`.
 */
static void test_deb_depends(void **state)
{
	char cmd[1024], *save = NULL;
	struct kh_run dep, pk;
	int n = 0;

	if (access(deb, R_OK))
		assert_int_equal(make((char *[]){ "deb", NULL }), 0);
	kh_runv(&dep, NULL, (char *[]){ "dpkg-deb", "-f", deb, "Depends", NULL });
	assert_int_equal(dep.rc, 0);
	printf("# Depends: %s", dep.out);
	/* each NEEDED soname, where the loader finds it, and the package owning that */
	snprintf(cmd, sizeof(cmd), "b='%s/kvmheat'; readelf -d \"$b\" | "
		 "sed -n 's/.*(NEEDED).*\\[\\(.*\\)\\]/\\1/p' | while read -r so; do "
		 "p=$(ldd \"$b\" | awk -v so=\"$so\" '$1 == so { print $3 }'); "
		 "dpkg -S \"$p\" 2>/dev/null || dpkg -S \"$(readlink -f \"$p\")\"; "
		 "done | sed 's/:.*//'", kh_build_dir());
	kh_runv(&pk, NULL, (char *[]){ "sh", "-c", cmd, NULL });
	assert_int_equal(pk.rc, 0);
	for (char *p = strtok_r(pk.out, "\n", &save); p; p = strtok_r(NULL, "\n", &save), n++) {
		char *at;
		size_t len = strlen(p);

		printf("# needs a library of %s\n", p);
		/* "pkg (>= v)", "pkg," or the last "pkg": a whole name */
		for (at = strstr(dep.out, p); at; at = strstr(at + 1, p))
			if ((at == dep.out || at[-1] == ' ') && strchr(" ,\n", at[len]))
				break;
		if (!at)
			fail_msg("the binary needs a library of %s; Depends lacks it", p);
	}
	assert_true(n >= 6);	/* libbpf, libc, jansson, ncursesw, png, z at least */
	kh_run_free(&dep);
	kh_run_free(&pk);
}

/* lintian: no error, no warning; every informational tag explained in README. */
static void test_deb_lintian(void **state)
{
	char path[512], *readme, *sec, *save = NULL;
	struct kh_run r;
	int tags = 0;

	kh_runv(&r, NULL, (char *[]){ "lintian", "--version", NULL });
	kh_run_free(&r);
	if (r.rc)
		KH_SKIP("lintian is not installed (make deps installs it)");
	if (access(deb, R_OK))
		assert_int_equal(make((char *[]){ "deb", NULL }), 0);
	snprintf(path, sizeof(path), "%s/README.md", kh_src_dir());
	readme = kh_read_file(path);
	sec = strstr(readme, "<!-- lintian-tags");
	assert_non_null(sec);
	*strstr(sec, "<!-- /lintian-tags -->") = 0;
	kh_runv(&r, NULL, (char *[]){ "lintian", "-I", "-E", "--pedantic", deb, NULL });
	for (char *l = strtok_r(r.out, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
		char kind, tag[128], want[140];

		if (sscanf(l, "%c: kvmheat: %127s", &kind, tag) != 2)
			continue;
		printf("# lintian: %s\n", l);
		snprintf(want, sizeof(want), "`%s", tag);
		if (kind == 'E' || kind == 'W' || !strstr(sec, want))
			fail_msg("lintian tag %s (%c) is not explained in README.md", tag, kind);
		tags++;
	}
	printf("# %d informational tags, all explained\n", tags);
	kh_run_free(&r);
	free(readme);
}

/* A suite binary run against the installed kvmheat: its TAP, every test ok or skipped. */
static void run_suite_test(const char *name)
{
	char bin[600], *save = NULL;
	int ok = 0, skipped = 0, failed = 0;
	struct kh_run r;

	snprintf(bin, sizeof(bin), "%s/tests/%s", kh_build_dir(), name);
	kh_runv(&r, (char *[]){ "KH_KVMHEAT=/usr/sbin/kvmheat", "CMOCKA_MESSAGE_OUTPUT=TAP", NULL },
		(char *[]){ bin, NULL });
	for (char *l = strtok_r(r.out, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
		/* its TAP must not pass for ours: every line as a comment */
		printf("#   [%s] %s\n", name, l);
		ok += !strncmp(l, "ok ", 3);
		skipped += !strncmp(l, "not ok ", 7) && strstr(l, "# SKIP");
		failed += !strncmp(l, "not ok ", 7) && !strstr(l, "# SKIP");
	}
	printf("# %s against /usr/sbin/kvmheat: %d passed, %d failed, %d skipped, exit %d\n", name,
	       ok, failed, skipped, r.rc);
	assert_int_equal(failed, 0);
	assert_int_equal(r.rc, 0);
	assert_true(ok >= 3);
	kh_run_free(&r);
}

static void check_installed(void)
{
	char script[600], *verbs;
	struct kh_run r;
	struct stat st;

	assert_int_equal(stat("/usr/sbin/kvmheat", &st), 0);
	assert_int_equal(st.st_mode & 07777, 0755);
	/* on root's PATH, ahead of nothing else named so */
	kh_runv(&r, (char *[]){ "PATH=/usr/sbin:/usr/bin:/sbin:/bin", NULL },
		(char *[]){ "sh", "-c", "command -v kvmheat", NULL });
	assert_string_equal(r.out, "/usr/sbin/kvmheat\n");
	kh_run_free(&r);
	/* man finds the pages by name */
	kh_runv(&r, NULL, (char *[]){ "man", "-w", "kvmheat-record", NULL });
	assert_string_equal(r.out, "/usr/share/man/man8/kvmheat-record.8.gz\n");
	kh_run_free(&r);
	/* the installed completion is the tree's, and works */
	snprintf(script, sizeof(script), "cmp -s /usr/share/bash-completion/completions/kvmheat "
		 "'%s/completion/kvmheat'", kh_src_dir());
	assert_int_equal(system(script), 0);
	verbs = kh_complete("/usr/share/bash-completion/completions/kvmheat", 1,
			    (char *[]){ "kvmheat", "re", NULL });
	assert_string_equal(verbs, "record\nreport\n");
	free(verbs);
}

static void test_deb_install_run_remove(void **state)
{
	char st[128];
	struct files f = {};

	if (!kh_is_root())
		KH_SKIP("dpkg -i needs root");
	if (access(deb, R_OK))
		assert_int_equal(make((char *[]){ "deb", NULL }), 0);
	pkg_status(st, sizeof(st));
	if (pkg_installed()) {
		if (!strstr(st, " " KH_VERSION))
			KH_SKIP("kvmheat %s is installed here: not replacing someone's package", st);
		/* ours, left by an interrupted run */
		printf("# removing a leftover kvmheat package (%s)\n", st);
		assert_int_equal(dpkg((char *[]){ "-r", "kvmheat", NULL }), 0);
	}
	assert_int_equal(dpkg((char *[]){ "-i", deb, NULL }), 0);
	*(bool *)*state = true;
	assert_true(pkg_installed());
	check_installed();
	run_suite_test("test_cli");
	run_suite_test("test_env");
	assert_int_equal(dpkg((char *[]){ "-r", "kvmheat", NULL }), 0);
	*(bool *)*state = false;
	pkg_status(st, sizeof(st));
	printf("# after dpkg -r: '%s'\n", st);
	assert_false(pkg_installed());
	/* nothing of the package is left: no file, no doc directory */
	deb_files(&f);
	for (int i = 0; i < f.n; i++)
		if (!access(f.path[i], F_OK))
			fail_msg("%s is still there after dpkg -r", f.path[i]);
	assert_int_not_equal(access("/usr/share/doc/kvmheat", F_OK), 0);
	files_free(&f);
}

static int pkg_setup(void **state)
{
	*state = calloc(1, sizeof(bool));
	return *state ? 0 : -1;
}

/* A failed assertion between dpkg -i and -r must not leave the package behind. */
static int pkg_teardown(void **state)
{
	if (*(bool *)*state && dpkg((char *[]){ "-r", "kvmheat", NULL }))
		printf("# could not remove the kvmheat package: run dpkg -r kvmheat\n");
	free(*state);
	return 0;
}

static void test_static_binary(void **state)
{
	struct timespec t0, t1;
	struct kh_run r;
	const char *bin = "build-static/kvmheat";
	char path[600];

	clock_gettime(CLOCK_MONOTONIC, &t0);
	/* its own build (build-static, STATIC=1), whatever the suite's is */
	assert_int_equal(make_in(false, (char *[]){ "static", NULL }), 0);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	printf("# make static: %.1f s\n", t1.tv_sec - t0.tv_sec + (t1.tv_nsec - t0.tv_nsec) / 1e9);
	snprintf(path, sizeof(path), "%s/%s", kh_src_dir(), bin);
	kh_runv(&r, NULL, (char *[]){ "ldd", path, NULL });
	printf("# ldd: %s%s", r.out, r.err);
	assert_true(strstr(r.out, "not a dynamic executable") ||
		    strstr(r.err, "not a dynamic executable"));
	kh_run_free(&r);
	kh_runv(&r, NULL, (char *[]){ path, "version", "-j", NULL });
	assert_int_equal(r.rc, 0);
	assert_non_null(strstr(r.out, "\"static\": true"));
	kh_run_free(&r);
	if (!kh_is_root())
		KH_SKIP("probe and list load BPF: need root");
	kh_runv(&r, NULL, (char *[]){ path, "probe", "-j", NULL });
	printf("# static probe -j -> %d\n", r.rc);
	assert_true(r.rc == 0 || r.rc == 4);
	assert_non_null(strstr(r.out, "\"sources\""));
	kh_run_free(&r);
	kh_runv(&r, NULL, (char *[]){ path, "list", "-j", NULL });
	assert_int_equal(r.rc, 0);
	assert_non_null(strstr(r.out, "\"vms\""));
	kh_run_free(&r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_destdir_install),
		cmocka_unit_test(test_deb_contents),
		cmocka_unit_test(test_deb_depends),
		cmocka_unit_test(test_deb_lintian),
		cmocka_unit_test_setup_teardown(test_deb_install_run_remove, pkg_setup,
						pkg_teardown),
		cmocka_unit_test(test_static_binary),
	};

	return cmocka_run_group_tests_name("install, package, static binary", tests, deb_setup,
					   NULL);
}
