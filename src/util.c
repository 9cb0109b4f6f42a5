// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* Errors, parsing and small helpers shared by every subcommand. */
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/syscall.h>
#include <linux/capability.h>
#include <jansson.h>
#include <bpf/libbpf.h>
#include "kh.h"

volatile sig_atomic_t kh_exiting;

static void kh_on_signal(int sig)
{
	(void)sig;
	kh_exiting = 1;
}

void kh_install_signals(void)
{
	struct sigaction sa = { .sa_handler = kh_on_signal };

	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
}

/*
 * The one error path: "kvmheat: error: ..." on stderr, or, in JSON mode,
 * {"error": "..."} on stdout so a consumer's parser still gets JSON.
 * Returns @code so callers can `return kh_err(o, KH_EXIT_..., ...)`.
 */
int kh_err(const struct kh_opts *o, int code, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (o && o->json) {
		kh_json_print(json_pack("{s:s, s:i}", "error", msg, "exit_code", code),
			      JSON_COMPACT);
		fflush(stdout);
	} else {
		fprintf(stderr, "kvmheat: error: %s\n", msg);
	}
	return code;
}

void kh_json_print(json_t *j, size_t flags)
{
	json_dumpf(j, stdout, flags);
	fputc('\n', stdout);
	json_decref(j);
}

json_t *kh_stats_json(const uint64_t *stats)
{
	json_t *st = json_object();

	for (int k = 0; k < KH_STAT_MAX; k++)
		json_object_set_new(st, kh_stat_name(k), json_integer((json_int_t)stats[k]));
	return st;
}

void kh_warn(const struct kh_opts *o, const char *fmt, ...)
{
	va_list ap;

	(void)o;
	fputs("kvmheat: warning: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

/*
 * Tracing programs and iterators need CAP_BPF and CAP_PERFMON (5.8+) or
 * CAP_SYS_ADMIN.  Checked up front so an unprivileged run gets one line
 * naming what is missing instead of every probe failing with EPERM.
 */
int kh_check_caps(const struct kh_opts *o)
{
	struct __user_cap_header_struct h = { .version = _LINUX_CAPABILITY_VERSION_3 };
	struct __user_cap_data_struct d[2] = {};
	bool bpf, perfmon;

	if (syscall(SYS_capget, &h, d))
		return 0;	/* cannot tell: let the load itself say */
#define KH_HAS_CAP(c) (d[(c) / 32].effective & (1U << ((c) % 32)))
	if (KH_HAS_CAP(CAP_SYS_ADMIN))
		return 0;
	bpf = KH_HAS_CAP(CAP_BPF);
	perfmon = KH_HAS_CAP(CAP_PERFMON);
#undef KH_HAS_CAP
	if (bpf && perfmon)
		return 0;
	return kh_err(o, KH_EXIT_ENV, "kvmheat needs %s to load tracing programs (run as root, "
		      "or grant CAP_BPF and CAP_PERFMON)",
		      !bpf && !perfmon ? "CAP_BPF and CAP_PERFMON" : !bpf ? "CAP_BPF" : "CAP_PERFMON");
}

/* libbpf_strerror knows libbpf's own codes as well as errno values. */
const char *kh_errstr(int err, char *buf, size_t len)
{
	if (err < 0)
		err = -err;
	if (libbpf_strerror(err, buf, len))
		snprintf(buf, len, "%s", strerror(err));
	return buf;
}

/* getopt_long returned '?': name the option that was wrong, in one line. */
int kh_bad_option(const struct kh_opts *o, const char *cmd, char **argv)
{
	const char *bad = optind > 0 ? argv[optind - 1] : "?";

	return kh_err(o, KH_EXIT_USAGE, "%s: unknown option or missing value: '%s' "
		      "(see kvmheat %s -h)", cmd, bad, cmd);
}

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

const char *kh_fmt_bytes(uint64_t bytes, char *buf, size_t len)
{
	static const char *unit[] = { "B", "KiB", "MiB", "GiB", "TiB", "PiB" };
	double v = (double)bytes;
	int u = 0;

	/* 1023.95 and up would print as 1024.0 of the smaller unit */
	while (v >= 1023.95 && u < 5) {
		v /= 1024;
		u++;
	}
	if (u == 0)
		snprintf(buf, len, "%" PRIu64 " B", bytes);
	else
		snprintf(buf, len, "%.1f %s", v, unit[u]);
	return buf;
}

static int kh_libbpf_print(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	return vfprintf(stderr, fmt, ap);
}

/*
 * libbpf reports every failed candidate while probing; that is expected,
 * so its output is shown only with -v (probe results carry the reasons).
 */
void kh_libbpf_quiet(int verbose)
{
	libbpf_set_print(verbose ? kh_libbpf_print : NULL);
}

/* floor(log2(v)), 0 for 0: the bucket of bcc-style histograms and heat scales */
int kh_log2_slot(uint64_t v)
{
	return v ? 63 - __builtin_clzll(v) : 0;
}

uint64_t kh_now_ns(void)
{
	struct timespec ts;

	/* the clock bpf_ktime_get_ns() uses, so event times line up with ours */
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000ULL + ts.tv_nsec;
}

/* A live process's comm into @buf; @buf is left as it was if it has gone. */
void kh_proc_comm(uint32_t pid, char *buf, size_t len)
{
	char path[64], c[32];
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%u/comm", pid);
	f = fopen(path, "r");
	if (!f)
		return;
	if (fgets(c, sizeof(c), f)) {
		c[strcspn(c, "\n")] = 0;
		snprintf(buf, len, "%s", c);
	}
	fclose(f);
}

double kh_now(void)
{
	return kh_now_ns() / 1e9;
}

/* Sleep until @deadline in @step slices; returns early on a signal. */
void kh_sleep_until(double deadline, double step)
{
	while (!kh_exiting) {
		double left = deadline - kh_now();
		struct timespec ts;

		if (left <= 0)
			return;
		if (left > step)
			left = step;
		ts.tv_sec = (time_t)left;
		ts.tv_nsec = (long)((left - ts.tv_sec) * 1e9);
		nanosleep(&ts, NULL);
	}
}
