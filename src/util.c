// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* Errors, signals, clocks and small helpers shared by every layer (base.h). */
#include <ctype.h>
#include <errno.h>
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
#include "base.h"

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
int kh_check_caps(char *why, size_t len)
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
	snprintf(why, len, "kvmheat %s to load tracing programs (missing %s)", KH_MSG_PRIVS,
		 !bpf && !perfmon ? "CAP_BPF and CAP_PERFMON" : !bpf ? "CAP_BPF" : "CAP_PERFMON");
	return -EPERM;
}

int kh_exit_code(int err)
{
	switch (err) {
	case 0:
		return KH_EXIT_OK;
	case -ESRCH:
		return KH_EXIT_NO_VM;
	case -ENXIO:
		return KH_EXIT_NO_SOURCE;
	case -EPERM:
	case -EACCES:
	case -ENODEV:
		return KH_EXIT_ENV;
	default:
		return KH_EXIT_ERROR;
	}
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
