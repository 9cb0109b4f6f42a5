/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * export.c: the library layer of `kvmheat export`.  A snapshot is what one
 * sampling interval produced (per-VM counters since the exporter started
 * watching the VM, the interval's working set and per-page access
 * histogram, per-source event and loss counters, BPF cost); rendering a
 * snapshot in the Prometheus text format 0.0.4 or OpenMetrics 1.0.0 is
 * O(number of VMs).  Nothing here touches BPF or HTTP, so the unit tests
 * build snapshots by hand.
 */
#ifndef KH_EXPORT_H
#define KH_EXPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "view.h"
#include "scan.h"

/* The default listen address: loopback, outside the 9100-9999 exporter range. */
#define KH_EXP_ADDR		"127.0.0.1"
#define KH_EXP_PORT		8477

/* Histogram upper bounds le = 2^0 .. 2^(KH_EXP_BUCKETS-1), then +Inf. */
#define KH_EXP_BUCKETS		16

enum kh_exp_fmt {
	KH_EXP_TEXT,		/* text/plain; version=0.0.4 */
	KH_EXP_OPENMETRICS,	/* application/openmetrics-text; version=1.0.0 */
};

#define KH_EXP_CT_TEXT	"text/plain; version=0.0.4; charset=utf-8"
#define KH_EXP_CT_OM	"application/openmetrics-text; version=1.0.0; charset=utf-8"

struct kh_exp_vm {
	uint32_t pid;
	uint64_t kvm;			/* struct kvm *: tells a reused pid apart */
	char domain[128];		/* the `domain` label (kh_exp_domain) */
	char comm[17];
	uint32_t nr_vcpus;
	uint64_t mem_bytes;
	/* counters since the exporter first saw this VM */
	struct kh_counts tot;
	uint64_t hist[KH_EXP_BUCKETS + 1];	/* per bucket (not cumulative); last: > max */
	uint64_t hist_sum, hist_count;
	/* gauges over the last interval */
	uint64_t wset_pages;
	/* --age-driver: idle ages over the scans so far (idle.valid false: none, no series) */
	struct kh_idle_sum idle;
};

struct kh_exp_src {
	bool requested, available;
	char method[48];		/* chosen attach methods, "none" when unavailable */
	char hooks[256];		/* kh_source_desc() */
	uint64_t events, lost;		/* since the exporter started */
};

struct kh_exp_snap {
	char version[16], kernel[65];
	bool up;			/* the last interval read the BPF maps */
	double interval;		/* seconds between samples (-i) */
	double scan_interval;		/* seconds between aging scans (--age-driver) */
	double sample_seconds;		/* how long the last sample took */
	uint64_t samples;
	uint64_t map_bytes;
	bool cost_on;			/* kernel.bpf_stats_enabled was 1 */
	uint64_t bpf_runs, bpf_ns;
	struct kh_exp_src src[KH_SRC_MAX];
	size_t n;
	struct kh_exp_vm *vms;		/* sorted by pid */
};

/*
 * The `domain` label of a VM: its name where known, else "pid-<pid>".
 * The one place that decides it.
 */
void kh_exp_domain(const struct kh_vm *vm, char *buf, size_t len);

/* Which format a scraper's Accept header asks for (NULL: text). */
enum kh_exp_fmt kh_exp_negotiate(const char *accept);

/*
 * Build @next from @prev and one drained interval: the VMs in @vms (only
 * @pid's when non-zero) with @prev's totals carried over where the same VM
 * (pid and struct kvm) was there before, plus the interval's region
 * counters @rk/@rv and per-gfn counters @gk/@gv.  VMs not in @vms are
 * dropped, so an exited VM vanishes from the next scrape.  Global fields
 * (sources, cost, up) are the caller's.  Returns 0 or -ENOMEM.
 */
int kh_exp_fold(struct kh_exp_snap *next, const struct kh_exp_snap *prev,
		const struct kh_vmset *vms, uint32_t pid, const struct kh_key *rk,
		const struct kh_region *rv, size_t nr, const struct kh_key *gk,
		const struct kh_counts *gv, size_t ng);
/* Histogram slot of a per-page count @v >= 1: the smallest i with v <= 2^i. */
int kh_exp_bucket(uint64_t v);
void kh_exp_snap_free(struct kh_exp_snap *s);

/* The whole exposition of @s into a malloc'd buffer. Returns 0 or -errno. */
int kh_exp_render(const struct kh_exp_snap *s, enum kh_exp_fmt fmt, char **out, size_t *len);

/*
 * Textfile mode: write @s (text format, no timestamps) to a temp file next
 * to @path and rename it over @path, so a reader sees the old file or the
 * new one, never a part.  Returns 0 or -errno with @why filled.
 */
int kh_exp_write_textfile(const char *path, const struct kh_exp_snap *s, char *why,
			  size_t whylen);

#endif /* KH_EXPORT_H */
