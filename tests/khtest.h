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

static inline int kh_is_root(void)
{
	return geteuid() == 0;
}

#endif /* KHTEST_H */
