// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * Repository hygiene: no tracked file over 1 MiB outside vmlinux/ (a 238 MiB
 * perf recording once sat in the root and made 98% of the packed history),
 * and the root holds only the layout's folders and files.
 */
#include "khtest.h"
#include <sys/stat.h>

#define KH_MAX_TRACKED	(1 << 20)

/* The repository root: tests run from it (make test) unless told otherwise. */
static const char *kh_root(void)
{
	const char *r = getenv("KH_SRCDIR");

	return r && *r ? r : ".";
}

static FILE *kh_ls_files(void)
{
	char cmd[512];

	snprintf(cmd, sizeof(cmd), "git -C '%s' ls-files -z 2>/dev/null", kh_root());
	return popen(cmd, "r");
}

/* Reads one NUL-terminated path; false at the end. */
static bool kh_next_path(FILE *f, char *buf, size_t len)
{
	size_t n = 0;
	int c;

	while ((c = fgetc(f)) != EOF && c != 0)
		if (n + 1 < len)
			buf[n++] = (char)c;
	buf[n] = 0;
	return c != EOF || n;
}

static bool kh_in_git(void)
{
	char cmd[512];

	snprintf(cmd, sizeof(cmd), "git -C '%s' rev-parse --git-dir >/dev/null 2>&1", kh_root());
	return system(cmd) == 0;
}

static void test_no_big_tracked_files(void **state)
{
	char path[4096], full[4608];
	int nfiles = 0, big = 0;
	struct stat st;
	FILE *f;

	if (!kh_in_git())
		KH_SKIP("not a git checkout (or no git): cannot list tracked files");
	f = kh_ls_files();
	assert_non_null(f);
	while (kh_next_path(f, path, sizeof(path))) {
		nfiles++;
		if (!strncmp(path, "vmlinux/", 8))
			continue;
		snprintf(full, sizeof(full), "%s/%s", kh_root(), path);
		if (stat(full, &st) == 0 && st.st_size > KH_MAX_TRACKED) {
			printf("# tracked file over 1 MiB: %s (%lld bytes)\n", path,
			       (long long)st.st_size);
			big++;
		}
	}
	pclose(f);
	assert_true(nfiles > 10);
	assert_int_equal(big, 0);
}

/* Top-level entries a checkout may hold; anything else is a stray file. */
static bool kh_root_entry_ok(const char *p)
{
	static const char *const ok[] = {
		".ci/", ".gitignore", "Makefile", "README.md", "bpf/", "contrib/", "docs/",
		"include/", "man/", "src/", "tests/", "tools/", "vmlinux/", "debian/",
		"completion/", NULL,
	};

	for (int i = 0; ok[i]; i++) {
		size_t n = strlen(ok[i]);

		if (ok[i][n - 1] == '/' ? !strncmp(p, ok[i], n) : !strcmp(p, ok[i]))
			return true;
	}
	return false;
}

static void test_root_holds_only_the_layout(void **state)
{
	char path[4096];
	int stray = 0;
	FILE *f;

	if (!kh_in_git())
		KH_SKIP("not a git checkout (or no git): cannot list tracked files");
	f = kh_ls_files();
	assert_non_null(f);
	while (kh_next_path(f, path, sizeof(path))) {
		if (!kh_root_entry_ok(path)) {
			printf("# stray tracked file: %s\n", path);
			stray++;
		}
	}
	pclose(f);
	assert_int_equal(stray, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_no_big_tracked_files),
		cmocka_unit_test(test_root_holds_only_the_layout),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
