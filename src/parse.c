// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * Parsers of outside input (options, ranges): strict, so "12x", " 1" or a
 * sign is refused rather than half-read.  Fuzzed by tests/fuzz/fuzz_parse.c.
 */
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "base.h"

int kh_parse_u64(const char *s, uint64_t *out)
{
	char *end;
	unsigned long long v;

	/* strtoull would skip spaces and accept a sign: only digits may start */
	if (!s || !isdigit((unsigned char)*s))
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 0);
	if (errno || *end)
		return -EINVAL;
	*out = v;
	return 0;
}

/* A byte size: digits with an optional k, m or g (powers of 1024). */
int kh_parse_size(const char *s, uint64_t *out)
{
	static const char units[] = "kmg";
	char num[32];
	const char *u;
	size_t n;
	uint64_t v;

	if (!s || !(n = strlen(s)) || n >= sizeof(num))
		return -EINVAL;
	memcpy(num, s, n + 1);
	u = strchr(units, tolower((unsigned char)num[n - 1]));
	if (u && *u)
		num[n - 1] = 0;
	if (kh_parse_u64(num, &v))
		return -EINVAL;
	for (int shift = u && *u ? 10 * (int)(u - units + 1) : 0; shift; shift -= 10) {
		if (v > (UINT64_MAX >> 10))
			return -ERANGE;
		v <<= 10;
	}
	*out = v;
	return 0;
}

int kh_parse_pid(const char *s, uint32_t *out)
{
	uint64_t v;

	if (kh_parse_u64(s, &v) || v == 0 || v > 0x3fffffff)
		return -EINVAL;
	*out = (uint32_t)v;
	return 0;
}

/*
 * A gfn range, inclusive, for --gfn of trace, report and heatmap: "A-B",
 * "A" (that gfn alone) or "A-" (A to the end); decimal or 0x hex.  A start
 * beyond the last gfn a guest can have (2^52 - 1 with 4 KiB pages) could
 * never match, so it is refused rather than silently showing nothing.
 */
int kh_parse_gfn_range(const char *s, uint64_t *lo, uint64_t *hi)
{
	char buf[64], *dash;

	if (!s || strlen(s) >= sizeof(buf))
		return -EINVAL;
	snprintf(buf, sizeof(buf), "%s", s);
	dash = strchr(buf, '-');
	if (dash)
		*dash = 0;
	if (kh_parse_u64(buf, lo))
		return -EINVAL;
	if (!dash)
		*hi = *lo;
	else if (!dash[1])
		*hi = UINT64_MAX;
	else if (kh_parse_u64(dash + 1, hi))
		return -EINVAL;
	if (*lo > *hi || *lo > KH_GFN_MAX)
		return -ERANGE;
	return 0;
}

int kh_parse_seconds(const char *s, double *out)
{
	char *end;
	double v;

	/* plain decimal only: no spaces, signs, hex floats, inf or nan */
	if (!s || !(isdigit((unsigned char)*s) || *s == '.') || strpbrk(s, "xXpPeE"))
		return -EINVAL;
	errno = 0;
	v = strtod(s, &end);
	if (errno || *end || !(v > 0) || v > 1e7)
		return -EINVAL;
	*out = v;
	return 0;
}

/* "T0-T1" in seconds since the start; "T0-" to the end. */
int kh_parse_trange(const char *s, double *t0, double *t1)
{
	char buf[64], *dash, *end;

	if (!s || strlen(s) >= sizeof(buf))
		return -EINVAL;
	strcpy(buf, s);
	dash = strchr(buf, '-');
	if (!dash || dash == buf)
		return -EINVAL;
	*dash = 0;
	errno = 0;
	*t0 = strtod(buf, &end);
	if (errno || *end || *t0 < 0 || strpbrk(buf, "xXpPeEnNiI"))
		return -EINVAL;
	if (!dash[1]) {
		*t1 = 1e18;
		return 0;
	}
	if (strpbrk(dash + 1, "xXpPeEnNiI+-"))
		return -EINVAL;
	*t1 = strtod(dash + 1, &end);
	if (errno || *end || *t1 < *t0)
		return -EINVAL;
	return 0;
}

/*
 * "PID[,PID..]": at least one element, each through @one (a pid, or with
 * kh_resolve_vm also a running VM's name or uuid; NULL: pids only).
 */
int kh_parse_pid_list(const char *s, uint32_t **pids, size_t *n, kh_pid_resolver one,
		      char *why, size_t whylen)
{
	char *dup = strdup(s), *tok, *save = NULL;
	size_t cap = *n;
	int err = 0;

	if (!dup)
		return -ENOMEM;
	for (tok = strtok_r(dup, ",", &save); tok && !err; tok = strtok_r(NULL, ",", &save)) {
		if (kh_grow(pids, &cap, *n + 1, sizeof(**pids))) {
			err = -ENOMEM;
			break;
		}
		err = one ? one(tok, &(*pids)[*n], why, whylen) : kh_parse_pid(tok, &(*pids)[*n]);
		if (!err)
			(*n)++;
	}
	free(dup);
	return err ? err : (*n ? 0 : -EINVAL);
}
