/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * Active aging for the VMs a live command watches (scan.c): one aging
 * driver per VM (agedrv.h), one scan per --scan-interval, idle ages per
 * page (idle.h) folded from the interval's drained maps, and a small
 * per-VM summary (idle share, cold bytes, log2 age histogram) that top,
 * export and heat show.  Opt-in: without --age-driver nothing here runs,
 * since a driver changes the guest's accessed bits.
 */
#ifndef KH_SCAN_H
#define KH_SCAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include "agedrv.h"
#include "idle.h"
#include "vms.h"

#define KH_SCAN_NONE	(-2)	/* --age-driver none / not given: passive (default) */
#define KH_SCAN_AUTO	(-1)	/* --age-driver auto: the best probed driver */

#define KH_IDLE_NCOLD	4	/* cold bytes for idle age >= 1, 2, 4, 8 scans */
#define KH_IDLE_NHIST	9	/* log2 ages: 0, 1, 2-3, 4-7, ..., 128-253 (pages) */

/* What the ages of one VM say; all zero (valid false) without a driver. */
struct kh_idle_sum {
	bool valid;			/* a driver scanned this VM at least once */
	int driver;			/* enum kh_agedrv_id */
	uint64_t scans;
	uint64_t known_pages;		/* pages with an idle age */
	uint64_t idle_pages;		/* of which age >= 1 */
	uint64_t cold_bytes[KH_IDLE_NCOLD];
	uint64_t hist[KH_IDLE_NHIST];	/* pages per age bucket: 0, 1, [2^(b-1), 2^b) */
	unsigned int ws_scans;		/* N of the working set (--ws-scans, default 1) */
	uint64_t ws_pages;		/* pages young within the last N scans: age < N */
};

/* The min_age of cold_bytes[i]: 1, 2, 4, 8. */
static inline unsigned int kh_idle_cold_age(int i) { return 1U << i; }
/* Lower bound of age bucket @b of hist[] (0, 1, 2, 4, ...). */
static inline unsigned int kh_idle_hist_lo(int b) { return b ? 1U << (b - 1) : 0; }

/* Zero @s's page figures and set the working set's N (0 means the default, 1). */
void kh_idle_sum_reset(struct kh_idle_sum *s, unsigned int ws_scans);
/* Count @npages pages of idle age @age (a run of kh_idle_walk, or of a recording). */
void kh_idle_sum_add(struct kh_idle_sum *s, uint64_t npages, unsigned int age);
/* Reset, then every known age of @st; scans from @st. */
int kh_idle_summarize(const struct kh_idle *st, unsigned int ws_scans, struct kh_idle_sum *out);
/* idle_pages / known_pages as a percentage, or -1 without a known age. */
double kh_idle_sum_pct(const struct kh_idle_sum *s);
/* Two or three lines: the driver, idle bytes per min age, the age histogram. */
void kh_idle_sum_print(FILE *f, uint32_t pid, const struct kh_idle_sum *s, double interval_s);
struct json_t;
/* {"age_driver", "scans", "pages_aged", "idle_pct", "idle_bytes": {"1": ..}, "idle_age_hist": [..]} */
struct json_t *kh_idle_sum_json(const struct kh_idle_sum *s, double interval_s);

/*
 * Open the driver @want (KH_SCAN_AUTO or an id) for @pid, after probing.
 * 1: opened; 0: auto found none usable (passive; @why says why in one
 * line); -errno: the forced driver refused or failed (@why says why).
 * Shared by `kvmheat idle` and the scan set below.
 */
int kh_scan_driver_open(struct kh_ager *a, struct kh_agedrv_probe *p, uint32_t pid, int want,
			char *why, size_t whylen);

struct kh_scan_vm {
	uint32_t pid;
	uint64_t kvm;			/* tells a reused pid apart */
	bool open, seen;
	uint64_t bit_descs;		/* idle bits: the descriptors (bit i: desc[i]) it holds */
	struct kh_idle_map bits;	/* its array, idle_bits[bits_at] */
	uint32_t bits_at;
	uint64_t bits_aged, bits_young;	/* what the last fold read from its bits */
	uint64_t bits_wset;		/* of the young ones, pages no region marks touched */
	struct kh_ager ager;
	struct kh_idle st;
	struct kh_idle_sum sum;
};

/* One line for the command to print (kh_warn); the library never prints. */
typedef void (*kh_scan_note_fn)(void *ctx, const char *msg);

/* A cumulative map entry as last folded (kh_scan_fold_totals). */
struct kh_scan_prev {
	struct kh_key k;	/* idx: gfn, or region; first, for kh_key_cmp */
	uint64_t aged, accesses;
	uint32_t flags;		/* KH_F_*: a region's KH_F_RANGE_AGED */
};

/*
 * Kernel-side idle bits for every watched VM with an open driver
 * (bpf/idlebits.bpf.h): each such VM gets an array of its own, made at
 * the size it needs, and its slot descriptors.  The library never touches
 * BPF maps: the command's @map makes and maps VM array @i (-errno: the
 * kernel refused), @unmap takes it away, @publish writes one descriptor
 * and the count of entries in use.
 */
struct kh_scan_bits {
	bool on;			/* false: hash entries only */
	struct kh_idle_slot_desc desc[KH_IDLE_SLOTS];	/* npages 0: free */
	int (*publish)(void *ctx, uint32_t i, const struct kh_idle_slot_desc *d, uint32_t nr);
	int (*map)(void *ctx, uint32_t i, uint64_t nwords, struct kh_idle_map *m);
	void (*unmap)(void *ctx, uint32_t i, struct kh_idle_map *m);
	void *ctx;
};

struct kh_scan_gone {
	uint32_t pid;
	struct kh_idle_sum sum;
};

struct kh_scan {
	int want;			/* KH_SCAN_NONE, KH_SCAN_AUTO or a driver id */
	uint32_t pid;			/* only this VM (-p); 0: every VM in the set */
	double interval;		/* seconds between scans; 0: every sample */
	unsigned int ws_scans;		/* --ws-scans: working set = young within N scans */
	double next;			/* when the next scan is due */
	bool pending;			/* a scan ran since the last fold */
	size_t n, cap;
	struct kh_scan_vm *vms;
	kh_scan_note_fn note;
	void *note_ctx;
	struct kh_scan_prev *pg, *pr;	/* kh_scan_fold_totals: the last totals folded */
	size_t npg, npr;
	struct kh_scan_bits bits;
	/*
	 * keep_gone (heat: its report covers VMs that exited meanwhile): the
	 * last summary of each gone VM, which kh_scan_sum still gives.
	 */
	bool keep_gone;
	struct kh_scan_gone *gone;
	size_t ngone;
};

/*
 * Give @v (ages initialised) an array of idle bits and descriptors: 1
 * given; 0 none free or the kernel refused the array (@m: one line saying
 * so; its aging results take hash entries); -errno publishing failed.
 * kh_scan_sync calls these; put takes them back (also what a failed get
 * left).
 */
int kh_scan_bits_get(struct kh_scan *sc, struct kh_scan_vm *v, char *m, size_t mlen);
void kh_scan_bits_put(struct kh_scan *sc, struct kh_scan_vm *v);

static inline bool kh_scan_on(const struct kh_scan *sc) { return sc->want != KH_SCAN_NONE; }
/*
 * Probe what needs no VM once, at start: 0 go on; 1 auto found nothing
 * usable on this host, so the set turns passive (@why: one line naming
 * every driver's reason); -ENODEV the forced driver refused (@why).
 */
int kh_scan_start(struct kh_scan *sc, char *why, size_t whylen);
/*
 * Follow @vms: probe and open a driver for each new VM, close and forget
 * the gone ones.  A forced driver that refuses a VM leaves it passive and
 * returns -errno with @why (the caller decides: fail at start, warn later);
 * auto finding none usable is a note.
 */
int kh_scan_sync(struct kh_scan *sc, const struct kh_vmset *vms, char *why, size_t whylen);
/* Before draining: run one scan of every VM if one is due at @now. */
void kh_scan_tick(struct kh_scan *sc, const struct kh_vmset *vms, double now);
/*
 * After draining: fold the drained gfn/region entries into the ages (a
 * scan when one ran since the last fold; otherwise only access signals
 * reset ages) and recompute each VM's summary.  0 or -ENOMEM.
 */
int kh_scan_fold(struct kh_scan *sc, const struct kh_key *gk, const struct kh_counts *gv,
		 size_t ng, const struct kh_key *rk, const struct kh_region *rv, size_t nr);
/*
 * kh_scan_fold for a command whose maps stay cumulative (heat): @g, @rk/@rv
 * are whole reads; what changed since the last call is folded.  A counter
 * that went down (an LRU eviction) counts whole.  0 or -ENOMEM.
 */
struct kh_gfn_stat;
int kh_scan_fold_totals(struct kh_scan *sc, const struct kh_gfn_stat *g, size_t n,
			const struct kh_key *rk, const struct kh_region *rv, size_t nr);
/*
 * Aging checks and young results the last fold read from @pid's idle bits
 * (they made no hash entry, so the rows' counters lack them), and @wset the
 * young pages no drained region marks touched (the rows' working set lacks
 * them): true when the VM has bits.
 */
bool kh_scan_bits_counts(const struct kh_scan *sc, uint32_t pid, uint64_t *aged,
			 uint64_t *young, uint64_t *wset);
/*
 * kh_scan_sync after a fold: a VM that came later and refuses the driver
 * stays passive, said through sc->note; only -ENOMEM is returned.
 */
int kh_scan_follow(struct kh_scan *sc, const struct kh_vmset *vms);
/* The summary of @pid, or NULL (not watched, or passive). */
const struct kh_idle_sum *kh_scan_sum(const struct kh_scan *sc, uint32_t pid);
void kh_scan_free(struct kh_scan *sc);

#endif /* KH_SCAN_H */
