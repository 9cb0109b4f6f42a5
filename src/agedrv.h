/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * Aging drivers (agedrv.c): ways to make the kernel call KVM's aging
 * (kvm_age_gfn) for one VM's memory without evicting anything, so the
 * aging hooks see a young/old result per gfn on a host without memory
 * pressure.  Probed like attach methods: best first, every refusal with
 * its reason.  Kernel call paths: docs/KERNELS.md §11.
 */
#ifndef KH_AGEDRV_H
#define KH_AGEDRV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

struct kh_vm;
struct json_t;

enum kh_agedrv_id {
	KH_AD_PAGE_IDLE,	/* /sys/kernel/mm/page_idle/bitmap per PFN */
	KH_AD_MGLRU,		/* /sys/kernel/debug/lru_gen "+" of the VMM's memcg */
	KH_AD_DAMON,		/* our own kdamond, vaddr ops, no schemes */
	KH_AD_MAX
};

/*
 * Where each interface lives.  NULL fields take the real paths; the unit
 * tests point them at fake files.
 */
struct kh_agedrv_paths {
	const char *proc;		/* /proc */
	const char *page_idle;		/* /sys/kernel/mm/page_idle/bitmap */
	const char *lru_gen;		/* /sys/kernel/debug/lru_gen */
	const char *lru_gen_enabled;	/* /sys/kernel/mm/lru_gen/enabled */
	const char *damon;		/* /sys/kernel/mm/damon/admin */
	const char *cgroup;		/* /sys/fs/cgroup (v2) */
	const char *run;		/* /run/kvmheat: records of kdamonds we started */
	const char *kconfig;		/* kernel config (plain or gzip); NULL: /proc/config.gz,
					 * then /boot/config-RELEASE */
	const char *release;		/* NULL: uname -r */
};

struct kh_agedrv_result {
	bool ok;
	char why[320];			/* refusal, or what it will do when ok */
};

struct kh_agedrv_probe {
	int chosen;			/* enum kh_agedrv_id, -1: none (passive aging only) */
	int forced;			/* -1: not forced */
	struct kh_agedrv_result res[KH_AD_MAX];
	char notes[512];		/* e.g. a leftover kdamond that was removed */
};

const char *kh_agedrv_name(int id);
int kh_agedrv_parse(const char *s, int *id);
/*
 * Probe every driver for @pid (0: only what needs no VM), pick the best
 * usable one, or @force (-1: none forced; a forced driver that refuses
 * leaves chosen at -1).  Also removes a kdamond a killed kvmheat left
 * behind, and says so in p->notes.
 */
void kh_agedrv_probe(struct kh_agedrv_probe *p, const struct kh_agedrv_paths *paths,
		     uint32_t pid, int force);
struct json_t *kh_agedrv_json(const struct kh_agedrv_probe *p);
void kh_agedrv_print(const struct kh_agedrv_probe *p, FILE *f);

/* ---- page_idle helpers (exposed for the unit tests) ---- */
/* One 8-byte bitmap word: bit b of word w is PFN w*64+b. */
struct kh_idle_word {
	uint64_t idx;
	uint64_t bits;
};
/* PFNs of the present pages of [hva, hva + npages pages) from a pagemap fd. */
/* *pfns (capacity *cap) is grown as needed; *n gets the count. */
int kh_pagemap_pfns(int pagemap_fd, uint64_t hva, uint64_t npages, uint64_t **pfns,
		    size_t *n, size_t *cap);
/* Sort @pfns and fold them into words (unique, ascending); returns the count. */
size_t kh_pfn_words(uint64_t *pfns, size_t n, struct kh_idle_word *out);
/* Write the words, consecutive ones in one pwrite (at most @batch words). */
int kh_idle_bitmap_write(int bitmap_fd, const struct kh_idle_word *w, size_t n, size_t batch,
			 size_t *writes);

/* ---- lru_gen helpers (exposed for the unit tests) ---- */
#define KH_LRU_MAX_NODES 64
struct kh_lrugen_memcg {
	uint64_t id;
	size_t nr_nodes;
	int node[KH_LRU_MAX_NODES];
	uint64_t max_seq[KH_LRU_MAX_NODES];
};
/* Find cgroup @path ("/a/b") in lru_gen's text: 0, -ENOENT, -EINVAL (garbled). */
int kh_lrugen_parse(const char *text, const char *path, struct kh_lrugen_memcg *out);
/*
 * Age @node of memcg @path once: read max_seq, write "+ ID NODE MAX_SEQ 1 1",
 * read again and check max_seq went up.  If someone else raised it between
 * our read and our write (a stale read: the kernel ignores our command),
 * their walk aged the cgroup after our last scan and counts; no change at
 * all (EEXIST: a walk was in progress) is retried, up to 4 times.  Never
 * writes a "-" (eviction) command.
 */
int kh_lrugen_age(const char *lru_gen, const char *path, int node, char *why, size_t whylen);
/* The same through @io: the unit tests stand in for the kernel's side of the file. */
struct kh_lrugen_io {
	int (*read)(void *ctx, char **text);	/* whole file, malloc'd */
	int (*write)(void *ctx, const char *cmd);	/* one write(); -errno */
	void *ctx;
};
int kh_lrugen_age_io(const struct kh_lrugen_io *io, const char *path, int node, char *why,
		     size_t whylen);

/* ---- an open driver for one VM ---- */
struct kh_ager {
	int id;
	uint32_t pid;
	struct kh_agedrv_paths own;
	char release[65];	/* defaults filled in */
	char cgpath[256];		/* MGLRU: the VMM's memory cgroup */
	int pagemap_fd, bitmap_fd;	/* page_idle */
	uint64_t *pfns;
	struct kh_idle_word *words;
	size_t pfn_cap, word_cap;
	uint32_t kdamond_pid;		/* DAMON: ours */
	bool damon_on;
	uint64_t scans;
	uint64_t pages_last;		/* pages the last scan asked to age */
	uint64_t writes_last;		/* kernel writes of the last scan */
	char note[320];			/* e.g. "cgroup holds other processes" */
};

int kh_ager_open(struct kh_ager *a, int id, uint32_t pid, const struct kh_agedrv_paths *paths,
		 char *why, size_t whylen);
/* One pass over @vm's memory (DAMON: it runs by itself; this only checks it). */
int kh_ager_scan(struct kh_ager *a, const struct kh_vm *vm, char *why, size_t whylen);
/* Undo every kernel-side change: kdamond off and its record removed. */
void kh_ager_close(struct kh_ager *a);
/* CPU seconds our kdamond has used (0 when not DAMON). */
double kh_ager_kernel_cpu(const struct kh_ager *a);

#endif /* KH_AGEDRV_H */
