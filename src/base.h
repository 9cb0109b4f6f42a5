/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * kvmheat base layer: errors, parsing, names, kh_counts arithmetic, array
 * growth, clocks.  Everything above includes it; it includes nothing of
 * kvmheat's but the ABI header.  See src/kh.h for the whole layering.
 */
#ifndef KH_BASE_H
#define KH_BASE_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include "kvmheat.h"

#define KH_VERSION "0.1.0"

/* ---- errors (util.c) ---- */

/* Exit codes (documented in README.md and `kvmheat help`). */
enum kh_exit {
	KH_EXIT_OK = 0,
	KH_EXIT_ERROR = 1,	/* runtime failure: load, attach, I/O */
	KH_EXIT_USAGE = 2,	/* bad command line */
	KH_EXIT_NO_VM = 3,	/* target pid is not a VM / no VM found */
	KH_EXIT_NO_SOURCE = 4,	/* no event source can attach here */
	KH_EXIT_ENV = 5,	/* environment: privileges, BTF, /dev/kvm */
};

/*
 * The one error convention: library functions return 0 or -errno and, where
 * a reason helps, fill a caller's buffer with one line; commands report it
 * with kh_err() and the exit code kh_exit_code() maps the errno to:
 *   -ESRCH          KH_EXIT_NO_VM      the pid is not a VM, no VM found
 *   -ENXIO          KH_EXIT_NO_SOURCE  no requested event source can attach
 *   -EPERM, -EACCES KH_EXIT_ENV        missing privileges
 *   -ENODEV         KH_EXIT_ENV        no /dev/kvm, no kernel BTF
 *   anything else   KH_EXIT_ERROR
 * Usage errors are found while parsing, in the commands, and reported there.
 */
int kh_exit_code(int err);

/* Messages that more than one place gives, written once. */
#define KH_MSG_PRIVS	"needs root, or CAP_BPF and CAP_PERFMON"
#define KH_MSG_NO_BTF	"kernel has no BTF (/sys/kernel/btf/vmlinux): kvmheat needs " \
			"CONFIG_DEBUG_INFO_BTF=y"
#define KH_MSG_NOT_VM	"pid %u is not a KVM VM (it holds no kvm-vm file)"
#define KH_MSG_NO_KVM	"no /dev/kvm: KVM is not loaded on this host, so there are no " \
			"VMs to watch"

/* The only global: set from signal handlers, polled by loops. */
extern volatile sig_atomic_t kh_exiting;
void kh_install_signals(void);

/* Options every subcommand shares. */
struct kh_opts {
	bool json;
	int verbose;
};

/* "kvmheat: error: ..." (or JSON on stdout with -j); returns @code. */
int kh_err(const struct kh_opts *o, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
void kh_warn(const struct kh_opts *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
const char *kh_errstr(int err, char *buf, size_t len);
/* 0, or -EPERM with the missing capabilities named in @why. */
int kh_check_caps(char *why, size_t len);

/* ---- parsing (parse.c): 0 or -EINVAL/-ERANGE, @out untouched on error ---- */
int kh_parse_u64(const char *s, uint64_t *out);
int kh_parse_pid(const char *s, uint32_t *out);
int kh_parse_size(const char *s, uint64_t *out);
/* --ringbuf: a BPF ring buffer is a power of two from 4 KiB; 1 GiB is plenty */
#define KH_RINGBUF_MIN	4096ULL
#define KH_RINGBUF_MAX	(1ULL << 30)
int kh_parse_seconds(const char *s, double *out);
/* "A-B", "A" or "A-" (to UINT64_MAX), inclusive (trace, report, heatmap --gfn). */
#define KH_GFN_MAX	(~0ULL >> KH_PAGE_SHIFT)
int kh_parse_gfn_range(const char *s, uint64_t *lo, uint64_t *hi);
/* "T0-T1" or "T0-" in seconds since a recording's start (report, heatmap --time). */
int kh_parse_trange(const char *s, double *t0, double *t1);
/* One -p element into a pid; 0 or -errno with a reason (kh_resolve_vm is one). */
typedef int (*kh_pid_resolver)(const char *arg, uint32_t *pid, char *why, size_t whylen);
/* "PID[,PID..]" into a malloc'd array (record -p, export -p); @one NULL: pids only. */
int kh_parse_pid_list(const char *s, uint32_t **pids, size_t *n, kh_pid_resolver one,
		      char *why, size_t whylen);

/* ---- names (names.c) ---- */
enum kh_method {
	KH_M_AUTO = 0,		/* not forced: probing picks (the zero value) */
	KH_M_FENTRY,
	KH_M_FEXIT,
	KH_M_KPROBE,
	KH_M_TP_BTF,
	KH_M_RAW_TP,
	KH_M_TRACEPOINT,
	KH_M_MAX
};
#define KH_M_FIRST	KH_M_FENTRY

const char *kh_method_name(enum kh_method m);
int kh_method_parse(const char *s, enum kh_method *m);
const char *kh_source_name(enum kh_source s);
int kh_source_parse(const char *s, enum kh_source *src);
const char *kh_stat_name(int stat);
/* "aging,walk" -> bitmask; "walk=raw_tp" -> force[walk] (-e and -m of every command). */
int kh_parse_sources(const char *s, uint32_t *mask);
int kh_parse_force(const char *s, enum kh_method force[KH_SRC_MAX]);

/* ---- counts (counts.c): the one place that knows kh_counts' fields ---- */
struct kh_gfn_stat {
	uint32_t pid;
	uint64_t gfn;
	struct kh_counts c;
	bool has_subpages;
	struct kh_subpages sp;
};

/* @t += @d: counters add, mask and flags OR. */
void kh_counts_add(struct kh_counts *t, const struct kh_counts *d);
/*
 * @cur - @prev into @d, for cumulative counters read twice.  False if a
 * counter went down (the entry was evicted and began again): then @d is
 * left as it was and the caller takes @cur whole.
 */
bool kh_counts_sub(const struct kh_counts *cur, const struct kh_counts *prev,
		   struct kh_counts *d);
/* Any counter non-zero (the sub-page mask and flags are not counters). */
bool kh_counts_any(const struct kh_counts *c);
/* qsort/bsearch order of struct kh_gfn_stat: by pid, then gfn. */
int kh_pidgfn_cmp(const void *a, const void *b);
/* qsort/bsearch order of struct kh_key (or a struct that starts with one): pid, idx. */
int kh_key_cmp(const void *a, const void *b);
/*
 * Make *@arr (of *@cap elements of @elem bytes) hold at least @need,
 * doubling: growing one element at a time made loops quadratic.
 */
int kh_grow(void *arr, size_t *cap, size_t need, size_t elem);

/* ---- small helpers (util.c) ---- */
const char *kh_fmt_bytes(uint64_t bytes, char *buf, size_t len);
void kh_libbpf_quiet(int verbose);
double kh_now(void);
uint64_t kh_now_ns(void);
int kh_log2_slot(uint64_t v);
void kh_proc_comm(uint32_t pid, char *buf, size_t len);
void kh_sleep_until(double deadline, double step);
struct json_t;
/* @j on stdout and a newline, then dropped (@flags: json_dumpf's). */
void kh_json_print(struct json_t *j, size_t flags);
/* One source's KH_STAT_MAX counters as {name: count}. */
struct json_t *kh_stats_json(const uint64_t *stats);

#endif /* KH_BASE_H */
