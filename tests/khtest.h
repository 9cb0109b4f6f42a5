/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * Shared test scaffolding.  Every test binary is a cmocka group; tests/run.sh
 * runs them with TAP output and prints the suite's "N passed, N failed,
 * N skipped" line.  A test that cannot run here calls KH_SKIP() with the
 * reason: it is counted as skipped, never as passed.
 */
#ifndef KHTEST_H
#define KHTEST_H

#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#define KH_SKIP(...)                                                   \
	do {                                                           \
		printf("# SKIP reason: " __VA_ARGS__);                 \
		printf("\n");                                          \
		fflush(stdout);                                        \
		skip();                                                \
	} while (0)

/* Where the build put kvmheat and khguest (tests/run.sh sets KH_BUILD). */
static inline const char *kh_build_dir(void)
{
	const char *d = getenv("KH_BUILD");

	return d && *d ? d : "build";
}

/*
 * The kvmheat under test: KH_KVMHEAT when set (test_install runs the CLI
 * tests against the packaged /usr/sbin/kvmheat so), else the build's.
 */
static inline const char *kh_kvmheat_path(char *buf, size_t len)
{
	const char *p = getenv("KH_KVMHEAT");

	if (p && *p)
		snprintf(buf, len, "%s", p);
	else
		snprintf(buf, len, "%s/kvmheat", kh_build_dir());
	return buf;
}

/* The source tree: tests run from it (make test) unless KH_SRCDIR says. */
static inline const char *kh_src_dir(void)
{
	const char *r = getenv("KH_SRCDIR");

	return r && *r ? r : ".";
}

/* A whole file, NUL-terminated (malloc'd), or NULL when it cannot be read. */
static inline char *kh_slurp(const char *path)
{
	FILE *f = fopen(path, "r");
	char *buf;
	long n;

	if (!f)
		return NULL;
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	fseek(f, 0, SEEK_SET);
	buf = n >= 0 ? calloc(1, n + 1) : NULL;
	if (buf && fread(buf, 1, n, f) != (size_t)n)
		buf[0] = 0;
	fclose(f);
	return buf;
}

static inline int kh_is_root(void)
{
	return geteuid() == 0;
}

#endif /* KHTEST_H */
