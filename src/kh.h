/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/* kvmheat userspace: internal interfaces between the src/ modules. */
#ifndef KH_H
#define KH_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include "kvmheat.h"

#define KH_VERSION "0.1.0"

/* Exit codes (documented in README.md and `kvmheat help`). */
enum kh_exit {
	KH_EXIT_OK = 0,
	KH_EXIT_ERROR = 1,	/* runtime failure: load, attach, I/O */
	KH_EXIT_USAGE = 2,	/* bad command line */
	KH_EXIT_NO_VM = 3,	/* target pid is not a VM / no VM found */
	KH_EXIT_NO_SOURCE = 4,	/* no event source can attach here */
	KH_EXIT_ENV = 5,	/* environment: privileges, BTF, /dev/kvm */
};

/* The only global: set from signal handlers, polled by loops. */
extern volatile sig_atomic_t kh_exiting;
void kh_install_signals(void);

/* Options every subcommand shares. */
struct kh_opts {
	bool json;
	int verbose;
};

/* ---- util.c ---- */
int kh_err(const struct kh_opts *o, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
void kh_warn(const struct kh_opts *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
const char *kh_errstr(int err, char *buf, size_t len);
int kh_check_caps(const struct kh_opts *o);
int kh_bad_option(const struct kh_opts *o, const char *cmd, char **argv);
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
const char *kh_fmt_bytes(uint64_t bytes, char *buf, size_t len);
void kh_libbpf_quiet(int verbose);
double kh_now(void);
int kh_log2_slot(uint64_t v);
uint64_t kh_now_ns(void);
void kh_proc_comm(uint32_t pid, char *buf, size_t len);
void kh_sleep_until(double deadline, double step);
struct json_t;
/* @j on stdout and a newline, then dropped (@flags: json_dumpf's). */
void kh_json_print(struct json_t *j, size_t flags);
/* One source's KH_STAT_MAX counters as {name: count}. */
struct json_t *kh_stats_json(const uint64_t *stats);

/* ---- probe.c: which hooks this kernel has, and how to attach them ---- */
enum kh_method {
	KH_M_FENTRY,
	KH_M_FEXIT,
	KH_M_KPROBE,
	KH_M_TP_BTF,
	KH_M_RAW_TP,
	KH_M_TRACEPOINT,
	KH_M_MAX
};

#define KH_MAX_CANDS 10

struct kh_cand {
	enum kh_method method;
	const char *target;		/* kernel function or tracepoint */
	const char *progs[3];		/* kvmheat.bpf.c programs it enables */
};

struct kh_hook_def {
	const char *name;
	enum kh_source src;
	bool young_fallback;		/* only when "age" gives no result */
	struct kh_cand cands[KH_MAX_CANDS];
};

struct kh_cand_result {
	bool tried;
	bool ok;
	int err;			/* negative errno when !ok */
	char why[160];
};

struct kh_hook_state {
	int chosen;			/* index into cands, -1: unavailable */
	bool skipped;			/* not needed (e.g. young fallback) */
	char skip_why[120];
	struct kh_cand_result res[KH_MAX_CANDS];
};

struct kh_env {
	char release[65];
	bool has_btf;
	bool has_kprobes;
	bool tdp;			/* EPT/NPT in use: fault addresses are gpas */
	char vendor[16];		/* kvm_intel, kvm_amd, kvm_pvm, ... */
	bool spp;			/* kernel carries the SPP series */
	uint32_t page_fault_nargs;
	uint64_t accessed_mask;
};

extern const struct kh_hook_def kh_hooks[];
extern const size_t kh_nr_hooks;

struct kh_probe {
	struct kh_env env;
	struct kh_hook_state *hooks;	/* kh_nr_hooks entries */
	enum kh_method force[KH_SRC_MAX];	/* KH_M_MAX: no forcing */
};

const char *kh_method_name(enum kh_method m);
int kh_method_parse(const char *s, enum kh_method *m);
const char *kh_source_name(enum kh_source s);
int kh_source_parse(const char *s, enum kh_source *src);
void kh_env_detect(struct kh_env *env);
/* 5.17+ keeps memslots in trees (see bpf/vms.bpf.c). */
bool kh_memslots_tree(void);
int kh_probe_run(struct kh_probe *p, const struct kh_opts *o, uint32_t wanted_srcs);
void kh_probe_free(struct kh_probe *p);
bool kh_source_available(const struct kh_probe *p, enum kh_source src);
/* Short "fexit:kvm_age_gfn, ..." description of a source's chosen hooks. */
void kh_source_desc(const struct kh_probe *p, enum kh_source src, char *buf, size_t len);
struct kvmheat_bpf;
void kh_probe_apply(const struct kh_probe *p, struct kvmheat_bpf *skel);
void kh_set_rodata(const struct kh_env *env, struct kvmheat_bpf *skel, uint32_t targ_pid);

/* ---- vms.c: discovery through the task_file iterator ---- */
struct kh_slot {
	uint64_t base_gfn;
	uint64_t npages;
	uint64_t hva;
	uint32_t flags;
	uint16_t id;
	uint16_t as_id;
};

struct kh_vm {
	uint32_t pid;
	uint32_t nr_vcpus;
	uint64_t kvm;
	char comm[17];
	uint32_t iter_err;		/* KH_ITER_E_* seen for this VM */
	size_t nr_slots;
	struct kh_slot *slots;
};

struct kh_vmset {
	size_t n;
	struct kh_vm *vms;
};

/* A loaded iterator, reused for every rediscovery. */
struct vms_bpf;
struct bpf_link;
struct kh_disc {
	struct vms_bpf *skel;
	struct bpf_link *link;
};

int kh_vms_parse(const void *buf, size_t len, struct kh_vmset *set, char *why, size_t whylen);
int kh_disc_open(struct kh_disc *d, char *why, size_t whylen);
int kh_disc_run(struct kh_disc *d, struct kh_vmset *set, char *why, size_t whylen);
void kh_disc_close(struct kh_disc *d);
/* open + run + close, for one-shot users. */
int kh_vms_discover(struct kh_vmset *set, char *why, size_t whylen);
void kh_vms_free(struct kh_vmset *set);
struct kh_vm *kh_vms_find(struct kh_vmset *set, uint32_t pid);
struct kh_vm *kh_vms_find_kvm(struct kh_vmset *set, uint64_t kvm, uint32_t pid);
int kh_vms_put(struct kh_vmset *set, const struct kh_vm *vm);
uint64_t kh_vm_pages(const struct kh_vm *vm);
/* Index of the slot holding @gfn, or -1. */
int kh_vm_slot_of(const struct kh_vm *vm, uint64_t gfn);
int kh_cmd_list(int argc, char **argv, struct kh_opts *o);

/* ---- session.c: lifecycle of the main BPF object ---- */
/* The in-kernel event filter (record --events, trace). */
struct kh_ev_filter {
	uint32_t sources;		/* bitmask of enum kh_source; 0: all */
	bool gfn_set;			/* only gfns gfn_lo..gfn_hi (inclusive) */
	uint64_t gfn_lo, gfn_hi;
	bool writes_only;
	bool vcpu_set;			/* only events of vCPU @vcpu */
	uint32_t vcpu;
};

struct kh_session_opts {
	uint32_t pid;			/* 0: all VMs */
	uint32_t sources;		/* bitmask of enum kh_source */
	uint64_t max_gfns;		/* 0: size from guest memory */
	enum kh_method force[KH_SRC_MAX];
	bool events;			/* stream events through the ring buffer */
	uint32_t ringbuf_bytes;		/* 0: default (4 MiB) */
	uint32_t wakeup_bytes;		/* reader woken at this much unread; 0: per event */
	bool no_aggregate;		/* events only: skip per-gfn maps */
	struct kh_ev_filter filter;
	bool pid_pending;		/* @pid need not be a VM yet (record -- CMD) */
	uint64_t expect_pages;		/* size maps for this much memory; 0: from VMs */
	uint32_t idle_words;		/* kvmheat idle: idle_bits words for @pid; 0: off */
};

const char *kh_stat_name(int stat);
/* The event stream's settings and in-kernel filter into @skel before load. */
void kh_set_event_rodata(struct kvmheat_bpf *skel, const struct kh_session_opts *so);

struct kh_session {
	struct kvmheat_bpf *skel;
	struct kh_probe probe;
	struct kh_vmset vms;
	struct kh_disc disc;
	struct kh_session_opts opts;
	uint64_t gfn_entries, region_entries, subpage_entries;
	size_t nr_hva_slots;
};

/* Map sizes for @pages of tracked guest memory (see README "Maps"). */
void kh_map_sizes(uint64_t pages, uint64_t max_gfns, uint64_t *gfn_entries,
		  uint64_t *region_entries, uint64_t *subpage_entries);
int kh_session_open(struct kh_session *s, const struct kh_session_opts *so,
		    const struct kh_opts *o);
int kh_session_attach(struct kh_session *s, const struct kh_opts *o);
int kh_session_refresh(struct kh_session *s, const struct kh_opts *o);
void kh_session_close(struct kh_session *s);
/* Fill the attribution maps from s->vms. */
int kh_session_push_vms(struct kh_session *s);
int kh_read_stats(struct kh_session *s, uint64_t out[KH_NR_STATS]);
int kh_read_stat(struct kh_session *s, uint32_t idx, uint64_t *out);
uint64_t kh_fd_memlock(int fd);
uint64_t kh_session_map_bytes(struct kh_session *s);
void kh_session_cost(struct kh_session *s, uint64_t *runs, uint64_t *ns, bool *enabled);

/* ---- heat.c: per-gfn tables and their views ---- */
struct kh_gfn_stat {
	uint32_t pid;
	uint64_t gfn;
	struct kh_counts c;
	bool has_subpages;
	struct kh_subpages sp;
};

struct kh_range {
	uint32_t pid;
	uint64_t gfn_start;
	uint64_t npages;
	uint64_t accesses, writes;
	uint32_t subpage_mask;		/* OR over the range */
};

int kh_read_gfns(int gfn_fd, int sub_fd, uint32_t pid, struct kh_gfn_stat **out, size_t *n);
int kh_read_regions(int fd, uint32_t pid, struct kh_key **keys, struct kh_region **vals,
		    size_t *n);
void kh_sort_gfns_by_heat(struct kh_gfn_stat *g, size_t n);
size_t kh_hot_ranges(const struct kh_gfn_stat *g, size_t n, size_t top, struct kh_range *out);
void kh_strip(const struct kh_vm *vm, const struct kh_gfn_stat *g, size_t n, uint64_t *cols,
	      size_t width);
void kh_mask_str(uint32_t mask, char out[KH_SUBPAGES + 1]);
/* JSON of the heat types, the same in heat and report. */
struct json_t *kh_counts_json(const struct kh_counts *c);
struct json_t *kh_gfn_json(const struct kh_gfn_stat *g);
struct json_t *kh_range_json(const struct kh_range *r);
/* "aging,walk" -> bitmask; "walk=raw_tp" -> force[walk] (options of heat, top, trace). */
int kh_parse_sources(const char *s, uint32_t *mask);
int kh_parse_force(const char *s, enum kh_method force[KH_SRC_MAX]);

/* ---- opts.c: command lines, and the options several commands share ---- */
#define KH_OPT_END	0	/* kh_getopt(): all parsed */
#define KH_OPT_STOP	(-1)	/* kh_getopt(): exit now with cl->rc */
#define KH_OPT_COLOR	0x200	/* --color (long only); commands' own start at 0x100 */
/* --json, --verbose, --help and the terminator: every command's table ends so. */
#define KH_LONGOPTS_END								\
	{ "json", no_argument, NULL, 'j' }, { "verbose", no_argument, NULL, 'v' },	\
	{ "help", no_argument, NULL, 'h' }, {}
struct option;
/*
 * A command's options.  A shared one is parsed by kh_getopt() into where
 * its pointer says; with a NULL pointer, or listed in @own, the letter is
 * the command's to parse (top's -d is a delay, record's -p a list).
 */
struct kh_cmdline {
	const char *cmd;		/* names the command in messages */
	struct kh_opts *o;		/* -j, -v; errors */
	const char *help;		/* -h prints it */
	const char *shortopts;		/* for getopt_long */
	const struct option *longopts;
	const char *own;		/* -j, -v or -h letters the command parses itself */
	bool operands;			/* it takes operands (record's COMMAND) */
	uint32_t *pid;			/* -p PID */
	double *duration;		/* -d SECONDS */
	uint32_t *sources;		/* -e LIST */
	enum kh_method *force;		/* -m SOURCE=METHOD, KH_SRC_MAX entries */
	int *color;			/* --color WHEN: -1 auto, 0 never, 1 always */
	int rc;				/* after KH_OPT_STOP: the exit code */
};
/* The next option the command parses itself, KH_OPT_END or KH_OPT_STOP. */
int kh_getopt(struct kh_cmdline *cl, int argc, char **argv);
/* --color WHEN: auto means only when stdout is a terminal. */
bool kh_color_wanted(int when);
/* ---- top.c: live per-VM view ---- */
enum kh_top_col {
	KH_TOP_PID, KH_TOP_COMM, KH_TOP_VCPUS, KH_TOP_MEM, KH_TOP_ACC, KH_TOP_WR, KH_TOP_WSET,
	KH_TOP_IDLE, KH_TOP_TRACK, KH_TOP_SPP, KH_TOP_NR_COLS
};

struct kh_top_row {
	uint32_t pid, nr_vcpus;
	char comm[17];
	uint64_t mem_bytes;
	struct kh_counts c;		/* the interval's counts, summed over regions */
	uint64_t wset;			/* gfns touched in the interval */
	uint64_t aged_gfns, idle_gfns;	/* idle: aged, and no access signal */
};

/* A hash map moved into flat key/value arrays: read and emptied in one pass. */
struct kh_drain {
	void *keys, *vals;
	size_t n, cap;
};

int kh_drain_map(int fd, size_t ksz, size_t vsz, size_t max, struct kh_drain *d);
int kh_drain_slow(int fd, size_t ksz, size_t vsz, size_t max, struct kh_drain *d);
void kh_drain_free(struct kh_drain *d);
size_t kh_top_rows(const struct kh_vmset *vms, uint32_t pid, const struct kh_key *rk,
		   const struct kh_region *rv, size_t nr, const struct kh_gfn_stat *g, size_t ng,
		   struct kh_top_row *rows);
void kh_top_sort(struct kh_top_row *rows, size_t n, int col, bool reverse);

/* ---- trace.c: event stream ---- */
/* bcc-style log2 histogram: slot i counts values in [2^i, 2^(i+1)), slot 0 also 0. */
void kh_print_log2_hist(FILE *f, const uint64_t *slots, int nslots, const char *what);

int kh_cmd_heat(int argc, char **argv, struct kh_opts *o);
int kh_cmd_record(int argc, char **argv, struct kh_opts *o);
int kh_cmd_report(int argc, char **argv, struct kh_opts *o);
int kh_cmd_heatmap(int argc, char **argv, struct kh_opts *o);
int kh_cmd_top(int argc, char **argv, struct kh_opts *o);
int kh_cmd_trace(int argc, char **argv, struct kh_opts *o);
int kh_cmd_probe(int argc, char **argv, struct kh_opts *o);
int kh_cmd_idle(int argc, char **argv, struct kh_opts *o);	/* cmd_idle.c */

#endif /* KH_H */
